import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import RegistryAuth
import RegistryConfig
import RegistryCore
import RegistryTesting
import Testing

/// `auth.token` with Pier's own token service: challenges, `/token`, and Bearer tokens checked per request.
@Suite("Token authentication")
struct TokenAuthTests {
    static let service = "pier-test"
    static let issuer = "pier-issuer"

    /// A registry with Pier's token service, the access rules of ``AccessRulesTests``, and an image in each
    /// repository; `body` also gets the signing key's path.
    func withTokenRegistry(
        realm: String? = "https://auth.test/token", expiration: TimeInterval = 300, externalURL: String? = nil,
        _ body: @escaping @Sendable (any TestClientProtocol, _ keyPath: String) async throws -> Void
    ) async throws {
        let directory = try TemporaryDirectory("pier-token")
        defer { directory.remove() }
        let htpasswd = try AccessRulesTests.writeHtpasswd(in: directory)
        let keyPath = directory.path + "/keys/token.pem"
        try await withRegistry(configure: {
            $0.http.externalURL = externalURL
            $0.htpasswd = .init(realm: "pier", path: htpasswd)
            $0.tokenAuth = .init(realm: realm, service: Self.service, issuer: Self.issuer, signingKey: keyPath, expiration: expiration)
            $0.access = AccessRulesTests.access
            $0.failedLogins.limit = 5
        }) { client in
            // Basic credentials are accepted beside tokens, so root can set the scene.
            let root = AccessRulesTests.credentials("root")
            for repository in ["team-a/app", "team-b/app", "public/app", "other/app"] {
                _ = try await AccessRulesTests.push(client, repository, headers: root)
            }
            try await body(client, keyPath)
        }
    }

    /// A token from `/token` for `scopes`, as `user` (anonymous when `nil`).
    static func token(_ client: any TestClientProtocol, user: String?, scopes: [String]) async throws -> String {
        let query = (["service=\(service)"] + scopes.map { "scope=" + $0.addingPercentEncoding(withAllowedCharacters: .alphanumerics)! })
            .joined(separator: "&")
        let response = try await client.send(.get, "/token?" + query, headers: AccessRulesTests.credentials(user))
        guard response.status == .ok else { throw TestFailure("/token answered \(response.status): \(String(buffer: response.body))") }
        struct Answer: Decodable { var token: String; var access_token: String; var expires_in: Int; var issued_at: String }
        let answer = try JSONDecoder().decode(Answer.self, from: Data(response.body.readableBytesView))
        #expect(answer.token == answer.access_token)
        #expect(answer.expires_in > 0)
        return answer.token
    }

    static func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer " + token] }

    static func verifier(keyPath: String) throws -> TokenVerifier {
        TokenVerifier(issuer: issuer, audience: service, keys: TrustedKeys().adding(try TokenSigner.loadOrCreate(path: keyPath)))
    }

