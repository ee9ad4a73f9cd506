#!/usr/bin/env bash
# Benchmarks of the node agent (issue 5), printed as a markdown table:
#   (a) one full probe of DEVICES veth devices vs `ip -j -d link show` + `ip -j addr show`
#       on the same namespace (median of PROBES runs each; the probe runs in `automagic-bench probe`,
#       linked like the agent, since the agent binary has no benchmark flags);
#   (b) a matching link added -> mapping file updated: median and worst over TRIALS;
#   (c) idle for IDLE_SECONDS with nothing changing: CPU, resident memory, API writes.
# Everything happens inside one throwaway network namespace (am<hex>) and a lab API server on
# 127.0.0.1; both are removed on exit. Needs root, iproute2, kubectl, python3, curl.
#
# The agent measured is the one we ship: the Containerfile builds it with --static-swift-stdlib,
# so by default this script does too, in its own scratch folder (.build-static, git-ignored) so
# the normal .build is not invalidated. AGENT_LINK=dynamic measures the plain `swift build` agent
# instead (Swift runtime and Foundation as shared libraries: more resident, partly shared, pages).
# The lab API server always comes from the normal build. SMAPS=1 also prints, on stderr, the
# agent's resident memory per mapping at the end of the idle phase. AGENT_BINARY=path measures
# that agent binary instead (e.g. an older build, side by side); nothing is built for it.
# AGENT_EXTRA adds flags to the long-running agent (split on spaces), e.g.
# AGENT_EXTRA=--no-resource-slices to measure the agent without its ResourceSlice publisher.
#
#   hack/bench-agent.sh                         # release build, 500 devices, 20 trials, 10 min idle
#   CONFIG=debug IDLE_SECONDS=30 hack/bench-agent.sh
set -euo pipefail

CONFIG=${CONFIG:-release}
DEVICES=${DEVICES:-500}
PROBES=${PROBES:-20}
TRIALS=${TRIALS:-20}
IDLE_SECONDS=${IDLE_SECONDS:-600}
AGENT_LINK=${AGENT_LINK:-static}
read -r -a AGENT_EXTRA_FLAGS <<< "${AGENT_EXTRA:-}"

cd "$(dirname "$0")/.."
ROOT=$PWD
case $AGENT_LINK in
  static) AGENT_FLAGS=(--static-swift-stdlib --scratch-path .build-static) ;;
  dynamic) AGENT_FLAGS=() ;;
  *) echo "AGENT_LINK must be static or dynamic, not '$AGENT_LINK'" >&2; exit 2 ;;
esac
BIN=$(swift build -c "$CONFIG" --show-bin-path)
if [[ -n ${AGENT_BINARY:-} ]]; then
  [[ -x $AGENT_BINARY ]] || { echo "AGENT_BINARY '$AGENT_BINARY' is not an executable" >&2; exit 2; }
  AGENT=$AGENT_BINARY
  AGENT_DESC="agent $AGENT_BINARY"
else
  # Always brought up to date (a no-op when it is). An incremental release build once kept
  # modules compiled against an older KubeClient layout (a corrupt agent); after merges that
  # change shared structs, `rm -rf .build-static` gives a clean measurement.
  AGENT_BIN=$(swift build -c "$CONFIG" "${AGENT_FLAGS[@]}" --show-bin-path)
  swift build -c "$CONFIG" "${AGENT_FLAGS[@]}" --product automagic-agent >&2
  AGENT=$AGENT_BIN/automagic-agent
  AGENT_DESC="$AGENT_LINK Swift runtime"
fi
# The probe benchmark: the agent's DeviceProbe code, linked as the agent is (AGENT_LINK).
PROBE_BIN=$(swift build -c "$CONFIG" "${AGENT_FLAGS[@]}" --show-bin-path)
swift build -c "$CONFIG" "${AGENT_FLAGS[@]}" --product automagic-bench >&2
if [[ ! -x $BIN/automagic-lab-apiserver || -n ${REBUILD:-} ]]; then
  swift build -c "$CONFIG" --product automagic-lab-apiserver >&2
