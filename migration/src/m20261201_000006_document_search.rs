//! Full-text search over documents: on PostgreSQL a GIN index on a weighted `tsvector`
//! expression (title weight A, content weight B, the language-neutral `simple`
//! configuration, since packs mix languages), queried with `@@` and ranked by `ts_rank`; on
//! SQLite an FTS5 table (Unicode words, case folded, accents kept as PostgreSQL's `simple` does) kept in step with `documents` by triggers, ranked by
//! `bm25` with the title weighted double. The documents table itself is unchanged, so its
//! entity is too.
//!
//! FTS5 rows are found by the integer rowid FTS5 hands out, recorded per document in
//! `documents_fts_map`: the documents table has no integer key, and the implicit rowid of
//! such a table may change on `VACUUM`, so it cannot serve as the link.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The indexed expression; queries must repeat it exactly for PostgreSQL to use the index.
pub const PG_DOCUMENT_VECTOR: &str = "(setweight(to_tsvector('simple'::regconfig, coalesce(title, '')), 'A') || setweight(to_tsvector('simple'::regconfig, content), 'B'))";

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
                db.execute_unprepared(&format!(
                    "CREATE INDEX idx_documents_search ON documents USING gin ({PG_DOCUMENT_VECTOR})"
                ))
                .await?;
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
                db.execute_unprepared("DROP INDEX IF EXISTS idx_documents_search")
                    .await?;
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
