import Foundation
import NIOCore
import PostgresNIO
import RegistryCore
import RegistryStorage

extension PostgresMetadataStore {
    public func putManifest(_ record: ManifestRecord, tags: [Tag]) async throws {
        let annotations: String? = record.manifest.annotations.flatMap { annotations in
            (try? JSONEncoder().encode(annotations)).map { String(decoding: $0, as: UTF8.self) }
        }
        // Sorted, so that concurrent pushes lock shared rows (blobs, tags) in one order and rarely deadlock.
        let blobs = Set(record.manifest.blobs.map(\.description)).sorted()
        let manifests = Set(record.manifest.manifests.map(\.description)).sorted()
        let children = manifests.filter { $0 != record.digest.description }
        let tagNames = Set(tags.map(\.value)).sorted()
        try await transaction { connection in
            let id = try await Self.ensureRepository(connection, record.repository, logger)
            // FOR SHARE on what the manifest references: garbage collection claims a blob (or deletes a manifest) only
            // after locking its row, so it waits for this push to commit and then counts its references; a claim that
            // came first has changed the row, and it is not found here.
            // (An image lists no manifests and an index no blobs: the query that would find nothing is not sent.)
            let foundBlobs = blobs.isEmpty ? [] : Set(try await connection.rows("""
                SELECT b.digest FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
                WHERE rb.repository_id = \(id) AND rb.digest = ANY(\(blobs)) AND b.state = 0
                ORDER BY b.digest FOR SHARE OF b
                """, logger).map { try $0.decode(String.self) })
            let foundManifests = children.isEmpty ? [] : Set(try await connection.rows("""
                SELECT digest FROM manifests WHERE repository_id = \(id) AND digest = ANY(\(children)) ORDER BY digest FOR SHARE
                """, logger).map { try $0.decode(String.self) })
            let missing = (blobs.filter { !foundBlobs.contains($0) } + children.filter { !foundManifests.contains($0) })
                .compactMap { Digest($0) }.sorted()
            guard missing.isEmpty || !record.referencesRequired else {
                throw MetadataStoreError(.missingReferences, "manifest references unknown content", digests: missing)
            }
            let now = Self.now()
            var manifestID: Int64?
            for _ in 0..<3 where manifestID == nil {
                // An existing manifest is made young again under its row lock, so a collection deleting it either
                // went first (then it is inserted anew) or waits and finds it young and tagged.
                if let existing = try await connection.rows("""
                    UPDATE manifests SET created_at = \(now) WHERE repository_id = \(id) AND digest = \(record.digest.description) RETURNING id
                    """, logger).first {
                    manifestID = try existing.decode(Int64.self)
                    break
                }
                // A concurrent push of the same manifest that commits first makes this insert do nothing; the update
                // above then finds its row.
                guard let inserted = try await connection.rows("""
                    INSERT INTO manifests (repository_id, digest, media_type, size, subject, artifact_type, annotations, created_at, content)
                    VALUES (\(id), \(record.digest.description), \(record.manifest.mediaType), \(Int64(record.content.count)),
                            \(record.manifest.subject?.description), \(record.manifest.artifactType), \(annotations), \(now),
                            \(ByteBuffer(bytes: record.content)))
                    ON CONFLICT (repository_id, digest) DO NOTHING RETURNING id
                    """, logger).first else { continue }
                let newID = try inserted.decode(Int64.self)
                manifestID = newID
                try await connection.rows("""
                    INSERT INTO manifest_references (manifest_id, repository_id, child_digest, is_manifest)
                    SELECT \(newID), \(id), child, false FROM unnest(\(blobs)::text[]) AS child
                    UNION ALL SELECT \(newID), \(id), child, true FROM unnest(\(manifests)::text[]) AS child
                    ON CONFLICT DO NOTHING
                    """, logger)
            }
            guard let manifestID else { throw MetadataStoreError(.database, "cannot record manifest \(record.digest)") }
            try await connection.rows("""
                INSERT INTO tags (repository_id, name, manifest_id, updated_at)
                SELECT \(id), name, \(manifestID), \(now) FROM unnest(\(tagNames)::text[]) AS name ORDER BY name
                ON CONFLICT (repository_id, name) DO UPDATE SET manifest_id = excluded.manifest_id, updated_at = excluded.updated_at
                """, logger)
        }
    }

