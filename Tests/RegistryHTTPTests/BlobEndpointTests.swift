import HTTPTypes
import HummingbirdTesting
import NIOCore
import RegistryConfig
import RegistryCore
import RegistryTesting
import Testing

@Suite("Blob endpoints")
struct BlobEndpointTests {
    @Test("GET /v2/ answers 200 with the API version header")
    func base() async throws {
        try await withRegistry { client in
            let response = try await client.send(.get, "/v2/")
            #expect(response.status == .ok)
            #expect(response.headers[.dockerAPIVersion] == "registry/2.0")
            let health = try await client.send(.get, "/healthz")
            #expect(health.status == .ok)
        }
    }

    @Test("unknown endpoints are 404 and wrong methods 405, both with the JSON envelope")
    func unknown() async throws {
        try await withRegistry { client in
            let missing = try await client.send(.get, "/v2/a/unknown/x")
            #expect(missing.status == .notFound && missing.errorCode == "UNSUPPORTED")
            let wrong = try await client.send(.post, "/v2/a/tags/list")
            #expect(wrong.status == .methodNotAllowed && wrong.errorCode == "UNSUPPORTED")
        }
    }

    @Test("POST then PUT stores a blob; GET and HEAD return it with digest and length")
    func monolithic() async throws {
        try await withRegistry { client in
            let bytes = TestContent.bytes(70_000, seed: 1)
            let start = try await client.send(.post, "/v2/team/app/blobs/uploads/")
            #expect(start.status == .accepted)
            #expect(start.headers[.range] == "0-0")
            #expect(start.headers[.dockerUploadUUID] != nil)
            let location = try #require(start.headers[.location])
            #expect(location.hasPrefix("/v2/team/app/blobs/uploads/"))
            let digest = Digest.of(bytes)
            let put = try await client.send(.put, location + "?digest=\(digest)", body: bytes)
            #expect(put.status == .created)
            #expect(put.headers[.location] == "/v2/team/app/blobs/\(digest)")
            #expect(put.headers[.dockerContentDigest] == digest.description)
            let get = try await client.send(.get, "/v2/team/app/blobs/\(digest)")
            #expect(get.status == .ok && get.bytes == bytes)
            #expect(get.headers[.dockerContentDigest] == digest.description)
            let head = try await client.send(.head, "/v2/team/app/blobs/\(digest)")
            #expect(head.status == .ok && head.headers[.contentLength] == "70000" && head.body.readableBytes == 0)
            let elsewhere = try await client.send(.head, "/v2/team/other/blobs/\(digest)")
            #expect(elsewhere.status == .notFound)
        }
    }

    @Test("Range requests answer 206 with Content-Range, and 416 when out of range")
    func ranges() async throws {
        try await withRegistry { client in
            let bytes = TestContent.bytes(1000, seed: 2)
            let digest = try await client.pushBlob("r", bytes)
            let partial = try await client.send(.get, "/v2/r/blobs/\(digest)", headers: [.range: "bytes=10-19"])
            #expect(partial.status == .partialContent)
            #expect(partial.headers[.contentRange] == "bytes 10-19/1000")
            #expect(partial.bytes == Array(bytes[10..<20]))
            let suffix = try await client.send(.get, "/v2/r/blobs/\(digest)", headers: [.range: "bytes=-5"])
            #expect(suffix.bytes == Array(bytes[995...]))
            let outside = try await client.send(.get, "/v2/r/blobs/\(digest)", headers: [.range: "bytes=5000-"])
            #expect(outside.status == .rangeNotSatisfiable && outside.headers[.contentRange] == "bytes */1000")
        }
    }

    @Test("a single POST with ?digest= and a body stores the blob (201)")
    func singlePost() async throws {
        try await withRegistry { client in
            let bytes = TestContent.bytes(500, seed: 3)
            let digest = Digest.of(bytes)
            let response = try await client.send(.post, "/v2/s/blobs/uploads/?digest=\(digest)", body: bytes)
            #expect(response.status == .created)
            #expect(try await client.send(.get, "/v2/s/blobs/\(digest)").bytes == bytes)
        }
    }

    @Test("chunked PATCHes with Content-Range, status, out-of-order 416, finish")
    func chunked() async throws {
        try await withRegistry { client in
            let bytes = TestContent.bytes(30, seed: 4)
            let start = try await client.send(.post, "/v2/c/blobs/uploads/", headers: [.contentLength: "0"])
            let location = try #require(start.headers[.location])
            let first = try await client.send(.patch, location, headers: [.contentRange: "0-9"], body: Array(bytes[0..<10]))
            #expect(first.status == .accepted && first.headers[.range] == "0-9")
            let again = try await client.send(.patch, location, headers: [.contentRange: "0-9"], body: Array(bytes[0..<10]))
            #expect(again.status == .rangeNotSatisfiable)
            #expect(again.headers[.range] == "0-9")
            for hostile in ["10-9223372036854775807", "0-9223372036854775807", "9223372036854775807-0"] {
                let response = try await client.send(.patch, location, headers: [.contentRange: hostile], body: [1])
                #expect(response.status == .rangeNotSatisfiable, "\(hostile)")
            }
            let status = try await client.send(.get, location)
            #expect(status.status == .noContent && status.headers[.range] == "0-9" && status.headers[.location] == location)
            let streamed = try await client.send(.patch, location, body: Array(bytes[10..<20]))
            #expect(streamed.status == .accepted && streamed.headers[.range] == "0-19")
            let finish = try await client.send(.put, location + "?digest=\(Digest.of(bytes))", headers: [.contentRange: "20-29"], body: Array(bytes[20...]))
            #expect(finish.status == .created)
            #expect(try await client.send(.get, "/v2/c/blobs/\(Digest.of(bytes))").bytes == bytes)
        }
    }

