//! Full-text search over documents: on PostgreSQL a side table `documents_search` holding
//! each document's weighted `tsvector` (title weight A, content weight B, the
//! language-neutral `simple` configuration, since packs mix languages) with a GIN index,
//! kept in step by a trigger, queried with `@@` and ranked by `ts_rank` over the stored
//! vectors (an expression index alone would rebuild every matching vector to rank it); on
//! SQLite an FTS5 table (Unicode words, case folded, accents kept as PostgreSQL's `simple` does) kept in step with `documents` by triggers, ranked by
//! `bm25` with the title weighted double. The documents table itself is unchanged, so its
//! entity is too (and stays the same on both databases).
//!
//! FTS5 rows are found by the integer rowid FTS5 hands out, recorded per document in
//! `documents_fts_map`: the documents table has no integer key, and the implicit rowid of
//! such a table may change on `VACUUM`, so it cannot serve as the link.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A document's weighted text vector, from its row (`NEW` in the trigger).
const PG_VECTOR_OF_NEW: &str = "setweight(to_tsvector('simple'::regconfig, coalesce(NEW.title, '')), 'A') || setweight(to_tsvector('simple'::regconfig, NEW.content), 'B')";

fn pg_up() -> Vec<String> {
    vec![
        "CREATE TABLE documents_search (doc_id uuid NOT NULL PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE, vector tsvector NOT NULL)".into(),
        "CREATE INDEX idx_documents_search_vector ON documents_search USING gin (vector)".into(),
        format!(
            "CREATE FUNCTION documents_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             INSERT INTO documents_search (doc_id, vector) VALUES (NEW.id, {PG_VECTOR_OF_NEW}) \
             ON CONFLICT (doc_id) DO UPDATE SET vector = EXCLUDED.vector; RETURN NEW; END $$"
        ),
        "CREATE TRIGGER documents_search_sync AFTER INSERT OR UPDATE OF title, content ON documents FOR EACH ROW EXECUTE FUNCTION documents_search_sync()".into(),
        "INSERT INTO documents_search (doc_id, vector) SELECT id, setweight(to_tsvector('simple'::regconfig, coalesce(title, '')), 'A') || setweight(to_tsvector('simple'::regconfig, content), 'B') FROM documents".into(),
    ]
}

const PG_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS documents_search_sync ON documents",
    "DROP FUNCTION IF EXISTS documents_search_sync()",
    "DROP TABLE IF EXISTS documents_search",
];

const SQLITE_UP: &[&str] = &[
    "CREATE VIRTUAL TABLE documents_fts USING fts5(title, content, tokenize = 'unicode61 remove_diacritics 0')",
    "CREATE TABLE documents_fts_map (doc_id uuid_text NOT NULL PRIMARY KEY, fts_rowid integer NOT NULL)",
    "CREATE UNIQUE INDEX idx_documents_fts_map_rowid ON documents_fts_map (fts_rowid)",
    "CREATE TRIGGER documents_fts_insert AFTER INSERT ON documents BEGIN
        INSERT INTO documents_fts (title, content) VALUES (coalesce(new.title, ''), new.content);
        INSERT INTO documents_fts_map (doc_id, fts_rowid) VALUES (new.id, last_insert_rowid());
    END",
    "CREATE TRIGGER documents_fts_update AFTER UPDATE OF title, content ON documents BEGIN
        UPDATE documents_fts SET title = coalesce(new.title, ''), content = new.content
        WHERE rowid = (SELECT fts_rowid FROM documents_fts_map WHERE doc_id = new.id);
    END",
    "CREATE TRIGGER documents_fts_delete AFTER DELETE ON documents BEGIN
        DELETE FROM documents_fts WHERE rowid = (SELECT fts_rowid FROM documents_fts_map WHERE doc_id = old.id);
        DELETE FROM documents_fts_map WHERE doc_id = old.id;
    END",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS documents_fts_delete",
    "DROP TRIGGER IF EXISTS documents_fts_update",
    "DROP TRIGGER IF EXISTS documents_fts_insert",
    "DROP TABLE IF EXISTS documents_fts_map",
    "DROP TABLE IF EXISTS documents_fts",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                for sql in pg_up() {
                    db.execute_unprepared(&sql).await?;
                }
            }
            _ => {
                for sql in SQLITE_UP {
                    db.execute_unprepared(sql).await?;
                }
                // Documents written before this migration (their current rowid is only
                // a starting number: the map holds the link from now on).
                db.execute_unprepared(
                    "INSERT INTO documents_fts (rowid, title, content) SELECT rowid, coalesce(title, ''), content FROM documents",
                )
                .await?;
                db.execute_unprepared(
                    "INSERT INTO documents_fts_map (doc_id, fts_rowid) SELECT id, rowid FROM documents",
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                for sql in PG_DOWN {
                    db.execute_unprepared(sql).await?;
                }
            }
            _ => {
                for sql in SQLITE_DOWN {
                    db.execute_unprepared(sql).await?;
                }
            }
        }
        Ok(())
    }
}
