//! Agents, tools, knowledge packs, the agent task queue (state machine and exactly-once
//! claims under concurrency) and node generation, with ownership on every operation.

use plexus_tests::{TestApp, db_test};
use serde_json::{Value, json};

use crate::fixtures::{add_member, node, outcome, project, user};

/// A site admin's token (registered, promoted in SQL, signed in again).
async fn admin(app: &TestApp, name: &str) -> String {
    let email = format!("{name}@example.com");
    app.register(&email, "password123").await;
    app.sql(&format!(
        "UPDATE users SET role = 'ADMIN' WHERE email = '{email}'"
    ))
    .await;
    app.login(&email, "password123").await
}

const CREATE_TOOL: &str =
    "mutation($i: CreateToolInput!) { createTool(input: $i) { tool { id name viewerOwns } } }";
const CREATE_AGENT: &str = "mutation($i: CreateAgentInput!) { createAgent(input: $i) { agent { id name kind model goals isActive tools { name } knowledgePacks { name } owner { id } } } }";
const CREATE_TASK: &str = "mutation($i: CreateAgentTaskInput!) { createAgentTask(input: $i) { task { id status startedAt completedAt } } }";
const CLAIM: &str = "mutation($i: ClaimAgentTaskInput!) { claimAgentTask(input: $i) { task { id status startedAt } } }";

pub async fn tool(app: &TestApp, token: &str, name: &str) -> String {
    let schema =
        json!({ "type": "object", "properties": { "q": { "type": "string" } }, "required": ["q"] });
    let v = app
        .gql(
            CREATE_TOOL,
            json!({ "i": { "name": name, "description": "a tool", "schema": schema } }),
            Some(token),
        )
        .await;
    v["data"]["createTool"]["tool"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("createTool: {v}"))
        .to_string()
}

pub async fn pack(app: &TestApp, token: &str, name: &str) -> String {
    let v = app
        .gql(
            "mutation($i: CreateKnowledgePackInput!) { createKnowledgePack(input: $i) { knowledgePack { id } } }",
            json!({ "i": { "name": name, "path": "/kb" } }),
            Some(token),
        )
        .await;
    v["data"]["createKnowledgePack"]["knowledgePack"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("createKnowledgePack: {v}"))
        .to_string()
}

pub async fn agent(
    app: &TestApp,
    token: &str,
    name: &str,
    tools: &[&str],
    packs: &[&str],
) -> String {
    let v = app
        .gql(
            CREATE_AGENT,
            json!({ "i": { "name": name, "kind": "researcher", "model": "qwen2.5:7b", "goals": ["help"], "toolIds": tools, "knowledgePackIds": packs } }),
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
            CREATE_TASK,
            json!({ "i": { "agentId": agent, "name": name, "prompt": "do it" } }),
            Some(token),
        )
        .await;
    v["data"]["createAgentTask"]["task"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("createAgentTask: {v}"))
        .to_string()
}

async fn step(app: &TestApp, token: &str, mutation: &str, input: Value) -> Value {
    let q = format!(
        "mutation($i: {}Input!) {{ {}(input: $i) {{ task {{ id status result error startedAt completedAt }} }} }}",
        match mutation {
            "startAgentTask" | "cancelAgentTask" => "AgentTaskId".to_string(),
            m => {
                let mut c = m.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect())
                    .unwrap_or_default()
            }
        },
        mutation
    );
    app.gql(&q, json!({ "i": input }), Some(token)).await
}

