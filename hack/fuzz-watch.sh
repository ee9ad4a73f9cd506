#!/usr/bin/env bash
# Fuzzes the watch-event decoder (JSONReader on WatchEvent<NodeDevice> and
# WatchEvent<NetworkDeviceMap>, what the agent and the controller decode every watch line with)
# with libFuzzer for a bounded time.
#
#   FUZZ_SECONDS=60 bash hack/fuzz-watch.sh
#
# Builds hack/fuzz-watch/FuzzTarget.swift with the sources of JSON, KubeCore and AutomagicAPI as
# one module (swiftc -sanitize=fuzzer,address), seeds the corpus from hack/fuzz-watch/seeds (watch
# lines from the recorded API exchanges in /work/shared/kube-api-traces, some retyped as NodeDevice
# and NetworkDeviceMap), and fails when libFuzzer finds a crash, a leak or a timeout; the input is
# left in $OUT (default .build/fuzz-watch/) as crash-*/timeout-*: turn it into a test in
# Tests/KubeClientTests or Tests/JSONTests. FUZZ_SEED fixes libFuzzer's random seed (0, the
# default, picks a new one each run).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
OUT=${OUT:-.build/fuzz-watch}
SANITIZERS=${SANITIZERS:-fuzzer,address}
mkdir -p "$OUT/src" "$OUT/corpus"
rm -f "$OUT"/src/*.swift
for dir in JSON KubeCore AutomagicAPI; do
  for f in Sources/$dir/*.swift; do
    # One module: drop the imports of the package's own modules.
    sed -E '/^import (JSON|KubeCore|AutomagicAPI)$/d' "$f" >"$OUT/src/${dir}_$(basename "$f")"
  done
done
cp hack/fuzz-watch/FuzzTarget.swift "$OUT/src/"
cp hack/fuzz-watch/seeds/* "$OUT/corpus/"
echo "building the fuzz target ($SANITIZERS)..." >&2
swiftc -parse-as-library -module-name AutomagicWatchFuzz -sanitize="$SANITIZERS" -O -g "$OUT"/src/*.swift -o "$OUT/fuzz-watch" 2>&1 \
  | { grep -v "Cannot export local symbol" || true; } >&2
echo "fuzzing for ${FUZZ_SECONDS}s..." >&2
SWIFT_BACKTRACE=enable=no "$OUT/fuzz-watch" -seed="${FUZZ_SEED:-0}" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
  -max_len=16384 -print_final_stats=1 -artifact_prefix="$OUT/" "$OUT/corpus" 2>"$OUT/fuzz.log" || {
  tail -40 "$OUT/fuzz.log" >&2
  echo "fuzzing found a problem; inputs: $(ls "$OUT"/crash-* "$OUT"/timeout-* "$OUT"/leak-* 2>/dev/null | tr '\n' ' ')" >&2
  exit 1
}
grep -E "stat::number_of_executed_units|stat::new_units_added|cov:" "$OUT/fuzz.log" | tail -3 >&2
echo "no crash in ${FUZZ_SECONDS}s" >&2
