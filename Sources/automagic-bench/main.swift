// automagic-bench: the in-process benchmarks hack/bench.sh runs in release mode.
// Each subcommand prints one JSON object so that hack/bench.sh can tabulate it.
import AutomagicAPI

import Foundation
import JSON
import KubeClient
import KubeCore
import LabAPIServer
import Logging
import Resolver

@inline(never) func blackHole<T>(_ x: T) { withExtendedLifetime(x) {} }

func now() -> Double { ProcessStats.now() }

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

/// One watch line as Foundation's JSONDecoder reads it (the side-by-side reference for JSONReader).
struct CodableWatchLine: Decodable {
    var type: String
    var object: NodeDevice
}

/// The same stream as `benchWatchDecode`, each line decoded with Foundation's JSONDecoder
/// (`watch-decode N --codable`): what the client's JSONReader is measured against (docs/decisions.md).
func benchWatchDecodeCodable(events: Int) throws {
    var stream = Data()
    for i in 0..<events {
        stream.append(contentsOf: Array(#"{"type":"MODIFIED","object":"#.utf8))
        stream.append(contentsOf: Array(nodeDeviceJSON(node: i, devices: 4, rv: i + 1).utf8))
        stream.append(contentsOf: Array("}\n".utf8))
    }
    let decoder = JSONDecoder()
    var best = Double.infinity
    var count = 0
    for _ in 0..<3 {
        count = 0
        let t0 = now()
        var pending = Data()
        var offset = 0
        while offset < stream.count {
            let end = min(offset + 16384, stream.count)
            pending.append(stream.subdata(in: offset..<end))
            offset = end
            while let newline = pending.firstIndex(of: 0x0A) {
                let line = pending[pending.startIndex..<newline]
                blackHole(try decoder.decode(CodableWatchLine.self, from: line))
                count += 1
                pending = pending[(newline + 1)...]
            }
        }
        best = min(best, now() - t0)
    }
    emit([
        "benchmark": "watch-decode-codable", "events": .int(Int64(count)),
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
    ProcessStats.resetPeakResident()
    let base = ProcessStats.residentBytes()
    let t0 = now()
    let list = try ResponseDecoding.decodeList(NodeDevice.self, from: body, source: "bench")
    let seconds = now() - t0
    let peak = ProcessStats.peakResidentBytes()
    let after = ProcessStats.residentBytes()
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

/// The resolver: one node (100 maps x 256 devices) and a controller full resync (5,000 nodes x 100 maps);
/// `--maps`, `--devices`, `--nodes` and `--iterations` shrink it (the smoke test runs it small).
/// `automagic-bench dra`: the DeviceClass compiler over `--maps` maps and a fleet of `--nodes` nodes.
func benchDRA(_ args: ArraySlice<String>) {
    let m = DRABenchmark.compile(maps: count(option("maps", in: args), "--maps", default: 100),
                                 nodes: count(option("nodes", in: args), "--nodes", default: 1000),
                                 iterations: count(option("iterations", in: args), "--iterations", default: 5))
    emit([
        "benchmark": "dra-deviceclass-compile", "name": .string(m.name), "iterations": .int(Int64(m.iterations)),
        "cpuMsPerIteration": .double(m.cpuMillisecondsPerIteration), "wallMsPerIteration": .double(m.millisecondsPerIteration),
        "rendered": .int(Int64(m.resolved)), "compiled": .int(Int64(m.results)),
    ])
}

func benchResolver(_ args: ArraySlice<String>) {
    let maps = count(option("maps", in: args), "--maps", default: 100)
    let devices = count(option("devices", in: args), "--devices", default: 256)
    let iterations = count(option("iterations", in: args), "--iterations", default: 20)
    let nodes = count(option("nodes", in: args), "--nodes", default: 5000)
    let fleetDevices = count(option("fleet-devices", in: args), "--fleet-devices", default: 16)
    for (key, m) in [
        ("single-node-summary", ResolverBenchmark.singleNode(maps: maps, devices: devices, iterations: iterations, detail: .summary)),
        ("single-node-full", ResolverBenchmark.singleNode(maps: maps, devices: devices, iterations: iterations, detail: .full)),
        ("fleet", ResolverBenchmark.fleet(nodes: nodes, maps: maps, devicesPerNode: fleetDevices)),
    ] {
        emit([
            "benchmark": .string("resolver-\(key)"), "name": .string(m.name), "iterations": .int(Int64(m.iterations)),
            "cpuMsPerIteration": .double(m.cpuMillisecondsPerIteration), "wallMsPerIteration": .double(m.millisecondsPerIteration),
            "resolved": .int(Int64(m.resolved)), "results": .int(Int64(m.results)),
        ])
    }
}

/// The value after `--name` in `args`, if any.
func option(_ name: String, in args: ArraySlice<String>) -> String? {
    guard let i = args.firstIndex(of: "--" + name), args.index(after: i) < args.endIndex else { return nil }
    return args[args.index(after: i)]
}

/// A positive integer argument, or exit 2 naming it.
func count(_ text: String?, _ what: String, default value: Int) -> Int {
    guard let text else { return value }
    guard let n = Int(text), n > 0 else {
        print("automagic-bench: \(what): '\(text)' is not a positive number")
        exit(2)
    }
    return n
}

/// The controller benchmark (hack/bench-controller.sh) against the lab API server of `--kubeconfig`,
/// with the controller's own client settings (50 requests/s, burst 100).
func benchController(_ args: ArraySlice<String>) async throws {
    guard let kubeconfig = option("kubeconfig", in: args) else {
        print("automagic-bench controller: --kubeconfig is required (a lab API server's)")
        exit(2)
    }
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = .warning
        return handler
    }
    let logger = Logger(label: "automagic.controller.benchmark")
    var configuration = try KubeConfigLoader.load(explicitPath: kubeconfig)
    configuration.qps = 50
    configuration.burst = 100
    configuration.userAgent = "automagic-controller/0.1 (libcurl)"
    let client = try KubernetesClient(configuration: configuration, logger: logger)
    let result = try await ControllerBenchmark.run(
        client: client, nodes: count(option("nodes", in: args), "--nodes", default: 5000),
        devicesPerNode: count(option("devices", in: args), "--devices", default: 16),
        maps: count(option("maps", in: args), "--maps", default: 50),
        changeWindow: .seconds(count(option("change-window", in: args), "--change-window", default: 3)),
        steadyWindow: .seconds(count(option("steady-window", in: args), "--steady-window", default: 10)), logger: logger)
    print(result)
}

let args = CommandLine.arguments.dropFirst()
let rest = args.dropFirst()
do {
    switch args.first {
    case "watch-decode":
        let events = count(rest.first { !$0.hasPrefix("--") }, "events", default: 20_000)
        if rest.contains("--codable") { try benchWatchDecodeCodable(events: events) } else { try benchWatchDecode(events: events) }
    case "list-decode": try benchListDecode(objects: count(rest.first, "objects", default: 5_000))
    case "resolver": benchResolver(rest)
    case "dra": benchDRA(rest)
    case "connection-reuse": try await benchConnectionReuse(requests: count(rest.first, "requests", default: 1_000))
    case "lab":
        print(LabBenchmarks.run(objects: count(option("objects", in: rest), "--objects", default: 5000),
                                watchers: count(option("watchers", in: rest), "--watchers", default: 100)))
    case "controller": try await benchController(rest)
    case "probe":
        print(try await ProbeBenchmark.run(iterations: count(option("iterations", in: rest), "--iterations", default: 20),
                                           hostRoot: option("host-root", in: rest) ?? "/", netnsPath: option("netns", in: rest)))
    default:
        print("""
        usage: automagic-bench watch-decode [N] [--codable] | list-decode [N] | connection-reuse [N]
                             | resolver [--maps N] [--devices N] [--iterations N] [--nodes N] [--fleet-devices N]
                             | dra [--maps N] [--nodes N] [--iterations N]
                             | lab [--objects N] [--watchers N]
                             | controller --kubeconfig FILE [--nodes N] [--devices N] [--maps N]
                                          [--change-window SECONDS] [--steady-window SECONDS]
                             | probe [--iterations N] [--netns PATH] [--host-root DIR]
        """)
        exit(2)
    }
} catch {
    print("automagic-bench: \(error)")
    exit(1)
}
