import Crypto
import Foundation
import RegistryAuth
import Testing
import _CryptoExtras

@Suite("token verification: signatures, algorithms and claims")
struct TokenVerifierTests {
    typealias F = TokenFixture
    static let signer = TokenSigner(privateKey: P256.Signing.PrivateKey())
    static let verifier = TokenVerifier(issuer: F.issuer, audience: F.service, keys: TrustedKeys().adding(signer))

    /// The key behind `handSigner`, for tokens made by hand.
    // nonisolated(unsafe): swift-crypto 3 does not mark P256 keys Sendable; this one is never mutated.
    nonisolated(unsafe) static let handKey = P256.Signing.PrivateKey()
    static let handSigner = TokenSigner(privateKey: handKey)
    static let handVerifier = TokenVerifier(issuer: F.issuer, audience: F.service, keys: TrustedKeys().adding(handSigner))

    @Test("a token Pier signs verifies, and its claims come back unchanged")
    func roundTrip() throws {
        let claims = TokenClaims(
            issuer: F.issuer, subject: "alice", audience: [F.service], expiresAt: F.now + 300, notBefore: F.now - 10,
            issuedAt: F.now, id: "jti-1",
            access: [ResourceActions(type: "repository", name: "team/app", actions: ["pull", "push"])])
        let token = Self.signer.sign(claims)
        #expect(try Self.verifier.verify(token, now: F.now) == claims)
        // The header is the spec's: typ, alg ES256, and the libtrust kid.
        let header = try JSONSerialization.jsonObject(with: try #require(Self.decode(token.split(separator: ".")[0]))) as? [String: String]
        #expect(header == ["typ": "JWT", "alg": "ES256", "kid": Self.signer.keyID])
        // A verifier that does not trust this signer refuses the token.
        let stranger = TokenVerifier(issuer: F.issuer, audience: F.service, keys: TrustedKeys().adding(TokenSigner(privateKey: .init())))
        #expect(throws: TokenError.self) { try stranger.verify(token, now: F.now) }
    }

    @Test("the signer writes aud as a string for one audience and an array for several; anonymous sub is empty")
    func audienceEncoding() throws {
        let one = Self.signer.sign(TokenClaims(issuer: F.issuer, audience: [F.service], expiresAt: F.now + 60))
        let payload = try JSONSerialization.jsonObject(with: try #require(Self.decode(one.split(separator: ".")[1]))) as? [String: Any]
        #expect(payload?["aud"] as? String == F.service)
        #expect(payload?["sub"] as? String == "")
        #expect((payload?["access"] as? [Any])?.isEmpty == true)
        #expect(payload?["exp"] as? Int == Int(F.now.timeIntervalSince1970) + 60)
        let two = Self.signer.sign(TokenClaims(issuer: F.issuer, audience: ["other", F.service], expiresAt: F.now + 60))
        #expect(try Self.verifier.verify(two, now: F.now).audience == ["other", F.service])
    }

    @Test("the spec's example key: its libtrust ID is its kid, and tokens it signs verify through a JWKS")
    func specExample() throws {
        // https://distribution.github.io/distribution/spec/auth/jwt/ (the example ECDSA key and token)
        let d = try #require(Self.decode("R7OnbfMaD5J2jl7GeE8ESo7CnHSBm_1N2k9IXYFrKJA"))
        let key = try P256.Signing.PrivateKey(rawRepresentation: d)
        let signer = TokenSigner(privateKey: key)
        #expect(signer.keyID == "PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6")
        let jwks = try F.jwks([["kty": "EC", "crv": "P-256", "kid": "PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6",
                                "x": "m7zUpx3b-zmVE5cymSs64POG9QcyEpJaYCD82-549_Q", "y": "dU3biz8sZ_8GPB-odm8Wxz3lNDr1xcAQQPQaOcr1fmc"]])
        let verifier = TokenVerifier(issuer: "auth.docker.com", audience: "registry.docker.com", keys: try TrustedKeys.load(rootCertBundle: nil, jwks: jwks))
        let header = #"{"typ":"JWT","alg":"ES256","kid":"PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6"}"#
        let claims = #"{"iss":"auth.docker.com","sub":"jlhawn","aud":"registry.docker.com","exp":1415387315,"nbf":1415387015,"iat":1415387015,"jti":"tYJCO1c6cnyy7kAn0c7rKPgbV1H1bFws","access":[{"type":"repository","name":"samalba/my-app","actions":["push"]}]}"#
        let token = try F.token(header: header, claims: claims, sign: F.es256(key))
        let verified = try verifier.verify(token, now: Date(timeIntervalSince1970: 1_415_387_100))
        #expect(verified.subject == "jlhawn")
        #expect(verified.id == "tYJCO1c6cnyy7kAn0c7rKPgbV1H1bFws")
        #expect(verified.access == [ResourceActions(type: "repository", name: "samalba/my-app", actions: ["push"])])
        #expect(throws: TokenError.expired) { try verifier.verify(token, now: Date(timeIntervalSince1970: 1_415_387_400)) }
        // The spec's printed signature does not match its printed header and claims (checked with Python's
        // cryptography too): the page was edited after signing. A verifier must refuse it.
        let printed = token.split(separator: ".").prefix(2).joined(separator: ".")
            + ".QhflHPfbd6eVF4lM9bwYpFZIV0PfikbyXuLx959ykRTBpe3CYnzs6YBK8FToVb5R47920PVLrh8zuLzdCr9t3w"
        #expect(throws: TokenError.badSignature) { try verifier.verify(printed, now: Date(timeIntervalSince1970: 1_415_387_100)) }
        // The same key, trusted through the signer rather than the JWKS, is found by its libtrust kid.
        let viaSigner = TokenVerifier(issuer: "auth.docker.com", audience: "registry.docker.com",
                                      keys: TrustedKeys().adding(signer).adding(TokenSigner(privateKey: .init())))
        #expect(throws: Never.self) { try viaSigner.verify(token, now: Date(timeIntervalSince1970: 1_415_387_100)) }
    }

    @Test("a token made like tools/mirror-test/token-server.py (RS256, x5c = its self-signed cert = the bundle) verifies")
    func tokenServerStyle() throws {
        let bundle = try F.write(try F.pem(F.rsaSelfSigned), named: "cert.pem")
        let verifier = TokenVerifier(issuer: F.issuer, audience: F.service, keys: try TrustedKeys.load(rootCertBundle: bundle, jwks: nil))
        let now = F.now.timeIntervalSince1970
        let claims: [String: Any] = [
            "iss": F.issuer, "sub": "", "aud": F.service, "exp": Int(now) + 300, "nbf": Int(now) - 10, "iat": Int(now),
            "jti": "x", "access": [["type": "repository", "name": "library/alpine", "actions": ["pull"]]],
        ]
        // Python's json.dumps writes ", " and ": " — whitespace in the JSON must not matter.
        let claimsJSON = String(decoding: try JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys]), as: UTF8.self)
            .replacingOccurrences(of: "\",\"", with: "\", \"").replacingOccurrences(of: "\":", with: "\": ")
        let token = try F.token(header: ["typ": "JWT", "alg": "RS256", "x5c": [try F.x5c(F.rsaSelfSigned)]], claims: claimsJSON, sign: F.rs256(F.rsaKey))
        let verified = try verifier.verify(token, now: F.now)
        #expect(verified.subject == "")
        #expect(verified.access == [ResourceActions(type: "repository", name: "library/alpine", actions: ["pull"])])
        // The same key by kid (libtrust ID, as Distribution indexes its bundle) and with no key hint at all.
        let byKid = try F.token(header: ["alg": "RS256", "kid": Self.libtrustID(of: F.rsaKey.publicKey.derRepresentation)], claims: claimsJSON, sign: F.rs256(F.rsaKey))
        #expect(try verifier.verify(byKid, now: F.now) == verified)
        let bare = try F.token(header: ["alg": "RS256"], claims: claimsJSON, sign: F.rs256(F.rsaKey))
        #expect(try verifier.verify(bare, now: F.now) == verified)
    }