db_test!(
    agents_with_tools_and_packs_belong_to_their_owner,
    |app| async move {
        let (ada, ada_id) = user(&app, "ada").await;
        let (bob, _) = user(&app, "bob").await;
        let t = tool(&app, &ada, "rag.search").await;
        let k = pack(&app, &ada, "docs").await;
        let v = app
        .gql(
            CREATE_AGENT,
            json!({ "i": { "name": "MonAgent", "kind": "assistant", "model": "qwen2.5:7b", "goals": ["answer", "cite"], "toolIds": [t], "knowledgePackIds": [k] } }),
            Some(&ada),
        )
        .await;
        let a = &v["data"]["createAgent"]["agent"];
        assert_eq!(a["tools"], json!([{ "name": "rag.search" }]), "{v}");
        assert_eq!(a["knowledgePacks"], json!([{ "name": "docs" }]));
        assert_eq!(a["goals"], json!(["answer", "cite"]));
        assert_eq!(a["owner"]["id"], json!(ada_id));
        assert_eq!(a["isActive"], json!(true));
        let id = a["id"].as_str().unwrap().to_string();

        // Same name again: CONFLICT. Someone else's tool: refused by field.
        let dup = app
            .gql(
                CREATE_AGENT,
                json!({ "i": { "name": "MonAgent", "kind": "x" } }),
                Some(&ada),
            )
            .await;
        assert_eq!(outcome(&dup), "CONFLICT");
        let foreign = app
            .gql(
                CREATE_AGENT,
                json!({ "i": { "name": "Other", "kind": "x", "toolIds": [t] } }),
                Some(&bob),
            )
            .await;
        assert_eq!(outcome(&foreign), "BAD_USER_INPUT");
        assert_eq!(
            foreign["errors"][0]["extensions"]["field"],
            json!("toolIds")
        );

        // Bob sees nothing of Ada's agent and cannot touch it.
        let q = "query($id: ID!) { agent(id: $id) { id } node(id: $id) { id } }";
        let v = app.gql(q, json!({ "id": id }), Some(&bob)).await;
        assert_eq!(v["data"], json!({ "agent": null, "node": null }), "{v}");
        let v = app.gql(q, json!({ "id": id }), Some(&ada)).await;
        assert_eq!(v["data"]["node"]["id"], json!(id));
        for m in [
            "updateAgent(input: { id: $id, name: \"x\" }) { agent { id } }",
            "deleteAgent(input: { id: $id }) { deletedId }",
            "createAgentTask(input: { agentId: $id, name: \"n\", prompt: \"p\" }) { task { id } }",
            "claimAgentTask(input: { agentId: $id }) { task { id } }",
        ] {
            let q = format!("mutation($id: ID!) {{ {m} }}");
            let v = app.gql(&q, json!({ "id": id }), Some(&bob)).await;
            assert_eq!(outcome(&v), "NOT_FOUND", "{m}: {v}");
        }
        let v = app
            .gql("{ agents { totalCount } }", json!({}), Some(&bob))
            .await;
        assert_eq!(v["data"]["agents"]["totalCount"], json!(0));

        // Update replaces the links; filters find the agent; delete removes it and its tasks.
        let v = app
        .gql(
            "mutation($i: UpdateAgentInput!) { updateAgent(input: $i) { agent { name role tools { name } knowledgePacks { name } } } }",
            json!({ "i": { "id": id, "name": "Renamed", "role": "Assistant spécialisé", "toolIds": [] } }),
            Some(&ada),
        )
        .await;
        assert_eq!(
            v["data"]["updateAgent"]["agent"],
            json!({ "name": "Renamed", "role": "Assistant spécialisé", "tools": [], "knowledgePacks": [{ "name": "docs" }] }),
            "{v}"
        );
        let v = app
        .gql(
            "{ a: agents(filter: { search: \"renam\" }) { totalCount } b: agents(filter: { kind: \"nope\" }) { totalCount } }",
            json!({}),
            Some(&ada),
        )
        .await;
        assert_eq!(
            v["data"],
            json!({ "a": { "totalCount": 1 }, "b": { "totalCount": 0 } })
        );
        task(&app, &ada, &id, "t").await;
        let v = app
            .gql(
                "mutation($id: ID!) { deleteAgent(input: { id: $id }) { deletedId } }",
                json!({ "id": id }),
                Some(&ada),
            )
            .await;
        assert_eq!(v["data"]["deleteAgent"]["deletedId"], json!(id));
        assert_eq!(app.count("agent_tasks").await, 0);
        assert_eq!(app.count("agent_tools").await, 0);
        assert_eq!(app.count("agent_knowledge_packs").await, 0);
    }
);

