#!/usr/bin/env bash
# bench/ws_broadcast.sh — the WebSocket goals of docs/architecture.md (1,000 clients get a
# broadcast within 50 ms) and the server's memory per idle connection.
#   bench/ws_broadcast.sh [BUILD_DIR=build] [ROUNDS=50]
# Starts `medianest serve` (bench.enabled, websocket test token, no Redis),
# then with bench/ws_broadcast.lua:
#   1. 1,000 clients in room "bench"; ROUNDS broadcasts, each timed from the
#      trigger until the last client read it -> p50/p99/max
#   2. the server's VmRSS with 0, 1,000 and 10,000 idle connections (the
#      10,000 from 4 client processes)
#   3. with REDIS_URL set (scripts/lib/services.sh): two more instances
#      sharing that Redis, the 1,000 clients on one, the trigger on the
#      other -> the same figures through the cross-instance relay
# Prints the figures and writes them to bench/results/websocket-<date>.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${1:-build}
ROUNDS=${2:-50}
BIN="$ROOT/$BUILD/medianest"
[ -x "$BIN" ] || { echo "no $BIN: build first (cmake --build $BUILD)" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

WORK=$(mktemp -d /tmp/medianest-wsbench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}" $(cat "$WORK"/*.pid 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done; return 1; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
PORT=$(free_port)
TOKEN=bench-$RANDOM$RANDOM
cat > "$WORK/config.lua" <<CFG
return {
  listen = "127.0.0.1:$PORT",
  http = { access_log = false },
  bench = { enabled = true },
  redis = { url = "" },
  websocket = { test_token = "$TOKEN" },
  plugins = { enabled = { "health", "ws" } },
}
CFG
env -u REDIS_URL -u DATABASE_URL "$BIN" serve -c "$WORK/config.lua" >"$WORK/server.log" 2>&1 &
SERVER=$!
PIDS+=("$SERVER")
wait_http "http://127.0.0.1:$PORT/health"
sleep 1
RSS0=$(rss_kb "$SERVER")

client() { env -u REDIS_URL -u DATABASE_URL "$BIN" run "$ROOT/bench/ws_broadcast.lua" "$@"; }

echo "== 1,000 clients, $ROUNDS broadcasts"
LAT=$(client latency 127.0.0.1 "$PORT" "$TOKEN" 1000 "$ROUNDS" | grep '^RESULT')
echo "$LAT"
val() { echo "${2:-$LAT}" | sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

# idle connections: N clients per process, hold them while the RSS is read
idle() {   # total processes
  local total=$1 procs=$2 per=$(( $1 / $2 )) i
  local outs=()
  for i in $(seq 0 $(( procs - 1 ))); do
    # not through client(): $! must be medianest itself, not a subshell
    env -u REDIS_URL -u DATABASE_URL "$BIN" run "$ROOT/bench/ws_broadcast.lua" idle 127.0.0.1 "$PORT" \
      "$TOKEN" "$per" 600 $(( i * per )) >"$WORK/idle-$total-$i.out" 2>"$WORK/idle-$total-$i.err" &
    echo "$!" > "$WORK/idle-$total-$i.pid"
    outs+=("$!")
  done
  for i in $(seq 0 $(( procs - 1 ))); do
    for _ in $(seq 1 1200); do grep -q '^READY' "$WORK/idle-$total-$i.out" && break; sleep 0.1; done
  done
  local ready=0
  for i in $(seq 0 $(( procs - 1 ))); do
    ready=$(( ready + $(sed -n 's/^READY //p' "$WORK/idle-$total-$i.out") ))
  done
  sleep 2
  echo "$ready $(rss_kb "$SERVER")"
  for p in "${outs[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -f "$WORK"/idle-"$total"-*.pid
  # the server has seen every connection close before the next phase
  for _ in $(seq 1 100); do
    [ "$(ls "/proc/$SERVER/fd" | wc -l)" -lt 50 ] && break
    sleep 0.1
  done
}
echo "== idle connections"
read -r N1 RSS1 < <(idle 1000 1)
echo "1000 requested: $N1 open, server RSS $RSS1 kB"
read -r N10 RSS10 < <(idle 10000 4)
echo "10000 requested: $N10 open, server RSS $RSS10 kB"
PEAK=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER/status")

XLAT=""
if [ -n "${REDIS_URL:-}" ]; then
  echo "== across instances (Redis $REDIS_URL)"
  CHANNEL="medianest:ws:bench:$RANDOM$RANDOM"
  start_instance() {   # name -> port
    local p
    p=$(free_port)
    cat > "$WORK/$1.lua" <<CFG
return {
  listen = "127.0.0.1:$p",
  http = { access_log = false },
  bench = { enabled = true },
  redis = { url = "$REDIS_URL" },
  websocket = { test_token = "$TOKEN", channel = "$CHANNEL" },
  plugins = { enabled = { "health", "ws" } },
}
CFG
    env -u DATABASE_URL "$BIN" serve -c "$WORK/$1.lua" >"$WORK/$1.log" 2>&1 &
    echo "$!" > "$WORK/$1.pid"   # (a subshell: PIDS would not see it)
    wait_http "http://127.0.0.1:$p/health"
    echo "$p"
  }
  PA=$(start_instance a)
  PB=$(start_instance b)
  XLAT=$(client latency 127.0.0.1 "$PB" "$TOKEN" 1000 "$ROUNDS" "$PA" | grep '^RESULT')
  echo "$XLAT"
fi

DATE=$(date -u +%Y-%m-%d)
OUT="bench/results/websocket-$DATE.md"
CPU=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)
per_conn() { echo $(( ($1 - RSS0) * 1024 / ($2 > 0 ? $2 : 1) )); }
cat > "$OUT" <<MD
# WebSocket benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)

Machine: $(nproc) cores ($CPU), Debian 12, loopback; load average before the run
$LOAD0, after $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared with other work). MediaNest $(git rev-parse --short HEAD)
($BUILD/, \`medianest serve\`, access log off, no Redis: one instance, local fan-out).
Method: \`bench/ws_broadcast.sh\` — the clients are \`bench/ws_broadcast.lua\` run by
\`medianest run\` (nest.core.tcp, one task per connection) on the same 2 cores as the server.

## Broadcast to 1,000 clients (goal: within 50 ms)
1,000 connections subscribe to room \`bench\`; a separate connection sends
\`bench:broadcast\` (plugins/ws, bench mode only), the server encodes the message once
and writes it to every member; a round is timed from the trigger's send until the last
of the 1,000 clients has read it (so it includes the clients' own reading, in one Lua
process). $ROUNDS rounds after 3 warm-up rounds, 50 ms apart.

| clients | rounds | p50 ms | p99 ms | max ms | mean ms | missing | server fan-out p50 / p99 ms |
|---:|---:|---:|---:|---:|---:|---:|---:|
| 1000 | $(val rounds) | $(val p50) | $(val p99) | $(val max) | $(val mean) | $(val missing) | $(val fan_p50) / $(val fan_p99) |

"Server fan-out" is the time the server spent in \`ws.broadcast\` (encode once, queue and
write the frame to the 1,000 sockets), measured inside the server and sent back in
\`bench:sent\`: the part of the latency that is MediaNest's, free of the clients' scheduling.
It is one write(2) per member; on loopback each write also runs the receiving side of
the TCP stack in the server's time slice, so this is an upper bound for a real network.
$(if [ -n "$XLAT" ]; then
cat <<X

Across instances: two more servers sharing one Redis (\`websocket.channel\` of their own),
the 1,000 clients on one, the trigger connection on the other; the message goes
trigger → instance A (local members: none) → PUBLISH → instance B's relay → 1,000 members.

| clients | rounds | p50 ms | p99 ms | max ms | mean ms | missing |
|---:|---:|---:|---:|---:|---:|---:|
| 1000 | $(val rounds "$XLAT") | $(val p50 "$XLAT") | $(val p99 "$XLAT") | $(val max "$XLAT") | $(val mean "$XLAT") | $(val missing "$XLAT") |
X
fi)

## Server memory with idle connections
VmRSS of the server process (/proc/PID/status) after the connections were opened
(each joins its \`user:<id>\` room) and 2 s of idling; the clients answer pings.

| connections | server RSS | per connection |
|---:|---:|---:|
| 0 | $(( RSS0 / 1024 )) MiB ($RSS0 kB) | — |
| $N1 | $(( RSS1 / 1024 )) MiB ($RSS1 kB) | $(per_conn "$RSS1" "$N1") B |
| $N10 | $(( RSS10 / 1024 )) MiB ($RSS10 kB) | $(per_conn "$RSS10" "$N10") B |

Peak RSS over the whole run (VmHWM): $(( PEAK / 1024 )) MiB.
Where the per-connection memory goes: wslay's event context alone is 9,440 bytes per
connection (its frame input buffer and message state; measured with mallinfo2() around
wslay_event_context_server_init), most of the figure. The rest is ws.c's connection and
its \`user:<id>\` room membership, the uv_tcp_t, and Lua garbage of the upgrade requests
not yet collected (an idle server runs little GC). Socket buffers are kernel memory,
not in VmRSS.
MD
echo "written: $OUT"
cat "$OUT"
