#!/usr/bin/env bash
# Fuzzes the parsers of the automagic CNI plugin (network configuration, delegate results and
# errors, CNI_* environment, mapping file) with libFuzzer for a bounded time.
#
#   FUZZ_SECONDS=60 bash hack/fuzz-cni.sh
#
# Builds hack/fuzz-cni/FuzzTarget.swift with the sources of JSON, MappingFile, CNI and CNIPlugin
# as one module (swiftc -sanitize=fuzzer,address), seeds the corpus from hack/fuzz-cni/seeds,
# and fails when libFuzzer finds a crash, a leak or a timeout; the input is left in $OUT
# (default .build/fuzz-cni/) as crash-*/timeout-*: turn it into a test in Tests/CNIPluginTests.
# FUZZ_SEED fixes libFuzzer's random seed (0, the default, picks a new one each run).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
OUT=${OUT:-.build/fuzz-cni}
SANITIZERS=${SANITIZERS:-fuzzer,address}
mkdir -p "$OUT/src" "$OUT/corpus"
rm -f "$OUT"/src/*.swift
for dir in JSON MappingFile CNI CNIPlugin; do
  for f in Sources/$dir/*.swift; do
    # One module: drop the imports of the package's own modules.
    sed -E '/^import (JSON|MappingFile|CNI|CNIPlugin)$/d' "$f" >"$OUT/src/${dir}_$(basename "$f")"
  done
done
cp hack/fuzz-cni/FuzzTarget.swift "$OUT/src/"
cp hack/fuzz-cni/seeds/* "$OUT/corpus/"
echo "building the fuzz target ($SANITIZERS)..." >&2
# (ld.gold warns about every ASan helper symbol; those lines are noise.)
swiftc -parse-as-library -module-name AutomagicFuzz -sanitize="$SANITIZERS" -O -g "$OUT"/src/*.swift -o "$OUT/fuzz-cni" 2>&1 \
  | { grep -v "Cannot export local symbol" || true; } >&2
echo "fuzzing for ${FUZZ_SECONDS}s..." >&2
# Let libFuzzer, not Swift's backtracer, handle crashes so it saves the input.
SWIFT_BACKTRACE=enable=no "$OUT/fuzz-cni" -seed="${FUZZ_SEED:-0}" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
  -max_len=8192 -print_final_stats=1 -artifact_prefix="$OUT/" "$OUT/corpus" 2>"$OUT/fuzz.log" || {
  tail -40 "$OUT/fuzz.log" >&2
  echo "fuzzing found a problem; inputs: $(ls "$OUT"/crash-* "$OUT"/timeout-* "$OUT"/leak-* 2>/dev/null | tr '\n' ' ')" >&2
  exit 1
}
grep -E "stat::number_of_executed_units|stat::new_units_added|cov:" "$OUT/fuzz.log" | tail -3 >&2
echo "no crash in ${FUZZ_SECONDS}s" >&2
