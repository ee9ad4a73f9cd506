import Foundation
import JSON
import Testing
import TestSupport

let invalidFixtureDirectory = "Tests/ResolverTests/Fixtures/invalid"

/// What an invalid fixture's first line promises: "… with 422 Invalid naming <field> (<detail>)."
struct InvalidExpectation: Sendable {
    var field: String
    var detail: String

    static func parse(firstLine: String) -> InvalidExpectation? {
        guard firstLine.hasPrefix("#"), firstLine.contains("422"), let naming = firstLine.range(of: "naming ") else { return nil }
        let rest = firstLine[naming.upperBound...]
        guard let open = rest.firstIndex(of: " ") else { return nil }
        let field = String(rest[..<open])
        var detail = rest[open...].trimmingCharacters(in: .whitespaces)
        if detail.hasPrefix("(") { detail.removeFirst() }
        if detail.hasSuffix(".") { detail.removeLast() }
        if detail.hasSuffix(")") { detail.removeLast() }
        return InvalidExpectation(field: field, detail: detail)
    }
}

/// The Status bodies in kubectl's `-v=9` log (it logs every response body, up to 10,240 bytes at -v=9; kubectl 1.32 puts the body on
/// its own tab-indented line after `"Response Body" body=<`, older versions after `Response Body: `).
func statusBodies(in log: String) -> [JSONValue] {
    log.split(separator: "\n").compactMap { line -> JSONValue? in
        var text = Substring(line)
        if let r = text.range(of: "Response Body: ") { text = text[r.upperBound...] }
        text = text.drop { $0 == " " || $0 == "\t" }
        guard text.hasPrefix("{\"kind\":\"Status\"") else { return nil }
        do { return try JSONValue.parse(String(text)) } catch { return nil }  // a body kubectl cut at 10,240 bytes
    }
}

/// Invalid objects are refused by the server (the CRD schema) with 422, naming the field; nothing is stored.
@Suite struct InvalidObjectTests {
    @Test func everyFixtureStatesItsField() throws {
        let files = try repositoryFiles(in: invalidFixtureDirectory)
        #expect(files.count >= 10, "\(files)")
        for file in files {
            let first = try readRepositoryFile(file).split(separator: "\n").first.map(String.init) ?? ""
            #expect(InvalidExpectation.parse(firstLine: first) != nil, "\(file): first line does not name the field: \(first)")
        }
    }

    /// All fixtures against one lab (one server keeps the suite fast; each failure names its file).
    @Test func everyFixtureIsRefusedWith422NamingTheField() async throws {
        let files = try repositoryFiles(in: invalidFixtureDirectory)
        try await withLab { lab in
            try await lab.installCRDs()
            let sent = try await clientSideObjects(lab, files: files)
            for file in files {
                let first = try readRepositoryFile(file).split(separator: "\n").first.map(String.init) ?? ""
                let expected = try #require(InvalidExpectation.parse(firstLine: first), "\(file): \(first)")
                let name = try #require(sent[file]?[path: ["metadata", "name"]]?.stringValue, "\(file) has no name")
                try await checkRefused(lab, file: file, name: name, expected: expected)
            }
            // Nothing was stored.
            let get = try await lab.kubectl(["get", "ndm", "-o", "name"])
            #expect(get.status == 0 && get.stdout.isEmpty, "something was stored: \(get)")
        }
    }

    func checkRefused(_ lab: Lab, file: String, name: String, expected: InvalidExpectation) async throws {

        // --validate=false: the server alone must refuse it (kubectl's own checks are not the CRD's).
        let create = try await lab.kubectl(["create", "--validate=false", "-f", file, "-v=9"])
        #expect(create.status != 0, "\(file) was accepted: \(create)")
        #expect(create.stderr.contains("422 Unprocessable Entity"), "\(file): no 422 in \(create.stderr)")
        let status = try #require(statusBodies(in: create.stderr).last, "\(file): no Status body in the log")
        #expect(status["code"] == 422 && status["reason"] == "Invalid", "\(file): \(status)")
        let causes = status[path: ["details", "causes"]]?.arrayValue ?? []
        let fields = causes.compactMap { $0["field"]?.stringValue }
        #expect(fields.contains(expected.field), "\(file): expected a cause for \(expected.field), got \(fields): \(status)")
        #expect(status[path: ["details", "kind"]] == "NetworkDeviceMap" && status[path: ["details", "group"]] == "automagic.dev", "\(file): \(status)")
        #expect(status[path: ["details", "name"]]?.stringValue == name, "\(file): \(status)")
        // What the user reads: kubectl's error line names the object and the field.
        #expect(create.stderr.contains("The NetworkDeviceMap \"\(name)\" is invalid"), "\(file): \(create.stderr)")
        #expect(create.stderr.contains(expected.field), "\(file): \(create.stderr)")

        // The default client path (kubectl apply, strict validation) refuses it too.
        let apply = try await lab.kubectl(["apply", "-f", file])
        #expect(apply.status != 0, "\(file) was applied: \(apply)")
        #expect(apply.stderr.contains(expected.field), "\(file): apply error does not name \(expected.field): \(apply.stderr)")
    }