    @Test("requests without a token get the exact Bearer challenge, scopes in a stable order", arguments: [
        (HTTPRequest.Method.get, "/v2/", nil),
        (.get, "/v2/team-a/app/manifests/v1", "repository:team-a/app:pull"),
        (.head, "/v2/team-a/app/blobs/sha256:" + String(repeating: "0", count: 64), "repository:team-a/app:pull"),
        (.get, "/v2/team-a/app/tags/list", "repository:team-a/app:pull"),
        (.put, "/v2/team-a/app/manifests/v2", "repository:team-a/app:pull,push"),
        (.post, "/v2/team-a/app/blobs/uploads/", "repository:team-a/app:pull,push"),
        (.get, "/v2/team-a/app/blobs/uploads/0d2e4d9c-2b7c-4a8e-9f8e-3f1c2b7a9d10", "repository:team-a/app:pull,push"),
        (.delete, "/v2/team-a/app/blobs/uploads/0d2e4d9c-2b7c-4a8e-9f8e-3f1c2b7a9d10", "repository:team-a/app:pull,push"),
        (.delete, "/v2/team-a/app/manifests/v1", "repository:team-a/app:delete"),
        (.post, "/v2/team-a/new/blobs/uploads/?mount=sha256:" + String(repeating: "1", count: 64) + "&from=team-b/app",
         "repository:team-a/new:pull,push repository:team-b/app:pull"),
    ])
    func challenges(method: HTTPRequest.Method, path: String, scope: String?) async throws {
        try await withTokenRegistry { client, _ in
            for _ in 0..<3 {
                let response = try await client.send(method, path)
                #expect(response.status == .unauthorized)
                var expected = #"Bearer realm="https://auth.test/token",service="pier-test""#
                if let scope { expected += #",scope="\#(scope)""# }
                #expect(response.headers[.wwwAuthenticate] == expected)
                if method != .head { #expect(response.errorCode == "UNAUTHORIZED") }
            }
        }
    }

    @Test("without a configured realm, the challenge sends clients to Pier's own /token under http.host")
    func derivedRealm() async throws {
        try await withTokenRegistry(realm: nil, externalURL: "https://registry.test:5000") { client, _ in
            let response = try await client.send(.get, "/v2/")
            #expect(response.status == .unauthorized)
            #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="https://registry.test:5000/token",service="pier-test""#)
        }
    }

    @Test("the token service grants the part of each scope the rules allow, and the registry honours exactly that")
    func grants() async throws {
        try await withTokenRegistry { client, keyPath in
            let verifier = try Self.verifier(keyPath: keyPath)
            // bob asks for push on team-a but may only pull there; on team-b he may push.
            let bob = try await Self.token(client, user: "bob", scopes: ["repository:team-a/app:pull,push,delete", "repository:team-b/app:push,pull"])
            let claims = try verifier.verify(bob)
            #expect(claims.subject == "bob")
            #expect(claims.audience == [Self.service] && claims.issuer == Self.issuer)
            #expect(claims.access == [
                ResourceActions(type: "repository", name: "team-a/app", actions: ["pull"]),
                ResourceActions(type: "repository", name: "team-b/app", actions: ["pull", "push"]),
            ])
            #expect(claims.expiresAt.timeIntervalSinceNow > 200 && claims.expiresAt.timeIntervalSinceNow <= 301)

            let pull = try await client.send(.get, "/v2/team-a/app/manifests/v1", headers: Self.bearer(bob))
            #expect(pull.status == .ok)
            let push = try await client.send(.post, "/v2/team-a/app/blobs/uploads/", headers: Self.bearer(bob))
            #expect(push.status == .unauthorized)
            #expect(push.errorCode == "DENIED")
            #expect(push.headers[.wwwAuthenticate]?.hasSuffix(#",scope="repository:team-a/app:pull,push",error="insufficient_scope""#) == true)
            let pushB = try await client.send(.post, "/v2/team-b/app/blobs/uploads/", headers: Self.bearer(bob))
            #expect(pushB.status == .accepted)
            // A token names repositories exactly: no other repository rides on it.
            let other = try await client.send(.get, "/v2/other/app/manifests/v1", headers: Self.bearer(bob))
            #expect(other.status == .unauthorized)

            // Anonymous clients get tokens too, with the anonymous rules' grant.
            let anonymous = try await Self.token(client, user: nil, scopes: ["repository:public/app:pull,push", "repository:team-a/app:pull"])
            #expect(try verifier.verify(anonymous).access == [ResourceActions(type: "repository", name: "public/app", actions: ["pull"])])
            let publicPull = try await client.send(.get, "/v2/public/app/manifests/v1", headers: Self.bearer(anonymous))
            #expect(publicPull.status == .ok)
        }
    }

    @Test("the catalog needs registry:catalog:* and lists only what the token's user may pull")
    func catalog() async throws {
        try await withTokenRegistry { client, _ in
            let carol = try await Self.token(client, user: "carol", scopes: ["registry:catalog:*"])
            let listed = try await client.send(.get, "/v2/_catalog", headers: Self.bearer(carol))
            #expect(listed.status == .ok)
            #expect(String(buffer: listed.body) == #"{"repositories":["other/app","public/app"]}"# + "\n")
            let narrow = try await Self.token(client, user: "carol", scopes: ["repository:other/app:pull"])
            let refused = try await client.send(.get, "/v2/_catalog", headers: Self.bearer(narrow))
            #expect(refused.status == .unauthorized)
            #expect(refused.headers[.wwwAuthenticate]?.contains(#"scope="registry:catalog:*",error="insufficient_scope""#) == true)
            // Anonymous rules exist, so a client without a token may list what they allow.
            let anonymous = try await client.send(.get, "/v2/_catalog")
            #expect(String(buffer: anonymous.body) == #"{"repositories":["public/app"]}"# + "\n")
        }
    }

