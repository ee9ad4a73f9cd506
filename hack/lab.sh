#!/usr/bin/env bash
# The Automagic lab: the whole system on one machine, no cluster needed.
#
#   hack/lab.sh up       install what is needed, build, start everything, attach pods, print the summary
#   hack/lab.sh status   print the summary again (networks x nodes -> device, pods and their interfaces)
#   hack/lab.sh demo     on the lab that is up (starting one only if none is): unplug and re-plug a NIC,
#                        edit a map (preview, apply, watch the mapping file follow, restore), a miscabled port
#   hack/lab.sh demo-dra on the lab that is up: a network allocated through DRA (issue 17): a map with
#                        `dra: true`, a ResourceClaim allocated by hand as the scheduler would, the kubelet's
#                        calls made by the fake kubelet (Python grpcio), the pod attached to that device
#   hack/lab.sh down     remove everything the lab created (processes, namespaces, links, files)
#
# What runs (see docs/lab-guide.md):
#   automagic-lab-apiserver   in-memory Kubernetes API over HTTPS on 127.0.0.1 (or your cluster: see below)
#   amlab-fabric              a network namespace playing the switches: one bridge per physical network,
#                             and automagic-lab-switch announcing LLDP (switch name, port, VLAN) on its ports
#   amlab-worker-1..3         one network namespace per simulated node; veth pairs stand in for its NICs,
#                             named and addressed the way three different server generations would be
#   automagic-agent x3        one per node (--netns), each sees only its node's devices
#   automagic-controller      map status, node labels, extended resources
#   amlab-worker-N-pod        a "pod" per node, attached to the `storage` network through the automagic
#                             CNI plugin and the real macvlan plugin from /usr/lib/cni
#
# Environment:
#   AUTOMAGIC_LAB_DIR        state directory (default /run/automagic-lab)
#   AUTOMAGIC_LAB_BIN        use binaries from this directory instead of building release binaries
#   AUTOMAGIC_LAB_KUBECONFIG run agents and controller against this (real, throwaway) cluster instead of the
#                            lab API server; `up --cluster` does the same with $KUBECONFIG. Node objects
#                            worker-1..3 labelled automagic.dev/lab=true are created there; `down` deletes them.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LAB=${AUTOMAGIC_LAB_DIR:-/run/automagic-lab}
PREFIX=amlab
NODES=(worker-1 worker-2 worker-3)
export PATH=/opt/swift/usr/bin:$PATH

if [ -t 1 ]; then B=$'\e[1m'; G=$'\e[32m'; R=$'\e[31m'; Y=$'\e[33m'; D=$'\e[2m'; N=$'\e[0m'; else B= G= R= Y= D= N=; fi
step() { printf '%s==>%s %s\n' "$B" "$N" "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf '%serror:%s %s\n' "$R" "$N" "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "the lab creates network namespaces: run it as root"

kc() { kubectl --kubeconfig "$KUBECONFIG_LAB" "$@"; }

# ---------------------------------------------------------------------------------------------
# The story: three servers of different generations. Per node: NIC name, fabric network,
# address (documentation ranges only: 192.0.2.0/24 management, 198.51.100.0/24 storage),
# MTU, and the VLAN the switch port is in.
#   node      mgmt NIC   storage NIC            provider NIC (trunk, no address)
#   worker-1  ens5f0     ens5f1  (MTU 9000)     ens6f0  switch port VLAN 100
#   worker-2  eno1       eno2    (MTU 9000)     eno3    switch port VLAN 100
#   worker-3  enp1s0f0   enp1s0f1 (MTU 9000)    eno3    switch port VLAN 200  <- miscabled
# ---------------------------------------------------------------------------------------------
nics_of() {
  case "$1" in
    worker-1) echo "ens5f0:mgmt:192.0.2.11/24:1500:10 ens5f1:storage:198.51.100.11/24:9000:50 ens6f0:provider::1500:100" ;;
    worker-2) echo "eno1:mgmt:192.0.2.12/24:1500:10 eno2:storage:198.51.100.12/24:9000:50 eno3:provider::1500:100" ;;
    worker-3) echo "enp1s0f0:mgmt:192.0.2.13/24:1500:10 enp1s0f1:storage:198.51.100.13/24:9000:50 eno3:provider::1500:200" ;;
  esac
}
labels_of() {
  case "$1" in
    worker-1) echo "hardware.automagic.dev/generation=gen2" ;;
    worker-2) echo "hardware.automagic.dev/generation=gen1" ;;
    worker-3) echo "hardware.automagic.dev/generation=gen3" ;;
  esac
}
node_index() { echo "${1#worker-}"; }
ns_node() { echo "$PREFIX-$1"; }
ns_pod() { echo "$PREFIX-$1-pod"; }
ns_fabric() { echo "$PREFIX-fabric"; }

