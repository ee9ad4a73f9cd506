import JSON

/// What the DRA kubelet plugin prepared for one `ResourceClaim`: which pods it is reserved for and
/// which of this node's devices the scheduler allocated to it. One JSON file per claim UID in the
/// DRA state folder (default `/run/automagic/dra/<claim UID>.json`), written atomically by
/// `automagic-device-plugin` in NodePrepareResources and removed in NodeUnprepareResources; the
/// `automagic` CNI plugin reads it to attach, for a `dra` network, exactly the device the pod got.
///
/// ```json
/// {"apiVersion": "automagic.dev/v1alpha1", "kind": "PreparedClaim",
///  "claim": {"namespace": "default", "name": "web-0-fast", "uid": "8d6c…"},
///  "pods": ["5f0e…"],
///  "devices": [{"request": "nic", "pool": "worker-1", "device": "pci-0000-3b-00-0",
///               "network": "fast", "interface": "ens3f0", "pciAddress": "0000:3b:00.0",
///               "mac": "3c:fd:fe:aa:bb:00"}]}
/// ```
public struct PreparedClaim: Sendable, Hashable {
    /// The record's `kind`.
    public static let kind = "PreparedClaim"

    /// The claim's namespace.
    public var namespace: String
    /// The claim's name.
    public var name: String
    /// The claim's UID (also the record's file name).
    public var uid: String
    /// The UIDs of the pods the claim is reserved for (`status.reservedFor` entries of resource `pods`).
    public var podUIDs: [String]
    /// The devices of driver `automagic.dev` allocated to the claim on this node.
    public var devices: [PreparedDevice]

    /// Creates a record.
    public init(namespace: String, name: String, uid: String, podUIDs: [String], devices: [PreparedDevice]) {
        self.namespace = namespace
        self.name = name
        self.uid = uid
        self.podUIDs = podUIDs
        self.devices = devices
    }
}

/// One allocated device of a ``PreparedClaim``.
public struct PreparedDevice: Sendable, Hashable {
    /// The claim's request the device was allocated for (`<request>/<subrequest>` with `firstAvailable`).
    public var request: String
    /// The resource pool (the node's name).
    public var pool: String
    /// The DRA device name (`pci-0000-3b-00-0`, `mac-02aabbccdd01`).
    public var device: String
    /// The semantic network: the request's DeviceClass name without `.automagic.dev`.
    public var network: String
    /// The host interface when the claim was prepared (`ens3f0`).
    public var interface: String
    /// The device's PCI address, when it has one.
    public var pciAddress: String?
    /// The device's MAC address, when known.
    public var mac: String?

    /// Creates a device entry.
    public init(request: String, pool: String, device: String, network: String, interface: String,
                pciAddress: String? = nil, mac: String? = nil) {
        self.request = request
        self.pool = pool
        self.device = device
        self.network = network
        self.interface = interface
        self.pciAddress = pciAddress
        self.mac = mac
    }
}

/// The folder of prepared-claim records: atomic writes, strict reads, and the lookup the CNI
/// plugin makes by pod UID and network.
///
/// ```swift
/// let store = PreparedClaimStore(directory: PreparedClaimStore.defaultDirectory)
/// try store.write(claim)                                   // NodePrepareResources
/// let found = try store.devices(pod: podUID, network: "fast")   // the CNI plugin
/// try store.remove(uid: claim.uid)                         // NodeUnprepareResources
/// ```
public struct PreparedClaimStore: Sendable {
    /// The default folder (device plugin flag `--dra-state-dir`, CNI configuration key `draStateDir`).
    public static let defaultDirectory = "/run/automagic/dra"

    /// The folder.
    public var directory: String

    /// A store in `directory`.
    public init(directory: String = Self.defaultDirectory) {
        self.directory = directory
    }

    /// The file of claim `uid`. UIDs are validated first: a name with `/` or a leading `.` could
    /// reach outside the folder or hide among temporary files.
    public func path(uid: String) throws(MappingFileError) -> String {
        guard Self.isValidUID(uid) else {
            throw .invalidField(path: directory, field: "claim uid", problem: "'\(uid)' is not a UID (letters, digits and '-' only, 1 to 128 characters)")
        }
        return directory + "/" + uid + ".json"
    }

    /// Writes (or replaces) the record of `claim` atomically and durably, creating the folder.
    public func write(_ claim: PreparedClaim) throws(MappingFileError) {
        let file = try path(uid: claim.uid)
        try AtomicFile.makeDirectories(directory)
        var bytes = claim.json.serialized(pretty: true)
        bytes.append(0x0A)
        try AtomicFile.write(bytes, to: file, mode: 0o644)
    }

    /// The record of claim `uid`, or nil when there is none.
    public func read(uid: String) throws(MappingFileError) -> PreparedClaim? {
        let file = try path(uid: uid)
        do {
            return try PreparedClaim(bytes: try AtomicFile.read(path: file), path: file)
        } catch let e where e.isNotFound {
            return nil
        }
    }

    /// Removes the record of claim `uid`; returns whether there was one.
    @discardableResult
    public func remove(uid: String) throws(MappingFileError) -> Bool {
        try AtomicFile.remove(path: try path(uid: uid))
    }

