#!/usr/bin/env bash
# Installs the Debian packages Automagic's build, tests, lab and benchmarks need.
# (python3: hack/check-imports.py, hack/fuzz-cni-binary.py; e2fsprogs: mkfs.ext4 for the ext4 handoff tests;
# util-linux, always installed, gives mount, losetup and setpriv.)
# Idempotent and quick when everything is present.
set -euo pipefail
pkgs=(python3 libcurl4-openssl-dev libssl-dev curl openssl containernetworking-plugins iproute2 ethtool jq hyperfine procps psmisc iputils-ping nghttp2-proxy e2fsprogs)
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
command -v kubectl >/dev/null || { echo "kubectl is required (the lab and the tests use it as a real client)" >&2; exit 1; }
[ -x /usr/lib/cni/macvlan ] || { echo "containernetworking-plugins did not install /usr/lib/cni/macvlan" >&2; exit 1; }
command -v swift >/dev/null || [ -x /opt/swift/usr/bin/swift ] || { echo "Swift 6 toolchain not found (expected /opt/swift)" >&2; exit 1; }
