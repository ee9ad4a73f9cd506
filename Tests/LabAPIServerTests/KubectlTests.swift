import Foundation
import JSON
import Testing
import TestSupport
@testable import LabAPIServer
import LabTesting

/// kubectl (installed at /usr/bin/kubectl) as a real client over HTTPS.
@Suite struct KubectlTests {
    static let kubectl = "/usr/bin/kubectl"

    final class Env {
        let lab: TestLab
        var server: RunningLabServer { lab.server }
        let cacheDir: String
        init() throws {
            lab = try TestLab()
            cacheDir = lab.directory + "/kubectl-cache"
        }
        deinit { lab.stop() }

        func kubectl(_ args: [String], stdin: String? = nil, timeout: Double = 60) throws -> ProcessOutput {
            try run(KubectlTests.kubectl, ["--kubeconfig", server.kubeconfigPath, "--cache-dir", cacheDir] + args,
                    stdin: stdin.map { Array($0.utf8) }, timeout: timeout)
        }
    }

    static let widgetYAML = """
    apiVersion: example.com/v1
    kind: Widget
    metadata:
      name: w1
      labels:
        tier: gold
    spec:
      size: 3
      color: red
    """

    @Test func kubectlIsInstalled() {
        #expect(FileManager.default.isExecutableFile(atPath: Self.kubectl), "kubectl is required at /usr/bin/kubectl")
    }

