import CNetlink
import Testing
import TestSupport

@testable import DeviceProbe

/// The probe thread enters its network namespace once; before every probe it checks that it is
/// still there, so a thread moved elsewhere never reports another namespace's devices.
extension KernelTests {
@Suite("Probe thread namespace guard", .serialized)
struct NamespaceGuardTests {
    @Test("a probe thread moved to another namespace refuses to probe")
    func movedProbeThreadRefusesToProbe() throws {
        let given = try TestNetns("g")
        defer { given.remove() }
        let other = try TestNetns("o")
        defer { other.remove() }
        try given.veth("amgiven0", "amgiven0p")
        try other.veth("amother0", "amother0p")

        let prober = try DeviceProber(netnsPath: given.path)
        defer { prober.shutdown() }
        let recorded = try #require(prober.thread.namespace)
        #expect(recorded == (try NamespaceIdentity.of(path: given.path)))
        #expect(try prober.probe().map(\.name).contains("amgiven0"))

        // Something on the probe thread moves it into another namespace.
        let path = other.path
        let rc: Int32 = try prober.thread.sync { _ in .success(cnl_setns_path(path)) }
        #expect(rc == 0)

        #expect {
            _ = try prober.probe()
        } throws: { error in
            guard case .namespaceChanged(_, let expected, let found)? = error as? ProbeError else { return false }
            return expected == recorded.description && found != expected
        }
        // Still refused: the thread is never trusted again until it is back where it started.
        #expect(throws: ProbeError.self) { _ = try prober.probe() }
        let back: Int32 = try prober.thread.sync { [given] _ in .success(cnl_setns_path(given.path)) }
        #expect(back == 0)
        #expect(try prober.probe().map(\.name).contains("amgiven0"))
    }
}
}
