import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import RegistryAuth
import RegistryConfig
import RegistryCore
import RegistryTesting
import Testing

/// `access` rules with htpasswd users: every (user, repository, action) of a table through the HTTP API.
@Suite("Access rules")
struct AccessRulesTests {
    static let users = ["alice": "a-secret", "bob": "b-secret", "carol": "c-secret", "root": "r-secret"]

    static let access = Configuration.Access(
        groups: ["devs": ["bob"]],
        admins: ["root"],
        rules: [
            .init(pattern: "team-a/**", users: ["alice": ["pull", "push", "delete"]], groups: ["devs": ["pull"]]),
            .init(pattern: "team-b/*", groups: ["devs": ["pull", "push"]]),
            .init(pattern: "public/**", anonymous: ["pull"]),
            .init(pattern: "**", authenticated: ["pull"]),
        ]
    )

    static func credentials(_ user: String?) -> HTTPFields {
        guard let user else { return [:] }
        return [.authorization: "Basic " + Data("\(user):\(users[user]!)".utf8).base64EncodedString()]
    }

    /// A registry with the users and rules above, and an image pushed by root into each repository.
    func withRules(
        limit: Int = 10, _ body: @escaping @Sendable (any TestClientProtocol, _ layer: Digest) async throws -> Void
    ) async throws {
        let directory = try TemporaryDirectory("pier-access")
        defer { directory.remove() }
        let path = try Self.writeHtpasswd(in: directory)
        try await withRegistry(configure: {
            $0.htpasswd = .init(realm: "pier", path: path)
            $0.access = Self.access
            $0.failedLogins.limit = limit
        }) { client in
            let root = Self.credentials("root")
            var layer: Digest?
            for repository in ["team-a/app", "team-b/app", "public/app", "other/app"] {
                layer = try await Self.push(client, repository, headers: root)
            }
            try await body(client, try #require(layer))
        }
    }

    /// Writes an htpasswd file of ``users`` (bcrypt, cost 4) into `directory`; returns its path.
    static func writeHtpasswd(in directory: TemporaryDirectory) throws -> String {
        let path = directory.path + "/htpasswd"
        var file = ""
        for (user, password) in users.sorted(by: { $0.key < $1.key }) {
            file += "\(user):\(try #require(Bcrypt.hash(password, cost: 4)))\n"
        }
        try file.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Pushes a one-layer image tagged `v1`; returns the layer's digest.
    static func push(_ client: any TestClientProtocol, _ repository: String, headers: HTTPFields) async throws -> Digest {
        var digests: [(Digest, Int)] = []
        for bytes in [TestContent.bytes(40, seed: 1), TestContent.bytes(300, seed: 2)] {
            let start = try await client.send(.post, "/v2/\(repository)/blobs/uploads/", headers: headers)
            let location = try #require(start.headers[.location], "POST \(repository): \(start.status)")
            let put = try await client.send(.put, location + "?digest=\(Digest.of(bytes))", headers: headers, body: bytes)
            #expect(put.status == .created)
            digests.append((Digest.of(bytes), bytes.count))
        }
        let manifest = TestContent.imageManifest(config: digests[0], layers: [digests[1]])
        var manifestHeaders = headers
        manifestHeaders[.contentType] = MediaType.ociManifest
        let put = try await client.send(.put, "/v2/\(repository)/manifests/v1", headers: manifestHeaders, body: manifest)
        #expect(put.status == .created)
        return digests[1].0
    }

    enum Action: String, Sendable, CustomStringConvertible {
        case pull, push, delete
        var description: String { rawValue }
    }

    /// (user, repository, action, allowed); a refused user gets 403 DENIED, a refused anonymous client 401.
    static let table: [(String?, String, Action, Bool)] = [
        ("alice", "team-a/app", .pull, true), ("alice", "team-a/app", .push, true), ("alice", "team-a/app", .delete, true),
        ("alice", "team-a/deep/er", .push, true),
        ("alice", "team-b/app", .pull, false), ("alice", "team-b/app", .push, false),
        ("alice", "public/app", .pull, true), ("alice", "public/app", .push, false),
        ("alice", "other/app", .pull, true), ("alice", "other/app", .push, false), ("alice", "other/app", .delete, false),
        ("bob", "team-a/app", .pull, true), ("bob", "team-a/app", .push, false), ("bob", "team-a/app", .delete, false),
        ("bob", "team-b/app", .pull, true), ("bob", "team-b/app", .push, true), ("bob", "team-b/app", .delete, false),
        // `team-b/*` stops at one component: deeper names fall to `**`.
        ("bob", "team-b/x/y", .push, false),
        // The most specific rule decides: `team-a/**` names no `authenticated`, so `**`'s pull does not reach in.
        ("carol", "team-a/app", .pull, false), ("carol", "other/app", .pull, true), ("carol", "public/app", .pull, true),
        ("carol", "team-b/app", .pull, false),
        ("root", "team-a/app", .delete, true), ("root", "team-b/app", .push, true), ("root", "anything/else", .push, true),
        (nil, "public/app", .pull, true), (nil, "public/app", .push, false), (nil, "team-a/app", .pull, false),
        (nil, "other/app", .pull, false),
    ]

    @Test("each rule of the table holds through the HTTP API")
    func table() async throws {
        try await withRules { client, _ in
            for (user, repository, action, allowed) in Self.table {
                let headers = Self.credentials(user)
                let response: TestResponse
                switch action {
                case .pull:
                    response = try await client.send(.get, "/v2/\(repository)/manifests/v1", headers: headers)
                case .push:
                    response = try await client.send(.post, "/v2/\(repository)/blobs/uploads/", headers: headers)
                case .delete:
                    // An absent blob: allowed is 404, refused is 401/403, and nothing changes either way.
                    response = try await client.send(.delete, "/v2/\(repository)/blobs/sha256:" + String(repeating: "e", count: 64), headers: headers)
                }
                let who = user ?? "anonymous"
                if allowed {
                    let expected: HTTPResponse.Status = switch action {
                    case .pull: repository.hasSuffix("/app") ? .ok : .notFound
                    case .push: .accepted
                    case .delete: .notFound
                    }
                    #expect(response.status == expected, "\(who) \(action) \(repository): \(response.status)")
                } else if user == nil {
                    #expect(response.status == .unauthorized, "\(who) \(action) \(repository): \(response.status)")
                    #expect(response.headers[.wwwAuthenticate] == #"Basic realm="pier""#)
                    #expect(response.errorCode == "UNAUTHORIZED")
                } else {
                    #expect(response.status == .forbidden, "\(who) \(action) \(repository): \(response.status)")
                    #expect(response.errorCode == "DENIED")
                }
            }
        }
    }

    @Test("the catalog lists only what the caller may pull")
    func catalog() async throws {
        try await withRules { client, _ in
            let expected: [(String?, [String])] = [
                (nil, ["public/app"]),
                ("carol", ["other/app", "public/app"]),
                ("alice", ["other/app", "public/app", "team-a/app"]),
                ("bob", ["other/app", "public/app", "team-a/app", "team-b/app"]),
                ("root", ["other/app", "public/app", "team-a/app", "team-b/app"]),
            ]
            for (user, names) in expected {
                let response = try await client.send(.get, "/v2/_catalog", headers: Self.credentials(user))
                #expect(response.status == .ok)
                struct Catalog: Decodable { var repositories: [String] }
                let listed = try JSONDecoder().decode(Catalog.self, from: Data(response.body.readableBytesView)).repositories
                #expect(listed == names, "\(user ?? "anonymous")")
            }
            // Pages are filled with visible names: bob sees 4, two per page.
            let first = try await client.send(.get, "/v2/_catalog?n=2", headers: Self.credentials("bob"))
            #expect(String(buffer: first.body).contains(#"["other/app","public/app"]"#))
            #expect(first.headers[.link] != nil)
            let second = try await client.send(.get, "/v2/_catalog?n=2&last=public/app", headers: Self.credentials("bob"))
            #expect(String(buffer: second.body).contains(#"["team-a/app","team-b/app"]"#))
        }
    }

    @Test("a mount needs pull on the source; without one, no mount from elsewhere")
    func mounts() async throws {
        try await withRules { client, layer in
            // alice may push team-a but not pull team-b.
            let refused = try await client.send(
                .post, "/v2/team-a/new/blobs/uploads/?mount=\(layer)&from=team-b/app", headers: Self.credentials("alice")
            )
            #expect(refused.status == .forbidden)
            // bob may pull team-a and push team-b.
            let mounted = try await client.send(
                .post, "/v2/team-b/new/blobs/uploads/?mount=\(layer)&from=team-a/app", headers: Self.credentials("bob")
            )
            #expect(mounted.status == .created)
            // Without `from`, the blob is not taken from a repository the caller was never checked against.
            let unnamed = try await client.send(.post, "/v2/team-a/other/blobs/uploads/?mount=\(layer)", headers: Self.credentials("alice"))
            #expect(unnamed.status == .accepted)
        }
    }

    @Test("an upload belongs to the repository's push permission: status and cancel need push")
    func uploadsNeedPush() async throws {
        try await withRules { client, _ in
            let start = try await client.send(.post, "/v2/team-a/app/blobs/uploads/", headers: Self.credentials("alice"))
            let location = try #require(start.headers[.location])
            for method in [HTTPRequest.Method.get, .delete, .patch, .put] {
                let response = try await client.send(method, location, headers: Self.credentials("bob"))
                #expect(response.status == .forbidden, "\(method)")
            }
            let status = try await client.send(.get, location, headers: Self.credentials("alice"))
            #expect(status.status == .noContent)
        }
    }

    @Test("GET /v2/ challenges anonymous clients even where anonymous pulls are allowed, so docker login works")
    func baseChallenges() async throws {
        try await withRules { client, _ in
            let anonymous = try await client.send(.get, "/v2/")
            #expect(anonymous.status == .unauthorized)
            let carol = try await client.send(.get, "/v2/", headers: Self.credentials("carol"))
            #expect(carol.status == .ok)
        }
    }

    @Test("empty Basic credentials (containers/image without a login) are anonymous, not a failed login")
    func emptyBasicIsAnonymous() async throws {
        try await withRules(limit: 1) { client, _ in
            let empty: HTTPFields = [.authorization: "Basic " + Data(":".utf8).base64EncodedString()]
            // With a limit of one, a second round would get 429 if empty credentials counted as failed logins.
            for _ in 0..<3 {
                let allowed = try await client.send(.get, "/v2/public/app/manifests/v1", headers: empty)
                #expect(allowed.status == .ok)
                let refused = try await client.send(.get, "/v2/other/app/manifests/v1", headers: empty)
                #expect(refused.status == .unauthorized)
            }
            // Signed-in users are unaffected.
            let carol = try await client.send(.get, "/v2/other/app/manifests/v1", headers: Self.credentials("carol"))
            #expect(carol.status == .ok)
        }
    }

    @Test("failed logins of a user from one address are limited: 429 with Retry-After, even for the right password")
    func failedLoginsLimited() async throws {
        try await withRules(limit: 3) { client, _ in
            let wrong: HTTPFields = [.authorization: "Basic " + Data("alice:nope".utf8).base64EncodedString()]
            for _ in 0..<3 {
                let response = try await client.send(.get, "/v2/team-a/app/manifests/v1", headers: wrong)
                #expect(response.status == .unauthorized)
            }
            let limited = try await client.send(.get, "/v2/team-a/app/manifests/v1", headers: Self.credentials("alice"))
            #expect(limited.status == .tooManyRequests)
            #expect(limited.errorCode == "TOOMANYREQUESTS")
            #expect(limited.headers[HTTPField.Name("Retry-After")!].flatMap(Int.init).map { $0 >= 1 && $0 <= 60 } == true)
            // Another user behind the same address is not held up.
            let bob = try await client.send(.get, "/v2/team-a/app/manifests/v1", headers: Self.credentials("bob"))
            #expect(bob.status == .ok)
        }
    }
}
