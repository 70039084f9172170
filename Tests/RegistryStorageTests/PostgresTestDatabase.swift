import Foundation
import Logging
import RegistryMetadataPostgres
import Testing

/// The PostgreSQL server the tests use, named by `PIER_TEST_POSTGRES_URL`
/// (`postgres://user:password@host:port/database[?sslrootcert=PEM]`, the certificate for the TLS cases). `scripts/test.sh` starts one and sets it, which makes the
/// PostgreSQL cases required: then an unreachable server fails them. Without it, plain `swift test` skips them.
enum PostgresTestDatabase {
    static let variable = "PIER_TEST_POSTGRES_URL"
    static let url: String? = ProcessInfo.processInfo.environment[variable].flatMap { $0.isEmpty ? nil : $0 }
    static let isConfigured = url != nil
    static let skipReason: Comment = "PostgreSQL cases need \(variable) (scripts/test.sh starts a server and sets it)"

    /// The server's settings, with a schema of one's own.
    static func configuration(schema: String = freshSchema(), maximumConnections: Int = 8) throws -> PostgresMetadataStore.Configuration {
        guard let url, let components = URLComponents(string: url), let host = components.host, let user = components.user,
            components.scheme == "postgres" || components.scheme == "postgresql"
        else { throw TestDatabaseError("\(variable) is not a postgres://user[:password]@host[:port]/database URL") }
        let database = String(components.path.drop { $0 == "/" })
        return PostgresMetadataStore.Configuration(
            host: host, port: components.port ?? 5432, user: user, password: components.password,
            database: database.isEmpty ? user : database, tls: .disable,
            rootCertificatesPath: components.queryItems?.first { $0.name == "sslrootcert" }?.value,
            maximumConnections: maximumConnections, schema: schema
        )
    }

    /// The stores' logger: warnings only (each case's migration would log at info).
    static let logger: Logger = {
        var logger = Logger(label: "pier.metadata.postgres.test")
        logger.logLevel = .warning
        return logger
    }()

    /// A schema name no other test uses.
    static func freshSchema() -> String {
        "pier_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    }

    /// Runs `body` with a store on a fresh, empty schema, dropped afterwards.
    static func withStore(_ body: (PostgresMetadataStore) async throws -> Void) async throws {
        let store = try await PostgresMetadataStore(configuration: configuration(), logger: logger)
        do {
            try await body(store)
        } catch {
            try? await store.dropSchema()
            await store.shutdown()
            throw error
        }
        try await store.dropSchema()
        await store.shutdown()
    }

    struct TestDatabaseError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
