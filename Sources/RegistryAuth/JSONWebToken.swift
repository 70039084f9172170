import Foundation

/// A compact JWS (RFC 7515 §7.1) split into its parts: `BASE64URL(header).BASE64URL(payload).BASE64URL(signature)`.
struct JSONWebToken {
    /// Longest token accepted. Tokens travel in an `Authorization` header; a real one is well under 4 KiB even with
    /// an x5c chain, and a bound keeps a hostile one from costing more than a few base64 and JSON passes.
    static let maximumLength = 16 * 1024
    /// Most certificates accepted in an `x5c` chain.
    static let maximumChainLength = 5

    let header: JOSEHeader
    /// The bytes the signature covers: the first two parts, as sent, with the dot between them.
    let signingInput: [UInt8]
    /// The decoded payload (the claim set's JSON), not yet trusted.
    let payload: [UInt8]
    let signature: [UInt8]

    /// Splits and decodes a token without trusting anything in it.
    init(compact token: String) throws(TokenError) {
        let bytes = Array(token.utf8)
        guard !bytes.isEmpty else { throw .malformed("empty token") }
        guard bytes.count <= Self.maximumLength else {
            throw .malformed("longer than \(Self.maximumLength) bytes")
        }
        let parts = bytes.split(separator: UInt8(ascii: "."), maxSplits: 3, omittingEmptySubsequences: false)
        // Five parts would be a JWE (encrypted) token, which registries do not use.
        guard parts.count == 3 else { throw .malformed("expected three dot-separated parts (a compact JWS)") }
        guard let headerJSON = Base64URL.decode(parts[0]) else { throw .malformed("the header is not base64url") }
        guard let payload = Base64URL.decode(parts[1]) else { throw .malformed("the claim set is not base64url") }
        guard let signature = Base64URL.decode(parts[2]) else { throw .malformed("the signature is not base64url") }
        do {
            header = try JSONDecoder().decode(JOSEHeader.self, from: Data(headerJSON))
        } catch {
            throw .malformed("the header is not a JSON object with an alg")
        }
        self.signingInput = Array(bytes[..<parts[1].endIndex])
        self.payload = payload
        self.signature = signature
    }
}

/// The JOSE header fields Pier reads (RFC 7515 §4.1).
struct JOSEHeader: Decodable {
    var alg: String
    var typ: String?
    var kid: String?
    var jwk: JSONWebKey?
    /// Standard base64 (not base64url) DER certificates, signing certificate first.
    var x5c: [String]?
    var crit: [String]?
}

/// The JWS signature algorithms Pier verifies (RFC 7518 §3.1). `none` and the HMAC family are left out on
/// purpose: a registry holds only public keys, and HS256 "keyed" with a public key is the classic JWT forgery.
enum SignatureAlgorithm: String, Sendable, CaseIterable {
    case rs256 = "RS256", rs384 = "RS384", rs512 = "RS512"
    case ps256 = "PS256", ps384 = "PS384", ps512 = "PS512"
    case es256 = "ES256", es384 = "ES384", es512 = "ES512"

    /// The algorithm a header names, or `unsupportedAlgorithm`.
    init(header alg: String) throws(TokenError) {
        guard let algorithm = SignatureAlgorithm(rawValue: alg) else {
            throw .unsupportedAlgorithm(TokenError.quoted(alg))
        }
        self = algorithm
    }
}

/// A JSON Web Key (RFC 7517) as found in a JWKS file or a token's `jwk` header: only public members are read.
struct JSONWebKey: Codable, Sendable {
    var kty: String
    var kid: String?
    var use: String?
    var alg: String?
    var crv: String?
    var x: String?
    var y: String?
    var n: String?
    var e: String?
}

/// base64url without padding (RFC 7515 §2, RFC 4648 §5).
enum Base64URL {
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Decodes base64url; anything outside its alphabet, an impossible length or non-zero trailing bits is `nil`,
    /// so each part has exactly one spelling.
    static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        var characters = Array(text)
        // JWS forbids padding, but Distribution's decoder (Go's URLEncoding after re-padding) accepts a correctly
        // padded part, so an issuer that pads works there; accept exactly that much.
        if characters.count % 4 == 0, characters.last == UInt8(ascii: "=") {
            characters.removeLast()
            if characters.last == UInt8(ascii: "=") {
                characters.removeLast()
                guard characters.count % 4 == 2 else { return nil }
            } else {
                guard characters.count % 4 == 3 else { return nil }
            }
        }
        guard characters.count % 4 != 1 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(characters.count * 3 / 4)
        var buffer: UInt32 = 0
        var bits = 0
        for character in characters {
            let value: UInt8
            switch character {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = character - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = character - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = character - UInt8(ascii: "0") + 52
            case UInt8(ascii: "-"): value = 62
            case UInt8(ascii: "_"): value = 63
            default: return nil
            }
            buffer = buffer << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: buffer >> bits))
                buffer &= (1 << bits) - 1
            }
        }
        return buffer == 0 ? output : nil
    }
}
