import JSON

/// One entry of `Status.details.causes`.
public struct APICause: Sendable, Equatable {
    /// `FieldValueInvalid`, `FieldValueRequired`, ...
    public var reason: String
    /// The cause's message, without the field.
    public var message: String
    /// The field path (`spec.size`), or empty.
    public var field: String
    public init(reason: String, message: String, field: String) {
        self.reason = reason; self.message = message; self.field = field
    }
}

/// An API failure, answered as a `Status` object exactly shaped like kube-apiserver's.
public struct APIError: Error, Sendable, CustomStringConvertible {
    /// HTTP status code (also `Status.code`).
    public var code: Int
    /// `Status.reason` (`NotFound`, `Invalid`, ...); empty for a bare Status.
    public var reason: String
    /// `Status.message`.
    public var message: String
    /// `Status.details`; `nil` omits the key.
    public var details: JSONValue?
    /// `Status.metadata` (a continue token for 410 Expired lists).
    public var metadata: JSONValue = .object([:])
    /// Extra response headers (`Retry-After`, `X-Content-Type-Options`).
    public var headers: [(String, String)] = []
    /// A plain-text body instead of a Status (the mux's `404 page not found`).
    public var plainText: String? = nil

    public var description: String { "\(code) \(reason): \(message)" }

    init(code: Int, reason: String, message: String, details: JSONValue? = nil) {
        self.code = code; self.reason = reason; self.message = message; self.details = details
    }

    /// The Status object for this error.
    var status: JSONValue {
        var o: [String: JSONValue] = [
            "kind": "Status", "apiVersion": "v1", "metadata": metadata, "status": "Failure",
            "message": .string(message), "code": .int(Int64(code)),
        ]
        if !reason.isEmpty { o["reason"] = .string(reason) }
        if let details { o["details"] = details }
        return .object(o)
    }

    static func details(name: String? = nil, group: String, kind: String, causes: [APICause]? = nil) -> JSONValue {
        var d: [String: JSONValue] = [:]
        if let name, !name.isEmpty { d["name"] = .string(name) }
        if !group.isEmpty { d["group"] = .string(group) }
        if !kind.isEmpty { d["kind"] = .string(kind) }
        if let causes {
            d["causes"] = .array(causes.map { c in
                var o: [String: JSONValue] = ["reason": .string(c.reason), "message": .string(c.message)]
                if !c.field.isEmpty { o["field"] = .string(c.field) }
                return .object(o)
            })
        }
        return .object(d)
    }

    /// `<plural>.<group>` or `<plural>` for the core group.
    static func qualified(_ plural: String, _ group: String) -> String { group.isEmpty ? plural : "\(plural).\(group)" }

    static func notFound(_ plural: String, group: String, name: String) -> APIError {
        APIError(code: 404, reason: "NotFound", message: "\(qualified(plural, group)) \"\(name)\" not found",
                 details: details(name: name, group: group, kind: plural))
    }

    static func alreadyExists(_ plural: String, group: String, name: String) -> APIError {
        APIError(code: 409, reason: "AlreadyExists", message: "\(qualified(plural, group)) \"\(name)\" already exists",
                 details: details(name: name, group: group, kind: plural))
    }

    static func conflict(_ plural: String, group: String, name: String) -> APIError {
        APIError(code: 409, reason: "Conflict",
                 message: "Operation cannot be fulfilled on \(qualified(plural, group)) \"\(name)\": the object has been modified; please apply your changes to the latest version and try again",
                 details: details(name: name, group: group, kind: plural))
    }

    static func conflict(kindOrPlural: String, group: String, name: String, reason: String) -> APIError {
        APIError(code: 409, reason: "Conflict",
                 message: "Operation cannot be fulfilled on \(qualified(kindOrPlural, group)) \"\(name)\": \(reason)",
                 details: details(name: name, group: group, kind: kindOrPlural))
    }

    static func badRequest(_ message: String) -> APIError {
        APIError(code: 400, reason: "BadRequest", message: message)
    }

    /// 422 Invalid: `<Kind>.<group> "<name>" is invalid: <causes>`.
    static func invalid(kind: String, group: String, name: String, causes: [APICause]) -> APIError {
        var parts: [String] = []
        for c in causes {
            let text = c.field.isEmpty ? c.message : "\(c.field): \(c.message)"
            if !parts.contains(text) { parts.append(text) }   // an aggregate error lists each message once
        }
        let joined = parts.count == 1 ? parts[0] : "[" + parts.joined(separator: ", ") + "]"
        return APIError(code: 422, reason: "Invalid",
                        message: "\(qualified(kind, group)) \"\(name)\" is invalid: \(joined)",
                        details: details(name: name, group: group, kind: kind, causes: causes))
    }

    static func unsupportedMediaType(_ contentType: String, supported: [String]) -> APIError {
        APIError(code: 415, reason: "UnsupportedMediaType",
                 message: "the body of the request was in an unknown format - accepted media types include: " + supported.joined(separator: ", "))
    }

    static func methodNotAllowed(_ method: String) -> APIError {
        APIError(code: 405, reason: "MethodNotAllowed", message: "the server does not allow this method on the requested resource",
                 details: .object([:]))
    }

    static func genericNotFound() -> APIError {
        APIError(code: 404, reason: "NotFound", message: "the server could not find the requested resource", details: .object([:]))
    }

    static func pageNotFound() -> APIError {
        var e = APIError(code: 404, reason: "", message: "")
        e.plainText = "404 page not found\n"
        return e
    }

    static func unauthorized() -> APIError {
        APIError(code: 401, reason: "Unauthorized", message: "Unauthorized")
    }

    static func tooLarge() -> APIError {
        APIError(code: 413, reason: "RequestEntityTooLarge", message: "Request entity too large: limit is 3145728")
    }

    static func internalError(_ message: String) -> APIError {
        APIError(code: 500, reason: "", message: message)
    }

    /// A read at a resourceVersion the store has not reached within the wait (kube-apiserver's
    /// watch cache: `storage.NewTooLargeResourceVersionError`), 504 with `Retry-After: 1`.
    static func resourceVersionTooLarge(requested: Int64, current: Int64) -> APIError {
        var e = APIError(code: 504, reason: "Timeout", message: "Timeout: Too large resource version: \(requested), current: \(current)",
                         details: ["causes": [["reason": "ResourceVersionTooLarge", "message": "Too large resource version"]], "retryAfterSeconds": 1])
        e.headers = [("Retry-After", "1")]
        return e
    }

    static func expired(_ message: String) -> APIError {
        APIError(code: 410, reason: "Expired", message: message)
    }
}