# Fabric port name for a node NIC (<= 15 chars): p<node><nic-index>
fabric_port() { echo "p$(node_index "$1")-$2"; }

ensure_deps() {
  step "Checking dependencies"
  bash "$ROOT/hack/install-deps.sh"
}

build() {
  if [ -n "${AUTOMAGIC_LAB_BIN:-}" ]; then
    BIN=$(cd "$AUTOMAGIC_LAB_BIN" && pwd)
    info "using binaries from $BIN"
  else
    step "Building release binaries (a first build takes several minutes; progress below)"
    local p
    for p in automagic-lab-apiserver automagic automagic-agent automagic-controller kubectl-automagic automagic-lab-switch; do
      (cd "$ROOT" && swift build -c release --product "$p" 2>&1) | build_progress "$p"
    done
    BIN="$ROOT/.build/release"
  fi
  for b in automagic automagic-agent automagic-controller kubectl-automagic automagic-lab-apiserver automagic-lab-switch; do
    [ -x "$BIN/$b" ] || die "missing binary $BIN/$b"
  done
  echo "$BIN" > "$LAB/bin-dir"
}

# SwiftPM's "[n/m] step" lines as progress: one line rewritten in place on a terminal, otherwise a
# line per 20%; errors as they come; the last line (the result) at the end.
build_progress() { # product
  local tty=0; [ -t 1 ] && tty=1
  awk -v what="$1" -v tty="$tty" '
    /^\[[0-9]+\/[0-9]+\]/ {
      split(substr($1, 2, length($1) - 2), a, "/"); n = a[1] + 0; m = a[2] + 0; pct = m > 0 ? int(100 * n / m) : 0
      if (tty) { printf "\r    %s: [%d/%d] %-50.50s", what, n, m, substr($0, length($1) + 2); fflush() }
      else if (pct >= next_pct) { printf "    %s: %d%% [%d/%d] %s\n", what, pct, n, m, substr($0, length($1) + 2); fflush(); next_pct = pct - pct % 20 + 20 }
      last = $0; next
    }
    /error:/ { if (tty) printf "\n"; print "    " $0; fflush() }
    { last = $0 }
    END { if (tty) printf "\r%-90s\r", ""; print "    " what ": " last }'
}

start_bg() { # name, command...
  local name=$1; shift
  setsid "$@" >"$LAB/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$LAB/pids/$name.pid"
}

wait_for() { # description, timeout seconds, command...
  local what=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "timed out after ${timeout}s waiting for $what (logs in $LAB/logs)"
    sleep 0.2
  done
}

start_apiserver() {
  if [ -n "${AUTOMAGIC_LAB_KUBECONFIG:-}" ]; then
    KUBECONFIG_LAB=$AUTOMAGIC_LAB_KUBECONFIG
    step "Using your cluster ($(kubectl --kubeconfig "$KUBECONFIG_LAB" config current-context))"
    echo "$KUBECONFIG_LAB" > "$LAB/kubeconfig-path"
    echo "$KUBECONFIG_LAB" > "$LAB/cluster-mode"
    return
  fi
  step "Starting automagic-lab-apiserver (HTTPS on 127.0.0.1)"
  KUBECONFIG_LAB=$LAB/admin.kubeconfig
  echo "$KUBECONFIG_LAB" > "$LAB/kubeconfig-path"
  rm -f "$LAB/apiserver.port"
  start_bg apiserver "$BIN/automagic-lab-apiserver" --port 0 --cert-dir "$LAB/pki" \
    --kubeconfig-out "$KUBECONFIG_LAB" --port-file "$LAB/apiserver.port" --data "$LAB/apiserver.snapshot.json"
  wait_for "the lab API server" 30 test -s "$LAB/apiserver.port"
  wait_for "the lab API server to answer" 30 kc get --raw /readyz
  info "listening on https://127.0.0.1:$(cat "$LAB/apiserver.port"), kubeconfig $KUBECONFIG_LAB"
}

