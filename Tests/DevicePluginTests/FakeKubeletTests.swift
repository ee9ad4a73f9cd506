import Foundation
import MappingFile
import Testing
import TestSupport

/// The real `automagic-device-plugin` binary against a fake kubelet in Python (grpcio, the same
/// .proto), watching veth links in a test namespace (root).
@Suite(.serialized) struct FakeKubeletTests {
    @Test func registersListsPrefersAndAllocates() async throws {
        let h = try Harness()
        defer { h.stop() }
        let (a, b, c) = (try h.link("dpa"), try h.link("dpb"), try h.link("dpc"))
        try h.writeMapping([
            "fast": NetworkMapping(device: "dpa", map: "fast", attachment: Attachment(type: "host-device"), exclusive: true,
                                   candidates: [a.candidate(numa: 0), b.candidate(numa: 1), c.candidate(numa: 0)]),
            "slow": NetworkMapping(device: "dpa", map: "slow", attachment: Attachment(type: "macvlan", mode: "bridge")),
        ])
        try h.startKubelet()
        try h.startPlugin()

        let registration = try await h.waitFor("the registration of fast") { e in e["event"] as? String == "register" && e["resource"] as? String == "automagic.dev/fast" }
        #expect(registration["version"] as? String == "v1beta1")
        #expect(registration["endpoint"] as? String == "automagic-fast.sock")
        #expect((registration["options"] as? [String: Any])?["getPreferredAllocationAvailable"] as? Bool == true)
        let options = try await h.waitFor("GetDevicePluginOptions") { $0["event"] as? String == "options" }
        #expect((options["options"] as? [String: Any])?["preStartRequired"] as? Bool == false)
        let list = try await h.waitForList("fast") { !$0.isEmpty }
        #expect(list.map(\.id) == [a.mac, b.mac, c.mac], "the list is the network's candidates, by MAC (veth has no PCI address)")
        #expect(list.map(\.health) == ["Healthy", "Healthy", "Healthy"])
        #expect(list.map(\.numa) == [[0], [1], [0]])
        #expect(h.events().allSatisfy { $0["resource"] as? String != "automagic.dev/slow" }, "a shared network is not served")

        let socket = h.pluginDir + "/automagic-fast.sock"
        let preferred = try h.call(socket, ["preferred", "--available", a.mac, b.mac, c.mac, "--size", "2"])
        #expect(preferred["containers"] as? [[String]] == [[a.mac, c.mac]], "two devices of NUMA node 0: \(preferred)")

        let allocated = try h.call(socket, ["allocate", b.mac])
        let envs = (allocated["containers"] as? [[String: Any]])?.first?["envs"] as? [String: String]
        #expect(envs == ["AUTOMAGIC_FAST_DEVICES": b.mac], "\(allocated)")

        let refused = try h.call(socket, ["allocate", "02:99:99:99:99:99"])
        let error = try #require(refused["error"] as? [String: Any], "\(refused)")
        #expect(error["code"] as? String == "INVALID_ARGUMENT")
        let details = error["details"] as? String ?? ""
        #expect(details.contains("02:99:99:99:99:99") && details.contains(a.mac) && details.contains(c.mac), "\(details)")
    }

