import Crypto
import Foundation
import X509
import _CryptoExtras

/// A public key that can verify token signatures: RSA (2048 bits or more) or ECDSA on P-256, P-384 or P-521.
// @unchecked: swift-crypto 3.x does not mark its NIST keys Sendable, though they are immutable values (4.x marks them).
enum TokenPublicKey: @unchecked Sendable {
    case rsa(_RSA.Signing.PublicKey)
    case p256(P256.Signing.PublicKey)
    case p384(P384.Signing.PublicKey)
    case p521(P521.Signing.PublicKey)

    /// Smallest RSA modulus trusted, as swift-crypto's default and NIST SP 800-131A require.
    static let minimumRSABits = 2048

    /// The key of a certificate, or a reason it cannot sign tokens.
    init(certificateKey key: Certificate.PublicKey) throws(KeyProblem) {
        if let key = P256.Signing.PublicKey(key) {
            self = .p256(key)
        } else if let key = P384.Signing.PublicKey(key) {
            self = .p384(key)
        } else if let key = P521.Signing.PublicKey(key) {
            self = .p521(key)
        } else if let key = _RSA.Signing.PublicKey(key) {
            guard key.keySizeInBits >= Self.minimumRSABits else {
                throw KeyProblem("an RSA key of \(key.keySizeInBits) bits (at least \(Self.minimumRSABits) are required)")
            }
            self = .rsa(key)
        } else {
            throw KeyProblem("a \(key) key; only RSA and ECDSA P-256/P-384/P-521 keys are supported")
        }
    }

    /// The key a JWK describes, or a reason it is unusable.
    init(jwk: JSONWebKey) throws(KeyProblem) {
        switch jwk.kty {
        case "RSA":
            guard let n = jwk.n.flatMap({ Base64URL.decode($0.utf8) }), let e = jwk.e.flatMap({ Base64URL.decode($0.utf8) }),
                !n.isEmpty, !e.isEmpty
            else { throw KeyProblem("an RSA key without base64url n and e") }
            let key: _RSA.Signing.PublicKey
            do {
                key = try _RSA.Signing.PublicKey(n: n, e: e)
            } catch {
                throw KeyProblem("an RSA key whose n and e are not a valid key")
            }
            guard key.keySizeInBits >= Self.minimumRSABits else {
                throw KeyProblem("an RSA key of \(key.keySizeInBits) bits (at least \(Self.minimumRSABits) are required)")
            }
            self = .rsa(key)
        case "EC":
            let size: Int
            switch jwk.crv {
            case "P-256": size = 32
            case "P-384": size = 48
            case "P-521": size = 66
            default: throw KeyProblem("an EC key on curve \(TokenError.quoted(jwk.crv ?? "")); P-256, P-384 and P-521 are supported")
            }
            // RFC 7518 §6.2.1.2: x and y are the full coordinate length, so 04‖x‖y is the uncompressed point.
            guard let x = jwk.x.flatMap({ Base64URL.decode($0.utf8) }), let y = jwk.y.flatMap({ Base64URL.decode($0.utf8) }),
                x.count == size, y.count == size
            else { throw KeyProblem("an EC key without base64url x and y of \(size) bytes") }
            let point = [0x04] + x + y
            do {
                switch size {
                case 32: self = .p256(try P256.Signing.PublicKey(x963Representation: point))
                case 48: self = .p384(try P384.Signing.PublicKey(x963Representation: point))
                default: self = .p521(try P521.Signing.PublicKey(x963Representation: point))
                }
            } catch {
                throw KeyProblem("an EC key whose x and y are not a point on \(jwk.crv ?? "")")
            }
        case "oct":
            throw KeyProblem("a symmetric (oct) key; HMAC-signed tokens are never accepted")
        default:
            throw KeyProblem("a key of type \(TokenError.quoted(jwk.kty)); RSA and EC are supported")
        }
    }

    /// The DER SubjectPublicKeyInfo, as Go's `x509.MarshalPKIXPublicKey` writes it.
    var subjectPublicKeyInfo: Data {
        switch self {
        case .rsa(let key): key.derRepresentation
        case .p256(let key): key.derRepresentation
        case .p384(let key): key.derRepresentation
        case .p521(let key): key.derRepresentation
        }
    }

    /// The key ID Distribution and docker_auth put in `kid` (libtrust).
    var libtrustKeyID: String { Self.libtrustKeyID(subjectPublicKeyInfo: subjectPublicKeyInfo) }