    @Test("a forged signature or a changed claim set is refused")
    func forgedSignature() throws {
        let token = try Self.signed(F.claims())
        #expect(throws: Never.self) { try Self.handVerifier.verify(token, now: F.now) }
        var parts = token.split(separator: ".").map(String.init)
        // Flip the first signature character to another base64url character.
        var signature = Array(parts[2])
        signature[0] = signature[0] == "A" ? "B" : "A"
        #expect(throws: TokenError.badSignature) { try Self.handVerifier.verify([parts[0], parts[1], String(signature)].joined(separator: "."), now: F.now) }
        // Grant push instead of pull, keeping the signature.
        parts[1] = F.base64URL(try JSONSerialization.data(withJSONObject: F.claims(access: [["type": "repository", "name": "team/app", "actions": ["push"]]])))
        #expect(throws: TokenError.badSignature) { try Self.handVerifier.verify(parts.joined(separator: "."), now: F.now) }
        // A signature by another key with the right kid.
        let other = try F.token(header: ["alg": "ES256", "kid": Self.handSigner.keyID], claims: F.claims(), sign: F.es256(.init()))
        #expect(throws: TokenError.badSignature) { try Self.handVerifier.verify(other, now: F.now) }
        // An empty signature.
        #expect(throws: TokenError.badSignature) { try Self.handVerifier.verify(parts[0] + "." + token.split(separator: ".")[1] + ".", now: F.now) }
    }

