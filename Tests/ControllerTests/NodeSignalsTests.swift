import AutomagicAPI
import JSON
import KubeCore
import Testing
@testable import Controller

@Suite struct NodeSignalsTests {
    @Test func labelPatchTouchesOnlyOwnKeys() throws {
        let current = ["kubernetes.io/hostname": "n1", "networks.automagic.dev/old": "true", "networks.automagic.dev/keep": "true"]
        let desired = ["networks.automagic.dev/keep": "true", "networks.automagic.dev/new": "true"]
        let patch = try #require(NodeSignals.labelPatch(current: current, desired: desired))
        #expect(patch == ["networks.automagic.dev/new": "true", "networks.automagic.dev/old": .null])
        let converged = ["kubernetes.io/hostname": "n1", "networks.automagic.dev/keep": "true", "networks.automagic.dev/new": "true"]
        #expect(NodeSignals.labelPatch(current: converged, desired: desired) == nil)
    }
}
