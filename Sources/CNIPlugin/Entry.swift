#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNI

/// The `automagic` executable's entry point: reads the process environment and stdin,
/// runs the plugin, writes stdout. Returns the exit status.
public enum AutomagicMain {
    /// Runs one invocation of the plugin as a process.
    public static func run() -> Int32 {
        // VERSION is asked often (every runtime and every delegating plugin asks it) and needs
        // nothing: answer it before building any state. Same bytes as Skel's answer (tested).
        if let command = getenv("CNI_COMMAND"), strcmp(command, "VERSION") == 0 {
            versionAnswer.withUTF8Buffer { write($0) }
            return 0
        }
        let output = Skel.run(AutomagicPlugin(), environment: processEnvironment(), stdin: { readStandardInput() })
        output.stdout.withUnsafeBufferPointer { write($0) }
        return output.exitCode
    }

    /// The VERSION answer, as ``Skel/versionInfo(_:)`` prints it for ``AutomagicPlugin/supportedVersions``.
    public static let versionAnswer: StaticString = """
        {"cniVersion":"1.1.0","supportedVersions":["0.4.0","1.0.0","1.1.0"]}

        """

    private static func write(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(1, base + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += n
        }
    }

    /// The process environment as a dictionary.
    public static func processEnvironment() -> [String: String] {
        var count = 0
        while environ[count] != nil { count += 1 }
        var env: [String: String] = [:]
        env.reserveCapacity(count)  // no rehashing while filling
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") {
                env[String(s[..<eq])] = String(s[s.index(after: eq)...])
            }
            p += 1
        }
        return env
    }

    /// Everything on stdin.
    public static func readStandardInput() -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(0, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                break
            }
            if n == 0 { break }
            out.append(contentsOf: buffer[0..<n])
        }
        return out
    }
}
