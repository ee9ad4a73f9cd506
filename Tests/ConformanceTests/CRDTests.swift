import Foundation
import JSON
import Testing
import TestSupport

/// `crds/` through kubectl: apply, Established, discovery (short names, category), idempotent re-apply.
@Suite struct CRDTests {
    @Test func crdsApplyAndBecomeEstablished() async throws {
        try await withLab { lab in
            let apply = try await lab.kubectl(["apply", "-f", "crds/"])
            #expect(apply.status == 0, "\(apply)")
            for name in Lab.crdNames {
                #expect(apply.stdout.contains("customresourcedefinition.apiextensions.k8s.io/\(name) created"), "\(apply)")
            }
            let wait = try await lab.kubectl(["wait", "--for=condition=Established", "--timeout=30s"] + Lab.crdNames.map { "crd/" + $0 })
            #expect(wait.status == 0, "\(wait)")
            for name in Lab.crdNames {
                #expect(wait.stdout.contains("customresourcedefinition.apiextensions.k8s.io/\(name) condition met"), "\(wait)")
            }

            // kubectl get crd lists both.
            let get = try await lab.kubectl(["get", "crd"])
            #expect(get.status == 0, "\(get)")
            #expect(tableHeader(get.stdout) == ["NAME", "CREATED AT"], "\(get.stdout)")
            let listed = Set(tableRows(get.stdout).compactMap { $0["NAME"] })
            #expect(listed.isSuperset(of: Lab.crdNames), "\(get.stdout)")

            // Both were accepted with the names we asked for.
            for name in Lab.crdNames {
                let crd = try await lab.kubectlJSON(["get", "crd", name])
                let conditions = crd[path: ["status", "conditions"]]?.arrayValue ?? []
                let status = Dictionary(conditions.compactMap { c in c["type"]?.stringValue.map { ($0, c["status"]?.stringValue ?? "") } },
                                        uniquingKeysWith: { a, _ in a })
                #expect(status["Established"] == "True" && status["NamesAccepted"] == "True", "\(name): \(conditions)")
                #expect(crd[path: ["status", "acceptedNames"]] == crd[path: ["spec", "names"]], "\(name) acceptedNames differ from spec.names")
                #expect(crd[path: ["status", "storedVersions"]] == ["v1alpha1"])
            }

            // Re-applying unchanged CRDs is a no-op, except where the server dropped fields it does not know:
            // Kubernetes 1.24 (and the lab, which follows it) silently drops x-kubernetes-validations (CEL,
            // enforced from 1.25), so kubectl sees a difference and patches the NetworkDeviceMap CRD again
            // ("configured") on every apply. Harmless; on 1.25+ it is "unchanged".
            let again = try await lab.kubectl(["apply", "-f", "crds/"])
            #expect(again.status == 0, "\(again)")
            for name in Lab.crdNames {
                let crd = try await lab.kubectlJSON(["get", "crd", name])
                let source = try readRepositoryFile("crds/automagic.dev_\(name.split(separator: ".")[0]).yaml")
                let celDropped = source.contains("x-kubernetes-validations") && !(crd["spec"]?.jsonString() ?? "").contains("x-kubernetes-validations")
                let outcome = celDropped ? "configured" : "unchanged"
                #expect(again.stdout.contains("customresourcedefinition.apiextensions.k8s.io/\(name) \(outcome)"), "\(name): \(again)")
            }
        }
    }

