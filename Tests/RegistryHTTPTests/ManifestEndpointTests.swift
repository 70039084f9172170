import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import RegistryConfig
import RegistryCore
import RegistryTesting
import Testing

@Suite("Manifest endpoints")
struct ManifestEndpointTests {
    @Test("PUT by tag, then GET and HEAD by tag and digest return the exact bytes and media type")
    func roundTrip() async throws {
        try await withRegistry { client in
            let (manifest, digest) = try await client.pushImage("team/app", tag: "v1")
            for reference in ["v1", digest.description] {
                let get = try await client.send(.get, "/v2/team/app/manifests/\(reference)", headers: [.accept: MediaType.ociManifest])
                #expect(get.status == .ok && get.bytes == manifest)
                #expect(get.headers[.contentType] == MediaType.ociManifest)
                #expect(get.headers[.dockerContentDigest] == digest.description)
                #expect(get.headers[.eTag] == "\"\(digest)\"")
                let head = try await client.send(.head, "/v2/team/app/manifests/\(reference)")
                #expect(head.status == .ok && head.headers[.contentLength] == String(manifest.count) && head.body.readableBytes == 0)
            }
        }
    }

    @Test("a repository named like the API's own words works end to end")
    func trickyName() async throws {
        try await withRegistry { client in
            let (manifest, _) = try await client.pushImage("a/blobs/manifests", tag: "latest")
            #expect(try await client.send(.get, "/v2/a/blobs/manifests/manifests/latest").bytes == manifest)
            let tags = try await client.send(.get, "/v2/a/blobs/manifests/tags/list")
            #expect(String(buffer: tags.body) == #"{"name":"a/blobs/manifests","tags":["latest"]}"# + "\n")
        }
    }

    @Test("unknown manifests are 404; invalid tags on GET are 404; a bad digest is 400")
    func unknown() async throws {
        try await withRegistry { client in
            let missing = try await client.send(.get, "/v2/x/manifests/nope")
            #expect(missing.status == .notFound && missing.errorCode == "MANIFEST_UNKNOWN")
            #expect(try await client.send(.head, "/v2/x/manifests/.INVALID_MANIFEST_NAME").status == .notFound)
            let bad = try await client.send(.get, "/v2/x/manifests/sha256:totallywrong")
            #expect(bad.status == .badRequest && bad.errorCode == "DIGEST_INVALID")
        }
    }

    @Test("hostile manifests are refused with MANIFEST_INVALID", arguments: [
        #"{"#, #"[]"#, #"{"schemaVersion":2}"#, #"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#,
        #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"sha256:x","size":1,"mediaType":"a"},"layers":[]}"#,
        #"{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":-1},"layers":[]}"#,
        #"{"schemaVersion":"2","config":{}}"#, "\u{0}", String(repeating: "[", count: 100_000),
        #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}]}"#,
    ])
    func invalid(_ body: String) async throws {
        try await withRegistry { client in
            let response = try await client.send(.put, "/v2/x/manifests/v1", headers: [.contentType: MediaType.ociManifest], body: Array(body.utf8))
            #expect(response.status == .badRequest && response.errorCode == "MANIFEST_INVALID", "\(body.prefix(80)): \(response.status)")
        }
    }

    @Test("a manifest whose Content-Type disagrees with its mediaType is refused")
    func mismatchedType() async throws {
        try await withRegistry { client in
            let manifest = TestContent.imageManifest(config: (Digest.of([1]), 1), layers: [])
            let response = try await client.send(.put, "/v2/x/manifests/v1", headers: [.contentType: MediaType.dockerManifest], body: manifest)
            #expect(response.status == .badRequest && response.errorCode == "MANIFEST_INVALID")
        }
    }

    @Test("a manifest referencing unknown blobs is 400 MANIFEST_BLOB_UNKNOWN")
    func missingBlob() async throws {
        try await withRegistry { client in
            let manifest = TestContent.imageManifest(config: (Digest.of([1]), 1), layers: [])
            let response = try await client.send(.put, "/v2/x/manifests/v1", headers: [.contentType: MediaType.ociManifest], body: manifest)
            #expect(response.status == .badRequest && response.errorCode == "MANIFEST_BLOB_UNKNOWN")
        }
    }

