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
