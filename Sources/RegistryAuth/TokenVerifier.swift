import Foundation

/// Verifies the bearer tokens a token service issues for this registry (Docker token authentication).
///
/// Follows Distribution 2.8.2's `registry/auth/token`, and is stricter or more accepting where that is safe: `aud` may
/// be an array (RFC 7519), `kid` may also be an RFC 7638 thumbprint or a JWKS `kid`, `crit` headers are refused,
/// and `none`/`HS*` are never accepted.
// https://distribution.github.io/distribution/spec/auth/jwt/ ("Verifying the token")
public struct TokenVerifier: Sendable {
    /// The `iss` tokens must carry.
    public let issuer: String
    /// The service name `aud` must contain.
    public let audience: String
    public let keys: TrustedKeys
    /// Allowed clock skew for `exp` and `nbf`.
    public let leeway: Duration

    /// Creates a verifier for tokens from `issuer` meant for `audience`.
    public init(issuer: String, audience: String, keys: TrustedKeys, leeway: Duration = .seconds(5)) {
        self.issuer = issuer
        self.audience = audience
        self.keys = keys
        self.leeway = leeway
    }

    /// Verifies signature, `iss`, `aud` (a string, or an array containing `audience`), `exp` and `nbf` (± leeway),
    /// and returns the claims. Nothing in the token is trusted before its signature verifies.
    public func verify(_ token: String, now: Date = Date()) throws(TokenError) -> TokenClaims {
        let jws = try JSONWebToken(compact: token)
        let header = jws.header
        // RFC 7515 §4.1.11: a critical extension we do not understand must make the token invalid.
        if header.crit != nil { throw .malformed("the header has crit extensions, which Pier does not understand") }
        let algorithm = try SignatureAlgorithm(header: header.alg)
        let key = try signingKey(for: header, now: now, algorithm: algorithm)
        guard key.fits(algorithm) else {
            throw .unsupportedAlgorithm("\(algorithm.rawValue) with an \(key.kind) key")
        }
        guard key.isValidSignature(jws.signature, for: jws.signingInput, algorithm: algorithm) else {
            throw .badSignature
        }

        let claims = try TokenClaims(json: jws.payload)
        guard claims.issuer == issuer else { throw .wrongIssuer(TokenError.quoted(claims.issuer)) }
        guard claims.audience.contains(audience) else { throw .wrongAudience }
        let skew = Double(leeway.components.seconds) + Double(leeway.components.attoseconds) / 1e18
        guard now.timeIntervalSince(claims.expiresAt) <= skew else { throw .expired }
        if let notBefore = claims.notBefore, notBefore.timeIntervalSince(now) > skew { throw .notYetValid }
        return claims
    }

    /// The key that must have signed the token: from its x5c chain, its jwk (if trusted), its kid, or the only
    /// trusted key — in that order, as Distribution looks.
    private func signingKey(for header: JOSEHeader, now: Date, algorithm: SignatureAlgorithm) throws(TokenError) -> TokenPublicKey {
        if let x5c = header.x5c {
            return try keys.signingKey(x5c: x5c, now: now)
        }
        let entry: TrustedKeys.Entry
        if let jwk = header.jwk {
            // A key the token brings is only a hint: it must be one we already trust.
            let key: TokenPublicKey
            do {
                key = try TokenPublicKey(jwk: jwk)
            } catch {
                throw .untrustedKey("the jwk header is \(error.reason)")
            }
            guard let trusted = keys.entry(for: key) else { throw .untrustedKey("the jwk header is not a trusted key") }
            entry = trusted
        } else if let kid = header.kid {
            guard let trusted = keys.entry(keyID: kid) else {
                throw .untrustedKey("no trusted key has kid \(TokenError.quoted(kid))")
            }
            entry = trusted
        } else if keys.entries.count == 1 {
            entry = keys.entries[0]
        } else {
            throw .untrustedKey(keys.isEmpty ? "no keys are trusted" : "the token names no key (x5c, jwk or kid) and several are trusted")
        }
        if let only = entry.algorithm, only != algorithm {
            throw .unsupportedAlgorithm("\(algorithm.rawValue) with a key that signs only \(only.rawValue)")
        }
        return entry.key
    }
}
