#!/usr/bin/env bash
# The database's own ceiling for the read cases of bench.lua: the server runs each case once
# with every SQL statement logged (target plexus_sql), those exact statements become one
# pgbench transaction, and pgbench replays them with prepared statements at the same
# concurrency as the API benchmark. One pgbench transaction = the SQL of one API request,
# so "API req/s ÷ pgbench tps" is the fraction of the database's speed the API reaches
# (computed from target/bench/results.md, the PostgreSQL rows of the last `just bench`, when
# it is there). The server runs with the sign-in cached for the whole capture, as it is
# under load (it re-reads the user once a second there, not once a request).
#
# usage: tests/load/pgbench.sh   env: BENCH_SCALE (1), BENCH_SECONDS (10), BENCH_CONNECTIONS (32)
set -euo pipefail
cd "$(dirname "$0")/../.."
here=tests/load
scale=${BENCH_SCALE:-1}
secs=${BENCH_SECONDS:-10}
conns=${BENCH_CONNECTIONS:-32}
pg_url=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
out=target/bench/pgbench
rm -rf "$out" && mkdir -p "$out"
bin=${PLEXUS_BIN:-target/release/plexus}
[ -n "${PLEXUS_BIN:-}" ] || cargo build --release -q -p plexus-server

db=plexus_bench_sql
url="${pg_url%/*}/$db"
pid=
cleanup() {
  [ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  psql "$pg_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
psql "$pg_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
DATABASE_URL=$url PLEXUS_LOG=warn "$bin" bench-data --scale "$scale" >"$out/ids.env" 2>/dev/null
set -a; . "$out/ids.env"; set +a

port=$((20000 + RANDOM % 20000))
DATABASE_URL=$url PLEXUS_BIND=127.0.0.1:$port PLEXUS_LOG=warn,plexus_sql=debug PLEXUS_LOG_FORMAT=json \
  PLEXUS_AUTH_CACHE_MS=600000 PLEXUS_JWT_SECRET=bench-secret-bench-secret-bench-secret-01 "$bin" serve >"$out/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.05; done
TOKEN=$(curl -s "http://127.0.0.1:$port/graphql" -H 'content-type: application/json' \
  -d "{\"query\":\"mutation { login(input: { email: \\\"$BENCH_EMAIL\\\", password: \\\"$BENCH_PASSWORD\\\" }) { accessToken } }\"}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["login"]["accessToken"])')
export TOKEN

# One request per case (the body bench.lua would send), its statements cut from the log.
capture() {
  local case=$1 body=$2 before
  curl -s "http://127.0.0.1:$port/graphql" -H 'content-type: application/json' -H "authorization: Bearer $TOKEN" -d "$body" >/dev/null
  sleep 0.3
  before=$(wc -l <"$out/server.log")
  curl -s "http://127.0.0.1:$port/graphql" -H 'content-type: application/json' -H "authorization: Bearer $TOKEN" -d "$body" >"$out/$case.json"
  sleep 0.3
  tail -n +$((before + 1)) "$out/server.log" | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("target") == "plexus_sql":
        print(e["fields"]["message"].rstrip(";") + ";")
' >"$out/$case.sql"
  echo "$case: $(wc -l <"$out/$case.sql") statements" >&2
}
node=${NODES%%,*}
emb=$(python3 -c "import random; random.seed(7); print(','.join('%.4f' % (random.random() * 2 - 1) for _ in range($DIMENSIONS)))")
capture a "{\"query\":\"query(\$id: ID!) { node(id: \$id) { id ... on GraphNode { prompt status version } } }\",\"variables\":{\"id\":\"$node\"}}"
capture b "{\"query\":\"query(\$id: ID!) { project(id: \$id) { id nodes(first: 100) { edges { node { id position { x y } status parents { id } children { id } } } } } }\",\"variables\":{\"id\":\"$PROJECT\"}}"
capture c '{"query":"{ projects(first: 20) { edges { node { id name owner { id username } members(first: 10) { edges { node { role user { id username } } } } nodes(first: 50) { edges { node { id status children { id } createdBy { id username } } } } } } } }"}'
conversation=${CONVERSATIONS%%,*}
capture d "{\"query\":\"query(\$id: ID!) { conversation(id: \$id) { id messages(last: 50) { edges { node { id role content toolCalls { id name } } } } } }\",\"variables\":{\"id\":\"$conversation\"}}"
capture f "{\"query\":\"query(\$i: SearchDocumentsInput!) { searchDocuments(input: \$i) { score document { id title } } }\",\"variables\":{\"i\":{\"embedding\":[$emb],\"limit\":10}}}"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=

{
  echo "Database ceiling: pgbench -M prepared, $conns clients, 2 threads, ${secs}s per case, scale $scale ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))."
  echo "One pgbench transaction = the SQL statements of one API request, replayed as captured."
  echo
  echo "| case | statements | pgbench tps | pgbench latency avg ms | API req/s (last \`just bench\`) | API / database |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
  for c in a b c d f; do
    pgbench -n -M prepared -c "$conns" -j 2 -T "$secs" -f "$out/$c.sql" "$url" >"$out/$c.txt" 2>&1 || true
    tps=$(awk '/^tps/ { printf "%.0f", $3 }' "$out/$c.txt")
    lat=$(awk '/^latency average/ { print $4 }' "$out/$c.txt")
    api=$(awk -F'|' -v c="($c)" '$2 ~ /postgres/ && index($3, " " c " ") == 1 { gsub(/ /, "", $4); print $4 }' \
      target/bench/results.md 2>/dev/null | head -n 1 || true)
    share=$(awk -v a="${api:-0}" -v t="${tps:-0}" 'BEGIN { if (a > 0 && t > 0) printf "%.0f%%", 100 * a / t }')
    echo "| $c | $(wc -l <"$out/$c.sql") | $tps | $lat | ${api:-} | $share |"
  done
} | tee "$out/results.md"
