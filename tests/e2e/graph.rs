//! Graph rules: DAG, duplicates, cross-project edges, stale propagation, soft delete and
//! restore, versions, the status machine, traversals, node paging and statement counts.

use crate::fixtures::*;
use plexus_tests::{Backend, code, db_test};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

const NODE: &str = "query($id: ID!) { graphNode(id: $id) { id prompt status version position { x y }
  parents { id } children { id } ancestors { id } descendants { id } createdBy { id } project { id } } }";
const UPDATE: &str = "mutation($i: UpdateGraphNodeInput!) { updateGraphNode(input: $i) { node { id prompt response status version } staleNodes { id } } }";

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect()
}

db_test!(edges_keep_the_canvas_a_dag, |app| async move {
    let (t, _) = user(&app, "owner").await;
    let p = project(&app, &t, "DAG", false).await;
    let a = node(&app, &t, &p, "a", &[]).await;
    let b = node(&app, &t, &p, "b", &[&a]).await;
    let c = node(&app, &t, &p, "c", &[&b]).await;

    let v = edge(&app, &t, &c, &a).await;
    assert_eq!(code(&v), "CONFLICT");
    let msg = v["errors"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("{a} → {b} → {c} → {a}")),
        "the cycle is named: {msg}"
    );
    assert_eq!(code(&edge(&app, &t, &a, &b).await), "CONFLICT", "duplicate");
    let v = edge(&app, &t, &a, &a).await;
    assert_eq!(
        (code(&v), v["errors"][0]["extensions"]["field"].as_str()),
        ("BAD_USER_INPUT", Some("targetId"))
    );
    let v = edge(&app, &t, &a, &c).await;
    assert_eq!(
        v["data"]["createGraphEdge"]["edge"]["source"]["id"],
        a.as_str(),
        "a shortcut is fine: {v}"
    );

    // Cross-project edges and parents are refused.
    let q = project(&app, &t, "Other", false).await;
    let x = node(&app, &t, &q, "x", &[]).await;
    assert_eq!(code(&edge(&app, &t, &a, &x).await), "BAD_USER_INPUT");
    let v = try_node(&app, &t, &q, "y", &[&a]).await;
    assert_eq!(
        (code(&v), v["errors"][0]["extensions"]["field"].as_str()),
        ("BAD_USER_INPUT", Some("parentIds"))
    );
    let v = try_node(&app, &t, &p, "dup", &[&a, &a]).await;
    assert_eq!(code(&v), "BAD_USER_INPUT");
    assert_eq!(
        app.count("nodes").await,
        4,
        "refused creations leave no row"
    );

    // Delete an edge; then the old cycle edge is fine.
    let ab = app.gql("query($id: ID!) { project(id: $id) { edges { nodes { id source { id } target { id } } } } }", json!({ "id": p }), Some(&t)).await;
    let edges = ab["data"]["project"]["edges"]["nodes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(edges.len(), 3);
    let ab_id = edges
        .iter()
        .find(|e| e["source"]["id"] == a.as_str() && e["target"]["id"] == b.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let v = app
        .gql(
            "mutation($i: GraphEdgeIdInput!) { deleteGraphEdge(input: $i) { deletedId } }",
            json!({ "i": { "id": ab_id } }),
            Some(&t),
        )
        .await;
    assert_eq!(v["data"]["deleteGraphEdge"]["deletedId"], ab_id.as_str());
    assert_eq!(
        code(&edge(&app, &t, &c, &a).await),
        "CONFLICT",
        "a → c still exists"
    );

    // `parents` and `children` list the nodes oldest first, in whatever order the edges
    // were made: c → f before c → e, and f → g before e → g.
    let e = node(&app, &t, &p, "e", &[]).await;
    let f = node(&app, &t, &p, "f", &[]).await;
    let g = node(&app, &t, &p, "g", &[]).await;
    for (from, to) in [(&c, &f), (&c, &e), (&f, &g), (&e, &g)] {
        let v = edge(&app, &t, from, to).await;
        assert!(v["data"]["createGraphEdge"].is_object(), "{v}");
    }
    let v = app.gql(NODE, json!({ "id": c }), Some(&t)).await;
    assert_eq!(
        ids(&v["data"]["graphNode"]["children"]),
        [e.as_str(), f.as_str()],
        "{v}"
    );
    let v = app.gql(NODE, json!({ "id": g }), Some(&t)).await;
    assert_eq!(
        ids(&v["data"]["graphNode"]["parents"]),
        [e.as_str(), f.as_str()],
        "{v}"
    );
});

db_test!(traversals_and_node_fields, |app| async move {
    let (t, uid) = user(&app, "owner").await;
    let p = project(&app, &t, "Tree", false).await;
    // r → a → c, r → b → c, c → d
    let r = node(&app, &t, &p, "r", &[]).await;
    let a = node(&app, &t, &p, "a", &[&r]).await;
    let b = node(&app, &t, &p, "b", &[&r]).await;
    let c = node(&app, &t, &p, "c", &[&a, &b]).await;
    let d = node(&app, &t, &p, "d", &[&c]).await;
    let v = app.gql(NODE, json!({ "id": d }), Some(&t)).await;
    let n = &v["data"]["graphNode"];
    assert_eq!(
        ids(&n["ancestors"]),
        [r.as_str(), a.as_str(), b.as_str(), c.as_str()],
        "root first, topological: {v}"
    );
    assert_eq!(ids(&n["parents"]), [c.as_str()]);
    assert_eq!(n["createdBy"]["id"], uid.as_str());
    assert_eq!(n["project"]["id"], p.as_str());
    assert_eq!(n["position"], json!({ "x": 1.5, "y": -2.0 }));
    assert_eq!(n["status"], "IDLE");
    assert_eq!(n["version"], 1);
    let v = app.gql(NODE, json!({ "id": r }), Some(&t)).await;
    assert_eq!(
        ids(&v["data"]["graphNode"]["children"]),
        [a.as_str(), b.as_str()]
    );
    assert_eq!(
        ids(&v["data"]["graphNode"]["descendants"]),
        [a.as_str(), b.as_str(), c.as_str(), d.as_str()]
    );
    // node(id) resolves every canvas type; outsiders get null.
    let v = app
        .gql(
            "query($id: ID!) { node(id: $id) { __typename id } }",
            json!({ "id": p }),
            Some(&t),
        )
        .await;
    assert_eq!(v["data"]["node"]["__typename"], "Project");
    let v = app
        .gql(
            "query($id: ID!) { node(id: $id) { __typename } }",
            json!({ "id": d }),
            Some(&t),
        )
        .await;
    assert_eq!(v["data"]["node"]["__typename"], "GraphNode");
    let (o, _) = user(&app, "outsider").await;
    assert_eq!(
        app.gql(
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": d }),
            Some(&o)
        )
        .await["data"]["node"],
        Value::Null
    );
    assert_eq!(
        app.gql(NODE, json!({ "id": d }), Some(&o)).await["data"]["graphNode"],
        Value::Null
    );
    let v = app.gql(NODE, json!({ "id": p }), Some(&t)).await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "a project id is not a node id");
});

