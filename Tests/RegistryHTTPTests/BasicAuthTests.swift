import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import RegistryAuth
import RegistryConfig
import RegistryCore
import RegistryTesting
import Testing

/// `auth.htpasswd`: every `/v2/` request needs Basic credentials from the file.
@Suite("Basic authentication (htpasswd)")
struct BasicAuthTests {
    static func basic(_ user: String, _ password: String) -> HTTPFields {
        [.authorization: "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()]
    }

    func withAuthenticatedRegistry(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let directory = try TemporaryDirectory("pier-htpasswd")
        defer { directory.remove() }
        let path = directory.path + "/htpasswd"
        try "alice:\(try #require(Bcrypt.hash("wonderland", cost: 4)))\n".write(toFile: path, atomically: true, encoding: .utf8)
        try await withRegistry(configure: { $0.htpasswd = .init(realm: "Pier \"test\" realm", path: path) }, body)
    }

    @Test("every endpoint answers 401 UNAUTHORIZED with a Basic challenge without valid credentials", arguments: [
        (HTTPRequest.Method.get, "/v2/"), (.get, "/v2/_catalog"), (.get, "/v2/a/tags/list"), (.get, "/v2/a/manifests/latest"),
        (.head, "/v2/a/manifests/latest"), (.put, "/v2/a/manifests/latest"), (.delete, "/v2/a/manifests/latest"),
        (.get, "/v2/a/blobs/sha256:" + String(repeating: "0", count: 64)), (.post, "/v2/a/blobs/uploads/"),
        (.get, "/v2/a/referrers/sha256:" + String(repeating: "0", count: 64)),
    ])
    func challenged(method: HTTPRequest.Method, path: String) async throws {
        try await withAuthenticatedRegistry { client in
            for headers in [HTTPFields(), Self.basic("alice", "wrong"), Self.basic("mallory", "wonderland"), [.authorization: "Bearer x"]] {
                let response = try await client.send(method, path, headers: headers)
                #expect(response.status == .unauthorized, "\(method) \(path)")
                #expect(response.headers[.wwwAuthenticate] == #"Basic realm="Pier \"test\" realm""#)
                if method != .head { #expect(response.errorCode == "UNAUTHORIZED") }
            }
        }
    }

    @Test("with the right credentials everything works; /healthz needs none")
    func authorized() async throws {
        try await withAuthenticatedRegistry { client in
            let alice = Self.basic("alice", "wonderland")
            let base = try await client.send(.get, "/v2/", headers: alice)
            #expect(base.status == .ok)
            let digest = Digest.of([1, 2, 3])
            let start = try await client.send(.post, "/v2/team/app/blobs/uploads/", headers: alice)
            #expect(start.status == .accepted)
            let location = try #require(start.headers[.location])
            let put = try await client.send(.put, location + "?digest=\(digest)", headers: alice, body: [1, 2, 3])
            #expect(put.status == .created)
            let get = try await client.send(.get, "/v2/team/app/blobs/\(digest)", headers: alice)
            #expect(get.status == .ok && get.bytes == [1, 2, 3])
            let health = try await client.send(.get, "/healthz")
            #expect(health.status == .ok)
        }
    }
}
