import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import RegistryConfig
import RegistryCore
import RegistryTesting
import Testing

/// The pull-through cache through the HTTP API, against a fake upstream that counts requests and injects faults.
@Suite("Pull-through cache")
struct PullThroughTests {
    /// An image in the fake upstream: config, one layer, manifest.
    struct UpstreamImage {
        var manifest: [UInt8]
        var digest: Digest
        var layer: [UInt8]
        var layerDigest: Digest
        var configDigest: Digest
    }

    static func addImage(_ upstream: FakeUpstream, repository: String, tag: String, layerSize: Int = 3000, seed: UInt64 = 1) -> UpstreamImage {
        let config = TestContent.bytes(40, seed: seed)
        let layer = TestContent.bytes(layerSize, seed: seed + 100)
        let configDigest = upstream.addBlob(repository: repository, bytes: config)
        let layerDigest = upstream.addBlob(repository: repository, bytes: layer)
        let manifest = TestContent.imageManifest(config: (configDigest, config.count), layers: [(layerDigest, layer.count)])
        let digest = upstream.addManifest(repository: repository, tag: tag, bytes: manifest)
        return UpstreamImage(manifest: manifest, digest: digest, layer: layer, layerDigest: layerDigest, configDigest: configDigest)
    }

    /// Runs `body` with a fake upstream mirrored as host `upstream.test` (and as the default upstream).
    func withMirror(
        revalidate: TimeInterval = 60, username: String? = nil, password: String? = nil,
        _ body: @escaping @Sendable (FakeUpstream, any TestClientProtocol) async throws -> Void
    ) async throws {
        let upstream = try await FakeUpstream.start()
        do {
            try await withRegistry(live: true, configure: { configuration in
                configuration.proxy.mirrors = [Configuration.Mirror(host: "upstream.test", remoteURL: upstream.url, username: username, password: password)]
                configuration.proxy.defaultHost = "upstream.test"
                configuration.proxy.revalidate = revalidate
                configuration.adminToken = Self.adminToken
            }) { client in try await body(upstream, client) }
        } catch {
            await upstream.stop()
            throw error
        }
        await upstream.stop()
    }

    static let accept: HTTPFields = [.accept: MediaType.ociManifest]
    static let adminToken = "test-admin-token-0123456789"

