import RegistryMetadataPostgres
import RegistryMetadataSQLite
import RegistryStorage
import RegistryStorageFileSystem
import RegistryTesting
import Testing

@Suite("BlobStore conformance")
struct BlobStoreConformanceTests {
    @Test("FileSystemBlobStore", arguments: BlobStoreConformance.cases)
    func fileSystem(_ check: ConformanceCase<any BlobStore>) async throws {
        try await withTemporaryDirectory { root in
            try await check.run(try await FileSystemBlobStore(root: root))
        }
    }

    @Test("InMemoryBlobStore", arguments: BlobStoreConformance.cases)
    func inMemory(_ check: ConformanceCase<any BlobStore>) async throws {
        try await check.run(InMemoryBlobStore())
    }
}

@Suite("MetadataStore conformance")
struct MetadataStoreConformanceTests {
    @Test("SQLiteMetadataStore", arguments: MetadataStoreConformance.cases)
    func sqlite(_ check: ConformanceCase<any MetadataStore>) async throws {
        try await withTemporaryDirectory { root in
            try await check.run(try SQLiteMetadataStore(path: root + "/metadata.sqlite"))
        }
    }

    @Test("PostgresMetadataStore", .enabled(if: PostgresTestDatabase.isConfigured, PostgresTestDatabase.skipReason),
          arguments: MetadataStoreConformance.cases)
    func postgres(_ check: ConformanceCase<any MetadataStore>) async throws {
        try await PostgresTestDatabase.withStore { store in
            try await check.run(store)
        }
    }
}
