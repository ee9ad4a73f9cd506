import Foundation
import JSON
import LabAPIServer

/// Results of `LabBenchmarks.run`.
public struct LabBenchmarkResult: Sendable, CustomStringConvertible {
    public var objects: Int
    public var objectBytes: Int
    public var createSeconds: Double
    public var createsPerSecond: Double
    /// Creates per second of process CPU time (user+system) during the create phase: meaningful on a busy machine.
    public var createsPerCPUSecond: Double
    public var listSeconds: Double
    public var listBytes: Int
    public var watchers: Int
    public var eventsPerWatcherExpected: Int
    public var eventsDeliveredMin: Int
    public var fanOutSeconds: Double
    public var residentBytes: Int

    /// One JSON object (for hack/bench.sh and docs/benchmarks.md).
    public var description: String {
        let v: JSONValue = [
            "objects": .int(Int64(objects)), "objectBytes": .int(Int64(objectBytes)),
            "createSeconds": .double(createSeconds), "createsPerSecond": .double(createsPerSecond.rounded()),
            "createsPerCPUSecond": .double(createsPerCPUSecond.rounded()),
            "listSeconds": .double(listSeconds), "listBytes": .int(Int64(listBytes)),
            "watchers": .int(Int64(watchers)), "eventsPerWatcherExpected": .int(Int64(eventsPerWatcherExpected)),
            "eventsDeliveredMin": .int(Int64(eventsDeliveredMin)), "fanOutSeconds": .double(fanOutSeconds),
            "residentMiB": .int(Int64(residentBytes / 1_048_576)),
        ]
        return v.jsonString(pretty: true)
    }
}

/// The lab server's benchmark: N creates of ~8 KB NodeDevice-like objects (24 devices with the fields an
/// agent reports for a physical NIC), a full list, and a watch fan-out, run in-process against the API
/// core (no sockets, so it measures the server's own cost). The watchers are attached before the first
/// create, so the create rate includes the fan-out of every event to every watcher.
///
/// `automagic-bench lab` runs it and prints the result as JSON.
public enum LabBenchmarks {
    /// A counting sink for watchers.
    final class CountingSink: LabResponseSink, @unchecked Sendable {
        let lock = NSLock()
        var events = 0
        var gone = false
        func writeHead(status: Int, headers: [(name: String, value: String)]) {}
        func writeBody(_ bytes: [UInt8]) -> Bool {
            // The core writes one event line per call.
            lock.lock(); events += 1; lock.unlock()
            return true
        }
        func finish() {}
        var isClientGone: Bool { lock.lock(); defer { lock.unlock() }; return gone }
        var count: Int { lock.lock(); defer { lock.unlock() }; return events }
    }

    static let crd: JSONValue = [
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": ["name": "benchdevices.bench.automagic.dev"],
        "spec": [
            "group": "bench.automagic.dev", "scope": "Cluster",
            "names": ["kind": "BenchDevice", "plural": "benchdevices", "singular": "benchdevice"],
            "versions": [[
                "name": "v1", "served": true, "storage": true,
                "schema": ["openAPIV3Schema": [
                    "type": "object",
                    "properties": [
                        "status": ["type": "object", "properties": [
                            "probedAt": ["type": "string"], "agentVersion": ["type": "string"],
                            "devices": ["type": "array", "items": ["type": "object", "properties": [
                                "name": ["type": "string"], "kind": ["type": "string"], "mac": ["type": "string"], "permanentMAC": ["type": "string"],
                                "mtu": ["type": "integer"], "carrier": ["type": "boolean"], "vendorID": ["type": "string"], "deviceID": ["type": "string"],
                                "operState": ["type": "string"], "speedMbps": ["type": "integer"], "driver": ["type": "string"],
                                "pciAddress": ["type": "string"], "numaNode": ["type": "integer"],
                                "addresses": ["type": "array", "items": ["type": "string"]],
                                "lldp": ["type": "object", "x-kubernetes-preserve-unknown-fields": true],
                            ]]],
                        ]],
                    ],
                ]],
            ]],
        ],
    ]

