#!/usr/bin/env bash
# Device plugin benchmarks (root): Allocate latency (target p99 < 10 ms), link down → Unhealthy
# latency (target < 1 s), and idle CPU and memory of automagic-device-plugin, against the fake
# kubelet of the tests (Tests/DevicePluginTests/fake_kubelet.py, serving the pod resources API too,
# which the plugin then asks every second) with veth links in a namespace.
#
#   hack/bench-deviceplugin.sh            # release build (swift build -c release --product automagic-device-plugin)
#   CONFIG=debug hack/bench-deviceplugin.sh
#   IDLE_SECONDS=30 ALLOCATIONS=2000 hack/bench-deviceplugin.sh
# Bounded: ALLOCATIONS (1000) Allocate calls on one connection, 10 down/up rounds, IDLE_SECONDS (10)
# idle. Cleans up on exit.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export PATH=/opt/swift/usr/bin:$PATH
config=${CONFIG:-release}
idle=${IDLE_SECONDS:-10}
allocations=${ALLOCATIONS:-1000}
if [ "$config" = release ] && [ -z "${DEVICE_PLUGIN:-}" ]; then
  swift build --package-path "$repo" -c release --product automagic-device-plugin >&2
fi
# DEVICE_PLUGIN=path measures that binary instead (e.g. a copy, while a build holds .build).
bin=${DEVICE_PLUGIN:-$(swift build --package-path "$repo" -c "$config" --show-bin-path)/automagic-device-plugin}
fake="$repo/Tests/DevicePluginTests/fake_kubelet.py"
ns=ambench$$
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add bda address 02:b0:00:00:00:01 type veth peer name bdap
ip -n "$ns" link add bdb address 02:b0:00:00:00:02 type veth peer name bdbp
for l in bda bdap bdb bdbp; do ip -n "$ns" link set "$l" up; done
mkdir "$work/plugins" "$work/pod-resources"
echo '[]' > "$work/pods.json"
cat > "$work/mapping.json" <<JSON
{"apiVersion": "automagic.dev/v1alpha1", "kind": "NodeNetworkMapping", "formatVersion": 2, "node": "bench",
 "generation": 1, "updatedAt": "2026-12-06T00:00:00Z", "networks": {"fast": {"device": "bda", "map": "fast",
 "exclusive": true, "candidates": [{"name": "bda", "mac": "02:b0:00:00:00:01", "numaNode": 0},
 {"name": "bdb", "mac": "02:b0:00:00:00:02", "numaNode": 0}]}}}
JSON
python3 "$fake" serve --dir "$work/plugins" --events "$work/events.jsonl" \
  --pod-resources "$work/pod-resources/kubelet.sock" --pods "$work/pods.json" > "$work/kubelet.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do [ -S "$work/plugins/kubelet.sock" ] && break; sleep 0.1; done
"$bin" --mapping-file "$work/mapping.json" --device-plugin-dir "$work/plugins" --netns "/var/run/netns/$ns" \
  --pod-resources-socket "$work/pod-resources/kubelet.sock" > "$work/plugin.log" 2>&1 & plugin=$!; pids+=($plugin)
for _ in $(seq 100); do grep -q '"event": "list"' "$work/events.jsonl" 2>/dev/null && break; sleep 0.1; done

sleep 2
cpu_ticks() { awk '{print $14 + $15}' "/proc/$plugin/stat"; }
ticks0=$(cpu_ticks)
sleep "$idle"
ticks1=$(cpu_ticks)
rss=$(awk '/VmRSS/ {print $2}' /proc/$plugin/status); anon=$(awk '/RssAnon/ {print $2}' /proc/$plugin/status)
pss=$(awk '/^Pss:/ {print $2}' /proc/$plugin/smaps_rollup)
threads=$(awk '/Threads/ {print $2}' /proc/$plugin/status)
cpu=$(python3 -c "import os,sys; print(f'{100 * (int(sys.argv[2]) - int(sys.argv[1])) / os.sysconf(\"SC_CLK_TCK\") / float(sys.argv[3]):.3f}')" "$ticks0" "$ticks1" "$idle")
grep -q "following the pods' devices through the pod resources API" "$work/plugin.log" \
  || { echo "the plugin did not use the fake kubelet's pod resources API:" >&2; cat "$work/plugin.log" >&2; exit 1; }

python3 "$fake" call --socket "$work/plugins/automagic-fast.sock" allocate-loop --count "$allocations" 02:b0:00:00:00:01 > "$work/alloc.json"

for i in $(seq 10); do
  t=$(python3 -c 'import time; print(time.time())')
  ip -n "$ns" link set bda down
  for _ in $(seq 300); do
    python3 - "$work/events.jsonl" "$t" Unhealthy <<'PY' && break
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "list" and e["time"] > float(sys.argv[2]) and e["devices"][0]["health"] == sys.argv[3]:
        print(e["time"] - float(sys.argv[2]), file=open(sys.argv[1] + ".lat", "a")); sys.exit(0)
sys.exit(1)
PY
    sleep 0.02
  done
  ip -n "$ns" link set bda up
  sleep 0.3
done

python3 - "$work" "$rss" "$anon" "$threads" "$config" "$pss" "$cpu" "$idle" "$(stat -c %s "$bin")" <<'PY'
import json, sys
work, rss, anon, threads, config, pss, cpu, idle, size = sys.argv[1:]
alloc = sorted(json.load(open(work + "/alloc.json"))["seconds"])
lat = sorted(float(x) for x in open(work + "/events.jsonl.lat"))
pct = lambda xs, p: xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
print(f"build: {config}")
print(f"Allocate (n={len(alloc)}): median {pct(alloc,50)*1000:.2f} ms, p99 {pct(alloc,99)*1000:.2f} ms, max {alloc[-1]*1000:.2f} ms (target p99 < 10 ms)")
print(f"link down -> Unhealthy (n={len(lat)}): median {pct(lat,50)*1000:.0f} ms, max {lat[-1]*1000:.0f} ms (target < 1 s)")
print(f"idle {idle} s (one resource, pod resources List every 1 s): CPU {cpu} % of one core; "
      f"VmRSS {int(rss)/1024:.1f} MiB, PSS {int(pss)/1024:.1f} MiB, anonymous {int(anon)/1024:.1f} MiB, {threads} threads")
print(f"binary: {int(size)/1048576:.1f} MiB")
PY