    public func manifest(_ reference: Reference, in repository: RepositoryName, withContent: Bool) async throws -> StoredManifest? {
        // One prepared statement, so one round trip per manifest GET or HEAD (PostgresLookups).
        let row: PostgresLookups.ManifestByTag.Row?
        switch reference {
        case .tag(let tag):
            row = try await first(PostgresLookups.ManifestByTag(repository: repository.value, tag: tag.value, withContent: withContent))
        case .digest(let digest):
            row = try await first(PostgresLookups.ManifestByDigest(
                repository: repository.value, digest: digest.description, withContent: withContent))
        }
        guard let (digest, mediaType, size, content) = row, let digest = Digest(digest) else { return nil }
        return StoredManifest(digest: digest, mediaType: mediaType, size: size, content: content.map { Array($0.readableBytesView) })
    }

    public func deleteManifest(_ digest: Digest, in repository: RepositoryName) async throws -> Bool {
        // Its tags, references and cached referrers go with it (ON DELETE CASCADE).
        try await !rows("""
            DELETE FROM manifests m USING repositories r
            WHERE m.repository_id = r.id AND r.name = \(repository.value) AND m.digest = \(digest.description) RETURNING 1
            """).isEmpty
    }

    public func deleteTag(_ tag: Tag, in repository: RepositoryName) async throws -> Bool {
        try await !rows("""
            DELETE FROM tags t USING repositories r
            WHERE t.repository_id = r.id AND r.name = \(repository.value) AND t.name = \(tag.value) RETURNING 1
            """).isEmpty
    }

    /// What else makes a manifest `m` collectable, besides its age: untagged, listed by no index of its repository, and
    /// not a referrer of a manifest that exists.
    private static let collectableCondition = """
        NOT EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id)
        AND NOT EXISTS (SELECT 1 FROM manifest_references mr
                        WHERE mr.child_digest = m.digest AND mr.is_manifest AND mr.repository_id = m.repository_id)
        AND NOT (m.subject IS NOT NULL AND EXISTS (SELECT 1 FROM manifests s
                                                   WHERE s.repository_id = m.repository_id AND s.digest = m.subject))
        """

    public func collectableManifests(createdBefore date: Date, limit: Int) async throws -> [ManifestLocation] {
        try await rows("""
            SELECT r.name, m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id
            WHERE m.created_at < \(Self.millis(date)) AND \(unescaped: Self.collectableCondition)
            ORDER BY m.id LIMIT \(limit)
            """).compactMap { row in
            let (name, digest) = try row.decode((String, String).self)
            guard let name = RepositoryName(name), let digest = Digest(digest) else { return nil }
            return ManifestLocation(repository: name, digest: digest)
        }
    }

    public func deleteManifestIfCollectable(_ location: ManifestLocation, createdBefore date: Date) async throws -> Bool {
        // Lock, then check: a DELETE whose subqueries ran in its own snapshot would not see a tag or an index that a
        // concurrent push committed while the DELETE waited for the row. After the lock, the second statement sees it.
        try await transaction { connection in
            guard let row = try await connection.rows("""
                SELECT m.id FROM manifests m JOIN repositories r ON r.id = m.repository_id
                WHERE r.name = \(location.repository.value) AND m.digest = \(location.digest.description) FOR UPDATE OF m
                """, logger).first else { return false }
            let id = try row.decode(Int64.self)
            return try await !connection.rows("""
                DELETE FROM manifests m WHERE m.id = \(id) AND m.created_at < \(Self.millis(date)) AND \(unescaped: Self.collectableCondition)
                RETURNING 1
                """, logger).isEmpty
        }
    }
}
