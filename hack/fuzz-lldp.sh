#!/usr/bin/env bash
# Fuzzes the LLDP parser (Sources/DeviceProbe/LLDP.swift) with libFuzzer and AddressSanitizer
# for a bounded time. Usage: hack/fuzz-lldp.sh [seconds=60]. Exit status non-zero on a crash;
# the crashing input is left in $OUT (default .build/fuzz-lldp/, crash-*). FUZZ_SEED fixes
# libFuzzer's random seed (0, the default, picks a new one each run).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH
secs="${1:-60}"
out=${OUT:-.build/fuzz-lldp}
mkdir -p "$out/corpus"
cat > "$out/main.swift" <<'SWIFT'
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let du = try LLDP.parseFrame(bytes)
        // Invariants of an accepted LLDPDU.
        precondition(du.ttl >= 0 && du.ttl <= 65535)
        precondition(du.vlanIDs.allSatisfy { (1...4094).contains($0) })
        precondition(!du.chassisID.value.isEmpty && !du.portID.value.isEmpty)
    } catch {
        guard case .parseLLDP = error else { fatalError("unexpected error \(error)") }
    }
    return 0
}
SWIFT
# Seed corpus: a well-formed frame (header + chassis MAC, port name, TTL, system name, PVID, End).
printf '\x01\x80\xc2\x00\x00\x0e\x02\x00\x00\x00\x00\x01\x88\xcc\x02\x07\x04\x02\x00\x00\x00\x00\x01\x04\x03\x05p1\x06\x02\x00\x78\x0a\x03tor\xfe\x06\x00\x80\xc2\x01\x00\x64\x00\x00' > "$out/corpus/seed1"
swiftc -parse-as-library -sanitize=fuzzer,address -O -module-name LLDPFuzz \
    Sources/DeviceProbe/LLDP.swift Sources/DeviceProbe/Format.swift Sources/DeviceProbe/Errors.swift \
    "$out/main.swift" -o "$out/fuzz-lldp"
cd "$out"
./fuzz-lldp -seed="${FUZZ_SEED:-0}" -max_total_time="$secs" -max_len=2048 -print_final_stats=1 corpus
