import DevicePluginAPI
import GRPCCore
import MappingFile

/// The kubelet's `v1beta1.DevicePlugin` service for one served resource.
struct DevicePluginService: V1beta1_DevicePlugin.SimpleServiceProtocol {
    let feed: DeviceFeed
    /// Which network's pods hold which devices (a device several networks offer goes to one pod).
    let claims: ClaimBook

    static var options: V1beta1_DevicePluginOptions {
        var o = V1beta1_DevicePluginOptions()
        o.preStartRequired = false
        o.getPreferredAllocationAvailable = true
        return o
    }

    func getDevicePluginOptions(request: V1beta1_Empty, context: ServerContext) async throws -> V1beta1_DevicePluginOptions {
        Self.options
    }

    func listAndWatch(request: V1beta1_Empty, response: RPCWriter<V1beta1_ListAndWatchResponse>,
                      context: ServerContext) async throws {
        for await devices in feed.subscribe() {
            try await response.write(Self.listResponse(devices))
        }
    }

    func getPreferredAllocation(request: V1beta1_PreferredAllocationRequest,
                                context: ServerContext) async throws -> V1beta1_PreferredAllocationResponse {
        let resource = feed.resource
        var answer = V1beta1_PreferredAllocationResponse()
        for container in request.containerRequests {
            var c = V1beta1_ContainerPreferredAllocationResponse()
            c.deviceIds = preferredAllocation(available: container.availableDeviceIds, mustInclude: container.mustIncludeDeviceIds,
                                              size: Int(container.allocationSize), devices: resource.devices)
            answer.containerResponses.append(c)
        }
        return answer
    }

    func allocate(request: V1beta1_AllocateRequest, context: ServerContext) async throws -> V1beta1_AllocateResponse {
        let resource = feed.resource
        var answer = V1beta1_AllocateResponse()
        for container in request.containerRequests {
            let unknown = container.devicesIds.filter { id in !resource.devices.contains { $0.deviceID == id } }
            guard unknown.isEmpty else {
                let known = resource.devices.map(\.deviceID)
                throw RPCError(code: .invalidArgument, message: "\(resource.resourceName): "
                    + "\(unknown.joined(separator: ", ")) \(unknown.count == 1 ? "is not a device" : "are not devices") of this resource "
                    + "on this node (its devices: \(known.isEmpty ? "none" : known.joined(separator: ", ")))")
            }
            var c = V1beta1_ContainerAllocateResponse()
            c.envs[resource.environmentVariable] = container.devicesIds.joined(separator: ",")
            answer.containerResponses.append(c)
        }
        // All containers' devices at once: a refused request claims nothing.
        let ids = request.containerRequests.flatMap(\.devicesIds)
        let taken = claims.update { $0.allocate(network: resource.network, ids: ids, at: .now) }
        guard taken.isEmpty else {
            let held = taken.map { id, claim in "\(id) is held by a pod of network '\(claim.network)'\(claim.pod.map { " (\($0))" } ?? "")" }
            throw RPCError(code: .failedPrecondition, message: "\(resource.resourceName): "
                + held.joined(separator: "; ") + "; a device is given to one pod at a time, and is offered again once that pod is gone")
        }
        return answer
    }

    func preStartContainer(request: V1beta1_PreStartContainerRequest,
                           context: ServerContext) async throws -> V1beta1_PreStartContainerResponse {
        V1beta1_PreStartContainerResponse()
    }

    static func listResponse(_ devices: [AdvertisedDevice]) -> V1beta1_ListAndWatchResponse {
        var r = V1beta1_ListAndWatchResponse()
        r.devices = devices.map { d in
            var device = V1beta1_Device()
            device.id = d.id
            device.health = d.health.rawValue
            if let numa = d.numaNode {
                var node = V1beta1_NUMANode()
                node.id = Int64(numa)
                device.topology.nodes = [node]
            }
            return device
        }
        return r
    }
}