    /// The libtrust key ID of a DER SubjectPublicKeyInfo: the first 240 bits of its SHA-256, base32 without padding,
    /// in 12 groups of 4 characters joined by `:` (libtrust's `keyIDFromCryptoKey`), e.g.
    /// `PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6`. Used by both the verifier and the signer.
    static func libtrustKeyID(subjectPublicKeyInfo: some DataProtocol) -> String {
        let digest = Array(SHA256.hash(data: subjectPublicKeyInfo)).prefix(30)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)
        var encoded: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for byte in digest {
            buffer = buffer << 8 | UInt32(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                encoded.append(alphabet[Int(buffer >> UInt32(bits)) & 31])
            }
            buffer &= (1 << UInt32(bits)) - 1
        }
        // 240 bits are exactly 48 base32 characters: no remainder, no padding.
        var groups: [String] = []
        var index = 0
        while index < encoded.count {
            groups.append(String(decoding: encoded[index..<min(index + 4, encoded.count)], as: UTF8.self))
            index += 4
        }
        return groups.joined(separator: ":")
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url): required members in lexicographic order, no whitespace.
    var thumbprint: String {
        Base64URL.encode(SHA256.hash(data: canonicalJWK))
    }

    /// The required JWK members in RFC 7638 order (sorted keys, no whitespace; base64url values need no escaping).
    private var canonicalJWK: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        switch self {
        case .rsa(let key):
            guard let primitives = try? key.getKeyPrimitives() else { return Data() }
            let n = Base64URL.encode(primitives.modulus.drop(while: { $0 == 0 }))
            let e = Base64URL.encode(primitives.publicExponent.drop(while: { $0 == 0 }))
            return (try? encoder.encode(["e": e, "kty": "RSA", "n": n])) ?? Data()
        case .p256(let key): return Self.canonicalEC(curve: "P-256", point: key.x963Representation, encoder: encoder)
        case .p384(let key): return Self.canonicalEC(curve: "P-384", point: key.x963Representation, encoder: encoder)
        case .p521(let key): return Self.canonicalEC(curve: "P-521", point: key.x963Representation, encoder: encoder)
        }
    }

    private static func canonicalEC(curve: String, point: Data, encoder: JSONEncoder) -> Data {
        let coordinates = Array(point.dropFirst())  // 04 ‖ x ‖ y
        let x = Base64URL.encode(coordinates.prefix(coordinates.count / 2))
        let y = Base64URL.encode(coordinates.suffix(coordinates.count / 2))
        return (try? encoder.encode(["crv": curve, "kty": "EC", "x": x, "y": y])) ?? Data()
    }

    /// A short name for messages: "RSA-2048", "EC P-256".
    var kind: String {
        switch self {
        case .rsa(let key): "RSA-\(key.keySizeInBits)"
        case .p256: "EC P-256"
        case .p384: "EC P-384"
        case .p521: "EC P-521"
        }
    }

    /// Whether `algorithm` is meant for this kind of key (RS*/PS* for RSA; ES256, ES384, ES512 for P-256, P-384, P-521).
    func fits(_ algorithm: SignatureAlgorithm) -> Bool {
        switch (self, algorithm) {
        case (.rsa, .rs256), (.rsa, .rs384), (.rsa, .rs512), (.rsa, .ps256), (.rsa, .ps384), (.rsa, .ps512): true
        case (.p256, .es256), (.p384, .es384), (.p521, .es512): true
        default: false
        }
    }

    /// Verifies a JWS signature. ECDSA signatures are the raw `r‖s` of RFC 7518 §3.4, not DER. Call only when
    /// `fits(algorithm)`; a mismatch is `false`.
    func isValidSignature(_ signature: [UInt8], for input: [UInt8], algorithm: SignatureAlgorithm) -> Bool {
        switch (self, algorithm) {
        case (.p256(let key), .es256):
            guard let signature = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.isValidSignature(signature, for: input)
        case (.p384(let key), .es384):
            guard let signature = try? P384.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.isValidSignature(signature, for: input)
        case (.p521(let key), .es512):
            guard let signature = try? P521.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.isValidSignature(signature, for: input)
        case (.rsa(let key), _):
            let rsaSignature = _RSA.Signing.RSASignature(rawRepresentation: signature)
            switch algorithm {
            case .rs256: return key.isValidSignature(rsaSignature, for: SHA256.hash(data: input), padding: .insecurePKCS1v1_5)
            case .rs384: return key.isValidSignature(rsaSignature, for: SHA384.hash(data: input), padding: .insecurePKCS1v1_5)
            case .rs512: return key.isValidSignature(rsaSignature, for: SHA512.hash(data: input), padding: .insecurePKCS1v1_5)
            case .ps256: return key.isValidSignature(rsaSignature, for: SHA256.hash(data: input), padding: .PSS)
            case .ps384: return key.isValidSignature(rsaSignature, for: SHA384.hash(data: input), padding: .PSS)
            case .ps512: return key.isValidSignature(rsaSignature, for: SHA512.hash(data: input), padding: .PSS)
            case .es256, .es384, .es512: return false
            }
        default:
            return false
        }
    }
}

/// Why some key material cannot verify tokens; the caller adds where it came from.
struct KeyProblem: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}
