#!/bin/sh
# fuzz/run.sh [SECONDS] — build (if needed) and run the libFuzzer targets for
# a bounded time over their seed corpora; non-zero exit on a crash. Needs
# clang. The build lives in build-fuzz/ (FUZZ=ON, SANITIZE=ON).
#   fuzz/run.sh 30        the short run of the test command
#   fuzz/run.sh 3600      a longer run on demand
set -eu
secs=${1:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MEDIANEST_FUZZ_BUILD:-$root/build-fuzz}
if [ ! -x "$build/fuzz_http_request" ]; then
  CC=clang cmake -S "$root" -B "$build" -DFUZZ=ON -DSANITIZE=ON >/dev/null
fi
cmake --build "$build" -j2 --target fuzz_http_request >/dev/null
# new inputs go to a scratch corpus, the seeds in the tree stay as they are
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log=$work/fuzz.log
set +e
ASAN_OPTIONS=detect_leaks=1 "$build/fuzz_http_request" -max_total_time="$secs" -max_len=4096 \
  -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$build/" -print_final_stats=1 \
  "$work" "$root/fuzz/corpus/http" >"$log" 2>&1
rc=$?
set -e
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
if [ "$rc" -ne 0 ]; then
  tail -60 "$log"
  echo "fuzz http: ${runs:-?} runs, 1 crash (artifact in $build/)"
  exit 1
fi
echo "fuzz http: ${runs:-0} runs, 0 crashes"
