import Testing
@testable import LabAPIServer

@Test func labAPIServerModuleLoads() {}
