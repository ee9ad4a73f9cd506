// The lab, end to end, as a user runs it: `hack/lab.sh up`, the summary, the pod interfaces
// checked with `ip -n`, `hack/lab.sh down`, and nothing left behind. It uses the binaries
// this test run built (.build/debug) instead of building release binaries again.
import Foundation
import Testing
import TestSupport

@Suite(.serialized) struct LabEndToEndTests {
    static let root = URL(fileURLWithPath: repositoryRoot())

    struct Run { var status: Int32; var output: String }

    /// Runs `command` with bash under coreutils `timeout`, output to a file; waits with waitpid.
    /// (The lab's daemons outlive the script; a pipe would never reach end-of-file, and
    /// Foundation's Process did not always notice the script's exit while they ran.)
    @discardableResult
    static func sh(_ command: String, env: [String: String] = [:], timeout: TimeInterval = 300) throws -> Run {
        let outPath = "/tmp/lab-e2e-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
        defer { unlink(outPath) }
        var environment = ProcessInfo.processInfo.environment
        environment["NO_COLOR"] = "1"
        for (k, v) in env { environment[k] = v }
        let script = "cd '\(root.path)' && exec >'\(outPath)' 2>&1 </dev/null && exec timeout --kill-after=10 \(Int(timeout)) bash -c \"$AM_E2E_COMMAND\""
        environment["AM_E2E_COMMAND"] = command
        // Default signal handling and an empty mask, as a user's shell starts it (spawnChild).
        let pid = try spawnChild("/bin/bash", ["-c", script], environment: environment, ownProcessGroup: false) { _ in }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code = exitStatus(waitStatus: status)
        if code == 124 { Issue.record("timed out after \(Int(timeout)) s: \(command)") }
        let data = FileManager.default.contents(atPath: outPath) ?? Data()
        return Run(status: code, output: String(decoding: data, as: UTF8.self))
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
        try Self.expectSummaryAgrees(up.output, what: "up")

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

        // demo runs on the lab that is up: same API server (port), and it leaves the lab as it found it.
        let port = try Self.sh("cat \(labDir)/apiserver.port", env: env).output
        let demo = try Self.sh("bash hack/lab.sh demo", env: env, timeout: 300)
        #expect(demo.status == 0, "demo failed:\n\(demo.output)")
        #expect(demo.output.contains("Using the lab that is up"), "\(demo.output)")
        #expect(!demo.output.contains("Stopping the lab"), "demo restarted the lab:\n\(demo.output)")
        #expect(try Self.sh("cat \(labDir)/apiserver.port", env: env).output == port)
        #expect(demo.output.contains("worker-3's mapping file followed: provider-vlan-100 -> eno3"), "\(demo.output)")
        #expect(demo.output.contains("restored hack/lab/maps/provider-vlan-100.yaml"), "\(demo.output)")
        try Self.expectSummaryAgrees(demo.output, what: "demo")

        // demo-dra (issue 17): a dra map, a claim allocated by hand to the second of two new NICs, the
        // fake kubelet registering the DRA plugin and preparing it, the pod attached to exactly that NIC.
        let dra = try Self.sh("bash hack/lab.sh demo-dra", env: env, timeout: 300)
        #expect(dra.status == 0, "demo-dra failed:\n\(dra.output)")
        #expect(dra.output.contains("mapping file: formatVersion 3, fast: dra, candidates ens7f0, ens7f1"), "\(dra.output)")
        #expect(dra.output.contains("\"registered\": true") && dra.output.contains("\"supportedVersions\": [\"v1.DRAPlugin\"]"), "\(dra.output)")
        #expect(dra.output.contains("\"interface\":\"ens7f1\""), "the record names the allocated NIC: \(dra.output)")
        #expect(dra.output.contains("pod: net1") && dra.output.contains("worker-1 keeps: ens7f0 \n"), "only ens7f1 moved: \(dra.output)")
        #expect(dra.output.contains("the record is gone"), "\(dra.output)")

        let down = try Self.sh("bash hack/lab.sh down", env: env)
        #expect(down.status == 0, "lab down failed: \(down.output)")
        // "tes[t]" is both a regex and a glob that match the directory but not this command line itself.
        let pattern = labDir.replacingOccurrences(of: "lab-test", with: "lab-tes[t]")
        let leftovers = try Self.sh("ip netns list | grep '^amlab-' || true; pgrep -af '\(pattern)' || true; ls -d \(pattern) 2>/dev/null || true")
        #expect(leftovers.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "left behind: \(leftovers.output)")
    }

