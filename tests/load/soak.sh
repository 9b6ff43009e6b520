#!/usr/bin/env bash
# Soak: mixed GraphQL traffic (reads and writes, see mix.lua) against the release server for
# a while (default 600 s), then a report: errors, throughput (whole run, first and last
# minute), latency, memory (RSS in the first and last minute, peak). Exits non-zero when
# any request failed, the server logged a panic or died, or wrk did not finish in time.
#
# usage: tests/load/soak.sh [seconds] [connections] [sqlite|postgres]
#   postgres uses a scratch database (plexus_soak) on $TEST_POSTGRES_URL's server,
#   created and dropped here. Results are kept in target/soak/<backend>/.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-600}
connections=${2:-16}
backend=${3:-${SOAK_BACKEND:-sqlite}}
here=tests/load
pg_url=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}

# Access tokens live 15 minutes and the script signs in once.
if [ "$duration" -gt 840 ] || [ "$duration" -lt 120 ]; then
  echo "soak: duration must be 120-840 s (access tokens expire after 15 minutes)" >&2
  exit 2
fi
command -v wrk >/dev/null || {
  echo "soak: installing wrk"
  apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
}
# PLEXUS_BIN: an already built binary (skips the build).
bin=${PLEXUS_BIN:-target/release/plexus}
[ -n "${PLEXUS_BIN:-}" ] || cargo build --release -q -p plexus-server

out=target/soak/$backend
rm -rf "$out" && mkdir -p "$out"
tmp=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
case $backend in
  sqlite) db="sqlite://$tmp/soak.db?mode=rwc" ;;
  postgres)
    psql "$pg_url" -qc "DROP DATABASE IF EXISTS plexus_soak WITH (FORCE)" -c "CREATE DATABASE plexus_soak"
    db="${pg_url%/*}/plexus_soak" ;;
  *) echo "soak: backend is sqlite or postgres" >&2; exit 2 ;;
esac
export DATABASE_URL=$db PLEXUS_BIND=127.0.0.1:$port PLEXUS_LOG=warn \
  PLEXUS_REGISTER_MAX_PER_IP=0 PLEXUS_LOGIN_MAX_PER_IP=0 PLEXUS_JWT_SECRET=soak-secret-soak-secret-soak-secret-0123
"$bin" serve >"$out/server.log" 2>&1 &
pid=$!
sampler=
cleanup() {
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ "$backend" = postgres ] && psql "$pg_url" -qc "DROP DATABASE IF EXISTS plexus_soak WITH (FORCE)" || true
  rm -rf "$tmp"
}
trap cleanup EXIT
ready=
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && { ready=1; break; }; sleep 0.1; done
[ -n "$ready" ] || { echo "soak: the server did not become ready in 10 s" >&2; cat "$out/server.log" >&2; exit 1; }

eval "$(timeout 300 python3 $here/setup.py "http://127.0.0.1:$port" 5 200)"
export TOKEN PROJECT NODES

# Every 5 s: time, RSS (MiB), GraphQL operations answered so far (from /metrics).
sample() {
  local rss ops
  rss=$(awk '/VmRSS/ { print int($2 / 1024) }' "/proc/$pid/status" 2>/dev/null || echo 0)
  ops=$(curl -s -m 2 "http://127.0.0.1:$port/metrics" | awk '/^plexus_graphql_requests_total/ { n += $2 } END { print n + 0 }')
  echo "$(date +%s) $rss $ops"
}
(while kill -0 $pid 2>/dev/null; do sample >>"$out/samples"; sleep 5; done) &
sampler=$!

echo "soak: ${duration}s, $connections connections, $backend, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
cpu0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
status=0
timeout $((duration + 60)) wrk -t2 -c"$connections" -d"${duration}s" --timeout 10s --latency -s $here/mix.lua \
  "http://127.0.0.1:$port" >"$out/wrk.txt" 2>"$out/wrk.err" || status=$?
cat "$out/wrk.txt"
head -5 "$out/wrk.err" >&2 || true
cpu1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo "$cpu0")
sample >>"$out/samples"
kill $sampler 2>/dev/null || true
sampler=

# First minute against last minute: mean RSS and operations per second.
awk -v d="$duration" 'NR == 1 { t0 = $1; o0 = $3 } {
    t = $1 - t0; if ($2 > peak) peak = $2
    if (t <= 60) { a += $2; na++; oa = $3; ta = t }
    if (t >= d - 60 && t <= d) { b += $2; nb++; if (!tb0) { tb0 = t; ob0 = $3 } tb = t; ob = $3 } }
  END { printf "MEMORY rss_first_minute_mb=%.1f rss_last_minute_mb=%.1f growth_mb=%.1f peak_sampled_mb=%d\n",
    a / na, b / nb, b / nb - a / na, peak
    printf "THROUGHPUT first_minute_rps=%.1f last_minute_rps=%.1f\n",
    (oa - o0) / (ta > 0 ? ta : 1), (ob - ob0) / (tb > tb0 ? tb - tb0 : 1) }' "$out/samples" | tee "$out/summary"
alive=yes
kill -0 $pid 2>/dev/null || alive=no
hwm=$(awk '/VmHWM/ { print int($2 / 1024) }' "/proc/$pid/status" 2>/dev/null || echo "?")
panics=$(grep -c -i 'panic' "$out/server.log" || true)
echo "SERVER alive=$alive peak_rss_mb=$hwm cpu_s=$(( (cpu1 - cpu0) / $(getconf CLK_TCK) )) panics=$panics log_lines=$(wc -l <"$out/server.log")" | tee -a "$out/summary"
grep RESULT "$out/wrk.txt" >>"$out/summary" || true
if [ "$status" != 0 ] || [ "$alive" != yes ] || [ "$panics" != 0 ] ||
  ! grep -q 'RESULT.* errors=0 socket_errors=0 ' "$out/wrk.txt"; then
  echo "soak: FAILED (wrk exit $status, server alive $alive, panics $panics; see $out/)" >&2
  exit 1
fi
echo "soak: passed (results in $out/)"
