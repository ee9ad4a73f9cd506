import Testing
@testable import KubectlPlugin

@Test func kubectlPluginModuleLoads() {}
