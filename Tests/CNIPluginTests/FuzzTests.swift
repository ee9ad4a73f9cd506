import CNI
@testable import CNIPlugin
import JSON
import MappingFile
import Testing
import TestSupport

/// A bounded, deterministic cousin of hack/fuzz-cni.sh that runs in every `swift test`:
/// mutates valid inputs (bit flips, truncation, splices, duplicated and deleted ranges) and
/// checks the parsers never crash and keep their invariants.
@Suite("Parser fuzzing (bounded)")
struct FuzzTests {
    static let seeds: [String] = [
        #"{"cniVersion":"1.0.0","name":"storage","type":"automagic","network":"storage","mappingFile":"/run/automagic/mapping.json","delegate":{"type":"macvlan","mode":"bridge"},"ipam":{"type":"static","addresses":[{"address":"192.168.60.5/24"}]}}"#,
        #"{"cniVersion":"1.1.0","name":"n","type":"automagic","network":"s","prevResult":{"cniVersion":"1.1.0","interfaces":[{"name":"eth0","mtu":1500}],"ips":[{"address":"10.0.0.2/24","interface":0}],"routes":[{"dst":"0.0.0.0/0","table":5}],"dns":{}}}"#,
        #"{"apiVersion":"automagic.dev/v1alpha1","kind":"NodeNetworkMapping","node":"worker-1","generation":7,"updatedAt":"2026-11-28T22:00:00Z","networks":{"storage":{"device":"ens5f1","map":"storage","attachment":{"type":"macvlan","mode":"bridge","mtu":9000},"mac":"3c:fd:fe:aa:bb:01"}}}"#,
        #"{"cniVersion":"0.4.0","interfaces":[{"name":"net1","mac":"02:00:00:00:00:01","sandbox":"/p"}],"ips":[{"version":"4","address":"192.168.60.5/24","interface":0}],"routes":[{"dst":"0.0.0.0/0"}],"dns":{}}"#,
        // Issue 14: a format-2 mapping with candidates, and Multus's device IDs.
        #"{"apiVersion":"automagic.dev/v1alpha1","kind":"NodeNetworkMapping","formatVersion":2,"node":"w","generation":1,"networks":{"fast":{"device":"ens5f0","map":"fast","exclusive":true,"candidates":[{"name":"ens5f0","mac":"3c:fd:fe:aa:bb:00","pciAddress":"0000:05:00.0","numaNode":0},{"name":"veth-x"}]}}}"#,
        #"{"cniVersion":"1.0.0","name":"fast","type":"automagic","network":"fast","deviceID":"0000:05:00.0","pciBusID":"0000:05:00.0","runtimeConfig":{"deviceID":"0000:05:00.0","mac":"02:00:00:00:00:09"}}"#,
    ]

    static func mutate(_ input: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var b = input
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            guard !b.isEmpty else { return b }
            let i = Int.random(in: 0..<b.count, using: &rng)
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: b[i] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
            case 1: b = Array(b[..<i])
            case 2: b.insert(contentsOf: Array(#"{}[]",:0-1e999\u0000"#.utf8).shuffled(using: &rng).prefix(3), at: i)
            case 3: b.remove(at: i)
            case 4:
                let j = min(b.count, i + Int.random(in: 1...16, using: &rng))
                b.insert(contentsOf: b[i..<j], at: i)
            default: b[i] = UInt8.random(in: 0...255, using: &rng)
            }
        }
        return b
    }

    @Test func mutatedInputsKeepTheInvariants() throws {
        var rng = SplitMix64(state: 0x00C0_FFEE)
        var accepted = 0
        for round in 0..<4000 {
            let seed = Array(Self.seeds[round % Self.seeds.count].utf8)
            let input = Self.mutate(seed, &rng)
            // Every refusal on the way (configuration, automagic's keys, the delegate configuration)
            // is a CNI error with a spec code and a message.
            do {
                let conf = try NetConf(bytes: input)
                let cfg = try AutomagicConfig(conf)
                accepted += 1
                let d = try cfg.delegateConfig(conf: conf, type: "macvlan", device: "eth0", attachment: nil, version: .v1_0_0)
                #expect(d["network"] == nil && d["master"]?.stringValue == "eth0")
                #expect(d["deviceID"] == nil && d["pciBusID"] == nil && d["runtimeConfig"]?["deviceID"] == nil)
            } catch {
                #expect([1, 6, 7].contains(error.code.rawValue), "\(error)")
                #expect(!error.message.isEmpty)
            }
            do {
                let m = try MappingFile.decode(input, path: "/x.json")
                #expect(try MappingFile.decode(MappingFile.encode(m), path: "/x.json") == m)
            } catch {
                #expect(error.description.contains("/x.json"))
            }
            for version in CNIVersion.supported {
                do {
                    let r = try CNIResult(bytes: input, version: version)
                    for target in CNIVersion.supported {
                        #expect(throws: Never.self) { try CNIResult(json: r.converted(to: target).json, version: target) }
                    }
                } catch {
                    #expect(!error.message.isEmpty)
                }
            }
        }
        #expect(accepted > 100)
    }

