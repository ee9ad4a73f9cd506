import JSON

/// A CNI error: the spec's error object `{cniVersion, code, msg, details}` that a plugin prints
/// on stdout with a non-zero exit status, and that a delegate's failure is decoded into.
///
/// ```swift
/// throw CNIError(.invalidEnvironment, "CNI_IFNAME is missing")
/// ```
public struct CNIError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The error code (see ``CNIErrorCode``; 100 and up are plugin-specific).
    public var code: CNIErrorCode
    /// A short message for the user; says what failed and, where possible, what to do.
    public var message: String
    /// Longer details (a delegate's stderr, a cause), may be empty.
    public var details: String

    /// Creates an error.
    public init(_ code: CNIErrorCode, _ message: String, details: String = "") {
        self.code = code
        self.message = message
        self.details = details
    }

    public var description: String {
        details.isEmpty ? "CNI error \(code.rawValue): \(message)" : "CNI error \(code.rawValue): \(message) (\(details))"
    }

    /// The spec's error object, in `cniVersion`.
    public func json(cniVersion: String) -> JSONValue {
        var o: [String: JSONValue] = [
            "cniVersion": .string(cniVersion),
            "code": .int(Int64(code.rawValue)),
            "msg": .string(message),
        ]
        if !details.isEmpty { o["details"] = .string(details) }
        return .object(o)
    }

    /// Decodes a plugin's error object; `nil` when `json` is not one.
    public init?(json: JSONValue) {
        guard case .object(let o) = json, let code = o["code"]?.intValue, let msg = o["msg"]?.stringValue,
              code >= 0, code <= Int64(Int32.max) else { return nil }
        self.init(CNIErrorCode(rawValue: Int(code)), msg, details: o["details"]?.stringValue ?? "")
    }
}

/// A CNI error code. The spec reserves 0–99; plugins use 100 and up.
public struct CNIErrorCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public var description: String { String(rawValue) }

    /// 1: incompatible CNI version.
    public static let incompatibleVersion = CNIErrorCode(rawValue: 1)
    /// 2: unsupported field in the network configuration.
    public static let unsupportedField = CNIErrorCode(rawValue: 2)
    /// 3: container unknown or does not exist.
    public static let unknownContainer = CNIErrorCode(rawValue: 3)
    /// 4: invalid necessary environment variables.
    public static let invalidEnvironment = CNIErrorCode(rawValue: 4)
    /// 5: I/O failure.
    public static let ioFailure = CNIErrorCode(rawValue: 5)
    /// 6: failed to decode content.
    public static let decodingFailure = CNIErrorCode(rawValue: 6)
    /// 7: invalid network configuration.
    public static let invalidConfig = CNIErrorCode(rawValue: 7)
    /// 11: try again later.
    public static let tryAgainLater = CNIErrorCode(rawValue: 11)
    /// 50: the plugin is not available (STATUS).
    public static let notAvailable = CNIErrorCode(rawValue: 50)
    /// 51: the plugin is not available and existing containers may have limited connectivity (STATUS).
    public static let limitedConnectivity = CNIErrorCode(rawValue: 51)
    /// 999: an internal error (what the reference plugins' `skel` uses for plain errors).
    public static let internalError = CNIErrorCode(rawValue: 999)
}
