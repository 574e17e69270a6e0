#!/usr/bin/env bash
# bench/run.sh — measures the runtime with wrk against the real server and,
# side by side, nginx + OpenResty's Lua module doing the same JSON encoding.
# Prints and records (bench/results/runtime-<date>.md) throughput and
# latency percentiles at 32 connections for /bench/status, /health and a
# 20 KB static file, and the idle RSS.
#   bench/run.sh [SECONDS=10] [CONNECTIONS=32]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
source scripts/lib/deps.sh
source scripts/lib/build.sh
DUR=${1:-10}
CONNS=${2:-32}
mn_apt_install wrk nginx-light libnginx-mod-http-lua lua-cjson
mn_build "$ROOT/build"

WORK=$(mktemp -d /tmp/medianest-bench.XXXXXX)
trap 'kill $(cat "$WORK"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])' 2>/dev/null ||
  echo $((20000 + RANDOM % 20000)); }
wait_http() { for _ in $(seq 1 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done; return 1; }

# the 20 KB static file, in a static dir of its own
mkdir -p "$WORK/static"
head -c 20480 /dev/urandom | base64 -w 100 | head -c 20480 > "$WORK/static/file20k.txt"
echo '<!doctype html><title>bench</title>' > "$WORK/static/index.html"

MN_PORT=$(free_port)
cat > "$WORK/config.lua" <<CFG
return {
  listen = "127.0.0.1:$MN_PORT",
  http = { access_log = false },
  static = { dir = "$WORK/static" },
  bench = { enabled = true },
  plugins = { enabled = { "health" } },
}
CFG
"$ROOT/build/medianest" serve -c "$WORK/config.lua" >"$WORK/mn.log" 2>&1 &
echo $! > "$WORK/mn.pid"
wait_http "http://127.0.0.1:$MN_PORT/health"
sleep 1
IDLE_RSS_KB=$(awk '/VmRSS/ {print $2}' "/proc/$(cat "$WORK/mn.pid")/status")

NG_PORT=$(free_port)
mkdir -p "$WORK/nginx"
sed "s#@PORT@#$NG_PORT#; s#@PREFIX@#$WORK/nginx#g" bench/openresty/nginx.conf.in > "$WORK/nginx/nginx.conf"
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx/stdout.log" 2>&1 &
echo $! > "$WORK/nginx.pid"
wait_http "http://127.0.0.1:$NG_PORT/bench/status"

measure() {   # measure URL -> "rps p50 p99 errors"
  wrk -t1 -c"$CONNS" -d"${DUR}s" --latency -s "$ROOT/bench/wrk_report.lua" "$1" 2>&1 |
    awk '/^RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); printf "%s ", kv[2] } print "" }'
}
wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$MN_PORT/bench/status" >/dev/null 2>&1   # warm up
wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$NG_PORT/bench/status" >/dev/null 2>&1
read -r S_RPS S_P50 S_P99 S_ERR <<<"$(measure "http://127.0.0.1:$MN_PORT/bench/status")"
read -r H_RPS H_P50 H_P99 H_ERR <<<"$(measure "http://127.0.0.1:$MN_PORT/health")"
read -r F_RPS F_P50 F_P99 F_ERR <<<"$(measure "http://127.0.0.1:$MN_PORT/file20k.txt")"
F_STATUS=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MN_PORT/file20k.txt")
read -r N_RPS N_P50 N_P99 N_ERR <<<"$(measure "http://127.0.0.1:$NG_PORT/bench/status")"
PEAK_RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$(cat "$WORK/mn.pid")/status")
RATIO=$(awk -v a="$S_RPS" -v b="$N_RPS" 'BEGIN { printf "%.0f", 100 * a / b }')

mkdir -p bench/results
OUT="bench/results/runtime-$(date -u +%Y-%m-%d).md"
{
  echo "# Runtime benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "wrk -t1 -c$CONNS -d${DUR}s on loopback; $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs));"
  echo "MediaNest $(git rev-parse --short HEAD 2>/dev/null) (RelWithDebInfo, access log off), nginx $(nginx -v 2>&1 | cut -d/ -f2) + libnginx-mod-http-lua, 1 worker, access log off."
  echo
  echo "| target | req/s | p50 ms | p99 ms | errors |"
  echo "|---|---:|---:|---:|---:|"
  echo "| MediaNest /bench/status | $S_RPS | $S_P50 | $S_P99 | $S_ERR |"
  echo "| OpenResty /bench/status (same encoding) | $N_RPS | $N_P50 | $N_P99 | $N_ERR |"
  echo "| MediaNest /health | $H_RPS | $H_P50 | $H_P99 | $H_ERR |"
  echo "| MediaNest 20 KB static file (HTTP $F_STATUS) | $F_RPS | $F_P50 | $F_P99 | $F_ERR |"
  echo
  echo "- /bench/status throughput relative to OpenResty: **${RATIO} %** (goal: at least 50 %)."
  echo "- Idle RSS after start: **$((IDLE_RSS_KB / 1024)) MiB** ($IDLE_RSS_KB kB); peak RSS after the runs: $((PEAK_RSS_KB / 1024)) MiB."
} | tee "$OUT"
