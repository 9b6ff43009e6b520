#!/usr/bin/env bash
# The load benchmark of issue 9: builds the release binary, loads the `plexus bench-data`
# dataset into SQLite and a scratch PostgreSQL database, and drives each case of bench.lua
# (and the mix) with wrk at 32 connections. Per case: req/s, p50/p99/p99.9, errors, SQL
# statements per request (server counter plexus_db_statements_total), server CPU (from
# /proc/PID/stat, 100% = one core), CPU milliseconds per request of the server and of
# PostgreSQL (every postgres process) and peak RSS (VmHWM, reset before each case). The
# table goes to stdout and target/bench/results.md.
#
# usage: tests/load/bench.sh [sqlite] [postgres]        (default: both)
# env:   BENCH_SCALE (1), BENCH_SECONDS per case (10), BENCH_WARMUP seconds (2),
#        BENCH_CONNECTIONS (32), BENCH_CASES ("a b c d f mix e"), BENCH_POOL (the server's
#        default pool size), PLEXUS_BIN (a built binary: no build), TEST_POSTGRES_URL
set -euo pipefail
cd "$(dirname "$0")/../.."
here=tests/load
scale=${BENCH_SCALE:-1}
secs=${BENCH_SECONDS:-10}
warm=${BENCH_WARMUP:-2}
conns=${BENCH_CONNECTIONS:-32}
# (e) last: its ~10,000 new nodes hang under the canvas's first 100 nodes, so every read
# after it returns thousands more `children` ids (the mix ran 3.4x slower behind it).
cases=${BENCH_CASES:-a b c d f mix e}
pg_url=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
backends=${*:-sqlite postgres}
out=target/bench
mkdir -p "$out"
log=$out/bench.log
: >"$log"
say() { echo "bench: $*" | tee -a "$log" >&2; }

command -v wrk >/dev/null || {
  say "installing wrk"
  apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
}
start=$(date +%s)
t0=$start
# PLEXUS_BIN: an already built binary (skips the build).
bin=${PLEXUS_BIN:-target/release/plexus}
[ -n "${PLEXUS_BIN:-}" ] || cargo build --release -q -p plexus-server
build_s=$(($(date +%s) - t0))
say "release build: ${build_s}s"

