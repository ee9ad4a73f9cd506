import CTLS
import DRA
import JSON
import KubeCore

/// The SHA-256 of some bytes (OpenSSL's `SHA256`), held inline: comparing two of them stands in
/// for comparing the JSON they were taken of.
struct SHA256Digest: Hashable, Sendable, CustomStringConvertible {
    private var words: (UInt64, UInt64, UInt64, UInt64)

    init(of bytes: [UInt8]) {
        var md = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &md) { out in
            bytes.withUnsafeBufferPointer { input in
                _ = SHA256(input.baseAddress, input.count, out.baseAddress?.assumingMemoryBound(to: UInt8.self))
            }
        }
        words = md
    }

    static func == (a: Self, b: Self) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }

    /// The 64 lowercase hex digits (`sha256sum`'s form).
    var description: String {
        var w = words
        return withUnsafeBytes(of: &w) { raw in
            raw.map { byte in
                let hex = String(byte, radix: 16)
                return hex.count == 1 ? "0" + hex : hex
            }.joined()
        }
    }
}

/// A `resource.k8s.io/v1` ResourceSlice as the agent keeps it: its metadata, the `spec` fields
/// the planner reads, and digests of `spec` and `spec.devices` in place of the devices
/// themselves (a node's slices hold hundreds of devices; the agent only ever compares them with
/// what it would write). Read straight from the API's bytes (``JSONReader``); the devices are
/// parsed one slice at a time to take the digests, then dropped.
struct ResourceSliceSummary: KubernetesObject, JSONReadable, Hashable {
    static var resourceType: ResourceType { ResourceSlicePlanning.resourceType }

    var metadata: ObjectMeta
    var driver: String?
    var nodeName: String?
    /// `spec.pool.name`, `.generation` and `.resourceSliceCount`.
    var poolName: String?
    var generation: Int64?
    var resourceSliceCount: Int64?
    /// The SHA-256 of the canonical JSON (``JSONValue/serialized(pretty:)``) of `spec.devices`
    /// (of `[]` when it is missing or not an array).
    var devicesDigest: SHA256Digest
    /// The SHA-256 of the canonical JSON of the whole `spec` (of `null` when it is missing).
    var specDigest: SHA256Digest

    /// The summary of `metadata` and `spec` (as read from the API).
    init(metadata: ObjectMeta, spec: JSONValue) {
        self.metadata = metadata
        driver = spec["driver"]?.stringValue
        nodeName = spec["nodeName"]?.stringValue
        poolName = spec[path: ["pool", "name"]]?.stringValue
        generation = spec[path: ["pool", "generation"]]?.intValue
        resourceSliceCount = spec[path: ["pool", "resourceSliceCount"]]?.intValue
        devicesDigest = SHA256Digest(of: JSONValue.array(spec["devices"]?.arrayValue ?? []).serialized())
        specDigest = SHA256Digest(of: spec.serialized())
    }

    /// The summary of a whole slice held as JSON.
    init(_ slice: JSONValue) throws(JSONError) {
        let metadata = try slice["metadata"].map { m throws(JSONError) in try JSONReader.decode(ObjectMeta.self, from: m.serialized()) }
        self.init(metadata: metadata ?? ObjectMeta(), spec: slice["spec"] ?? .null)
    }

    init(from reader: inout JSONReader) throws(JSONError) {
        var metadata: ObjectMeta?
        var spec: JSONValue = .null
        var object = try reader.beginObject()
        while let key = try reader.nextKey(&object) {
            switch key {
            case "metadata": metadata = try reader.readOrNull(ObjectMeta.self)
            case "spec": spec = try reader.readValue()
            default: break
            }
        }
        self.init(metadata: metadata ?? ObjectMeta(), spec: spec)
    }

    init(from decoder: any Decoder) throws {
        try self.init(JSONValue(from: decoder))
    }

    /// A summary cannot be written back: it holds digests, not the devices.
    func encode(to encoder: any Encoder) throws {
        throw EncodingError.invalidValue(self, EncodingError.Context(
            codingPath: encoder.codingPath,
            debugDescription: "ResourceSlice '\(metadata.name ?? "")' is held as a summary (digests of its devices), which cannot be written"))
    }
}
