//! Conversations: access for the owner, every project role and outsiders; message order and
//! keyset pagination both ways over 10,000 messages; streamed replies; token accounting under
//! concurrency; tool calls checked against their tool's JSON Schema; bounded statements.

use plexus_conversations::entity::messages;
use plexus_core::GlobalId;
use plexus_tests::{TestApp, code, db_test};
use sea_orm::{EntityTrait, Set};
use serde_json::{Value, json};

use crate::agents::{agent, tool};
use crate::fixtures::{add_member, outcome, project, user};

const CREATE: &str = "mutation($i: CreateConversationInput!) { createConversation(input: $i) { conversation { id title isActive viewerCanWrite viewerCanManage owner { id } project { id } agent { id } } } }";
const SEND: &str = "mutation($i: SendMessageInput!) { sendMessage(input: $i) { message { id role content status tokens agent { id } author { id } } } }";
const CHUNK: &str = "mutation($i: AppendMessageChunkInput!) { appendMessageChunk(input: $i) { message { id content status } } }";
const FINISH: &str = "mutation($i: FinishMessageInput!) { finishMessage(input: $i) { message { id content status tokens model } } }";
const TOOL_CALL: &str = "mutation($i: RecordToolCallInput!) { recordToolCall(input: $i) { toolCall { id name arguments result durationMs tool { id } message { id } agent { id } } } }";

async fn conversation(app: &TestApp, token: &str, input: Value) -> String {
    let v = app.gql(CREATE, json!({ "i": input }), Some(token)).await;
    v["data"]["createConversation"]["conversation"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("createConversation: {v}"))
        .to_string()
}

async fn send(app: &TestApp, token: &str, conv: &str, input: Value) -> Value {
    let mut i = input;
    i["conversationId"] = json!(conv);
    app.gql(SEND, json!({ "i": i }), Some(token)).await
}

async fn say(app: &TestApp, token: &str, conv: &str, text: &str) -> String {
    let v = send(app, token, conv, json!({ "content": text })).await;
    v["data"]["sendMessage"]["message"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("sendMessage: {v}"))
        .to_string()
}

async fn tokens_used(app: &TestApp, token: &str) -> i64 {
    let v = app
        .gql("{ viewer { totalTokensUsed } }", json!({}), Some(token))
        .await;
    v["data"]["viewer"]["totalTokensUsed"]
        .as_i64()
        .unwrap_or_else(|| panic!("viewer: {v}"))
}

