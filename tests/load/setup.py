#!/usr/bin/env python3
"""Creates the data a load run needs through the public API (a user, projects with members
and a canvas of nodes joined by edges) and prints it as shell variables for the Lua scripts:
TOKEN, PROJECT, NODES (comma-separated node ids). Standard library only.

usage: setup.py BASE_URL [projects] [nodes-per-project]
"""
import json
import sys
import urllib.request
import uuid

base = sys.argv[1].rstrip("/")
n_projects = int(sys.argv[2]) if len(sys.argv) > 2 else 5
n_nodes = int(sys.argv[3]) if len(sys.argv) > 3 else 200


def gql(query, variables=None, token=None):
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(base + "/graphql", data=body, method="POST")
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=60) as r:
        v = json.load(r)
    if v.get("errors"):
        sys.exit(f"setup failed: {v['errors']}")
    return v["data"]


def register(name):
    d = gql(
        "mutation($i: RegisterInput!) { register(input: $i) { accessToken user { id } } }",
        {"i": {"email": f"{name}-{uuid.uuid4().hex[:8]}@load.test", "password": "Load-test-password-1"}},
    )["register"]
    return d["accessToken"], d["user"]["id"]


token, _ = register("owner")
members = [register(f"member{i}")[1] for i in range(4)]
first_project, nodes = None, []
for p in range(n_projects):
    project = gql(
        "mutation($i: CreateProjectInput!) { createProject(input: $i) { project { id } } }",
        {"i": {"name": f"load {p}", "isPublic": False}},
        token,
    )["createProject"]["project"]["id"]
    for m in members:
        gql(
            "mutation($i: AddProjectMemberInput!) { addProjectMember(input: $i) { member { id } } }",
            {"i": {"projectId": project, "userId": m, "role": "EDITOR"}},
            token,
        )
    ids = []
    for i in range(n_nodes):
        # A canvas shaped like a conversation tree: every node has up to two parents.
        parents = [ids[(i - 1) // 2]] if ids else []
        if i > 2 and i % 3 == 0:
            parents.append(ids[i - 2])
        parents = list(dict.fromkeys(parents))
        node = gql(
            "mutation($i: CreateGraphNodeInput!) { createGraphNode(input: $i) { node { id } } }",
            {"i": {"projectId": project, "prompt": f"prompt {i}", "position": {"x": i * 10.0, "y": 0.0}, "parentIds": parents}},
            token,
        )["createGraphNode"]["node"]["id"]
        ids.append(node)
    if first_project is None:
        first_project, nodes = project, ids

print(f"TOKEN={token}")
print(f"PROJECT={first_project}")
print(f"NODES={','.join(nodes)}")
