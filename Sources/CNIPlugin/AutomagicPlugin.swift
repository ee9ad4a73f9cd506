#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNI
import JSON
import MappingFile

/// The `automagic` CNI plugin: resolves a semantic network through the node's mapping file
/// and delegates to macvlan, ipvlan or host-device found on `CNI_PATH`.
///
/// ```swift
/// let output = Skel.run(AutomagicPlugin(), environment: env, stdin: { stdinBytes })
/// ```
public struct AutomagicPlugin: CNIHandler {
    /// Spec versions accepted in configurations.
    public let supportedVersions: [CNIVersion] = CNIVersion.supported

    /// Creates the plugin.
    public init() {}

    // MARK: ADD

    /// ADD: resolve the network in the mapping file (code 11 while it does not exist yet), refuse
    /// an interface name the pod already has (code 4, nothing changed), record the attachment in
    /// the cache, exec the delegate's ADD with `master`/`device` set, and return its result. If
    /// the delegate fails, its DEL is run and the cache entry removed.
    public func add(_ request: CNIRequest) throws(CNIError) -> CNIResult {
        let conf = request.config, env = request.environment
        let cfg = try AutomagicConfig(conf)
        let mapping = try readMapping(cfg, conf: conf)
        let network = try resolve(cfg, conf: conf, mapping: mapping)
        let cache = AttachmentCache(directory: cfg.cacheDirectory)
        // A dra network attaches the device the scheduler allocated and the DRA plugin prepared.
        let device = network.dra
            ? try preparedDevice(cfg, env: env, inUse: interfacesInUse(cache, networkName: conf.name, env: env))
            : try chooseDevice(cfg, network: network, mapping: mapping)
        guard let type = cfg.delegateType(mapping: network) else {
            throw CNIError(.invalidConfig,
                           "network '\(cfg.network)' has no attachment type: NetworkDeviceMap '\(network.map)' sets no spec.attachment.type and the configuration '\(conf.name)' has no delegate.type; set one of them to macvlan, ipvlan or host-device")
        }
        let lock = try cache.lock(exclusive: false)
        defer { lock.unlock() }
        let path = try Delegate.find(type, in: env.path)
        let version = try negotiate(cache: cache, path: path, type: type, env: env, wanted: conf.cniVersion)
        let delegateConf = try cfg.delegateConfig(conf: conf, type: type, device: device,
                                                  attachment: network.attachment, version: version)
        let stdin = delegateConf.serialized()
        // The undo below runs the delegate's DEL, which removes whatever interface is called
        // CNI_IFNAME in the pod: refuse, before anything is changed, an ADD whose interface the
        // pod already has, so that only what this ADD created is ever undone.
        if case .present(let ifindex) = try PodInterfaces.presence(of: env.ifname, netnsPath: env.netns) {
            throw CNIError(.invalidEnvironment,
                           "CNI_IFNAME '\(env.ifname)' already exists in network namespace '\(env.netns)' (ifindex \(ifindex)); nothing was changed: give this attachment another interface name, or DEL the attachment that owns '\(env.ifname)' first")
        }
        let record = CachedAttachment(networkName: conf.name, containerID: env.containerID, ifname: env.ifname,
                                      netns: env.netns, network: cfg.network, delegateType: type,
                                      device: device, generation: mapping.generation,
                                      attachment: network.attachment)
        do throws(CNIError) {
            // The attachment is recorded while the delegate works (off the runtime's clock), and
            // before anything is returned: a DEL always finds the device. Should this process die
            // in the instant between the delegate's start and the record, the runtime's DEL
            // still finds the device through the mapping file, as for a DEL without an ADD.
            var recordError: CNIError?
            let out = try Delegate.invoke(path: path, command: .add, environment: env.inherited, stdin: stdin, whileRunning: {
                do throws(CNIError) { try cache.store(record) } catch { recordError = error }
            })
            if let recordError { throw recordError }
            let result = try CNIResult(bytes: out, version: version)
            return result
        } catch {
            // Undo whatever the delegate did, then forget the attachment.
            var undo = delegateConf
            undo["prevResult"] = nil
            _ = try? Delegate.invoke(path: path, command: .del, environment: env.inherited, stdin: undo.serialized())
            try? cache.remove(networkName: conf.name, containerID: env.containerID, ifname: env.ifname)
            var failure = error
            if !deviceExists(device) {
                let source = network.dra ? "the prepared claim in '\(cfg.draStateDirectory)'" : "the mapping file"
                failure.message += "; device '\(device)' that \(source) gives for network '\(cfg.network)' does not exist on \(mapping.node.isEmpty ? "this node" : "node " + mapping.node) (stale mapping? check the automagic-agent pod on this node)"
            }
            throw failure
        }
    }