apply_api() {
  step "Applying crds/ and the lab's NetworkDeviceMaps with kubectl"
  kc apply -f "$ROOT/crds/" | sed 's/^/    /'
  for crd in nodedevices.automagic.dev networkdevicemaps.automagic.dev; do
    wait_for "CRD $crd to be established" 30 kc wait --for=condition=Established "crd/$crd" --timeout=5s
  done
  kc apply -f "$ROOT/hack/lab/maps/" | sed 's/^/    /'
}

create_fabric() {
  local f; f=$(ns_fabric)
  ip netns add "$f"
  ip -n "$f" link set lo up
  for net in mgmt storage provider; do
    ip -n "$f" link add "br-$net" type bridge
    ip -n "$f" link set "br-$net" up
  done
}

# add_nic node nic net addr mtu vlan: a veth pair, NIC end in the node, port end on the fabric bridge.
add_nic() {
  local node=$1 nic=$2 net=$3 addr=$4 mtu=$5 nsn nsf port tmp
  nsn=$(ns_node "$node"); nsf=$(ns_fabric); port=$(fabric_port "$node" "$nic")
  tmp="amt$RANDOM$RANDOM"; tmp=${tmp:0:15}
  ip link add "$tmp" mtu "$mtu" type veth peer name "$port" mtu "$mtu"
  ip link set "$tmp" netns "$nsn"
  ip link set "$port" netns "$nsf"
  ip -n "$nsn" link set "$tmp" name "$nic"
  # Stable, locally administered MACs that tell the node and NIC apart.
  ip -n "$nsn" link set "$nic" address "02:a0:00:0$(node_index "$node"):$(printf '%02x' $(( $(cksum <<<"$nic" | cut -d' ' -f1) % 256 ))):01"
  ip -n "$nsf" link set "$port" master "br-$net" up
  ip -n "$nsn" link set "$nic" up
  [ -n "$addr" ] && ip -n "$nsn" addr add "$addr" dev "$nic"
  return 0
}

create_nodes() {
  step "Creating simulated nodes (network namespaces with veth NICs on a simulated fabric)"
  create_fabric
  local node nsn nic net addr mtu vlan ports
  for node in "${NODES[@]}"; do
    nsn=$(ns_node "$node")
    ip netns add "$nsn"
    ip -n "$nsn" link set lo up
    for spec in $(nics_of "$node"); do
      IFS=: read -r nic net addr mtu vlan <<<"$spec"
      add_nic "$node" "$nic" "$net" "$addr" "$mtu" "$vlan"
    done
    info "$node: $(ip -n "$nsn" -br link | awk '$1!="lo"{sub(/@.*/,"",$1); printf "%s ", $1}')"
  done
  # The switch: LLDP on every fabric port, with the VLAN the port is in.
  ports=()
  for node in "${NODES[@]}"; do
    for spec in $(nics_of "$node"); do
      IFS=: read -r nic net addr mtu vlan <<<"$spec"
      ports+=(--port "$(fabric_port "$node" "$nic")=Ethernet1/$(node_index "$node")/$nic:$vlan:$net-$vlan")
    done
  done
  start_bg lldp-switch "$BIN/automagic-lab-switch" --netns "/var/run/netns/$(ns_fabric)" --system-name tor-r1-a --interval 2 --ttl 30 "${ports[@]}"
}

create_node_objects() {
  step "Registering Node objects"
  local node
  for node in "${NODES[@]}"; do
    cat <<EOF | kc apply -f - | sed 's/^/    /'
apiVersion: v1
kind: Node
metadata:
  name: $node
  labels:
    kubernetes.io/hostname: $node
    automagic.dev/lab: "true"
    $(labels_of "$node" | sed 's/=/: /')
EOF
  done
}

start_agents() {
  step "Starting one automagic-agent per node"
  local node i
  for node in "${NODES[@]}"; do
    i=$(node_index "$node")
    mkdir -p "$LAB/nodes/$node"
    start_bg "agent-$node" "$BIN/automagic-agent" --kubeconfig "$KUBECONFIG_LAB" --node-name "$node" \
      --netns "/var/run/netns/$(ns_node "$node")" --mapping-file "$LAB/nodes/$node/mapping.json" \
      --lldp-devices '*' --health-addr "127.0.0.1:$((19740 + i))" --metrics-addr "127.0.0.1:$((19840 + i))" \
      --resync-period 1m
  done
  for node in "${NODES[@]}"; do
    i=$(node_index "$node")
    wait_for "agent on $node to be ready" 60 curl -fsS "http://127.0.0.1:$((19740 + i))/readyz"
    info "$node: ready, mapping file $LAB/nodes/$node/mapping.json"
  done
}

