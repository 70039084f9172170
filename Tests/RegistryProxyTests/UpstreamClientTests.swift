import AsyncHTTPClient
import Foundation
import RegistryCore
import RegistryProxy
import RegistryTesting
import Testing

/// The upstream client against a fake upstream over loopback: content and authentication.
@Suite("Upstream client: content and authentication")
struct UpstreamClientTests {
    static let repository = "library/alpine"

    @Test("gets and heads a manifest anonymously, sending Accept and User-Agent")
    func anonymousManifest() async throws {
        try await withUpstream { upstream, client in
            let bytes = TestContent.imageManifest(config: (Digest.of([1]), 1), layers: [])
            let digest = upstream.addManifest(repository: Self.repository, tag: "3.20", bytes: bytes, mediaType: MediaType.ociManifest)

            let manifest = try await client.getManifest(repository: Self.repository, reference: "3.20", accept: manifestAccept, limit: 1 << 20)
            #expect(manifest.bytes == bytes)
            #expect(manifest.mediaType == MediaType.ociManifest)
            #expect(manifest.digest == digest)

            let head = try await client.headManifest(repository: Self.repository, reference: "3.20", accept: manifestAccept)
            #expect(head.digest == digest)
            #expect(head.mediaType == MediaType.ociManifest)
            #expect(head.size == Int64(bytes.count))

            let byDigest = try await client.getManifest(
                repository: Self.repository, reference: digest.description, accept: manifestAccept, limit: 1 << 20)
            #expect(byDigest.bytes == bytes)

            let recorded = try #require(upstream.recordedRequests.first)
            #expect(recorded.accept == manifestAccept.joined(separator: ", "))
            #expect(recorded.userAgent?.hasPrefix("pier/") == true)
            #expect(recorded.authorization == nil)
        }
    }

    @Test("streams a blob with its size")
    func blobStreaming() async throws {
        try await withUpstream { upstream, client in
            let bytes = TestContent.bytes(300_000)
            let digest = upstream.addBlob(repository: Self.repository, bytes: bytes)
            let blob = try await client.getBlob(repository: Self.repository, digest: digest)
            #expect(blob.size == Int64(bytes.count))
            let received = try await collect(blob.body)
            #expect(received == bytes)
        }
    }

    @Test("a whole pull with bearer auth costs one token request and one 401")
    func bearerOneToken() async throws {
        try await withUpstream(authentication: .bearer()) { upstream, client in
            let blobs = (1...3).map { upstream.addBlob(repository: Self.repository, bytes: TestContent.bytes(1000, seed: UInt64($0))) }
            let bytes = TestContent.imageManifest(config: (blobs[0], 1000), layers: [(blobs[1], 1000), (blobs[2], 1000)])
            upstream.addManifest(repository: Self.repository, tag: "latest", bytes: bytes)

            _ = try await client.headManifest(repository: Self.repository, reference: "latest", accept: manifestAccept)
            _ = try await client.getManifest(repository: Self.repository, reference: "latest", accept: manifestAccept, limit: 1 << 20)
            for digest in blobs {
                _ = try await blobBytes(client, repository: Self.repository, digest: digest)
            }
            #expect(upstream.tokenRequests == 1)
            // Only the first request went out anonymously: 1 retry + 5 requests.
            let registryRequests = upstream.recordedRequests.filter { $0.path.hasPrefix("/v2/") }
            #expect(registryRequests.count == 6)
            #expect(registryRequests.filter { $0.authorization == nil }.count == 1)
            #expect(registryRequests.last?.authorization?.hasPrefix("Bearer fake-token-") == true)
        }
    }

