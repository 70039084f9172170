import Foundation
import NIOCore
import RegistryCore
import RegistryMetadataSQLite
import RegistryStorage
import RegistryStorageFileSystem
import RegistryTesting
import Synchronization
import Testing

/// Finishing an upload publishes only what the registry proved: the digest it computed from the session's bytes,
/// never the one a client claims, whatever runs concurrently or crashed before.
@Suite("Upload completion")
struct UploadCompletionTests {
    let repository = RepositoryName("team/app")!
    /// A repository whose blob the pushers of `team/app` may not pull.
    let secret = RepositoryName("other/secret")!

    /// Two replicas: registries over the same blob directory and database, sharing nothing in memory.
    func replicas(_ root: String, blobs: (any BlobStore)? = nil) async throws -> (Registry, Registry) {
        let store = try await FileSystemBlobStore(root: root)
        let first = Registry(blobs: blobs ?? store, metadata: try SQLiteMetadataStore(path: root + "/metadata.sqlite"))
        let second = Registry(blobs: store, metadata: try SQLiteMetadataStore(path: root + "/metadata.sqlite"))
        return (first, second)
    }

    /// A blob of `size` bytes stored in `secret` only, and an upload session in `repository` holding other bytes of
    /// the same size.
    func setUp(_ registry: Registry, size: Int) async throws -> (foreign: Digest, own: Digest, session: String) {
        let foreign = try await registry.pushTestBlob(TestContent.bytes(size, seed: 91), into: secret)
        let bytes = TestContent.bytes(size, seed: 92)
        let session = try await registry.startUpload(in: repository).id
        _ = try await registry.appendChunk(session, in: repository, range: nil, length: nil, body: TestContent.body(bytes).async)
        return (foreign, Digest.of(bytes), session)
    }

    func finish(_ registry: Registry, _ session: String, as digest: Digest) async throws -> BlobInfo {
        try await registry.finishUpload(session, in: repository, digest: digest, range: nil, length: 0, body: [ByteBuffer]().async)
    }

    @Test("a PUT naming another repository's blob while the real PUT is publishing links nothing foreign")
    func concurrentPutsWithDifferentDigests() async throws {
        try await withTemporaryDirectory { root in
            let gate = PublishGate(base: try await FileSystemBlobStore(root: root))
            let (first, second) = try await replicas(root, blobs: gate)
            let (foreign, own, session) = try await setUp(second, size: 40_000)
            // The honest PUT stops right after its bytes reached their content address, before its commit.
            let honest = Task { try await finish(first, session, as: own) }
            await gate.waitUntilPublished()
            let error = await #expect(throws: RegistryError.self) { try await finish(second, session, as: foreign) }
            #expect(error?.status == 416 || error?.code == .blobUploadUnknown, "got \(String(describing: error))")
            gate.release()
            #expect(try await honest.value.digest == own)
            await #expect(throws: RegistryError.self) { try await second.blob(foreign, in: repository) }
            #expect(try await second.blob(own, in: repository).size == 40_000)
        }
    }

    @Test("racing PUTs with the real and a foreign digest, on two replicas: never a foreign blob", arguments: 0..<12)
    func racingPuts(round: Int) async throws {
        try await withTemporaryDirectory { root in
            let (first, second) = try await replicas(root)
            let (foreign, own, session) = try await setUp(first, size: 30_000 + round)
            async let honest = outcome { try await finish(round.isMultiple(of: 2) ? first : second, session, as: own) }
            async let forged = outcome { try await finish(round.isMultiple(of: 2) ? second : first, session, as: foreign) }
            let (honestResult, forgedResult) = await (honest, forged)
            if case .success = forgedResult { Issue.record("a PUT with a foreign digest succeeded") }
            await #expect(throws: RegistryError.self) { try await first.blob(foreign, in: repository) }
            if case .success(let info) = honestResult { #expect(info.digest == own) }
        }
    }

    @Test("after a crash between moving the bytes and committing, a retry naming another blob of that size links nothing")
    func crashThenForeignDigest() async throws {
        try await withTemporaryDirectory { root in
            let (registry, _) = try await replicas(root)
            let (foreign, own, session) = try await setUp(registry, size: 20_000)
            // What the crashed PUT did before dying: seal the session with the digest it computed, pin, move the bytes.
            #expect(try await registry.metadata.sealUpload(session, at: 20_000, digest: own))
            try await registry.metadata.pinBlob(own)
            try await registry.blobs.publishUpload(session, length: 20_000, as: own)
            let (restarted, _) = try await replicas(root)
            let error = await #expect(throws: RegistryError.self) { try await finish(restarted, session, as: foreign) }
            #expect(error?.code == .digestInvalid)
            await #expect(throws: RegistryError.self) { try await restarted.blob(foreign, in: repository) }
        }
    }

    @Test("bytes gone from a session that was never sealed (an older crash): the claimed digest is not believed")
    func lostBytesWithoutSeal() async throws {
        try await withTemporaryDirectory { root in
            let (registry, _) = try await replicas(root)
            let (foreign, own, session) = try await setUp(registry, size: 20_000)
            try await registry.blobs.publishUpload(session, length: 20_000, as: own)
            let (restarted, _) = try await replicas(root)
            for claimed in [foreign, own] {
                await #expect(throws: RegistryError.self) { try await finish(restarted, session, as: claimed) }
            }
            await #expect(throws: RegistryError.self) { try await restarted.blob(foreign, in: repository) }
        }
    }

    @Test("a session named under another repository is unknown there, and trying does not hold up its writer")
    func otherRepository() async throws {
        try await withTemporaryDirectory { root in
            let (registry, _) = try await replicas(root)
            let session = try await registry.startUpload(in: repository).id
            let error = await #expect(throws: RegistryError.self) {
                try await registry.appendChunk(session, in: secret, range: nil, length: 3, body: TestContent.body([1, 2, 3]).async)
            }
            #expect(error?.code == .blobUploadUnknown)
            let bytes = TestContent.bytes(100, seed: 94)
            _ = try await registry.appendChunk(session, in: repository, range: nil, length: 100, body: TestContent.body(bytes).async)
            #expect(try await finish(registry, session, as: Digest.of(bytes)).size == 100)
        }
    }