    @Test("an oversized manifest is 413, a digest that does not match the body 400")
    func limits() async throws {
        try await withRegistry { client in
            let big = [UInt8](repeating: 0x20, count: 4 * 1024 * 1024 + 1)
            let response = try await client.send(.put, "/v2/x/manifests/v1", headers: [.contentType: MediaType.ociManifest], body: big)
            #expect(response.status == .contentTooLarge)
            let (manifest, _) = try await client.pushImage("x", tag: "v0")
            let wrong = try await client.send(.put, "/v2/x/manifests/\(Digest.of([9]))", headers: [.contentType: MediaType.ociManifest], body: manifest)
            #expect(wrong.status == .badRequest && wrong.errorCode == "DIGEST_INVALID")
        }
    }

    @Test("push by digest with ?tag= answers OCI-Tag; a subject answers OCI-Subject")
    func tagsAndSubject() async throws {
        try await withRegistry { client in
            let (manifest, digest) = try await client.pushImage("x", tag: "base")
            let response = try await client.send(.put, "/v2/x/manifests/\(digest)?tag=a&tag=b", headers: [.contentType: MediaType.ociManifest], body: manifest)
            #expect(response.status == .created && response.headers[.ociTag] == "a, b")
            let tags = try await client.send(.get, "/v2/x/tags/list")
            #expect(String(buffer: tags.body).contains(#"["a","b","base"]"#))
            let (_, referrer) = try await client.pushImage("x", tag: "sig", seed: 7, subject: (digest, manifest.count))
            let again = try await client.send(.get, "/v2/x/manifests/sig")
            #expect(Digest.of(again.bytes) == referrer)
        }
    }

    @Test("an index whose manifests exist is accepted; with a missing one it is refused")
    func index() async throws {
        try await withRegistry { client in
            let (first, firstDigest) = try await client.pushImage("m", tag: "amd64", seed: 1)
            let (second, secondDigest) = try await client.pushImage("m", tag: "arm64", seed: 2)
            let index = TestContent.index([(firstDigest, first.count), (secondDigest, second.count)])
            let ok = try await client.send(.put, "/v2/m/manifests/multi", headers: [.contentType: MediaType.ociIndex], body: index)
            #expect(ok.status == .created)
            let get = try await client.send(.get, "/v2/m/manifests/multi", headers: [.accept: MediaType.ociIndex])
            #expect(get.headers[.contentType] == MediaType.ociIndex && get.bytes == index)
            // A client that only accepts image manifests gets the linux/amd64 image, as Distribution does.
            let legacy = try await client.send(.get, "/v2/m/manifests/multi", headers: [.accept: MediaType.ociManifest])
            #expect(legacy.bytes == first)
            let broken = TestContent.index([(firstDigest, first.count), (Digest.of([5]), 5)])
            let refused = try await client.send(.put, "/v2/m/manifests/broken", headers: [.contentType: MediaType.ociIndex], body: broken)
            #expect(refused.status == .badRequest && refused.errorCode == "MANIFEST_BLOB_UNKNOWN")
        }
    }

    @Test("delete by tag removes the tag only; by digest removes manifest and tags; disabled is 405")
    func delete() async throws {
        try await withRegistry { client in
            let (_, digest) = try await client.pushImage("d", tag: "v1")
            _ = try await client.send(.put, "/v2/d/manifests/v2", headers: [.contentType: MediaType.ociManifest],
                                      body: try await client.send(.get, "/v2/d/manifests/v1").bytes)
            #expect(try await client.send(.delete, "/v2/d/manifests/v1").status == .accepted)
            #expect(try await client.send(.get, "/v2/d/manifests/v1").status == .notFound)
            #expect(try await client.send(.get, "/v2/d/manifests/\(digest)").status == .ok)
            #expect(try await client.send(.delete, "/v2/d/manifests/\(digest)").status == .accepted)
            #expect(try await client.send(.get, "/v2/d/manifests/v2").status == .notFound)
            #expect(try await client.send(.delete, "/v2/d/manifests/\(digest)").status == .notFound)
        }
        try await withRegistry(configure: { $0.storage.deleteEnabled = false }) { client in
            _ = try await client.pushImage("d", tag: "v1")
            let response = try await client.send(.delete, "/v2/d/manifests/v1")
            #expect(response.status == .methodNotAllowed && response.errorCode == "UNSUPPORTED")
        }
    }
}
