# Sourced by hack/bench-cni.sh and hack/cni-hot-functions.sh: a throwaway host network namespace
# with a veth master and a pod namespace, and a mapping file that maps network "storage" to the
# master, so that the `automagic` plugin can run ADD/DEL with the Debian macvlan plugin.
#
#   cni_sandbox PREFIX WORKDIR NODE
#
# Sets H (host netns), POD (pod netns), M (master) and writes WORKDIR/mapping.json; registers an
# EXIT trap that deletes the namespaces (and WORKDIR unless KEEP_WORK is set).
cni_sandbox() {
  local prefix=$1 node=$3
  CNI_SANDBOX_WORK=$2
  H=${prefix}h POD=${prefix}p M=${prefix}m
  trap cni_sandbox_cleanup EXIT
  ip netns add "$H"
  ip netns add "$POD"
  ip -n "$H" link add "$M" type veth peer name "${prefix}x"
  ip -n "$H" link set "$M" up
  ip -n "$H" link set "${prefix}x" up
  cat >"$CNI_SANDBOX_WORK/mapping.json" <<JSON
{"apiVersion":"automagic.dev/v1alpha1","kind":"NodeNetworkMapping","node":"$node","generation":1,
 "updatedAt":"2026-11-28T22:00:00Z","networks":{"storage":{"device":"$M","map":"storage","attachment":{"type":"macvlan","mode":"bridge"}}}}
JSON
}

cni_sandbox_cleanup() {
  ip netns del "$POD" 2>/dev/null || true
  ip netns del "$H" 2>/dev/null || true
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$CNI_SANDBOX_WORK"
}
