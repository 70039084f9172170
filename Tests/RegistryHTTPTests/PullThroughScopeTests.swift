import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import RegistryConfig
import RegistryCore
import RegistryTesting
import Testing

/// Mirrored content is scoped to its repository: a blob cached from one repository is served under another name
/// only once that name's upstream has confirmed it, and a name enters the catalog only when content of it is cached.
@Suite("Pull-through cache: content scoped to its repository")
struct PullThroughScopeTests {
    /// The names in the catalog once it lists `expected` (or after 10 s): a blob another repository's fetch brings is
    /// linked to a name that joined the fetch when the fetch has stored it, a moment after its bytes were served.
    static func catalog(_ client: any TestClientProtocol, listing expected: Set<String>) async throws -> [String] {
        struct Catalog: Decodable { var repositories: [String] }
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            let response = try await client.send(.get, "/v2/_catalog?n=1000")
            let names = try JSONDecoder().decode(Catalog.self, from: Data(response.body.readableBytesView)).repositories
            if expected.isSubset(of: names) || ContinuousClock.now > deadline { return names }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Pulls an image through the mirror (manifest and every blob), as a client would.
    static func pull(_ client: any TestClientProtocol, _ name: String, _ image: PullThroughTests.UpstreamImage, headers: HTTPFields = [:]) async throws {
        var manifestHeaders = headers
        manifestHeaders[.accept] = MediaType.ociManifest
        let manifest = try await client.send(.get, "/v2/\(name)/manifests/v1", headers: manifestHeaders)
        #expect(manifest.status == .ok, "manifest of \(name)")
        for digest in [image.configDigest, image.layerDigest] {
            let blob = try await client.send(.get, "/v2/\(name)/blobs/\(digest)", headers: headers)
            #expect(blob.status == .ok, "blob of \(name)")
        }
    }

    @Test("a cached blob under an invented name: the upstream is asked, says 404, and so does Pier; the name is not listed")
    func inventedName() async throws {
        try await PullThroughTests().withMirror { upstream, client in
            let image = PullThroughTests.addImage(upstream, repository: "team/app", tag: "v1")
            try await Self.pull(client, "upstream.test/team/app", image)
            upstream.resetCounters()
            let layer = image.layerDigest
            // The host prefix, containerd's ?ns= and the default upstream (Docker's registry-mirrors).
            let forms = [
                ("/v2/upstream.test/team/invented-a/blobs/\(layer)", "team/invented-a"),
                ("/v2/team/invented-b/blobs/\(layer)?ns=upstream.test", "team/invented-b"),
                ("/v2/team/invented-c/blobs/\(layer)", "team/invented-c"),
                ("/v2/upstream.test/invented/blobs/\(layer)", "invented"),
            ]
            for (path, upstreamName) in forms {
                let get = try await client.send(.get, path)
                #expect(get.status == .notFound && get.errorCode == "BLOB_UNKNOWN", "GET \(path): \(get.status)")
                let head = try await client.send(.head, path)
                #expect(head.status == .notFound, "HEAD \(path): \(head.status)")
                let range = try await client.send(.get, path, headers: [.range: "bytes=0-9"])
                #expect(range.status == .notFound, "ranged GET \(path): \(range.status)")
                let asked = "/v2/\(upstreamName)/blobs/\(layer)"
                #expect(upstream.requests(method: "HEAD", path: asked) == 3, "each request asks the upstream: \(asked)")
                #expect(upstream.requests(method: "GET", path: asked) == 0, "nothing is downloaded to find out")
            }
            // A name whose upstream has the blob is linked (once the fetch has stored it), the invented ones never.
            upstream.addBlob(repository: "team/real", bytes: image.layer)
            #expect(try await client.send(.head, "/v2/upstream.test/team/real/blobs/\(layer)").status == .ok)
            let names = try await Self.catalog(client, listing: ["upstream.test/team/real"])
            #expect(names == ["upstream.test/team/app", "upstream.test/team/real"], "\(names)")
            // The repository it came from still serves it without asking.
            upstream.resetCounters()
            let cached = try await client.send(.get, "/v2/upstream.test/team/app/blobs/\(layer)")
            #expect(cached.status == .ok && cached.bytes == image.layer)
            #expect(upstream.recordedRequests.isEmpty)
        }
    }

    @Test("a second repository whose upstream has the same blob is served it after a HEAD, without a second download")
    func confirmedByUpstream() async throws {
        try await PullThroughTests().withMirror { upstream, client in
            let image = PullThroughTests.addImage(upstream, repository: "team/app", tag: "v1")
            try await Self.pull(client, "upstream.test/team/app", image)
            upstream.addBlob(repository: "team/second", bytes: image.layer)
            upstream.addBlob(repository: "team/third", bytes: image.layer)
            upstream.resetCounters()
            let second = try await client.send(.get, "/v2/upstream.test/team/second/blobs/\(image.layerDigest)")
            #expect(second.status == .ok && second.bytes == image.layer)
            #expect(upstream.requests(method: "HEAD", path: "/v2/team/second/blobs/\(image.layerDigest)") == 1)
            #expect(upstream.requests(method: "GET", path: "/v2/team/second/blobs/\(image.layerDigest)") == 0)
            // Linked now: served without asking again.
            let again = try await client.send(.get, "/v2/upstream.test/team/second/blobs/\(image.layerDigest)")
            #expect(again.status == .ok && again.bytes == image.layer)
            #expect(upstream.recordedRequests.count == 1, "\(upstream.recordedRequests.map { "\($0.method) \($0.path)" })")
            // A HEAD confirms (and links) as well: by the default upstream's plain name this time.
            let head = try await client.send(.head, "/v2/team/third/blobs/\(image.layerDigest)")
            #expect(head.status == .ok && head.headers[.contentLength] == String(image.layer.count))
            let get = try await client.send(.get, "/v2/team/third/blobs/\(image.layerDigest)")
            #expect(get.status == .ok && get.bytes == image.layer)
            #expect(upstream.requests(method: "HEAD", path: "/v2/team/third/blobs/\(image.layerDigest)") == 1)
            #expect(upstream.recordedRequests.count == 2, "\(upstream.recordedRequests.map(\.path))")
            let expected = ["upstream.test/team/app", "upstream.test/team/second", "upstream.test/team/third"]
            let names = try await Self.catalog(client, listing: Set(expected))
            #expect(names == expected, "\(names)")
        }
    }

    @Test("misses, upstream 404s, failed fetches and refused pushes leave no name in the catalog")
    func nothingCachedNothingListed() async throws {
        try await PullThroughTests().withMirror { upstream, client in
            let image = PullThroughTests.addImage(upstream, repository: "team/app", tag: "v1")
            try await Self.pull(client, "upstream.test/team/app", image)
            let accept: HTTPFields = [.accept: MediaType.ociManifest]
            // Misses: a manifest and a blob the upstream does not have.
            #expect(try await client.send(.get, "/v2/upstream.test/team/none/manifests/v1", headers: accept).status == .notFound)
            #expect(try await client.send(.get, "/v2/upstream.test/team/none/manifests/\(image.digest)", headers: accept).status == .notFound)
            #expect(try await client.send(.get, "/v2/upstream.test/team/none2/blobs/\(Digest.of([1, 2, 3]))").status == .notFound)
            #expect(try await client.send(.head, "/v2/team/none3/blobs/\(Digest.of([1, 2, 3]))?ns=upstream.test").status == .notFound)
            // A failed fetch: the upstream has the blob but fails.
            let failing = PullThroughTests.addImage(upstream, repository: "team/failing", tag: "v1", seed: 9)
            upstream.failNext(10, with: .status(500), pathContaining: "/team/failing/")
            #expect(try await client.send(.get, "/v2/upstream.test/team/failing/blobs/\(failing.layerDigest)").status.code == 503)
            upstream.clearFaults()
            // A refused push of an image whose layer is cached, as Docker does it: HEAD, mount, POST, manifest PUT.
            for name in ["upstream.test/team/pushed", "team/pushed-ns"] {
                let query = name.hasPrefix("upstream.test/") ? "" : "?ns=upstream.test"
                let separator = query.isEmpty ? "?" : "&"
                let head = try await client.send(.head, "/v2/\(name)/blobs/\(image.layerDigest)\(query)")
                #expect(head.status == .notFound, "HEAD \(name)")
                let mount = try await client.send(
                    .post, "/v2/\(name)/blobs/uploads/\(query)\(separator)mount=\(image.layerDigest)&from=upstream.test/team/app")
                #expect(mount.status.code == 405, "mount into \(name)")
                let post = try await client.send(.post, "/v2/\(name)/blobs/uploads/\(query)")
                #expect(post.status.code == 405, "POST into \(name)")
                let put = try await client.send(
                    .put, "/v2/\(name)/manifests/v1\(query)", headers: [.contentType: MediaType.ociManifest], body: image.manifest)
                #expect(put.status.code == 405, "PUT into \(name)")
            }
            upstream.addBlob(repository: "team/real", bytes: image.layer)
            #expect(try await client.send(.head, "/v2/upstream.test/team/real/blobs/\(image.layerDigest)").status == .ok)
            let names = try await Self.catalog(client, listing: ["upstream.test/team/real"])
            #expect(names == ["upstream.test/team/app", "upstream.test/team/real"], "\(names)")
        }
    }

    @Test("with access rules, a blob cached from a repository a user may not pull is not served to them under another name")
    func accessRules() async throws {
        let upstream = try await FakeUpstream.start()
        let directory = try TemporaryDirectory("pier-scope")
        defer { directory.remove() }
        do {
            let htpasswd = try AccessRulesTests.writeHtpasswd(in: directory)
            try await withRegistry(live: true, configure: { configuration in
                configuration.proxy.mirrors = [Configuration.Mirror(host: "upstream.test", remoteURL: upstream.url)]
                configuration.htpasswd = .init(realm: "pier", path: htpasswd)
                configuration.access = Configuration.Access(rules: [
                    .init(pattern: "upstream.test/private/**", users: ["alice": ["pull"]]),
                    .init(pattern: "upstream.test/public/**", anonymous: ["pull"]),
                    .init(pattern: "mine/**", anonymous: ["pull", "push"]),
                ])
            }) { client in
                let image = PullThroughTests.addImage(upstream, repository: "private/app", tag: "v1")
                try await Self.pull(client, "upstream.test/private/app", image, headers: AccessRulesTests.credentials("alice"))
                upstream.resetCounters()
                let leaked = try await client.send(.get, "/v2/upstream.test/public/app/blobs/\(image.layerDigest)")
                #expect(leaked.status == .notFound, "served a private blob under a public name")
                #expect(upstream.requests(method: "HEAD", path: "/v2/public/app/blobs/\(image.layerDigest)") == 1)
                // Nor through a mount from the public name into one the user may push to.
                let mount = try await client.send(
                    .post, "/v2/mine/app/blobs/uploads/?mount=\(image.layerDigest)&from=upstream.test/public/app")
                #expect(mount.status == .accepted, "a mount from a name that does not hold the blob starts an upload: \(mount.status)")
                #expect(try await client.send(.get, "/v2/mine/app/blobs/\(image.layerDigest)").status == .notFound)
            }
        } catch {
            await upstream.stop()
            throw error
        }
        await upstream.stop()
    }
}