db_test!(content_changes_make_descendants_stale, |app| async move {
    let (t, _) = user(&app, "owner").await;
    let p = project(&app, &t, "Stale", false).await;
    let a = node(&app, &t, &p, "a", &[]).await;
    let b = node(&app, &t, &p, "b", &[&a]).await;
    let c = node(&app, &t, &p, "c", &[&b]).await;
    let side = node(&app, &t, &p, "side", &[]).await;
    // Walk b through the machine to COMPLETED.
    for status in ["GENERATING", "COMPLETED"] {
        let v = app
            .gql(
                UPDATE,
                json!({ "i": { "id": b, "status": status } }),
                Some(&t),
            )
            .await;
        assert_eq!(
            v["data"]["updateGraphNode"]["node"]["status"], status,
            "{v}"
        );
    }
    // Moving or summarising does not stale anything.
    let v = app
        .gql(
            UPDATE,
            json!({ "i": { "id": a, "position": { "x": 5, "y": 5 }, "summary": "s" } }),
            Some(&t),
        )
        .await;
    assert_eq!(v["data"]["updateGraphNode"]["staleNodes"], json!([]));
    let v = app
        .gql(
            UPDATE,
            json!({ "i": { "id": a, "prompt": "a, rephrased" } }),
            Some(&t),
        )
        .await;
    let stale = ids(&v["data"]["updateGraphNode"]["staleNodes"]);
    assert_eq!(stale, [b.as_str(), c.as_str()]);
    for (id, version) in [(&b, 4), (&c, 2)] {
        let v = app.gql(NODE, json!({ "id": id }), Some(&t)).await;
        assert_eq!(v["data"]["graphNode"]["status"], "STALE");
        assert_eq!(
            v["data"]["graphNode"]["version"], version,
            "every change bumps the version"
        );
    }
    assert_eq!(
        app.gql(NODE, json!({ "id": side }), Some(&t)).await["data"]["graphNode"]["status"],
        "IDLE"
    );
    // A response change stales too; an identical prompt does not.
    let v = app
        .gql(
            UPDATE,
            json!({ "i": { "id": c, "response": "new" } }),
            Some(&t),
        )
        .await;
    assert_eq!(
        v["data"]["updateGraphNode"]["staleNodes"],
        json!([]),
        "c has no descendants"
    );
    let v = app
        .gql(
            UPDATE,
            json!({ "i": { "id": a, "prompt": "a, rephrased" } }),
            Some(&t),
        )
        .await;
    assert_eq!(v["data"]["updateGraphNode"]["staleNodes"], json!([]));
    // The status machine.
    let v = app
        .gql(
            UPDATE,
            json!({ "i": { "id": side, "status": "COMPLETED" } }),
            Some(&t),
        )
        .await;
    assert_eq!(code(&v), "CONFLICT");
    let v = app
        .gql(
            UPDATE,
            json!({ "i": { "id": b, "status": "IDLE" } }),
            Some(&t),
        )
        .await;
    assert_eq!(code(&v), "CONFLICT");
});

db_test!(
    concurrent_updates_without_a_version_all_apply,
    |app| async move {
        // Found by the PostgreSQL soak: concurrent updates of one node that do not ask for a
        // version must wait for each other, not fail with CONFLICT.
        let (t, _) = user(&app, "owner").await;
        let p = project(&app, &t, "Busy", false).await;
        let a = node(&app, &t, &p, "a", &[]).await;
        let runs = (0..16).map(|i| {
            let (app, t, a) = (&app, &t, &a);
            async move {
                app.gql(
                    UPDATE,
                    json!({ "i": { "id": a, "summary": format!("s{i}") } }),
                    Some(t),
                )
                .await
            }
        });
        for v in futures_util::future::join_all(runs).await {
            assert!(v.get("errors").is_none(), "{v}");
        }
        let got = app.gql(NODE, json!({ "id": a }), Some(&t)).await;
        assert_eq!(got["data"]["graphNode"]["version"], 17, "{got}");
    }
);

