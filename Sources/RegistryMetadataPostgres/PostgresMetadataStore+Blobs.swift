import Foundation
import PostgresNIO
import RegistryCore
import RegistryStorage

// Blobs and garbage collection. The rows of `blobs` are where a publish and a collection meet: every method that
// decides on a blob's state locks its row (a conflict clause, FOR SHARE or FOR NO KEY UPDATE), so that the decision
// and the change are one step for every other transaction, as SQLite's single writer made them.
extension PostgresMetadataStore {
    public func blob(_ digest: Digest, in repository: RepositoryName) async throws -> BlobInfo? {
        try await first(PostgresLookups.BlobInRepository(repository: repository.value, digest: digest.description)).map { size, touched in
            BlobInfo(digest: digest, size: size, touchedAt: Self.date(touched))
        }
    }

    public func blob(_ digest: Digest) async throws -> BlobInfo? {
        try await rows("SELECT size, touched_at FROM blobs WHERE digest = \(digest.description) AND state = 0").first.map { row in
            let (size, touched) = try row.decode((Int64, Int64).self)
            return BlobInfo(digest: digest, size: size, touchedAt: Self.date(touched))
        }
    }

    public func mountBlob(_ digest: Digest, into repository: RepositoryName, from source: RepositoryName?) async throws -> BlobInfo? {
        try await transaction { connection in
            let key = digest.description
            if let source {
                let linked = try await connection.rows("""
                    SELECT 1 FROM repositories r JOIN repository_blobs rb ON rb.repository_id = r.id
                    WHERE r.name = \(source.value) AND rb.digest = \(key)
                    """, logger)
                guard !linked.isEmpty else { return nil }
            }
            // Touching the blob first locks its row: a collection claiming it waits for this link and then finds it
            // touched now, and racing mounts of one blob take turns (a shared lock upgraded to touch it later would
            // deadlock them).
            let now = Self.now()
            guard let size = try await connection.rows(
                "UPDATE blobs SET touched_at = \(now) WHERE digest = \(key) AND state = 0 RETURNING size", logger
            ).first?.decode(Int64.self) else { return nil }
            let id = try await Self.ensureRepository(connection, repository, logger)
            try await connection.rows("""
                INSERT INTO repository_blobs (repository_id, digest, touched_at) VALUES (\(id), \(key), \(now))
                ON CONFLICT (repository_id, digest) DO UPDATE SET touched_at = excluded.touched_at
                """, logger)
            return BlobInfo(digest: digest, size: size, touchedAt: Self.date(now))
        }
    }

    public func unlinkBlob(_ digest: Digest, from repository: RepositoryName) async throws -> Bool {
        try await !rows("""
            DELETE FROM repository_blobs rb USING repositories r
            WHERE rb.repository_id = r.id AND r.name = \(repository.value) AND rb.digest = \(digest.description) RETURNING 1
            """).isEmpty
    }

    public func touchBlob(_ digest: Digest, in repository: RepositoryName) async throws {
        // One statement, so both times move together; a blob being deleted is not touched (as SQLite).
        let now = Self.now()
        try await rows("""
            WITH link AS (
                UPDATE repository_blobs rb SET touched_at = \(now) FROM repositories r
                WHERE rb.repository_id = r.id AND r.name = \(repository.value) AND rb.digest = \(digest.description))
            UPDATE blobs SET touched_at = \(now)
            WHERE digest = \(digest.description) AND state = 0 AND EXISTS (SELECT 1 FROM repositories WHERE name = \(repository.value))
            """)
    }

    public func pinBlob(_ digest: Digest) async throws {
        // One upsert: it locks the row (or inserts it) and decides on its latest version, so a concurrent claim by
        // garbage collection is either seen (busy, unless abandoned) or comes after and sees the pin.
        let now = Self.now()
        let pinned = try await rows("""
            INSERT INTO blobs AS b (digest, size, state, pins, touched_at) VALUES (\(digest.description), 0, 1, 1, \(now))
            ON CONFLICT (digest) DO UPDATE SET
                state = CASE WHEN b.state = 2 THEN 1 ELSE b.state END,
                pins = CASE WHEN b.state = 2 THEN 1 ELSE b.pins + 1 END,
                touched_at = excluded.touched_at
            WHERE b.state <> 2 OR b.touched_at < \(now - Self.deletionClaimLifetime)
            RETURNING 1
            """)
        guard !pinned.isEmpty else { throw MetadataStoreError(.busy, "blob is being deleted by garbage collection") }
    }

