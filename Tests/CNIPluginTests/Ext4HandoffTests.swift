#if canImport(Glibc)
import Glibc
#endif
import MappingFile
import Testing
import TestSupport

/// The agent → plugin handoff of the mapping file on a real disk filesystem: an ext4 image on a
/// loop device (not tmpfs), with the writer and the readers in processes of their own. They are
/// this test bundle, started again to run one of the two `…Process` tests below, which run only
/// then (they read what to do from the environment).
@Suite("mapping file handoff on ext4 (root)", .serialized)
struct Ext4HandoffTests {
    /// The mapping of generation `g`: odd generations have 1 network, even ones 201 (≈20 KB), so that a
    /// file mixed from two writes cannot decode into a consistent mapping.
    static func mapping(_ g: Int64) -> NodeNetworkMapping {
        var networks = ["storage": NetworkMapping(device: "eth0", map: "storage", attachment: Attachment(type: "macvlan", mode: "bridge"))]
        if g % 2 == 0 {
            for i in 0..<200 { networks["other-\(i)"] = NetworkMapping(device: "eth\(i % 8)", map: "other-\(i)") }
        }
        return NodeNetworkMapping(node: "w1", generation: g, updatedAt: "2026-12-06T00:00:00Z", networks: networks)
    }

    static func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

    /// Writer process: writes generations 1… to `AM_HANDOFF_WRITE`, `AM_HANDOFF_COUNT` times (0:
    /// until killed), with the agent's `MappingFile.write` (temporary file, fsync, rename, fsync of
    /// the folder), or with `AM_HANDOFF_FAST` the same without the fsyncs (`AtomicFile.write(durable: false)`:
    /// readers depend on the rename, the fsyncs only on a crash of the node; 10,000 fsyncs would take minutes).
    @Test(.enabled(if: environment("AM_HANDOFF_WRITE") != nil, "the writer process of the ext4 handoff tests, started by them"))
    func handoffWriterProcess() throws {
        let path = try #require(Self.environment("AM_HANDOFF_WRITE"))
        let count = Int64(Self.environment("AM_HANDOFF_COUNT") ?? "0") ?? 0
        let fast = Self.environment("AM_HANDOFF_FAST") != nil
        var g: Int64 = 1
        while count == 0 || g <= count {
            if fast {
                try AtomicFile.write(MappingFile.encode(Self.mapping(g)), to: path, durable: false)
            } else {
                try MappingFile.write(Self.mapping(g), to: path)
            }
            g += 1
        }
    }

    /// Reader process: reads `AM_HANDOFF_READ` with the plugin's `MappingFile.read` until the file
    /// `<path>.done` exists; writes `reads failures generations` to `AM_HANDOFF_REPORT`.
    @Test(.enabled(if: environment("AM_HANDOFF_READ") != nil, "a reader process of the ext4 handoff tests, started by them"))
    func handoffReaderProcess() throws {
        let path = try #require(Self.environment("AM_HANDOFF_READ"))
        let report = try #require(Self.environment("AM_HANDOFF_REPORT"))
        var reads = 0, failures: [String] = [], seen = Set<Int64>()
        while access(path + ".done", F_OK) != 0 {
            do {
                let m = try MappingFile.read(path: path)
                let expected = m.generation % 2 == 0 ? 201 : 1
                if m.networks.count != expected { failures.append("generation \(m.generation) has \(m.networks.count) networks") }
                seen.insert(m.generation)
            } catch {
                failures.append("\(error)")
            }
            reads += 1
        }
        try AtomicFile.write(Array("\(reads) \(failures.count) \(seen.count)\n\(failures.prefix(5).joined(separator: "\n"))".utf8),
                             to: report, durable: false)
    }

    /// An ext4 filesystem in a file, loop-mounted under a temp dir; `cleanup()` unmounts it and
    /// detaches the loop device even when the test failed.
    final class Ext4 {
        let dir: TempDir
        var image: String { dir.path + "/ext4.img" }
        var mount: String { dir.path + "/mnt" }
        private var mounted = false

        init() throws {
            dir = try TempDir()
            do {
                try sh("truncate", "-s", "64M", image)
                try sh("mkfs.ext4", "-q", "-F", image)
                try sh("mkdir", mount)
                try sh("mount", "-o", "loop", image, mount)
                mounted = true
                #expect(try sh("findmnt", "-n", "-o", "FSTYPE", mount).hasPrefix("ext4"))
            } catch {
                cleanup()
                throw error
            }
        }

