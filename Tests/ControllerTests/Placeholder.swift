import Testing
@testable import Controller

@Test func controllerModuleLoads() {}
