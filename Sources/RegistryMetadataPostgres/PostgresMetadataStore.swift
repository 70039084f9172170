import Foundation
import Logging
import PostgresNIO
import RegistryCore
import RegistryStorage

/// Metadata in a PostgreSQL database, shared by any number of replicas: every operation is one transaction, and where
/// SQLite's single writer made a read-then-write safe, a row lock, a conflict clause or an advisory lock does here
/// (each method says which and why).
///
/// Times are stored as milliseconds since 1970 taken from the replica's clock, as the SQLite store does: the callers
/// pass their own dates (claim expiries, grace periods), so the clocks of replicas must agree to within those margins.
public final class PostgresMetadataStore: MetadataStore {
    let client: PostgresClient
    let logger: Logger
    /// The client's background work (its connection pool), for the store's lifetime: see ``shutdown()``.
    private let runTask: Task<Void, Never>
    /// The schema holding the tables.
    let schema: String

    /// How long a garbage-collection claim on a blob holds off a publisher before it is considered abandoned.
    static let deletionClaimLifetime: Int64 = 300_000
    /// How long a publish pin protects a blob before it is considered abandoned (a crashed publisher).
    static let pinLifetime: Int64 = 3_600_000

    enum BlobState: Int16 {
        case present = 0
        case publishing = 1
        case deleting = 2
    }

    /// Connects to the database, creating the schema and applying its pending migrations (under a lock, so replicas
    /// starting together apply each migration once).
    /// - Throws: ``MetadataStoreError`` `database` when the server cannot be reached or the schema not prepared.
    public init(configuration: Configuration, logger: Logger = Logger(label: "pier.metadata.postgres")) async throws {
        let client = PostgresClient(configuration: try configuration.clientConfiguration(), backgroundLogger: logger)
        self.client = client
        self.logger = logger
        self.schema = configuration.schema
        // PostgresClient leases connections only while run() runs; the store owns that task until shutdown(). Started
        // first, so that it runs by the time the migrations are done and the store takes requests.
        let runTask = Task { await client.run() }
        self.runTask = runTask
        do {
            let connection = try await PostgresConnection.connect(
                configuration: try configuration.connectionConfiguration(), id: 0, logger: logger)
            do {
                try await PostgresSchema.migrate(connection, schema: configuration.schema, logger: logger)
                try await connection.close()
            } catch {
                try? await connection.close()
                throw error
            }
        } catch {
            runTask.cancel()
            await runTask.value
            throw MetadataStoreError(
                .database,
                "cannot prepare the metadata database \(configuration.database) at \(configuration.host):\(configuration.port): \(Self.describe(error))",
                cause: Self.underlying(error))
        }
    }

    /// Closes every connection. The store cannot be used afterwards.
    public func shutdown() async {
        runTask.cancel()
        await runTask.value
    }

    deinit {
        // A store dropped without shutdown() still closes its pool (without waiting for it).
        runTask.cancel()
    }

    /// The versions of the migrations recorded as applied, in order.
    package func appliedMigrations() async throws -> [Int] {
        try await rows("SELECT version FROM pier_migrations ORDER BY version").map { try $0.decode(Int.self) }
    }

    /// Whether the store's connections are encrypted (TLS), as the server sees one of them.
    package func isEncrypted() async throws -> Bool {
        try await rows("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").first?.decode(Bool.self) ?? false
    }

    /// Drops the store's schema and everything in it (for tests, which give each case a schema of its own).
    package func dropSchema() async throws {
        // The name is a plain identifier (Configuration.isPlainIdentifier).
        try await rows(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(schema) CASCADE"))
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
    static func millis(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970 * 1000) }
    static func date(_ millis: Int64) -> Date { Date(timeIntervalSince1970: Double(millis) / 1000) }

    // MARK: Running statements

    /// Runs one statement on its own (PostgreSQL makes it a transaction of its own) and returns its rows.
    @discardableResult
    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        do {
            return try await client.query(query, logger: logger).collect()
        } catch {
            throw Self.storeError(error)
        }
    }

    /// Runs a prepared statement (prepared on a connection's first use of it) and returns its first row.
    func first<Statement: PostgresPreparedStatement>(_ statement: Statement) async throws -> Statement.Row? where Statement.Row: Sendable {
        do {
            var found: Statement.Row?
            // Read to the end, so the connection goes back to the pool.
            for try await row in try await client.execute(statement, logger: logger) where found == nil {
                found = row
            }
            return found
        } catch {
            throw Self.storeError(error)
        }
    }

