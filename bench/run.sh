#!/usr/bin/env bash
# bench/run.sh — MediaNest as users run it, side by side with nginx +
# OpenResty's Lua module, in one run, interleaved route by route.
#
# Targets:
#   shipped   `serve --demo`: every default plugin, the pollers, the access
#             log on (to a file), PostgreSQL and Redis under .data/. One
#             change, said in the result: the `api` rate limit is raised (the
#             limiter still runs on every request).
#   stripped  `serve` with only the health and bench plugins, access log off
#             (what this script measured before issue 16), labelled as such.
#   openresty nginx + libnginx-mod-http-lua, 1 worker, access log on
#             (buffered like MediaNest's): bench/openresty/nginx.conf.in.
# Routes: /bench/status (8 services encoded per request), /health (nginx:
# /hello, the same JSON), a 20 KB static file, /api/dashboard/status with a
# user's Bearer token (MediaNest: auth from its cache, the body from L1;
# nginx: the same body encoded per request).
# Per target and route: req/s, p50/p99 at CONNECTIONS, and server CPU time
# per request (user + sys of every thread of the server's processes, from
# /proc/<pid>/task/*/schedstat, ÷ requests): the figure that does not depend
# on how many cores wrk and the neighbours leave free. The machine's load
# average before and after is recorded: on a shared machine, compare CPU per
# request and bench/callgrind.sh's instruction counts, not req/s.
#   bench/run.sh [SECONDS=10] [CONNECTIONS=32]
# Writes bench/results/perf-<date>.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
source scripts/lib/deps.sh
source scripts/lib/build.sh
source scripts/lib/services.sh
source bench/lib.sh
DUR=${1:-10}
CONNS=${2:-32}
mn_bench_prepare wrk nginx-light libnginx-mod-http-lua lua-cjson

