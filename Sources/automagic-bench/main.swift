// automagic-bench: the in-process benchmarks hack/bench.sh runs in release mode.
// Each subcommand prints one JSON object so that hack/bench.sh can tabulate it.
import AutomagicAPI
import Foundation
import JSON
import KubeClient
import KubeCore
import LabAPIServer
import Resolver

@inline(never) func blackHole<T>(_ x: T) { withExtendedLifetime(x) {} }

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func cpuSeconds() -> Double {
    var ru = rusage()
    getrusage(RUSAGE_SELF.rawValue, &ru)
    return Double(ru.ru_utime.tv_sec) + Double(ru.ru_utime.tv_usec) / 1e6 + Double(ru.ru_stime.tv_sec) + Double(ru.ru_stime.tv_usec) / 1e6
}

/// A field of /proc/self/status in bytes (VmRSS, VmHWM).
func procStatus(_ field: String) -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix(field + ":") {
        let digits = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return digits * 1024
    }
    return 0
}

/// Resets the peak-RSS watermark so VmHWM measures from here on.
func resetPeakRSS() {
    if let fh = FileHandle(forWritingAtPath: "/proc/self/clear_refs") {
        fh.write(Data("5".utf8))
        try? fh.close()
    }
}

func emit(_ fields: [String: JSONValue]) {
    print(JSONValue.object(fields).jsonString())
}

/// A NodeDevice of `devices` devices as JSON, about 420 bytes per device.
func nodeDeviceJSON(node: Int, devices: Int, rv: Int) -> String {
    var devs: [String] = []
    for d in 0..<devices {
        devs.append("""
        {"name":"ens\(d)f\(d % 2)","altNames":["enp\(d)s0f\(d % 2)"],"kind":"physical","mac":"3c:fd:fe:\(String(format: "%02x", node % 256)):\(String(format: "%02x", d)):01","permanentMAC":"3c:fd:fe:\(String(format: "%02x", node % 256)):\(String(format: "%02x", d)):01","mtu":9000,"operState":"up","carrier":true,"speedMbps":25000,"driver":"ice","pciAddress":"0000:5e:\(String(format: "%02x", d)).1","vendorID":"8086","deviceID":"159b","numaNode":0,"addresses":["198.51.100.\(d + 1)/24","2001:db8::\(d + 1)/64"],"lldp":{"chassisID":"02:aa:00:00:00:01","portID":"Ethernet1/\(d)","systemName":"tor-r1-a","vlanIDs":[100]}}
        """)
    }
    return """
    {"apiVersion":"automagic.dev/v1alpha1","kind":"NodeDevice","metadata":{"name":"worker-\(node)","uid":"9a7c1c1e-0000-4000-8000-\(String(format: "%012d", node))","resourceVersion":"\(rv)","generation":1,"creationTimestamp":"2026-11-28T22:00:00Z","ownerReferences":[{"apiVersion":"v1","kind":"Node","name":"worker-\(node)","uid":"7f0c0000-0000-4000-8000-\(String(format: "%012d", node))"}]},"status":{"devices":[\(devs.joined(separator: ","))],"networks":[{"network":"storage","device":"ens1f1","rule":"by-driver","message":"matched"}],"probedAt":"2026-11-28T22:00:00Z","agentVersion":"0.1.0"}}
    """
}

