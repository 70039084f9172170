import Foundation
import GRDB
import RegistryCore
import RegistryStorage
import Synchronization

/// Metadata in one SQLite database in WAL mode: readers never block the writer, and every operation is one
/// transaction. `synchronous=NORMAL` makes a commit survive a process crash (kill -9); a power cut may roll back
/// the last commits but never corrupts the database or breaks the blob-first write order.
public final class SQLiteMetadataStore: MetadataStore {
    let pool: DatabasePool
    /// The pull path's lookups, on connections of their own (see ``SQLiteLookups``).
    let lookups: SQLiteLookups
    /// Reads running or waiting for a reader connection, by either path of ``read(singleStatement:_:)``.
    private let readsInFlight = Atomic<Int>(0)
    /// The most reads that have run at once: GRDB has opened at least this many reader connections, so a read that
    /// finds fewer in flight gets an open connection without waiting or opening one.
    private let readersOpened = Atomic<Int>(0)
    static let maximumReaderCount = 8

    /// Whether a connection may wait when the database is locked (`SQLITE_BUSY`): not on the caller's thread, which
    /// may be an event loop; a read that meets a lock there is retried on GRDB's queues, where it waits.
    @TaskLocal static var mayWaitForLocks = true

    /// How long a garbage-collection claim on a blob holds off a publisher before it is considered abandoned.
    static let deletionClaimLifetime: Int64 = 300_000
    /// How long a publish pin protects a blob before it is considered abandoned (a crashed publisher).
    static let pinLifetime: Int64 = 3_600_000