WORK=$(mktemp -d /tmp/medianest-bench.XXXXXX)
cleanup() {
  for p in "$WORK"/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done
  sleep 0.5
  mn_drop_test_db
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
# three servers start here: up to 30 s, not bench/lib.sh's 10
wait_http() { for _ in $(seq 1 300); do curl -sf -o /dev/null "$@" && return 0; sleep 0.1; done; return 1; }
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
MN=$ROOT/build/medianest

mkdir -p "$WORK/static" "$WORK/data"
chmod 755 "$WORK" "$WORK/static"   # nginx workers run as nobody
head -c 20480 /dev/urandom | base64 -w 100 | head -c 20480 > "$WORK/static/file20k.txt"
echo '<!doctype html><title>bench</title>' > "$WORK/static/index.html"
export MEDIANEST_DATA_DIR="$WORK/data"

# ---- MediaNest, shipped and stripped --------------------------------------
SHIP_PORT=$(free_port)
cat > "$WORK/shipped.lua" <<CFG
return {
  listen = "127.0.0.1:$SHIP_PORT",
  data_dir = "$WORK/data",
  static = { dir = "$WORK/static" },
  rate_limits = { api = { limit = 1000000000, window = 60 } },
}
CFG
STRIP_PORT=$(free_port)
cat > "$WORK/stripped.lua" <<CFG
return {
  listen = "127.0.0.1:$STRIP_PORT",
  data_dir = "$WORK/data",
  http = { access_log = false },
  static = { dir = "$WORK/static" },
  bench = { enabled = true },
  plugins = { enabled = { "health", "bench" } },
}
CFG
"$MN" migrate -c "$WORK/shipped.lua" >/dev/null
"$MN" user add bench -c "$WORK/shipped.lua" >/dev/null
TOKEN=$("$MN" token create bench -c "$WORK/shipped.lua")
"$MN" serve --demo -c "$WORK/shipped.lua" >"$WORK/shipped.out" 2>"$WORK/shipped.log" &
echo $! > "$WORK/shipped.pid"
"$MN" serve -c "$WORK/stripped.lua" >"$WORK/stripped.out" 2>&1 &
echo $! > "$WORK/stripped.pid"
AUTH="Authorization: Bearer $TOKEN"
DASH="http://127.0.0.1:$SHIP_PORT/api/dashboard/status"
wait_http -H "$AUTH" "$DASH"
wait_http "http://127.0.0.1:$STRIP_PORT/health"
for _ in $(seq 1 100); do   # the first poller cycle: the body is the real one
  curl -sf -H "$AUTH" "$DASH" > "$WORK/status.json"
  grep -q '"kuma:1"' "$WORK/status.json" && break
  sleep 0.1
done
IDLE_RSS_KB=$(awk '/VmRSS/ {print $2}' "/proc/$(cat "$WORK/shipped.pid")/status")

# ---- nginx + OpenResty ------------------------------------------------------
NG_PORT=$(free_port)
mkdir -p "$WORK/nginx"
ln -s "$WORK/static" "$WORK/nginx/static"
sed "s#@PORT@#$NG_PORT#; s#@PREFIX@#$WORK/nginx#g; s#@WORKERS@#1#; s#@STATUS_JSON@#$WORK/status.json#" \
  bench/openresty/nginx.conf.in > "$WORK/nginx/nginx.conf"
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx/stdout.log" 2>&1 &
echo $! > "$WORK/nginx.pid"
wait_http "http://127.0.0.1:$NG_PORT/bench/status"

# ---- measuring ----------------------------------------------------------------
cat > "$WORK/report.lua" <<'LUA'
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
done = function(summary, latency)
  io.write(string.format("RESULT %d %.3f %.3f %d %.3f\n", summary.requests,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.status + summary.errors.timeout, summary.duration / 1e6))
end
LUA
# CPU nanoseconds so far of every thread of a process and its children
cpu_ns() {
  local pids="$1 $(pgrep -P "$1" | tr '\n' ' ')" total=0
  for p in $pids; do
    for t in /proc/"$p"/task/*/schedstat; do
      [ -r "$t" ] && total=$((total + $(cut -d' ' -f1 "$t")))
    done
  done
  echo "$total"
}
ROWS=()
# measure LABEL PID URL [TOKEN]
measure() {
  local label=$1 pid=$2 url=$3 token=${4:-}
  BENCH_TOKEN=$token wrk -t1 -c"$CONNS" -d2s -s "$WORK/report.lua" "$url" >/dev/null 2>&1   # warm
  local c0; c0=$(cpu_ns "$pid")
  local out; out=$(BENCH_TOKEN=$token wrk -t1 -c"$CONNS" -d"${DUR}s" --latency -s "$WORK/report.lua" "$url" 2>&1 |
    awk '/^RESULT/ { print $2, $3, $4, $5, $6 }')
  local c1; c1=$(cpu_ns "$pid")
  read -r n p50 p99 errs secs <<<"$out"
  local rps; rps=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
  local cpu; cpu=$(awk -v c=$((c1 - c0)) -v n="$n" 'BEGIN { printf "%.1f", c / n / 1000 }')
  local code; code=$(curl -s -o /dev/null -w '%{http_code}' ${token:+-H "Authorization: Bearer $token"} "$url")
  ROWS+=("| $label | $code | $rps | $p50 | $p99 | $errs | $cpu |")
  echo "${ROWS[-1]}"
}
S=http://127.0.0.1:$SHIP_PORT T=http://127.0.0.1:$STRIP_PORT N=http://127.0.0.1:$NG_PORT
SP=$(cat "$WORK/shipped.pid") TP=$(cat "$WORK/stripped.pid") NP=$(cat "$WORK/nginx.pid")
measure "shipped /bench/status" "$SP" "$S/bench/status"
measure "openresty /bench/status" "$NP" "$N/bench/status"
measure "stripped /bench/status" "$TP" "$T/bench/status"
measure "shipped /health" "$SP" "$S/health"
measure "openresty /hello" "$NP" "$N/hello"
measure "stripped /health" "$TP" "$T/health"
measure "shipped 20 KB static file" "$SP" "$S/file20k.txt"
measure "openresty 20 KB static file" "$NP" "$N/file20k.txt"
measure "shipped /api/dashboard/status (Bearer)" "$SP" "$DASH" "$TOKEN"
measure "openresty /api/dashboard/status" "$NP" "$N/api/dashboard/status"
PEAK_RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$SP/status")
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
LOGGED=$(grep -c '"msg":"request"' "$WORK/shipped.log" || true)

mkdir -p bench/results
OUT="bench/results/perf-$(date -u +%Y-%m-%d).md"
{
  echo "# MediaNest vs nginx + OpenResty, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "wrk -t1 -c$CONNS -d${DUR}s per row on loopback, after a 2 s warm-up, rows interleaved;"
  echo "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), **shared**:"
  echo "load average $LOAD_BEFORE before, $LOAD_AFTER after. MediaNest $(git rev-parse --short HEAD) (RelWithDebInfo), 1 process;"
  echo "nginx $(nginx -v 2>&1 | cut -d/ -f2) + libnginx-mod-http-lua, 1 worker, access log on (buffered)."
  echo "shipped = \`serve --demo\` (default plugins, pollers, access log on: $LOGGED lines written, \`api\`"
  echo "rate limit raised); stripped = health + bench plugins, access log off."
  echo "CPU µs/req = user + sys of the server's threads during the row ÷ its requests."
  echo
  echo "| target | HTTP | req/s | p50 ms | p99 ms | errors | CPU µs/req |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "Idle RSS (shipped, after start): $((IDLE_RSS_KB / 1024)) MiB; peak after the runs: $((PEAK_RSS_KB / 1024)) MiB."
} | tee "$OUT"
