import AsyncHTTPClient
import Foundation
import NIOCore
import RegistryCore
import RegistryProxy
import RegistryTesting
import Testing

/// The upstream client against a misbehaving fake upstream: retries, redirects, limits and timeouts.
@Suite("Upstream client: failures, retries, redirects, timeouts")
struct UpstreamClientFailureTests {
    static let repository = "library/alpine"

    @Test("a one-off 429 is retried and succeeds")
    func oneOff429() async throws {
        try await withUpstream { upstream, client in
            let digest = upstream.addBlob(repository: Self.repository, bytes: [7, 7, 7])
            upstream.failNext(1, with: .status(429, retryAfter: 0))
            let received = try await blobBytes(client, repository: Self.repository, digest: digest)
            #expect(received == [7, 7, 7])
            #expect(upstream.requests(method: "GET", path: "/v2/\(Self.repository)/blobs/\(digest)") == 2)
        }
    }

    @Test("a persistent 503 is .unavailable with Retry-After after the bounded retries")
    func persistent503() async throws {
        try await withUpstream(configure: { $0.retries = 2; $0.maximumBackoff = .seconds(1) }) { upstream, client in
            upstream.failAlways(with: .status(503, retryAfter: 1))
            let start = ContinuousClock.now
            let error = await upstreamError { try await client.headManifest(repository: Self.repository, reference: "x", accept: manifestAccept) }
            // Retry-After (1 s, within the maximum backoff) was honoured before each of the 2 retries.
            #expect(ContinuousClock.now - start >= .seconds(2))
            #expect(error?.code == .unavailable)
            #expect(error?.status == 503)
            #expect(error?.retryAfter == 1)
            #expect(error?.message.contains(upstream.url) == true)
            #expect(upstream.requests(method: "HEAD", path: "/v2/\(Self.repository)/manifests/x") == 3)
        }
    }

    @Test("a 503 without Retry-After is retried with backoff, then .unavailable")
    func backoff503() async throws {
        try await withUpstream(configure: { $0.retries = 2 }) { upstream, client in
            upstream.failAlways(with: .status(503))
            let start = ContinuousClock.now
            let error = await upstreamError { try await client.headManifest(repository: Self.repository, reference: "x", accept: manifestAccept) }
            let elapsed = ContinuousClock.now - start
            #expect(error?.code == .unavailable)
            #expect(error?.retryAfter == nil)
            #expect(upstream.requests(method: "HEAD", path: "/v2/\(Self.repository)/manifests/x") == 3)
            // 100 ms + 200 ms of backoff.
            #expect(elapsed >= .milliseconds(300))
            #expect(elapsed < .seconds(10))
        }
    }

    @Test("a Retry-After longer than the maximum backoff stops the retries at once and is passed on")
    func longRetryAfter() async throws {
        try await withUpstream(configure: { $0.retries = 3; $0.maximumBackoff = .seconds(2) }) { upstream, client in
            upstream.failAlways(with: .status(429, retryAfter: 120))
            let start = ContinuousClock.now
            let error = await upstreamError { try await client.headManifest(repository: Self.repository, reference: "x", accept: manifestAccept) }
            #expect(ContinuousClock.now - start < .seconds(30))
            #expect(error?.code == .rateLimited)
            #expect(error?.retryAfter == 120)
            #expect(upstream.requests(method: "HEAD", path: "/v2/\(Self.repository)/manifests/x") == 1)
        }
    }

    @Test("404 and 400 are not retried")
    func noRetryOnClientErrors() async throws {
        try await withUpstream { upstream, client in
            upstream.failNext(1, with: .status(400))
            let bad = await upstreamError { try await client.headManifest(repository: Self.repository, reference: "x", accept: manifestAccept) }
            #expect(bad?.code == .invalidResponse)
            #expect(bad?.status == 400)
            let missing = await upstreamError { try await client.headManifest(repository: Self.repository, reference: "x", accept: manifestAccept) }
            #expect(missing?.code == .notFound)
            #expect(upstream.requests(method: "HEAD", path: "/v2/\(Self.repository)/manifests/x") == 2)
        }
    }

    @Test("a redirect to another host drops Authorization; the same host keeps it")
    func redirectAuthorization() async throws {
        let cdn = try await FakeUpstream.start()
        defer { Task { await cdn.stop() } }
        try await withUpstream(authentication: .bearer()) { upstream, client in
            let bytes = TestContent.bytes(10_000)
            let digest = upstream.addBlob(repository: Self.repository, bytes: bytes)
            cdn.addBlob(repository: "bucket", bytes: bytes)

            upstream.set(blobRedirect: .otherServer(baseURL: cdn.url))
            let fromOtherHost = try await blobBytes(client, repository: Self.repository, digest: digest)
            #expect(fromOtherHost == bytes)
            let landed = try #require(cdn.recordedRequests.last)
            #expect(landed.path == "/_cdn/\(digest)")
            #expect(landed.authorization == nil)
            #expect(upstream.recordedRequests.last?.authorization?.hasPrefix("Bearer ") == true)

            upstream.set(blobRedirect: .sameServer)
            let fromSameHost = try await blobBytes(client, repository: Self.repository, digest: digest)
            #expect(fromSameHost == bytes)
            let sameHost = try #require(upstream.recordedRequests.last)
            #expect(sameHost.path == "/_cdn/\(digest)")
            #expect(sameHost.authorization?.hasPrefix("Bearer ") == true)
        }
        await cdn.stop()
    }

