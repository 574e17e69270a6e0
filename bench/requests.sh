#!/usr/bin/env bash
# bench/requests.sh — the seed's requests scenario (dashboard → search
# "matrix" → request) against `medianest serve --demo` in the default
# configuration (default rate limits, the demo Overseerr served by the same
# process), with bench/requests.lua:
#   1. 10 users with think time (THINK_MS mean after each step), DURATION
#   2. 20 users with think time
#   3. throughput: 20 users, no think time
#   4. the same with the rate limits lifted (what the scenario itself costs)
# Each user is a MediaNest user with an API token (medianest user add /
# token create). Writes bench/results/requests-<date>.md with p50/p95/p99,
# the answers by status and the machine's load before and after.
#   bench/requests.sh [BUILD_DIR=build] [DURATION=30s] [THINK_MS=2000]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${1:-build}
DURATION=${2:-30s}
THINK=${3:-2000}
BIN="$ROOT/$BUILD/medianest"
[ -x "$BIN" ] || { echo "no $BIN: build first" >&2; exit 1; }
source scripts/lib/services.sh
mn_services_up "$ROOT/.data" test >/dev/null
mn_fresh_test_db >/dev/null
WORK=$(mktemp -d /tmp/medianest-reqbench.XXXXXX)
SERVER=
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
  forget_limits 2>/dev/null || true
  mn_drop_test_db >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done; return 1; }

"$BIN" migrate >/dev/null
PORT=$(free_port)
cat > "$WORK/config.lua" <<CFG
return { listen = "127.0.0.1:$PORT", data_dir = "$WORK/data", log = { file = "$WORK/server.log" } }
CFG
TOKENS="$WORK/tokens"
: > "$TOKENS"
for i in $(seq 1 20); do
  "$BIN" user add "bench$i" -c "$WORK/config.lua" >/dev/null
  "$BIN" token create "bench$i" --name bench -c "$WORK/config.lua" >> "$TOKENS"
done
# rate-limit counters are keyed by user id in Redis, which outlives the
# database: the fresh users' ids were someone else's a minute ago
forget_limits() {
  [ -n "${REDIS_URL:-}" ] || return 0
  redis-cli -u "$REDIS_URL" --scan --pattern 'rl:*' | xargs -r redis-cli -u "$REDIS_URL" DEL >/dev/null
}
forget_limits
"$BIN" serve --demo -c "$WORK/config.lua" >"$WORK/stdout.log" 2>&1 &
SERVER=$!
wait_http "http://127.0.0.1:$PORT/health"

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
run() {  # users think_ms
  head -n "$1" "$TOKENS" > "$WORK/tokens.$1"
  TOKENS_FILE="$WORK/tokens.$1" THINK_MS="$2" wrk -t "$1" -c "$1" -d "$DURATION" --latency \
    -s bench/requests.lua "http://127.0.0.1:$PORT" | grep '^RESULT' | sed 's/^RESULT //'
}
echo "== 10 users, think ${THINK} ms";  R10=$(run 10 "$THINK");  echo "$R10"
echo "== 20 users, think ${THINK} ms";  R20=$(run 20 "$THINK");  echo "$R20"
echo "== 20 users, no think time";      RT=$(run 20 0);          echo "$RT"
# the same without the per-user limits, for what the scenario itself costs
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
cat > "$WORK/config.lua" <<CFG
return { listen = "127.0.0.1:$PORT", data_dir = "$WORK/data", log = { file = "$WORK/server.log" },
         rate_limits = { api = { limit = 1e9, window = 60 }, search = { limit = 1e9, window = 60 },
                         media_request = { limit = 1e9, window = 3600 } } }
CFG
"$BIN" serve --demo -c "$WORK/config.lua" >"$WORK/stdout.log" 2>&1 &
SERVER=$!
wait_http "http://127.0.0.1:$PORT/health"
echo "== 20 users, no think time, limits lifted"; RU=$(run 20 0); echo "$RU"
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

val() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
statuses() { echo "$1" | tr ' ' '\n' | sed -n 's/^s\([0-9]*\)=\(.*\)/\1: \2/p' | paste -sd, - | sed 's/,/, /g'; }
row() { echo "| $1 | $(val rps "$2") | $(val p50 "$2") | $(val p95 "$2") | $(val p99 "$2") | $(val errors "$2") | $(statuses "$2") |"; }
OUT="bench/results/requests-$(date -u +%F).md"
{
  echo "# Requests scenario — $(date -u '+%F %H:%M UTC')"
  echo
  echo "\`bench/requests.sh $BUILD $DURATION $THINK\`: \`serve --demo\` in the default configuration"
  echo "(default rate limits: api 100/min, search 30/min, media_request 20/hour per user), PostgreSQL"
  echo "and Redis local, the demo Overseerr in the same process. Each wrk thread is one user (an API"
  echo "token) looping: GET /api/v1/auth/session, GET /api/v1/media/requests (the dashboard), GET"
  echo "/api/v1/media/search?q=matrix, POST /api/v1/media/request with the seed's body"
  echo "{\"tmdbId\":\"603\",\"mediaType\":\"movie\"}; think time: a mean of $THINK ms (±50%) after each step."
  echo
  echo "| run | req/s | p50 ms | p95 ms | p99 ms | socket errors | answers by status |"
  echo "|---|---|---|---|---|---|---|"
  row "10 users, think time" "$R10"
  row "20 users, think time" "$R20"
  row "20 users, no think time" "$RT"
  row "20 users, no think time, limits lifted" "$RU"
  echo
  echo "The Matrix (603) is in Plex in the demo, so the seed's request is answered 409"
  echo "ALREADY_AVAILABLE (after the title's details, cached 5 min); 429s are the default per-user"
  echo "limits doing their job (search 30/min, media_request 20/hour, api 100/min). No 5xx means"
  echo "no failure; socket errors are connect/read/timeouts. The last run lifts the limits (a second"
  echo "server, same data) to show what the scenario itself costs. wrk runs on the same 2 cores."
  echo
  echo "Machine: $(nproc) cores, shared; load average before $LOAD0, after $LOAD1."
} > "$OUT"
echo "wrote $OUT"
