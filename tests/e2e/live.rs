//! Live conversations and streamed text over real WebSockets: every conversation event
//! reaches a reader and not an outsider, a removed member is cut off, chunks arrive in order
//! with their sequence, and a client that reconnects resumes without losing or repeating text
//! — for messages (`conversationEvents`) and node responses (`projectEvents`).

use crate::agents::{agent, tool};
use crate::fixtures::*;
use crate::realtime::{Socket, connect_to, init, recv, send};
use futures_util::StreamExt;
use plexus_tests::{TestApp, db_test};
use serde_json::{Value, json};
use std::time::Duration;

const CONVERSATION_EVENTS: &str = "subscription($id: ID!, $m: ID, $after: Int) {
  conversationEvents(conversationId: $id, messageId: $m, afterSequence: $after) { __typename
  ... on MessageAdded { at actor { id } message { id content status } }
  ... on MessageChunk { messageId chunk sequence message { status } }
  ... on MessageUpdated { message { id content status tokens } }
  ... on ToolCallRecorded { toolCall { name arguments } }
  ... on ConversationUpdated { conversation { title } }
  ... on ConversationDeleted { deletedId } } }";

const PROJECT_CHUNKS: &str = "subscription($id: ID!, $n: ID, $after: Int) {
  projectEvents(projectId: $id, nodeId: $n, afterSequence: $after) { __typename
  ... on NodeResponseChunk { nodeId chunk sequence }
  ... on GraphNodeUpdated { nodes { id status response } } } }";

async fn watch(app: &TestApp, token: &str, query: &str, vars: Value) -> Socket {
    let mut ws = connect_to(app.addr, "graphql-transport-ws").await;
    init(&mut ws, Some(token)).await;
    send(
        &mut ws,
        json!({ "id": "s", "type": "subscribe", "payload": { "query": query, "variables": vars } }),
    )
    .await;
    // Let the subscription reach the bus before anything happens.
    tokio::time::sleep(Duration::from_millis(150)).await;
    ws
}

/// The next event, as `(typename, event)`.
async fn next(ws: &mut Socket, field: &str) -> (String, Value) {
    let m = recv(ws).await;
    assert_eq!(m["type"], "next", "{m}");
    let e = m["payload"]["data"][field].clone();
    assert!(e.is_object(), "{m}");
    (e["__typename"].as_str().unwrap().to_string(), e)
}

async fn gql_ok(app: &TestApp, token: &str, q: &str, i: Value) -> Value {
    let v = app.gql(q, json!({ "i": i }), Some(token)).await;
    assert_eq!(outcome(&v), "OK", "{v}");
    v["data"].clone()
}

const CREATE: &str = "mutation($i: CreateConversationInput!) { createConversation(input: $i) { conversation { id } } }";
const SEND: &str = "mutation($i: SendMessageInput!) { sendMessage(input: $i) { message { id } } }";
const CHUNK: &str =
    "mutation($i: AppendMessageChunkInput!) { appendMessageChunk(input: $i) { message { id } } }";
const FINISH: &str =
    "mutation($i: FinishMessageInput!) { finishMessage(input: $i) { message { id } } }";

