#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNI
import JSON
import MappingFile

/// What ADD recorded for one attachment so that DEL, CHECK and GC work even when the
/// mapping file or the network has gone: one small JSON file per
/// `(network name, container ID, interface name)` under `<cacheDir>/attachments/`.
public struct CachedAttachment: Sendable, Hashable {
    /// The CNI network name (`name` of the configuration).
    public var networkName: String
    /// `CNI_CONTAINERID`.
    public var containerID: String
    /// `CNI_IFNAME`.
    public var ifname: String
    /// `CNI_NETNS` at ADD.
    public var netns: String
    /// The semantic network.
    public var network: String
    /// The delegate plugin type.
    public var delegateType: String
    /// The host device given to the delegate.
    public var device: String
    /// The mapping generation the device came from.
    public var generation: Int64
    /// The map's attachment defaults used at ADD.
    public var attachment: Attachment?

    /// Creates an entry.
    public init(networkName: String, containerID: String, ifname: String, netns: String, network: String,
                delegateType: String, device: String, generation: Int64, attachment: Attachment? = nil) {
        self.networkName = networkName
        self.containerID = containerID
        self.ifname = ifname
        self.netns = netns
        self.network = network
        self.delegateType = delegateType
        self.device = device
        self.generation = generation
        self.attachment = attachment
    }

    var json: JSONValue {
        var o: JSONValue = [
            "networkName": .string(networkName), "containerID": .string(containerID), "ifname": .string(ifname),
            "netns": .string(netns), "network": .string(network), "delegateType": .string(delegateType),
            "device": .string(device), "generation": .int(generation),
        ]
        if let attachment {
            var a: JSONValue = ["type": .string(attachment.type)]
            if let mode = attachment.mode { a["mode"] = .string(mode) }
            if let mtu = attachment.mtu { a["mtu"] = .int(mtu) }
            o["attachment"] = a
        }
        return o
    }

    init?(json: JSONValue) {
        guard let n = json["networkName"]?.stringValue, let c = json["containerID"]?.stringValue,
              let i = json["ifname"]?.stringValue, let t = json["delegateType"]?.stringValue,
              let d = json["device"]?.stringValue else { return nil }
        self.init(networkName: n, containerID: c, ifname: i, netns: json["netns"]?.stringValue ?? "",
                  network: json["network"]?.stringValue ?? "", delegateType: t, device: d,
                  generation: json["generation"]?.intValue ?? 0,
                  attachment: json["attachment"]?["type"]?.stringValue.map {
                      Attachment(type: $0, mode: json["attachment"]?["mode"]?.stringValue, mtu: json["attachment"]?["mtu"]?.intValue)
                  })
    }
}

/// The plugin's on-disk state under one directory (default `/var/lib/automagic`):
/// `attachments/` (one file per attachment), `versions/` (the spec versions each delegate
/// binary supports, keyed by its path and validated by its inode, size and mtime, so ADD
/// need not exec the delegate twice) and `lock` (shared by ADD/DEL/CHECK, exclusive for GC).
public struct AttachmentCache: Sendable {
    /// The root directory.
    public var directory: String

    /// Creates a cache rooted at `directory`.
    public init(directory: String) { self.directory = directory }

    var attachmentsDirectory: String { directory + "/attachments" }
    var versionsDirectory: String { directory + "/versions" }

    /// Creates the directories.
    public func prepare() throws(CNIError) {
        do {
            try AtomicFile.makeDirectories(attachmentsDirectory, mode: 0o700)
            try AtomicFile.makeDirectories(versionsDirectory, mode: 0o700)
        } catch {
            throw CNIError(.ioFailure, "failed to create cache directory '\(directory)': \(error)")
        }
    }

    /// Takes the cache lock (creating the directory if needed).
    public func lock(exclusive: Bool) throws(CNIError) -> FileLock {
        try prepare()
        do {
            return try FileLock(path: directory + "/lock", exclusive: exclusive)
        } catch {
            throw CNIError(.ioFailure, "\(error)")
        }
    }

    /// The file of one attachment. Components are percent-encoded so any interface name is safe.
    public func path(networkName: String, containerID: String, ifname: String) -> String {
        "\(attachmentsDirectory)/\(Self.encode(networkName))+\(Self.encode(containerID))+\(Self.encode(ifname)).json"
    }

