import GRDB

/// The SQLite schema, as an ordered list of migrations.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE repositories (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    created_at INTEGER NOT NULL
                );
                -- state: 0 present, 1 being published (bytes may not exist yet), 2 being deleted by GC.
                CREATE TABLE blobs (
                    digest TEXT PRIMARY KEY,
                    size INTEGER NOT NULL,
                    state INTEGER NOT NULL,
                    pins INTEGER NOT NULL DEFAULT 0,
                    touched_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX blobs_touched ON blobs(touched_at);
                CREATE TABLE repository_blobs (
                    repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                    digest TEXT NOT NULL REFERENCES blobs(digest) ON DELETE CASCADE,
                    touched_at INTEGER NOT NULL,
                    PRIMARY KEY (repository_id, digest)
                ) WITHOUT ROWID;
                CREATE INDEX repository_blobs_digest ON repository_blobs(digest);
                CREATE TABLE manifests (
                    id INTEGER PRIMARY KEY,
                    repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                    digest TEXT NOT NULL,
                    media_type TEXT NOT NULL,
                    size INTEGER NOT NULL,
                    subject TEXT,
                    artifact_type TEXT,
                    annotations TEXT,
                    created_at INTEGER NOT NULL,
                    content BLOB NOT NULL,
                    UNIQUE (repository_id, digest)
                );
                CREATE INDEX manifests_subject ON manifests(repository_id, subject) WHERE subject IS NOT NULL;
                CREATE INDEX manifests_created ON manifests(created_at);
                CREATE TABLE tags (
                    repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    manifest_id INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
                    updated_at INTEGER NOT NULL,
                    PRIMARY KEY (repository_id, name)
                ) WITHOUT ROWID;
                CREATE INDEX tags_manifest ON tags(manifest_id);
                -- What each manifest references: blobs (is_manifest = 0) or, for an index, manifests of its repository.
                CREATE TABLE manifest_references (
                    manifest_id INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
                    repository_id INTEGER NOT NULL,
                    child_digest TEXT NOT NULL,
                    is_manifest INTEGER NOT NULL,
                    PRIMARY KEY (manifest_id, child_digest)
                ) WITHOUT ROWID;
                CREATE INDEX manifest_references_child ON manifest_references(child_digest, is_manifest, repository_id);
                CREATE TABLE uploads (
                    id TEXT PRIMARY KEY,
                    repository TEXT NOT NULL,
                    algorithm TEXT NOT NULL,
                    "offset" INTEGER NOT NULL,
                    started_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX uploads_updated ON uploads(updated_at);
                """)
        }
        migrator.registerMigration("v2-pulled-at") { db in
            // When a manifest was last pulled (milliseconds), for the expiry of cached content; NULL: never.
            try db.execute(sql: """
                ALTER TABLE manifests ADD COLUMN pulled_at INTEGER;
                CREATE INDEX manifests_pulled ON manifests(COALESCE(pulled_at, created_at));
                """)
        }
        migrator.registerMigration("v3-uploads-repository") { db in
            // Counting a repository's open sessions, for the cap on them.
            try db.execute(sql: "CREATE INDEX uploads_repository ON uploads(repository);")
        }
        migrator.registerMigration("v4-upload-claims") { db in
            // The single writer of an upload and until when its claim holds (milliseconds), and the digest the registry
            // computed when it began to finish the upload.
            try db.execute(sql: """
                ALTER TABLE uploads ADD COLUMN writer TEXT;
                ALTER TABLE uploads ADD COLUMN claimed_until INTEGER;
                ALTER TABLE uploads ADD COLUMN digest TEXT;
                """)
        }
        migrator.registerMigration("v5-cached-referrers") { db in
            // The referrers an upstream listed for a cached manifest (a JSON array of descriptors), served while the
            // upstream fails; deleted with the manifest.
            try db.execute(sql: """
                CREATE TABLE cached_referrers (
                    manifest_id INTEGER PRIMARY KEY REFERENCES manifests(id) ON DELETE CASCADE,
                    content BLOB NOT NULL,
                    updated_at INTEGER NOT NULL
                );
                """)
        }
        return migrator
    }
}
