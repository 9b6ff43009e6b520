//! Live presence over real WebSockets: cursor moves coalesced (far fewer events than moves,
//! the last position always delivered, the row not written per move), a single move
//! delivered promptly, and members announced gone — with `COLLABORATION_LEFT` for the
//! owner — when their socket closes or their heartbeats stop.

use crate::fixtures::*;
use crate::realtime::{Socket, connect_to, init, recv, send};
use plexus_tests::{TestApp, db_test};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const PRESENCE_EVENTS: &str = "subscription($id: ID!) { projectEvents(projectId: $id) { __typename
  ... on PresenceChanged { actor { id } presence { isActive user { id } cursor { x y } lastSeen } } } }";

const MOVE: &str = "mutation($i: UpdatePresenceInput!) { updatePresence(input: $i) { presence { cursor { x } isActive } } }";

const PRESENT: &str =
    "query($id: ID!) { project(id: $id) { presence { user { id } cursor { x } isActive } } }";

async fn watch(app: &TestApp, token: &str, project: &str) -> Socket {
    let mut ws = connect_to(app.addr, "graphql-transport-ws").await;
    init(&mut ws, Some(token)).await;
    send(&mut ws, json!({ "id": "p", "type": "subscribe", "payload": { "query": PRESENCE_EVENTS, "variables": { "id": project } } })).await;
    // Let the subscription start before anything happens.
    tokio::time::sleep(Duration::from_millis(200)).await;
    ws
}

/// The next `PresenceChanged` of `user` within `wait`, if any (other events are skipped).
async fn presence_of(ws: &mut Socket, user: &str, wait: Duration) -> Option<Value> {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        let m = tokio::time::timeout(left, recv(ws)).await.ok()?;
        let e = &m["payload"]["data"]["projectEvents"];
        if e["__typename"] == "PresenceChanged" && e["presence"]["user"]["id"] == user {
            return Some(e["presence"].clone());
        }
    }
}

async fn moved(app: &TestApp, token: &str, project: &str, x: f64) {
    let v = app
        .gql(
            MOVE,
            json!({ "i": { "projectId": project, "cursor": { "x": x, "y": 1 } } }),
            Some(token),
        )
        .await;
    assert!(v["errors"].is_null(), "{v}");
}

async fn left_count(app: &TestApp, owner: &str) -> i64 {
    let v = app
        .gql(
            "{ notifications(filter: { type: COLLABORATION_LEFT }) { totalCount } }",
            json!({}),
            Some(owner),
        )
        .await;
    v["data"]["notifications"]["totalCount"]
        .as_i64()
        .unwrap_or_else(|| panic!("{v}"))
}

async fn present(app: &TestApp, token: &str, project: &str) -> Value {
    let v = app
        .gql(PRESENT, json!({ "id": project }), Some(token))
        .await;
    v["data"]["project"]["presence"].clone()
}