db_test!(versions_guard_concurrent_edits, |app| async move {
    let (t, _) = user(&app, "owner").await;
    let p = project(&app, &t, "Versions", false).await;
    let a = node(&app, &t, &p, "a", &[]).await;
    let v = app
        .gql(
            UPDATE,
            json!({ "i": { "id": a, "prompt": "one", "expectedVersion": 1 } }),
            Some(&t),
        )
        .await;
    assert_eq!(v["data"]["updateGraphNode"]["node"]["version"], 2, "{v}");
    let v = app
        .gql(
            UPDATE,
            json!({ "i": { "id": a, "prompt": "two", "expectedVersion": 1 } }),
            Some(&t),
        )
        .await;
    assert_eq!(code(&v), "CONFLICT");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("version 2")
    );
    let got = app.gql(NODE, json!({ "id": a }), Some(&t)).await;
    assert_eq!(
        got["data"]["graphNode"]["prompt"], "one",
        "the stale write changed nothing"
    );
    // Many moves in one transaction; all-or-nothing.
    let b = node(&app, &t, &p, "b", &[]).await;
    let mv = "mutation($i: MoveGraphNodesInput!) { moveGraphNodes(input: $i) { nodes { id position { x y } version } } }";
    let v = app.gql(mv, json!({ "i": { "moves": [{ "id": a, "position": { "x": 10, "y": 20 } }, { "id": b, "position": { "x": -1, "y": 0.5 } }] } }), Some(&t)).await;
    assert_eq!(
        v["data"]["moveGraphNodes"]["nodes"],
        json!([
            { "id": a, "position": { "x": 10.0, "y": 20.0 }, "version": 3 },
            { "id": b, "position": { "x": -1.0, "y": 0.5 }, "version": 2 }
        ]),
        "{v}"
    );
    let gone = plexus_core::id::encode(plexus_core::IdKind::GraphNode, uuid::Uuid::now_v7());
    let v = app.gql(mv, json!({ "i": { "moves": [{ "id": a, "position": { "x": 0, "y": 0 } }, { "id": gone, "position": { "x": 0, "y": 0 } }] } }), Some(&t)).await;
    assert_eq!(code(&v), "NOT_FOUND");
    let got = app.gql(NODE, json!({ "id": a }), Some(&t)).await;
    assert_eq!(
        got["data"]["graphNode"]["position"],
        json!({ "x": 10.0, "y": 20.0 }),
        "nothing moved"
    );
    let v = app.gql(mv, json!({ "i": { "moves": [] } }), Some(&t)).await;
    assert_eq!(code(&v), "BAD_USER_INPUT");
});

