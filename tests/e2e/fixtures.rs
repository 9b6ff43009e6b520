//! Shared steps: users, projects, members, nodes and edges created over the API.

use plexus_tests::TestApp;
use serde_json::{Value, json};

/// Registers `name@example.com`; returns (access token, user id).
pub async fn user(app: &TestApp, name: &str) -> (String, String) {
    let (token, _, id) = app
        .register(&format!("{name}@example.com"), "password123")
        .await;
    (token, id)
}

/// Creates a project; returns its id.
pub async fn project(app: &TestApp, token: &str, name: &str, public: bool) -> String {
    let v = app
        .gql(
            "mutation($i: CreateProjectInput!) { createProject(input: $i) { project { id } } }",
            json!({ "i": { "name": name, "isPublic": public } }),
            Some(token),
        )
        .await;
    v["data"]["createProject"]["project"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("createProject: {v}"))
        .to_string()
}

/// Adds a member with a role; returns the response.
pub async fn add_member(
    app: &TestApp,
    token: &str,
    project: &str,
    user: &str,
    role: &str,
) -> Value {
    app.gql(
        "mutation($i: AddProjectMemberInput!) { addProjectMember(input: $i) { member { id role user { id } } } }",
        json!({ "i": { "projectId": project, "userId": user, "role": role } }),
        Some(token),
    )
    .await
}

/// Creates a node with parents; returns the response.
pub async fn try_node(
    app: &TestApp,
    token: &str,
    project: &str,
    prompt: &str,
    parents: &[&str],
) -> Value {
    app.gql(
        "mutation($i: CreateGraphNodeInput!) { createGraphNode(input: $i) { node { id version status } edges { id } } }",
        json!({ "i": { "projectId": project, "prompt": prompt, "position": { "x": 1.5, "y": -2.0 }, "parentIds": parents } }),
        Some(token),
    )
    .await
}

/// Creates a node with parents; returns its id.
pub async fn node(
    app: &TestApp,
    token: &str,
    project: &str,
    prompt: &str,
    parents: &[&str],
) -> String {
    let v = try_node(app, token, project, prompt, parents).await;
    v["data"]["createGraphNode"]["node"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("createGraphNode: {v}"))
        .to_string()
}

/// Connects two nodes; returns the response.
pub async fn edge(app: &TestApp, token: &str, source: &str, target: &str) -> Value {
    app.gql(
        "mutation($i: CreateGraphEdgeInput!) { createGraphEdge(input: $i) { edge { id source { id } target { id } } } }",
        json!({ "i": { "sourceId": source, "targetId": target } }),
        Some(token),
    )
    .await
}

/// The error code of a response, or "OK" when it has no errors.
pub fn outcome(v: &Value) -> String {
    match v["errors"][0]["extensions"]["code"].as_str() {
        Some(c) => c.to_string(),
        None if v["errors"].is_array() => panic!("error without code: {v}"),
        None => "OK".into(),
    }
}
