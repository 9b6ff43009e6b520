//! The HTTP surface: GraphQL over HTTP status codes and media types, GET, batches, limits,
//! GraphiQL, health and readiness.

use plexus_tests::{code, db_test};
use serde_json::{Value, json};

const GQL_RESPONSE: &str = "application/graphql-response+json";

db_test!(post_follows_graphql_over_http, |app| async move {
    let post = |accept: &'static str, content_type: &'static str, body: String| {
        let req = app
            .http
            .post(app.url("/graphql"))
            .header("accept", accept)
            .header("content-type", content_type)
            .body(body);
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
            (status, ct, resp.json::<Value>().await.unwrap())
        }
    };
    let ok = r#"{"query":"{ __typename }"}"#.to_string();
    let (s, ct, v) = post(GQL_RESPONSE, "application/json", ok.clone()).await;
    assert_eq!((s, v), (200, json!({ "data": { "__typename": "Query" } })));
    assert!(ct.starts_with(GQL_RESPONSE));
    let (_, ct, _) = post(
        "application/json",
        "application/json; charset=utf-8",
        ok.clone(),
    )
    .await;
    assert!(ct.starts_with("application/json"));

    // Parse and validation failures: 400 with graphql-response+json, 200 with plain json.
    let bad_syntax = r#"{"query":"{ viewer { "}"#.to_string();
    let (s, _, v) = post(GQL_RESPONSE, "application/json", bad_syntax.clone()).await;
    assert_eq!((s, code(&v)), (400, "GRAPHQL_PARSE_FAILED"));
    let (s, _, v) = post("application/json", "application/json", bad_syntax).await;
    assert_eq!((s, code(&v)), (200, "GRAPHQL_PARSE_FAILED"));
    let invalid = r#"{"query":"{ noSuchField }"}"#.to_string();
    let (s, _, v) = post(GQL_RESPONSE, "application/json", invalid).await;
    assert_eq!((s, code(&v)), (400, "GRAPHQL_VALIDATION_FAILED"));

    // Transport errors.
    let (s, _, v) = post(GQL_RESPONSE, "application/json", "{not json".into()).await;
    assert_eq!((s, code(&v)), (400, "BAD_REQUEST"));
    let (s, _, v) = post(GQL_RESPONSE, "text/plain", ok.clone()).await;
    assert_eq!((s, code(&v)), (415, "UNSUPPORTED_MEDIA_TYPE"));
    let (s, _, v) = post(
        GQL_RESPONSE,
        "application/json",
        r#"{"variables":{}}"#.into(),
    )
    .await;
    assert_eq!((s, code(&v)), (400, "BAD_REQUEST"));
    let (s, _, v) = post(
        GQL_RESPONSE,
        "application/json",
        r#"{"query":"{ __typename }","variables":[1]}"#.into(),
    )
    .await;
    assert_eq!((s, code(&v)), (400, "BAD_REQUEST"));
    let (s, _, v) = post("text/html", "application/json", ok.clone()).await;
    assert_eq!((s, code(&v)), (406, "NOT_ACCEPTABLE"));
    // An execution error is still 200: the request itself was fine.
    let (s, _, v) = post(
        GQL_RESPONSE,
        "application/json",
        r#"{"query":"mutation { logoutEverywhere { success } }"}"#.into(),
    )
    .await;
    assert_eq!((s, code(&v)), (200, "UNAUTHENTICATED"));
});

db_test!(
    oversized_bodies_get_413,
    |c| c.max_body_bytes = 2048,
    |app| async move {
        let big = json!({ "query": format!("{{ __typename }} # {}", "x".repeat(4096)) });
        let resp = app
            .http
            .post(app.url("/graphql"))
            .json(&big)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 413);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(code(&v), "PAYLOAD_TOO_LARGE");
    }
);

