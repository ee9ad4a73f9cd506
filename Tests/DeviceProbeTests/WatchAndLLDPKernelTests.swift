import Foundation
import Synchronization
import Testing
import TestSupport

@testable import DeviceProbe

/// Collects the batches of a `changes()` stream in the background.
final class ChangeCollector: Sendable {
    final class Store: Sendable {
        let m = Mutex<[(DeviceChange, ContinuousClock.Instant)]>([])
    }

    let store = Store()
    let task: Task<Void, Never>

    init(_ stream: AsyncStream<DeviceChange>) {
        let store = self.store
        task = Task {
            for await c in stream { store.m.withLock { $0.append((c, .now)) } }
        }
    }

    var all: [DeviceChange] { store.m.withLock { $0.map(\.0) } }

    /// The first batch after `since` that satisfies `match`, with its arrival time.
    func first(after since: ContinuousClock.Instant, _ match: (DeviceChange) -> Bool) -> ContinuousClock.Instant? {
        store.m.withLock { $0.first { $0.1 >= since && match($0.0) }?.1 }
    }
}

extension KernelTests {
@Suite("Watch and LLDP against the kernel", .serialized)
struct WatchAndLLDPKernelTests {
    @Test("hot-plug: link and address events arrive debounced; removal too")
    func hotPlug() async throws {
        let ns = try TestNetns()
        defer { ns.remove() }
        let prober = try DeviceProber(netnsPath: ns.path,
                                      watch: .init(debounce: .milliseconds(50), maxDelay: .milliseconds(300), resyncInterval: nil))
        defer { prober.shutdown() }
        let collector = ChangeCollector(prober.changes())
        defer { collector.task.cancel() }
        _ = try await prober.probe() // the subscription job ran before this one

        var t0 = ContinuousClock.now
        try ns.ip("link", "add", "amhp0", "type", "veth", "peer", "name", "amhp0p")
        var arrived: ContinuousClock.Instant?
        #expect(eventuallyBlocking(timeout: .seconds(10)) {
            arrived = collector.first(after: t0) { $0.reasons.contains(.link) && $0.interfaces.contains("amhp0") }
            return arrived != nil
        })
        if let arrived { print("link added -> notification: \(t0.duration(to: arrived))") }
        let devices = try await prober.probe()
        #expect(devices.contains { $0.name == "amhp0" })

        t0 = .now
        try ns.ip("addr", "add", "192.168.77.1/24", "dev", "amhp0")
        #expect(eventuallyBlocking(timeout: .seconds(10)) { collector.first(after: t0) { $0.reasons.contains(.address) } != nil })
        #expect(try await prober.probe().first { $0.name == "amhp0" }?.addresses == ["192.168.77.1/24"])

        // A default route is an event (hasDefaultRoute follows); other routes are not.
        try ns.ip("link", "set", "amhp0", "up")
        try await Task.sleep(for: .milliseconds(200))
        t0 = .now
        try ns.ip("route", "add", "10.99.0.0/16", "via", "192.168.77.254")
        try await Task.sleep(for: .milliseconds(300))
        #expect(collector.first(after: t0) { $0.reasons.contains(.route) } == nil)
        try ns.ip("route", "add", "default", "via", "192.168.77.254")
        #expect(eventuallyBlocking(timeout: .seconds(10)) { collector.first(after: t0) { $0.reasons.contains(.route) } != nil })
        #expect(try await prober.probe().first { $0.name == "amhp0" }?.hasDefaultRoute == true)
        #expect(collector.all.filter { $0.reasons.contains(.route) }.count == 1)

        // A burst of 20 links is coalesced into few batches.
        t0 = .now
        let before = collector.all.count
        let batch = (0..<20).map { "link add amb\($0) type veth peer name amb\($0)p" }.joined(separator: "\n") + "\n"
        let dir = try makeTempDir("amburst")
        defer { removeTestFiles(dir) }
        let file = dir + "/links.batch"
        try batch.write(toFile: file, atomically: true, encoding: .utf8)
        try ns.ip("-batch", file)
        #expect(eventuallyBlocking(timeout: .seconds(10)) { collector.first(after: t0) { $0.interfaces.contains("amb19") } != nil })
        try await Task.sleep(for: .milliseconds(400))
        let burstBatches = collector.all.count - before
        #expect(burstBatches >= 1 && burstBatches <= 4, "20 links gave \(burstBatches) batches")

        t0 = .now
        try ns.ip("link", "del", "amhp0")
        #expect(eventuallyBlocking(timeout: .seconds(10)) { collector.first(after: t0) { $0.reasons.contains(.link) && $0.interfaces.contains("amhp0") } != nil })
        #expect(try await prober.probe().contains { $0.name == "amhp0" } == false)

