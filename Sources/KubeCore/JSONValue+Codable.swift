#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import JSON

// Bridges between `JSONValue` and Codable types through Foundation's JSON coders. They live here,
// not in the JSON module, so that JSON (and the CNI plugin, which links it) needs no Foundation.

extension JSONValue {
    /// Encodes any `Encodable` value into a `JSONValue` (through its JSON form).
    public init(encoding value: some Encodable) throws {
        let data = try JSONEncoder().encode(value)
        self = try JSONValue.parse(data)
    }

    /// Decodes this value into `type` (through its JSON form).
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: Data(serialized()))
    }
}