    @Test func healthFollowsTheLinkAndTheMappingFile() async throws {
        let h = try Harness()
        defer { h.stop() }
        let (a, b) = (try h.link("dpa"), try h.link("dpb"))
        let network = { (candidates: [DeviceCandidate]) in
            NetworkMapping(device: "dpa", map: "fast", exclusive: true, candidates: candidates)
        }
        try h.writeMapping(["fast": network([a.candidate(), b.candidate()])])
        try h.startKubelet()
        try h.startPlugin()
        _ = try await h.waitForList("fast") { $0.count == 2 && $0.allSatisfy { $0.health == "Healthy" } }

        var started = Date().timeIntervalSince1970
        try h.netns.ip("link", "set", "dpa", "down")
        var seen = try await h.waitForList("fast", after: started) { $0.first { $0.id == a.mac }?.health == "Unhealthy" }
        #expect(seen.time - started < 1.0, "Unhealthy \(seen.time - started) s after the link went down")
        #expect(seen.first { $0.id == b.mac }?.health == "Healthy")

        started = Date().timeIntervalSince1970
        try h.netns.ip("link", "set", "dpa", "up")
        seen = try await h.waitForList("fast", after: started) { $0.first { $0.id == a.mac }?.health == "Healthy" }
        #expect(seen.time - started < 1.0, "Healthy again \(seen.time - started) s after the link came up")

        started = Date().timeIntervalSince1970
        try h.netns.ip("link", "del", "dpb")
        seen = try await h.waitForList("fast", after: started) { $0.first { $0.id == b.mac }?.health == "Unhealthy" }
        #expect(seen.time - started < 1.0, "Unhealthy \(seen.time - started) s after the link was deleted")

        // The agent drops the device from the candidates: it is gone from the list.
        started = Date().timeIntervalSince1970
        try h.writeMapping(["fast": network([a.candidate()])])
        seen = try await h.waitForList("fast", after: started) { $0.count == 1 }
        #expect(seen.map(\.id) == [a.mac])
    }

    @Test func registersAgainWhenTheKubeletRestarts() async throws {
        let h = try Harness()
        defer { h.stop() }
        let a = try await h.serveOneFastDevice()

        // The kubelet dies; a new one removes the plugins' sockets and creates kubelet.sock anew.
        h.stopKubelet()
        let restarted = Date().timeIntervalSince1970
        try h.startKubelet()
        let again = try await h.waitFor("a new registration", timeout: .seconds(10)) { e in
            e["event"] as? String == "register" && (e["time"] as? Double ?? 0) > restarted
        }
        let delay = (again["time"] as? Double ?? 0) - restarted
        #expect(delay < 5, "registered again \(delay) s after the kubelet restarted")
        let list = try await h.waitForList("fast", after: restarted) { $0.count == 1 }
        #expect(list.map(\.id) == [a.mac])
        #expect(FileManager.default.fileExists(atPath: h.pluginDir + "/automagic-fast.sock"), "the plugin serves on a new socket")
    }

    @Test func withdrawsAResourceThatStopsBeingExclusiveOrDisappears() async throws {
        let h = try Harness()
        defer { h.stop() }
        let (a, b) = (try h.link("dpa"), try h.link("dpb"))
        let fast = NetworkMapping(device: "dpa", map: "fast", exclusive: true, candidates: [a.candidate()])
        let bulk = NetworkMapping(device: "dpb", map: "bulk", exclusive: true, candidates: [b.candidate()])
        try h.writeMapping(["fast": fast, "bulk": bulk])
        try h.startKubelet()
        try h.startPlugin()
        _ = try await h.waitForList("fast") { $0.count == 1 }
        _ = try await h.waitForList("bulk") { $0.count == 1 }

        var shared = fast
        shared.exclusive = false
        shared.candidates = []
        try h.writeMapping(["fast": shared, "bulk": bulk])
        _ = try await h.waitFor("the end of fast's stream") { $0["event"] as? String == "stream-end" && $0["resource"] as? String == "automagic.dev/fast" }
        #expect(await eventually { !FileManager.default.fileExists(atPath: h.pluginDir + "/automagic-fast.sock") })
        #expect(FileManager.default.fileExists(atPath: h.pluginDir + "/automagic-bulk.sock"))

        try h.writeMapping(["fast": shared])
        _ = try await h.waitFor("the end of bulk's stream") { $0["event"] as? String == "stream-end" && $0["resource"] as? String == "automagic.dev/bulk" }
        #expect(await eventually { !FileManager.default.fileExists(atPath: h.pluginDir + "/automagic-bulk.sock") })
        #expect(h.plugin?.isRunning == true)
    }

