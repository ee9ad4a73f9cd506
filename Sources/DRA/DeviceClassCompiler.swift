import AutomagicAPI
import JSON
import KubeCore
import Resolver

/// A NetworkDeviceMap compiled to the CEL selectors of its DeviceClass `<network>.automagic.dev`.
public struct CompiledDeviceClass: Sendable, Hashable {
    /// The network (the map's name).
    public var network: String
    /// `<network>.automagic.dev`.
    public var className: String
    /// The CEL selectors, all of which must hold (`spec.selectors[].cel.expression`); empty when
    /// `refusal` is set.
    public var selectors: [String]
    /// Why no class can be rendered without selecting a device the resolver would reject; nil when
    /// the class is rendered.
    public var refusal: String?
    /// What the class does not express (each a sentence for the map's `DeviceClass` condition and
    /// for `kubectl describe`): the resolver's preferences, rules left out, …
    public var notes: [String]

    /// The DeviceClass object (`resource.k8s.io/v1`), or nil when refused. `owner`, when given,
    /// becomes the controlling owner reference (the map), so the class goes with the map.
    public func deviceClass(owner: OwnerReference? = nil) -> JSONValue? {
        guard refusal == nil else { return nil }
        var metadata: [String: JSONValue] = [
            "name": .string(className),
            "labels": .object([DeviceClassCompiler.managedByLabel: .string(DeviceClassCompiler.managedByValue), DeviceClassCompiler.networkLabel: .string(network)]),
        ]
        if let owner, let value = try? JSONValue(encoding: owner) { metadata["ownerReferences"] = .array([value]) }
        return .object([
            "apiVersion": "resource.k8s.io/v1",
            "kind": "DeviceClass",
            "metadata": .object(metadata),
            "spec": .object(["selectors": .array(selectors.map { .object(["cel": .object(["expression": .string($0)])]) })]),
        ])
    }
}

/// Compiles a NetworkDeviceMap into DeviceClass CEL that selects, on every node, exactly the
/// devices the resolver offers the (exclusive) network there — its candidates not held by another
/// network — or fewer, never more (docs/dra.md, "What the DeviceClass means").
///
/// - A device is selected when some rule applying to its node matches it: the rules ORed, each
///   rule's expressions ANDed. The resolver's *preference* among them (rule order, `select:
///   First`/`HighestSpeed`) has no CEL equivalent: the scheduler takes any; a note says so.
/// - Node selectors (the map's and each rule's): a class cannot see node labels, so each is
///   evaluated here against `nodes` and compiled to the node names it selects
///   (`device.attributes["automagic.dev"].node in [...]`); re-render when nodes or labels change.
/// - `held`: per node, the interface names of devices that another network holds there (from the
///   resolver: candidates minus available devices); they are excluded by (node, name).
/// - An expression with no exact CEL equivalent (a non-portable `Matches` pattern) makes its rule
///   select nothing (a note names it): fewer devices, never a wrong one.
/// - `select: Fail` cannot be expressed (whether a device qualifies depends on how many others
///   match): refused. So is a class whose selector exceeds the 10 KiB CEL limit.
///
/// ```swift
/// let compiled = DeviceClassCompiler.compile(map, nodes: nodes)
/// if let dc = compiled.deviceClass(owner: ref) { try await client.apply(dc) }
/// ```
public enum DeviceClassCompiler {
    /// Label on rendered DeviceClasses naming the network.
    public static let networkLabel = "automagic.dev/network"
    /// Label on every DeviceClass the controller renders, with ``managedByValue`` (as on its NADs).
    public static let managedByLabel = "app.kubernetes.io/managed-by"
    /// Value of ``managedByLabel``.
    public static let managedByValue = "automagic"
    /// The label selector of every rendered DeviceClass.
    public static var managedSelector: String { "\(managedByLabel)=\(managedByValue)" }
    /// Longest CEL selector expression the API accepts (10 KiB).
    public static let maxExpressionLength = 10 * 1024
    /// `device.attributes["automagic.dev"]`.
    static let attrs = #"device.attributes["automagic.dev"]"#

