#!/usr/bin/env bash
# bench/status.sh — GET /api/dashboard/status with a user's Bearer token,
# MediaNest in the shipped default configuration (`serve --demo`: every
# default plugin, the status poller running, access log on, Redis and
# PostgreSQL under .data/), side by side with nginx + OpenResty's Lua
# module serving the same JSON (the body MediaNest answered, decoded once
# and encoded with cjson on every request, as bench/openresty does for
# /bench/status). wrk at 32 connections. Records
# bench/results/status-route-<date>.md with both figures, the ratio, p99,
# and the machine's load average before the run.
#   bench/status.sh [SECONDS=10] [CONNECTIONS=32]
# One change from the defaults, said in the result: the `api` rate limit
# is raised (100/min per user would answer 429 after the first 100
# requests); the limiter still runs on every request.
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

WORK=$(mktemp -d /tmp/medianest-bench-status.XXXXXX)
cleanup() {
  kill "$(cat "$WORK/mn.pid" 2>/dev/null)" "$(cat "$WORK/nginx.pid" 2>/dev/null)" 2>/dev/null || true
  mn_drop_test_db
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])' 2>/dev/null ||
  echo $((20000 + RANDOM % 20000)); }
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

MN_PORT=$(free_port)
cat > "$WORK/config.lua" <<CFG
return {
  listen = "127.0.0.1:$MN_PORT",
  data_dir = "$WORK/data",
  rate_limits = { api = { limit = 1000000000, window = 60 } },
}
CFG
export MEDIANEST_DATA_DIR="$WORK/data"
mkdir -p "$WORK/data"
"$ROOT/build/medianest" migrate -c "$WORK/config.lua" >/dev/null
"$ROOT/build/medianest" user add bench -c "$WORK/config.lua" >/dev/null
TOKEN=$("$ROOT/build/medianest" token create bench -c "$WORK/config.lua")
"$ROOT/build/medianest" serve --demo -c "$WORK/config.lua" >"$WORK/mn.log" 2>&1 &
echo $! > "$WORK/mn.pid"
AUTH="Authorization: Bearer $TOKEN"
URL="http://127.0.0.1:$MN_PORT/api/dashboard/status"
wait_http -H "$AUTH" "$URL"
# wait for the first poller cycle, so the body is the real one
for _ in $(seq 1 100); do
  curl -sf -H "$AUTH" "$URL" > "$WORK/status.json"
  grep -q '"kuma:1"' "$WORK/status.json" && break
  sleep 0.1
done
BYTES=$(wc -c < "$WORK/status.json")

NG_PORT=$(free_port)
mkdir -p "$WORK/nginx"
cat > "$WORK/nginx/nginx.conf" <<NGX
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  lua_package_cpath "/usr/lib/x86_64-linux-gnu/lua/5.1/?.so;;";
  init_by_lua_block {
    cjson = require "cjson"
    local f = io.open("$WORK/status.json")
    status = cjson.decode(f:read("*a"))
    f:close()
  }
  server {
    listen 127.0.0.1:$NG_PORT;
    location = /api/dashboard/status {
      default_type application/json;
      content_by_lua_block { ngx.print(cjson.encode(status)) }
    }
  }
}
NGX
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx/stdout.log" 2>&1 &
echo $! > "$WORK/nginx.pid"
wait_http "http://127.0.0.1:$NG_PORT/api/dashboard/status"

cat > "$WORK/auth.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $TOKEN"
dofile("$ROOT/bench/wrk_report.lua")
LUA
measure() {   # measure URL -> "rps p50 p99 errors"
  wrk -t1 -c"$CONNS" -d"${DUR}s" --latency -s "$WORK/auth.lua" "$1" 2>&1 |
    awk '/^RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); printf "%s ", kv[2] } print "" }'
}
wrk -t1 -c"$CONNS" -d2s -s "$WORK/auth.lua" "$URL" >/dev/null 2>&1   # warm up
wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$NG_PORT/api/dashboard/status" >/dev/null 2>&1
read -r M_RPS M_P50 M_P99 M_ERR <<<"$(measure "$URL")"
read -r N_RPS N_P50 N_P99 N_ERR <<<"$(measure "http://127.0.0.1:$NG_PORT/api/dashboard/status")"
RATIO=$(awk -v a="$M_RPS" -v b="$N_RPS" 'BEGIN { printf "%.0f", 100 * a / b }')
CODE=$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" "$URL")
LOGGED=$(grep -c '"msg":"request".*dashboard/status' "$WORK/mn.log" || true)

mkdir -p bench/results
OUT="bench/results/status-route-$(date -u +%Y-%m-%d).md"
{
  echo "# GET /api/dashboard/status, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "wrk -t1 -c$CONNS -d${DUR}s on loopback, Authorization: Bearer <a user's API token>;"
  echo "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)); load average before the run: $LOAD_BEFORE."
  echo "MediaNest $(git rev-parse --short HEAD 2>/dev/null) (RelWithDebInfo): \`serve --demo\`, every default plugin,"
  echo "status poller every 30 s, access log on (to a file: $LOGGED lines for this route), PostgreSQL and Redis"
  echo "under .data/; \`api\` rate limit raised so the limiter answers 200 (it still runs)."
  echo "nginx $(nginx -v 2>&1 | cut -d/ -f2) + libnginx-mod-http-lua, 1 worker, access log off, encoding the same"
  echo "$BYTES-byte body with cjson on every request."
  echo
  echo "| target | req/s | p50 ms | p99 ms | errors |"
  echo "|---|---:|---:|---:|---:|"
  echo "| MediaNest /api/dashboard/status (HTTP $CODE) | $M_RPS | $M_P50 | $M_P99 | $M_ERR |"
  echo "| OpenResty, same JSON | $N_RPS | $N_P50 | $N_P99 | $N_ERR |"
  echo
  echo "- Throughput relative to OpenResty: **${RATIO} %**."
} | tee "$OUT"
