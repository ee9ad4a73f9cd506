import Foundation
import JSON
import KubeCore

/// Reading a request's body and options: media type, JSON/YAML/protobuf decoding, kind checks, field manager.
extension LabAPI {
    static func mediaType(_ request: LabRequest) -> String {
        let ct = request.header("Content-Type") ?? ""
        return ct.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
    }

    /// How apimachinery quotes a body it could not decode: a JSON-looking prefix as text, anything else in hex.
    static func bodySnippet(_ body: [UInt8]) -> String {
        if body.isEmpty { return "<empty>" }
        let trimmed = body.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        if let first = trimmed.first, first == UInt8(ascii: "{") || first == UInt8(ascii: "["),
           let s = String(validating: body, as: UTF8.self) {
            return s.count > 30 ? String(s.prefix(30)) + " ..." : s
        }
        return body.prefix(64).map { String(format: "%02x", $0) }.joined()
    }

    /// The message Go's encoding/json gives for the same syntax error.
    static func goJSONError(_ error: JSONError, _ body: [UInt8]) -> String {
        let i = error.offset
        if i >= body.count || body[i...].allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            return "unexpected end of JSON input"
        }
        let c = Character(Unicode.Scalar(body[i]))
        // Inside a literal (true/false/null): name the literal and the expected character.
        var start = i
        while start > 0, (body[start - 1] >= 0x61 && body[start - 1] <= 0x7A) { start -= 1 }
        for literal in ["true", "false", "null"] where start < i {
            let typed = Array(body[start..<i])
            let lit = Array(literal.utf8)
            if typed.count < lit.count, Array(lit.prefix(typed.count)) == typed {
                return "invalid character '\(c)' in literal \(literal) (expecting '\(Character(Unicode.Scalar(lit[typed.count])))')"
            }
        }
        if start == i, let lit = ["t": "true", "f": "false", "n": "null"][String(c)], i + 1 < body.count {
            let next = Character(Unicode.Scalar(body[i + 1]))
            let expected = Array(lit)[1]
            if next != expected { return "invalid character '\(next)' in literal \(lit) (expecting '\(expected)')" }
        }
        return "invalid character '\(c)' looking for beginning of value"
    }

    /// Decodes a create/update body (JSON or YAML) into an object.
    func decodeObject(_ ctx: RequestContext) throws(APIError) -> JSONValue {
        let media = LabAPI.mediaType(ctx.request)
        let body = ctx.request.body
        let value: JSONValue
        switch media {
        case "application/json", "":
            do { value = try JSONValue.parse(body) } catch {
                throw APIError.badRequest("the object provided is unrecognized (must be of type \(ctx.def.kind)): couldn't get version/kind; json parse error: \(LabAPI.goJSONError(error, body)) (\(LabAPI.bodySnippet(body)))")
            }
        case "application/yaml", "application/x-yaml", "text/yaml":
            do { value = try Wire.parseYAML(body) } catch {
                throw APIError.badRequest("the object provided is unrecognized (must be of type \(ctx.def.kind)): couldn't get version/kind; yaml parse error: \(error) (\(LabAPI.bodySnippet(body)))")
            }
        case "application/vnd.kubernetes.protobuf" where !ctx.def.isCustom:
            do { value = try Protobuf.decodeObject(body) } catch {
                throw APIError.badRequest("the object provided is unrecognized (must be of type \(ctx.def.kind)): \(error.message)")
            }
        default:
            throw APIError.unsupportedMediaType(media, supported: ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"])
        }
        guard case .object = value else {
            throw APIError.badRequest("the object provided is unrecognized (must be of type \(ctx.def.kind)): couldn't get version/kind; json parse error: json: cannot unmarshal \(SchemaValidation.jsonType(value)) into Go value of type struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" } (\(LabAPI.bodySnippet(body)))")
        }
        try checkKind(value, ctx: ctx, body: body)
        return value
    }

    func checkKind(_ value: JSONValue, ctx: RequestContext, body: [UInt8]) throws(APIError) {
        let def = ctx.def
        let kind = value["kind"]?.stringValue ?? ""
        let apiVersion = value["apiVersion"]?.stringValue ?? ""
        if kind.isEmpty {
            throw APIError.badRequest("\(def.kind) in version \"\(def.version)\" cannot be handled as a \(def.kind): Object 'Kind' is missing in '\(String(decoding: body, as: UTF8.self))'")
        }
        if apiVersion.isEmpty {
            throw APIError.badRequest("\(def.kind) in version \"\(def.version)\" cannot be handled as a \(def.kind): Object 'apiVersion' is missing in '\(String(decoding: body, as: UTF8.self))'")
        }
        if kind != def.kind {
            let name = value[path: ["metadata", "name"]]?.stringValue ?? ""
            throw APIError.invalid(kind: kind, group: def.group, name: name, causes: [
                APICause(reason: "FieldValueInvalid", message: "Invalid value: \"\(kind)\": must be \(def.kind)", field: "kind")])
        }
        let group = apiVersion.contains("/") ? String(apiVersion.split(separator: "/")[0]) : ""
        if group != def.group {
            throw APIError.badRequest("the API version in the data (\(apiVersion)) does not match the expected API version (\(def.apiVersion))")
        }
    }

    func fieldManager(_ request: LabRequest) -> String {
        if let m = request.queryValue("fieldManager"), !m.isEmpty { return m }
        let ua = request.header("User-Agent") ?? ""
        let product = ua.split(separator: "/").first.map(String.init) ?? ""
        return String(product.prefix(128))
    }

    func checkOptions(_ request: LabRequest, type: String) throws(APIError) {
        if let fv = request.queryValue("fieldValidation"), !["", "Ignore", "Warn", "Strict"].contains(fv) {
            throw APIError.invalid(kind: type, group: "meta.k8s.io", name: "", causes: [APICause(
                reason: "FieldValueNotSupported",
                message: "Unsupported value: \"\(fv)\": supported values: \"\", \"Ignore\", \"Strict\", \"Warn\"", field: "fieldValidation")])
        }
        if let dr = request.queryValue("dryRun"), dr != "All" && !dr.isEmpty {
            throw APIError.invalid(kind: type, group: "meta.k8s.io", name: "", causes: [APICause(
                reason: "FieldValueNotSupported", message: "Unsupported value: \"\(dr)\": supported values: \"All\"", field: "dryRun")])
        }
    }

    func isDryRun(_ request: LabRequest) -> Bool { request.queryValue("dryRun") == "All" }

    static let nameChars = Array("abcdefghijklmnopqrstuvwxyz0123456789")
    static func randomSuffix() -> String {
        // The real generator avoids vowels and confusable digits.
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        return String((0..<5).map { _ in alphabet[Int.random(in: 0..<alphabet.count)] })
    }
}
