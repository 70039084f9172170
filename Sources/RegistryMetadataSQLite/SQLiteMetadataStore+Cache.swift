import Foundation
import GRDB
import RegistryCore
import RegistryStorage

extension SQLiteMetadataStore {
    public func touchManifest(_ digest: Digest, in repository: RepositoryName) async throws {
        try await write { db in
            guard let id = try Self.repositoryID(db, repository) else { return }
            try Self.execute(db, "UPDATE manifests SET pulled_at = ? WHERE repository_id = ? AND digest = ?", [Self.now(), id, digest.description])
        }
    }

    public func leastRecentlyPulledManifests(under prefixes: [String], pulledBefore date: Date, limit: Int) async throws -> [ManifestLocation] {
        guard !prefixes.isEmpty else { return [] }
        let (condition, arguments) = Self.under(prefixes, column: "r.name")
        return try await read { db in
            try Self.fetchAll(db, """
                SELECT r.name, m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id
                WHERE (\(condition)) AND COALESCE(m.pulled_at, m.created_at) < ?
                ORDER BY COALESCE(m.pulled_at, m.created_at), m.id LIMIT ?
                """, Self.arguments(arguments + [Self.millis(date), limit])).compactMap { row in
                guard let name = RepositoryName(row[0] as String), let digest = Digest(row[1] as String) else { return nil }
                return ManifestLocation(repository: name, digest: digest)
            }
        }
    }

    public func cachedBytes(under prefixes: [String]) async throws -> Int64 {
        guard !prefixes.isEmpty else { return 0 }
        let (inside, insideArguments) = Self.under(prefixes, column: "r.name")
        let (elsewhere, elsewhereArguments) = Self.under(prefixes, column: "r2.name")
        return try await read { db in
            let row = try Self.fetchOne(db, """
                SELECT COALESCE(SUM(b.size), 0) FROM blobs b
                WHERE b.state = 0
                  AND b.digest IN (
                    SELECT mr.child_digest FROM manifest_references mr JOIN repositories r ON r.id = mr.repository_id
                    WHERE mr.is_manifest = 0 AND (\(inside)))
                  AND NOT EXISTS (
                    SELECT 1 FROM manifest_references mr2 JOIN repositories r2 ON r2.id = mr2.repository_id
                    WHERE mr2.child_digest = b.digest AND mr2.is_manifest = 0 AND NOT (\(elsewhere)))
                """, Self.arguments(insideArguments + elsewhereArguments))
            return row?[0] ?? 0
        }
    }

    public func unreferencedBlobs(linkedOnlyUnder prefixes: [String], limit: Int) async throws -> [Digest] {
        guard !prefixes.isEmpty else { return [] }
        let (inside, insideArguments) = Self.under(prefixes, column: "r.name")
        let (elsewhere, elsewhereArguments) = Self.under(prefixes, column: "r2.name")
        return try await read { db in
            try String.fetchAll(db, sql: """
                SELECT DISTINCT rb.digest FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
                JOIN blobs b ON b.digest = rb.digest
                WHERE b.state = 0 AND (\(inside))
                  AND NOT EXISTS (SELECT 1 FROM manifest_references mr WHERE mr.child_digest = rb.digest AND mr.is_manifest = 0)
                  AND NOT EXISTS (
                    SELECT 1 FROM repository_blobs rb2 JOIN repositories r2 ON r2.id = rb2.repository_id
                    WHERE rb2.digest = rb.digest AND NOT (\(elsewhere)))
                ORDER BY rb.digest LIMIT ?
                """, arguments: Self.arguments(insideArguments + elsewhereArguments + [limit])).compactMap { Digest($0) }
        }
    }

    public func cacheReferrers(_ referrers: [Descriptor], of subject: Digest, in repository: RepositoryName) async throws -> Bool {
        let content = try JSONEncoder().encode(referrers)
        return try await write { db in
            guard let manifestID = try Int64.fetchOne(db.cachedStatement(sql: """
                SELECT m.id FROM manifests m JOIN repositories r ON r.id = m.repository_id WHERE r.name = ? AND m.digest = ?
                """), arguments: [repository.value, subject.description])
            else { return false }
            try Self.execute(db, """
                INSERT INTO cached_referrers (manifest_id, content, updated_at) VALUES (?, ?, ?)
                ON CONFLICT (manifest_id) DO UPDATE SET content = excluded.content, updated_at = excluded.updated_at
                """, [manifestID, content, Self.now()])
            return true
        }
    }

    public func cachedReferrers(of subject: Digest, in repository: RepositoryName) async throws -> [Descriptor]? {
        let content = try await read(singleStatement: true) { db in
            try Data.fetchOne(db.cachedStatement(sql: """
                SELECT c.content FROM cached_referrers c JOIN manifests m ON m.id = c.manifest_id
                JOIN repositories r ON r.id = m.repository_id WHERE r.name = ? AND m.digest = ?
                """), arguments: [repository.value, subject.description])
        }
        // What this store wrote; unreadable would mean a damaged row, which is as good as none.
        return content.flatMap { try? JSONDecoder().decode([Descriptor].self, from: $0) }
    }

    static func arguments(_ values: [any DatabaseValueConvertible & Sendable]) -> StatementArguments {
        StatementArguments(values.map { $0 as (any DatabaseValueConvertible)? })
    }

    /// `column` names a repository under one of `prefixes` (`prefix/…`): a range per prefix, so that `_` and `%` in
    /// names are plain characters and the unique index on names serves it.
    static func under(_ prefixes: [String], column: String) -> (String, [any DatabaseValueConvertible & Sendable]) {
        var parts: [String] = []
        var arguments: [any DatabaseValueConvertible & Sendable] = []
        for prefix in prefixes {
            // "0" follows "/" in ASCII: every name starting with "prefix/" sorts in ["prefix/", "prefix0").
            parts.append("(\(column) >= ? AND \(column) < ?)")
            arguments.append(prefix + "/")
            arguments.append(prefix + "0")
        }
        return (parts.joined(separator: " OR "), arguments)
    }
}
