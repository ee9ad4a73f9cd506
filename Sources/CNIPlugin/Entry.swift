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
        let output: CNIOutput
        switch Skel.dispatch(AutomagicPlugin(), environment: processEnvironment(), stdin: { readStandardInput() }) {
        case .output(let o):
            output = o
        case .delegate(let call, let errorVersion):
            // DEL's last step: become the delegate (no child to wait for, no answer to relay).
            // Returns only when it could not be started.
            output = Skel.errorOutput(Delegate.execInPlace(call), version: errorVersion)
        }
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

    /// The process environment as a dictionary. Splits each entry on its first `=` in the
    /// raw bytes (a `Character` search would run grapheme breaking over every variable).
    public static func processEnvironment() -> [String: String] {
        var count = 0
        while environ[count] != nil { count += 1 }
        var env: [String: String] = [:]
        env.reserveCapacity(count)  // no rehashing while filling
        for i in 0..<count {
            guard let entry = environ[i] else { continue }
            let length = strlen(entry)
            entry.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
                let all = UnsafeBufferPointer(start: bytes, count: length)
                guard let eq = all.firstIndex(of: UInt8(ascii: "=")) else { return }
                let key = String(decoding: UnsafeBufferPointer(rebasing: all[..<eq]), as: UTF8.self)
                env[key] = String(decoding: UnsafeBufferPointer(rebasing: all[(eq + 1)...]), as: UTF8.self)
            }
        }
        return env
    }

    /// Everything on stdin. Reads into uninitialized capacity: no zero-filled 64 KiB scratch
    /// buffer whose fresh pages would each cost a page fault.
    public static func readStandardInput() -> [UInt8] {
        var out: [UInt8] = []
        while true {
            var failed = false
            let chunk = [UInt8](unsafeUninitializedCapacity: 16384) { buffer, count in
                var n = 0
                while true {
                    n = Glibc.read(0, buffer.baseAddress, buffer.count)
                    if n >= 0 || errno != EINTR { break }
                }
                if n < 0 { failed = true; n = 0 }
                count = n
            }
            if failed || chunk.isEmpty { return out }
            if out.isEmpty { out = chunk } else { out.append(contentsOf: chunk) }
        }
    }
}