async fn stream_start(app: &TestApp, token: &str, conv: &str) -> String {
    let d = gql_ok(
        app,
        token,
        SEND,
        json!({ "conversationId": conv, "role": "ASSISTANT", "streaming": true }),
    )
    .await;
    d["sendMessage"]["message"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn chunk(app: &TestApp, token: &str, msg: &str, text: &str) {
    gql_ok(
        app,
        token,
        CHUNK,
        json!({ "messageId": msg, "chunk": text }),
    )
    .await;
}

db_test!(
    conversation_events_reach_readers_until_they_lose_access,
    |app| async move {
        let (owner, owner_id) = user(&app, "owner").await;
        let (member, member_id) = user(&app, "member").await;
        let (outsider, _) = user(&app, "outsider").await;
        let p = project(&app, &owner, "p", true).await;
        add_member(&app, &owner, &p, &member_id, "MEMBER").await;
        let d = gql_ok(
            &app,
            &owner,
            CREATE,
            json!({ "projectId": p, "title": "t" }),
        )
        .await;
        let c = d["createConversation"]["conversation"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let t = tool(&app, &owner, "calc").await;
        tokio::time::sleep(Duration::from_millis(300)).await;

        let mut ws = watch(&app, &member, CONVERSATION_EVENTS, json!({ "id": c })).await;
        // An outsider cannot subscribe, even to a public project's conversation.
        let mut snoop = connect_to(app.addr, "graphql-transport-ws").await;
        init(&mut snoop, Some(&outsider)).await;
        send(&mut snoop, json!({ "id": "x", "type": "subscribe", "payload": { "query": CONVERSATION_EVENTS, "variables": { "id": c } } })).await;
        let m = recv(&mut snoop).await;
        assert_eq!(
            m["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
            "{m}"
        );
        assert_eq!(recv(&mut snoop).await["type"], "complete");

        gql_ok(
            &app,
            &owner,
            SEND,
            json!({ "conversationId": c, "content": "hello" }),
        )
        .await;
        let (kind, e) = next(&mut ws, "conversationEvents").await;
        assert_eq!(
            (kind.as_str(), e["message"]["content"].as_str()),
            ("MessageAdded", Some("hello"))
        );
        assert_eq!(e["actor"]["id"], json!(owner_id));

        let msg = stream_start(&app, &owner, &c).await;
        let (kind, e) = next(&mut ws, "conversationEvents").await;
        assert_eq!(
            (kind.as_str(), e["message"]["status"].as_str()),
            ("MessageAdded", Some("STREAMING"))
        );
        for (text, seq) in [("Once ", 5), ("upon ", 10), ("a tïme", 16)] {
            chunk(&app, &owner, &msg, text).await;
            let (kind, e) = next(&mut ws, "conversationEvents").await;
            assert_eq!(kind, "MessageChunk");
            assert_eq!(
                (e["chunk"].as_str(), e["sequence"].as_i64()),
                (Some(text), Some(seq)),
                "{e}"
            );
            assert_eq!(e["messageId"], json!(msg));
        }
        gql_ok(
            &app,
            &owner,
            FINISH,
            json!({ "messageId": msg, "tokens": 9 }),
        )
        .await;
        let (kind, e) = next(&mut ws, "conversationEvents").await;
        assert_eq!(kind, "MessageUpdated");
        assert_eq!(
            e["message"],
            json!({ "id": msg, "content": "Once upon a tïme", "status": "COMPLETE", "tokens": 9 })
        );
        gql_ok(
            &app,
            &owner,
            "mutation($i: RecordToolCallInput!) { recordToolCall(input: $i) { toolCall { id } } }",
            json!({ "conversationId": c, "toolId": t, "arguments": { "q": "1+1" } }),
        )
        .await;
        let (kind, e) = next(&mut ws, "conversationEvents").await;
        assert_eq!(
            (kind.as_str(), e["toolCall"]["name"].as_str()),
            ("ToolCallRecorded", Some("calc"))
        );
        gql_ok(
        &app,
        &owner,
        "mutation($i: UpdateConversationInput!) { updateConversation(input: $i) { conversation { id } } }",
        json!({ "id": c, "title": "renamed" }),
    )
    .await;
        let (kind, e) = next(&mut ws, "conversationEvents").await;
        assert_eq!(
            (kind.as_str(), e["conversation"]["title"].as_str()),
            ("ConversationUpdated", Some("renamed"))
        );
        let quiet = tokio::time::timeout(Duration::from_millis(200), snoop.next()).await;
        assert!(quiet.is_err(), "the outsider heard {quiet:?}");

        // Removed from the project, the member is cut off at once.
        gql_ok(
            &app,
            &owner,
            "mutation($i: ProjectUserInput!) { removeProjectMember(input: $i) { deletedId } }",
            json!({ "projectId": p, "userId": member_id }),
        )
        .await;
        let m = recv(&mut ws).await;
        assert_eq!(
            m["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN",
            "{m}"
        );
        assert_eq!(recv(&mut ws).await["type"], "complete");

        // The owner sees the deletion as the last event.
        let mut ws = watch(&app, &owner, CONVERSATION_EVENTS, json!({ "id": c })).await;
        gql_ok(
        &app,
        &owner,
        "mutation($i: DeleteConversationInput!) { deleteConversation(input: $i) { deletedId } }",
        json!({ "id": c }),
    )
    .await;
        let (kind, e) = next(&mut ws, "conversationEvents").await;
        assert_eq!(
            (kind.as_str(), e["deletedId"].as_str()),
            ("ConversationDeleted", Some(c.as_str()))
        );
        assert_eq!(recv(&mut ws).await["type"], "complete");
    }
);

db_test!(
    a_reconnecting_reader_resumes_a_stream_without_gaps_or_repeats,
    |app| async move {
        let (owner, _) = user(&app, "owner").await;
        let d = gql_ok(&app, &owner, CREATE, json!({})).await;
        let c = d["createConversation"]["conversation"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let msg = stream_start(&app, &owner, &c).await;
        for text in ["Once ", "upon ", "a time"] {
            chunk(&app, &owner, &msg, text).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        // The client saw up to "Once " (sequence 5) before it dropped.
        let mut ws = watch(
            &app,
            &owner,
            CONVERSATION_EVENTS,
            json!({ "id": c, "m": msg, "after": 5 }),
        )
        .await;
        let (kind, e) = next(&mut ws, "conversationEvents").await;
        assert_eq!(kind, "MessageChunk");
        assert_eq!(
            (e["chunk"].as_str(), e["sequence"].as_i64()),
            (Some("upon a time"), Some(16)),
            "{e}"
        );
        chunk(&app, &owner, &msg, "!").await;
        let (_, e) = next(&mut ws, "conversationEvents").await;
        assert_eq!(
            (e["chunk"].as_str(), e["sequence"].as_i64()),
            (Some("!"), Some(17)),
            "{e}"
        );
        gql_ok(&app, &owner, FINISH, json!({ "messageId": msg })).await;
        assert_eq!(
            next(&mut ws, "conversationEvents").await.0,
            "MessageUpdated"
        );

        // Resuming after the stream finished: the missed text, then word that it is complete.
        let mut ws = watch(
            &app,
            &owner,
            CONVERSATION_EVENTS,
            json!({ "id": c, "m": msg, "after": 10 }),
        )
        .await;
        let (_, e) = next(&mut ws, "conversationEvents").await;
        assert_eq!(
            (e["chunk"].as_str(), e["sequence"].as_i64()),
            (Some("a time!"), Some(17)),
            "{e}"
        );
        let (kind, e) = next(&mut ws, "conversationEvents").await;
        assert_eq!(
            (kind.as_str(), e["message"]["status"].as_str()),
            ("MessageUpdated", Some("COMPLETE"))
        );
        // Nothing missed: nothing is sent.
        let mut ws = watch(
            &app,
            &owner,
            CONVERSATION_EVENTS,
            json!({ "id": c, "m": msg, "after": 17 }),
        )
        .await;
        let (kind, _) = next(&mut ws, "conversationEvents").await;
        assert_eq!(kind, "MessageUpdated");
        // afterSequence needs the stream it is about.
        let mut ws = connect_to(app.addr, "graphql-transport-ws").await;
        init(&mut ws, Some(&owner)).await;
        send(&mut ws, json!({ "id": "s", "type": "subscribe", "payload": { "query": CONVERSATION_EVENTS, "variables": { "id": c, "after": 3 } } })).await;
        let m = recv(&mut ws).await;
        assert_eq!(
            m["payload"]["errors"][0]["extensions"]["field"], "messageId",
            "{m}"
        );
    }
);

db_test!(
    node_responses_stream_to_the_canvas_and_resume,
    |app| async move {
        let (owner, _) = user(&app, "owner").await;
        let (viewer, viewer_id) = user(&app, "viewer").await;
        let p = project(&app, &owner, "p", false).await;
        add_member(&app, &owner, &p, &viewer_id, "VIEWER").await;
        let n = node(&app, &owner, &p, "why?", &[]).await;
        let bot = agent(&app, &owner, "writer", &[], &[]).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut ws = watch(&app, &viewer, PROJECT_CHUNKS, json!({ "id": p })).await;
        gql_ok(
        &app,
        &owner,
        "mutation($i: RequestNodeGenerationInput!) { requestNodeGeneration(input: $i) { node { id } } }",
        json!({ "nodeId": n, "agentId": bot }),
    )
    .await;
        let (kind, e) = next(&mut ws, "projectEvents").await;
        assert_eq!(
            (kind.as_str(), e["nodes"][0]["status"].as_str()),
            ("GraphNodeUpdated", Some("GENERATING"))
        );
        let append = "mutation($i: AppendNodeResponseInput!) { appendNodeResponse(input: $i) { node { id } } }";
        for (text, seq) in [("Because ", 8), ("it is.", 14)] {
            gql_ok(&app, &owner, append, json!({ "nodeId": n, "chunk": text })).await;
            let (kind, e) = next(&mut ws, "projectEvents").await;
            assert_eq!(kind, "NodeResponseChunk");
            assert_eq!(
                (
                    e["chunk"].as_str(),
                    e["sequence"].as_i64(),
                    e["nodeId"].as_str()
                ),
                (Some(text), Some(seq), Some(n.as_str()))
            );
        }
        // A second viewer tab reconnects after "Because ".
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut again = watch(
            &app,
            &viewer,
            PROJECT_CHUNKS,
            json!({ "id": p, "n": n, "after": 8 }),
        )
        .await;
        let (_, e) = next(&mut again, "projectEvents").await;
        assert_eq!(
            (e["chunk"].as_str(), e["sequence"].as_i64()),
            (Some("it is."), Some(14)),
            "{e}"
        );
        gql_ok(
        &app,
        &owner,
        "mutation($i: CompleteNodeGenerationInput!) { completeNodeGeneration(input: $i) { node { id } } }",
        json!({ "nodeId": n, "llmTokens": 5 }),
    )
    .await;
        for ws in [&mut ws, &mut again] {
            let (kind, e) = next(ws, "projectEvents").await;
            assert_eq!(kind, "GraphNodeUpdated");
            assert_eq!(
                e["nodes"][0],
                json!({ "id": n, "status": "COMPLETED", "response": "Because it is." })
            );
        }
    }
);

const TASK_EVENTS: &str =
    "subscription($a: ID!, $t: ID) { agentTaskEvents(agentId: $a, taskId: $t) { __typename
  ... on AgentTaskChanged { at task { id name status } }
  ... on AgentDeleted { deletedId } } }";

db_test!(
    agent_task_and_workflow_events_reach_the_owner_only,
    |app| async move {
        let (owner, _) = user(&app, "owner").await;
        let (other, _) = user(&app, "other").await;
        let bot = agent(&app, &owner, "worker", &[], &[]).await;
        let create =
            "mutation($i: CreateAgentTaskInput!) { createAgentTask(input: $i) { task { id } } }";
        let first = gql_ok(
            &app,
            &owner,
            create,
            json!({ "agentId": bot, "name": "first", "prompt": "p" }),
        )
        .await;
        let first = first["createAgentTask"]["task"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut all = watch(&app, &owner, TASK_EVENTS, json!({ "a": bot })).await;
        let mut one = watch(&app, &owner, TASK_EVENTS, json!({ "a": bot, "t": first })).await;
        // Someone else's agent does not exist for them.
        let mut snoop = connect_to(app.addr, "graphql-transport-ws").await;
        init(&mut snoop, Some(&other)).await;
        send(&mut snoop, json!({ "id": "x", "type": "subscribe", "payload": { "query": TASK_EVENTS, "variables": { "a": bot } } })).await;
        let m = recv(&mut snoop).await;
        assert_eq!(
            m["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
            "{m}"
        );

        gql_ok(
            &app,
            &owner,
            create,
            json!({ "agentId": bot, "name": "second", "prompt": "p" }),
        )
        .await;
        let (kind, e) = next(&mut all, "agentTaskEvents").await;
        assert_eq!(
            (
                kind.as_str(),
                e["task"]["name"].as_str(),
                e["task"]["status"].as_str()
            ),
            ("AgentTaskChanged", Some("second"), Some("PENDING"))
        );
        // The claim takes the oldest task: both feeds hear it.
        gql_ok(
            &app,
            &owner,
            "mutation($i: ClaimAgentTaskInput!) { claimAgentTask(input: $i) { task { id } } }",
            json!({ "agentId": bot }),
        )
        .await;
        for ws in [&mut all, &mut one] {
            let (_, e) = next(ws, "agentTaskEvents").await;
            assert_eq!(
                (e["task"]["id"].as_str(), e["task"]["status"].as_str()),
                (Some(first.as_str()), Some("RUNNING")),
                "{e}"
            );
        }
        gql_ok(&app, &owner, "mutation($i: CompleteAgentTaskInput!) { completeAgentTask(input: $i) { task { id } } }", json!({ "id": first, "result": { "ok": 1 } })).await;
        let (_, e) = next(&mut one, "agentTaskEvents").await;
        assert_eq!(e["task"]["status"], "COMPLETED", "{e}");
        let (_, e) = next(&mut all, "agentTaskEvents").await;
        assert_eq!(e["task"]["status"], "COMPLETED", "{e}");
        gql_ok(
            &app,
            &owner,
            "mutation($i: DeleteAgentInput!) { deleteAgent(input: $i) { deletedId } }",
            json!({ "id": bot }),
        )
        .await;
        for ws in [&mut all, &mut one] {
            let (kind, e) = next(ws, "agentTaskEvents").await;
            assert_eq!(
                (kind.as_str(), e["deletedId"].as_str()),
                ("AgentDeleted", Some(bot.as_str()))
            );
            assert_eq!(recv(ws).await["type"], "complete");
        }

        // Workflow executions.
        let planner = agent(&app, &owner, "planner", &[], &[]).await;
        let wf = gql_ok(
        &app,
        &owner,
        "mutation($i: CreateWorkflowInput!) { createWorkflow(input: $i) { workflow { id } } }",
        json!({ "name": "w", "definition": { "steps": [] }, "participants": [{ "agentId": planner, "role": "planner", "position": 1 }] }),
    )
    .await;
        let wf = wf["createWorkflow"]["workflow"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let events = "subscription($w: ID!) { workflowExecutionEvents(workflowId: $w) { __typename ... on WorkflowExecutionChanged { execution { id status output } } } }";
        let mut ws = watch(&app, &owner, events, json!({ "w": wf })).await;
        let started = gql_ok(&app, &owner, "mutation($i: StartWorkflowExecutionInput!) { startWorkflowExecution(input: $i) { execution { id } } }", json!({ "workflowId": wf })).await;
        let ex = started["startWorkflowExecution"]["execution"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let (_, e) = next(&mut ws, "workflowExecutionEvents").await;
        assert_eq!(
            e["execution"],
            json!({ "id": ex, "status": "RUNNING", "output": null })
        );
        gql_ok(&app, &owner, "mutation($i: FinishWorkflowExecutionInput!) { finishWorkflowExecution(input: $i) { execution { id } } }", json!({ "id": ex, "status": "COMPLETED", "output": { "ok": true } })).await;
        let (_, e) = next(&mut ws, "workflowExecutionEvents").await;
        assert_eq!(e["execution"]["status"], "COMPLETED", "{e}");
        let mut snoop = connect_to(app.addr, "graphql-transport-ws").await;
        init(&mut snoop, Some(&other)).await;
        send(&mut snoop, json!({ "id": "x", "type": "subscribe", "payload": { "query": events, "variables": { "w": wf } } })).await;
        let m = recv(&mut snoop).await;
        assert_eq!(
            m["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
            "{m}"
        );
    }
);

db_test!(
    notifications_arrive_live_in_their_recipients_inbox_only,
    |app| async move {
        let (owner, _) = user(&app, "owner").await;
        let (invitee, invitee_id) = user(&app, "invitee").await;
        let (bystander, _) = user(&app, "bystander").await;
        let p = project(&app, &owner, "p", false).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let q = "subscription { notificationEvents { __typename ... on NotificationAdded { at notification { id type read } } } }";
        let mut mine = watch(&app, &invitee, q, json!({})).await;
        let mut theirs = watch(&app, &bystander, q, json!({})).await;
        assert_eq!(
            outcome(&add_member(&app, &owner, &p, &invitee_id, "EDITOR").await),
            "OK"
        );
        let (kind, e) = next(&mut mine, "notificationEvents").await;
        assert_eq!(kind, "NotificationAdded");
        assert_eq!(
            (
                e["notification"]["type"].as_str(),
                e["notification"]["read"].as_bool()
            ),
            (Some("PROJECT_INVITE"), Some(false)),
            "{e}"
        );
        // The same notification is in the inbox.
        let v = app
            .gql(
                "{ notifications { nodes { id } } }",
                json!({}),
                Some(&invitee),
            )
            .await;
        assert_eq!(
            v["data"]["notifications"]["nodes"][0]["id"], e["notification"]["id"],
            "{v}"
        );
        let quiet = tokio::time::timeout(Duration::from_millis(300), theirs.next()).await;
        assert!(quiet.is_err(), "a bystander heard {quiet:?}");
        // A refused change notifies nobody.
        let v = add_member(&app, &owner, &p, &invitee_id, "EDITOR").await;
        assert_eq!(outcome(&v), "CONFLICT", "{v}");
        let quiet = tokio::time::timeout(Duration::from_millis(300), mine.next()).await;
        assert!(
            quiet.is_err(),
            "a rolled-back notification was announced: {quiet:?}"
        );
        // Anonymous sockets cannot listen to an inbox.
        let mut ws = connect_to(app.addr, "graphql-transport-ws").await;
        init(&mut ws, None).await;
        send(
            &mut ws,
            json!({ "id": "s", "type": "subscribe", "payload": { "query": q } }),
        )
        .await;
        let m = recv(&mut ws).await;
        assert_eq!(
            m["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{m}"
        );
    }
);
