#if canImport(Glibc)
import Glibc
#endif
import CNI
import CNIPlugin
import JSON
import MappingFile
import Testing
import TestSupport

/// Helpers shared by the suites: a throwaway node with mapping files, and invoking the real
/// `automagic` binary as a runtime would (commands, netns and temp dirs: TestSupport).

/// A throwaway "node": a host netns holding a veth pair (`<p>m` is the master, `<p>x` its peer),
/// pod netns created on demand, a temp dir with the mapping file and the cache. `cleanup()`
/// deletes everything; call it in `defer`.
final class TestNode {
    let prefix: String
    let dir: TempDir
    private let host: TestNetns
    var hostNS: String { host.name }
    var master: String { prefix + "m" }
    var masterPeer: String { prefix + "x" }
    private(set) var pods: [TestNetns] = []

    var mappingPath: String { dir.path + "/mapping.json" }
    var cacheDir: String { dir.path + "/cache" }

    init() throws {
        let prefix = uniquePrefix()
        let dir = try TempDir()
        do {
            host = try TestNetns(name: prefix + "h")
        } catch {
            dir.cleanup()
            throw error
        }
        self.prefix = prefix
        self.dir = dir
        do {
            try host.veth(master, masterPeer)
        } catch {
            cleanup()
            throw error
        }
    }

    /// The MAC address of the host netns's device `device`.
    func mac(of device: String) throws -> String {
        let links = try ipJSON(netns: hostNS, ["link", "show", device])
        return try #require(links.first?["address"] as? String)
    }

    /// Creates a pod netns and returns its name; its path is `/var/run/netns/<name>`.
    func addPod(_ suffix: String = "p") throws -> String {
        let pod = try TestNetns(name: prefix + suffix)
        pods.append(pod)
        return pod.name
    }

    /// A pod netns with the standard mapping written (see `writeStandardMapping`); returns the pod's name.
    func addPodWithStandardMapping() throws -> String {
        let pod = try addPod()
        try writeStandardMapping()
        return pod
    }

    /// Expects that nothing of `pod` is left: no link in its netns, no entry in the cache.
    func expectNothingLeft(pod: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(try linkNames(netns: pod).isEmpty, sourceLocation: sourceLocation)
        #expect(try cacheEntries().isEmpty, sourceLocation: sourceLocation)
    }

    /// Adds another veth pair in the host netns (for host-device), returning the device name.
    func addHostDevice(_ suffix: String) throws -> String {
        let name = prefix + suffix
        try host.veth(name, name + "y", up: false)
        return name
    }

    func cleanup() {
        for pod in pods { pod.remove() }
        host.remove()
        dir.cleanup()
    }

    /// Writes a mapping file with `networks` (name → entry JSON).
    func writeMapping(_ networks: [String: JSONValue], node: String = "worker-1", formatVersion: Int? = nil) throws {
        var doc: JSONValue = [
            "apiVersion": "automagic.dev/v1alpha1", "kind": "NodeNetworkMapping", "node": .string(node),
            "generation": 3, "updatedAt": "2026-11-28T22:00:00Z", "networks": .object(networks),
        ]
        if let formatVersion { doc["formatVersion"] = .int(Int64(formatVersion)) }
        try AtomicFile.write(doc.serialized(pretty: true), to: mappingPath)
    }

    /// A standard mapping: network `storage` on the master with a macvlan bridge attachment.
    func writeStandardMapping(type: String = "macvlan", mode: String? = "bridge", device: String? = nil) throws {
        var attachment: JSONValue = ["type": .string(type)]
        if let mode { attachment["mode"] = .string(mode) }
        try writeMapping(["storage": ["device": .string(device ?? master), "map": "storage", "attachment": attachment]])
    }

    /// A configuration for `automagic` with static IPAM.
    func config(version: String = "1.0.0", name: String = "storage", address: String = "192.168.60.5/24",
                extra: [String: JSONValue] = [:]) -> JSONValue {
        var conf: JSONValue = [
            "cniVersion": .string(version), "name": .string(name), "type": "automagic", "network": "storage",
            "mappingFile": .string(mappingPath), "cacheDir": .string(cacheDir),
            "ipam": ["type": "static", "addresses": [["address": .string(address)]]],
        ]
        for (k, v) in extra { conf[k] = v }
        return conf
    }