db_test!(
    tools_need_a_valid_schema_and_admin_tools_are_shared,
    |app| async move {
        let (ada, _) = user(&app, "ada").await;
        let (bob, _) = user(&app, "bob").await;
        let root = admin(&app, "root").await;
        for bad in [
            json!("not an object"),
            json!({ "type": "nonsense" }),
            json!({ "minLength": -1 }),
        ] {
            let v = app
                .gql(
                    CREATE_TOOL,
                    json!({ "i": { "name": "bad", "description": "", "schema": bad } }),
                    Some(&ada),
                )
                .await;
            assert_eq!(outcome(&v), "BAD_USER_INPUT", "{bad}: {v}");
            assert_eq!(v["errors"][0]["extensions"]["field"], json!("schema"));
        }
        let mine = tool(&app, &ada, "mine").await;
        let shared = tool(&app, &root, "math.evaluate").await;
        assert_eq!(
            outcome(
                &app.gql(
                    CREATE_TOOL,
                    json!({ "i": { "name": "mine", "description": "", "schema": {} } }),
                    Some(&ada)
                )
                .await
            ),
            "CONFLICT"
        );
        let list = "{ tools { totalCount nodes { name viewerOwns } } own: tools(filter: { mine: true }) { totalCount } }";
        let v = app.gql(list, json!({}), Some(&bob)).await;
        assert_eq!(
            v["data"],
            json!({ "tools": { "totalCount": 1, "nodes": [{ "name": "math.evaluate", "viewerOwns": false }] }, "own": { "totalCount": 0 } }),
            "{v}"
        );
        let v = app.gql(list, json!({}), Some(&ada)).await;
        assert_eq!(v["data"]["tools"]["totalCount"], json!(2));
        // Bob may link the shared tool, not change it; Ada's tool stays hidden from him.
        agent(&app, &bob, "b", &[&shared], &[]).await;
        let upd = "mutation($i: UpdateToolInput!) { updateTool(input: $i) { tool { name } } }";
        let v = app
            .gql(
                upd,
                json!({ "i": { "id": shared, "name": "hijack" } }),
                Some(&bob),
            )
            .await;
        assert_eq!(outcome(&v), "NOT_FOUND");
        let v = app
            .gql(
                "query($id: ID!) { node(id: $id) { id } }",
                json!({ "id": mine }),
                Some(&bob),
            )
            .await;
        assert_eq!(v["data"]["node"], Value::Null);
        let v = app
            .gql(
                upd,
                json!({ "i": { "id": mine, "schema": { "type": 3 } } }),
                Some(&ada),
            )
            .await;
        assert_eq!(outcome(&v), "BAD_USER_INPUT");
        let v = app
            .gql(
                upd,
                json!({ "i": { "id": mine, "name": "mine2", "isActive": false } }),
                Some(&ada),
            )
            .await;
        assert_eq!(
            v["data"]["updateTool"]["tool"]["name"],
            json!("mine2"),
            "{v}"
        );
    }
);

