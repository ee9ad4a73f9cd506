import Testing
@testable import DeviceProbe

@Test func deviceProbeModuleLoads() {}