    /// `hack/lab.sh demo-exclusive` as written (it starts a lab, none being up): the real
    /// automagic-device-plugin against the fake kubelet allocates worker-1's two spare ports to two
    /// pods, and host-device moves exactly the allocated port into each; afterwards everything the
    /// demo added is gone.
    @Test func demoExclusiveGivesEachPodItsOwnPort() throws {
        let labDir = "/run/automagic-lab-test-\(UInt32.random(in: 0...UInt32.max))"
        let env = ["AUTOMAGIC_LAB_BIN": Self.binDir, "AUTOMAGIC_LAB_DIR": labDir]
        for b in ["automagic-device-plugin", "automagic"] {
            #expect(FileManager.default.isExecutableFile(atPath: "\(Self.binDir)/\(b)"), "missing \(b): run `swift build` first")
        }
        defer {
            do { try Self.sh("bash hack/lab.sh down", env: env) } catch { Issue.record("lab down failed: \(error)") }
        }
        let demo = try Self.sh("bash hack/lab.sh demo-exclusive", env: env, timeout: 600)
        #expect(demo.status == 0, "demo-exclusive failed:\n\(demo.output)")
        let out = demo.output
        #expect(out.contains("registered automagic.dev/passthrough; ListAndWatch: 02:a0:00:01:eb:01=Healthy 02:a0:00:01:6c:01=Healthy"), "\(out)")
        #expect(out.contains("the kubelet allocated 02:a0:00:01:eb:01 to pod a (the container gets AUTOMAGIC_PASSTHROUGH_DEVICES=02:a0:00:01:eb:01)"), "\(out)")
        #expect(out.contains("host-device moved ens7f0 into amlab-worker-1-xa as net1 (MAC 02:a0:00:01:eb:01)"), "\(out)")
        #expect(out.contains("the kubelet allocated 02:a0:00:01:6c:01 to pod b"), "\(out)")
        #expect(out.contains("host-device moved ens7f1 into amlab-worker-1-xb as net1 (MAC 02:a0:00:01:6c:01)"), "\(out)")
        // It leaves the lab as it found it.
        let left = try Self.sh("ip netns list | grep -- '-x[ab]' || true; ip -n amlab-worker-1 -br link | grep ens7f || true; "
                               + "ls \(labDir)/kubelet 2>/dev/null || true; ls \(labDir)/pids | grep -e device-plugin -e fake-kubelet || true")
        #expect(left.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "left behind: \(left.output)")
        let map = try Self.sh("kubectl --kubeconfig \(labDir)/admin.kubeconfig get ndm passthrough -o name 2>&1 || true")
        #expect(map.output.contains("NotFound"), "\(map.output)")
    }

    /// The two tables of the lab's summary: network -> cells of the mapping table, and network -> MATCHED of
    /// the controller's table (the last summary in `output`).
    static func summaryTables(_ output: String) -> (mapping: [String: [String]], matched: [String: Int]) {
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var mapping: [String: [String]] = [:], matched: [String: Int] = [:]
        guard let start = lines.lastIndex(where: { $0.hasPrefix("Networks x nodes") }) else { return (mapping, matched) }
        var i = start + 2  // past the header
        while i < lines.count, lines[i].hasPrefix("  "), !lines[i].hasPrefix("  legend:") {
            let cells = lines[i].split(separator: " ").map(String.init)
            if let name = cells.first { mapping[name] = Array(cells.dropFirst()) }
            i += 1
        }
        if let header = lines[i...].firstIndex(where: { $0.hasPrefix("  NAME ") && $0.contains("MATCHED") }) {
            var j = header + 1
            while j < lines.count, lines[j].hasPrefix("  "), !lines[j].trimmingCharacters(in: .whitespaces).isEmpty {
                let cells = lines[j].split(separator: " ").map(String.init)
                if cells.count > 1, let n = Int(cells[1]) { matched[cells[0]] = n }
                j += 1
            }
        }
        return (mapping, matched)
    }

