#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNI
import MappingFile

/// `dra` networks: the scheduler chose the pod's device and the DRA kubelet plugin
/// (`automagic-device-plugin`) recorded it in the DRA state folder before the pod's sandbox was
/// created. The CNI plugin attaches exactly that device, never one of its own choosing.
extension AutomagicPlugin {
    /// `K8S_POD_UID` from `CNI_ARGS` (Multus and the container runtimes pass it), or nil.
    static func podUID(_ env: CNIEnvironment) -> String? {
        env.args.first { $0.key == "K8S_POD_UID" }?.value.nonEmpty
    }

    /// The host interface prepared for this pod on `cfg.network`. A pod with several devices of the
    /// network (several claims or requests) gets, for each attachment, the first one that no other
    /// attachment of the same container holds (`inUse`: interfaces recorded for its other
    /// interfaces). Errors are code 7 and name the pod, the network and the folder.
    func preparedDevice(_ cfg: AutomagicConfig, env: CNIEnvironment, inUse: Set<String>) throws(CNIError) -> String {
        let folder = cfg.draStateDirectory
        guard let pod = Self.podUID(env) else {
            throw CNIError(.invalidConfig,
                           "network '\(cfg.network)' is allocated through DRA, but CNI_ARGS has no K8S_POD_UID: automagic finds the pod's prepared device in '\(folder)' by pod UID (Multus and the container runtime pass it; CNI_ARGS is '\(env.argsRaw)')")
        }
        let lookup = PreparedClaimStore(directory: folder).devices(pod: pod, network: cfg.network)
        guard !lookup.found.isEmpty else {
            var message = "no device is prepared for pod '\(pod)' on network '\(cfg.network)' in '\(folder)': the pod must claim it through a ResourceClaim of DeviceClass '\(cfg.network).automagic.dev', allocated by the scheduler and prepared by automagic-device-plugin on this node before the pod starts (check the pod's resourceClaims and the automagic-device-plugin container's log)"
            if !lookup.unreadable.isEmpty {
                message += "; unreadable records: " + lookup.unreadable.map(\.description).joined(separator: "; ")
            }
            throw CNIError(.invalidConfig, message)
        }
        guard let free = lookup.found.first(where: { !inUse.contains($0.device.interface) }) else {
            let all = lookup.found.map { "\($0.device.interface) (claim \($0.claim.namespace)/\($0.claim.name))" }
            throw CNIError(.invalidConfig,
                           "every device prepared for pod '\(pod)' on network '\(cfg.network)' is already attached to another interface of the container: \(all.joined(separator: ", ")); claim one device per attachment")
        }
        return currentInterface(free.device)
    }

    /// The device's interface now: the recorded name while it exists, else the interface that has
    /// its PCI address (`/sys/bus/pci/devices/<address>/net/`) or its MAC address, since a NIC may
    /// be renamed between prepare and ADD. The recorded name when none is found (the delegate's
    /// error then names it).
    func currentInterface(_ device: PreparedDevice) -> String {
        if access("/sys/class/net/" + device.interface, F_OK) == 0 { return device.interface }
        if let pci = device.pciAddress, !pci.isEmpty, !pci.contains("/"),
           let name = (try? AtomicFile.listDirectory("/sys/bus/pci/devices/\(pci)/net"))?.sorted().first {
            return name
        }
        if let mac = device.mac, !mac.isEmpty {
            let wanted = Self.asciiLowercased(Array(mac.utf8))
            for name in ((try? AtomicFile.listDirectory("/sys/class/net")) ?? []).sorted() {
                guard var address = try? AtomicFile.read(path: "/sys/class/net/\(name)/address") else { continue }
                if address.last == 0x0A { address.removeLast() }
                if Self.asciiLowercased(address) == wanted { return name }
            }
        }
        return device.interface
    }

    /// The interfaces other attachments of this container already use (same configuration name,
    /// another interface), from the attachment cache.
    func interfacesInUse(_ cache: AttachmentCache, networkName: String, env: CNIEnvironment) -> Set<String> {
        let entries = (try? cache.entries(networkName: networkName)) ?? []
        return Set(entries.compactMap { e in
            e.containerID == env.containerID && e.ifname != env.ifname ? e.entry?.device : nil
        })
    }

    /// ASCII lower case (MAC addresses; no Unicode tables in the CNI plugin's hot path).
    static func asciiLowercased(_ bytes: [UInt8]) -> [UInt8] {
        bytes.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
    }

    /// For CHECK: whether `device` is still prepared for the pod on the network.
    func isPrepared(_ device: String, cfg: AutomagicConfig, env: CNIEnvironment) -> Bool {
        guard let pod = Self.podUID(env) else { return false }
        return PreparedClaimStore(directory: cfg.draStateDirectory).devices(pod: pod, network: cfg.network)
            .found.contains { $0.device.interface == device }
    }
}

extension String {
    /// Nil when empty.
    var nonEmpty: String? { isEmpty ? nil : self }
}
