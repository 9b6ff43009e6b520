//! Memories (upsert, expiry), documents and `searchDocuments` ranking on a small fixed
//! corpus, workflows and executions, and system logs — each with ownership checks.

use plexus_tests::{TestApp, code, db_test};
use serde_json::{Value, json};

use crate::agents::{agent, pack};
use crate::fixtures::{outcome, user};

async fn admin(app: &TestApp, name: &str) -> String {
    let email = format!("{name}@example.com");
    app.register(&email, "password123").await;
    app.sql(&format!(
        "UPDATE users SET role = 'ADMIN' WHERE email = '{email}'"
    ))
    .await;
    app.login(&email, "password123").await
}

const REMEMBER: &str = "mutation($i: RememberInput!) { remember(input: $i) { memory { id kind key value expiresAt } } }";

db_test!(memories_upsert_expire_and_stay_private, |app| async move {
    let (ada, _) = user(&app, "ada").await;
    let (bob, _) = user(&app, "bob").await;
    let a = agent(&app, &ada, "mem", &[], &[]).await;
    let v1 = app
        .gql(
            REMEMBER,
            json!({ "i": { "agentId": a, "kind": "LONG_TERM", "key": "lang", "value": "fr" } }),
            Some(&ada),
        )
        .await;
    let v2 = app
        .gql(REMEMBER, json!({ "i": { "agentId": a, "kind": "LONG_TERM", "key": "lang", "value": { "code": "en" } } }), Some(&ada))
        .await;
    let (m1, m2) = (
        &v1["data"]["remember"]["memory"],
        &v2["data"]["remember"]["memory"],
    );
    assert_eq!(m1["id"], m2["id"], "upsert keeps the row: {v1} {v2}");
    assert_eq!(m2["value"], json!({ "code": "en" }));
    let other_kind = app
        .gql(
            REMEMBER,
            json!({ "i": { "agentId": a, "kind": "EPISODIC", "key": "lang", "value": 1 } }),
            Some(&ada),
        )
        .await;
    assert!(other_kind["errors"].is_null(), "{other_kind}");
    let past = app
        .gql(REMEMBER, json!({ "i": { "agentId": a, "kind": "SHORT_TERM", "key": "x", "value": 1, "expiresAt": "2000-01-01T00:00:00Z" } }), Some(&ada))
        .await;
    assert_eq!(code(&past), "BAD_USER_INPUT");
    let soon = app
        .gql(REMEMBER, json!({ "i": { "agentId": a, "kind": "SHORT_TERM", "key": "soon", "value": 1, "expiresAt": "2999-01-01T00:00:00Z" } }), Some(&ada))
        .await;
    assert!(soon["errors"].is_null(), "{soon}");
    assert_eq!(app.count("memories").await, 3);
    // Expire one by hand: it is never returned again, then purged.
    app.sql("UPDATE memories SET expires_at = '2000-01-01 00:00:00+00:00' WHERE key = 'soon'")
        .await;
    let q = "query($a: ID!) { memories(agentId: $a) { totalCount nodes { key kind } } k: memories(agentId: $a, kind: EPISODIC) { totalCount } agent(id: $a) { memories { totalCount nodes { key } } } }";
    let v = app.gql(q, json!({ "a": a }), Some(&ada)).await;
    assert_eq!(v["data"]["memories"]["totalCount"], json!(2), "{v}");
    assert_eq!(v["data"]["k"]["totalCount"], json!(1));
    assert_eq!(v["data"]["agent"]["memories"]["totalCount"], json!(2));
    assert_eq!(
        app.state.api.agents.purge_expired_memories().await.unwrap(),
        1
    );
    assert_eq!(app.count("memories").await, 2);

    // Bob cannot read, write or forget Ada's agent's memories.
    let v = app.gql(q, json!({ "a": a }), Some(&bob)).await;
    assert_eq!(code(&v), "NOT_FOUND");
    let v = app
        .gql(
            REMEMBER,
            json!({ "i": { "agentId": a, "kind": "LONG_TERM", "key": "k", "value": 1 } }),
            Some(&bob),
        )
        .await;
    assert_eq!(code(&v), "NOT_FOUND");
    let node = "query($id: ID!) { node(id: $id) { id } }";
    let mem_id = m1["id"].clone();
    let v = app.gql(node, json!({ "id": mem_id }), Some(&ada)).await;
    assert_eq!(v["data"]["node"]["id"], mem_id, "{v}");
    let v = app.gql(node, json!({ "id": mem_id }), Some(&bob)).await;
    assert_eq!(v["data"]["node"], Value::Null);
    let forget = "mutation($id: ID!) { forget(input: { id: $id }) { deletedId } }";
    let id = m1["id"].as_str().unwrap();
    assert_eq!(
        code(&app.gql(forget, json!({ "id": id }), Some(&bob)).await),
        "NOT_FOUND"
    );
    let v = app.gql(forget, json!({ "id": id }), Some(&ada)).await;
    assert_eq!(v["data"]["forget"]["deletedId"], json!(id), "{v}");
});