db_test!(
    delete_hides_a_node_and_its_edges_and_restore_brings_them_back,
    |app| async move {
        let (t, _) = user(&app, "owner").await;
        let p = project(&app, &t, "Trash", false).await;
        let a = node(&app, &t, &p, "a", &[]).await;
        let b = node(&app, &t, &p, "b", &[&a]).await;
        let c = node(&app, &t, &p, "c", &[&b]).await;
        let del = "mutation($i: GraphNodeIdInput!) { deleteGraphNode(input: $i) { deletedId } }";
        let res = "mutation($i: GraphNodeIdInput!) { restoreGraphNode(input: $i) { node { id version } } }";
        let counts = "query($id: ID!) { project(id: $id) { nodeCount edgeCount nodes { totalCount } edges { totalCount } } }";
        assert_eq!(
            app.gql(del, json!({ "i": { "id": b } }), Some(&t)).await["data"]["deleteGraphNode"]["deletedId"],
            b.as_str()
        );
        assert_eq!(
            app.gql(NODE, json!({ "id": b }), Some(&t)).await["data"]["graphNode"],
            Value::Null
        );
        let v = app.gql(counts, json!({ "id": p }), Some(&t)).await;
        assert_eq!(
            v["data"]["project"],
            json!({ "nodeCount": 2, "edgeCount": 0, "nodes": { "totalCount": 2 }, "edges": { "totalCount": 0 } })
        );
        let v = app.gql(NODE, json!({ "id": c }), Some(&t)).await;
        assert_eq!(v["data"]["graphNode"]["parents"], json!([]));
        assert_eq!(v["data"]["graphNode"]["ancestors"], json!([]));
        // Edits on a deleted node are NOT_FOUND; deleting twice too.
        assert_eq!(
            code(
                &app.gql(UPDATE, json!({ "i": { "id": b, "prompt": "x" } }), Some(&t))
                    .await
            ),
            "NOT_FOUND"
        );
        assert_eq!(
            code(&app.gql(del, json!({ "i": { "id": b } }), Some(&t)).await),
            "NOT_FOUND"
        );
        assert_eq!(code(&edge(&app, &t, &b, &c).await), "NOT_FOUND");
        assert_eq!(
            code(&edge(&app, &t, &c, &b).await),
            "BAD_USER_INPUT",
            "a deleted target"
        );

        // Meanwhile c → a is allowed (no live path a ⇝ c), so restoring b would close a cycle.
        assert!(edge(&app, &t, &c, &a).await["data"]["createGraphEdge"].is_object());
        let v = app.gql(res, json!({ "i": { "id": b } }), Some(&t)).await;
        assert_eq!(code(&v), "CONFLICT", "{v}");
        assert!(
            v["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(b.as_str())
        );
        let edges = app
            .gql(
                "query($id: ID!) { project(id: $id) { edges { nodes { id source { id } } } } }",
                json!({ "id": p }),
                Some(&t),
            )
            .await;
        let ca = edges["data"]["project"]["edges"]["nodes"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        app.gql(
            "mutation($i: GraphEdgeIdInput!) { deleteGraphEdge(input: $i) { deletedId } }",
            json!({ "i": { "id": ca } }),
            Some(&t),
        )
        .await;
        let v = app.gql(res, json!({ "i": { "id": b } }), Some(&t)).await;
        assert_eq!(v["data"]["restoreGraphNode"]["node"]["version"], 3, "{v}");
        let v = app.gql(NODE, json!({ "id": c }), Some(&t)).await;
        assert_eq!(
            ids(&v["data"]["graphNode"]["ancestors"]),
            [a.as_str(), b.as_str()],
            "edges are back"
        );
        let v = app.gql(counts, json!({ "id": p }), Some(&t)).await;
        assert_eq!(v["data"]["project"]["edgeCount"], 2);
    }
);

const PAGE: &str = "query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) { project(id: $id) {
  nodes(first: $first, after: $after, last: $last, before: $before) { totalCount nodes { prompt } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }";

fn prompts(v: &Value) -> Vec<String> {
    v["data"]["project"]["nodes"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|n| n["prompt"].as_str().unwrap().to_string())
        .collect()
}

db_test!(
    nested_node_pages_go_both_ways_and_survive_inserts,
    |app| async move {
        let (t, _) = user(&app, "owner").await;
        let p = project(&app, &t, "Pages", false).await;
        for i in 0..7 {
            node(&app, &t, &p, &format!("n{i}"), &[]).await;
        }
        let p1 = app
            .gql(PAGE, json!({ "id": p, "first": 3 }), Some(&t))
            .await;
        assert_eq!(prompts(&p1), ["n0", "n1", "n2"]);
        assert_eq!(p1["data"]["project"]["nodes"]["totalCount"], 7);
        let info = &p1["data"]["project"]["nodes"]["pageInfo"];
        assert_eq!(
            (
                info["hasNextPage"].as_bool(),
                info["hasPreviousPage"].as_bool()
            ),
            (Some(true), Some(false))
        );
        let end = info["endCursor"].as_str().unwrap().to_string();
        node(&app, &t, &p, "n7", &[]).await;
        let p2 = app
            .gql(PAGE, json!({ "id": p, "first": 3, "after": end }), Some(&t))
            .await;
        assert_eq!(prompts(&p2), ["n3", "n4", "n5"]);
        let last = app.gql(PAGE, json!({ "id": p, "last": 2 }), Some(&t)).await;
        assert_eq!(prompts(&last), ["n6", "n7"]);
        assert_eq!(
            last["data"]["project"]["nodes"]["pageInfo"]["hasPreviousPage"],
            true
        );
        let start = p2["data"]["project"]["nodes"]["pageInfo"]["startCursor"]
            .as_str()
            .unwrap();
        let back = app
            .gql(
                PAGE,
                json!({ "id": p, "last": 2, "before": start }),
                Some(&t),
            )
            .await;
        assert_eq!(prompts(&back), ["n1", "n2"]);
        let v = app
            .gql(PAGE, json!({ "id": p, "first": 500 }), Some(&t))
            .await;
        assert_eq!(code(&v), "BAD_USER_INPUT");
    }
);

const DASHBOARD: &str = "{ projects(first: 20) { edges { node { id name nodeCount memberCount
  owner { id displayName }
  members(first: 10) { edges { node { role user { id displayName } } } }
  nodes(first: 50) { totalCount nodes { id prompt status children { id } parents { id } createdBy { id } } } } } } }";

async fn build_dataset(
    app: &plexus_tests::TestApp,
    projects: usize,
    nodes_per_project: usize,
) -> String {
    let (t, _) = user(app, &format!("dash{projects}")).await;
    let (_, helper) = user(app, &format!("helper{projects}")).await;
    for i in 0..projects {
        let p = project(app, &t, &format!("p{i}"), false).await;
        add_member(app, &t, &p, &helper, "EDITOR").await;
        let mut prev: Option<String> = None;
        for j in 0..nodes_per_project {
            let parents: Vec<&str> = prev.iter().map(String::as_str).collect();
            prev = Some(node(app, &t, &p, &format!("n{j}"), &parents).await);
        }
    }
    t
}

db_test!(
    nested_queries_cost_the_same_statements_at_any_size,
    |app| async move {
        let small = build_dataset(&app, 2, 3).await;
        let large = build_dataset(&app, 20, 40).await;
        let (v_small, n_small) = app
            .gql_counted_min(DASHBOARD, json!({}), Some(&small))
            .await;
        let (v_large, n_large) = app
            .gql_counted_min(DASHBOARD, json!({}), Some(&large))
            .await;
        assert!(
            v_small["errors"].is_null() && v_large["errors"].is_null(),
            "{v_small} {v_large}"
        );
        let edges = v_large["data"]["projects"]["edges"].as_array().unwrap();
        assert_eq!(edges.len(), 20);
        assert_eq!(
            edges[0]["node"]["nodes"]["nodes"].as_array().unwrap().len(),
            40,
            "more than 32 items: FuturesUnordered yields while resolving them"
        );
        // At most one statement per (loader, level), whatever the rows: auth (cached after
        // the first run), projects, roles, owners, node counts, member counts, member pages,
        // node pages, member users, creators, parent ids and child ids — 12. Related nodes
        // selected by id alone are not read. Batches of one loader at different levels merge
        // when timing allows, never split.
        const BOUND: usize = 12;
        eprintln!(
            "dashboard query: {n_small} / {n_large} SQL statements at 2×3 / 20×40 nodes ({:?})",
            app.backend
        );
        assert!(
            n_small <= BOUND && n_large <= BOUND,
            "statements grew with rows: {n_small} vs {n_large}"
        );
    }
);

