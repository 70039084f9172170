import Foundation
import RegistryCore
import RegistryMetadataPostgres
import RegistryStorage
import RegistryTesting
import Testing

@Suite("PostgresMetadataStore")
struct PostgresMetadataStoreTests {
    @Test("replicas starting together on an empty database apply each migration once and share what they record",
          .enabled(if: PostgresTestDatabase.isConfigured, PostgresTestDatabase.skipReason))
    func concurrentStart() async throws {
        // A schema that does not exist yet: the first store creates it, the others wait for its migrations.
        let configuration = try PostgresTestDatabase.configuration(maximumConnections: 2)
        let stores = try await withThrowingTaskGroup(of: PostgresMetadataStore.self) { group in
            for _ in 0..<6 {
                group.addTask { try await PostgresMetadataStore(configuration: configuration, logger: PostgresTestDatabase.logger) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        var failure: (any Error)?
        do {
            try await checkShared(stores, configuration)
        } catch {
            failure = error
        }
        try? await stores[0].dropSchema()
        for store in stores { await store.shutdown() }
        if let failure { throw failure }
    }

    private func checkShared(_ stores: [PostgresMetadataStore], _ configuration: PostgresMetadataStore.Configuration) async throws {
        for store in stores {
            #expect(try await store.appliedMigrations() == [1])
        }
        let repository = RepositoryName("shared/repo")!
        let digest = Digest.of(TestContent.bytes(64, seed: 9))
        try await stores[0].pinBlob(digest)
        try await stores[1].commitBlob(digest, size: 64, into: repository, finishing: nil)
        #expect(try await stores[5].blob(digest, in: repository)?.size == 64)
        // A replica started later finds nothing to apply.
        let late = try await PostgresMetadataStore(configuration: configuration, logger: PostgresTestDatabase.logger)
        #expect(try await late.appliedMigrations() == [1])
        #expect(try await late.blob(digest) != nil)
        await late.shutdown()
    }

    @Test("an unreachable server fails start-up at once with a database error")
    func unreachable() async throws {
        // Nothing listens on port 1; the refusal must not be retried for a minute as the pool would.
        let configuration = PostgresMetadataStore.Configuration(host: "127.0.0.1", port: 1, user: "pier", database: "pier", tls: .disable)
        let started = ContinuousClock.now
        let error = await #expect(throws: MetadataStoreError.self) {
            _ = try await PostgresMetadataStore(configuration: configuration, logger: PostgresTestDatabase.logger)
        }
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(error?.code == .database)
        #expect(error?.message.contains("pier at 127.0.0.1:1") == true, "\(String(describing: error))")
    }

    @Test("refused credentials fail start-up naming the server's reason",
          .enabled(if: PostgresTestDatabase.isConfigured, PostgresTestDatabase.skipReason))
    func refusedCredentials() async throws {
        var configuration = try PostgresTestDatabase.configuration()
        configuration.password = "not-the-password"
        let error = await #expect(throws: MetadataStoreError.self) {
            _ = try await PostgresMetadataStore(configuration: configuration, logger: PostgresTestDatabase.logger)
        }
        #expect(error?.message.contains("password authentication failed") == true, "\(String(describing: error))")
    }

    @Test("sslmode: disable is plain text; prefer, require, verify-ca and verify-full (with the server's root) encrypt",
          .enabled(if: PostgresTestDatabase.isConfigured, PostgresTestDatabase.skipReason),
          arguments: PostgresMetadataStore.TLSMode.allCases)
    func tls(_ mode: PostgresMetadataStore.TLSMode) async throws {
        var configuration = try PostgresTestDatabase.configuration(maximumConnections: 1)
        try #require(configuration.rootCertificatesPath != nil, "\(PostgresTestDatabase.variable) names no sslrootcert")
        configuration.tls = mode
        let store = try await PostgresMetadataStore(configuration: configuration, logger: PostgresTestDatabase.logger)
        let encrypted = try await store.isEncrypted()
        try await store.dropSchema()
        await store.shutdown()
        #expect(encrypted == (mode != .disable))
    }

    @Test("verify-ca and verify-full refuse a certificate that no trusted root signed",
          .enabled(if: PostgresTestDatabase.isConfigured, PostgresTestDatabase.skipReason),
          arguments: [PostgresMetadataStore.TLSMode.verifyCA, .verifyFull])
    func untrustedCertificate(_ mode: PostgresMetadataStore.TLSMode) async throws {
        var configuration = try PostgresTestDatabase.configuration(maximumConnections: 1)
        configuration.tls = mode
        configuration.rootCertificatesPath = nil  // the system's roots, which did not sign the test server's certificate
        let error = await #expect(throws: MetadataStoreError.self) {
            _ = try await PostgresMetadataStore(configuration: configuration, logger: PostgresTestDatabase.logger)
        }
        #expect(error?.code == .database)
    }

    @Test("verify-full checks the host name, verify-ca only the signature",
          .enabled(if: PostgresTestDatabase.isConfigured, PostgresTestDatabase.skipReason))
    func hostName() async throws {
        var configuration = try PostgresTestDatabase.configuration(maximumConnections: 1)
        try #require(configuration.rootCertificatesPath != nil, "\(PostgresTestDatabase.variable) names no sslrootcert")
        // The test server also listens on 127.0.0.2, which its certificate does not name (scripts/postgres.sh).
        configuration.host = "127.0.0.2"
        configuration.tls = .verifyFull
        await #expect(throws: MetadataStoreError.self) {
            _ = try await PostgresMetadataStore(configuration: configuration, logger: PostgresTestDatabase.logger)
        }
        configuration.tls = .verifyCA
        let store = try await PostgresMetadataStore(configuration: configuration, logger: PostgresTestDatabase.logger)
        let encrypted = try await store.isEncrypted()
        try await store.dropSchema()
        await store.shutdown()
        #expect(encrypted)
    }

    @Test("a schema name that is not a plain identifier is refused before connecting",
          arguments: ["", "Public", "1st", "a b", "a;DROP SCHEMA public", "a\"b", "ü", String(repeating: "a", count: 64), "pier-test"])
    func hostileSchema(_ schema: String) async throws {
        let configuration = PostgresMetadataStore.Configuration(
            host: "127.0.0.1", port: 1, user: "pier", database: "pier", tls: .disable, schema: schema)
        do {
            _ = try await PostgresMetadataStore(configuration: configuration, logger: PostgresTestDatabase.logger)
            Issue.record("schema \(schema) accepted")
        } catch let error as MetadataStoreError {
            #expect(error.code == .database)
            #expect(error.message.contains("schema name"), "\(error)")
        }
    }
}