    /// Reads an entry; `nil` when there is none (or it is unreadable: DEL must not fail on it).
    public func load(networkName: String, containerID: String, ifname: String) -> CachedAttachment? {
        let p = path(networkName: networkName, containerID: containerID, ifname: ifname)
        guard let bytes = try? AtomicFile.read(path: p), let json = try? JSONValue.parse(bytes) else { return nil }
        return CachedAttachment(json: json)
    }

    /// Writes an entry. In place and without fsync: the runtime never runs two operations for
    /// the same attachment at once, GC holds the lock exclusively, and a torn file after a crash
    /// reads as "no entry", where DEL falls back to the mapping file.
    public func store(_ entry: CachedAttachment) throws(CNIError) {
        let p = path(networkName: entry.networkName, containerID: entry.containerID, ifname: entry.ifname)
        do {
            try AtomicFile.writeInPlace(entry.json.serialized(), to: p, mode: 0o600)
        } catch {
            throw CNIError(.ioFailure, "failed to write attachment cache: \(error)")
        }
    }

    /// Removes an entry (missing is fine).
    public func remove(networkName: String, containerID: String, ifname: String) throws(CNIError) {
        do {
            try AtomicFile.remove(path: path(networkName: networkName, containerID: containerID, ifname: ifname))
        } catch {
            throw CNIError(.ioFailure, "failed to remove attachment cache entry: \(error)")
        }
    }

    /// All entries of `networkName` as `(containerID, ifname, entry or nil if unreadable)`.
    public func entries(networkName: String) throws(CNIError) -> [(containerID: String, ifname: String, entry: CachedAttachment?)] {
        let names: [String]
        do {
            names = try AtomicFile.listDirectory(attachmentsDirectory)
        } catch let e where e.isNotFound {
            return []
        } catch {
            throw CNIError(.ioFailure, "failed to list attachment cache: \(error)")
        }
        let prefix = Self.encode(networkName) + "+"
        var out: [(String, String, CachedAttachment?)] = []
        for name in names where name.hasPrefix(prefix) && name.hasSuffix(".json") {
            let parts = name.dropLast(5).split(separator: "+", omittingEmptySubsequences: false)
            guard parts.count == 3, let c = Self.decode(String(parts[1])), let i = Self.decode(String(parts[2])) else { continue }
            out.append((c, i, load(networkName: networkName, containerID: c, ifname: i)))
        }
        return out
    }

    // MARK: delegate versions

    /// The versions the delegate at `path` supports, from the cache when the binary is
    /// unchanged, else by asking it (VERSION) and caching the answer.
    public func delegateVersions(path: String, environment: InheritedEnvironment) throws(CNIError) -> [CNIVersion] {
        var st = stat()
        let identity: String? = stat(path, &st) == 0
            ? "\(st.st_dev):\(st.st_ino):\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec):\(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec)"
            : nil
        let file = "\(versionsDirectory)/\(Self.encode(path)).json"
        if let identity, let bytes = try? AtomicFile.read(path: file), let json = try? JSONValue.parse(bytes),
           json["identity"]?.stringValue == identity, let list = json["supportedVersions"]?.arrayValue {
            let versions = list.compactMap { $0.stringValue.flatMap(CNIVersion.init) }
            if !versions.isEmpty { return versions }
        }
        let versions = try Delegate.supportedVersions(path: path, environment: environment)
        if let identity {
            let json: JSONValue = ["path": .string(path), "identity": .string(identity),
                                   "supportedVersions": .array(versions.map { .string($0.description) })]
            // A cache that cannot be written only costs a VERSION exec next time.
            if (try? AtomicFile.makeDirectories(versionsDirectory, mode: 0o700)) != nil {
                _ = try? AtomicFile.write(json.serialized(), to: file, mode: 0o600, durable: false)
            }
        }
        return versions
    }

    // MARK: names

    static func encode(_ s: String) -> String {
        let hex: StaticString = "0123456789ABCDEF"
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        for b in s.utf8 {
            if (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F || (b == 0x2E && !out.isEmpty) {
                out.append(b)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex.utf8Start[Int(b >> 4)])
                out.append(hex.utf8Start[Int(b & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ s: String) -> String? {
        var bytes: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let b = it.popFirst() {
            if b == 0x25 {
                guard it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) else { return nil }
                bytes.append(v)
                it = it.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
