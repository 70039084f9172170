import Crypto
import Foundation
import RegistryAuth
import Testing
import X509
import _CryptoExtras

@Suite("token verification: which key signed (x5c, jwk, kid, JWKS)")
struct TokenKeySelectionTests {
    typealias F = TokenFixture

    static func verifier(bundle: [Certificate] = [], jwks: String? = nil) throws -> TokenVerifier {
        let path = bundle.isEmpty ? nil : try F.write(try bundle.map { try F.pem($0) }.joined(), named: "bundle.pem")
        return TokenVerifier(issuer: F.issuer, audience: F.service, keys: try TrustedKeys.load(rootCertBundle: path, jwks: jwks))
    }

    static func chainToken(_ chain: [Certificate], key: P256.Signing.PrivateKey = F.leafKey) throws -> String {
        try F.token(header: ["typ": "JWT", "alg": "ES256", "x5c": try chain.map(F.x5c)], claims: F.claims(), sign: F.es256(key))
    }

    static func isUntrusted(_ error: any Error) -> Bool {
        guard case TokenError.untrustedKey = error else { return false }
        return true
    }

    @Test("an x5c chain leaf → intermediate verifies up to the root in the bundle")
    func chainToRoot() throws {
        let verifier = try Self.verifier(bundle: [F.root])
        #expect(try verifier.verify(try Self.chainToken([F.leaf, F.intermediate]), now: F.now).subject == "alice")
        // The root may be sent too.
        #expect(throws: Never.self) { try verifier.verify(try Self.chainToken([F.leaf, F.intermediate, F.root]), now: F.now) }
        // With the intermediate itself in the bundle, the leaf alone is enough.
        let intermediateTrusted = try Self.verifier(bundle: [F.intermediate, F.otherRoot])
        #expect(throws: Never.self) { try intermediateTrusted.verify(try Self.chainToken([F.leaf]), now: F.now) }
    }

    @Test("an x5c chain that does not lead to a trusted root is refused")
    func chainNotTrusted() throws {
        let otherBundle = try Self.verifier(bundle: [F.otherRoot])
        #expect { try otherBundle.verify(try Self.chainToken([F.leaf, F.intermediate]), now: F.now) } throws: { Self.isUntrusted($0) }
        // A chain that claims the trusted root but whose intermediate is missing.
        let rootBundle = try Self.verifier(bundle: [F.root])
        #expect { try rootBundle.verify(try Self.chainToken([F.leaf]), now: F.now) } throws: { Self.isUntrusted($0) }
        #expect { try rootBundle.verify(try Self.chainToken([F.leaf, F.otherRoot]), now: F.now) } throws: { Self.isUntrusted($0) }
        // A self-signed certificate that is not in the bundle.
        let rsaToken = try F.token(header: ["alg": "RS256", "x5c": [try F.x5c(F.rsaSelfSigned)]], claims: F.claims(), sign: F.rs256(F.rsaKey))
        #expect { try rootBundle.verify(rsaToken, now: F.now) } throws: { Self.isUntrusted($0) }
        // An x5c chain with no bundle configured (only a JWKS).
        let jwksOnly = try Self.verifier(jwks: try F.jwks([F.jwk(F.leafKey.publicKey)]))
        #expect { try jwksOnly.verify(try Self.chainToken([F.leaf, F.intermediate]), now: F.now) } throws: { Self.isUntrusted($0) }
    }

    @Test("a chain is refused when its intermediate is not a CA, a certificate has expired, or the signer is not the leaf")
    func chainRules() throws {
        let verifier = try Self.verifier(bundle: [F.root])
        // The "intermediate" is a leaf certificate (no CA basic constraint) that signed another certificate.
        let notCAKey = P256.Signing.PrivateKey()
        let notCA = try F.certificate(subject: "Not A CA", key: .init(notCAKey.publicKey), issuer: "Pier Test Root", issuerKey: .init(F.rootKey), isCA: false)
        let underNotCA = try F.certificate(subject: "Pier Test Token Signer", key: .init(F.leafKey.publicKey), issuer: "Not A CA", issuerKey: .init(notCAKey), isCA: false)
        #expect { try verifier.verify(try Self.chainToken([underNotCA, notCA]), now: F.now) } throws: { Self.isUntrusted($0) }
        // An expired leaf.
        let expired = try F.certificate(subject: "Pier Test Token Signer", key: .init(F.leafKey.publicKey), issuer: "Pier Test Intermediate",
                                        issuerKey: .init(F.intermediateKey), isCA: false, notBefore: F.now - 3000, notAfter: F.now - 1000)
        #expect { try verifier.verify(try Self.chainToken([expired, F.intermediate]), now: F.now) } throws: { Self.isUntrusted($0) }
        #expect(throws: Never.self) { try verifier.verify(try Self.chainToken([expired, F.intermediate]), now: F.now - 2000) }
        // Signed by the intermediate's key while presenting the leaf certificate: the signature does not verify.
        #expect(throws: TokenError.badSignature) { try verifier.verify(try Self.chainToken([F.leaf, F.intermediate], key: F.intermediateKey), now: F.now) }
        // Garbage in x5c is malformed, not a crash.
        let garbage = try F.token(header: ["alg": "ES256", "x5c": ["not base64!", "AAAA"]], claims: F.claims(), sign: F.es256(F.leafKey))
        #expect { try verifier.verify(garbage, now: F.now) } throws: { TokenVerifierTests.isMalformed($0) }
        let tooLong = try F.token(header: ["alg": "ES256", "x5c": Array(repeating: try F.x5c(F.intermediate), count: 6)], claims: F.claims(), sign: F.es256(F.leafKey))
        #expect { try verifier.verify(tooLong, now: F.now) } throws: { TokenVerifierTests.isMalformed($0) }
    }