    static func object(_ i: Int) -> JSONValue {
        var devices: [JSONValue] = []
        for d in 0..<24 {
            devices.append([
                "name": .string("ens\(d)f\(i % 4)"), "kind": "physical", "mac": .string(String(format: "3c:fd:fe:%02x:%02x:%02x", i % 256, (i / 256) % 256, d)),
                "carrier": true, "vendorID": "8086", "deviceID": "159b",
                "mtu": 9000, "operState": "up", "speedMbps": 25000, "driver": "ice", "pciAddress": .string(String(format: "0000:%02x:00.%d", d, i % 8)),
                "numaNode": .int(Int64(d % 2)), "addresses": [.string("10.\(i % 250).\(d).1/24")],
                "lldp": ["chassisID": "00:11:22:33:44:55", "portID": .string("Ethernet\(d)"), "systemName": "tor-1"],
            ])
        }
        return ["apiVersion": "bench.automagic.dev/v1", "kind": "BenchDevice",
                "metadata": ["name": .string("node-\(i)"), "labels": ["bench": "yes"]],
                "status": ["probedAt": "2026-11-28T23:00:00Z", "agentVersion": "0.1.0", "devices": .array(devices)]]
    }

    /// Runs the benchmark. Bounded: `objects` creates, one list, `watchers` watch streams that end on their own.
    public static func run(objects: Int = 5000, watchers: Int = 100) -> LabBenchmarkResult {
        var config = LabAPIConfiguration()
        config.historyLimit = max(objects * 2, 1000)
        let api = LabAPI(configuration: config)
        let user = LabUser(name: "bench", groups: ["system:masters"])
        let json: [(name: String, value: String)] = [("Content-Type", "application/json"), ("User-Agent", "lab-bench/1.0")]
        _ = api.perform(LabRequest(method: "POST", path: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", headers: json,
                                   body: crd.serialized(), clientCertificate: user))
        let path = "/apis/bench.automagic.dev/v1/benchdevices"
        // Watchers first: each must see every create.
        var sinks: [CountingSink] = []
        let group = DispatchGroup()
        for _ in 0..<watchers {
            let sink = CountingSink()
            sinks.append(sink)
            group.enter()
            let t = Thread {
                api.handle(LabRequest(method: "GET", path: path, query: [("watch", "1"), ("timeoutSeconds", "600")], clientCertificate: user), sink: sink)
                group.leave()
            }
            t.stackSize = 1 << 20
            t.start()
        }
        Thread.sleep(forTimeInterval: 0.3)
        let bodies = (0..<objects).map { object($0).serialized() }
        let objectBytes = bodies.first?.count ?? 0
        let start = Date()
        let cpuStart = ProcessStats.cpuSeconds()
        let workers = 2
        let createGroup = DispatchGroup()
        for w in 0..<workers {
            createGroup.enter()
            Thread {
                var i = w
                while i < objects {
                    _ = api.perform(LabRequest(method: "POST", path: path, headers: json, body: bodies[i], clientCertificate: user))
                    i += workers
                }
                createGroup.leave()
            }.start()
        }
        createGroup.wait()
        let createSeconds = Date().timeIntervalSince(start)
        let createCPU = ProcessStats.cpuSeconds() - cpuStart
        let listStart = Date()
        let list = api.perform(LabRequest(method: "GET", path: path, clientCertificate: user))
        let listSeconds = Date().timeIntervalSince(listStart)
        let fanStart = Date()
        while Date().timeIntervalSince(fanStart) < 60, sinks.contains(where: { $0.count < objects }) { Thread.sleep(forTimeInterval: 0.01) }
        let fanOutSeconds = Date().timeIntervalSince(start)
        let delivered = sinks.map(\.count).min() ?? 0
        let rss = ProcessStats.residentBytes()
        api.shutdown()
        group.wait()
        return LabBenchmarkResult(objects: objects, objectBytes: objectBytes, createSeconds: createSeconds,
                                  createsPerSecond: Double(objects) / max(createSeconds, 1e-9),
                                  createsPerCPUSecond: Double(objects) / max(createCPU, 1e-9), listSeconds: listSeconds,
                                  listBytes: list.body.count, watchers: watchers, eventsPerWatcherExpected: objects,
                                  eventsDeliveredMin: delivered, fanOutSeconds: fanOutSeconds, residentBytes: rss)
    }
}
