import Foundation
import Testing
import TestSupport
import Yams

/// The RBAC in `manifests/` grants the agent and the controller what they use and nothing
/// more, and the admission policy closes what RBAC cannot say. Read from the YAML files
/// themselves (every document of every top-level manifest), through their bindings.
@Suite struct LeastPrivilegeTests {
    /// One permission: verb on group/resource (resource with its subresource, `nodes/status`),
    /// optionally limited to one namespace and to resource names.
    struct Grant: Hashable, CustomStringConvertible {
        var group: String
        var resource: String
        var verb: String
        var description: String { "\(verb) \(group.isEmpty ? "core" : group)/\(resource)" }
    }

    /// Every YAML document of `<directory>/*.yaml` (a repository folder; `manifests`: not the
    /// examples, NADs or the policy folder).
    static func documents(in directory: String) throws -> [[String: Any]] {
        var out: [[String: Any]] = []
        for file in try repositoryFiles(in: directory, extensions: ["yaml"]) {
            for document in try Yams.load_all(yaml: try readRepositoryFile(file)) {
                if let object = document as? [String: Any] { out.append(object) }
            }
        }
        return out
    }

    /// The rules that reach the service account `namespace/name` through any binding.
    static func rules(for account: String, namespace: String, in documents: [[String: Any]]) throws -> [[String: Any]] {
        func meta(_ d: [String: Any]) -> [String: Any] { d["metadata"] as? [String: Any] ?? [:] }
        var rules: [[String: Any]] = []
        for binding in documents where ["ClusterRoleBinding", "RoleBinding"].contains(binding["kind"] as? String) {
            let subjects = binding["subjects"] as? [[String: Any]] ?? []
            guard subjects.contains(where: {
                $0["kind"] as? String == "ServiceAccount" && $0["name"] as? String == account && $0["namespace"] as? String == namespace
            }) else { continue }
            let ref = try #require(binding["roleRef"] as? [String: Any], "binding \(meta(binding)["name"] ?? "?") has no roleRef")
            let bindingNamespace = meta(binding)["namespace"] as? String
            let role = documents.first {
                $0["kind"] as? String == ref["kind"] as? String && meta($0)["name"] as? String == ref["name"] as? String
                    && (ref["kind"] as? String == "ClusterRole" || meta($0)["namespace"] as? String == bindingNamespace)
            }
            let found = try #require(role, "binding \(meta(binding)["name"] ?? "?") refers to \(ref["kind"] ?? "?") \(ref["name"] ?? "?"), which manifests/ does not define")
            rules += found["rules"] as? [[String: Any]] ?? []
        }
        return rules
    }

    static func grants(_ rules: [[String: Any]]) -> Set<Grant> {
        var out: Set<Grant> = []
        for rule in rules {
            for group in rule["apiGroups"] as? [String] ?? [] {
                for resource in rule["resources"] as? [String] ?? [] {
                    for verb in rule["verbs"] as? [String] ?? [] { out.insert(Grant(group: group, resource: resource, verb: verb)) }
                }
            }
        }
        return out
    }

