import AutomagicAPI
import KubeCore
import Resolver

/// A typical dual-port ice NIC, an i40e port, an onboard port and a veth.
let ens5f0 = NetworkDevice(
    name: "ens5f0", altNames: ["enp94s0f0np0"], kind: .physical, mac: "3c:fd:fe:aa:bb:00", mtu: 9000, operState: "up",
    carrier: true, speedMbps: 25000, driver: "ice", pciAddress: "0000:5e:00.0", vendorID: "8086", deviceID: "159b",
    numaNode: 0, sriov: SRIOVInfo(totalVFs: 64, numVFs: 8), addresses: ["192.168.60.11/24", "2001:db8:60::11/64"],
    lldp: LLDPNeighbor(chassisID: "00:1c:73:00:00:01", portID: "Ethernet1/5", systemName: "leaf-07.dc1", vlanIDs: [60, 61]))
let ens5f1 = NetworkDevice(
    name: "ens5f1", kind: .physical, mac: "3C:FD:FE:AA:BB:01", mtu: 9000, operState: "up", carrier: true,
    speedMbps: 25000, driver: "ice", pciAddress: "0000:5e:00.1", vendorID: "8086", deviceID: "159b", numaNode: 0,
    sriov: SRIOVInfo(totalVFs: 64, numVFs: 0), addresses: ["10.20.0.11/16"],
    lldp: LLDPNeighbor(systemName: "leaf-08.dc1", vlanIDs: [200]))
let ens6f0 = NetworkDevice(
    name: "ens6f0", kind: .physical, mac: "3c:fd:fe:cc:dd:00", mtu: 1500, operState: "down", carrier: false,
    driver: "i40e", pciAddress: "0000:af:00.0", vendorID: "8086", deviceID: "1572", numaNode: 1)
let eno1 = NetworkDevice(
    name: "eno1", kind: .physical, mac: "a4:bf:01:00:00:01", mtu: 1500, operState: "up", carrier: true, speedMbps: 1000,
    driver: "igb", pciAddress: "0000:03:00.0", vendorID: "8086", deviceID: "1521", addresses: ["172.16.0.5/24"],
    hasDefaultRoute: true)
let veth0 = NetworkDevice(name: "veth0", kind: .veth, mtu: 1500, operState: "up", carrier: true, driver: "veth")

let allDevices = [ens5f0, ens5f1, ens6f0, eno1, veth0]
let worker = NodeInfo(name: "worker-1", labels: ["kubernetes.io/hostname": "worker-1", "hw": "gen2"])

func expr(_ key: String, _ op: MatchOperator, _ values: [String]? = nil) -> DeviceMatchExpression {
    DeviceMatchExpression(key: key, operator: op, values: values)
}

func map(
    _ name: String, rules: [DeviceRule], select: SelectPolicy? = nil, exclusive: Bool? = nil,
    nodeSelector: LabelSelector? = nil, created: String? = nil
) -> NetworkDeviceMap {
    var meta = ObjectMeta(name: name)
    meta.creationTimestamp = created
    return NetworkDeviceMap(metadata: meta, spec: NetworkDeviceMapSpec(nodeSelector: nodeSelector, rules: rules, select: select, exclusive: exclusive))
}

func map(_ name: String, _ expressions: DeviceMatchExpression..., select: SelectPolicy? = nil, exclusive: Bool? = nil, created: String? = nil) -> NetworkDeviceMap {
    map(name, rules: [DeviceRule(expressions: expressions)], select: select, exclusive: exclusive, created: created)
}

/// Devices a single-expression map matches on `worker` (every matching device, in preference order).
func matching(_ e: DeviceMatchExpression, devices: [NetworkDevice] = allDevices) throws -> [String] {
    let r = Resolver.resolve(node: worker, devices: devices, maps: [map("t", e)])
    let n = try #require(r["t"])
    try #require(n.outcome != .invalid, "unexpectedly invalid: \(n.message)")
    return n.trace.first?.matched ?? []
}

import Testing
