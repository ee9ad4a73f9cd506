import Testing
@testable import KubeRuntime

@Test func kubeRuntimeModuleLoads() {}
