//! Sign-up, sign-in, sessions and bearer tokens.

use plexus_tests::{TEST_SECRET, code, db_test};
use serde_json::{Value, json};

const VIEWER: &str = "{ viewer { id email } }";
const REGISTER: &str = "mutation($i: RegisterInput!) { register(input: $i) { accessToken refreshToken accessTokenExpiresAt user { id email username firstName lastName displayName } } }";
const LOGIN: &str =
    "mutation($i: LoginInput!) { login(input: $i) { accessToken refreshToken user { id email } } }";
const REFRESH: &str = "mutation($t: String!) { refreshSession(input: { refreshToken: $t }) { accessToken refreshToken user { id } } }";
const LOGOUT: &str = "mutation($t: String!) { logout(input: { refreshToken: $t }) { success } }";

fn tokens(v: &Value, field: &str) -> (String, String) {
    let p = &v["data"][field];
    assert!(p.is_object(), "{field} failed: {v}");
    (
        p["accessToken"].as_str().unwrap().into(),
        p["refreshToken"].as_str().unwrap().into(),
    )
}

db_test!(the_whole_session_lifecycle_works, |app| async move {
    let v = app
        .gql(
            REGISTER,
            json!({ "i": { "email": "  Ada@Example.COM ", "password": "correct horse", "username": "ada", "firstName": "Ada", "lastName": "Lovelace" } }),
            None,
        )
        .await;
    let reg = &v["data"]["register"];
    assert_eq!(reg["user"]["email"], "ada@example.com", "{v}");
    assert_eq!(reg["user"]["displayName"], "Ada Lovelace");
    assert!(reg["user"]["id"].as_str().unwrap().starts_with("user_"));
    let expires =
        chrono::DateTime::parse_from_rfc3339(reg["accessTokenExpiresAt"].as_str().unwrap())
            .unwrap();
    let ttl = expires
        .signed_duration_since(chrono::Utc::now())
        .num_seconds();
    assert!(
        (14 * 60..=15 * 60).contains(&ttl),
        "access tokens live 15 minutes, got {ttl}s"
    );

    // Anonymous: viewer is null, not an error.
    let v = app.gql(VIEWER, json!({}), None).await;
    assert_eq!(v, json!({ "data": { "viewer": null } }));

    // Login is case-insensitive on the email.
    let v = app
        .gql(
            LOGIN,
            json!({ "i": { "email": "ADA@example.com", "password": "correct horse" } }),
            None,
        )
        .await;
    let (access, refresh) = tokens(&v, "login");
    let v = app.gql(VIEWER, json!({}), Some(&access)).await;
    assert_eq!(v["data"]["viewer"]["email"], "ada@example.com");

    // Refresh rotates both tokens.
    let v = app.gql(REFRESH, json!({ "t": refresh }), None).await;
    let (access2, refresh2) = tokens(&v, "refreshSession");
    assert_ne!(refresh2, refresh);
    let v = app.gql(VIEWER, json!({}), Some(&access2)).await;
    assert_eq!(v["data"]["viewer"]["email"], "ada@example.com");

    // Logout ends the session: its refresh token no longer works; logging out again is fine.
    let v = app.gql(LOGOUT, json!({ "t": refresh2 }), None).await;
    assert_eq!(v["data"]["logout"]["success"], true);
    let v = app.gql(REFRESH, json!({ "t": refresh2 }), None).await;
    assert_eq!(code(&v), "UNAUTHENTICATED");
    let v = app.gql(LOGOUT, json!({ "t": refresh2 }), None).await;
    assert_eq!(v["data"]["logout"]["success"], true);
    let v = app
        .gql(LOGOUT, json!({ "t": "plx_rt_unknown" }), None)
        .await;
    assert_eq!(code(&v), "UNAUTHENTICATED");
});