fi
echo "agent: $AGENT ($CONFIG, $AGENT_DESC)${AGENT_EXTRA:+ with $AGENT_EXTRA}" >&2

NS=am$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')
WORK=$(mktemp -d /tmp/amagent-bench.XXXXXX)
LAB_PID=""
AGENT_PID=""
# Stops a process: SIGTERM, up to 10 s, then SIGKILL (never waits forever).
stop() {
  local pid=$1
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "pid $pid did not stop on SIGTERM within 10 s; killing it" >&2
    kill -9 "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  if [[ -n $AGENT_PID ]]; then
    t0=$(now_ns)
    stop "$AGENT_PID"
    echo "agent stopped $(( ($(now_ns) - t0) / 1000000 )) ms after SIGTERM" >&2
  fi
  stop "$LAB_PID"
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

now_ns() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# --- the namespace: DEVICES/2 veth pairs, one address on every first end -------------------
ip netns add "$NS"
ip -n "$NS" link set lo up
PAIRS=$((DEVICES / 2))
{
  for i in $(seq 0 $((PAIRS - 1))); do
    echo "link add bv$i type veth peer name bp$i"
    echo "link set bv$i up"
    echo "link set bp$i up"
    echo "address add 10.$((100 + i / 250)).$((i % 250)).1/24 dev bv$i"
  done
} > "$WORK/batch"
ip -n "$NS" -batch "$WORK/batch"
COUNT=$(ip -n "$NS" -j link show 2>/dev/null | python3 -c 'import json,sys; print(len([l for l in json.load(sys.stdin) if l["ifname"]!="lo"]))')

# --- (a) probe vs ip ----------------------------------------------------------------------------
AGENT_JSON=$("$PROBE_BIN/automagic-bench" probe --iterations "$PROBES" --netns "/var/run/netns/$NS")
AGENT_MEDIAN=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["medianMs"])' "$AGENT_JSON")
for _ in $(seq "$PROBES"); do
  t0=$(now_ns)
  ip -n "$NS" -j -d link show > /dev/null
  ip -n "$NS" -j addr show > /dev/null
  echo $(( ($(now_ns) - t0) / 1000 ))
done | median > "$WORK/ip-us"
IP_MEDIAN=$(awk '{printf "%.3f", $1/1000}' "$WORK/ip-us")
for _ in $(seq 5); do
  t0=$(now_ns)
  "$AGENT" --once --netns "/var/run/netns/$NS" > /dev/null
  echo $(( ($(now_ns) - t0) / 1000 ))
done | median > "$WORK/once-us"
ONCE_MEDIAN=$(awk '{printf "%.3f", $1/1000}' "$WORK/once-us")

# --- lab API server, CRDs, Node, a map -------------------------------------------------------
"$BIN/automagic-lab-apiserver" --port 0 --port-file "$WORK/port" --cert-dir "$WORK/certs" \
  --kubeconfig-out "$WORK/kubeconfig" --log-level warning > "$WORK/lab.log" 2>&1 &