    /// A GET on a new connection, the whole body read.
    static func get(_ url: String) async throws -> (Int, [UInt8]) {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
            var bytes: [UInt8] = []
            for try await chunk in response.body { bytes += chunk.readableBytesView }
            try await client.shutdown()
            return (Int(response.status.code), bytes)
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    @Test("an image pulls by host prefix, by ?ns= and by its plain name, each manifest and blob fetched once")
    func threeRoutesOneFetch() async throws {
        try await withMirror { upstream, client in
            let image = Self.addImage(upstream, repository: "team/app", tag: "v1")
            for path in ["/v2/upstream.test/team/app/manifests/v1", "/v2/team/app/manifests/v1?ns=upstream.test", "/v2/team/app/manifests/v1"] {
                let response = try await client.send(.get, path, headers: Self.accept)
                #expect(response.status == .ok, "\(path)")
                #expect(response.bytes == image.manifest, "\(path)")
                #expect(response.headers[.dockerContentDigest] == image.digest.description)
                #expect(response.headers[HTTPField.Name("OCI-Namespace")!] == "upstream.test")
            }
            for path in ["/v2/upstream.test/team/app/blobs/\(image.layerDigest)", "/v2/team/app/blobs/\(image.layerDigest)?ns=upstream.test"] {
                let response = try await client.send(.get, path)
                #expect(response.status == .ok && response.bytes == image.layer, "\(path)")
            }
            #expect(upstream.requests(method: "GET", path: "/v2/team/app/manifests/v1") == 1)
            #expect(upstream.requests(method: "GET", path: "/v2/team/app/blobs/\(image.layerDigest)") == 1)
            let catalog = try await client.send(.get, "/v2/_catalog")
            #expect(String(buffer: catalog.body).contains("upstream.test/team/app"))
        }
    }

    @Test("sixteen concurrent misses of one blob cause one upstream GET, and all get the right bytes")
    func concurrentMisses() async throws {
        try await withMirror { upstream, client in
            let image = Self.addImage(upstream, repository: "big/layer", tag: "v1", layerSize: 4 * 1024 * 1024 + 7)
            let results = try await withThrowingTaskGroup(of: [UInt8].self) { group in
                for _ in 0..<16 {
                    group.addTask { try await client.send(.get, "/v2/upstream.test/big/layer/blobs/\(image.layerDigest)").bytes }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.count == 16)
            #expect(results.allSatisfy { $0 == image.layer })
            #expect(upstream.requests(method: "GET", path: "/v2/big/layer/blobs/\(image.layerDigest)") == 1)
            #expect(upstream.requests(method: "HEAD", path: "/v2/big/layer/blobs/\(image.layerDigest)") == 0)
        }
    }

    @Test("a blob whose upstream bytes are wrong or cut short is never served whole nor cached", arguments: [
        FakeUpstream.Fault.wrongBytes, .truncate(after: 100_000),
    ])
    func corruptBlob(fault: FakeUpstream.Fault) async throws {
        try await withMirror { upstream, client in
            let image = Self.addImage(upstream, repository: "bad/blob", tag: "v1", layerSize: 1024 * 1024)
            let url = "http://127.0.0.1:\(try #require(client.port))/v2/upstream.test/bad/blob/blobs/\(image.layerDigest)"
            upstream.failNext(1, with: fault, pathContaining: "/blobs/")
            // Each request on a connection of its own: the first one's is closed mid-body.
            if let (status, bytes) = try? await Self.get(url) {
                #expect(!(status == 200 && bytes.count == image.layer.count), "a complete response with wrong bytes")
            }
            // Nothing was cached: the next request fetches again and gets the right bytes.
            let (status, bytes) = try await Self.get(url)
            #expect(status == 200 && bytes == image.layer)
            #expect(upstream.requests(method: "GET", path: "/v2/bad/blob/blobs/\(image.layerDigest)") == 2)
        }
    }

    @Test("a manifest whose bytes do not match the digest asked for is refused and not cached")
    func corruptManifest() async throws {
        try await withMirror { upstream, client in
            let image = Self.addImage(upstream, repository: "bad/manifest", tag: "v1")
            upstream.failNext(1, with: .wrongBytes, pathContaining: "/manifests/")
            let response = try await client.send(.get, "/v2/upstream.test/bad/manifest/manifests/\(image.digest)", headers: Self.accept)
            #expect(response.status.code == 502)
            let again = try await client.send(.get, "/v2/upstream.test/bad/manifest/manifests/\(image.digest)", headers: Self.accept)
            #expect(again.status == .ok && again.bytes == image.manifest)
        }
    }

    @Test("a cached tag is served while the upstream fails; an uncached one gets the upstream's 429 with Retry-After")
    func upstreamDown() async throws {
        try await withMirror(revalidate: 0) { upstream, client in
            let image = Self.addImage(upstream, repository: "team/app", tag: "v1")
            _ = Self.addImage(upstream, repository: "team/other", tag: "v1", seed: 7)
            let first = try await client.send(.get, "/v2/upstream.test/team/app/manifests/v1", headers: Self.accept)
            #expect(first.status == .ok)
            upstream.failAlways(with: .status(503, retryAfter: 1))
            let stale = try await client.send(.get, "/v2/upstream.test/team/app/manifests/v1", headers: Self.accept)
            #expect(stale.status == .ok && stale.bytes == image.manifest)
            let blobAfterwards = try await client.send(.get, "/v2/upstream.test/team/app/blobs/\(image.configDigest)")
            #expect(blobAfterwards.status.code == 503, "a blob never fetched is not there to serve")
            upstream.clearFaults()
            upstream.failAlways(with: .status(429, retryAfter: 30))
            let limited = try await client.send(.get, "/v2/upstream.test/team/other/manifests/v1", headers: Self.accept)
            #expect(limited.status.code == 429)
            #expect(limited.errorCode == "TOOMANYREQUESTS")
            #expect(limited.headers[.retryAfter] == "30")
        }
    }

    @Test("refused upstream credentials give an error naming the upstream, not an unknown manifest")
    func upstreamCredentialsRefused() async throws {
        try await withMirror(username: "pier", password: "wrong") { upstream, client in
            upstream.set(authentication: .basic(username: "pier", password: "right"))
            _ = Self.addImage(upstream, repository: "private/app", tag: "v1")
            let response = try await client.send(.get, "/v2/upstream.test/private/app/manifests/v1", headers: Self.accept)
            #expect(response.status.code == 502)
            #expect(response.errorCode == "DENIED")
            #expect(String(buffer: response.body).contains(upstream.url))
        }
    }

    @Test("a changed upstream tag is picked up once the revalidation interval has passed")
    func revalidation() async throws {
        try await withMirror(revalidate: 0) { upstream, client in
            let first = Self.addImage(upstream, repository: "team/app", tag: "latest", seed: 1)
            let a = try await client.send(.get, "/v2/upstream.test/team/app/manifests/latest", headers: Self.accept)
            #expect(a.headers[.dockerContentDigest] == first.digest.description)
            let second = Self.addImage(upstream, repository: "team/app", tag: "latest", seed: 2)
            let b = try await client.send(.get, "/v2/upstream.test/team/app/manifests/latest", headers: Self.accept)
            #expect(b.headers[.dockerContentDigest] == second.digest.description)
            let unchanged = upstream.requests(method: "GET", path: "/v2/team/app/manifests/latest")
            _ = try await client.send(.head, "/v2/upstream.test/team/app/manifests/latest", headers: Self.accept)
            #expect(upstream.requests(method: "GET", path: "/v2/team/app/manifests/latest") == unchanged, "an unchanged tag is confirmed by HEAD only")
        }
    }

    @Test("pushes into a mirrored namespace are refused; a pushed name beside the default upstream is hosted")
    func hostedBesideMirrored() async throws {
        try await withMirror { upstream, client in
            let refused = try await client.send(.post, "/v2/upstream.test/team/app/blobs/uploads/")
            #expect(refused.status.code == 405 && refused.errorCode == "UNSUPPORTED")
            let refusedNamespace = try await client.send(.post, "/v2/team/app/blobs/uploads/?ns=upstream.test")
            #expect(refusedNamespace.status.code == 405)
            let (manifest, _) = try await client.pushImage("mine/app", tag: "v1")
            let pulled = try await client.send(.get, "/v2/mine/app/manifests/v1", headers: Self.accept)
            #expect(pulled.status == .ok && pulled.bytes == manifest)
            #expect(!upstream.recordedRequests.contains { $0.path.contains("mine/app") }, "a hosted repository never asks the upstream")
        }
    }

    @Test("the admin API prefetches images with the admin token, and refuses without it")
    func adminPrefetch() async throws {
        try await withMirror { upstream, client in
            let image = Self.addImage(upstream, repository: "team/app", tag: "v1")
            let body = Array(#"{"images":["upstream.test/team/app:v1","upstream.test/team/missing:v1"]}"#.utf8)
            let anonymous = try await client.send(.post, "/admin/prefetch", body: body)
            #expect(anonymous.status == .unauthorized && anonymous.errorCode == "UNAUTHORIZED")
            #expect(anonymous.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
            let wrong = try await client.send(.post, "/admin/prefetch", headers: [.authorization: "Bearer test-admin-token-0123456780"], body: body)
            #expect(wrong.status == .unauthorized)
            #expect(upstream.recordedRequests.isEmpty, "nothing fetched without the token")
            let done = try await client.send(.post, "/admin/prefetch", headers: [.authorization: "Bearer \(Self.adminToken)"], body: body)
            #expect(done.status.code == 207, "one image of two is missing upstream")
            let text = String(buffer: done.body)
            #expect(text.contains(image.digest.description) && text.contains("not found"))
            #expect(upstream.requests(method: "GET", path: "/v2/team/app/blobs/\(image.layerDigest)") == 1)
            let pulled = try await client.send(.get, "/v2/upstream.test/team/app/blobs/\(image.layerDigest)")
            #expect(pulled.status == .ok && upstream.requests(method: "GET", path: "/v2/team/app/blobs/\(image.layerDigest)") == 1)
        }
    }

    @Test("a client that falls behind the in-memory window reads the rest from the file being written, exactly")
    func slowClient() async throws {
        try await withMirror { upstream, client in
            let image = Self.addImage(upstream, repository: "big/slow", tag: "v1", layerSize: 40 * 1024 * 1024 + 3)
            let url = "http://127.0.0.1:\(try #require(client.port))/v2/upstream.test/big/slow/blobs/\(image.layerDigest)"
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            do {
                let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(60))
                #expect(response.status.code == 200)
                var hasher = DigestHasher(.sha256)
                var count = 0
                var paused = false
                for try await chunk in response.body {
                    chunk.withUnsafeReadableBytes { hasher.update($0) }
                    count += chunk.readableBytes
                    if !paused {
                        // Stop reading: the server's writes block while the upstream's bytes keep arriving.
                        paused = true
                        try await Task.sleep(for: .milliseconds(1500))
                    }
                }
                #expect(count == image.layer.count)
                #expect(hasher.finalize() == image.layerDigest)
            } catch {
                try? await http.shutdown()
                throw error
            }
            try await http.shutdown()
            #expect(upstream.requests(method: "GET", path: "/v2/big/slow/blobs/\(image.layerDigest)") == 1)
        }
    }

    @Test("while an upstream fails, a cached tag is served without asking it again on every request")
    func failedCheckBackoff() async throws {
        try await withMirror(revalidate: 0) { upstream, client in
            _ = Self.addImage(upstream, repository: "team/app", tag: "v1")
            let path = "/v2/upstream.test/team/app/manifests/v1"
            let first = try await client.send(.get, path, headers: Self.accept)
            #expect(first.status == .ok)
            upstream.failAlways(with: .status(500))
            let stale = try await client.send(.get, path, headers: Self.accept)
            #expect(stale.status == .ok)
            let asked = upstream.recordedRequests.count
            for _ in 0..<3 {
                let again = try await client.send(.get, path, headers: Self.accept)
                #expect(again.status == .ok)
            }
            #expect(upstream.recordedRequests.count == asked, "the failed check is remembered for a while")
        }
    }

    @Test("a HEAD of a blob not cached asks the upstream with a HEAD, and does not download it")
    func headBlob() async throws {
        try await withMirror { upstream, client in
            let image = Self.addImage(upstream, repository: "team/app", tag: "v1", layerSize: 100_000)
            let head = try await client.send(.head, "/v2/upstream.test/team/app/blobs/\(image.layerDigest)")
            #expect(head.status == .ok && head.headers[.contentLength] == "100000")
            #expect(upstream.requests(method: "HEAD", path: "/v2/team/app/blobs/\(image.layerDigest)") == 1)
            #expect(upstream.requests(method: "GET", path: "/v2/team/app/blobs/\(image.layerDigest)") == 0)
            let missing = try await client.send(.head, "/v2/upstream.test/team/app/blobs/\(Digest.of([9, 9]))")
            #expect(missing.status == .notFound)
        }
    }

    @Test("a stalled upstream does not block cached content: the tag is served after the revalidation deadline")
    func stalledUpstream() async throws {
        try await withMirror(revalidate: 0) { upstream, client in
            let image = Self.addImage(upstream, repository: "team/app", tag: "v1")
            let path = "/v2/upstream.test/team/app/manifests/v1"
            let first = try await client.send(.get, path, headers: Self.accept)
            #expect(first.status == .ok)
            let layer = try await client.send(.get, "/v2/upstream.test/team/app/blobs/\(image.layerDigest)")
            #expect(layer.status == .ok)
            upstream.failAlways(with: .stallBeforeHeaders)
            let stale = try await client.send(.get, path, headers: Self.accept)
            #expect(stale.status == .ok && stale.bytes == image.manifest)
            let cachedLayer = try await client.send(.get, "/v2/upstream.test/team/app/blobs/\(image.layerDigest)")
            #expect(cachedLayer.status == .ok && cachedLayer.bytes == image.layer, "digests never wait for the upstream")
            upstream.clearFaults()
        }
    }
}