start_controller() {
  step "Starting automagic-controller"
  start_bg controller "$BIN/automagic-controller" --kubeconfig "$KUBECONFIG_LAB" \
    --health-addr 127.0.0.1:19081 --metrics-addr 127.0.0.1:19080
  wait_for "the controller to be healthy" 60 curl -fsS http://127.0.0.1:19081/healthz
}

mapping_has() { # node network
  jq -e --arg n "$2" '(.networks[$n].device // "") != ""' "$LAB/nodes/$1/mapping.json"
}

mapping_lacks() { ! mapping_has "$@"; }

# The legend of the networks x nodes table, the same as `kubectl automagic status`'s.
LEGEND="legend: device = resolved, - = not selected (the network is not in the node's mapping file), none = no device (in the file with \"device\": \"\"), ? = no mapping file"

# Whether every map's status (controller) agrees with the agents: status for the current generation,
# and MATCHED equal to the number of nodes whose mapping file has a device for it.
controller_agrees() {
  local json net node expected actual
  json=$(kc get networkdevicemaps -o json) || return 1
  for net in $(jq -r '.items[].metadata.name' <<<"$json"); do
    expected=0
    for node in "${NODES[@]}"; do
      if mapping_has "$node" "$net" >/dev/null 2>&1; then expected=$((expected + 1)); fi
    done
    actual=$(jq -r --arg n "$net" '.items[] | select(.metadata.name == $n)
      | if (.status.observedGeneration // -1) == .metadata.generation then (.status.nodes.matched // -1) else -1 end' <<<"$json")
    [ "$actual" = "$expected" ] || return 1
  done
}

# Waits (bounded) for the controller to catch up with the agents; says so if it does not.
wait_controller_agrees() { # timeout seconds
  local deadline=$((SECONDS + $1))
  until controller_agrees; do
    if [ $SECONDS -ge "$deadline" ]; then
      printf '    %swarning:%s after %ss the controller'"'"'s status (MATCHED) still differs from the mapping files; the table below may lag (hack/lab.sh status shows it again)\n' "$Y" "$N" "$1"
      return 0
    fi
    sleep 0.5
  done
}

cni() { # node command containerid network ifname [ip]
  local node=$1 cmd=$2 cid=$3 net=$4 ifname=$5 ip=${6:-}
  local ipam='{}'
  [ -n "$ip" ] && ipam="{\"type\":\"static\",\"addresses\":[{\"address\":\"$ip\"}]}"
  printf '{"cniVersion":"1.0.0","name":"%s","type":"automagic","network":"%s","mappingFile":"%s","cacheDir":"%s","ipam":%s}' \
    "$net" "$net" "$LAB/nodes/$node/mapping.json" "$LAB/nodes/$node/cni-cache" "$ipam" |
    ip netns exec "$(ns_node "$node")" env CNI_COMMAND="$cmd" CNI_CONTAINERID="$cid" \
      CNI_NETNS="/var/run/netns/$(ns_pod "$node")" CNI_IFNAME="$ifname" CNI_PATH="$BIN:/usr/lib/cni" "$BIN/automagic"
}

attach_pods() {
  step "Attaching a pod on each node to network 'storage' (automagic -> macvlan)"
  local node i out
  for node in "${NODES[@]}"; do
    i=$(node_index "$node")
    ip netns add "$(ns_pod "$node")"
    ip -n "$(ns_pod "$node")" link set lo up
    wait_for "network 'storage' in $node's mapping file" 30 mapping_has "$node" storage
    out=$(cni "$node" ADD "lab-$node-pod" storage net1 "198.51.100.10$i/24") || die "ADD on $node failed: $out"
    echo "$out" > "$LAB/nodes/$node/pod-result.json"
    info "$node: pod interface net1 $(jq -r '.ips[0].address' <<<"$out")"
  done
}

summary() {
  [ -f "$LAB/kubeconfig-path" ] || die "the lab is not running (run: hack/lab.sh up)"
  KUBECONFIG_LAB=$(cat "$LAB/kubeconfig-path")
  BIN=$(cat "$LAB/bin-dir")
  local nets node net dev row
  printf '\n%sNetworks x nodes -> device%s (from each node'"'"'s mapping file)\n' "$B" "$N"
  nets=$(kc get networkdevicemaps -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | sort)
  printf '  %-22s' "NETWORK"; for node in "${NODES[@]}"; do printf '%-14s' "$node"; done; printf '\n'
  for net in $nets; do
    printf '  %-22s' "$net"
    for node in "${NODES[@]}"; do
      dev=$(jq -r --arg n "$net" 'if .networks | has($n) then (.networks[$n].device | if . == "" then "none" else . end) else "-" end' \
        "$LAB/nodes/$node/mapping.json" 2>/dev/null || echo "?")
      case "$dev" in
        -) printf '%s%-14s%s' "$D" "-" "$N" ;;
        none) printf '%s%-14s%s' "$R" "none" "$N" ;;
        \?) printf '%s%-14s%s' "$Y" "?" "$N" ;;
        *) printf '%s%-14s%s' "$G" "$dev" "$N" ;;
      esac
    done
    printf '\n'
  done
  printf '  %s%s%s\n' "$D" "$LEGEND" "$N"
  printf '\n%sNetworkDeviceMaps%s (controller view)\n' "$B" "$N"
  kc get networkdevicemaps | sed 's/^/  /'
  printf '\n%sPods%s\n' "$B" "$N"
  for node in "${NODES[@]}"; do
    local pod; pod=$(ns_pod "$node")
    if ip netns list | grep -qw "$pod"; then
      local master addr
      master=$(jq -r '.networks.storage.device // "?"' "$LAB/nodes/$node/mapping.json" 2>/dev/null)
      addr=$(ip -n "$pod" -j addr show dev net1 2>/dev/null | jq -r '[.[0].addr_info[] | select(.family=="inet") | "\(.local)/\(.prefixlen)"] | join(",")' 2>/dev/null)
      printf '  %-10s netns %-18s net1 (macvlan on %s:%s) %s\n' "$node" "$pod" "$node" "$master" "${addr:-no address}"
    fi
  done
  printf '\nTry: %sKUBECONFIG=%s %s/kubectl-automagic status%s\n' "$D" "$KUBECONFIG_LAB" "$BIN" "$N"
  printf '     %sip netns exec %s ping -c1 198.51.100.102%s   (pod on worker-1 -> pod on worker-2 over the storage fabric)\n' "$D" "$(ns_pod worker-1)" "$N"
}