db_test!(tasks_follow_their_state_machine, |app| async move {
    let (ada, _) = user(&app, "ada").await;
    let (bob, _) = user(&app, "bob").await;
    let a = agent(&app, &ada, "worker", &[], &[]).await;
    let t = task(&app, &ada, &a, "one").await;

    let v = step(&app, &ada, "completeAgentTask", json!({ "id": t })).await;
    assert_eq!(outcome(&v), "CONFLICT", "PENDING cannot complete: {v}");
    let v = step(&app, &bob, "startAgentTask", json!({ "id": t })).await;
    assert_eq!(outcome(&v), "NOT_FOUND", "another user's task");
    let v = step(&app, &ada, "startAgentTask", json!({ "id": t })).await;
    let s = &v["data"]["startAgentTask"]["task"];
    assert_eq!(s["status"], json!("RUNNING"), "{v}");
    assert!(s["startedAt"].is_string() && s["completedAt"].is_null());
    let v = step(
        &app,
        &ada,
        "completeAgentTask",
        json!({ "id": t, "result": { "answer": 42 } }),
    )
    .await;
    let c = &v["data"]["completeAgentTask"]["task"];
    assert_eq!(c["status"], json!("COMPLETED"), "{v}");
    assert_eq!(c["result"], json!({ "answer": 42 }));
    assert!(c["completedAt"].is_string());
    for (m, input) in [
        ("startAgentTask", json!({ "id": t })),
        ("completeAgentTask", json!({ "id": t })),
        ("failAgentTask", json!({ "id": t, "error": "late" })),
        ("cancelAgentTask", json!({ "id": t })),
    ] {
        assert_eq!(
            outcome(&step(&app, &ada, m, input).await),
            "CONFLICT",
            "{m} after COMPLETED"
        );
    }

    let t2 = task(&app, &ada, &a, "two").await;
    step(&app, &ada, "startAgentTask", json!({ "id": t2 })).await;
    let v = step(
        &app,
        &ada,
        "failAgentTask",
        json!({ "id": t2, "error": "boom" }),
    )
    .await;
    assert_eq!(
        v["data"]["failAgentTask"]["task"]["status"],
        json!("FAILED"),
        "{v}"
    );
    assert_eq!(v["data"]["failAgentTask"]["task"]["error"], json!("boom"));
    assert_eq!(
        outcome(&step(&app, &ada, "cancelAgentTask", json!({ "id": t2 })).await),
        "CONFLICT"
    );

    let t3 = task(&app, &ada, &a, "three").await;
    let v = step(&app, &ada, "cancelAgentTask", json!({ "id": t3 })).await;
    assert_eq!(
        v["data"]["cancelAgentTask"]["task"]["status"],
        json!("CANCELLED"),
        "{v}"
    );
    assert_eq!(
        outcome(&step(&app, &ada, "startAgentTask", json!({ "id": t3 })).await),
        "CONFLICT"
    );

    let v = app
        .gql(
            "query($id: ID!) { agentTask(id: $id) { status agent { name } } agent(id: $a) { tasks(first: 2) { totalCount pageInfo { hasNextPage } nodes { name } } } }"
                .replace("$id: ID!", "$id: ID!, $a: ID!")
                .as_str(),
            json!({ "id": t3, "a": a }),
            Some(&ada),
        )
        .await;
    assert_eq!(
        v["data"]["agentTask"],
        json!({ "status": "CANCELLED", "agent": { "name": "worker" } }),
        "{v}"
    );
    assert_eq!(
        v["data"]["agent"]["tasks"],
        json!({ "totalCount": 3, "pageInfo": { "hasNextPage": true }, "nodes": [{ "name": "one" }, { "name": "two" }] })
    );
    let v = app
        .gql(
            "query($id: ID!) { agentTask(id: $id) { id } }",
            json!({ "id": t3 }),
            Some(&bob),
        )
        .await;
    assert_eq!(v["data"]["agentTask"], Value::Null);
});

db_test!(
    claims_hand_each_task_to_exactly_one_caller,
    |app| async move {
        let (ada, _) = user(&app, "ada").await;
        let a = agent(&app, &ada, "worker", &[], &[]).await;
        let v = app
            .gql(CLAIM, json!({ "i": { "agentId": a } }), Some(&ada))
            .await;
        assert_eq!(
            v["data"]["claimAgentTask"]["task"],
            Value::Null,
            "empty queue: {v}"
        );

        const TASKS: usize = 12;
        const CLAIMS: usize = 24;
        let mut created = vec![];
        for i in 0..TASKS {
            created.push(task(&app, &ada, &a, &format!("t{i}")).await);
        }
        // The oldest first.
        let v = app
            .gql(CLAIM, json!({ "i": { "agentId": a } }), Some(&ada))
            .await;
        assert_eq!(
            v["data"]["claimAgentTask"]["task"]["id"],
            json!(created[0]),
            "{v}"
        );
        assert_eq!(
            v["data"]["claimAgentTask"]["task"]["status"],
            json!("RUNNING")
        );

        let claims = (0..CLAIMS).map(|_| {
            let (app, ada, a) = (&app, ada.clone(), a.clone());
            async move {
                app.gql(CLAIM, json!({ "i": { "agentId": a } }), Some(&ada))
                    .await
            }
        });
        let results = futures_util::future::join_all(claims).await;
        let mut got = vec![];
        for v in &results {
            assert!(v["errors"].is_null(), "{v}");
            if let Some(id) = v["data"]["claimAgentTask"]["task"]["id"].as_str() {
                got.push(id.to_string());
            }
        }
        got.sort();
        let mut unique = got.clone();
        unique.dedup();
        assert_eq!(got, unique, "a task was handed out twice");
        let mut want: Vec<String> = created[1..].to_vec();
        want.sort();
        assert_eq!(got, want, "every remaining task is claimed exactly once");
        let running: i64 = app.count("agent_tasks WHERE status = 'RUNNING'").await;
        assert_eq!(running as usize, TASKS);
    }
);

