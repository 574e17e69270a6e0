#!/usr/bin/env bash
# bench/callgrind.sh — instructions per request of `serve --demo` (the
# shipped configuration: every default plugin, the pollers running, access
# log on) under valgrind's callgrind, per route. Instruction counts do not
# depend on how loaded the machine is, so they are the figure to compare
# before/after a change on a shared machine (wall-clock throughput is not).
#   bench/callgrind.sh [REQUESTS=2000] [BINARY=build/medianest]
# Prints the idle server's instructions per second (pollers, timers: they run
# on wall time, which valgrind stretches), then per route the instructions
# per request with that idle rate subtracted for the time the route ran, and
# the gross figure (whole process ÷ requests). With CALLGRIND_OUT=dir the
# per-route profiles are kept there (callgrind_annotate them).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
source scripts/lib/services.sh
N=${1:-2000}
BIN=${2:-$ROOT/build/medianest}
mn_services_up "$ROOT/.data" test >/dev/null
mn_fresh_test_db >/dev/null

WORK=$(mktemp -d /tmp/medianest-callgrind.XXXXXX)
cleanup() {
  kill "$(cat "$WORK/mn.pid" 2>/dev/null)" 2>/dev/null || true
  sleep 1
  mn_drop_test_db
  rm -rf "$WORK"
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
mkdir -p "$WORK/data" "$WORK/static"
head -c 20480 /dev/urandom | base64 -w 100 | head -c 20480 > "$WORK/static/file20k.txt"
cp static/dist/index.html "$WORK/static/" 2>/dev/null || echo '<!doctype html><title>bench</title>' > "$WORK/static/index.html"
cat > "$WORK/config.lua" <<CFG
return {
  listen = "127.0.0.1:$PORT",
  data_dir = "$WORK/data",
  static = { dir = "$WORK/static" },
  log = { file = "$WORK/access.log" },
  rate_limits = { api = { limit = 1000000000, window = 60 } },
}
CFG
export MEDIANEST_DATA_DIR="$WORK/data"
"$BIN" migrate -c "$WORK/config.lua" >/dev/null
"$BIN" user add bench -c "$WORK/config.lua" >/dev/null
TOKEN=$("$BIN" token create bench -c "$WORK/config.lua")
valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.%p" --dump-instr=no \
  "$BIN" serve --demo -c "$WORK/config.lua" >"$WORK/mn.log" 2>&1 &
echo $! > "$WORK/mn.pid"
for _ in $(seq 1 600); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/health" && break; sleep 0.1; done

# drive PATH N times over 4 keep-alive connections; -> nothing (the server counts)
drive() {
  python3 - "$PORT" "$1" "$2" "$3" <<'PY'
import http.client, sys
port, path, n, auth = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
headers = {"Authorization": "Bearer " + auth} if auth != "-" else {}
conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=60) for _ in range(4)]
for i in range(n):
    c = conns[i % 4]
    c.request("GET", path, headers=headers)
    r = c.getresponse(); r.read()
    if r.status != 200: sys.exit("%s answered %d" % (path, r.status))
PY
}

PID=$(cat "$WORK/mn.pid")
latest() { ls -t "$WORK"/cg.*.* 2>/dev/null | head -1; }
summary() { awk '/^(summary|totals):/ {print $2; exit}' "$1"; }
# What the idle server spends per second (pollers, timers): subtracted from
# each route's count for the time it ran, so the figure is the requests'.
drive /health 200 -
callgrind_control -z "$PID" >/dev/null 2>&1
sleep "${IDLE_SECONDS:-10}"
callgrind_control -d "$PID" >/dev/null 2>&1; sleep 1
IDLE_RATE=$(awk -v ir="$(summary "$(latest)")" -v s="${IDLE_SECONDS:-10}" 'BEGIN { printf "%.0f", ir / s }')
printf 'idle: %d Ir/s\n' "$IDLE_RATE"
printf '%-40s %12s %12s\n' route Ir/request gross
for spec in "/health -" "/bench/status -" "/file20k.txt -" "/api/dashboard/status $TOKEN" "/api/v1/auth/session $TOKEN"; do
  read -r path auth <<<"$spec"
  drive "$path" 200 "$auth"                      # warm: caches, JIT-free but lazily built state
  callgrind_control -z "$PID" >/dev/null 2>&1
  t0=$(date +%s.%N)
  drive "$path" "$N" "$auth"
  t1=$(date +%s.%N)
  callgrind_control -d "$PID" >/dev/null 2>&1; sleep 1
  f=$(latest)
  ir=$(summary "$f")
  label=$path; [ "$auth" != "-" ] && label="$path (Bearer)"
  net=$(awk -v ir="$ir" -v r="$IDLE_RATE" -v t0="$t0" -v t1="$t1" -v n="$N" \
    'BEGIN { printf "%.0f", (ir - r * (t1 - t0)) / n }')
  printf '%-40s %12d %12d\n' "$label" "$net" $((ir / N))
  if [ -n "${CALLGRIND_OUT:-}" ]; then mkdir -p "$CALLGRIND_OUT"; cp "$f" "$CALLGRIND_OUT/$(echo "$path" | tr / _).cg"; fi
done
