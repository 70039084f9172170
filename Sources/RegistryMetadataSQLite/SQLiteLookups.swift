import GRDBSQLite
import RegistryCore
import RegistryStorage
import Synchronization

/// The lookups behind every pull — a manifest by tag or digest, a blob in a repository — run with SQLite's C
/// API on connections of their own, with statements prepared once per connection.
///
/// Through GRDB each such read costs a reader checkout, a dispatch-queue hop and a schema-version check around a
/// query that itself takes a few microseconds; at tens of thousands of requests a second that overhead was most
/// of Pier's own CPU per request. These connections only read (`query_only`), in WAL mode they never wait for the
/// writer, and each is used by one thread at a time.
///
/// The caller's thread may be an event loop, so nothing there waits: a lookup runs in place only on an idle, already
/// open connection that does not wait for locks (busy timeout 0). Opening a connection, and a lookup that met a lock
/// (a checkpoint, a schema change), go to a thread that may wait.
final class SQLiteLookups: Sendable {
    private let path: String
    private let idle = Mutex<[Connection]>([])

    init(path: String) {
        self.path = path
    }

    /// How long a lookup that left the caller's thread waits for a lock, in milliseconds.
    static let busyTimeout: Int32 = 30_000

    /// The manifest a reference names in a repository.
    func manifest(_ reference: Reference, in repository: RepositoryName, withContent: Bool) async throws -> StoredManifest? {
        let query: Query
        let key: String
        switch reference {
        case .tag(let tag):
            query = withContent ? .manifestByTag : .manifestHeadByTag
            key = tag.value
        case .digest(let digest):
            query = withContent ? .manifestByDigest : .manifestHeadByDigest
            key = digest.description
        }
        return try await run(query, repository.value, key) { statement in
            guard let digest = Digest(statement.text(0)) else { return nil }
            let content: [UInt8]? = withContent ? statement.bytes(3) : nil
            return StoredManifest(digest: digest, mediaType: statement.text(1), size: statement.int64(2), content: content)
        }
    }

    /// A stored blob linked to a repository.
    func blob(_ digest: Digest, in repository: RepositoryName) async throws -> BlobInfo? {
        try await run(.blobInRepository, repository.value, digest.description) { statement in
            BlobInfo(digest: digest, size: statement.int64(0), touchedAt: SQLiteMetadataStore.date(statement.int64(1)))
        }
    }

    /// Runs a query with two text parameters and reads its first row, if any: in place on an idle connection, else
    /// (no idle connection, or the database locked) on a thread that may wait.
    private func run<T: Sendable>(
        _ query: Query, _ first: String, _ second: String, _ read: @escaping @Sendable (Row) throws -> T?
    ) async throws -> T? {
        do {
            if let connection = idle.withLock({ $0.popLast() }) {
                defer { checkin(connection) }
                do {
                    return try run(query, on: connection, first, second, read)
                } catch let error as LookupError where error.isBusy {
                    // Locked: wait below, off this thread.
                }
            }
            return try await runBlocking {
                let connection = try self.idle.withLock({ $0.popLast() }) ?? Connection(path: self.path)
                sqlite3_busy_timeout(connection.handle, Self.busyTimeout)
                defer {
                    sqlite3_busy_timeout(connection.handle, 0)
                    self.checkin(connection)
                }
                return try self.run(query, on: connection, first, second, read)
            }
        } catch let error as LookupError {
            throw MetadataStoreError(.database, "lookup failed: \(error.message) (SQLite code \(error.code))")
        }
    }

    private func run<T>(_ query: Query, on connection: Connection, _ first: String, _ second: String, _ read: (Row) throws -> T?) throws -> T? {
        let statement = try connection.statement(query)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        try connection.check(bindText(statement, 1, first))
        try connection.check(bindText(statement, 2, second))
        switch sqlite3_step(statement) {
        case SQLITE_ROW: return try read(Row(statement: statement))
        case SQLITE_DONE: return nil
        case let code: throw connection.error(code)
        }
    }

    /// A lookup that failed with an SQLite result code.
    struct LookupError: Error {
        let code: Int32
        let message: String

