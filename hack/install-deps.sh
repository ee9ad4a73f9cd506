#!/usr/bin/env bash
# Installs the Debian packages Automagic's build, tests, lab and benchmarks need.
# (python3: hack/check-imports.py, hack/fuzz-cni-binary.py; e2fsprogs: mkfs.ext4 for the ext4 handoff tests;
# util-linux, always installed, gives mount, losetup and setpriv.)
# Idempotent and quick when everything is present.
set -euo pipefail
pkgs=(python3 libcurl4-openssl-dev libssl-dev curl openssl containernetworking-plugins iproute2 ethtool jq hyperfine procps psmisc iputils-ping nghttp2-proxy e2fsprogs
  zlib1g-dev protobuf-compiler)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The device plugin's fake kubelet (Tests/DevicePluginTests/fake_kubelet.py): grpcio, and
# grpcio-tools to compile protos/deviceplugin/v1beta1/api.proto for it.
python3 -c 'import grpc, grpc_tools' 2>/dev/null || python3 -m pip install -q 'grpcio>=1.60' 'grpcio-tools>=1.60'
# DRA equivalence tests (Tests/DRATests/cel_eval.py): a real CEL evaluator for the generated DeviceClass selectors.
python3 -c 'import celpy' 2>/dev/null || python3 -m pip install -q 'cel-python>=0.5'
command -v kubectl >/dev/null || { echo "kubectl is required (the lab and the tests use it as a real client)" >&2; exit 1; }
[ -x /usr/lib/cni/macvlan ] || { echo "containernetworking-plugins did not install /usr/lib/cni/macvlan" >&2; exit 1; }
command -v swift >/dev/null || [ -x /opt/swift/usr/bin/swift ] || { echo "Swift 6 toolchain not found (expected /opt/swift)" >&2; exit 1; }
