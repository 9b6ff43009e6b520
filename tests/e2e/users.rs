//! Registration rules, profiles, the user directory and `node`.

use plexus_tests::{code, db_test};
use serde_json::{Value, json};

const REGISTER: &str = "mutation($i: RegisterInput!) { register(input: $i) { user { id } } }";

async fn make_admin(app: &plexus_tests::TestApp, email: &str) -> String {
    let (_, _, _) = app.register(email, "password123").await;
    app.sql(&format!(
        "UPDATE users SET role = 'ADMIN' WHERE email = '{email}'"
    ))
    .await;
    let v = app
        .gql(
            "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
            json!({ "i": { "email": email, "password": "password123" } }),
            None,
        )
        .await;
    v["data"]["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_string()
}

db_test!(
    bad_registrations_get_their_code_and_leave_no_row,
    |app| async move {
        app.register("taken@example.com", "password123").await;
        let cases: Vec<(Value, &str, Option<&str>)> = vec![
            (
                json!({ "email": "nope", "password": "password123" }),
                "BAD_USER_INPUT",
                Some("email"),
            ),
            (
                json!({ "email": "a@b", "password": "password123" }),
                "BAD_USER_INPUT",
                Some("email"),
            ),
            (
                json!({ "email": "short@example.com", "password": "1234567" }),
                "BAD_USER_INPUT",
                Some("password"),
            ),
            (
                json!({ "email": "long@example.com", "password": "p".repeat(300) }),
                "BAD_USER_INPUT",
                Some("password"),
            ),
            (
                json!({ "email": "TAKEN@Example.com", "password": "password123" }),
                "CONFLICT",
                None,
            ),
            (
                json!({ "email": "x@example.com", "password": "password123", "firstName": "n".repeat(101) }),
                "BAD_USER_INPUT",
                Some("firstName"),
            ),
            (
                json!({ "email": "y@example.com", "password": "password123", "username": "no spaces" }),
                "BAD_USER_INPUT",
                Some("username"),
            ),
            (
                json!({ "email": format!("{}@example.com", "e".repeat(300)), "password": "password123" }),
                "BAD_USER_INPUT",
                Some("email"),
            ),
        ];
        for (input, expected, field) in cases {
            let v = app.gql(REGISTER, json!({ "i": input }), None).await;
            assert_eq!(code(&v), expected, "{input}: {v}");
            assert_eq!(
                v["errors"][0]["extensions"]["field"].as_str(),
                field,
                "{input}"
            );
            assert!(v["data"].is_null(), "{v}");
        }
        assert_eq!(app.count("users").await, 1, "no partial rows");
        assert_eq!(app.count("refresh_tokens").await, 1);

        // Usernames are unique too.
        let ok = app.gql(REGISTER, json!({ "i": { "email": "u1@example.com", "password": "password123", "username": "ada" } }), None).await;
        assert!(ok["data"]["register"].is_object());
        let dup = app.gql(REGISTER, json!({ "i": { "email": "u2@example.com", "password": "password123", "username": "ada" } }), None).await;
        assert_eq!(code(&dup), "CONFLICT");
        // Missing required input is refused before execution.
        let v = app
            .gql(REGISTER, json!({ "i": { "email": "z@example.com" } }), None)
            .await;
        assert_eq!(code(&v), "GRAPHQL_VALIDATION_FAILED");
    }
);

db_test!(update_viewer_sets_and_clears_fields, |app| async move {
    let (token, _, _) = app.register("me@example.com", "password123").await;
    app.register("other@example.com", "password123").await;
    let q = "mutation($i: UpdateViewerInput!) { updateViewer(input: $i) { user { username firstName lastName avatarUrl preferences } } }";
    let v = app
        .gql(q, json!({ "i": { "username": "grace_h", "firstName": " Grace ", "avatarUrl": "https://example.com/a.png", "preferences": { "theme": "dark" } } }), Some(&token))
        .await;
    assert_eq!(
        v["data"]["updateViewer"]["user"],
        json!({ "username": "grace_h", "firstName": "Grace", "lastName": null, "avatarUrl": "https://example.com/a.png", "preferences": { "theme": "dark" } }),
        "{v}"
    );
    // Omitted fields stay, null clears.
    let v = app
        .gql(q, json!({ "i": { "firstName": null } }), Some(&token))
        .await;
    assert_eq!(v["data"]["updateViewer"]["user"]["firstName"], Value::Null);
    assert_eq!(v["data"]["updateViewer"]["user"]["username"], "grace_h");
    for (input, expected, field) in [
        (
            json!({ "avatarUrl": "javascript:alert(1)" }),
            "BAD_USER_INPUT",
            Some("avatarUrl"),
        ),
        (
            json!({ "preferences": [1, 2] }),
            "BAD_USER_INPUT",
            Some("preferences"),
        ),
        (
            json!({ "username": "x" }),
            "BAD_USER_INPUT",
            Some("username"),
        ),
    ] {
        let v = app.gql(q, json!({ "i": input }), Some(&token)).await;
        assert_eq!(
            (code(&v), v["errors"][0]["extensions"]["field"].as_str()),
            (expected, field),
            "{input}"
        );
    }
    let (other, _, _) = app.register("third@example.com", "password123").await;
    let v = app
        .gql(q, json!({ "i": { "username": "grace_h" } }), Some(&other))
        .await;
    assert_eq!(code(&v), "CONFLICT");
    let v = app
        .gql(q, json!({ "i": { "username": "anon" } }), None)
        .await;
    assert_eq!(code(&v), "UNAUTHENTICATED");
});

db_test!(
    private_fields_show_only_to_self_and_admins,
    |app| async move {
        let (alice, _, alice_id) = app.register("alice@example.com", "password123").await;
        let (bob, _, _) = app.register("bob@example.com", "password123").await;
        let admin = make_admin(&app, "root@example.com").await;
        let q = "query($id: ID!) { user(id: $id) { id email emailVerified totalTokensUsed displayName } }";
        let own = app.gql(q, json!({ "id": alice_id }), Some(&alice)).await;
        assert_eq!(own["data"]["user"]["email"], "alice@example.com");
        let seen_by_admin = app.gql(q, json!({ "id": alice_id }), Some(&admin)).await;
        assert_eq!(seen_by_admin["data"]["user"]["email"], "alice@example.com");
        for token in [Some(bob.as_str()), None] {
            let v = app.gql(q, json!({ "id": alice_id }), token).await;
            assert_eq!(v["data"]["user"]["id"], alice_id.as_str(), "{v}");
            assert_eq!(v["data"]["user"]["email"], Value::Null);
            assert_eq!(v["data"]["user"]["totalTokensUsed"], Value::Null);
        }
        // Nothing in the schema exposes a hash.
        let v = app
            .gql(
                r#"{ __type(name: "User") { fields { name } } }"#,
                json!({}),
                None,
            )
            .await;
        let names: Vec<&str> = v["data"]["__type"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| !n.to_lowercase().contains("hash")
                    && !n.to_lowercase().contains("password")),
            "{names:?}"
        );
    }
);

