import Foundation
import GRDB
import RegistryCore
import RegistryStorage

extension SQLiteMetadataStore {
    public func createUpload(_ session: UploadSession) async throws {
        try await write { db in
            try Self.execute(db, """
                INSERT INTO uploads (id, repository, algorithm, "offset", started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
                """, [session.id, session.repository.value, session.algorithm.rawValue, session.offset,
                      Self.millis(session.startedAt), Self.millis(session.updatedAt)])
        }
    }

    public func createUpload(_ session: UploadSession, perRepository: Int, total: Int) async throws -> Bool {
        try await write { db in
            // One statement, so concurrent POSTs cannot both take the last free place.
            try Self.execute(db, """
                INSERT INTO uploads (id, repository, algorithm, "offset", started_at, updated_at)
                SELECT ?, ?, ?, ?, ?, ?
                WHERE (SELECT COUNT(*) FROM uploads WHERE repository = ?) < ? AND (SELECT COUNT(*) FROM uploads) < ?
                """, [session.id, session.repository.value, session.algorithm.rawValue, session.offset,
                      Self.millis(session.startedAt), Self.millis(session.updatedAt), session.repository.value, perRepository, total])
            return db.changesCount > 0
        }
    }

    public func upload(_ id: String) async throws -> UploadSession? {
        try await read(singleStatement: true) { db in
            try Self.fetchOne(db, "SELECT * FROM uploads WHERE id = ?", [id]).flatMap(Self.session)
        }
    }

    public func claimUpload(_ id: String, by writer: String, until: Date) async throws -> UploadSession? {
        try await write { db in
            guard let row = try Self.fetchOne(db, "SELECT * FROM uploads WHERE id = ?", [id]) else { return nil }
            let holder: String? = row["writer"]
            let expiry: Int64? = row["claimed_until"]
            if let holder, holder != writer, let expiry, expiry > Self.now() {
                throw MetadataStoreError(.busy, "another request is writing upload \(id)")
            }
            try Self.execute(db, "UPDATE uploads SET writer = ?, claimed_until = ? WHERE id = ?", [writer, Self.millis(until), id])
            return Self.session(row)
        }
    }

    public func releaseUpload(_ id: String, by writer: String) async throws {
        try await write { db in
            try Self.execute(db, "UPDATE uploads SET writer = NULL, claimed_until = NULL WHERE id = ? AND writer = ?", [id, writer])
        }
    }

    public func releaseAllUploadClaims() async throws {
        // Read first: usually there is none, and a write (even one that changes nothing) fails on a full disk.
        let claimed = try await read(singleStatement: true) { db in
            try Self.fetchOne(db, "SELECT 1 FROM uploads WHERE writer IS NOT NULL LIMIT 1") != nil
        }
        guard claimed else { return }
        try await write { db in
            try Self.execute(db, "UPDATE uploads SET writer = NULL, claimed_until = NULL WHERE writer IS NOT NULL")
        }
    }

    public func advanceUpload(_ id: String, from: Int64, to: Int64) async throws -> Bool {
        try await write { db in
            try Self.execute(db, """
                UPDATE uploads SET "offset" = ?, updated_at = ? WHERE id = ? AND "offset" = ? AND digest IS NULL
                """, [to, Self.now(), id, from])
            return db.changesCount > 0
        }
    }

    public func sealUpload(_ id: String, at offset: Int64, digest: Digest) async throws -> Bool {
        try await write { db in
            try Self.execute(db, """
                UPDATE uploads SET digest = ?, updated_at = ? WHERE id = ? AND "offset" = ? AND (digest IS NULL OR digest = ?)
                """, [digest.description, Self.now(), id, offset, digest.description])
            return db.changesCount > 0
        }
    }

    public func deleteUpload(_ id: String) async throws -> Bool {
        try await write { db in
            try Self.execute(db, "DELETE FROM uploads WHERE id = ?", [id])
            return db.changesCount > 0
        }
    }

    public func uploads(updatedBefore date: Date, limit: Int) async throws -> [UploadSession] {
        try await read(singleStatement: true) { db in
            try Self.fetchAll(db, "SELECT * FROM uploads WHERE updated_at < ? ORDER BY updated_at LIMIT ?", [Self.millis(date), limit])
                .compactMap(Self.session)
        }
    }

    static func session(_ row: Row) -> UploadSession? {
        guard let repository = RepositoryName(row["repository"] as String),
            let algorithm = DigestAlgorithm(rawValue: row["algorithm"])
        else { return nil }
        return UploadSession(
            id: row["id"], repository: repository, algorithm: algorithm, offset: row["offset"],
            startedAt: date(row["started_at"]), updatedAt: date(row["updated_at"]),
            digest: (row["digest"] as String?).flatMap { Digest($0) }
        )
    }
}
