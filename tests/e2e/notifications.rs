//! Notifications: one for every event type, created with the event; the inbox lists,
//! filters, counts and marks read only the viewer's own; expired ones are hidden and purged.

use plexus_tests::{TestApp, code, db_test};
use serde_json::{Value, json};

use crate::fixtures::{add_member, node, project, user};

const INBOX: &str = "query($f: NotificationFilterInput, $first: Int, $after: String) {
  notifications(filter: $f, first: $first, after: $after) {
    totalCount unreadCount
    pageInfo { hasNextPage endCursor }
    nodes { id type title message data read readAt priority createdAt expiresAt
            project { id } node { id } } } }";

const MARK: &str = "mutation($i: MarkNotificationsReadInput!) { markNotificationsRead(input: $i) { updatedCount } }";

async fn inbox(app: &TestApp, token: &str, filter: Value) -> Value {
    let v = app
        .gql(INBOX, json!({ "f": filter, "first": 50 }), Some(token))
        .await;
    assert!(v["errors"].is_null(), "{v}");
    v["data"]["notifications"].clone()
}

fn types(conn: &Value) -> Vec<String> {
    conn["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap().to_string())
        .collect()
}

async fn agent(app: &TestApp, token: &str, name: &str) -> String {
    let v = app
        .gql(
            "mutation($i: CreateAgentInput!) { createAgent(input: $i) { agent { id } } }",
            json!({ "i": { "name": name, "kind": "writer" } }),
            Some(token),
        )
        .await;
    v["data"]["createAgent"]["agent"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("createAgent: {v}"))
        .to_string()
}

async fn task(app: &TestApp, token: &str, agent: &str, name: &str) -> String {
    let v = app
        .gql(
            "mutation($i: CreateAgentTaskInput!) { createAgentTask(input: $i) { task { id } } }",
            json!({ "i": { "agentId": agent, "name": name, "prompt": "do it" } }),
            Some(token),
        )
        .await;
    v["data"]["createAgentTask"]["task"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("createAgentTask: {v}"))
        .to_string()
}

async fn presence(app: &TestApp, token: &str, project: &str) -> Value {
    app.gql(
        "mutation($i: UpdatePresenceInput!) { updatePresence(input: $i) { presence { lastSeen } } }",
        json!({ "i": { "projectId": project } }),
        Some(token),
    )
    .await
}

db_test!(a_member_added_gets_a_project_invite, |app| async move {
    let (owner, _) = user(&app, "owner").await;
    let (bob, bob_id) = user(&app, "bob").await;
    let p = project(&app, &owner, "Atlas", false).await;
    assert!(inbox(&app, &bob, json!(null)).await["totalCount"] == json!(0));
    let v = add_member(&app, &owner, &p, &bob_id, "EDITOR").await;
    assert!(v["errors"].is_null(), "{v}");
    let inbox_bob = inbox(&app, &bob, json!(null)).await;
    assert_eq!(inbox_bob["totalCount"], json!(1), "{inbox_bob}");
    assert_eq!(inbox_bob["unreadCount"], json!(1));
    let n = &inbox_bob["nodes"][0];
    assert_eq!(n["type"], json!("PROJECT_INVITE"));
    assert_eq!(n["priority"], json!("MEDIUM"));
    assert_eq!(n["read"], json!(false));
    assert_eq!(n["project"]["id"], json!(p));
    assert!(n["title"].as_str().unwrap().contains("Atlas"), "{n}");
    assert_eq!(n["data"]["role"], json!("EDITOR"));
    // The owner, who did it, got nothing.
    assert_eq!(
        inbox(&app, &owner, json!(null)).await["totalCount"],
        json!(0)
    );

    // A refused add (already a member) leaves no notification behind.
    let v = add_member(&app, &owner, &p, &bob_id, "VIEWER").await;
    assert_eq!(code(&v), "CONFLICT");
    assert_eq!(inbox(&app, &bob, json!(null)).await["totalCount"], json!(1));

    // node(id) resolves it for its recipient only.
    let id = n["id"].as_str().unwrap();
    assert!(id.starts_with("ntf_"));
    let q = "query($id: ID!) { node(id: $id) { __typename id ... on Notification { type } } }";
    let v = app.gql(q, json!({ "id": id }), Some(&bob)).await;
    assert_eq!(v["data"]["node"]["type"], json!("PROJECT_INVITE"), "{v}");
    let v = app.gql(q, json!({ "id": id }), Some(&owner)).await;
    assert_eq!(v["data"]["node"], Value::Null, "{v}");
    let v = app.gql(q, json!({ "id": id }), None).await;
    assert_eq!(v["data"]["node"], Value::Null, "{v}");
});

db_test!(
    node_generation_notifies_creator_and_requester,
    |app| async move {
        let (owner, _) = user(&app, "owner").await;
        let (ed, ed_id) = user(&app, "ed").await;
        let p = project(&app, &owner, "Gen", false).await;
        add_member(&app, &owner, &p, &ed_id, "EDITOR").await;
        // The owner created the node; the editor runs the generation with their own agent.
        let n = node(&app, &owner, &p, "What is a DAG?", &[]).await;
        let a = agent(&app, &ed, "writer").await;
        let request = "mutation($n: ID!, $a: ID!) { requestNodeGeneration(input: { nodeId: $n, agentId: $a }) { node { status } } }";
        let v = app.gql(request, json!({ "n": n, "a": a }), Some(&ed)).await;
        assert!(v["errors"].is_null(), "{v}");
        let v = app
        .gql(
            "mutation($n: ID!) { completeNodeGeneration(input: { nodeId: $n, response: \"a graph\" }) { node { status } } }",
            json!({ "n": n }),
            Some(&ed),
        )
        .await;
        assert!(v["errors"].is_null(), "{v}");
        for token in [&owner, &ed] {
            let inbox = inbox(&app, token, json!({ "type": "NODE_GENERATED" })).await;
            assert_eq!(inbox["totalCount"], json!(1), "{inbox}");
            let first = &inbox["nodes"][0];
            assert_eq!(first["node"]["id"], json!(n));
            assert_eq!(first["project"]["id"], json!(p));
        }
        // No AGENT_COMPLETED on top of it: generation tasks announce themselves as nodes.
        let all = inbox(&app, &ed, json!(null)).await;
        assert!(
            !types(&all).contains(&"AGENT_COMPLETED".to_string()),
            "{all}"
        );

        // A failure: NODE_ERROR, HIGH priority, with the error in the message.
        app.gql(request, json!({ "n": n, "a": a }), Some(&ed)).await;
        let v = app
        .gql(
            "mutation($n: ID!) { failNodeGeneration(input: { nodeId: $n, error: \"model offline\" }) { node { status } } }",
            json!({ "n": n }),
            Some(&ed),
        )
        .await;
        assert!(v["errors"].is_null(), "{v}");
        for token in [&owner, &ed] {
            let inbox = inbox(&app, token, json!({ "type": "NODE_ERROR" })).await;
            assert_eq!(inbox["totalCount"], json!(1), "{inbox}");
            let first = &inbox["nodes"][0];
            assert_eq!(first["priority"], json!("HIGH"));
            assert!(first["message"].as_str().unwrap().contains("model offline"));
        }
        // When the owner's access goes, the node and project read as null, the entry stays.
        let v = app
            .gql(
                "mutation($i: LeaveProjectInput!) { leaveProject(input: $i) { deletedId } }",
                json!({ "i": { "projectId": p } }),
                Some(&ed),
            )
            .await;
        assert!(v["errors"].is_null(), "{v}");
        let inbox = inbox(&app, &ed, json!({ "type": "NODE_ERROR" })).await;
        assert_eq!(inbox["nodes"][0]["node"], Value::Null);
        assert_eq!(inbox["nodes"][0]["project"], Value::Null);
    }
);

db_test!(finished_agent_tasks_notify_the_owner, |app| async move {
    let (ada, _) = user(&app, "ada").await;
    let (bob, _) = user(&app, "bob").await;
    let a = agent(&app, &ada, "worker").await;
    let t1 = task(&app, &ada, &a, "summarise").await;
    let t2 = task(&app, &ada, &a, "translate").await;
    let t3 = task(&app, &ada, &a, "cancelled").await;
    let step = |m: &'static str, input: Value| {
        let app = &app;
        let ada = ada.clone();
        async move {
            let input_type = match m {
                "startAgentTask" | "cancelAgentTask" => "AgentTaskIdInput".to_string(),
                m => format!("{}{}Input", m[..1].to_uppercase(), &m[1..]),
            };
            let q =
                format!("mutation($i: {input_type}!) {{ {m}(input: $i) {{ task {{ status }} }} }}");
            let v = app.gql(&q, json!({ "i": input }), Some(&ada)).await;
            assert!(v["errors"].is_null(), "{m}: {v}");
        }
    };
    step("startAgentTask", json!({ "id": t1 })).await;
    step("completeAgentTask", json!({ "id": t1 })).await;
    step("startAgentTask", json!({ "id": t2 })).await;
    step("failAgentTask", json!({ "id": t2, "error": "quota" })).await;
    step("cancelAgentTask", json!({ "id": t3 })).await;
    let all = inbox(&app, &ada, json!(null)).await;
    // Newest first; starting and cancelling notify nobody.
    assert_eq!(
        types(&all),
        vec!["AGENT_FAILED", "AGENT_COMPLETED"],
        "{all}"
    );
    assert!(
        all["nodes"][0]["message"]
            .as_str()
            .unwrap()
            .contains("quota")
    );
    assert_eq!(all["nodes"][0]["priority"], json!("HIGH"));
    assert_eq!(inbox(&app, &bob, json!(null)).await["totalCount"], json!(0));
});

