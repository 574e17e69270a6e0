# shellcheck shell=bash
# bench/lib.sh — what the bench scripts do first, written once. Sourced after
# scripts/lib/{deps,build,services}.sh; defines functions only.
#   mn_bench_prepare [APT PACKAGES...]  the packages (wrk, nginx...), the build,
#                                       PostgreSQL and Redis up, a fresh database
#   wait_http [CURL ARGS...] URL        until it answers 2xx (10 s), else 1

mn_bench_prepare() {
  mn_apt_install "$@"
  mn_build "$ROOT/build"
  mn_services_up "$ROOT/.data" test >/dev/null
  mn_fresh_test_db >/dev/null
}

wait_http() { for _ in $(seq 1 200); do curl -sf -o /dev/null "$@" && return 0; sleep 0.05; done; return 1; }
