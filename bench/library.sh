#!/usr/bin/env bash
# bench/library.sh — the library's cached paths under wrk at 32 connections
# (issue 12): a cached items page (/api/v1/plex/libraries/1/items?start=0&size=60)
# with a Bearer API token, and the image proxy serving a cached poster, with
# and without If-None-Match (304). `medianest serve --demo` (the demo Plex in
# the same process), a fresh database, the owner signed in through the real
# PIN flow with curl. Records bench/results/library-<date>.md.
#   bench/library.sh [SECONDS=10] [CONNECTIONS=32]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
source scripts/lib/deps.sh
source scripts/lib/build.sh
source scripts/lib/services.sh
source bench/lib.sh
DUR=${1:-10}
CONNS=${2:-32}
mn_bench_prepare wrk

WORK=$(mktemp -d /tmp/medianest-bench-library.XXXXXX)
cleanup() { kill "$(cat "$WORK/mn.pid" 2>/dev/null)" 2>/dev/null || true; mn_drop_test_db; rm -rf "$WORK"; }
trap cleanup EXIT
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

"$ROOT/build/medianest" migrate >/dev/null
MN_PORT=$((20000 + RANDOM % 20000))
B="http://127.0.0.1:$MN_PORT"
cat > "$WORK/config.lua" <<CFG
return {
  listen = "127.0.0.1:$MN_PORT",
  data_dir = "$WORK/data",
  http = { access_log = false },
  -- one user asks thousands of times a second: lift the per-user limits
  rate_limits = { api = { limit = 1000000000, window = 60 }, auth = { limit = 1000, window = 60, by = "ip" } },
}
CFG
REDIS_URL= "$ROOT/build/medianest" serve -c "$WORK/config.lua" --demo >"$WORK/mn.log" 2>&1 &
echo $! > "$WORK/mn.pid"
wait_http "$B/health"
SETUP=""
for _ in $(seq 1 100); do
  SETUP=$(grep -aoE 'setup\?token=[A-Za-z0-9_-]+' "$WORK/mn.log" | tail -1 | cut -d= -f2 || true)
  [ -n "$SETUP" ] && break; sleep 0.05
done

# Sign in as the owner (PIN, approve on the demo plex.tv, poll), then make an API token.
J="$WORK/jar"
PIN=$(curl -sf -c "$J" -b "$J" -X POST "$B/api/v1/auth/plex/pin" -H 'Content-Type: application/json' \
  -d "{\"setupToken\":\"$SETUP\"}")
PIN_ID=$(json "['id']" <<<"$PIN"); CODE=$(json "['code']" <<<"$PIN")
curl -sf -X POST "$B/demo/plextv/auth/approve" -H 'Content-Type: application/json' -d "{\"code\":\"$CODE\",\"user\":\"owner\"}"
CSRF=""
for _ in $(seq 1 100); do
  R=$(curl -sf -c "$J" -b "$J" "$B/api/v1/auth/plex/pin/$PIN_ID")
  [ "$(json "['status']" <<<"$R")" = approved ] && { CSRF=$(json "['csrfToken']" <<<"$R"); break; }
  sleep 0.1
done
TOKEN=$(curl -sf -c "$J" -b "$J" -X POST "$B/api/v1/auth/tokens" -H 'Content-Type: application/json' \
  -H "X-CSRF-Token: $CSRF" -d '{"name":"bench"}' | json "['token']")

ITEMS="/api/v1/plex/libraries/1/items?start=0&size=60"
POSTER=$(curl -sf -H "Authorization: Bearer $TOKEN" "$B$ITEMS" | json "['items'][0]['poster']")
ETAG=$(curl -sf -D - -o /dev/null -H "Authorization: Bearer $TOKEN" "$B$POSTER" | awk 'tolower($1)=="etag:" {print $2}' | tr -d '\r')
BYTES=$(curl -sf -H "Authorization: Bearer $TOKEN" "$B$POSTER" | wc -c)
ITEMS_BYTES=$(curl -sf -H "Authorization: Bearer $TOKEN" -H 'Accept-Encoding: gzip' "$B$ITEMS" | wc -c)

measure() {   # measure PATH [HEADER] -> "rps p50 p99 errors"
  local extra=()
  [ -n "${2:-}" ] && extra=(-H "$2")
  wrk -t1 -c"$CONNS" -d2s -H "Authorization: Bearer $TOKEN" "${extra[@]}" "$B$1" >/dev/null 2>&1   # warm
  wrk -t1 -c"$CONNS" -d"${DUR}s" --latency -s bench/wrk_report.lua -H "Authorization: Bearer $TOKEN" \
    -H 'Accept-Encoding: gzip' "${extra[@]}" "$B$1" 2>&1 |
    awk '/^RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); printf "%s ", kv[2] } print "" }'
}
read -r I_RPS I_P50 I_P99 I_ERR <<<"$(measure "$ITEMS")"
read -r P_RPS P_P50 P_P99 P_ERR <<<"$(measure "$POSTER")"
read -r N_RPS N_P50 N_P99 N_ERR <<<"$(measure "$POSTER" "If-None-Match: $ETAG")"
PEAK_RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$(cat "$WORK/mn.pid")/status")

mkdir -p bench/results
OUT="bench/results/library-$(date -u +%Y-%m-%d).md"
{
  echo "# Library: a cached items page and the image proxy, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "wrk -t1 -c$CONNS -d${DUR}s with Authorization: Bearer (a personal API token: each request looks"
  echo "the token up in PostgreSQL) and Accept-Encoding: gzip; $(nproc) CPUs shared with wrk, PostgreSQL and"
  echo "the demo Plex (same process); REDIS_URL unset (L1 only); load average before: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "MediaNest $(git rev-parse --short HEAD)."
  echo
  echo "| route | req/s | p50 ms | p99 ms | errors |"
  echo "|---|---:|---:|---:|---:|"
  echo "| GET $ITEMS (cached, $ITEMS_BYTES B gz) | $I_RPS | $I_P50 | $I_P99 | $I_ERR |"
  echo "| GET /api/v1/images/plex (cached poster, $BYTES B) | $P_RPS | $P_P50 | $P_P99 | $P_ERR |"
  echo "| same, If-None-Match → 304 | $N_RPS | $N_P50 | $N_P99 | $N_ERR |"
  echo
  echo "Peak RSS of the server: $((PEAK_RSS_KB / 1024)) MiB."
} | tee "$OUT"
