import CNI
import JSON
import MappingFile

/// The `automagic` plugin's own configuration keys, read from a ``NetConf``.
///
/// ```json
/// {"cniVersion": "1.0.0", "name": "storage", "type": "automagic", "network": "storage",
///  "mappingFile": "/run/automagic/mapping.json", "delegate": {"type": "macvlan", "mode": "bridge"},
///  "ipam": {"type": "static", "addresses": [{"address": "192.168.60.5/24"}]}}
/// ```
public struct AutomagicConfig: Sendable, Hashable {
    /// Where the attachment cache lives unless `cacheDir` says otherwise.
    public static let defaultCacheDirectory = "/var/lib/automagic"
    /// Keys that belong to `automagic` and are never passed to the delegate.
    /// The device IDs a runtime or Multus passes (`deviceID`, `pciBusID`) are automagic's too: it
    /// resolves them to an interface and gives the delegate that as `master` or `device`.
    public static let ownKeys: Set<String> = ["network", "mappingFile", "delegate", "cacheDir", "draStateDir", "type", "cniVersion",
                                              "cniVersions", "deviceID", "pciBusID"]
    /// Delegate types `automagic` knows how to point at a device.
    public static let delegateTypes: Set<String> = ["macvlan", "ipvlan", "host-device"]

    /// The semantic network (a `NetworkDeviceMap` name).
    public var network: String
    /// The mapping file to read.
    public var mappingFile: String
    /// The attachment cache directory.
    public var cacheDirectory: String
    /// The DRA plugin's prepared-claim records (`draStateDir`, default `/run/automagic/dra`): where
    /// a `dra` network's device for the pod is found.
    public var draStateDirectory: String
    /// The `delegate` object (overrides of the map's attachment), empty when absent.
    public var delegate: [String: JSONValue]
    /// The device the kubelet's device plugin allocated to the pod, as Multus passes it
    /// (`runtimeConfig.deviceID`, `deviceID` or `pciBusID`): a PCI address, a MAC address or an
    /// interface name. Nil when none is given.
    public var requestedDevice: String?

    /// Reads the keys from `conf`. Errors are code 7 and say how to fix the configuration.
    public init(_ conf: NetConf) throws(CNIError) {
        let ownKeys = Self.ownKeys
        switch conf.raw["network"] {
        case .string(let s)? where !s.isEmpty: network = s
        case nil, .null?, .string?:
            throw CNIError(.invalidConfig,
                           "invalid network configuration '\(conf.name)': 'network' is missing; set it to the name of a NetworkDeviceMap (kubectl get networkdevicemaps)")
        case let other?:
            throw CNIError(.invalidConfig, "invalid network configuration '\(conf.name)': 'network' must be a string, got \(other.typeName)")
        }
        mappingFile = try Self.optionalPath(conf, "mappingFile") ?? MappingFile.defaultPath
        cacheDirectory = try Self.optionalPath(conf, "cacheDir") ?? Self.defaultCacheDirectory
        draStateDirectory = try Self.optionalPath(conf, "draStateDir") ?? PreparedClaimStore.defaultDirectory
        switch conf.raw["delegate"] {
        case nil, .null?: delegate = [:]
        case .object(let o)?:
            if let t = o["type"], t.stringValue == nil {
                throw CNIError(.invalidConfig, "invalid network configuration '\(conf.name)': 'delegate.type' must be a string, got \(t.typeName)")
            }
            // Found by fuzzing: keys of automagic's own must not reach the delegate through here.
            for key in o.keys where ownKeys.contains(key) && key != "type" {
                throw CNIError(.invalidConfig,
                               "invalid network configuration '\(conf.name)': 'delegate.\(key)' is not allowed; '\(key)' belongs to automagic, set it at the top level")
            }
            delegate = o
        case let other?:
            throw CNIError(.invalidConfig, "invalid network configuration '\(conf.name)': 'delegate' must be an object, got \(other.typeName)")
        }
        requestedDevice = try Self.requestedDevice(conf)
        for key in ["master", "device"] where conf.raw[key] != nil || delegate[key] != nil {
            throw CNIError(.invalidConfig,
                           "invalid network configuration '\(conf.name)': '\(key)' is set, but automagic chooses the device from the mapping of network '\(network)'; remove '\(key)'")
        }
    }

