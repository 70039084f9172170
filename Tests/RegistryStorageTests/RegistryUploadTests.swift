import Foundation
import NIOCore
import RegistryCore
import RegistryMetadataSQLite
import RegistryStorage
import RegistryStorageFileSystem
import RegistryTesting
import Testing

/// The registry's push paths over the real embedded stores.
@Suite("Registry uploads")
struct RegistryUploadTests {
    let repository = RepositoryName("team/app")!

    func makeRegistry(_ root: String, options: RegistryOptions = .init()) async throws -> Registry {
        Registry(
            blobs: try await FileSystemBlobStore(root: root),
            metadata: try SQLiteMetadataStore(path: root + "/metadata.sqlite"),
            options: options
        )
    }

    func read(_ registry: Registry, _ digest: Digest) async throws -> [UInt8] {
        let info = try await registry.blob(digest, in: repository)
        var bytes: [UInt8] = []
        try await registry.streamBlob(digest, range: 0..<info.size) { bytes.append(contentsOf: $0.readableBytesView) }
        return bytes
    }

    @Test("chunked upload in order, then finish, reads back exactly")
    func chunked() async throws {
        try await withTemporaryDirectory { root in
            let registry = try await makeRegistry(root)
            let bytes = TestContent.bytes(300_000, seed: 1)
            let session = try await registry.startUpload(in: repository)
            var offset: Int64 = 0
            for part in stride(from: 0, to: bytes.count, by: 100_000) {
                let chunk = Array(bytes[part..<min(part + 100_000, bytes.count)])
                let updated = try await registry.appendChunk(
                    session.id, in: repository, range: (offset, offset + Int64(chunk.count) - 1), length: Int64(chunk.count),
                    body: TestContent.body(chunk).async)
                offset = updated.offset
                #expect(updated.range == "0-\(offset - 1)")
            }
            let info = try await registry.finishUpload(session.id, in: repository, digest: Digest.of(bytes), range: nil, length: 0, body: [ByteBuffer]().async)
            #expect(info.size == 300_000)
            #expect(try await read(registry, Digest.of(bytes)) == bytes)
            await #expect(throws: RegistryError.self) { try await registry.uploadStatus(session.id, in: repository) }
        }
    }

