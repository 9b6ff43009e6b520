//! Realtime over real WebSockets: the graphql-transport-ws protocol and its close codes,
//! project events for members and not for outsiders, revocation mid-stream, and events
//! crossing two server instances on one PostgreSQL database.

use crate::fixtures::*;
use futures_util::{SinkExt, StreamExt};
use plexus_tests::{Backend, TEST_SECRET, TestApp, db_test};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) async fn connect_to(addr: std::net::SocketAddr, protocol: &str) -> Socket {
    let mut req = format!("ws://{addr}/graphql/ws")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", protocol.parse().unwrap());
    let (ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(resp.headers()["sec-websocket-protocol"], protocol);
    ws
}

pub(crate) async fn send(ws: &mut Socket, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The next JSON message (pings from the server are not expected).
pub(crate) async fn recv(ws: &mut Socket) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")
            .expect("open")
            .unwrap();
        match m {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Close(f) => panic!("closed: {f:?}"),
            _ => continue,
        }
    }
}

/// Waits for the server to close the socket; returns the close code.
pub(crate) async fn closed_with(ws: &mut Socket) -> u16 {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a close within 10 s");
        match m {
            Some(Ok(Message::Close(Some(f)))) => return f.code.into(),
            Some(Ok(Message::Close(None))) | None => return 1005,
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("{e}"),
        }
    }
}

pub(crate) async fn init(ws: &mut Socket, token: Option<&str>) {
    let payload = token.map_or(
        json!({}),
        |t| json!({ "authorization": format!("Bearer {t}") }),
    );
    send(ws, json!({ "type": "connection_init", "payload": payload })).await;
    assert_eq!(recv(ws).await, json!({ "type": "connection_ack" }));
}

const EVENTS: &str = "subscription($id: ID!) { projectEvents(projectId: $id) { __typename
  ... on GraphNodeCreated { at actor { id } node { id prompt } }
  ... on GraphNodeUpdated { nodes { id status } }
  ... on GraphNodesMoved { nodes { id position { x } } }
  ... on GraphNodeDeleted { deletedId }
  ... on GraphNodeRestored { node { id } }
  ... on GraphEdgeCreated { edge { source { id } target { id } } }
  ... on GraphEdgeDeleted { deletedId }
  ... on ProjectUpdated { project { name } }
  ... on MemberAdded { member { role user { id } } }
  ... on MemberUpdated { member { role } }
  ... on MemberRemoved { userId }
  ... on PresenceChanged { presence { user { id } cursor { x } } }
  ... on ProjectDeleted { deletedId } } }";

pub(crate) async fn subscribe(ws: &mut Socket, id: &str, project: &str) {
    send(ws, json!({ "id": id, "type": "subscribe", "payload": { "query": EVENTS, "variables": { "id": project } } })).await;
}

/// The next event of subscription `id`, as `(typename, event)`.
async fn event(ws: &mut Socket, id: &str) -> (String, Value) {
    let m = recv(ws).await;
    assert_eq!(
        (m["id"].as_str(), m["type"].as_str()),
        (Some(id), Some("next")),
        "{m}"
    );
    let e = m["payload"]["data"]["projectEvents"].clone();
    assert!(e.is_object(), "{m}");
    (e["__typename"].as_str().unwrap().to_string(), e)
}

