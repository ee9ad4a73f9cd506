import JSON

// Open enums read any string as-is (unknown values are kept, as with `Codable`).

extension DeviceKind: JSONReadable {
    /// Reads the kind string; unknown kinds are kept.
    public init(from reader: inout JSONReader) throws(JSONError) { self.init(rawValue: try reader.readString()) }
}

extension MatchOperator: JSONReadable {
    /// Reads the operator string; unknown operators are kept (validation reports them).
    public init(from reader: inout JSONReader) throws(JSONError) { self.init(rawValue: try reader.readString()) }
}

extension SelectPolicy: JSONReadable {
    /// Reads the policy string; unknown policies are kept (validation reports them).
    public init(from reader: inout JSONReader) throws(JSONError) { self.init(rawValue: try reader.readString()) }
}

extension AttachmentType: JSONReadable {
    /// Reads the delegate type string; unknown types are kept (validation reports them).
    public init(from reader: inout JSONReader) throws(JSONError) { self.init(rawValue: try reader.readString()) }
}
