import Testing
@testable import Agent

@Test func agentModuleLoads() {}