    /// hack/fuzz-cni.sh crash-ad4e7fca…: a `delegate` object carrying `network` (and invalid UTF-8
    /// keys) passed automagic's own keys through to the delegate configuration.
    static let crashDelegateOwnKeys: [UInt8] = [123, 34, 99, 110, 105, 86, 101, 114, 115, 105, 111, 110, 34, 58, 34, 49, 46, 48, 46, 48, 34, 44, 34, 110, 97, 109, 101, 34, 58, 34, 115, 116, 111, 114, 97, 103, 89, 89, 89, 89, 101, 34, 44, 34, 116, 121, 112, 101, 34, 58, 34, 97, 117, 116, 111, 109, 97, 103, 105, 99, 34, 44, 34, 110, 101, 116, 119, 111, 114, 107, 34, 58, 34, 115, 116, 111, 114, 97, 103, 101, 34, 44, 34, 109, 97, 112, 112, 105, 110, 103, 70, 105, 108, 101, 34, 58, 34, 47, 116, 110, 117, 114, 47, 117, 97, 111, 109, 97, 103, 105, 99, 47, 109, 97, 112, 112, 105, 110, 103, 46, 106, 115, 111, 110, 34, 44, 34, 100, 101, 108, 101, 103, 97, 116, 101, 34, 58, 123, 34, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 116, 121, 112, 101, 34, 58, 34, 109, 97, 99, 118, 101, 34, 44, 34, 116, 121, 112, 101, 34, 58, 34, 97, 117, 116, 111, 109, 97, 103, 105, 99, 34, 44, 34, 110, 101, 116, 119, 111, 114, 107, 34, 58, 34, 115, 116, 111, 114, 97, 103, 101, 34, 44, 34, 109, 97, 112, 112, 105, 110, 100, 114, 101, 115, 115, 101, 115, 34, 58, 91, 123, 34, 97, 100, 100, 114, 101, 115, 115, 34, 58, 34, 49, 110, 47, 97, 117, 116, 111, 109, 97, 103, 105, 99, 47, 65, 109, 97, 112, 112, 105, 110, 103, 46, 106, 115, 111, 110, 48, 46, 53, 164, 164, 164, 164, 47, 50, 52, 34, 125, 93, 125, 125, 10]

    @Test func fuzzCrashDelegateOwnKeysIsRefused() throws {
        let conf = try NetConf(bytes: Self.crashDelegateOwnKeys)
        let e = try #require(throws: CNIError.self) { try AutomagicConfig(conf) }
        #expect(e.code == .invalidConfig && e.message.contains("'delegate.network' is not allowed"))
    }

    /// CI's hack/fuzz-cni.sh run crash-5ebff207…: an integral number between Int64.max and 1e21
    /// in a configuration trapped in the serializer when the delegate configuration was written.
    @Test(arguments: ["9.3e18", "1e19", "-1.5e19", "123456789012345678901e-1", "9.99e20"])
    func fuzzCrashHugeIntegralNumberIsPassedThrough(_ number: String) throws {
        let text = #"{"cniVersion":"1.0.0","name":"n","type":"automagic","network":"storage","delegate":{"type":"macvlan","x":"# + number + "}}"
        let conf = try NetConf(bytes: Array(text.utf8))
        let cfg = try AutomagicConfig(conf)
        let d = try cfg.delegateConfig(conf: conf, type: "macvlan", device: "eth0", attachment: nil, version: .v1_0_0)
        let written = try JSONValue.parse(d.serialized())
        #expect(written["x"] == (try JSONValue.parse(Array(number.utf8))))
    }
}