down() {
  step "Stopping the lab"
  if [ -d "$LAB/pids" ]; then
    # SIGTERM to each process group (setsid made one per program), then wait for every program to exit:
    # each one stops within 2 s (the API server writes its --data snapshot first). SIGKILL only past
    # the bound, and then say which program needed it: that is a bug to report.
    local f pid name deadline=$((SECONDS + 10)) running
    for f in "$LAB"/pids/*.pid; do
      [ -e "$f" ] || continue
      pid=$(cat "$f")
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    while :; do
      running=0
      for f in "$LAB"/pids/*.pid; do
        [ -e "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && running=1
      done
      [ "$running" = 0 ] || [ "$SECONDS" -ge "$deadline" ] && break
      sleep 0.1
    done
    for f in "$LAB"/pids/*.pid; do
      [ -e "$f" ] || continue
      pid=$(cat "$f"); name=$(basename "$f" .pid)
      if kill -0 "$pid" 2>/dev/null; then
        printf '    %swarning:%s %s (pid %s) did not stop within 10 s of SIGTERM: sending SIGKILL\n' \
          "$Y" "$N" "$name" "$pid"
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      fi
    done
  fi
  if [ -f "$LAB/cluster-mode" ]; then
    kubectl --kubeconfig "$(cat "$LAB/cluster-mode")" delete nodes -l automagic.dev/lab=true --ignore-not-found | sed 's/^/    /' || true
  fi
  local ns
  for ns in $(ip netns list | awk '{print $1}' | grep "^$PREFIX-" || true); do
    ip netns del "$ns"
  done
  rm -rf "$LAB"
  info "removed namespaces, processes and $LAB"
}

up() {
  if [ -d "$LAB" ]; then
    info "a previous lab is present: removing it first"
    down
  fi
  mkdir -p "$LAB/logs" "$LAB/pids" "$LAB/nodes"
  ensure_deps
  build
  start_apiserver
  apply_api
  create_nodes
  create_node_objects
  start_agents
  start_controller
  attach_pods
  wait_for "the storage map to be Ready" 60 kc wait --for=condition=Ready ndm/storage --timeout=5s
  step "Waiting for the agents to hear the switch (LLDP)"
  wait_for "worker-1 to resolve provider-vlan-100 from LLDP" 30 mapping_has worker-1 provider-vlan-100
  wait_for "worker-2 to resolve provider-vlan-100 from LLDP" 30 mapping_has worker-2 provider-vlan-100
  step "Waiting for the controller's status to agree with the agents"
  wait_controller_agrees 30
  summary
}

# Whether a lab (or a cluster-mode lab) from this state directory is up and answering.
lab_is_up() {
  [ -f "$LAB/kubeconfig-path" ] && [ -f "$LAB/bin-dir" ] || return 1
  KUBECONFIG_LAB=$(cat "$LAB/kubeconfig-path")
  BIN=$(cat "$LAB/bin-dir")
  kc get --raw /readyz >/dev/null 2>&1 && ip netns list | grep -qw "$(ns_node worker-3)"
}

demo() {
  if lab_is_up; then
    step "Using the lab that is up ($LAB)"
  else
    info "no lab is up: starting one"
    up
  fi
  local nsn; nsn=$(ns_node worker-3)
  printf '\n%sDemo 1: unplug worker-3'"'"'s storage NIC%s\n' "$B" "$N"
  cni worker-3 DEL lab-worker-3-pod storage net1 >/dev/null || true
  if ip -n "$nsn" link show enp1s0f1 >/dev/null 2>&1; then
    ip -n "$nsn" link del enp1s0f1
    wait_for "worker-3 to lose 'storage'" 10 mapping_lacks worker-3 storage
    info "worker-3's mapping file keeps 'storage' with \"device\": \"\" and why: $(jq -r '.networks.storage.message // "?"' "$LAB/nodes/worker-3/mapping.json")"
    info "(the agent noticed through netlink)"
    wait_controller_agrees 15
    kc get ndm storage | sed 's/^/    /'
  else
    info "worker-3 has no enp1s0f1 now (unplugged earlier?): plugging one in below"
  fi
  printf '\n%sDemo 2: plug it back (a new card, same subnet)%s\n' "$B" "$N"
  add_nic worker-3 enp1s0f1 storage 198.51.100.13/24 9000 50
  wait_for "worker-3 to regain 'storage'" 10 mapping_has worker-3 storage
  info "worker-3 -> $(jq -r .networks.storage.device "$LAB/nodes/worker-3/mapping.json")"
  cni worker-3 ADD lab-worker-3-pod storage net1 198.51.100.103/24 >/dev/null
  info "pod on worker-3 re-attached"
  printf '\n%sDemo 3: edit a map: let provider-vlan-100 accept worker-3'"'"'s VLAN 200 too%s\n' "$B" "$N"
  kc get ndm provider-vlan-100 -o json | jq '{apiVersion, kind, metadata: {name: .metadata.name}, spec}
    | .spec.rules[0].devices.matchExpressions |= map(if .key == "lldp.vlanIDs" then .values = ["100", "200"] else . end)' \
    >"$LAB/provider-vlan-100.edited.json"
  info "preview first (what every node would get):"
  KUBECONFIG="$KUBECONFIG_LAB" "$BIN/kubectl-automagic" preview -f "$LAB/provider-vlan-100.edited.json" | sed 's/^/    /'
  kc apply -f "$LAB/provider-vlan-100.edited.json" | sed 's/^/    /'
  wait_for "worker-3 to resolve provider-vlan-100" 15 mapping_has worker-3 provider-vlan-100
  info "worker-3's mapping file followed: provider-vlan-100 -> $(jq -r '.networks["provider-vlan-100"].device' "$LAB/nodes/worker-3/mapping.json")"
  kc apply -f "$ROOT/hack/lab/maps/provider-vlan-100.yaml" | sed 's/^/    /'
  wait_for "worker-3 to drop provider-vlan-100 again" 15 mapping_lacks worker-3 provider-vlan-100
  info "restored hack/lab/maps/provider-vlan-100.yaml: worker-3 has no device for it again"
  printf '\n%sDemo 4: why does worker-3 not get provider-vlan-100?%s\n' "$B" "$N"
  KUBECONFIG="$KUBECONFIG_LAB" "$BIN/kubectl-automagic" explain provider-vlan-100 --node worker-3 | sed 's/^/    /' || true
  printf '\n%sDemo 5: a map that selects by name is fooled by the miscabled port%s\n' "$B" "$N"
  kc get ndm provider-by-name -o jsonpath='{range .status.conditions[*]}{.type}={.status}: {.message}{"\n"}{end}' | sed 's/^/    /'
  wait_controller_agrees 15
  summary
}

# Demo of issue 17 on worker-1: two new NICs (ens7f0, ens7f1) on a "fast" fabric, NetworkDeviceMap
# `fast` with `dra: true`, automagic-device-plugin serving the DRA kubelet plugin for worker-1, a
# ResourceClaim whose allocation is written by hand (the lab has no scheduler) choosing the SECOND
# device, the fake kubelet registering the plugin and preparing the claim, then the CNI ADD for the
# pod: ens7f1 moves into the pod, ens7f0 stays. Everything it adds is removed at the end.
demo_dra() {
  lab_is_up || die "no lab is up: run hack/lab.sh up first"
  [ ! -f "$LAB/cluster-mode" ] || die "demo-dra writes a claim's allocation by hand: only the lab API server (no scheduler) allows that"
  local dp="$BIN/automagic-device-plugin" fake="$ROOT/Tests/DevicePluginTests/fake_kubelet.py"
  local node=worker-1 nsn dir pod uid claim_uid device out reg endpoint nic
  if [ ! -x "$dp" ]; then
    step "Building automagic-device-plugin (release; the gRPC stack takes a while the first time)"
    (cd "$ROOT" && swift build -c release --product automagic-device-plugin 2>&1) | build_progress automagic-device-plugin
    dp="$ROOT/.build/release/automagic-device-plugin"
    [ -x "$dp" ] || die "missing binary $dp"
  fi
  python3 -c 'import grpc, grpc_tools' 2>/dev/null || die "the fake kubelet needs python3 grpcio and grpcio-tools (hack/install-deps.sh)"
  nsn=$(ns_node "$node"); dir="$LAB/nodes/$node/dra-demo"; pod="$PREFIX-dra-pod"; uid="0f1e2d3c-0000-4000-8000-00000000d7a0"
  reg="$dir/registry/automagic.dev-reg.sock"; endpoint="$dir/plugins/automagic.dev/dra.sock"
  mkdir -p "$dir"

  printf '\n%sDRA 1: two new NICs on worker-1 and a map allocated through DRA%s\n' "$B" "$N"
  if ! ip -n "$(ns_fabric)" link show br-fast >/dev/null 2>&1; then
    ip -n "$(ns_fabric)" link add br-fast type bridge
    ip -n "$(ns_fabric)" link set br-fast up
  fi
  for nic in ens7f0 ens7f1; do
    ip -n "$nsn" link show "$nic" >/dev/null 2>&1 || add_nic "$node" "$nic" fast "" 1500
  done
  kc apply -f - <<MAP | sed 's/^/    /'
apiVersion: automagic.dev/v1alpha1
kind: NetworkDeviceMap
metadata:
  name: fast
spec:
  nodeSelector: {matchLabels: {kubernetes.io/hostname: $node}}
  rules:
    - name: the-fast-cards
      devices:
        matchExpressions:
          - {key: name, operator: In, values: [ens7f0, ens7f1]}
  exclusive: true
  dra: true
  attachment: {type: host-device}
MAP
  wait_for "network 'fast' in $node's mapping file with dra: true" 20 \
    jq -e '.networks.fast.dra == true and (.networks.fast.candidates | length) == 2' "$LAB/nodes/$node/mapping.json"
  info "mapping file: formatVersion $(jq .formatVersion "$LAB/nodes/$node/mapping.json"), fast: dra, candidates" \
    "$(jq -r '[.networks.fast.candidates[].name] | join(", ")' "$LAB/nodes/$node/mapping.json")"

  printf '\n%sDRA 2: automagic-device-plugin serves the DRA kubelet plugin for %s%s\n' "$B" "$node" "$N"
  start_bg "device-plugin-$node" "$dp" --kubeconfig "$KUBECONFIG_LAB" --node-name "$node" \
    --netns "/var/run/netns/$nsn" --mapping-file "$LAB/nodes/$node/mapping.json" --device-plugin-dir "$dir/device-plugins" \
    --dra-registration-socket "$reg" --dra-endpoint "$endpoint" --dra-state-dir "$dir/state"
  wait_for "the DRA registration socket" 30 test -S "$reg"
  info "fake kubelet: GetInfo, NotifyRegistrationStatus -> $(python3 "$fake" dra register --socket "$reg")"

  printf '\n%sDRA 3: a ResourceClaim, allocated by hand as the scheduler does (the second device)%s\n' "$B" "$N"
  device="mac-$(jq -r '.networks.fast.candidates[1].mac' "$LAB/nodes/$node/mapping.json" | tr -d :)"
  kc delete resourceclaim fast-nic --ignore-not-found >/dev/null
  kc apply -f - <<CLAIM | sed 's/^/    /'
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: fast-nic, namespace: default}
spec:
  devices:
    requests:
      - name: nic
        exactly: {deviceClassName: fast.automagic.dev}
CLAIM
  kc patch resourceclaim fast-nic --subresource=status --type=merge -p "$(jq -cn --arg node "$node" --arg device "$device" --arg uid "$uid" '{status: {
    allocation: {devices: {results: [{request: "nic", driver: "automagic.dev", pool: $node, device: $device}]},
                 nodeSelector: {nodeSelectorTerms: [{matchFields: [{key: "metadata.name", operator: "In", values: [$node]}]}]}},
    reservedFor: [{resource: "pods", name: "dra-demo", uid: $uid}]}}')" | sed 's/^/    /'
  claim_uid=$(kc get resourceclaim fast-nic -o jsonpath='{.metadata.uid}')
  info "allocated $device ($(jq -r '.networks.fast.candidates[1].name' "$LAB/nodes/$node/mapping.json")) to pod $uid"

  printf '\n%sDRA 4: the kubelet prepares the claim; the record the CNI plugin reads%s\n' "$B" "$N"
  info "NodePrepareResources -> $(python3 "$fake" dra prepare --socket "$endpoint" "default/fast-nic/$claim_uid")"
  info "record $dir/state/$claim_uid.json: $(jq -c '{pods, devices: [.devices[] | {network, device, interface}]}' "$dir/state/$claim_uid.json")"

  printf '\n%sDRA 5: the pod starts: automagic attaches exactly the prepared device%s\n' "$B" "$N"
  ip netns del "$pod" 2>/dev/null || true
  ip netns add "$pod"
  out=$(dra_cni ADD "$node" "$dir" "$pod" "$uid") || die "ADD failed: $out"
  info "pod: $(ip -n "$pod" -br link show net1)"
  info "$node keeps: $(ip -n "$nsn" -br link | awk '$1 ~ /^ens7f/ {sub(/@.*/, "", $1); printf "%s ", $1}')"

  printf '\n%sDRA 6: clean up (DEL, NodeUnprepareResources, claim, map, plugin, NICs)%s\n' "$B" "$N"
  dra_cni DEL "$node" "$dir" "$pod" "$uid" >/dev/null || true
  info "NodeUnprepareResources -> $(python3 "$fake" dra unprepare --socket "$endpoint" "default/fast-nic/$claim_uid")"
  if [ -e "$dir/state/$claim_uid.json" ]; then info "the record is still there"; else info "the record is gone"; fi
  ip netns del "$pod" 2>/dev/null || true
  kc delete resourceclaim fast-nic --ignore-not-found | sed 's/^/    /'
  kc delete ndm fast --ignore-not-found | sed 's/^/    /'
  kill -TERM -- "-$(cat "$LAB/pids/device-plugin-$node.pid")" 2>/dev/null || true
  rm -f "$LAB/pids/device-plugin-$node.pid"
  for nic in ens7f0 ens7f1; do ip -n "$nsn" link del "$nic" 2>/dev/null || true; done
}