    /// Whether the host has an interface of that name (in the netns the plugin runs in).
    func deviceExists(_ name: String) -> Bool {
        guard CNIEnvironment.interfaceNameProblem(name) == nil else { return false }
        return access("/sys/class/net/" + name, F_OK) == 0
    }

    // MARK: DEL

    /// DEL: best effort and idempotent. Uses the cached device (the mapping only as a fallback),
    /// runs the delegate's DEL, removes the cache entry. With nothing known about the attachment
    /// it only releases the IPAM address; it succeeds without a prior ADD, netns or mapping file.
    public func del(_ request: CNIRequest) throws(CNIError) {
        if let call = try prepareDel(request) { _ = try Delegate.invoke(call) }
    }

    /// DEL up to the delegate's DEL, which is left to the caller (the executable `exec`s it in
    /// place of itself, so the delegate's answer is the DEL's answer).
    ///
    /// The cache entry is removed *before* the delegate runs, since nothing runs after it. A
    /// delegate that then fails leaves no entry: the runtime's retry falls back to the mapping
    /// file and the configuration, like a DEL without a prior ADD. If the delegate cannot be
    /// started at all, the entry is put back (``DelegateCall/restore``).
    ///
    /// A delegate missing from `CNI_PATH` fails the DEL only when an ADD through it is recorded:
    /// then it created an interface and took an address that only it can release, so the DEL
    /// fails (code 7) and keeps the entry for a retry once the plugin is installed. When nothing
    /// is recorded (no ADD, or it was already undone), there is nothing it could clean up and the
    /// DEL succeeds.
    public func prepareDel(_ request: CNIRequest) throws(CNIError) -> DelegateCall? {
        let conf = request.config, env = request.environment
        let cfg = try AutomagicConfig(conf)
        let cache = AttachmentCache(directory: cfg.cacheDirectory)
        let lock = try cache.lock(exclusive: false)
        defer { lock.unlock() }
        let cached = cache.load(networkName: conf.name, containerID: env.containerID, ifname: env.ifname)
        // The mapping is only a fallback: DEL must work when it is gone or changed.
        let network = cached != nil ? nil : (try? MappingFile.read(path: cfg.mappingFile))?.networks[cfg.network]
        let type = cached?.delegateType ?? cfg.delegateType(mapping: network)
        // Without a record, the allocated device when it is a candidate, else the network's device.
        let requested = network.flatMap { n in cfg.requestedDevice.flatMap { n.candidate(matching: $0)?.name } }
        // A dra network without a record: the pod's prepared device, if its claim is still prepared.
        let prepared = cached == nil && network?.dra == true
            ? (try? preparedDevice(cfg, env: env, inUse: [])) : nil
        let device = cached?.device ?? prepared ?? requested ?? network.flatMap { $0.device.isEmpty ? nil : $0.device }
        var call: DelegateCall?
        if let type, let device {
            guard let path = try Delegate.lookup(type, in: env.path) else {
                if let cached {
                    var e = Delegate.notFound(type, in: env.path)
                    e.message += "; the ADD of container '\(cached.containerID)' interface '\(cached.ifname)' went through it, and only it can remove that interface and release its address (the attachment stays recorded for the retry)"
                    throw e
                }
                return nil
            }
            let version = try negotiate(cache: cache, path: path, type: type, env: env, wanted: conf.cniVersion)
            let attachment = cached?.attachment ?? network?.attachment
            let delegateConf = try cfg.delegateConfig(conf: conf, type: type, device: device, attachment: attachment,
                                                      version: version, dropsBadPrevResult: true)
            call = DelegateCall(path: path, command: .del, stdin: delegateConf.serialized(), environment: env.inherited)
        } else if let ipamType = conf.raw["ipam"]?["type"]?.stringValue {
            // Nothing known about the attachment: at least release the address.
            guard let path = try Delegate.lookup(ipamType, in: env.path) else { return nil }
            let version = try negotiate(cache: cache, path: path, type: ipamType, env: env, wanted: conf.cniVersion)
            var ipamConf: [String: JSONValue] = [:]
            for (k, v) in conf.raw where !AutomagicConfig.ownKeys.contains(k) && k != "prevResult" { ipamConf[k] = v }
            ipamConf["type"] = .string(type ?? "macvlan")
            ipamConf["cniVersion"] = .string(version.description)
            call = DelegateCall(path: path, command: .del, stdin: JSONValue.object(ipamConf).serialized(), environment: env.inherited)
        }
        try cache.remove(networkName: conf.name, containerID: env.containerID, ifname: env.ifname)
        if let cached { call?.restore = { try? cache.store(cached) } }
        return call
    }