db_test!(
    related_nodes_selected_by_id_cost_no_node_reads,
    |app| async move {
        let (t, _) = user(&app, "refs").await;
        let p = project(&app, &t, "Refs", false).await;
        let a = node(&app, &t, &p, "a", &[]).await;
        let b = node(&app, &t, &p, "b", &[&a]).await;
        let c = node(&app, &t, &p, "c", &[&a, &b]).await;
        let ids_only =
            "query($id: ID!) { graphNode(id: $id) { children { id } descendants { id } } }";
        let full =
            "query($id: ID!) { graphNode(id: $id) { children { id prompt version createdBy { id } }
          descendants { prompt } } }";
        // Warm the viewer's cached sign-in, then count.
        app.gql(ids_only, json!({ "id": a }), Some(&t)).await;
        let (v, lean) = app
            .gql_counted_min(ids_only, json!({ "id": a }), Some(&t))
            .await;
        assert_eq!(
            ids(&v["data"]["graphNode"]["children"]),
            [b.as_str(), c.as_str()]
        );
        assert_eq!(
            ids(&v["data"]["graphNode"]["descendants"]),
            [b.as_str(), c.as_str()]
        );
        let (v, rich) = app
            .gql_counted_min(full, json!({ "id": a }), Some(&t))
            .await;
        let children = &v["data"]["graphNode"]["children"];
        assert_eq!(children[0]["prompt"], "b", "{v}");
        assert_eq!(children[1]["prompt"], "c", "{v}");
        assert_eq!(children[1]["version"], 1, "{v}");
        assert!(children[1]["createdBy"]["id"].is_string(), "{v}");
        assert_eq!(
            v["data"]["graphNode"]["descendants"][1]["prompt"], "c",
            "{v}"
        );
        // The node with its project and the viewer's role (one statement), the child ids
        // and the graph: 3, and no read of the related nodes' rows. Selecting more than ids adds the batched read
        // of their rows (one, or one per list when the lists arrive in different passes)
        // and one of their creators.
        assert_eq!(lean, 3, "{:?}", app.backend);
        assert!(
            (lean + 2..=lean + 3).contains(&rich),
            "{rich} statements ({:?})",
            app.backend
        );

        // A deleted child is gone from the ids and from the rows alike.
        let del = "mutation($i: GraphNodeIdInput!) { deleteGraphNode(input: $i) { deletedId } }";
        app.gql(del, json!({ "i": { "id": c } }), Some(&t)).await;
        let v = app.gql(full, json!({ "id": a }), Some(&t)).await;
        assert!(v["errors"].is_null(), "{v}");
        assert_eq!(ids(&v["data"]["graphNode"]["children"]), [b.as_str()]);
        assert_eq!(
            v["data"]["graphNode"]["descendants"][0]["prompt"], "b",
            "{v}"
        );
    }
);

