import Crypto
import Foundation
import RegistryAuth
import SwiftASN1
import X509
import _CryptoExtras

/// Keys, certificates and hand-made tokens for the token tests. Keys are made once: RSA key generation is slow in a
/// debug build. (nonisolated(unsafe): swift-crypto 3 does not mark P256 keys Sendable; these are never mutated.)
enum TokenFixture {
    static let issuer = "pier-test-issuer"
    static let service = "pier-test-registry"
    /// A fixed instant well inside every test certificate's validity period.
    static let now = Date(timeIntervalSince1970: TimeInterval(Int(Date().timeIntervalSince1970)))

    static let rsaKey = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    /// Like tools/mirror-test/token-server.py's `openssl req -x509 -newkey rsa:2048 -subj /CN=pier-e2e-token-issuer`.
    static let rsaSelfSigned = try! certificate(
        subject: "pier-e2e-token-issuer", key: .init(rsaKey.publicKey), issuer: "pier-e2e-token-issuer",
        issuerKey: .init(rsaKey), isCA: true, algorithm: .sha256WithRSAEncryption)

    nonisolated(unsafe) static let rootKey = P256.Signing.PrivateKey()
    static let root = try! certificate(subject: "Pier Test Root", key: .init(rootKey.publicKey), issuer: "Pier Test Root", issuerKey: .init(rootKey), isCA: true)
    nonisolated(unsafe) static let intermediateKey = P256.Signing.PrivateKey()
    static let intermediate = try! certificate(subject: "Pier Test Intermediate", key: .init(intermediateKey.publicKey), issuer: "Pier Test Root", issuerKey: .init(rootKey), isCA: true)
    nonisolated(unsafe) static let leafKey = P256.Signing.PrivateKey()
    static let leaf = try! certificate(subject: "Pier Test Token Signer", key: .init(leafKey.publicKey), issuer: "Pier Test Intermediate", issuerKey: .init(intermediateKey), isCA: false)
    nonisolated(unsafe) static let otherRootKey = P256.Signing.PrivateKey()
    static let otherRoot = try! certificate(subject: "Other Root", key: .init(otherRootKey.publicKey), issuer: "Other Root", issuerKey: .init(otherRootKey), isCA: true)

    static func certificate(
        subject: String, key: Certificate.PublicKey, issuer: String, issuerKey: Certificate.PrivateKey, isCA: Bool,
        algorithm: Certificate.SignatureAlgorithm = .ecdsaWithSHA256, notBefore: Date = now - 3600, notAfter: Date = now + 86400
    ) throws -> Certificate {
        let extensions = try Certificate.Extensions {
            Critical(isCA ? BasicConstraints.isCertificateAuthority(maxPathLength: nil) : .notCertificateAuthority)
        }
        return try Certificate(
            version: .v3, serialNumber: .init(), publicKey: key, notValidBefore: notBefore, notValidAfter: notAfter,
            issuer: DistinguishedName { CommonName(issuer) }, subject: DistinguishedName { CommonName(subject) },
            signatureAlgorithm: algorithm, extensions: extensions, issuerPrivateKey: issuerKey)
    }

    /// Standard base64 DER, as an x5c entry.
    static func x5c(_ certificate: Certificate) throws -> String {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return Data(serializer.serializedBytes).base64EncodedString()
    }

    static func pem(_ certificates: Certificate...) throws -> String {
        try certificates.map { try $0.serializeAsPEM().pemString }.joined(separator: "\n") + "\n"
    }

    static func base64URL(_ data: some DataProtocol) -> String {
        Data(data).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Claims like a Distribution-style token server writes.
    static func claims(
        issuer: String = issuer, audience: Any = service, expires: Double = now.timeIntervalSince1970 + 300,
        notBefore: Double? = nil, access: [[String: Any]] = [["type": "repository", "name": "team/app", "actions": ["pull"]]]
    ) -> [String: Any] {
        var claims: [String: Any] = [
            "iss": issuer, "sub": "alice", "aud": audience, "exp": expires, "iat": now.timeIntervalSince1970,
            "jti": "abc123", "access": access,
        ]
        if let notBefore { claims["nbf"] = notBefore }
        return claims
    }

    /// A compact JWS of `header` and `claims` (JSON objects, or raw JSON text), signed by `sign`.
    static func token(header: Any, claims: Any, sign: (Data) throws -> Data) rethrows -> String {
        func json(_ value: Any) -> Data {
            if let text = value as? String { return Data(text.utf8) }
            return try! JSONSerialization.data(withJSONObject: value)
        }
        let input = base64URL(json(header)) + "." + base64URL(json(claims))
        return input + "." + base64URL(try sign(Data(input.utf8)))
    }

    static func rs256(_ key: _RSA.Signing.PrivateKey) -> (Data) throws -> Data {
        { try key.signature(for: SHA256.hash(data: $0), padding: .insecurePKCS1v1_5).rawRepresentation }
    }

    static func es256(_ key: P256.Signing.PrivateKey) -> (Data) throws -> Data {
        { try key.signature(for: $0).rawRepresentation }
    }

    /// A fresh directory under the system's temporary directory.
    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pier-token-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func write(_ text: String, named name: String) throws -> String {
        let path = try temporaryDirectory() + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A JWK (public members) of a key, as a JSON object.
    static func jwk(_ key: P256.Signing.PublicKey, kid: String? = nil) -> [String: Any] {
        let point = key.x963Representation.dropFirst()
        var jwk: [String: Any] = ["kty": "EC", "crv": "P-256", "x": base64URL(point.prefix(32)), "y": base64URL(point.suffix(32))]
        if let kid { jwk["kid"] = kid }
        return jwk
    }

    static func jwk(_ key: _RSA.Signing.PublicKey, kid: String? = nil) throws -> [String: Any] {
        let primitives = try key.getKeyPrimitives()
        var jwk: [String: Any] = ["kty": "RSA", "n": base64URL(primitives.modulus), "e": base64URL(primitives.publicExponent)]
        if let kid { jwk["kid"] = kid }
        return jwk
    }

    static func jwks(_ keys: [[String: Any]]) throws -> String {
        try write(String(decoding: JSONSerialization.data(withJSONObject: ["keys": keys]), as: UTF8.self), named: "jwks.json")
    }
}
