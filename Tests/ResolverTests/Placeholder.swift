import Testing
@testable import Resolver

@Test func resolverModuleLoads() {}
