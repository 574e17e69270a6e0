#!/usr/bin/env bash
# bench/reload.sh — hot reload under load, against the real binary.
#   bench/reload.sh [BUILD_DIR=build] [SECONDS=10] [RELOADS=50]
# Starts `medianest serve` with the shipped plugin set (health, ready,
# metrics, ratelimit, ws, runtime, bench; with the database and Redis of
# DATABASE_URL / REDIS_URL when set, see scripts/lib/services.sh), then:
#   1. wrk, 32 keep-alive connections, SECONDS on /health: the baseline
#   2. the same while `medianest reload` runs RELOADS times, each after a
#      change to the config file (a comment: a real reload, not a no-op);
#      the build time of each comes from <data_dir>/reload.json
# Prints reload p50/p99 (build time, and the CLI's round trip), the
# throughput of both runs and wrk's errors; writes bench/results/reload-<date>.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${1:-build}
SECS=${2:-10}
RELOADS=${3:-50}
BIN="$ROOT/$BUILD/medianest"
TMP=$(mktemp -d /tmp/medianest-reload-bench.XXXXXX)
PLUGINS="'health', 'ready', 'metrics', 'ratelimit', 'ws', 'runtime', 'bench'"
cat >"$TMP/config.lua" <<CFG
return { listen = '127.0.0.1:0', data_dir = '$TMP/data', log = { level = 'warn' },
  http = { access_log = false }, bench = { enabled = true },
  rate_limits = { api = { limit = 100000000, window = 60 } },
  plugins = { enabled = { $PLUGINS } } }
CFG
"$BIN" serve -c "$TMP/config.lua" >"$TMP/out.txt" 2>"$TMP/err.txt" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; [ -n "${KEEP:-}" ] && cp "$TMP/times.txt" /tmp/reload-times.txt; rm -rf "$TMP"' EXIT
for _ in $(seq 1 100); do grep -q "listening on" "$TMP/out.txt" && break; sleep 0.1; done
PORT=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$TMP/out.txt")
[ -n "$PORT" ] || { cat "$TMP/err.txt"; exit 1; }
URL="http://127.0.0.1:$PORT/health"

wrk_run() { wrk -t2 -c32 -d"${SECS}s" --latency "$URL" 2>&1; }
echo "baseline: wrk -t2 -c32 -d${SECS}s $URL"
BASE=$(wrk_run)
echo "$BASE" | grep -E "Requests/sec|Non-2xx|Socket errors|99%" || true

echo "with $RELOADS reloads"
wrk_run >"$TMP/wrk2.txt" &
WRK=$!
sleep 0.5
: >"$TMP/times.txt"
INTERVAL=$(awk -v s="$SECS" -v n="$RELOADS" 'BEGIN { printf "%.3f", (s - 1.5) / n }')
FAILED=0
for i in $(seq 1 "$RELOADS"); do
  echo "-- change $i" >>"$TMP/config.lua"
  T0=$(date +%s.%N)
  if ! "$BIN" reload -c "$TMP/config.lua" >/dev/null 2>"$TMP/cli-err.txt"; then FAILED=$((FAILED + 1)); cat "$TMP/cli-err.txt"; fi
  T1=$(date +%s.%N)
  BUILD_S=$(sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p' "$TMP/data/reload.json")
  echo "$BUILD_S $(awk -v a="$T0" -v b="$T1" 'BEGIN { print b - a }')" >>"$TMP/times.txt"
  sleep "$INTERVAL"
done
wait $WRK
LOAD=$(cat "$TMP/wrk2.txt")
echo "$LOAD" | grep -E "Requests/sec|Non-2xx|Socket errors|99%" || true

pct() { sort -g | awk -v p="$1" '{ a[NR] = $1 } END { i = int(NR * p + 0.999); if (i < 1) i = 1; printf "%.1f", a[i] * 1000 }'; }
B50=$(cut -d' ' -f1 "$TMP/times.txt" | pct 0.5); B99=$(cut -d' ' -f1 "$TMP/times.txt" | pct 0.99)
C50=$(cut -d' ' -f2 "$TMP/times.txt" | pct 0.5); C99=$(cut -d' ' -f2 "$TMP/times.txt" | pct 0.99)
RPS0=$(echo "$BASE" | awk '/Requests\/sec/ { print $2 }'); RPS1=$(echo "$LOAD" | awk '/Requests\/sec/ { print $2 }')
ERR1=$(echo "$LOAD" | grep -E "Non-2xx|Socket errors" || echo "none")
DIP=$(awk -v a="$RPS0" -v b="$RPS1" 'BEGIN { printf "%.1f", (1 - b / a) * 100 }')
GENS=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^runtime_generations /{ print $2 }')
echo
echo "reload build time p50 ${B50} ms, p99 ${B99} ms; medianest reload round trip p50 ${C50} ms, p99 ${C99} ms"
echo "throughput: ${RPS0} req/s baseline, ${RPS1} req/s with ${RELOADS} reloads (${DIP}% dip); failed reloads ${FAILED}; wrk errors: ${ERR1}"
echo "generations alive afterwards: ${GENS}"
DATE=$(date +%Y-%m-%d)
OUT="bench/results/reload-$DATE.md"
{
  echo "# Hot reload under load — $DATE"
  echo
  echo "\`bench/reload.sh $BUILD $SECS $RELOADS\` on $(nproc) cores ($(uname -sr)); server and wrk on the same machine."
  echo "Shipped plugin set: $PLUGINS; database: $([ -n "${DATABASE_URL:-}" ] && echo yes || echo no), Redis: $([ -n "${REDIS_URL:-}" ] && echo yes || echo no)."
  echo
  echo "| figure | value |"
  echo "|---|---|"
  echo "| reload build time p50 / p99 | ${B50} ms / ${B99} ms |"
  echo "| \`medianest reload\` round trip p50 / p99 (process start, SIGHUP, answer) | ${C50} ms / ${C99} ms |"
  echo "| /health throughput, baseline (wrk -t2 -c32, ${SECS} s) | ${RPS0} req/s |"
  echo "| /health throughput with ${RELOADS} reloads in ${SECS} s | ${RPS1} req/s (dip ${DIP} %) |"
  echo "| failed reloads | ${FAILED} |"
  echo "| wrk errors during reloads | ${ERR1} |"
  echo "| generations alive afterwards | ${GENS} |"
} >"$OUT"
echo "written: $OUT"