    @Test("kid finds a bundle certificate's key by its libtrust ID, as Distribution and docker_auth name keys")
    func kidLibtrust() throws {
        let verifier = try Self.verifier(bundle: [F.root, F.rsaSelfSigned, F.leaf])
        let kid = TokenVerifierTests.libtrustID(of: F.leafKey.publicKey.derRepresentation)
        let token = try F.token(header: ["alg": "ES256", "kid": kid], claims: F.claims(), sign: F.es256(F.leafKey))
        #expect(throws: Never.self) { try verifier.verify(token, now: F.now) }
        // A Pier signer of the same key names it by the same kid.
        #expect(TokenSigner(privateKey: F.leafKey).keyID == kid)
        // An unknown kid, or no key hint with several trusted keys, is untrusted.
        let unknown = try F.token(header: ["alg": "ES256", "kid": "AAAA:BBBB"], claims: F.claims(), sign: F.es256(F.leafKey))
        #expect { try verifier.verify(unknown, now: F.now) } throws: { Self.isUntrusted($0) }
        let bare = try F.token(header: ["alg": "ES256"], claims: F.claims(), sign: F.es256(F.leafKey))
        #expect { try verifier.verify(bare, now: F.now) } throws: { Self.isUntrusted($0) }
        // With exactly one trusted key, a token without a key hint uses it.
        #expect(throws: Never.self) { try Self.verifier(bundle: [F.leaf]).verify(bare, now: F.now) }
    }

    @Test("a JWKS file: RSA and EC keys found by their kid, libtrust ID or RFC 7638 thumbprint")
    func jwksFile() throws {
        let p384 = P384.Signing.PrivateKey()
        let point = p384.publicKey.x963Representation.dropFirst()
        let ecJWK: [String: Any] = ["kty": "EC", "crv": "P-384", "kid": "ec-key", "alg": "ES384", "use": "sig",
                                    "x": F.base64URL(point.prefix(48)), "y": F.base64URL(point.suffix(48))]
        let verifier = try Self.verifier(jwks: try F.jwks([try F.jwk(F.rsaKey.publicKey, kid: "rsa-key"), ecJWK, F.jwk(F.rootKey.publicKey)]))
        let rsa = try F.token(header: ["alg": "RS256", "kid": "rsa-key"], claims: F.claims(), sign: F.rs256(F.rsaKey))
        #expect(throws: Never.self) { try verifier.verify(rsa, now: F.now) }
        let es384 = try F.token(header: ["alg": "ES384", "kid": "ec-key"], claims: F.claims()) { try p384.signature(for: $0).rawRepresentation }
        #expect(throws: Never.self) { try verifier.verify(es384, now: F.now) }
        let byLibtrust = try F.token(header: ["alg": "ES256", "kid": TokenVerifierTests.libtrustID(of: F.rootKey.publicKey.derRepresentation)], claims: F.claims(), sign: F.es256(F.rootKey))
        #expect(throws: Never.self) { try verifier.verify(byLibtrust, now: F.now) }
        // RFC 7638 §3.1's thumbprint: SHA-256 of the required members in order, base64url.
        let primitives = try F.rsaKey.publicKey.getKeyPrimitives()
        let canonical = #"{"e":"\#(F.base64URL(primitives.publicExponent))","kty":"RSA","n":"\#(F.base64URL(primitives.modulus))"}"#
        let thumbprint = F.base64URL(Array(SHA256.hash(data: Data(canonical.utf8))))
        let byThumbprint = try F.token(header: ["alg": "RS256", "kid": thumbprint], claims: F.claims(), sign: F.rs256(F.rsaKey))
        #expect(throws: Never.self) { try verifier.verify(byThumbprint, now: F.now) }
        // A kid that names another key than the signer's: the signature does not verify.
        let wrongKid = try F.token(header: ["alg": "RS256", "kid": "rsa-key"], claims: F.claims(), sign: F.rs256(try _RSA.Signing.PrivateKey(keySize: .bits2048)))
        #expect(throws: TokenError.badSignature) { try verifier.verify(wrongKid, now: F.now) }
    }

    @Test("a jwk header is accepted only when that key is trusted")
    func jwkHeader() throws {
        let verifier = try Self.verifier(jwks: try F.jwks([F.jwk(F.leafKey.publicKey), F.jwk(F.rootKey.publicKey)]))
        let trusted = try F.token(header: ["alg": "ES256", "jwk": F.jwk(F.leafKey.publicKey)], claims: F.claims(), sign: F.es256(F.leafKey))
        #expect(throws: Never.self) { try verifier.verify(trusted, now: F.now) }
        // The attacker's own key in the header.
        let attacker = P256.Signing.PrivateKey()
        let untrusted = try F.token(header: ["alg": "ES256", "jwk": F.jwk(attacker.publicKey)], claims: F.claims(), sign: F.es256(attacker))
        #expect { try verifier.verify(untrusted, now: F.now) } throws: { Self.isUntrusted($0) }
    }

    @Test("a JWKS entry's alg restricts that key")
    func jwksAlgorithm() throws {
        var jwk = try F.jwk(F.rsaKey.publicKey)
        jwk["alg"] = "PS256"
        let verifier = try Self.verifier(jwks: try F.jwks([jwk]))
        let rs256 = try F.token(header: ["alg": "RS256"], claims: F.claims(), sign: F.rs256(F.rsaKey))
        #expect { try verifier.verify(rs256, now: F.now) } throws: { error in
            guard case TokenError.unsupportedAlgorithm = error else { return false }
            return true
        }
    }
}