db_test!(
    cursor_moves_are_coalesced_and_not_written_each_time,
    |app| async move {
        let (owner, _) = user(&app, "owner").await;
        let (bob, bob_id) = user(&app, "bob").await;
        let p = project(&app, &owner, "canvas", false).await;
        add_member(&app, &owner, &p, &bob_id, "EDITOR").await;
        let mut ws = watch(&app, &owner, &p).await;

        // Arrival: announced at once.
        moved(&app, &bob, &p, 0.0).await;
        let arrived = presence_of(&mut ws, &bob_id, Duration::from_secs(5)).await;
        assert_eq!(
            arrived.as_ref().map(|p| &p["isActive"]),
            Some(&json!(true)),
            "{arrived:?}"
        );

        // A single move arrives promptly (100 ms on an idle machine; loosely checked here).
        tokio::time::sleep(Duration::from_millis(100)).await;
        let t0 = Instant::now();
        moved(&app, &bob, &p, -1.0).await;
        let one = presence_of(&mut ws, &bob_id, Duration::from_secs(5))
            .await
            .expect("the move is delivered");
        let latency = t0.elapsed();
        assert_eq!(one["cursor"]["x"], json!(-1.0), "{one}");
        assert!(
            latency < Duration::from_secs(1),
            "a single move took {latency:?}"
        );
        eprintln!("single move delivered in {latency:?}");

        // 200 moves (4 clients × 50), then the final position.
        let writes_before = app.writes.load(Ordering::SeqCst);
        let start = Instant::now();
        let mut movers = Vec::new();
        for lane in 0..4 {
            let (app_addr, token, project) = (app.url("/graphql"), bob.clone(), p.clone());
            movers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for i in 0..50 {
                let x = (lane * 50 + i + 1) as f64;
                let v: Value = http
                    .post(&app_addr)
                    .bearer_auth(&token)
                    .json(&json!({ "query": MOVE, "variables": { "i": { "projectId": project, "cursor": { "x": x, "y": 1 } } } }))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert!(v["errors"].is_null(), "{v}");
            }
        }));
        }
        for m in movers {
            m.await.unwrap();
        }
        moved(&app, &bob, &p, 1000.0).await;
        let elapsed = start.elapsed();
        let writes = app.writes.load(Ordering::SeqCst) - writes_before;

        let mut events = Vec::new();
        while let Some(e) = presence_of(&mut ws, &bob_id, Duration::from_millis(800)).await {
            events.push(e);
        }
        let n = events.len();
        eprintln!("201 moves in {elapsed:?}: {n} events, {writes} writes");
        assert!(n >= 2, "at least a few events: {events:?}");
        assert!(n < 200, "{n} events for 201 moves");
        // At most one per 50 ms, plus the first and a trailing one.
        let bound = (elapsed.as_millis() / 50) as usize + 3;
        assert!(n <= bound, "{n} events in {elapsed:?} (at most {bound})");
        assert_eq!(
            events.last().unwrap()["cursor"]["x"],
            json!(1000.0),
            "{events:?}"
        );
        // The row is saved every few seconds, not on every move.
        assert!(writes < 20, "{writes} writes for 201 moves");
        // Project.presence agrees with the events.
        assert_eq!(
            present(&app, &owner, &p).await,
            json!([{ "user": { "id": bob_id }, "cursor": { "x": 1000.0 }, "isActive": true }])
        );
    }
);

db_test!(
    a_closed_socket_announces_the_member_gone,
    |app| async move {
        let (owner, _) = user(&app, "owner").await;
        let (bob, bob_id) = user(&app, "bob").await;
        let p = project(&app, &owner, "canvas", false).await;
        add_member(&app, &owner, &p, &bob_id, "MEMBER").await;
        let mut watcher = watch(&app, &owner, &p).await;

        // Bob heartbeats over his socket.
        let mut bob_ws = connect_to(app.addr, "graphql-transport-ws").await;
        init(&mut bob_ws, Some(&bob)).await;
        send(&mut bob_ws, json!({ "id": "m", "type": "subscribe", "payload": { "query": MOVE, "variables": { "i": { "projectId": p, "cursor": { "x": 5, "y": 6 } } } } })).await;
        let m = recv(&mut bob_ws).await;
        assert_eq!(
            m["payload"]["data"]["updatePresence"]["presence"]["isActive"], true,
            "{m}"
        );
        let seen = presence_of(&mut watcher, &bob_id, Duration::from_secs(5)).await;
        assert_eq!(seen.map(|p| p["isActive"].clone()), Some(json!(true)));
        assert_eq!(
            present(&app, &owner, &p).await.as_array().map(Vec::len),
            Some(1)
        );

        // He closes it: gone, with his last cursor.
        bob_ws.close(None).await.unwrap();
        drop(bob_ws);
        let gone = presence_of(&mut watcher, &bob_id, Duration::from_secs(5))
            .await
            .expect("a departure");
        assert_eq!(gone["isActive"], false, "{gone}");
        assert_eq!(gone["cursor"]["x"], json!(5.0), "{gone}");
        assert_eq!(present(&app, &owner, &p).await, json!([]));
        assert_eq!(left_count(&app, &owner).await, 1);

        // Heartbeats over HTTP, events over a socket: closing that socket ends it too — but the
        // owner is not told again (he came back within the presence window: no new JOINED).
        moved(&app, &bob, &p, 7.0).await;
        let back = presence_of(&mut watcher, &bob_id, Duration::from_secs(5)).await;
        assert_eq!(back.map(|p| p["isActive"].clone()), Some(json!(true)));
        let mut follower = watch(&app, &bob, &p).await;
        follower.close(None).await.unwrap();
        drop(follower);
        let gone = presence_of(&mut watcher, &bob_id, Duration::from_secs(5))
            .await
            .expect("a departure");
        assert_eq!(gone["isActive"], false, "{gone}");
        assert_eq!(present(&app, &owner, &p).await, json!([]));
        assert_eq!(left_count(&app, &owner).await, 1);

        // The owner's own comings and goings notify nobody.
        let mut own = connect_to(app.addr, "graphql-transport-ws").await;
        init(&mut own, Some(&owner)).await;
        send(&mut own, json!({ "id": "m", "type": "subscribe", "payload": { "query": MOVE, "variables": { "i": { "projectId": p } } } })).await;
        recv(&mut own).await;
        own.close(None).await.unwrap();
        drop(own);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(left_count(&app, &owner).await, 1);
    }
);

