import CNI
import JSON
import Testing
import TestSupport

@Suite("Delegate exec")
struct DelegateExecTests {
    @Test func capturesOutputStatusAndStdin() throws {
        let out = try Delegate.run(path: "/bin/sh", arguments: ["-c", "cat; echo err >&2; exit 3"], environment: [:],
                                   stdin: Array("hello".utf8))
        #expect(out.status == 3 && !out.signaled)
        #expect(String(decoding: out.stdout, as: UTF8.self) == "hello")
        #expect(String(decoding: out.stderr, as: UTF8.self) == "err\n")
    }

    @Test func largeInputAndOutputDoNotDeadlock() throws {
        let big = [UInt8](repeating: 0x61, count: 1 << 20)
        let out = try Delegate.run(path: "/bin/sh", arguments: ["-c", "cat; head -c 300000 /dev/zero >&2"], environment: [:], stdin: big)
        #expect(out.status == 0)
        #expect(out.stdout.count == big.count)
        #expect(out.stderr.count == 300000)
    }

    @Test func signalsAreReported() throws {
        let out = try Delegate.run(path: "/bin/sh", arguments: ["-c", "kill -9 $$"], environment: [:], stdin: [])
        #expect(out.signaled && out.status == 128 + 9)
    }

    @Test func environmentIsExactlyWhatIsGiven() throws {
        let out = try Delegate.run(path: "/usr/bin/env", environment: ["CNI_COMMAND": "ADD", "X": "1"], stdin: [])
        #expect(Set(String(decoding: out.stdout, as: UTF8.self).split(separator: "\n")) == ["CNI_COMMAND=ADD", "X=1"])
    }

    @Test func findAndRelayErrors() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try dir.write("fail", "#!/bin/sh\ncat >/dev/null\necho '{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"bad master\"}'\necho oops >&2\nexit 1\n", mode: 0o755)
        try dir.write("crash", "#!/bin/sh\necho panic >&2\nexit 2\n", mode: 0o755)
        try dir.write("notexec", "#!/bin/sh\n", mode: 0o644)
        let path = try Delegate.find("fail", in: ["/nonexistent", dir.path])
        #expect(path == dir.path + "/fail")
        let e = try #require(throws: CNIError.self) {
            try Delegate.invoke(path: path, command: .add, environment: [:], stdin: Array("{}".utf8))
        }
        #expect(e.code == .invalidConfig && e.message == "fail ADD failed: bad master" && e.details.contains("oops"))
        let c = try #require(throws: CNIError.self) {
            try Delegate.invoke(path: dir.path + "/crash", command: .del, environment: [:], stdin: [])
        }
        #expect(c.code == .internalError && c.message.contains("status 2") && c.details.contains("panic"))
        let nf = try #require(throws: CNIError.self) { try Delegate.find("notexec", in: [dir.path]) }
        #expect(nf.code == .invalidConfig && nf.message.contains(dir.path))
        let slash = try #require(throws: CNIError.self) { try Delegate.find("../bin/sh", in: [dir.path]) }
        #expect(slash.code == .invalidConfig)
    }

    @Test func asksTheRealMacvlanForItsVersions() throws {
        let versions = try Delegate.supportedVersions(path: "/usr/lib/cni/macvlan", environment: [:])
        #expect(versions.contains(.v1_0_0) && versions.contains(.v0_4_0))
    }
}