    @Test func agentRBACGrantsNoDeleteNoWildcardAndNoSecrets() throws {
        let documents = try Self.documents(in: "manifests")
        let rules = try Self.rules(for: "automagic-agent", namespace: "automagic-system", in: documents)
        #expect(!rules.isEmpty, "no rule reaches the agent's service account: the bindings changed?")
        for rule in rules {
            let verbs = rule["verbs"] as? [String] ?? []
            let resources = rule["resources"] as? [String] ?? []
            let groups = rule["apiGroups"] as? [String] ?? []
            // The one delete: its own node's ResourceSlices (a shrinking pool), limited to them by
            // admission-policy/agent-own-resourceslices.yaml.
            let deletable = groups == ["resource.k8s.io"] && resources == ["resourceslices"]
            #expect(verbs.allSatisfy { !["deletecollection", "*"].contains($0) && ($0 != "delete" || deletable) },
                    "the agent may \(verbs) \(resources)")
            #expect(!resources.contains("*") && !groups.contains("*"), "a wildcard in the agent's rule \(rule)")
            #expect(!resources.contains { $0 == "secrets" || $0.hasPrefix("secrets/") }, "the agent may read or write secrets: \(rule)")
            #expect(rule["nonResourceURLs"] == nil, "the agent needs no non-resource URL: \(rule)")
        }
    }

    /// The agent's ResourceSlice rights are what `ResourceSlicePublisher` uses (watch with a field
    /// selector = list + watch; create, update, delete of its own slices), and the admission
    /// policy that limits them to the agent's own node covers every write.
    @Test func agentResourceSliceRightsAreWhatThePublisherUsesAndThePolicyCoversThem() throws {
        let documents = try Self.documents(in: "manifests")
        let granted = Self.grants(try Self.rules(for: "automagic-agent", namespace: "automagic-system", in: documents))
        let slices = Set(granted.filter { $0.group == "resource.k8s.io" }.map { "\($0.resource) \($0.verb)" })
        // Plus one read: the DRA kubelet plugin (device-plugin container, same service account)
        // GETs each ResourceClaim the kubelet asks it to prepare (DRAPlugin.swift).
        #expect(slices == Set(["get", "list", "watch", "create", "update", "delete"].map { "resourceslices \($0)" } + ["resourceclaims get"]),
                "\(slices.sorted())")
        let policies = try Self.documents(in: "manifests/admission-policy")
        let policy = try #require(policies.first {
            $0["kind"] as? String == "ValidatingAdmissionPolicy"
                && ((($0["spec"] as? [String: Any])?["matchConstraints"] as? [String: Any])?["resourceRules"] as? [[String: Any]])?
                    .contains { ($0["resources"] as? [String])?.contains("resourceslices") == true } == true
        }, "no admission policy covers resourceslices")
        let spec = try #require(policy["spec"] as? [String: Any])
        #expect(spec["failurePolicy"] as? String == "Fail")
        let rule = try #require(((spec["matchConstraints"] as? [String: Any])?["resourceRules"] as? [[String: Any]])?.first)
        #expect(Set(rule["operations"] as? [String] ?? []) == ["CREATE", "UPDATE", "DELETE"])
        let expressions = ((spec["variables"] as? [[String: Any]] ?? []) + (spec["validations"] as? [[String: Any]] ?? []))
            .compactMap { $0["expression"] as? String }
        #expect(expressions.contains { $0.contains("request.operation == 'DELETE'") && $0.contains("oldObject") })
        #expect(expressions.contains { $0.contains("spec.nodeName") && $0.contains("'-automagic.dev-'") })
        let name = (policy["metadata"] as? [String: Any])?["name"] as? String
        #expect(policies.contains {
            $0["kind"] as? String == "ValidatingAdmissionPolicyBinding"
                && ($0["spec"] as? [String: Any])?["policyName"] as? String == name
                && (($0["spec"] as? [String: Any])?["validationActions"] as? [String])?.contains("Deny") == true
        })
    }

    /// What the controller uses, from its code (`Sources/Controller`, `Sources/KubeRuntime`):
    /// informers list and watch; writes name their verb.
    static let controllerUses: Set<Grant> = [
        // Informer on NetworkDeviceMaps; ResourceClient.updateStatus of a map (AutomagicController.reconcileMap).
        Grant(group: "automagic.dev", resource: "networkdevicemaps", verb: "list"),
        Grant(group: "automagic.dev", resource: "networkdevicemaps", verb: "watch"),
        Grant(group: "automagic.dev", resource: "networkdevicemaps/status", verb: "update"),
        // Informer on NodeDevices; clean-up of a NodeDevice whose Node is gone (delete with a UID precondition).
        Grant(group: "automagic.dev", resource: "nodedevices", verb: "list"),
        Grant(group: "automagic.dev", resource: "nodedevices", verb: "watch"),
        Grant(group: "automagic.dev", resource: "nodedevices", verb: "delete"),
        // Informer on Nodes; a fresh GET before a NodeDevice clean-up; merge patch of networks.automagic.dev/* labels.
        Grant(group: "", resource: "nodes", verb: "get"),
        Grant(group: "", resource: "nodes", verb: "list"),
        Grant(group: "", resource: "nodes", verb: "watch"),
        Grant(group: "", resource: "nodes", verb: "patch"),
        // Informer on Namespaces (NADs appear in new namespaces).
        Grant(group: "", resource: "namespaces", verb: "list"),
        Grant(group: "", resource: "namespaces", verb: "watch"),
        // NetworkAttachmentDefinitions: informer, label-selected lists, create, update, delete.
        Grant(group: "k8s.cni.cncf.io", resource: "network-attachment-definitions", verb: "list"),
        Grant(group: "k8s.cni.cncf.io", resource: "network-attachment-definitions", verb: "watch"),
        Grant(group: "k8s.cni.cncf.io", resource: "network-attachment-definitions", verb: "create"),
        Grant(group: "k8s.cni.cncf.io", resource: "network-attachment-definitions", verb: "update"),
        Grant(group: "k8s.cni.cncf.io", resource: "network-attachment-definitions", verb: "delete"),
        // DeviceClasses of dra networks: a probe list (also finds the classes rendered before a
        // restart), getIfExists, create, update, delete (AutomagicController.syncDeviceClass).
        Grant(group: "resource.k8s.io", resource: "deviceclasses", verb: "list"),
        Grant(group: "resource.k8s.io", resource: "deviceclasses", verb: "get"),
        Grant(group: "resource.k8s.io", resource: "deviceclasses", verb: "create"),
        Grant(group: "resource.k8s.io", resource: "deviceclasses", verb: "update"),
        Grant(group: "resource.k8s.io", resource: "deviceclasses", verb: "delete"),
        // EventRecorder.create (core/v1 and events.k8s.io/v1 events are the same objects).
        Grant(group: "", resource: "events", verb: "create"),
        Grant(group: "events.k8s.io", resource: "events", verb: "create"),
        // LeaderElector: get, create, update of its Lease.
        Grant(group: "coordination.k8s.io", resource: "leases", verb: "get"),
        Grant(group: "coordination.k8s.io", resource: "leases", verb: "create"),
        Grant(group: "coordination.k8s.io", resource: "leases", verb: "update"),
    ]

    @Test func controllerRBACGrantsWhatItUsesAndNothingMore() throws {
        let documents = try Self.documents(in: "manifests")
        let rules = try Self.rules(for: "automagic-controller", namespace: "automagic-system", in: documents)
        let granted = Self.grants(rules)
        let unused = granted.subtracting(Self.controllerUses)
        #expect(unused.isEmpty, "granted but never used by the controller: \(unused.map(\.description).sorted())")
        let missing = Self.controllerUses.subtracting(granted)
        #expect(missing.isEmpty, "used by the controller but not granted: \(missing.map(\.description).sorted())")
        for rule in rules {
            #expect(!(rule["resources"] as? [String] ?? []).contains { $0 == "secrets" || $0 == "*" }, "\(rule)")
        }
        // The Lease rights that can be limited to the one Lease are.
        let named = rules.filter { ($0["resources"] as? [String]) == ["leases"] && $0["resourceNames"] != nil }
        #expect(named.flatMap { $0["verbs"] as? [String] ?? [] }.sorted() == ["get", "update"])
        #expect(named.allSatisfy { ($0["resourceNames"] as? [String]) == ["automagic-controller"] })
    }

    @Test func admissionPolicyCoversCreateUpdateAndDeleteAndFailsClosed() throws {
        let documents = try Self.documents(in: "manifests/admission-policy")
        let policy = try #require(documents.first { $0["kind"] as? String == "ValidatingAdmissionPolicy" })
        let spec = try #require(policy["spec"] as? [String: Any])
        #expect(spec["failurePolicy"] as? String == "Fail")
        let rules = try #require((spec["matchConstraints"] as? [String: Any])?["resourceRules"] as? [[String: Any]])
        let covered = rules.filter { ($0["apiGroups"] as? [String])?.contains("automagic.dev") == true }
        let operations = Set(covered.flatMap { $0["operations"] as? [String] ?? [] })
        #expect(operations.isSuperset(of: ["CREATE", "UPDATE", "DELETE"]), "operations: \(operations.sorted())")
        let resources = Set(covered.flatMap { $0["resources"] as? [String] ?? [] })
        #expect(resources.isSuperset(of: ["nodedevices", "nodedevices/status"]), "resources: \(resources.sorted())")
        // DELETE has no object: the name it checks comes from oldObject.
        let expressions = ((spec["variables"] as? [[String: Any]] ?? []) + (spec["validations"] as? [[String: Any]] ?? []))
            .compactMap { $0["expression"] as? String }
        #expect(expressions.contains {
            $0.contains("request.operation == 'DELETE'") && $0.contains("oldObject.metadata.name")
        }, "no expression takes the name from oldObject for DELETE: \(expressions)")
        // And it is enforced: a binding that denies.
        let name = (policy["metadata"] as? [String: Any])?["name"] as? String
        let binding = try #require(documents.first {
            $0["kind"] as? String == "ValidatingAdmissionPolicyBinding"
                && ($0["spec"] as? [String: Any])?["policyName"] as? String == name
        })
        #expect(((binding["spec"] as? [String: Any])?["validationActions"] as? [String])?.contains("Deny") == true)
    }
}