    /// A selection of NodeDevice status fields with patterns, enums and bounds, written like an agent
    /// does (status subresource), refused with 422 naming the field; the stored status is unchanged.
    static let invalidDeviceFields: [(key: String, value: JSONValue, field: String)] = [
        ("mac", .string("b4:96:91:aa:bb:0g"), "status.devices[0].mac"),
        ("mac", .string("b4-96-91-aa-bb-01"), "status.devices[0].mac"),
        ("pciAddress", .string("0000:5E:00.1"), "status.devices[0].pciAddress"),
        ("pciAddress", .string("5e:00.1"), "status.devices[0].pciAddress"),
        ("vendorID", .string("0x8086"), "status.devices[0].vendorID"),
        ("addresses", .array(["192.168.60.11"]), "status.devices[0].addresses[0]"),
        ("addresses", .array(["192.168.60.11/33"]), "status.devices[0].addresses[0]"),
        ("operState", .string("UP"), "status.devices[0].operState"),
        ("kind", .string("nic"), "status.devices[0].kind"),
        ("mtu", .int(-1), "status.devices[0].mtu"),
        ("name", .string("a-very-long-interface-name"), "status.devices[0].name"),
        ("numaNode", .string("0"), "status.devices[0].numaNode"),
    ]

    @Test func invalidNodeDeviceStatusIsRefused() async throws {
        try await withLab { lab in
            try await lab.installCRDs()
            let create = try await lab.kubectl(["apply", "-f", "-"], stdin: NodeDeviceFixture.minimalYAML(name: "worker-1"))
            try #require(create.status == 0, "\(create)")
            for (key, value, field) in Self.invalidDeviceFields {
                var device: JSONValue = ["name": "ens5f1", "mac": "b4:96:91:aa:bb:01"]
                device[key] = value
                let patch: JSONValue = ["status": ["devices": [device], "deviceCount": 1]]
                let r = try await lab.kubectl(["patch", "nd", "worker-1", "--subresource=status", "--type=merge", "-p", patch.jsonString(), "-v=9"])
                #expect(r.status != 0, "\(key)=\(value.jsonString()) was accepted")
                let status = try #require(statusBodies(in: r.stderr).last, "\(key)=\(value.jsonString()): no Status body: \(r.stderr)")
                #expect(status["code"] == 422, "\(status)")
                let fields = (status[path: ["details", "causes"]]?.arrayValue ?? []).compactMap { $0["field"]?.stringValue }
                #expect(fields.contains(field), "\(key)=\(value.jsonString()): expected \(field), got \(fields)")
            }
            let stored = try await lab.kubectlJSON(["get", "nd", "worker-1"])
            #expect(stored["status"] == nil, "an invalid status was stored: \(stored)")
        }
    }

    /// Lists keyed by a map key reject duplicates (x-kubernetes-list-type: map).
    @Test func duplicateListMapKeysAreRefused() async throws {
        try await withLab { lab in
            try await lab.installCRDs()
            let create = try await lab.kubectl(["apply", "-f", "-"], stdin: NodeDeviceFixture.minimalYAML(name: "worker-1"))
            try #require(create.status == 0, "\(create)")
            let patch: JSONValue = ["status": ["devices": [["name": "eth0"], ["name": "eth0"]]]]
            let r = try await lab.kubectl(["patch", "nd", "worker-1", "--subresource=status", "--type=merge", "-p", patch.jsonString(), "-v=9"])
            #expect(r.status != 0, "duplicate device names accepted")
            let status = try #require(statusBodies(in: r.stderr).last, "no Status body: \(r.stderr)")
            let causes = status[path: ["details", "causes"]]?.arrayValue ?? []
            #expect(causes.contains { $0["field"] == "status.devices[1]" && $0["reason"] == "FieldValueDuplicate" }, "\(status)")
        }
    }

    /// metadata.name must be a DNS-1123 label (the CRD's metadata.name pattern and maxLength): the name
    /// becomes a node label key segment and a NetworkAttachmentDefinition name. "storage.net" and a
    /// 64-character name are valid DNS subdomains (what every object name must be) but not labels, so only
    /// the schema refuses them.
    @Test func mapNameMustBeADNSLabel() async throws {
        try await withLab { lab in
            try await lab.installCRDs()
            for name in ["storage.net", String(repeating: "a", count: 64)] {
                let map: JSONValue = [
                    "apiVersion": "automagic.dev/v1alpha1", "kind": "NetworkDeviceMap", "metadata": ["name": .string(name)],
                    "spec": ["rules": [["devices": ["matchExpressions": [["key": "driver", "operator": "Exists"]]]]]],
                ]
                let create = try await lab.kubectl(["create", "--validate=false", "-f", "-", "-v=9"], stdin: map.jsonString())
                #expect(create.status != 0, "\(name) was accepted")
                let fields = statusBodies(in: create.stderr).last?[path: ["details", "causes"]]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? []
                #expect(fields.contains("metadata.name"), "\(name): \(fields)")
            }
        }
    }
}