LAB_PID=$!
for _ in $(seq 100); do [[ -s $WORK/port ]] && break; sleep 0.1; done
export KUBECONFIG=$WORK/kubeconfig
if [[ -d $ROOT/crds ]] && ls "$ROOT"/crds/*.yaml > /dev/null 2>&1; then
  kubectl apply -f "$ROOT/crds/" > /dev/null
else
  for spec in nodedevices:NodeDevice:nd networkdevicemaps:NetworkDeviceMap:ndm; do
    IFS=: read -r plural kind short <<< "$spec"
    cat << EOF | kubectl apply -f - > /dev/null
{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"$plural.automagic.dev"},
 "spec":{"group":"automagic.dev","scope":"Cluster","names":{"plural":"$plural","singular":"${kind,,}","kind":"$kind","shortNames":["$short"]},
 "versions":[{"name":"v1alpha1","served":true,"storage":true,"subresources":{"status":{}},
   "schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}]}}
EOF
  done
fi
kubectl create -f - > /dev/null << 'EOF'
{"apiVersion":"v1","kind":"Node","metadata":{"name":"bench-node","labels":{"kubernetes.io/hostname":"bench-node"}}}
EOF
kubectl apply -f - > /dev/null << 'EOF'
{"apiVersion":"automagic.dev/v1alpha1","kind":"NetworkDeviceMap","metadata":{"name":"hot"},
 "spec":{"rules":[{"devices":{"matchExpressions":[{"key":"name","operator":"Matches","values":["^hot"]}]}}],
         "attachment":{"type":"macvlan","mode":"bridge"}}}
EOF

MAPPING=$WORK/run/mapping.json
"$AGENT" --kubeconfig "$WORK/kubeconfig" --node-name bench-node --netns "/var/run/netns/$NS" \
  --mapping-file "$MAPPING" --health-addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0 --no-lldp \
  --log-level info "${AGENT_EXTRA_FLAGS[@]}" > "$WORK/agent.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 300); do
  [[ -s $MAPPING ]] && kubectl get nd bench-node > /dev/null 2>&1 && break
  kill -0 "$AGENT_PID" 2> /dev/null || { echo "the agent exited:" >&2; cat "$WORK/agent.log" >&2; exit 1; }
  sleep 0.1
done
# Health and metrics share one free port (both asked for 127.0.0.1:0); the agent logs it.
METRICS=$(sed -n 's/.*addresses=\(127\.0\.0\.1:[0-9]*\).*serving health and metrics.*/\1/p' "$WORK/agent.log" | head -1)
[[ -n $METRICS ]] || { echo "no metrics address in the agent's log" >&2; exit 1; }

