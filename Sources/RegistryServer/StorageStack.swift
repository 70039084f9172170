import Foundation
import Logging
import RegistryConfig
import RegistryCore
import RegistryMetadataSQLite
import RegistryStorage
import RegistryStorageFileSystem

/// The stores a configuration describes, opened: the embedded default is the filesystem plus SQLite in one directory.
public struct StorageStack: Sendable {
    public let blobs: any BlobStore
    public let metadata: any MetadataStore
    /// The data directory, absolute.
    public let root: String

    /// Opens (creating if needed) the stores under `configuration.storage.rootDirectory`.
    public static func open(_ configuration: Configuration, logger: Logger) async throws -> StorageStack {
        let root = URL(fileURLWithPath: configuration.storage.rootDirectory).standardizedFileURL.path
        do {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        } catch {
            throw ConfigurationError("cannot create the data directory \(root): \(error.localizedDescription)")
        }
        if FileManager.default.fileExists(atPath: root + "/docker/registry/v2") {
            logger.warning("this directory holds a Distribution (registry:2) layout, which Pier does not read; its images will not appear", metadata: ["root": "\(root)"])
        }
        let blobs = try await FileSystemBlobStore(root: root)
        let metadata = try SQLiteMetadataStore(path: root + "/metadata.sqlite")
        return StorageStack(blobs: blobs, metadata: metadata, root: root)
    }
}
