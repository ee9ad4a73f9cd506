#!/usr/bin/env bash
# The controller benchmark (issue 7): NODES nodes with DEVICES devices each and MAPS maps on a lab
# API server; time from the controller's start to every map's status being correct, peak RSS, API
# writes to converge, after one NodeDevice change, and in steady state. Prints a markdown table.
#
#   NODES=5000 DEVICES=16 MAPS=50 bash hack/bench-controller.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH
NODES=${NODES:-5000} DEVICES=${DEVICES:-16} MAPS=${MAPS:-50}
BIN=$(swift build -c release --show-bin-path)
for p in automagic-lab-apiserver automagic-bench; do
  [ -x "$BIN/$p" ] || swift build -c release --product "$p" >&2
done
WORK=$(mktemp -d /tmp/amctl-bench.XXXXXX)
LAB_PID=""
cleanup() {
  if [ -n "$LAB_PID" ]; then
    kill "$LAB_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$LAB_PID" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$LAB_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
"$BIN/automagic-lab-apiserver" --port 0 --cert-dir "$WORK/certs" --kubeconfig-out "$WORK/kc" \
  --port-file "$WORK/port" --log-level warning >"$WORK/lab.log" 2>&1 &
LAB_PID=$!
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.1; done
[ -s "$WORK/port" ] || { echo "lab API server did not start: $(cat "$WORK/lab.log")" >&2; exit 1; }
kubectl --kubeconfig "$WORK/kc" apply -f crds/ >&2
kubectl --kubeconfig "$WORK/kc" wait --for=condition=Established crd --all --timeout=30s >&2
"$BIN/automagic-bench" controller --kubeconfig "$WORK/kc" \
  --nodes "$NODES" --devices "$DEVICES" --maps "$MAPS" >"$WORK/result.json" 2>"$WORK/controller.log" \
  || { echo "controller benchmark failed: $(tail -5 "$WORK/controller.log")" >&2; exit 1; }
r="$WORK/result.json"
sum() { jq "[.$1 | to_entries[].value] | add // 0" "$r"; }
pairs() { jq -r ".$1 | to_entries | map(\"\(.key) \(.value)\") | join(\", \")" "$r"; }
cat <<MD
$(jq -r '"\(.nodes) nodes × \(.devicesPerNode) devices, \(.maps) maps"' "$r") on the lab API server (both processes on this machine; populating took $(jq .populateSeconds "$r") s, not counted).

| Benchmark | Target | Result |
|---|---|---|
| Start → every map's status correct | < 30 s | **$(jq .timeToCorrectSeconds "$r") s** |
| Peak resident memory of the controller | < 300 MiB | **$(jq .peakRSSMiB "$r") MiB** |
| API writes to converge | — | $(sum writesToCorrect) ($(pairs writesToCorrect)) |
| API writes after one NodeDevice change | a few (only the maps and the node it affects) | **$(sum oneChangeWrites)** ($(pairs oneChangeWrites)) |
| API writes in steady state ($(jq .steadyStateSeconds "$r") s, no leader election) | none | **$(jq .steadyStateWrites "$r")** |
MD
