//! Fan-out benchmark: many WebSocket subscribers (1,000 by default) on one project's
//! `projectEvents`, one mutation every 10 ms for a bounded time, against a release-built
//! server running in its own process (this binary re-started in server mode), so that the
//! server's memory per connection can be read from `/proc/<pid>/status`.
//!
//! Each mutation deletes one of the project's nodes, so every `GraphNodeDeleted` names the
//! mutation it came from and its delivery latency (mutation sent → event received by a
//! subscriber) is exact. Subscribers select `deletedId` and `at`, which resolve without a
//! database read: the figures are those of the fan-out itself (the bus, the feeds, the
//! sockets), not of per-subscriber loads.
//!
//! `just bench-fanout` runs it on SQLite and, with `TEST_POSTGRES_URL`, PostgreSQL (events
//! through LISTEN/NOTIFY). Knobs: `FANOUT_SUBSCRIBERS` (1000), `FANOUT_SECS` (5),
//! `FANOUT_INTERVAL_MS` (10). It prints a markdown table.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_util::{SinkExt, StreamExt};
use plexus_tests::Backend;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::BufRead;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SERVER_MODE: &str = "PLEXUS_FANOUT_SERVER";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Server mode: a test server over a fresh database; prints its address, stops when stdin
/// closes.
async fn serve(backend: Backend) {
    plexus_tests::run(
        backend,
        |c| {
            c.ws_max_connections_per_user = 1_000_000;
            c.db_max_connections = 10;
        },
        |app| async move {
            println!("ADDR {}", app.addr);
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            std::thread::spawn(move || {
                let mut sink = String::new();
                while std::io::stdin().read_line(&mut sink).unwrap_or(0) > 0 {}
                let _ = tx.send(());
            });
            let _ = rx.await;
        },
    )
    .await;
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The soft limit on open files of this process.
fn fd_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        .unwrap_or(1024)
}