    @Test("cancelling an upload forgets it")
    func cancel() async throws {
        try await withRegistry { client in
            let location = try #require(try await client.send(.post, "/v2/c/blobs/uploads/").headers[.location])
            #expect(try await client.send(.delete, location).status == .noContent)
            let gone = try await client.send(.get, location)
            #expect(gone.status == .notFound && gone.errorCode == "BLOB_UPLOAD_UNKNOWN")
            let bogus = try await client.send(.patch, "/v2/c/blobs/uploads/../../etc", body: [1])
            #expect(bogus.status == .notFound || bogus.status == .badRequest)
            let traversal = try await client.send(.patch, "/v2/c/blobs/uploads/..%2F..%2Fmetadata.sqlite", body: [1])
            #expect(traversal.status == .notFound)
            let encodedSlash = try await client.send(.get, "/v2/a/blobs/..%2F..")
            #expect(encodedSlash.status == .notFound)
        }
    }

    @Test("mount from another repository (201), and a session when the blob is unknown (202)")
    func mount() async throws {
        try await withRegistry { client in
            let digest = try await client.pushBlob("src/repo", TestContent.bytes(100, seed: 5))
            let mounted = try await client.send(.post, "/v2/dst/repo/blobs/uploads/?mount=\(digest)&from=src/repo")
            #expect(mounted.status == .created && mounted.headers[.location] == "/v2/dst/repo/blobs/\(digest)")
            let automatic = try await client.send(.post, "/v2/third/blobs/uploads/?mount=\(digest)")
            #expect(automatic.status == .created)
            let unknown = try await client.send(.post, "/v2/dst/repo/blobs/uploads/?mount=\(Digest.of([1]))&from=src/repo")
            #expect(unknown.status == .accepted && unknown.headers[.location]?.hasPrefix("/v2/dst/repo/blobs/uploads/") == true)
        }
    }

    @Test("a wrong digest on PUT is 400 DIGEST_INVALID and nothing is stored")
    func wrongDigest() async throws {
        try await withRegistry { client in
            let location = try #require(try await client.send(.post, "/v2/w/blobs/uploads/").headers[.location])
            let claimed = Digest.of([1, 2, 3])
            let response = try await client.send(.put, location + "?digest=\(claimed)", body: [4, 5, 6])
            #expect(response.status == .badRequest && response.errorCode == "DIGEST_INVALID")
            #expect(try await client.send(.head, "/v2/w/blobs/\(claimed)").status == .notFound)
            let missing = try await client.send(.put, (try await client.send(.post, "/v2/w/blobs/uploads/")).headers[.location]!, body: [1])
            #expect(missing.status == .badRequest && missing.errorCode == "DIGEST_INVALID")
        }
    }

    @Test("hostile names and digests get 400 with the right code", arguments: [
        ("/v2/Upper/blobs/sha256:" + String(repeating: "a", count: 64), "NAME_INVALID"),
        ("/v2/a..b/blobs/sha256:" + String(repeating: "a", count: 64), "NAME_INVALID"),
        ("/v2/" + String(repeating: "a", count: 256) + "/blobs/sha256:" + String(repeating: "a", count: 64), "NAME_INVALID"),
        ("/v2/a/blobs/sha256:" + String(repeating: "A", count: 64), "DIGEST_INVALID"),
        ("/v2/a/blobs/sha256:" + String(repeating: "a", count: 63), "DIGEST_INVALID"),
        ("/v2/a/blobs/md5:" + String(repeating: "a", count: 32), "DIGEST_INVALID"),
        ("/v2/a/blobs/sha256", "DIGEST_INVALID"),
        ("/v2/a/blobs/..%2e", "DIGEST_INVALID"),
    ])
    func hostile(_ path: String, _ code: String) async throws {
        try await withRegistry { client in
            let response = try await client.send(.get, path)
            #expect(response.status == .badRequest, "\(path)")
            #expect(response.errorCode == code)
        }
    }

    @Test("blob delete unlinks it from the repository (202, then 404); disabled deletion is 405")
    func delete() async throws {
        try await withRegistry { client in
            let digest = try await client.pushBlob("d", [1, 2, 3])
            #expect(try await client.send(.delete, "/v2/d/blobs/\(digest)").status == .accepted)
            #expect(try await client.send(.get, "/v2/d/blobs/\(digest)").status == .notFound)
            #expect(try await client.send(.delete, "/v2/d/blobs/\(digest)").status == .notFound)
        }
        try await withRegistry(configure: { $0.storage.deleteEnabled = false }) { client in
            let digest = try await client.pushBlob("d", [1, 2, 3])
            let response = try await client.send(.delete, "/v2/d/blobs/\(digest)")
            #expect(response.status == .methodNotAllowed && response.errorCode == "UNSUPPORTED")
        }
    }
}
