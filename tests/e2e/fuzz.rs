//! Property test: random and mutated GraphQL documents and variables, run through the
//! pre-execution limits and the real schema over a real (SQLite) database, must never panic
//! and must each finish within a time bound. `PROPTEST_CASES` sets the number of cases
//! (200 by default; `just fuzz` runs many more).

use async_graphql::{Request, Variables};
use plexus_api::{Loaders, RequestAuth};
use plexus_server::app;
use plexus_server::config::Config;
use plexus_server::limits;
use plexus_tests::{Backend, TEST_SECRET, TestDb};
use plexus_users::service::NewUser;
use proptest::prelude::*;
use proptest::test_runner::{Config as PropConfig, TestCaseError, TestRunner};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use std::time::Duration;

/// No single document may take longer than this (debug build, loaded 2-core machine).
const BOUND: Duration = Duration::from_secs(10);

const LEAVES: &[&str] = &[
    "__typename",
    "id",
    "email",
    "username",
    "displayName",
    "role",
    "isActive",
    "createdAt",
    "totalCount",
    "hasNextPage",
    "endCursor",
    "cursor",
    "name",
    "kind",
    "nope",
];

const BRANCHES: &[&str] = &[
    "viewer",
    "user(id: $id)",
    "user(id: \"user_00000000000000000000000000\")",
    "users(first: $n)",
    "users(first: 2, after: $id)",
    "users(last: 1)",
    "node(id: $id)",
    "nodes(ids: [$id, $id])",
    "edges",
    "node",
    "pageInfo",
    "__schema",
    "types",
    "fields",
    "__type(name: \"User\")",
    "... on User",
    "... on Query",
    "...F",
];

const SEEDS: &[&str] = &[
    "query Q($id: ID!, $n: Int) { viewer { id email } user(id: $id) { displayName } users(first: $n) { totalCount edges { cursor node { id } } pageInfo { hasNextPage } } }",
    "mutation L($i: LoginInput!) { login(input: $i) { accessToken user { id } } }",
    "mutation R($i: RegisterInput!) { register(input: $i) { accessToken refreshToken } }",
    "{ __schema { types { name fields { name } } } }",
    "query { node(id: \"user_01jd4\") { ... on User { id } } ...F } fragment F on Query { a: viewer { id } }",
    "mutation { refreshSession(input: { refreshToken: \"x\" }) { accessToken } logout(input: { refreshToken: \"y\" }) { success } }",
];

fn selection_set() -> impl Strategy<Value = String> {
    let leaf = (
        proptest::option::of("[a-z]{1,3}"),
        proptest::sample::select(LEAVES),
    )
        .prop_map(|(alias, f)| match alias {
            Some(a) => format!("{a}: {f}"),
            None => f.to_string(),
        });
    let set = proptest::collection::vec(leaf, 1..4).prop_map(|v| format!("{{ {} }}", v.join(" ")));
    set.prop_recursive(6, 64, 4, |inner| {
        proptest::collection::vec(
            (
                proptest::option::of("[a-z]{1,3}"),
                proptest::sample::select(BRANCHES),
                proptest::option::of(inner),
            ),
            1..4,
        )
        .prop_map(|items| {
            let parts: Vec<String> = items
                .into_iter()
                .map(|(alias, f, sub)| {
                    let f = match alias {
                        Some(a) if !f.starts_with("...") => format!("{a}: {f}"),
                        _ => f.to_string(),
                    };
                    match sub {
                        Some(s) if f != "...F" => format!("{f} {s}"),
                        _ => f,
                    }
                })
                .collect();
            format!("{{ {} }}", parts.join(" "))
        })
    })
}

fn generated_document() -> impl Strategy<Value = String> {
    (
        selection_set(),
        proptest::option::of(selection_set()),
        any::<bool>(),
    )
        .prop_map(|(body, fragment, named)| {
            let mut doc = if named {
                format!("query Q($id: ID, $n: Int) {body}")
            } else {
                body
            };
            if let Some(f) = fragment {
                doc.push_str(&format!(" fragment F on Query {f}"));
            }
            doc
        })
}

const USER_LEAVES: &[&str] = &[
    "id",
    "email",
    "username",
    "firstName",
    "lastName",
    "displayName",
    "avatarUrl",
    "role",
    "isActive",
    "emailVerified",
    "preferences",
    "totalTokensUsed",
    "lastLoginAt",
    "createdAt",
    "updatedAt",
    "deletedAt",
    "__typename",
];

