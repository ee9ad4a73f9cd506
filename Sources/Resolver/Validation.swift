import AutomagicAPI
import KubeCore

/// One problem in a `NetworkDeviceMap`, with the path of the offending field
/// (`spec.rules[0].devices.matchExpressions[1].values[0]`).
public struct ValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Path of the field, in the API server's notation.
    public var field: String
    /// What is wrong with it.
    public var message: String

    /// An error at `field`.
    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    /// `field: message`.
    public var description: String { "\(field): \(message)" }
}

/// The Resolver module's error.
public enum ResolverError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A map failed validation while compiling; carries every problem found.
    case invalidMap(name: String, errors: [ValidationError])

    public var description: String {
        switch self {
        case .invalidMap(let name, let errors):
            "failed to compile NetworkDeviceMap '\(name)': " + errors.map(\.description).joined(separator: "; ")
        }
    }
}

/// Limits shared by validation and the CRD schema.
public enum MapLimits {
    /// Most rules per map.
    public static let maxRules = 32
    /// Most match expressions per rule.
    public static let maxExpressions = 16
    /// Most values per expression.
    public static let maxValues = 64
    /// Longest value string.
    public static let maxValueLength = 256
    /// Most namespaces in `networkAttachmentDefinition.namespaces`.
    public static let maxNamespaces = 256
    /// Smallest and largest `attachment.mtu`.
    public static let mtuRange = 68...65535
}

extension Resolver {
    /// Every problem in `map`, each with its field path; empty when the map is valid.
    ///
    /// Checks what the CRD schema checks (so objects that bypassed it are caught) and what a
    /// schema cannot: regular expressions compile, CIDRs parse, integer operands are integers,
    /// operand counts fit the operator, modes fit the attachment type, `host-device` is exclusive.
    ///
    /// ```swift
    /// for problem in Resolver.validate(map) { print(problem) }
    /// // spec.rules[0].devices.matchExpressions[0].values[0]: invalid regular expression '(': …
    /// ```
    public static func validate(_ map: NetworkDeviceMap) -> [ValidationError] {
        var errors: [ValidationError] = []
        _ = compileRules(map, errors: &errors)
        return errors
    }