        /// Every step that fails is recorded as an issue of the test (a leaked mount or loop device
        /// is a failure), and the later steps still run.
        func cleanup(sourceLocation: SourceLocation = #_sourceLocation) {
            if mounted {
                // Busy (a process left running): detach it lazily, so that removing the folder
                // below never reaches into the filesystem.
                do { try sh("umount", mount) } catch {
                    Issue.record("unmounting \(mount): \(error)", sourceLocation: sourceLocation)
                    do { try sh("umount", "-l", mount) } catch {
                        Issue.record("lazily unmounting \(mount): \(error)", sourceLocation: sourceLocation)
                        return  // never remove files through a mounted filesystem
                    }
                }
            }
            // mount -o loop detaches on unmount; make sure (an already detached device is fine:
            // the kernel may finish the automatic detach between listing and `-d`).
            do {
                for line in try sh("losetup", "-j", image).split(separator: "\n") {
                    guard let device = line.split(separator: ":").first.map(String.init) else { continue }
                    do { try sh("losetup", "-d", device) } catch {
                        if try sh("losetup", "-j", image).contains(device + ":") {
                            Issue.record("detaching \(device) of \(image): \(error)", sourceLocation: sourceLocation)
                        }
                    }
                }
            } catch {
                Issue.record("loop devices of \(image): \(error)", sourceLocation: sourceLocation)
            }
            dir.cleanup(sourceLocation: sourceLocation)
        }
    }

    func testBundle() throws -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        try #require(n > 0)
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Two reader processes read the file in a loop while a writer process replaces it 10,000
    /// times: every read decodes into a whole, consistent mapping.
    @Test func twoReadersNeverSeeAPartialFileOnExt4() throws {
        let fs = try Ext4()
        defer { fs.cleanup() }
        let path = fs.mount + "/mapping.json"
        try MappingFile.write(Self.mapping(0), to: path)
        let bundle = try testBundle()
        let script = """
            #!/bin/sh
            run() { "\(bundle)" --testing-library swift-testing --filter "$1" >"\(fs.dir.path)/$2.log" 2>&1; }
            AM_HANDOFF_READ=\(path) AM_HANDOFF_REPORT=\(fs.dir.path)/r1 run handoffReaderProcess r1 & r1=$!
            AM_HANDOFF_READ=\(path) AM_HANDOFF_REPORT=\(fs.dir.path)/r2 run handoffReaderProcess r2 & r2=$!
            AM_HANDOFF_FAST=1 AM_HANDOFF_WRITE=\(path) AM_HANDOFF_COUNT=10000 run handoffWriterProcess w
            echo $? >\(fs.dir.path)/w.rc
            touch \(path).done
            wait $r1 $r2

            """
        try fs.dir.write("run.sh", script, mode: 0o755)
        try sh("/bin/sh", fs.dir.path + "/run.sh", timeout: 240)
        let writerLog = try contentsIfPresent(fs.dir.path + "/w.log")
        #expect(try contentsIfPresent(fs.dir.path + "/w.rc") == "0\n", "\(writerLog)")
        #expect(try MappingFile.read(path: path).generation == 10000)
        for reader in ["r1", "r2"] {
            let log = try contentsIfPresent(fs.dir.path + "/\(reader).log")
            let report = try contentsIfPresent(fs.dir.path + "/" + reader)
            let numbers = report.split(separator: "\n").first?.split(separator: " ").compactMap { Int($0) } ?? []
            try #require(numbers.count == 3, "\(reader): \(report) \(log)")
            #expect(numbers[0] > 100 && numbers[1] == 0 && numbers[2] > 10, "\(reader): reads, failures, generations seen: \(report)")
            print("twoReadersNeverSeeAPartialFileOnExt4: \(reader): \(numbers[0]) reads, \(numbers[1]) partial, \(numbers[2]) generations seen")
        }
    }

    /// A writer process killed with SIGKILL while it rewrites the file in a loop: the file is
    /// still a whole mapping of a generation it wrote, and the plugin reads it.
    @Test func writerKilledMidWriteLeavesTheFileWhole() throws {
        let fs = try Ext4()
        defer { fs.cleanup() }
        let path = fs.mount + "/mapping.json"
        try MappingFile.write(Self.mapping(0), to: path)
        let bundle = try testBundle()
        for round in 0..<3 {
            let script = """
                #!/bin/sh
                AM_HANDOFF_WRITE=\(path) AM_HANDOFF_COUNT=0 "\(bundle)" --testing-library swift-testing --filter handoffWriterProcess >/dev/null 2>&1 &
                writer=$!
                sleep 0.\(3 + 2 * round)
                kill -9 $writer
                wait $writer
                echo $? >\(fs.dir.path)/w.rc

                """
            try fs.dir.write("kill.sh", script, mode: 0o755)
            try sh("/bin/sh", fs.dir.path + "/kill.sh", timeout: 60)
            #expect(try contentsIfPresent(fs.dir.path + "/w.rc") == "137\n")
            let m = try MappingFile.read(path: path)
            #expect(m == Self.mapping(m.generation), "round \(round): generation \(m.generation) is not what was written")
            let leftovers = try AtomicFile.listDirectory(fs.mount).filter { $0.hasPrefix(AtomicFile.temporaryPrefix) }
            print("writerKilledMidWriteLeavesTheFileWhole: round \(round): generation \(m.generation) intact, temporaries left: \(leftovers.count)")
        }
    }
}
