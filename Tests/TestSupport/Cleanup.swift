import Foundation
import Testing

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

/// The text of the file at `path`, or "" while it does not exist (a log a child process has not
/// created yet). Any other failure to read it throws.
public func contentsIfPresent(_ path: String) throws -> String {
    guard FileManager.default.fileExists(atPath: path) else { return "" }
    return try String(contentsOfFile: path, encoding: .utf8)
}
