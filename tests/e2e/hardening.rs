//! Hardening: sign-in throttling, persisted operations (APQ and the allow-list), document
//! limits, metrics, request ids on errors and the slow-operation log.

use plexus_server::persisted::{Manifest, sha256};
use plexus_tests::{TestApp, code, db_test};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use std::sync::Arc;

const GQL_RESPONSE: &str = "application/graphql-response+json";
const LOGIN: &str = "mutation($i: LoginInput!) { login(input: $i) { accessToken } }";
const REGISTER: &str = "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }";

/// POSTs `body` with extra headers; returns status, JSON body and the response's request id.
async fn post(app: &TestApp, body: Value, headers: &[(&str, &str)]) -> (u16, Value, String) {
    let mut req = app.http.post(app.url("/graphql")).json(&body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let rid = resp
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, resp.json().await.unwrap(), rid)
}

async fn login(app: &TestApp, email: &str, password: &str, headers: &[(&str, &str)]) -> Value {
    let body =
        json!({ "query": LOGIN, "variables": { "i": { "email": email, "password": password } } });
    post(app, body, headers).await.1
}

fn hex(text: &str) -> String {
    sha256(text).iter().map(|b| format!("{b:02x}")).collect()
}

fn without_request_id(mut v: Value) -> Value {
    if let Some(ext) = v["errors"][0]["extensions"].as_object_mut() {
        ext.remove("requestId");
        ext.remove("retryAfterSeconds");
    }
    v
}

// ---------------------------------------------------------------------------------------
// Sign-in throttling

db_test!(
    login_failures_throttle_the_account_alike_for_unknown_emails,
    |c| c.login_max_failures = 2,
    |app| async move {
        app.register("known@example.com", "password123").await;
        for email in ["known@example.com", "nobody@example.com"] {
            for _ in 0..2 {
                let v = login(&app, email, "wrong-password", &[]).await;
                assert_eq!(code(&v), "UNAUTHENTICATED", "{v}");
            }
        }
        // Now both are throttled, even with the right password, and look the same.
        let known = login(&app, "Known@Example.com", "password123", &[]).await;
        let unknown = login(&app, "nobody@example.com", "password123", &[]).await;
        assert_eq!(code(&known), "RATE_LIMITED", "{known}");
        for v in [&known, &unknown] {
            let retry = v["errors"][0]["extensions"]["retryAfterSeconds"]
                .as_u64()
                .unwrap();
            assert!((1..=900).contains(&retry), "{v}");
        }
        assert_eq!(without_request_id(known), without_request_id(unknown));
        // Each lockout is in the system log once, for site admins.
        let rows = app
            .db()
            .query_all_raw(sea_orm::Statement::from_string(
                app.db().get_database_backend(),
                "SELECT message FROM system_logs WHERE category = 'auth' AND level = 'WARN'",
            ))
            .await
            .unwrap();
        assert_eq!(rows.len(), 2, "one entry per locked account");
        assert!(app.count("system_logs").await >= 2);
        app.register("other@example.com", "password123").await;
        let v = login(&app, "other@example.com", "password123", &[]).await;
        assert!(v["data"]["login"]["accessToken"].is_string(), "{v}");
    }
);

db_test!(
    a_successful_login_resets_the_failures,
    |c| c.login_max_failures = 2,
    |app| async move {
        app.register("reset@example.com", "password123").await;
        let ok = |v: &Value| v["data"]["login"]["accessToken"].is_string();
        assert_eq!(
            code(&login(&app, "reset@example.com", "nope-nope", &[]).await),
            "UNAUTHENTICATED"
        );
        assert!(ok(
            &login(&app, "reset@example.com", "password123", &[]).await
        ));
        assert_eq!(
            code(&login(&app, "reset@example.com", "nope-nope", &[]).await),
            "UNAUTHENTICATED"
        );
        // One failure since the success: still allowed (two without the reset).
        let v = login(&app, "reset@example.com", "password123", &[]).await;
        assert!(ok(&v), "{v}");
    }
);