# --- (b) hot-plug latency ------------------------------------------------------------------------
LAT=$(python3 - "$NS" "$MAPPING" "$TRIALS" << 'EOF'
import json, subprocess, sys, time
ns, path, trials = sys.argv[1], sys.argv[2], int(sys.argv[3])
def device():
    try:
        with open(path) as f:
            return json.load(f)["networks"].get("hot", {}).get("device")
    except (OSError, ValueError, KeyError):
        return None
def wait(want, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if device() == want:
            return True
        time.sleep(0.001)
    return False
lat = []
for i in range(trials):
    t0 = time.monotonic()
    subprocess.run(["ip", "-n", ns, "link", "add", f"hot{i}", "type", "veth", "peer", "name", f"hq{i}"], check=True)
    ok = wait(f"hot{i}")
    lat.append((time.monotonic() - t0) * 1000 if ok else float("inf"))
    subprocess.run(["ip", "-n", ns, "link", "del", f"hot{i}"], check=True)
    wait("")
lat.sort()
print(f"{lat[len(lat)//2]:.1f} {lat[-1]:.1f}")
EOF
)
LAT_MEDIAN=${LAT% *}
LAT_WORST=${LAT#* }

# --- (c) idle -------------------------------------------------------------------------------------
sleep 2
metric() { curl -s "$METRICS/metrics" | awk -v m="$1" '$1==m {print $2}'; }
ticks() { awk '{print $14 + $15}' "/proc/$AGENT_PID/stat"; }
RV0=$(kubectl get nd bench-node -o jsonpath='{.metadata.resourceVersion}')
PUB0=$(metric automagic_agent_publishes_total)
MW0=$(metric automagic_agent_mapping_writes_total)
T0=$(ticks)
sleep "$IDLE_SECONDS"
T1=$(ticks)
RV1=$(kubectl get nd bench-node -o jsonpath='{.metadata.resourceVersion}')
PUB1=$(metric automagic_agent_publishes_total)
MW1=$(metric automagic_agent_mapping_writes_total)
HZ=$(getconf CLK_TCK)
CPU=$(awk -v a="$T0" -v b="$T1" -v hz="$HZ" -v s="$IDLE_SECONDS" 'BEGIN {printf "%.3f", (b - a) / hz / s * 100}')
RSS=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$AGENT_PID/status")
HWM=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$AGENT_PID/status")
# RSS counts the shared libraries' resident pages (Swift runtime, Foundation, OpenSSL), which
# other processes share; PSS charges them proportionally and Anonymous is the agent's own heap.
PSS=$(awk '/^Pss:/ {printf "%.1f", $2/1024}' "/proc/$AGENT_PID/smaps_rollup")
ANON=$(awk '/^Anonymous:/ {printf "%.1f", $2/1024}' "/proc/$AGENT_PID/smaps_rollup")
if [[ -n ${SMAPS:-} ]]; then
  # Resident memory per mapping (file-backed text/data of each library, heap, thread stacks).
  python3 - "$AGENT_PID" >&2 << 'PYEOF'
import sys, collections, re
pid = sys.argv[1]
groups = collections.OrderedDict()
cur = None
for line in open(f"/proc/{pid}/smaps"):
    parts = line.split()
    if re.match(r'^[0-9a-f]+-[0-9a-f]+ ', line):
        addr, perms = parts[0], parts[1]
        name = parts[5] if len(parts) > 5 else "[anon]"
        lo, hi = (int(x, 16) for x in addr.split('-'))
        size = (hi - lo) // 1024
        if name == "[anon]":
            name = "[anon %s]" % ("thread stack?" if size in (8192, 8188, 8196, 516, 512, 1024) and perms == "rw-p" else perms)
        key = (name.split('/')[-1], perms if not name.startswith('[anon') else '')
        g = groups.setdefault(key, collections.Counter())
        g['maps'] += 1; g['size'] += size
        cur = g
    elif parts[0] in ('Rss:', 'Pss:', 'Private_Dirty:', 'Anonymous:', 'Private_Clean:', 'Shared_Clean:'):
        cur[parts[0][:-1]] += int(parts[1])
tot = collections.Counter()
print(f"{'mapping':45} {'perm':5} {'n':>3} {'sizeKiB':>9} {'Rss':>7} {'Pss':>7} {'PrivDirty':>9} {'Anon':>7}")
for (name, perms), g in sorted(groups.items(), key=lambda kv: -kv[1]['Rss']):
    tot.update(g)
    if g['Rss'] == 0: continue
    print(f"{name[:45]:45} {perms:5} {g['maps']:3} {g['size']:9} {g['Rss']:7} {g['Pss']:7} {g['Private_Dirty']:9} {g['Anonymous']:7}")
print(f"{'TOTAL':45} {'':5} {tot['maps']:3} {tot['size']:9} {tot['Rss']:7} {tot['Pss']:7} {tot['Private_Dirty']:9} {tot['Anonymous']:7}")
th = len(__import__('os').listdir(f"/proc/{pid}/task"))
print("threads:", th)
PYEOF
fi
WRITES=$(awk -v a="$PUB0" -v b="$PUB1" 'BEGIN {print b - a}')
MWRITES=$(awk -v a="$MW0" -v b="$MW1" 'BEGIN {print b - a}')
RVSAME=$([[ $RV0 == "$RV1" ]] && echo "unchanged ($RV0)" || echo "changed $RV0 -> $RV1")

cat << EOF
| benchmark ($CONFIG build, $AGENT_DESC, $COUNT devices) | result | target |
|---|---|---|
| full probe, in process (median of $PROBES) | ${AGENT_MEDIAN} ms | |
| \`ip -j -d link show\` + \`ip -j addr show\` (median of $PROBES) | ${IP_MEDIAN} ms | probe no slower |
| \`automagic-agent --once\`, whole process (median of 5) | ${ONCE_MEDIAN} ms | |
| link added -> mapping file updated, median of $TRIALS | ${LAT_MEDIAN} ms | < 200 ms |
| link added -> mapping file updated, worst of $TRIALS | ${LAT_WORST} ms | < 1000 ms |
| idle ${IDLE_SECONDS} s: CPU | ${CPU} % of one core | < 1 % |
| idle ${IDLE_SECONDS} s: resident memory RSS now / peak | ${RSS} / ${HWM} MiB | < 30 MiB |
| idle ${IDLE_SECONDS} s: PSS / anonymous (own heap) | ${PSS} / ${ANON} MiB | |
| idle ${IDLE_SECONDS} s: NodeDevice writes / mapping-file writes | ${WRITES} / ${MWRITES}; resourceVersion ${RVSAME} | 0 |
EOF
