import AutomagicAPI
import Controller
import Foundation  // String(format:), Date
import JSON
import KubeClient
import KubeCore
import Logging
import Resolver

/// Results of ``ControllerBenchmark/run(client:nodes:devicesPerNode:maps:logger:)``.
public struct ControllerBenchmarkResult: Sendable, CustomStringConvertible {
    /// Nodes, devices per node and maps created.
    public var nodes: Int, devicesPerNode: Int, maps: Int
    /// Time to create the objects (not part of the measurement).
    public var populateSeconds: Double
    /// From the controller's start to every map's status being correct.
    public var timeToCorrectSeconds: Double
    /// Peak resident memory of the process while the controller ran (the population's peak is reset first).
    public var peakRSSMiB: Double
    /// API writes by resource until every status was correct.
    public var writesToCorrect: [String: Int]
    /// API writes caused by one NodeDevice losing two devices (within `changeWindow`).
    public var oneChangeWrites: [String: Int]
    /// API writes in a quiet steady-state window (Lease renewals excluded; no leader election here).
    public var steadyStateWrites: Int
    /// Length of the steady-state window.
    public var steadyStateSeconds: Double

    /// One JSON object.
    public var description: String {
        func counts(_ d: [String: Int]) -> JSONValue { .object(d.mapValues { .int(Int64($0)) }) }
        let v: JSONValue = [
            "nodes": .int(Int64(nodes)), "devicesPerNode": .int(Int64(devicesPerNode)), "maps": .int(Int64(maps)),
            "populateSeconds": .double((populateSeconds * 100).rounded() / 100),
            "timeToCorrectSeconds": .double((timeToCorrectSeconds * 100).rounded() / 100),
            "peakRSSMiB": .double(peakRSSMiB.rounded()), "writesToCorrect": counts(writesToCorrect),
            "oneChangeWrites": counts(oneChangeWrites), "steadyStateWrites": .int(Int64(steadyStateWrites)),
            "steadyStateSeconds": .double(steadyStateSeconds),
        ]
        return v.jsonString(pretty: true)
    }
}

/// The controller benchmark: creates `nodes` Nodes with one NodeDevice of `devicesPerNode` devices each
/// and `maps` maps on an empty API server (a lab server: `automagic-lab-apiserver --kubeconfig-out …`), then
/// starts the controller in-process and measures time until every map's status is correct (checked
/// against the shared resolver run by the benchmark itself), peak RSS, and API writes — to converge,
/// after one NodeDevice change, and in steady state.
///
/// ```swift
/// let result = try await ControllerBenchmark.run(client: client, nodes: 5000, devicesPerNode: 16, maps: 50)
/// print(result)   // JSON
/// ```
/// From the command line: `automagic-bench controller --kubeconfig lab.kubeconfig --nodes 5000` (hack/bench-controller.sh).
public enum ControllerBenchmark {
    static let drivers = ["ice", "i40e", "mlx5_core", "bnxt_en"]
    static let speeds = [10_000, 25_000, 100_000]

    /// Node `i` of the generated cluster.
    static func node(_ i: Int) -> (name: String, labels: [String: String]) {
        let name = String(format: "bench-node-%05d", i)
        var labels = ["kubernetes.io/hostname": name, "bench.automagic.dev/rack": "r\(i % 20)"]
        if i % 10 != 0 { labels["node-role.kubernetes.io/worker"] = "" }
        return (name, labels)
    }

