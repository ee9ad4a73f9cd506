// libFuzzer target for the parsers the `automagic` plugin runs on untrusted input: the network
// configuration (stdin), delegate results and error objects, the CNI_* environment, and the
// mapping file. Built by hack/fuzz-cni.sh together with the sources of JSON, MappingFile, CNI
// and CNIPlugin in one module (their `import` lines are stripped), so no module qualifiers here.
//
// Besides "no crash, no hang", it checks invariants that must hold for any input:
// - every configuration error is a CNI error with a spec code;
// - a decoded mapping file re-encodes and decodes to the same value;
// - a valid result converts to every supported version and the conversion re-validates;
// - a delegate configuration built from any accepted configuration keeps automagic's keys out.

@_cdecl("LLVMFuzzerTestOneInput")
public func automagicFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    fuzzOne(bytes)
    return 0
}

func fuzzOne(_ bytes: [UInt8]) {
    // Mapping file.
    if let mapping = try? MappingFile.decode(bytes, path: "fuzz.json") {
        let again = MappingFile.encode(mapping)
        guard let back = try? MappingFile.decode(again, path: "fuzz.json"), back == mapping else {
            fatalError("mapping file does not round-trip")
        }
    }
    // Network configuration → automagic configuration → delegate configuration.
    do {
        let conf = try NetConf(bytes: bytes)
        if let cfg = try? AutomagicConfig(conf) {
            for type in ["macvlan", "ipvlan", "host-device"] {
                for version in CNIVersion.supported {
                    if let d = try? cfg.delegateConfig(conf: conf, type: type, device: "eth0",
                                                       attachment: Attachment(type: "macvlan", mode: "bridge", mtu: 1500),
                                                       version: version) {
                        precondition(d["network"] == nil && d["mappingFile"] == nil && d["cacheDir"] == nil && d["delegate"] == nil)
                        precondition(d["deviceID"] == nil && d["pciBusID"] == nil && d["runtimeConfig"]?["deviceID"] == nil)
                        precondition(d["cniVersion"]?.stringValue == version.description)
                        precondition(d[type == "host-device" ? "device" : "master"]?.stringValue == "eth0")
                        _ = d.serialized()
                    }
                }
            }
        }
    } catch {
        precondition([1, 6, 7].contains(error.code.rawValue), "unexpected code \(error.code)")
    }
    // Results (as a delegate would print them) in every version.
    for version in CNIVersion.supported {
        if let result = try? CNIResult(bytes: bytes, version: version) {
            for target in CNIVersion.supported {
                let converted = result.converted(to: target)
                guard (try? CNIResult(json: converted.json, version: target)) != nil else {
                    fatalError("converted result does not validate")
                }
            }
        }
    }
    // Error objects.
    if let json = try? JSONValue.parse(bytes), let e = CNIError(json: json) {
        precondition(CNIError(json: e.json(cniVersion: "1.1.0")) == e)
    }
    // Environment: lines of KEY=VALUE.
    var env: [String: String] = [:]
    for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
        if let eq = line.firstIndex(of: "=") { env[String(line[..<eq])] = String(line[line.index(after: eq)...]) }
    }
    if let parsed = try? CNIEnvironment(env), parsed.command == .add {
        precondition(CNIEnvironment.interfaceNameProblem(parsed.ifname) == nil)
        precondition(parsed.ifname.utf8.count <= 15 && !parsed.containerID.isEmpty)
    }
    // Cache file names.
    let s = String(decoding: bytes.prefix(64), as: UTF8.self)
    precondition(AttachmentCache.decode(AttachmentCache.encode(s)) == s)
    // The byte-level version parser agrees with the Character-based one it replaced.
    let v = String(decoding: bytes.prefix(24), as: UTF8.self)
    precondition(CNIVersion(v) == referenceVersion(v), "version parsers disagree on \(v.debugDescription)")
}

/// The `Character`-based version parser the byte-level one replaced (the reference).
func referenceVersion(_ text: String) -> CNIVersion? {
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 3 else { return nil }
    var numbers: [Int] = []
    for p in parts {
        guard !p.isEmpty, p.count <= 6, p.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(p) else { return nil }
        numbers.append(n)
    }
    return CNIVersion(numbers[0], numbers[1], numbers[2])
}
