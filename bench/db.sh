#!/usr/bin/env bash
# bench/db.sh — a route reading one row by primary key, through the
# PostgreSQL pool and through the L1 cache, with wrk at 32 connections
# (issue 3). Uses DATABASE_URL when set, else the PostgreSQL under .data/
# (started if needed); a fresh database holds 10,000 users, and wrk asks for
# random ids among them. Records bench/results/db-<date>.md.
#   bench/db.sh [SECONDS=10] [CONNECTIONS=32]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
source scripts/lib/deps.sh
source scripts/lib/build.sh
source scripts/lib/services.sh
source bench/lib.sh
DUR=${1:-10}
CONNS=${2:-32}
ROWS=10000
mn_bench_prepare wrk

WORK=$(mktemp -d /tmp/medianest-bench-db.XXXXXX)
cleanup() { kill "$(cat "$WORK/mn.pid" 2>/dev/null)" 2>/dev/null || true; mn_drop_test_db; rm -rf "$WORK"; }
trap cleanup EXIT

"$ROOT/build/medianest" migrate >/dev/null
psql -q "$DATABASE_URL" -c "INSERT INTO users (username) SELECT 'bench-' || g FROM generate_series(1, $ROWS) g" >/dev/null
FIRST=$(psql -qAt "$DATABASE_URL" -c "SELECT min(id) FROM users")

MN_PORT=$((20000 + RANDOM % 20000))
cat > "$WORK/config.lua" <<CFG
return {
  listen = "127.0.0.1:$MN_PORT",
  http = { access_log = false },
  bench = { enabled = true },
  plugins = { enabled = { "health" } },
}
CFG
REDIS_URL= "$ROOT/build/medianest" serve -c "$WORK/config.lua" >"$WORK/mn.log" 2>&1 &
echo $! > "$WORK/mn.pid"
wait_http "http://127.0.0.1:$MN_PORT/health"

cat > "$WORK/ids.lua" <<LUA
math.randomseed(os.time())
local suffix = os.getenv("BENCH_SUFFIX") or ""
request = function()
  return wrk.format("GET", "/bench/users/" .. ($FIRST + math.random(0, $ROWS - 1)) .. suffix)
end
dofile("$ROOT/bench/wrk_report.lua")
LUA
measure() {   # measure SUFFIX -> "rps p50 p99 errors"
  BENCH_SUFFIX=$1 wrk -t1 -c"$CONNS" -d"${DUR}s" --latency -s "$WORK/ids.lua" "http://127.0.0.1:$MN_PORT" 2>&1 |
    awk '/^RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); printf "%s ", kv[2] } print "" }'
}
curl -sf "http://127.0.0.1:$MN_PORT/bench/users/$FIRST" >/dev/null
BENCH_SUFFIX= wrk -t1 -c"$CONNS" -d2s -s "$WORK/ids.lua" "http://127.0.0.1:$MN_PORT" >/dev/null 2>&1
read -r P_RPS P_P50 P_P99 P_ERR <<<"$(measure "")"
BENCH_SUFFIX=/cached wrk -t1 -c"$CONNS" -d3s -s "$WORK/ids.lua" "http://127.0.0.1:$MN_PORT" >/dev/null 2>&1   # fill L1
read -r C_RPS C_P50 C_P99 C_ERR <<<"$(measure "/cached")"
PEAK_RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$(cat "$WORK/mn.pid")/status")

mkdir -p bench/results
OUT="bench/results/db-$(date -u +%Y-%m-%d).md"
{
  echo "# One row by primary key: pool vs L1, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "wrk -t1 -c$CONNS -d${DUR}s, random ids among $ROWS users; $(nproc) CPUs; PostgreSQL $(psql -qAt "$DATABASE_URL" -c 'SHOW server_version' | cut -d' ' -f1) on loopback;"
  echo "pool of 20 (default), prepared statement; L1 = nest.cache.fetch with REDIS_URL unset (no L2). MediaNest $(git rev-parse --short HEAD)."
  echo
  echo "| route | req/s | p50 ms | p99 ms | errors |"
  echo "|---|---:|---:|---:|---:|"
  echo "| GET /bench/users/{id} (pool) | $P_RPS | $P_P50 | $P_P99 | $P_ERR |"
  echo "| GET /bench/users/{id}/cached (L1) | $C_RPS | $C_P50 | $C_P99 | $C_ERR |"
  echo
  echo "Peak RSS of the server: $((PEAK_RSS_KB / 1024)) MiB."
} | tee "$OUT"