db_test!(
    access_follows_ownership_and_project_roles,
    |app| async move {
        let (owner, _) = user(&app, "owner").await;
        let (outsider, _) = user(&app, "outsider").await;
        let p = project(&app, &owner, "chat project", true).await;
        // The project's members, one per role, each with a token.
        let mut members = vec![];
        for role in ["ADMIN", "EDITOR", "MEMBER", "VIEWER"] {
            let (t, id) = user(&app, &role.to_lowercase()).await;
            assert_eq!(
                outcome(&add_member(&app, &owner, &p, &id, role).await),
                "OK"
            );
            members.push((role, t));
        }
        let private = conversation(&app, &owner, json!({ "title": "mine" })).await;
        let shared = conversation(&app, &owner, json!({ "title": "ours", "projectId": p })).await;
        let read = "query($id: ID!) { conversation(id: $id) { id messages { totalCount } } }";

        // Private: the owner alone; everyone else sees nothing, not even that it exists.
        let v = app.gql(read, json!({ "id": private }), Some(&owner)).await;
        assert_eq!(v["data"]["conversation"]["id"], json!(private), "{v}");
        for (_, t) in &members {
            let v = app.gql(read, json!({ "id": private }), Some(t)).await;
            assert!(v["data"]["conversation"].is_null(), "{v}");
            let v = send(&app, t, &private, json!({ "content": "hi" })).await;
            assert_eq!(code(&v), "NOT_FOUND", "{v}");
        }
        let v = app.gql(read, json!({ "id": private }), None).await;
        assert!(v["data"]["conversation"].is_null(), "{v}");

        // In a project: every member reads; MEMBER and above write; ADMIN manages. A public
        // project does not make its conversations public.
        let expect = [
            ("ADMIN", "OK", "OK"),
            ("EDITOR", "OK", "FORBIDDEN"),
            ("MEMBER", "OK", "FORBIDDEN"),
            ("VIEWER", "FORBIDDEN", "FORBIDDEN"),
        ];
        for ((role, t), (r, write, manage)) in members.iter().zip(expect) {
            assert_eq!(*role, r);
            let v = app.gql(read, json!({ "id": shared }), Some(t)).await;
            assert_eq!(
                v["data"]["conversation"]["id"],
                json!(shared),
                "{role}: {v}"
            );
            let v = send(
                &app,
                t,
                &shared,
                json!({ "content": format!("from {role}") }),
            )
            .await;
            assert_eq!(outcome(&v), write, "{role} writes: {v}");
            let v = app
                .gql(
                    "mutation($i: UpdateConversationInput!) { updateConversation(input: $i) { conversation { title } } }",
                    json!({ "i": { "id": shared, "title": format!("by {role}") } }),
                    Some(t),
                )
                .await;
            assert_eq!(outcome(&v), manage, "{role} manages: {v}");
        }
        for token in [Some(outsider.as_str()), None] {
            let v = app.gql(read, json!({ "id": shared }), token).await;
            assert!(v["data"]["conversation"].is_null(), "{v}");
        }
        let v = send(&app, &outsider, &shared, json!({ "content": "let me in" })).await;
        assert_eq!(code(&v), "NOT_FOUND");
        let v = send(&app, "", &shared, json!({ "content": "x" })).await;
        assert!(v["errors"].is_array(), "{v}");

        // Lists show what one may read: the owner both, a member the project's, an outsider none.
        let list = "{ conversations { totalCount nodes { id } } }";
        let count = |v: &Value| v["data"]["conversations"]["totalCount"].as_i64();
        assert_eq!(
            count(&app.gql(list, json!({}), Some(&owner)).await),
            Some(2)
        );
        assert_eq!(
            count(&app.gql(list, json!({}), Some(&members[3].1)).await),
            Some(1)
        );
        assert_eq!(
            count(&app.gql(list, json!({}), Some(&outsider)).await),
            Some(0)
        );

        // Starting one in a project needs MEMBER or above; with an agent, owning it.
        let v = app
            .gql(
                CREATE,
                json!({ "i": { "projectId": p } }),
                Some(&members[3].1),
            )
            .await;
        assert_eq!(code(&v), "FORBIDDEN", "{v}");
        let v = app
            .gql(CREATE, json!({ "i": { "projectId": p } }), Some(&outsider))
            .await;
        assert_eq!(outcome(&v), "FORBIDDEN", "a public project is visible: {v}");
        let theirs = agent(&app, &owner, "helper", &[], &[]).await;
        let v = app
            .gql(
                CREATE,
                json!({ "i": { "agentId": theirs } }),
                Some(&outsider),
            )
            .await;
        assert_eq!(code(&v), "NOT_FOUND", "{v}");
        let v = app.gql(CREATE, json!({ "i": {} }), None).await;
        assert_eq!(code(&v), "UNAUTHENTICATED", "{v}");

        // A removed member loses access at once.
        let (_, viewer_id) = {
            let v = app
                .gql("{ viewer { id } }", json!({}), Some(&members[3].1))
                .await;
            ((), v["data"]["viewer"]["id"].as_str().unwrap().to_string())
        };
        let v = app
            .gql(
                "mutation($i: ProjectUserInput!) { removeProjectMember(input: $i) { deletedId } }",
                json!({ "i": { "projectId": p, "userId": viewer_id } }),
                Some(&owner),
            )
            .await;
        assert_eq!(outcome(&v), "OK", "{v}");
        let v = app
            .gql(read, json!({ "id": shared }), Some(&members[3].1))
            .await;
        assert!(v["data"]["conversation"].is_null(), "{v}");

        // The ADMIN deletes it (soft): gone for everyone, the owner included.
        let v = app
            .gql(
                "mutation($i: DeleteConversationInput!) { deleteConversation(input: $i) { deletedId } }",
                json!({ "i": { "id": shared } }),
                Some(&members[0].1),
            )
            .await;
        assert_eq!(
            v["data"]["deleteConversation"]["deletedId"],
            json!(shared),
            "{v}"
        );
        let v = app.gql(read, json!({ "id": shared }), Some(&owner)).await;
        assert!(v["data"]["conversation"].is_null(), "{v}");
        let v = send(&app, &owner, &shared, json!({ "content": "anyone?" })).await;
        assert_eq!(code(&v), "NOT_FOUND");
    }
);