    /// Compiles `map`. `nodes` is needed only when the map or a rule has a node selector (nil: no
    /// node known, such rules select nothing). `held`: node name → interface names held by other networks.
    public static func compile(_ map: NetworkDeviceMap, nodes: [NodeInfo]? = nil, held: [String: Set<String>] = [:]) -> CompiledDeviceClass {
        var out = CompiledDeviceClass(
            network: map.network, className: DRADriver.deviceClassName(network: map.network), selectors: [], refusal: nil, notes: [])
        let problems = Resolver.validate(map)
        if !problems.isEmpty {
            out.refusal = "the map is invalid: " + problems.map(\.description).joined(separator: "; ")
            return out
        }
        let spec = map.spec
        if spec.effectiveSelect == .fail {
            out.refusal = "select: Fail has no DeviceClass equivalent (whether a device qualifies depends on how many others match on its node)"
            return out
        }
        var rules: [String] = []
        var dropped: [String] = []
        for (i, rule) in spec.rules.enumerated() {
            let ref = rule.name ?? "rules[\(i)]"
            var terms: [String] = []
            if spec.nodeSelector != nil || rule.nodeSelector != nil {
                let names = (nodes ?? []).filter { n in
                    (spec.nodeSelector?.matches(n.labels) ?? true) && (rule.nodeSelector?.matches(n.labels) ?? true)
                }.map(\.name).sorted()
                if names.isEmpty {
                    dropped.append("\(ref) applies to no node")
                    continue
                }
                terms.append("(has(\(attrs).node) && \(attrs).node in [\(names.map(literal).joined(separator: ", "))])")
            }
            var unsupported: String? = nil
            for e in rule.devices.matchExpressions {
                switch expression(e) {
                case .success(let cel): terms.append(cel)
                case .failure(let why): unsupported = unsupported ?? "\(ref) is left out: \(why.reason)"
                }
            }
            if let unsupported {
                dropped.append(unsupported)
                continue
            }
            rules.append(terms.count == 1 ? terms[0] : "(" + terms.joined(separator: " && ") + ")")
        }
        out.notes += dropped
        if rules.isEmpty {
            out.refusal = "no rule can be expressed in CEL" + (dropped.isEmpty ? "" : " (" + dropped.joined(separator: "; ") + ")")
            return out
        }
        if spec.rules.count > 1 || spec.effectiveSelect == .highestSpeed {
            out.notes.append(spec.effectiveSelect == .highestSpeed
                ? "the scheduler may take any matching device: rule order and select: HighestSpeed are preferences a DeviceClass cannot express"
                : "the scheduler may take any matching device: rule order is a preference a DeviceClass cannot express")
        }
        out.selectors.append(#"device.driver == "automagic.dev""#)
        out.selectors.append(rules.count == 1 ? rules[0] : rules.joined(separator: " || "))
        let exclusions = held.filter { !$0.value.isEmpty }.flatMap { node, names in names.map { node + "/" + $0 } }.sorted()
        if !exclusions.isEmpty {
            out.selectors.append("has(\(attrs).node) && !((\(attrs).node + \"/\" + \(attrs).name) in [\(exclusions.map(literal).joined(separator: ", "))])")
        }
        if let long = out.selectors.first(where: { $0.utf8.count > maxExpressionLength }) {
            out.selectors = []
            out.refusal = "the compiled selector is \(long.utf8.count) bytes, over the \(maxExpressionLength)-byte CEL limit (too many node names?)"
        }
        return out
    }

    /// The CEL of one match expression (an attribute missing from a truncated device is unknown:
    /// nothing holds), or why it has none.
    static func expression(_ e: DeviceMatchExpression) -> Result<String, Unsupported> {
        guard let field = DeviceField(rawValue: e.key) else { return .failure(Unsupported("unknown key \(e.key)")) }
        let values = e.values ?? []
        let names = DRAAttributes.attributeNames(of: field).map { "\(attrs).\($0)" }
        let first = names[0]
        let has = "has(\(first))"
        let notTruncated = "!(has(\(attrs).truncated) && \(attrs).truncated)"
        // Absent: for an omittable field, absent only counts as absent when nothing was left out.
        let absent = DRAAttributes.canBeOmitted(field) ? "(!\(has) && \(notTruncated))" : "!\(has)"
        let intPattern = literal("^[+-]?[0-9]{1,18}$")
        let asciiPattern = literal("^[ -~]*$")

        /// `pred(x)` over every element (lists) or the value (scalars).
        func some(_ pred: (String) -> String) -> String {
            if field.isList {
                let parts = names.map { n in "(has(\(n)) && \(n).split(\",\").exists(x, x != \"\" && \(pred("x"))))" }
                return parts.count == 1 ? parts[0] : "(" + parts.joined(separator: " || ") + ")"
            }
            // As the resolver sees it: integers in decimal, booleans `true`/`false`.
            let value: String
            if DRAAttributes.isInteger(field) {
                value = "string(\(first))"
            } else if DRAAttributes.isBoolean(field) {
                value = "(\(first) ? \"true\" : \"false\")"
            } else {
                value = first
            }
            return "(\(has) && \(pred(value)))"
        }

        switch e.operator {
        case .exists:
            return .success(has)
        case .doesNotExist:
            return .success(absent)
        case .in, .notIn:
            let canonical = canonicalValues(values, field: field)
            let member: String
            if field.isList {
                let usable = canonical.filter { !$0.isEmpty && !$0.contains(",") }
                if usable.isEmpty {
                    member = "false"
                } else {
                    let parts = names.map { n in
                        "(has(\(n)) && (" + usable.map { "\(n).contains(\(literal("," + $0 + ",")))" }.joined(separator: " || ") + "))"
                    }
                    member = parts.count == 1 ? parts[0] : "(" + parts.joined(separator: " || ") + ")"
                }
            } else if DRAAttributes.isInteger(field) {
                member = "(\(has) && \(first) in [\(canonical.joined(separator: ", "))])"
            } else if DRAAttributes.isBoolean(field) {
                member = "(\(has) && \(first) in [\(canonical.joined(separator: ", "))])"
            } else {
                member = "(\(has) && \(first) in [\(canonical.map(literal).joined(separator: ", "))])"
            }
            if e.operator == .in { return .success(member) }
            return .success("(\(has) ? !\(member) : \(notTruncated))")
        case .gt, .lt:
            guard let n = values.first.flatMap({ Int($0) }) else { return .failure(Unsupported("\(e.key) \(e.operator) needs one integer")) }
            let op = e.operator == .gt ? ">" : "<"
            if DRAAttributes.isInteger(field) { return .success("(\(has) && \(first) \(op) \(n))") }
            if DRAAttributes.isBoolean(field) { return .success("false") }
            return .success(some { "\($0).matches(\(intPattern)) && int(\($0)) \(op) \(n)" })
        case .matches:
            for p in values {
                if let why = PortableRegex.problem(p) {
                    return .failure(Unsupported("\(e.key) Matches '\(p)': \(why)"))
                }
            }
            return .success(some { v in
                let alternatives = values.map { "\(v).matches(\(literal($0)))" }.joined(separator: " || ")
                return DRAAttributes.isInteger(field) || DRAAttributes.isBoolean(field)
                    ? "(\(alternatives))" : "\(v).matches(\(asciiPattern)) && (\(alternatives))"
            })
        case .inCIDR:
            if DRAAttributes.isInteger(field) || DRAAttributes.isBoolean(field) { return .success("false") }
            var cidrs: [String] = []
            for v in values {
                guard let c = CIDR(v) else { return .failure(Unsupported("'\(v)' is not a CIDR")) }
                cidrs.append(c.description)
            }
            return .success(some { v in
                let inIP = cidrs.map { "cidr(\(literal($0))).containsIP(ip(\(v)))" }.joined(separator: " || ")
                let inCIDR = cidrs.map { "cidr(\(literal($0))).containsIP(cidr(\(v)).ip())" }.joined(separator: " || ")
                return "(isCIDR(\(v)) ? (\(inCIDR)) : (isIP(\(v)) && (\(inIP))))"
            })
        default:
            return .failure(Unsupported("operator \(e.operator) is unknown"))
        }
    }

    /// Operand values as the resolver compares them: integers in decimal, booleans lower-case,
    /// case-insensitive fields lower-case; values the resolver refuses are dropped (validation
    /// refuses the map before this).
    static func canonicalValues(_ values: [String], field: DeviceField) -> [String] {
        var out: [String] = []
        for v in values {
            switch field.valueType {
            case .integer: if let i = Int(v) { out.append(String(i)) }
            case .boolean:
                let l = v.lowercased()
                if l == "true" || l == "false" { out.append(l) }
            default: out.append(field.isCaseInsensitive ? v.lowercased() : v)
            }
        }
        return out
    }

    /// A CEL string literal: double-quoted; `\`, `"` and everything outside printable ASCII escaped.
    public static func literal(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case " "..."~": out.unicodeScalars.append(u)
            default:
                let hex = String(u.value, radix: 16)
                out += u.value <= 0xFFFF
                    ? "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                    : "\\U" + String(repeating: "0", count: 8 - hex.count) + hex
            }
        }
        return out + "\""
    }

    /// Why an expression has no exact CEL equivalent.
    struct Unsupported: Error, Sendable {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }
}
