import Foundation
import Testing

@testable import DeviceProbe

/// Parent of every suite that changes kernel state: they run one at a time, so a
/// 500-link benchmark never holds the RTNL lock under a latency test.
@Suite("Kernel", .serialized)
struct KernelTests {}