db_test!(
    node_generation_streams_completes_and_fails,
    |app| async move {
        let (ada, _) = user(&app, "ada").await;
        let (vic, vic_id) = user(&app, "vic").await;
        let (out, _) = user(&app, "out").await;
        let p = project(&app, &ada, "canvas", false).await;
        add_member(&app, &ada, &p, &vic_id, "VIEWER").await;
        let root = node(&app, &ada, &p, "root", &[]).await;
        let child = node(&app, &ada, &p, "child", &[&root]).await;
        app.gql(
            "mutation($i: UpdateGraphNodeInput!) { updateGraphNode(input: $i) { node { id } } }",
            json!({ "i": { "id": child, "status": "GENERATING" } }),
            Some(&ada),
        )
        .await;
        app.gql(
        "mutation($n: ID!) { completeNodeGeneration(input: { nodeId: $n, response: \"c\" }) { node { id } } }",
        json!({ "n": child }),
        Some(&ada),
    )
    .await;
        let a = agent(&app, &ada, "writer", &[], &[]).await;
        let vic_agent = agent(&app, &vic, "vicbot", &[], &[]).await;

        let request = "mutation($n: ID!, $a: ID!) { requestNodeGeneration(input: { nodeId: $n, agentId: $a }) { node { status response } task { id status prompt node { id } } } }";
        assert_eq!(
            outcome(
                &app.gql(request, json!({ "n": root, "a": vic_agent }), Some(&vic))
                    .await
            ),
            "FORBIDDEN",
            "a VIEWER cannot generate"
        );
        assert_eq!(
            outcome(
                &app.gql(request, json!({ "n": root, "a": a }), Some(&out))
                    .await
            ),
            "NOT_FOUND",
            "an outsider"
        );
        assert_eq!(
            outcome(
                &app.gql(request, json!({ "n": root, "a": vic_agent }), Some(&ada))
                    .await
            ),
            "NOT_FOUND",
            "someone else's agent"
        );
        let v = app
            .gql(request, json!({ "n": root, "a": a }), Some(&ada))
            .await;
        let r = &v["data"]["requestNodeGeneration"];
        assert_eq!(r["node"]["status"], json!("GENERATING"), "{v}");
        assert_eq!(r["task"]["status"], json!("PENDING"));
        assert_eq!(r["task"]["prompt"], json!("root"));
        assert_eq!(r["task"]["node"]["id"], json!(root));
        let task_id = r["task"]["id"].as_str().unwrap().to_string();
        assert_eq!(
            outcome(
                &app.gql(request, json!({ "n": root, "a": a }), Some(&ada))
                    .await
            ),
            "CONFLICT",
            "already generating"
        );

        // The runtime claims the task and streams the answer.
        let v = app
            .gql(CLAIM, json!({ "i": { "agentId": a } }), Some(&ada))
            .await;
        assert_eq!(v["data"]["claimAgentTask"]["task"]["id"], json!(task_id));
        let append = "mutation($n: ID!, $c: String!) { appendNodeResponse(input: { nodeId: $n, chunk: $c }) { node { response } } }";
        for c in ["Hel", "lo, ", "wörld"] {
            let v = app
                .gql(append, json!({ "n": root, "c": c }), Some(&ada))
                .await;
            assert!(v["errors"].is_null(), "{v}");
        }
        assert_eq!(
            outcome(
                &app.gql(append, json!({ "n": child, "c": "x" }), Some(&ada))
                    .await
            ),
            "CONFLICT",
            "not generating"
        );
        let v = app
        .gql(
            "mutation($n: ID!) { completeNodeGeneration(input: { nodeId: $n, summary: \"s\", llmModel: \"qwen2.5:7b\", llmTokens: 12, llmCost: 0.5 }) { node { status response summary llmModel llmTokens llmCost } task { id status completedAt } staleNodes { id status } } }",
            json!({ "n": root }),
            Some(&ada),
        )
        .await;
        let c = &v["data"]["completeNodeGeneration"];
        assert_eq!(
            c["node"],
            json!({ "status": "COMPLETED", "response": "Hello, wörld", "summary": "s", "llmModel": "qwen2.5:7b", "llmTokens": 12, "llmCost": 0.5 }),
            "{v}"
        );
        assert_eq!(c["task"]["status"], json!("COMPLETED"));
        assert_eq!(c["staleNodes"], json!([{ "id": child, "status": "STALE" }]));

        // Failure: the node goes ERROR and its (still PENDING) task FAILED.
        let v = app
            .gql(request, json!({ "n": child, "a": a }), Some(&ada))
            .await;
        assert!(v["errors"].is_null(), "STALE → GENERATING: {v}");
        let v = app
        .gql(
            "mutation($n: ID!) { failNodeGeneration(input: { nodeId: $n, error: \"model offline\" }) { node { status } task { status error } } }",
            json!({ "n": child }),
            Some(&ada),
        )
        .await;
        assert_eq!(
            v["data"]["failNodeGeneration"],
            json!({ "node": { "status": "ERROR" }, "task": { "status": "FAILED", "error": "model offline" } }),
            "{v}"
        );
    }
);

