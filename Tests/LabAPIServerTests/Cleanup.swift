import Foundation
import Testing

/// Removes what a test created. Already gone is fine; any other failure is recorded as an issue
/// of the test instead of being swallowed.
func removeTestFiles(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) {
    guard FileManager.default.fileExists(atPath: path) else { return }
    do {
        try FileManager.default.removeItem(atPath: path)
    } catch {
        Issue.record("failed to remove test files at \(path): \(error)", sourceLocation: sourceLocation)
    }
}
