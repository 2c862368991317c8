#!/bin/sh
# stress_load.sh -- the multi-threaded stress programs, many times, side by
# side and oversubscribed, for a while: how a race that needs an unlucky
# interleaving (such as the large-block realloc that once freed the segment
# map's entry of another thread's fresh mapping) gets its chances.
#
#   sh tests/core/stress_load.sh [BUILD_DIR [SECONDS]]
#   sh tests/stress_load.sh [BUILD_DIR [SECONDS]]      (make stress; runs this)
#
# Each pass runs at once, until SECONDS have gone by:
#   - test_large_race, 12 threads, 2 rounds of 2 s, niced (the others take
#     the CPUs from it at random moments);
#   - test_remote_retire, 6 consumers, 2 rounds of 2 s, niced: frees from
#     other threads racing the exits of the threads that allocated;
#   - stress_plain under LD_PRELOAD=libwarden.so, 8 threads for 5 s;
#   - stress (libwarden.a), 6 threads for 5 s, decommit_ms=0 (memory goes
#     back to the OS at once, so mappings come and go as fast as they can).
# Exits 1 if any run failed, after printing its output.
build=${1:-build}
seconds=${2:-240}
bin=$build/tests/core # where tests/core/CMakeLists.txt builds the programs
[ -x "$bin/test_large_race" ] && [ -x "$bin/test_remote_retire" ] && [ -x "$bin/stress" ] &&
  [ -x "$bin/stress_plain" ] && [ -f "$build/libwarden.so" ] || {
  echo "stress_load.sh: build $build first (make)" >&2
  exit 2
}
lib=$(cd "$build" && pwd)/libwarden.so
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
end=$(($(date +%s) + seconds))
runs=0
failed=0
while [ "$(date +%s)" -lt "$end" ]; do
  nice "$bin/test_large_race" --rounds 2 --threads 12 --seconds 2 >"$log/race" 2>&1 &
  a=$!
  nice "$bin/test_remote_retire" --rounds 2 --threads 6 --seconds 2 >"$log/retire" 2>&1 &
  r=$!
  LD_PRELOAD=$lib "$bin/stress_plain" --seconds 5 --threads 8 >"$log/preload" 2>&1 &
  b=$!
  WARDEN_OPTIONS=decommit_ms=0 "$bin/stress" --seconds 5 --threads 6 >"$log/linked" 2>&1 &
  c=$!
  for job in "$a race" "$r retire" "$b preload" "$c linked"; do
    set -- $job
    runs=$((runs + 1))
    wait "$1"
    rc=$?
    if [ "$rc" -ne 0 ]; then
      failed=$((failed + 1))
      # above 128: killed by signal rc - 128 (a crash says nothing itself)
      echo "stress_load.sh: the $2 run failed (exit status $rc) at $(date +%T):"
      tail -20 "$log/$2"
    fi
  done
done
echo "stress_load.sh: $runs runs, $failed failed"
[ "$failed" -eq 0 ]
