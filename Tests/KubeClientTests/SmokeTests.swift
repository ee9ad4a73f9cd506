import Foundation
import HTTPServer
import JSON
import KubeClient
import KubeCore
import Testing

@Suite struct TransportTests {
    @Test func getOverMutualTLSDecodesObject() async throws {
        let server = try FakeAPIServer(requireClientCert: true) { request, writer in
            respondJSON(writer, widgetJSON("w1", rv: "7"))
        }
        let client = try KubernetesClient(configuration: server.configuration)
        let widget = try await client.resource(Widget.self).get("w1")
        #expect(widget.metadata.name == "w1")
        #expect(widget.metadata.resourceVersion == "7")
        #expect(server.requests.first?.path == "/apis/example.com/v1/widgets/w1")
        #expect(server.requests.first?.peer == "admin")
    }
}
