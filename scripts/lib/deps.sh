# shellcheck shell=bash
# scripts/lib/deps.sh — installs the Debian packages MediaNest builds, runs and
# tests with. Sourced by scripts/run and scripts/test; defines functions only.
#
#   mn_install_deps           build + runtime + test packages (apt)
#   mn_install_node           node and npm, for the web UI build
#   mn_install_browser_deps   chromium and node/npm for the browser end-to-end suite
#
# Both are idempotent: installed packages are found with dpkg-query, so a run
# on a machine that already has everything is fast and needs no network; apt
# (and its `update`) only runs when something is missing. As root (CI) apt runs
# directly, otherwise through sudo when there is one.

MN_DEPS_PACKAGES=(
  build-essential cmake pkg-config clang
  liblua5.4-dev lua5.4 libuv1-dev node-llhttp libpq-dev libhiredis-dev
  lua-cjson lua-cjson-dev libcurl4-openssl-dev libwslay-dev zlib1g-dev
  libssl-dev libbrotli-dev lua-busted
  postgresql-15 postgresql-client-15 redis-server
  wrk curl ca-certificates valgrind
)

# What the operations specs and the load runner drive for real: nginx (the
# load balancer in front of two instances, the reverse-proxy example, and
# OpenResty's Lua module for bench/), Caddy (the other proxy example),
# systemd-analyze (the unit file), promtool (the Prometheus scrape config),
# gnuplot (the load runs' plots), openssl (test certificates), python3 (the
# proxy test's WebSocket probe over TLS), jq (the operator-guide tests read JSON).
MN_OPS_PACKAGES=(
  nginx libnginx-mod-http-lua caddy systemd prometheus gnuplot-nox openssl python3 jq
)

# fonts-liberation: chromium only recommends a font, and headless pages laid
# out without any font measure text as zero-width.
MN_BROWSER_PACKAGES=(chromium chromium-driver fonts-liberation)

# _mn_as_root CMD... — run CMD with root rights (directly, or via sudo).
_mn_as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -- "$@"
  else
    echo "deps: need root to run '$*' (no sudo found)" >&2
    return 1
  fi
}

# mn_missing_packages PKG... — prints (one a line) the packages not installed.
mn_missing_packages() {
  local installed p
  # ${db:Status-Abbrev} is "ii " for an installed package; unknown names are
  # reported on stderr and simply absent from stdout (dpkg-query then exits
  # 1, which must not stop a caller running under `set -e -o pipefail`).
  installed=$({ dpkg-query -W -f='${db:Status-Abbrev}|${Package}\n' "$@" 2>/dev/null || true; } |
    awk -F'|' '$1 ~ /^ii/ { print $2 }')
  for p in "$@"; do
    grep -qxF -- "$p" <<<"$installed" || printf '%s\n' "$p"
  done
}

# mn_apt_install PKG... — installs the given packages that are missing.
mn_apt_install() {
  local missing
  mapfile -t missing < <(mn_missing_packages "$@")
  [ "${#missing[@]}" -eq 0 ] && return 0
  echo "deps: installing ${missing[*]}" >&2
  if [ -z "${_MN_APT_UPDATED:-}" ]; then
    _mn_as_root env DEBIAN_FRONTEND=noninteractive \
      apt-get -o DPkg::Lock::Timeout=120 -qq update || return 1
    _MN_APT_UPDATED=1
  fi
  _mn_as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get -o DPkg::Lock::Timeout=120 -qq -y --no-install-recommends \
    install "${missing[@]}" >&2 || return 1
  mapfile -t missing < <(mn_missing_packages "$@")
  if [ "${#missing[@]}" -ne 0 ]; then
    echo "deps: still missing after install: ${missing[*]}" >&2
    return 1
  fi
}

mn_install_deps() {
  mn_apt_install "${MN_DEPS_PACKAGES[@]}"
}

mn_install_ops_deps() {
  mn_apt_install "${MN_OPS_PACKAGES[@]}"
}

# Node may come from somewhere other than Debian (a NodeSource build that
# bundles npm, nvm, ...). Installing Debian's nodejs/npm over it would replace
# or break it, so they are only installed when the commands are absent.
# mn_install_node — node and npm, for the web UI build (scripts/run too).
mn_install_node() {
  local pkgs=()
  if ! command -v node >/dev/null 2>&1; then
    pkgs+=(nodejs)
    command -v npm >/dev/null 2>&1 || pkgs+=(npm)
  elif ! command -v npm >/dev/null 2>&1; then
    echo "deps: node $(node --version) is installed without npm; not replacing it" \
      "with Debian's nodejs: install npm for that node" >&2
    return 1
  fi
  [ "${#pkgs[@]}" -eq 0 ] || mn_apt_install "${pkgs[@]}"
}

mn_install_browser_deps() {
  mn_install_node || return 1
  mn_apt_install "${MN_BROWSER_PACKAGES[@]}"
}
