import GRPCCore
import JSON
import KubeClient
import KubeCore
import KubeletPluginAPI
import Logging
import MappingFile

/// Where the DRA kubelet plugin registers, serves and keeps its records.
public struct DRAPluginConfiguration: Sendable {
    /// The driver (`automagic.dev`).
    public var driverName: String
    /// This node's name: the pool whose devices this plugin prepares.
    public var nodeName: String
    /// The registration socket, in the kubelet's plugin registry folder.
    public var registrationSocket: String
    /// The DRA service's socket (absolute; the kubelet is told it through GetInfo).
    public var endpoint: String
    /// The prepared-claim records (``PreparedClaimStore``).
    public var stateDirectory: String
    /// The agent's mapping file (the networks' devices).
    public var mappingFile: String
    /// How often the sockets are looked at (a removed socket is bound again).
    public var pollInterval: Duration

    public static let defaultRegistrationSocket = "/var/lib/kubelet/plugins_registry/automagic.dev-reg.sock"
    public static let defaultEndpoint = "/var/lib/kubelet/plugins/automagic.dev/dra.sock"
    /// The service version the kubelet's DRA manager (Kubernetes 1.34+) looks for in `supported_versions`.
    public static let serviceVersion = "v1.DRAPlugin"

    public init(nodeName: String, driverName: String = DRAClaims.driverName,
                registrationSocket: String = Self.defaultRegistrationSocket, endpoint: String = Self.defaultEndpoint,
                stateDirectory: String = PreparedClaimStore.defaultDirectory, mappingFile: String = MappingFile.defaultPath,
                pollInterval: Duration = .milliseconds(250)) {
        self.driverName = driverName
        self.nodeName = nodeName
        self.registrationSocket = registrationSocket
        self.endpoint = endpoint
        self.stateDirectory = stateDirectory
        self.mappingFile = mappingFile
        self.pollInterval = pollInterval
    }
}

/// Reads ResourceClaims (a protocol so the preparer's decisions can be driven without an API server).
public protocol ResourceClaimReader: Sendable {
    /// The claim as JSON, or nil when it does not exist.
    func claim(namespace: String, name: String) async throws -> JSONValue?
}

/// ResourceClaims (`resource.k8s.io/v1`) through the Kubernetes client.
public struct KubeResourceClaimReader: ResourceClaimReader {
    public static let resourceType = ResourceType(group: "resource.k8s.io", version: "v1", resource: "resourceclaims",
                                                  kind: "ResourceClaim", namespaced: true)
    let client: KubernetesClient

    public init(client: KubernetesClient) { self.client = client }

    public func claim(namespace: String, name: String) async throws -> JSONValue? {
        try await client.dynamic(Self.resourceType, namespace: namespace).getIfExists(name)?.json
    }
}

