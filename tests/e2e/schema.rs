//! The schema file, documentation of every type and field, migrations and entity drift.

use migration::{Migrator, MigratorTrait};
use plexus_tests::{Backend, TestDb};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, EntityName, EntityTrait, Schema, Statement,
};
use serde_json::Value;
use std::collections::BTreeMap;

#[test]
fn schema_graphql_is_up_to_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == plexus_api::sdl(),
        "schema.graphql is stale: run `just schema` and commit it"
    );
}

#[tokio::test]
async fn every_type_and_field_has_a_description() {
    let schema = plexus_api::schema::sdl_schema();
    let q = r#"{ __schema { types { name kind description
        fields(includeDeprecated: true) { name description args { name description } }
        inputFields { name description }
        enumValues(includeDeprecated: true) { name description } } } }"#;
    let resp = schema.execute(q.into()).await;
    assert!(resp.errors.is_empty(), "{:?}", resp.errors);
    let v: Value = resp.data.into_json().unwrap();
    let builtin = ["String", "Int", "Float", "Boolean", "ID"];
    let mut missing = vec![];
    for t in v["__schema"]["types"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        if name.starts_with("__") || builtin.contains(&name) {
            continue;
        }
        if t["description"].as_str().is_none_or(str::is_empty) {
            missing.push(name.to_string());
        }
        for key in ["fields", "inputFields", "enumValues"] {
            for f in t[key].as_array().into_iter().flatten() {
                if f["description"].as_str().is_none_or(str::is_empty) {
                    missing.push(format!("{name}.{}", f["name"].as_str().unwrap()));
                }
            }
        }
    }
    assert!(missing.is_empty(), "undocumented: {missing:#?}");
}

async fn columns(db: &DatabaseConnection, table: &str) -> BTreeMap<String, (String, bool)> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => format!(
            "SELECT column_name AS name, data_type AS ty, (is_nullable = 'YES') AS nullable FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '{table}'"
        ),
        _ => format!(
            "SELECT name, type AS ty, (\"notnull\" = 0) AS nullable FROM pragma_table_info('{table}')"
        ),
    };
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .unwrap();
    rows.into_iter()
        .map(|r| {
            let name: String = r.try_get("", "name").unwrap();
            let ty: String = r.try_get("", "ty").unwrap();
            let nullable: bool = r.try_get("", "nullable").unwrap();
            // SQLite keeps the declared text ("varchar(254)"); compare the base type.
            let ty = ty.split('(').next().unwrap().trim().to_lowercase();
            (name, (ty, nullable))
        })
        .collect()
}

async fn drift_on(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let conn = db.connect().await;
    let builder = Schema::new(conn.get_database_backend());
    macro_rules! check {
        ($($entity:ty),* $(,)?) => {$(
            let table = <$entity>::default().table_name().to_string();
            let want = columns(&conn, &table).await;
            assert!(!want.is_empty(), "migrations create no table {table}");
            let got = entity_columns::<$entity>(&conn, &builder).await;
            assert_eq!(got, want, "entity of `{table}` drifted from the migrations: run `just entities`");
        )*};
    }
    check!(
        plexus_users::entity::users::Entity,
        plexus_users::entity::refresh_tokens::Entity,
        plexus_users::entity::notifications::Entity,
        plexus_projects::entity::projects::Entity,
        plexus_projects::entity::project_members::Entity,
        plexus_projects::entity::project_presence::Entity,
        plexus_graph::entity::nodes::Entity,
        plexus_graph::entity::edges::Entity,
        plexus_agents::entity::agents::Entity,
        plexus_agents::entity::agent_tools::Entity,
        plexus_agents::entity::agent_knowledge_packs::Entity,
        plexus_agents::entity::agent_tasks::Entity,
        plexus_agents::entity::tools::Entity,
        plexus_agents::entity::knowledge_packs::Entity,
        plexus_agents::entity::documents::Entity,
        plexus_agents::entity::memories::Entity,
        plexus_agents::entity::workflows::Entity,
        plexus_agents::entity::workflow_participants::Entity,
        plexus_agents::entity::workflow_executions::Entity,
        plexus_agents::entity::system_logs::Entity,
        plexus_conversations::entity::conversations::Entity,
        plexus_conversations::entity::messages::Entity,
        plexus_conversations::entity::tool_calls::Entity,
        plexus_media::entity::media::Entity,
        plexus_media::entity::voice_interactions::Entity,
    );
    conn.close().await.unwrap();
    db.remove().await;
}

/// Columns of the table SeaORM would create from the entity, in a scratch schema/database.
async fn entity_columns<E: EntityTrait + Default>(
    db: &DatabaseConnection,
    builder: &Schema,
) -> BTreeMap<String, (String, bool)> {
    let table = E::default().table_name().to_string();
    let scratch = format!("{table}_from_entity");
    let mut stmt = builder.create_table_from_entity(E::default());
    stmt.table(sea_orm::sea_query::Alias::new(&scratch));
    // Foreign keys point at tables the scratch database may not have: drop them.
    let sql = db.get_database_backend().build(&stmt).to_string();
    let sql = strip_foreign_keys(&sql);
    db.execute_unprepared(&format!("DROP TABLE IF EXISTS \"{scratch}\""))
        .await
        .unwrap();
    db.execute_unprepared(&sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    columns(db, &scratch).await
}

fn strip_foreign_keys(sql: &str) -> String {
    match sql
        .find(", CONSTRAINT")
        .or_else(|| sql.find(", FOREIGN KEY"))
    {
        Some(i) => format!("{})", &sql[..i]),
        None => sql.to_string(),
    }
}

#[tokio::test]
async fn entities_match_the_migrated_schema_sqlite() {
    drift_on(Backend::Sqlite).await;
}

#[tokio::test]
async fn entities_match_the_migrated_schema_postgres() {
    drift_on(Backend::Postgres).await;
}

async fn up_down_up(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let conn = db.connect().await;
    let tables = |conn: DatabaseConnection| async move {
        let backend = conn.get_database_backend();
        let sql = match backend {
            DbBackend::Postgres => {
                "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1"
            }
            _ => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1"
            }
        };
        let rows = conn
            .query_all_raw(Statement::from_string(backend, sql))
            .await
            .unwrap();
        rows.into_iter()
            .map(|r| r.try_get::<String>("", "name").unwrap())
            .collect::<Vec<_>>()
    };
    let before = tables(conn.clone()).await;
    assert!(before.contains(&"users".to_string()), "{before:?}");
    Migrator::down(&conn, None).await.unwrap();
    assert_eq!(
        tables(conn.clone()).await,
        vec!["seaql_migrations".to_string()]
    );
    Migrator::up(&conn, None).await.unwrap();
    assert_eq!(tables(conn.clone()).await, before);
    let pending = Migrator::get_pending_migrations(&conn).await.unwrap();
    assert!(pending.is_empty());
    conn.close().await.unwrap();
    db.remove().await;
}

#[tokio::test]
async fn migrations_run_up_down_up_sqlite() {
    up_down_up(Backend::Sqlite).await;
}

#[tokio::test]
async fn migrations_run_up_down_up_postgres() {
    up_down_up(Backend::Postgres).await;
}
