#!/usr/bin/env bash
# Benchmarks the automagic CNI plugin against the Debian macvlan plugin with hyperfine and
# prints a markdown table (medians and ratios). Needs root (network namespaces), hyperfine, jq.
#
#   AUTOMAGIC=.build/release/automagic bash hack/bench-cni.sh
#
# Build the plugin first as it ships: swift build -c release --product automagic (Package.swift links
# it as a fully static executable; --static-swift-stdlib is accepted too).
#
# What is measured (in a throwaway host netns with a veth master and a pod netns):
#   VERSION      CNI_COMMAND=VERSION automagic   vs  CNI_COMMAND=VERSION macvlan
#   ADD+DEL      ADD then DEL through automagic -> macvlan (static IPAM)  vs  the same ADD and DEL
#                sent to macvlan directly
# Runs are paired: ROUNDS short hyperfine invocations (a few runs each), each measuring both
# commands back to back with the order alternating, so load on a shared machine hits both sides
# alike. "median" is over all runs; "ratio" is the median over rounds of automagic's median /
# macvlan's median in that round. ROUNDS=90 by default: an A/A run (macvlan against itself) spreads
# 0.93-1.07 over 30 rounds on a shared 2-core machine. KEEP_WORK=1 keeps the raw hyperfine JSON.
set -euo pipefail
cd "$(dirname "$0")/.."

AUTOMAGIC=${AUTOMAGIC:-.build/release/automagic}
PLUGINS=${PLUGINS:-/usr/lib/cni}
ROUNDS=${ROUNDS:-90}
VERSION_RUNS=${VERSION_RUNS:-20}
ADDDEL_RUNS=${ADDDEL_RUNS:-5}
AUTOMAGIC=$(readlink -f "$AUTOMAGIC")
[ -x "$AUTOMAGIC" ] || { echo "automagic binary not found at $AUTOMAGIC (build it first)" >&2; exit 1; }
[ -x "$PLUGINS/macvlan" ] || { echo "$PLUGINS/macvlan not found (install containernetworking-plugins)" >&2; exit 1; }
for tool in hyperfine jq ip; do command -v $tool >/dev/null || { echo "$tool is required" >&2; exit 1; }; done

P=am$(od -An -N2 -tx2 /dev/urandom | tr -d ' \n')
WORK=$(mktemp -d /tmp/amb-XXXXXX)
. hack/lib/cni-sandbox.sh
cni_sandbox "$P" "$WORK" bench
cat >"$WORK/automagic.json" <<JSON
{"cniVersion":"1.0.0","name":"storage","type":"automagic","network":"storage","mappingFile":"$WORK/mapping.json",
 "cacheDir":"$WORK/cache","ipam":{"type":"static","addresses":[{"address":"192.168.60.5/24"}]}}
JSON
cat >"$WORK/macvlan.json" <<JSON
{"cniVersion":"1.0.0","name":"storage","type":"macvlan","master":"$M","mode":"bridge",
 "ipam":{"type":"static","addresses":[{"address":"192.168.60.5/24"}]}}
JSON

export CNI_CONTAINERID=bench CNI_NETNS=/var/run/netns/$POD CNI_IFNAME=net1 CNI_PATH=$PLUGINS
# Sanity: both paths work and clean up, and automagic's delegate-version cache is warm.
for conf in automagic macvlan; do
  bin=$AUTOMAGIC; [ $conf = macvlan ] && bin=$PLUGINS/macvlan
  CNI_COMMAND=ADD ip netns exec "$H" "$bin" <"$WORK/$conf.json" >/dev/null
  CNI_COMMAND=DEL ip netns exec "$H" "$bin" <"$WORK/$conf.json" >/dev/null
done

# median of numbers on stdin
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"} else if (NR%2) {print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2}}'; }

# bench NAME RUNS SHELL CMD_AUTOMAGIC CMD_MACVLAN: ROUNDS interleaved hyperfine invocations in the
# host netns (SHELL "none" runs the argv exactly, "sh" lets hyperfine subtract the shell's start-up).
bench() {
  local name=$1 runs=$2 shell=$3 a=$4 m=$5 ia im
  : >"$WORK/$name.a"; : >"$WORK/$name.m"; : >"$WORK/$name.r"
  for r in $(seq 1 "$ROUNDS"); do
    local out=$WORK/bench-$r.json
    if [ $((r % 2)) = 1 ]; then set -- "$a" "$m"; ia=0 im=1; else set -- "$m" "$a"; ia=1 im=0; fi
    ip netns exec "$H" hyperfine --shell="$shell" --style none --warmup 1 --runs "$runs" --export-json "$out" "$@" >/dev/null
    jq -r ".results[$ia].times[]" "$out" >>"$WORK/$name.a"
    jq -r ".results[$im].times[]" "$out" >>"$WORK/$name.m"
    jq -r "(.results[$ia].median / .results[$im].median)" "$out" >>"$WORK/$name.r"
  done
  printf '| %s | %.2f ms | %.2f ms | %.3f |\n' "$name" \
    "$(median <"$WORK/$name.a" | awk '{print $1*1000}')" "$(median <"$WORK/$name.m" | awk '{print $1*1000}')" \
    "$(median <"$WORK/$name.r")"
}

# How much of the release link's function order (hack/cni-hot-functions.sh) the binary still finds.
if [ -f hack/automagic-hot-functions.txt ] && command -v nm >/dev/null; then
  echo "hot-function order: $(nm "$AUTOMAGIC" | awk '{print $NF}' | sort -u | comm -12 - <(sort -u hack/automagic-hot-functions.txt) | wc -l) of $(wc -l <hack/automagic-hot-functions.txt) listed functions present in the binary"
  echo
fi
echo "| benchmark | automagic (median) | macvlan (median) | ratio automagic/macvlan (median of rounds) |"
echo "|---|---|---|---|"
# VERSION: exact argv; the environment carries CNI_COMMAND.
CNI_COMMAND=VERSION bench VERSION "$VERSION_RUNS" none "$AUTOMAGIC" "$PLUGINS/macvlan"
# ADD then DEL, one pair per run.
bench "ADD+DEL" "$ADDDEL_RUNS" sh \
  "CNI_COMMAND=ADD $AUTOMAGIC <$WORK/automagic.json >/dev/null; CNI_COMMAND=DEL $AUTOMAGIC <$WORK/automagic.json" \
  "CNI_COMMAND=ADD $PLUGINS/macvlan <$WORK/macvlan.json >/dev/null; CNI_COMMAND=DEL $PLUGINS/macvlan <$WORK/macvlan.json"
# The median of per-round ratios is bimodal on kernels whose link set-up and tear-down wait on
# timer ticks (pairs take whole ticks: 19, 23, 27 ms at 250 Hz), so print the means too.
echo
awk '{s += $1; n++} END {printf "ADD+DEL, mean of the %d round ratios: %.3f; ", n, s / n}' "$WORK/ADD+DEL.r"
paste "$WORK/ADD+DEL.a" "$WORK/ADD+DEL.m" | awk '{a += $1; m += $2} END {printf "ratio of the mean times: %.3f (%.2f ms / %.2f ms)\n", a / m, a / NR * 1000, m / NR * 1000}'
# Nothing may be left behind.
if ip -n "$POD" -o link show | grep -qv ': lo:'; then echo "error: interfaces left in the pod netns" >&2; exit 1; fi
if [ -n "$(ls -A "$WORK/cache/attachments")" ]; then echo "error: attachment cache entries left" >&2; exit 1; fi
