import AutomagicAPI

/// Natural order of device names: runs of digits compare as numbers, so `eno2` < `eno10` and
/// `ens5f1` < `ens5f10`; everything else compares byte-wise. Names equal in natural order (like
/// `eth01` and `eth1`) fall back to plain byte order, so the order is total and deterministic.
public enum NaturalOrder {
    /// Whether `a` sorts before `b`.
    public static func less(_ a: String, _ b: String) -> Bool {
        let result = compare(Array(a.utf8), Array(b.utf8))
        if result != 0 { return result < 0 }
        return Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8))
    }

    /// Sorts names in natural order.
    public static func sorted(_ names: some Sequence<String>) -> [String] {
        names.sorted(by: less)
    }

    /// Devices sorted by name in natural order (each name's bytes extracted once).
    static func sortedByName(_ devices: [NetworkDevice]) -> [NetworkDevice] {
        let keys = devices.map { Array($0.name.utf8) }
        let order = devices.indices.sorted { a, b in
            let c = compare(keys[a], keys[b])
            return c != 0 ? c < 0 : keys[a].lexicographicallyPrecedes(keys[b])
        }
        return order.map { devices[$0] }
    }

    static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }

    /// -1, 0 or 1.
    static func compare(_ a: [UInt8], _ b: [UInt8]) -> Int {
        var i = 0, j = 0
        while i < a.count && j < b.count {
            if isDigit(a[i]) && isDigit(b[j]) {
                var i2 = i, j2 = j
                while i2 < a.count && isDigit(a[i2]) { i2 += 1 }
                while j2 < b.count && isDigit(b[j2]) { j2 += 1 }
                // Strip leading zeros, then the longer number is bigger, else compare digit-wise.
                var si = i, sj = j
                while si < i2 - 1 && a[si] == 48 { si += 1 }
                while sj < j2 - 1 && b[sj] == 48 { sj += 1 }
                let la = i2 - si, lb = j2 - sj
                if la != lb { return la < lb ? -1 : 1 }
                var k = 0
                while k < la {
                    if a[si + k] != b[sj + k] { return a[si + k] < b[sj + k] ? -1 : 1 }
                    k += 1
                }
                i = i2
                j = j2
            } else {
                if a[i] != b[j] { return a[i] < b[j] ? -1 : 1 }
                i += 1
                j += 1
            }
        }
        if i < a.count { return 1 }
        if j < b.count { return -1 }
        return 0
    }
}
