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
        switch Skel.dispatch(AutomagicPlugin(), cniEnvironment: { () throws(CNIError) in try CNIEnvironment.fromProcess() },
                             stdin: { readStandardInput() }) {
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

    /// The process environment as a dictionary (the plugin itself only reads the `CNI_*`
    /// variables it needs and hands `environ` on to delegates as it is).
    public static func processEnvironment() -> [String: String] { InheritedEnvironment.processVariables() }

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
