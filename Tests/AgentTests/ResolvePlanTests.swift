import AutomagicAPI
import JSON
import KubeCore
import MappingFile
import Resolver
import Testing

@testable import Agent

/// `resolveOnce` split: the pure plan (decode, resolve, mapping, statuses) and the state update the
/// agent applies under one lock once the mapping file is written.
@Suite struct ResolvePlanTests {
    let devices = [NetworkDevice(name: "eth1", mac: "aa:bb:cc:dd:ee:01"), NetworkDevice(name: "eth2")]

    func objects(_ maps: [NetworkDeviceMap]) throws -> [DynamicObject] {
        try maps.map { DynamicObject(try JSONValue(encoding: $0)) }
    }

    /// A map the agent cannot decode (rules is not a list).
    let undecodable = DynamicObject([
        "apiVersion": "automagic.io/v1alpha1", "kind": "NetworkDeviceMap", "metadata": ["name": "garbled"],
        "spec": ["rules": "not a list"],
    ])

    @Test func aPlanNamesEveryNetworkAndItsOutcome() throws {
        let maps = try objects([
            makeMap("storage", [DeviceMatchExpression(key: "name", operator: "In", values: ["eth1"])]),
            makeMap("missing", [DeviceMatchExpression(key: "name", operator: "In", values: ["nope"])]),
        ]) + [undecodable]
        let plan = Planning.resolvePlan(node: "n1", labels: [:], devices: devices, maps: maps, current: nil, now: "T")
        #expect(plan.results == ["storage": "Resolved", "missing": "Unresolved", "garbled": "Invalid"])
        #expect(plan.invalid == ["garbled"])
        #expect(plan.statuses.map(\.network) == ["garbled", "missing", "storage"])
        let garbled = try #require(plan.networks["garbled"])
        #expect(garbled.device == "" && garbled.message?.hasPrefix("Invalid: invalid spec: cannot decode the map") == true)
        let next = try #require(plan.next)
        #expect(next.generation == 1 && next.networks == plan.networks && next.updatedAt == "T")
        // The same maps again against the file just planned: nothing to write.
        let again = Planning.resolvePlan(node: "n1", labels: [:], devices: devices, maps: maps, current: next, now: "T2")
        #expect(again.next == nil && again.networks == plan.networks)
    }

    @Test func recordingAResolutionUpdatesTheStateAndReturnsWhatIsLeftToDo() throws {
        let maps = try objects([makeMap("storage", [DeviceMatchExpression(key: "name", operator: "In", values: ["eth1"])])])
        let first = Planning.resolvePlan(node: "n1", labels: [:], devices: devices, maps: maps, current: nil, now: "T")
        var state = NodeAgent.State()
        state.probedAt = "P"
        let effects = state.record(first, devices: devices, mappingError: nil, conditions: [], agentVersion: "v1")
        // The first resolution after start reports no Event for a network that resolved.
        #expect(effects == NodeAgent.ResolveEffects(previousResults: [:], events: [], uid: nil))
        #expect(state.mapping == first.next && state.mappingWritten && state.mappingError == nil)
        #expect(state.desired?.probedAt == "P" && state.desired?.agentVersion == "v1" && state.desired?.networks == first.statuses)
        #expect(state.resultLabels == ["storage": "Resolved"])

        // eth1 gone: the network loses its device, and the file write fails.
        let second = Planning.resolvePlan(node: "n1", labels: [:], devices: [devices[1]], maps: maps, current: state.mapping, now: "T2")
        let effects2 = state.record(second, devices: [devices[1]], mappingError: "disk full", conditions: [], agentVersion: "v1")
        #expect(effects2.previousResults == ["storage": "Resolved"])
        #expect(effects2.events.map(\.reason) == ["NetworkUnresolved", "MappingFileWriteFailed"])
        // A failed write keeps the mapping last written.
        #expect(state.mapping == first.next && !state.mappingWritten && state.mappingError == "disk full")
        #expect(state.resultLabels == ["storage": "Unresolved"])
        // The same failure again is no new Event.
        let effects3 = state.record(second, devices: [devices[1]], mappingError: "disk full", conditions: [], agentVersion: "v1")
        #expect(effects3.events.isEmpty)
    }
}