        /// `SQLITE_BUSY` or one of its extended codes.
        var isBusy: Bool { code & 0xff == SQLITE_BUSY }
    }

    private func bindText(_ statement: OpaquePointer, _ index: Int32, _ value: String) -> Int32 {
        var value = value
        return value.withUTF8 { bytes in
            // SQLITE_TRANSIENT: SQLite copies the bytes, which live only for this call.
            sqlite3_bind_text(statement, index, bytes.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) },
                              Int32(bytes.count), unsafeBitCast(-1, to: sqlite3_destructor_type.self))
        }
    }

    private func checkin(_ connection: Connection) {
        idle.withLock { connections in
            if connections.count < 32 { connections.append(connection) }
        }
    }

    enum Query: Int, CaseIterable {
        case manifestByTag, manifestHeadByTag, manifestByDigest, manifestHeadByDigest, blobInRepository

        var sql: String {
            switch self {
            case .manifestByTag, .manifestHeadByTag:
                """
                SELECT m.digest, m.media_type, m.size\(self == .manifestByTag ? ", m.content" : "") FROM repositories r
                JOIN tags t ON t.repository_id = r.id JOIN manifests m ON m.id = t.manifest_id
                WHERE r.name = ?1 AND t.name = ?2
                """
            case .manifestByDigest, .manifestHeadByDigest:
                """
                SELECT m.digest, m.media_type, m.size\(self == .manifestByDigest ? ", m.content" : "") FROM repositories r
                JOIN manifests m ON m.repository_id = r.id WHERE r.name = ?1 AND m.digest = ?2
                """
            case .blobInRepository:
                """
                SELECT b.size, rb.touched_at FROM repositories r
                JOIN repository_blobs rb ON rb.repository_id = r.id JOIN blobs b ON b.digest = rb.digest
                WHERE r.name = ?1 AND rb.digest = ?2 AND b.state = 0
                """
            }
        }
    }

    /// The current row of a statement.
    struct Row {
        let statement: OpaquePointer

        func text(_ column: Int32) -> String {
            guard let text = sqlite3_column_text(statement, column) else { return "" }
            return String(cString: text)
        }

        func int64(_ column: Int32) -> Int64 {
            sqlite3_column_int64(statement, column)
        }

        func bytes(_ column: Int32) -> [UInt8] {
            let count = Int(sqlite3_column_bytes(statement, column))
            guard count > 0, let pointer = sqlite3_column_blob(statement, column) else { return [] }
            return Array(UnsafeRawBufferPointer(start: pointer, count: count))
        }
    }

    /// One read-only connection and its prepared statements. Used by one thread at a time (checked out).
    final class Connection: @unchecked Sendable {
        let handle: OpaquePointer
        private var statements: [OpaquePointer?]

        init(path: String) throws {
            var handle: OpaquePointer?
            let code = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil)
            guard code == SQLITE_OK, let handle else {
                sqlite3_close(handle)
                throw MetadataStoreError(.database, "cannot open \(path) for lookups (SQLite code \(code))")
            }
            self.handle = handle
            statements = Array(repeating: nil, count: Query.allCases.count)
            // No waiting for locks in place (see the type's comment); a lookup that left the caller's thread sets one.
            sqlite3_busy_timeout(handle, 0)
            sqlite3_exec(handle, "PRAGMA query_only = 1", nil, nil, nil)
        }

        deinit {
            for statement in statements { sqlite3_finalize(statement) }
            sqlite3_close(handle)
        }

        func statement(_ query: Query) throws -> OpaquePointer {
            if let statement = statements[query.rawValue] { return statement }
            var statement: OpaquePointer?
            try check(sqlite3_prepare_v3(handle, query.sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil))
            guard let statement else { throw MetadataStoreError(.database, "empty statement") }
            statements[query.rawValue] = statement
            return statement
        }

        func check(_ code: Int32) throws {
            guard code == SQLITE_OK else { throw error(code) }
        }

        func error(_ code: Int32) -> LookupError {
            LookupError(code: code, message: String(cString: sqlite3_errmsg(handle)))
        }
    }
}