db_test!(
    messages_order_updated_at_and_node_lookup,
    |app| async move {
        let (me, me_id) = user(&app, "chatter").await;
        let c = conversation(&app, &me, json!({ "title": "Welcome" })).await;
        let other = conversation(&app, &me, json!({ "title": "Later" })).await;
        let ids = [
            say(&app, &me, &c, "one").await,
            say(&app, &me, &c, "two").await,
            say(&app, &me, &c, "three").await,
        ];
        // The conversation with the newest message comes first.
        let v = app
            .gql(
                "{ conversations { nodes { id title } } }",
                json!({}),
                Some(&me),
            )
            .await;
        assert_eq!(
            v["data"]["conversations"]["nodes"][0]["id"],
            json!(c),
            "{v}"
        );
        say(&app, &me, &other, "bump").await;
        let v = app
            .gql("{ conversations { nodes { id } } }", json!({}), Some(&me))
            .await;
        assert_eq!(
            v["data"]["conversations"]["nodes"][0]["id"],
            json!(other),
            "{v}"
        );
        let v = app
        .gql(
            "{ conversations(orderBy: { field: CREATED_AT, direction: ASC }) { nodes { id } } }",
            json!({}),
            Some(&me),
        )
        .await;
        assert_eq!(
            v["data"]["conversations"]["nodes"][0]["id"],
            json!(c),
            "{v}"
        );
        let v = app
            .gql(
                r#"{ conversations(filter: { search: "welc" }) { totalCount nodes { id } } }"#,
                json!({}),
                Some(&me),
            )
            .await;
        assert_eq!(v["data"]["conversations"]["totalCount"], json!(1), "{v}");

        let q = "query($id: ID!) { conversation(id: $id) { updatedAt messages { nodes { id content role author { id } } } } }";
        let v = app.gql(q, json!({ "id": c }), Some(&me)).await;
        let got: Vec<&str> = v["data"]["conversation"]["messages"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert_eq!(got, ids, "{v}");
        assert_eq!(
            v["data"]["conversation"]["messages"]["nodes"][0]["author"]["id"],
            json!(me_id)
        );
        let before = v["data"]["conversation"]["updatedAt"]
            .as_str()
            .unwrap()
            .to_string();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        say(&app, &me, &c, "four").await;
        let v = app.gql(q, json!({ "id": c }), Some(&me)).await;
        assert!(
            v["data"]["conversation"]["updatedAt"].as_str().unwrap() > before.as_str(),
            "updatedAt moves with each message: {v}"
        );

        // node(id) resolves conversations and messages; an archived conversation is filtered.
        let v = app
            .gql(
                "query($a: ID!, $b: ID!) { nodes(ids: [$a, $b]) { id __typename } }",
                json!({ "a": c, "b": ids[0] }),
                Some(&me),
            )
            .await;
        assert_eq!(v["data"]["nodes"][0]["__typename"], "Conversation", "{v}");
        assert_eq!(v["data"]["nodes"][1]["__typename"], "Message", "{v}");
        let v = app
        .gql(
            "mutation($i: UpdateConversationInput!) { updateConversation(input: $i) { conversation { isActive } } }",
            json!({ "i": { "id": other, "isActive": false } }),
            Some(&me),
        )
        .await;
        assert_eq!(
            v["data"]["updateConversation"]["conversation"]["isActive"],
            json!(false)
        );
        let v = app
            .gql(
                "{ conversations(filter: { isActive: true }) { nodes { id } } }",
                json!({}),
                Some(&me),
            )
            .await;
        assert_eq!(
            v["data"]["conversations"]["nodes"],
            json!([{ "id": c }]),
            "{v}"
        );

        // Editing one's own message sets editedAt.
        let v = app
        .gql(
            "mutation($i: UpdateMessageInput!) { updateMessage(input: $i) { message { content editedAt } } }",
            json!({ "i": { "id": ids[0], "content": "uno" } }),
            Some(&me),
        )
        .await;
        assert_eq!(
            v["data"]["updateMessage"]["message"]["content"], "uno",
            "{v}"
        );
        assert!(v["data"]["updateMessage"]["message"]["editedAt"].is_string());

        // Bad input: each with its code, nothing written.
        let n = app.count("messages").await;
        for (input, field) in [
            (json!({ "content": "" }), "content"),
            (json!({ "content": "x", "tokens": -1 }), "tokens"),
            (json!({ "content": "x", "metadata": [1] }), "metadata"),
            (json!({ "content": "x", "streaming": true }), "streaming"),
            (json!({ "content": "x".repeat(1_000_001) }), "content"),
        ] {
            let v = send(&app, &me, &c, input).await;
            assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
            assert_eq!(v["errors"][0]["extensions"]["field"], field, "{v}");
        }
        let v = send(&app, &me, &ids[0], json!({ "content": "x" })).await;
        assert_eq!(
            v["errors"][0]["extensions"]["field"], "conversationId",
            "a message id is not a conversation id: {v}"
        );
        assert_eq!(app.count("messages").await, n);
    }
);

db_test!(streamed_replies_and_token_accounting, |app| async move {
    let (me, _) = user(&app, "streamer").await;
    let (member, member_id) = user(&app, "member").await;
    let p = project(&app, &me, "p", false).await;
    add_member(&app, &me, &p, &member_id, "MEMBER").await;
    let bot = agent(&app, &me, "bot", &[], &[]).await;
    let c = conversation(&app, &me, json!({ "projectId": p, "agentId": bot })).await;
    say(&app, &me, &c, "tell me a story").await;

    let v = send(
        &app,
        &me,
        &c,
        json!({ "role": "ASSISTANT", "streaming": true, "model": "qwen2.5:7b" }),
    )
    .await;
    let m = &v["data"]["sendMessage"]["message"];
    assert_eq!(
        (m["status"].as_str(), m["content"].as_str()),
        (Some("STREAMING"), Some("")),
        "{v}"
    );
    assert_eq!(
        m["agent"]["id"],
        json!(bot),
        "the owner's agent speaks: {v}"
    );
    let msg = m["id"].as_str().unwrap().to_string();
    for chunk in ["Once ", "upon ", "a time"] {
        let v = app
            .gql(
                CHUNK,
                json!({ "i": { "messageId": msg, "chunk": chunk } }),
                Some(&me),
            )
            .await;
        assert_eq!(outcome(&v), "OK", "{v}");
    }
    // A reader that comes in now sees the whole text so far.
    let v = app
        .gql(
            "query($id: ID!) { conversation(id: $id) { messages(last: 1) { nodes { content status } } } }",
            json!({ "id": c }),
            Some(&member),
        )
        .await;
    assert_eq!(
        v["data"]["conversation"]["messages"]["nodes"][0],
        json!({ "content": "Once upon a time", "status": "STREAMING" }),
        "{v}"
    );
    // Only the author extends it.
    let v = app
        .gql(
            CHUNK,
            json!({ "i": { "messageId": msg, "chunk": "!" } }),
            Some(&member),
        )
        .await;
    assert_eq!(code(&v), "FORBIDDEN", "{v}");
    let v = app
        .gql(
            FINISH,
            json!({ "i": { "messageId": msg, "tokens": 42 } }),
            Some(&me),
        )
        .await;
    let m = &v["data"]["finishMessage"]["message"];
    assert_eq!(
        (
            m["content"].as_str(),
            m["status"].as_str(),
            m["tokens"].as_i64(),
            m["model"].as_str()
        ),
        (
            Some("Once upon a time"),
            Some("COMPLETE"),
            Some(42),
            Some("qwen2.5:7b")
        ),
        "{v}"
    );
    assert_eq!(tokens_used(&app, &me).await, 42);
    let v = app
        .gql(
            CHUNK,
            json!({ "i": { "messageId": msg, "chunk": "more" } }),
            Some(&me),
        )
        .await;
    assert_eq!(code(&v), "CONFLICT", "{v}");
    let v = app
        .gql(FINISH, json!({ "i": { "messageId": msg } }), Some(&me))
        .await;
    assert_eq!(code(&v), "CONFLICT", "{v}");

    // Tokens of ASSISTANT messages go to the conversation's owner, whoever sends them;
    // those of other roles do not count. Concurrent messages add up exactly.
    let before = tokens_used(&app, &me).await;
    let sends = (0..24).map(|i| {
        let (app, member, c) = (&app, &member, &c);
        async move {
            let role = if i % 3 == 0 { "USER" } else { "ASSISTANT" };
            let v = send(
                app,
                member,
                c,
                json!({ "role": role, "content": format!("m{i}"), "tokens": 7 }),
            )
            .await;
            assert_eq!(outcome(&v), "OK", "{v}");
        }
    });
    futures_util::future::join_all(sends).await;
    assert_eq!(tokens_used(&app, &me).await, before + 16 * 7);
    assert_eq!(tokens_used(&app, &member).await, 0);
});

db_test!(
    tool_calls_are_checked_against_the_tool_schema,
    |app| async move {
        let (me, _) = user(&app, "caller").await;
        let (other, _) = user(&app, "other").await;
        let search = tool(&app, &me, "rag.search").await;
        let private = tool(&app, &other, "secret.tool").await;
        let bot = agent(&app, &me, "bot", &[&search], &[]).await;
        let c = conversation(&app, &me, json!({ "agentId": bot })).await;
        let m = say(&app, &me, &c, "find it").await;
        let call = |args: Value, tool: &str| {
            json!({ "i": { "conversationId": c, "toolId": tool, "messageId": m, "agentId": bot,
            "arguments": args, "result": { "hits": 3 }, "durationMs": 12 } })
        };
        let v = app
            .gql(
                TOOL_CALL,
                call(json!({ "q": "plexus" }), &search),
                Some(&me),
            )
            .await;
        let t = &v["data"]["recordToolCall"]["toolCall"];
        assert_eq!(t["name"], "rag.search", "{v}");
        assert_eq!(t["tool"]["id"], json!(search));
        assert_eq!(t["message"]["id"], json!(m));
        assert_eq!(t["agent"]["id"], json!(bot));
        assert_eq!(t["arguments"], json!({ "q": "plexus" }));

        let n = app.count("tool_calls").await;
        let v = app
            .gql(TOOL_CALL, call(json!({ "q": 5 }), &search), Some(&me))
            .await;
        assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
        assert_eq!(v["errors"][0]["extensions"]["field"], "arguments");
        let msg = v["errors"][0]["message"].as_str().unwrap();
        assert!(
            msg.contains("/q"),
            "the message names the failing path: {msg}"
        );
        let v = app
            .gql(TOOL_CALL, call(json!({}), &search), Some(&me))
            .await;
        assert_eq!(
            code(&v),
            "BAD_USER_INPUT",
            "a required argument is missing: {v}"
        );
        let v = app
            .gql(TOOL_CALL, call(json!({ "q": "x" }), &private), Some(&me))
            .await;
        assert_eq!(code(&v), "NOT_FOUND", "someone else's private tool: {v}");
        let v = app
            .gql(TOOL_CALL, call(json!({ "q": "x" }), &search), Some(&other))
            .await;
        assert_eq!(code(&v), "NOT_FOUND", "someone else's conversation: {v}");
        let elsewhere = conversation(&app, &me, json!({})).await;
        let v = app
        .gql(
            TOOL_CALL,
            json!({ "i": { "conversationId": elsewhere, "toolId": search, "messageId": m, "arguments": { "q": "x" } } }),
            Some(&me),
        )
        .await;
        assert_eq!(v["errors"][0]["extensions"]["field"], "messageId", "{v}");
        assert_eq!(app.count("tool_calls").await, n);

        let v = app
        .gql(
            "query($id: ID!) { conversation(id: $id) { toolCalls { totalCount nodes { name } } messages { nodes { toolCalls { name durationMs result } } } } }",
            json!({ "id": c }),
            Some(&me),
        )
        .await;
        let conv = &v["data"]["conversation"];
        assert_eq!(conv["toolCalls"]["totalCount"], json!(1), "{v}");
        assert_eq!(
            conv["messages"]["nodes"][0]["toolCalls"],
            json!([{ "name": "rag.search", "durationMs": 12, "result": { "hits": 3 } }]),
            "{v}"
        );
        // The agent lists its conversations.
        let v = app
            .gql(
                "query($id: ID!) { agent(id: $id) { conversations { totalCount nodes { id } } } }",
                json!({ "id": bot }),
                Some(&me),
            )
            .await;
        assert_eq!(
            v["data"]["agent"]["conversations"]["nodes"],
            json!([{ "id": c }]),
            "{v}"
        );
    }
);

db_test!(
    ten_thousand_messages_page_both_ways,
    // Signed-in checks cached for the whole run, so every page costs the same statements.
    |c| c.auth_cache = std::time::Duration::from_secs(3600),
    |app| async move {
        let (me, me_id) = user(&app, "historian").await;
        let c = conversation(&app, &me, json!({ "title": "long" })).await;
        let conv = GlobalId::parse(&c, "id").unwrap().uuid;
        let author = GlobalId::parse(&me_id, "id").unwrap().uuid;
        const N: usize = 10_000;
        let mut want = Vec::with_capacity(N);
        for chunk in 0..N / 500 {
            let rows: Vec<messages::ActiveModel> = (0..500)
                .map(|i| {
                    let id = uuid::Uuid::now_v7();
                    want.push(plexus_core::id::encode(plexus_core::IdKind::Message, id));
                    let at = plexus_core::db::now();
                    messages::ActiveModel {
                        id: Set(id),
                        conversation_id: Set(conv),
                        role: Set("USER".into()),
                        content: Set(format!("message {}", chunk * 500 + i)),
                        status: Set("COMPLETE".into()),
                        tokens: Set(None),
                        model: Set(None),
                        agent_id: Set(None),
                        author_id: Set(Some(author)),
                        metadata: Set(None),
                        edited_at: Set(None),
                        created_at: Set(at),
                        updated_at: Set(at),
                        deleted_at: Set(None),
                    }
                })
                .collect();
            messages::Entity::insert_many(rows)
                .exec(app.db())
                .await
                .unwrap();
        }
        let q = "query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) { conversation(id: $id) { messages(first: $first, after: $after, last: $last, before: $before) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } nodes { id } } } }";
        let ids = |v: &Value| -> Vec<String> {
            v["data"]["conversation"]["messages"]["nodes"]
                .as_array()
                .unwrap_or_else(|| panic!("{v}"))
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_string())
                .collect()
        };
        // The latest fifty, as a chat opens.
        let v = app.gql(q, json!({ "id": c, "last": 50 }), Some(&me)).await;
        assert_eq!(ids(&v), want[N - 50..], "last: 50");
        assert_eq!(
            v["data"]["conversation"]["messages"]["totalCount"],
            json!(N)
        );

        // Forward through everything, 100 at a time, at a constant statement cost per page.
        let (mut got, mut after, mut costs) = (vec![], Value::Null, vec![]);
        loop {
            let (v, n) = app
                .gql_counted(
                    q,
                    json!({ "id": c, "first": 100, "after": after }),
                    Some(&me),
                )
                .await;
            costs.push(n);
            got.extend(ids(&v));
            let info = &v["data"]["conversation"]["messages"]["pageInfo"];
            if !info["hasNextPage"].as_bool().unwrap() {
                break;
            }
            after = info["endCursor"].clone();
        }
        assert_eq!(got, want, "forward");
        assert!(
            costs.iter().all(|n| *n == costs[1]),
            "statements per page: {costs:?}"
        );
        // Backward from the end, 100 at a time.
        let (mut got, mut before) = (vec![], Value::Null);
        loop {
            let v = app
                .gql(
                    q,
                    json!({ "id": c, "last": 100, "before": before }),
                    Some(&me),
                )
                .await;
            let mut page = ids(&v);
            page.extend(got);
            got = page;
            let info = &v["data"]["conversation"]["messages"]["pageInfo"];
            if !info["hasPreviousPage"].as_bool().unwrap() {
                break;
            }
            before = info["startCursor"].clone();
        }
        assert_eq!(got, want, "backward");
        // Stable under inserts: a page after a cursor does not shift when messages arrive.
        let v = app.gql(q, json!({ "id": c, "first": 10 }), Some(&me)).await;
        let cursor = v["data"]["conversation"]["messages"]["pageInfo"]["endCursor"].clone();
        say(&app, &me, &c, "newest").await;
        let v = app
            .gql(
                q,
                json!({ "id": c, "first": 10, "after": cursor }),
                Some(&me),
            )
            .await;
        assert_eq!(ids(&v), want[10..20]);
    }
);