    /// Two exclusive networks select dpa: both offer it; a pod of one holds it at a time, as the
    /// kubelet's pod resources API says (also across a restart of the plugin).
    @Test func aDeviceTwoNetworksOfferGoesToOnePodAtATime() async throws {
        let h = try Harness()
        defer { h.stop() }
        let (a, b) = (try h.link("dpa"), try h.link("dpb"))
        try h.writeMapping([
            "alpha": NetworkMapping(device: "dpa", map: "alpha", exclusive: true, candidates: [a.candidate()]),
            "zeta": NetworkMapping(device: "dpa", map: "zeta", exclusive: true, candidates: [a.candidate(), b.candidate()]),
        ])
        try h.startKubelet(podResources: true)
        try h.startPlugin()
        _ = try await h.waitForList("alpha") { $0.map(\.health) == ["Healthy"] }
        _ = try await h.waitForList("zeta") { $0.map(\.id) == [a.mac, b.mac] && $0.allSatisfy { $0.health == "Healthy" } }
        #expect(await eventually(timeout: .seconds(5)) { h.pluginLog().contains("following the pods' devices through the pod resources API") },
                "\(h.pluginLog())")

        let alphaSocket = h.pluginDir + "/automagic-alpha.sock", zetaSocket = h.pluginDir + "/automagic-zeta.sock"
        var started = Date().timeIntervalSince1970
        let given = try h.call(alphaSocket, ["allocate", a.mac])
        // The client is a Python process that compiles the .protos first: time from its answer.
        let answered = Date().timeIntervalSince1970
        #expect(given["error"] == nil, "\(given)")
        var seen = try await h.waitForList("zeta", after: started) { $0.first { $0.id == a.mac }?.health == "Unhealthy" }
        #expect(seen.time - answered < 1.0, "zeta says Unhealthy \(seen.time - answered) s after alpha's Allocate answered")
        #expect(seen.first { $0.id == b.mac }?.health == "Healthy")
        let refused = try h.call(zetaSocket, ["allocate", a.mac])
        let error = try #require(refused["error"] as? [String: Any], "zeta must not get alpha's device: \(refused)")
        #expect(error["code"] as? String == "FAILED_PRECONDITION")
        #expect((error["details"] as? String ?? "").contains("\(a.mac) is held by a pod of network 'alpha'"), "\(error)")

        // The kubelet records the pod. Past the settling time, its record alone keeps the claim,
        // also for a plugin that restarts and never saw the Allocate.
        try h.writePods([("ns1/p1", "automagic.dev/alpha", [a.mac])])
        try await Task.sleep(for: .seconds(6))
        h.stopPlugin()
        started = Date().timeIntervalSince1970
        try h.startPlugin()
        seen = try await h.waitForList("zeta", after: started) { $0.count == 2 }
        #expect(seen.first { $0.id == a.mac }?.health == "Unhealthy", "the restarted plugin's first list: \(seen.devices)")
        let again = try h.call(zetaSocket, ["allocate", a.mac])
        #expect((again["error"] as? [String: Any])?["details"].map { "\($0)".contains("ns1/p1") } == true, "\(again)")