db_test!(
    reusing_a_rotated_refresh_token_revokes_the_family,
    |app| async move {
        let (_, r1, _) = app.register("eve@example.com", "password123").await;
        let (_, r2) = tokens(
            &app.gql(REFRESH, json!({ "t": r1 }), None).await,
            "refreshSession",
        );
        // A thief replays r1: refused, and the whole session dies — r2 too.
        let v = app.gql(REFRESH, json!({ "t": r1 }), None).await;
        assert_eq!(code(&v), "UNAUTHENTICATED");
        assert!(
            v["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("already used"),
            "{v}"
        );
        let v = app.gql(REFRESH, json!({ "t": r2 }), None).await;
        assert_eq!(code(&v), "UNAUTHENTICATED");
        // Other sessions of the same user are untouched.
        let v = app
            .gql(
                LOGIN,
                json!({ "i": { "email": "eve@example.com", "password": "password123" } }),
                None,
            )
            .await;
        let (_, other) = tokens(&v, "login");
        assert!(
            app.gql(REFRESH, json!({ "t": other }), None).await["data"]["refreshSession"]
                .is_object()
        );
    }
);

db_test!(
    concurrent_refreshes_with_one_token_rotate_it_once,
    |app| async move {
        let (_, r1, _) = app.register("race@example.com", "password123").await;
        let calls = (0..4).map(|_| app.gql(REFRESH, json!({ "t": r1 }), None));
        let results = futures_util::future::join_all(calls).await;
        let ok = results
            .iter()
            .filter(|v| v["data"]["refreshSession"].is_object())
            .count();
        assert!(ok <= 1, "at most one refresh may win: {results:?}");
        for v in results.iter().filter(|v| v["errors"].is_array()) {
            assert_eq!(code(v), "UNAUTHENTICATED");
        }
    }
);

db_test!(expired_refresh_tokens_are_refused, |app| async move {
    let (_, r, _) = app.register("old@example.com", "password123").await;
    app.sql("UPDATE refresh_tokens SET expires_at = '2000-01-01T00:00:00+00:00'")
        .await;
    let v = app.gql(REFRESH, json!({ "t": r }), None).await;
    assert_eq!(code(&v), "UNAUTHENTICATED");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
});

db_test!(
    logout_everywhere_kills_every_session_and_access_token,
    |app| async move {
        let (a1, r1, _) = app.register("all@example.com", "password123").await;
        let (a2, r2) = tokens(
            &app.gql(
                LOGIN,
                json!({ "i": { "email": "all@example.com", "password": "password123" } }),
                None,
            )
            .await,
            "login",
        );
        let v = app
            .gql(
                "mutation { logoutEverywhere { success revokedSessionCount } }",
                json!({}),
                Some(&a1),
            )
            .await;
        assert_eq!(
            v["data"]["logoutEverywhere"],
            json!({ "success": true, "revokedSessionCount": 2 })
        );
        for a in [&a1, &a2] {
            let v = app.gql(VIEWER, json!({}), Some(a)).await;
            assert_eq!(code(&v), "UNAUTHENTICATED", "{v}");
        }
        for r in [&r1, &r2] {
            assert_eq!(
                code(&app.gql(REFRESH, json!({ "t": r }), None).await),
                "UNAUTHENTICATED"
            );
        }
        let v = app
            .gql("mutation { logoutEverywhere { success } }", json!({}), None)
            .await;
        assert_eq!(code(&v), "UNAUTHENTICATED");
    }
);

db_test!(
    change_password_checks_the_old_one_and_ends_other_sessions,
    |app| async move {
        let (a1, r1, _) = app.register("pw@example.com", "first-password").await;
        let q = "mutation($i: ChangePasswordInput!) { changePassword(input: $i) { session { accessToken refreshToken user { email } } } }";
        let v = app.gql(q, json!({ "i": { "currentPassword": "wrong-password", "newPassword": "second-password" } }), Some(&a1)).await;
        assert_eq!(code(&v), "BAD_USER_INPUT");
        assert_eq!(v["errors"][0]["extensions"]["field"], "currentPassword");
        let v = app
            .gql(
                q,
                json!({ "i": { "currentPassword": "first-password", "newPassword": "short" } }),
                Some(&a1),
            )
            .await;
        assert_eq!(v["errors"][0]["extensions"]["field"], "newPassword");
        let v = app.gql(q, json!({ "i": { "currentPassword": "first-password", "newPassword": "second-password" } }), Some(&a1)).await;
        let s = &v["data"]["changePassword"]["session"];
        assert_eq!(s["user"]["email"], "pw@example.com", "{v}");
        let fresh = s["accessToken"].as_str().unwrap();
        assert_eq!(
            code(&app.gql(VIEWER, json!({}), Some(&a1)).await),
            "UNAUTHENTICATED"
        );
        assert_eq!(
            code(&app.gql(REFRESH, json!({ "t": r1 }), None).await),
            "UNAUTHENTICATED"
        );
        assert_eq!(
            app.gql(VIEWER, json!({}), Some(fresh)).await["data"]["viewer"]["email"],
            "pw@example.com"
        );
        let old = app
            .gql(
                LOGIN,
                json!({ "i": { "email": "pw@example.com", "password": "first-password" } }),
                None,
            )
            .await;
        assert_eq!(code(&old), "UNAUTHENTICATED");
        let new = app
            .gql(
                LOGIN,
                json!({ "i": { "email": "pw@example.com", "password": "second-password" } }),
                None,
            )
            .await;
        assert!(new["data"]["login"].is_object());
    }
);

db_test!(
    login_failures_do_not_tell_which_part_was_wrong,
    |app| async move {
        app.register("known@example.com", "password123").await;
        let unknown = app
            .gql(
                LOGIN,
                json!({ "i": { "email": "unknown@example.com", "password": "password123" } }),
                None,
            )
            .await;
        let wrong = app
            .gql(
                LOGIN,
                json!({ "i": { "email": "known@example.com", "password": "password124" } }),
                None,
            )
            .await;
        let malformed = app
            .gql(
                LOGIN,
                json!({ "i": { "email": "not-an-email", "password": "x" } }),
                None,
            )
            .await;
        for v in [&unknown, &wrong, &malformed] {
            assert_eq!(code(v), "UNAUTHENTICATED");
            assert_eq!(v["errors"][0]["message"], "invalid email or password");
        }
        let huge = app
            .gql(
                LOGIN,
                json!({ "i": { "email": "known@example.com", "password": "x".repeat(10_000) } }),
                None,
            )
            .await;
        assert_eq!(code(&huge), "UNAUTHENTICATED");
    }
);

db_test!(
    deactivated_and_deleted_users_cannot_sign_in_or_use_tokens,
    |app| async move {
        let (access, refresh, _) = app.register("gone@example.com", "password123").await;
        app.sql("UPDATE users SET is_active = false WHERE email = 'gone@example.com'")
            .await;
        let v = app
            .gql(
                LOGIN,
                json!({ "i": { "email": "gone@example.com", "password": "password123" } }),
                None,
            )
            .await;
        assert_eq!(code(&v), "UNAUTHENTICATED");
        assert_eq!(
            code(&app.gql(VIEWER, json!({}), Some(&access)).await),
            "UNAUTHENTICATED"
        );
        assert_eq!(
            code(&app.gql(REFRESH, json!({ "t": refresh }), None).await),
            "UNAUTHENTICATED"
        );

        let (access, _, _) = app.register("deleted@example.com", "password123").await;
        app.sql("UPDATE users SET deleted_at = '2026-01-01T00:00:00+00:00' WHERE email = 'deleted@example.com'").await;
        let v = app
            .gql(
                LOGIN,
                json!({ "i": { "email": "deleted@example.com", "password": "password123" } }),
                None,
            )
            .await;
        assert_eq!(v["errors"][0]["message"], "invalid email or password");
        assert_eq!(
            code(&app.gql(VIEWER, json!({}), Some(&access)).await),
            "UNAUTHENTICATED"
        );
    }
);

fn forge(claims: Value, alg_none: bool) -> String {
    use base64::Engine as _;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    if alg_none {
        return format!(
            "{}.{}.",
            b64(&json!({ "alg": "none", "typ": "JWT" })),
            b64(&claims)
        );
    }
    let key = jsonwebtoken::EncodingKey::from_secret(TEST_SECRET.as_bytes());
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &key,
    )
    .unwrap()
}