    @Test("exp is required and honoured with the leeway; integer and float dates both work")
    func expiry() throws {
        let exp = F.now.timeIntervalSince1970
        let token = try Self.signed(F.claims(expires: exp))
        #expect(throws: Never.self) { try Self.handVerifier.verify(token, now: F.now + 5) }  // at the leeway's edge
        #expect(throws: TokenError.expired) { try Self.handVerifier.verify(token, now: F.now + 5.5) }
        #expect(throws: TokenError.expired) { try Self.handVerifier.verify(token, now: F.now + 3600) }
        let strict = TokenVerifier(issuer: F.issuer, audience: F.service, keys: TrustedKeys().adding(Self.handSigner), leeway: .zero)
        #expect(throws: TokenError.expired) { try strict.verify(token, now: F.now + 0.5) }
        let float = try Self.signed(F.claims(expires: exp + 0.75))
        #expect(try Self.handVerifier.verify(float, now: F.now).expiresAt == Date(timeIntervalSince1970: exp + 0.75))
        var noExp = F.claims()
        noExp["exp"] = nil
        #expect(throws: TokenError.malformed("the claim set has no exp")) { try Self.handVerifier.verify(try Self.signed(noExp), now: F.now) }
        var stringExp = F.claims()
        stringExp["exp"] = "\(Int(exp) + 60)"
        #expect { try Self.handVerifier.verify(try Self.signed(stringExp), now: F.now) } throws: { Self.isMalformed($0) }
    }

    @Test("nbf in the future beyond the leeway is refused")
    func notBefore() throws {
        let soon = try Self.signed(F.claims(notBefore: F.now.timeIntervalSince1970 + 4))
        #expect(throws: Never.self) { try Self.handVerifier.verify(soon, now: F.now) }
        let later = try Self.signed(F.claims(notBefore: F.now.timeIntervalSince1970 + 60))
        #expect(throws: TokenError.notYetValid) { try Self.handVerifier.verify(later, now: F.now) }
        #expect(throws: Never.self) { try Self.handVerifier.verify(later, now: F.now + 60) }
    }

