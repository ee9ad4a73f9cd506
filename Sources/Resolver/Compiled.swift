import AutomagicAPI
import KubeCore
import Synchronization

/// A validated `NetworkDeviceMap` with its expressions pre-compiled (regular expressions built,
/// CIDRs parsed, integer operands parsed, values canonicalised). Compile each map once and
/// resolve any number of nodes with it.
///
/// ```swift
/// let compiled = try CompiledMap(map)   // throws ResolverError.invalidMap with field paths
/// let result = Resolver.resolve(node: node, devices: devices, compiled: [compiled])
/// ```
public struct CompiledMap: Sendable {
    /// The map as given.
    public let map: NetworkDeviceMap
    /// The network's name (`metadata.name`).
    public var network: String { map.network }
    let rules: [CompiledRule]
    let select: SelectPolicy
    let exclusive: Bool
    /// Conflict priority: older maps first (`creationTimestamp`; a map not yet created is newest), then by name.
    let priority: Priority

    /// Validates and compiles `map`.
    /// - Throws: `ResolverError.invalidMap` listing every problem with its field path.
    public init(_ map: NetworkDeviceMap) throws(ResolverError) {
        var errors: [ValidationError] = []
        guard let rules = Resolver.compileRules(map, errors: &errors), errors.isEmpty else {
            throw .invalidMap(name: map.metadata.name ?? "", errors: errors)
        }
        self.map = map
        self.rules = rules
        self.select = map.spec.effectiveSelect
        self.exclusive = map.spec.isExclusive
        self.priority = Priority(created: map.metadata.creationTimestamp, name: map.metadata.name ?? "")
    }

    struct Priority: Comparable, Sendable {
        var created: String?
        var name: String
        static func < (a: Priority, b: Priority) -> Bool {
            switch (a.created, b.created) {
            case let (x?, y?) where x != y: return x < y  // RFC 3339 UTC timestamps as Kubernetes writes them sort as text
            case (.some, nil): return true
            case (nil, .some): return false
            default: return a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
            }
        }
    }
}

struct CompiledRule: Sendable {
    let index: Int
    let name: String?
    let nodeSelector: LabelSelector?
    let expressions: [CompiledExpression]
    var ref: RuleRef { RuleRef(index: index, name: name) }
}

struct CompiledExpression: Sendable {
    enum Op: Sendable {
        case `in`(ValueSet)
        case notIn(ValueSet)
        case exists
        case doesNotExist
        case gt(Int)
        case lt(Int)
        case matches([CompiledRegex])
        case inCIDR([CIDR])
    }
    let field: DeviceField
    let ordinal: Int
    let op: Op
    let source: DeviceMatchExpression

    /// Whether the expression holds for a device whose field has `values` (canonical strings; empty = absent).
    func holds(_ values: [String]) -> Bool {
        switch op {
        case .in(let set): return values.contains { set.contains($0) }
        case .notIn(let set): return !values.contains { set.contains($0) }
        case .exists: return !values.isEmpty
        case .doesNotExist: return values.isEmpty
        case .gt(let n): return values.contains { Int($0).map { $0 > n } ?? false }
        case .lt(let n): return values.contains { Int($0).map { $0 < n } ?? false }
        case .matches(let regexes): return values.contains { v in regexes.contains { $0.matches(v) } }
        case .inCIDR(let cidrs):
            return values.contains { v in
                guard let a = IPAddress(interfaceAddress: v) else { return false }
                return cidrs.contains { $0.contains(a) }
            }
        }
    }

    /// The expression as shown in explanations: `driver In [ice]`, `speedMbps Gt 10000`, `lldp.systemName Exists`.
    var text: String {
        let key = source.key, op = source.operator.rawValue
        switch self.op {
        case .exists, .doesNotExist: return "\(key) \(op)"
        case .gt(let n), .lt(let n): return "\(key) \(op) \(n)"
        default: return "\(key) \(op) [\((source.values ?? []).joined(separator: ", "))]"
        }
    }

    /// Why the expression fails for device `device` whose field has `values`:
    /// `driver In [ice]: device ens5f1 has i40e`.
    func failure(device: String, values: [String]) -> String {
        let key = source.key
        let has: String
        if values.isEmpty {
            has = "no \(key)"
        } else {
            let shown = field.isList ? "[\(values.joined(separator: ", "))]" : values[0]
            switch op {
            case .gt, .lt:
                has = values.contains(where: { Int($0) != nil }) ? shown : "non-numeric \(key) \(shown)"
            case .inCIDR where !values.contains(where: { IPAddress(interfaceAddress: $0) != nil }):
                has = "no IP address in \(key) (\(shown))"
            default:
                has = shown
            }
        }
        return "\(text): device \(device) has \(has)"
    }
}

/// A small set of canonical strings: linear search when short, hashing when long.
struct ValueSet: Sendable {
    let list: [String]
    let set: Set<String>?
    init(_ values: [String]) {
        list = values
        set = values.count > 8 ? Set(values) : nil
    }
    func contains(_ v: String) -> Bool {
        if let set { return set.contains(v) }
        return list.contains(v)
    }
}

/// A regular expression (Swift `Regex` syntax, unanchored search: anchor with `^…$`) with a
/// bounded memo of recent answers, because the same device names and drivers recur on
/// thousands of nodes during a controller resync.
final class CompiledRegex: Sendable {
    let pattern: String
    private let regex: Mutex<Regex<AnyRegexOutput>>
    private let memo = Mutex<[String: Bool]>([:])
    static let memoLimit = 4096

    init(_ pattern: String) throws {
        self.pattern = pattern
        self.regex = Mutex(try Regex(pattern))
    }

    func matches(_ value: String) -> Bool {
        if let known = memo.withLock({ $0[value] }) { return known }
        let result = regex.withLock { (try? $0.firstMatch(in: value)) != nil }
        memo.withLock {
            if $0.count >= Self.memoLimit { $0.removeAll(keepingCapacity: true) }
            $0[value] = result
        }
        return result
    }
}
