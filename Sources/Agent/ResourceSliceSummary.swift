import DRA
import JSON
import KubeCore

/// A 128-bit digest of some bytes: two runs of the standard library's SipHash (`Hasher`) with the
/// process's random seed and different prefixes. Comparing two stands in for comparing the JSON they
/// were taken of. Digests are only compared within one process (never stored or sent), so the
/// per-process key costs nothing and makes collisions impossible to aim for; and the agent needs no
/// cryptographic library for it (it links no OpenSSL of its own:
/// `BinaryTests.theAgentDoesNotLinkOpenSSLItself`).
struct ContentDigest: Hashable, Sendable {
    private let low: Int
    private let high: Int

    init(of bytes: [UInt8]) {
        var first = Hasher()
        var second = Hasher()
        second.combine(0x6175_746F_6D61_6769 as UInt64)
        bytes.withUnsafeBytes { raw in
            first.combine(bytes: raw)
            second.combine(bytes: raw)
        }
        first.combine(bytes.count)
        second.combine(bytes.count)
        low = first.finalize()
        high = second.finalize()
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
    /// The digest of the canonical JSON (``JSONValue/serialized(pretty:)``) of `spec.devices`
    /// (of `[]` when it is missing or not an array).
    var devicesDigest: ContentDigest
    /// The digest of the canonical JSON of the whole `spec` (of `null` when it is missing).
    var specDigest: ContentDigest

    /// The summary of `metadata` and `spec` (as read from the API).
    init(metadata: ObjectMeta, spec: JSONValue) {
        self.metadata = metadata
        driver = spec["driver"]?.stringValue
        nodeName = spec["nodeName"]?.stringValue
        poolName = spec[path: ["pool", "name"]]?.stringValue
        generation = spec[path: ["pool", "generation"]]?.intValue
        resourceSliceCount = spec[path: ["pool", "resourceSliceCount"]]?.intValue
        devicesDigest = ContentDigest(of: JSONValue.array(spec["devices"]?.arrayValue ?? []).serialized())
        specDigest = ContentDigest(of: spec.serialized())
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
