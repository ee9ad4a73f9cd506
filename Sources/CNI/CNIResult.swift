import JSON

/// A CNI result (interfaces, ips, routes, dns) held as JSON so that unknown members survive,
/// with validation and conversion between the spec versions 0.4.0, 1.0.0 and 1.1.0.
///
/// ```swift
/// let r = try CNIResult(json: delegateOutput, version: .v1_0_0)
/// print(r.converted(to: .v0_4_0).json.jsonString())   // ips carry "version": "4"
/// ```
public struct CNIResult: Sendable, Hashable {
    /// The result document (its `cniVersion` member matches ``version``).
    public private(set) var json: JSONValue
    /// The version the document is written in.
    public private(set) var version: CNIVersion

    /// Validates `json` as a result of `version` (the `cniVersion` member, when present and
    /// parseable, wins). Errors are code 6 and name the member.
    public init(json: JSONValue, version: CNIVersion) throws(CNIError) {
        guard case .object(let o) = json else {
            throw Self.bad("expected a JSON object, got \(json.typeName)")
        }
        var v = version
        if let s = o["cniVersion"]?.stringValue, let parsed = CNIVersion(s) { v = parsed }
        if let ifs = o["interfaces"], !ifs.isNull {
            guard case .array(let list) = ifs else { throw Self.bad("'interfaces' must be an array") }
            for (i, item) in list.enumerated() {
                guard item["name"]?.stringValue != nil else { throw Self.bad("interfaces[\(i)] has no 'name'") }
            }
        }
        let interfaceCount = o["interfaces"]?.arrayValue?.count ?? 0
        if let ips = o["ips"], !ips.isNull {
            guard case .array(let list) = ips else { throw Self.bad("'ips' must be an array") }
            for (i, item) in list.enumerated() {
                guard let address = item["address"]?.stringValue, address.contains("/") else {
                    throw Self.bad("ips[\(i)] has no 'address' in CIDR form")
                }
                if let idx = item["interface"], !idx.isNull {
                    guard let n = idx.intValue, n >= 0, n < interfaceCount else {
                        throw Self.bad("ips[\(i)].interface does not index 'interfaces'")
                    }
                }
            }
        }
        if let routes = o["routes"], !routes.isNull {
            guard case .array(let list) = routes else { throw Self.bad("'routes' must be an array") }
            for (i, item) in list.enumerated() where item["dst"]?.stringValue == nil {
                throw Self.bad("routes[\(i)] has no 'dst'")
            }
        }
        if let dns = o["dns"], !dns.isNull, dns.objectValue == nil { throw Self.bad("'dns' must be an object") }
        self.json = json
        self.version = v
        self.json["cniVersion"] = .string(v.description)
    }

    /// Parses and validates a result from bytes (see ``init(json:version:)``).
    public init(bytes: [UInt8], version: CNIVersion) throws(CNIError) {
        do {
            try self.init(json: try JSONValue.parse(bytes), version: version)
        } catch let e as JSONError {
            throw Self.bad("\(e)")
        } catch let e as CNIError {
            throw e
        } catch {
            throw Self.bad("\(error)")
        }
    }

    static func bad(_ what: String) -> CNIError {
        CNIError(.decodingFailure, "failed to decode CNI result: \(what)")
    }

    /// This result written in `target`: `ips[].version` is added for versions before 1.0.0 and
    /// removed from 1.0.0 on; the 1.1.0 interface members (`mtu`, `socketPath`, `pciID`) and
    /// route members (`mtu`, `advmss`, `priority`, `table`, `scope`) are dropped below 1.1.0.
    public func converted(to target: CNIVersion) -> CNIResult {
        var out = json
        out["cniVersion"] = .string(target.description)
        if case .array(let ips)? = out["ips"] {
            out["ips"] = .array(ips.map { ip in
                var ip = ip
                if target < .v1_0_0 {
                    if ip["version"]?.stringValue == nil {
                        let address = ip["address"]?.stringValue ?? ""
                        ip["version"] = .string(address.contains(":") ? "6" : "4")
                    }
                } else {
                    ip["version"] = nil
                }
                return ip
            })
        }
        if target < .v1_1_0 {
            if case .array(let ifs)? = out["interfaces"] {
                out["interfaces"] = .array(ifs.map { i in
                    var i = i
                    for k in ["mtu", "socketPath", "pciID"] where i[k] != nil { i[k] = nil }
                    return i
                })
            }
            if case .array(let routes)? = out["routes"] {
                out["routes"] = .array(routes.map { r in
                    var r = r
                    for k in ["mtu", "advmss", "priority", "table", "scope"] where r[k] != nil { r[k] = nil }
                    return r
                })
            }
        }
        var result = self
        result.json = out
        result.version = target
        return result
    }

    /// The interfaces as `(name, mac, sandbox)`.
    public var interfaces: [(name: String, mac: String?, sandbox: String?)] {
        (json["interfaces"]?.arrayValue ?? []).map {
            ($0["name"]?.stringValue ?? "", $0["mac"]?.stringValue, $0["sandbox"]?.stringValue)
        }
    }

    /// The addresses as `(address CIDR, gateway, interface index)`.
    public var ips: [(address: String, gateway: String?, interface: Int?)] {
        (json["ips"]?.arrayValue ?? []).map {
            ($0["address"]?.stringValue ?? "", $0["gateway"]?.stringValue, $0["interface"]?.intValue.map { Int($0) })
        }
    }
}