fn aliased(alias: Option<String>, field: &str) -> String {
    match alias {
        Some(a) => format!("{a}: {field}"),
        None => field.to_string(),
    }
}

/// `{ … }` over `User`, valid for the schema.
fn user_selection() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        (
            proptest::option::weighted(0.2, "[a-z]{1,2}"),
            proptest::sample::select(USER_LEAVES),
        ),
        1..5,
    )
    .prop_map(|v| {
        let parts: Vec<String> = v.into_iter().map(|(a, f)| aliased(a, f)).collect();
        format!("{{ {} }}", parts.join(" "))
    })
}

fn connection_args() -> impl Strategy<Value = String> {
    proptest::sample::select(
        &[
            "",
            "(first: $n)",
            "(first: 1)",
            "(last: 2)",
            "(first: 2, after: $cursor)",
            "(last: 1, before: $cursor)",
            "(first: 0)",
            "(first: -1)",
            "(first: 100000)",
            "(filter: { search: \"a\" })",
            "(filter: { role: ADMIN, isActive: true }, first: 1)",
            "(first: 1, last: 1)",
        ][..],
    )
    .prop_map(String::from)
}

/// A root field of `Query`, with a valid selection.
fn root_field() -> impl Strategy<Value = String> {
    let id = proptest::sample::select(
        &[
            "$id",
            "\"user_00000000000000000000000000\"",
            "\"nope\"",
            "\"node_00000000000000000000000000\"",
            "$cursor",
        ][..],
    );
    prop_oneof![
        user_selection().prop_map(|s| format!("viewer {s}")),
        (id.clone(), user_selection()).prop_map(|(id, s)| format!("user(id: {id}) {s}")),
        (id.clone(), user_selection())
            .prop_map(|(id, s)| format!("node(id: {id}) {{ id ... on User {s} }}")),
        (id, user_selection()).prop_map(|(id, s)| format!(
            "nodes(ids: [{id}, $id]) {{ __typename ... on User {s} }}"
        )),
        (connection_args(), user_selection(), any::<u8>()).prop_map(|(args, s, pick)| {
            let mut parts = Vec::new();
            if pick & 1 != 0 {
                parts.push("totalCount".to_string());
            }
            if pick & 2 != 0 {
                parts.push(format!("edges {{ cursor node {s} }}"));
            }
            if pick & 4 != 0 {
                parts.push(format!("nodes {s}"));
            }
            parts
                .push("pageInfo { hasNextPage hasPreviousPage startCursor endCursor }".to_string());
            format!("users{args} {{ {} }}", parts.join(" "))
        }),
        Just("__typename".to_string()),
    ]
}

/// Operations that pass validation most of the time, so that execution is exercised.
fn typed_document() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(
            (proptest::option::weighted(0.3, "[a-z]{1,3}"), root_field()),
            1..4,
        ),
        any::<bool>(),
    )
        .prop_map(|(fields, via_fragment)| {
            let mut parts: Vec<String> =
                fields.into_iter().map(|(a, f)| aliased(a, &f)).collect();
            // Every declared variable must be used.
            parts.push("vn: users(first: $n, after: $cursor) { totalCount } vu: user(id: $id) { id }".into());
            let header = "query Q($id: ID! = \"user_00000000000000000000000000\", $n: Int = 2, $cursor: String)";
            if via_fragment {
                format!("{header} {{ ...R }} fragment R on Query {{ {} }}", parts.join(" "))
            } else {
                format!("{header} {{ {} }}", parts.join(" "))
            }
        })
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, char),
    Duplicate(usize, usize),
}

