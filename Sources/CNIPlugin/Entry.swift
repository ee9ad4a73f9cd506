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
        let output = Skel.run(AutomagicPlugin(), environment: processEnvironment(), stdin: { readStandardInput() })
        var offset = 0
        while offset < output.stdout.count {
            let n = output.stdout.withUnsafeBytes { Glibc.write(1, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                break
            }
            offset += n
        }
        return output.exitCode
    }

    /// The process environment as a dictionary.
    public static func processEnvironment() -> [String: String] {
        var env: [String: String] = [:]
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