db_test!(
    the_protocol_closes_with_the_spec_codes,
    |c| c.ws_init_timeout = Duration::from_millis(300),
    |app| async move {
        let (token, _) = user(&app, "ws").await;
        let addr = app.addr;
        // 4400: not JSON / unknown type.
        let mut ws = connect_to(addr, "graphql-transport-ws").await;
        ws.send(Message::Text("{not json".into())).await.unwrap();
        assert_eq!(closed_with(&mut ws).await, 4400);
        let mut ws = connect_to(addr, "graphql-transport-ws").await;
        init(&mut ws, Some(&token)).await;
        send(&mut ws, json!({ "type": "nonsense" })).await;
        assert_eq!(closed_with(&mut ws).await, 4400);
        // 4401: subscribe before the ack.
        let mut ws = connect_to(addr, "graphql-transport-ws").await;
        send(
            &mut ws,
            json!({ "id": "1", "type": "subscribe", "payload": { "query": "{ __typename }" } }),
        )
        .await;
        assert_eq!(closed_with(&mut ws).await, 4401);
        // 4403: bad credentials.
        let mut ws = connect_to(addr, "graphql-transport-ws").await;
        send(
            &mut ws,
            json!({ "type": "connection_init", "payload": { "authorization": "Bearer garbage" } }),
        )
        .await;
        assert_eq!(closed_with(&mut ws).await, 4403);
        // 4408: no connection_init in time.
        let mut ws = connect_to(addr, "graphql-transport-ws").await;
        assert_eq!(closed_with(&mut ws).await, 4408);
        // 4429: a second connection_init.
        let mut ws = connect_to(addr, "graphql-transport-ws").await;
        init(&mut ws, None).await;
        send(&mut ws, json!({ "type": "connection_init" })).await;
        assert_eq!(closed_with(&mut ws).await, 4429);
        // ping → pong; queries run once and complete; 4409 for a duplicate live id.
        let mut ws = connect_to(addr, "graphql-transport-ws").await;
        init(&mut ws, Some(&token)).await;
        send(&mut ws, json!({ "type": "ping", "payload": { "n": 1 } })).await;
        assert_eq!(
            recv(&mut ws).await,
            json!({ "type": "pong", "payload": { "n": 1 } })
        );
        send(&mut ws, json!({ "id": "q", "type": "subscribe", "payload": { "query": "{ viewer { email } }" } })).await;
        let m = recv(&mut ws).await;
        assert_eq!(
            m["payload"]["data"]["viewer"]["email"], "ws@example.com",
            "{m}"
        );
        assert_eq!(
            recv(&mut ws).await,
            json!({ "id": "q", "type": "complete" })
        );
        send(
            &mut ws,
            json!({ "id": "v", "type": "subscribe", "payload": { "query": "{ nope }" } }),
        )
        .await;
        let m = recv(&mut ws).await;
        assert_eq!(
            (
                m["type"].as_str(),
                m["payload"][0]["extensions"]["code"].as_str()
            ),
            (Some("error"), Some("GRAPHQL_VALIDATION_FAILED")),
            "{m}"
        );
        let p = project(&app, &token, "live", false).await;
        subscribe(&mut ws, "s", &p).await;
        subscribe(&mut ws, "s", &p).await;
        assert_eq!(closed_with(&mut ws).await, 4409);
    }
);

