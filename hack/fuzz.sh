#!/usr/bin/env bash
# The one libFuzzer runner behind hack/fuzz-cni.sh and hack/fuzz-watch.sh:
#
#   bash hack/fuzz.sh NAME MAX_LEN MODULE...
#
# Builds hack/NAME/FuzzTarget.swift with the sources of the given package modules as one module
# (swiftc -sanitize=fuzzer,address; the imports of those modules are dropped), seeds the corpus from
# hack/NAME/seeds, fuzzes for FUZZ_SECONDS (default 60) with inputs of at most MAX_LEN bytes, and fails
# when libFuzzer finds a crash, a leak or a timeout; the input is left in $OUT (default
# .build/NAME/) as crash-*/timeout-*/leak-*. FUZZ_SEED fixes libFuzzer's random seed (0, the default,
# picks a new one each run); SANITIZERS overrides the sanitizers.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 3 ] || { echo "usage: bash hack/fuzz.sh NAME MAX_LEN MODULE..." >&2; exit 2; }
NAME=$1 MAX_LEN=$2
shift 2
MODULES=("$@")
[ -f "hack/$NAME/FuzzTarget.swift" ] || { echo "hack/$NAME/FuzzTarget.swift does not exist" >&2; exit 2; }
[[ $MAX_LEN =~ ^[0-9]+$ ]] || { echo "MAX_LEN '$MAX_LEN' is not a number" >&2; exit 2; }
export PATH=/opt/swift/usr/bin:$PATH
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
OUT=${OUT:-.build/$NAME}
SANITIZERS=${SANITIZERS:-fuzzer,address}
mkdir -p "$OUT/src" "$OUT/corpus"
rm -f "$OUT"/src/*.swift
imports=$(IFS='|'; echo "${MODULES[*]}")
for dir in "${MODULES[@]}"; do
  [ -d "Sources/$dir" ] || { echo "no module Sources/$dir" >&2; exit 2; }
  for f in Sources/$dir/*.swift; do
    # One module: drop the imports of the package's own modules.
    sed -E "/^import ($imports)\$/d" "$f" >"$OUT/src/${dir}_$(basename "$f")"
  done
done
cp "hack/$NAME/FuzzTarget.swift" "$OUT/src/"
cp "hack/$NAME"/seeds/* "$OUT/corpus/"
echo "building the fuzz target ($SANITIZERS)..." >&2
# (ld.gold warns about every ASan helper symbol; those lines are noise.)
swiftc -parse-as-library -module-name AutomagicFuzz -sanitize="$SANITIZERS" -O -g "$OUT"/src/*.swift -o "$OUT/$NAME" 2>&1 \
  | { grep -v "Cannot export local symbol" || true; } >&2
echo "fuzzing for ${FUZZ_SECONDS}s..." >&2
# Let libFuzzer, not Swift's backtracer, handle crashes so it saves the input.
SWIFT_BACKTRACE=enable=no "$OUT/$NAME" -seed="${FUZZ_SEED:-0}" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
  -max_len="$MAX_LEN" -print_final_stats=1 -artifact_prefix="$OUT/" "$OUT/corpus" 2>"$OUT/fuzz.log" || {
  tail -40 "$OUT/fuzz.log" >&2
  echo "fuzzing found a problem; inputs: $(ls "$OUT"/crash-* "$OUT"/timeout-* "$OUT"/leak-* 2>/dev/null | tr '\n' ' ')" >&2
  exit 1
}
grep -E "stat::number_of_executed_units|stat::new_units_added|cov:" "$OUT/fuzz.log" | tail -3 >&2
echo "no crash in ${FUZZ_SECONDS}s" >&2
