# shellcheck shell=bash
# tests/sh/lib.sh — what the operator-guide shell tests share (sourced; not a
# test itself: scripts/test runs tests/sh/*_test.sh only).
#
#   ok DESCRIPTION CODE   evaluate the shell CODE, print TAP "ok N - ..." or "not ok N - ..."
#   t_done NAME           print "# NAME: P passed, F failed" (what scripts/test reads); exit status
#   t_free_port           a free loopback port (another process may take it: callers retry)
#   t_wait SECONDS CMD... poll CMD every 50 ms until it succeeds or time runs out
#   t_bin                 the medianest binary (MEDIANEST_BIN, else build/medianest)
#   t_services DIR        a PostgreSQL + Redis of this test's own under DIR (test mode),
#                         exports DATABASE_URL / REDIS_URL; t_services_down DIR removes them
#   t_serve DIR ARGS...   start `medianest serve ARGS` with data_dir DIR/data, stdout in
#                         DIR/out.log, stderr (the JSON log) in DIR/err.log; waits for the
#                         "listening" line, sets T_PID and T_URL
#   t_stop                SIGTERM the server t_serve started and wait for it (SIGKILL after 20 s)
#   t_setup_token DIR     the one-time setup token serve prints (after "listening": waits for it)
T_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../../scripts/lib/services.sh
source "$T_ROOT/scripts/lib/services.sh"

T_N=0 T_FAILED=0
ok() {
  T_N=$((T_N + 1))
  if eval "$2"; then echo "ok $T_N - $1"
  else echo "not ok $T_N - $1"; T_FAILED=$((T_FAILED + 1)); fi
}
t_done() {
  echo "# $1: $((T_N - T_FAILED)) passed, $T_FAILED failed"
  [ "$T_FAILED" -eq 0 ]
}

t_free_port() { _mn_pick_port; }
t_wait() { _mn_wait_until "$@"; }
t_bin() { echo "${MEDIANEST_BIN:-$T_ROOT/build/medianest}"; }

t_services() {
  unset DATABASE_URL REDIS_URL MN_TEST_DB
  mn_services_up "$1" test >/dev/null
}
t_services_down() { mn_services_reset "$1" >/dev/null 2>&1; }

# The "MediaNest listening on http://HOST:PORT/" line serve prints once bound.
_t_listening() { grep -q '^MediaNest listening on ' "$1/out.log" 2>/dev/null; }
t_serve() {
  local dir=$1; shift
  mkdir -p "$dir/data"
  : >"$dir/out.log"; : >"$dir/err.log"
  MEDIANEST_DATA_DIR=${MEDIANEST_DATA_DIR:-$dir/data} "$(t_bin)" serve "$@" \
    >"$dir/out.log" 2>"$dir/err.log" &
  T_PID=$!
  if ! t_wait 30 _t_listening "$dir"; then
    echo "# serve did not start; end of its log:"; tail -n 20 "$dir/err.log" | sed 's/^/#   /'
    return 1
  fi
  T_URL=$(sed -n 's/^MediaNest listening on \(http:[^ ]*\)\/$/\1/p' "$dir/out.log" | head -n 1)
}
_t_gone() { ! kill -0 "$1" 2>/dev/null || [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" = Z ]; }
t_stop() {   # SIGTERM, the drain (http.drain_timeout, 10 s) and a margin; then SIGKILL
  [ -n "${T_PID:-}" ] || return 0
  kill -TERM "$T_PID" 2>/dev/null
  t_wait 20 _t_gone "$T_PID" || { echo "# serve ignored SIGTERM for 20 s: killed"; kill -KILL "$T_PID" 2>/dev/null; }
  wait "$T_PID" 2>/dev/null
  T_PID=""
}

_t_setup_line() { grep -q '^setup: open ' "$1/out.log" 2>/dev/null; }
t_setup_token() {
  t_wait 10 _t_setup_line "$1" || return 1
  sed -n 's/^setup: open .*token=\([^ ]*\)$/\1/p' "$1/out.log" | head -n 1
}
