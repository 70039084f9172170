import Foundation
import NIOCore
import RegistryCore

/// A blob being stored from somewhere other than a client's upload (a pull-through cache fill): an upload session
/// that the registry writes itself, readable while it grows.
public struct BlobFill: Sendable {
    public let session: UploadSession
    /// The running hash of the bytes written so far.
    public internal(set) var hasher: DigestHasher
    /// Bytes written so far.
    public internal(set) var length: Int64 = 0
}

extension Registry {
    /// Starts storing a fetched blob into `repository`. The session is recorded like an upload, so that an
    /// abandoned fill (a crash, an upstream that vanished) is purged like an abandoned upload.
    public func beginFill(into repository: RepositoryName, algorithm: DigestAlgorithm) async throws -> BlobFill {
        let now = Date()
        let session = UploadSession(
            id: UUID().uuidString.lowercased(), repository: repository, algorithm: algorithm, offset: 0, startedAt: now, updatedAt: now
        )
        try await mapStorageErrors { try await blobs.createUpload(session.id) }
        try await metadata.createUpload(session)
        return BlobFill(session: session, hasher: DigestHasher(algorithm))
    }

    /// Appends `chunks` to a fill, hashing them unless the caller hashes them itself; at most `limit` bytes in all.
    public func appendFill(_ fill: inout BlobFill, _ chunks: [ByteBuffer], limit: Int64, hashing: Bool = true) async throws {
        struct Chunks: AsyncSequence, Sendable {
            typealias Element = ByteBuffer
            let chunks: [ByteBuffer]
            struct AsyncIterator: AsyncIteratorProtocol {
                var base: IndexingIterator<[ByteBuffer]>
                mutating func next() async -> ByteBuffer? { base.next() }
            }
            func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: chunks.makeIterator()) }
        }
        let result = try await mapStorageErrors {
            try await blobs.writeUpload(
                fill.session.id, at: fill.length, from: Chunks(chunks: chunks), limit: limit - fill.length, hasher: hashing ? fill.hasher : nil
            )
        }
        fill.length += result.written
        if hashing, let hasher = result.hasher { fill.hasher = hasher }
    }

    /// Streams `range` of what a fill has written so far.
    public func readFill(_ fill: BlobFill, range: Range<Int64>, to consumer: (ByteBuffer) async throws -> Void) async throws {
        try await blobs.readUpload(fill.session.id, range: range, to: consumer)
    }

    /// Verifies a finished fill against `digest` and publishes it into its repository, as a finished upload is.
    /// - Parameter hasher: the hash of every byte written, when the caller computed it (``appendFill`` without hashing).
    /// - Throws: `digestInvalid` (and the fill is discarded) when the bytes are not the blob.
    public func finishFill(_ fill: BlobFill, as digest: Digest, hashedBy hasher: DigestHasher? = nil) async throws -> BlobInfo {
        var fill = fill
        if let hasher { fill.hasher = hasher }
        guard fill.hasher.finalize() == digest else {
            await discardFill(fill)
            throw RegistryError(.digestInvalid, message: "fetched content does not match its digest", detail: digest.description)
        }
        guard try await metadata.advanceUpload(fill.session.id, from: 0, to: fill.length) else {
            throw RegistryError(.blobUploadUnknown, message: "cache fill session vanished")
        }
        hashers.store(fill.hasher, for: fill.session.id, at: fill.length)
        return try await complete(fill.session.id, in: fill.session.repository, digest: digest)
    }

    /// Discards a fill that failed.
    public func discardFill(_ fill: BlobFill) async {
        _ = try? await metadata.deleteUpload(fill.session.id)
        hashers.remove(fill.session.id)
        try? await blobs.deleteUpload(fill.session.id)
    }

    /// Links a blob stored anywhere in the registry into `repository`, without the writable check of a mount
    /// (a read-only registry still fills its cache). The caller has made sure the repository may have it: for a
    /// mirrored repository, its upstream confirmed it holds the blob.
    public func linkStoredBlob(_ digest: Digest, into repository: RepositoryName) async throws -> BlobInfo? {
        try await metadata.mountBlob(digest, into: repository, from: nil)
    }
}
