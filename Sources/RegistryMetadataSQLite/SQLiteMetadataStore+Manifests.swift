import Foundation
import GRDB
import RegistryCore
import RegistryStorage

extension SQLiteMetadataStore {
    public func putManifest(_ record: ManifestRecord, tags: [Tag]) async throws {
        let annotations: String? = record.manifest.annotations.flatMap { annotations in
            (try? JSONEncoder().encode(annotations)).map { String(decoding: $0, as: UTF8.self) }
        }
        try await write { db in
            let id = try Self.ensureRepository(db, record.repository)
            var missing: [Digest] = []
            for digest in Set(record.manifest.blobs) {
                let found = try Self.fetchOne(db, """
                    SELECT 1 FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
                    WHERE rb.repository_id = ? AND rb.digest = ? AND b.state = 0
                    """, [id, digest.description])
                if found == nil { missing.append(digest) }
            }
            for digest in Set(record.manifest.manifests) where digest != record.digest {
                let found = try Self.fetchOne(db, "SELECT 1 FROM manifests WHERE repository_id = ? AND digest = ?", [id, digest.description])
                if found == nil { missing.append(digest) }
            }
            guard missing.isEmpty || !record.referencesRequired else {
                throw MetadataStoreError(.missingReferences, "manifest references unknown content", digests: missing.sorted())
            }
            let now = Self.now()
            let manifestID: Int64
            if let existing = try Int64.fetchOne(
                db.cachedStatement(sql: "SELECT id FROM manifests WHERE repository_id = ? AND digest = ?"),
                arguments: [id, record.digest.description]
            ) {
                try Self.execute(db, "UPDATE manifests SET created_at = ? WHERE id = ?", [now, existing])
                manifestID = existing
            } else {
                try Self.execute(db, """
                    INSERT INTO manifests (repository_id, digest, media_type, size, subject, artifact_type, annotations, created_at, content)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, [
                        id, record.digest.description, record.manifest.mediaType, record.content.count,
                        record.manifest.subject?.description, record.manifest.artifactType, annotations, now, Data(record.content),
                    ])
                manifestID = db.lastInsertedRowID
                for digest in Set(record.manifest.blobs) {
                    try Self.execute(db, "INSERT OR IGNORE INTO manifest_references VALUES (?, ?, ?, 0)", [manifestID, id, digest.description])
                }
                for digest in Set(record.manifest.manifests) {
                    try Self.execute(db, "INSERT OR IGNORE INTO manifest_references VALUES (?, ?, ?, 1)", [manifestID, id, digest.description])
                }
            }
            for tag in tags {
                try Self.execute(db, """
                    INSERT INTO tags (repository_id, name, manifest_id, updated_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT (repository_id, name) DO UPDATE SET manifest_id = excluded.manifest_id, updated_at = excluded.updated_at
                    """, [id, tag.value, manifestID, now])
            }
        }
    }

    public func manifest(_ reference: Reference, in repository: RepositoryName, withContent: Bool) async throws -> StoredManifest? {
        try await lookups.manifest(reference, in: repository, withContent: withContent)
    }

    public func deleteManifest(_ digest: Digest, in repository: RepositoryName) async throws -> Bool {
        try await write { db in
            guard let id = try Self.repositoryID(db, repository) else { return false }
            try Self.execute(db, "DELETE FROM manifests WHERE repository_id = ? AND digest = ?", [id, digest.description])
            return db.changesCount > 0
        }
    }

    public func deleteTag(_ tag: Tag, in repository: RepositoryName) async throws -> Bool {
        try await write { db in
            guard let id = try Self.repositoryID(db, repository) else { return false }
            try Self.execute(db, "DELETE FROM tags WHERE repository_id = ? AND name = ?", [id, tag.value])
            return db.changesCount > 0
        }
    }

    /// The conditions that make a manifest collectable, for a row aliased `m`.
    private static let collectableCondition = """
        m.created_at < ?
        AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id)
        AND NOT EXISTS (SELECT 1 FROM manifest_references mr
                        WHERE mr.child_digest = m.digest AND mr.is_manifest = 1 AND mr.repository_id = m.repository_id)
        AND NOT (m.subject IS NOT NULL AND EXISTS (SELECT 1 FROM manifests s
                                                   WHERE s.repository_id = m.repository_id AND s.digest = m.subject))
        """

    public func collectableManifests(createdBefore date: Date, limit: Int) async throws -> [ManifestLocation] {
        try await read { db in
            try Self.fetchAll(db, """
                SELECT r.name, m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id
                WHERE \(Self.collectableCondition) LIMIT ?
                """, [Self.millis(date), limit]).compactMap { row in
                guard let name = RepositoryName(row[0] as String), let digest = Digest(row[1] as String) else { return nil }
                return ManifestLocation(repository: name, digest: digest)
            }
        }
    }

    public func deleteManifestIfCollectable(_ location: ManifestLocation, createdBefore date: Date) async throws -> Bool {
        try await write { db in
            guard let id = try Self.repositoryID(db, location.repository) else { return false }
            try Self.execute(db, """
                DELETE FROM manifests WHERE id IN (
                    SELECT m.id FROM manifests m WHERE m.repository_id = ? AND m.digest = ? AND \(Self.collectableCondition))
                """, [id, location.digest.description, Self.millis(date)])
            return db.changesCount > 0
        }
    }
}
