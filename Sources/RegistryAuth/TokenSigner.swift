import Crypto
import Foundation
import _CryptoExtras

/// The signing key of Pier's own token service: ECDSA P-256 (ES256) by default; an RSA key file signs RS256.
public struct TokenSigner: Sendable {
    // @unchecked: swift-crypto 3.x does not mark its NIST keys Sendable, though they are immutable values (4.x does).
    enum PrivateKey: @unchecked Sendable {
        case p256(P256.Signing.PrivateKey)
        case rsa(_RSA.Signing.PrivateKey)
    }

    let privateKey: PrivateKey
    /// The header's `kid`: the libtrust key ID, which Distribution-style resource servers look keys up by.
    public let keyID: String
    let publicKey: TokenPublicKey

    /// A signer for a P-256 key (ES256).
    public init(privateKey: P256.Signing.PrivateKey) {
        self.init(key: .p256(privateKey))
    }

    init(key: PrivateKey) {
        privateKey = key
        switch key {
        case .p256(let key): publicKey = .p256(key.publicKey)
        case .rsa(let key): publicKey = .rsa(key.publicKey)
        }
        keyID = publicKey.libtrustKeyID
    }

    /// The JWS algorithm this signer writes in `alg`.
    public var algorithm: String {
        switch privateKey {
        case .p256: SignatureAlgorithm.es256.rawValue
        case .rsa: SignatureAlgorithm.rs256.rawValue
        }
    }

    /// The public key as PEM (SubjectPublicKeyInfo), for a resource server elsewhere to trust.
    public var publicKeyPEM: String {
        switch privateKey {
        case .p256(let key): key.publicKey.pemRepresentation
        case .rsa(let key): key.publicKey.pemRepresentation
        }
    }

    /// Signs the claims as a compact JWS whose header is `{"alg":"ES256","kid":…,"typ":"JWT"}`.
    public func sign(_ claims: TokenClaims) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding three strings cannot fail; an empty header would make a token every verifier refuses.
        let header = (try? encoder.encode(Header(alg: algorithm, kid: keyID))) ?? Data()
        let signingInput = Base64URL.encode(header) + "." + Base64URL.encode(claims.encodedJSON())
        let input = Data(signingInput.utf8)
        // Signing with a valid in-memory key fails only if BoringSSL cannot allocate; an empty signature then makes
        // a token every verifier refuses, which is better than crashing the server.
        let signature: Data
        switch privateKey {
        case .p256(let key):
            signature = (try? key.signature(for: input))?.rawRepresentation ?? Data()
        case .rsa(let key):
            signature = (try? key.signature(for: SHA256.hash(data: input), padding: .insecurePKCS1v1_5))?.rawRepresentation ?? Data()
        }
        return signingInput + "." + Base64URL.encode(signature)
    }

    /// The JWS header of the tokens.
    private struct Header: Encodable {
        var alg: String
        var kid: String
        var typ = "JWT"
    }

    /// Loads a PEM private key from `path` — EC P-256 (`EC PRIVATE KEY` or PKCS#8 `PRIVATE KEY`) or RSA (`RSA PRIVATE
    /// KEY` or PKCS#8, 2048 bits or more). When the file does not exist, generates a P-256 key and writes it there
    /// atomically with mode 0600, creating the parent directory. Errors name the file.
    public static func loadOrCreate(path: String) throws(TokenKeyError) -> TokenSigner {
        if FileManager.default.fileExists(atPath: path) {
            return try load(path: path)
        }
        let key = P256.Signing.PrivateKey()
        if try !KeyFile.create(path: path, contents: Data((key.pemRepresentation + "\n").utf8)) {
            // Another process created the file first: use its key, so that both sign with the same one.
            return try load(path: path)
        }
        return TokenSigner(privateKey: key)
    }

    private static func load(path: String) throws(TokenKeyError) -> TokenSigner {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw TokenKeyError("\(path): cannot read the token signing key: \(error.localizedDescription)")
        }
        if let key = try? P256.Signing.PrivateKey(pemRepresentation: text) {
            return TokenSigner(privateKey: key)
        }
        if let key = try? _RSA.Signing.PrivateKey(pemRepresentation: text) {
            return TokenSigner(key: .rsa(key))
        }
        if text.contains("-----BEGIN") {
            throw TokenKeyError("\(path): the token signing key is neither an EC P-256 key nor an RSA key of 2048 bits or more")
        }
        throw TokenKeyError("\(path): the token signing key is not a PEM private key")
    }
}
