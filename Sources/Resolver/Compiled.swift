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
    public var map: NetworkDeviceMap { storage.map }
    /// The network's name (`metadata.name`).
    public var network: String { storage.network }
    var rules: [CompiledRule] { storage.rules }
    var select: SelectPolicy { storage.select }
    var exclusive: Bool { storage.exclusive }
    /// Conflict priority: older maps first (`creationTimestamp`; a map not yet created is newest), then by name.
    var priority: Priority { storage.priority }
    let storage: Storage

    final class Storage: Sendable {
        let map: NetworkDeviceMap
        let network: String
        let rules: [CompiledRule]
        let select: SelectPolicy
        let exclusive: Bool
        let priority: Priority
        init(map: NetworkDeviceMap, rules: [CompiledRule]) {
            self.map = map
            self.network = map.network
            self.rules = rules
            self.select = map.spec.effectiveSelect
            self.exclusive = map.spec.isExclusive
            self.priority = Priority(created: map.metadata.creationTimestamp, name: map.metadata.name ?? "")
        }
    }

    /// Validates and compiles `map`.
    /// - Throws: `ResolverError.invalidMap` listing every problem with its field path.
    public init(_ map: NetworkDeviceMap) throws(ResolverError) {
        var interned: [DeviceMatchExpression: CompiledExpression] = [:]
        try self.init(map, interned: &interned)
    }

    init(_ map: NetworkDeviceMap, interned: inout [DeviceMatchExpression: CompiledExpression]) throws(ResolverError) {
        var errors: [ValidationError] = []
        guard let rules = Resolver.compileRules(map, errors: &errors, interned: &interned), errors.isEmpty else {
            throw .invalidMap(name: map.metadata.name ?? "", errors: errors)
        }
        storage = Storage(map: map, rules: rules)
    }

    struct Priority: Comparable, Sendable {
        var created: String?
        var name: String
        static func < (a: Priority, b: Priority) -> Bool {
            switch (a.created, b.created) {
            case let (x?, y?) where x != y: return x < y  // RFC 3339 UTC timestamps as Kubernetes writes them sort as text
            case (.some, nil): return true
            case (nil, .some): return false
            default: return a.name < b.name
            }
        }
    }
}

final class CompiledRule: Sendable {
    let index: Int
    let name: String?
    let nodeSelector: LabelSelector?
    let expressions: [CompiledExpression]
    let ref: RuleRef
    init(index: Int, name: String?, nodeSelector: LabelSelector?, expressions: [CompiledExpression]) {
        self.index = index
        self.name = name
        self.nodeSelector = nodeSelector
        self.expressions = expressions
        self.ref = RuleRef(index: index, name: name)
    }
}

final class CompiledExpression: Sendable {
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
    /// The expression as shown in explanations: `driver In [ice]`, `speedMbps Gt 10000`, `lldp.systemName Exists`.
    let text: String

    init(field: DeviceField, ordinal: Int, op: Op, source: DeviceMatchExpression) {
        self.field = field
        self.ordinal = ordinal
        self.op = op
        self.source = source
        self.text = Self.render(op: op, source: source)
    }

    /// Whether the expression holds for device `d` of `table`.
    func holds(_ table: inout DeviceTable, _ d: Int) -> Bool {
        switch op {
        case .in(let set):
            for v in table.values(d, field, ordinal: ordinal) where set.contains(v) { return true }
            return false
        case .notIn(let set):
            for v in table.values(d, field, ordinal: ordinal) where set.contains(v) { return false }
            return true
        case .exists: return !table.values(d, field, ordinal: ordinal).isEmpty
        case .doesNotExist: return table.values(d, field, ordinal: ordinal).isEmpty
        case .gt(let n):
            for v in table.integers(d, field, ordinal: ordinal) where v > n { return true }
            return false
        case .lt(let n):
            for v in table.integers(d, field, ordinal: ordinal) where v < n { return true }
            return false
        case .matches(let regexes):
            for v in table.values(d, field, ordinal: ordinal) {
                for r in regexes where r.matches(v) { return true }
            }
            return false
        case .inCIDR(let cidrs):
            for a in table.addresses(d, field, ordinal: ordinal) {
                for c in cidrs where c.contains(a) { return true }
            }
            return false
        }
    }

    static func render(op: Op, source: DeviceMatchExpression) -> String {
        let key = source.key, opName = source.operator.rawValue
        switch op {
        case .exists, .doesNotExist: return "\(key) \(opName)"
        case .gt(let n), .lt(let n): return "\(key) \(opName) \(n)"
        default: return "\(key) \(opName) [\((source.values ?? []).joined(separator: ", "))]"
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