    static func isDNSLabel(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard !b.isEmpty, b.count <= 63 else { return false }
        func alnum(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 48 && c <= 57) }
        guard alnum(b[0]), alnum(b[b.count - 1]) else { return false }
        return b.allSatisfy { alnum($0) || $0 == 45 }
    }

    static func validateSelector(_ selector: LabelSelector?, path: String, errors: inout [ValidationError]) {
        guard let selector else { return }
        for (key, value) in (selector.matchLabels ?? [:]).sorted(by: { $0.key < $1.key }) {
            if let problem = LabelSyntax.keyError(key) {
                errors.append(.init(field: "\(path).matchLabels", message: "invalid label key '\(key)': \(problem)"))
            }
            if let problem = LabelSyntax.valueError(value) {
                errors.append(.init(field: "\(path).matchLabels[\(key)]", message: "invalid label value '\(value)': \(problem)"))
            }
        }
        for (i, r) in (selector.matchExpressions ?? []).enumerated() {
            let p = "\(path).matchExpressions[\(i)]"
            if let problem = LabelSyntax.keyError(r.key) {
                errors.append(.init(field: "\(p).key", message: "invalid label key '\(r.key)': \(problem)"))
            }
            let op = labelOperatorName(r)
            let count = r.values?.count ?? 0
            switch op {
            case "In", "NotIn":
                if count == 0 { errors.append(.init(field: "\(p).values", message: "must be non-empty when operator is \(op)")) }
            case "Exists", "DoesNotExist":
                if count > 0 { errors.append(.init(field: "\(p).values", message: "must be empty when operator is \(op)")) }
            default:
                errors.append(.init(field: "\(p).operator", message: "unsupported value '\(op)' (supported: In, NotIn, Exists, DoesNotExist)"))
            }
        }
    }

    /// Validates and compiles the rules; nil when there were errors (appended to `errors`).
    static func compileRules(_ map: NetworkDeviceMap, errors: inout [ValidationError]) -> [CompiledRule]? {
        var interned: [DeviceMatchExpression: CompiledExpression] = [:]
        return compileRules(map, errors: &errors, interned: &interned)
    }

    /// Validates and compiles the rules, sharing one compiled expression between identical
    /// expressions (of this and earlier maps in `interned`), so a node evaluates each once.
    static func compileRules(
        _ map: NetworkDeviceMap, errors: inout [ValidationError], interned: inout [DeviceMatchExpression: CompiledExpression]
    ) -> [CompiledRule]? {
        let start = errors.count
        let name = map.metadata.name ?? ""
        if name.isEmpty {
            errors.append(.init(field: "metadata.name", message: "required: the network's name"))
        } else if !isDNSLabel(name) {
            errors.append(.init(field: "metadata.name", message: "'\(name)' is not a DNS-1123 label (lower-case alphanumerics and '-', at most 63 characters): it becomes a node label key and a NetworkAttachmentDefinition name"))
        }
        let spec = map.spec
        validateSelector(spec.nodeSelector, path: "spec.nodeSelector", errors: &errors)
        if spec.rules.isEmpty {
            errors.append(.init(field: "spec.rules", message: "must have at least 1 rule"))
        } else if spec.rules.count > MapLimits.maxRules {
            errors.append(.init(field: "spec.rules", message: "must have at most \(MapLimits.maxRules) rules, has \(spec.rules.count)"))
        }
        var compiled: [CompiledRule] = []
        var ruleNames: [String: Int] = [:]
        for (i, rule) in spec.rules.enumerated() {
            let p = "spec.rules[\(i)]"
            if let rn = rule.name {
                if !isDNSLabel(rn) {
                    errors.append(.init(field: "\(p).name", message: "'\(rn)' is not a DNS-1123 label"))
                } else if let other = ruleNames[rn] {
                    errors.append(.init(field: "\(p).name", message: "duplicate rule name '\(rn)' (also spec.rules[\(other)])"))
                } else {
                    ruleNames[rn] = i
                }
            }
            validateSelector(rule.nodeSelector, path: "\(p).nodeSelector", errors: &errors)
            let exprs = rule.devices.matchExpressions
            if exprs.isEmpty {
                errors.append(.init(field: "\(p).devices.matchExpressions", message: "must have at least 1 expression (use 'name Exists' to match every device)"))
            } else if exprs.count > MapLimits.maxExpressions {
                errors.append(.init(field: "\(p).devices.matchExpressions", message: "must have at most \(MapLimits.maxExpressions) expressions, has \(exprs.count)"))
            }
            var compiledExprs: [CompiledExpression] = []
            for (j, e) in exprs.enumerated() {
                if let shared = interned[e] {
                    compiledExprs.append(shared)
                } else if let c = compileExpression(e, path: "\(p).devices.matchExpressions[\(j)]", errors: &errors) {
                    interned[e] = c
                    compiledExprs.append(c)
                }
            }
            compiled.append(CompiledRule(index: i, name: rule.name, nodeSelector: rule.nodeSelector, expressions: compiledExprs))
        }
        if let select = spec.select, !SelectPolicy.allKnown.contains(select) {
            errors.append(.init(field: "spec.select", message: "unsupported value '\(select)' (supported: First, HighestSpeed, Fail)"))
        }
        if let a = spec.attachment {
            if !AttachmentType.allKnown.contains(a.type) {
                errors.append(.init(field: "spec.attachment.type", message: "unsupported value '\(a.type)' (supported: macvlan, ipvlan, host-device)"))
            } else if let mode = a.mode {
                let modes = a.type.knownModes
                if modes.isEmpty {
                    errors.append(.init(field: "spec.attachment.mode", message: "must be absent for type \(a.type)"))
                } else if !modes.contains(mode) {
                    errors.append(.init(field: "spec.attachment.mode", message: "unsupported value '\(mode)' for type \(a.type) (supported: \(modes.joined(separator: ", ")))"))
                }
            }
            if let mtu = a.mtu, !MapLimits.mtuRange.contains(mtu) {
                errors.append(.init(field: "spec.attachment.mtu", message: "\(mtu) is out of range \(MapLimits.mtuRange.lowerBound)...\(MapLimits.mtuRange.upperBound)"))
            }
            if a.type == .hostDevice && !spec.isExclusive {
                errors.append(.init(field: "spec.exclusive", message: "must be true when spec.attachment.type is host-device (the device moves into the pod)"))
            }
        }
        if spec.isDRA && !spec.isExclusive {
            errors.append(.init(field: "spec.exclusive", message: "must be true when spec.dra is true (a DRA claim allocates the device to one pod)"))
        }
        if let nad = spec.networkAttachmentDefinition {
            let namespaces = nad.namespaces ?? []
            if namespaces.count > MapLimits.maxNamespaces {
                errors.append(.init(field: "spec.networkAttachmentDefinition.namespaces", message: "must have at most \(MapLimits.maxNamespaces) items"))
            }
            var seen: Set<String> = []
            for (i, ns) in namespaces.enumerated() {
                if !isDNSLabel(ns) {
                    errors.append(.init(field: "spec.networkAttachmentDefinition.namespaces[\(i)]", message: "'\(ns)' is not a valid namespace name"))
                } else if !seen.insert(ns).inserted {
                    errors.append(.init(field: "spec.networkAttachmentDefinition.namespaces[\(i)]", message: "duplicate namespace '\(ns)'"))
                }
            }
            if !nad.ipamIsObject {
                errors.append(.init(field: "spec.networkAttachmentDefinition.ipam", message: "must be a JSON object (a CNI ipam configuration)"))
            }
        }
        return errors.count == start ? compiled : nil
    }

    static func compileExpression(_ e: DeviceMatchExpression, path p: String, errors: inout [ValidationError]) -> CompiledExpression? {
        let start = errors.count
        let field = DeviceField(rawValue: e.key)
        if field == nil {
            errors.append(.init(field: "\(p).key", message: "unsupported value '\(e.key)' (supported: \(DeviceField.allCases.map(\.rawValue).joined(separator: ", ")))"))
        }
        let values = e.values ?? []
        for (k, v) in values.enumerated() where v.utf8.count > MapLimits.maxValueLength {
            errors.append(.init(field: "\(p).values[\(k)]", message: "longer than \(MapLimits.maxValueLength) bytes"))
        }
        func needValues() {
            if values.isEmpty {
                errors.append(.init(field: "\(p).values", message: "must be non-empty when operator is \(e.operator)"))
            } else if values.count > MapLimits.maxValues {
                errors.append(.init(field: "\(p).values", message: "must have at most \(MapLimits.maxValues) items, has \(values.count)"))
            }
        }
        var op: CompiledExpression.Op? = nil
        switch e.operator {
        case .in, .notIn:
            needValues()
            var canonical: [String] = []
            for (k, v) in values.enumerated() {
                switch field?.valueType {
                case .integer:
                    if let i = Int(v) { canonical.append(String(i)) } else {
                        errors.append(.init(field: "\(p).values[\(k)]", message: "'\(v)' is not an integer (\(e.key) holds integers)"))
                    }
                case .boolean:
                    let l = v.lowercased()
                    if l == "true" || l == "false" { canonical.append(l) } else {
                        errors.append(.init(field: "\(p).values[\(k)]", message: "'\(v)' is not true or false (\(e.key) is a boolean)"))
                    }
                default:
                    canonical.append(field?.isCaseInsensitive == true ? v.lowercased() : v)
                }
            }
            let set = ValueSet(canonical)
            op = e.operator == .in ? .in(set) : .notIn(set)
        case .exists, .doesNotExist:
            if !values.isEmpty {
                errors.append(.init(field: "\(p).values", message: "must be empty when operator is \(e.operator)"))
            }
            op = e.operator == .exists ? .exists : .doesNotExist
        case .gt, .lt:
            if values.count != 1 {
                errors.append(.init(field: "\(p).values", message: "must have exactly one integer value when operator is \(e.operator), has \(values.count)"))
            } else if let n = Int(values[0]) {
                op = e.operator == .gt ? .gt(n) : .lt(n)
            } else {
                errors.append(.init(field: "\(p).values[0]", message: "'\(values[0])' is not an integer (\(e.operator) compares integers)"))
            }
        case .matches:
            needValues()
            var regexes: [CompiledRegex] = []
            for (k, v) in values.enumerated() {
                do {
                    regexes.append(try CompiledRegex(v))
                } catch {
                    errors.append(.init(field: "\(p).values[\(k)]", message: "invalid regular expression '\(v)': \(error)"))
                }
            }
            op = .matches(regexes)
        case .inCIDR:
            needValues()
            var cidrs: [CIDR] = []
            for (k, v) in values.enumerated() {
                if let c = CIDR(v) { cidrs.append(c) } else {
                    errors.append(.init(field: "\(p).values[\(k)]", message: "'\(v)' is not a CIDR (like 10.0.0.0/8 or 2001:db8::/32)"))
                }
            }
            op = .inCIDR(cidrs)
        default:
            errors.append(.init(field: "\(p).operator", message: "unsupported value '\(e.operator)' (supported: \(MatchOperator.allKnown.map(\.rawValue).joined(separator: ", ")))"))
        }
        guard errors.count == start, let field, let op else { return nil }
        return CompiledExpression(field: field, ordinal: field.ordinal, op: op, source: e)
    }
}