/// Watch decoding: ~2 KB NodeDevice events through the client's incremental line decoder, one core.
func benchWatchDecode(events: Int) throws {
    var stream = Data()
    let sample = nodeDeviceJSON(node: 1, devices: 4, rv: 1)
    for i in 0..<events {
        stream.append(contentsOf: Array(#"{"type":"MODIFIED","object":"#.utf8))
        stream.append(contentsOf: Array(nodeDeviceJSON(node: i, devices: 4, rv: i + 1).utf8))
        stream.append(contentsOf: Array("}\n".utf8))
    }
    // Feed in 16 KiB chunks, as they would arrive from libcurl's write callback.
    var best = Double.infinity
    var count = 0
    for _ in 0..<3 {
        var decoder = WatchLineDecoder<NodeDevice>()
        count = 0
        let t0 = now()
        var offset = 0
        while offset < stream.count {
            let end = min(offset + 16384, stream.count)
            try decoder.feed(stream.subdata(in: offset..<end)) { ev in blackHole(ev); count += 1 }
            offset = end
        }
        try decoder.finish { ev in blackHole(ev); count += 1 }
        best = min(best, now() - t0)
    }
    emit([
        "benchmark": "watch-decode", "events": .int(Int64(count)), "objectBytes": .int(Int64(sample.utf8.count)),
        "seconds": .double(best), "eventsPerSecond": .double(Double(count) / best),
    ])
}

/// List decoding: 5,000 NodeDevices of ~4 KB decoded from one response body; peak memory vs body size.
func benchListDecode(objects: Int) throws {
    var body = Data()
    body.append(contentsOf: Array(#"{"apiVersion":"automagic.dev/v1alpha1","kind":"NodeDeviceList","metadata":{"resourceVersion":"99999"},"items":["#.utf8))
    for i in 0..<objects {
        if i > 0 { body.append(0x2C) }
        body.append(contentsOf: Array(nodeDeviceJSON(node: i, devices: 9, rv: i + 1).utf8))
    }
    body.append(contentsOf: Array("]}".utf8))
    let size = body.count
    resetPeakRSS()
    let base = procStatus("VmRSS")
    let t0 = now()
    let list = try ResponseDecoding.decodeList(NodeDevice.self, from: body, source: "bench")
    let seconds = now() - t0
    let peak = procStatus("VmHWM")
    let after = procStatus("VmRSS")
    blackHole(list)
    emit([
        "benchmark": "list-decode", "objects": .int(Int64(list.items.count)), "responseBytes": .int(Int64(size)),
        "seconds": .double(seconds), "peakExtraBytes": .int(Int64(peak - base)), "retainedBytes": .int(Int64(after - base)),
        "peakOverResponse": .double(Double(peak - base) / Double(size)),
    ])
}

/// Connection reuse: 1,000 sequential GETs against the lab API server over HTTPS.
func benchConnectionReuse(requests: Int) async throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("automagic-bench-\(getpid())").path
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var options = LabServerOptions()
    options.certDir = dir
    options.kubeconfigPath = dir + "/admin.kubeconfig"
    let server = try LabServer.start(options)
    defer { server.stop() }
    var cfg = try KubeConfigLoader.load(explicitPath: server.kubeconfigPath)
    cfg.qps = 0  // measure the transport, not the client-side rate limiter
    let client = try KubernetesClient(configuration: cfg)
    let namespaces = client.resource(Namespace.self)
    let t0 = now()
    for _ in 0..<requests { blackHole(try await namespaces.get("default")) }
    let seconds = now() - t0
    emit([
        "benchmark": "connection-reuse", "requests": .int(Int64(requests)),
        "connectionsOpened": .int(Int64(client.connectionsOpened)), "seconds": .double(seconds),
        "requestsPerSecond": .double(Double(requests) / seconds),
    ])
}

/// The resolver: one node (100 maps x 256 devices) and a controller full resync (5,000 nodes x 100 maps).
func benchResolver() {
    for (key, m) in [
        ("single-node-summary", ResolverBenchmark.singleNode(detail: .summary)),
        ("single-node-full", ResolverBenchmark.singleNode(detail: .full)),
        ("fleet", ResolverBenchmark.fleet()),
    ] {
        emit([
            "benchmark": .string("resolver-\(key)"), "name": .string(m.name), "iterations": .int(Int64(m.iterations)),
            "cpuMsPerIteration": .double(m.cpuMillisecondsPerIteration), "wallMsPerIteration": .double(m.millisecondsPerIteration),
            "resolved": .int(Int64(m.resolved)), "results": .int(Int64(m.results)),
        ])
    }
}

let args = CommandLine.arguments.dropFirst()
do {
    switch args.first {
    case "watch-decode": try benchWatchDecode(events: args.dropFirst().first.flatMap { Int($0) } ?? 20_000)
    case "list-decode": try benchListDecode(objects: args.dropFirst().first.flatMap { Int($0) } ?? 5_000)
    case "resolver": benchResolver()
    case "connection-reuse": try await benchConnectionReuse(requests: args.dropFirst().first.flatMap { Int($0) } ?? 1_000)
    default:
        print("usage: automagic-bench watch-decode [N] | list-decode [N] | connection-reuse [N] | resolver")
        exit(2)
    }
} catch {
    print("automagic-bench: \(error)")
    exit(1)
}
