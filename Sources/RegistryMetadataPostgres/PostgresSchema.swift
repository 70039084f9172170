import Logging
import PostgresNIO

/// The PostgreSQL schema, as an ordered list of migrations, applied at start-up.
///
/// Names and digests are `COLLATE "C"`: byte order, as SQLite compares text, so that listings and keyset pages come
/// in the same order on both stores whatever the database's locale. Times are milliseconds since 1970 (`BIGINT`).
enum PostgresSchema {
    struct Migration {
        let version: Int
        let name: String
        /// One statement each (the extended query protocol takes one at a time).
        let statements: [String]
    }

    /// Never edit a migration that has shipped; append a new one.
    static let migrations: [Migration] = [
        Migration(version: 1, name: "initial", statements: [
            """
            CREATE TABLE repositories (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                name TEXT COLLATE "C" NOT NULL UNIQUE,
                created_at BIGINT NOT NULL
            )
            """,
            // state: 0 present, 1 being published (bytes may not exist yet), 2 being deleted by garbage collection.
            """
            CREATE TABLE blobs (
                digest TEXT COLLATE "C" PRIMARY KEY,
                size BIGINT NOT NULL,
                state SMALLINT NOT NULL,
                pins INTEGER NOT NULL DEFAULT 0,
                touched_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX blobs_touched ON blobs (touched_at)",
            """
            CREATE TABLE repository_blobs (
                repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
                digest TEXT COLLATE "C" NOT NULL REFERENCES blobs (digest) ON DELETE CASCADE,
                touched_at BIGINT NOT NULL,
                PRIMARY KEY (repository_id, digest)
            )
            """,
            "CREATE INDEX repository_blobs_digest ON repository_blobs (digest)",
            """
            CREATE TABLE manifests (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
                digest TEXT COLLATE "C" NOT NULL,
                media_type TEXT NOT NULL,
                size BIGINT NOT NULL,
                subject TEXT COLLATE "C",
                artifact_type TEXT,
                annotations TEXT,
                created_at BIGINT NOT NULL,
                pulled_at BIGINT,
                content BYTEA NOT NULL,
                UNIQUE (repository_id, digest)
            )
            """,
            "CREATE INDEX manifests_subject ON manifests (repository_id, subject) WHERE subject IS NOT NULL",
            "CREATE INDEX manifests_created ON manifests (created_at)",
            "CREATE INDEX manifests_pulled ON manifests ((COALESCE(pulled_at, created_at)))",
            """
            CREATE TABLE tags (
                repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
                name TEXT COLLATE "C" NOT NULL,
                manifest_id BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
                updated_at BIGINT NOT NULL,
                PRIMARY KEY (repository_id, name)
            )
            """,
            "CREATE INDEX tags_manifest ON tags (manifest_id)",
            // What each manifest references: blobs (is_manifest false) or, for an index, manifests of its repository.
            """
            CREATE TABLE manifest_references (
                manifest_id BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
                repository_id BIGINT NOT NULL,
                child_digest TEXT COLLATE "C" NOT NULL,
                is_manifest BOOLEAN NOT NULL,
                PRIMARY KEY (manifest_id, child_digest)
            )
            """,
            "CREATE INDEX manifest_references_child ON manifest_references (child_digest, is_manifest, repository_id)",
            // writer and claimed_until: the single writer of an upload and until when its claim holds; digest: what the
            // registry computed when it began to finish the upload (sealed).
            """
            CREATE TABLE uploads (
                id TEXT COLLATE "C" PRIMARY KEY,
                repository TEXT COLLATE "C" NOT NULL,
                algorithm TEXT NOT NULL,
                "offset" BIGINT NOT NULL,
                started_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL,
                writer TEXT,
                claimed_until BIGINT,
                digest TEXT COLLATE "C"
            )
            """,
            "CREATE INDEX uploads_updated ON uploads (updated_at)",
            "CREATE INDEX uploads_repository ON uploads (repository)",
            // The referrers an upstream listed for a cached manifest (a JSON array of descriptors), served while the
            // upstream fails; deleted with the manifest.
            """
            CREATE TABLE cached_referrers (
                manifest_id BIGINT PRIMARY KEY REFERENCES manifests (id) ON DELETE CASCADE,
                content BYTEA NOT NULL,
                updated_at BIGINT NOT NULL
            )
            """,
        ]),
    ]

    /// The key of the advisory lock under which migrations run: "pier" in ASCII.
    static let migrationLock: Int64 = 0x7069_6572

    /// Creates `schema` if missing and applies the migrations it lacks, in one transaction holding an advisory lock.
    ///
    /// Replicas starting together on an empty database would otherwise race to create the same tables (and fail on
    /// the catalog's unique indexes): `pg_advisory_xact_lock` makes the others wait, and when they get the lock they
    /// find the migrations recorded and apply none. PostgreSQL's DDL is transactional, so a failed migration leaves
    /// nothing behind, and the transaction-scoped lock cannot outlive it (a session lock on a pooled connection could,
    /// if unlocking failed).
    ///
    /// The connection is the store's first, opened on its own: a server that cannot be reached fails start-up at once
    /// (the pool would keep retrying for a minute before failing a request).
    static func migrate(_ connection: PostgresConnection, schema: String, logger: Logger) async throws {
        try await connection.withTransaction(logger: logger) { connection in
            try await connection.rows("SELECT pg_advisory_xact_lock(\(migrationLock))", logger)
            // Only when missing: CREATE SCHEMA needs the CREATE privilege on the database even with IF NOT EXISTS, which a
            // role given a schema by its administrator may lack. The name is a plain identifier (Configuration).
            let exists = try await connection.rows("SELECT 1 FROM pg_namespace WHERE nspname = \(schema)", logger)
            if exists.isEmpty {
                try await connection.rows(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(schema)"), logger)
            }
            try await connection.rows("""
                CREATE TABLE IF NOT EXISTS pier_migrations (
                    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
                """, logger)
            let applied = Set(try await connection.rows("SELECT version FROM pier_migrations", logger)
                .map { try $0.decode(Int.self) })
            for migration in migrations where !applied.contains(migration.version) {
                logger.info("applying metadata migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
                for statement in migration.statements {
                    try await connection.rows(PostgresQuery(unsafeSQL: statement), logger)
                }
                try await connection.rows(
                    "INSERT INTO pier_migrations (version, name) VALUES (\(migration.version), \(migration.name))", logger)
            }
        }
    }
}