        // requestResync goes through the same stream; shutdown ends it.
        t0 = .now
        prober.requestResync()
        #expect(eventuallyBlocking(timeout: .seconds(10)) { collector.first(after: t0) { $0.reasons.contains(.requested) } != nil })
        prober.shutdown()
        let ended = await withTaskGroup(of: Bool.self) { g in
            g.addTask { await collector.task.value; return true }
            g.addTask {
                do { try await Task.sleep(for: .seconds(3)) } catch { return false } // cancelled: the stream ended first
                return false
            }
            let r = await g.next() ?? false
            g.cancelAll()
            return r
        }
        #expect(ended)
    }

    @Test("hot-plug latency: 15 links added one by one, each notified")
    func hotPlugLatency() async throws {
        let ns = try TestNetns()
        defer { ns.remove() }
        let prober = try DeviceProber(netnsPath: ns.path, watch: .init(resyncInterval: nil)) // default 75 ms debounce
        defer { prober.shutdown() }
        let collector = ChangeCollector(prober.changes())
        defer { collector.task.cancel() }
        _ = try await prober.probe()
        var latencies: [Duration] = []
        for i in 0..<15 {
            try ns.ip("link", "add", "amlat\(i)", "type", "veth", "peer", "name", "amlat\(i)p")
            let t0 = ContinuousClock.now // after ip returned: the kernel has sent the event
            var arrived: ContinuousClock.Instant?
            #expect(eventuallyBlocking(timeout: .seconds(10)) {
                arrived = collector.first(after: t0) { $0.interfaces.contains("amlat\(i)") }
                return arrived != nil
            })
            if let arrived { latencies.append(t0.duration(to: arrived)) }
            try await Task.sleep(for: .milliseconds(120)) // let the batch close before the next one
        }
        latencies.sort()
        #expect(latencies.count == 15)
        print("link added -> notification with 75 ms debounce: median \(latencies[latencies.count / 2]), worst \(latencies.last ?? .zero)")
        #expect(latencies[latencies.count / 2] < .milliseconds(500))
    }

    @Test("no descriptor or thread is left behind after shutdown")
    func noLeaks() async throws {
        let ns = try TestNetns()
        defer { ns.remove() }
        func entries(_ path: String) -> Int {
            guard let d = opendir(path) else { return Int.max }
            defer { closedir(d) }
            var n = 0
            while readdir(d) != nil { n += 1 }
            return n
        }
        func fds() -> Int { entries("/proc/self/fd") }
        func threads() -> Int { entries("/proc/self/task") }
        // Warm up the runtime's own threads and descriptors first.
        let warm = try DeviceProber(netnsPath: ns.path, lldp: LLDPOptions())
        _ = try await warm.probe()
        warm.shutdown()
        try await Task.sleep(for: .milliseconds(200))
        let fd0 = fds()
        let th0 = threads()
        for _ in 0..<20 {
            let p = try DeviceProber(netnsPath: ns.path, lldp: LLDPOptions(patterns: ["*"]))
            let stream = p.changes()
            _ = try await p.probe()
            _ = p.lldpNeighbours()
            p.shutdown()
            _ = stream
        }
        // Threads exit asynchronously after shutdown.
        #expect(eventuallyBlocking(timeout: .seconds(5)) { fds() <= fd0 + 2 && threads() <= th0 + 2 },
                "fds \(fd0) -> \(fds()), threads \(th0) -> \(threads())")
    }

    @Test("periodic resync fires with no events")
    func periodicResync() async throws {
        let ns = try TestNetns()
        defer { ns.remove() }
        let prober = try DeviceProber(netnsPath: ns.path, watch: .init(resyncInterval: .milliseconds(200)))
        defer { prober.shutdown() }
        let collector = ChangeCollector(prober.changes())
        defer { collector.task.cancel() }
        #expect(eventuallyBlocking(timeout: .seconds(2)) { collector.all.filter { $0.reasons.contains(.resync) }.count >= 2 })
    }

    @Test("LLDP: neighbour published from frames sent by the far end; malformed ignored; TTL expiry; off by default")
    func lldpEndToEnd() async throws {
        let ns = try TestNetns()
        defer { ns.remove() }
        let peer = try TestNetns("p")
        defer { peer.remove() }
        try ns.ip("link", "add", "amv0", "type", "veth", "peer", "name", "amv0p", "netns", peer.name)
        try ns.ip("link", "add", "amx0", "type", "veth", "peer", "name", "amx0p", "netns", peer.name)
        for l in ["amv0", "amx0"] { try ns.ip("link", "set", l, "mtu", "9000", "up") }
        for l in ["amv0p", "amx0p"] { try peer.ip("link", "set", l, "mtu", "9000", "up") }

        // Off by default.
        let plain = try DeviceProber(netnsPath: ns.path)
        #expect(plain.lldpStatistics() == nil)
        plain.shutdown()

        let prober = try DeviceProber(netnsPath: ns.path, watch: .init(debounce: .milliseconds(30), resyncInterval: nil),
                                      lldp: LLDPOptions(patterns: ["amv*"]))
        defer { prober.shutdown() }
        let collector = ChangeCollector(prober.changes())
        defer { collector.task.cancel() }
        _ = try await prober.probe() // selects amv0 (pattern); amx0 is neither physical nor matched
        let sender = try FrameSender(netnsPath: peer.path)
        defer { sender.shutdown() }

        let good = LLDPParserTests.full()
        let t0 = ContinuousClock.now
        try sender.send(good.frame(), on: "amv0p")
        #expect(eventuallyBlocking { prober.lldpStatistics()?.framesAccepted == 1 }, "\(String(describing: prober.lldpStatistics()))")
        #expect(eventuallyBlocking(timeout: .seconds(10)) { collector.first(after: t0) { $0.reasons.contains(.lldp) && $0.interfaces.contains("amv0") } != nil })
        let dev = try #require(try await prober.probe().first { $0.name == "amv0" })
        let lldp = try #require(dev.lldp)
        #expect(lldp.chassisID == "02:1c:73:00:00:01")
        #expect(lldp.portID == "Ethernet12")
        #expect(lldp.systemName == "tor-r1-a")
        #expect(lldp.portDescription == "server-7 port 1")
        #expect(lldp.vlanIDs == [100, 200])
        #expect(lldp.vlanNames == ["storage", "backup"])
        #expect(lldp.managementAddress == "10.0.0.1")
        #expect(lldp.lastHeard?.hasSuffix("Z") == true)

        // Same frame on a device that is not selected: ignored.
        try sender.send(good.frame(), on: "amx0p")
        #expect(eventuallyBlocking { prober.lldpStatistics()?.framesIgnored == 1 })
        #expect(try await prober.probe().first { $0.name == "amx0" }?.lldp == nil)

        // Malformed: truncated TLV, wrong TTL length, oversized jumbo, garbage. All rejected, neighbour kept.
        let h = LLDPParserTests.header()
        let bad: [[UInt8]] = [
            h + [0x02, 40] + [4] + LLDPParserTests.switchMAC + [UInt8](repeating: 0, count: 40),
            h + LLDPParserTests.chassis + LLDPParserTests.port + LLDPFrameBuilder.tlv(3, [0, 1, 2]) + [0, 0] + [UInt8](repeating: 0, count: 30),
            h + LLDPParserTests.chassis + LLDPParserTests.port + LLDPParserTests.ttl + [UInt8](repeating: 0x55, count: 8000),
            h + [UInt8](repeating: 0xFF, count: 60),
        ]
        for f in bad { try sender.send(f, on: "amv0p") }
        #expect(eventuallyBlocking { prober.lldpStatistics()?.framesRejected == bad.count })
        #expect(try await prober.probe().first { $0.name == "amv0" }?.lldp?.systemName == "tor-r1-a")

        // A second neighbour with TTL 1 becomes the published one, then expires; the first comes back.
        var short = LLDPFrameBuilder(source: [0x02, 0, 0, 0, 0, 9], chassisID: .interfaceName("tor-r9"), portID: .locallyAssigned("9"))
        short.ttl = 1
        short.portVLANID = 300
        try sender.send(short.frame(), on: "amv0p")
        #expect(eventuallyBlocking { prober.lldpNeighbours().count == 2 })
        #expect(try await prober.probe().first { $0.name == "amv0" }?.lldp?.vlanIDs == [300])
        #expect(eventuallyBlocking(timeout: .seconds(3)) { prober.lldpNeighbours().count == 1 })
        #expect(try await prober.probe().first { $0.name == "amv0" }?.lldp?.chassisID == "02:1c:73:00:00:01")

        // TTL 0 (shutdown) forgets the neighbour at once.
        var bye = good
        bye.ttl = 0
        try sender.send(bye.frame(), on: "amv0p")
        #expect(eventuallyBlocking { prober.lldpNeighbours().isEmpty })
        #expect(try await prober.probe().first { $0.name == "amv0" }?.lldp == nil)
        #expect((prober.lldpStatistics()?.neighboursExpired ?? 0) >= 2)
    }
}
}
