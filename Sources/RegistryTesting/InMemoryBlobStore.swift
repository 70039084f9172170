import NIOCore
import RegistryCore
import RegistryStorage
import Synchronization

/// A ``BlobStore`` in memory: the reference semantics for tests, with a fault switch.
public final class InMemoryBlobStore: BlobStore {
    private struct State {
        var blobs: [Digest: [UInt8]] = [:]
        var uploads: [String: [UInt8]] = [:]
        var failWrites = false
    }

    private let state = Mutex(State())

    public init() {}

    /// Makes every later write fail as if the disk were full (or succeed again).
    public func setOutOfSpace(_ value: Bool) {
        state.withLock { $0.failWrites = value }
    }

    /// The stored bytes of a blob, for assertions.
    public func bytes(of digest: Digest) -> [UInt8]? {
        state.withLock { $0.blobs[digest] }
    }

    public func open(_ digest: Digest) async throws -> (any BlobReader)? {
        state.withLock { $0.blobs[digest] }.map { MemoryBlobReader(bytes: $0) }
    }

    public func delete(_ digest: Digest) async throws {
        _ = state.withLock { $0.blobs.removeValue(forKey: digest) }
    }

    public func createUpload(_ id: String) async throws {
        try state.withLock { state in
            if state.failWrites { throw BlobStoreError(.insufficientStorage, "out of space (simulated)") }
            state.uploads[id] = []
        }
    }

    public func writeUpload<Body: AsyncSequence & Sendable>(
        _ id: String, at offset: Int64, from body: Body, limit: Int64, hasher: DigestHasher?
    ) async throws -> (written: Int64, hasher: DigestHasher?) where Body.Element == ByteBuffer {
        var hasher = hasher
        var received: [UInt8] = []
        for try await chunk in body {
            received.append(contentsOf: chunk.readableBytesView)
            guard received.count <= limit else { throw BlobStoreError(.sizeExceeded, "body longer than \(limit) bytes") }
            chunk.withUnsafeReadableBytes { hasher?.update($0) }
        }
        let bytes = received
        try state.withLock { state in
            if state.failWrites { throw BlobStoreError(.insufficientStorage, "out of space (simulated)") }
            guard var data = state.uploads[id] else { throw BlobStoreError(.notFound, "no upload \(id)") }
            if data.count < Int(offset) { data.append(contentsOf: repeatElement(0, count: Int(offset) - data.count)) }
            data.replaceSubrange(Int(offset)..<min(data.count, Int(offset) + bytes.count), with: bytes)
            state.uploads[id] = data
        }
        return (Int64(bytes.count), hasher)
    }

    public func readUpload(_ id: String, range: Range<Int64>, to consumer: (ByteBuffer) async throws -> Void) async throws {
        guard let data = state.withLock({ $0.uploads[id] }) else { throw BlobStoreError(.notFound, "no upload \(id)") }
        guard range.upperBound <= data.count else { throw BlobStoreError(.io, "upload \(id) is shorter than \(range.upperBound) bytes") }
        try await consumer(ByteBuffer(bytes: data[Int(range.lowerBound)..<Int(range.upperBound)]))
    }

    public func hashUpload(_ id: String, length: Int64, algorithm: DigestAlgorithm) async throws -> Digest {
        guard let data = state.withLock({ $0.uploads[id] }), data.count >= length else {
            throw BlobStoreError(.notFound, "no upload \(id)")
        }
        return Digest.of(data.prefix(Int(length)), algorithm: algorithm)
    }

    public func publishUpload(_ id: String, length: Int64, as digest: Digest) async throws {
        try state.withLock { state in
            guard let data = state.uploads.removeValue(forKey: id) else { throw BlobStoreError(.notFound, "no upload \(id)") }
            state.blobs[digest] = Array(data.prefix(Int(length)))
        }
    }

    public func deleteUpload(_ id: String) async throws {
        _ = state.withLock { $0.uploads.removeValue(forKey: id) }
    }

    public func listBlobs() async throws -> [Digest] {
        state.withLock { Array($0.blobs.keys) }
    }
}

struct MemoryBlobReader: BlobReader {
    let bytes: [UInt8]
    var size: Int64 { Int64(bytes.count) }

    func stream(_ range: Range<Int64>, to consumer: (ByteBuffer) async throws -> Void) async throws {
        var start = Int(range.lowerBound)
        let end = Int(range.upperBound)
        while start < end {
            let stop = min(start + 64 * 1024, end)
            try await consumer(ByteBuffer(bytes: bytes[start..<stop]))
            start = stop
        }
    }

    func close() async throws {}
}