db_test!(
    login_attempts_are_limited_per_client_address,
    |c| c.login_max_per_ip = 2,
    |app| async move {
        for i in 0..2 {
            let v = login(&app, &format!("u{i}@example.com"), "password123", &[]).await;
            assert_eq!(code(&v), "UNAUTHENTICATED", "{v}");
        }
        let v = login(&app, "u9@example.com", "password123", &[]).await;
        assert_eq!(code(&v), "RATE_LIMITED", "{v}");
        let v = login(&app, "u8@example.com", "password123", &[]).await;
        assert_eq!(code(&v), "RATE_LIMITED", "{v}");
        assert_eq!(
            app.count("system_logs").await,
            1,
            "the address lockout, logged once"
        );
        // Without PLEXUS_TRUST_PROXY, X-Forwarded-For does not create a new client.
        let v = login(
            &app,
            "u9@example.com",
            "x",
            &[("x-forwarded-for", "10.9.9.9")],
        )
        .await;
        assert_eq!(code(&v), "RATE_LIMITED", "{v}");
    }
);

db_test!(
    behind_a_trusted_proxy_the_forwarded_address_counts,
    |c| {
        c.login_max_per_ip = 1;
        c.trust_proxy = true;
    },
    |app| async move {
        let a = [("x-forwarded-for", "203.0.113.7, 10.0.0.1")];
        let b = [("x-forwarded-for", "10.0.0.2")];
        assert_eq!(
            code(&login(&app, "p@example.com", "x", &a).await),
            "UNAUTHENTICATED"
        );
        assert_eq!(
            code(&login(&app, "p@example.com", "x", &a).await),
            "RATE_LIMITED"
        );
        assert_eq!(
            code(&login(&app, "p@example.com", "x", &b).await),
            "UNAUTHENTICATED"
        );
    }
);

db_test!(
    registrations_are_limited_per_client_address,
    |c| c.register_max_per_ip = 2,
    |app| async move {
        app.register("r1@example.com", "password123").await;
        app.register("r2@example.com", "password123").await;
        let body = json!({ "query": REGISTER, "variables": { "i": { "email": "r3@example.com", "password": "password123" } } });
        let (_, v, _) = post(&app, body, &[]).await;
        assert_eq!(code(&v), "RATE_LIMITED", "{v}");
        assert!(v["errors"][0]["extensions"]["retryAfterSeconds"].is_u64());
        assert_eq!(app.count("users").await, 2);
    }
);

// ---------------------------------------------------------------------------------------
// Automatic Persisted Queries

db_test!(apq_registers_and_runs_by_hash, |app| async move {
    let q = "query Apq { __typename }";
    let pq = json!({ "persistedQuery": { "version": 1, "sha256Hash": hex(q) } });
    // Unknown hash: 200 (both media types) with PERSISTED_QUERY_NOT_FOUND.
    for accept in [GQL_RESPONSE, "application/json"] {
        let (s, v, _) = post(&app, json!({ "extensions": pq }), &[("accept", accept)]).await;
        assert_eq!((s, code(&v)), (200, "PERSISTED_QUERY_NOT_FOUND"), "{v}");
        assert_eq!(v["errors"][0]["message"], "PersistedQueryNotFound");
    }
    let resp = app
        .http
        .get(app.url("/graphql"))
        .query(&[("extensions", pq.to_string())])
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(code(&v), "PERSISTED_QUERY_NOT_FOUND");
    // A wrong hash for the query: 400.
    let wrong = json!({ "persistedQuery": { "version": 1, "sha256Hash": hex("{ other }") } });
    let (s, v, _) = post(&app, json!({ "query": q, "extensions": wrong }), &[]).await;
    assert_eq!((s, code(&v)), (400, "BAD_REQUEST"), "{v}");
    let bad = json!({ "persistedQuery": { "version": 2, "sha256Hash": hex(q) } });
    let (s, _, _) = post(&app, json!({ "query": q, "extensions": bad }), &[]).await;
    assert_eq!(s, 400);
    // Query and hash: stored and run; then the hash alone runs it, by POST and GET.
    let (s, v, _) = post(&app, json!({ "query": q, "extensions": pq }), &[]).await;
    assert_eq!(
        (s, &v),
        (200, &json!({ "data": { "__typename": "Query" } }))
    );
    let (_, v, _) = post(&app, json!({ "extensions": pq }), &[]).await;
    assert_eq!(v, json!({ "data": { "__typename": "Query" } }));
    let resp = app
        .http
        .get(app.url("/graphql"))
        .query(&[("extensions", pq.to_string())])
        .header("accept", "text/html, application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({ "data": { "__typename": "Query" } })
    );
    // In a batch, each item is resolved on its own.
    let unknown = json!({ "persistedQuery": { "version": 1, "sha256Hash": hex("{ x }") } });
    let (s, v, _) = post(
        &app,
        json!([{ "extensions": pq }, { "extensions": unknown }]),
        &[],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v[0]["data"]["__typename"], "Query");
    assert_eq!(code(&v[1]), "PERSISTED_QUERY_NOT_FOUND");
});