const DEEP: &str = "{ conversations(first: 20) { nodes { id owner { id } agent { id } messages(last: 10) { totalCount nodes { id author { id } agent { id } toolCalls { id name tool { id } } } } } } }";

/// `conversations` conversations, each with `messages` messages and a tool call on each.
async fn chat_dataset(app: &TestApp, name: &str, conversations: usize, messages: usize) -> String {
    let (me, _) = user(app, name).await;
    let t = tool(app, &me, &format!("{name}.tool")).await;
    let bot = agent(app, &me, &format!("{name}-bot"), &[&t], &[]).await;
    for i in 0..conversations {
        let c = conversation(
            app,
            &me,
            json!({ "title": format!("c{i}"), "agentId": bot }),
        )
        .await;
        for j in 0..messages {
            let v = send(
                app,
                &me,
                &c,
                json!({ "role": "ASSISTANT", "content": format!("m{j}"), "tokens": 1 }),
            )
            .await;
            let m = v["data"]["sendMessage"]["message"]["id"]
                .as_str()
                .unwrap()
                .to_string();
            let v = app
                .gql(
                    TOOL_CALL,
                    json!({ "i": { "conversationId": c, "toolId": t, "messageId": m, "arguments": { "q": "x" } } }),
                    Some(&me),
                )
                .await;
            assert_eq!(outcome(&v), "OK", "{v}");
        }
    }
    me
}