    /// `runtimeConfig.deviceID`, `deviceID` and `pciBusID`: each a non-empty string when present;
    /// when several are given they must agree (Multus sets both top-level keys to the same ID).
    static func requestedDevice(_ conf: NetConf) throws(CNIError) -> String? {
        var given: [(key: String, id: String)] = []
        let sources: [(String, JSONValue?)] = [
            ("runtimeConfig.deviceID", conf.raw["runtimeConfig"]?["deviceID"]),
            ("deviceID", conf.raw["deviceID"]), ("pciBusID", conf.raw["pciBusID"]),
        ]
        for (key, value) in sources {
            switch value {
            case nil, .null?: continue
            case .string(let s)? where !s.isEmpty: given.append((key, s))
            case let other?:
                throw CNIError(.invalidConfig,
                               "invalid network configuration '\(conf.name)': '\(key)' must be a non-empty string (a PCI address, MAC address or interface name), got \(other)")
            }
        }
        if let first = given.first, let other = given.first(where: { $0.id != first.id }) {
            throw CNIError(.invalidConfig,
                           "invalid network configuration '\(conf.name)': '\(first.key)' is '\(first.id)' but '\(other.key)' is '\(other.id)'; they must name the same device")
        }
        return given.first?.id
    }

    static func optionalPath(_ conf: NetConf, _ key: String) throws(CNIError) -> String? {
        switch conf.raw[key] {
        case nil, .null?: return nil
        case .string(let s)? where s.hasPrefix("/"): return s
        case let other?:
            throw CNIError(.invalidConfig, "invalid network configuration '\(conf.name)': '\(key)' must be an absolute path, got \(other)")
        }
    }

    /// The delegate type: `delegate.type`, else the map's attachment type.
    public func delegateType(mapping: NetworkMapping?) -> String? {
        delegate["type"]?.stringValue ?? mapping?.attachment?.type
    }

    /// The configuration sent to the delegate: the map's attachment as defaults, every key of
    /// the caller's configuration except automagic's own, then the `delegate` object; `type`,
    /// `cniVersion` and `master` (macvlan, ipvlan) or `device` (host-device) set; `prevResult`
    /// converted from `callerVersion` to `version`. A `prevResult` that is not a result fails
    /// (code 6), unless `dropsBadPrevResult` (DEL, which is best effort and whose delegates do
    /// not need it): then it is left out.
    public func delegateConfig(conf: NetConf, type: String, device: String, attachment: Attachment?,
                               version: CNIVersion, dropsBadPrevResult: Bool = false) throws(CNIError) -> JSONValue {
        guard Self.delegateTypes.contains(type) else {
            throw CNIError(.invalidConfig,
                           "invalid network configuration '\(conf.name)': delegate type '\(type)' is not supported; automagic delegates to macvlan, ipvlan or host-device")
        }
        var out: [String: JSONValue] = [:]
        if let attachment, attachment.type == type {
            if let mode = attachment.mode, type != "host-device" { out["mode"] = .string(mode) }
            if let mtu = attachment.mtu, type != "host-device" { out["mtu"] = .int(mtu) }
        }
        for (k, v) in conf.raw where !Self.ownKeys.contains(k) { out[k] = v }
        // The device ID is resolved to `master`/`device` below; host-device would otherwise
        // read `runtimeConfig.deviceID` as a PCI address of its own.
        if case .object(var runtime)? = out["runtimeConfig"], runtime["deviceID"] != nil {
            runtime["deviceID"] = nil
            out["runtimeConfig"] = .object(runtime)
        }
        for (k, v) in delegate { out[k] = v }
        out["type"] = .string(type)
        out["cniVersion"] = .string(version.description)
        out["name"] = .string(conf.name)
        if type == "host-device" { out["device"] = .string(device) } else { out["master"] = .string(device) }
        if let prev = conf.prevResult {
            do throws(CNIError) {
                let result = try CNIResult(json: prev, version: conf.cniVersion)
                out["prevResult"] = result.converted(to: version).json
            } catch {
                if !dropsBadPrevResult { throw error }
                out["prevResult"] = nil
            }
        }
        return .object(out)
    }
}
