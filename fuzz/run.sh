#!/bin/sh
# fuzz/run.sh [SECONDS] — build (if needed) and run every libFuzzer target,
# each for a bounded time over its seed corpus; non-zero exit on a crash.
# Needs clang. The build lives in build-fuzz/ (FUZZ=ON, SANITIZE=ON).
# One line per target: "fuzz <target>: N runs, 0 crashes" (or "1 crash").
#   fuzz/run.sh 30        the short run of the test command (30 s per target)
#   fuzz/run.sh 3600      a longer run on demand
# Targets and their seed corpora:
#   fuzz_http_request  fuzz/corpus/http   the HTTP request path
#   fuzz_ws_frame      fuzz/corpus/ws     the WebSocket frame path
set -eu
secs=${1:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MEDIANEST_FUZZ_BUILD:-$root/build-fuzz}
targets="http_request:http ws_frame:ws"
need=0
for t in $targets; do [ -x "$build/fuzz_${t%%:*}" ] || need=1; done
if [ "$need" = 1 ] || [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang cmake -S "$root" -B "$build" -DFUZZ=ON -DSANITIZE=ON >/dev/null
fi
for t in $targets; do
  cmake --build "$build" -j2 --target "fuzz_${t%%:*}" >/dev/null
done
# new inputs go to a scratch corpus, the seeds in the tree stay as they are
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
for t in $targets; do
  name=${t%%:*}
  corpus=$root/fuzz/corpus/${t#*:}
  mkdir -p "$work/$name"
  log=$work/$name.log
  set +e
  ASAN_OPTIONS=detect_leaks=1 "$build/fuzz_$name" -max_total_time="$secs" -max_len=4096 \
    -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$build/$name-" -print_final_stats=1 \
    "$work/$name" "$corpus" >"$log" 2>&1
  rc=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ "$rc" -ne 0 ]; then
    tail -60 "$log"
    echo "fuzz $name: ${runs:-?} runs, 1 crash (artifact in $build/$name-*)"
    failed=1
  else
    echo "fuzz $name: ${runs:-0} runs, 0 crashes"
  fi
done
exit "$failed"
