#if canImport(Glibc)
import Glibc
#endif
import CNI
@testable import CNIPlugin
import JSON
import Testing

/// The start-up fast paths (byte-level parsing instead of `Character` processing) against the
/// straightforward implementations they replaced, on generated inputs.
@Suite("CNI fast paths agree with the reference implementations")
struct FastPathTests {
    /// The version parser before it worked on bytes.
    static func referenceVersion(_ text: String) -> CNIVersion? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var numbers: [Int] = []
        for p in parts {
            guard !p.isEmpty, p.count <= 6, p.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(p) else { return nil }
            numbers.append(n)
        }
        return CNIVersion(numbers[0], numbers[1], numbers[2])
    }

    /// The cache file name encoding before it worked on bytes.
    static func referenceEncode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            if (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F || (b == 0x2E && !out.isEmpty) {
                out.append(Character(Unicode.Scalar(b)))
            } else {
                let hex = Array("0123456789ABCDEF")
                out.append("%")
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0xF)])
            }
        }
        return out
    }

    /// Deterministic pseudo-random strings over `alphabet`.
    static func strings(_ alphabet: [String], count: Int, maxLength: Int, seed: UInt64) -> [String] {
        var state = seed
        func next() -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int(truncatingIfNeeded: state >> 33)
        }
        return (0..<count).map { _ in
            let n = next() % (maxLength + 1)
            return (0..<n).map { _ in alphabet[next() % alphabet.count] }.joined()
        }
    }

    @Test func versionParserMatchesTheReference() {
        let fixed = ["1.0.0", "0.4.0", "1.1.0", "01.002.0003", "123456.0.0", "1234567.0.0", "1.0", "1.0.0.0", "", ".", "..",
                     "1..0", ".1.0", "1.0.", "v1.0.0", "1.0.0 ", " 1.0.0", "+1.0.0", "-1.0.0", "1.0.٣", "１.0.0", "1.0.0\u{301}"]
        let alphabet = ["0", "1", "9", ".", ".", "a", "+", "-", " ", "٣", "é", "\u{301}"]
        for text in fixed + Self.strings(alphabet, count: 4000, maxLength: 10, seed: 7) {
            #expect(CNIVersion(text) == Self.referenceVersion(text), "\(text.debugDescription)")
        }
    }

    @Test func cacheNameEncodingMatchesTheReferenceAndRoundTrips() {
        let alphabet = ["a", "Z", "0", ".", "-", "_", "/", "%", "+", " ", "é", "😀", "\u{0}", ":"]
        for text in ["", ".", "..", ".hidden", "/usr/lib/cni/macvlan", "a+b"] + Self.strings(alphabet, count: 3000, maxLength: 12, seed: 11) {
            let encoded = AttachmentCache.encode(text)
            #expect(encoded == Self.referenceEncode(text), "\(text.debugDescription)")
            #expect(AttachmentCache.decode(encoded) == text, "\(text.debugDescription)")
        }
    }

    @Test func processEnvironmentMatchesTheReference() {
        var reference: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.utf8.firstIndex(of: UInt8(ascii: "=")) {
                reference[String(s[..<eq])] = String(s[s.utf8.index(after: eq)...])
            }
            p += 1
        }
        let env = AutomagicMain.processEnvironment()
        #expect(env == reference)
        #expect(!env.isEmpty)
    }

    @Test func delegateEnvironmentIsPassedExactly() throws {
        let environment = ["CNI_COMMAND": "ADD", "EMPTY": "", "UNICODE": "é😀", "EQUALS": "a=b=c", "LONG": String(repeating: "x", count: 5000)]
        let out = try Delegate.run(path: "/usr/bin/env", environment: environment, stdin: [])
        #expect(out.status == 0)
        let lines = String(decoding: out.stdout, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        var seen: [String: String] = [:]
        for line in lines {
            let eq = try #require(line.firstIndex(of: "="))
            seen[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        #expect(seen == environment)
    }

    /// The plugin executable hands `environ` on as it is (`InheritedEnvironment.process`):
    /// the delegate sees every variable of this process, byte for byte, with `CNI_COMMAND`
    /// set to its own verb (replaced, never duplicated).
    @Test func processEnvironmentIsHandedOnWithTheDelegatesVerb() throws {
        for verb in [CNICommand.add, .del, .version] {
            let out = try Delegate.invoke(path: "/usr/bin/env", command: verb, environment: .process, stdin: [])
            let lines = String(decoding: out, as: UTF8.self).split(separator: "\n").map(String.init)
            var expected = InheritedEnvironment.processVariables()
            expected["CNI_COMMAND"] = verb.rawValue
            var seen: [String: String] = [:]
            for line in lines {
                let eq = try #require(line.firstIndex(of: "="))
                #expect(seen.updateValue(String(line[line.index(after: eq)...]), forKey: String(line[..<eq])) == nil,
                        "\(line) twice")
            }
            #expect(seen == expected)
        }
    }

    /// The same variables through the dictionary form: a `CNI_COMMAND` already there is replaced.
    @Test func variablesEnvironmentReplacesTheVerb() throws {
        let out = try Delegate.invoke(path: "/usr/bin/env", command: .check,
                                      environment: .variables(["CNI_COMMAND": "ADD", "A": "1"]), stdin: [])
        #expect(Set(String(decoding: out, as: UTF8.self).split(separator: "\n")) == ["A=1", "CNI_COMMAND=CHECK"])
    }

    /// `CNIEnvironment.fromProcess()` validates like the dictionary initializer; this test process
    /// has no `CNI_COMMAND`, which is the error that names it.
    @Test func processEnvironmentWithoutAVerbIsRefused() throws {
        try #require(getenv("CNI_COMMAND") == nil)
        let e = try #require(throws: CNIError.self) { try CNIEnvironment.fromProcess() }
        #expect(e.code == .invalidEnvironment && e.message.contains("CNI_COMMAND is missing"))
    }

    @Test func parseFailuresStillThrowTheirJSONError() throws {
        let e = try #require(throws: JSONError.self) { try JSONValue.parse(Array(#"{"a": [1, }"#.utf8)) }
        #expect(e.offset == 10, "\(e)")
        let slice = Array(#"xx{"a":1}"#.utf8)[2...]
        #expect(try JSONValue.parse(slice) == ["a": 1])
        let empty = try #require(throws: JSONError.self) { try JSONValue.parse([UInt8]()) }
        #expect(empty.offset == 0)
    }
}
