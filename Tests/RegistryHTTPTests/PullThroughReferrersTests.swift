import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import RegistryCore
import RegistryTesting
import Testing

/// The referrers API of mirrored repositories (signatures, SBOMs, attestations) against a fake upstream: passed through,
/// filtered, read from the referrers tag schema, served from the cache when the upstream fails, and prefetched.
@Suite("Pull-through cache: referrers")
struct PullThroughReferrersTests {
    static let signatureType = "application/vnd.example.signature.v1+json"
    static let sbomType = "application/spdx+json"

    /// An image with two referrers in the fake upstream: a signature and an SBOM, each with a blob of its own.
    struct SignedImage {
        var image: PullThroughTests.UpstreamImage
        var signature: Digest
        var sbom: Digest
        var signatureLayer: Digest
    }

    static func addSignedImage(_ upstream: FakeUpstream, repository: String = "team/app") -> SignedImage {
        let image = PullThroughTests.addImage(upstream, repository: repository, tag: "v1")
        var referrers: [(Digest, Digest)] = []
        for (seed, type) in [(UInt64(50), signatureType), (60, sbomType)] {
            let config = Array("{}".utf8)
            let layer = TestContent.bytes(700, seed: seed)
            let configDigest = upstream.addBlob(repository: repository, bytes: config)
            let layerDigest = upstream.addBlob(repository: repository, bytes: layer)
            let manifest = TestContent.imageManifest(
                config: (configDigest, config.count), layers: [(layerDigest, layer.count)], subject: (image.digest, image.manifest.count),
                artifactType: type, annotations: ["org.example.note": "a \"quoted\"\nvalue"], configMediaType: MediaType.ociEmpty)
            referrers.append((upstream.addManifest(repository: repository, tag: nil, bytes: manifest), layerDigest))
        }
        return SignedImage(image: image, signature: referrers[0].0, sbom: referrers[1].0, signatureLayer: referrers[0].1)
    }

    /// The referrers listed by a response, with the filter header.
    struct Listing {
        var status: Int
        var digests: Set<Digest>
        var artifactTypes: [Digest: String]
        var annotations: [Digest: [String: String]]
        var filtersApplied: String?
        var contentType: String?
    }

    static func list(_ client: any TestClientProtocol, _ path: String) async throws -> Listing {
        struct Index: Decodable {
            var schemaVersion: Int
            var mediaType: String
            var manifests: [Descriptor]
        }
        let response = try await client.send(.get, path)
        guard response.status == .ok else {
            return Listing(status: Int(response.status.code), digests: [], artifactTypes: [:], annotations: [:], filtersApplied: nil, contentType: nil)
        }
        let index = try JSONDecoder().decode(Index.self, from: Data(response.body.readableBytesView))
        #expect(index.schemaVersion == 2 && index.mediaType == MediaType.ociIndex)
        return Listing(
            status: 200, digests: Set(index.manifests.map(\.digest)),
            artifactTypes: Dictionary(index.manifests.map { ($0.digest, $0.artifactType ?? "") }, uniquingKeysWith: { a, _ in a }),
            annotations: Dictionary(index.manifests.map { ($0.digest, $0.annotations ?? [:]) }, uniquingKeysWith: { a, _ in a }),
            filtersApplied: response.headers[.ociFiltersApplied], contentType: response.headers[.contentType])
    }

    @Test("referrers of a mirrored image are the upstream's, by every route, with and without an artifactType filter")
    func listed() async throws {
        try await PullThroughTests().withMirror { upstream, client in
            let signed = Self.addSignedImage(upstream)
            upstream.set(referrersPageSize: 1)
            let subject = signed.image.digest
            let paths = [
                "/v2/upstream.test/team/app/referrers/\(subject)", "/v2/team/app/referrers/\(subject)?ns=upstream.test",
                "/v2/team/app/referrers/\(subject)",
            ]
            for path in paths {
                let all = try await Self.list(client, path)
                #expect(all.status == 200 && all.digests == [signed.signature, signed.sbom], "\(path)")
                #expect(all.artifactTypes[signed.signature] == Self.signatureType && all.artifactTypes[signed.sbom] == Self.sbomType)
                #expect(all.annotations[signed.sbom] == ["org.example.note": "a \"quoted\"\nvalue"])
                #expect(all.filtersApplied == nil && all.contentType == MediaType.ociIndex)
                let separator = path.contains("?") ? "&" : "?"
                let sboms = try await Self.list(client, path + separator + "artifactType=application%2Fspdx%2Bjson")
                #expect(sboms.status == 200 && sboms.digests == [signed.sbom], "\(path)")
                #expect(sboms.filtersApplied == "artifactType")
                let none = try await Self.list(client, path + separator + "artifactType=application/vnd.example.none")
                #expect(none.status == 200 && none.digests.isEmpty && none.filtersApplied == "artifactType")
            }
            #expect(upstream.recordedRequests.contains { $0.path == "/v2/team/app/referrers/\(subject)" })
            // The signature itself, and its blob, pull through the mirror like any manifest.
            let signature = try await client.send(.get, "/v2/upstream.test/team/app/manifests/\(signed.signature)", headers: [.accept: MediaType.ociManifest])
            #expect(signature.status == .ok && Digest.of(signature.bytes) == signed.signature)
            #expect(try await client.send(.get, "/v2/upstream.test/team/app/blobs/\(signed.signatureLayer)").status == .ok)
            // Another repository's subject has no referrers here.
            let elsewhere = try await Self.list(client, "/v2/upstream.test/team/other/referrers/\(subject)")
            #expect(elsewhere.status == 200 && elsewhere.digests.isEmpty)
        }
    }

