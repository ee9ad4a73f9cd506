#!/usr/bin/env bash
# Runs every test tier: unit, integration (lab API server over real HTTPS through libcurl)
# and privileged (network namespaces, the real CNI reference plugins). Needs root for the
# privileged tier. Installs what the tests need first, so it works on a fresh Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash hack/install-deps.sh
export PATH=/opt/swift/usr/bin:$PATH
# Package.swift must declare, for every target, exactly the modules its sources import: SwiftPM's own
# check accepts modules reached transitively, so a missing or stale dependency fails here instead.
python3 hack/check-imports.py
# Fuzz the parsers that take untrusted bytes (CNI configuration, mapping file, LLDP frames, watch events) for a
# bounded time first; a crash fails the run and leaves its input under .build/fuzz-*/.
# The seed is fixed (FUZZ_SEED=1) so that a run explores the same inputs each time and a red CI run
# means a change broke something; exploratory runs with fresh seeds are hack/fuzz-*.sh on their own
# (FUZZ_SEED=0), and what they find becomes a test.
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
export FUZZ_SEED=${FUZZ_SEED:-1}
if [ "$FUZZ_SECONDS" -gt 0 ]; then
  FUZZ_SECONDS=$FUZZ_SECONDS bash hack/fuzz-cni.sh > .build-fuzz-cni.log 2>&1 || { tail -40 .build-fuzz-cni.log; echo "fuzz-cni found a problem" >&2; exit 1; }
  echo "fuzz-cni: $(grep -hE 'stat::number_of_executed_units' .build-fuzz-cni.log .build/fuzz-cni/fuzz.log 2>/dev/null | tail -1 | awk '{print $2}') inputs in ${FUZZ_SECONDS}s, no crash"
  # The real plugin binary through stdin and its CNI_* environment, with a hang check (2 s a call).
  { swift build --product automagic && python3 hack/fuzz-cni-binary.py .build/debug/automagic --seconds "$FUZZ_SECONDS" --seed "$FUZZ_SEED"; } \
    > .build-fuzz-cni-binary.log 2>&1 || { tail -40 .build-fuzz-cni-binary.log; echo "fuzz-cni-binary found a problem" >&2; exit 1; }
  tail -1 .build-fuzz-cni-binary.log
  bash hack/fuzz-lldp.sh "$FUZZ_SECONDS" > .build-fuzz-lldp.log 2>&1 || { tail -40 .build-fuzz-lldp.log; echo "fuzz-lldp found a problem" >&2; exit 1; }
  echo "fuzz-lldp: $(grep -E 'stat::number_of_executed_units' .build-fuzz-lldp.log | awk '{print $2}') inputs in ${FUZZ_SECONDS}s, no crash"
  FUZZ_SECONDS=$FUZZ_SECONDS bash hack/fuzz-watch.sh > .build-fuzz-watch.log 2>&1 || { tail -40 .build-fuzz-watch.log; echo "fuzz-watch found a problem" >&2; exit 1; }
  echo "fuzz-watch: $(grep -hE 'stat::number_of_executed_units' .build-fuzz-watch.log | tail -1 | awk '{print $2}') inputs in ${FUZZ_SECONDS}s, no crash"
fi

# Tests run one at a time: several start real servers, kernel namespaces and child processes, and on a
# 2-core machine parallel suites starve each other's threads enough to trip the hang detectors.
swift test --no-parallel "$@"
