import Foundation
import Logging
import NIOCore
import RegistryCore

/// The registry's operations, named after the spec, layered over a ``BlobStore`` and a ``MetadataStore``.
///
/// The HTTP layer calls this and nothing else; it never sees which stores sit underneath, so a pull-through
/// decorator or another backend slots in here. Write order is always: blob bytes first (verified, then made
/// visible), then one metadata transaction. Garbage is reclaimable; a dangling reference is impossible.
public struct Registry: Sendable {
    public let blobs: any BlobStore
    public let metadata: any MetadataStore
    public let options: RegistryOptions
    let hashers: UploadHasherCache
    let logger: Logger

    public init(blobs: any BlobStore, metadata: any MetadataStore, options: RegistryOptions = .init(), logger: Logger = Logger(label: "pier.registry")) {
        self.blobs = blobs
        self.metadata = metadata
        self.options = options
        self.hashers = UploadHasherCache()
        self.logger = logger
    }

    /// Refuses writes in read-only mode.
    func checkWritable() throws(RegistryError) {
        if options.readOnly {
            throw RegistryError(.unsupported, status: 405, message: "the registry is in read-only mode")
        }
    }

    /// Refuses deletes when deletion is disabled.
    func checkDeletable() throws(RegistryError) {
        try checkWritable()
        guard options.deleteEnabled else { throw RegistryError.disabled("deletion") }
    }

    // MARK: Blobs

    /// A blob linked to `repository` (HEAD / GET). Refreshes its access time now and then, so that garbage
    /// collection spares a blob a client has just seen and may be about to reference.
    public func blob(_ digest: Digest, in repository: RepositoryName) async throws -> BlobInfo {
        guard let info = try await metadata.blob(digest, in: repository) else { throw RegistryError.blobUnknown(digest) }
        if info.touchedAt.timeIntervalSinceNow < -options.gcGracePeriod / 4, !options.readOnly {
            try? await metadata.touchBlob(digest, in: repository)
        }
        return info
    }

    /// Streams `range` of a stored blob to `consumer`, chunk by chunk.
    ///
    /// Call after ``blob(_:in:)`` has answered for the repository; a blob whose bytes are missing here is data
    /// loss and throws, which aborts a response already under way rather than completing it with wrong bytes.
    public func streamBlob(_ digest: Digest, range: Range<Int64>, to consumer: (ByteBuffer) async throws -> Void) async throws {
        guard let reader = try await blobs.open(digest) else {
            logger.error("blob recorded but missing from the blob store", metadata: ["digest": "\(digest)"])
            throw BlobStoreError(.notFound, "blob \(digest) missing from the blob store")
        }
        try await reader.streamThenClose(range, to: consumer)
    }

    /// Removes a blob from a repository (DELETE `/v2/<name>/blobs/<digest>`); the bytes go at the next collection.
    public func deleteBlob(_ digest: Digest, in repository: RepositoryName) async throws {
        try checkDeletable()
        guard try await metadata.unlinkBlob(digest, from: repository) else { throw RegistryError.blobUnknown(digest) }
    }

    /// Mounts a blob into `repository` (POST `?mount=`); `nil` when it cannot, and the caller starts an upload instead.
    ///
    /// `from` is a hint: a blob stored anywhere in the registry is mounted, as the spec allows.
    /// - Parameter elsewhere: whether a blob `source` lacks may come from any repository that has it.
    public func mountBlob(_ digest: Digest, into repository: RepositoryName, from source: RepositoryName?, elsewhere: Bool = true) async throws -> BlobInfo? {
        try checkWritable()
        if let source, let info = try await metadata.mountBlob(digest, into: repository, from: source) {
            return info
        }
        guard elsewhere else { return nil }
        return try await metadata.mountBlob(digest, into: repository, from: nil)
    }

    // MARK: Listing

    /// One page of the catalog.
    /// - Parameter including: when given, only the repositories it accepts (those a caller may pull).
    public func catalog(count: Int?, last: String?, including: (@Sendable (String) -> Bool)? = nil) async throws -> Page<RepositoryName> {
        let limit = min(count ?? options.defaultCatalogPageSize, options.maximumPageSize)
        if limit == 0 { return Page(items: [], hasMore: false) }
        guard let including else { return try await metadata.repositories(after: last, limit: limit) }
        // Filtered: read on in pages until `limit` accepted names are found or the names run out.
        var items: [RepositoryName] = []
        var cursor = last
        while true {
            let page = try await metadata.repositories(after: cursor, limit: max(limit, 100))
            for name in page.items {
                guard including(name.value) else { continue }
                if items.count == limit { return Page(items: items, hasMore: true) }
                items.append(name)
            }
            guard page.hasMore, let next = page.items.last else { return Page(items: items, hasMore: false) }
            cursor = next.value
        }
    }

    /// One page of a repository's tags.
    public func tags(in repository: RepositoryName, count: Int?, last: String?) async throws -> Page<String> {
        let limit = min(count ?? options.maximumPageSize, options.maximumPageSize)
        guard let page = try await metadata.tags(in: repository, after: last, limit: max(limit, 0)) else {
            throw RegistryError.nameUnknown(repository)
        }
        if limit == 0 { return Page(items: [], hasMore: false) }
        return page
    }

    /// The referrers of `subject` as descriptors.
    public func referrers(of subject: Digest, in repository: RepositoryName, artifactType: String?) async throws -> [Descriptor] {
        try await metadata.referrers(of: subject, in: repository, artifactType: artifactType)
    }
}
