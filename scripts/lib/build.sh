# shellcheck shell=bash
# scripts/lib/build.sh — configures and builds MediaNest with CMake.
#
#   mn_build DIR [CMAKE ARGS...]   configure (once) and build into DIR
# Sourced by scripts/run and scripts/test.

mn_build() {
  local dir=$1; shift
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  mkdir -p "$dir"
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$dir/configure.log" 2>&1 ||
      { cat "$dir/configure.log" >&2; return 1; }
  fi
  cmake --build "$dir" -j"$(nproc)" >"$dir/build.log" 2>&1 ||
    { tail -50 "$dir/build.log" >&2; return 1; }
}
