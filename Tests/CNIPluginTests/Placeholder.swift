import Testing
@testable import CNIPlugin

@Test func cNIPluginModuleLoads() {}
