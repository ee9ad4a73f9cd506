#if canImport(Glibc)
import Glibc
#endif
import JSON
import MappingFile
import Testing
import TestSupport

@Suite("Mapping file")
struct MappingFileTests {
    static let sample = NodeNetworkMapping(
        node: "worker-1", generation: 7, updatedAt: "2026-11-28T22:00:00Z",
        networks: [
            "storage": NetworkMapping(device: "ens5f1", map: "storage", attachment: Attachment(type: "macvlan", mode: "bridge", mtu: 9000),
                                      mac: "3c:fd:fe:aa:bb:01", pciAddress: "0000:5e:00.1"),
            "backup": NetworkMapping(device: "", map: "backup", message: "no rule of NetworkDeviceMap 'backup' matched"),
        ])

    @Test func writeThenReadRoundTrips() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let path = dir.path + "/sub/dir/mapping.json"
        try MappingFile.write(Self.sample, to: path)
        let back = try MappingFile.read(path: path)
        #expect(back == Self.sample)
        let json = try JSONValue.parse(try AtomicFile.read(path: path))
        #expect(json["apiVersion"]?.stringValue == "automagic.dev/v1alpha1")
        #expect(json["kind"]?.stringValue == "NodeNetworkMapping")
        #expect(json[path: ["networks", "storage", "attachment", "mtu"]]?.intValue == 9000)
        #expect(try AtomicFile.listDirectory(dir.path + "/sub/dir") == ["mapping.json"])
    }

    /// Whole-file reads are sized by fstat but do not trust it: empty files, files larger than any
    /// buffer, and procfs files (which report size 0) come back complete and byte for byte.
    @Test func wholeFileReadsAreCompleteWhateverTheReportedSize() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        for size in [0, 1, 4095, 4096, 4097, 70_001] {
            let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            try AtomicFile.write(bytes, to: dir.path + "/f\(size)", durable: false)
            #expect(try AtomicFile.read(path: dir.path + "/f\(size)") == bytes)
        }
        // /proc/self/maps reports size 0 and is longer than one 4 KiB read for this process.
        let maps = try AtomicFile.read(path: "/proc/self/maps")
        #expect(maps.count > 4096 && maps.last == 0x0A)
        #expect(throws: MappingFileError.notFound(path: dir.path + "/missing")) { try AtomicFile.read(path: dir.path + "/missing") }
    }

    @Test func readsTheProductBriefExample() throws {
        let text = """
        {"apiVersion": "automagic.dev/v1alpha1", "kind": "NodeNetworkMapping", "node": "worker-1", "generation": 7,
         "updatedAt": "2026-11-28T22:00:00Z", "futureField": {"x": 1},
         "networks": {"storage": {"device": "ens5f1", "map": "storage", "attachment": {"type": "macvlan", "mode": "bridge", "mtu": 9000},
                      "mac": "3c:fd:fe:aa:bb:01", "pciAddress": "0000:5e:00.1"}}}
        """
        let m = try MappingFile.decode(Array(text.utf8), path: "x.json")
        #expect(m.networks["storage"]?.device == "ens5f1")
        #expect(m.networks["storage"]?.attachment == Attachment(type: "macvlan", mode: "bridge", mtu: 9000))
        #expect(m.generation == 7)
        // A file without formatVersion is format 1: no exclusive networks, no candidates.
        #expect(m.formatVersion == 1)
        #expect(m.networks["storage"]?.exclusive == false)
        #expect(m.networks["storage"]?.candidates == [])
    }

    static let exclusiveSample = NodeNetworkMapping(
        node: "worker-1", generation: 3, updatedAt: "2026-12-06T18:00:00Z",
        networks: [
            "fast": NetworkMapping(
                device: "ens5f0", map: "fast", attachment: Attachment(type: "host-device"), mac: "3c:fd:fe:aa:bb:00",
                pciAddress: "0000:05:00.0", exclusive: true,
                candidates: [
                    DeviceCandidate(name: "ens5f0", mac: "3c:fd:fe:aa:bb:00", pciAddress: "0000:05:00.0", numaNode: 0),
                    DeviceCandidate(name: "ens6f0", mac: "3c:fd:fe:aa:cc:00", pciAddress: "0000:af:00.0", numaNode: 1),
                    DeviceCandidate(name: "veth-x", mac: "02:00:00:00:00:01"),
                ]),
            "storage": NetworkMapping(device: "ens5f1", map: "storage", attachment: Attachment(type: "macvlan", mode: "bridge")),
        ])

    @Test func formatTwoRoundTripsExclusiveNetworksAndCandidates() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let path = dir.path + "/mapping.json"
        try MappingFile.write(Self.exclusiveSample, to: path)
        let back = try MappingFile.read(path: path)
        #expect(back == Self.exclusiveSample)
        #expect(back.formatVersion == 2)
        let json = try JSONValue.parse(try AtomicFile.read(path: path))
        #expect(json["formatVersion"]?.intValue == 2)
        #expect(json[path: ["networks", "fast", "exclusive"]]?.boolValue == true)
        let candidates = try #require(json[path: ["networks", "fast", "candidates"]]?.arrayValue)
        #expect(candidates.count == 3)
        #expect(candidates.first?["pciAddress"]?.stringValue == "0000:05:00.0")
        #expect(candidates.last?["numaNode"] == nil)
        // Shared networks carry neither field.
        #expect(json[path: ["networks", "storage", "exclusive"]] == nil)
        #expect(json[path: ["networks", "storage", "candidates"]] == nil)
    }

    @Test func aDRANetworkIsWrittenInFormatThreeThatOlderReadersRefuse() throws {
        var mapping = Self.exclusiveSample
        mapping.networks["fast"]?.dra = true
        mapping = NodeNetworkMapping(node: mapping.node, generation: mapping.generation, updatedAt: mapping.updatedAt,
                                     networks: mapping.networks)
        #expect(mapping.formatVersion == 3)
        let bytes = MappingFile.encode(mapping)
        let json = try JSONValue.parse(bytes)
        #expect(json["formatVersion"]?.intValue == 3)
        #expect(json[path: ["networks", "fast", "dra"]]?.boolValue == true)
        #expect(json[path: ["networks", "storage", "dra"]] == nil, "only dra networks carry the key")
        #expect(try MappingFile.decode(bytes, path: "m.json") == mapping)
        // A plugin that reads up to format 2 refuses the file instead of attaching a device of its choosing.
        let old = try #require(throws: MappingFileError.self) {
            try NodeNetworkMapping(json: json, path: "m.json", maxFormatVersion: 2)
        }
        #expect(old == .unsupportedFormat(path: "m.json", version: 3, supported: 2))
        // Even a caller that asks for format 2 gets 3 on disk once a network is dra.
        var forced = mapping
        forced.formatVersion = 2
        #expect(try JSONValue.parse(MappingFile.encode(forced))["formatVersion"]?.intValue == 3)
        // Without dra networks the file stays in format 2.
        #expect(NodeNetworkMapping(node: "n", generation: 1, updatedAt: "t", networks: Self.exclusiveSample.networks).formatVersion == 2)
        // A dra flag that is not a boolean is named.
        let bad = #"{"apiVersion":"automagic.dev/v1alpha1","kind":"NodeNetworkMapping","formatVersion":3,"node":"n","networks":{"fast":{"device":"a","dra":"yes"}}}"#
        let e = try #require(throws: MappingFileError.self) { try MappingFile.decode(Array(bad.utf8), path: "m.json") }
        #expect(e == .invalidField(path: "m.json", field: "networks.fast.dra", problem: "must be a boolean, got string"))
    }

    @Test func newerFormatIsRefusedWithAClearError() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        // Format 4 is refused before any other field is read: its networks would not decode here.
        try dir.write("m.json", #"{"apiVersion":"automagic.dev/v1alpha1","kind":"NodeNetworkMapping","formatVersion":4,"node":"n","networks":[1]}"#)
        let e = try #require(throws: MappingFileError.self) { try MappingFile.read(path: dir.path + "/m.json") }
        #expect(e == .unsupportedFormat(path: dir.path + "/m.json", version: 4, supported: 3))
        #expect(e.description.contains("mapping file format 4 is newer than this plugin understands (up to 3): upgrade automagic"), "\(e)")
        #expect(e.description.contains(dir.path + "/m.json"), "\(e)")
        // A reader that knows only format 1 refuses what this writer writes.
        let written = MappingFile.encode(Self.exclusiveSample)
        let old = try #require(throws: MappingFileError.self) {
            try NodeNetworkMapping(json: try JSONValue.parse(written), path: "m.json", maxFormatVersion: 1)
        }
        #expect(old.description.contains("mapping file format 2 is newer than this plugin understands (up to 1)"), "\(old)")
        // …and reads format 1 files as before.
        var v1 = Self.sample
        v1.formatVersion = 1
        let bytes = MappingFile.encode(v1)
        #expect(try JSONValue.parse(bytes)["formatVersion"]?.intValue == 1)
        #expect(try NodeNetworkMapping(json: try JSONValue.parse(bytes), path: "m.json", maxFormatVersion: 1) == v1)
    }

    @Test func refusesBrokenFormatTwoFields() throws {
        let head = #"{"apiVersion":"automagic.dev/v1alpha1","kind":"NodeNetworkMapping","node":"n","#
        let cases: [(String, String)] = [
            (head + #""formatVersion":0}"#, "'formatVersion' must be 1 or more, got 0"),
            (head + #""formatVersion":"2"}"#, "'formatVersion' must be an integer, got string"),
            (head + #""networks":{"f":{"device":"e","exclusive":"yes"}}}"#, "'networks.f.exclusive' must be a boolean"),
            (head + #""networks":{"f":{"device":"e","candidates":{}}}}"#, "'networks.f.candidates' must be an array"),
            (head + #""networks":{"f":{"device":"e","candidates":["e"]}}}"#, "'networks.f.candidates[0]' must be an object"),
            (head + #""networks":{"f":{"device":"e","candidates":[{"name":"e"},{"mac":"x"}]}}}"#, "'networks.f.candidates[1].name' is missing"),
            (head + #""networks":{"f":{"device":"e","candidates":[{"name":""}]}}}"#, "'networks.f.candidates[0].name' is empty"),
            (head + #""networks":{"f":{"device":"e","candidates":[{"name":"e","numaNode":-1}]}}}"#, "'networks.f.candidates[0].numaNode' must be a NUMA node number"),
            (head + #""networks":{"f":{"device":"e","candidates":[{"name":"e","pciAddress":5}]}}}"#, "'networks.f.candidates[0].pciAddress' must be a string"),
        ]
        for (text, expected) in cases {
            let e = try #require(throws: MappingFileError.self) { try MappingFile.decode(Array(text.utf8), path: "m.json") }
            #expect(e.description.contains(expected), "\(e)")
        }
    }

    @Test func candidatesMatchPCIMACOrInterfaceName() throws {
        let pci = DeviceCandidate(name: "ens5f0", mac: "3c:fd:fe:aa:bb:0a", pciAddress: "0000:5e:00.1", numaNode: 0)
        for id in ["0000:5e:00.1", "0000:5E:00.1", "5e:00.1", "5E:00.1", "3c:fd:fe:aa:bb:0a", "3C:FD:FE:AA:BB:0A", "ens5f0"] {
            #expect(pci.matches(deviceID: id), "\(id)")
        }
        for id in ["", "0000:5e:00.2", "0001:5e:00.1", "5e:00", "5e:00.1.0", "ens5f1", "ENS5F0", "3c:fd:fe:aa:bb:0b", "0000:5e:00.1 "] {
            #expect(!pci.matches(deviceID: id), "\(id)")
        }
        #expect(pci.deviceID == "0000:5e:00.1")
        // Domains other than 0000 keep their number (VMD domains have five digits).
        let vmd = DeviceCandidate(name: "e", pciAddress: "10000:01:00.0")
        #expect(vmd.matches(deviceID: "10000:01:00.0") && !vmd.matches(deviceID: "01:00.0"))
        let macOnly = DeviceCandidate(name: "veth-a", mac: "02:00:00:00:00:0a")
        #expect(macOnly.deviceID == "02:00:00:00:00:0a")
        #expect(macOnly.matches(deviceID: "02:00:00:00:00:0A") && macOnly.matches(deviceID: "veth-a"))
        #expect(!macOnly.matches(deviceID: "00:00.0"))
        let nameOnly = DeviceCandidate(name: "veth-b", mac: "")
        #expect(nameOnly.deviceID == "veth-b")
        #expect(nameOnly.matches(deviceID: "veth-b") && !nameOnly.matches(deviceID: ""))
        let fast = try #require(Self.exclusiveSample.networks["fast"])
        #expect(fast.candidate(matching: "af:00.0")?.name == "ens6f0")
        #expect(fast.candidate(matching: "02:00:00:00:00:01")?.name == "veth-x")
        #expect(fast.candidate(matching: "ens7f0") == nil)
    }

    @Test func writeIfChangedSkipsIdenticalContent() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let path = dir.path + "/mapping.json"
        #expect(try MappingFile.writeIfChanged(Self.sample, to: path))
        var st1 = stat()
        stat(path, &st1)
        #expect(try MappingFile.writeIfChanged(Self.sample, to: path) == false)
        var st2 = stat()
        stat(path, &st2)
        #expect(st1.st_ino == st2.st_ino)
        var changed = Self.sample
        changed.generation += 1
        #expect(try MappingFile.writeIfChanged(changed, to: path))
        #expect(try MappingFile.read(path: path).generation == 8)
    }

    @Test func refusesOtherKindsVersionsAndBrokenFiles() throws {
        let cases: [(String, String)] = [
            (#"{"apiVersion":"automagic.dev/v1beta1","kind":"NodeNetworkMapping","node":"n","networks":{}}"#, "v1beta1"),
            (#"{"apiVersion":"automagic.dev/v1alpha1","kind":"NodeDevice","node":"n","networks":{}}"#, "NodeDevice"),
            (#"{"apiVersion":"v1","kind":"ConfigMap"}"#, "ConfigMap"),
            (#"{"apiVersion":"automagic.dev/v1alpha1","kind":"NodeNetworkMapping","node":"n","networks":{"st"#, "truncated"),
            ("", "empty"),
            ("\u{0}\u{1}garbage", "not JSON"),
            (#"[1,2]"#, "JSON object"),
            (#"{"apiVersion":"automagic.dev/v1alpha1","kind":"NodeNetworkMapping","networks":{}}"#, "'node' is missing"),
            (#"{"apiVersion":"automagic.dev/v1alpha1","kind":"NodeNetworkMapping","node":"n","networks":[]}"#, "'networks'"),
            (#"{"apiVersion":"automagic.dev/v1alpha1","kind":"NodeNetworkMapping","node":"n","networks":{"s":{"map":"s"}}}"#, "networks.s.device"),
            (#"{"apiVersion":"automagic.dev/v1alpha1","kind":"NodeNetworkMapping","node":"n","generation":"7"}"#, "'generation'"),
            (#"{"apiVersion":"automagic.dev/v1alpha1","kind":"NodeNetworkMapping","node":"n","networks":{"s":{"device":"e","attachment":{"mode":"x"}}}}"#, "attachment.type"),
        ]
        let dir = try TempDir()
        defer { dir.cleanup() }
        for (text, expected) in cases {
            try dir.write("m.json", text)
            let e = try #require(throws: MappingFileError.self) { try MappingFile.read(path: dir.path + "/m.json") }
            #expect(e.description.contains(dir.path + "/m.json"), "\(e)")
            #expect(e.description.contains(expected), "\(e)")
        }
        let missing = try #require(throws: MappingFileError.self) { try MappingFile.read(path: dir.path + "/none.json") }
        #expect(missing.isNotFound)
    }

    @Test func staleTemporariesAreCleaned() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try dir.write("mapping.json", "{}")
        let stale = dir.path + "/" + AtomicFile.temporaryPrefix + "mapping.json.abc123"
        let fresh = dir.path + "/" + AtomicFile.temporaryPrefix + "mapping.json.def456"
        for p in [stale, fresh] { close(open(p, O_CREAT | O_WRONLY, 0o600)) }
        var times = [timespec(tv_sec: 1_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000, tv_nsec: 0)]
        utimensat(AT_FDCWD, stale, &times, 0)
        let removed = MappingFile.cleanStaleTemporaries(directory: dir.path)
        #expect(removed == [AtomicFile.temporaryPrefix + "mapping.json.abc123"])
        #expect(Set(try AtomicFile.listDirectory(dir.path)) == ["mapping.json", AtomicFile.temporaryPrefix + "mapping.json.def456"])
    }

    @Test func locksExcludeEachOther() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let path = dir.path + "/lock"
        let shared1 = try FileLock(path: path, exclusive: false)
        let shared2 = try FileLock(path: path, exclusive: false)
        // An exclusive lock is refused while shared ones are held (probe with LOCK_NB).
        let fd = open(path, O_RDWR)
        defer { close(fd) }
        #expect(flock(fd, LOCK_EX | LOCK_NB) != 0)
        shared1.unlock()
        shared2.unlock()
        #expect(flock(fd, LOCK_EX | LOCK_NB) == 0)
    }
}
