//! Traversal benchmark: one canvas of 10,000 nodes and ~15,000 edges (chains that branch
//! and merge), measured through the real HTTP API on SQLite and, with
//! `TEST_POSTGRES_URL`, PostgreSQL. `just bench` runs it; it prints a markdown table.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use plexus_core::db::now;
use plexus_core::{IdKind, id::encode};
use plexus_graph::entity::{edges, nodes};
use plexus_tests::{Backend, TestApp};
use sea_orm::{EntityTrait, Set};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use uuid::Uuid;

const NODES: usize = 10_000;
/// Runs per request (`BENCH_RUNS`, default 30).
fn runs() -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
}

async fn canvas(app: &TestApp, token: &str) -> (String, Vec<Uuid>) {
    let v = app
        .gql(
            "mutation { createProject(input: { name: \"big\" }) { project { id } } }",
            json!({}),
            Some(token),
        )
        .await;
    let pid = v["data"]["createProject"]["project"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let project = plexus_core::GlobalId::parse(&pid, "id").unwrap().uuid;
    let user = {
        let v = app.gql("{ viewer { id } }", json!({}), Some(token)).await;
        plexus_core::GlobalId::parse(v["data"]["viewer"]["id"].as_str().unwrap(), "id")
            .unwrap()
            .uuid
    };
    let ids: Vec<Uuid> = (0..NODES).map(|_| Uuid::now_v7()).collect();
    let ts = now();
    for chunk in ids.chunks(500) {
        let rows = chunk.iter().enumerate().map(|(i, id)| nodes::ActiveModel {
            id: Set(*id),
            project_id: Set(project),
            prompt: Set(format!("prompt {i}")),
            response: Set(Some("a response of a realistic length ".repeat(8))),
            summary: Set(None),
            status: Set("COMPLETED".into()),
            position: Set(json!({ "x": i as f64 * 10.0, "y": 0.0 })),
            metadata: Set(None),
            llm_model: Set(Some("gpt-4o".into())),
            llm_tokens: Set(Some(200)),
            llm_cost: Set(None),
            created_by: Set(Some(user)),
            version: Set(1),
            created_at: Set(ts),
            updated_at: Set(ts),
            deleted_at: Set(None),
        });
        nodes::Entity::insert_many(rows)
            .exec(app.db())
            .await
            .unwrap();
    }
    // Each node builds on the previous one, and every other node also on one 37 back:
    // a long DAG with many merges (~15,000 edges).
    let mut pairs = vec![];
    for i in 1..NODES {
        pairs.push((ids[i - 1], ids[i]));
        if i % 2 == 0 && i >= 37 {
            pairs.push((ids[i - 37], ids[i]));
        }
    }
    for chunk in pairs.chunks(1000) {
        let rows = chunk.iter().map(|(s, t)| edges::ActiveModel {
            id: Set(Uuid::now_v7()),
            project_id: Set(project),
            source_id: Set(*s),
            target_id: Set(*t),
            created_at: Set(ts),
        });
        edges::Entity::insert_many(rows)
            .exec(app.db())
            .await
            .unwrap();
    }
    (pid, ids)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn measure(
    app: &TestApp,
    token: &str,
    name: &str,
    query: &str,
    vars: Value,
    check: impl Fn(&Value),
) -> String {
    let mut times = vec![];
    let mut statements = 0;
    for _ in 0..runs() {
        let start = Instant::now();
        let (v, n) = app.gql_counted(query, vars.clone(), Some(token)).await;
        times.push(start.elapsed());
        check(&v);
        statements = n;
    }
    times.sort();
    format!(
        "| {:?} | {name} | {:.1} | {:.1} | {statements} |",
        app.backend,
        percentile(&times, 0.5),
        percentile(&times, 0.99)
    )
}

async fn bench(backend: Backend) -> Vec<String> {
    let rows = std::sync::Arc::new(std::sync::Mutex::new(vec![]));
    let out = rows.clone();
    plexus_tests::run(backend, |_| {}, |app| async move {
        let (token, _, _) = app.register("bench@example.com", "password123").await;
        let (pid, ids) = canvas(&app, &token).await;
        let node = |i: usize| encode(IdKind::GraphNode, ids[i]);
        let q_anc = "query($id: ID!) { graphNode(id: $id) { ancestors { id } } }";
        let q_desc = "query($id: ID!) { graphNode(id: $id) { descendants { id } } }";
        let q_near = "query($id: ID!) { graphNode(id: $id) { parents { id } children { id } } }";
        let q_page = "query($id: ID!) { project(id: $id) { nodes(first: 100) { nodes { id position { x y } status parents { id } children { id } } } } }";
        let cycle = "mutation($s: ID!, $t: ID!) { createGraphEdge(input: { sourceId: $s, targetId: $t }) { edge { id } } }";
        let mut r = vec![];
        r.push(measure(&app, &token, "ancestors of the deepest node (9,999)", q_anc, json!({ "id": node(NODES - 1) }), |v| {
            assert_eq!(v["data"]["graphNode"]["ancestors"].as_array().map(Vec::len), Some(NODES - 1), "{v}")
        }).await);
        r.push(measure(&app, &token, "ancestors of a node halfway (4,999)", q_anc, json!({ "id": node(NODES / 2) }), |v| {
            assert_eq!(v["data"]["graphNode"]["ancestors"].as_array().map(Vec::len), Some(NODES / 2))
        }).await);
        r.push(measure(&app, &token, "descendants of the root (9,999)", q_desc, json!({ "id": node(0) }), |v| {
            assert_eq!(v["data"]["graphNode"]["descendants"].as_array().map(Vec::len), Some(NODES - 1))
        }).await);
        r.push(measure(&app, &token, "parents and children of one node", q_near, json!({ "id": node(5000) }), |v| {
            assert!(v["data"]["graphNode"]["parents"].is_array())
        }).await);
        r.push(measure(&app, &token, "canvas page: nodes(first: 100) with parents/children", q_page, json!({ "id": pid }), |v| {
            assert_eq!(v["data"]["project"]["nodes"]["nodes"].as_array().map(Vec::len), Some(100))
        }).await);
        r.push(measure(&app, &token, "createGraphEdge refused as a cycle (full check)", cycle, json!({ "s": node(NODES - 1), "t": node(0) }), |v| {
            assert_eq!(v["errors"][0]["extensions"]["code"], "CONFLICT")
        }).await);
        out.lock().unwrap().extend(r);
    })
    .await;
    rows.lock().unwrap().clone()
}

#[tokio::main]
async fn main() {
    println!(
        "Graph traversals on one canvas of {NODES} nodes (~15,000 edges), {} runs each, over HTTP.\n",
        runs()
    );
    println!("| backend | request | p50 ms | p99 ms | SQL statements |");
    println!("| --- | --- | ---: | ---: | ---: |");
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if backend == Backend::Postgres && plexus_tests::postgres_url().is_none() {
            println!("| Postgres | skipped: TEST_POSTGRES_URL is not set | | | |");
            continue;
        }
        for row in bench(backend).await {
            println!("{row}");
        }
    }
}
