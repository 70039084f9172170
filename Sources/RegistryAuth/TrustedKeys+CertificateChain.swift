import Foundation
import SwiftASN1
import X509

extension TrustedKeys {
    /// The signing key of a token's `x5c` chain, once the chain verifies up to a root certificate of the bundle.
    ///
    /// Like Go's `x509.Verify` as Distribution calls it (no key-usage requirement): the first certificate signs the
    /// token; each certificate must be within its validity period at `now`; a certificate that is itself in the bundle
    /// ends the chain (so a self-signed signing certificate that is the bundle works, as with
    /// `tools/mirror-test/token-server.py`); otherwise it must be signed by a bundle certificate with its issuer's
    /// name, or by the next certificate of the chain, which must then be a CA. Path-length and name constraints are
    /// not enforced.
    func signingKey(x5c: [String], now: Date) throws(TokenError) -> TokenPublicKey {
        guard !roots.isEmpty else {
            throw .untrustedKey("the token carries an x5c certificate chain but no root certificate bundle is configured")
        }
        guard !x5c.isEmpty, x5c.count <= JSONWebToken.maximumChainLength else {
            throw .malformed("the x5c header must hold 1 to \(JSONWebToken.maximumChainLength) certificates")
        }
        var chain: [Certificate] = []
        for (index, encoded) in x5c.enumerated() {
            // RFC 7515 §4.1.6: x5c entries are standard base64 (with padding), not base64url.
            guard let der = Data(base64Encoded: encoded), let certificate = try? Certificate(derEncoded: Array(der)) else {
                throw .malformed("x5c certificate \(index + 1) is not a base64 DER certificate")
            }
            chain.append(certificate)
        }
        try verify(chain: chain, now: now)
        do {
            return try TokenPublicKey(certificateKey: chain[0].publicKey)
        } catch {
            throw .untrustedKey("the x5c signing certificate has \(error.reason)")
        }
    }

    private func verify(chain: [Certificate], now: Date) throws(TokenError) {
        for (index, certificate) in chain.enumerated() {
            let position = index == 0 ? "the x5c signing certificate" : "x5c certificate \(index + 1)"
            guard certificate.notValidBefore <= now, now <= certificate.notValidAfter else {
                throw .untrustedKey("\(position) is outside its validity period")
            }
            if roots.contains(certificate) { return }
            // Go exempts roots from the CA check (old v1 roots have no basic constraints); so do we.
            if let root = roots.first(where: { isIssuer($0, of: certificate) }) {
                guard root.notValidBefore <= now, now <= root.notValidAfter else {
                    throw .untrustedKey("the root certificate that issued \(position) is outside its validity period")
                }
                return
            }
            guard index + 1 < chain.count else { break }
            let next = chain[index + 1]
            guard isIssuer(next, of: certificate) else {
                throw .untrustedKey("\(position) is not issued by the next certificate of the chain")
            }
            guard Self.isCertificateAuthority(next) else {
                throw .untrustedKey("x5c certificate \(index + 2) issues certificates but is not a CA")
            }
        }
        throw .untrustedKey("the x5c chain does not lead to a trusted root certificate")
    }

    /// Whether `issuer` names and signed `certificate`.
    private func isIssuer(_ issuer: Certificate, of certificate: Certificate) -> Bool {
        issuer.subject == certificate.issuer && issuer.publicKey.isValidSignature(certificate.signature, for: certificate)
    }

    private static func isCertificateAuthority(_ certificate: Certificate) -> Bool {
        guard case .isCertificateAuthority = try? certificate.extensions.basicConstraints else { return false }
        return true
    }
}