const AGENTS_DEEP: &str = "{ agents(first: 50) { nodes { id tools { id name } knowledgePacks { id name } tasks(first: 5) { totalCount nodes { id status } } } } }";

async fn agent_dataset(app: &TestApp, name: &str, agents: usize, per: usize) -> String {
    let (token, _) = user(app, name).await;
    let t = tool(app, &token, &format!("{name}.t")).await;
    let k = pack(app, &token, &format!("{name}.k")).await;
    for i in 0..agents {
        let a = agent(app, &token, &format!("a{i}"), &[&t], &[&k]).await;
        for j in 0..per {
            task(app, &token, &a, &format!("t{j}")).await;
        }
    }
    token
}

db_test!(
    agents_tools_packs_tasks_cost_the_same_statements_at_any_size,
    |app| async move {
        let small = agent_dataset(&app, "small", 2, 1).await;
        let large = agent_dataset(&app, "large", 20, 6).await;
        let (vs, ns) = app
            .gql_counted_min(AGENTS_DEEP, json!({}), Some(&small))
            .await;
        let (vl, nl) = app
            .gql_counted_min(AGENTS_DEEP, json!({}), Some(&large))
            .await;
        assert!(
            vs["errors"].is_null() && vl["errors"].is_null(),
            "{vs} {vl}"
        );
        let nodes = vl["data"]["agents"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 20);
        assert_eq!(nodes[0]["tasks"]["nodes"].as_array().unwrap().len(), 5);
        assert_eq!(nodes[0]["tasks"]["totalCount"], json!(6));
        // auth, agents page, tools, packs, task pages.
        const BOUND: usize = 5;
        eprintln!(
            "agents query: {ns} / {nl} SQL statements ({:?})",
            app.backend
        );
        assert!(
            ns <= BOUND && nl <= BOUND,
            "statements grew with rows: {ns} vs {nl}"
        );
    }
);