    @Test("an upstream without the referrers API: the list comes from the referrers tag schema")
    func tagSchema() async throws {
        try await PullThroughTests().withMirror { upstream, client in
            let signed = Self.addSignedImage(upstream)
            upstream.set(referrersAPI: false)
            let tag = upstream.addReferrersTagIndex(repository: "team/app", subject: signed.image.digest)
            #expect(tag == "sha256-" + signed.image.digest.encoded)
            let path = "/v2/upstream.test/team/app/referrers/\(signed.image.digest)"
            let all = try await Self.list(client, path)
            #expect(all.status == 200 && all.digests == [signed.signature, signed.sbom])
            #expect(all.filtersApplied == nil)
            #expect(upstream.requests(method: "GET", path: "/v2/team/app/referrers/\(signed.image.digest)") == 1)
            #expect(upstream.requests(method: "GET", path: "/v2/team/app/manifests/\(tag)") == 1)
            // The upstream cannot filter the tag schema's index: Pier does, and says so.
            let signatures = try await Self.list(client, path + "?artifactType=" + Self.signatureType)
            #expect(signatures.digests == [signed.signature] && signatures.filtersApplied == "artifactType")
            // No tag for a subject: no referrers.
            let other = PullThroughTests.addImage(upstream, repository: "team/app", tag: "v2", seed: 3)
            let none = try await Self.list(client, "/v2/upstream.test/team/app/referrers/\(other.digest)")
            #expect(none.status == 200 && none.digests.isEmpty)
        }
    }

    @Test("referrers are revalidated at most once per interval, and served from the cache while the upstream fails")
    func revalidatedAndStale() async throws {
        try await PullThroughTests().withMirror { upstream, client in
            let signed = Self.addSignedImage(upstream)
            let manifest = try await client.send(.get, "/v2/upstream.test/team/app/manifests/v1", headers: [.accept: MediaType.ociManifest])
            #expect(manifest.status == .ok, "the subject is cached")
            let path = "/v2/upstream.test/team/app/referrers/\(signed.image.digest)"
            let upstreamPath = "/v2/team/app/referrers/\(signed.image.digest)"
            for _ in 0..<3 {
                #expect(try await Self.list(client, path).digests == [signed.signature, signed.sbom])
            }
            #expect(try await Self.list(client, path + "?artifactType=" + Self.signatureType).digests == [signed.signature])
            #expect(upstream.requests(method: "GET", path: upstreamPath) == 1, "asked once per revalidation interval")
        }
        try await PullThroughTests().withMirror(revalidate: 0) { upstream, client in
            let signed = Self.addSignedImage(upstream)
            let unsigned = PullThroughTests.addImage(upstream, repository: "team/app", tag: "v2", seed: 5)
            _ = try await client.send(.get, "/v2/upstream.test/team/app/manifests/v1", headers: [.accept: MediaType.ociManifest])
            let path = "/v2/upstream.test/team/app/referrers/\(signed.image.digest)"
            #expect(try await Self.list(client, path).digests == [signed.signature, signed.sbom])
            #expect(try await Self.list(client, path).digests == [signed.signature, signed.sbom])
            #expect(upstream.requests(method: "GET", path: "/v2/team/app/referrers/\(signed.image.digest)") == 2, "revalidate: 0 asks every time")
            // The upstream's latest answer is what is kept: the SBOM is gone from it.
            let onlySignature = #"{"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(signed.signature)","size":5,"artifactType":"\#(Self.signatureType)"}]}"#
            upstream.setReferrersBody(Array(onlySignature.utf8), repository: "team/app", subject: signed.image.digest)
            #expect(try await Self.list(client, path).digests == [signed.signature])
            upstream.failAlways(with: .status(503, retryAfter: 0))
            let stale = try await Self.list(client, path)
            #expect(stale.status == 200 && stale.digests == [signed.signature], "the cached list while the upstream fails")
            let staleFiltered = try await Self.list(client, path + "?artifactType=" + Self.sbomType)
            #expect(staleFiltered.status == 200 && staleFiltered.digests.isEmpty && staleFiltered.filtersApplied == "artifactType")
            let uncached = try await client.send(.get, "/v2/upstream.test/team/app/referrers/\(unsigned.digest)")
            #expect(uncached.status.code == 503, "a list never answered cannot be served stale: \(uncached.status)")
        }
    }