    @Test("an out-of-order chunk is refused with 416 and the session survives")
    func outOfOrder() async throws {
        try await withTemporaryDirectory { root in
            let registry = try await makeRegistry(root)
            let session = try await registry.startUpload(in: repository)
            _ = try await registry.appendChunk(session.id, in: repository, range: (0, 9), length: 10, body: TestContent.body(Array(repeating: 1, count: 10)).async)
            let error = await #expect(throws: RegistryError.self) {
                try await registry.appendChunk(session.id, in: repository, range: (20, 29), length: 10, body: TestContent.body(Array(repeating: 2, count: 10)).async)
            }
            #expect(error?.status == 416)
            #expect(error?.hints.contains { if case .uploadState(_, "0-9", session.id) = $0 { true } else { false } } == true)
            #expect(try await registry.uploadStatus(session.id, in: repository).offset == 10)
        }
    }

    @Test("an upload resumes after a restart (no running hash survives) and is verified by re-reading")
    func resumeAfterRestart() async throws {
        try await withTemporaryDirectory { root in
            let bytes = TestContent.bytes(250_000, seed: 5)
            let id: String
            do {
                let registry = try await makeRegistry(root)
                id = try await registry.startUpload(in: repository).id
                _ = try await registry.appendChunk(id, in: repository, range: nil, length: nil, body: TestContent.body(Array(bytes[0..<100_000])).async)
            }
            let restarted = try await makeRegistry(root)
            let status = try await restarted.uploadStatus(id, in: repository)
            #expect(status.offset == 100_000)
            let info = try await restarted.finishUpload(
                id, in: repository, digest: Digest.of(bytes), range: (100_000, 249_999), length: 150_000,
                body: TestContent.body(Array(bytes[100_000...])).async)
            #expect(info.digest == Digest.of(bytes))
            #expect(try await read(restarted, info.digest) == bytes)
        }
    }

    @Test("a wrong digest is refused with DIGEST_INVALID and nothing becomes visible")
    func wrongDigest() async throws {
        try await withTemporaryDirectory { root in
            let registry = try await makeRegistry(root)
            let bytes = TestContent.bytes(1000, seed: 2)
            let claimed = Digest.of([1, 2, 3])
            let error = await #expect(throws: RegistryError.self) {
                try await registry.pushBlob(claimed, into: repository, length: 1000, body: TestContent.body(bytes).async)
            }
            #expect(error?.code == .digestInvalid)
            await #expect(throws: RegistryError.self) { try await registry.blob(claimed, in: repository) }
            await #expect(throws: RegistryError.self) { try await registry.blob(Digest.of(bytes), in: repository) }
        }
    }

    @Test("a body longer or shorter than declared is refused with SIZE_INVALID")
    func lengthMismatch() async throws {
        try await withTemporaryDirectory { root in
            let registry = try await makeRegistry(root)
            let bytes = TestContent.bytes(1000, seed: 3)
            for declared: Int64 in [999, 1001] {
                let error = await #expect(throws: RegistryError.self) {
                    try await registry.pushBlob(Digest.of(bytes), into: repository, length: declared, body: TestContent.body(bytes).async)
                }
                #expect(error?.code == .sizeInvalid)
            }
        }
    }

    @Test("sha512 uploads are verified with sha512")
    func sha512() async throws {
        try await withTemporaryDirectory { root in
            let registry = try await makeRegistry(root)
            let bytes = TestContent.bytes(5000, seed: 4)
            let digest = Digest.of(bytes, algorithm: .sha512)
            let session = try await registry.startUpload(in: repository, algorithm: .sha512)
            _ = try await registry.finishUpload(session.id, in: repository, digest: digest, range: nil, length: 5000, body: TestContent.body(bytes).async)
            #expect(try await read(registry, digest) == bytes)
        }
    }

    @Test("read-only mode refuses writes with 405 UNSUPPORTED")
    func readOnly() async throws {
        try await withTemporaryDirectory { root in
            let registry = try await makeRegistry(root, options: RegistryOptions(readOnly: true))
            let error = await #expect(throws: RegistryError.self) { try await registry.startUpload(in: repository) }
            #expect(error?.code == .unsupported && error?.status == 405)
        }
    }

    @Test("out of space is a clean 507 and the registry works again when space returns")
    func outOfSpace() async throws {
        try await withTemporaryDirectory { root in
            let blobs = InMemoryBlobStore()
            let registry = Registry(blobs: blobs, metadata: try SQLiteMetadataStore(path: root + "/m.sqlite"))
            let bytes = TestContent.bytes(100, seed: 6)
            blobs.setOutOfSpace(true)
            let error = await #expect(throws: RegistryError.self) { try await registry.pushTestBlob(bytes, into: repository) }
            #expect(error?.status == 507)
            blobs.setOutOfSpace(false)
            let digest = try await registry.pushTestBlob(bytes, into: repository)
            #expect(blobs.bytes(of: digest) == bytes)
        }
    }

    @Test("many concurrent pushes of the same blob and the same tag all succeed and leave one consistent state")
    func concurrentSameContent() async throws {
        try await withTemporaryDirectory { root in
            let registry = try await makeRegistry(root)
            let bytes = TestContent.bytes(700_000, seed: 8)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<12 {
                    group.addTask { _ = try await registry.pushTestBlob(bytes, into: repository) }
                }
                try await group.waitForAll()
            }
            #expect(try await read(registry, Digest.of(bytes)) == bytes)
            let config = Digest.of(bytes)
            let manifests = (0..<8).map { TestContent.imageManifest(config: (config, bytes.count), layers: [], annotations: ["n": "\($0)"]) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for manifest in manifests {
                    group.addTask {
                        _ = try await registry.putManifest(manifest, contentType: MediaType.ociManifest, in: repository, reference: .tag(Tag("latest")!))
                    }
                }
                try await group.waitForAll()
            }
            let tagged = try await registry.manifest(.tag(Tag("latest")!), in: repository, withContent: true)
            #expect(manifests.contains(tagged.content ?? []), "the tag points at bytes no push sent")
            #expect(tagged.digest == Digest.of(tagged.content ?? []))
        }
    }

    @Test("a crash between moving an upload into place and recording it: the upload still finishes after a restart")
    func crashBetweenPublishAndCommit() async throws {
        try await withTemporaryDirectory { root in
            let bytes = TestContent.bytes(10_000, seed: 13)
            let digest = Digest.of(bytes)
            let id: String
            do {
                let registry = try await makeRegistry(root)
                id = try await registry.startUpload(in: repository).id
                _ = try await registry.appendChunk(id, in: repository, range: nil, length: nil, body: TestContent.body(bytes).async)
                // What the crashed request did before dying: seal the session with the digest it computed, pin, then
                // move the bytes to their content address.
                #expect(try await registry.metadata.sealUpload(id, at: 10_000, digest: digest))
                try await registry.metadata.pinBlob(digest)
                try await registry.blobs.publishUpload(id, length: 10_000, as: digest)
            }
            let restarted = try await makeRegistry(root)
            #expect(try await restarted.uploadStatus(id, in: repository).offset == 10_000)
            let info = try await restarted.finishUpload(id, in: repository, digest: digest, range: nil, length: 0, body: [ByteBuffer]().async)
            #expect(info.size == 10_000)
            #expect(try await read(restarted, digest) == bytes)
            // A different claimed digest for the same lost bytes is refused, not recorded.
            let other = try await restarted.startUpload(in: repository).id
            _ = try await restarted.appendChunk(other, in: repository, range: nil, length: nil, body: TestContent.body([1, 2, 3]).async)
            try await restarted.blobs.deleteUpload(other)
            let again = try await makeRegistry(root)
            let error = await #expect(throws: RegistryError.self) {
                try await again.finishUpload(other, in: repository, digest: Digest.of([9]), range: nil, length: 0, body: [ByteBuffer]().async)
            }
            #expect(error?.code == .blobUploadUnknown)
        }
    }
}
