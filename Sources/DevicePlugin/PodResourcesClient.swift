import DevicePluginAPI
import GRPCCore
import GRPCNIOTransportHTTP2Posix

/// The kubelet's pod resources API (`v1.PodResourcesLister`): which pod holds which device.
enum PodResourcesClient {
    /// Where the kubelet serves it.
    static let defaultSocket = "/var/lib/kubelet/pod-resources/kubelet.sock"

    /// `List` on `socket`: the devices of Automagic's resources (`automagic.dev/<network>`, served
    /// now or withdrawn while their pods run) that the pods' containers hold. Throws the kubelet's
    /// refusal or the connection's failure (within `timeout`).
    static func held(socket: String, timeout: Duration) async throws -> [DeviceClaims.Held] {
        var options = CallOptions.defaults
        options.timeout = timeout
        options.waitForReady = false
        let answer: V1_ListPodResourcesResponse
        do {
            let transport = try HTTP2ClientTransport.Posix(target: .unixDomainSocket(path: socket), transportSecurity: .plaintext)
            answer = try await withGRPCClient(transport: transport) { client in
                try await V1_PodResourcesLister.Client(wrapping: client).list(V1_ListPodResourcesRequest(), options: options)
            }
        } catch let error as RPCError {
            throw DevicePluginError.podResourcesFailed(socket: socket, cause: "\(error.code): \(error.message)")
        } catch {
            throw DevicePluginError.podResourcesFailed(socket: socket, cause: "\(error)")
        }
        var held: [DeviceClaims.Held] = []
        for pod in answer.podResources {
            for container in pod.containers {
                for devices in container.devices {
                    guard let network = ResourcePlan.network(resourceName: devices.resourceName) else { continue }
                    for id in devices.deviceIds {
                        held.append(DeviceClaims.Held(network: network, deviceID: id, pod: pod.namespace + "/" + pod.name))
                    }
                }
            }
        }
        return held
    }
}
