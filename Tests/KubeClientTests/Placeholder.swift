import Testing
@testable import KubeClient

@Test func kubeClientModuleLoads() {}
