#!/usr/bin/env bash
# Regenerates hack/automagic-hot-functions.txt: the functions the `automagic` plugin executes for
# each verb, in first-use order, which the release link (lld --symbol-ordering-file, see
# Package.swift) places side by side at the start of .text. The plugin is a new process for every
# call, and on a VM each first touch of a code page is a page fault costing microseconds; packing
# the ~900 functions a call runs into a few hundred KiB instead of spreading them over 5 MiB of text
# saves a quarter of those faults (docs/benchmarks.md). A stale list is harmless: missing symbols
# are ignored, they only lose their place.
#
#   swift build -c release --product automagic && bash hack/cni-hot-functions.sh
#
# Needs root (network namespaces), valgrind, and the Debian reference plugins. Runs every verb once
# under callgrind in a throwaway host namespace with a veth master, as hack/bench-cni.sh does.
# Valgrind hides AVX-512, so for the string functions glibc picks at run time (memmove, strlen …)
# the list also names the EVEX/AVX-512 variants the real CPU will use.
set -euo pipefail
cd "$(dirname "$0")/.."
AUTOMAGIC=$(readlink -f "${AUTOMAGIC:-.build/release/automagic}")
PLUGINS=${PLUGINS:-/usr/lib/cni}
OUT=${OUT:-hack/automagic-hot-functions.txt}
command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)" >&2; exit 1; }
[ -x "$AUTOMAGIC" ] || { echo "build the plugin first: swift build -c release --product automagic" >&2; exit 1; }

P=amo$(od -An -N2 -tx2 /dev/urandom | tr -d ' \n')
WORK=$(mktemp -d /tmp/amo-XXXXXX)
. hack/lib/cni-sandbox.sh
cni_sandbox "$P" "$WORK" profile
conf() {  # conf VERSION [extra JSON members]
  echo "{\"cniVersion\":\"$1\",\"name\":\"storage\",\"type\":\"automagic\",\"network\":\"storage\",\"mappingFile\":\"$WORK/mapping.json\",\"cacheDir\":\"$WORK/cache\",\"ipam\":{\"type\":\"static\",\"addresses\":[{\"address\":\"192.168.60.5/24\"}]}${2:+,$2}}"
}
export CNI_CONTAINERID=profile CNI_NETNS=/var/run/netns/$POD CNI_IFNAME=net1 CNI_PATH=$PLUGINS
# profile NAME VERB STDIN: one call under callgrind (dumped before an exec that replaces the process).
profile() {
  CNI_COMMAND=$2 ip netns exec "$H" valgrind --tool=callgrind --dump-before=execve --demangle=no \
    --callgrind-out-file="$WORK/$1.out" "$AUTOMAGIC" <<<"$3" >"$WORK/$1.stdout" 2>"$WORK/$1.valgrind" || true
}
# Warm the delegate-version cache first, as on a node that has run a pod before.
CNI_COMMAND=ADD ip netns exec "$H" "$AUTOMAGIC" <<<"$(conf 1.0.0)" >/dev/null
CNI_COMMAND=DEL ip netns exec "$H" "$AUTOMAGIC" <<<"$(conf 1.0.0)" >/dev/null
CNI_COMMAND=VERSION profile version VERSION ""
profile add ADD "$(conf 1.0.0)"
profile check CHECK "$(conf 1.0.0 "\"prevResult\":$(cat "$WORK/add.stdout")")"
profile del DEL "$(conf 1.0.0)"
profile status STATUS "$(conf 1.1.0)"
profile gc GC "$(conf 1.1.0 '"cni.dev/valid-attachments":[]')"
profile add-11 ADD "$(conf 1.1.0)"
profile del-11 DEL "$(conf 1.1.0)"
grep -q '"cniVersion"' "$WORK/add.stdout" || { echo "the profiled ADD failed: $(cat "$WORK/add.stdout")" >&2; exit 1; }

nm "$AUTOMAGIC" | awk '{print $NF}' | sort -u >"$WORK/symbols"
python3 - "$WORK" "$OUT" <<'PY'
import glob, re, sys
work, out = sys.argv[1], sys.argv[2]
symbols = set(open(f"{work}/symbols").read().split())
order, seen = [], set()
def add(name):
    if name not in seen:
        seen.add(name)
        order.append(name)
for verb in ["version", "add", "del", "check", "status", "gc", "add-11", "del-11"]:
    # callgrind writes NAME.out at exit, NAME.out.1 when it dumps before an exec
    lines = [line for path in sorted(glob.glob(f"{work}/{verb}.out*")) for line in open(path)]
    for line in lines:
        m = re.match(r"^c?fn=\(\d+\) (.+)$", line.rstrip("\n"))
        if not m or m.group(1).startswith("0x"):
            continue
        name = m.group(1)
        add(name)
        fam = re.match(r"^(__[a-z0-9]+)_(avx2|avx|sse2|sse4_2|ssse3|erms)", name)
        if fam:
            for s in sorted(symbols):
                if s.startswith(fam.group(1) + "_") and ("evex" in s or "avx512" in s):
                    add(s)
with open(out, "w") as f:
    f.write("\n".join(n for n in order if n in symbols) + "\n")
print(f"{out}: {sum(1 for n in order if n in symbols)} functions")
PY
# SwiftPM does not know the list is a link input: make it link again.
echo "relink to use it: rm -f .build/*/release/automagic && swift build -c release --product automagic"
