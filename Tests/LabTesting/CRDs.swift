import JSON
import KubeClient
import TestSupport

/// The CustomResourceDefinitions of the repository's `crds/` folder, each as JSON, in file order.
public func repositoryCRDs() throws -> [JSONValue] {
    var crds: [JSONValue] = []
    for file in try repositoryFiles(in: "crds", extensions: ["yaml", "yml"]) {
        crds += try yamlDocuments(try readRepositoryFile(file)).filter { $0["kind"]?.stringValue == "CustomResourceDefinition" }
    }
    guard !crds.isEmpty else { throw TestFailure("no CustomResourceDefinition in \(repositoryPath("crds"))") }
    return crds
}

extension KubernetesClient {
    /// Installs the repository's CRDs (`crds/`) and returns once the server serves their resources.
    public func installRepositoryCRDs() async throws {
        for crd in try repositoryCRDs() { try await applyCRD(crd) }
    }

    /// Creates or replaces the CRD `crd` by server-side apply (field manager `automagic-tests`,
    /// forced: fields this manager set before and `crd` leaves out are removed) and returns once
    /// its served versions answer a list.
    ///
    /// Tests never delete the shared CRDs; should one be in the middle of its deletion anyway (a real
    /// server finishes it asynchronously, removing every object of its kind, the next test's
    /// included), this waits until it is gone and applies it again, so no test starts on a CRD that
    /// is about to vanish, whatever ran before it.
    public func applyCRD(_ crd: JSONValue, timeout: Duration = .seconds(120)) async throws {
        guard let name = crd[path: ["metadata", "name"]]?.stringValue, let group = crd[path: ["spec", "group"]]?.stringValue,
              let plural = crd[path: ["spec", "names", "plural"]]?.stringValue else {
            throw TestFailure("a CRD without metadata.name, spec.group or spec.names.plural: \(crd.jsonString())")
        }
        let path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + name
        try await waitUntil("CRD \(name) applied and not being deleted", timeout: timeout) {
            let response = try await self.request("PATCH", path: path, query: [("fieldManager", "automagic-tests"), ("force", "true")],
                                                  body: crd.serialized(), contentType: "application/apply-patch+yaml")
            return try JSONValue.parse(Array(response.body))[path: ["metadata", "deletionTimestamp"]] == nil
        }
        let versions = crd[path: ["spec", "versions"]]?.arrayValue?.filter { $0["served"]?.boolValue == true }.compactMap { $0["name"]?.stringValue } ?? []
        for version in versions {
            try await waitUntilServed("/apis/\(group)/\(version)/\(plural)", timeout: .seconds(30))
        }
    }

    /// Returns once `GET path` (a list) answers anything but 404 Not Found: a CRD's resource is
    /// served a moment after it was created.
    public func waitUntilServed(_ path: String, timeout: Duration = .seconds(30)) async throws {
        try await waitUntil("resource \(path) served", timeout: timeout) {
            do {
                _ = try await self.request("GET", path: path, query: [("limit", "1")])
                return true
            } catch let error as KubeClientError where error.isNotFound {
                return false
            }
        }
    }
}
