import Foundation

/// The repository's root directory (the one holding Package.swift), found from this file's path.
/// The one place the tests find it: every fixture reader below starts here.
public func repositoryRoot(filePath: String = #filePath) -> String {
    var dir = URL(fileURLWithPath: filePath).deletingLastPathComponent()
    while dir.path != "/" {
        if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { return dir.path }
        dir.deleteLastPathComponent()
    }
    return URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
}

/// The absolute path of `relative` (`crds/…`, `manifests/examples/…`) in the repository.
public func repositoryPath(_ relative: String) -> String {
    repositoryRoot() + "/" + relative
}

/// The text of the repository file `relative`; throws naming the file when it cannot be read.
public func readRepositoryFile(_ relative: String) throws -> String {
    try readFixture(repositoryPath(relative))
}

/// The text of the file at the absolute `path`; throws naming the file when it cannot be read.
public func readFixture(_ path: String) throws -> String {
    guard let bytes = try bytesIfPresent(path) else { throw TestFailure("fixture \(path) does not exist") }
    return String(decoding: bytes, as: UTF8.self)
}

/// The files (paths relative to the repository root, sorted) whose names end in one of
/// `extensions` directly in the repository folder `directory`, or anywhere below it when `recursive`.
/// A folder that cannot be listed throws, naming it, so that tests taking these as arguments fail.
public func repositoryFiles(in directory: String, extensions: Set<String> = ["yaml", "yml", "json"],
                            recursive: Bool = false) throws -> [String] {
    let base = repositoryPath(directory)
    let names: [String]
    do {
        names = recursive ? try FileManager.default.subpathsOfDirectory(atPath: base)
                          : try FileManager.default.contentsOfDirectory(atPath: base)
    } catch {
        throw TestFailure("cannot list fixture folder \(base): \(error)")
    }
    return names.filter { extensions.contains(($0 as NSString).pathExtension) }.map { directory + "/" + $0 }.sorted()
}

/// The recorded Kubernetes API exchanges: `$AUTOMAGIC_TRACES`, or `shared/kube-api-traces` beside
/// the repository's folder.
public func kubeAPITracesDirectory() -> String {
    if let path = ProcessInfo.processInfo.environment["AUTOMAGIC_TRACES"], !path.isEmpty { return path }
    return URL(fileURLWithPath: repositoryRoot()).deletingLastPathComponent().appendingPathComponent("shared/kube-api-traces").path
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
