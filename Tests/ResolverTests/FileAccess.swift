#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct FileAccessError: Error, CustomStringConvertible {
    var description: String
}

/// Reads a whole file (test fixtures).
func readBytes(_ path: String) throws -> [UInt8] {
    guard let f = fopen(path, "rb") else { throw FileAccessError(description: "failed to open fixture '\(path)': errno \(errno)") }
    defer { fclose(f) }
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buffer, 1, buffer.count, f)
        if n > 0 { out += buffer[0..<n] }
        if n < buffer.count { break }
    }
    return out
}

/// Names in a directory (test fixtures).
func listDirectory(_ path: String) throws -> [String] {
    guard let d = opendir(path) else { throw FileAccessError(description: "failed to open fixture directory '\(path)': errno \(errno)") }
    defer { closedir(d) }
    var names: [String] = []
    while let entry = readdir(d) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}
