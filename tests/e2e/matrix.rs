//! The whole permission matrix, table-driven: every role (and an outsider, and anonymous)
//! × private and public projects × every project, member, node and edge operation.

use crate::fixtures::*;
use plexus_tests::{TestApp, db_test};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    View,
    UpdateProject,
    CreateNode,
    UpdateNode,
    MoveNodes,
    DeleteNode,
    RestoreNode,
    CreateEdge,
    DeleteEdge,
    AddMember,
    Presence,
    DeleteProject,
}

const OPS: [Op; 12] = [
    Op::View,
    Op::UpdateProject,
    Op::CreateNode,
    Op::UpdateNode,
    Op::MoveNodes,
    Op::DeleteNode,
    Op::RestoreNode,
    Op::CreateEdge,
    Op::DeleteEdge,
    Op::AddMember,
    Op::Presence,
    Op::DeleteProject,
];

fn rank(role: &str) -> u8 {
    match role {
        "OWNER" => 5,
        "ADMIN" => 4,
        "EDITOR" => 3,
        "MEMBER" => 2,
        "VIEWER" => 1,
        _ => 0,
    }
}

/// The matrix of API.md, written out independently of the implementation.
fn expected(role: Option<&str>, anonymous: bool, public: bool, op: Op) -> &'static str {
    let member = role.is_some();
    if op == Op::View {
        return if member || public { "OK" } else { "NOT_FOUND" };
    }
    if anonymous {
        return "UNAUTHENTICATED";
    }
    if !member && !public {
        return "NOT_FOUND";
    }
    let r = role.map_or(0, rank);
    let allowed = match op {
        Op::View => true,
        Op::UpdateProject
        | Op::CreateNode
        | Op::UpdateNode
        | Op::MoveNodes
        | Op::DeleteNode
        | Op::RestoreNode
        | Op::CreateEdge
        | Op::DeleteEdge => r >= 3,
        Op::AddMember => r >= 4,
        Op::Presence => member,
        Op::DeleteProject => r == 5,
    };
    if allowed { "OK" } else { "FORBIDDEN" }
}

async fn new_node(app: &TestApp, owner: &str, p: &str, parents: &[&str]) -> Value {
    let v = try_node(app, owner, p, "fixture", parents).await;
    assert!(v["data"]["createGraphNode"].is_object(), "fixture: {v}");
    v["data"]["createGraphNode"].clone()
}