    /// The devices prepared for pod `pod` on `network`, over every claim reserved for the pod, in
    /// claim UID and then record order. Records that cannot be read are returned in `unreadable`
    /// (path and error) so the caller can name them when nothing was found.
    public func devices(pod: String, network: String) -> (found: [(claim: PreparedClaim, device: PreparedDevice)], unreadable: [MappingFileError]) {
        var found: [(claim: PreparedClaim, device: PreparedDevice)] = []
        var unreadable: [MappingFileError] = []
        let names = (try? AtomicFile.listDirectory(directory)) ?? []
        for name in names.sorted() where name.hasSuffix(".json") && !name.hasPrefix(".") {
            let file = directory + "/" + name
            let claim: PreparedClaim
            do {
                claim = try PreparedClaim(bytes: try AtomicFile.read(path: file), path: file)
            } catch {
                if !error.isNotFound { unreadable.append(error) }
                continue
            }
            guard claim.podUIDs.contains(pod) else { continue }
            for d in claim.devices where d.network == network { found.append((claim, d)) }
        }
        return (found, unreadable)
    }

    /// Kubernetes UIDs are RFC 4122 strings; anything made of letters, digits and `-` is accepted.
    static func isValidUID(_ uid: String) -> Bool {
        (1...128).contains(uid.utf8.count) && !uid.hasPrefix("-") && uid.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D
        }
    }
}

// MARK: - JSON

extension PreparedClaim {
    /// Decodes a record; `path` names the file in errors. Another `apiVersion` or `kind`, a missing
    /// or mistyped field is refused with the field named.
    public init(bytes: [UInt8], path: String) throws(MappingFileError) {
        let json: JSONValue
        do {
            json = try JSONValue.parse(bytes)
        } catch {
            throw .decodeFailed(path: path, cause: bytes.isEmpty ? "the file is empty" : "\(error) (truncated or not JSON?)")
        }
        guard case .object(let o) = json else {
            throw .decodeFailed(path: path, cause: "expected a JSON object, got \(json.typeName)")
        }
        typealias M = NodeNetworkMapping
        let apiVersion = o["apiVersion"]?.stringValue ?? "", kind = o["kind"]?.stringValue ?? ""
        guard apiVersion == M.currentAPIVersion, kind == Self.kind else {
            throw .invalidField(path: path, field: "kind", problem: "expected apiVersion '\(M.currentAPIVersion)' kind '\(Self.kind)', got '\(apiVersion)' '\(kind)'")
        }
        guard case .object(let c)? = o["claim"] else {
            throw .invalidField(path: path, field: "claim", problem: "must be an object")
        }
        namespace = try M.string(c, "namespace", field: "claim.namespace", path: path, required: true) ?? ""
        name = try M.string(c, "name", field: "claim.name", path: path, required: true) ?? ""
        uid = try M.string(c, "uid", field: "claim.uid", path: path, required: true) ?? ""
        podUIDs = try Self.strings(o["pods"], field: "pods", path: path)
        guard case .array(let items)? = o["devices"] else {
            throw .invalidField(path: path, field: "devices", problem: "must be an array")
        }
        var devices: [PreparedDevice] = []
        for (i, item) in items.enumerated() {
            let field = "devices[\(i)]"
            guard case .object(let d) = item else {
                throw .invalidField(path: path, field: field, problem: "must be an object, got \(item.typeName)")
            }
            let s = { (key: String, required: Bool) throws(MappingFileError) -> String? in
                try M.string(d, key, field: field + "." + key, path: path, required: required)
            }
            devices.append(PreparedDevice(
                request: try s("request", true) ?? "", pool: try s("pool", true) ?? "", device: try s("device", true) ?? "",
                network: try s("network", true) ?? "", interface: try s("interface", true) ?? "",
                pciAddress: try s("pciAddress", false), mac: try s("mac", false)))
        }
        self.devices = devices
    }

    static func strings(_ value: JSONValue?, field: String, path: String) throws(MappingFileError) -> [String] {
        guard case .array(let items)? = value else {
            throw .invalidField(path: path, field: field, problem: "must be an array of strings")
        }
        var out: [String] = []
        for (i, item) in items.enumerated() {
            guard let s = item.stringValue else {
                throw .invalidField(path: path, field: "\(field)[\(i)]", problem: "must be a string, got \(item.typeName)")
            }
            out.append(s)
        }
        return out
    }

    /// The record's JSON form.
    public var json: JSONValue {
        .object([
            "apiVersion": .string(NodeNetworkMapping.currentAPIVersion),
            "kind": .string(Self.kind),
            "claim": .object(["namespace": .string(namespace), "name": .string(name), "uid": .string(uid)]),
            "pods": .array(podUIDs.map(JSONValue.string)),
            "devices": .array(devices.map { d in
                var o: [String: JSONValue] = [
                    "request": .string(d.request), "pool": .string(d.pool), "device": .string(d.device),
                    "network": .string(d.network), "interface": .string(d.interface),
                ]
                if let p = d.pciAddress { o["pciAddress"] = .string(p) }
                if let m = d.mac { o["mac"] = .string(m) }
                return .object(o)
            }),
        ])
    }
}
