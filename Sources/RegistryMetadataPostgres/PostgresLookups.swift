import NIOCore
import PostgresNIO

/// The lookups behind every pull — a manifest by tag or digest, a blob in a repository — as prepared statements:
/// PostgreSQL parses and plans each once per connection, and every later lookup is one Bind/Execute, one round trip.
///
/// The statement's tables are resolved, when it is prepared, in the connection's schema (`search_path`).
enum PostgresLookups {
    /// A manifest by tag; the bytes only when `$3` is true (a GET), not for a HEAD.
    struct ManifestByTag: PostgresPreparedStatement {
        static let name = "pier_manifest_by_tag"
        static let sql = """
            SELECT m.digest, m.media_type, m.size, CASE WHEN $3::boolean THEN m.content END FROM repositories r
            JOIN tags t ON t.repository_id = r.id JOIN manifests m ON m.id = t.manifest_id
            WHERE r.name = $1 AND t.name = $2
            """
        typealias Row = (String, String, Int64, ByteBuffer?)

        var repository: String
        var tag: String
        var withContent: Bool

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 3)
            bindings.append(repository)
            bindings.append(tag)
            bindings.append(withContent)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// A manifest by digest; the bytes only when `$3` is true.
    struct ManifestByDigest: PostgresPreparedStatement {
        static let name = "pier_manifest_by_digest"
        static let sql = """
            SELECT m.digest, m.media_type, m.size, CASE WHEN $3::boolean THEN m.content END FROM repositories r
            JOIN manifests m ON m.repository_id = r.id WHERE r.name = $1 AND m.digest = $2
            """
        typealias Row = (String, String, Int64, ByteBuffer?)

        var repository: String
        var digest: String
        var withContent: Bool

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 3)
            bindings.append(repository)
            bindings.append(digest)
            bindings.append(withContent)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// A stored blob linked to a repository: its size and when the link was last touched.
    struct BlobInRepository: PostgresPreparedStatement {
        static let name = "pier_blob_in_repository"
        static let sql = """
            SELECT b.size, rb.touched_at FROM repositories r
            JOIN repository_blobs rb ON rb.repository_id = r.id JOIN blobs b ON b.digest = rb.digest
            WHERE r.name = $1 AND rb.digest = $2 AND b.state = 0
            """
        typealias Row = (Int64, Int64)

        var repository: String
        var digest: String

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(repository)
            bindings.append(digest)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }
}
