#!/usr/bin/env bash
# Fuzzes the watch-event decoder (JSONReader on WatchEvent<NodeDevice> and
# WatchEvent<NetworkDeviceMap>, what the agent and the controller decode every watch line with)
# with libFuzzer for a bounded time.
#
#   FUZZ_SECONDS=60 bash hack/fuzz-watch.sh
#
# Builds hack/fuzz-watch/FuzzTarget.swift with the sources of JSON, KubeCore and AutomagicAPI as
# one module (swiftc -sanitize=fuzzer,address), seeds the corpus from hack/fuzz-watch/seeds (watch
# lines from the recorded API exchanges in /work/shared/kube-api-traces, some retyped as NodeDevice
# and NetworkDeviceMap), and fails when libFuzzer finds a crash, a leak or a timeout; the input is
# left in $OUT (default .build/fuzz-watch/) as crash-*/timeout-*: turn it into a test in
# Tests/KubeClientTests or Tests/JSONTests. FUZZ_SEED fixes libFuzzer's random seed (0, the
# default, picks a new one each run).
exec bash "$(dirname "$0")/fuzz.sh" fuzz-watch 16384 JSON KubeCore AutomagicAPI