    /// The devices of node `i`.
    static func devices(_ i: Int, count: Int, variant: Int = 0) -> [NetworkDevice] {
        (0..<count).map { (d: Int) -> NetworkDevice in
            let name = "ens\(d / 2 + 1)f\(d % 2)"
            let mac = String(format: "3c:fd:fe:%02x:%02x:%02x", (i >> 8) & 0xff, i & 0xff, d & 0xff)
            let pci = String(format: "0000:%02x:00.%d", 0x10 + d / 2, d % 2)
            let mtu = d % 4 == 0 ? 9000 : 1500
            let driver = drivers[(d + i + variant) % drivers.count]
            let address = "10.\(d).\((i >> 8) & 0xff).\(i & 0xff)/16"
            var device = NetworkDevice(name: name, kind: .physical, mac: mac, mtu: mtu, operState: "up", carrier: true)
            device.speedMbps = speeds[d % 3]
            device.driver = driver
            device.pciAddress = pci
            device.vendorID = "8086"
            device.deviceID = "159b"
            device.numaNode = d % 2
            device.addresses = [address]
            return device
        }
    }

    /// Map `j` of the generated cluster.
    static func map(_ j: Int) -> NetworkDeviceMap {
        let selector: LabelSelector? = j % 3 == 0 ? LabelSelector(matchLabels: ["node-role.kubernetes.io/worker": ""]) : nil
        let rules = [
            DeviceRule(name: "by-driver", expressions: [
                DeviceMatchExpression(key: "driver", operator: .in, values: [drivers[j % drivers.count]]),
                DeviceMatchExpression(key: "name", operator: .matches, values: ["^ens\(j % 8 + 1)f"]),
            ]),
            DeviceRule(name: "fast", expressions: [DeviceMatchExpression(key: "speedMbps", operator: .gt, values: ["90000"])]),
        ]
        return NetworkDeviceMap(name: "bench-net-\(j)", spec: NetworkDeviceMapSpec(
            nodeSelector: selector, rules: rules, select: j % 5 == 0 ? .highestSpeed : nil, exclusive: j % 10 == 9 ? true : nil,
            attachment: AttachmentSpec(type: j % 10 == 9 ? .hostDevice : .macvlan, mode: j % 10 == 9 ? nil : "bridge")))
    }

