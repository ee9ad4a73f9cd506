import DRA
import JSON
import MappingFile

/// The pure part of NodePrepareResources: from a `resource.k8s.io/v1` ResourceClaim (JSON, as the
/// API server returns it) and the agent's mapping file, the prepared-claim record of this node's
/// devices of driver `automagic.dev`, or why there cannot be one. No I/O.
///
/// ```swift
/// let claim = try DRAClaims.prepare(claim: json, driver: "automagic.dev", node: "worker-1", mapping: mapping).get()
/// claim.devices.map(\.interface)   // ["ens3f0"]
/// ```
public enum DRAClaims {
    /// The driver name Automagic publishes devices and serves claims for.
    public static let driverName = "automagic.dev"
    /// DeviceClass names are `<network>` followed by this suffix.
    public static let classSuffix = "." + driverName

    /// The record for `claim`: every allocation result of `driver` (other drivers' results are
    /// ignored) on pool `node`, with the network from the request's DeviceClass and the interface,
    /// PCI address and MAC from the network's candidates in `mapping`; the pods from
    /// `status.reservedFor`. Failures name the claim and what is wrong.
    public static func prepare(claim: JSONValue, driver: String = driverName, node: String,
                               mapping: NodeNetworkMapping?) -> Result<PreparedClaim, DRAPrepareError> {
        let namespace = claim[path: ["metadata", "namespace"]]?.stringValue ?? ""
        let name = claim[path: ["metadata", "name"]]?.stringValue ?? ""
        let uid = claim[path: ["metadata", "uid"]]?.stringValue ?? ""
        let what = "ResourceClaim '\(namespace)/\(name)'"
        let fail = { (problem: String) in Result<PreparedClaim, DRAPrepareError>.failure(DRAPrepareError(message: "\(what): \(problem)")) }
        guard case .object? = claim[path: ["status", "allocation"]] else {
            return fail("it is not allocated (no status.allocation): the scheduler allocates a claim before the kubelet prepares it")
        }
        let results = claim[path: ["status", "allocation", "devices", "results"]]?.arrayValue ?? []
        let pods = podUIDs(claim: claim)
        var devices: [PreparedDevice] = []
        for (i, result) in results.enumerated() where result["driver"]?.stringValue == driver {
            let field = "status.allocation.devices.results[\(i)]"
            let request = result["request"]?.stringValue ?? ""
            let pool = result["pool"]?.stringValue ?? ""
            let device = result["device"]?.stringValue ?? ""
            guard !request.isEmpty, !device.isEmpty else { return fail("\(field) has no request or device") }
            guard pool == node else {
                return fail("\(field) allocates device '\(device)' of pool '\(pool)', but this is node '\(node)' (pool '\(node)')")
            }
            guard let className = deviceClassName(claim: claim, request: request) else {
                return fail("\(field) names request '\(request)', which spec.devices.requests does not define with a deviceClassName")
            }
            guard className.hasSuffix(classSuffix), className.count > classSuffix.count else {
                return fail("request '\(request)' uses DeviceClass '\(className)', not one of Automagic's '<network>\(classSuffix)' classes: its network is unknown")
            }
            let network = String(className.dropLast(classSuffix.count))
            guard let mapping else {
                return fail("the agent's mapping file does not exist yet, so device '\(device)' of network '\(network)' cannot be found; check the automagic-agent container on this node")
            }
            guard let entry = mapping.networks[network] else {
                return fail("network '\(network)' (DeviceClass '\(className)') is not in the mapping file of node '\(mapping.node)': no NetworkDeviceMap '\(network)' selects this node")
            }
            guard let candidate = entry.candidates.first(where: { draDeviceName($0) == device }) else {
                let known = entry.candidates.map { "\(draDeviceName($0)) (\($0.name))" }
                return fail("device '\(device)' is not a device of network '\(network)' on node '\(mapping.node)' (its devices: \(known.isEmpty ? "none" : known.joined(separator: ", ")))")
            }
            devices.append(PreparedDevice(request: request, pool: pool, device: device, network: network,
                                          interface: candidate.name, pciAddress: candidate.pciAddress, mac: candidate.mac))
        }
        return .success(PreparedClaim(namespace: namespace, name: name, uid: uid, podUIDs: pods, devices: devices))
    }

    /// The UIDs of the pods the claim is reserved for (`status.reservedFor`, core `pods` only).
    public static func podUIDs(claim: JSONValue) -> [String] {
        (claim[path: ["status", "reservedFor"]]?.arrayValue ?? []).compactMap { ref -> String? in
            guard ref["resource"]?.stringValue == "pods", (ref["apiGroup"]?.stringValue ?? "").isEmpty else { return nil }
            return ref["uid"]?.stringValue
        }
    }

    /// The DeviceClass of `request` (`name` of `spec.devices.requests[]` with `exactly`, or
    /// `name/subrequest` of one with `firstAvailable`).
    static func deviceClassName(claim: JSONValue, request: String) -> String? {
        let parts = request.split(separator: "/", maxSplits: 1).map(String.init)
        guard let top = parts.first else { return nil }
        let requests = claim[path: ["spec", "devices", "requests"]]?.arrayValue ?? []
        guard let r = requests.first(where: { $0["name"]?.stringValue == top }) else { return nil }
        if parts.count == 2 {
            let subs = r["firstAvailable"]?.arrayValue ?? []
            return subs.first(where: { $0["name"]?.stringValue == parts[1] })?["deviceClassName"]?.stringValue
        }
        return r[path: ["exactly", "deviceClassName"]]?.stringValue
    }

    /// The DRA device name of a candidate, as the agent publishes it in its ResourceSlice
    /// (``DRADeviceName``: `pci-…` from the PCI address, else `mac-…`), else its interface name
    /// (such a device is not published, so no claim names it).
    public static func draDeviceName(_ c: DeviceCandidate) -> String {
        DRADeviceName.name(pciAddress: c.pciAddress, mac: c.mac) ?? c.name
    }
}

/// Why a claim could not be prepared (the text goes to the kubelet, which shows it in the pod's events).
public struct DRAPrepareError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