        // The pod is gone: zeta offers the device again, and may be given it.
        started = Date().timeIntervalSince1970
        try h.writePods([])
        seen = try await h.waitForList("zeta", after: started) { $0.first { $0.id == a.mac }?.health == "Healthy" }
        #expect(seen.time - started < 2.5, "Healthy again \(seen.time - started) s after the pod was gone")
        let now = try h.call(zetaSocket, ["allocate", a.mac])
        #expect(now["error"] == nil, "\(now)")
        _ = try await h.waitForList("alpha", after: started) { $0.map(\.health) == ["Unhealthy"] }
    }

    /// Without the pod resources API, the claim ends when host-device gives the device back: its
    /// link leaves the host's namespace for the pod's and returns.
    @Test func withoutPodResourcesTheLinkComingBackFreesTheDevice() async throws {
        let h = try Harness()
        defer { h.stop() }
        let pod = try TestNetns("dpp")
        defer { pod.remove() }
        let a = try h.link("dpa")
        try h.writeMapping([
            "alpha": NetworkMapping(device: "dpa", map: "alpha", exclusive: true, candidates: [a.candidate()]),
            "zeta": NetworkMapping(device: "dpa", map: "zeta", exclusive: true, candidates: [a.candidate()]),
        ])
        try h.startKubelet()
        try h.startPlugin()
        _ = try await h.waitForList("zeta") { $0.map(\.health) == ["Healthy"] }
        #expect(await eventually(timeout: .seconds(5)) { h.pluginLog().contains("no pod resources API at \(h.podResourcesSocket)") },
                "\(h.pluginLog())")

        var started = Date().timeIntervalSince1970
        #expect(try h.call(h.pluginDir + "/automagic-alpha.sock", ["allocate", a.mac])["error"] == nil)
        _ = try await h.waitForList("zeta", after: started) { $0.map(\.health) == ["Unhealthy"] }

        // Into the pod and back (what host-device's ADD and DEL do); still claimed in between.
        try h.netns.ip("link", "set", "dpa", "netns", pod.name)
        try await Task.sleep(for: .milliseconds(400))
        started = Date().timeIntervalSince1970
        try pod.ip("link", "set", "dpa", "netns", h.netns.name)
        try h.netns.ip("link", "set", "dpa", "up")
        let seen = try await h.waitForList("zeta", after: started) { $0.map(\.health) == ["Healthy"] }
        #expect(seen.time - started < 1.0, "zeta offers it again \(seen.time - started) s after it came back")
        #expect(try h.call(h.pluginDir + "/automagic-zeta.sock", ["allocate", a.mac])["error"] == nil)
    }

    @Test func aMappingFileItCannotReadKeepsWhatIsServed() async throws {
        let h = try Harness()
        defer { h.stop() }
        _ = try await h.serveOneFastDevice()

        try h.dir.write("mapping.json", "{\"apiVersion\": \"automagic.dev/v1alpha1\", \"kind\": \"NodeNetworkMapping\", \"formatVersion\": 99, \"node\": \"n1\"}")
        #expect(await eventually(timeout: .seconds(5)) { h.pluginLog().contains("formatVersion") || h.pluginLog().contains("format 99") },
                "the plugin says why it cannot read the file: \(h.pluginLog())")
        try await Task.sleep(for: .milliseconds(600))
        #expect(h.events().allSatisfy { $0["event"] as? String != "stream-end" }, "nothing was withdrawn")
        #expect(FileManager.default.fileExists(atPath: h.pluginDir + "/automagic-fast.sock"))
    }
}

/// One device of a ListAndWatch answer as the fake kubelet logged it.
struct ListedDevice: Equatable {
    var id: String
    var health: String
    var numa: [Int]
}

/// A list the fake kubelet received, with its wall-clock time.
struct ListEvent: Collection {
    var time: Double
    var devices: [ListedDevice]
    var startIndex: Int { devices.startIndex }
    var endIndex: Int { devices.endIndex }
    subscript(i: Int) -> ListedDevice { devices[i] }
    func index(after i: Int) -> Int { i + 1 }
}

/// A veth end in the test namespace, with the MAC it was given.
struct TestLink {
    var name: String
    var mac: String
    func candidate(numa: Int? = nil) -> DeviceCandidate { DeviceCandidate(name: name, mac: mac, numaNode: numa) }
}

