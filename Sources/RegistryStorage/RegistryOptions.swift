import Foundation

/// The behaviour switches of a ``Registry``, taken from configuration.
public struct RegistryOptions: Sendable {
    /// Whether manifests, tags and blobs may be deleted (`storage.delete.enabled`).
    public var deleteEnabled: Bool
    /// Whether every write is refused (`storage.maintenance.readonly.enabled`).
    public var readOnly: Bool
    /// The largest manifest accepted, in bytes.
    public var maximumManifestSize: Int
    /// The largest blob accepted, in bytes.
    public var maximumBlobSize: Int64
    /// Page size of `/v2/_catalog` when the client gives no `n`.
    public var defaultCatalogPageSize: Int
    /// The most entries one listing page returns, whatever `n` asks.
    public var maximumPageSize: Int
    /// How long garbage collection spares a blob or manifest after it was pushed, mounted or pulled.
    public var gcGracePeriod: TimeInterval
    /// The most tags one manifest PUT may add with `?tag=`.
    public var maximumTagsPerPush: Int
    /// The most upload sessions open at once in one repository.
    public var maximumUploadSessionsPerRepository: Int
    /// The most upload sessions open at once in the registry.
    public var maximumUploadSessions: Int

    public init(
        deleteEnabled: Bool = true,
        readOnly: Bool = false,
        maximumManifestSize: Int = 4 * 1024 * 1024,
        maximumBlobSize: Int64 = 1 << 42,
        defaultCatalogPageSize: Int = 1000,
        maximumPageSize: Int = 10_000,
        gcGracePeriod: TimeInterval = 3600,
        maximumTagsPerPush: Int = 100,
        maximumUploadSessionsPerRepository: Int = 1000,
        maximumUploadSessions: Int = 10_000
    ) {
        self.deleteEnabled = deleteEnabled
        self.readOnly = readOnly
        self.maximumManifestSize = maximumManifestSize
        self.maximumBlobSize = maximumBlobSize
        self.defaultCatalogPageSize = defaultCatalogPageSize
        self.maximumPageSize = maximumPageSize
        self.gcGracePeriod = gcGracePeriod
        self.maximumTagsPerPush = maximumTagsPerPush
        self.maximumUploadSessionsPerRepository = maximumUploadSessionsPerRepository
        self.maximumUploadSessions = maximumUploadSessions
    }
}