db_test!(
    members_who_stop_heartbeating_time_out,
    |c| c.presence_timeout = Duration::from_millis(700),
    |app| async move {
        let (owner, _) = user(&app, "owner").await;
        let (bob, bob_id) = user(&app, "bob").await;
        let p = project(&app, &owner, "canvas", false).await;
        add_member(&app, &owner, &p, &bob_id, "VIEWER").await;
        let mut watcher = watch(&app, &owner, &p).await;
        moved(&app, &bob, &p, 3.0).await;
        let seen = presence_of(&mut watcher, &bob_id, Duration::from_secs(5)).await;
        assert_eq!(seen.map(|p| p["isActive"].clone()), Some(json!(true)));
        let t0 = Instant::now();
        let gone = presence_of(&mut watcher, &bob_id, Duration::from_secs(10))
            .await
            .expect("a departure");
        assert_eq!(gone["isActive"], false, "{gone}");
        assert!(
            t0.elapsed() >= Duration::from_millis(500),
            "{:?}",
            t0.elapsed()
        );
        assert_eq!(present(&app, &owner, &p).await, json!([]));
        assert_eq!(left_count(&app, &owner).await, 1);
        let v = app
            .gql(
                "{ notifications(filter: { type: COLLABORATION_LEFT }) { nodes { message project { id } } } }",
                json!({}),
                Some(&owner),
            )
            .await;
        let n = &v["data"]["notifications"]["nodes"][0];
        assert_eq!(n["project"]["id"], json!(p), "{v}");
        assert!(
            n["message"].as_str().unwrap().contains("closed the canvas"),
            "{v}"
        );
    }
);

db_test!(cursors_cross_instances_in_the_event, |app| async move {
    if app.backend != plexus_tests::Backend::Postgres {
        return; // SQLite is one process: there is no second instance to reach.
    }
    let (owner, _) = user(&app, "owner").await;
    let (bob, bob_id) = user(&app, "bob").await;
    let p = project(&app, &owner, "cluster", false).await;
    add_member(&app, &owner, &p, &bob_id, "EDITOR").await;
    let other = crate::realtime::second_instance(&app).await;
    let mut ws = connect_to(other.addr, "graphql-transport-ws").await;
    init(&mut ws, Some(&owner)).await;
    send(&mut ws, json!({ "id": "p", "type": "subscribe", "payload": { "query": PRESENCE_EVENTS, "variables": { "id": p } } })).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Bob moves on the first instance (not saved yet); the second delivers his cursor.
    moved(&app, &bob, &p, 1.0).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    moved(&app, &bob, &p, 42.0).await;
    let mut last = None;
    while let Some(e) = presence_of(&mut ws, &bob_id, Duration::from_millis(800)).await {
        last = Some(e);
    }
    let last = last.expect("bob's presence reached the other instance");
    assert_eq!(last["cursor"]["x"], json!(42.0), "{last}");
    assert_eq!(last["isActive"], true, "{last}");
    other.shutdown();
});