    @Test("a hostile referrers list: invalid entries are dropped, the rest re-encoded; a malformed one is not cached")
    func hostileList() async throws {
        try await PullThroughTests().withMirror(revalidate: 0) { upstream, client in
            let signed = Self.addSignedImage(upstream)
            _ = try await client.send(.get, "/v2/upstream.test/team/app/manifests/v1", headers: [.accept: MediaType.ociManifest])
            let good = signed.signature.description
            let entries = [
                #"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(good)","size":10,"artifactType":"\#(Self.signatureType)","annotations":{"k":"v\u0001\"]}"},"unknown":[1]}"#,
                #"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(good)","size":10}"#,
                #"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:\#(String(repeating: "A", count: 64))","size":1}"#,
                #"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:abc","size":1}"#,
                #"{"mediaType":"application/json\", \"x","digest":"\#(signed.sbom)","size":1}"#,
                #"{"mediaType":"application/vnd.oci.image.manifest.v1+json; charset=x","digest":"\#(signed.sbom)","size":1}"#,
                #"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(signed.sbom)","size":-1}"#,
                #"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(signed.sbom)","size":1,"artifactType":"not a type"}"#,
                #"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(signed.sbom)","size":1,"annotations":{"a":1}}"#,
                #"{"digest":"\#(signed.sbom)","size":1}"#,
                #""a string""#, "42", "null",
            ]
            let body = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":["# + entries.joined(separator: ",") + "]}"
            upstream.setReferrersBody(Array(body.utf8), repository: "team/app", subject: signed.image.digest)
            let path = "/v2/upstream.test/team/app/referrers/\(signed.image.digest)"
            let response = try await client.send(.get, path)
            #expect(response.status == .ok)
            let listing = try await Self.list(client, path)
            #expect(listing.digests == [signed.signature], "only the valid entry, once")
            #expect(listing.annotations[signed.signature] == ["k": "v\u{1}\"]}"], "annotation values are kept, and escaped")
            #expect(!String(buffer: response.body).contains("unknown"), "fields outside a descriptor are not repeated")
            // Not an index at all: an upstream error where nothing was cached ...
            for (index, malformed) in ["not json", #"{"manifests":"x"}"#, #"["a"]"#, "", #"{"manifests":null}"#].enumerated() {
                let subject = Digest.of([UInt8(index)])
                upstream.setReferrersBody(Array(malformed.utf8), repository: "team/app", subject: subject)
                let failed = try await client.send(.get, "/v2/upstream.test/team/app/referrers/\(subject)")
                #expect(failed.status.code == 502, "\(malformed): \(failed.status)")
            }
            // ... and the list cached before where there is one.
            upstream.setReferrersBody(Array("not json".utf8), repository: "team/app", subject: signed.image.digest)
            let stale = try await Self.list(client, path)
            #expect(stale.status == 200 && stale.digests == [signed.signature])
        }
    }

    @Test("prefetch with referrers brings an image's signature and SBOM along, and they are served while the upstream is down")
    func prefetchReferrers() async throws {
        try await PullThroughTests().withMirror { upstream, client in
            let signed = Self.addSignedImage(upstream)
            let token: HTTPFields = [.authorization: "Bearer \(PullThroughTests.adminToken)"]
            let body = Array(#"{"images":["upstream.test/team/app:v1"],"referrers":true}"#.utf8)
            let done = try await client.send(.post, "/admin/prefetch", headers: token, body: body)
            #expect(done.status == .ok, "\(String(buffer: done.body))")
            #expect(String(buffer: done.body).contains(#""referrers":2"#), "\(String(buffer: done.body))")
            #expect(upstream.requests(method: "GET", path: "/v2/team/app/blobs/\(signed.signatureLayer)") == 1)
            upstream.failAlways(with: .status(503, retryAfter: 0))
            let listing = try await Self.list(client, "/v2/upstream.test/team/app/referrers/\(signed.image.digest)")
            #expect(listing.digests == [signed.signature, signed.sbom])
            for digest in [signed.signature, signed.sbom] {
                let manifest = try await client.send(.get, "/v2/upstream.test/team/app/manifests/\(digest)", headers: [.accept: MediaType.ociManifest])
                #expect(manifest.status == .ok)
            }
            #expect(try await client.send(.get, "/v2/upstream.test/team/app/blobs/\(signed.signatureLayer)").status == .ok)
        }
    }
}