    // MARK: CHECK

    /// CHECK: the attachment must be recorded and the network must still map to its device
    /// (else code 100); then the delegate's CHECK decides.
    public func check(_ request: CNIRequest) throws(CNIError) {
        let conf = request.config, env = request.environment
        let cfg = try AutomagicConfig(conf)
        guard conf.prevResult != nil else {
            throw CNIError(.invalidConfig, "invalid network configuration '\(conf.name)': CHECK needs 'prevResult', the result of the ADD")
        }
        let mapping = try readMapping(cfg, conf: conf)
        let network = try resolve(cfg, conf: conf, mapping: mapping)
        let cache = AttachmentCache(directory: cfg.cacheDirectory)
        let lock = try cache.lock(exclusive: false)
        defer { lock.unlock() }
        guard let cached = cache.load(networkName: conf.name, containerID: env.containerID, ifname: env.ifname) else {
            throw CNIError(.unknownContainer,
                           "no ADD is recorded for container '\(env.containerID)' interface '\(env.ifname)' in network '\(conf.name)' (cache '\(cfg.cacheDirectory)')")
        }
        if network.dra {
            // The scheduler chose the device: it must still be prepared for the pod.
            if !isPrepared(cached.device, cfg: cfg, env: env) {
                throw CNIError(.attachmentOutdated,
                               "attachment of container '\(env.containerID)' uses device '\(cached.device)', which is no longer prepared for pod '\(Self.podUID(env) ?? "?")' on network '\(cfg.network)' (folder '\(cfg.draStateDirectory)'); recreate the pod")
            }
        } else if network.exclusive {
            // Each pod of an exclusive network has its own device: any candidate is right.
            if !network.candidates.contains(where: { $0.name == cached.device }) {
                throw CNIError(.attachmentOutdated,
                               "attachment of container '\(env.containerID)' uses device '\(cached.device)', which is no longer a candidate of exclusive network '\(cfg.network)' on node '\(mapping.node)' (candidates: \(candidateList(network))); recreate the pod to move it")
            }
        } else if cached.device != network.device {
            throw CNIError(.attachmentOutdated,
                           "attachment of container '\(env.containerID)' uses device '\(cached.device)', but network '\(cfg.network)' now maps to '\(network.device)' on node '\(mapping.node)'; recreate the pod to move it")
        }
        let type = cached.delegateType
        let path = try Delegate.find(type, in: env.path)
        let version = try negotiate(cache: cache, path: path, type: type, env: env, wanted: conf.cniVersion)
        let delegateConf = try cfg.delegateConfig(conf: conf, type: type, device: cached.device,
                                                  attachment: network.attachment, version: version)
        _ = try Delegate.invoke(path: path, command: .check, environment: env.inherited, stdin: delegateConf.serialized())
    }

    // MARK: STATUS

