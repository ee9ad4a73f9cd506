import Testing
@testable import KubeCore

@Test func kubeCoreModuleLoads() {}
