#!/usr/bin/env bash
# Fuzzes the parsers of the automagic CNI plugin (network configuration, delegate results and
# errors, CNI_* environment, mapping file) with libFuzzer for a bounded time.
#
#   FUZZ_SECONDS=60 bash hack/fuzz-cni.sh
#
# Builds hack/fuzz-cni/FuzzTarget.swift with the sources of JSON, HardwareAddresses, MappingFile, CNI and CNIPlugin
# as one module (swiftc -sanitize=fuzzer,address), seeds the corpus from hack/fuzz-cni/seeds,
# and fails when libFuzzer finds a crash, a leak or a timeout; the input is left in $OUT
# (default .build/fuzz-cni/) as crash-*/timeout-*: turn it into a test in Tests/CNIPluginTests.
# FUZZ_SEED fixes libFuzzer's random seed (0, the default, picks a new one each run).
exec bash "$(dirname "$0")/fuzz.sh" fuzz-cni 8192 JSON HardwareAddresses MappingFile CNI CNIPlugin
