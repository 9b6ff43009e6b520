# Routine commands for Plexus. `just --list` shows them all.

set shell := ["bash", "-euo", "pipefail", "-c"]

pg_url := env_var_or_default("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")

# Serve the API (SQLite plexus.db by default) with GraphiQL at http://127.0.0.1:8080/graphql
run:
    cargo run --release

# Every test on SQLite, and on PostgreSQL when TEST_POSTGRES_URL is set
test:
    cargo test --workspace

# Every test on SQLite and on the local PostgreSQL
test-all:
    TEST_POSTGRES_URL={{pg_url}} cargo test --workspace

# Property test: random and mutated GraphQL documents against the real schema (many cases)
fuzz cases="20000":
    PROPTEST_CASES={{cases}} cargo test -p plexus-tests --test e2e -- fuzz --nocapture

# Regenerate schema.graphql (commit it with every API change)
schema:
    cargo run -q -p plexus-server -- schema > schema.graphql

# Regenerate the SeaORM entities from a freshly migrated PostgreSQL database (needs sea-orm-cli 2.0.4)
entities:
    #!/usr/bin/env bash
    set -euo pipefail
    command -v sea-orm-cli >/dev/null || cargo install sea-orm-cli@2.0.4 --locked --no-default-features --features codegen,sqlx-postgres,sqlx-sqlite,runtime-tokio-rustls
    db=plexus_entities
    url="{{pg_url}}"
    base="${url%/*}"
    psql "$url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
    DATABASE_URL="$base/$db" cargo run -q -p plexus-server -- migrate up
    gen() { sea-orm-cli generate entity -u "$base/$db" --entity-format dense --with-serde none -o "$1" -t "$2"; }
    gen crates/users/src/entity users,refresh_tokens,notifications
    gen crates/projects/src/entity projects,project_members,project_presence
    gen crates/graph/src/entity nodes,edges
    gen crates/agents/src/entity agents,agent_tools,agent_knowledge_packs,agent_tasks,tools,knowledge_packs,documents,memories,workflows,workflow_participants,workflow_executions,system_logs
    gen crates/conversations/src/entity conversations,messages,tool_calls
    gen crates/media/src/entity media,voice_interactions
    psql "$url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
    cargo fmt --all

# Load benchmark of issue 9 (release build, wrk, 32 connections), SQLite and PostgreSQL (`just bench sqlite`: one)
bench *backends:
    TEST_POSTGRES_URL={{pg_url}} tests/load/bench.sh {{backends}}

# Graph traversal benchmark (release build): a 10,000-node canvas, SQLite and PostgreSQL
bench-graph:
    TEST_POSTGRES_URL={{pg_url}} cargo bench -p plexus-tests --bench graph

# The same reads as plain SQL through pgbench (prepared statements): the database's own ceiling
bench-sql:
    TEST_POSTGRES_URL={{pg_url}} tests/load/pgbench.sh

# Soak: mixed reads and writes, 10 minutes by default, on sqlite or postgres; fails on any error
soak seconds="600" backend="sqlite" connections="16":
    TEST_POSTGRES_URL={{pg_url}} tests/load/soak.sh {{seconds}} {{connections}} {{backend}}

# Load the deterministic benchmark dataset into DATABASE_URL (an empty database)
bench-data scale="1":
    cargo run --release -- bench-data --scale {{scale}}

# Fan-out benchmark (release build): 1,000 WebSocket subscribers on one project, one mutation
# per 10 ms, p50/p99 delivery latency and server memory per connection (SQLite and PostgreSQL)
bench-fanout subscribers="1000" secs="5":
    ulimit -n 20000 2>/dev/null || true; FANOUT_SUBSCRIBERS={{subscribers}} FANOUT_SECS={{secs}} TEST_POSTGRES_URL={{pg_url}} cargo bench -p plexus-tests --bench fanout

# Add the demo data (idempotent)
seed:
    cargo run --release -- seed

# Formatting and lints, as CI wants them
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# What CI runs
ci:
    bash .ci/run

# Refresh the vendored GraphiQL assets from the npm registry (versions in assets/graphiql/SHA256SUMS)
graphiql-assets graphiql="4.1.2" react="18.3.1":
    #!/usr/bin/env bash
    set -euo pipefail
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
    out=crates/server/assets/graphiql
    (cd "$tmp" && npm pack --silent graphiql@{{graphiql}} react@{{react}} react-dom@{{react}} >/dev/null)
    for p in graphiql-{{graphiql}} react-{{react}} react-dom-{{react}}; do mkdir -p "$tmp/$p" && tar xzf "$tmp/$p.tgz" -C "$tmp/$p"; done
    cp "$tmp/graphiql-{{graphiql}}/package/graphiql.min."{js,css} "$out/"
    cp "$tmp/react-{{react}}/package/umd/react.production.min.js" "$out/"
    cp "$tmp/react-dom-{{react}}/package/umd/react-dom.production.min.js" "$out/"
    (cd "$out" && sha256sum *.js *.css > SHA256SUMS && cat SHA256SUMS)
