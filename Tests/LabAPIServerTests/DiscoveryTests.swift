import JSON
import Testing
@testable import LabAPIServer

/// Discovery lists what the lab serves, in kube-apiserver's relative group order (trace 007).
@Suite struct DiscoveryTests {
    static func groupNames(_ client: APIClient) -> [String] {
        (client.call("GET", "/apis").json?["groups"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
    }

    @Test func selfSubjectReviewIsDiscoverableWhereItIsServed() throws {
        let client = APIClient(api: LabAPI(configuration: .init()))
        let names = Self.groupNames(client)
        let order = ["events.k8s.io", "authentication.k8s.io", "apiextensions.k8s.io", "coordination.k8s.io"]
        let positions = order.compactMap { names.firstIndex(of: $0) }
        #expect(positions.count == order.count && positions == positions.sorted(), "\(names)")
        let list = try #require(client.call("GET", "/apis/authentication.k8s.io/v1").json)
        #expect(list["groupVersion"]?.stringValue == "authentication.k8s.io/v1")
        let resources = try #require(list["resources"]?.arrayValue)
        #expect(resources.count == 1)
        let review = try #require(resources.first)
        #expect(review["name"]?.stringValue == "selfsubjectreviews" && review["kind"]?.stringValue == "SelfSubjectReview")
        #expect(review["namespaced"]?.boolValue == false)
        #expect(review["verbs"]?.arrayValue?.compactMap(\.stringValue) == ["create"])
        let paths = client.call("GET", "/").json?["paths"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(paths.contains("/apis/authentication.k8s.io/v1"))
    }

    @Test func aServerWithoutSelfSubjectReviewDoesNotListTheGroup() {
        var config = LabAPIConfiguration()
        config.servesSelfSubjectReview = false
        let client = APIClient(api: LabAPI(configuration: config))
        #expect(!Self.groupNames(client).contains("authentication.k8s.io"))
        #expect(client.call("GET", "/apis/authentication.k8s.io/v1").status == 404)
    }
}
