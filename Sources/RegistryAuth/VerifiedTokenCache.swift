import Crypto
import Foundation
import Synchronization

/// Remembers tokens whose signature and claims were verified, by a SHA-256 of the token, until they expire, so that
/// a client presenting the same token on every request of a pull pays the signature check once.
public final class VerifiedTokenCache: Sendable {
    let verifier: TokenVerifier
    /// Entries kept at most; beyond it expired ones are dropped, then everything (tokens are short-lived).
    let capacity: Int

    private struct Entry: Sendable {
        var claims: TokenClaims
        /// `exp` plus the leeway.
        var validUntil: Date
    }

    private let entries = Mutex<[Data: Entry]>([:])

    public init(verifier: TokenVerifier, capacity: Int = 10_000) {
        self.verifier = verifier
        self.capacity = capacity
    }

    /// The claims of `token`, verified now or earlier; throws the verifier's error for a bad token.
    public func verify(_ token: String, now: Date = Date()) throws(TokenError) -> TokenClaims {
        let key = Data(SHA256.hash(data: Data(token.utf8)))
        if let entry = entries.withLock({ $0[key] }) {
            guard now <= entry.validUntil else { throw .expired }
            return entry.claims
        }
        let claims = try verifier.verify(token, now: now)
        let leeway = verifier.leeway
        let validUntil = claims.expiresAt.addingTimeInterval(Double(leeway.components.seconds) + Double(leeway.components.attoseconds) / 1e18)
        entries.withLock { entries in
            if entries.count >= capacity {
                entries = entries.filter { now <= $0.value.validUntil }
                if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[key] = Entry(claims: claims, validUntil: validUntil)
        }
        return claims
    }
}
