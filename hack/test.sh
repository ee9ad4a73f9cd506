#!/usr/bin/env bash
# Runs every test tier: unit, integration (lab API server over real HTTPS through libcurl)
# and privileged (network namespaces, the real CNI reference plugins). Needs root for the
# privileged tier. Installs what the tests need first, so it works on a fresh Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash hack/install-deps.sh
export PATH=/opt/swift/usr/bin:$PATH
# Tests run one at a time: several start real servers, kernel namespaces and child processes, and on a
# 2-core machine parallel suites starve each other's threads enough to trip the hang detectors.
swift test --no-parallel "$@"