/// NodePrepareResources and NodeUnprepareResources, one claim at a time (an actor: the kubelet
/// may call concurrently, and a claim's record is read, written and removed whole).
///
/// Prepare reads the claim from the API server and writes its record (``PreparedClaimStore``).
/// Both are idempotent: preparing a prepared claim answers the same devices (its pods refreshed from
/// the claim), unpreparing one with no record succeeds. The records are on disk, so a restarted
/// plugin answers for claims prepared before; when the API server cannot be reached, a claim that
/// has a record is answered from it.
public actor DRAClaimPreparer {
    let configuration: DRAPluginConfiguration
    let reader: any ResourceClaimReader
    let logger: Logger
    var store: PreparedClaimStore { PreparedClaimStore(directory: configuration.stateDirectory) }

    public init(configuration: DRAPluginConfiguration, reader: any ResourceClaimReader, logger: Logger) {
        self.configuration = configuration
        self.reader = reader
        self.logger = logger
    }

    /// Prepares one claim: its record, or why it failed (never thrown: the kubelet gets it per claim).
    public func prepare(namespace: String, name: String, uid: String) async -> Result<PreparedClaim, DRAPrepareError> {
        let what = "ResourceClaim '\(namespace)/\(name)'"
        let existing: PreparedClaim?
        do {
            existing = try store.read(uid: uid)
        } catch {
            return .failure(DRAPrepareError(message: "\(what): failed to read its record: \(error)"))
        }
        let json: JSONValue?
        do {
            json = try await reader.claim(namespace: namespace, name: name)
        } catch {
            if let existing {
                logger.warning("\(what): cannot read it (\(error)); answering from its record")
                return .success(existing)
            }
            return .failure(DRAPrepareError(message: "\(what): failed to read it from the API server: \(error)"))
        }
        guard let json else {
            return .failure(DRAPrepareError(message: "\(what) does not exist (deleted before the kubelet prepared it?)"))
        }
        let current = json[path: ["metadata", "uid"]]?.stringValue ?? ""
        guard current == uid else {
            return .failure(DRAPrepareError(message: "\(what) has UID '\(current)', the kubelet asked for '\(uid)': the claim was replaced"))
        }
        var record: PreparedClaim
        if var existing {
            // Prepared before: the devices stay what they were (a host device given to the pod has
            // left the node's namespace and the mapping file); the pods follow the claim.
            existing.podUIDs = DRAClaims.podUIDs(claim: json)
            record = existing
        } else {
            let mapping = try? MappingFile.read(path: configuration.mappingFile)
            switch DRAClaims.prepare(claim: json, driver: configuration.driverName, node: configuration.nodeName, mapping: mapping) {
            case .success(let r): record = r
            case .failure(let e): return .failure(e)
            }
        }
        do {
            if try store.read(uid: uid) != record { try store.write(record) }
        } catch {
            return .failure(DRAPrepareError(message: "\(what): failed to write its record: \(error)"))
        }
        logger.info("prepared \(what)", metadata: [
            "claim": "\(uid)", "devices": "\(record.devices.map { "\($0.network)=\($0.device) (\($0.interface))" })",
            "pods": "\(record.podUIDs)",
        ])
        return .success(record)
    }

    /// Unprepares one claim: removes its record (none is fine). Returns why it failed, or nil.
    public func unprepare(namespace: String, name: String, uid: String) -> DRAPrepareError? {
        do {
            if try store.remove(uid: uid) {
                logger.info("unprepared ResourceClaim '\(namespace)/\(name)'", metadata: ["claim": "\(uid)"])
            }
            return nil
        } catch {
            return DRAPrepareError(message: "ResourceClaim '\(namespace)/\(name)': failed to remove its record: \(error)")
        }
    }
}

typealias DRAv1 = K8s_Io_Kubelet_Pkg_Apis_Dra_V1_DRAPlugin

/// The kubelet's `v1.DRAPlugin` service.
struct DRAService: DRAv1.SimpleServiceProtocol {
    let preparer: DRAClaimPreparer

    func nodePrepareResources(request: K8s_Io_Kubelet_Pkg_Apis_Dra_V1_NodePrepareResourcesRequest,
                              context: ServerContext) async throws -> K8s_Io_Kubelet_Pkg_Apis_Dra_V1_NodePrepareResourcesResponse {
        var answer = K8s_Io_Kubelet_Pkg_Apis_Dra_V1_NodePrepareResourcesResponse()
        for claim in request.claims {
            var one = K8s_Io_Kubelet_Pkg_Apis_Dra_V1_NodePrepareResourceResponse()
            switch await preparer.prepare(namespace: claim.namespace, name: claim.name, uid: claim.uid) {
            case .success(let record):
                one.devices = record.devices.map { d in
                    var device = K8s_Io_Kubelet_Pkg_Apis_Dra_V1_Device()
                    device.requestNames = [d.request]
                    device.poolName = d.pool
                    device.deviceName = d.device
                    return device
                }
            case .failure(let e):
                one.error = e.message
            }
            answer.claims[claim.uid] = one
        }
        return answer
    }

    func nodeUnprepareResources(request: K8s_Io_Kubelet_Pkg_Apis_Dra_V1_NodeUnprepareResourcesRequest,
                                context: ServerContext) async throws -> K8s_Io_Kubelet_Pkg_Apis_Dra_V1_NodeUnprepareResourcesResponse {
        var answer = K8s_Io_Kubelet_Pkg_Apis_Dra_V1_NodeUnprepareResourcesResponse()
        for claim in request.claims {
            var one = K8s_Io_Kubelet_Pkg_Apis_Dra_V1_NodeUnprepareResourceResponse()
            if let e = await preparer.unprepare(namespace: claim.namespace, name: claim.name, uid: claim.uid) { one.error = e.message }
            answer.claims[claim.uid] = one
        }
        return answer
    }
}

