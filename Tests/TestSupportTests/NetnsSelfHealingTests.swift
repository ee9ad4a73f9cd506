import Foundation
import Glibc
import Testing
import TestSupport

/// Network namespaces left by a test run that ended before its clean-up (killed, crashed) are
/// removed when a later run creates one; those of runs still going, and unmarked ones, are not.
@Suite(.serialized) struct NetnsSelfHealingTests {
    static func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: "/run/netns/" + name) }
    static func marked(_ name: String) -> Bool { FileManager.default.fileExists(atPath: TestNetns.markerDirectory + "/" + name) }

    /// The PID of a process that has ended (a shell that printed its PID and exited, reaped).
    static func endedProcessID() throws -> Int32 {
        let out = try sh("sh", "-c", "echo $$")
        let pid = try #require(Int32(out.trimmingCharacters(in: .whitespacesAndNewlines)), "pid: \(out)")
        try #require(try TestNetns.Creator.running(pid) == nil, "PID \(pid) was already reused")
        return pid
    }

    /// Removes what the test made by hand, whatever state it is in; a failure fails the test.
    static func removeIfLeft(_ name: String) {
        do {
            if exists(name) { try sh("ip", "netns", "del", name) }
            if unlink(TestNetns.markerDirectory + "/" + name) != 0, errno != ENOENT {
                Issue.record("unlink marker \(name): \(String(cString: strerror(errno)))")
            }
        } catch {
            Issue.record("removing \(name): \(error)")
        }
    }

    @Test func namespacesOfEndedRunsAreRemovedAndLiveOnesKept() throws {
        let me = try TestNetns.Creator.current()
        let ended = uniquePrefix() + "ended", reused = uniquePrefix() + "reused"
        let live = uniquePrefix() + "live", unmarked = uniquePrefix() + "unmarked"
        defer { for name in [ended, reused, live, unmarked] { Self.removeIfLeft(name) } }
        // A run that ended; one whose PID now belongs to another process (this one: same PID,
        // another start time); a run still going (this process); a namespace with no marker.
        try TestNetns.writeMarker(name: ended, creator: .init(pid: try Self.endedProcessID(), startTime: me.startTime))
        try TestNetns.writeMarker(name: reused, creator: .init(pid: me.pid, startTime: me.startTime + 1))
        try TestNetns.writeMarker(name: live, creator: me)
        for name in [ended, reused, live, unmarked] { try sh("ip", "netns", "add", name) }
        #expect(throws: TestFailure.self, "a marker in use is not taken over") {
            try TestNetns.writeMarker(name: live, creator: me)
        }

        let netns = try TestNetns("new")
        #expect(Self.exists(netns.name) && Self.marked(netns.name))
        #expect(!Self.exists(ended) && !Self.marked(ended), "the ended run's namespace and marker are gone")
        #expect(!Self.exists(reused) && !Self.marked(reused), "a reused PID is not the creator")
        #expect(Self.exists(live) && Self.marked(live), "a live run's namespace is kept")
        #expect(Self.exists(unmarked), "a namespace without a marker is not touched")

        netns.remove()
        #expect(!Self.exists(netns.name) && !Self.marked(netns.name), "remove() deletes the namespace and its marker")
    }

    @Test func creatorIsReadFromProcStat() throws {
        let me = try TestNetns.Creator.current()
        #expect(me.pid == getpid())
        #expect(me.startTime > 0)
        #expect(try me.isAlive)
        #expect(try !TestNetns.Creator(pid: me.pid, startTime: me.startTime + 1).isAlive)
        #expect(try TestNetns.Creator.running(try Self.endedProcessID()) == nil)
    }
}