    /// Runs `body` in one READ COMMITTED transaction on one connection, again (a few times) when PostgreSQL aborted it
    /// for a deadlock or a serialization failure: statements that lock rows in different orders can meet in a
    /// deadlock, which PostgreSQL breaks by failing one of them; its retry finds the winner's rows.
    func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await client.withTransaction(logger: logger) { connection in
                    try await body(connection)
                }
            } catch {
                let cause = Self.underlying(error)
                if attempt < 8, Self.isTransient(cause) {
                    attempt += 1
                    logger.debug("retrying a transaction", metadata: ["sqlstate": "\(Self.sqlState(cause) ?? "")", "attempt": "\(attempt)"])
                    try await Task.sleep(for: .milliseconds(Int.random(in: 1...(5 << attempt))))
                    continue
                }
                throw Self.storeError(cause)
            }
        }
    }

    // MARK: Errors

    /// The error inside postgres-nio's transaction wrapper.
    static func underlying(_ error: any Error) -> any Error {
        guard let error = error as? PostgresTransactionError else { return error }
        return error.closureError ?? error.commitError ?? error.beginError ?? error
    }

    /// The SQLSTATE of a server error.
    static func sqlState(_ error: any Error) -> String? {
        (underlying(error) as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// A deadlock (40P01) or a serialization failure (40001): retrying the transaction is the cure.
    static func isTransient(_ error: any Error) -> Bool {
        ["40001", "40P01"].contains(sqlState(error))
    }

    static func storeError(_ error: any Error) -> MetadataStoreError {
        let error = underlying(error)
        if let error = error as? MetadataStoreError { return error }
        if sqlState(error) == "53100" { return MetadataStoreError(.insufficientStorage, "database disk is full", cause: error) }
        return MetadataStoreError(.database, describe(error), cause: error)
    }

    /// What went wrong, for the log: the server's message and SQLSTATE, or the client's error code. (PSQLError's own
    /// description says nothing, so as not to leak a query's values; ours are names and digests, never secrets.)
    static func describe(_ error: any Error) -> String {
        guard let error = underlying(error) as? PSQLError else { return "\(error)" }
        if let info = error.serverInfo, let message = info[.message] {
            return "\(message) (SQLSTATE \(info[.sqlState] ?? "?"))"
        }
        return "\(error.code)" + (error.underlying.map { ": \($0)" } ?? "")
    }

    // MARK: Repositories

    /// The id of a repository, recording it if new. Concurrent first pushes into one repository insert it once: the
    /// unique name makes the loser's insert do nothing, and its second look finds the winner's row.
    static func ensureRepository(_ connection: PostgresConnection, _ name: RepositoryName, _ logger: Logger) async throws -> Int64 {
        for _ in 0..<3 {
            let rows = try await connection.rows("""
                WITH existing AS (SELECT id FROM repositories WHERE name = \(name.value)),
                inserted AS (
                    INSERT INTO repositories (name, created_at) SELECT \(name.value), \(now())
                    WHERE NOT EXISTS (SELECT 1 FROM existing)
                    ON CONFLICT (name) DO NOTHING RETURNING id)
                SELECT id FROM existing UNION ALL SELECT id FROM inserted
                """, logger)
            if let row = rows.first { return try row.decode(Int64.self) }
        }
        throw MetadataStoreError(.database, "cannot record repository \(name)")
    }

    // MARK: Listing

    public func repositories(after last: String?, limit: Int) async throws -> Page<RepositoryName> {
        let names = try await rows("SELECT name FROM repositories WHERE name > \(last ?? "") ORDER BY name LIMIT \(limit + 1)")
            .map { try $0.decode(String.self) }
        return Page(items: names.prefix(limit).compactMap { RepositoryName($0) }, hasMore: names.count > limit)
    }

    public func tags(in repository: RepositoryName, after last: String?, limit: Int) async throws -> Page<String>? {
        // One statement: no row means no repository; a row without a name, a repository without tags (after `last`).
        let rows = try await rows("""
            SELECT t.name FROM repositories r LEFT JOIN LATERAL (
                SELECT name FROM tags WHERE repository_id = r.id AND name > \(last ?? "") ORDER BY name LIMIT \(limit + 1)
            ) t ON true
            WHERE r.name = \(repository.value) ORDER BY t.name
            """)
        guard !rows.isEmpty else { return nil }
        let names = try rows.compactMap { try $0.decode(String?.self) }
        return Page(items: Array(names.prefix(limit)), hasMore: names.count > limit)
    }

    public func referrers(of subject: Digest, in repository: RepositoryName, artifactType: String?) async throws -> [Descriptor] {
        try await rows("""
            SELECT m.digest, m.media_type, m.size, m.artifact_type, m.annotations
            FROM repositories r JOIN manifests m ON m.repository_id = r.id
            WHERE r.name = \(repository.value) AND m.subject = \(subject.description)
              AND (\(artifactType)::text IS NULL OR m.artifact_type = \(artifactType))
            ORDER BY m.digest
            """).compactMap { row -> Descriptor? in
            let (digest, mediaType, size, artifactType, annotations) = try row.decode((String, String, Int64, String?, String?).self)
            guard let digest = Digest(digest) else { return nil }
            return Descriptor(
                mediaType: mediaType, digest: digest, size: size,
                annotations: annotations.flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) },
                artifactType: artifactType
            )
        }
    }
}

extension PostgresConnection {
    /// Runs one statement of a transaction and returns its rows, read to the end: a statement's error may arrive after
    /// its first rows, and a transaction must not go on past it.
    @discardableResult
    func rows(_ query: PostgresQuery, _ logger: Logger) async throws -> [PostgresRow] {
        try await self.query(query, logger: logger).collect()
    }
}
