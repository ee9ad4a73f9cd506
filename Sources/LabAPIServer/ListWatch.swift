import Foundation
import JSON
import KubeCore

/// Label and field selection of objects.
struct Selection {
    var labels: LabelSelectorString?
    var fields: FieldSelector?

    static func parse(_ request: LabRequest, def: ResourceDef) throws(APIError) -> Selection {
        var s = Selection()
        if let l = request.queryValue("labelSelector"), !l.isEmpty {
            do { s.labels = try LabelSelectorString.parse(l) } catch {
                let m = error.message
                throw APIError.badRequest(m.hasPrefix("unable to parse requirement") || m.hasPrefix("couldn't parse") ? m : "unable to parse requirement: \(m)")
            }
        }
        if let f = request.queryValue("fieldSelector"), !f.isEmpty {
            let parsed: FieldSelector
            do { parsed = try FieldSelector.parse(f) } catch { throw APIError.badRequest(error.message) }
            let allowed = Selection.supportedFields(def)
            for t in parsed.terms where !allowed.contains(t.field) {
                throw APIError.badRequest(ResourceAPI.unsupportedFieldLabel(t.field, def: def) ?? "field label not supported: \(t.field)")
            }
            s.fields = parsed
        }
        return s
    }

    static func supportedFields(_ def: ResourceDef) -> Set<String> {
        var set: Set<String> = ["metadata.name", "metadata.namespace"]
        if !def.isCustom {
            switch (def.group, def.plural) {
            case ("", "nodes"): set.insert("spec.unschedulable")
            case ("", "namespaces"): set.insert("status.phase")
            case ("", "events"):
                for f in ["involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                          "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                          "reason", "reportingComponent", "source", "type"] { set.insert(f) }
            case ("events.k8s.io", "events"):
                for f in ["regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid", "regarding.apiVersion",
                          "regarding.resourceVersion", "regarding.fieldPath", "reason", "reportingController", "type"] { set.insert(f) }
            default: if let fields = ResourceAPI.selectableFields(def) { set = fields }
            }
        }
        return set
    }

    func matches(_ obj: JSONValue) -> Bool {
        if let labels {
            var l: [String: String] = [:]
            if case .object(let o)? = obj[path: ["metadata", "labels"]] { for (k, v) in o { if let s = v.stringValue { l[k] = s } } }
            if !labels.matches(l) { return false }
        }
        if let fields {
            var values: [String: String] = [:]
            for t in fields.terms {
                let path = t.field.split(separator: ".").map(String.init)
                switch obj[path: path] {
                case .string(let s)?: values[t.field] = s
                case .bool(let b)?: values[t.field] = b ? "true" : "false"
                case .int(let i)?: values[t.field] = String(i)
                default: values[t.field] = ""
                }
                if t.field == "spec.unschedulable" && values[t.field] == "" { values[t.field] = "false" }
            }
            if !fields.matches(values) { return false }
        }
        return true
    }

    var isEmpty: Bool { labels == nil && fields == nil }

    /// How one committed change looks to a watcher with this selection (`object` and `previous` as
    /// presented in the watched version): nil when the watcher does not see it at all. An object that
    /// starts matching arrives as ADDED, one that stops matching leaves as DELETED with its last
    /// matching state at the change's resourceVersion, like kube-apiserver's cacheWatcher.
    func watchEvent(_ type: ChangeType, object: JSONValue, previous: JSONValue?, rv: Int64) -> WatchEvent? {
        let nowMatches = matches(object)
        if !isEmpty, type == .modified, let previous {
            switch (matches(previous), nowMatches) {
            case (false, false): return nil
            case (false, true): return WatchEvent(type: "ADDED", replacement: nil)
            case (true, false):
                var last = previous
                last[path: ["metadata", "resourceVersion"]] = .string(String(rv))
                return WatchEvent(type: "DELETED", replacement: last)
            case (true, true): return WatchEvent(type: type.rawValue, replacement: nil)
            }
        }
        if type == .deleted {
            if !isEmpty && !(previous.map { matches($0) } ?? nowMatches) { return nil }
            return WatchEvent(type: type.rawValue, replacement: nil)
        }
        return nowMatches ? WatchEvent(type: type.rawValue, replacement: nil) : nil
    }
}