async fn attempt(
    app: &TestApp,
    owner: &str,
    token: Option<&str>,
    p: &str,
    op: Op,
    nonce: usize,
    members: &[(String, &str)],
) -> String {
    let id = |v: &Value| v["node"]["id"].as_str().unwrap().to_string();
    let v = match op {
        Op::View => {
            let v = app.gql("query($id: ID!) { project(id: $id) { id } }", json!({ "id": p }), token).await;
            return if v["data"]["project"].is_object() { "OK".into() } else { outcome(&v).replace("OK", "NOT_FOUND") };
        }
        Op::UpdateProject => {
            app.gql("mutation($i: UpdateProjectInput!) { updateProject(input: $i) { project { id } } }", json!({ "i": { "id": p, "description": "x" } }), token).await
        }
        Op::CreateNode => try_node(app, token.unwrap_or(""), p, "new", &[]).await,
        Op::UpdateNode => {
            let n = id(&new_node(app, owner, p, &[]).await);
            app.gql("mutation($i: UpdateGraphNodeInput!) { updateGraphNode(input: $i) { node { id } } }", json!({ "i": { "id": n, "prompt": "changed" } }), token).await
        }
        Op::MoveNodes => {
            let n = id(&new_node(app, owner, p, &[]).await);
            app.gql("mutation($i: MoveGraphNodesInput!) { moveGraphNodes(input: $i) { nodes { id } } }", json!({ "i": { "moves": [{ "id": n, "position": { "x": 1, "y": 1 } }] } }), token).await
        }
        Op::DeleteNode => {
            let n = id(&new_node(app, owner, p, &[]).await);
            app.gql("mutation($i: GraphNodeIdInput!) { deleteGraphNode(input: $i) { deletedId } }", json!({ "i": { "id": n } }), token).await
        }
        Op::RestoreNode => {
            let n = id(&new_node(app, owner, p, &[]).await);
            let d = app.gql("mutation($i: GraphNodeIdInput!) { deleteGraphNode(input: $i) { deletedId } }", json!({ "i": { "id": n } }), Some(owner)).await;
            assert!(d["data"].is_object(), "{d}");
            app.gql("mutation($i: GraphNodeIdInput!) { restoreGraphNode(input: $i) { node { id } } }", json!({ "i": { "id": n } }), token).await
        }
        Op::CreateEdge => {
            let s = id(&new_node(app, owner, p, &[]).await);
            let t = id(&new_node(app, owner, p, &[]).await);
            let v = edge(app, token.unwrap_or(""), &s, &t).await;
            if token.is_none() {
                app.gql("mutation($i: CreateGraphEdgeInput!) { createGraphEdge(input: $i) { edge { id } } }", json!({ "i": { "sourceId": s, "targetId": t } }), None).await
            } else {
                v
            }
        }
        Op::DeleteEdge => {
            let s = id(&new_node(app, owner, p, &[]).await);
            let t = new_node(app, owner, p, &[&s]).await;
            let e = t["edges"][0]["id"].as_str().unwrap().to_string();
            app.gql("mutation($i: GraphEdgeIdInput!) { deleteGraphEdge(input: $i) { deletedId } }", json!({ "i": { "id": e } }), token).await
        }
        Op::AddMember => {
            let (_, newbie) = user(app, &format!("newbie{nonce}")).await;
            app.gql(
                "mutation($i: AddProjectMemberInput!) { addProjectMember(input: $i) { member { id } } }",
                json!({ "i": { "projectId": p, "userId": newbie, "role": "VIEWER" } }),
                token,
            )
            .await
        }
        Op::Presence => app.gql("mutation($i: UpdatePresenceInput!) { updatePresence(input: $i) { presence { lastSeen } } }", json!({ "i": { "projectId": p } }), token).await,
        Op::DeleteProject => {
            // A project of its own, with the same members, so the main one survives.
            let public = app.gql("query($id: ID!) { project(id: $id) { isPublic } }", json!({ "id": p }), Some(owner)).await["data"]["project"]["isPublic"].as_bool().unwrap();
            let q = project(app, owner, "doomed", public).await;
            for (uid, role) in members {
                assert_eq!(outcome(&add_member(app, owner, &q, uid, role).await), "OK");
            }
            app.gql("mutation($i: ProjectIdInput!) { deleteProject(input: $i) { deletedId } }", json!({ "i": { "id": q } }), token).await
        }
    };
    outcome(&v)
}

db_test!(the_role_matrix_holds_on_every_path, |app| async move {
    let (owner, _) = user(&app, "owner").await;
    let mut actors: Vec<(&str, Option<String>, Option<&str>)> =
        vec![("OWNER", Some(owner.clone()), Some("OWNER"))];
    let mut members = vec![];
    for role in ["ADMIN", "EDITOR", "MEMBER", "VIEWER"] {
        let (t, id) = user(&app, &role.to_lowercase()).await;
        members.push((id, role));
        actors.push((role, Some(t), Some(role)));
    }
    let (outsider, _) = user(&app, "outsider").await;
    actors.push(("outsider", Some(outsider), None));
    actors.push(("anonymous", None, None));

    let mut failures = vec![];
    let mut nonce = 0;
    for public in [false, true] {
        let p = project(
            &app,
            &owner,
            if public { "public" } else { "private" },
            public,
        )
        .await;
        for (uid, role) in &members {
            assert_eq!(
                outcome(&add_member(&app, &owner, &p, uid, role).await),
                "OK"
            );
        }
        for (name, token, role) in &actors {
            for op in OPS {
                nonce += 1;
                let got = attempt(&app, &owner, token.as_deref(), &p, op, nonce, &members).await;
                let want = expected(*role, token.is_none(), public, op);
                if got != want {
                    failures.push(format!(
                        "{name} {op:?} on a {} project: got {got}, want {want}",
                        if public { "public" } else { "private" }
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "matrix violations:\n{}",
        failures.join("\n")
    );
});