db_test!(
    project_events_reach_members_and_nobody_else,
    |app| async move {
        let (owner, owner_id) = user(&app, "owner").await;
        let (member, member_id) = user(&app, "member").await;
        let (outsider, _) = user(&app, "outsider").await;
        let p = project(&app, &owner, "live", false).await;
        add_member(&app, &owner, &p, &member_id, "EDITOR").await;

        let mut watcher = connect_to(app.addr, "graphql-transport-ws").await;
        init(&mut watcher, Some(&member)).await;
        subscribe(&mut watcher, "w", &p).await;
        let mut snoop = connect_to(app.addr, "graphql-transport-ws").await;
        init(&mut snoop, Some(&outsider)).await;
        subscribe(&mut snoop, "x", &p).await;
        let m = recv(&mut snoop).await;
        assert_eq!(
            m["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
            "{m}"
        );
        assert_eq!(recv(&mut snoop).await["type"], "complete");
        tokio::time::sleep(Duration::from_millis(100)).await;

        let a = node(&app, &owner, &p, "first", &[]).await;
        let (kind, e) = event(&mut watcher, "w").await;
        assert_eq!(kind, "GraphNodeCreated");
        assert_eq!(e["node"], json!({ "id": a, "prompt": "first" }));
        assert_eq!(e["actor"]["id"], owner_id.as_str());
        let b = node(&app, &owner, &p, "second", &[&a]).await;
        assert_eq!(event(&mut watcher, "w").await.0, "GraphNodeCreated");
        let (kind, e) = event(&mut watcher, "w").await;
        assert_eq!(kind, "GraphEdgeCreated");
        assert_eq!(
            e["edge"],
            json!({ "source": { "id": a }, "target": { "id": b } })
        );
        app.gql(
            "mutation($i: UpdateGraphNodeInput!) { updateGraphNode(input: $i) { node { id } } }",
            json!({ "i": { "id": a, "prompt": "changed" } }),
            Some(&owner),
        )
        .await;
        let (kind, e) = event(&mut watcher, "w").await;
        assert_eq!(kind, "GraphNodeUpdated");
        assert_eq!(
            e["nodes"],
            json!([{ "id": a, "status": "IDLE" }, { "id": b, "status": "STALE" }])
        );
        app.gql(
            "mutation($i: MoveGraphNodesInput!) { moveGraphNodes(input: $i) { nodes { id } } }",
            json!({ "i": { "moves": [{ "id": b, "position": { "x": 42, "y": 0 } }] } }),
            Some(&owner),
        )
        .await;
        let (kind, e) = event(&mut watcher, "w").await;
        assert_eq!(
            (kind.as_str(), &e["nodes"][0]["position"]["x"]),
            ("GraphNodesMoved", &json!(42.0))
        );
        app.gql(
            "mutation($i: GraphNodeIdInput!) { deleteGraphNode(input: $i) { deletedId } }",
            json!({ "i": { "id": b } }),
            Some(&owner),
        )
        .await;
        let (kind, e) = event(&mut watcher, "w").await;
        assert_eq!(
            (kind.as_str(), e["deletedId"].as_str()),
            ("GraphNodeDeleted", Some(b.as_str()))
        );
        app.gql(
            "mutation($i: GraphNodeIdInput!) { restoreGraphNode(input: $i) { node { id } } }",
            json!({ "i": { "id": b } }),
            Some(&owner),
        )
        .await;
        assert_eq!(event(&mut watcher, "w").await.0, "GraphNodeRestored");
        app.gql(
            "mutation($i: UpdateProjectInput!) { updateProject(input: $i) { project { id } } }",
            json!({ "i": { "id": p, "name": "renamed" } }),
            Some(&owner),
        )
        .await;
        let (kind, e) = event(&mut watcher, "w").await;
        assert_eq!(
            (kind.as_str(), e["project"]["name"].as_str()),
            ("ProjectUpdated", Some("renamed"))
        );
        let (_, newbie) = user(&app, "newbie").await;
        add_member(&app, &owner, &p, &newbie, "VIEWER").await;
        let (kind, e) = event(&mut watcher, "w").await;
        assert_eq!(
            (kind.as_str(), e["member"]["user"]["id"].as_str()),
            ("MemberAdded", Some(newbie.as_str()))
        );
        app.gql("mutation($i: UpdatePresenceInput!) { updatePresence(input: $i) { presence { lastSeen } } }", json!({ "i": { "projectId": p, "cursor": { "x": 7, "y": 8 } } }), Some(&owner)).await;
        let (kind, e) = event(&mut watcher, "w").await;
        assert_eq!(
            (kind.as_str(), e["presence"]["cursor"]["x"].as_f64()),
            ("PresenceChanged", Some(7.0))
        );

        // The outsider's socket heard nothing.
        let quiet = tokio::time::timeout(Duration::from_millis(200), snoop.next()).await;
        assert!(quiet.is_err(), "an outsider received {quiet:?}");
        // Completing a subscription stops it.
        send(&mut watcher, json!({ "id": "w", "type": "complete" })).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        node(&app, &owner, &p, "unheard", &[]).await;
        let quiet = tokio::time::timeout(Duration::from_millis(300), watcher.next()).await;
        assert!(
            quiet.is_err(),
            "a completed subscription delivered {quiet:?}"
        );
    }
);

db_test!(a_removed_member_stops_receiving_at_once, |app| async move {
    let (owner, _) = user(&app, "owner").await;
    let (member, member_id) = user(&app, "member").await;
    let p = project(&app, &owner, "secret", false).await;
    add_member(&app, &owner, &p, &member_id, "VIEWER").await;
    let mut ws = connect_to(app.addr, "graphql-transport-ws").await;
    init(&mut ws, Some(&member)).await;
    subscribe(&mut ws, "s", &p).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    node(&app, &owner, &p, "seen", &[]).await;
    // On PostgreSQL the MemberAdded of the setup travels through NOTIFY and may reach the
    // subscription after it started; it is an older event, not a leak.
    let mut kind = event(&mut ws, "s").await.0;
    if kind == "MemberAdded" {
        kind = event(&mut ws, "s").await.0;
    }
    assert_eq!(kind, "GraphNodeCreated");
    let v = app
        .gql(
            "mutation($i: ProjectUserInput!) { removeProjectMember(input: $i) { deletedId } }",
            json!({ "i": { "projectId": p, "userId": member_id } }),
            Some(&owner),
        )
        .await;
    assert!(v["data"].is_object(), "{v}");
    let m = recv(&mut ws).await;
    assert_eq!(
        m["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{m}"
    );
    assert_eq!(
        recv(&mut ws).await,
        json!({ "id": "s", "type": "complete" })
    );
    node(&app, &owner, &p, "unseen", &[]).await;
    let quiet = tokio::time::timeout(Duration::from_millis(300), ws.next()).await;
    assert!(quiet.is_err(), "a removed member received {quiet:?}");
});

db_test!(the_legacy_protocol_works_too, |app| async move {
    let (owner, _) = user(&app, "owner").await;
    let p = project(&app, &owner, "legacy", false).await;
    let mut ws = connect_to(app.addr, "graphql-ws").await;
    send(&mut ws, json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {owner}") } })).await;
    assert_eq!(recv(&mut ws).await["type"], "connection_ack");
    send(&mut ws, json!({ "id": "1", "type": "start", "payload": { "query": EVENTS, "variables": { "id": p } } })).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let n = node(&app, &owner, &p, "old school", &[]).await;
    let m = recv(&mut ws).await;
    assert_eq!(
        (
            m["type"].as_str(),
            m["payload"]["data"]["projectEvents"]["node"]["id"].as_str()
        ),
        (Some("data"), Some(n.as_str())),
        "{m}"
    );
    send(&mut ws, json!({ "id": "1", "type": "stop" })).await;
    send(&mut ws, json!({ "type": "connection_terminate" })).await;
    assert_eq!(closed_with(&mut ws).await, 1000);
});

pub(crate) async fn second_instance(app: &TestApp) -> plexus_server::app::Running {
    let config = (*app.state.config).clone();
    let db = plexus_server::db::connect(&config.database_url, 2)
        .await
        .unwrap();
    let state = plexus_server::app::state(config, db, TEST_SECRET.as_bytes())
        .await
        .unwrap();
    plexus_server::app::spawn(state).await.unwrap()
}

db_test!(events_cross_instances_through_postgres, |app| async move {
    if app.backend != Backend::Postgres {
        return; // SQLite is one process: there is no second instance to reach.
    }
    let (owner, _) = user(&app, "owner").await;
    let p = project(&app, &owner, "cluster", false).await;
    let other = second_instance(&app).await;
    let mut ws = connect_to(other.addr, "graphql-transport-ws").await;
    init(&mut ws, Some(&owner)).await;
    subscribe(&mut ws, "s", &p).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The mutation goes to the first instance; the subscriber sits on the second.
    let n = node(&app, &owner, &p, "from afar", &[]).await;
    let (kind, e) = event(&mut ws, "s").await;
    assert_eq!(
        (kind.as_str(), e["node"]["id"].as_str()),
        ("GraphNodeCreated", Some(n.as_str()))
    );

    // A burst: notifications queued meanwhile leave together, and none is lost or
    // reordered on the way.
    let burst = futures_util::future::join_all((0..20).map(|i| {
        node(
            &app,
            &owner,
            &p,
            if i % 2 == 0 { "even" } else { "odd" },
            &[],
        )
    }))
    .await;
    let mut heard = Vec::new();
    for _ in 0..burst.len() {
        let (kind, e) = event(&mut ws, "s").await;
        assert_eq!(kind, "GraphNodeCreated", "{e}");
        heard.push(e["node"]["id"].as_str().unwrap().to_string());
    }
    let (mut sent, mut got) = (burst.clone(), heard.clone());
    sent.sort();
    got.sort();
    assert_eq!(sent, got);
    let mut in_turn = Vec::new();
    for i in 0..10 {
        in_turn.push(node(&app, &owner, &p, &format!("turn {i}"), &[]).await);
    }
    for id in &in_turn {
        let (_, e) = event(&mut ws, "s").await;
        assert_eq!(e["node"]["id"].as_str(), Some(id.as_str()), "{e}");
    }
    other.shutdown();
});
