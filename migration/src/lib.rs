//! Database migrations: the single source of truth for the schema, portable across SQLite
//! and PostgreSQL. Entities in the domain crates are generated from the migrated database.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_users;
mod m20261122_000002_projects_graph;
mod m20261122_000003_agents;
mod m20261122_000004_conversations;
mod m20261201_000005_media;
mod m20261201_000006_document_search;
mod m20261203_000007_deleted_nodes_index;
mod m20261205_000008_page_order_indexes;
mod util;

/// Every migration, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_users::Migration),
            Box::new(m20261122_000002_projects_graph::Migration),
            Box::new(m20261122_000003_agents::Migration),
            Box::new(m20261122_000004_conversations::Migration),
            Box::new(m20261201_000005_media::Migration),
            Box::new(m20261201_000006_document_search::Migration),
            Box::new(m20261203_000007_deleted_nodes_index::Migration),
            Box::new(m20261205_000008_page_order_indexes::Migration),
        ]
    }
}