    /// Opens (creating and migrating if needed) the database at `path`.
    public init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .callback(Self.busyCallback)
        configuration.maximumReaderCount = Self.maximumReaderCount
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try SQLiteSchema.migrator.migrate(pool)
            lookups = SQLiteLookups(path: path)
        } catch {
            throw MetadataStoreError(.database, "cannot open metadata database at \(path)", cause: error)
        }
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
    static func millis(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970 * 1000) }
    static func date(_ millis: Int64) -> Date { Date(timeIntervalSince1970: Double(millis) / 1000) }

    /// Runs a read on the calling thread when it cannot wait there, else on GRDB's queues.
    ///
    /// Reads in WAL mode never wait for writers and take microseconds, so a hop to GRDB's queues (a thread switch and a
    /// semaphore each way) would cost more than the query: the caller's thread — often an event loop — runs it, but
    /// only when an opened reader connection is free (counted here, so GRDB's semaphore never blocks) and with
    /// ``mayWaitForLocks`` off, so that a locked database (a checkpoint, a schema change) fails fast instead of
    /// sleeping. Every other read, and one that met a lock, waits on GRDB's queues.
    ///
    /// - Parameter singleStatement: the body runs one SQL statement, which SQLite already reads from one
    ///   snapshot, so the BEGIN/COMMIT GRDB wraps around reads for multi-statement consistency is skipped.
    func read<T: Sendable>(singleStatement: Bool = false, _ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        let inFlight = readsInFlight.add(1, ordering: .relaxed).newValue
        defer { readsInFlight.subtract(1, ordering: .relaxed) }
        do {
            if inFlight <= readersOpened.load(ordering: .relaxed) {
                do {
                    return try Self.$mayWaitForLocks.withValue(false) {
                        try singleStatement ? pool.unsafeRead(body) : pool.read(body)
                    }
                } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
                    // Locked: wait below, off this thread.
                }
            }
            let value = try await singleStatement ? pool.unsafeRead(body) : pool.read(body)
            readersOpened.max(min(inFlight, Self.maximumReaderCount), ordering: .relaxed)
            return value
        } catch let error as MetadataStoreError {
            throw error
        } catch {
            throw MetadataStoreError(.database, "read failed", cause: error)
        }
    }

    /// How connections wait for a lock: as SQLite's own busy timeout would (growing sleeps, 30 s in all), except on
    /// a thread that may not wait (``mayWaitForLocks``), where the statement fails with `SQLITE_BUSY` at once.
    @Sendable static func busyCallback(_ tries: Int) -> Bool {
        guard mayWaitForLocks else { return false }
        let delays = [1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100]
        let slept = tries < delays.count ? delays[..<tries].reduce(0, +) : 328 + (tries - delays.count) * 100
        guard slept < 30_000 else { return false }
        usleep(UInt32(delays[min(tries, delays.count - 1)] * 1000))
        return true
    }

    func write<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do {
            return try await pool.write(body)
        } catch let error as MetadataStoreError {
            throw error
        } catch let error as DatabaseError where error.resultCode == .SQLITE_FULL {
            throw MetadataStoreError(.insufficientStorage, "database disk is full", cause: error)
        } catch {
            throw MetadataStoreError(.database, "write failed", cause: error)
        }
    }

    static func fetchOne(_ db: Database, _ sql: String, _ arguments: StatementArguments = []) throws -> Row? {
        try Row.fetchOne(db.cachedStatement(sql: sql), arguments: arguments)
    }

    static func fetchAll(_ db: Database, _ sql: String, _ arguments: StatementArguments = []) throws -> [Row] {
        try Row.fetchAll(db.cachedStatement(sql: sql), arguments: arguments)
    }

    static func execute(_ db: Database, _ sql: String, _ arguments: StatementArguments = []) throws {
        try db.cachedStatement(sql: sql).execute(arguments: arguments)
    }

    static func repositoryID(_ db: Database, _ name: RepositoryName) throws -> Int64? {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM repositories WHERE name = ?"), arguments: [name.value])
    }

    static func ensureRepository(_ db: Database, _ name: RepositoryName) throws -> Int64 {
        if let id = try repositoryID(db, name) { return id }
        try execute(db, "INSERT INTO repositories (name, created_at) VALUES (?, ?)", [name.value, now()])
        return db.lastInsertedRowID
    }

    // MARK: Listing

    public func repositories(after last: String?, limit: Int) async throws -> Page<RepositoryName> {
        try await read { db in
            let rows = try String.fetchAll(
                db.cachedStatement(sql: "SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?"),
                arguments: [last ?? "", limit + 1]
            )
            let names = rows.prefix(limit).compactMap { RepositoryName($0) }
            return Page(items: names, hasMore: rows.count > limit)
        }
    }

    public func tags(in repository: RepositoryName, after last: String?, limit: Int) async throws -> Page<String>? {
        try await read { db in
            guard let id = try Self.repositoryID(db, repository) else { return nil }
            let rows = try String.fetchAll(
                db.cachedStatement(sql: "SELECT name FROM tags WHERE repository_id = ? AND name > ? ORDER BY name LIMIT ?"),
                arguments: [id, last ?? "", limit + 1]
            )
            return Page(items: Array(rows.prefix(limit)), hasMore: rows.count > limit)
        }
    }

    public func referrers(of subject: Digest, in repository: RepositoryName, artifactType: String?) async throws -> [Descriptor] {
        try await read { db in
            guard let id = try Self.repositoryID(db, repository) else { return [] }
            var sql = "SELECT digest, media_type, size, artifact_type, annotations FROM manifests WHERE repository_id = ? AND subject = ?"
            var arguments: StatementArguments = [id, subject.description]
            if let artifactType {
                sql += " AND artifact_type = ?"
                arguments += [artifactType]
            }
            return try Self.fetchAll(db, sql + " ORDER BY digest", arguments).compactMap { row -> Descriptor? in
                guard let digest = Digest(row["digest"] as String) else { return nil }
                let annotations = (row["annotations"] as String?).flatMap {
                    try? JSONDecoder().decode([String: String].self, from: Data($0.utf8))
                }
                return Descriptor(
                    mediaType: row["media_type"], digest: digest, size: row["size"],
                    annotations: annotations, artifactType: row["artifact_type"]
                )
            }
        }
    }
}
