import Foundation
import GRDB
import RegistryCore
import RegistryStorage

extension SQLiteMetadataStore {
    private enum BlobState: Int64 {
        case present = 0
        case publishing = 1
        case deleting = 2
    }

    public func blob(_ digest: Digest, in repository: RepositoryName) async throws -> BlobInfo? {
        try await lookups.blob(digest, in: repository)
    }

    public func blob(_ digest: Digest) async throws -> BlobInfo? {
        try await read(singleStatement: true) { db in
            let row = try Self.fetchOne(db, "SELECT size, touched_at FROM blobs WHERE digest = ? AND state = 0", [digest.description])
            return row.map { BlobInfo(digest: digest, size: $0[0], touchedAt: Self.date($0[1])) }
        }
    }

    public func mountBlob(_ digest: Digest, into repository: RepositoryName, from source: RepositoryName?) async throws -> BlobInfo? {
        try await write { db in
            let key = digest.description
            guard let size = try Int64.fetchOne(db.cachedStatement(sql: "SELECT size FROM blobs WHERE digest = ? AND state = 0"), arguments: [key])
            else { return nil }
            if let source {
                let linked = try Self.fetchOne(db, """
                    SELECT 1 FROM repositories r JOIN repository_blobs rb ON rb.repository_id = r.id
                    WHERE r.name = ? AND rb.digest = ?
                    """, [source.value, key])
                guard linked != nil else { return nil }
            }
            let now = Self.now()
            let id = try Self.ensureRepository(db, repository)
            try Self.execute(db, """
                INSERT INTO repository_blobs (repository_id, digest, touched_at) VALUES (?, ?, ?)
                ON CONFLICT (repository_id, digest) DO UPDATE SET touched_at = excluded.touched_at
                """, [id, key, now])
            try Self.execute(db, "UPDATE blobs SET touched_at = ? WHERE digest = ?", [now, key])
            return BlobInfo(digest: digest, size: size, touchedAt: Self.date(now))
        }
    }

    public func unlinkBlob(_ digest: Digest, from repository: RepositoryName) async throws -> Bool {
        try await write { db in
            guard let id = try Self.repositoryID(db, repository) else { return false }
            try Self.execute(db, "DELETE FROM repository_blobs WHERE repository_id = ? AND digest = ?", [id, digest.description])
            return db.changesCount > 0
        }
    }

    public func touchBlob(_ digest: Digest, in repository: RepositoryName) async throws {
        try await write { db in
            let now = Self.now()
            guard let id = try Self.repositoryID(db, repository) else { return }
            try Self.execute(db, "UPDATE repository_blobs SET touched_at = ? WHERE repository_id = ? AND digest = ?", [now, id, digest.description])
            try Self.execute(db, "UPDATE blobs SET touched_at = ? WHERE digest = ? AND state = 0", [now, digest.description])
        }
    }

    public func pinBlob(_ digest: Digest) async throws {
        try await write { db in
            let key = digest.description
            let now = Self.now()
            guard let row = try Self.fetchOne(db, "SELECT state, touched_at FROM blobs WHERE digest = ?", [key]) else {
                try Self.execute(db, "INSERT INTO blobs (digest, size, state, pins, touched_at) VALUES (?, 0, 1, 1, ?)", [key, now])
                return
            }
            let state: Int64 = row[0]
            let touched: Int64 = row[1]
            if state == BlobState.deleting.rawValue {
                guard touched < now - Self.deletionClaimLifetime else {
                    throw MetadataStoreError(.busy, "blob is being deleted by garbage collection")
                }
                // An abandoned claim (the collector died): take the row over.
                try Self.execute(db, "UPDATE blobs SET state = 1, pins = 1, touched_at = ? WHERE digest = ?", [now, key])
                return
            }
            try Self.execute(db, "UPDATE blobs SET pins = pins + 1, touched_at = ? WHERE digest = ?", [now, key])
        }
    }

