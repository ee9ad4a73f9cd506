import JSON

/// Reading and writing the agent → plugin mapping file.
///
/// ```swift
/// // agent
/// try MappingFile.writeIfChanged(mapping, to: MappingFile.defaultPath)
/// // plugin
/// let mapping = try MappingFile.read(path: MappingFile.defaultPath)
/// ```
public enum MappingFile {
    /// Where the agent writes the file and the plugin reads it unless configured otherwise.
    public static let defaultPath = "/run/automagic/mapping.json"

    /// Reads and strictly decodes the file. Errors: ``MappingFileError/notFound(path:)`` when it
    /// does not exist, `readFailed`, `decodeFailed` (truncated, garbage), `wrongKind`, `invalidField`.
    public static func read(path: String) throws(MappingFileError) -> NodeNetworkMapping {
        let bytes = try AtomicFile.read(path: path)
        return try decode(bytes, path: path)
    }

    /// Decodes mapping-file bytes; `path` only names the file in errors.
    public static func decode(_ bytes: [UInt8], path: String) throws(MappingFileError) -> NodeNetworkMapping {
        let json: JSONValue
        do {
            json = try JSONValue.parse(bytes)
        } catch {
            let what = bytes.isEmpty ? "the file is empty" : "\(error) (truncated or not JSON?)"
            throw .decodeFailed(path: path, cause: what)
        }
        return try NodeNetworkMapping(json: json, path: path)
    }

    /// The bytes written for `mapping` (pretty JSON, sorted keys, trailing newline).
    public static func encode(_ mapping: NodeNetworkMapping) -> [UInt8] {
        var bytes = mapping.json.serialized(pretty: true)
        bytes.append(0x0A)
        return bytes
    }

    /// Writes `mapping` atomically (temporary file, fsync, rename, fsync of the directory),
    /// creating the directory if needed.
    public static func write(_ mapping: NodeNetworkMapping, to path: String) throws(MappingFileError) {
        try AtomicFile.makeDirectories(AtomicFile.directory(of: path))
        try AtomicFile.write(encode(mapping), to: path)
    }

    /// Writes `mapping` only if the file's content would change; returns whether it wrote.
    /// Compare content, not generation: the agent can call this on every resync cheaply.
    @discardableResult
    public static func writeIfChanged(_ mapping: NodeNetworkMapping, to path: String) throws(MappingFileError) -> Bool {
        try AtomicFile.makeDirectories(AtomicFile.directory(of: path))
        return try AtomicFile.writeIfChanged(encode(mapping), to: path)
    }

    /// Removes temporary files a crashed writer left next to `path`'s directory.
    @discardableResult
    public static func cleanStaleTemporaries(directory: String, olderThanSeconds: Int = 60) -> [String] {
        AtomicFile.cleanStaleTemporaries(in: directory, olderThanSeconds: olderThanSeconds)
    }
}