    @Test func apiResourcesShowShortNamesAndCategory() async throws {
        try await withLab { lab in
            try await lab.installCRDs()
            let wide = try await lab.kubectl(["api-resources", "--api-group=automagic.dev", "-o", "wide"])
            #expect(wide.status == 0, "\(wide)")
            #expect(tableHeader(wide.stdout) == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND", "VERBS", "CATEGORIES"], "\(wide.stdout)")
            let rows = tableRows(wide.stdout)
            #expect(rows.count == 2, "\(wide.stdout)")
            let byName = Dictionary(rows.map { ($0["NAME"] ?? "", $0) }, uniquingKeysWith: { a, _ in a })
            let ndm = try #require(byName["networkdevicemaps"], "\(wide.stdout)")
            #expect(ndm["SHORTNAMES"] == "ndm")
            #expect(ndm["APIVERSION"] == "automagic.dev/v1alpha1")
            #expect(ndm["NAMESPACED"] == "false")
            #expect(ndm["KIND"] == "NetworkDeviceMap")
            #expect(ndm["CATEGORIES"] == "automagic")
            let nd = try #require(byName["nodedevices"], "\(wide.stdout)")
            #expect(nd["SHORTNAMES"] == "nd")
            #expect(nd["APIVERSION"] == "automagic.dev/v1alpha1")
            #expect(nd["NAMESPACED"] == "false")
            #expect(nd["KIND"] == "NodeDevice")
            #expect(nd["CATEGORIES"] == "automagic")
            for row in rows {
                // kubectl 1.32 prints "delete,get,…"; older versions "[delete get …]".
                let verbs = (row["VERBS"] ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
                    .split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
                #expect(Set(verbs) == ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"], "\(row)")
            }

            // The status subresource is served for both.
            let discovery = try await lab.kubectl(["get", "--raw", "/apis/automagic.dev/v1alpha1"])
            #expect(discovery.status == 0, "\(discovery)")
            let list = try JSONValue.parse(discovery.stdout)
            let names = Set((list["resources"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue })
            #expect(names == ["networkdevicemaps", "networkdevicemaps/status", "nodedevices", "nodedevices/status"], "\(names)")

            // `-o name` and the category filter of api-resources.
            let byCategory = try await lab.kubectl(["api-resources", "--categories=automagic", "-o", "name"])
            #expect(byCategory.status == 0, "\(byCategory)")
            #expect(Set(byCategory.lines) == ["networkdevicemaps.automagic.dev", "nodedevices.automagic.dev"], "\(byCategory)")
        }
    }

    @Test func categoryAndShortNamesResolveInGet() async throws {
        try await withLab { lab in
            try await lab.installCRDs()
            let empty = try await lab.kubectl(["get", "automagic"])
            #expect(empty.status == 0, "\(empty)")
            #expect(empty.stdout.isEmpty && empty.stderr.contains("No resources found"), "\(empty)")

            let map = try await lab.kubectl(["apply", "-f", "hack/lab/maps/mgmt.yaml"])
            #expect(map.status == 0, "\(map)")
            let node = try await lab.kubectl(["apply", "-f", "-"], stdin: NodeDeviceFixture.minimalYAML(name: "worker-1"))
            #expect(node.status == 0, "\(node)")

            let all = try await lab.kubectl(["get", "automagic", "-o", "name"])
            #expect(all.status == 0, "\(all)")
            #expect(Set(all.lines) == ["networkdevicemap.automagic.dev/mgmt", "nodedevice.automagic.dev/worker-1"], "\(all)")
            // The category as a table prints one table per kind.
            let table = try await lab.kubectl(["get", "automagic"])
            #expect(table.status == 0, "\(table)")
            #expect(table.stdout.contains("networkdevicemap.automagic.dev/mgmt") && table.stdout.contains("nodedevice.automagic.dev/worker-1"), "\(table)")

            for (resource, expected) in [("ndm", "networkdevicemap.automagic.dev/mgmt"), ("networkdevicemap", "networkdevicemap.automagic.dev/mgmt"),
                                         ("networkdevicemaps.automagic.dev", "networkdevicemap.automagic.dev/mgmt"),
                                         ("nd", "nodedevice.automagic.dev/worker-1"), ("nodedevice", "nodedevice.automagic.dev/worker-1"),
                                         ("nodedevices.v1alpha1.automagic.dev", "nodedevice.automagic.dev/worker-1")] {
                let r = try await lab.kubectl(["get", resource, "-o", "name"])
                #expect(r.status == 0 && r.lines == [expected], "get \(resource): \(r)")
            }
        }
    }

    @Test func explainUsesTheCRDSchema() async throws {
        try await withLab { lab in
            try await lab.installCRDs()
            let explain = try await lab.kubectl(["explain", "ndm.spec.select"])
            #expect(explain.status == 0, "\(explain)")
            #expect(explain.stdout.contains("KIND:") && explain.stdout.contains("NetworkDeviceMap"), "\(explain)")
            #expect(explain.stdout.contains("HighestSpeed"), "\(explain)")
            let device = try await lab.kubectl(["explain", "nd.status.devices.pciAddress"])
            #expect(device.status == 0, "\(device)")
            #expect(device.stdout.contains("PCI address"), "\(device)")
        }
    }
}

/// NodeDevice objects for the tests: created without status (the status subresource drops it on create),
/// then given a status with `kubectl patch --subresource=status`.
enum NodeDeviceFixture {
    static func minimalYAML(name: String) -> String {
        """
        apiVersion: automagic.dev/v1alpha1
        kind: NodeDevice
        metadata:
          name: \(name)
        """
    }

    /// A status that uses every device field the CRD defines.
    static let fullStatus: JSONValue = [
        "devices": [
            [
                "name": "ens5f1", "altNames": ["enp94s0f1np1"], "kind": "physical", "mac": "b4:96:91:aa:bb:01",
                "permanentMAC": "b4:96:91:aa:bb:01", "mtu": 9000, "operState": "up", "carrier": true, "speedMbps": 25000,
                "driver": "ice", "pciAddress": "0000:5e:00.1", "vendorID": "8086", "deviceID": "159b", "numaNode": 0,
                "sriov": ["totalVFs": 64, "numVFs": 0],
                "addresses": ["192.168.60.11/24", "fd00:60::11/64"], "hasDefaultRoute": false,
                "lldp": [
                    "chassisID": "00:1c:73:00:00:01", "portID": "Ethernet12", "systemName": "leaf-01.dc1",
                    "portDescription": "worker-1 ens5f1", "managementAddress": "10.0.0.1", "vlanIDs": [60, 200],
                    "vlanNames": ["storage", "tenant"], "lastHeard": "2026-11-28T23:59:30Z",
                ],
            ],
            [
                "name": "ens5f1v0", "kind": "vf", "mac": "02:00:00:00:00:01", "mtu": 9000, "operState": "down", "carrier": false,
                "sriov": ["pfName": "ens5f1"], "parent": "ens5f1",
            ],
        ],
        "deviceCount": 2,
        "resolvedNetworks": "storage",
        "networks": [
            ["network": "storage", "device": "ens5f1", "rule": "intel-in-storage-subnet", "message": "rule intel-in-storage-subnet chose ens5f1"],
            ["network": "tenant", "message": "no device matched"],
        ],
        "probedAt": "2026-11-29T00:00:00Z",
        "agentVersion": "0.1.0-test",
        "conditions": [
            ["type": "Ready", "status": "True", "lastTransitionTime": "2026-11-29T00:00:00Z", "reason": "Probed", "message": "2 devices",
             "observedGeneration": 1],
        ],
    ]
}
