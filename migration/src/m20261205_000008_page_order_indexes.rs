//! Indexes that answer the graph's two hottest reads without a sort or a table visit.
//!
//! * `nodes (project_id, id)` replaces `nodes (project_id)`: a project's page of nodes is
//!   ordered by id, so PostgreSQL walked all of a project's nodes and sorted them to keep
//!   the first `n`; with the id in the index it reads the first `n` in order and stops.
//!   The benchmark dashboard's statement (20 pages of 51) ran 2.7 → 1.2 ms, and 642 → 807
//!   times a second under pgbench.
//! * `edges (target_id, source_id)` replaces `edges (target_id)`: with
//!   `uq_edges_source_target` it lets `parents` and `children` read their ids from the
//!   index alone (an index-only scan once the table is vacuumed), as the unique index
//!   already did for `children`.
//!
//! Each new index serves every query the old one did (same leading column).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for sql in statements {
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on SQLite too: each statement would otherwise take a connection of
    /// the pool, and a connection that has not yet seen the `DROP INDEX` parses the
    /// `CREATE INDEX` of the same name against its cached schema ("index … already
    /// exists"). SQLite's DDL is transactional, so the swap is all or nothing.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(
            manager,
            &[
                "DROP INDEX IF EXISTS idx_nodes_project_id",
                "CREATE INDEX idx_nodes_project_id ON nodes (project_id, id)",
                "DROP INDEX IF EXISTS idx_edges_target_id",
                "CREATE INDEX idx_edges_target_id ON edges (target_id, source_id)",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(
            manager,
            &[
                "DROP INDEX IF EXISTS idx_nodes_project_id",
                "CREATE INDEX idx_nodes_project_id ON nodes (project_id)",
                "DROP INDEX IF EXISTS idx_edges_target_id",
                "CREATE INDEX idx_edges_target_id ON edges (target_id)",
            ],
        )
        .await
    }
}
