import Foundation

/// The repository's root directory (the one holding Package.swift), found from this file's path.
public func repositoryRoot(filePath: String = #filePath) -> String {
    var dir = URL(fileURLWithPath: filePath).deletingLastPathComponent()
    while dir.path != "/" {
        if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { return dir.path }
        dir.deleteLastPathComponent()
    }
    return URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
}

/// A product (`automagic-agent`, `automagic-bench`, …) built next to the test bundle by
/// `swift build --build-tests`; throws naming the command that builds it when it is missing.
public func builtProduct(_ name: String) throws -> String {
    let candidates = [
        Bundle.main.executableURL?.deletingLastPathComponent().appendingPathComponent(name).path,
        repositoryRoot() + "/.build/debug/" + name,
    ].compactMap { $0 }
    guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        throw TestFailure("\(name) is not built next to the tests (looked at \(candidates.joined(separator: ", "))): swift build --build-tests builds it")
    }
    return found
}