db_test!(
    a_write_moves_project_activity_at_most_once_a_second,
    |app| async move {
        let (t, _) = user(&app, "activity").await;
        let p = project(&app, &t, "Activity", false).await;
        let root = node(&app, &t, &p, "root", &[]).await;
        let updated = |v: &Value| {
            v["data"]["project"]["updatedAt"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let q = "query($id: ID!) { project(id: $id) { updatedAt } }";
        let write = |prompt: &'static str| {
            let (app, t, p, root) = (&app, t.clone(), p.clone(), root.clone());
            async move {
                let writes = app.writes.load(Ordering::SeqCst);
                let (v, statements) = app.gql_counted(
                    "mutation($i: CreateGraphNodeInput!) { createGraphNode(input: $i) { node { id } } }",
                    json!({ "i": { "projectId": p, "prompt": prompt, "position": { "x": 0, "y": 0 }, "parentIds": [root] } }),
                    Some(&t),
                )
                .await;
                assert!(v["errors"].is_null(), "{v}");
                (statements, app.writes.load(Ordering::SeqCst) - writes)
            }
        };

        // Last activity long ago: the write moves it (node, edge and project: 3 writes).
        app.sql("UPDATE projects SET updated_at = '2000-01-01T00:00:00+00:00'")
            .await;
        let (_, writes) = write("first").await;
        assert_eq!(writes, 3, "{:?}", app.backend);
        let moved = updated(&app.gql(q, json!({ "id": p }), Some(&t)).await);
        assert!(moved.as_str() > "2001", "updatedAt moved: {moved}");

        // Activity already recent (here: ahead of the clock): the write leaves it alone
        // and does not send the update at all.
        app.sql("UPDATE projects SET updated_at = '2999-01-01T00:00:00+00:00'")
            .await;
        let (statements, writes) = write("second").await;
        assert_eq!(writes, 2, "{:?}", app.backend);
        let kept = updated(&app.gql(q, json!({ "id": p }), Some(&t)).await);
        assert!(kept.starts_with("2999-01-01"), "updatedAt kept: {kept}");
        // Project and role, parents, node, edge; on PostgreSQL the bus's notification of
        // a write (sent after its commit) may land inside the count as well.
        let bus = usize::from(app.backend == Backend::Postgres);
        assert!(
            (4..=4 + bus).contains(&statements),
            "{statements} statements ({:?})",
            app.backend
        );
    }
);

db_test!(positional_reads_match_reads_by_name, |app| async move {
    use plexus_core::row::{Layout, read_all};
    use plexus_graph::entity::nodes;
    use plexus_projects::entity::projects;
    use sea_orm::{
        ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter,
        QuerySelect, QueryTrait, Set,
    };
    let (t, _) = user(&app, "owner").await;
    let p = project(&app, &t, "Rows", false).await;
    let bare = node(&app, &t, &p, "bare: every optional column NULL", &[]).await;
    let full = node(&app, &t, &p, "full", &[&bare]).await;
    let full =
        plexus_core::GlobalId::parse_as(&full, plexus_core::IdKind::GraphNode, "id").unwrap();
    // Every nullable column of one node set, the deletion stamp included.
    let mut row: nodes::ActiveModel = nodes::Entity::find_by_id(full)
        .one(app.db())
        .await
        .unwrap()
        .unwrap()
        .into();
    row.response = Set(Some("é ✓ \"quoted\" response".into()));
    row.summary = Set(Some("summary".into()));
    row.metadata = Set(Some(
        json!({ "model": { "temperature": 0.5 }, "tags": ["a"] }),
    ));
    row.llm_model = Set(Some("gpt".into()));
    row.llm_tokens = Set(Some(1234));
    row.llm_cost = Set(Some(0.125));
    row.deleted_at = Set(Some(chrono::Utc::now().fixed_offset()));
    row.update(app.db()).await.unwrap();

    let db = app.db();
    let backend = db.get_database_backend();
    let all = |q: sea_orm::Select<nodes::Entity>| async move {
        db.query_all_raw(q.build(backend)).await.unwrap()
    };
    let rows = all(nodes::Entity::find()).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(Layout::of::<nodes::Model>(&rows[0], ""), Layout::At(0));
    let by_name: Vec<nodes::Model> = rows
        .iter()
        .map(|r| nodes::Model::from_query_result(r, "").unwrap())
        .collect();
    assert_eq!(read_all::<nodes::Model>(&rows, "").unwrap(), by_name);
    assert!(
        by_name
            .iter()
            .any(|n| n.deleted_at.is_some() && n.metadata.is_some())
    );
    assert!(
        by_name
            .iter()
            .any(|n| n.response.is_none() && n.llm_cost.is_none())
    );

    // Rows without their content (the pages of a canvas that shows none of it) are read by
    // position too, on PostgreSQL with their column types checked once: the same rows
    // with the content blank.
    let heads = all(plexus_graph::service::node_heads()).await;
    assert_eq!(Layout::of::<nodes::Model>(&heads[0], ""), Layout::At(0));
    let blank: Vec<nodes::Model> = by_name
        .iter()
        .map(|n| nodes::Model {
            prompt: String::new(),
            response: None,
            summary: None,
            metadata: None,
            ..n.clone()
        })
        .collect();
    assert_eq!(read_all::<nodes::Model>(&heads, "").unwrap(), blank);

    // Columns out of the model's order are read by name, and still right.
    let reordered = all(nodes::Entity::find()
        .select_only()
        .column(nodes::Column::ProjectId)
        .columns([nodes::Column::Id, nodes::Column::Prompt])
        .columns([
            nodes::Column::Response,
            nodes::Column::Summary,
            nodes::Column::Status,
            nodes::Column::Position,
            nodes::Column::Metadata,
            nodes::Column::LlmModel,
            nodes::Column::LlmTokens,
            nodes::Column::LlmCost,
            nodes::Column::CreatedBy,
            nodes::Column::Version,
            nodes::Column::CreatedAt,
            nodes::Column::UpdatedAt,
            nodes::Column::DeletedAt,
        ]))
    .await;
    assert_eq!(
        Layout::of::<nodes::Model>(&reordered[0], ""),
        Layout::ByName
    );
    assert_eq!(read_all::<nodes::Model>(&reordered, "").unwrap(), by_name);

    // A column of another type than its field's is an error, even when the first row,
    // whose reads check the types for the rest, holds NULL there (PostgreSQL checks the
    // column's type, so the fast path is not taken; SQLite checks every value).
    let fields = <nodes::Model as plexus_core::row::Positional>::FIELDS;
    let columns: Vec<String> = fields
        .iter()
        .map(|f| match *f {
            "response" => "llm_tokens AS response".to_owned(),
            f => f.to_owned(),
        })
        .collect();
    let mistyped = db
        .query_all_raw(sea_orm::Statement::from_string(
            backend,
            format!(
                "SELECT {} FROM nodes ORDER BY (llm_tokens IS NOT NULL), id",
                columns.join(", ")
            ),
        ))
        .await
        .unwrap();
    assert_eq!(mistyped.len(), 2);
    if backend == sea_orm::DbBackend::Postgres {
        assert_eq!(Layout::of::<nodes::Model>(&mistyped[0], ""), Layout::ByName);
    }
    assert!(read_all::<nodes::Model>(&mistyped, "").is_err());

    // A join names each side's columns with a prefix; each is found at its offset.
    let joined = db
        .query_all_raw(
            nodes::Entity::find()
                .join(
                    sea_orm::JoinType::InnerJoin,
                    nodes::Entity::belongs_to(projects::Entity)
                        .from(nodes::Column::ProjectId)
                        .to(projects::Column::Id)
                        .into(),
                )
                .select_also(projects::Entity)
                .filter(nodes::Column::Id.eq(full))
                .build(backend),
        )
        .await
        .unwrap();
    let fields = <nodes::Model as plexus_core::row::Positional>::FIELDS.len();
    assert_eq!(Layout::of::<nodes::Model>(&joined[0], "A_"), Layout::At(0));
    assert_eq!(
        Layout::of::<projects::Model>(&joined[0], "B_"),
        Layout::At(fields)
    );
    let node: Vec<nodes::Model> = read_all(&joined, "A_").unwrap();
    let owner: Vec<projects::Model> = read_all(&joined, "B_").unwrap();
    assert_eq!(
        node,
        by_name
            .iter()
            .filter(|n| n.id == full)
            .cloned()
            .collect::<Vec<_>>()
    );
    assert_eq!(
        owner,
        vec![projects::Model::from_query_result(&joined[0], "B_").unwrap()]
    );
});

db_test!(node_fields_read_alike_on_every_path, |app| async move {
    // A node's fields are answered at once when its row is at hand (`eager`), through the
    // resolvers when it is a reference (`children`) or when a fragment is selected; all
    // three must give the same answer, and the eager one in selection order.
    let (t, _) = user(&app, "owner").await;
    let p = project(&app, &t, "Paths", false).await;
    let root = node(&app, &t, &p, "root", &[]).await;
    let child = node(&app, &t, &p, "child", &[&root]).await;
    let user = "id username displayName firstName lastName avatarUrl email role";
    let fields = |user: &str| {
        format!(
            "__typename id prompt response summary status version llmModel llmTokens llmCost \
             createdAt updatedAt position {{ y __typename x }} at: position {{ x }} \
             parents {{ id }} createdBy {{ {user} }} \
             project {{ id }} same: prompt"
        )
    };
    let plain = format!(
        "query($id: ID!) {{ graphNode(id: $id) {{ {} }} }}",
        fields(user)
    );
    let fragment = format!(
        "query($id: ID!) {{ graphNode(id: $id) {{ ... on GraphNode {{ {} }} }} }}",
        fields(&format!("... on User {{ {user} }}"))
    );
    let reference = format!(
        "query($id: ID!) {{ graphNode(id: $id) {{ children {{ {} }} }} }}",
        fields(user)
    );
    let a = app.gql(&plain, json!({ "id": child }), Some(&t)).await;
    let b = app.gql(&fragment, json!({ "id": child }), Some(&t)).await;
    let c = app.gql(&reference, json!({ "id": root }), Some(&t)).await;
    assert!(a["errors"].is_null(), "{a}");
    assert_eq!(a["data"]["graphNode"]["prompt"], "child");
    assert_eq!(a["data"]["graphNode"]["same"], "child");
    assert_eq!(
        a["data"]["graphNode"]["position"],
        json!({ "x": 1.5, "y": -2.0, "__typename": "Position" })
    );
    assert_eq!(a["data"]["graphNode"]["at"], json!({ "x": 1.5 }));
    assert_eq!(a["data"]["graphNode"]["status"], "IDLE");
    assert_eq!(a["data"]["graphNode"]["__typename"], "GraphNode");
    assert_eq!(a["data"]["graphNode"]["parents"][0]["id"], root.as_str());
    assert!(
        a["data"]["graphNode"]["createdBy"]["displayName"].is_string(),
        "{a}"
    );
    assert_eq!(a, b, "fragment path");
    assert_eq!(
        a["data"]["graphNode"],
        c["data"]["graphNode"]["children"][0]
    );

    // A list of references selecting only what is at hand is answered at once; with a
    // fragment or a field to load it goes item by item. Same items, same order.
    let second = node(&app, &t, &p, "second", &[&root]).await;
    let lists = app
        .gql(
            "query($id: ID!) { graphNode(id: $id) { \
               at: children { __typename id again: id } \
               spread: children { ... on GraphNode { __typename id again: id } } \
               loaded: children { __typename id again: id prompt } } }",
            json!({ "id": root }),
            Some(&t),
        )
        .await;
    assert!(lists["errors"].is_null(), "{lists}");
    let at = &lists["data"]["graphNode"]["at"];
    assert_eq!(
        *at,
        json!([
            { "__typename": "GraphNode", "id": child, "again": child },
            { "__typename": "GraphNode", "id": second, "again": second },
        ])
    );
    assert_eq!(*at, lists["data"]["graphNode"]["spread"]);
    let loaded = lists["data"]["graphNode"]["loaded"].as_array().unwrap();
    assert_eq!(loaded[1]["prompt"], "second");
    let mut trimmed = lists["data"]["graphNode"]["loaded"].clone();
    for item in trimmed.as_array_mut().unwrap() {
        item.as_object_mut().unwrap().remove("prompt");
    }
    assert_eq!(*at, trimmed);

    // The eager path keeps the selection's order (async-graphql's own follows completion).
    let text = app.gql_text(&plain, json!({ "id": child }), &t).await;
    let keys = [
        "\"__typename\"",
        "\"prompt\"",
        "\"position\"",
        "\"parents\"",
        "\"createdBy\"",
        "\"project\"",
        "\"same\"",
    ];
    let at: Vec<usize> = keys
        .iter()
        .map(|k| text.find(k).unwrap_or_else(|| panic!("{k} in {text}")))
        .collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "selection order: {text}"
    );
});

