# shellcheck shell=bash
# scripts/lib/web.sh — builds the web UI (static/) into static/dist, which
# the server serves. Sourced by scripts/run, scripts/test and the e2e
# helpers; defines functions only:
#
#   mn_web_build    `npm ci` in static/ when node_modules is missing or the
#                   lockfile changed since the last install (so a machine
#                   that has installed once builds offline), then
#                   `node build.mjs`: bundles, hashes, compresses, and fails
#                   when the first-load budget is exceeded (it prints the
#                   figures). Needs node and npm (mn_install_browser_deps).

_MN_WEB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

_mn_web_log() { echo "web: $*" >&2; }

mn_web_build() {
  local dir="$_MN_WEB_ROOT/static" stamp
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || {
    _mn_web_log "node and npm are needed to build the web UI"; return 1; }
  stamp="$dir/node_modules/.mn-lock.sha256"
  if [ ! -f "$stamp" ] || ! (cd "$dir" && sha256sum -c --status "$stamp" 2>/dev/null); then
    _mn_web_log "npm ci in static/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) || return 1
    (cd "$dir" && sha256sum package-lock.json >"node_modules/.mn-lock.sha256")
  fi
  (cd "$dir" && node build.mjs) || { _mn_web_log "the web UI build failed"; return 1; }
}