db_test!(get_runs_queries_only, |app| async move {
    let get = |query: &str, accept: &'static str| {
        let req = app
            .http
            .get(app.url("/graphql"))
            .query(&[("query", query)])
            .header("accept", accept);
        async move { req.send().await.unwrap() }
    };
    let resp = get("query Q { __typename }", GQL_RESPONSE).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({ "data": { "__typename": "Query" } })
    );

    let resp = get("mutation { logoutEverywhere { success } }", GQL_RESPONSE).await;
    assert_eq!(resp.status().as_u16(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    assert_eq!(
        code(&resp.json::<Value>().await.unwrap()),
        "METHOD_NOT_ALLOWED"
    );
    // With several operations, the selected one decides.
    let doc = "query A { __typename } mutation B { logoutEverywhere { success } }";
    let resp = app
        .http
        .get(app.url("/graphql"))
        .query(&[("query", doc), ("operationName", "B")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    let resp = app
        .http
        .get(app.url("/graphql"))
        .query(&[("query", doc), ("operationName", "A")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    let resp = app
        .http
        .get(app.url("/graphql"))
        .query(&[
            ("query", "query($x: Int) { __typename }"),
            ("variables", "{not json"),
        ])
        .header("accept", GQL_RESPONSE)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let resp = app
        .http
        .get(app.url("/graphql"))
        .header("accept", GQL_RESPONSE)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
});

db_test!(
    batches_run_each_operation,
    |c| c.max_batch = 3,
    |app| async move {
        let batch = json!([{ "query": "{ __typename }" }, { "query": "{ viewer { id } }" }]);
        let resp = app
            .http
            .post(app.url("/graphql"))
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(
            v,
            json!([{ "data": { "__typename": "Query" } }, { "data": { "viewer": null } }])
        );
        let too_many = json!([{ "query": "{ __typename }" }, { "query": "{ __typename }" }, { "query": "{ __typename }" }, { "query": "{ __typename }" }]);
        let resp = app
            .http
            .post(app.url("/graphql"))
            .json(&too_many)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400);
    }
);

db_test!(
    depth_limits_refuse_before_execution,
    |c| c.max_depth = 3,
    |app| async move {
        let (token, _, _) = app.register("deep@example.com", "password123").await;
        let q = "{ viewer { id } }";
        assert!(app.gql(q, json!({}), Some(&token)).await["data"]["viewer"].is_object());
        let deep = "{ users { edges { node { id } } } }";
        let v = app.gql(deep, json!({}), Some(&token)).await;
        assert_eq!(code(&v), "GRAPHQL_VALIDATION_FAILED", "{v}");
    }
);

db_test!(
    documents_run_before_still_have_their_variables_checked,
    |app| async move {
        // A document that passed validation once is validated again only as far as its
        // variables can change the outcome: bad values are refused before execution
        // exactly as on its first run, and a document that failed is never taken as valid.
        let (token, _, _) = app.register("vars@example.com", "password123").await;
        let errors = |v: &Value| {
            assert!(v["data"].is_null(), "{v}");
            assert_eq!(code(v), "GRAPHQL_VALIDATION_FAILED", "{v}");
            v["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["message"].clone())
                .collect::<Vec<_>>()
        };
        let me = app.gql("{ viewer { id } }", json!({}), Some(&token)).await;
        let me = me["data"]["viewer"]["id"].clone();
        for (q, good, bad) in [
            (
                "query Page($n: Int) { projects(first: $n) { edges { node { id } } } }",
                json!({ "n": 2 }),
                json!({ "n": "ten" }),
            ),
            (
                "query One($id: ID!) { node(id: $id) { id } }",
                json!({ "id": me }),
                json!({ "id": null }),
            ),
        ] {
            let first = errors(&app.gql(q, bad.clone(), Some(&token)).await);
            let ok = app.gql(q, good, Some(&token)).await;
            assert!(ok.get("errors").is_none(), "{ok}");
            assert_eq!(errors(&app.gql(q, bad, Some(&token)).await), first, "{q}");
        }
        let invalid = "{ viewer { id noSuchField } }";
        for _ in 0..2 {
            errors(&app.gql(invalid, json!({}), Some(&token)).await);
        }
    }
);

db_test!(browsers_get_graphiql_served_offline, |app| async move {
    let resp = app
        .http
        .get(app.url("/graphql"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains("GraphiQL"));
    assert!(
        html.contains("subscriptionUrl") && html.contains("/graphql/ws"),
        "subscriptions work from the playground"
    );
    assert!(
        !html.contains("unpkg.com") && !html.contains("cdn."),
        "no CDN"
    );
    for asset in [
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
    ] {
        assert!(html.contains(&format!("/graphiql/{asset}")));
        let resp = app
            .http
            .get(app.url(&format!("/graphiql/{asset}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{asset}");
        assert!(resp.bytes().await.unwrap().len() > 1000);
    }
    assert_eq!(
        app.http
            .get(app.url("/graphiql/nope.js"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = client.get(app.url("/")).send().await.unwrap();
    assert!(resp.status().is_redirection());
    assert_eq!(resp.headers()["location"], "/graphql");
});

db_test!(health_and_readiness, |app| async move {
    let v: Value = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "ok");
    let resp = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers().contains_key("x-request-id"));
    // Readiness reflects the database.
    app.db().clone().close().await.unwrap();
    let resp = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(
        app.http
            .get(app.url("/nope"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
});

db_test!(
    cors_allows_configured_origins_only,
    |c| c.cors_origins = vec!["https://app.example.com".into()],
    |app| async move {
        let preflight = |origin: &'static str| {
            app.http
                .request(reqwest::Method::OPTIONS, app.url("/graphql"))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "content-type,authorization",
                )
                .send()
        };
        let ok = preflight("https://app.example.com").await.unwrap();
        assert_eq!(
            ok.headers()["access-control-allow-origin"],
            "https://app.example.com"
        );
        let other = preflight("https://evil.example.com").await.unwrap();
        assert!(!other.headers().contains_key("access-control-allow-origin"));
    }
);

db_test!(
    slow_requests_time_out_with_a_code_and_leave_nothing_half_done,
    |c| c.request_timeout = std::time::Duration::from_millis(1),
    |app| async move {
        // Hashing a password alone takes longer than a millisecond.
        let resp = app
        .http
        .post(app.url("/graphql"))
        .json(&json!({ "query": "mutation { register(input: { email: \"slow@example.com\", password: \"password123\" }) { accessToken } }" }))
        .send()
        .await
        .unwrap();
        assert_eq!(resp.status().as_u16(), 503);
        let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
        let v: Value = resp.json().await.unwrap();
        assert_eq!(code(&v), "TIMEOUT");
        assert_eq!(v["errors"][0]["extensions"]["requestId"], id.as_str());
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(
            app.count("users").await,
            0,
            "the abandoned registration left no row"
        );
        let v: Value = app
            .http
            .get(app.url("/nope"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(v["errors"][0]["extensions"]["requestId"].is_string(), "{v}");
    }
);