    /// Runs the real `automagic` binary inside the host netns, as the runtime would.
    func invoke(_ command: String, conf: JSONValue, pod: String?, container: String = "ctr1", ifname: String = "net1",
                cniPath: String = "/usr/lib/cni", extraEnv: [String: String] = [:], removeEnv: [String] = []) throws -> Invocation {
        var env: [String: String] = [
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "CNI_COMMAND": command, "CNI_CONTAINERID": container, "CNI_IFNAME": ifname, "CNI_PATH": cniPath,
        ]
        if let pod { env["CNI_NETNS"] = "/var/run/netns/" + pod }
        for (k, v) in extraEnv { env[k] = v }
        for k in removeEnv { env[k] = nil }
        let out = try Delegate.run(path: "/usr/sbin/ip", arguments: ["netns", "exec", hostNS, try automagicBinary()],
                                   environment: env, stdin: conf.serialized())
        return Invocation(status: out.status, stdout: out.stdout, stderr: String(decoding: out.stderr, as: UTF8.self))
    }

    func cacheEntries() throws -> [String] {
        guard access(cacheDir + "/attachments", F_OK) == 0 else { return [] }
        return try AtomicFile.listDirectory(cacheDir + "/attachments").filter { !$0.hasPrefix(".") }
    }
}

/// One run of the plugin.
struct Invocation: CustomStringConvertible {
    var status: Int32
    var stdout: [UInt8]
    var stderr: String
    var json: JSONValue? { pluginOutputJSON(stdout) }
    var code: Int64? { json?["code"]?.intValue }
    var message: String { json?["msg"]?.stringValue ?? "" }
    var description: String { "status \(status): \(String(decoding: stdout, as: UTF8.self)) \(stderr)" }
}

/// The `automagic` executable built next to the test bundle.
func automagicBinary() throws -> String { try builtProduct("automagic") }

/// Runs the plugin in-process with an injected environment (no netns work happens before the
/// delegate is executed, so this is safe for validation paths).
func runInProcess(_ env: [String: String], _ conf: JSONValue?) -> (code: Int64?, message: String, output: CNIOutput) {
    let stdin = conf?.serialized() ?? []
    let out = Skel.run(AutomagicPlugin(), environment: env, stdin: { stdin })
    let json = pluginOutputJSON(out.stdout)
    return (out.exitCode == 0 ? nil : json?["code"]?.intValue, json?["msg"]?.stringValue ?? "", out)
}

/// What a plugin printed, parsed: nil for no output (DEL, CHECK, GC succeed silently). Output that
/// is not JSON is a failure of the plugin under test and is recorded as one.
func pluginOutputJSON(_ stdout: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> JSONValue? {
    guard !stdout.isEmpty else { return nil }
    do {
        return try JSONValue.parse(stdout)
    } catch {
        Issue.record("the plugin printed something that is not JSON (\(error)): \(String(decoding: stdout, as: UTF8.self))",
                     sourceLocation: sourceLocation)
        return nil
    }
}

/// A folder with a mapping file (network "storage" → device eth7, macvlan bridge), the CNI
/// environment of container c1 (its `CNI_PATH` is the folder, where tests put fake delegates) and
/// an automagic configuration of `cniVersion`, for in-process runs with fake delegates.
func fakeDelegateFixture(cniVersion: String) throws -> (TempDir, [String: String], JSONValue) {
    let dir = try TempDir()
    let mapping = NodeNetworkMapping(node: "w1", generation: 1, updatedAt: "", networks: [
        "storage": NetworkMapping(device: "eth7", map: "storage", attachment: Attachment(type: "macvlan", mode: "bridge")),
    ])
    try MappingFile.write(mapping, to: dir.path + "/mapping.json")
    let env = ["CNI_CONTAINERID": "c1", "CNI_NETNS": "/var/run/netns/none", "CNI_IFNAME": "net1",
               "CNI_PATH": dir.path, "PATH": "/usr/bin:/bin"]
    let conf: JSONValue = ["cniVersion": .string(cniVersion), "name": "storage", "type": "automagic", "network": "storage",
                           "mappingFile": .string(dir.path + "/mapping.json"), "cacheDir": .string(dir.path + "/cache")]
    return (dir, env, conf)
}