db_test!(ids_are_checked_by_type_and_shape, |app| async move {
    let (_, _, id) = app.register("ids@example.com", "password123").await;
    let q = "query($id: ID!) { user(id: $id) { id } }";
    let v = app.gql(q, json!({ "id": "garbage" }), None).await;
    assert_eq!(
        (code(&v), v["errors"][0]["extensions"]["field"].as_str()),
        ("BAD_USER_INPUT", Some("id"))
    );
    let project_id = id.replacen("user_", "proj_", 1);
    let v = app.gql(q, json!({ "id": project_id }), None).await;
    assert_eq!(code(&v), "BAD_USER_INPUT");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("expected a User id, got a Project id")
    );
    let unknown = plexus_core::id::encode(plexus_core::IdKind::User, uuid::Uuid::now_v7());
    assert_eq!(
        app.gql(q, json!({ "id": unknown }), None).await,
        json!({ "data": { "user": null } })
    );

    let v = app
        .gql(
            "query($id: ID!) { node(id: $id) { __typename id ... on User { displayName } } }",
            json!({ "id": id }),
            None,
        )
        .await;
    assert_eq!(v["data"]["node"]["__typename"], "User");
    assert_eq!(v["data"]["node"]["id"], id.as_str());
    let v = app
        .gql(
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({ "ids": [id, unknown] }),
            None,
        )
        .await;
    assert_eq!(v["data"]["nodes"], json!([{ "id": id }, null]));
    let v = app
        .gql(
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({ "ids": [id, "bad"] }),
            None,
        )
        .await;
    assert_eq!(
        (code(&v), v["errors"][0]["extensions"]["field"].as_str()),
        ("BAD_USER_INPUT", Some("ids"))
    );
    let many: Vec<String> = (0..101).map(|_| id.clone()).collect();
    let v = app
        .gql(
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({ "ids": many }),
            None,
        )
        .await;
    assert_eq!(code(&v), "BAD_USER_INPUT");
    // Deleted users exist only for site admins.
    app.sql(
        "UPDATE users SET deleted_at = '2026-01-01T00:00:00+00:00' WHERE email = 'ids@example.com'",
    )
    .await;
    assert_eq!(
        app.gql(q, json!({ "id": id }), None).await,
        json!({ "data": { "user": null } })
    );
    let admin = make_admin(&app, "root@example.com").await;
    assert_eq!(
        app.gql(q, json!({ "id": id }), Some(&admin)).await["data"]["user"]["id"],
        id.as_str()
    );
});