    @discardableResult
    public func commitBlob(_ digest: Digest, size: Int64, into repository: RepositoryName, finishing upload: String?) async throws -> Bool {
        try await transaction { connection in
            let key = digest.description
            let now = Self.now()
            if let upload {
                // First, and a compare-and-delete: of racing commits of one session, the first deletes the row, the
                // others wait for its lock and then find nothing to delete, and change nothing.
                let finished = try await connection.rows("""
                    DELETE FROM uploads WHERE id = \(upload) AND digest = \(key) AND "offset" = \(size) RETURNING 1
                    """, logger)
                guard !finished.isEmpty else { return false }
            }
            try await connection.rows("""
                INSERT INTO blobs AS b (digest, size, state, pins, touched_at) VALUES (\(key), \(size), 0, 0, \(now))
                ON CONFLICT (digest) DO UPDATE SET
                    state = 0, size = excluded.size, pins = GREATEST(b.pins - 1, 0), touched_at = excluded.touched_at
                """, logger)
            let id = try await Self.ensureRepository(connection, repository, logger)
            try await connection.rows("""
                INSERT INTO repository_blobs (repository_id, digest, touched_at) VALUES (\(id), \(key), \(now))
                ON CONFLICT (repository_id, digest) DO UPDATE SET touched_at = excluded.touched_at
                """, logger)
            return true
        }
    }

    public func unpinBlob(_ digest: Digest) async throws {
        // The update locks the row, so the delete that follows decides on what it left.
        try await transaction { connection in
            try await connection.rows(
                "UPDATE blobs SET pins = GREATEST(pins - 1, 0) WHERE digest = \(digest.description)", logger)
            try await connection.rows(
                "DELETE FROM blobs WHERE digest = \(digest.description) AND state = 1 AND pins = 0", logger)
        }
    }

    // MARK: Garbage collection

    public func collectableBlobs(touchedBefore date: Date, limit: Int) async throws -> [Digest] {
        try await rows("""
            SELECT b.digest FROM blobs b
            WHERE ((b.state <> 2 AND b.touched_at < \(Self.millis(date))) OR (b.state = 2 AND b.touched_at < \(Self.now() - Self.deletionClaimLifetime)))
              AND NOT EXISTS (SELECT 1 FROM manifest_references mr WHERE mr.child_digest = b.digest AND NOT mr.is_manifest)
            ORDER BY b.digest LIMIT \(limit)
            """).compactMap { Digest(try $0.decode(String.self)) }
    }

    public func beginBlobDeletion(_ digest: Digest, touchedBefore date: Date) async throws -> Bool {
        // The row is locked first (FOR NO KEY UPDATE waits for a manifest push holding it FOR SHARE, a mount, a pin or
        // a commit), and only then are the references counted, in a statement that sees what those committed.
        try await transaction { connection in
            let key = digest.description
            let now = Self.now()
            let rows = try await connection.rows(
                "SELECT state, pins, touched_at FROM blobs WHERE digest = \(key) FOR NO KEY UPDATE", logger
            )
            guard let row = rows.first else {
                // Bytes nothing records (an orphan): claim them, so that a publish of the same digest waits. A pin that
                // inserted the row meanwhile wins.
                let claimed = try await connection.rows("""
                    INSERT INTO blobs (digest, size, state, pins, touched_at) VALUES (\(key), 0, 2, 0, \(now))
                    ON CONFLICT (digest) DO NOTHING RETURNING 1
                    """, logger)
                return !claimed.isEmpty
            }
            let (state, pins, touched) = try row.decode((Int16, Int32, Int64).self)
            if state == BlobState.deleting.rawValue {
                guard touched < now - Self.deletionClaimLifetime else { return false }
            } else {
                guard touched < Self.millis(date), pins == 0 || touched < now - Self.pinLifetime else { return false }
                let referenced = try await connection.rows(
                    "SELECT 1 FROM manifest_references WHERE child_digest = \(key) AND NOT is_manifest LIMIT 1", logger
                )
                guard referenced.isEmpty else { return false }
            }
            try await connection.rows("UPDATE blobs SET state = 2, pins = 0, touched_at = \(now) WHERE digest = \(key)", logger)
            return true
        }
    }

    public func finishBlobDeletion(_ digest: Digest) async throws {
        try await rows("DELETE FROM blobs WHERE digest = \(digest.description) AND state = 2")
    }

    public func knownBlobDigests() async throws -> Set<Digest> {
        Set(try await rows("SELECT digest FROM blobs").compactMap { Digest(try $0.decode(String.self)) })
    }
}
