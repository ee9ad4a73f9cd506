#!/usr/bin/env bash
# Runs every Automagic benchmark in release mode and writes docs/benchmarks.md:
# each figure, its target, the machine it ran on and the command that reproduces it.
#
#   bash hack/bench.sh                  # everything (about 20 minutes: the agent's idle test alone is 10)
#   IDLE_SECONDS=60 bash hack/bench.sh  # shorter agent idle measurement
#   OUT=/tmp/b.md bash hack/bench.sh    # write elsewhere
#
# Needs root (network namespaces for the agent and CNI benchmarks). The machines this runs on are
# shared and noisy: the comparisons that matter (CNI plugin vs the Go reference plugin, probe vs
# iproute2) are measured side by side, interleaved, and reported as ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-docs/benchmarks.md}
IDLE_SECONDS=${IDLE_SECONDS:-600}
export PATH=/opt/swift/usr/bin:$PATH

bash hack/install-deps.sh
echo "==> building release binaries" >&2
for p in automagic-bench automagic-lab-apiserver automagic-agent automagic-controller automagic; do
  swift build -c release --product "$p" >&2
done
BIN=$(swift build -c release --show-bin-path)

TMP=$(mktemp -d /tmp/automagic-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

j() { jq -r "$1" "$2"; }
fmt() { printf "%.${2:-1}f" "$1"; }

echo "==> Kubernetes client" >&2
taskset -c 0 "$BIN/automagic-bench" watch-decode 20000 > "$TMP/watch.json"
"$BIN/automagic-bench" list-decode 5000 > "$TMP/list.json"
"$BIN/automagic-bench" connection-reuse 1000 2>/dev/null | grep '^{' > "$TMP/conn.json"

echo "==> resolver" >&2
taskset -c 0 "$BIN/automagic-bench" resolver > "$TMP/resolver.json"

echo "==> lab API server" >&2
"$BIN/automagic-bench" lab --objects 5000 --watchers 100 2>/dev/null | jq -c . > "$TMP/lab.json"

echo "==> controller" >&2
if [ -x hack/bench-controller.sh ]; then
  bash hack/bench-controller.sh > "$TMP/controller.md" 2>"$TMP/controller.err" || echo "(controller benchmark failed: $(tail -3 "$TMP/controller.err"))" > "$TMP/controller.md"
else
  echo "(no controller benchmark script yet)" > "$TMP/controller.md"
fi

echo "==> agent (idle ${IDLE_SECONDS}s)" >&2
if [ -x hack/bench-agent.sh ]; then
  IDLE_SECONDS=$IDLE_SECONDS bash hack/bench-agent.sh > "$TMP/agent.md" 2>"$TMP/agent.err" || echo "(agent benchmark failed: $(tail -3 "$TMP/agent.err"))" > "$TMP/agent.md"
else
  echo "(no agent benchmark script yet)" > "$TMP/agent.md"
fi

echo "==> CNI plugin" >&2
AUTOMAGIC="$BIN/automagic" bash hack/bench-cni.sh > "$TMP/cni.md" 2>"$TMP/cni.err" || echo "(CNI benchmark failed: $(tail -3 "$TMP/cni.err"))" > "$TMP/cni.md"

res() { jq -r --arg b "$1" "select(.benchmark==\$b) | $2" "$TMP/resolver.json"; }

{
cat <<EOF
# Benchmarks

Produced by \`bash hack/bench.sh\` (release build) on $(date -u +%Y-%m-%dT%H:%MZ), commit \`$(git rev-parse --short HEAD)\`.

Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/{print $2}') GiB,
$(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r), $(swift --version 2>&1 | head -1).
The machine is shared with other work: wall-clock figures are noisy; ratios are measured side by side.

## Kubernetes client (issue 2)

| Benchmark | Target | Result | Reproduce |
|---|---|---|---|
| Watch decoding, ~$(j .objectBytes "$TMP/watch.json") B NodeDevice events, one core | ≥ 20,000 events/s | **$(fmt "$(j .eventsPerSecond "$TMP/watch.json")" 0) events/s** ($(j .events "$TMP/watch.json") events in $(fmt "$(j .seconds "$TMP/watch.json")" 3) s) | \`taskset -c 0 $BIN/automagic-bench watch-decode 20000\` |
| List of $(j .objects "$TMP/list.json") objects, $(( $(j .responseBytes "$TMP/list.json") / 1048576 )) MiB body, peak memory while decoding | < 3× response size | **$(fmt "$(j .peakOverResponse "$TMP/list.json")" 2)×** (peak +$(( $(j .peakExtraBytes "$TMP/list.json") / 1048576 )) MiB, decoded objects retain $(( $(j .retainedBytes "$TMP/list.json") / 1048576 )) MiB; $(fmt "$(j .seconds "$TMP/list.json")" 2) s) | \`$BIN/automagic-bench list-decode 5000\` |
| $(j .requests "$TMP/conn.json") sequential GETs over HTTPS (lab API server) | a handful of TLS connections | **$(j .connectionsOpened "$TMP/conn.json") connection(s)**, $(fmt "$(j .requestsPerSecond "$TMP/conn.json")" 0) requests/s | \`$BIN/automagic-bench connection-reuse 1000\` |

## Resolver (issue 4)

CPU time of the resolving thread (wall time on a shared machine includes waiting for a core).

| Benchmark | Target | Result | Reproduce |
|---|---|---|---|
| $(res resolver-single-node-summary .name) | < 5 ms | **$(fmt "$(res resolver-single-node-summary .cpuMsPerIteration)" 2) ms** CPU ($(fmt "$(res resolver-single-node-summary .wallMsPerIteration)" 2) ms wall) | \`taskset -c 0 $BIN/automagic-bench resolver\` |
| $(res resolver-single-node-full .name) (what \`explain\` prints) | — | $(fmt "$(res resolver-single-node-full .cpuMsPerIteration)" 2) ms CPU | same |
| $(res resolver-fleet .name) | < 10 s on one core | **$(fmt "$(res resolver-fleet '.cpuMsPerIteration / 1000')" 2) s** CPU ($(fmt "$(res resolver-fleet '.wallMsPerIteration / 1000')" 2) s wall) | same |

## Lab API server (issue 3)

In-process against the API core (creates, list and watch fan-out without sockets: the server's own cost).

| Benchmark | Target | Result |
|---|---|---|
| $(j .objects "$TMP/lab.json") creates of $(j .objectBytes "$TMP/lab.json") B NodeDevice-sized objects | ≥ 2,000/s | **$(fmt "$(j .createsPerSecond "$TMP/lab.json")" 0)/s** ($(fmt "$(j .createSeconds "$TMP/lab.json")" 2) s) |
| Full list of them ($(( $(j .listBytes "$TMP/lab.json") / 1048576 )) MiB) | < 1 s | **$(fmt "$(j .listSeconds "$TMP/lab.json")" 3) s** |
| Watch fan-out to $(j .watchers "$TMP/lab.json") watchers | no dropped events | **$(j .eventsDeliveredMin "$TMP/lab.json") of $(j .eventsPerWatcherExpected "$TMP/lab.json")** events to the slowest watcher ($(fmt "$(j .fanOutSeconds "$TMP/lab.json")" 2) s) |
| Resident memory after all of it | < 1 GiB | **$(j .residentMiB "$TMP/lab.json") MiB** |

Reproduce: \`$BIN/automagic-bench lab --objects 5000 --watchers 100\`

## Controller (issue 7)

$(cat "$TMP/controller.md")

Reproduce: \`bash hack/bench-controller.sh\`

## Node agent (issue 5)

$(cat "$TMP/agent.md")

Reproduce: \`IDLE_SECONDS=$IDLE_SECONDS bash hack/bench-agent.sh\`

## CNI plugin (issue 6)

$(cat "$TMP/cni.md")

Reproduce: \`AUTOMAGIC=$BIN/automagic bash hack/bench-cni.sh\`
EOF
} | sed "s#$ROOT/##g" > "$OUT"
echo "wrote $OUT" >&2