db_test!(
    pages_answered_together_read_alike_item_by_item,
    |app| async move {
        // A page of nodes is answered together when its selection allows (`eager::all`): each
        // relation loaded once for the page, no future per node. Whatever the path — together,
        // item by item (a fragment), or together with a fallback further down (`prompt` of a
        // reference) — the answer is the same, in selection order, for the same statements.
        let (t, me) = user(&app, "pages").await;
        let p = project(&app, &t, "Pages", false).await;
        let a = node(&app, &t, &p, "a", &[]).await;
        let b = node(&app, &t, &p, "b", &[&a]).await;
        let c = node(&app, &t, &p, "c", &[&a, &b]).await;
        let d = node(&app, &t, &p, "d", &[&c]).await;
        // `c` is a child of both `a` and `b`: its children are asked twice in one list.
        let fields = "__typename id status children { __typename id children { id } } \
        parents { id } createdBy { id username displayName } again: id";
        let edge = |node: &str| format!("__typename cursor node {{ {node} }}");
        let query = |edges: &str, nodes: &str| {
            format!(
                "query($id: ID!) {{ project(id: $id) {{ nodes(first: 10) {{ \
               edges {{ {edges} }} nodes {{ {nodes} }} }} }} }}"
            )
        };
        let together = query(&edge(fields), fields);
        let spread = query(
            &format!("... on GraphNodeEdge {{ {} }}", edge(fields)),
            &format!("... on GraphNode {{ {fields} }}"),
        );
        let inner = query(
            &edge(&format!("... on GraphNode {{ {fields} }}")),
            &format!("{fields} deep: children {{ id prompt }}"),
        );
        app.gql(&together, json!({ "id": p }), Some(&t)).await;
        let (x, n_together) = app
            .gql_counted_min(&together, json!({ "id": p }), Some(&t))
            .await;
        let (y, n_spread) = app
            .gql_counted_min(&spread, json!({ "id": p }), Some(&t))
            .await;
        let z = app.gql(&inner, json!({ "id": p }), Some(&t)).await;
        assert!(x["errors"].is_null(), "{x}");
        let page = &x["data"]["project"]["nodes"];
        let edges = page["edges"].as_array().unwrap();
        assert_eq!(edges.len(), 4);
        assert_eq!(edges[0]["__typename"], "GraphNodeEdge");
        assert!(edges[0]["cursor"].is_string(), "{x}");
        assert_eq!(edges[0]["node"]["id"], a.as_str());
        assert_eq!(edges[0]["node"]["again"], a.as_str());
        assert_eq!(ids(&edges[0]["node"]["children"]), [b.as_str(), c.as_str()]);
        assert_eq!(edges[0]["node"]["children"][1]["__typename"], "GraphNode");
        assert_eq!(ids(&edges[2]["node"]["parents"]), [a.as_str(), b.as_str()]);
        for parent in [0, 1] {
            let c_under = edges[parent]["node"]["children"]
                .as_array()
                .unwrap()
                .iter()
                .find(|n| n["id"] == c.as_str())
                .unwrap_or_else(|| panic!("{x}"));
            assert_eq!(
                ids(&c_under["children"]),
                [d.as_str()],
                "under {parent}: {x}"
            );
        }
        assert_eq!(edges[1]["node"]["createdBy"]["id"], me.as_str());
        assert!(
            edges[1]["node"]["createdBy"]["displayName"].is_string(),
            "{x}"
        );
        assert_eq!(page["nodes"][2], edges[2]["node"]);
        assert_eq!(x, y, "item by item");
        assert!(z["errors"].is_null(), "{z}");
        let zpage = &z["data"]["project"]["nodes"];
        assert_eq!(zpage["edges"], page["edges"], "fragment inside");
        assert_eq!(zpage["nodes"][0]["deep"][1]["prompt"], "c", "{z}");
        assert_eq!(zpage["nodes"][1]["children"], page["nodes"][1]["children"]);

        // A page read without the nodes' content (nothing above shows it) still answers it
        // when a selection does, in a fragment too.
        let content = app
            .gql(
                "query($id: ID!) { project(id: $id) { nodes(first: 10) { \
               nodes { ... on GraphNode { prompt } summary } } } }",
                json!({ "id": p }),
                Some(&t),
            )
            .await;
        assert_eq!(
            content["data"]["project"]["nodes"]["nodes"],
            json!([
            { "prompt": "a", "summary": null },
            { "prompt": "b", "summary": null },
            { "prompt": "c", "summary": null },
            { "prompt": "d", "summary": null },
            ]),
            "{content}"
        );
        assert_eq!(
            n_together, n_spread,
            "same statements together and item by item ({:?})",
            app.backend
        );

        // Together, the answer keeps the selection's order (item by item it follows completion).
        let text = app.gql_text(&together, json!({ "id": p }), &t).await;
        // The first edge (the connection's own fields follow completion: `nodes` may lead).
        let edges = &text[text.find("\"edges\"").unwrap()..];
        let first = &edges[..edges.find("\"again\"").unwrap()];
        let at: Vec<usize> = [
            "\"__typename\":\"GraphNodeEdge\"",
            "\"cursor\"",
            "\"node\"",
            "\"status\"",
            "\"children\"",
            "\"parents\"",
            "\"createdBy\"",
        ]
        .iter()
        .map(|k| first.find(k).unwrap_or_else(|| panic!("{k} in {text}")))
        .collect();
        assert!(
            at.windows(2).all(|w| w[0] < w[1]),
            "selection order: {text}"
        );
    }
);
