import Foundation
import Glibc
import LabAPIServer
import Testing
import TestSupport
import LabTesting

/// Leader election between two real `automagic-controller --leader-elect` processes against the lab
/// server, proven from the server's audit trail (each write with its authenticated user and times).
@Suite(.serialized) struct LeaderElectionProcessTests {
    static let leaseDuration = 3.0, renewDeadline = 2.0, retryPeriod = 0.5
    static let leasePath = "/apis/coordination.k8s.io/v1/namespaces/le-test/leases/automagic-controller"

    /// The Lease's holder (`<POD_NAME>_<random>`), through kubectl; nil while there is no Lease yet
    /// (NotFound) or it names no holder. Any other kubectl failure throws.
    static func holder(_ kubeconfig: String) throws -> String? {
        let result = try run("/usr/bin/env", ["kubectl", "--kubeconfig", kubeconfig, "-n", "le-test", "get", "lease", "automagic-controller",
                                              "-o", "jsonpath={.spec.holderIdentity}"], timeout: 30)
        if result.status != 0, !result.timedOut, result.stderr.contains("NotFound") { return nil }
        guard result.status == 0, !result.timedOut else { throw TestFailure("kubectl get lease: \(result)") }
        let h = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return h.isEmpty ? nil : h
    }

    @Test func stoppedLeaderIsReplacedAndStopsWritingAfterItResumes() async throws {
        let lab = try TestLab(inMemory: true) { $0.auditLogPath = "\($0.certDir ?? "")/audit.jsonl" }
        defer { lab.stop() }
        let server = lab.server, dir = lab.directory
        let admin = server.kubeconfigPath
        try sh("kubectl", "--kubeconfig", admin, "apply", "-f", repositoryPath("crds"))
        try sh("kubectl", "--kubeconfig", admin, "create", "namespace", "le-test")
        // One identity per process: the client certificate's user is the POD_NAME the holder identity starts with.
        var controllers: [String: BackgroundProgram] = [:]
        defer { for c in controllers.values { c.signal(SIGCONT); c.reap() } }
        for name in ["ctl-a", "ctl-b"] {
            try server.writeKubeconfig(to: "\(dir)/\(name).kubeconfig", user: name, groups: ["system:masters"])
            try FileManager.default.createDirectory(atPath: "\(dir)/\(name)", withIntermediateDirectories: true)
            controllers[name] = try BackgroundProgram("automagic-controller", [
                "--kubeconfig", "\(dir)/\(name).kubeconfig", "--health-addr", "", "--metrics-addr", "",
                "--leader-elect", "--leader-elect-namespace", "le-test",
                "--leader-elect-lease-duration", "\(Self.leaseDuration)s", "--leader-elect-renew-deadline", "\(Self.renewDeadline)s",
                "--leader-elect-retry-period", "\(Self.retryPeriod)s", "--resync-period", "1s",
            ], dir: "\(dir)/\(name)", environment: ["POD_NAME": name])
        }
        var first: String?
        #expect(try await eventually(timeout: .seconds(20)) {
            first = try Self.holder(admin)
            return first != nil
        }, "no controller took the lease: \(controllers.values.map(\.output))")
        let holder = try #require(first)
        let oldName = try #require(holder.split(separator: "_").first.map(String.init))
        let newName = oldName == "ctl-a" ? "ctl-b" : "ctl-a"
        let old = try #require(controllers[oldName]), new = try #require(controllers[newName])
        // Let it lead (renew) for a while.
        try await Task.sleep(for: .seconds(2))

        let stopped = Date()
        old.signal(SIGSTOP)
        var takeover: Date?
        #expect(try await eventually(timeout: .seconds(15), every: .milliseconds(20)) {
            guard let h = try Self.holder(admin), h.hasPrefix(newName + "_") else { return false }
            return true
        }, "\(newName) did not take over: \(new.output)")
        // The takeover time is the new holder's first successful lease write, from the audit trail.
        takeover = server.api.audit.records.first {
            $0.user == newName && $0.path == Self.leasePath && $0.status < 300 && $0.received > stopped
        }?.completed
        let takeoverAt = try #require(takeover, "no successful lease write by \(newName) in the audit trail")
        let bound = Self.leaseDuration + Self.retryPeriod * 1.2 + 0.5  // the retry is jittered by up to 20 %; 0.5 s for the round trips
        print("leader election: \(newName) took over \(takeoverAt.timeIntervalSince(stopped)) s after SIGSTOP of \(oldName) (bound \(bound) s)")
        #expect(takeoverAt.timeIntervalSince(stopped) <= bound,
                "took over \(takeoverAt.timeIntervalSince(stopped)) s after SIGSTOP (lease \(Self.leaseDuration) s + retry \(Self.retryPeriod) s)")
        // Let the new leader write (renew) a few times, then wake the old one.
        try await Task.sleep(for: .seconds(1))
        let resumed = Date()
        old.signal(SIGCONT)
        // The old leader finds that it could not renew within its deadline and stops leading (exit 1, like client-go's advice).
        let status = old.wait(timeout: .seconds(10))
        #expect(status == 1, "the old leader still runs or exited \(String(describing: status)): \(old.output)")
        #expect(old.output.contains("leadership") || old.output.contains("stopped leading"), "\(old.output)")
        try await Task.sleep(for: .seconds(1))

        let records = server.api.audit.records
        // No overlap: the old leader wrote nothing (not even an attempt) after it resumed, and nothing at all
        // once the new leader had written; the new leader wrote nothing before it held the lease.
        let oldAfterResume = records.filter { $0.user == oldName && $0.received >= resumed }
        #expect(oldAfterResume.isEmpty, "the old leader wrote after SIGCONT: \(oldAfterResume.map(\.jsonLine))")
        let oldAfterTakeover = records.filter { $0.user == oldName && $0.completed >= takeoverAt }
        #expect(oldAfterTakeover.isEmpty, "\(oldAfterTakeover.map(\.jsonLine))")
        let newBefore = records.filter { $0.user == newName && $0.status < 300 && $0.completed < takeoverAt }
        #expect(newBefore.isEmpty, "the new leader wrote before it held the lease: \(newBefore.map(\.jsonLine))")
        // The trail really shows both leaders renewing (the assertions above could not pass vacuously).
        #expect(records.filter { $0.user == oldName && $0.path == Self.leasePath && $0.status < 300 }.count >= 3)
        #expect(records.filter { $0.user == newName && $0.path == Self.leasePath && $0.status < 300 && $0.received > resumed }.count >= 1)
        // The file holds the same trail, one JSON line per write.
        let lines = try String(contentsOfFile: "\(dir)/audit.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == records.count)
        #expect(lines.contains { $0.contains("\"user\":\"\(newName)\"") && $0.contains(Self.leasePath) })
    }
}