declare -A label=(
  [a]="(a) node(id)"
  [b]="(b) canvas: project → nodes(100) + parents/children"
  [c]="(c) dashboard: projects(20) → nodes(50) → children, createdBy; members; owner"
  [d]="(d) conversation → messages(last: 50) → toolCalls"
  [e]="(e) createGraphNode with a parent"
  [f]="(f) searchDocuments, 384-dim embedding"
  [mix]="mix (a×4 b×2 c e f [d×2])"
)
rows=()
pid=
pgdb=
cleanup() {
  [ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  [ -n "$pgdb" ] && psql "$pg_url" -qc "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

metric() { curl -s -m 5 "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 ~ "^"m"({|$)" { n += $2 } END { printf "%d", n }'; }
# The mix per operation: the server's latency histogram (plexus_graphql_request_duration_seconds,
# by operation name) before and after, as table rows: operations/s and p50/p99 interpolated
# within the buckets, as Prometheus' histogram_quantile does (so only as fine as the buckets).
split_rows() { # before-file after-file seconds backend
  awk -v secs="$3" -v backend="$4" '
    function at(q, op,   want, i, lo, prev) {
      want = q * n[op]; prev = 0; lo = 0
      for (i = 1; i <= nb; i++) {
        if (c[op, i] >= want) {
          if (les[i] == "+Inf") return lo * 1000
          return (lo + (les[i] - lo) * (c[op, i] > prev ? (want - prev) / (c[op, i] - prev) : 1)) * 1000
        }
        prev = c[op, i]; lo = les[i]
      }
      return lo * 1000
    }
    /^plexus_graphql_request_duration_seconds_bucket/ {
      match($1, /operation="[^"]*"/); op = substr($1, RSTART + 11, RLENGTH - 12)
      match($1, /le="[^"]*"/); le = substr($1, RSTART + 4, RLENGTH - 5)
      if (!(le in idx)) { idx[le] = ++nb; les[nb] = le }
      v = (FILENAME == ARGV[1]) ? -$2 : $2
      c[op, idx[le]] += v; if (le == "+Inf") { n[op] += v; ops[op] = 1 }
    }
    END {
      for (op in ops) if (n[op] > 0)
        printf "| %s | mix: its %s operations | %.1f | ~%.0f | ~%.0f | | | | | | |\n", backend, op, n[op] / secs, at(0.5, op), at(0.99, op)
    }' "$1" "$2" | sort
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
# PostgreSQL's CPU: utime+stime of every postgres process (the server's pooled backends
# among them), so each case also states what the database spent per request.
db_ticks() {
  [ "$backend" = postgres ] || { echo 0; return; }
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk '$2 == "(postgres)" { n += $14 + $15 } END { printf "%d", n }'
}

for backend in $backends; do
  tmp=$(mktemp -d)
  case $backend in
    sqlite) db="sqlite://$tmp/bench.db?mode=rwc" ;;
    postgres)
      pgdb=plexus_bench
      psql "$pg_url" -qc "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" -c "CREATE DATABASE $pgdb" >/dev/null
      db="${pg_url%/*}/$pgdb" ;;
    *) say "unknown backend $backend"; exit 2 ;;
  esac
  t0=$(date +%s%N)
  DATABASE_URL=$db PLEXUS_LOG=warn "$bin" bench-data --scale "$scale" >"$tmp/ids.env" 2>>"$log"
  load_s=$(awk -v ns=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.1f", ns / 1e9 }')
  say "$backend: dataset at scale $scale loaded in ${load_s}s ($(du -sh "$tmp" | cut -f1) on disk for SQLite)"
  set -a; . "$tmp/ids.env"; set +a

  port=$((20000 + RANDOM % 20000))
  t0=$(date +%s%N)
  # The pool is the server's default for the backend unless BENCH_POOL sets it.
  DATABASE_URL=$db PLEXUS_BIND=127.0.0.1:$port PLEXUS_LOG=warn \
    PLEXUS_LOGIN_MAX_PER_IP=0 PLEXUS_JWT_SECRET=bench-secret-bench-secret-bench-secret-01 \
    env ${BENCH_POOL:+PLEXUS_DB_MAX_CONNECTIONS=$BENCH_POOL} "$bin" serve >"$out/server-$backend.log" 2>&1 &
  pid=$!
  ready=
  for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && { ready=1; break; }; sleep 0.02; done
  [ -n "$ready" ] || { say "$backend: server not ready in 4 s"; cat "$out/server-$backend.log" >&2; exit 1; }
  startup_ms=$((($(date +%s%N) - t0) / 1000000))
  say "$backend: start-up to ready ${startup_ms} ms"

  TOKEN=$(curl -s "http://127.0.0.1:$port/graphql" -H 'content-type: application/json' \
    -d "{\"query\":\"mutation { login(input: { email: \\\"$BENCH_EMAIL\\\", password: \\\"$BENCH_PASSWORD\\\" }) { accessToken } }\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["login"]["accessToken"])')
  export TOKEN
  HAS_D=0
  curl -s "http://127.0.0.1:$port/graphql" -H 'content-type: application/json' \
    -d '{"query":"{ __type(name: \"Query\") { fields { name } } }"}' | grep -q '"name":"conversation"' && HAS_D=1
  export HAS_D

  for c in $cases; do
    if [ "$c" = d ] && [ "$HAS_D" != 1 ]; then
      say "$backend: skipping (d): the schema has no Query.conversation yet"
      rows+=("| $backend | ${label[d]} | skipped: no \`conversation\` field in this schema yet | | | | | | | | |")
      continue
    fi
    export CASE=$c
    timeout $((warm + 30)) wrk -t2 -c"$conns" -d"${warm}s" --timeout 10s -s $here/bench.lua "http://127.0.0.1:$port" >/dev/null 2>&1 || true
    s0=$(metric plexus_db_statements_total); r0=$(metric plexus_graphql_requests_total); c0=$(cpu_ticks); d0=$(db_ticks)
    curl -s -m 5 "http://127.0.0.1:$port/metrics" >"$out/metrics-$backend-$c-before.txt"
    echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true
    w0=$(date +%s%N)
    timeout $((secs + 60)) wrk -t2 -c"$conns" -d"${secs}s" --timeout 10s --latency -s $here/bench.lua \
      "http://127.0.0.1:$port" >"$out/wrk-$backend-$c.txt" 2>"$out/wrk-$backend-$c.err" || true
    w1=$(date +%s%N)
    s1=$(metric plexus_db_statements_total); r1=$(metric plexus_graphql_requests_total); c1=$(cpu_ticks); d1=$(db_ticks)
    curl -s -m 5 "http://127.0.0.1:$port/metrics" >"$out/metrics-$backend-$c-after.txt"
    hwm=$(awk '/VmHWM/ { print int($2 / 1024) }' "/proc/$pid/status")
    res=$(grep RESULT "$out/wrk-$backend-$c.txt" || echo "RESULT requests=0 errors=? socket_errors=? rps=0 p50_ms=? p99_ms=? p999_ms=?")
    get() { echo "$res" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }
    spr=$(awk -v s=$((s1 - s0)) -v r=$((r1 - r0)) 'BEGIN { printf (r > 0 ? "%.1f" : "?"), (r > 0 ? s / r : 0) }')
    cpu=$(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v ns=$((w1 - w0)) 'BEGIN { printf "%.0f", 100 * t / hz / (ns / 1e9) }')
    # CPU milliseconds per request: the server's, plus PostgreSQL's (SQLite runs inside the server).
    per=$(awk -v t=$((c1 - c0)) -v d=$((d1 - d0)) -v r=$((r1 - r0)) -v hz="$(getconf CLK_TCK)" -v pg="$([ "$backend" = postgres ] && echo 1 || echo 0)" \
      'BEGIN { if (r == 0) { print "?"; exit } ms = 1000 / hz / r; if (pg) printf "%.2f + %.2f", t * ms, d * ms; else printf "%.2f", t * ms }')
    errs="$(get errors)+$(get socket_errors)"
    rows+=("| $backend | ${label[$c]} | $(get rps) | $(get p50_ms) | $(get p99_ms) | $(get p999_ms) | $errs | $spr | $cpu% | $per | $hwm |")
    say "$backend $c: ${rows[-1]}"
    if [ "$c" = mix ]; then
      while IFS= read -r row; do rows+=("$row"); done < <(split_rows "$out/metrics-$backend-$c-before.txt" \
        "$out/metrics-$backend-$c-after.txt" "$(awk -v ns=$((w1 - w0)) 'BEGIN { print ns / 1e9 }')" "$backend")
    fi
    head -3 "$out/wrk-$backend-$c.err" >>"$log" 2>/dev/null || true
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  rows+=("| $backend | start-up to ready: ${startup_ms} ms; dataset load: ${load_s}s | | | | | | | | | |")
  if [ "$backend" = postgres ]; then psql "$pg_url" -qc "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" >/dev/null; pgdb=; fi
  rm -rf "$tmp"
done

{
  echo "Load benchmark: scale $scale, $conns connections, ${secs}s per case after ${warm}s warm-up, wrk -t2 on the same machine"
  echo "($(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), load average before: $(cut -d' ' -f1-3 /proc/loadavg); release build ${build_s}s; $(date -u +%Y-%m-%dT%H:%MZ))."
  echo
  echo "| backend | case | req/s | p50 ms | p99 ms | p99.9 ms | errors (http+socket) | SQL statements/request | server CPU | CPU ms/request (server + PostgreSQL) | peak RSS MiB |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  printf '%s\n' "${rows[@]}"
} | tee "$out/results.md"
say "total $(($(date +%s) - start))s (release build ${build_s}s included)"
