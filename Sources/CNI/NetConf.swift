import JSON

/// A plugin's network configuration as read from stdin. The well-known fields are decoded and
/// validated; every key (known or not) stays in ``raw`` so it can be passed to a delegate.
///
/// ```swift
/// let conf = try NetConf(bytes: stdin)
/// conf.name; conf.type; conf.cniVersion   // "storage", "automagic", 1.0.0
/// conf.raw["ipam"]                        // passed through untouched
/// ```
public struct NetConf: Sendable, Hashable {
    /// All members of the configuration object.
    public var raw: [String: JSONValue]
    /// `cniVersion` as written.
    public var cniVersionString: String
    /// `cniVersion`, parsed and known to be supported.
    public var cniVersion: CNIVersion
    /// `name`.
    public var name: String
    /// `type`.
    public var type: String

    /// Decodes and validates a configuration. Not JSON or not an object: code 6. A missing
    /// or unsupported `cniVersion`: code 1. A missing or invalid `name` or `type`: code 7.
    public init(bytes: [UInt8], supported: [CNIVersion] = CNIVersion.supported) throws(CNIError) {
        let json: JSONValue
        do {
            json = try JSONValue.parse(bytes)
        } catch {
            let what = bytes.isEmpty ? "stdin is empty" : "\(error)"
            throw CNIError(.decodingFailure, "failed to decode network configuration: \(what)")
        }
        try self.init(json: json, supported: supported)
    }

    /// Validates an already parsed configuration (see ``init(bytes:supported:)``).
    public init(json: JSONValue, supported: [CNIVersion] = CNIVersion.supported) throws(CNIError) {
        guard case .object(let o) = json else {
            throw CNIError(.decodingFailure, "failed to decode network configuration: expected a JSON object, got \(json.typeName)")
        }
        raw = o
        switch o["cniVersion"] {
        case .string(let s)?: cniVersionString = s
        case nil, .null?: cniVersionString = ""
        case let other?:
            throw CNIError(.invalidConfig, "invalid network configuration: 'cniVersion' must be a string, got \(other.typeName)")
        }
        guard let v = CNIVersion(cniVersionString.isEmpty ? "0.1.0" : cniVersionString), supported.contains(v) else {
            let list = supported.map(\.description).joined(separator: ", ")
            let shown = cniVersionString.isEmpty ? "missing (which means 0.1.0)" : "'\(cniVersionString)'"
            throw CNIError(.incompatibleVersion,
                           "incompatible CNI version: the configuration's cniVersion is \(shown), this plugin supports \(list)")
        }
        cniVersion = v
        guard case .string(let name)? = o["name"], !name.isEmpty else {
            throw CNIError(.invalidConfig, "invalid network configuration: 'name' is missing or not a string")
        }
        guard CNIEnvironment.isValidNetworkName(name) else {
            throw CNIError(.invalidConfig,
                           "invalid network configuration: name '\(name)' must start with a letter or digit and contain only letters, digits, '_', '.' and '-'")
        }
        self.name = name
        guard case .string(let type)? = o["type"], !type.isEmpty else {
            throw CNIError(.invalidConfig, "invalid network configuration: 'type' is missing or not a string")
        }
        self.type = type
    }

    /// The configuration as JSON.
    public var json: JSONValue { .object(raw) }

    /// `prevResult`, when present.
    public var prevResult: JSONValue? {
        if let p = raw["prevResult"], !p.isNull { return p }
        return nil
    }
}