const USERS: &str = "query($first: Int, $after: String, $last: Int, $before: String, $filter: UserFilterInput) {
  users(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
    totalCount edges { cursor node { email } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

fn emails(v: &Value) -> Vec<String> {
    v["data"]["users"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|e| e["node"]["email"].as_str().unwrap().to_string())
        .collect()
}

db_test!(
    the_user_directory_is_for_admins_and_pages_by_keyset,
    |app| async move {
        let admin = make_admin(&app, "admin0@example.com").await;
        for i in 1..=6 {
            app.register(&format!("u{i}@example.com"), "password123")
                .await;
        }
        let (plain, _, _) = app.register("plain@example.com", "password123").await;
        assert_eq!(
            code(&app.gql(USERS, json!({}), None).await),
            "UNAUTHENTICATED"
        );
        assert_eq!(
            code(&app.gql(USERS, json!({}), Some(&plain)).await),
            "FORBIDDEN"
        );

        let p1 = app.gql(USERS, json!({ "first": 3 }), Some(&admin)).await;
        assert_eq!(
            emails(&p1),
            ["admin0@example.com", "u1@example.com", "u2@example.com"],
            "{p1}"
        );
        assert_eq!(p1["data"]["users"]["totalCount"], 8);
        assert_eq!(p1["data"]["users"]["pageInfo"]["hasNextPage"], true);
        assert_eq!(p1["data"]["users"]["pageInfo"]["hasPreviousPage"], false);
        let end = p1["data"]["users"]["pageInfo"]["endCursor"]
            .as_str()
            .unwrap()
            .to_string();

        // A row inserted meanwhile does not shift the next page.
        app.register("late@example.com", "password123").await;
        let p2 = app
            .gql(USERS, json!({ "first": 3, "after": end }), Some(&admin))
            .await;
        assert_eq!(
            emails(&p2),
            ["u3@example.com", "u4@example.com", "u5@example.com"]
        );
        assert_eq!(p2["data"]["users"]["pageInfo"]["hasPreviousPage"], true);

        // Backward from the end, and back from a cursor.
        let last = app.gql(USERS, json!({ "last": 2 }), Some(&admin)).await;
        assert_eq!(emails(&last), ["plain@example.com", "late@example.com"]);
        assert_eq!(last["data"]["users"]["pageInfo"]["hasPreviousPage"], true);
        assert_eq!(last["data"]["users"]["pageInfo"]["hasNextPage"], false);
        let start = p2["data"]["users"]["pageInfo"]["startCursor"]
            .as_str()
            .unwrap();
        let back = app
            .gql(USERS, json!({ "last": 2, "before": start }), Some(&admin))
            .await;
        assert_eq!(emails(&back), ["u1@example.com", "u2@example.com"]);
        assert_eq!(back["data"]["users"]["pageInfo"]["hasPreviousPage"], true);

        // Filters.
        let v = app
            .gql(
                USERS,
                json!({ "filter": { "search": "U4@" } }),
                Some(&admin),
            )
            .await;
        assert_eq!(emails(&v), ["u4@example.com"]);
        assert_eq!(v["data"]["users"]["totalCount"], 1);
        let v = app
            .gql(
                USERS,
                json!({ "filter": { "role": "ADMIN" } }),
                Some(&admin),
            )
            .await;
        assert_eq!(emails(&v), ["admin0@example.com"]);
        let v = app
            .gql(USERS, json!({ "filter": { "search": "%" } }), Some(&admin))
            .await;
        assert_eq!(emails(&v).len(), 0, "LIKE wildcards are literal");

        // Bad paging arguments.
        for (vars, field) in [
            (json!({ "first": 101 }), "first"),
            (json!({ "first": -1 }), "first"),
            (json!({ "after": "bogus" }), "after"),
            (json!({ "first": 1, "last": 1 }), "first"),
        ] {
            let v = app.gql(USERS, vars.clone(), Some(&admin)).await;
            assert_eq!(
                (code(&v), v["errors"][0]["extensions"]["field"].as_str()),
                ("BAD_USER_INPUT", Some(field)),
                "{vars}"
            );
        }
    }
);

db_test!(
    seeding_is_idempotent_and_creates_the_demo_data,
    |app| async move {
        let created = plexus_server::seed::run(&app.state).await.unwrap();
        assert_eq!(
            created,
            4 + 1 + 3 + 2 + 2 + 3 + 3,
            "4 accounts, the demo project, 3 nodes, 2 edges, 2 tools, a pack, its document, the agent, a conversation and its 2 messages"
        );
        assert_eq!(plexus_server::seed::run(&app.state).await.unwrap(), 0);
        assert_eq!(app.count("users").await, 4);
        assert_eq!(app.count("projects").await, 1);
        let admin = app.login("admin@example.com", "Admin123!").await;
        let v = app
            .gql(
                "{ viewer { role } users { totalCount } }",
                json!({}),
                Some(&admin),
            )
            .await;
        assert_eq!(
            v["data"],
            json!({ "viewer": { "role": "ADMIN" }, "users": { "totalCount": 4 } })
        );
        for (email, password) in [
            ("user@example.com", "User123!"),
            ("premium@example.com", "Premium123!"),
        ] {
            app.login(email, password).await;
        }
        let user = app.login("user@example.com", "User123!").await;
        let v = app
            .gql(
                "{ viewer { totalTokensUsed } conversations { nodes { title messages { nodes { role tokens } } } } }",
                json!({}),
                Some(&user),
            )
            .await;
        assert_eq!(
            v["data"],
            json!({ "viewer": { "totalTokensUsed": 24 }, "conversations": { "nodes": [{ "title": "Welcome",
                "messages": { "nodes": [{ "role": "USER", "tokens": null }, { "role": "ASSISTANT", "tokens": 24 }] } }] } }),
            "the chat seed's conversation"
        );
        let demo = app.login("demo@nonlinear.app", "DemoPassword123!").await;
        let q = "{ viewer { username preferences } projects { nodes { name nodeCount edgeCount viewerRole
        nodes { nodes { status llmModel children { prompt } } } } } }";
        let v = app.gql(q, json!({}), Some(&demo)).await;
        assert_eq!(v["data"]["viewer"]["username"], "demo", "{v}");
        assert_eq!(v["data"]["viewer"]["preferences"]["theme"], "dark");
        let p = &v["data"]["projects"]["nodes"][0];
        assert_eq!(p["name"], plexus_server::seed::DEMO_PROJECT);
        assert_eq!(
            (
                p["nodeCount"].as_u64(),
                p["edgeCount"].as_u64(),
                p["viewerRole"].as_str()
            ),
            (Some(3), Some(2), Some("OWNER"))
        );
        let first = &p["nodes"]["nodes"][0];
        assert_eq!(
            (first["status"].as_str(), first["llmModel"].as_str()),
            (Some("COMPLETED"), Some("gpt-4o"))
        );
        assert_eq!(first["children"].as_array().unwrap().len(), 2);
        let v = app
            .gql(
                "{ agents { nodes { name model tools { name } knowledgePacks { name } } } }",
                json!({}),
                Some(&demo),
            )
            .await;
        assert_eq!(
            v["data"]["agents"]["nodes"],
            json!([{ "name": "MonAgent", "model": "qwen2.5:7b",
                "tools": [{ "name": "rag.search" }, { "name": "math.evaluate" }],
                "knowledgePacks": [{ "name": "Elavira - Documentation" }] }]),
            "{v}"
        );
    }
);
