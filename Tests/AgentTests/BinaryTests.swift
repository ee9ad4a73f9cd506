import AutomagicAPI
import Foundation
import MappingFile
import Testing
import TestSupport

/// The built `automagic-agent` binary: flags, exit codes, graceful shutdown on SIGTERM.
@Suite(.serialized) struct BinaryTests {
    static func binary() throws -> String { try builtProduct("automagic-agent") }

    /// The agent must not link full Foundation (corelibs Foundation, FoundationInternationalization,
    /// ICU): they cost it about 10 MiB of resident memory (issue 5). One stray `import Foundation`
    /// in any module it links brings them back, so the debug build's shared libraries are checked.
    @Test func theAgentDoesNotLinkFullFoundation() throws {
        let ldd = try run("/usr/bin/ldd", [try Self.binary()])
        let output = ldd.stdout
        #expect(ldd.status == 0, "\(ldd)")
        #expect(output.contains("libswiftCore"), "ldd output does not look like a Swift program's: \(output)")
        for library in ["libFoundation.so", "libFoundationInternationalization.so", "lib_FoundationICU.so"] {
            #expect(!output.contains(library), "automagic-agent links \(library): some module it uses imports Foundation instead of FoundationEssentials")
        }
    }

    /// The agent's health and metrics endpoints are plain HTTP: the agent itself must not link OpenSSL
    /// (HTTPServer has no TLS; HTTPServerTLS does). libcurl still loads it for the API server's HTTPS,
    /// so the check reads the binary's own dependencies (DT_NEEDED), not ldd's transitive list.
    @Test func theAgentDoesNotLinkOpenSSLItself() throws {
        let readelf = try run("/usr/bin/readelf", ["-d", try Self.binary()])
        #expect(readelf.status == 0, "\(readelf)")
        let needed = readelf.stdout.split(separator: "\n").filter { $0.contains("(NEEDED)") }
        #expect(needed.contains { $0.contains("libcurl") }, "readelf output does not list the agent's libraries: \(readelf.stdout)")
        for library in ["libssl.so", "libcrypto.so"] {
            #expect(!needed.contains { $0.contains(library) }, "automagic-agent links \(library) itself: \(needed)")
        }
    }

    /// Starts the binary; stdout and stderr go to files in `dir`.
    static func start(_ arguments: [String], dir: String, environment: [String: String] = [:]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try binary())
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["NODE_NAME"] = nil
        for (k, v) in environment { env[k] = v }
        p.environment = env
        FileManager.default.createFile(atPath: "\(dir)/stdout", contents: nil)
        FileManager.default.createFile(atPath: "\(dir)/stderr", contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(dir)/stdout"))
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(dir)/stderr"))
        try p.run()
        return p
    }

    static func wait(_ p: Process, timeout: Duration) async -> Bool {
        await eventually(timeout: timeout) { !p.isRunning }
    }

    @Test func onceAndBadFlags() async throws {
        let netns = try TestNetns()
        defer { netns.remove() }
        try netns.veth("bin0", "bin0p")
        let dir = try makeTempDir("ambin", inMemory: true)
        defer { removeTestFiles(dir) }

        let once = try Self.start(["--once", "--netns", netns.path], dir: dir)
        #expect(await Self.wait(once, timeout: .seconds(20)))
        #expect(once.terminationStatus == 0)
        let text = try String(contentsOfFile: "\(dir)/stdout", encoding: .utf8)
        #expect(text.contains("\"bin0\"") && text.contains("\"bin0p\"") && text.contains("\"deviceCount\": 2"))

        // No node name: a clear error, non-zero exit, nothing left running.
        let noNode = try Self.start(["--kubeconfig", "/nonexistent", "--mapping-file", "\(dir)/m.json"], dir: dir)
        #expect(await Self.wait(noNode, timeout: .seconds(20)))
        #expect(noNode.terminationStatus != 0)
        let err = try String(contentsOfFile: "\(dir)/stderr", encoding: .utf8)
        #expect(err.contains("failed to configure '--node-name'"))

        let badDuration = try Self.start(["--node-name", "n1", "--resync-period", "soon"], dir: dir)
        #expect(await Self.wait(badDuration, timeout: .seconds(20)))
        #expect(badDuration.terminationStatus != 0)
        #expect(try String(contentsOfFile: "\(dir)/stderr", encoding: .utf8).contains("--resync-period"))
    }

    @Test func runsAgainstTheLabAndStopsOnSIGTERM() async throws {
        let netns = try TestNetns()
        defer { netns.remove() }
        try netns.veth("sig0", "sig0p")
        let lab = try await LabFixture(nodeName: "node-b")
        defer { lab.cleanup() }
        _ = try await lab.maps.create(makeMap("sig", [DeviceMatchExpression(key: "name", operator: "In", values: ["sig0"])]))
        let dir = try makeTempDir("ambin", inMemory: true)
        defer { removeTestFiles(dir) }
        let mapping = "\(dir)/run/mapping.json"
        let agent = try Self.start([
            "--kubeconfig", lab.server.kubeconfigPath, "--netns", netns.path, "--mapping-file", mapping,
            "--health-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--no-lldp", "--log-level", "info",
        ], dir: dir, environment: ["NODE_NAME": "node-b"])
        defer { if agent.isRunning { agent.terminate() } }
        #expect(try await eventually(timeout: .seconds(20)) {
            try writtenMapping(at: mapping)?.networks["sig"]?.device == "sig0"
        })
        #expect(try await eventually(timeout: .seconds(10)) { (try await lab.nodeDevices.getIfExists("node-b"))?.status != nil })

        // /metrics serves the agent's families and the process_* metrics docs/operations.md lists.
        let address = try #require(try String(contentsOfFile: "\(dir)/stderr", encoding: .utf8).split(separator: "\n")
            .first { $0.contains("serving health and metrics") }?.split(separator: "addresses=").last?.split(separator: " ").first)
        let scrape = try run("/usr/bin/curl", ["--silent", "--max-time", "10", "http://\(address)/metrics"])
        #expect(scrape.status == 0, "\(scrape)")
        #expect(try #require(sampleValue(scrape.stdout, "automagic_agent_probes_total")) >= 1, "\(scrape.stdout)")
        #expect(try #require(sampleValue(scrape.stdout, "process_resident_memory_bytes")) > 1_000_000, "\(scrape.stdout)")
        #expect(scrape.stdout.contains("# TYPE process_cpu_seconds_total counter"))

        let start = ContinuousClock.now
        agent.terminate()  // SIGTERM
        #expect(await Self.wait(agent, timeout: .seconds(10)))
        #expect(agent.terminationStatus == 0)
        #expect(ContinuousClock.now - start < .seconds(5))
        let log = try String(contentsOfFile: "\(dir)/stderr", encoding: .utf8)
        #expect(log.contains("shutting down"))
        // The mapping file outlives the agent (the data path does not depend on it).
        #expect(try MappingFile.read(path: mapping).networks["sig"]?.device == "sig0")
    }
}