    @Test("concurrent requests needing the same token make exactly one token request")
    func bearerSingleFlight() async throws {
        try await withUpstream(authentication: .bearer()) { upstream, client in
            let digests = (1...8).map { upstream.addBlob(repository: Self.repository, bytes: TestContent.bytes(5000, seed: UInt64($0))) }
            try await withThrowingTaskGroup(of: Int.self) { group in
                for digest in digests {
                    group.addTask { try await blobBytes(client, repository: Self.repository, digest: digest).count }
                }
                for try await count in group { #expect(count == 5000) }
            }
            #expect(upstream.tokenRequests == 1)
        }
    }

    @Test("a token is reused until shortly before it expires, then renewed up front")
    func tokenExpiry() async throws {
        // 10 s: a loaded CI machine can take seconds between a token's issue and its use.
        try await withUpstream(authentication: .bearer(tokenLifetime: 10)) { upstream, client in
            let bytes = TestContent.imageManifest(config: (Digest.of([1]), 1), layers: [])
            upstream.addManifest(repository: Self.repository, tag: "a", bytes: bytes)
            let path = "/v2/\(Self.repository)/manifests/a"

            _ = try await client.headManifest(repository: Self.repository, reference: "a", accept: manifestAccept)
            _ = try await client.headManifest(repository: Self.repository, reference: "a", accept: manifestAccept)
            #expect(upstream.tokenRequests == 1)
            #expect(upstream.requests(method: "HEAD", path: path) == 3)

            try await Task.sleep(for: .milliseconds(10_100))
            _ = try await client.headManifest(repository: Self.repository, reference: "a", accept: manifestAccept)
            #expect(upstream.tokenRequests == 2)
            // Renewed before sending: no request with the expired token, no second 401.
            #expect(upstream.requests(method: "HEAD", path: path) == 4)
        }
    }

    @Test("a token endpoint answering access_token only is understood")
    func accessTokenField() async throws {
        try await withUpstream(authentication: .bearer()) { upstream, client in
            upstream.set(tokenField: "access_token")
            let digest = upstream.addBlob(repository: Self.repository, bytes: [1, 2, 3])
            let received = try await blobBytes(client, repository: Self.repository, digest: digest)
            #expect(received == [1, 2, 3])
            #expect(upstream.tokenRequests == 1)
        }
    }

    @Test("the token endpoint gets the configured credentials, service and scope")
    func bearerWithCredentials() async throws {
        try await withUpstream(
            authentication: .bearer(service: "registry.example", username: "alice", password: "s3cret"),
            configure: { $0.username = "alice"; $0.password = "s3cret" }
        ) { upstream, client in
            let digest = upstream.addBlob(repository: "team/app", bytes: [9, 9])
            let received = try await blobBytes(client, repository: "team/app", digest: digest)
            #expect(received == [9, 9])
            #expect(upstream.tokenRequests == 1)
        }
    }

    @Test("an empty user name or password is anonymous, as in Distribution: no credentials reach the registry or its token service",
          arguments: [("", ""), ("alice", ""), ("", "s3cret"), ("alice", nil)] as [(String?, String?)])
    func emptyCredentialsAreAnonymous(username: String?, password: String?) async throws {
        try await withUpstream(authentication: .bearer(), configure: { $0.username = username; $0.password = password }) { upstream, client in
            let digest = upstream.addBlob(repository: "library/app", bytes: [7, 7])
            let received = try await blobBytes(client, repository: "library/app", digest: digest)
            #expect(received == [7, 7])
            #expect(upstream.recordedRequests.allSatisfy { $0.authorization?.hasPrefix("Basic ") != true }, "\(upstream.recordedRequests)")
        }
        try await withUpstream(
            authentication: .basic(username: "bob", password: "pw"), configure: { $0.username = username; $0.password = password }
        ) { upstream, client in
            let error = await upstreamError { try await client.headManifest(repository: Self.repository, reference: "x", accept: manifestAccept) }
            #expect(error?.code == .unauthorized)
            #expect(error?.message.contains("anonymous access") == true, "\(error?.message ?? "")")
            #expect(upstream.recordedRequests.allSatisfy { $0.authorization == nil })
        }
    }

    @Test("basic auth: answers the challenge, then sends credentials up front")
    func basicAuthentication() async throws {
        try await withUpstream(
            authentication: .basic(username: "bob", password: "pw"), configure: { $0.username = "bob"; $0.password = "pw" }
        ) { upstream, client in
            let first = upstream.addBlob(repository: Self.repository, bytes: [1])
            let second = upstream.addBlob(repository: Self.repository, bytes: [2])
            let firstBytes = try await blobBytes(client, repository: Self.repository, digest: first)
            #expect(firstBytes == [1])
            let secondBytes = try await blobBytes(client, repository: Self.repository, digest: second)
            #expect(secondBytes == [2])
            #expect(upstream.requests(method: "GET", path: "/v2/\(Self.repository)/blobs/\(first)") == 2)
            #expect(upstream.requests(method: "GET", path: "/v2/\(Self.repository)/blobs/\(second)") == 1)
            #expect(upstream.recordedRequests.last?.authorization?.hasPrefix("Basic ") == true)
        }
    }

    @Test("credentials refused at the token endpoint are .unauthorized naming the upstream, never .notFound")
    func wrongBearerCredentials() async throws {
        try await withUpstream(
            authentication: .bearer(username: "alice", password: "right"), configure: { $0.username = "alice"; $0.password = "wrong" }
        ) { upstream, client in
            let error = await upstreamError { try await client.headManifest(repository: "nope/missing", reference: "x", accept: manifestAccept) }
            #expect(error?.code == .unauthorized)
            #expect(error?.status == 401)
            #expect(error?.message.contains(upstream.url) == true)
            #expect(error?.message.contains("refused") == true)
            #expect(error?.message.contains("wrong") == false)
        }
    }

    @Test("wrong basic credentials, or none, are .unauthorized")
    func wrongBasicCredentials() async throws {
        try await withUpstream(
            authentication: .basic(username: "bob", password: "pw"), configure: { $0.username = "bob"; $0.password = "nope" }
        ) { upstream, client in
            let error = await upstreamError { try await client.headManifest(repository: Self.repository, reference: "x", accept: manifestAccept) }
            #expect(error?.code == .unauthorized)
            #expect(error?.message.contains(upstream.url) == true)
            #expect(upstream.requests(method: "HEAD", path: "/v2/\(Self.repository)/manifests/x") == 2)
        }
        try await withUpstream(authentication: .basic(username: "bob", password: "pw")) { _, client in
            let error = await upstreamError { try await client.headManifest(repository: Self.repository, reference: "x", accept: manifestAccept) }
            #expect(error?.code == .unauthorized)
        }
    }

    @Test("404 is .notFound")
    func notFound() async throws {
        try await withUpstream(authentication: .bearer()) { _, client in
            let manifest = await upstreamError {
                try await client.getManifest(repository: Self.repository, reference: "missing", accept: manifestAccept, limit: 1000)
            }
            #expect(manifest?.code == .notFound)
            #expect(manifest?.status == 404)
            let blob = await upstreamError { try await client.getBlob(repository: Self.repository, digest: Digest.of([42])) }
            #expect(blob?.code == .notFound)
        }
    }

    @Test("lists tags across Link pages up to the limit")
    func listTags() async throws {
        try await withUpstream { upstream, client in
            for tag in ["a", "b", "c", "d", "e"] {
                upstream.addManifest(repository: Self.repository, tag: tag, bytes: Array("{\"t\":\"\(tag)\"}".utf8))
            }
            upstream.set(tagPageSize: 2)
            let all = try await client.listTags(repository: Self.repository, limit: 100)
            #expect(all == ["a", "b", "c", "d", "e"])
            #expect(upstream.recordedRequests.count == 3)
            upstream.resetCounters()
            let limited = try await client.listTags(repository: Self.repository, limit: 3)
            #expect(limited == ["a", "b", "c"])
            #expect(upstream.recordedRequests.count == 2)
        }
    }
}
