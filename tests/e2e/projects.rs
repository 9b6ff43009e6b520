//! Projects, members, ownership, presence and pagination.

use crate::fixtures::*;
use plexus_tests::{code, db_test};
use serde_json::{Value, json};

const PROJECT: &str = "query($id: ID!) { project(id: $id) { id name description systemPrompt isPublic viewport { x y zoom }
  owner { id } viewerRole viewerCan { edit addNode deleteNode manageMembers delete } memberCount nodeCount
  members { totalCount edges { node { role user { id } } } } } }";

db_test!(project_lifecycle, |app| async move {
    let (owner, owner_id) = user(&app, "owner").await;
    let (other, _) = user(&app, "other").await;
    let v = app
        .gql(
            "mutation($i: CreateProjectInput!) { createProject(input: $i) { project { id name systemPrompt isPublic viewport { zoom } viewerRole } } }",
            json!({ "i": { "name": "  Canvas ", "description": "d", "viewport": { "x": 0, "y": 0, "zoom": 1.5 } } }),
            Some(&owner),
        )
        .await;
    let p = &v["data"]["createProject"]["project"];
    assert_eq!(p["name"], "Canvas", "{v}");
    assert_eq!(p["systemPrompt"], "");
    assert_eq!(p["isPublic"], false);
    assert_eq!(p["viewport"]["zoom"], 1.5);
    assert_eq!(p["viewerRole"], "OWNER");
    let id = p["id"].as_str().unwrap().to_string();

    let v = app.gql(PROJECT, json!({ "id": id }), Some(&owner)).await;
    let p = &v["data"]["project"];
    assert_eq!(p["owner"]["id"], owner_id.as_str());
    assert_eq!(
        p["viewerCan"],
        json!({ "edit": true, "addNode": true, "deleteNode": true, "manageMembers": true, "delete": true })
    );
    assert_eq!(p["memberCount"], 1);
    assert_eq!(p["members"]["edges"][0]["node"]["role"], "OWNER");
    // Private: others and anonymous see nothing.
    assert_eq!(
        app.gql(PROJECT, json!({ "id": id }), Some(&other)).await,
        json!({ "data": { "project": null } })
    );
    assert_eq!(
        app.gql(PROJECT, json!({ "id": id }), None).await,
        json!({ "data": { "project": null } })
    );

    let upd = "mutation($i: UpdateProjectInput!) { updateProject(input: $i) { project { name description isPublic viewport { x } } } }";
    let v = app.gql(upd, json!({ "i": { "id": id, "name": "Renamed", "description": null, "isPublic": true, "viewport": null } }), Some(&owner)).await;
    assert_eq!(
        v["data"]["updateProject"]["project"],
        json!({ "name": "Renamed", "description": null, "isPublic": true, "viewport": null }),
        "{v}"
    );
    for (input, field) in [
        (json!({ "id": id, "name": " " }), "name"),
        (json!({ "id": id, "name": "n".repeat(201) }), "name"),
        (
            json!({ "id": id, "viewport": { "x": 0, "y": 0, "zoom": 0 } }),
            "viewport",
        ),
    ] {
        let v = app.gql(upd, json!({ "i": input }), Some(&owner)).await;
        assert_eq!(
            (code(&v), v["errors"][0]["extensions"]["field"].as_str()),
            ("BAD_USER_INPUT", Some(field))
        );
    }
    // Public now: anyone reads, nobody outside writes.
    let v = app.gql(PROJECT, json!({ "id": id }), None).await;
    assert_eq!(v["data"]["project"]["viewerRole"], Value::Null);
    assert_eq!(v["data"]["project"]["viewerCan"]["edit"], false);
    let v = app
        .gql(
            upd,
            json!({ "i": { "id": id, "name": "Hijack" } }),
            Some(&other),
        )
        .await;
    assert_eq!(code(&v), "FORBIDDEN");

    // Delete hides it everywhere; only the owner restores.
    let del = "mutation($i: ProjectIdInput!) { deleteProject(input: $i) { deletedId } }";
    let res = "mutation($i: ProjectIdInput!) { restoreProject(input: $i) { project { id name } } }";
    assert_eq!(
        code(
            &app.gql(del, json!({ "i": { "id": id } }), Some(&other))
                .await
        ),
        "FORBIDDEN"
    );
    let v = app
        .gql(del, json!({ "i": { "id": id } }), Some(&owner))
        .await;
    assert_eq!(v["data"]["deleteProject"]["deletedId"], id.as_str());
    assert_eq!(
        app.gql(PROJECT, json!({ "id": id }), Some(&owner)).await["data"]["project"],
        Value::Null
    );
    let v = app
        .gql("{ projects { totalCount } }", json!({}), Some(&owner))
        .await;
    assert_eq!(v["data"]["projects"]["totalCount"], 0);
    assert_eq!(
        code(
            &app.gql(res, json!({ "i": { "id": id } }), Some(&other))
                .await
        ),
        "NOT_FOUND"
    );
    let v = app
        .gql(res, json!({ "i": { "id": id } }), Some(&owner))
        .await;
    assert_eq!(v["data"]["restoreProject"]["project"]["name"], "Renamed");
    assert_eq!(
        app.gql(PROJECT, json!({ "id": id }), None).await["data"]["project"]["id"],
        id.as_str()
    );
    // Anonymous cannot create.
    let v = app
        .gql(
            "mutation { createProject(input: { name: \"x\" }) { project { id } } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(code(&v), "UNAUTHENTICATED");
});

db_test!(members_and_ownership, |app| async move {
    let (owner, owner_id) = user(&app, "owner").await;
    let (admin, admin_id) = user(&app, "admin").await;
    let (editor, editor_id) = user(&app, "editor").await;
    let (_, viewer_id) = user(&app, "viewer").await;
    let (_, late_id) = user(&app, "late").await;
    let p = project(&app, &owner, "Team", false).await;

    assert_eq!(
        outcome(&add_member(&app, &owner, &p, &admin_id, "ADMIN").await),
        "OK"
    );
    // By email, default role MEMBER, case-insensitive.
    let v = app
        .gql(
            "mutation($i: AddProjectMemberInput!) { addProjectMember(input: $i) { member { role user { id } project { id } } } }",
            json!({ "i": { "projectId": p, "email": "EDITOR@example.com" } }),
            Some(&admin),
        )
        .await;
    assert_eq!(
        v["data"]["addProjectMember"]["member"]["role"], "MEMBER",
        "{v}"
    );
    assert_eq!(
        v["data"]["addProjectMember"]["member"]["project"]["id"],
        p.as_str()
    );
    // Duplicates, unknown users, both or neither of userId/email.
    assert_eq!(
        outcome(&add_member(&app, &owner, &p, &editor_id, "VIEWER").await),
        "CONFLICT"
    );
    let v = app
        .gql("mutation($i: AddProjectMemberInput!) { addProjectMember(input: $i) { member { id } } }", json!({ "i": { "projectId": p, "email": "nobody@example.com" } }), Some(&owner))
        .await;
    assert_eq!(code(&v), "NOT_FOUND");
    let v = app
        .gql("mutation($i: AddProjectMemberInput!) { addProjectMember(input: $i) { member { id } } }", json!({ "i": { "projectId": p } }), Some(&owner))
        .await;
    assert_eq!(code(&v), "BAD_USER_INPUT");

    let upd = "mutation($i: UpdateProjectMemberInput!) { updateProjectMember(input: $i) { member { role } } }";
    let v = app
        .gql(
            upd,
            json!({ "i": { "projectId": p, "userId": editor_id, "role": "EDITOR" } }),
            Some(&admin),
        )
        .await;
    assert_eq!(
        v["data"]["updateProjectMember"]["member"]["role"], "EDITOR",
        "{v}"
    );
    // Nobody grants above their own role; OWNER is never granted; equals are not managed.
    assert_eq!(
        outcome(&add_member(&app, &editor, &p, &viewer_id, "VIEWER").await),
        "FORBIDDEN"
    );
    assert_eq!(
        outcome(&add_member(&app, &admin, &p, &viewer_id, "OWNER").await),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        outcome(&add_member(&app, &admin, &p, &viewer_id, "VIEWER").await),
        "OK"
    );
    let v = app
        .gql(
            upd,
            json!({ "i": { "projectId": p, "userId": owner_id, "role": "VIEWER" } }),
            Some(&admin),
        )
        .await;
    assert_eq!(code(&v), "FORBIDDEN", "the owner is never demoted");
    let v = app
        .gql(
            upd,
            json!({ "i": { "projectId": p, "userId": viewer_id, "role": "OWNER" } }),
            Some(&owner),
        )
        .await;
    assert_eq!(code(&v), "BAD_USER_INPUT");
    assert_eq!(
        outcome(&add_member(&app, &admin, &p, &late_id, "ADMIN").await),
        "OK"
    );
    let v = app
        .gql(
            upd,
            json!({ "i": { "projectId": p, "userId": late_id, "role": "VIEWER" } }),
            Some(&admin),
        )
        .await;
    assert_eq!(
        code(&v),
        "FORBIDDEN",
        "an ADMIN does not manage another ADMIN"
    );

    let rm = "mutation($i: ProjectUserInput!) { removeProjectMember(input: $i) { deletedId } }";
    assert_eq!(
        code(
            &app.gql(
                rm,
                json!({ "i": { "projectId": p, "userId": owner_id } }),
                Some(&admin)
            )
            .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        code(
            &app.gql(
                rm,
                json!({ "i": { "projectId": p, "userId": viewer_id } }),
                Some(&editor)
            )
            .await
        ),
        "FORBIDDEN"
    );
    let v = app
        .gql(
            rm,
            json!({ "i": { "projectId": p, "userId": viewer_id } }),
            Some(&admin),
        )
        .await;
    assert!(
        v["data"]["removeProjectMember"]["deletedId"]
            .as_str()
            .unwrap()
            .starts_with("pmem_"),
        "{v}"
    );

    let leave = "mutation($i: LeaveProjectInput!) { leaveProject(input: $i) { deletedId } }";
    assert_eq!(
        code(
            &app.gql(leave, json!({ "i": { "projectId": p } }), Some(&owner))
                .await
        ),
        "CONFLICT"
    );
    assert!(
        app.gql(leave, json!({ "i": { "projectId": p } }), Some(&editor))
            .await["data"]["leaveProject"]
            .is_object()
    );
    // Having left a private project, it is gone for them.
    assert_eq!(
        app.gql(PROJECT, json!({ "id": p }), Some(&editor)).await["data"]["project"],
        Value::Null
    );

    let tr = "mutation($i: ProjectUserInput!) { transferProjectOwnership(input: $i) { project { owner { id } viewerRole } } }";
    assert_eq!(
        code(
            &app.gql(
                tr,
                json!({ "i": { "projectId": p, "userId": admin_id } }),
                Some(&admin)
            )
            .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        code(
            &app.gql(
                tr,
                json!({ "i": { "projectId": p, "userId": editor_id } }),
                Some(&owner)
            )
            .await
        ),
        "NOT_FOUND"
    );
    let v = app
        .gql(
            tr,
            json!({ "i": { "projectId": p, "userId": admin_id } }),
            Some(&owner),
        )
        .await;
    assert_eq!(
        v["data"]["transferProjectOwnership"]["project"],
        json!({ "owner": { "id": admin_id }, "viewerRole": "ADMIN" }),
        "{v}"
    );
    let v = app.gql(PROJECT, json!({ "id": p }), Some(&admin)).await;
    assert_eq!(v["data"]["project"]["viewerRole"], "OWNER");
    assert_eq!(v["data"]["project"]["viewerCan"]["delete"], true);
});

db_test!(presence_lists_recent_members, |app| async move {
    let (owner, owner_id) = user(&app, "owner").await;
    let (outsider, _) = user(&app, "outsider").await;
    let p = project(&app, &owner, "Live", true).await;
    let n = node(&app, &owner, &p, "q", &[]).await;
    let up = "mutation($i: UpdatePresenceInput!) { updatePresence(input: $i) { presence { user { id } cursor { x y nodeId at } lastSeen } } }";
    let v = app
        .gql(
            up,
            json!({ "i": { "projectId": p, "cursor": { "x": 10.5, "y": 20, "nodeId": n } } }),
            Some(&owner),
        )
        .await;
    let pres = &v["data"]["updatePresence"]["presence"];
    assert_eq!(pres["user"]["id"], owner_id.as_str(), "{v}");
    assert_eq!(pres["cursor"]["x"], 10.5);
    assert_eq!(pres["cursor"]["nodeId"], n.as_str());
    // A second heartbeat updates the same row.
    app.gql(
        up,
        json!({ "i": { "projectId": p, "cursor": { "x": 1, "y": 2 } } }),
        Some(&owner),
    )
    .await;
    assert_eq!(app.count("project_presence").await, 1);
    let q = "query($id: ID!) { project(id: $id) { presence { user { id } cursor { x } } } }";
    let v = app.gql(q, json!({ "id": p }), None).await;
    assert_eq!(
        v["data"]["project"]["presence"],
        json!([{ "user": { "id": owner_id }, "cursor": { "x": 1.0 } }])
    );
    // Outsiders of a public project do not broadcast presence.
    assert_eq!(
        code(
            &app.gql(up, json!({ "i": { "projectId": p } }), Some(&outsider))
                .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        code(&app.gql(up, json!({ "i": { "projectId": p } }), None).await),
        "UNAUTHENTICATED"
    );
    // After five minutes of silence, gone.
    app.sql("UPDATE project_presence SET last_seen = '2000-01-01T00:00:00+00:00'")
        .await;
    let v = app.gql(q, json!({ "id": p }), None).await;
    assert_eq!(v["data"]["project"]["presence"], json!([]));
});

const LIST: &str = "query($first: Int, $after: String, $last: Int, $before: String, $filter: ProjectFilterInput, $order: ProjectOrderInput) {
  projects(first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $order) {
    totalCount edges { cursor node { name } } pageInfo { hasNextPage hasPreviousPage endCursor startCursor } } }";

fn names(v: &Value) -> Vec<String> {
    v["data"]["projects"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap().to_string())
        .collect()
}

db_test!(project_lists_filter_order_and_page, |app| async move {
    let (me, _) = user(&app, "me").await;
    let (them, my_id) = {
        let (t, _) = user(&app, "them").await;
        let v = app.gql("{ viewer { id } }", json!({}), Some(&me)).await;
        (t, v["data"]["viewer"]["id"].as_str().unwrap().to_string())
    };
    for name in ["bravomine", "alphamine", "charliemine"] {
        project(&app, &me, name, false).await;
    }
    let shared = project(&app, &them, "deltashared", false).await;
    add_member(&app, &them, &shared, &my_id, "VIEWER").await;
    project(&app, &them, "echopublic", true).await;
    project(&app, &them, "foxtrotprivate", false).await;

    let v = app.gql(LIST, json!({}), Some(&me)).await;
    assert_eq!(v["data"]["projects"]["totalCount"], 5, "{v}");
    // Default order: most recently updated first.
    assert_eq!(
        names(&v),
        [
            "echopublic",
            "deltashared",
            "charliemine",
            "alphamine",
            "bravomine"
        ]
    );
    let v = app
        .gql(LIST, json!({ "filter": { "owned": true } }), Some(&me))
        .await;
    assert_eq!(names(&v).len(), 3);
    let v = app
        .gql(
            LIST,
            json!({ "filter": { "member": true, "owned": false } }),
            Some(&me),
        )
        .await;
    assert_eq!(names(&v), ["deltashared"]);
    let v = app
        .gql(LIST, json!({ "filter": { "public": true } }), Some(&me))
        .await;
    assert_eq!(names(&v), ["echopublic"]);
    let v = app.gql(LIST, json!({ "filter": { "search": "MINE" }, "order": { "field": "NAME", "direction": "ASC" } }), Some(&me)).await;
    assert_eq!(names(&v), ["alphamine", "bravomine", "charliemine"]);
    let v = app.gql(LIST, json!({}), None).await;
    assert_eq!(
        names(&v),
        ["echopublic"],
        "anonymous sees public projects only"
    );

    // Keyset paging by name, forward then backward, stable under inserts.
    let order = json!({ "field": "NAME", "direction": "ASC" });
    let p1 = app
        .gql(LIST, json!({ "first": 2, "order": order }), Some(&me))
        .await;
    assert_eq!(names(&p1), ["alphamine", "bravomine"]);
    let end = p1["data"]["projects"]["pageInfo"]["endCursor"]
        .as_str()
        .unwrap()
        .to_string();
    project(&app, &me, "alphanew", false).await;
    let p2 = app
        .gql(
            LIST,
            json!({ "first": 2, "after": end, "order": order }),
            Some(&me),
        )
        .await;
    assert_eq!(names(&p2), ["charliemine", "deltashared"]);
    assert_eq!(p2["data"]["projects"]["pageInfo"]["hasNextPage"], true);
    let start = p2["data"]["projects"]["pageInfo"]["startCursor"]
        .as_str()
        .unwrap();
    let back = app
        .gql(
            LIST,
            json!({ "last": 2, "before": start, "order": order }),
            Some(&me),
        )
        .await;
    assert_eq!(names(&back), ["alphanew", "bravomine"]);
    // A cursor of another ordering is refused.
    let v = app
        .gql(LIST, json!({ "first": 2, "after": end }), Some(&me))
        .await;
    assert_eq!(
        (code(&v), v["errors"][0]["extensions"]["field"].as_str()),
        ("BAD_USER_INPUT", Some("after"))
    );
});