fn mutated_document() -> impl Strategy<Value = String> {
    let edit = prop_oneof![
        (any::<usize>(), 0usize..8).prop_map(|(a, n)| Edit::Delete(a, n)),
        (
            any::<usize>(),
            proptest::sample::select(
                &[
                    '{', '}', '(', ')', '[', ']', ':', '$', '!', '.', '@', '"', '#', ' ', 'a', '0',
                    '\\', 'é', '\n'
                ][..]
            )
        )
            .prop_map(|(a, c)| Edit::Insert(a, c)),
        (any::<usize>(), 0usize..40).prop_map(|(a, n)| Edit::Duplicate(a, n)),
    ];
    (
        prop_oneof![
            proptest::sample::select(SEEDS).prop_map(String::from),
            generated_document()
        ],
        proptest::collection::vec(edit, 1..6),
    )
        .prop_map(|(doc, edits)| {
            let mut chars: Vec<char> = doc.chars().collect();
            for e in edits {
                let len = chars.len().max(1);
                match e {
                    Edit::Delete(at, n) => {
                        let at = at % len;
                        let end = (at + n).min(chars.len());
                        if at < end {
                            chars.drain(at..end);
                        }
                    }
                    Edit::Insert(at, c) => chars.insert((at % len).min(chars.len()), c),
                    Edit::Duplicate(at, n) => {
                        let at = at % len;
                        let end = (at + n).min(chars.len());
                        if at < end {
                            let piece: Vec<char> = chars[at..end].to_vec();
                            chars.splice(end..end, piece);
                        }
                    }
                }
            }
            chars.into_iter().collect()
        })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "[a-zA-Z0-9_@. ]{0,12}".prop_map(Value::String),
        Just(json!("user_01jd4qg8z6r1y7j0v2m3n4p5q6")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                proptest::sample::select(&["email", "password", "refreshToken", "x"][..]),
                inner,
                0..3
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

fn variables() -> impl Strategy<Value = Value> {
    let random = proptest::collection::btree_map(
        proptest::sample::select(&["id", "n", "i", "cursor", "zz"][..]),
        json_value(),
        0..4,
    )
    .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()));
    let plausible = (
        proptest::option::of(-5i64..200),
        proptest::option::of("[A-Za-z0-9_-]{0,40}"),
    )
        .prop_map(|(n, cursor)| json!({ "n": n, "cursor": cursor }));
    prop_oneof![Just(json!({})), plausible, random]
}

#[test]
fn random_documents_never_panic_and_finish_in_bounded_time() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut admin_token = String::new();
    let (db, state) = rt.block_on(async {
        let db = TestDb::new(Backend::Sqlite).await.unwrap();
        let mut config = Config::for_tests(&db.url);
        // Every case signs in from the same process: keep the limiter out of the way.
        config.login_max_failures = 0;
        let state = app::state(config, db.connect().await, TEST_SECRET.as_bytes())
            .await
            .unwrap();
        // A few users, one of them a site admin whose token some cases carry.
        for i in 0..3 {
            let session = state
                .api
                .users
                .register(NewUser {
                    email: format!("fuzz{i}@example.com"),
                    password: "password123".into(),
                    username: Some(format!("fuzz{i}")),
                    first_name: None,
                    last_name: None,
                })
                .await
                .unwrap();
            if i == 0 {
                state
                    .db
                    .execute_unprepared(
                        "UPDATE users SET role = 'ADMIN' WHERE email = 'fuzz0@example.com'",
                    )
                    .await
                    .unwrap();
                admin_token = session.access_token;
            }
        }
        (db, state)
    });
    let mut runner = TestRunner::new(PropConfig {
        cases,
        failure_persistence: None,
        ..PropConfig::default()
    });
    let strategy = (
        prop_oneof![
            3 => typed_document(),
            1 => generated_document(),
            2 => mutated_document(),
        ],
        variables(),
        0usize..3,
    );
    let result = runner.run(&strategy, |(doc, vars, who)| {
        let state = state.clone();
        let auth = match who {
            0 => None,
            1 => Some(format!("Bearer {admin_token}")),
            _ => Some("Bearer not-a-token".to_string()),
        };
        let outcome = rt.block_on(async move {
            tokio::time::timeout(BOUND, async move {
                let gate = plexus_api::loaders::PassGate::new();
                let vars = Variables::from_json(vars);
                let mut req = Request::new(doc)
                    .variables(vars.clone())
                    .data(RequestAuth::from_header(auth.as_deref()))
                    .data(std::sync::Arc::new(Loaders::new(&state.api, &gate)));
                let op = req.operation_name.clone();
                if let Ok(parsed) = req.parsed_query()
                    && limits::check(parsed, op.as_deref(), &vars, &state.limits).is_err()
                {
                    return;
                }
                // Spawned, so that a panic is reported as a failure instead of unwinding here.
                let schema = state.schema.clone();
                tokio::spawn(async move { gate.run(schema.execute(req)).await })
                    .await
                    .map(|_| ())
                    .unwrap_or_else(|e| panic!("execution panicked: {e}"));
            })
            .await
        });
        if outcome.is_err() {
            return Err(TestCaseError::fail(format!(
                "a document took longer than {BOUND:?}"
            )));
        }
        Ok(())
    });
    rt.block_on(async move {
        let _ = state.db.clone().close().await;
        db.remove().await;
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