    @Test("forged, foreign, expired, alg=none and garbage tokens are refused as invalid_token")
    func invalidTokens() async throws {
        try await withTokenRegistry { client, keyPath in
            let good = try await Self.token(client, user: "alice", scopes: ["repository:team-a/app:pull"])
            let parts = good.split(separator: ".").map(String.init)
            let now = Date()
            let foreign = TokenSigner(privateKey: P256.Signing.PrivateKey()).sign(TokenClaims(
                issuer: Self.issuer, subject: "alice", audience: [Self.service], expiresAt: now.addingTimeInterval(300),
                access: [ResourceActions(type: "repository", name: "team-a/app", actions: ["pull"])]
            ))
            let signer = try TokenSigner.loadOrCreate(path: keyPath)
            let expired = signer.sign(TokenClaims(
                issuer: Self.issuer, subject: "alice", audience: [Self.service], expiresAt: now.addingTimeInterval(-60),
                access: [ResourceActions(type: "repository", name: "team-a/app", actions: ["pull"])]
            ))
            let otherAudience = signer.sign(TokenClaims(
                issuer: Self.issuer, subject: "alice", audience: ["elsewhere"], expiresAt: now.addingTimeInterval(300),
                access: [ResourceActions(type: "repository", name: "team-a/app", actions: ["pull"])]
            ))
            func b64(_ text: String) -> String {
                Data(text.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-")
                    .replacingOccurrences(of: "/", with: "_")
            }
            let none = b64(#"{"alg":"none","typ":"JWT"}"#) + "." + parts[1] + "."
            let tampered = parts[0] + "." + b64(#"{"iss":"pier-issuer","sub":"alice","aud":"pier-test","exp":9999999999,"access":[{"type":"repository","name":"team-a/app","actions":["pull","push","delete"]}]}"#) + "." + parts[2]
            for token in [foreign, expired, otherAudience, none, tampered, "garbage", "a.b.c", String(repeating: "x", count: 20000)] {
                let response = try await client.send(.get, "/v2/team-a/app/manifests/v1", headers: Self.bearer(token))
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate]?.hasSuffix(#"error="invalid_token""#) == true, "\(token.prefix(40))")
            }
            let ok = try await client.send(.get, "/v2/team-a/app/manifests/v1", headers: Self.bearer(good))
            #expect(ok.status == .ok)
        }
    }

    @Test("/token refuses wrong credentials, a foreign service and bad scopes; POST takes the password grant")
    func tokenEndpoint() async throws {
        try await withTokenRegistry { client, keyPath in
            let wrong: HTTPFields = [.authorization: "Basic " + Data("alice:nope".utf8).base64EncodedString()]
            let refused = try await client.send(.get, "/token?service=\(Self.service)&scope=repository:team-a/app:pull", headers: wrong)
            #expect(refused.status == .unauthorized)
            #expect(refused.headers[.wwwAuthenticate] == #"Basic realm="pier""#)
            let foreign = try await client.send(.get, "/token?service=other", headers: AccessRulesTests.credentials("alice"))
            #expect(foreign.status == .badRequest)
            let badScope = try await client.send(.get, "/token?service=\(Self.service)&scope=nonsense", headers: AccessRulesTests.credentials("alice"))
            #expect(badScope.status == .badRequest)

            let form = "grant_type=password&service=\(Self.service)&client_id=test&username=alice&password=a-secret&scope=repository%3Ateam-a%2Fapp%3Apull%2Cpush"
            let posted = try await client.send(.post, "/token", headers: [.contentType: "application/x-www-form-urlencoded"], body: Array(form.utf8))
            #expect(posted.status == .ok)
            struct Answer: Decodable { var access_token: String }
            let token = try JSONDecoder().decode(Answer.self, from: Data(posted.body.readableBytesView)).access_token
            #expect(try Self.verifier(keyPath: keyPath).verify(token).access == [
                ResourceActions(type: "repository", name: "team-a/app", actions: ["pull", "push"]),
            ])
            let refresh = try await client.send(.post, "/token", headers: [.contentType: "application/x-www-form-urlencoded"],
                                                body: Array("grant_type=refresh_token&refresh_token=x&service=\(Self.service)".utf8))
            #expect(refresh.status == .badRequest)
            // Found by the fuzzer: a form body that is not valid percent-encoding once crashed the process.
            for junk in ["{{{{\n\"%", "grant_type=password&username=%zz&password=x", "%", "a=%E0%A4%A"] {
                let response = try await client.send(.post, "/token", headers: [.contentType: "application/x-www-form-urlencoded"], body: Array(junk.utf8))
                #expect(response.status == .badRequest, "\(junk)")
            }

            // Wrong passwords count toward the address's limit (5 here), on /token as on /v2/.
            for _ in 0..<4 { _ = try await client.send(.get, "/token?service=\(Self.service)", headers: wrong) }
            let limited = try await client.send(.get, "/token?service=\(Self.service)", headers: AccessRulesTests.credentials("alice"))
            #expect(limited.status == .tooManyRequests)
        }
    }
}
