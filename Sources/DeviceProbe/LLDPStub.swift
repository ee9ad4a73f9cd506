final class LLDPListener: Sendable {
    func shutdown() {}
    func neighboursByIndex() -> [Int: ProbedDevice.LLDP] { [:] }
}
extension DeviceProber {
    func updateLLDPSelection(_ devices: [ProbedDevice]) {}
}
