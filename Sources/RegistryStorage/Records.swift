import Foundation
import RegistryCore

/// A blob the metadata store knows: its digest, size and when it was last pushed, mounted or pulled.
public struct BlobInfo: Sendable, Equatable {
    public var digest: Digest
    public var size: Int64
    /// Last push, mount or throttled access; garbage collection spares blobs touched within its grace period.
    public var touchedAt: Date

    public init(digest: Digest, size: Int64, touchedAt: Date) {
        self.digest = digest
        self.size = size
        self.touchedAt = touchedAt
    }
}

/// An upload session, kept in the metadata store so that it survives restarts and is seen by every replica.
public struct UploadSession: Sendable, Equatable {
    /// The session id (a UUID), the last component of the upload `Location`.
    public var id: String
    /// The repository the blob is pushed to.
    public var repository: RepositoryName
    /// The algorithm the finished blob's digest is expected in.
    public var algorithm: DigestAlgorithm
    /// Bytes received and acknowledged so far.
    public var offset: Int64
    public var startedAt: Date
    public var updatedAt: Date
    /// The digest the registry computed over the session's bytes when it began to finish it (``MetadataStore/sealUpload(_:at:digest:)``);
    /// `nil` while bytes may still be appended.
    public var digest: Digest?

    public init(
        id: String, repository: RepositoryName, algorithm: DigestAlgorithm, offset: Int64, startedAt: Date, updatedAt: Date,
        digest: Digest? = nil
    ) {
        self.id = id
        self.repository = repository
        self.algorithm = algorithm
        self.offset = offset
        self.startedAt = startedAt
        self.updatedAt = updatedAt
        self.digest = digest
    }

    /// The upload URL path clients continue with (`Location`).
    public var location: String { "/v2/\(repository)/blobs/uploads/\(id)" }

    /// The `Range` header value: the inclusive range of bytes received (`0-0` when none, as Distribution answers).
    public var range: String { "0-\(max(offset - 1, 0))" }
}

/// A manifest as stored: the bytes exactly as pushed plus what was read from them.
public struct ManifestRecord: Sendable, Equatable {
    public var repository: RepositoryName
    public var digest: Digest
    public var manifest: Manifest
    public var content: [UInt8]
    /// Whether the repository must already hold everything the manifest references (a push); a pull-through
    /// cache stores a manifest before the blobs it will fetch on demand.
    public var referencesRequired: Bool

    public init(repository: RepositoryName, digest: Digest, manifest: Manifest, content: [UInt8], referencesRequired: Bool = true) {
        self.repository = repository
        self.digest = digest
        self.manifest = manifest
        self.content = content
        self.referencesRequired = referencesRequired
    }
}

/// What a manifest HEAD needs, and a GET adds the bytes.
public struct StoredManifest: Sendable, Equatable {
    public var digest: Digest
    public var mediaType: String
    public var size: Int64
    /// The stored bytes; `nil` when only the head was asked for.
    public var content: [UInt8]?

    public init(digest: Digest, mediaType: String, size: Int64, content: [UInt8]?) {
        self.digest = digest
        self.mediaType = mediaType
        self.size = size
        self.content = content
    }
}

/// One page of a listing, plus whether more follow (for the `Link` header).
public struct Page<Element: Sendable>: Sendable {
    public var items: [Element]
    public var hasMore: Bool

    public init(items: [Element], hasMore: Bool) {
        self.items = items
        self.hasMore = hasMore
    }
}

/// A manifest that garbage collection may remove.
public struct ManifestLocation: Sendable, Hashable {
    public var repository: RepositoryName
    public var digest: Digest

    public init(repository: RepositoryName, digest: Digest) {
        self.repository = repository
        self.digest = digest
    }
}