    @Test func applyGetPatchDeleteWithTheTraceManifests() throws {
        let env = try Env()
        let manifests = Traces.directory + "/manifests"
        let apply = try env.kubectl(["apply", "-f", manifests])
        #expect(apply.status == 0, "\(apply.stderr)")
        #expect(apply.stdout.contains("customresourcedefinition.apiextensions.k8s.io/widgets.example.com created"))
        #expect(apply.stdout.contains("node/node-a created"))

        let create = try env.kubectl(["apply", "-f", "-"], stdin: Self.widgetYAML)
        #expect(create.status == 0, "\(create.stderr)")
        #expect(create.stdout.contains("widget.example.com/w1 created"))
        // Re-applying an unchanged manifest is a no-op; a change is "configured".
        let again = try env.kubectl(["apply", "-f", "-"], stdin: Self.widgetYAML)
        #expect(again.stdout.contains("widget.example.com/w1 unchanged"), "\(again.stdout) \(again.stderr)")
        let changed = try env.kubectl(["apply", "-f", "-"], stdin: Self.widgetYAML.replacingOccurrences(of: "size: 3", with: "size: 4"))
        #expect(changed.stdout.contains("widget.example.com/w1 configured"), "\(changed.stderr)")

        let table = try env.kubectl(["get", "widgets"])
        #expect(table.status == 0, "\(table.stderr)")
        let header = table.stdout.split(separator: "\n").first.map(String.init) ?? ""
        #expect(header.contains("NAME") && header.contains("SIZE") && header.contains("PHASE") && header.contains("AGE"), "\(table.stdout)")
        #expect(table.stdout.contains("w1") && table.stdout.contains("4"))

        let json = try env.kubectl(["get", "wd", "w1", "-o", "json"])
        let obj = try JSONValue.parse(json.stdout)
        #expect(obj[path: ["spec", "size"]]?.intValue == 4)
        #expect(obj[path: ["metadata", "generation"]]?.intValue == 2)

        let yaml = try env.kubectl(["get", "wd", "w1", "-o", "yaml"])
        #expect(yaml.stdout.contains("kind: Widget") && yaml.stdout.contains("color: red"), "\(yaml.stdout)")

        let patch = try env.kubectl(["patch", "wd", "w1", "--type", "merge", "-p", #"{"spec":{"color":"blue"}}"#])
        #expect(patch.status == 0, "\(patch.stderr)")
        let status = try env.kubectl(["patch", "wd", "w1", "--subresource", "status", "--type", "merge", "-p", #"{"status":{"phase":"Ready"}}"#])
        #expect(status.status == 0, "\(status.stderr)")
        let after = try JSONValue.parse(try env.kubectl(["get", "wd", "w1", "-o", "json"]).stdout)
        #expect(after[path: ["spec", "color"]]?.stringValue == "blue")
        #expect(after[path: ["status", "phase"]]?.stringValue == "Ready")

        let invalid = try env.kubectl(["patch", "wd", "w1", "--type", "merge", "-p", #"{"spec":{"size":0}}"#])
        #expect(invalid.status != 0)
        #expect(invalid.stderr.contains("spec.size") && invalid.stderr.contains("greater than or equal to 1"), "\(invalid.stderr)")

        let label = try env.kubectl(["label", "node", "node-a", "example.com/pool=blue"])
        #expect(label.status == 0, "\(label.stderr)")
        let describe = try env.kubectl(["describe", "wd", "w1"])
        #expect(describe.status == 0 && describe.stdout.contains("Phase:  Ready"), "\(describe.stdout) \(describe.stderr)")

        let resources = try env.kubectl(["api-resources"])
        #expect(resources.status == 0, "\(resources.stderr)")
        for line in ["widgets", "nodes", "namespaces", "leases", "customresourcedefinitions"] {
            #expect(resources.stdout.contains(line), "api-resources lacks \(line)")
        }

        let delete = try env.kubectl(["delete", "wd", "w1"])
        #expect(delete.stdout.contains("widget.example.com \"w1\" deleted"), "\(delete.stderr)")
        let gone = try env.kubectl(["get", "wd", "w1"])
        #expect(gone.status != 0 && gone.stderr.contains("NotFound"), "\(gone.stderr)")
    }

    @Test func watchStreamsChangesAsTableRows() throws {
        let env = try Env()
        let crd = try env.kubectl(["apply", "-f", Traces.directory + "/manifests/widgets.example.com.yaml"])
        #expect(crd.status == 0, "\(crd.stderr)")
        let client = APIClient(api: env.server.api)
        #expect(client.call("POST", "/apis/example.com/v1/widgets", json: Fixtures.widget("before")).status == 201)
        let writer = Thread {
            Thread.sleep(forTimeInterval: 1.5)
            _ = client.call("POST", "/apis/example.com/v1/widgets", json: Fixtures.widget("during", size: 7))
        }
        writer.start()
        let watch = try env.kubectl(["get", "widgets", "-w", "--request-timeout=4s"], timeout: 6)
        #expect(watch.stdout.contains("before"), "\(watch.stdout) \(watch.stderr)")
        #expect(watch.stdout.contains("during"), "\(watch.stdout) \(watch.stderr)")
    }

    @Test func typedGeneratorsAndEvents() throws {
        let env = try Env()
        // `kubectl create namespace` posts protobuf.
        let ns = try env.kubectl(["create", "namespace", "team-a"])
        #expect(ns.status == 0, "\(ns.stderr)")
        #expect(ns.stdout.contains("namespace/team-a created"))
        let get = try env.kubectl(["get", "ns", "team-a", "-o", "jsonpath={.status.phase}"])
        #expect(get.stdout == "Active", "\(get.stdout) \(get.stderr)")
        // An events.k8s.io/v1 Event is visible through the core API (kubectl get events).
        let client = APIClient(api: env.server.api)
        let event: JSONValue = [
            "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": ["name": "e1", "namespace": "team-a"],
            "eventTime": "2026-11-28T23:02:50.123456Z", "reportingController": "automagic.dev/controller", "reportingInstance": "c-1",
            "action": "Resolve", "reason": "Resolved", "type": "Normal", "note": "network storage resolved",
            "regarding": ["apiVersion": "v1", "kind": "Node", "name": "node-a"],
        ]
        let created = client.call("POST", "/apis/events.k8s.io/v1/namespaces/team-a/events", json: event)
        #expect(created.status == 201, "\(created.text)")
        #expect(created.json?["note"]?.stringValue == "network storage resolved")
        let events = try env.kubectl(["get", "events", "-n", "team-a"])
        #expect(events.stdout.contains("Resolved") && events.stdout.contains("network storage resolved"), "\(events.stdout) \(events.stderr)")
        let core = client.call("GET", "/api/v1/namespaces/team-a/events/e1")
        #expect(core.json?["message"]?.stringValue == "network storage resolved")
        #expect(core.json?[path: ["involvedObject", "name"]]?.stringValue == "node-a")
    }

    @Test func crdDeletionRemovesInstancesAndEndpoint() throws {
        let env = try Env()
        #expect(try env.kubectl(["apply", "-f", Traces.directory + "/manifests/widgets.example.com.yaml"]).status == 0)
        #expect(try env.kubectl(["apply", "-f", "-"], stdin: Self.widgetYAML).status == 0)
        let del = try env.kubectl(["delete", "crd", "widgets.example.com"])
        #expect(del.status == 0, "\(del.stderr)")
        let client = APIClient(api: env.server.api)
        let r = client.call("GET", "/apis/example.com/v1/widgets")
        #expect(r.status == 404)
        #expect(r.text == "404 page not found\n")
        #expect(client.call("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com").status == 404)
    }
}
