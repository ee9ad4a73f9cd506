import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Removes what a test created: a file or a whole directory tree.
///
/// Already gone is fine; any other failure is recorded as an issue of the running test (at the
/// caller's `sourceLocation`) instead of being swallowed, so a leak shows up in the test report.
/// Meant for `defer`, so it never throws.
public func removeTestFiles(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) {
    guard FileManager.default.fileExists(atPath: path) else { return }
    do {
        try FileManager.default.removeItem(atPath: path)
    } catch {
        Issue.record("failed to remove test files at \(path): \(error)", sourceLocation: sourceLocation)
    }
}

/// The bytes of the file at `path`, or nil while it does not exist (`ENOENT`: a log or report a
/// child process has not written yet, a file a test expects to come back). Any other failure
/// (permissions, a directory in its place, an I/O error) throws, naming the file.
public func bytesIfPresent(_ path: String) throws -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 {
        let e = errno
        if e == ENOENT { return nil }
        throw TestFailure("cannot open \(path): \(String(cString: strerror(e)))")
    }
    do {
        return [UInt8](try FileHandle(fileDescriptor: fd, closeOnDealloc: true).readToEnd() ?? Data())
    } catch {
        throw TestFailure("cannot read \(path): \(error)")
    }
}

/// The text of the file at `path`, or "" while it does not exist (a log a child process has not
/// created yet). Any other failure to read it throws.
public func contentsIfPresent(_ path: String) throws -> String {
    String(decoding: try bytesIfPresent(path) ?? [], as: UTF8.self)
}

/// ``contentsIfPresent(_:)`` for logs shown in failure messages and polled by non-throwing
/// helpers: "" while the file does not exist; any other failure is recorded as an issue of the
/// running test and named in the returned text.
public func logText(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) -> String {
    do {
        return try contentsIfPresent(path)
    } catch {
        Issue.record("cannot read \(path): \(error)", sourceLocation: sourceLocation)
        return "(\(path) unreadable: \(error))"
    }
}

/// Runs `body`, then `cleanup` whether `body` threw or not; returns what `body` returned or
/// rethrows its error.
public func withCleanup<R>(_ body: () async throws -> R, cleanup: () async -> Void) async throws -> R {
    let result: R
    do {
        result = try await body()
    } catch {
        await cleanup()
        throw error
    }
    await cleanup()
    return result
}
