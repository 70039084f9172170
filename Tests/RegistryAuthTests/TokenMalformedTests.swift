import Crypto
import Foundation
import RegistryAuth
import RegistryTesting
import Testing

@Suite("token verification: malformed and hostile input")
struct TokenMalformedTests {
    typealias F = TokenFixture
    static var verifier: TokenVerifier { TokenVerifierTests.handVerifier }

    static func valid() throws -> String { try TokenVerifierTests.signed(F.claims()) }

    @Test("shapes that are not a compact JWS are malformed", arguments: [
        "", ".", "..", "...", "a.b", "a.b.c.d", "a.b.c.d.e", "e30.e30", "e30..", "..e30",
        "e30.e30.!!!!", "e30.e30.AA=", "e30.e30.A", "e30.e30.AB", "e30.e30.AA==A",  // bad signature base64url
        "e30+.e30.AA", "e30/.e30.AA", "e3 0.e30.AA", "é30.e30.AA",  // base64 but not base64url, whitespace, non-ASCII
        "bnVsbA.e30.AA", "W10.e30.AA", "e30.e30.AA", "eyJhbGciOjF9.e30.AA",  // header null, [], {} (no alg), alg a number
    ])
    func malformedShapes(token: String) {
        #expect { try Self.verifier.verify(token, now: F.now) } throws: { TokenVerifierTests.isMalformed($0) }
    }

    @Test("a token over 16 KiB is malformed before anything is decoded")
    func huge() throws {
        let valid = try Self.valid()
        let parts = valid.split(separator: ".")
        let padded = parts[0] + "." + parts[1] + String(repeating: "A", count: 16 * 1024) + "." + parts[2]
        #expect(throws: TokenError.malformed("longer than 16384 bytes")) { try Self.verifier.verify(String(padded), now: F.now) }
        #expect(throws: TokenError.malformed("longer than 16384 bytes")) { try Self.verifier.verify(String(repeating: "A", count: 1 << 20), now: F.now) }
    }

    @Test("deeply nested JSON in the header or the claims is refused without a crash")
    func nesting() throws {
        let deep = String(repeating: "[", count: 6000) + String(repeating: "]", count: 6000)
        let header = #"{"alg":"ES256","x":"# + deep + "}"
        let token = F.base64URL(Data(header.utf8)) + ".e30.AA"
        #expect(throws: TokenError.self) { try Self.verifier.verify(token, now: F.now) }
        let claims = #"{"exp":1,"access":"# + deep + "}"
        let signed = try F.token(header: ["alg": "ES256", "kid": TokenVerifierTests.handSigner.keyID], claims: claims, sign: F.es256(TokenVerifierTests.handKey))
        #expect { try Self.verifier.verify(signed, now: F.now) } throws: { TokenVerifierTests.isMalformed($0) }
    }

    @Test("a correctly padded part is tolerated, as Distribution's decoder does; non-zero trailing bits and crit headers are refused")
    func paddingAndCrit() throws {
        let valid = try Self.valid()
        var parts = valid.split(separator: ".").map(String.init)
        // The ES256 signature is 64 bytes: 86 characters, padded to 88.
        parts[2] += "=="
        #expect(throws: Never.self) { try Self.verifier.verify(parts.joined(separator: "."), now: F.now) }
        parts[2] += "="
        #expect { try Self.verifier.verify(parts.joined(separator: "."), now: F.now) } throws: { TokenVerifierTests.isMalformed($0) }
        // Non-zero trailing bits in the last character would give the same signature a second spelling: refused.
        var signature = Array(valid.split(separator: ".")[2])
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        let last = try #require(alphabet.firstIndex(of: signature[signature.count - 1]))
        #expect(last & 0b1111 == 0)  // 64 bytes leave 4 unused bits
        signature[signature.count - 1] = alphabet[last | 1]
        let respelled = valid.split(separator: ".").prefix(2).joined(separator: ".") + "." + String(signature)
        #expect { try Self.verifier.verify(respelled, now: F.now) } throws: { TokenVerifierTests.isMalformed($0) }
        let crit = try F.token(header: ["alg": "ES256", "kid": TokenVerifierTests.handSigner.keyID, "crit": ["exp"], "exp": 1], claims: F.claims(), sign: F.es256(TokenVerifierTests.handKey))
        #expect { try Self.verifier.verify(crit, now: F.now) } throws: { TokenVerifierTests.isMalformed($0) }
    }

    @Test("fuzz: random strings and random mutations of a valid token never verify and never crash")
    func fuzz() throws {
        var generator = SeededGenerator(seed: 0x5049_4552)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ {}\"\u{0}é")
        for _ in 0..<2000 {
            let length = Int.random(in: 0...300, using: &generator)
            let text = String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
            #expect(throws: TokenError.self) { try Self.verifier.verify(text, now: F.now) }
        }
        for _ in 0..<300 {
            let bytes = (0..<Int.random(in: 0...200, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(throws: TokenError.self) { try Self.verifier.verify(String(decoding: bytes, as: UTF8.self), now: F.now) }
        }
        let valid = Array(try Self.valid())
        let base64url = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        for _ in 0..<1000 {
            var mutated = valid
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let index = Int.random(in: 0..<mutated.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0:
                    var replacement = base64url.randomElement(using: &generator)!
                    while replacement == mutated[index] { replacement = base64url.randomElement(using: &generator)! }
                    mutated[index] = replacement
                case 1: mutated.remove(at: index)
                default: mutated.insert(base64url.randomElement(using: &generator)!, at: index)
                }
            }
            #expect(throws: TokenError.self) { try Self.verifier.verify(String(mutated), now: F.now) }
        }
    }
}
