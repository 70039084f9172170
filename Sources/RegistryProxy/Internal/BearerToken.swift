import Foundation

/// Identifies a bearer token: the token endpoint (realm and service) and the scope it grants.
struct TokenKey: Hashable, Sendable {
    var realm: String
    var service: String?
    var scope: String
}

/// A bearer token and the instant after which it is no longer sent.
struct BearerToken: Sendable {
    /// The opaque token. Never logged.
    var value: String
    /// A little before the token expires, so that a request never carries a token that expires in flight.
    var usableUntil: ContinuousClock.Instant
}

/// The JSON a token endpoint answers with.
// https://distribution.github.io/distribution/spec/auth/token/#token-response-fields
struct TokenResponse: Decodable {
    var token: String?
    var accessToken: String?
    var expiresIn: Int?
    var issuedAt: String?

    enum CodingKeys: String, CodingKey {
        case token
        case accessToken = "access_token"
        case expiresIn = "expires_in"
        case issuedAt = "issued_at"
    }

    /// The spec's default lifetime when `expires_in` is absent.
    static let defaultLifetime = 60

    /// The longest lifetime believed: a token endpoint's `expires_in` is untrusted input.
    static let maximumLifetime = 24 * 3600

    /// The token to send: `token`, or `access_token` (OAuth2-style endpoints send only that one); `nil` when neither
    /// is a usable header value (visible ASCII only, at most 64 KiB: it is sent back as `Authorization: Bearer …`).
    var value: String? {
        for candidate in [token, accessToken] {
            guard let candidate, !candidate.isEmpty else { continue }
            return Self.isUsable(candidate) ? candidate : nil
        }
        return nil
    }

    private static func isUsable(_ token: String) -> Bool {
        token.utf8.count <= 64 * 1024 && token.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }

    /// The token with its usable lifetime measured from `requestedAt`, the moment the token was asked for.
    ///
    /// `expires_in` is taken between 1 s and 24 h. `issued_at` is accepted but the lifetime is counted on the local
    /// monotonic clock from the request: the upstream's wall clock may be skewed, and counting from before the
    /// request errs on the early side.
    /// The token is dropped a tenth of its lifetime (at most 10 s) before it expires.
    func bearerToken(requestedAt: ContinuousClock.Instant) -> BearerToken? {
        guard let value else { return nil }
        let lifetime = min(max(expiresIn ?? Self.defaultLifetime, 1), Self.maximumLifetime)
        let margin = Duration.milliseconds(min(10_000, lifetime * 100))
        return BearerToken(value: value, usableUntil: requestedAt + .seconds(lifetime) - margin)
    }
}
