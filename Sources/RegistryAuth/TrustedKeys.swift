import Foundation
import SwiftASN1
import X509

/// The keys a resource server trusts to sign bearer tokens: Distribution's `auth.token.rootcertbundle` (certificates
/// whose keys may sign directly, and which anchor `x5c` chains) and/or `auth.token.jwks`, plus Pier's own signer.
public struct TrustedKeys: Sendable {
    /// One trusted public key and the names a token's `kid` may call it by.
    struct Entry: Sendable {
        var key: TokenPublicKey
        /// The DER SubjectPublicKeyInfo, which identifies the key.
        var subjectPublicKeyInfo: Data
        /// The libtrust key ID, the RFC 7638 thumbprint and, from a JWKS, the entry's own `kid`.
        var keyIDs: Set<String>
        /// A JWKS entry's `alg`: the only algorithm that key may sign with.
        var algorithm: SignatureAlgorithm?
    }

    private(set) var entries: [Entry] = []
    /// The root certificate bundle: anchors for `x5c` chains.
    private(set) var roots: [Certificate] = []

    /// No trusted keys: every token is refused.
    public init() {}

    /// Whether no key is trusted.
    public var isEmpty: Bool { entries.isEmpty }

    /// Reads a PEM bundle of one or more certificates and/or a JWKS file (`{"keys":[…]}` of RSA and EC keys).
    /// Either may be `nil`. An unreadable, empty or unparsable file, or a key that cannot sign tokens, is an error
    /// naming the file.
    public static func load(rootCertBundle: String?, jwks: String?) throws(TokenKeyError) -> TrustedKeys {
        var keys = TrustedKeys()
        if let path = rootCertBundle {
            for certificate in try loadCertificates(path: path) {
                keys.roots.append(certificate)
                let key: TokenPublicKey
                do {
                    key = try TokenPublicKey(certificateKey: certificate.publicKey)
                } catch {
                    throw TokenKeyError("\(path): the certificate for \(certificate.subject) has \(error.reason)")
                }
                keys.trust(key)
            }
        }
        if let path = jwks {
            for (key, kid, algorithm) in try loadJWKS(path: path) {
                keys.trust(key, kid: kid, algorithm: algorithm)
            }
        }
        return keys
    }

    /// These keys and a built-in signer's public key (Pier's own token service).
    public func adding(_ signer: TokenSigner) -> TrustedKeys {
        var keys = self
        keys.trust(signer.publicKey, kid: signer.keyID)
        return keys
    }

    /// Adds a key, merging its names with an entry for the same key.
    mutating func trust(_ key: TokenPublicKey, kid: String? = nil, algorithm: SignatureAlgorithm? = nil) {
        let spki = key.subjectPublicKeyInfo
        var names: Set<String> = [key.libtrustKeyID, key.thumbprint]
        if let kid { names.insert(kid) }
        if let index = entries.firstIndex(where: { $0.subjectPublicKeyInfo == spki }) {
            entries[index].keyIDs.formUnion(names)
            // Two sources that restrict the same key differently: trust neither restriction over the other.
            if entries[index].algorithm != algorithm { entries[index].algorithm = nil }
        } else {
            entries.append(Entry(key: key, subjectPublicKeyInfo: spki, keyIDs: names, algorithm: algorithm))
        }
    }

    /// The trusted entry with this key ID (libtrust ID, JWK thumbprint or JWKS `kid`).
    func entry(keyID: String) -> Entry? {
        entries.first { $0.keyIDs.contains(keyID) }
    }

    /// The trusted entry for exactly this public key.
    func entry(for key: TokenPublicKey) -> Entry? {
        let spki = key.subjectPublicKeyInfo
        return entries.first { $0.subjectPublicKeyInfo == spki }
    }

    private static func read(_ path: String, what: String) throws(TokenKeyError) -> String {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw TokenKeyError("\(path): cannot read the \(what): \(error.localizedDescription)")
        }
        guard !text.allSatisfy(\.isWhitespace) else { throw TokenKeyError("\(path): the \(what) is empty") }
        return text
    }

    private static func loadCertificates(path: String) throws(TokenKeyError) -> [Certificate] {
        let text = try read(path, what: "root certificate bundle")
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: text)
        } catch {
            throw TokenKeyError("\(path): the root certificate bundle is not valid PEM")
        }
        // Other blocks (a key someone concatenated in) are skipped, as Distribution does; certificates are required.
        let blocks = documents.filter { $0.discriminator == Certificate.defaultPEMDiscriminator }
        guard !blocks.isEmpty else {
            throw TokenKeyError("\(path): the root certificate bundle holds no PEM CERTIFICATE block")
        }
        var certificates: [Certificate] = []
        for (index, block) in blocks.enumerated() {
            do {
                certificates.append(try Certificate(derEncoded: block.derBytes))
            } catch {
                throw TokenKeyError("\(path): certificate \(index + 1) of the root certificate bundle is not a valid X.509 certificate")
            }
        }
        return certificates
    }

    private struct JWKSet: Decodable {
        var keys: [JSONWebKey]
    }

    private static func loadJWKS(path: String) throws(TokenKeyError) -> [(TokenPublicKey, String?, SignatureAlgorithm?)] {
        let text = try read(path, what: "JWKS file")
        let set: JWKSet
        do {
            set = try JSONDecoder().decode(JWKSet.self, from: Data(text.utf8))
        } catch {
            throw TokenKeyError(#"\#(path): the JWKS file is not JSON of the form {"keys":[{"kty":…},…]}"#)
        }
        guard !set.keys.isEmpty else { throw TokenKeyError("\(path): the JWKS file has no keys") }
        var keys: [(TokenPublicKey, String?, SignatureAlgorithm?)] = []
        for (index, jwk) in set.keys.enumerated() {
            let name = "key \(index + 1)" + (jwk.kid.map { " (kid \(TokenError.quoted($0)))" } ?? "")
            // RFC 7517 §4.2: a key marked for encryption does not verify signatures.
            if jwk.use == "enc" { continue }
            let key: TokenPublicKey
            do {
                key = try TokenPublicKey(jwk: jwk)
            } catch {
                throw TokenKeyError("\(path): \(name) of the JWKS file is \(error.reason)")
            }
            var algorithm: SignatureAlgorithm?
            if let alg = jwk.alg {
                guard let named = SignatureAlgorithm(rawValue: alg), key.fits(named) else {
                    throw TokenKeyError("\(path): \(name) of the JWKS file names alg \(TokenError.quoted(alg)), which Pier does not verify with an \(key.kind) key")
                }
                algorithm = named
            }
            keys.append((key, jwk.kid, algorithm))
        }
        guard !keys.isEmpty else { throw TokenKeyError("\(path): the JWKS file has no signature keys (all are use \"enc\")") }
        return keys
    }
}