    public func commitBlob(_ digest: Digest, size: Int64, into repository: RepositoryName, finishing upload: String?) async throws -> Bool {
        try await write { db in
            let key = digest.description
            let now = Self.now()
            if let upload {
                // First, so that a session finished (or sealed as another blob) by someone else changes nothing.
                try Self.execute(db, #"DELETE FROM uploads WHERE id = ? AND digest = ? AND "offset" = ?"#, [upload, key, size])
                guard db.changesCount > 0 else { return false }
            }
            try Self.execute(db, """
                INSERT INTO blobs (digest, size, state, pins, touched_at) VALUES (?, ?, 0, 0, ?)
                ON CONFLICT (digest) DO UPDATE SET state = 0, size = excluded.size, pins = max(pins - 1, 0), touched_at = excluded.touched_at
                """, [key, size, now])
            let id = try Self.ensureRepository(db, repository)
            try Self.execute(db, """
                INSERT INTO repository_blobs (repository_id, digest, touched_at) VALUES (?, ?, ?)
                ON CONFLICT (repository_id, digest) DO UPDATE SET touched_at = excluded.touched_at
                """, [id, key, now])
            return true
        }
    }

    public func unpinBlob(_ digest: Digest) async throws {
        try await write { db in
            try Self.execute(db, "UPDATE blobs SET pins = max(pins - 1, 0) WHERE digest = ?", [digest.description])
            try Self.execute(db, "DELETE FROM blobs WHERE digest = ? AND state = 1 AND pins = 0", [digest.description])
        }
    }

    // MARK: Garbage collection

    public func collectableBlobs(touchedBefore date: Date, limit: Int) async throws -> [Digest] {
        try await read { db in
            let now = Self.now()
            let rows = try String.fetchAll(db.cachedStatement(sql: """
                SELECT b.digest FROM blobs b
                WHERE ((b.state != 2 AND b.touched_at < ?) OR (b.state = 2 AND b.touched_at < ?))
                  AND NOT EXISTS (SELECT 1 FROM manifest_references mr WHERE mr.child_digest = b.digest AND mr.is_manifest = 0)
                ORDER BY b.digest LIMIT ?
                """), arguments: [Self.millis(date), now - Self.deletionClaimLifetime, limit])
            return rows.compactMap { Digest($0) }
        }
    }

    public func beginBlobDeletion(_ digest: Digest, touchedBefore date: Date) async throws -> Bool {
        try await write { db in
            let key = digest.description
            let now = Self.now()
            guard let row = try Self.fetchOne(db, "SELECT state, pins, touched_at FROM blobs WHERE digest = ?", [key]) else {
                // Bytes nothing records (an orphan): claim them, so that a publish of the same digest waits.
                try Self.execute(db, "INSERT INTO blobs (digest, size, state, pins, touched_at) VALUES (?, 0, 2, 0, ?)", [key, now])
                return true
            }
            let state: Int64 = row[0]
            let pins: Int64 = row[1]
            let touched: Int64 = row[2]
            if state == BlobState.deleting.rawValue {
                guard touched < now - Self.deletionClaimLifetime else { return false }
            } else {
                guard touched < Self.millis(date), pins == 0 || touched < now - Self.pinLifetime else { return false }
                let referenced = try Self.fetchOne(
                    db, "SELECT 1 FROM manifest_references WHERE child_digest = ? AND is_manifest = 0 LIMIT 1", [key])
                guard referenced == nil else { return false }
            }
            try Self.execute(db, "UPDATE blobs SET state = 2, pins = 0, touched_at = ? WHERE digest = ?", [now, key])
            return true
        }
    }

    public func finishBlobDeletion(_ digest: Digest) async throws {
        try await write { db in
            try Self.execute(db, "DELETE FROM blobs WHERE digest = ? AND state = 2", [digest.description])
        }
    }

    public func knownBlobDigests() async throws -> Set<Digest> {
        try await read { db in
            Set(try String.fetchAll(db, sql: "SELECT digest FROM blobs").compactMap { Digest($0) })
        }
    }
}