    @Test("iss must be the configured issuer; the error quotes it safely")
    func wrongIssuer() throws {
        let token = try Self.signed(F.claims(issuer: "evil\n\u{1b}[31missuer"))
        #expect { try Self.handVerifier.verify(token, now: F.now) } throws: { error in
            guard case TokenError.wrongIssuer(let issuer) = error else { return false }
            let text = "\(error)"
            return issuer.contains("evil") && !text.contains("\n") && !text.contains("\u{1b}")
        }
    }

    @Test("aud: a string or an array must contain the service", arguments: [
        (#""pier-test-registry""#, true), (#"["pier-test-registry"]"#, true), (#"["other","pier-test-registry"]"#, true),
        (#""other""#, false), (#"["other"]"#, false), ("[]", false), (#""""#, false), ("null", false),
    ])
    func audience(json: String, accepted: Bool) throws {
        let audience = try JSONSerialization.jsonObject(with: Data(json.utf8), options: .fragmentsAllowed)
        let token = try Self.signed(F.claims(audience: audience))
        if accepted {
            #expect(throws: Never.self) { try Self.handVerifier.verify(token, now: F.now) }
        } else {
            #expect(throws: TokenError.wrongAudience) { try Self.handVerifier.verify(token, now: F.now) }
        }
    }

    @Test("a missing aud or iss is refused, a missing access grants nothing")
    func missingClaims() throws {
        var claims = F.claims()
        claims["aud"] = nil
        #expect(throws: TokenError.wrongAudience) { try Self.handVerifier.verify(try Self.signed(claims), now: F.now) }
        claims = F.claims()
        claims["iss"] = nil
        #expect(throws: TokenError.wrongIssuer("\"\"")) { try Self.handVerifier.verify(try Self.signed(claims), now: F.now) }
        claims = F.claims()
        claims["access"] = nil
        #expect(try Self.handVerifier.verify(try Self.signed(claims), now: F.now).access == [])
    }

    @Test("alg none, HS256 keyed with the public key, and unknown algorithms are refused", arguments: ["none", "None", "HS256", "HS384", "HS512", "EdDSA", ""])
    func refusedAlgorithms(alg: String) throws {
        // The classic forgery: HMAC with the verifier's public key (PEM and DER) as the secret.
        for secret in [Data(Self.handSigner.publicKeyPEM.utf8), Self.handKey.publicKey.derRepresentation, Data()] {
            let token = F.token(header: ["typ": "JWT", "alg": alg, "kid": Self.handSigner.keyID], claims: F.claims()) { input in
                alg == "none" || alg == "None" ? Data() : Data(HMAC<SHA256>.authenticationCode(for: input, using: SymmetricKey(data: secret)))
            }
            #expect { try Self.handVerifier.verify(token, now: F.now) } throws: { error in
                guard case TokenError.unsupportedAlgorithm = error else { return false }
                return true
            }
        }
    }

    @Test("an algorithm that does not fit the key type is refused", arguments: ["RS256", "PS256", "ES384", "ES512"])
    func algorithmKeyMismatch(alg: String) throws {
        let token = try Self.signed(F.claims(), header: ["alg": alg, "kid": Self.handSigner.keyID])
        #expect(throws: TokenError.unsupportedAlgorithm("\(alg) with an EC P-256 key")) { try Self.handVerifier.verify(token, now: F.now) }
    }

    @Test("an RSA signer (key file) signs RS256 tokens that verify; PS256 from the same key verifies too")
    func rsaSigner() throws {
        let path = try F.write(F.rsaKey.pemRepresentation, named: "rsa.pem")
        let signer = try TokenSigner.loadOrCreate(path: path)
        #expect(signer.algorithm == "RS256")
        let verifier = TokenVerifier(issuer: F.issuer, audience: F.service, keys: TrustedKeys().adding(signer))
        let claims = TokenClaims(issuer: F.issuer, audience: [F.service], expiresAt: F.now + 60)
        #expect(try verifier.verify(signer.sign(claims), now: F.now) == claims)
        let pss = try F.token(header: ["alg": "PS256"], claims: F.claims()) { try F.rsaKey.signature(for: SHA256.hash(data: $0), padding: .PSS).rawRepresentation }
        #expect(throws: Never.self) { try verifier.verify(pss, now: F.now) }
        // PKCS#1 v1.5 bytes under a PS256 header do not verify.
        let mixed = try F.token(header: ["alg": "PS256"], claims: F.claims(), sign: F.rs256(F.rsaKey))
        #expect(throws: TokenError.badSignature) { try verifier.verify(mixed, now: F.now) }
    }

    /// An ES256 token signed by `handKey` with its kid, of arbitrary claims.
    static func signed(_ claims: Any, header: [String: Any]? = nil) throws -> String {
        try F.token(header: header ?? ["typ": "JWT", "alg": "ES256", "kid": handSigner.keyID], claims: claims, sign: F.es256(handKey))
    }

    static func isMalformed(_ error: any Error) -> Bool {
        guard case TokenError.malformed = error else { return false }
        return true
    }

    static func decode(_ part: some StringProtocol) -> Data? {
        var text = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        return Data(base64Encoded: text)
    }

    /// libtrust's key ID, computed independently of Pier's implementation.
    static func libtrustID(of spki: Data) -> String {
        let digest = Array(SHA256.hash(data: spki)).prefix(30)
        var bits = digest.map { String(String($0, radix: 2).reversed()).padding(toLength: 8, withPad: "0", startingAt: 0) }
            .map { String($0.reversed()) }.joined()
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var characters: [Character] = []
        while !bits.isEmpty {
            characters.append(alphabet[Int(String(bits.prefix(5)), radix: 2)!])
            bits = String(bits.dropFirst(5))
        }
        return stride(from: 0, to: characters.count, by: 4).map { String(characters[$0..<$0 + 4]) }.joined(separator: ":")
    }
}
