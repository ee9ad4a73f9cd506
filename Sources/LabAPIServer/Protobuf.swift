import JSON

/// Just enough of the Kubernetes protobuf encoding to accept what kubectl's typed generators send
/// (`kubectl create namespace x` posts `application/vnd.kubernetes.protobuf`): the `k8s\0` envelope
/// (runtime.Unknown) and the object's ObjectMeta. Fields beyond metadata are not decoded.
enum Protobuf {
    struct Reader {
        let bytes: [UInt8]
        var i = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        var atEnd: Bool { i >= bytes.count }

        mutating func varint() -> UInt64? {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while i < bytes.count, shift < 64 {
                let b = bytes[i]; i += 1
                result |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { return result }
                shift += 7
            }
            return nil
        }

        /// (field number, wire type, payload for length-delimited or the varint value)
        mutating func field() -> (Int, Int, [UInt8], UInt64)? {
            guard let key = varint() else { return nil }
            let number = Int(key >> 3), wire = Int(key & 7)
            switch wire {
            case 0:
                guard let v = varint() else { return nil }
                return (number, wire, [], v)
            case 2:
                // Compared as UInt64: a forged length beyond Int.max must not trap the conversion.
                guard let length = varint(), length <= UInt64(bytes.count - i) else { return nil }
                let n = Int(length)
                let payload = Array(bytes[i..<(i + n)])
                i += n
                return (number, wire, payload, 0)
            case 1: guard i + 8 <= bytes.count else { return nil }; i += 8; return (number, wire, [], 0)
            case 5: guard i + 4 <= bytes.count else { return nil }; i += 4; return (number, wire, [], 0)
            default: return nil
            }
        }
    }

    struct DecodeError: Error { var message: String }

    static func string(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

    /// Decodes an enveloped object into JSON (apiVersion, kind, metadata; Namespace spec finalizers).
    static func decodeObject(_ body: [UInt8]) throws(DecodeError) -> JSONValue {
        guard body.count >= 4, Array(body.prefix(4)) == [0x6B, 0x38, 0x73, 0x00] else {
            throw DecodeError(message: "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]")
        }
        var r = Reader(Array(body.dropFirst(4)))
        var apiVersion = "", kind = ""
        var raw: [UInt8] = []
        while !r.atEnd {
            guard let (n, _, payload, _) = r.field() else { throw DecodeError(message: "truncated protobuf envelope") }
            if n == 1 {
                var t = Reader(payload)
                while !t.atEnd {
                    guard let (tn, _, tp, _) = t.field() else { throw DecodeError(message: "truncated TypeMeta") }
                    if tn == 1 { apiVersion = string(tp) } else if tn == 2 { kind = string(tp) }
                }
            } else if n == 2 {
                raw = payload
            }
        }
        var obj: [String: JSONValue] = ["apiVersion": .string(apiVersion), "kind": .string(kind)]
        var o = Reader(raw)
        while !o.atEnd {
            guard let (n, _, payload, _) = o.field() else { throw DecodeError(message: "truncated object") }
            if n == 1 { obj["metadata"] = try objectMeta(payload) }
            if n == 2 && kind == "Namespace" {
                var finalizers: [JSONValue] = []
                var s = Reader(payload)
                while !s.atEnd {
                    guard let (sn, _, sp, _) = s.field() else { throw DecodeError(message: "truncated spec") }
                    if sn == 1 { finalizers.append(.string(string(sp))) }
                }
                if !finalizers.isEmpty { obj["spec"] = ["finalizers": .array(finalizers)] }
            }
        }
        return .object(obj)
    }

    static func objectMeta(_ b: [UInt8]) throws(DecodeError) -> JSONValue {
        var meta: [String: JSONValue] = [:]
        var labels: [String: JSONValue] = [:], annotations: [String: JSONValue] = [:]
        var finalizers: [JSONValue] = []
        var r = Reader(b)
        while !r.atEnd {
            guard let (n, _, payload, value) = r.field() else { throw DecodeError(message: "truncated ObjectMeta") }
            switch n {
            case 1: meta["name"] = .string(string(payload))
            case 2: meta["generateName"] = .string(string(payload))
            case 3: meta["namespace"] = .string(string(payload))
            case 6: meta["resourceVersion"] = .string(string(payload))
            case 7: meta["generation"] = .int(Int64(bitPattern: value))
            case 11, 12:
                var e = Reader(payload)
                var k = "", v = ""
                while !e.atEnd {
                    guard let (en, _, ep, _) = e.field() else { throw DecodeError(message: "truncated map entry") }
                    if en == 1 { k = string(ep) } else if en == 2 { v = string(ep) }
                }
                if n == 11 { labels[k] = .string(v) } else { annotations[k] = .string(v) }
            case 14: finalizers.append(.string(string(payload)))
            default: break
            }
        }
        if !labels.isEmpty { meta["labels"] = .object(labels) }
        if !annotations.isEmpty { meta["annotations"] = .object(annotations) }
        if !finalizers.isEmpty { meta["finalizers"] = .array(finalizers) }
        if case .string(let rv)? = meta["resourceVersion"], rv.isEmpty { meta["resourceVersion"] = nil }
        return .object(meta)
    }
}