/// A namespace with veth links, a temporary folder (device-plugin folder, mapping file, event
/// log), the fake kubelet and the plugin binary. `stop()` ends both processes and removes all.
final class Harness: @unchecked Sendable {
    let netns: TestNetns
    let dir: TempDir
    var pluginDir: String { dir.path + "/plugins" }
    var mappingPath: String { dir.path + "/mapping.json" }
    var eventsPath: String { dir.path + "/events.jsonl" }
    /// The pod resources API's socket (served by the fake kubelet when started with `podResources`).
    var podResourcesSocket: String { dir.path + "/pod-resources/kubelet.sock" }
    /// The pods (and their devices) the fake kubelet's pod resources API lists.
    var podsPath: String { dir.path + "/pods.json" }
    private(set) var kubelet: Process?
    private(set) var plugin: Process?
    private var links = 0

    init() throws {
        netns = try TestNetns("dp")
        do {
            dir = try TempDir("amdp")
            try FileManager.default.createDirectory(atPath: dir.path + "/plugins", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: dir.path + "/pod-resources", withIntermediateDirectories: true)
        } catch {
            netns.remove()
            throw error
        }
    }

    /// A veth pair `name`/`name`p, both up; `name` gets a fixed, locally administered MAC.
    func link(_ name: String) throws -> TestLink {
        links += 1
        let mac = String(format: "02:a0:00:00:00:%02x", links)
        try netns.ip("link", "add", name, "address", mac, "type", "veth", "peer", "name", name + "p")
        try netns.ip("link", "set", name, "up")
        try netns.ip("link", "set", name + "p", "up")
        return TestLink(name: name, mac: mac)
    }

    func writeMapping(_ networks: [String: NetworkMapping]) throws {
        try MappingFile.write(NodeNetworkMapping(node: "n1", generation: 1, updatedAt: "2026-12-06T00:00:00Z", networks: networks),
                              to: mappingPath)
    }

    static var fakeKubelet: String { repositoryPath("Tests/DevicePluginTests/fake_kubelet.py") }

    static func binary() throws -> String { try builtProduct("automagic-device-plugin") }

    private func start(_ executable: String, _ arguments: [String], log: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        return p
    }

