# shellcheck shell=bash
# scripts/lib/e2e.sh — the browser end-to-end suite (spec/e2e) against a real
# `medianest serve --demo` with real PostgreSQL and Redis. Sourced by
# scripts/test, scripts/screenshots and bench/ui-perf; defines functions only:
#
#   mn_e2e_run                 the whole suite; prints the scenarios as TAP and
#                              ends with exactly one line "# e2e: N passed, M failed"
#   mn_e2e_prepare             browser packages (apt) + `npm ci` in spec/e2e when needed
#   mn_e2e_server_start DIR    start `$MEDIANEST_BIN serve --demo` on a free loopback
#                              port with data dir DIR/data, log DIR/server.log; waits
#                              for /ready and for the setup link. Exports
#                              E2E_BASE_URL, E2E_SETUP_URL, E2E_SERVER_LOG, MN_E2E_SERVER_PID
#   mn_e2e_server_stop         stop that server (SIGTERM, then SIGKILL after 10 s)
#
# The caller provides DATABASE_URL (a database that must be fresh: the setup link
# is only printed while no user exists) and REDIS_URL; mn_e2e_run makes its own
# database with mn_fresh_test_db inside a subshell, so the caller's
# DATABASE_URL is left as it was. Artifacts (screenshots, console logs of failed
# scenarios, the server log) go to build-test-logs/e2e-artifacts/.

_MN_E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MN_E2E_READY_TIMEOUT=${MN_E2E_READY_TIMEOUT:-30}   # seconds for the server to answer /ready
MN_E2E_TIMEOUT=${MN_E2E_TIMEOUT:-600}              # seconds for the whole node run (the suite takes ~5 min on a loaded 2-core machine)

_mn_e2e_log() { echo "e2e: $*" >&2; }

# A free loopback port (another process may take it before the server binds
# it: mn_e2e_server_start retries on a bind failure).
_mn_e2e_pick_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

mn_e2e_prepare() {
  local dir="$_MN_E2E_ROOT/spec/e2e" stamp
  if declare -F mn_install_browser_deps >/dev/null; then
    mn_install_browser_deps || return 1
  else
    # shellcheck source=scripts/lib/deps.sh
    source "$_MN_E2E_ROOT/scripts/lib/deps.sh" && mn_install_browser_deps || return 1
  fi
  # npm ci only when the lockfile changed since the last install (it wipes
  # node_modules, which costs seconds and needs the registry).
  stamp="$dir/node_modules/.mn-lock.sha256"
  if [ ! -f "$stamp" ] || ! (cd "$dir" && sha256sum -c --status "$stamp" 2>/dev/null); then
    _mn_e2e_log "npm ci in spec/e2e"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) || return 1
    (cd "$dir" && sha256sum package-lock.json >"node_modules/.mn-lock.sha256")
  fi
  # The UI must be built: static/dist is what the server serves.
  if [ ! -f "$_MN_E2E_ROOT/static/dist/index.html" ]; then
    if [ -f "$_MN_E2E_ROOT/scripts/lib/web.sh" ]; then
      # shellcheck source=/dev/null
      source "$_MN_E2E_ROOT/scripts/lib/web.sh"
      declare -F mn_web_build >/dev/null && { mn_web_build || return 1; }
    fi
    [ -f "$_MN_E2E_ROOT/static/dist/index.html" ] || {
      _mn_e2e_log "static/dist/index.html is missing (the web UI is not built)"; return 1; }
  fi
}

# The server's config for the suite: the scenarios sign in a dozen times a
# minute from one address, which the production auth limit (10/min per IP)
# would rightly refuse; everything else is the default.
# MN_E2E_PLUGINS="a,b,c" replaces the enabled plugin list (to try the suite
# against plugins the default config does not enable yet). The status poller
# runs every MN_E2E_STATUS_INTERVAL seconds (default 3, not 30: the status
# scenarios wait for a flip to show within one interval + 1 s).
export MN_E2E_STATUS_INTERVAL=${MN_E2E_STATUS_INTERVAL:-3}
_mn_e2e_config() {
  local plugins="  plugins = { settings = { status = { interval = $MN_E2E_STATUS_INTERVAL } },"
  if [ -n "${MN_E2E_PLUGINS:-}" ]; then
    plugins+=" enabled = { \"${MN_E2E_PLUGINS//,/\", \"}\" },"
  fi
  plugins+=" },"
  cat <<EOF
return {
  rate_limits = {
    auth = { limit = 1000, window = 60, by = "ip" },
    api = { limit = 10000, window = 60 },
    -- every browser here is 127.0.0.1, and the specs before may have polled
    -- through the same Redis within the minute
    auth_poll = { limit = 100000, window = 60, by = "ip" },
    -- forty scenarios' pages send web-vitals beacons from that one address
    rum = { limit = 100000, window = 60, by = "ip" },
  },
$plugins
}
EOF
}