    @Test("a PATCH while another replica writes the same upload is refused with 416, and the bytes stay exact")
    func oneWriterAcrossReplicas() async throws {
        try await withTemporaryDirectory { root in
            let (first, second) = try await replicas(root)
            let session = try await first.startUpload(in: repository).id
            let bytes = TestContent.bytes(64 * 1024, seed: 93)
            let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream()
            let arriving = Mutex(false)
            let body = stream.map { buffer in
                arriving.withLock { $0 = true }
                return buffer
            }
            let slow = Task {
                try await first.appendChunk(session, in: repository, range: nil, length: Int64(bytes.count), body: body)
            }
            continuation.yield(ByteBuffer(bytes: bytes[..<1000]))
            // The first request holds the claim once its bytes are being written.
            while !arriving.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
            let error = await #expect(throws: RegistryError.self) {
                try await second.appendChunk(session, in: repository, range: nil, length: 10, body: TestContent.body([UInt8](repeating: 7, count: 10)).async)
            }
            #expect(error?.status == 416)
            continuation.yield(ByteBuffer(bytes: bytes[1000...]))
            continuation.finish()
            #expect(try await slow.value.offset == Int64(bytes.count))
            let info = try await finish(second, session, as: Digest.of(bytes))
            var stored: [UInt8] = []
            try await second.streamBlob(info.digest, range: 0..<info.size) { stored.append(contentsOf: $0.readableBytesView) }
            #expect(stored == bytes)
        }
    }
}

/// The result of `body`, success or failure.
func outcome<T: Sendable>(_ body: () async throws -> T) async -> Result<T, any Error> {
    do {
        return .success(try await body())
    } catch {
        return .failure(error)
    }
}

/// A blob store that holds the first publish of an upload, after its bytes moved, until released.
final class PublishGate: BlobStore {
    private let base: any BlobStore
    private let state = Mutex<(published: Bool, waiters: [CheckedContinuation<Void, Never>], held: CheckedContinuation<Void, Never>?, released: Bool)>(
        (false, [], nil, false))

    init(base: any BlobStore) {
        self.base = base
    }

    func waitUntilPublished() async {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state in
                if state.published { return true }
                state.waiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    func release() {
        let held = state.withLock { state in
            state.released = true
            defer { state.held = nil }
            return state.held
        }
        held?.resume()
    }

    func publishUpload(_ id: String, length: Int64, as digest: Digest) async throws {
        try await base.publishUpload(id, length: length, as: digest)
        await withCheckedContinuation { continuation in
            let (waiters, proceed) = state.withLock { state in
                state.published = true
                defer { state.waiters = [] }
                if state.released { return (state.waiters, true) }
                state.held = continuation
                return (state.waiters, false)
            }
            waiters.forEach { $0.resume() }
            if proceed { continuation.resume() }
        }
    }

    func open(_ digest: Digest) async throws -> (any BlobReader)? { try await base.open(digest) }
    func delete(_ digest: Digest) async throws { try await base.delete(digest) }
    func createUpload(_ id: String) async throws { try await base.createUpload(id) }
    func writeUpload<Body: AsyncSequence & Sendable>(
        _ id: String, at offset: Int64, from body: Body, limit: Int64, hasher: DigestHasher?
    ) async throws -> (written: Int64, hasher: DigestHasher?) where Body.Element == ByteBuffer {
        try await base.writeUpload(id, at: offset, from: body, limit: limit, hasher: hasher)
    }
    func hashUpload(_ id: String, length: Int64, algorithm: DigestAlgorithm) async throws -> Digest {
        try await base.hashUpload(id, length: length, algorithm: algorithm)
    }
    func deleteUpload(_ id: String) async throws { try await base.deleteUpload(id) }
    func listBlobs() async throws -> [Digest] { try await base.listBlobs() }
}