async fn gql(http: &reqwest::Client, url: &str, token: Option<&str>, q: &str, v: Value) -> Value {
    let mut req = http.post(url).json(&json!({ "query": q, "variables": v }));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap().json().await.unwrap()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

struct Figures {
    subscribers: usize,
    mutations: usize,
    delivered: usize,
    p50: f64,
    p99: f64,
    max: f64,
    rss_before_kib: u64,
    rss_after_kib: u64,
    mutation_p50: f64,
}

async fn bench(backend: Backend, mut subscribers: usize, secs: u64, interval_ms: u64) -> Figures {
    // Each subscriber costs a socket here and one in the server (same limit, inherited).
    let fds = fd_limit();
    let max = (fds.saturating_sub(200) / 2) as usize;
    if subscribers > max {
        eprintln!(
            "open-file limit {fds}: using {max} subscribers instead of {subscribers} (raise `ulimit -n` for more)"
        );
        subscribers = max;
    }
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .env(SERVER_MODE, format!("{backend:?}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the server process");
    let pid = child.id();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr: std::net::SocketAddr = line
        .trim()
        .strip_prefix("ADDR ")
        .unwrap_or_else(|| panic!("server said {line:?}"))
        .parse()
        .unwrap();
    let url = format!("http://{addr}/graphql");
    let http = reqwest::Client::new();

    let v = gql(&http, &url, None, "mutation { register(input: { email: \"fan@example.com\", password: \"fanout-password\" }) { accessToken } }", json!({})).await;
    let token = v["data"]["register"]["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let v = gql(
        &http,
        &url,
        Some(&token),
        "mutation { createProject(input: { name: \"fan-out\" }) { project { id } } }",
        json!({}),
    )
    .await;
    let project = v["data"]["createProject"]["project"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mutations = (secs * 1000 / interval_ms) as usize;
    // The nodes the mutations will delete (8 at a time).
    let mut nodes = Vec::with_capacity(mutations);
    for chunk in (0..mutations).collect::<Vec<_>>().chunks(8) {
        let batch = chunk.iter().map(|i| {
            let (http, url, token, project) = (http.clone(), url.clone(), token.clone(), project.clone());
            let i = *i;
            async move {
                let v = gql(&http, &url, Some(&token), "mutation($i: CreateGraphNodeInput!) { createGraphNode(input: $i) { node { id } } }", json!({ "i": { "projectId": project, "prompt": format!("n{i}"), "position": { "x": 0, "y": 0 } } })).await;
                v["data"]["createGraphNode"]["node"]["id"].as_str().unwrap_or_else(|| panic!("{v}")).to_string()
            }
        });
        nodes.extend(futures_util::future::join_all(batch).await);
    }
    let index: Arc<HashMap<String, usize>> = Arc::new(
        nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect(),
    );
    let sent: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; mutations]));

    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before_kib = rss_kib(pid);
    let query = "subscription($id: ID!) { projectEvents(projectId: $id) { __typename ... on GraphNodeDeleted { at deletedId } } }";
    let mut sockets = Vec::with_capacity(subscribers);
    for batch in (0..subscribers).collect::<Vec<_>>().chunks(50) {
        let opened = batch.iter().map(|_| {
            let (token, project) = (token.clone(), project.clone());
            async move {
                let mut req = format!("ws://{addr}/graphql/ws").into_client_request().unwrap();
                req.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
                let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
                let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
                ws.send(Message::Text(init.to_string().into())).await.unwrap();
                let ack = ws.next().await.unwrap().unwrap();
                assert!(ack.to_text().unwrap().contains("connection_ack"), "{ack:?}");
                let sub = json!({ "id": "s", "type": "subscribe", "payload": { "query": query, "variables": { "id": project } } });
                ws.send(Message::Text(sub.to_string().into())).await.unwrap();
                ws
            }
        });
        sockets.extend(futures_util::future::join_all(opened).await);
    }
    // Let every subscription start.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after_kib = rss_kib(pid);

    let deadline = Instant::now() + Duration::from_secs(secs) + Duration::from_secs(10);
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|mut ws| {
            let (index, sent) = (index.clone(), sent.clone());
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(mutations);
                while lat.len() < mutations {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let Ok(Some(Ok(m))) = tokio::time::timeout(left, ws.next()).await else {
                        break;
                    };
                    let now = Instant::now();
                    let Message::Text(t) = m else { continue };
                    let v: Value = serde_json::from_str(t.as_str()).unwrap_or_default();
                    let Some(id) = v["payload"]["data"]["projectEvents"]["deletedId"].as_str()
                    else {
                        continue;
                    };
                    let at = index.get(id).and_then(|i| sent.lock().unwrap()[*i]);
                    if let Some(at) = at {
                        lat.push(now.duration_since(at).as_secs_f64() * 1000.0);
                    }
                }
                let _ = ws.close(None).await;
                lat
            })
        })
        .collect();

    let mut tick = tokio::time::interval(Duration::from_millis(interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut inflight = Vec::with_capacity(mutations);
    for (i, node) in nodes.iter().enumerate() {
        tick.tick().await;
        let (http, url, token, node, sent) = (
            http.clone(),
            url.clone(),
            token.clone(),
            node.clone(),
            sent.clone(),
        );
        inflight.push(tokio::spawn(async move {
            let t0 = Instant::now();
            sent.lock().unwrap()[i] = Some(t0);
            let v = gql(
                &http,
                &url,
                Some(&token),
                "mutation($i: GraphNodeIdInput!) { deleteGraphNode(input: $i) { deletedId } }",
                json!({ "i": { "id": node } }),
            )
            .await;
            assert!(v["errors"].is_null(), "{v}");
            t0.elapsed().as_secs_f64() * 1000.0
        }));
    }
    let mut mutation_ms = Vec::new();
    for m in inflight {
        mutation_ms.push(m.await.unwrap());
    }
    let mut all = Vec::new();
    for r in readers {
        all.extend(r.await.unwrap());
    }
    drop(child.stdin.take());
    let stop = Instant::now();
    while child.try_wait().ok().flatten().is_none() && stop.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if child.try_wait().ok().flatten().is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    all.sort_by(f64::total_cmp);
    mutation_ms.sort_by(f64::total_cmp);
    Figures {
        subscribers,
        mutations,
        delivered: all.len(),
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
        max: all.last().copied().unwrap_or(f64::NAN),
        rss_before_kib,
        rss_after_kib,
        mutation_p50: percentile(&mutation_ms, 0.5),
    }
}

#[tokio::main]
async fn main() {
    if let Ok(mode) = std::env::var(SERVER_MODE) {
        let backend = if mode == "Postgres" {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        serve(backend).await;
        return;
    }
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let subscribers = env_or("FANOUT_SUBSCRIBERS", 1000) as usize;
    let secs = env_or("FANOUT_SECS", 5).clamp(1, 120);
    let interval_ms = env_or("FANOUT_INTERVAL_MS", 10).max(1);
    println!(
        "Fan-out: subscribers on one project's projectEvents, one deleteGraphNode every {interval_ms} ms for {secs} s."
    );
    println!(
        "| backend | subscribers | mutations | delivered | p50 ms | p99 ms | max ms | mutation p50 ms | server RSS before → after | per connection |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |");
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if backend == Backend::Postgres && plexus_tests::postgres_url().is_none() {
            eprintln!("PostgreSQL skipped: TEST_POSTGRES_URL is not set");
            continue;
        }
        let f = bench(backend, subscribers, secs, interval_ms).await;
        let per =
            (f.rss_after_kib.saturating_sub(f.rss_before_kib)) as f64 / f.subscribers.max(1) as f64;
        println!(
            "| {backend:?} | {} | {} | {} of {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} → {:.1} MiB | {:.1} KiB |",
            f.subscribers,
            f.mutations,
            f.delivered,
            f.subscribers * f.mutations,
            f.p50,
            f.p99,
            f.max,
            f.mutation_p50,
            f.rss_before_kib as f64 / 1024.0,
            f.rss_after_kib as f64 / 1024.0,
            per,
        );
    }
}
