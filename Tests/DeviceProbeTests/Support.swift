import Foundation
import Testing

@testable import DeviceProbe

/// Parent of every suite that changes kernel state: they run one at a time, so a
/// 500-link benchmark never holds the RTNL lock under a latency test.
@Suite("Kernel", .serialized)
struct KernelTests {}

/// Polls `condition` every 10 ms until true or `timeout` passes.
func eventually(timeout: Duration = .seconds(3), _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        usleep(10_000)
    }
    return try condition()
}