    /// STATUS: code 50 when the mapping file is missing, unreadable or of another format, or the
    /// network has no device on this node; otherwise the delegate's STATUS when it speaks 1.1.0.
    public func status(_ request: CNIRequest) throws(CNIError) {
        let conf = request.config, env = request.environment
        let cfg = try AutomagicConfig(conf)
        let mapping: NodeNetworkMapping
        do {
            mapping = try MappingFile.read(path: cfg.mappingFile)
        } catch {
            let hint = error.isNotFound
                ? "; the automagic agent writes it once it has resolved this node: check the automagic-agent pod on this node"
                : "; check the automagic-agent pod on this node"
            throw CNIError(.notAvailable, "network '\(cfg.network)' is not ready: \(error)\(hint)")
        }
        guard let network = mapping.networks[cfg.network], !network.device.isEmpty else {
            throw CNIError(.notAvailable, "network '\(cfg.network)' is not ready: " + unresolvedMessage(cfg, mapping: mapping))
        }
        guard let type = cfg.delegateType(mapping: network) else { return }
        let path = try Delegate.find(type, in: env.path)
        let cache = AttachmentCache(directory: cfg.cacheDirectory)
        let versions = try cache.delegateVersions(path: path, environment: env.inherited)
        // Delegates older than 1.1.0 have no STATUS: they are ready whenever they exist.
        guard versions.contains(.v1_1_0) else { return }
        let delegateConf = try cfg.delegateConfig(conf: conf, type: type, device: network.device,
                                                  attachment: network.attachment, version: .v1_1_0)
        _ = try Delegate.invoke(path: path, command: .status, environment: env.inherited, stdin: delegateConf.serialized())
    }

    // MARK: GC

    /// GC: remove this network's cache entries not in `cni.dev/valid-attachments`, forward GC to
    /// every delegate type involved that speaks 1.1.0; continue past errors and report them all.
    public func gc(_ request: CNIRequest) throws(CNIError) {
        let conf = request.config, env = request.environment
        let cfg = try AutomagicConfig(conf)
        guard case .array(let list)? = conf.raw["cni.dev/valid-attachments"] ?? conf.raw["cni.dev/attachments"] else {
            throw CNIError(.invalidConfig, "invalid network configuration '\(conf.name)': GC needs 'cni.dev/valid-attachments' (an array)")
        }
        var valid = Set<String>()
        for item in list {
            guard let c = item["containerID"]?.stringValue, let i = item["ifname"]?.stringValue else {
                throw CNIError(.invalidConfig, "invalid network configuration '\(conf.name)': each of 'cni.dev/valid-attachments' needs 'containerID' and 'ifname'")
            }
            valid.insert(c + "\u{0}" + i)
        }
        let cache = AttachmentCache(directory: cfg.cacheDirectory)
        let lock = try cache.lock(exclusive: true)
        defer { lock.unlock() }
        var failures: [CNIError] = []
        var delegates: [String: String] = [:]  // type -> device
        let network = (try? MappingFile.read(path: cfg.mappingFile))?.networks[cfg.network]
        if let network, !network.device.isEmpty, let type = cfg.delegateType(mapping: network) { delegates[type] = network.device }
        do {
            for (containerID, ifname, entry) in try cache.entries(networkName: conf.name) {
                if let entry, delegates[entry.delegateType] == nil { delegates[entry.delegateType] = entry.device }
                if valid.contains(containerID + "\u{0}" + ifname) { continue }
                do throws(CNIError) {
                    try cache.remove(networkName: conf.name, containerID: containerID, ifname: ifname)
                } catch {
                    failures.append(error)
                }
            }
        } catch {
            failures.append(error)
        }
        for (type, device) in delegates.sorted(by: { $0.key < $1.key }) {
            do throws(CNIError) {
                let path = try Delegate.find(type, in: env.path)
                guard try cache.delegateVersions(path: path, environment: env.inherited).contains(.v1_1_0) else { continue }
                let delegateConf = try cfg.delegateConfig(conf: conf, type: type, device: device,
                                                          attachment: network?.attachment, version: .v1_1_0)
                _ = try Delegate.invoke(path: path, command: .gc, environment: env.inherited, stdin: delegateConf.serialized())
            } catch {
                failures.append(error)
            }
        }
        if let first = failures.first {
            throw CNIError(first.code, "GC of network '\(conf.name)' finished with \(failures.count) error(s): "
                + failures.map(\.message).joined(separator: "; "))
        }
    }

    // MARK: helpers

    func readMapping(_ cfg: AutomagicConfig, conf: NetConf) throws(CNIError) -> NodeNetworkMapping {
        do {
            return try MappingFile.read(path: cfg.mappingFile)
        } catch {
            switch error {
            case .notFound:
                throw CNIError(.tryAgainLater,
                               "mapping file '\(cfg.mappingFile)' does not exist yet: the automagic agent on this node has not resolved network '\(cfg.network)'; check that the automagic-agent pod on this node is running, then retry")
            case .readFailed:
                throw CNIError(.ioFailure, "\(error)")
            default:
                throw CNIError(.decodingFailure, "\(error)")
            }
        }
    }

