#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import JSON
import KubeCore

/// The fast decode path: types that are ``JSONReadable`` are read straight from the response bytes
/// with `JSONReader` (no `JSONDecoder`, no whole-document map); every other `Decodable` goes
/// through Foundation's `JSONDecoder` as before.
enum FastDecoding {
    /// A function reading a whole document as a `V` with `JSONReader`, or nil when `V` is not `JSONReadable`.
    /// Look it up once per decoder (the check is a dynamic cast).
    static func reader<V>(for type: V.Type) -> ((UnsafeRawBufferPointer) throws(JSONError) -> V)? {
        guard let readable = V.self as? any JSONReadable.Type else { return nil }
        return open(readable, as: V.self)
    }

    private static func open<R: JSONReadable, V>(_ readable: R.Type, as type: V.Type) -> (UnsafeRawBufferPointer) throws(JSONError) -> V {
        { bytes throws(JSONError) in
            let value = try JSONReader.decode(R.self, from: bytes)
            // R is V (the cast above succeeded on V.self); this cast is an identity.
            guard let v = value as? V else { throw JSONError(message: "decoded \(R.self), not \(V.self)", offset: 0) }
            return v
        }
    }

    /// Decodes `body` as a `V`: through `JSONReader` when `V` is `JSONReadable`, else `JSONDecoder`.
    /// Errors are ``KubeClientError/decoding(url:message:)`` naming `url`, what failed and where.
    static func decode<V: Decodable>(_ type: V.Type, from body: Data, url: String) throws(KubeClientError) -> V {
        if let read = reader(for: V.self) {
            do {
                return try body.withUnsafeBytes { raw in try read(raw) }
            } catch let error as JSONError {
                throw .decoding(url: url, message: describeReaderError(error, body: body))
            } catch {
                throw .decoding(url: url, message: "\(error)")
            }
        }
        do {
            return try JSONDecoder().decode(V.self, from: body)
        } catch {
            throw .decoding(url: url, message: describeDecodingError(error, body: body))
        }
    }
}

/// A readable explanation of a `JSONReader` failure, with the start of the body.
func describeReaderError(_ error: JSONError, body: Data) -> String {
    let reason = "not a valid object (\(error))"
    if body.isEmpty { return "\(reason); the body is empty" }
    return "\(reason); body starts with: " + String(decoding: body.prefix(200), as: UTF8.self)
}
