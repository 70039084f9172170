import NIOCore
import RegistryCore

/// Content-addressed bytes, and the scratch space of uploads in progress.
///
/// A blob store knows nothing of repositories, tags or manifests: those live in the ``MetadataStore``.
/// Implementations must make a blob visible under its digest only once its bytes are complete and durable.
public protocol BlobStore: Sendable {
    /// Opens a stored blob for reading; `nil` when it is absent.
    func open(_ digest: Digest) async throws -> (any BlobReader)?

    /// Removes a stored blob. Removing an absent blob is not an error.
    func delete(_ digest: Digest) async throws

    /// Creates the empty scratch space of a new upload.
    func createUpload(_ id: String) async throws

    /// Writes a body into an upload at `offset`, feeding every byte to `hasher` when one is given.
    ///
    /// - Parameters:
    ///   - limit: the most bytes the body may carry; more fails with `sizeExceeded` and nothing is acknowledged.
    /// - Returns: the number of bytes written and the hasher after them.
    func writeUpload<Body: AsyncSequence & Sendable>(
        _ id: String, at offset: Int64, from body: Body, limit: Int64, hasher: DigestHasher?
    ) async throws -> (written: Int64, hasher: DigestHasher?) where Body.Element == ByteBuffer

    /// Streams `range` of an upload in progress (bytes a finished ``writeUpload(_:at:from:limit:hasher:)`` wrote),
    /// so that a pull-through cache can serve a blob while it is still arriving.
    /// - Throws: `notFound` once the upload is gone (published or discarded); `unsupported` by stores that cannot.
    func readUpload(_ id: String, range: Range<Int64>, to consumer: (ByteBuffer) async throws -> Void) async throws

    /// Hashes the first `length` bytes of an upload (when no running hash survived, e.g. after a restart).
    func hashUpload(_ id: String, length: Int64, algorithm: DigestAlgorithm) async throws -> Digest

    /// Makes the first `length` bytes of an upload durable and visible as blob `digest`, consuming the upload.
    /// The caller has verified the digest.
    func publishUpload(_ id: String, length: Int64, as digest: Digest) async throws

    /// Discards an upload's scratch space. Discarding an absent upload is not an error.
    func deleteUpload(_ id: String) async throws

    /// Lists the digests of all stored blobs (for garbage collection and repair).
    func listBlobs() async throws -> [Digest]

    /// The path of a stored blob's file on this machine, when the store keeps blobs as local files, so that the
    /// server can send it with `sendfile(2)`; `nil` otherwise.
    func localPath(of digest: Digest) -> String?
}

extension BlobStore {
    public func localPath(of digest: Digest) -> String? { nil }

    public func readUpload(_ id: String, range: Range<Int64>, to consumer: (ByteBuffer) async throws -> Void) async throws {
        throw BlobStoreError(.unsupported, "this blob store cannot read uploads in progress")
    }
}

extension BlobReader {
    /// Streams `range` to `consumer`, then closes the reader, on every path.
    public func streamThenClose(_ range: Range<Int64>, to consumer: (ByteBuffer) async throws -> Void) async throws {
        do {
            try await stream(range, to: consumer)
        } catch {
            try? await close()
            throw error
        }
        try await close()
    }
}

/// An open blob: its size, and its bytes streamed in chunks.
public protocol BlobReader: Sendable {
    /// The blob's size in bytes.
    var size: Int64 { get }

    /// Streams `range` of the blob to `consumer`, chunk by chunk; at most one chunk is in memory at a time.
    func stream(_ range: Range<Int64>, to consumer: (ByteBuffer) async throws -> Void) async throws

    /// Releases the underlying handle. Call once.
    func close() async throws
}