# dra_cni command node dir podnetns poduid: `automagic` for network "fast" as the runtime calls it
# for the pod (Multus passes K8S_POD_UID in CNI_ARGS).
dra_cni() {
  printf '{"cniVersion":"1.0.0","name":"fast","type":"automagic","network":"fast","mappingFile":"%s","cacheDir":"%s","draStateDir":"%s"}' \
    "$LAB/nodes/$2/mapping.json" "$3/cni-cache" "$3/state" |
    ip netns exec "$(ns_node "$2")" env CNI_COMMAND="$1" CNI_CONTAINERID=dra-demo CNI_NETNS="/var/run/netns/$4" CNI_IFNAME=net1 \
      CNI_PATH="$BIN:/usr/lib/cni" CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=dra-demo;K8S_POD_UID=$5" "$BIN/automagic"
}

if [ "${2:-}" = "--cluster" ]; then
  AUTOMAGIC_LAB_KUBECONFIG=${KUBECONFIG:-$HOME/.kube/config}
  [ -f "$AUTOMAGIC_LAB_KUBECONFIG" ] || die "--cluster: no kubeconfig at $AUTOMAGIC_LAB_KUBECONFIG"
fi

case "${1:-}" in
  up) up ;;
  status) summary ;;
  demo) demo ;;
  demo-dra) demo_dra ;;
  down) down ;;
  *) echo "usage: $0 up [--cluster]|status|demo [--cluster]|demo-dra|down" >&2; exit 2 ;;
esac