/// One event as a watcher sends it: its type, and the object to send instead of the stored one (nil: the stored one).
struct WatchEvent: Equatable {
    var type: String
    var replacement: JSONValue?
}

/// When a watch sends its bookmarks: about every minute (so clients can tell a quiet watch from a dead
/// connection) and, for a watch with a timeout, one just before the timeout ends it, like kube-apiserver.
struct BookmarkSchedule: Equatable {
    /// The last bookmark's time: a little before the deadline of a watch with a timeout, nil without one.
    var final: Date?
    /// Seconds between periodic bookmarks (kube-apiserver: about 60; `LabAPIConfiguration.bookmarkInterval`).
    var interval: TimeInterval

    init(deadline: Date, timeout: TimeInterval?, interval: TimeInterval = 60) {
        final = timeout.map { deadline.addingTimeInterval(-min(2, $0 / 2)) }
        self.interval = interval
    }

    /// The bookmark after one sent (or the watch started) at `t`; nil when none is left.
    func next(after t: Date) -> Date? {
        let periodic = t.addingTimeInterval(interval)
        guard let final else { return periodic }
        if periodic < final { return periodic }
        return t < final ? final : nil
    }
}

extension LabAPI {
    // MARK: - list

    struct ContinueToken { var rv: Int64; var start: String }