    func resolve(_ cfg: AutomagicConfig, conf: NetConf, mapping: NodeNetworkMapping) throws(CNIError) -> NetworkMapping {
        // A dra network needs no resolved device: the prepared claim names it.
        guard let network = mapping.networks[cfg.network], !network.device.isEmpty || network.dra else {
            throw CNIError(.invalidConfig, unresolvedMessage(cfg, mapping: mapping))
        }
        return network
    }

    /// The interface the delegate gets. Exclusive networks: the device the kubelet's device
    /// plugin allocated (Multus passes its ID), which must be one of the network's candidates on
    /// this node. Shared networks: the mapped device, which a given device ID must name.
    /// Errors are code 7 and change nothing.
    func chooseDevice(_ cfg: AutomagicConfig, network: NetworkMapping, mapping: NodeNetworkMapping) throws(CNIError) -> String {
        let node = mapping.node.isEmpty ? "this node" : "node \(mapping.node)"
        if network.exclusive {
            guard let id = cfg.requestedDevice else {
                throw CNIError(.invalidConfig,
                               "network '\(cfg.network)' is exclusive: each pod gets its own device from the kubelet's device plugin, but the configuration names none (no 'deviceID', 'pciBusID' or 'runtimeConfig.deviceID'); the pod must request resource automagic.dev/\(cfg.network) through a NetworkAttachmentDefinition annotated k8s.v1.cni.cncf.io/resourceName: automagic.dev/\(cfg.network) (the automagic controller renders it). Candidates on \(node): \(candidateList(network))")
            }
            guard let candidate = network.candidate(matching: id) else {
                throw CNIError(.invalidConfig,
                               "device '\(id)' is not a candidate of exclusive network '\(cfg.network)' on \(node); allowed devices: \(candidateList(network))")
            }
            return candidate.name
        }
        if let id = cfg.requestedDevice {
            let mapped = DeviceCandidate(name: network.device, mac: network.mac, pciAddress: network.pciAddress)
            guard mapped.matches(deviceID: id) else {
                throw CNIError(.invalidConfig,
                               "device '\(id)' is not the device of shared network '\(cfg.network)' on \(node); allowed devices: \(describe(mapped))")
            }
        }
        return network.device
    }

    /// `0000:05:00.0 (ens5f0), 02:00:00:00:00:01 (veth-x)`, or `none`.
    func candidateList(_ network: NetworkMapping) -> String {
        network.candidates.isEmpty ? "none" : network.candidates.map(describe).joined(separator: ", ")
    }

    func describe(_ c: DeviceCandidate) -> String {
        c.deviceID == c.name ? c.name : "\(c.deviceID) (\(c.name))"
    }

    func unresolvedMessage(_ cfg: AutomagicConfig, mapping: NodeNetworkMapping) -> String {
        let node = mapping.node.isEmpty ? "this node" : "node \(mapping.node)"
        let why: String
        if let entry = mapping.networks[cfg.network], let message = entry.message, !message.isEmpty {
            why = message
        } else {
            why = "the mapping file '\(cfg.mappingFile)' has no device for it (no NetworkDeviceMap '\(cfg.network)' selects this node, or no rule matched)"
        }
        let explain = mapping.node.isEmpty ? "kubectl automagic explain \(cfg.network)" : "kubectl automagic explain \(cfg.network) --node \(mapping.node)"
        return "network '\(cfg.network)' has no device on \(node): \(why); run \(explain)"
    }

    func negotiate(cache: AttachmentCache, path: String, type: String, env: CNIEnvironment,
                   wanted: CNIVersion) throws(CNIError) -> CNIVersion {
        let versions = try cache.delegateVersions(path: path, environment: env.inherited)
        guard let v = CNIVersion.negotiate(wanted: wanted, peer: versions) else {
            throw CNIError(.incompatibleVersion,
                           "plugin '\(type)' (\(path)) supports CNI versions \(versions.map(\.description).joined(separator: ", ")), none of which automagic speaks (\(CNIVersion.supported.map(\.description).joined(separator: ", ")))")
        }
        return v
    }
}

extension CNIErrorCode {
    /// 100 (automagic): CHECK found the attachment on a device the network no longer maps to.
    public static let attachmentOutdated = CNIErrorCode(rawValue: 100)
}