const ADD_DOC: &str = "mutation($i: AddDocumentInput!) { addDocument(input: $i) { document { id dimensions isIndexed } } }";
const SEARCH: &str =
    "query($i: SearchDocumentsInput!) { searchDocuments(input: $i) { score document { title } } }";

fn titles(v: &Value) -> Vec<String> {
    v["data"]["searchDocuments"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|h| h["document"]["title"].as_str().unwrap().to_string())
        .collect()
}

db_test!(
    search_ranks_a_fixed_corpus_by_text_and_embedding,
    |app| async move {
        let (ada, _) = user(&app, "ada").await;
        let (bob, _) = user(&app, "bob").await;
        let root = admin(&app, "root").await;
        let k = pack(&app, &ada, "kb").await;
        let corpus = [
            ("Rust graphs", "rust graph rust engine", [1.0, 0.0, 0.0]),
            ("Cooking", "pasta with tomato", [0.0, 1.0, 0.0]),
            ("Graph theory", "graph nodes and edges", [0.6, 0.8, 0.0]),
        ];
        let mut ids = vec![];
        for (title, content, emb) in corpus {
            let v = app
            .gql(ADD_DOC, json!({ "i": { "knowledgePackId": k, "source": "s", "title": title, "content": content, "embedding": emb } }), Some(&ada))
            .await;
            assert_eq!(
                v["data"]["addDocument"]["document"]["dimensions"],
                json!(3),
                "{v}"
            );
            ids.push(
                v["data"]["addDocument"]["document"]["id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        let v = app
            .gql(
                SEARCH,
                json!({ "i": { "query": "Rust graph" } }),
                Some(&ada),
            )
            .await;
        assert_eq!(titles(&v), ["Rust graphs", "Graph theory"]);
        let v = app
            .gql(
                SEARCH,
                json!({ "i": { "embedding": [1.0, 0.0, 0.0] } }),
                Some(&ada),
            )
            .await;
        assert_eq!(titles(&v), ["Rust graphs", "Graph theory", "Cooking"]);
        assert!((v["data"]["searchDocuments"][0]["score"].as_f64().unwrap() - 1.0).abs() < 1e-6);
        let v = app
            .gql(
                SEARCH,
                json!({ "i": { "query": "tomato", "embedding": [0.0, 1.0, 0.0], "limit": 2 } }),
                Some(&ada),
            )
            .await;
        assert_eq!(titles(&v), ["Cooking", "Graph theory"]);
        let v = app
            .gql(
                SEARCH,
                json!({ "i": { "embedding": [1.0, 0.0] } }),
                Some(&ada),
            )
            .await;
        assert_eq!(code(&v), "BAD_USER_INPUT");
        assert_eq!(v["errors"][0]["extensions"]["field"], json!("embedding"));
        assert_eq!(
            code(&app.gql(SEARCH, json!({ "i": {} }), Some(&ada)).await),
            "BAD_USER_INPUT"
        );

        // Bob sees none of Ada's documents and cannot change them; an admin's pack is shared.
        let v = app
            .gql(SEARCH, json!({ "i": { "query": "graph" } }), Some(&bob))
            .await;
        assert_eq!(titles(&v), Vec::<String>::new());
        let shared = pack(&app, &root, "shared").await;
        app.gql(ADD_DOC, json!({ "i": { "knowledgePackId": shared, "source": "s", "title": "Graph handbook", "content": "graph" } }), Some(&root))
        .await;
        let v = app
            .gql(SEARCH, json!({ "i": { "query": "graph" } }), Some(&bob))
            .await;
        assert_eq!(titles(&v), ["Graph handbook"]);
        let v = app
            .gql(
                ADD_DOC,
                json!({ "i": { "knowledgePackId": k, "source": "s", "content": "x" } }),
                Some(&bob),
            )
            .await;
        assert_eq!(code(&v), "NOT_FOUND");
        let v = app
        .gql("mutation($i: UpdateDocumentInput!) { updateDocument(input: $i) { document { id } } }", json!({ "i": { "id": ids[0], "content": "x" } }), Some(&bob))
        .await;
        assert_eq!(code(&v), "NOT_FOUND");
        let node = "query($id: ID!) { node(id: $id) { id } }";
        for id in [&ids[0], &k] {
            let v = app.gql(node, json!({ "id": id }), Some(&bob)).await;
            assert_eq!(v["data"]["node"], Value::Null, "{v}");
            let v = app.gql(node, json!({ "id": id }), Some(&ada)).await;
            assert_eq!(v["data"]["node"]["id"], json!(id), "{v}");
        }
        let v = app.gql(node, json!({ "id": shared }), Some(&bob)).await;
        assert_eq!(
            v["data"]["node"]["id"],
            json!(shared),
            "shared packs resolve for everyone"
        );
        let del = "mutation($id: ID!) { deleteDocument(input: { id: $id }) { deletedId } }";
        assert_eq!(
            code(&app.gql(del, json!({ "id": ids[0] }), Some(&bob)).await),
            "NOT_FOUND"
        );
        // Ada edits: dropping the embedding takes the document out of vector search.
        let v = app
        .gql("mutation($i: UpdateDocumentInput!) { updateDocument(input: $i) { document { isIndexed dimensions } } }", json!({ "i": { "id": ids[0], "embedding": null } }), Some(&ada))
        .await;
        assert_eq!(
            v["data"]["updateDocument"]["document"],
            json!({ "isIndexed": false, "dimensions": null }),
            "{v}"
        );
        assert_eq!(
            outcome(&app.gql(del, json!({ "id": ids[1] }), Some(&ada)).await),
            "OK"
        );
        let v = app
            .gql(
                SEARCH,
                json!({ "i": { "embedding": [1.0, 0.0, 0.0] } }),
                Some(&ada),
            )
            .await;
        assert_eq!(titles(&v), ["Graph theory"]);
    }
);

db_test!(workflows_run_and_logs_are_for_admins, |app| async move {
    let (ada, _) = user(&app, "ada").await;
    let (bob, _) = user(&app, "bob").await;
    let root = admin(&app, "root").await;
    let a = agent(&app, &ada, "planner", &[], &[]).await;
    let b = agent(&app, &bob, "bobbot", &[], &[]).await;
    let create = "mutation($i: CreateWorkflowInput!) { createWorkflow(input: $i) { workflow { id name participants { role position agent { id } } } } }";
    let bad = app
        .gql(create, json!({ "i": { "name": "w", "definition": {}, "participants": [{ "agentId": b, "role": "r", "position": 1 }] } }), Some(&ada))
        .await;
    assert_eq!(code(&bad), "BAD_USER_INPUT");
    let v = app
        .gql(create, json!({ "i": { "name": "w", "definition": { "steps": [] }, "participants": [{ "agentId": a, "role": "planner", "position": 1 }] } }), Some(&ada))
        .await;
    let wf = &v["data"]["createWorkflow"]["workflow"];
    assert_eq!(
        wf["participants"],
        json!([{ "role": "planner", "position": 1, "agent": { "id": a } }]),
        "{v}"
    );
    let wf = wf["id"].as_str().unwrap().to_string();
    let start = "mutation($w: ID!) { startWorkflowExecution(input: { workflowId: $w, input: { q: 1 } }) { execution { id status input } } }";
    assert_eq!(
        code(&app.gql(start, json!({ "w": wf }), Some(&bob)).await),
        "NOT_FOUND"
    );
    let v = app.gql(start, json!({ "w": wf }), Some(&ada)).await;
    let ex = &v["data"]["startWorkflowExecution"]["execution"];
    assert_eq!(ex["status"], json!("RUNNING"), "{v}");
    let ex = ex["id"].as_str().unwrap().to_string();
    let finish = "mutation($i: FinishWorkflowExecutionInput!) { finishWorkflowExecution(input: $i) { execution { status output completedAt workflow { name } } } }";
    let input = json!({ "i": { "id": ex, "status": "COMPLETED", "output": { "ok": true } } });
    assert_eq!(
        code(&app.gql(finish, input.clone(), Some(&bob)).await),
        "NOT_FOUND"
    );
    let v = app.gql(finish, input.clone(), Some(&ada)).await;
    let done = &v["data"]["finishWorkflowExecution"]["execution"];
    assert_eq!(
        (done["status"].clone(), done["output"].clone()),
        (json!("COMPLETED"), json!({ "ok": true })),
        "{v}"
    );
    assert!(done["completedAt"].is_string());
    assert_eq!(code(&app.gql(finish, input, Some(&ada)).await), "CONFLICT");
    let node = "query($id: ID!) { node(id: $id) { id } }";
    for id in [&wf, &ex] {
        let v = app.gql(node, json!({ "id": id }), Some(&ada)).await;
        assert_eq!(v["data"]["node"]["id"], json!(id), "{v}");
        let v = app.gql(node, json!({ "id": id }), Some(&bob)).await;
        assert_eq!(v["data"]["node"], Value::Null, "{v}");
    }
    let q = "query($id: ID!) { workflowExecution(id: $id) { status } }";
    assert_eq!(
        app.gql(q, json!({ "id": ex }), Some(&bob)).await["data"]["workflowExecution"],
        Value::Null
    );
    let v = app
        .gql("{ workflows { totalCount } }", json!({}), Some(&ada))
        .await;
    assert_eq!(v["data"]["workflows"]["totalCount"], json!(1));

    // Logs: anyone signed in writes, only admins read; task failures are logged too.
    let write = "mutation($i: WriteSystemLogInput!) { writeSystemLog(input: $i) { id } }";
    let v = app
        .gql(
            write,
            json!({ "i": { "level": "WARN", "category": "agent", "message": "low memory" } }),
            Some(&ada),
        )
        .await;
    assert!(v["errors"].is_null(), "{v}");
    assert_eq!(
        code(
            &app.gql(
                write,
                json!({ "i": { "level": "INFO", "category": "x", "message": "m" } }),
                None
            )
            .await
        ),
        "UNAUTHENTICATED"
    );
    let t = app
        .gql("mutation($a: ID!) { createAgentTask(input: { agentId: $a, name: \"t\", prompt: \"p\" }) { task { id } } }", json!({ "a": a }), Some(&ada))
        .await;
    let t = t["data"]["createAgentTask"]["task"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.gql(
        "mutation($t: ID!) { startAgentTask(input: { id: $t }) { task { id } } }",
        json!({ "t": t }),
        Some(&ada),
    )
    .await;
    app.gql(
        "mutation($t: ID!) { failAgentTask(input: { id: $t, error: \"boom\" }) { task { id } } }",
        json!({ "t": t }),
        Some(&ada),
    )
    .await;
    let logs = "{ systemLogs { totalCount nodes { id level category message } } warn: systemLogs(filter: { level: WARN }) { totalCount } }";
    assert_eq!(
        code(&app.gql(logs, json!({}), Some(&ada)).await),
        "FORBIDDEN"
    );
    let v = app.gql(logs, json!({}), Some(&root)).await;
    assert_eq!(v["data"]["systemLogs"]["totalCount"], json!(2), "{v}");
    let newest = v["data"]["systemLogs"]["nodes"][0].clone();
    assert_eq!(
        (&newest["level"], &newest["category"], &newest["message"]),
        (
            &json!("ERROR"),
            &json!("agent_task"),
            &json!("agent task failed: boom")
        ),
        "newest first"
    );
    assert_eq!(v["data"]["warn"]["totalCount"], json!(1));
    // node(id) finds an entry for site admins only.
    let q = "query($id: ID!) { node(id: $id) { id ... on SystemLog { message } } }";
    let v = app.gql(q, json!({ "id": newest["id"] }), Some(&root)).await;
    assert_eq!(v["data"]["node"]["message"], newest["message"], "{v}");
    let v = app.gql(q, json!({ "id": newest["id"] }), Some(&ada)).await;
    assert!(v["data"]["node"].is_null(), "{v}");
    assert_eq!(
        app.state.api.agents.purge_logs(0).await.unwrap(),
        2,
        "retention purge"
    );
});

/// Brute-force search latency on 100,000 documents of 384 dimensions (not a pass/fail
/// check: `cargo test --release -p plexus-tests --test e2e search_latency -- --ignored
/// --nocapture` prints the timings recorded in the README).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "slow: a measurement, run on demand"]
async fn search_latency_on_100k_documents() {
    for backend in [
        plexus_tests::Backend::Sqlite,
        plexus_tests::Backend::Postgres,
    ] {
        plexus_tests::run(
            backend,
            |_| {},
            |app| async move {
                use plexus_agents::entity::documents;
                use plexus_agents::knowledge::{Search, encode_embedding};
                use rand::Rng;
                use sea_orm::{EntityTrait, Set};
                let (ada, _) = user(&app, "ada").await;
                let k = pack(&app, &ada, "big").await;
                let pack_id = plexus_core::GlobalId::parse(&k, "k").unwrap().uuid;
                let words = [
                    "graph", "agent", "rust", "memory", "tool", "vector", "search", "node",
                ];
                let mut rng = rand::rng();
                let t0 = std::time::Instant::now();
                for _ in 0..200 {
                    let rows: Vec<documents::ActiveModel> = (0..500)
                        .map(|_| {
                            let emb: Vec<f32> =
                                (0..384).map(|_| rng.random_range(-1.0..1.0)).collect();
                            let mut content: Vec<&str> = (0..40)
                                .map(|_| words[rng.random_range(0..words.len())])
                                .collect();
                            // One document in a thousand holds a rare word.
                            if rng.random_range(0..1000) == 0 {
                                content.push("needle");
                            }
                            let ts = plexus_core::db::now();
                            documents::ActiveModel {
                                id: Set(uuid::Uuid::now_v7()),
                                knowledge_pack_id: Set(pack_id),
                                source: Set("bench".into()),
                                title: Set(None),
                                author: Set(None),
                                content: Set(content.join(" ")),
                                metadata: Set(None),
                                embedding: Set(Some(encode_embedding(&emb))),
                                is_indexed: Set(true),
                                created_at: Set(ts),
                                updated_at: Set(ts),
                            }
                        })
                        .collect();
                    documents::Entity::insert_many(rows)
                        .exec(app.db())
                        .await
                        .unwrap();
                }
                eprintln!(
                    "{:?}: inserted 100,000 documents in {:?}",
                    app.backend,
                    t0.elapsed()
                );
                let query: Vec<f32> = (0..384).map(|_| rng.random_range(-1.0..1.0)).collect();
                for (label, search) in [
                    (
                        "embedding",
                        Search {
                            embedding: Some(query.clone()),
                            ..Default::default()
                        },
                    ),
                    (
                        "text (nearly every document matches)",
                        Search {
                            query: Some("vector graph".into()),
                            ..Default::default()
                        },
                    ),
                    (
                        "text (a rare word: ~100 documents match)",
                        Search {
                            query: Some("needle".into()),
                            ..Default::default()
                        },
                    ),
                ] {
                    let v = app.gql("{ viewer { id } }", json!({}), Some(&ada)).await;
                    let me = plexus_core::GlobalId::parse(
                        v["data"]["viewer"]["id"].as_str().unwrap(),
                        "id",
                    )
                    .unwrap()
                    .uuid;
                    let actor = plexus_core::Actor::User {
                        id: me,
                        role: plexus_core::UserRole::User,
                    };
                    let t = std::time::Instant::now();
                    let hits = app
                        .state
                        .api
                        .agents
                        .search_documents(&actor, search)
                        .await
                        .unwrap();
                    eprintln!(
                        "{:?}: {label} search over 100,000 documents: {:?} ({} hits)",
                        app.backend,
                        t.elapsed(),
                        hits.len()
                    );
                }
            },
        )
        .await;
    }
}

db_test!(
    text_search_uses_the_database_index_and_follows_every_change,
    |app| async move {
        let (ada, _) = user(&app, "ada").await;
        let k = pack(&app, &ada, "kb").await;
        let add = |title: &str, content: &str| json!({ "i": { "knowledgePackId": k, "source": "s", "title": title, "content": content } });
        let v = app
            .gql(
                ADD_DOC,
                add(
                    "Prisma",
                    "Elavira Agents utilise PostgreSQL pour gérer les agents",
                ),
                Some(&ada),
            )
            .await;
        let fr = v["data"]["addDocument"]["document"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        app.gql(ADD_DOC, add("Other", "nothing about databases"), Some(&ada))
            .await;
        let search = |q: &str| json!({ "i": { "query": q } });
        let v = app.gql(SEARCH, search("gérer"), Some(&ada)).await;
        assert_eq!(titles(&v), ["Prisma"], "words with accents: {v}");
        let v = app
            .gql(SEARCH, search("POSTGRESQL agents"), Some(&ada))
            .await;
        assert_eq!(titles(&v), ["Prisma"], "case folded: {v}");
        assert!(v["data"]["searchDocuments"][0]["score"].as_f64().unwrap() > 0.0);
        // An edit is searchable at once, and the old words are gone.
        let upd =
            "mutation($i: UpdateDocumentInput!) { updateDocument(input: $i) { document { id } } }";
        let v = app
            .gql(
                upd,
                json!({ "i": { "id": fr, "title": "Zebra", "content": "stripes" } }),
                Some(&ada),
            )
            .await;
        assert_eq!(outcome(&v), "OK", "{v}");
        assert!(titles(&app.gql(SEARCH, search("postgresql"), Some(&ada)).await).is_empty());
        assert_eq!(
            titles(&app.gql(SEARCH, search("stripes"), Some(&ada)).await),
            ["Zebra"]
        );
        assert_eq!(
            titles(&app.gql(SEARCH, search("zebra"), Some(&ada)).await),
            ["Zebra"],
            "titles are searched"
        );
        let del = "mutation($id: ID!) { deleteDocument(input: { id: $id }) { deletedId } }";
        app.gql(del, json!({ "id": fr }), Some(&ada)).await;
        assert!(titles(&app.gql(SEARCH, search("stripes"), Some(&ada)).await).is_empty());
        // Operators are words, not syntax.
        let v = app
            .gql(
                SEARCH,
                search("nothing OR (databases) | ! & \"x"),
                Some(&ada),
            )
            .await;
        assert_eq!(titles(&v), ["Other"], "{v}");
        let v = app
            .gql(SEARCH, search(&"word ".repeat(40)), Some(&ada))
            .await;
        assert_eq!(code(&v), "BAD_USER_INPUT");

        // On PostgreSQL the planner answers a text search from the GIN index.
        if app.backend == plexus_tests::Backend::Postgres {
            use sea_orm::ConnectionTrait;
            let plan = "EXPLAIN SELECT doc_id FROM documents_search WHERE vector @@ to_tsquery('simple'::regconfig, 'stripes')".to_string();
            let txn = sea_orm::TransactionTrait::begin(app.db()).await.unwrap();
            txn.execute_unprepared("SET LOCAL enable_seqscan = off")
                .await
                .unwrap();
            let rows = txn
                .query_all_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    plan,
                ))
                .await
                .unwrap();
            let plan: Vec<String> = rows
                .iter()
                .map(|r| r.try_get_by_index::<String>(0).unwrap())
                .collect();
            assert!(
                plan.iter().any(|l| l.contains("idx_documents_search")),
                "{plan:#?}"
            );
        }
    }
);
