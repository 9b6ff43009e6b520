//! Faults under load: a graceful shutdown finishes in-flight writes and closes WebSockets
//! with 1001; the database going away makes requests fail fast with a code (and readiness
//! 503) until it returns, after which the service recovers by itself — and in both cases no
//! acknowledged write is lost and none is half-applied (a node and its parent edge commit
//! together or not at all).

use crate::fixtures::*;
use crate::realtime::{closed_with, connect_to, init, subscribe};
use plexus_core::{GlobalId, IdKind};
use plexus_tests::{Backend, TestApp, db_test};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CREATE: &str =
    "mutation($i: CreateGraphNodeInput!) { createGraphNode(input: $i) { node { id } } }";

/// What one writer saw.
#[derive(Default)]
struct Tally {
    /// Nodes the server acknowledged (global ids).
    acknowledged: Vec<String>,
    /// Answers that were GraphQL errors, by code.
    refused: Vec<String>,
    /// Requests that got no HTTP answer at all (the server was gone).
    unanswered: usize,
}

/// Creates nodes under `parent` until `stop`; counts acknowledgements in `acked`.
fn spawn_writer(
    app: &TestApp,
    token: &str,
    project: &str,
    parent: &str,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<Tally> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let url = app.url("/graphql");
    let (token, project, parent) = (token.to_string(), project.to_string(), parent.to_string());
    tokio::spawn(async move {
        let mut tally = Tally::default();
        let mut n = 0;
        while !stop.load(Ordering::SeqCst) {
            n += 1;
            let body = json!({ "query": CREATE, "variables": { "i": {
                "projectId": project, "prompt": format!("load {n}"),
                "position": { "x": 0.0, "y": 0.0 }, "parentIds": [parent] } } });
            let sent = http.post(&url).bearer_auth(&token).json(&body).send().await;
            let Ok(resp) = sent else {
                tally.unanswered += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            match v["data"]["createGraphNode"]["node"]["id"].as_str() {
                Some(id) => {
                    tally.acknowledged.push(id.to_string());
                    acked.fetch_add(1, Ordering::SeqCst);
                }
                None => {
                    let code = v["errors"][0]["extensions"]["code"].as_str();
                    tally.refused.push(code.unwrap_or("(no code)").to_string());
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        tally
    })
}

async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every acknowledged node is stored, and every stored node under the root has its edge.
async fn assert_nothing_lost_or_half_written(app: &TestApp, project: &str, tallies: &[Tally]) {
    use plexus_graph::entity::{edges, nodes};
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let acknowledged: Vec<uuid::Uuid> = tallies
        .iter()
        .flat_map(|t| t.acknowledged.iter())
        .map(|g| GlobalId::parse_as(g, IdKind::GraphNode, "id").unwrap())
        .collect();
    let stored = nodes::Entity::find()
        .filter(nodes::Column::Id.is_in(acknowledged.clone()))
        .count(app.db())
        .await
        .unwrap();
    assert_eq!(
        stored as usize,
        acknowledged.len(),
        "acknowledged writes lost"
    );
    let project = GlobalId::parse_as(project, IdKind::Project, "id").unwrap();
    let nodes = nodes::Entity::find()
        .filter(nodes::Column::ProjectId.eq(project))
        .count(app.db())
        .await
        .unwrap();
    let edges = edges::Entity::find()
        .filter(edges::Column::ProjectId.eq(project))
        .count(app.db())
        .await
        .unwrap();
    assert_eq!(
        edges,
        nodes - 1,
        "a node without its parent edge (half-applied write)"
    );
}

db_test!(
    shutdown_under_load_loses_no_acknowledged_write,
    |app| async move {
        let (token, _) = user(&app, "shutdown").await;
        let p = project(&app, &token, "draining", false).await;
        let root = node(&app, &token, &p, "root", &[]).await;
        let mut ws = connect_to(app.addr, "graphql-transport-ws").await;
        init(&mut ws, Some(&token)).await;
        subscribe(&mut ws, "s", &p).await;

        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = (0..4)
            .map(|_| spawn_writer(&app, &token, &p, &root, stop.clone(), acked.clone()))
            .collect();
        wait_for("20 acknowledged writes", Duration::from_secs(30), || {
            acked.load(Ordering::SeqCst) >= 20
        })
        .await;

        app.running.shutdown();
        // The subscriber is told the server is going away (and may reconnect elsewhere).
        assert_eq!(closed_with(&mut ws).await, 1001);
        tokio::time::timeout(Duration::from_secs(20), app.running.stopped())
            .await
            .expect("the server stops within the grace period");
        stop.store(true, Ordering::SeqCst);
        let mut tallies = Vec::new();
        for w in writers {
            tallies.push(w.await.unwrap());
        }
        // Once stopped, nothing is served any more.
        let after = reqwest::Client::new()
            .get(app.url("/healthz"))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        assert!(after.is_err(), "still serving after shutdown: {after:?}");
        // Requests were answered in full or not at all: never a refusal mid-way.
        let refused: Vec<&String> = tallies.iter().flat_map(|t| &t.refused).collect();
        assert!(refused.is_empty(), "refused during the drain: {refused:?}");
        assert_nothing_lost_or_half_written(&app, &p, &tallies).await;
    }
);

/// Allows or refuses new connections to the test database and, when refusing, drops the
/// ones open now — the database "going away" for this server alone (the cluster is shared
/// by concurrent tests).
async fn database_reachable(app: &TestApp, reachable: bool) {
    let url = &app.state.config.database_url;
    let name = url.rsplit('/').next().unwrap();
    let admin_url = plexus_tests::postgres_url().unwrap();
    let admin = sea_orm::Database::connect(admin_url.as_str())
        .await
        .unwrap();
    use sea_orm::ConnectionTrait;
    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS {reachable}"
        ))
        .await
        .unwrap();
    if !reachable {
        admin
            .execute_unprepared(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            ))
            .await
            .unwrap();
    }
    admin.close().await.unwrap();
}

async fn ready_status(app: &TestApp) -> u16 {
    reqwest::Client::new()
        .get(app.url("/readyz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("readiness answers even when the database is gone")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_going_away_costs_errors_not_data() {
    plexus_tests::run(
        Backend::Postgres,
        |_| {},
        |app| async move {
            let (token, _) = user(&app, "outage").await;
            let p = project(&app, &token, "outage", false).await;
            let root = node(&app, &token, &p, "root", &[]).await;
            let stop = Arc::new(AtomicBool::new(false));
            let acked = Arc::new(AtomicUsize::new(0));
            let writers: Vec<_> = (0..3)
                .map(|_| spawn_writer(&app, &token, &p, &root, stop.clone(), acked.clone()))
                .collect();
            wait_for("10 acknowledged writes", Duration::from_secs(30), || {
                acked.load(Ordering::SeqCst) >= 10
            })
            .await;

            database_reachable(&app, false).await;
            // Requests fail fast, with a code, and the service says it is not ready.
            let started = Instant::now();
            let v = app
                .gql(
                    "query($id: ID!) { project(id: $id) { name } }",
                    json!({ "id": p }),
                    Some(&token),
                )
                .await;
            assert!(
                matches!(code_of(&v), "INTERNAL" | "TIMEOUT"),
                "during the outage: {v}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "a request hung for {:?} while the database was away",
                started.elapsed()
            );
            assert_eq!(ready_status(&app).await, 503);
            tokio::time::sleep(Duration::from_millis(500)).await;

            database_reachable(&app, true).await;
            // The service recovers by itself: ready again, and writes go through.
            let start = Instant::now();
            while ready_status(&app).await != 200 {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "never ready again"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let before = acked.load(Ordering::SeqCst);
            wait_for("writes after recovery", Duration::from_secs(30), || {
                acked.load(Ordering::SeqCst) >= before + 10
            })
            .await;
            stop.store(true, Ordering::SeqCst);
            let mut tallies = Vec::new();
            for w in writers {
                tallies.push(w.await.unwrap());
            }
            // The server itself never went away: every request had an answer, and every
            // refusal a stable code.
            assert!(tallies.iter().all(|t| t.unanswered == 0));
            for code in tallies.iter().flat_map(|t| &t.refused) {
                assert!(matches!(code.as_str(), "INTERNAL" | "TIMEOUT"), "{code}");
            }
            assert!(
                tallies.iter().any(|t| !t.refused.is_empty()),
                "the outage was not noticed by any writer"
            );
            assert_nothing_lost_or_half_written(&app, &p, &tallies).await;
        },
    )
    .await;
}

fn code_of(v: &Value) -> &str {
    v["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("OK")
}
