import Crypto
import Foundation
import RegistryAuth
import Testing

@Suite("Access policy")
struct AccessPolicyTests {
    @Test("globs: * stays within a component, ** crosses them, x/** matches x too", arguments: [
        ("**", "a", true), ("**", "a/b/c", true),
        ("team-a/**", "team-a", true), ("team-a/**", "team-a/app", true), ("team-a/**", "team-a/x/y", true),
        ("team-a/**", "team-ab/app", false), ("team-a/**", "team-b/app", false),
        ("team-a/*", "team-a/app", true), ("team-a/*", "team-a/x/y", false), ("team-a/*", "team-a", false),
        ("*/app", "x/app", true), ("*/app", "x/y/app", false), ("**/app", "x/y/app", true), ("**/app", "app", true),
        ("lib*", "library", true), ("lib*", "library/x", false), ("a/**/z", "a/z", true), ("a/**/z", "a/b/c/z", true),
        ("exact/name", "exact/name", true), ("exact/name", "exact/name2", false),
    ])
    func globs(pattern: String, name: String, matches: Bool) {
        #expect(RepositoryPattern(pattern).matches(name) == matches)
    }

    @Test("a pathological pattern against a long name finishes")
    func pathological() {
        let pattern = RepositoryPattern(String(repeating: "*a", count: 20) + "b")
        #expect(!pattern.matches(String(repeating: "a", count: 200)))
        let double = RepositoryPattern(String(repeating: "**/", count: 10) + "z")
        #expect(!double.matches(String(repeating: "a/", count: 60) + "y"))
    }

    @Test("the most specific pattern decides; users, groups, authenticated and anonymous add up within it")
    func specificity() {
        let policy = AccessPolicy(
            rules: [
                .init(pattern: .everything, authenticated: [.pull], anonymous: []),
                .init(pattern: RepositoryPattern("team/**"), users: ["alice": [.push]], groups: ["devs": [.pull, .delete]], anonymous: [.pull]),
            ],
            groups: ["devs": ["bob"]], admins: ["root"]
        )
        #expect(policy.actions(for: "alice", on: "team/app") == [.push, .pull])
        #expect(policy.actions(for: "bob", on: "team/app") == [.pull, .delete])
        #expect(policy.actions(for: "carol", on: "team/app") == [.pull])  // anonymous pull applies to everyone
        #expect(policy.actions(for: "carol", on: "other") == [.pull])
        #expect(policy.actions(for: nil, on: "other") == [])
        #expect(policy.actions(for: "root", on: "whatever") == Set(AccessPolicy.Action.allCases))
        #expect(policy.allowsAnonymous)
        #expect(!AccessPolicy.authenticatedOnly.allowsAnonymous)
        #expect(AccessPolicy.authenticatedOnly.actions(for: "x", on: "y") == Set(AccessPolicy.Action.allCases))
    }

    @Test("the failed-login limiter refuses after the limit and forgets after the window")
    func limiter() {
        let limiter = LoginRateLimiter(limit: 2, window: .seconds(60))
        let start = ContinuousClock.now
        #expect(limiter.retryAfter("1.2.3.4", now: start) == nil)
        limiter.recordFailure("1.2.3.4", now: start)
        limiter.recordFailure("1.2.3.4", now: start)
        #expect(limiter.retryAfter("1.2.3.4", now: start + .seconds(1)) == 59)
        #expect(limiter.retryAfter("5.6.7.8", now: start + .seconds(1)) == nil)
        #expect(limiter.retryAfter("1.2.3.4", now: start + .seconds(61)) == nil)
        let off = LoginRateLimiter(limit: 0, window: .seconds(60))
        for _ in 0..<5 { off.recordFailure("x") }
        #expect(off.retryAfter("x") == nil)
    }
}

@Suite("Verified token cache")
struct VerifiedTokenCacheTests {
    @Test("a verified token is remembered until it expires; a bad one is never remembered")
    func remembers() throws {
        let signer = TokenSigner(privateKey: .init())
        let verifier = TokenVerifier(issuer: "i", audience: "a", keys: TrustedKeys().adding(signer), leeway: .seconds(2))
        let cache = VerifiedTokenCache(verifier: verifier, capacity: 2)
        let now = Date()
        let token = signer.sign(TokenClaims(issuer: "i", subject: "u", audience: ["a"], expiresAt: now.addingTimeInterval(60)))
        #expect(try cache.verify(token, now: now).subject == "u")
        #expect(try cache.verify(token, now: now.addingTimeInterval(61)).subject == "u")  // within the leeway
        #expect(throws: TokenError.expired) { try cache.verify(token, now: now.addingTimeInterval(63)) }
        let wrong = signer.sign(TokenClaims(issuer: "other", subject: "u", audience: ["a"], expiresAt: now.addingTimeInterval(60)))
        for _ in 0..<2 {
            #expect(throws: TokenError.self) { try cache.verify(wrong, now: now) }
        }
        // Past capacity the cache starts over rather than grow.
        for index in 0..<5 {
            let other = signer.sign(TokenClaims(issuer: "i", subject: "u\(index)", audience: ["a"], expiresAt: now.addingTimeInterval(60)))
            #expect(try cache.verify(other, now: now).subject == "u\(index)")
        }
    }
}