/// The plugin registration service on the registration socket: tells the kubelet the driver's
/// name and DRA endpoint, and logs its verdict.
struct RegistrationService: Pluginregistration_Registration.SimpleServiceProtocol {
    let configuration: DRAPluginConfiguration
    let logger: Logger

    func getInfo(request: Pluginregistration_InfoRequest, context: ServerContext) async throws -> Pluginregistration_PluginInfo {
        var info = Pluginregistration_PluginInfo()
        info.type = "DRAPlugin"
        info.name = configuration.driverName
        info.endpoint = configuration.endpoint
        info.supportedVersions = [DRAPluginConfiguration.serviceVersion]
        return info
    }

    func notifyRegistrationStatus(request: Pluginregistration_RegistrationStatus,
                                  context: ServerContext) async throws -> Pluginregistration_RegistrationStatusResponse {
        if request.pluginRegistered {
            logger.info("the kubelet registered DRA driver \(configuration.driverName) (endpoint \(configuration.endpoint))")
        } else {
            logger.error("the kubelet refused DRA driver \(configuration.driverName): \(request.error)")
        }
        return Pluginregistration_RegistrationStatusResponse()
    }
}

/// The DRA kubelet plugin: the DRA service on ``DRAPluginConfiguration/endpoint`` and the
/// registration service on ``DRAPluginConfiguration/registrationSocket`` (the kubelet's plugin
/// watcher finds it there and calls GetInfo). A socket that disappears is bound again within a
/// poll interval. Runs until the calling task is cancelled, then removes both sockets.
///
/// ```swift
/// let plugin = DRAPlugin(configuration: .init(nodeName: "worker-1"), reader: KubeResourceClaimReader(client: client), logger: logger)
/// try await plugin.run()
/// ```
public final class DRAPlugin: Sendable {
    public let configuration: DRAPluginConfiguration
    let preparer: DRAClaimPreparer
    let logger: Logger

    public init(configuration: DRAPluginConfiguration, reader: any ResourceClaimReader, logger: Logger) {
        self.configuration = configuration
        self.preparer = DRAClaimPreparer(configuration: configuration, reader: reader, logger: logger)
        self.logger = logger
    }

    /// Serves until cancelled. Throws when a socket's folder cannot be created or bound at start.
    public func run() async throws {
        for path in [configuration.endpoint, configuration.registrationSocket] {
            try AtomicFile.makeDirectories(AtomicFile.directory(of: path))
        }
        try AtomicFile.makeDirectories(configuration.stateDirectory)
        // The DRA service first: the kubelet calls it as soon as it has registered the driver.
        var service = try await SocketServer.start(socketPath: configuration.endpoint, services: [DRAService(preparer: preparer)])
        var registration = try await SocketServer.start(socketPath: configuration.registrationSocket,
                                                        services: [RegistrationService(configuration: configuration, logger: logger)])
        logger.info("DRA driver \(configuration.driverName) serving", metadata: [
            "endpoint": "\(configuration.endpoint)", "registration": "\(configuration.registrationSocket)",
            "node": "\(configuration.nodeName)", "stateDir": "\(configuration.stateDirectory)",
        ])
        while (try? await Task.sleep(for: configuration.pollInterval)) != nil {
            do {
                if !service.socketIsOurs {
                    logger.info("socket \(service.socketPath) was removed: serving the DRA service again")
                    await service.stop()
                    service = try await SocketServer.start(socketPath: configuration.endpoint, services: [DRAService(preparer: preparer)])
                }
                if !registration.socketIsOurs {
                    logger.info("socket \(registration.socketPath) was removed: registering with the kubelet again")
                    await registration.stop()
                    registration = try await SocketServer.start(socketPath: configuration.registrationSocket,
                                                                services: [RegistrationService(configuration: configuration, logger: logger)])
                }
            } catch {
                logger.error("\(error); trying again")
            }
        }
        await registration.stop()
        await service.stop()
    }
}
