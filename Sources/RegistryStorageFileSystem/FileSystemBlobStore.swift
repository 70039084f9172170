import CPierSystem
import NIOCore
import RegistryCore
import RegistryStorage
import SystemPackage
import _NIOFileSystem

/// Blobs as files under a root directory: `blobs/<algorithm>/<first two hex>/<hex>`, uploads in `uploads/<id>`.
///
/// An upload is written in place at its offset; publishing truncates it to the acknowledged length, fsyncs it,
/// renames it into its content address (atomic, on the same file system) and fsyncs the directory. A reader
/// therefore sees a blob complete or not at all, whatever instant the process dies.
public struct FileSystemBlobStore: BlobStore {
    /// The root directory.
    public let root: FilePath
    private let fileSystem: FileSystem
    /// Writes are gathered into buffers of this size before they go to the file.
    private let writeBufferSize = 512 * 1024
    /// Reads are streamed in chunks of this size.
    private let readChunkSize = 256 * 1024

    /// Opens (creating if needed) a blob store rooted at `root`.
    public init(root: String, fileSystem: FileSystem = .shared) async throws {
        self.root = FilePath(root)
        self.fileSystem = fileSystem
        for directory in ["blobs", "uploads"] {
            try await fileSystem.createDirectory(at: self.root.appending(directory), withIntermediateDirectories: true)
        }
    }

    func blobPath(_ digest: Digest) -> FilePath {
        // Digests are validated lower-case hex, so these components can never name anything else.
        root.appending("blobs/\(digest.algorithm.rawValue)/\(digest.encoded.prefix(2))/\(digest.encoded)")
    }

    func uploadPath(_ id: String) -> FilePath {
        // Ids are UUIDs this server generated; anything else a client sends must not name a path outside `uploads`.
        let safe = !id.isEmpty && id.utf8.count <= 64 && id.utf8.allSatisfy { $0.isLowerHexDigit || $0 == UInt8(ascii: "-") }
        return root.appending("uploads/\(safe ? id : "invalid")")
    }

    public func open(_ digest: Digest) async throws -> (any BlobReader)? {
        do {
            let handle = try await fileSystem.openFile(forReadingAt: blobPath(digest))
            do {
                let size = try await handle.info().size
                return FileBlobReader(handle: handle, size: size, chunkSize: readChunkSize)
            } catch {
                try? await handle.close()
                throw error
            }
        } catch let error as FileSystemError where error.code == .notFound {
            return nil
        }
    }

    public func localPath(of digest: Digest) -> String? {
        blobPath(digest).string
    }

    public func delete(_ digest: Digest) async throws {
        try await mapErrors { _ = try await fileSystem.removeItem(at: blobPath(digest), strategy: .platformDefault) }
    }

    public func createUpload(_ id: String) async throws {
        try await mapErrors {
            try await fileSystem.withFileHandle(forWritingAt: uploadPath(id), options: .newFile(replaceExisting: true, permissions: nil)) { _ in }
        }
    }

    public func writeUpload<Body: AsyncSequence & Sendable>(
        _ id: String, at offset: Int64, from body: Body, limit: Int64, hasher: DigestHasher?
    ) async throws -> (written: Int64, hasher: DigestHasher?) where Body.Element == ByteBuffer {
        let capacity = writeBufferSize
        return try await mapErrors {
            try await fileSystem.withFileHandle(forWritingAt: uploadPath(id), options: .modifyFile(createIfNecessary: false)) { handle in
                var written: Int64 = 0
                // Hashing and writing run on other threads while this one receives the next chunks.
                var writer = PipelinedWriter(handle: handle, position: offset, bufferSize: capacity, hasher: hasher)
                let hasher: DigestHasher?
                do {
                    for try await chunk in body {
                        written += Int64(chunk.readableBytes)
                        guard written <= limit else {
                            throw BlobStoreError(.sizeExceeded, "body longer than \(limit) bytes")
                        }
                        try await writer.append(chunk)
                    }
                    hasher = try await writer.finish()
                } catch {
                    _ = try? await writer.finish()
                    throw error
                }
                return (written, hasher)
            }
        }
    }

