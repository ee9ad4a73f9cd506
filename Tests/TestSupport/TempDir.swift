import Foundation
import Testing

/// Creates a fresh directory `<base>/<prefix>-XXXXXX` (by `mkdtemp`: a new name, made by this call
/// alone, mode 0700) and returns its path. Remove it with `removeTestFiles` in `defer`.
///
/// `base` is the temporary directory (`TMPDIR`, else `/tmp`), or with `inMemory` `/dev/shm` where
/// there is one: quicker for tests that write and sync a lot, but often mounted `noexec` and
/// small, so not for executables or large files.
public func makeTempDir(_ prefix: String = "amtest", inMemory: Bool = false) throws -> String {
    var base = inMemory && FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    while base.count > 1, base.hasSuffix("/") { base.removeLast() }
    var template = Array("\(base)/\(prefix)-XXXXXX".utf8CString)
    guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
        throw TestFailure("mkdtemp \(base)/\(prefix)-XXXXXX: \(String(cString: strerror(errno)))")
    }
    return String(cString: made)
}

/// A fresh temporary directory (see `makeTempDir`) with helpers to fill it; `cleanup()` removes it.
public struct TempDir: Sendable {
    /// The directory's absolute path.
    public let path: String

    public init(_ prefix: String = "amtest", inMemory: Bool = false) throws {
        path = try makeTempDir(prefix, inMemory: inMemory)
    }

    /// Writes `text` to the file `name` in the directory (replacing it atomically) with
    /// permissions `mode` (0o755 for a script to run); returns the file's path.
    @discardableResult
    public func write(_ name: String, _ text: String, mode: Int = 0o644) throws -> String {
        let file = path + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: file), options: .atomic)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file)
        return file
    }

    /// Removes the directory and everything in it; a failure is recorded as an issue of the test.
    public func cleanup(sourceLocation: SourceLocation = #_sourceLocation) {
        removeTestFiles(path, sourceLocation: sourceLocation)
    }
}
