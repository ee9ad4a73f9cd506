// The lab, end to end, as a user runs it: `hack/lab.sh up`, the summary, the pod interfaces
// checked with `ip -n`, `hack/lab.sh down`, and nothing left behind. It uses the binaries
// this test run built (.build/debug) instead of building release binaries again.
import Testing
import Foundation

@Suite(.serialized) struct LabEndToEndTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct Run { var status: Int32; var output: String }

    @discardableResult
    static func sh(_ command: String, env: [String: String] = [:], timeout: TimeInterval = 300) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", command]
        p.currentDirectoryURL = root
        var e = ProcessInfo.processInfo.environment
        e["NO_COLOR"] = "1"
        for (k, v) in env { e[k] = v }
        p.environment = e
        // Output goes to a file, not a pipe: the lab's daemons may inherit descriptors, and a pipe
        // would then never reach end-of-file.
        let outPath = FileManager.default.temporaryDirectory.appendingPathComponent("lab-e2e-\(UUID().uuidString).log").path
        FileManager.default.createFile(atPath: outPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outPath) }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        p.standardOutput = out
        p.standardError = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning {
            if Date() > deadline {
                p.terminate()
                Issue.record("timed out after \(Int(timeout)) s: \(command)")
                break
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        p.waitUntilExit()
        try out.close()
        let data = FileManager.default.contents(atPath: outPath) ?? Data()
        return Run(status: p.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }

    static var binDir: String { root.appendingPathComponent(".build/debug").path }

    @Test func upStatusDown() throws {
        let labDir = "/run/automagic-lab-test-\(UInt32.random(in: 0...UInt32.max))"
        let env = ["AUTOMAGIC_LAB_BIN": Self.binDir, "AUTOMAGIC_LAB_DIR": labDir]
        for b in ["automagic", "automagic-agent", "automagic-controller", "automagic-lab-apiserver", "kubectl-automagic", "automagic-lab-switch"] {
            #expect(FileManager.default.isExecutableFile(atPath: "\(Self.binDir)/\(b)"), "missing \(b): run `swift build` first")
        }
        defer {
            // Clean up even when an expectation failed.
            do { try Self.sh("bash hack/lab.sh down", env: env) } catch { Issue.record("lab down failed: \(error)") }
        }
        let up = try Self.sh("bash hack/lab.sh up", env: env, timeout: 420)
        #expect(up.status == 0, "lab up failed:\n\(up.output)")

        // The summary: storage resolves on every node to that node's own NIC name.
        for (node, nic) in [("worker-1", "ens5f1"), ("worker-2", "eno2"), ("worker-3", "enp1s0f1")] {
            let mapping = try Self.sh("jq -r .networks.storage.device \(labDir)/nodes/\(node)/mapping.json", env: env)
            #expect(mapping.output.trimmingCharacters(in: .whitespacesAndNewlines) == nic, "\(node): \(mapping.output)")
        }
        #expect(up.output.contains("Networks x nodes"))

        // The pods: a macvlan named net1 with the static address, in each pod namespace.
        for (i, node) in ["worker-1", "worker-2", "worker-3"].enumerated() {
            let link = try Self.sh("ip -n amlab-\(node)-pod -j -d link show net1 | jq -r '.[0].linkinfo.info_kind'")
            #expect(link.output.trimmingCharacters(in: .whitespacesAndNewlines) == "macvlan", "\(node): \(link.output)")
            let addr = try Self.sh("ip -n amlab-\(node)-pod -j addr show net1 | jq -r '.[0].addr_info[] | select(.family==\"inet\") | .local'")
            #expect(addr.output.trimmingCharacters(in: .whitespacesAndNewlines) == "198.51.100.10\(i + 1)")
        }
        // Traffic really crosses the simulated storage fabric between two pods.
        let ping = try Self.sh("ip netns exec amlab-worker-1-pod ping -c1 -W2 198.51.100.102")
        #expect(ping.status == 0, "pod-to-pod ping failed: \(ping.output)")

        let status = try Self.sh("bash hack/lab.sh status", env: env)
        #expect(status.status == 0)
        #expect(status.output.contains("storage"))

        let down = try Self.sh("bash hack/lab.sh down", env: env)
        #expect(down.status == 0, "lab down failed: \(down.output)")
        let leftovers = try Self.sh("ip netns list | grep '^amlab-' || true; pgrep -f '\(labDir)' || true; ls -d \(labDir) 2>/dev/null || true")
        #expect(leftovers.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "left behind: \(leftovers.output)")
    }
}
