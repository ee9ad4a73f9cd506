import Foundation
import JSON
@testable import LabAPIServer
import TestSupport

/// One recorded exchange from ../shared/kube-api-traces.
struct TraceExchange {
    var file: String
    var authentication: String
    var method: String
    var target: String
    var requestHeaders: [(name: String, value: String)]
    var requestBody: [UInt8]
    var status: Int
    var responseHeaders: [(name: String, value: String)]
    var responseBody: String

    var path: String { String(target.split(separator: "?", maxSplits: 1).first ?? "") }
    var query: [(name: String, value: String)] {
        let parts = target.split(separator: "?", maxSplits: 1)
        guard parts.count == 2 else { return [] }
        return parts[1].split(separator: "&").map { item in
            let kv = item.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
            return (name: kv[0], value: kv.count > 1 ? kv[1] : "")
        }
    }
    func responseHeader(_ name: String) -> String? {
        responseHeaders.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
    var isWatch: Bool { query.contains { $0.name == "watch" && ($0.value == "1" || $0.value == "true") } || path.contains("/watch/") }
}

enum Traces {
    /// The traces directory: $AUTOMAGIC_TRACES, or ../shared/kube-api-traces beside the repository.
    static var directory: String { kubeAPITracesDirectory() }

    static func files() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".txt") && $0.first?.isNumber == true }.sorted()
    }

    /// Parses one trace file; nil for the client-log files that hold no single exchange.
    static func parse(_ file: String) throws -> TraceExchange? {
        let text = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
        guard let reqStart = text.range(of: "\n=== REQUEST ===\n"), let respMarker = text.range(of: "\n=== RESPONSE ===") else { return nil }
        let auth = text.split(separator: "\n").first { $0.hasPrefix("# Authentication:") }.map { String($0.dropFirst("# Authentication:".count)).trimmingCharacters(in: .whitespaces) } ?? ""
        let requestText = String(text[reqStart.upperBound..<respMarker.lowerBound])
        let (reqLine, reqHeaders, reqBody) = splitMessage(requestText)
        let reqParts = reqLine.split(separator: " ")
        guard reqParts.count >= 2 else { return nil }
        let afterMarker = text[respMarker.upperBound...]
        guard let nl = afterMarker.firstIndex(of: "\n") else { return nil }
        var responseText = String(afterMarker[afterMarker.index(after: nl)...])
        for end in ["\n\n=== CLIENT-SIDE NOTES", "\n\n=== ACTIONS PERFORMED", "\n\n=== FOR REFERENCE", "\n\n=== TIMING"] {
            if let r = responseText.range(of: end) { responseText = String(responseText[..<r.lowerBound]) }
        }
        let (statusLine, respHeaders, respBody) = splitMessage(responseText)
        let statusParts = statusLine.split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
        var body = reqBody
        while body.hasSuffix("\n") { body.removeLast() }
        if body == "(no request body)" { body = "" }
        return TraceExchange(file: file, authentication: auth, method: String(reqParts[0]), target: String(reqParts[1]),
                             requestHeaders: reqHeaders, requestBody: Array(body.utf8), status: status,
                             responseHeaders: respHeaders, responseBody: respBody)
    }

    static func splitMessage(_ text: String) -> (String, [(name: String, value: String)], String) {
        var lines = text.components(separatedBy: "\n")
        let first = lines.isEmpty ? "" : lines.removeFirst()
        var headers: [(name: String, value: String)] = []
        while let line = lines.first, !line.isEmpty {
            lines.removeFirst()
            if let colon = line.firstIndex(of: ":") {
                headers.append((name: String(line[..<colon]), value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            }
        }
        if !lines.isEmpty { lines.removeFirst() }
        var body = lines.joined(separator: "\n")
        while body.hasSuffix("\n\n") { body.removeLast() }
        return (first, headers, body)
    }

    /// The largest `"resourceVersion": "N"` in any recorded response (objects, lists, watch events).
    static func maxResponseResourceVersion(_ files: [String]) throws -> Int64 {
        let pattern = try NSRegularExpression(pattern: #""resourceVersion": ?"([0-9]+)""#)
        var maxRV: Int64 = 0
        for file in files {
            guard let ex = try parse(file) else { continue }
            let body = ex.responseBody
            for m in pattern.matches(in: body, range: NSRange(body.startIndex..., in: body)) {
                if let r = Range(m.range(at: 1), in: body), let v = Int64(body[r]) { maxRV = max(maxRV, v) }
            }
        }
        return maxRV
    }

    static func manifest(_ name: String) throws -> JSONValue {
        let text = try String(contentsOfFile: directory + "/manifests/" + name, encoding: .utf8)
        return try Wire.parseYAML(Array(text.utf8))
    }
}

/// Compares a recorded response with the lab server's, listing meaningful differences.
enum TraceComparison {
    static let uuidPattern = try! NSRegularExpression(pattern: "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    static let numberPattern = try! NSRegularExpression(pattern: "[0-9]+")

    static func normalize(_ s: String) -> String {
        var r = uuidPattern.stringByReplacingMatches(in: s, range: NSRange(s.startIndex..., in: s), withTemplate: "<uid>")
        r = numberPattern.stringByReplacingMatches(in: r, range: NSRange(r.startIndex..., in: r), withTemplate: "<n>")
        return r
    }

    /// Differences between expected and actual JSON bodies (Status shape, object fields).
    static func differences(expected: JSONValue, actual: JSONValue, nameMap: [String: String] = [:]) -> [String] {
        var diffs: [String] = []
        if expected["kind"]?.stringValue == "Status" {
            for k in ["kind", "apiVersion", "status", "reason", "code"] where expected[k] != actual[k] {
                diffs.append("\(k): expected \(expected[k]?.jsonString() ?? "absent"), got \(actual[k]?.jsonString() ?? "absent")")
            }
            let em = normalize(expected["message"]?.stringValue ?? ""), am = normalize(actual["message"]?.stringValue ?? "")
            if em != am { diffs.append("message: expected \(expected["message"]?.stringValue ?? ""), got \(actual["message"]?.stringValue ?? "")") }
            if (expected["details"] == nil) != (actual["details"] == nil) { diffs.append("details presence differs") }
            for k in ["name", "group", "kind"] where expected[path: ["details", k]] != actual[path: ["details", k]] {
                diffs.append("details.\(k): expected \(expected[path: ["details", k]]?.jsonString() ?? "absent"), got \(actual[path: ["details", k]]?.jsonString() ?? "absent")")
            }
            let ec = expected[path: ["details", "causes"]]?.arrayValue ?? []
            let ac = actual[path: ["details", "causes"]]?.arrayValue ?? []
            let ecs = ec.map { "\($0["reason"]?.stringValue ?? "")|\($0["field"]?.stringValue ?? "")" }
            let acs = ac.map { "\($0["reason"]?.stringValue ?? "")|\($0["field"]?.stringValue ?? "")" }
            if ecs != acs { diffs.append("causes: expected \(ecs), got \(acs)") }
            return diffs
        }
        if expected["kind"] != actual["kind"] { diffs.append("kind: expected \(expected["kind"]?.jsonString() ?? "absent"), got \(actual["kind"]?.jsonString() ?? "absent")") }
        if expected["apiVersion"] != actual["apiVersion"] { diffs.append("apiVersion differs") }
        if let items = expected["items"]?.arrayValue {
            let en = items.map { item -> String in
                let n = item[path: ["metadata", "name"]]?.stringValue ?? ""
                return nameMap[n] ?? n
            }
            let an = actual["items"]?.arrayValue?.map { $0[path: ["metadata", "name"]]?.stringValue ?? "" } ?? []
            if en != an { diffs.append("items: expected \(en), got \(an)") }
            return diffs
        }
        if expected["metadata"] != nil && expected["kind"]?.stringValue != "Table" {
            for k in ["spec", "status"] {
                let e = scrub(expected[k]), a = scrub(actual[k])
                if e != a { diffs.append("\(k): expected \(e?.jsonString() ?? "absent"), got \(a?.jsonString() ?? "absent")") }
            }
            for k in ["name", "namespace", "labels", "annotations", "finalizers", "generation", "ownerReferences"] {
                var e = expected[path: ["metadata", k]], a = actual[path: ["metadata", k]]
                if k == "annotations" {
                    // kubectl's client-side-apply annotation is not reproduced by the bootstrap.
                    e?["kubectl.kubernetes.io/last-applied-configuration"] = nil
                    a?["kubectl.kubernetes.io/last-applied-configuration"] = nil
                    if e?.objectValue?.isEmpty == true { e = nil }
                    if a?.objectValue?.isEmpty == true { a = nil }
                }
                if k == "name", expected[path: ["metadata", "generateName"]] != nil { continue }
                if scrub(e) != scrub(a) { diffs.append("metadata.\(k): expected \(e?.jsonString() ?? "absent"), got \(a?.jsonString() ?? "absent")") }
            }
            for k in ["deletionTimestamp", "uid", "creationTimestamp", "resourceVersion"] where (expected[path: ["metadata", k]] == nil) != (actual[path: ["metadata", k]] == nil) {
                diffs.append("metadata.\(k) presence differs")
            }
        }
        return diffs
    }

    /// Drops values that legitimately differ between runs (timestamps, uids).
    static func scrub(_ v: JSONValue?) -> JSONValue? {
        guard let v else { return nil }
        switch v {
        case .object(let o):
            var r: [String: JSONValue] = [:]
            for (k, c) in o where !["lastTransitionTime", "uid", "resourceVersion", "creationTimestamp", "time", "renewTime", "acquireTime", "lastHeartbeatTime"].contains(k) {
                r[k] = scrub(c)
            }
            return .object(r)
        case .array(let a): return .array(a.compactMap(scrub))
        default: return v
        }
    }
}