    /// Runs the benchmark. The API server must not already hold `bench-*` objects.
    public static func run(
        client: KubernetesClient, nodes nodeCount: Int, devicesPerNode: Int = 16, maps mapCount: Int = 50,
        changeWindow: Duration = .seconds(3), steadyWindow: Duration = .seconds(10),
        logger: Logger = Logger(label: "automagic.controller.benchmark")
    ) async throws -> ControllerBenchmarkResult {
        var fast = client.configuration
        fast.qps = 0
        let populateStart = ContinuousClock.now
        let populate = try KubernetesClient(configuration: fast, logger: logger)
        do {
            let nodeClient = populate.resource(Node.self)
            let deviceClient = populate.resource(NodeDevice.self)
            let mapClient = populate.resource(NetworkDeviceMap.self)
            for j in 0..<mapCount { _ = try await mapClient.create(map(j)) }
            let workers = 16
            try await withThrowingTaskGroup(of: Void.self) { group in
                for w in 0..<workers {
                    group.addTask {
                        for i in stride(from: w, to: nodeCount, by: workers) {
                            let (name, labels) = node(i)
                            let created = try await nodeClient.create(Node(metadata: ObjectMeta(name: name, labels: labels)))
                            var nd = NodeDevice(metadata: ObjectMeta(name: name, ownerReferences: [
                                OwnerReference(apiVersion: "v1", kind: "Node", name: name, uid: created.metadata.uid ?? ""),
                            ]))
                            nd = try await deviceClient.create(nd)
                            nd.status = NodeDeviceStatus(
                                devices: devices(i, count: devicesPerNode), probedAt: KubeTime.format(Date()), agentVersion: "bench")
                            _ = try await deviceClient.updateStatus(nd)
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        let populateSeconds = (ContinuousClock.now - populateStart).benchSeconds
        logger.info("populated", metadata: ["seconds": "\(populateSeconds)"])

        // Expected results, from the shared resolver.
        let definitions = try await client.resource(NetworkDeviceMap.self).listAll().items.filter { $0.network.hasPrefix("bench-net-") }
        var expected: [String: (matched: Int, total: Int)] = [:]
        do {
            let (compiled, _) = Resolver.compile(definitions)
            for i in 0..<nodeCount {
                let (name, labels) = node(i)
                let r = Resolver.resolve(node: NodeInfo(name: name, labels: labels), devices: devices(i, count: devicesPerNode),
                                         compiled: compiled, detail: .summary)
                for n in r.networks where n.outcome != .notSelected {
                    var e = expected[n.network] ?? (0, 0)
                    e.total += 1
                    if n.outcome == .resolved { e.matched += 1 }
                    expected[n.network] = e
                }
            }
        }
        ProcessStats.resetPeakResident()

        var options = ControllerOptions()
        options.nadRetryPeriod = .seconds(600)
        let controller = AutomagicController(client: client, options: options, logger: logger)
        let start = ContinuousClock.now
        let task = Task { try await controller.run() }
        defer { task.cancel() }
        let mapClient = populate.resource(NetworkDeviceMap.self)
        func allCorrect() async throws -> Bool {
            let current = try await mapClient.listAll().items
            var correct = 0
            for m in current where m.network.hasPrefix("bench-net-") {
                let e = expected[m.network] ?? (0, 0)
                guard let s = m.status, s.observedGeneration == m.metadata.generation, s.nodes?.total == e.total,
                    s.nodes?.matched == e.matched
                else { return false }
                correct += 1
            }
            return correct == mapCount
        }
        while true {
            if try await allCorrect() { break }
            if ContinuousClock.now - start > .seconds(600) {
                throw ControllerError.invalidOption(name: "benchmark", problem: "map statuses not correct after 600 s")
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        let timeToCorrect = (ContinuousClock.now - start).benchSeconds
        // A write is counted when its response arrives, a moment after the server (and so the check
        // above) already shows it: wait until the counts have not moved for 300 ms (at most 5 s).
        var writesToCorrect = controller.metrics.writeCounts
        let countsDeadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < countsDeadline {
            try await Task.sleep(for: .milliseconds(300))
            let now = controller.metrics.writeCounts
            if now == writesToCorrect { break }
            writesToCorrect = now
        }
        // Let node patches finish (no write for 2 s), then measure one change.
        var settled = controller.metrics.writeCounts
        var quiet = 0
        while quiet < 4, ContinuousClock.now - start < .seconds(900) {
            try await Task.sleep(for: .milliseconds(500))
            let now = controller.metrics.writeCounts
            quiet = now == settled ? quiet + 1 : 0
            settled = now
        }
        let deviceClient = populate.resource(NodeDevice.self)
        let changed = node(nodeCount - 1).name
        // Two ports of one node disappear (a NIC removed): the maps that used them re-resolve there.
        _ = try await deviceClient.modifyStatus(changed) { nd in
            let remaining = Array((nd.status?.devices ?? []).dropFirst(2))
            nd.status?.devices = remaining
            nd.status?.deviceCount = remaining.count
        }
        try await Task.sleep(for: changeWindow)
        let afterChange = controller.metrics.writeCounts
        var oneChange: [String: Int] = [:]
        for (k, v) in afterChange where v - (settled[k] ?? 0) > 0 { oneChange[k] = v - (settled[k] ?? 0) }
        let steadyStart = controller.metrics.totalWrites
        try await Task.sleep(for: steadyWindow)
        let steady = controller.metrics.totalWrites - steadyStart
        return ControllerBenchmarkResult(
            nodes: nodeCount, devicesPerNode: devicesPerNode, maps: mapCount, populateSeconds: populateSeconds,
            timeToCorrectSeconds: timeToCorrect, peakRSSMiB: Double(ProcessStats.peakResidentBytes()) / 1_048_576, writesToCorrect: writesToCorrect,
            oneChangeWrites: oneChange, steadyStateWrites: steady, steadyStateSeconds: steadyWindow.benchSeconds)
    }
}

extension Duration {
    /// The duration in seconds.
    var benchSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