    public func readUpload(_ id: String, range: Range<Int64>, to consumer: (ByteBuffer) async throws -> Void) async throws {
        let handle: ReadFileHandle
        do {
            handle = try await fileSystem.openFile(forReadingAt: uploadPath(id))
        } catch let error as FileSystemError where error.code == .notFound {
            throw BlobStoreError(.notFound, "no upload \(id)", cause: error)
        }
        try await FileBlobReader(handle: handle, size: range.upperBound, chunkSize: readChunkSize).streamThenClose(range, to: consumer)
    }

    public func hashUpload(_ id: String, length: Int64, algorithm: DigestAlgorithm) async throws -> Digest {
        try await mapErrors {
            try await fileSystem.withFileHandle(forReadingAt: uploadPath(id)) { handle in
                var hasher = DigestHasher(algorithm)
                var seen: Int64 = 0
                for try await chunk in handle.readChunks(in: 0..<length, chunkLength: .bytes(Int64(readChunkSize))) {
                    seen += Int64(chunk.readableBytes)
                    chunk.withUnsafeReadableBytes { hasher.update($0) }
                }
                guard seen == length else { throw BlobStoreError(.notFound, "upload data shorter than recorded") }
                return hasher.finalize()
            }
        }
    }

    public func publishUpload(_ id: String, length: Int64, as digest: Digest) async throws {
        let source = uploadPath(id)
        let destination = blobPath(digest)
        try await mapErrors {
            try await fileSystem.withFileHandle(forWritingAt: source, options: .modifyFile(createIfNecessary: false)) { handle in
                // A write cut short by a crash may have left bytes past the acknowledged end.
                if try await handle.info().size != length {
                    try await handle.resize(to: .bytes(length))
                }
                try await handle.synchronize()
            }
            let directory = destination.removingLastComponent()
            try await fileSystem.createDirectory(at: directory, withIntermediateDirectories: true)
            do {
                try await fileSystem.moveItem(at: source, to: destination)
            } catch let error as FileSystemError where error.code == .fileAlreadyExists {
                // Published meanwhile by a concurrent push of the same content; ours is redundant.
                _ = try? await fileSystem.removeItem(at: source, strategy: .platformDefault)
                return
            }
            try await fileSystem.withDirectoryHandle(atPath: directory) { try await $0.synchronize() }
        }
    }

    public func deleteUpload(_ id: String) async throws {
        try await mapErrors { _ = try await fileSystem.removeItem(at: uploadPath(id), strategy: .platformDefault) }
    }

    public func listBlobs() async throws -> [Digest] {
        var digests: [Digest] = []
        for algorithm in DigestAlgorithm.allCases {
            let base = root.appending("blobs/\(algorithm.rawValue)")
            guard try await fileSystem.info(forFileAt: base) != nil else { continue }
            let shards = try await fileSystem.withDirectoryHandle(atPath: base) { directory in
                try await directory.listContents().reduce(into: [String]()) { $0.append($1.name.string) }
            }
            for shard in shards {
                let names = try await fileSystem.withDirectoryHandle(atPath: base.appending(shard)) { directory in
                    try await directory.listContents().reduce(into: [String]()) { $0.append($1.name.string) }
                }
                digests.append(contentsOf: names.compactMap { Digest("\(algorithm.rawValue):\($0)") })
            }
        }
        return digests
    }

    /// Maps file-system failures to ``BlobStoreError`` codes the registry understands (full disk, missing file).
    private func mapErrors<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as FileSystemError {
            if Self.isOutOfSpace(error) {
                throw BlobStoreError(.insufficientStorage, "no space left on device", cause: error)
            }
            if error.code == .notFound {
                throw BlobStoreError(.notFound, "not found", cause: error)
            }
            throw BlobStoreError(.io, error.message, cause: error)
        }
    }

    private static func isOutOfSpace(_ error: FileSystemError) -> Bool {
        var cause: (any Error)? = error
        while let current = cause {
            if let call = current as? FileSystemError.SystemCallError {
                return call.errno == .noSpace || call.errno == .diskQuotaExceeded
            }
            cause = (current as? FileSystemError)?.cause
        }
        return false
    }
}