db_test!(
    bad_bearer_tokens_are_unauthenticated_never_anonymous,
    |app| async move {
        let (_, _, id) = app.register("tok@example.com", "password123").await;
        let uuid = plexus_core::GlobalId::parse(&id, "id").unwrap().uuid;
        let now = chrono::Utc::now().timestamp();
        let valid_claims =
            json!({ "sub": uuid, "iat": now, "exp": now + 600, "ver": 0, "typ": "access" });
        // Sanity: a correctly forged token works, so the refusals below are about the flaw.
        assert_eq!(
            app.gql(VIEWER, json!({}), Some(&forge(valid_claims.clone(), false)))
                .await["data"]["viewer"]["email"],
            "tok@example.com"
        );

        let expired = forge(
            json!({ "sub": uuid, "iat": now - 7200, "exp": now - 3600, "ver": 0, "typ": "access" }),
            false,
        );
        let v = app.gql(VIEWER, json!({}), Some(&expired)).await;
        assert_eq!(code(&v), "UNAUTHENTICATED");
        assert!(
            v["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("expired")
        );

        let cases = [
            ("alg none", forge(valid_claims.clone(), true)),
            ("garbage", "garbage".to_string()),
            (
                "wrong type",
                forge(
                    json!({ "sub": uuid, "iat": now, "exp": now + 600, "ver": 0, "typ": "refresh" }),
                    false,
                ),
            ),
            (
                "stale version",
                forge(
                    json!({ "sub": uuid, "iat": now, "exp": now + 600, "ver": 7, "typ": "access" }),
                    false,
                ),
            ),
            (
                "unknown user",
                forge(
                    json!({ "sub": uuid::Uuid::now_v7(), "iat": now, "exp": now + 600, "ver": 0, "typ": "access" }),
                    false,
                ),
            ),
            ("refresh token as bearer", "plx_rt_abcdef".to_string()),
        ];
        for (what, token) in cases {
            let v = app.gql(VIEWER, json!({}), Some(&token)).await;
            assert_eq!(code(&v), "UNAUTHENTICATED", "{what}: {v}");
            assert!(
                v["data"].is_null() || v["data"]["viewer"].is_null(),
                "{what}"
            );
        }

        // A malformed Authorization header is not anonymous either.
        let resp = app
            .http
            .post(app.url("/graphql"))
            .header("authorization", "Basic dXNlcjpwYXNz")
            .json(&json!({ "query": VIEWER }))
            .send()
            .await
            .unwrap();
        let v: Value = resp.json().await.unwrap();
        assert_eq!(code(&v), "UNAUTHENTICATED");

        // login and refreshSession still work with an expired token attached.
        let v = app
            .gql(
                LOGIN,
                json!({ "i": { "email": "tok@example.com", "password": "password123" } }),
                Some(&expired),
            )
            .await;
        assert!(v["data"]["login"].is_object(), "{v}");
    }
);

db_test!(
    deactivation_made_elsewhere_takes_effect_within_the_sign_in_cache_window,
    |app| async move {
        let (access, _, _) = app.register("cached@example.com", "password123").await;
        assert!(app.gql(VIEWER, json!({}), Some(&access)).await["data"]["viewer"].is_object());
        // Another instance (here: SQL) deactivates the account. This instance trusts its
        // check of the token for PLEXUS_AUTH_CACHE_MS (1 s), then reads the row again.
        app.sql("UPDATE users SET is_active = false WHERE email = 'cached@example.com'")
            .await;
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(
            code(&app.gql(VIEWER, json!({}), Some(&access)).await),
            "UNAUTHENTICATED"
        );
    }
);
