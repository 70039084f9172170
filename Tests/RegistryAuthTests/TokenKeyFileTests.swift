import Crypto
import Foundation
import RegistryAuth
import Testing

@Suite("token key files: root certificate bundle, JWKS, signing key")
struct TokenKeyFileTests {
    typealias F = TokenFixture

    static func loadError(rootCertBundle: String? = nil, jwks: String? = nil) -> String? {
        do {
            _ = try TrustedKeys.load(rootCertBundle: rootCertBundle, jwks: jwks)
            return nil
        } catch {
            return error.description
        }
    }

    @Test("a bundle of several certificates loads; nothing configured is empty")
    func bundle() throws {
        let path = try F.write(try F.pem(F.root, F.rsaSelfSigned), named: "bundle.pem")
        #expect(try !TrustedKeys.load(rootCertBundle: path, jwks: nil).isEmpty)
        #expect(try TrustedKeys.load(rootCertBundle: nil, jwks: nil).isEmpty)
        #expect(TrustedKeys().isEmpty)
        #expect(!TrustedKeys().adding(TokenSigner(privateKey: .init())).isEmpty)
    }

    @Test("unreadable, empty and garbage key files are errors naming the file", arguments: [
        ("bundle", "", "empty"),
        ("bundle", "not a certificate\n", "no PEM CERTIFICATE"),
        ("bundle", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "certificate 1"),
        ("bundle", "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", "not valid PEM"),
        ("bundle", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "no PEM CERTIFICATE"),
        ("jwks", "", "empty"),
        ("jwks", "{nope", "not JSON"),
        ("jwks", #"{"keys":[]}"#, "no keys"),
        ("jwks", #"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#, "symmetric"),
        ("jwks", #"{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}"#, "key 1"),
        ("jwks", #"{"keys":[{"kty":"EC","crv":"secp256k1","x":"AA","y":"AA"}]}"#, "curve"),
        ("jwks", #"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}"#, "RSA"),
    ])
    func badFiles(kind: String, contents: String, expected: String) throws {
        let path = try F.write(contents, named: kind == "bundle" ? "bundle.pem" : "jwks.json")
        let message = try #require(kind == "bundle" ? Self.loadError(rootCertBundle: path) : Self.loadError(jwks: path))
        #expect(message.hasPrefix(path + ":"))
        #expect(message.contains(expected), "\(message)")
    }

    @Test("a missing file is an error naming it")
    func missingFile() throws {
        let path = try F.temporaryDirectory() + "/absent.pem"
        #expect(Self.loadError(rootCertBundle: path)?.hasPrefix(path + ": cannot read") == true)
        #expect(Self.loadError(jwks: path)?.hasPrefix(path + ": cannot read") == true)
    }

    @Test("a JWKS key's alg must fit its key")
    func jwksAlgorithmMismatch() throws {
        var jwk = F.jwk(F.rootKey.publicKey)
        jwk["alg"] = "RS256"
        let path = try F.jwks([jwk])
        #expect(Self.loadError(jwks: path)?.contains("alg") == true)
    }

    @Test("loadOrCreate creates a 0600 key file (and its directory), then loads the same key from it")
    func createAndReload() throws {
        let path = try F.temporaryDirectory() + "/nested/dir/token.key"
        let created = try TokenSigner.loadOrCreate(path: path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        let reloaded = try TokenSigner.loadOrCreate(path: path)
        #expect(reloaded.keyID == created.keyID)
        #expect(created.algorithm == "ES256")
        // No temporary file is left beside it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path) == ["token.key"])
        // Tokens from the reloaded signer verify against the first.
        let verifier = TokenVerifier(issuer: F.issuer, audience: F.service, keys: TrustedKeys().adding(created))
        #expect(throws: Never.self) { try verifier.verify(reloaded.sign(TokenClaims(issuer: F.issuer, audience: [F.service], expiresAt: F.now + 60)), now: F.now) }
    }

    @Test("loadOrCreate reads an SEC1 EC PRIVATE KEY and refuses garbage or other curves, naming the file")
    func loadExisting() throws {
        let key = P256.Signing.PrivateKey()
        // SEC1 "EC PRIVATE KEY", as `openssl ecparam -genkey` writes: SEQUENCE { 1, OCTET STRING d, [0] prime256v1 }.
        let sec1 = Data([0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20]) + key.rawRepresentation
            + Data([0xA0, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07])
        let pem = "-----BEGIN EC PRIVATE KEY-----\n" + sec1.base64EncodedString(options: .lineLength64Characters) + "\n-----END EC PRIVATE KEY-----\n"
        let path = try F.write(pem, named: "sec1.pem")
        #expect(try TokenSigner.loadOrCreate(path: path).keyID == TokenSigner(privateKey: key).keyID)
        for (contents, expected) in [("garbage", "not a PEM private key"), (P384.Signing.PrivateKey().pemRepresentation, "neither")] {
            let bad = try F.write(contents, named: "bad.pem")
            #expect { _ = try TokenSigner.loadOrCreate(path: bad) } throws: { error in
                "\(error)".hasPrefix(bad + ":") && "\(error)".contains(expected)
            }
        }
        // An unreadable path (a directory) is an error naming it, not a new key.
        let directory = try F.temporaryDirectory()
        #expect { _ = try TokenSigner.loadOrCreate(path: directory) } throws: { "\($0)".hasPrefix(directory + ":") }
    }
}