db_test!(
    conversations_messages_tool_calls_cost_the_same_statements_at_any_size,
    |app| async move {
        let small = chat_dataset(&app, "small", 2, 2).await;
        let large = chat_dataset(&app, "large", 12, 6).await;
        let (vs, ns) = app.gql_counted_min(DEEP, json!({}), Some(&small)).await;
        let (vl, nl) = app.gql_counted_min(DEEP, json!({}), Some(&large)).await;
        assert!(
            vs["errors"].is_null() && vl["errors"].is_null(),
            "{vs} {vl}"
        );
        let convs = vl["data"]["conversations"]["nodes"].as_array().unwrap();
        assert_eq!(convs.len(), 12);
        assert_eq!(convs[0]["messages"]["totalCount"], json!(6));
        assert!(convs[0]["messages"]["nodes"][0]["toolCalls"][0]["tool"]["id"].is_string());
        eprintln!(
            "conversations query: {ns} / {nl} SQL statements ({:?})",
            app.backend
        );
        // auth, conversations page, users, agents (two levels), message pages, tool calls,
        // tools: one per loader and level, whatever the number of rows.
        const BOUND: usize = 8;
        assert!(
            ns <= BOUND && nl <= BOUND,
            "statements grew with rows: {ns} vs {nl}"
        );
    }
);
