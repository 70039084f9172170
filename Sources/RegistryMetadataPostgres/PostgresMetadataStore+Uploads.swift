import Foundation
import PostgresNIO
import RegistryCore
import RegistryStorage

// Upload sessions. Each method is one statement whose WHERE clause is the condition it must hold: an UPDATE or DELETE
// in PostgreSQL locks the row and re-checks that clause on the row's latest version after waiting for a concurrent
// writer, so a compare-and-set here is atomic without an explicit lock. Only the caps on open sessions count rows,
// and take a lock for that.
extension PostgresMetadataStore {
    /// The columns ``session(_:)`` reads, in its order.
    static let sessionColumns = #"id, repository, algorithm, "offset", started_at, updated_at, digest"#

    public func createUpload(_ session: UploadSession) async throws {
        try await rows("""
            INSERT INTO uploads (id, repository, algorithm, "offset", started_at, updated_at)
            VALUES (\(session.id), \(session.repository.value), \(session.algorithm.rawValue), \(session.offset),
                    \(Self.millis(session.startedAt)), \(Self.millis(session.updatedAt)))
            """)
    }

    public func createUpload(_ session: UploadSession, perRepository: Int, total: Int) async throws -> Bool {
        // Counting and inserting in READ COMMITTED would let concurrent POSTs all count the same free place. The caps
        // count rows that do not exist yet, so no row lock serves: a transaction-scoped advisory lock makes creations
        // with caps take turns (each holds it for one insert), and each counts what the previous ones committed.
        try await transaction { connection in
            try await connection.rows("SELECT pg_advisory_xact_lock(\(Self.uploadCapLock))", logger)
            return try await !connection.rows("""
                INSERT INTO uploads (id, repository, algorithm, "offset", started_at, updated_at)
                SELECT \(session.id), \(session.repository.value), \(session.algorithm.rawValue), \(session.offset),
                       \(Self.millis(session.startedAt)), \(Self.millis(session.updatedAt))
                WHERE (SELECT COUNT(*) FROM uploads WHERE repository = \(session.repository.value)) < \(perRepository)
                  AND (SELECT COUNT(*) FROM uploads) < \(total)
                RETURNING 1
                """, logger).isEmpty
        }
    }

    /// The advisory lock key under which capped upload creations take turns: "pierupld" in ASCII.
    static let uploadCapLock: Int64 = 0x7069_6572_7570_6C64

    public func upload(_ id: String) async throws -> UploadSession? {
        try await rows("SELECT \(unescaped: Self.sessionColumns) FROM uploads WHERE id = \(id)").first.flatMap(Self.session)
    }

    public func claimUpload(_ id: String, by writer: String, until: Date) async throws -> UploadSession? {
        // The claim is taken when the row is free, the writer's own, or its claim has expired; racing claimers wait
        // for each other's row lock and re-check, so exactly one of them finds it free.
        let claimed = try await rows("""
            UPDATE uploads SET writer = \(writer), claimed_until = \(Self.millis(until))
            WHERE id = \(id) AND (writer IS NULL OR writer = \(writer) OR claimed_until IS NULL OR claimed_until <= \(Self.now()))
            RETURNING \(unescaped: Self.sessionColumns)
            """)
        if let row = claimed.first { return try Self.session(row) }
        guard try await upload(id) != nil else { return nil }
        throw MetadataStoreError(.busy, "another request is writing upload \(id)")
    }

    public func releaseUpload(_ id: String, by writer: String) async throws {
        try await rows("UPDATE uploads SET writer = NULL, claimed_until = NULL WHERE id = \(id) AND writer = \(writer)")
    }

    public func releaseAllUploadClaims() async throws {
        try await rows("UPDATE uploads SET writer = NULL, claimed_until = NULL WHERE writer IS NOT NULL")
    }

    public func advanceUpload(_ id: String, from: Int64, to: Int64) async throws -> Bool {
        try await !rows("""
            UPDATE uploads SET "offset" = \(to), updated_at = \(Self.now())
            WHERE id = \(id) AND "offset" = \(from) AND digest IS NULL RETURNING 1
            """).isEmpty
    }

    public func sealUpload(_ id: String, at offset: Int64, digest: Digest) async throws -> Bool {
        try await !rows("""
            UPDATE uploads SET digest = \(digest.description), updated_at = \(Self.now())
            WHERE id = \(id) AND "offset" = \(offset) AND (digest IS NULL OR digest = \(digest.description)) RETURNING 1
            """).isEmpty
    }

    public func deleteUpload(_ id: String) async throws -> Bool {
        try await !rows("DELETE FROM uploads WHERE id = \(id) RETURNING 1").isEmpty
    }

    public func uploads(updatedBefore date: Date, limit: Int) async throws -> [UploadSession] {
        try await rows("""
            SELECT \(unescaped: Self.sessionColumns) FROM uploads WHERE updated_at < \(Self.millis(date)) ORDER BY updated_at LIMIT \(limit)
            """).compactMap(Self.session)
    }

    static func session(_ row: PostgresRow) throws -> UploadSession? {
        let (id, repository, algorithm, offset, startedAt, updatedAt, digest) =
            try row.decode((String, String, String, Int64, Int64, Int64, String?).self)
        guard let repository = RepositoryName(repository), let algorithm = DigestAlgorithm(rawValue: algorithm) else { return nil }
        return UploadSession(
            id: id, repository: repository, algorithm: algorithm, offset: offset,
            startedAt: date(startedAt), updatedAt: date(updatedAt), digest: digest.flatMap { Digest($0) }
        )
    }
}
