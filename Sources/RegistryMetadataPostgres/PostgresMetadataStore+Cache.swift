import Foundation
import NIOFoundationCompat
import NIOCore
import PostgresNIO
import RegistryCore
import RegistryStorage

// The pull-through cache's records: when manifests were pulled, what cached content occupies, and the referrers an
// upstream listed. Prefixes become ranges of names (`prefix/` up to `prefix0`, as "0" follows "/"), passed as two
// arrays, so that `_` and `%` in names are plain characters and no SQL is assembled from them.
extension PostgresMetadataStore {
    public func touchManifest(_ digest: Digest, in repository: RepositoryName) async throws {
        try await rows("""
            UPDATE manifests m SET pulled_at = \(Self.now()) FROM repositories r
            WHERE m.repository_id = r.id AND r.name = \(repository.value) AND m.digest = \(digest.description)
            """)
    }

    public func leastRecentlyPulledManifests(under prefixes: [String], pulledBefore date: Date, limit: Int) async throws -> [ManifestLocation] {
        guard !prefixes.isEmpty else { return [] }
        let (low, high) = Self.ranges(prefixes)
        return try await rows("""
            SELECT r.name, m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id
            WHERE EXISTS (SELECT 1 FROM unnest(\(low)::text[], \(high)::text[]) AS p(low, high) WHERE r.name >= p.low AND r.name < p.high)
              AND COALESCE(m.pulled_at, m.created_at) < \(Self.millis(date))
            ORDER BY COALESCE(m.pulled_at, m.created_at), m.id LIMIT \(limit)
            """).compactMap { row in
            let (name, digest) = try row.decode((String, String).self)
            guard let name = RepositoryName(name), let digest = Digest(digest) else { return nil }
            return ManifestLocation(repository: name, digest: digest)
        }
    }

    public func cachedBytes(under prefixes: [String]) async throws -> Int64 {
        guard !prefixes.isEmpty else { return 0 }
        let (low, high) = Self.ranges(prefixes)
        return try await rows("""
            SELECT COALESCE(SUM(b.size), 0)::bigint FROM blobs b
            WHERE b.state = 0
              AND b.digest IN (
                SELECT mr.child_digest FROM manifest_references mr JOIN repositories r ON r.id = mr.repository_id
                WHERE NOT mr.is_manifest
                  AND EXISTS (SELECT 1 FROM unnest(\(low)::text[], \(high)::text[]) AS p(low, high) WHERE r.name >= p.low AND r.name < p.high))
              AND NOT EXISTS (
                SELECT 1 FROM manifest_references mr2 JOIN repositories r2 ON r2.id = mr2.repository_id
                WHERE mr2.child_digest = b.digest AND NOT mr2.is_manifest
                  AND NOT EXISTS (SELECT 1 FROM unnest(\(low)::text[], \(high)::text[]) AS p(low, high) WHERE r2.name >= p.low AND r2.name < p.high))
            """).first?.decode(Int64.self) ?? 0
    }

    public func unreferencedBlobs(linkedOnlyUnder prefixes: [String], limit: Int) async throws -> [Digest] {
        guard !prefixes.isEmpty else { return [] }
        let (low, high) = Self.ranges(prefixes)
        return try await rows("""
            SELECT DISTINCT rb.digest FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
            JOIN blobs b ON b.digest = rb.digest
            WHERE b.state = 0
              AND EXISTS (SELECT 1 FROM unnest(\(low)::text[], \(high)::text[]) AS p(low, high) WHERE r.name >= p.low AND r.name < p.high)
              AND NOT EXISTS (SELECT 1 FROM manifest_references mr WHERE mr.child_digest = rb.digest AND NOT mr.is_manifest)
              AND NOT EXISTS (
                SELECT 1 FROM repository_blobs rb2 JOIN repositories r2 ON r2.id = rb2.repository_id
                WHERE rb2.digest = rb.digest
                  AND NOT EXISTS (SELECT 1 FROM unnest(\(low)::text[], \(high)::text[]) AS p(low, high) WHERE r2.name >= p.low AND r2.name < p.high))
            ORDER BY rb.digest LIMIT \(limit)
            """).compactMap { Digest(try $0.decode(String.self)) }
    }

    public func cacheReferrers(_ referrers: [Descriptor], of subject: Digest, in repository: RepositoryName) async throws -> Bool {
        let content = ByteBuffer(data: try JSONEncoder().encode(referrers))
        do {
            // One statement: the manifest is found and the record written together.
            return try await !rows("""
                INSERT INTO cached_referrers (manifest_id, content, updated_at)
                SELECT m.id, \(content), \(Self.now()) FROM manifests m JOIN repositories r ON r.id = m.repository_id
                WHERE r.name = \(repository.value) AND m.digest = \(subject.description)
                ON CONFLICT (manifest_id) DO UPDATE SET content = excluded.content, updated_at = excluded.updated_at
                RETURNING 1
                """).isEmpty
        } catch let error as MetadataStoreError where Self.sqlState(error.cause ?? error) == "23503" {
            // The manifest was deleted between the statement's snapshot and its foreign-key check: not recorded.
            return false
        }
    }

    public func cachedReferrers(of subject: Digest, in repository: RepositoryName) async throws -> [Descriptor]? {
        let content = try await rows("""
            SELECT c.content FROM cached_referrers c JOIN manifests m ON m.id = c.manifest_id
            JOIN repositories r ON r.id = m.repository_id WHERE r.name = \(repository.value) AND m.digest = \(subject.description)
            """).first?.decode(ByteBuffer.self)
        // What this store wrote; unreadable would mean a damaged row, which is as good as none.
        return content.flatMap { try? JSONDecoder().decode([Descriptor].self, from: Data($0.readableBytesView)) }
    }

    /// The lower and upper bounds of the names under each prefix.
    static func ranges(_ prefixes: [String]) -> ([String], [String]) {
        (prefixes.map { $0 + "/" }, prefixes.map { $0 + "0" })
    }
}
