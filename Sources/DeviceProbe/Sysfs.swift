import Glibc
import HardwareAddresses

/// PCI facts read from sysfs.
struct PCIInfo: Sendable, Equatable {
    var address: String
    var vendorID: String?
    var deviceID: String?
    var numaNode: Int?
    var totalVFs: Int?
    var numVFs: Int?
    /// PCI address of the PF when this function is a VF.
    var physfn: String?
}

/// Reads sysfs below one host root (`/` in production, a fixture tree in tests),
/// the way node-feature-discovery's hostpath does. Every path is built from
/// validated components (interface names without `/`, PCI addresses checked).
struct Sysfs: Sendable {
    let root: String

    init(root: String) {
        var r = root
        while r.count > 1, r.hasSuffix("/") { r.removeLast() }
        self.root = r == "/" ? "" : r
    }

    func path(_ rel: String) -> String { root + rel }

    /// The trimmed content of a small text file, or nil.
    func read(_ absolute: String) -> String? {
        let fd = open(absolute, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard n >= 0 else { return nil }
        var s = String(decoding: buf[0..<n], as: UTF8.self)
        while let last = s.last, last.isWhitespace { s.removeLast() }
        return s
    }

    func readInt(_ absolute: String) -> Int? {
        guard let s = read(absolute) else { return nil }
        if s.hasPrefix("0x") { return Int(s.dropFirst(2), radix: 16) }
        return Int(s)
    }

    /// The target of a symbolic link, as a path below the same root, or nil.
    func resolveLink(_ absolute: String) -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBufferPointer { readlink(absolute, $0.baseAddress!, $0.count - 1) }
        guard n > 0 else { return nil }
        let target = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var parts: [Substring]
        if target.hasPrefix("/") {
            parts = []
        } else {
            // Relative to the link's directory, expressed without the root prefix.
            let rel = absolute.dropFirst(root.count)
            parts = rel.split(separator: "/", omittingEmptySubsequences: true)
            parts.removeLast()
        }
        for comp in target.split(separator: "/", omittingEmptySubsequences: true) {
            if comp == "." { continue }
            if comp == ".." {
                if !parts.isEmpty { parts.removeLast() }
                continue
            }
            parts.append(comp)
        }
        return root + "/" + parts.joined(separator: "/")
    }

    /// `0x8086` → `8086` (the form lspci and node-feature-discovery print).
    static func bareHex(_ s: String) -> String {
        (s.hasPrefix("0x") || s.hasPrefix("0X") ? String(s.dropFirst(2)) : s).lowercased()
    }

    static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && name.utf8.count < 256
    }

    /// The resolved `device` directory of an interface, but only when sysfs shows the
    /// same interface (sysfs shows the namespace it was mounted in, which may differ
    /// from the one being probed: the ifindex must match).
    func deviceDirectory(interface name: String, ifindex: Int) -> String? {
        guard Sysfs.isSafeName(name) else { return nil }
        let base = path("/sys/class/net/\(name)")
        guard readInt(base + "/ifindex") == ifindex else { return nil }
        return resolveLink(base + "/device")
    }

    /// The PCI address owning a device directory: the directory itself or one of its
    /// two nearest ancestors (virtio devices hang below their PCI function).
    func pciAddress(deviceDirectory dir: String) -> String? {
        var current = Substring(dir)
        for _ in 0..<3 {
            let name = String(current.split(separator: "/").last ?? "")
            if PCIAddress.isCanonical(name) { return name }
            guard let slash = current.lastIndex(of: "/"), slash > current.startIndex else { return nil }
            current = current[..<slash]
        }
        return nil
    }

    /// Vendor/device IDs, NUMA node and SR-IOV facts of a PCI function.
    func pciInfo(address: String) -> PCIInfo? {
        guard PCIAddress.isCanonical(address) else { return nil }
        let dir = path("/sys/bus/pci/devices/\(address)")
        var info = PCIInfo(address: address)
        info.vendorID = read(dir + "/vendor").map(Sysfs.bareHex)
        info.deviceID = read(dir + "/device").map(Sysfs.bareHex)
        if let numa = readInt(dir + "/numa_node"), numa >= 0 { info.numaNode = numa }
        info.totalVFs = readInt(dir + "/sriov_totalvfs")
        info.numVFs = readInt(dir + "/sriov_numvfs")
        if let pf = resolveLink(dir + "/physfn") {
            let name = String(pf.split(separator: "/").last ?? "")
            if PCIAddress.isCanonical(name) { info.physfn = name }
        }
        return info
    }

    /// Interface names sysfs lists for a PCI function (its `net/` directory).
    func interfaceNames(pciAddress address: String) -> [String] {
        guard PCIAddress.isCanonical(address), let dir = opendir(path("/sys/bus/pci/devices/\(address)/net")) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}