    static func encodeContinue(rv: Int64, start: String) -> String {
        var out: [UInt8] = []
        out.append(contentsOf: "{\"v\":\"meta.k8s.io/v1\",\"rv\":\(rv),\"start\":".utf8)
        Wire.writeString(start + "\u{0}", into: &out)
        out.append(UInt8(ascii: "}"))
        return Data(out).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// An integer query parameter (nil when absent or empty). Like kube-apiserver, anything but a whole
    /// number that fits in 64 bits is a 400 naming the parameter, not a silent default.
    static func integerParameter(_ req: LabRequest, _ name: String) throws(APIError) -> Int64? {
        guard let text = req.queryValue(name), !text.isEmpty else { return nil }
        guard let value = Int64(text) else {
            throw APIError.badRequest("invalid value \"\(text.prefix(64))\" for query parameter \(name): not a whole number between \(Int64.min) and \(Int64.max)")
        }
        return value
    }

    /// A `resourceVersion` parameter is empty or a non-negative 64-bit number (kube-apiserver parses it as unsigned).
    static func checkResourceVersion(_ text: String) throws(APIError) {
        if !text.isEmpty, Int64(text).map({ $0 < 0 }) ?? true {
            throw APIError.badRequest("invalid resource version: \(text.prefix(64))")
        }
    }

    static func decodeContinue(_ token: String) throws(APIError) -> ContinueToken {
        var b64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64) else {
            let bad = token.firstIndex { !($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
            let pos = bad.map { token.distance(from: token.startIndex, to: $0) } ?? token.count
            throw APIError.badRequest("invalid continue token: continue key is not valid: illegal base64 data at input byte \(pos)")
        }
        guard let v = try? JSONValue.parse(Array(data)), v["v"]?.stringValue == "meta.k8s.io/v1",
              let rv = v["rv"]?.intValue, let start = v["start"]?.stringValue else {
            throw APIError.badRequest("invalid continue token: continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
        }
        return ContinueToken(rv: rv, start: start.hasSuffix("\u{0}") ? String(start.dropLast()) : start)
    }

    func listObjects(_ ctx: RequestContext) throws(APIError) {
        let req = ctx.request
        let def = ctx.def
        let selection = try Selection.parse(req, def: def)
        let rvParam = req.queryValue("resourceVersion") ?? ""
        if let m = req.queryValue("resourceVersionMatch"), !m.isEmpty {
            if rvParam.isEmpty {
                throw APIError.invalid(kind: "ListOptions", group: "meta.k8s.io", name: "", causes: [APICause(
                    reason: "FieldValueForbidden", message: "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
                    field: "resourceVersionMatch")])
            }
        }
        let continueParam = req.queryValue("continue") ?? ""
        var token: ContinueToken? = nil
        if !continueParam.isEmpty {
            if !rvParam.isEmpty && rvParam != "0" {
                throw APIError.badRequest("specifying resource version is not allowed when using continue")
            }
            token = try LabAPI.decodeContinue(continueParam)
        }
        try LabAPI.checkResourceVersion(rvParam)
        var limit = Int(try LabAPI.integerParameter(req, "limit") ?? 0)
        _ = try LabAPI.integerParameter(req, "timeoutSeconds")  // a list finishes long before any timeout; the value is still checked
        if rvParam == "0" && token == nil { limit = 0 }
        let namespace = ctx.route.namespace
        let requested = Int64(rvParam) ?? 0
        // kube-apiserver 1.24 serves a list with a resourceVersion (not Exact, no limit, no continue) from
        // its watch cache, which first waits for that resourceVersion; the others go to etcd and fail at once.
        if requested > 0, token == nil, limit == 0, req.queryValue("resourceVersionMatch") != "Exact" {
            waitForResourceVersion(requested, ctx)
        }
        let (items, listRV, remaining, nextStart) = try store.with { (s: inout StoreState) throws(APIError) -> ([StoredObject], Int64, Int, String?) in
            if requested > s.rv { throw APIError.resourceVersionTooLarge(requested: requested, current: s.rv) }
            // A continue token pins the first page's snapshot; once the history no longer reaches back
            // to it (etcd compacted it), the list cannot go on consistently: 410 Expired, with a token
            // for an inconsistent continuation (rv -1), exactly as kube-apiserver answers.
            if let token, token.rv > 0, token.rv < s.oldestResumableRV {
                var expired = APIError.expired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
                expired.metadata = ["continue": .string(LabAPI.encodeContinue(rv: -1, start: token.start))]
                throw expired
            }
            var all = s.list(def.storageKey, namespace: namespace.isEmpty ? nil : namespace)
            if let token {
                let key = token.start
                all = all.filter { StoreState.key(namespace: $0.namespace, name: $0.name) > key }
            }
            if !selection.isEmpty { all = all.filter { selection.matches(EventConversion.present($0.value, def)) } }
            let listRV = token.map { $0.rv > 0 ? $0.rv : s.rv } ?? (rvParam == "0" ? (s.lastRV[def.storageKey] ?? s.rv) : s.rv)
            if limit > 0 && all.count > limit {
                let page = Array(all.prefix(limit))
                let last = page.last.map { StoreState.key(namespace: $0.namespace, name: $0.name) } ?? ""
                return (page, listRV, all.count - limit, last)
            }
            return (all, listRV, 0, nil)
        }
        var listMeta: [String: JSONValue] = ["resourceVersion": .string(String(listRV))]
        if let nextStart {
            listMeta["continue"] = .string(LabAPI.encodeContinue(rv: listRV, start: nextStart))
            listMeta["remainingItemCount"] = .int(Int64(remaining))
        } else if def.isCustom {
            listMeta["continue"] = ""
        }
        switch ctx.format {
        case .table(let include):
            let table = Tables.table(for: items.map(\.value), def: def, includeObject: include, listMeta: .object(listMeta))
            writeJSON(table, order: .goStruct, request: req, sink: ctx.sink, auditID: ctx.auditID, extraHeaders: warningHeaders(def))
            return
        case .partialMetadata:
            let partial: JSONValue = [
                "kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": .object(listMeta),
                "items": .array(items.map { ["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": $0.value["metadata"] ?? [:]] }),
            ]
            writeJSON(partial, order: .goStruct, request: req, sink: ctx.sink, auditID: ctx.auditID, extraHeaders: warningHeaders(def))
            return
        case .yaml:
            writeJSON(listValue(items, def: def, meta: listMeta), order: def.keyOrder, request: req, sink: ctx.sink, auditID: ctx.auditID,
                      extraHeaders: warningHeaders(def), format: .yaml)
            return
        case .json:
            break
        }
        if LabAPI.wantsPretty(req) || !def.isCustom || items.contains(where: { $0.value["apiVersion"]?.stringValue != def.apiVersion }) {
            writeJSON(listValue(items, def: def, meta: listMeta), order: def.keyOrder, request: req, sink: ctx.sink, auditID: ctx.auditID,
                      extraHeaders: warningHeaders(def))
            return
        }
        // Fast path for custom resources: splice the cached item bytes (keys sorted: apiVersion, items, kind, metadata).
        var out: [UInt8] = []
        out.reserveCapacity(items.reduce(256) { $0 + $1.bytes.count + 1 })
        out.append(contentsOf: "{\"apiVersion\":".utf8)
        Wire.writeString(def.apiVersion, into: &out)
        out.append(contentsOf: ",\"items\":[".utf8)
        for (i, item) in items.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: item.bytes)
        }
        out.append(contentsOf: "],\"kind\":".utf8)
        Wire.writeString(def.listKind, into: &out)
        out.append(contentsOf: ",\"metadata\":".utf8)
        Wire.write(.object(listMeta), order: .sorted, context: .other, pretty: false, indent: 0, into: &out)
        out.append(contentsOf: "}\n".utf8)
        writeBytes(out, sink: ctx.sink, auditID: ctx.auditID, extraHeaders: warningHeaders(def))
    }

    /// Blocks the request's thread (holding no lock) until the store reaches `rv`, the configured wait
    /// (3 s) passes or the client leaves; the caller then serves the read or answers 504 ResourceVersionTooLarge.
    func waitForResourceVersion(_ rv: Int64, _ ctx: RequestContext) {
        let sink = ctx.sink
        _ = store.waitUntilFresh(rv, until: Date().addingTimeInterval(configuration.resourceVersionWait), abandoned: { sink.isClientGone })
    }

    func listValue(_ items: [StoredObject], def: ResourceDef, meta: [String: JSONValue]) -> JSONValue {
        let values: [JSONValue] = items.map { item in
            var v = EventConversion.present(item.value, def)
            if def.isCustom {
                v["apiVersion"] = .string(def.apiVersion)
            } else {
                v["apiVersion"] = nil
                v["kind"] = nil
            }
            return v
        }
        return ["kind": .string(def.listKind), "apiVersion": .string(def.apiVersion), "metadata": .object(meta), "items": .array(values)]
    }

    // MARK: - watch

    /// The shortest time between two wake-ups of a watcher while events keep coming: a watcher that
    /// delivered less than this ago waits out the rest of it and then delivers everything committed
    /// meanwhile at once (in order). Under a burst of writes each watcher is woken about 200 times a
    /// second instead of once per event (a thread switch per event per watcher); an event after a quiet
    /// moment is delivered at once. The added latency is at most this.
    static let watchCoalescing: TimeInterval = 0.005

    func watchObjects(_ ctx: RequestContext) throws(APIError) {
        let req = ctx.request
        let def = ctx.def
        var selection = try Selection.parse(req, def: def)
        if let name = ctx.route.name {
            // The legacy /watch/.../name form watches one object.
            let term = FieldSelector.Term(field: "metadata.name", negated: false, value: name)
            selection.fields = FieldSelector(terms: (selection.fields?.terms ?? []) + [term])
        }
        let namespace = ctx.route.namespace
        let rvParam = req.queryValue("resourceVersion") ?? ""
        try LabAPI.checkResourceVersion(rvParam)
        let bookmarks = req.queryValue("allowWatchBookmarks") == "true" || req.queryValue("allowWatchBookmarks") == "1"
        // Whole seconds like kube-apiserver's int64; at most 10 years, so that every deadline stays a finite date.
        let timeout = try LabAPI.integerParameter(req, "timeoutSeconds").map { Double(min(max(0, $0), 315_360_000)) }
        let start = store.locked { s in
            s.startWatch(storageKey: def.storageKey, namespace: namespace.isEmpty ? nil : namespace, from: Int64(rvParam) ?? 0)
        }
        let queue: WatchQueue? = { if case .events(_, let q) = start { return q }; return nil }()
        defer { if let queue { store.locked { s in s.removeWatcher(queue) } } }
        if let queue { ctx.sink.onClientGone { queue.close() } }
        var headers = baseHeaders(ctx.auditID, contentType: "application/json")
        headers.append(contentsOf: warningHeaders(def))
        ctx.sink.writeHead(status: 200, headers: headers)
        let table: String? = { if case .table(let inc) = ctx.format { return inc }; return nil }()
        if case .expired(let message) = start {
            let status = APIError.expired(message).status
            _ = ctx.sink.writeBody(Array("{\"type\":\"ERROR\",\"object\":".utf8) + Wire.encode(status, order: .goStruct) + Array("}\n".utf8))
            ctx.sink.finish()
            return
        }
        let deadline = timeout.map { Date().addingTimeInterval($0) } ?? Date().addingTimeInterval(1800 + Double.random(in: 0...1800))
        let schedule = BookmarkSchedule(deadline: deadline, timeout: timeout, interval: configuration.bookmarkInterval)
        var nextBookmark: Date? = bookmarks ? schedule.next(after: Date()) : nil
        var lastRV: Int64 = 0
        // Every event of the watched version as stored, in plain JSON: the shared line is the answer.
        let plain = selection.isEmpty && namespace.isEmpty && table == nil && !EventConversion.isConverted(def)
        // A resourceVersion the store has not reached yet: like kube-apiserver 1.24's cacheWatcher, the watch
        // starts at once and sends only the changes after it (no wait, no error).
        let after = Int64(rvParam) ?? 0
        func deliver(_ changes: [Change]) -> Bool {
            for c in changes where c.rv > after {
                if plain, !c.line.isEmpty, c.apiVersion == def.apiVersion {
                    lastRV = max(lastRV, c.rv)
                    if !ctx.sink.writeBody(c.line) { return false }
                    continue
                }
                if !namespace.isEmpty && c.object.namespace != namespace { continue }
                lastRV = max(lastRV, c.rv)
                let current = EventConversion.present(c.object.value, def)
                guard let event = selection.watchEvent(c.type, object: current, previous: c.previous.map { EventConversion.present($0, def) }, rv: c.rv) else {
                    continue
                }
                // Not `??` with a ternary: JSONValue is nil-literal expressible, so that would send `null`.
                var payload = event.replacement
                if payload == nil && EventConversion.isConverted(def) { payload = current }
                if !ctx.sink.writeBody(LabAPI.watchLine(event.type, c.object, value: payload, def: def, table: table)) { return false }
            }
            return true
        }
        guard case .events(let initial, let watchQueue) = start, deliver(initial) else { ctx.sink.finish(); return }
        var lastDelivery: Date? = nil
        while !ctx.sink.isClientGone {
            var now = Date()
            if now >= deadline { break }
            if let last = lastDelivery, now.timeIntervalSince(last) < LabAPI.watchCoalescing {
                // Busy stream: gather what else is committed in the window instead of waking per event.
                Thread.sleep(forTimeInterval: LabAPI.watchCoalescing - now.timeIntervalSince(last))
                now = Date()
            }
            var wake = min(deadline, now.addingTimeInterval(1))
            if let nb = nextBookmark { wake = min(wake, nb) }
            let (changes, closed) = watchQueue.take(until: wake)
            lastDelivery = changes.isEmpty ? nil : Date()
            if !deliver(changes) { break }
            if closed { break }
            if let nb = nextBookmark, Date() >= nb {
                let rv = store.locked { s in s.lastRV[def.storageKey] ?? s.rv }
                let bm: JSONValue = ["apiVersion": .string(def.apiVersion), "kind": .string(def.kind),
                                     "metadata": ["resourceVersion": .string(String(max(rv, lastRV)))]]
                let out = Array("{\"type\":\"BOOKMARK\",\"object\":".utf8) + Wire.encode(bm, order: def.keyOrder) + Array("}\n".utf8)
                if !ctx.sink.writeBody(out) { break }
                nextBookmark = schedule.next(after: Date())
            }
        }
        ctx.sink.finish()
    }

    /// One watch event line: the stored object's shared encoding when it is sent as stored, else
    /// `value` (or the stored object) encoded in the watched version, or as a table row.
    static func watchLine(_ type: String, _ object: StoredObject?, value: JSONValue? = nil, def: ResourceDef, table: String?) -> [UInt8] {
        if table == nil, let object, value == nil, object.value["apiVersion"]?.stringValue == def.apiVersion {
            return Change.eventLine(type, object.bytes)
        }
        var out: [UInt8] = Array("{\"type\":\"\(type)\",\"object\":".utf8)
        if let table, let v = value ?? object?.value {
            out.append(contentsOf: Wire.encode(Tables.table(for: [v], def: def, includeObject: table, listMeta: ["resourceVersion": .string(object.map { String($0.rv) } ?? "")]), order: .goStruct))
        } else {
            var v = value ?? object?.value ?? .null
            if v["apiVersion"] != nil { v["apiVersion"] = .string(def.apiVersion) }
            out.append(contentsOf: Wire.encode(v, order: def.keyOrder))
        }
        out.append(contentsOf: "}\n".utf8)
        return out
    }
}
