/// Why a bearer token was refused. `description` is safe to log: it never contains the token, and what it quotes
/// from the token (an algorithm or issuer name) is shortened and escaped.
public enum TokenError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not a compact JWS of the expected shape (bad base64url, bad JSON, too big, missing `exp`, …).
    case malformed(String)
    /// The `alg` is not one Pier verifies (`none` and `HS*` never are), or does not fit the key.
    case unsupportedAlgorithm(String)
    /// No trusted key signs tokens like this one (unknown `kid` or `jwk`, x5c chain not up to a trusted root, …).
    case untrustedKey(String)
    /// The signature does not verify with the chosen key.
    case badSignature
    /// `iss` is not the configured issuer; carries the token's issuer.
    case wrongIssuer(String)
    /// `aud` does not name this service.
    case wrongAudience
    /// `exp` has passed (beyond the leeway).
    case expired
    /// `nbf` is in the future (beyond the leeway).
    case notYetValid

    public var description: String {
        switch self {
        case .malformed(let reason): "malformed token: \(reason)"
        case .unsupportedAlgorithm(let algorithm): "unsupported token algorithm: \(algorithm)"
        case .untrustedKey(let reason): "untrusted token signing key: \(reason)"
        case .badSignature: "the token's signature does not verify"
        case .wrongIssuer(let issuer): "the token's issuer \(issuer) is not the configured issuer"
        case .wrongAudience: "the token is not meant for this service (aud)"
        case .expired: "the token has expired"
        case .notYetValid: "the token is not valid yet (nbf)"
        }
    }

    /// A token-supplied string made safe to log: at most 64 characters, quoted, control characters escaped.
    static func quoted(_ text: String) -> String {
        let shortened = text.count > 64 ? String(text.prefix(64)) + "…" : text
        return String(reflecting: shortened)
    }
}

/// A problem with configured key material (root certificate bundle, JWKS, signing key); the message names the file
/// and what is wrong with it.
public struct TokenKeyError: Error, Sendable, CustomStringConvertible {
    public var description: String

    init(_ description: String) {
        self.description = description
    }
}