db_test!(
    apq_can_be_turned_off,
    |c| c.apq_cache_size = 0,
    |app| async move {
        let q = "{ __typename }";
        let pq = json!({ "persistedQuery": { "version": 1, "sha256Hash": hex(q) } });
        let (_, v, _) = post(&app, json!({ "query": q, "extensions": pq }), &[]).await;
        assert_eq!(code(&v), "PERSISTED_QUERY_NOT_SUPPORTED", "{v}");
    }
);

const ALLOWED: &str = "query Allowed { __typename }";
const BY_ID: &str = "query ById { viewer { id } }";

fn manifest() -> Arc<Manifest> {
    let m = json!({ hex(ALLOWED): ALLOWED, "op-by-id": BY_ID });
    Arc::new(Manifest::parse(&m.to_string()).unwrap())
}

db_test!(
    persisted_only_runs_manifest_operations_only,
    |c| c.persisted_only = Some(manifest()),
    |app| async move {
        let ok = json!({ "data": { "__typename": "Query" } });
        let pq = json!({ "persistedQuery": { "version": 1, "sha256Hash": hex(ALLOWED) } });
        let (s, v, _) = post(&app, json!({ "extensions": pq }), &[]).await;
        assert_eq!((s, &v), (200, &ok));
        let (_, v, _) = post(&app, json!({ "query": ALLOWED }), &[]).await;
        assert_eq!(v, ok);
        for key in ["documentId", "id"] {
            let (_, v, _) = post(&app, json!({ key: "op-by-id" }), &[]).await;
            assert_eq!(v, json!({ "data": { "viewer": null } }), "{key}");
        }
        let resp = app
            .http
            .get(app.url("/graphql"))
            .query(&[("documentId", "op-by-id")])
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.json::<Value>().await.unwrap(),
            json!({ "data": { "viewer": null } })
        );
        // Anything else is refused: 400 with graphql-response+json, 200 with json.
        let other = json!({ "query": "{ __typename }" });
        let (s, v, _) = post(&app, other.clone(), &[("accept", GQL_RESPONSE)]).await;
        assert_eq!((s, code(&v)), (400, "PERSISTED_QUERY_NOT_ALLOWED"), "{v}");
        let (s, v, _) = post(&app, other, &[("accept", "application/json")]).await;
        assert_eq!((s, code(&v)), (200, "PERSISTED_QUERY_NOT_ALLOWED"));
        let (_, v, _) = post(&app, json!({ "documentId": "nope" }), &[]).await;
        assert_eq!(code(&v), "PERSISTED_QUERY_NOT_ALLOWED");
        // APQ registration does not bypass the manifest.
        let q = "{ __typename }";
        let pq = json!({ "persistedQuery": { "version": 1, "sha256Hash": hex(q) } });
        let (_, v, _) = post(&app, json!({ "query": q, "extensions": pq }), &[]).await;
        assert_eq!(code(&v), "PERSISTED_QUERY_NOT_ALLOWED");
        let (_, v, _) = post(&app, json!({ "extensions": pq }), &[]).await;
        assert_eq!(code(&v), "PERSISTED_QUERY_NOT_ALLOWED");
    }
);

// ---------------------------------------------------------------------------------------
// Document limits