db_test!(
    collaborators_joining_and_leaving_notify_the_owner,
    |c| c.presence_timeout = std::time::Duration::from_millis(1500),
    |app| async move {
        let (owner, _) = user(&app, "owner").await;
        let (bob, bob_id) = user(&app, "bob").await;
        let p = project(&app, &owner, "Live", false).await;
        add_member(&app, &owner, &p, &bob_id, "MEMBER").await;
        let joined = json!({ "type": "COLLABORATION_JOINED" });

        // The owner's own presence notifies nobody.
        assert!(presence(&app, &owner, &p).await["errors"].is_null());
        assert_eq!(
            inbox(&app, &owner, joined.clone()).await["totalCount"],
            json!(0)
        );

        // Bob's first heartbeat notifies the owner once; further heartbeats do not.
        for _ in 0..3 {
            let v = presence(&app, &bob, &p).await;
            assert!(v["errors"].is_null(), "{v}");
        }
        let inbox_owner = inbox(&app, &owner, joined.clone()).await;
        assert_eq!(inbox_owner["totalCount"], json!(1), "{inbox_owner}");
        let n = &inbox_owner["nodes"][0];
        assert_eq!(n["priority"], json!("LOW"));
        assert!(n["expiresAt"].is_string(), "{n}");
        assert_eq!(n["project"]["id"], json!(p));
        // Emails are private: the message does not carry bob's.
        assert!(
            !n["message"].as_str().unwrap().contains("bob@example.com"),
            "{n}"
        );

        // His heartbeats stop: he is gone (COLLABORATION_LEFT)...
        let left = json!({ "type": "COLLABORATION_LEFT" });
        let mut waited = 0;
        while inbox(&app, &owner, left.clone()).await["totalCount"] != json!(1) {
            assert!(
                waited < 100,
                "no COLLABORATION_LEFT after the presence timeout"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            waited += 1;
        }
        // ...and after being away longer than the presence window, he joins again.
        app.sql("UPDATE project_presence SET last_seen = '2000-01-01T00:00:00+00:00'")
            .await;
        assert!(presence(&app, &bob, &p).await["errors"].is_null());
        assert_eq!(
            inbox(&app, &owner, joined.clone()).await["totalCount"],
            json!(2)
        );

        // Leaving the project: COLLABORATION_LEFT.
        let v = app
            .gql(
                "mutation($i: LeaveProjectInput!) { leaveProject(input: $i) { deletedId } }",
                json!({ "i": { "projectId": p } }),
                Some(&bob),
            )
            .await;
        assert!(v["errors"].is_null(), "{v}");
        let left = inbox(&app, &owner, left).await;
        assert_eq!(left["totalCount"], json!(2), "{left}");
        assert_eq!(inbox(&app, &bob, joined).await["totalCount"], json!(0));
    }
);

db_test!(
    the_inbox_pages_filters_and_marks_only_ones_own,
    |app| async move {
        let (owner, _) = user(&app, "owner").await;
        let (bob, bob_id) = user(&app, "bob").await;
        let (eve, _) = user(&app, "eve").await;
        let mut projects = vec![];
        for i in 0..3 {
            let p = project(&app, &owner, &format!("P{i}"), false).await;
            add_member(&app, &owner, &p, &bob_id, "VIEWER").await;
            projects.push(p);
        }
        // Paging, newest first.
        let v = app.gql(INBOX, json!({ "first": 2 }), Some(&bob)).await;
        let page = &v["data"]["notifications"];
        assert_eq!(page["nodes"].as_array().unwrap().len(), 2, "{v}");
        assert_eq!(page["pageInfo"]["hasNextPage"], json!(true));
        assert_eq!(page["totalCount"], json!(3));
        assert_eq!(page["nodes"][0]["project"]["id"], json!(projects[2]));
        let after = page["pageInfo"]["endCursor"].as_str().unwrap();
        let v = app
            .gql(INBOX, json!({ "first": 2, "after": after }), Some(&bob))
            .await;
        let rest = &v["data"]["notifications"];
        assert_eq!(rest["nodes"].as_array().unwrap().len(), 1, "{v}");
        assert_eq!(rest["nodes"][0]["project"]["id"], json!(projects[0]));

        let all = inbox(&app, &bob, json!(null)).await;
        let ids: Vec<String> = all["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap().to_string())
            .collect();

        // Someone else's ids are simply not counted, and stay unread for bob.
        let v = app
            .gql(MARK, json!({ "i": { "ids": ids } }), Some(&eve))
            .await;
        assert_eq!(
            v["data"]["markNotificationsRead"]["updatedCount"],
            json!(0),
            "{v}"
        );
        assert_eq!(
            inbox(&app, &bob, json!(null)).await["unreadCount"],
            json!(3)
        );

        // Marking one: counted once, then not again.
        let v = app
            .gql(MARK, json!({ "i": { "ids": [ids[0]] } }), Some(&bob))
            .await;
        assert_eq!(
            v["data"]["markNotificationsRead"]["updatedCount"],
            json!(1),
            "{v}"
        );
        let v = app
            .gql(MARK, json!({ "i": { "ids": [ids[0]] } }), Some(&bob))
            .await;
        assert_eq!(
            v["data"]["markNotificationsRead"]["updatedCount"],
            json!(0),
            "{v}"
        );
        let unread = inbox(&app, &bob, json!({ "unreadOnly": true })).await;
        assert_eq!(unread["totalCount"], json!(2));
        assert_eq!(unread["unreadCount"], json!(2));
        let all = inbox(&app, &bob, json!(null)).await;
        assert_eq!(all["nodes"][0]["read"], json!(true));
        assert!(all["nodes"][0]["readAt"].is_string());

        // `all: true` marks the rest.
        let v = app
            .gql(MARK, json!({ "i": { "all": true } }), Some(&bob))
            .await;
        assert_eq!(
            v["data"]["markNotificationsRead"]["updatedCount"],
            json!(2),
            "{v}"
        );
        assert_eq!(
            inbox(&app, &bob, json!(null)).await["unreadCount"],
            json!(0)
        );

        // Bad input and anonymous callers.
        let v = app.gql(MARK, json!({ "i": {} }), Some(&bob)).await;
        assert_eq!(code(&v), "BAD_USER_INPUT");
        let v = app
            .gql(MARK, json!({ "i": { "ids": [projects[0]] } }), Some(&bob))
            .await;
        assert_eq!(code(&v), "BAD_USER_INPUT");
        assert_eq!(v["errors"][0]["extensions"]["field"], json!("ids"));
        let v = app.gql(MARK, json!({ "i": { "all": true } }), None).await;
        assert_eq!(code(&v), "UNAUTHENTICATED");
        let v = app.gql(INBOX, json!({}), None).await;
        assert_eq!(code(&v), "UNAUTHENTICATED");
    }
);

db_test!(
    expired_notifications_are_hidden_and_purged,
    |app| async move {
        let (owner, _) = user(&app, "owner").await;
        let (bob, bob_id) = user(&app, "bob").await;
        let p = project(&app, &owner, "Old", false).await;
        add_member(&app, &owner, &p, &bob_id, "VIEWER").await;
        let p2 = project(&app, &owner, "New", false).await;
        add_member(&app, &owner, &p2, &bob_id, "VIEWER").await;
        let all = inbox(&app, &bob, json!(null)).await;
        let old_id = all["nodes"][1]["id"].as_str().unwrap().to_string();
        // Expire the older one.
        let backend_true = "UPDATE notifications SET expires_at = '2000-01-01T00:00:00+00:00' WHERE title LIKE '%Old%'";
        app.sql(backend_true).await;
        let all = inbox(&app, &bob, json!(null)).await;
        assert_eq!(all["totalCount"], json!(1), "{all}");
        assert_eq!(all["unreadCount"], json!(1));
        assert_eq!(all["nodes"].as_array().unwrap().len(), 1);
        let q = "query($id: ID!) { node(id: $id) { id } }";
        let v = app.gql(q, json!({ "id": old_id }), Some(&bob)).await;
        assert_eq!(v["data"]["node"], Value::Null, "{v}");
        let v = app
            .gql(MARK, json!({ "i": { "ids": [old_id] } }), Some(&bob))
            .await;
        assert_eq!(v["data"]["markNotificationsRead"]["updatedCount"], json!(0));
        assert_eq!(app.count("notifications").await, 2);
        let purged = app
            .state
            .api
            .users
            .purge_expired_notifications()
            .await
            .unwrap();
        assert_eq!(purged, 1);
        assert_eq!(app.count("notifications").await, 1);
    }
);
