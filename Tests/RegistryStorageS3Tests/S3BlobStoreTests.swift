import NIOCore
import RegistryCore
import RegistryStorage
import RegistryStorageS3
import RegistryTesting
import Testing

/// ``S3BlobStore`` on a real S3 server (Ceph RGW): the shared conformance suite, and the upload shapes S3 makes hard.
@Suite("S3BlobStore on a real S3 server", .enabled(if: S3TestEnvironment.hasS3Server, "needs an S3 server: set PIER_S3_ENDPOINT (scripts/test.sh starts Ceph RGW)"))
struct S3BlobStoreTests {
    static func store(chunkSize: Int = S3BlobStore.defaultChunkSize) async throws -> S3BlobStore {
        try S3BlobStore(client: try await S3Fixture.client(), rootDirectory: "/registry/", chunkSize: chunkSize)
    }

    @Test("S3BlobStore", arguments: BlobStoreConformance.cases)
    func conformance(_ check: ConformanceCase<any BlobStore>) async throws {
        let store = try await Self.store()
        try await check.run(store)
        await S3Fixture.cleanUp(store.client)
    }

    @Test("writes of 1 MiB, 100 bytes and 11 MiB with 5 MiB chunks publish as one multipart blob, read back whole and by range")
    func unevenWrites() async throws {
        let store = try await Self.store(chunkSize: 5 << 20)
        let bytes = S3Fixture.bytes(1 << 20 + 100 + 11 << 20, seed: 21)
        let id = "00000000-0000-0000-0000-0000000000a1"
        try await store.createUpload(id)
        var hasher: DigestHasher? = DigestHasher(.sha256)
        var offset = 0
        for size in [1 << 20, 100, 11 << 20] {
            let result = try await store.writeUpload(
                id, at: Int64(offset), from: S3Fixture.stream(Array(bytes[offset..<offset + size])), limit: .max, hasher: hasher)
            #expect(result.written == Int64(size))
            hasher = result.hasher
            offset += size
        }
        let digest = Digest.of(bytes)
        #expect(hasher?.finalize() == digest)
        #expect(try await store.hashUpload(id, length: Int64(bytes.count), algorithm: .sha256) == digest)
        try await store.publishUpload(id, length: Int64(bytes.count), as: digest)
        let object = try #require(try await store.client.headObject("registry/docker/registry/v2/blobs/sha256/\(digest.encoded.prefix(2))/\(digest.encoded)/data"))
        // Parts: 1 MiB + 100 B + 5 MiB gathered and streamed, then the next 5 MiB and the last 1 MiB copied server-side.
        #expect(object.eTag.hasSuffix("-3"), "a 3-part object: \(object.eTag)")
        let reader = try #require(try await store.open(digest))
        #expect(reader.size == Int64(bytes.count))
        var read = DigestHasher(.sha256)
        try await reader.stream(0..<reader.size) { chunk in chunk.withUnsafeReadableBytes { read.update($0) } }
        #expect(read.finalize() == digest, "the assembled blob is not the bytes written")
        var middle: [UInt8] = []
        try await reader.stream(Int64(1 << 20 - 10)..<Int64(1 << 20 + 200)) { middle.append(contentsOf: $0.readableBytesView) }
        #expect(middle == Array(bytes[(1 << 20 - 10)..<(1 << 20 + 200)]))
        #expect(try await store.client.listObjects(prefix: "registry/pier/uploads/").objects.isEmpty, "the upload's scratch objects are gone")
        #expect(try await store.listBlobs() == [digest])
        await S3Fixture.cleanUp(store.client)
    }

    @Test("a write that was not acknowledged is replaced by the next write at the acknowledged offset")
    func rewriteAtOffset() async throws {
        let store = try await Self.store()
        let id = "00000000-0000-0000-0000-0000000000a2"
        try await store.createUpload(id)
        _ = try await store.writeUpload(id, at: 0, from: S3Fixture.stream(Array(repeating: 1, count: 3000)), limit: .max, hasher: nil)
        // Acknowledged: 1000 bytes. The client resumes there with other bytes.
        _ = try await store.writeUpload(id, at: 1000, from: S3Fixture.stream(Array(repeating: 2, count: 500)), limit: .max, hasher: nil)
        let expected = Array(repeating: UInt8(1), count: 1000) + Array(repeating: UInt8(2), count: 500)
        var read: [UInt8] = []
        try await store.readUpload(id, range: 0..<1500) { read.append(contentsOf: $0.readableBytesView) }
        #expect(read == expected)
        let digest = Digest.of(expected)
        try await store.publishUpload(id, length: 1500, as: digest)
        var published: [UInt8] = []
        let reader = try #require(try await store.open(digest))
        try await reader.stream(0..<reader.size) { published.append(contentsOf: $0.readableBytesView) }
        #expect(published == expected)
        await S3Fixture.cleanUp(store.client)
    }

    @Test("upload ids that could leave their prefix are unknown uploads", arguments: ["../x", "a/b", "", "a b"])
    func hostileUploadIDs(_ id: String) async throws {
        let store = try S3BlobStore(client: try S3Client(configuration: S3Fixture.configuration(), httpClient: S3Fixture.httpClient, logger: S3Fixture.logger))
        let error = await #expect(throws: BlobStoreError.self) { try await store.createUpload(id) }
        #expect(error?.code == .notFound)
    }
}