mn_e2e_server_start() {
  local dir=$1 bin=${MEDIANEST_BIN:-$_MN_E2E_ROOT/build/medianest}
  local try port log pid deadline url setup ready
  [ -x "$bin" ] || { _mn_e2e_log "no medianest binary at $bin (set MEDIANEST_BIN)"; return 1; }
  mkdir -p "$dir/data" || return 1
  _mn_e2e_config >"$dir/config.lua"
  log="$dir/server.log"
  for try in 1 2 3; do
    port=$(_mn_e2e_pick_port) || return 1
    url="http://127.0.0.1:$port"
    : >"$log"
    # the demo yt-dlp downloads at 4 MiB/s (not as fast as the disk allows), so
    # a playlist takes seconds and its progress can be watched moving
    FAKE_YTDLP_RATE=${FAKE_YTDLP_RATE:-4194304} \
    MEDIANEST_LISTEN="127.0.0.1:$port" MEDIANEST_DATA_DIR="$dir/data" \
      "$bin" serve -c "$dir/config.lua" --demo >>"$log" 2>&1 </dev/null &
    pid=$!
    deadline=$((SECONDS + MN_E2E_READY_TIMEOUT))
    ready="" setup=""
    while [ $SECONDS -lt $deadline ]; do
      kill -0 "$pid" 2>/dev/null || break
      if [ -z "$ready" ] && curl -fsS -o /dev/null --max-time 2 "$url/ready" 2>/dev/null; then
        ready=$SECONDS
      fi
      # The setup link is printed while no user exists; /ready may come first.
      setup=$(grep -aoE 'setup: open http://[^ ]+/setup\?token=[A-Za-z0-9_-]+' "$log" | tail -1 || true)
      [ -n "$ready" ] && [ -n "$setup" ] && break
      # Ready but no link after a few seconds: go on without one (the setup
      # scenario then fails and says so, instead of the whole run failing here).
      [ -n "$ready" ] && [ $((SECONDS - ready)) -ge 5 ] && break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null && [ -n "$ready" ]; then
      export MN_E2E_SERVER_PID=$pid E2E_BASE_URL=$url E2E_SERVER_LOG=$log
      export E2E_SETUP_URL=${setup#setup: open }
      [ -n "$setup" ] || _mn_e2e_log "server on $url printed no setup link"
      _mn_e2e_log "server $pid on $url"
      return 0
    fi
    if kill -0 "$pid" 2>/dev/null; then
      _mn_e2e_log "server on $url: no /ready within ${MN_E2E_READY_TIMEOUT}s"
      kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
      tail -20 "$log" >&2
      return 1
    fi
    wait "$pid" 2>/dev/null
    # Lost the port to someone else: try another one; any other exit is final.
    if ! grep -qiE 'address (already )?in use|EADDRINUSE' "$log"; then
      _mn_e2e_log "server exited before it was ready:"; tail -20 "$log" >&2
      return 1
    fi
  done
  _mn_e2e_log "could not bind a free port in 3 tries"
  return 1
}

mn_e2e_server_stop() {
  local pid=${MN_E2E_SERVER_PID:-}
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { _mn_e2e_log "server $pid did not stop; SIGKILL"; kill -KILL "$pid" 2>/dev/null; }
  fi
  wait "$pid" 2>/dev/null
  unset MN_E2E_SERVER_PID
  return 0
}

# _mn_e2e_summary TAPFILE — "# e2e: N passed, M failed" from the runner's TAP:
# passed = "ok" lines; failed = "not ok" lines plus planned scenarios that never
# reported (a crash half-way must not look like a smaller green run).
_mn_e2e_summary() {
  local tap=$1 plan ok notok missing
  plan=$(grep -aoE '^1\.\.[0-9]+' "$tap" | head -1 | cut -d. -f3)
  ok=$(grep -acE '^ok [0-9]+' "$tap")
  notok=$(grep -acE '^not ok [0-9]+' "$tap")
  missing=0
  if [ -z "$plan" ]; then missing=1
  elif [ $((ok + notok)) -lt "$plan" ]; then missing=$((plan - ok - notok))
  fi
  echo "# e2e: $ok passed, $((notok + missing)) failed"
}

mn_e2e_run() {
  local root=$_MN_E2E_ROOT
  local logdir="$root/build-test-logs"
  local art="$logdir/e2e-artifacts"
  mkdir -p "$logdir"
  rm -rf -- "$art"; mkdir -p "$art"
  (
    set +e
    tap="$art/e2e.tap"
    : >"$tap"
    if ! mn_e2e_prepare; then echo "# e2e: 0 passed, 1 failed"; exit 1; fi
    if [ -z "${DATABASE_URL:-}" ]; then
      declare -F mn_services_up >/dev/null || source "$root/scripts/lib/services.sh"
      mn_services_up "$root/.data" test || { echo "# e2e: 0 passed, 1 failed"; exit 1; }
    fi
    declare -F mn_fresh_test_db >/dev/null || source "$root/scripts/lib/services.sh"
    mn_fresh_test_db || { echo "# e2e: 0 passed, 1 failed"; exit 1; }
    work=$(mktemp -d "${TMPDIR:-/tmp}/medianest-e2e.XXXXXX")
    trap 'mn_e2e_server_stop; cp -f "$work/server.log" "$art/server.log" 2>/dev/null; mn_drop_test_db; rm -rf -- "$work"' EXIT
    if ! mn_e2e_server_start "$work"; then
      cp -f "$work/server.log" "$art/server.log" 2>/dev/null
      echo "# e2e: 0 passed, 1 failed"; exit 1
    fi
    E2E_ARTIFACTS="$art" timeout --kill-after=10 "$MN_E2E_TIMEOUT" \
      node "$root/spec/e2e/run.mjs" 2>"$art/runner.stderr" | tee "$tap"
    rc=${PIPESTATUS[0]}
    [ "$rc" -eq 124 ] && echo "# runner timed out after ${MN_E2E_TIMEOUT}s"
    [ "$rc" -ne 0 ] && [ -s "$art/runner.stderr" ] && tail -20 "$art/runner.stderr"
    _mn_e2e_summary "$tap"
    grep -qaE '^not ok' "$tap" && exit 1
    [ "$rc" -eq 0 ]
  )
}