    @Test("a manifest over the limit is .tooLarge; one at the limit is read")
    func manifestLimit() async throws {
        try await withUpstream { upstream, client in
            let bytes = TestContent.imageManifest(config: (Digest.of([1]), 1), layers: [])
            upstream.addManifest(repository: Self.repository, tag: "big", bytes: bytes)
            let error = await upstreamError {
                try await client.getManifest(repository: Self.repository, reference: "big", accept: manifestAccept, limit: bytes.count - 1)
            }
            #expect(error?.code == .tooLarge)
            let manifest = try await client.getManifest(repository: Self.repository, reference: "big", accept: manifestAccept, limit: bytes.count)
            #expect(manifest.bytes == bytes)
        }
    }

    @Test("a manifest whose bytes do not match its digest is .invalidResponse")
    func manifestWrongBytes() async throws {
        try await withUpstream { upstream, client in
            let bytes = TestContent.imageManifest(config: (Digest.of([1]), 1), layers: [])
            upstream.addManifest(repository: Self.repository, tag: "t", bytes: bytes)
            upstream.failNext(1, with: .wrongBytes)
            let error = await upstreamError {
                try await client.getManifest(repository: Self.repository, reference: "t", accept: manifestAccept, limit: 1 << 20)
            }
            #expect(error?.code == .invalidResponse)
        }
    }

    @Test("an upstream that never answers is .unreachable within about the read timeout")
    func stallBeforeHeaders() async throws {
        try await withUpstream(configure: { $0.readTimeout = .seconds(1); $0.retries = 0 }) { upstream, client in
            upstream.failNext(1, with: .stallBeforeHeaders)
            let start = ContinuousClock.now
            let error = await upstreamError { try await client.headManifest(repository: Self.repository, reference: "x", accept: manifestAccept) }
            let elapsed = ContinuousClock.now - start
            #expect(error?.code == .unreachable)
            #expect(elapsed >= .milliseconds(900))
            #expect(elapsed < .seconds(15))
        }
    }

    @Test("a blob body that stalls after the headers fails as .unreachable within about the read timeout")
    func stallAfterHeaders() async throws {
        // 3 s: long enough for the headers to arrive on a loaded machine, short enough to keep the test quick.
        try await withUpstream(configure: { $0.readTimeout = .seconds(3); $0.retries = 0 }) { upstream, client in
            let digest = upstream.addBlob(repository: Self.repository, bytes: TestContent.bytes(100_000))
            upstream.failNext(1, with: .stallAfterHeaders(bytes: 1000))
            let blob = try await client.getBlob(repository: Self.repository, digest: digest)
            #expect(blob.size == 100_000)
            let start = ContinuousClock.now
            var received = 0
            let error = await #expect(throws: UpstreamError.self) {
                for try await chunk in blob.body { received += chunk.readableBytes }
            }
            let elapsed = ContinuousClock.now - start
            #expect(error?.code == .unreachable)
            #expect(received == 1000)
            #expect(elapsed < .seconds(20))
        }
    }

    @Test("a blob body cut short fails as .unreachable")
    func truncatedBlob() async throws {
        try await withUpstream { upstream, client in
            let digest = upstream.addBlob(repository: Self.repository, bytes: TestContent.bytes(50_000))
            upstream.failNext(1, with: .truncate(after: 20_000))
            let blob = try await client.getBlob(repository: Self.repository, digest: digest)
            let error = await #expect(throws: UpstreamError.self) { _ = try await collect(blob.body) }
            #expect(error?.code == .unreachable)
        }
    }

    @Test("a token endpoint that fails is .unavailable naming its realm; a refused cached token is renewed once")
    func tokenEndpointFailures() async throws {
        try await withUpstream(authentication: .bearer(), configure: { $0.retries = 0 }) { upstream, client in
            let digest = upstream.addBlob(repository: Self.repository, bytes: [5])
            upstream.failNext(1, with: .status(503), pathContaining: "/token")
            let error = await upstreamError { try await client.getBlob(repository: Self.repository, digest: digest) }
            #expect(error?.code == .unavailable)
            #expect(error?.message.contains("\(upstream.url)/token") == true)

            let first = try await blobBytes(client, repository: Self.repository, digest: digest)
            #expect(first == [5])
            #expect(upstream.tokenRequests == 2)
            upstream.revokeTokens()
            let afterRevocation = try await blobBytes(client, repository: Self.repository, digest: digest)
            #expect(afterRevocation == [5])
            #expect(upstream.tokenRequests == 3)
        }
    }

    @Test("a refused connection is .unreachable")
    func connectionRefused() async throws {
        let gone = try await FakeUpstream.start()
        await gone.stop()
        var configuration = UpstreamConfiguration(url: gone.url)
        configuration.retries = 1
        configuration.maximumBackoff = .milliseconds(50)
        let httpClient = UpstreamClient.makeHTTPClient(configuration: configuration)
        let client = UpstreamClient(configuration: configuration, httpClient: httpClient, logger: testLogger)
        let start = ContinuousClock.now
        let error = await upstreamError { try await client.headManifest(repository: Self.repository, reference: "x", accept: manifestAccept) }
        let elapsed = ContinuousClock.now - start
        try await httpClient.shutdown()
        // Fails fast: neither AsyncHTTPClient's silent reconnection nor the connect timeout is waited for.
        #expect(elapsed < .seconds(10))
        #expect(error?.code == .unreachable)
        #expect(error?.status == nil)
        #expect(error?.message.contains(gone.url) == true)
    }
}