db_test!(
    aliases_are_limited_through_fragments,
    |c| c.max_aliases = 3,
    |app| async move {
        let ok = "{ a: __typename b: __typename c: __typename }";
        assert_eq!(app.gql(ok, json!({}), None).await["data"]["c"], "Query");
        let (s, v) = app
            .gql_raw(
                "{ a: __typename ...F ...F ...F } fragment F on Query { b: __typename }",
                json!({}),
                None,
            )
            .await;
        assert_eq!((s, code(&v)), (200, "GRAPHQL_VALIDATION_FAILED"), "{v}");
        let msg = v["errors"][0]["message"].as_str().unwrap();
        assert!(msg.contains("PLEXUS_MAX_ALIASES"), "{msg}");
    }
);

db_test!(
    root_fields_are_limited_before_execution,
    |c| c.max_root_fields = 2,
    |app| async move {
        let reg = |n: u32| {
            format!(
                r#"r{n}: register(input: {{ email: "m{n}@example.com", password: "password123" }}) {{ accessToken }}"#
            )
        };
        let two = format!("mutation {{ {} {} }}", reg(1), reg(2));
        let v = app.gql(&two, json!({}), None).await;
        assert!(v["data"]["r2"].is_object(), "{v}");
        let three = format!(
            "mutation {{ {} ...F }} fragment F on Mutation {{ {} }}",
            reg(3),
            reg(4) + " " + &reg(5)
        );
        let v = app.gql(&three, json!({}), None).await;
        assert_eq!(code(&v), "GRAPHQL_VALIDATION_FAILED", "{v}");
        assert!(
            v["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("PLEXUS_MAX_ROOT_FIELDS")
        );
        // Nothing ran.
        assert_eq!(app.count("users").await, 2);
    }
);

db_test!(
    fragment_nesting_is_limited,
    |c| c.max_recursive_depth = 3,
    |app| async move {
        let chain = |n: usize| {
            let mut q = String::from("{ ...F0 }");
            for i in 0..n {
                q.push_str(&format!(" fragment F{i} on Query {{ ...F{} }}", i + 1));
            }
            q.push_str(&format!(" fragment F{n} on Query {{ __typename }}"));
            q
        };
        let v = app.gql(&chain(2), json!({}), None).await;
        assert_eq!(v["data"]["__typename"], "Query", "{v}");
        let v = app.gql(&chain(3), json!({}), None).await;
        assert_eq!(code(&v), "GRAPHQL_VALIDATION_FAILED", "{v}");
        assert!(
            v["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("PLEXUS_MAX_RECURSIVE_DEPTH")
        );
    }
);

db_test!(fragment_bombs_are_refused_cheaply, |app| async move {
    let mut q = String::from("{ ...F0 }");
    for i in 0..30 {
        q.push_str(&format!(
            " fragment F{i} on Query {{ ...F{} ...F{} }}",
            i + 1,
            i + 1
        ));
    }
    q.push_str(" fragment F30 on Query { __typename }");
    let v = app.gql(&q, json!({}), None).await;
    assert_eq!(code(&v), "GRAPHQL_VALIDATION_FAILED", "{v}");
});

// ---------------------------------------------------------------------------------------
// Observability

db_test!(
    metrics_count_operations_and_expose_the_pool,
    |app| async move {
        app.gql("query Probe { __typename }", json!({}), None).await;
        app.gql("query Probe { __typename }", json!({}), None).await;
        app.gql("query Broken { nope }", json!({}), None).await;
        let resp = app.http.get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
        let text = resp.text().await.unwrap();
        for needle in [
            "plexus_graphql_requests_total{operation=\"Probe\",outcome=\"ok\"} 2",
            "plexus_graphql_requests_total{operation=\"Broken\",outcome=\"GRAPHQL_VALIDATION_FAILED\"} 1",
            "plexus_graphql_request_duration_seconds_count{operation=\"Probe\"} 2",
            "plexus_graphql_request_duration_seconds_bucket{operation=\"Probe\",le=\"+Inf\"} 2",
            "plexus_graphql_request_duration_seconds_count{operation=\"Broken\"} 1",
            "plexus_graphql_requests_in_flight 0",
            "# TYPE plexus_db_pool_connections gauge",
            "plexus_db_pool_idle_connections ",
            "plexus_db_pool_max_connections 2",
            "plexus_process_uptime_seconds ",
            "# TYPE plexus_db_statements_total counter",
            "plexus_db_statement_seconds_total ",
        ] {
            assert!(text.contains(needle), "missing `{needle}` in\n{text}");
        }
    }
);

db_test!(
    metrics_can_be_turned_off,
    |c| c.metrics = false,
    |app| async move {
        let resp = app.http.get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 404);
    }
);

db_test!(every_error_carries_the_request_id, |app| async move {
    let (_, v, rid) = post(&app, json!({ "query": "{ nope }" }), &[]).await;
    assert!(!rid.is_empty());
    assert_eq!(v["errors"][0]["extensions"]["requestId"], rid.as_str());
    let (_, v, rid) = post(
        &app,
        json!({ "query": "mutation { logoutEverywhere { success } }" }),
        &[("x-request-id", "req-from-client-1")],
    )
    .await;
    assert_eq!(rid, "req-from-client-1");
    assert_eq!(code(&v), "UNAUTHENTICATED");
    assert_eq!(
        v["errors"][0]["extensions"]["requestId"],
        "req-from-client-1"
    );
    // Transport-level errors too.
    let resp = app
        .http
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .header("x-request-id", "req-bad-json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(code(&v), "BAD_REQUEST");
    assert_eq!(v["errors"][0]["extensions"]["requestId"], "req-bad-json");
    let (s, v, rid) = post(
        &app,
        json!({ "query": "{ __typename }" }),
        &[("accept", "text/html")],
    )
    .await;
    assert_eq!((s, code(&v)), (406, "NOT_ACCEPTABLE"));
    assert_eq!(v["errors"][0]["extensions"]["requestId"], rid.as_str());
});

db_test!(
    slow_operations_are_logged,
    |c| c.slow_query_ms = 0,
    |app| async move {
        let logs = plexus_tests::capture_warnings();
        let (_, _, rid) = post(
            &app,
            json!({ "query": "query SlowOne { __typename }" }),
            &[("x-request-id", "req-slow-42")],
        )
        .await;
        assert_eq!(rid, "req-slow-42");
        let text = logs();
        let line = text
            .lines()
            .find(|l| l.contains("req-slow-42"))
            .unwrap_or_else(|| panic!("no slow log line in {text}"));
        assert!(
            line.contains("WARN") && line.contains("SlowOne") && line.contains("duration_ms"),
            "{line}"
        );
    }
);

db_test!(
    costly_operations_take_turns_and_all_answer,
    |c| {
        c.heavy_cost = 50;
        c.heavy_concurrency = 1;
    },
    |app| async move {
        use crate::fixtures::{node, project, user};
        let (t, _) = user(&app, "owner").await;
        let p = project(&app, &t, "Busy", false).await;
        for i in 0..3 {
            node(&app, &t, &p, &format!("n{i}"), &[]).await;
        }
        // Costs 1 + 20 × (1 + 1 + 1 + (1 + 50 × 3)) = 3,081: past the threshold of 50.
        let costly = "{ projects(first: 20) { edges { node { id nodes(first: 50) { edges { node { id } } } } } } }";
        let runs = (0..8).map(|_| app.gql(costly, json!({}), Some(&t)));
        let cheap = app.gql("{ viewer { id } }", json!({}), Some(&t));
        let (answers, viewer) = tokio::join!(futures_util::future::join_all(runs), cheap);
        assert!(viewer["data"]["viewer"]["id"].is_string(), "{viewer}");
        for v in answers {
            let projects = &v["data"]["projects"]["edges"];
            assert_eq!(projects[0]["node"]["id"], p.as_str(), "{v}");
            let nodes = projects[0]["node"]["nodes"]["edges"].as_array().unwrap();
            assert_eq!(nodes.len(), 3, "{v}");
        }
        let text = app
            .http
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains("plexus_heavy_operations_waiting 0"),
            "nothing left waiting:\n{text}"
        );
    }
);