    /// Every map's MATCHED in the controller's table equals the number of nodes the mapping table shows a device for.
    static func expectSummaryAgrees(_ output: String, what: String) throws {
        let (mapping, matched) = summaryTables(output)
        try #require(!mapping.isEmpty, "\(what): no mapping table in:\n\(output)")
        #expect(Set(mapping.keys) == Set(matched.keys), "\(what): \(mapping) vs \(matched)")
        for (network, cells) in mapping {
            let devices = cells.filter { !["-", "none", "?"].contains($0) }.count
            #expect(matched[network] == devices, "\(what): \(network) MATCHED \(matched[network].map(String.init) ?? "missing") but the mapping table shows \(devices) node(s): \(cells)")
        }
        #expect(output.contains("legend: device = resolved, - = not selected"), "\(what): no legend")
    }

    /// docs/lab-guide.md as a script: every `sh` block in order (except those the guide marks as not run by
    /// this test), against a fresh lab, with `set -e`; a command marked `# exit N` must exit with N.
    static func labGuideScript(labDir: String) throws -> String {
        let text = try String(contentsOf: root.appendingPathComponent("docs/lab-guide.md"), encoding: .utf8)
        var script = "set -e -o pipefail\ncd '\(root.path)'\n"
        var inBlock = false, skip = false, previous = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if !inBlock, line == "```sh" {
                inBlock = true
                skip = previous.hasPrefix("<!-- not run by the docs test")
                script += skip ? "" : "# ---- block\n"
            } else if inBlock, line == "```" {
                inBlock = false
            } else if inBlock, !skip {
                var l = line.replacingOccurrences(of: "/run/automagic-lab/", with: labDir + "/")
                    .replacingOccurrences(of: ".build/release", with: ".build/debug")
                if let r = l.range(of: #"#\s*exit (\d+)"#, options: .regularExpression) {
                    let code = l[r].filter(\.isNumber)
                    let command = String(l[..<r.lowerBound])
                    l = "if \(command); then rc=0; else rc=$?; fi; [ $rc = \(code) ] || { echo \"docs test: expected exit \(code), got $rc: \(command.replacingOccurrences(of: "\"", with: "'"))\"; exit 99; }"
                }
                script += l + "\n"
            }
            if !line.isEmpty { previous = line }
        }
        // Experiment 3 leaves a watch running in the background.
        script += "kill $(jobs -p) 2>/dev/null || true\nip netns del am-try 2>/dev/null || true\necho DOCS-TEST-DONE\n"
        return script
    }

    @Test func labGuideCommandsRunAsWritten() throws {
        let labDir = "/run/automagic-lab-test-\(UInt32.random(in: 0...UInt32.max))"
        let env = ["AUTOMAGIC_LAB_BIN": Self.binDir, "AUTOMAGIC_LAB_DIR": labDir]
        defer {
            do { try Self.sh("bash hack/lab.sh down; ip netns del am-try 2>/dev/null; rm -rf /tmp/myplugins /tmp/spy.log /tmp/storage.json /tmp/storage-map.yaml /tmp/typo-map.yaml; true", env: env) } catch {
                Issue.record("clean-up failed: \(error)")
            }
        }
        // The guide's own scratch namespace, left over from an earlier run, would fail `ip netns add am-try`.
        try Self.sh("ip netns del am-try 2>/dev/null; true")
        let up = try Self.sh("bash hack/lab.sh up", env: env, timeout: 420)
        try #require(up.status == 0, "lab up failed:\n\(up.output)")
        let scriptPath = "/tmp/lab-guide-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sh"
        try Self.labGuideScript(labDir: labDir).write(toFile: scriptPath, atomically: true, encoding: .utf8)
        defer { unlink(scriptPath) }
        let run = try Self.sh("bash \(scriptPath)", env: env, timeout: 300)
        #expect(run.status == 0, "a documented command failed:\n\(run.output)")
        #expect(run.output.contains("DOCS-TEST-DONE"), "\(run.output)")
        // What the guide says happens (in substance).
        for expected in ["CHECK ok", "STATUS ok", "DEL twice ok", "\"supportedVersions\"",
                         "spec.exclusiv: unknown field; did you mean spec.exclusive?", "CNI_COMMAND=ADD"] {
            #expect(run.output.contains(expected), "missing '\(expected)' in:\n\(run.output)")
        }
        // Experiment 3: explain shows the hot-plugged NIC as a second candidate, select: First keeps enp1s0f1.
        #expect(run.output.contains("ens9f0"), "\(run.output)")
        #expect(run.output.contains("enp1s0f1"), "\(run.output)")
    }
}