    /// The fake kubelet: it removes the sockets in the folder and serves kubelet.sock; with
    /// `podResources`, also the pod resources API listing the pods of ``writePods(_:)``.
    func startKubelet(podResources: Bool = false) throws {
        let extra = podResources ? ["--pod-resources", podResourcesSocket, "--pods", podsPath] : []
        kubelet = try start("/usr/bin/env", ["python3", Self.fakeKubelet, "serve", "--dir", pluginDir, "--events", eventsPath] + extra,
                            log: dir.path + "/kubelet.log")
        let ready = eventuallyBlocking(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: pluginDir + "/kubelet.sock") }
        guard ready else { throw TestFailure("the fake kubelet did not create kubelet.sock: \(kubeletLog())") }
    }

    func stopKubelet() {
        guard let k = kubelet else { return }
        k.terminate()
        if !eventuallyBlocking(timeout: .seconds(5), { !k.isRunning }) { kill(k.processIdentifier, SIGKILL) }
        k.waitUntilExit()
        kubelet = nil
    }

    /// Starts the plugin binary; the DRA plugin is off unless `arguments` name a node.
    func startPlugin(_ arguments: [String] = ["--no-dra"]) throws {
        plugin = try start(try Self.binary(), ["--mapping-file", mappingPath, "--device-plugin-dir", pluginDir,
                                               "--netns", netns.path, "--log-level", "debug",
                                               "--pod-resources-socket", podResourcesSocket] + arguments,
                           log: dir.path + "/plugin.log")
    }

    /// Stops the plugin (SIGTERM) and waits for it.
    func stopPlugin() {
        guard let p = plugin else { return }
        if p.isRunning {
            p.terminate()
            if !eventuallyBlocking(timeout: .seconds(10), { !p.isRunning }) { kill(p.processIdentifier, SIGKILL) }
        }
        p.waitUntilExit()
        plugin = nil
    }

    /// The pods the kubelet's record holds: (namespace/name, resource, device IDs).
    func writePods(_ pods: [(pod: String, resource: String, ids: [String])]) throws {
        let objects: [[String: Any]] = pods.map { p in
            let parts = p.pod.split(separator: "/").map(String.init)
            return ["namespace": parts.first ?? "default", "name": parts.last ?? p.pod, "devices": [p.resource: p.ids]]
        }
        let data = try JSONSerialization.data(withJSONObject: objects)
        try data.write(to: URL(fileURLWithPath: podsPath + ".tmp"))
        guard rename(podsPath + ".tmp", podsPath) == 0 else { throw TestFailure("cannot write \(podsPath)") }
    }

    func pluginLog() -> String { logText(dir.path + "/plugin.log") }
    func kubeletLog() -> String { logText(dir.path + "/kubelet.log") }

    /// Every event the fake kubelet logged so far.
    func events() -> [[String: Any]] {
        // Not written yet: none. A last line without its newline is still being written: skipped.
        // A whole line that is not a JSON object is recorded as an issue of the test.
        let text = logText(eventsPath)
        return text.split(separator: "\n").dropLast(text.hasSuffix("\n") ? 0 : 1).compactMap { line in
            do {
                if let event = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] { return event }
                Issue.record("fake kubelet event is not an object: \(line)")
            } catch {
                Issue.record("fake kubelet event is not JSON (\(error)): \(line)")
            }
            return nil
        }
    }

    /// The first event that `matches`, waiting up to `timeout`.
    func waitFor(_ what: String, timeout: Duration = .seconds(10),
                 _ matches: @escaping ([String: Any]) -> Bool) async throws -> [String: Any] {
        var found: [String: Any]?
        _ = await eventually(timeout: timeout) {
            found = events().first(where: matches)
            return found != nil
        }
        guard let found else {
            throw TestFailure("no \(what) within \(timeout)\nplugin:\n\(pluginLog())\nkubelet:\n\(kubeletLog())\nevents:\n\(events())")
        }
        return found
    }

    /// Network `fast` with link `dpa` its one exclusive candidate, served by the plugin to a
    /// running kubelet: returns the link once the kubelet lists it.
    func serveOneFastDevice() async throws -> TestLink {
        let a = try link("dpa")
        try writeMapping(["fast": NetworkMapping(device: "dpa", map: "fast", exclusive: true, candidates: [a.candidate()])])
        try startKubelet()
        try startPlugin()
        _ = try await waitForList("fast") { $0.count == 1 }
        return a
    }

    /// The first list of `network` received after `after` for which `matches` holds.
    func waitForList(_ network: String, after: Double = 0, timeout: Duration = .seconds(10),
                     _ matches: @escaping (ListEvent) -> Bool) async throws -> ListEvent {
        let event = try await waitFor("list of \(network) as expected", timeout: timeout) { e in
            guard e["event"] as? String == "list", e["resource"] as? String == "automagic.dev/\(network)",
                  let l = Self.list(e), l.time > after else { return false }
            return matches(l)
        }
        return try #require(Self.list(event))
    }

    static func list(_ e: [String: Any]) -> ListEvent? {
        guard let time = e["time"] as? Double, let devices = e["devices"] as? [[String: Any]] else { return nil }
        return ListEvent(time: time, devices: devices.map {
            ListedDevice(id: $0["id"] as? String ?? "", health: $0["health"] as? String ?? "", numa: $0["numa"] as? [Int] ?? [])
        })
    }

    /// One call on a plugin socket through the fake kubelet's client; its JSON answer.
    func call(_ socket: String, _ arguments: [String], verb: String = "call") throws -> [String: Any] {
        let out = try sh(["python3", Self.fakeKubelet] + verb.split(separator: " ").map(String.init) + ["--socket", socket] + arguments, timeout: 30)
        guard let json = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any] else {
            throw TestFailure("fake kubelet call \(arguments) printed no JSON object: \(out)")
        }
        return json
    }

    func stop() {
        stopPlugin()
        stopKubelet()
        netns.remove()
        dir.cleanup()
    }
}