/// Gathers body chunks into large buffers and writes them in order, one in flight at a time, so the caller can
/// hash the next chunks meanwhile. The two buffers are recycled, so a push allocates no memory per buffer (fresh
/// half-megabyte allocations are mmapped and zero-filled by the kernel each time, which doubled the CPU of a
/// push). Every few MiB it asks the kernel to start writing back what is done, so that the fsync at publish
/// finds little left to flush instead of the whole blob.
private struct PipelinedWriter {
    let handle: WriteFileHandle
    let bufferSize: Int
    private var position: Int64
    private var pending = ByteBuffer()
    private var spare: ByteBuffer?
    private var inFlight: Task<ByteBuffer, any Error>?
    /// The running hash, one task per buffer, each continuing the previous one's state.
    private var hashing: Task<DigestHasher?, Never>
    private var unsynced: Int64 = 0
    private var syncedUpTo: Int64

    init(handle: WriteFileHandle, position: Int64, bufferSize: Int, hasher: DigestHasher?) {
        self.handle = handle
        self.position = position
        self.syncedUpTo = position
        self.bufferSize = bufferSize
        self.hashing = Task { hasher }
    }

    /// Adds a chunk; writes when a buffer is full.
    mutating func append(_ chunk: ByteBuffer) async throws {
        if pending.readableBytes > 0, pending.readableBytes + chunk.readableBytes > bufferSize {
            try await flushPending()
        }
        if chunk.readableBytes >= bufferSize {
            try await submit(chunk)
            return
        }
        if pending.capacity < bufferSize {
            pending = takeSpare()
        }
        pending.writeImmutableBuffer(chunk)
    }

    /// Writes what is pending, waits for every write, and returns the hash of everything appended.
    mutating func finish() async throws -> DigestHasher? {
        if pending.readableBytes > 0 {
            try await flushPending()
        }
        defer { inFlight = nil }
        _ = try await inFlight?.value
        return await hashing.value
    }

    private mutating func takeSpare() -> ByteBuffer {
        if var buffer = spare {
            spare = nil
            buffer.clear()
            return buffer
        }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(bufferSize)
        return buffer
    }

    private mutating func flushPending() async throws {
        let buffer = pending
        pending = ByteBuffer()
        try await submit(buffer)
    }

    private mutating func submit(_ buffer: ByteBuffer) async throws {
        // One write and one hash in flight: memory stays bounded, and the finished buffer is free to reuse.
        _ = await hashing.value
        if let written = try await inFlight?.value, written.capacity >= bufferSize {
            spare = written
        }
        let handle = self.handle
        let start = position
        position += Int64(buffer.readableBytes)
        unsynced += Int64(buffer.readableBytes)
        var writeBackRange: (Int64, Int64)?
        if unsynced >= 8 * 1024 * 1024 {
            writeBackRange = (syncedUpTo, position - syncedUpTo)
            syncedUpTo = position
            unsynced = 0
        }
        let range = writeBackRange
        let previous = hashing
        hashing = Task {
            guard var hasher = await previous.value else { return nil }
            buffer.withUnsafeReadableBytes { hasher.update($0) }
            return hasher
        }
        inFlight = Task {
            let count = try await handle.write(contentsOf: buffer, toAbsoluteOffset: start)
            guard count == Int64(buffer.readableBytes) else { throw BlobStoreError(.io, "short write") }
            if let (offset, length) = range {
                try await handle.withUnsafeDescriptor { descriptor in
                    // Errors surface at the fsync when the upload is published.
                    _ = pier_start_writeback(descriptor.rawValue, offset, length)
                }
            }
            return buffer
        }
    }
}

/// An open blob file.
struct FileBlobReader: BlobReader {
    let handle: ReadFileHandle
    let size: Int64
    let chunkSize: Int

    func stream(_ range: Range<Int64>, to consumer: (ByteBuffer) async throws -> Void) async throws {
        for try await chunk in handle.readChunks(in: range, chunkLength: .bytes(Int64(chunkSize))) {
            try await consumer(chunk)
        }
    }

    func close() async throws {
        try await handle.close()
    }
}

extension UInt8 {
    fileprivate var isLowerHexDigit: Bool {
        (self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9")) || (self >= UInt8(ascii: "a") && self <= UInt8(ascii: "f"))
    }
}
