import DeviceProbe
import Logging
import MappingFile

/// Where the device plugin reads and serves.
public struct DevicePluginConfiguration: Sendable {
    /// The agent's mapping file (the networks, which are exclusive, and their candidates).
    public var mappingFile: String
    /// The kubelet's device-plugin folder: `kubelet.sock` is there, and the plugin's sockets go there.
    public var pluginDirectory: String
    /// The network namespace whose links are watched (nil: the process's own; in a pod with
    /// `hostNetwork: true` that is the node's).
    public var netnsPath: String?
    /// How often the mapping file and the sockets are looked at (`stat`, no read while unchanged).
    public var pollInterval: Duration
    /// The kubelet's pod resources API socket, asked which pods hold which devices (nil: never
    /// asked; claims then end when the device's link comes back to the host).
    public var podResourcesSocket: String?
    /// How often the pod resources API is asked (`List`).
    public var podResourcesInterval: Duration
    /// How long after `Allocate` a device stays claimed although `List` does not show it yet.
    public var claimSettle: Duration

    public static let defaultPluginDirectory = "/var/lib/kubelet/device-plugins"
    public static let defaultPodResourcesSocket = PodResourcesClient.defaultSocket

    public init(mappingFile: String = MappingFile.defaultPath, pluginDirectory: String = Self.defaultPluginDirectory,
                netnsPath: String? = nil, pollInterval: Duration = .milliseconds(250),
                podResourcesSocket: String? = Self.defaultPodResourcesSocket, podResourcesInterval: Duration = .seconds(1),
                claimSettle: Duration = .seconds(5)) {
        self.mappingFile = mappingFile
        self.pluginDirectory = pluginDirectory
        self.netnsPath = netnsPath
        self.pollInterval = pollInterval
        self.podResourcesSocket = podResourcesSocket
        self.podResourcesInterval = podResourcesInterval
        self.claimSettle = claimSettle
    }

    var kubeletSocket: String { pluginDirectory + "/kubelet.sock" }
    func socketPath(_ resource: ServedResource) -> String { pluginDirectory + "/" + resource.socketName }
}

/// The device plugin process: a kubelet device plugin per exclusive network of the mapping file.
///
/// - The mapping file is looked at every `pollInterval`; when it changed, the plan is recomputed:
///   a network that became exclusive gets a server and is registered; one that stopped being
///   exclusive or disappeared is withdrawn (its ListAndWatch stream ends, its socket is removed);
///   a missing file serves nothing; a file that cannot be read (garbage, a newer format) is
///   reported and the last good plan is kept.
/// - Links are watched through rtnetlink (``DeviceProber/changes()``, 50 ms debounce): a device
///   is Healthy while its link exists and is up.
/// - A kubelet restart removes the plugins' sockets and creates `kubelet.sock` anew: a server
///   whose socket is gone starts again on a new one, and every resource registers again when
///   `kubelet.sock` is a new file. A failed registration is retried every second.
/// - A device several networks offer goes to one pod at a time (``DeviceClaims``): `Allocate`
///   claims it, the pod resources API (`List` every `podResourcesInterval`) tells when the pod is
///   gone; without that API, the device's link coming back to the host ends the claim.
///
/// ```swift
/// let daemon = DevicePluginDaemon(configuration: .init(netnsPath: "/var/run/netns/test"), logger: logger)
/// try await daemon.run()   // until the task is cancelled
/// ```
public actor DevicePluginDaemon {
    private struct Running {
        var server: ResourceServer
        var registeredWith: FileIdentity?
        var nextAttempt: ContinuousClock.Instant = .now
    }

    public let configuration: DevicePluginConfiguration
    private let logger: Logger
    private var plan = ResourcePlan()
    private var links = LinkTable()
    private var running: [String: Running] = [:]
    private var mappingIdentity: FileIdentity?
    private var mappingRead = false
    private var lastMappingProblem: String?
    private let claims = ClaimBook()
    /// Whether the pod resources API answered the last `List` (nil: not asked yet).
    private var podResourcesAnswered: Bool?
    private var lastPodResourcesProblem: String?

    public init(configuration: DevicePluginConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Serves until the calling task is cancelled, then withdraws every resource (sockets removed).
    /// Throws when the namespace cannot be watched.
    public func run() async throws {
        let prober = try DeviceProber(netnsPath: configuration.netnsPath,
                                      options: ProbeOptions(ethtool: false, defaultRoutes: false),
                                      watch: ProbeWatchOptions(debounce: .milliseconds(50), maxDelay: .milliseconds(200),
                                                          resyncInterval: .seconds(30)))
        defer { prober.shutdown() }
        let changes = prober.changes()
        await refreshLinks(prober)
        // The kubelet's record first: a restarted plugin's first lists already say which devices
        // other networks' pods hold.
        await refreshClaims()
        await tick()
        logger.info("device plugin started", metadata: [
            "mappingFile": "\(configuration.mappingFile)", "deviceFolder": "\(configuration.pluginDirectory)",
            "netns": "\(configuration.netnsPath ?? "own")",
        ])
        let interval = configuration.pollInterval
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in changes { await self.refreshLinks(prober) }
            }
            group.addTask {
                while (try? await Task.sleep(for: interval)) != nil { await self.tick() }
            }
            let claimInterval = configuration.podResourcesInterval
            group.addTask {
                while (try? await Task.sleep(for: claimInterval)) != nil { await self.refreshClaims() }
            }
            let claimChanges = claims.changes
            group.addTask {
                for await _ in claimChanges { await self.publishAll() }
            }
            await group.next()
            group.cancelAll()
            claims.finish()
        }
        await withdrawAll()
    }

    /// The resources served now (network names), for tests and logs.
    public var servedNetworks: [String] { running.keys.sorted() }

    private func refreshLinks(_ prober: DeviceProber) async {
        do {
            let devices = try await prober.probe()
            links = LinkTable(devices.map(LinkState.init))
        } catch {
            logger.error("cannot list the links: \(error)")
            return
        }
        if podResourcesAnswered != true { releaseClaimsOfReturnedLinks() }
        publishAll()
    }

    private func publishAll() {
        let held = claims.snapshot
        for (network, r) in running {
            guard let resource = plan.resource(network: network) else { continue }
            r.server.feed.publish(resource: resource, devices: links.advertise(resource, claims: held))
        }
    }

    /// Asks the kubelet which pods hold which devices of Automagic's resources (at start, then
    /// while a resource is served). No socket: claims end when their link returns
    /// (``releaseClaimsOfReturnedLinks()``); a failed `List` keeps every claim.
    func refreshClaims() async {
        guard let socket = configuration.podResourcesSocket, !running.isEmpty || podResourcesAnswered == nil else { return }
        guard FileIdentity(path: socket) != nil else {
            if podResourcesAnswered != false {
                logger.warning("no pod resources API at \(socket): a device several networks offer is given back when its link returns to the host")
            }
            podResourcesAnswered = false
            lastPodResourcesProblem = nil
            return
        }
        let started = ContinuousClock.now
        do {
            let held = try await PodResourcesClient.held(socket: socket, timeout: .seconds(2))
            let settle = configuration.claimSettle
            claims.update { $0.observe(held: held, listStarted: started, settle: settle) }
            if podResourcesAnswered != true { logger.info("following the pods' devices through the pod resources API at \(socket)") }
            podResourcesAnswered = true
            lastPodResourcesProblem = nil
        } catch {
            let text = "\(error)"
            if lastPodResourcesProblem != text { logger.warning("\(text); keeping the devices' claims as they are") }
            lastPodResourcesProblem = text
        }
    }

    /// Without the pod resources API: a claimed device whose link left the host and is back is free.
    private func releaseClaimsOfReturnedLinks() {
        var candidates: [String: DeviceCandidate] = [:]
        for resource in plan.resources {
            for c in resource.devices { candidates[c.deviceID] = c }
        }
        let table = links
        claims.update { $0.observe(present: { id in candidates[id].map(table.isPresent) ?? false }) }
    }

    /// One look at the mapping file and the sockets.
    func tick() async {
        let identity = FileIdentity(path: configuration.mappingFile)
        if !mappingRead || identity != mappingIdentity {
            mappingRead = true
            mappingIdentity = identity
            await reloadMapping()
        }
        await keepRegistered()
    }

    private func reloadMapping() async {
        let newPlan: ResourcePlan
        do {
            newPlan = ResourcePlan(mapping: try MappingFile.read(path: configuration.mappingFile))
            lastMappingProblem = nil
        } catch let error where error.isNotFound {
            if lastMappingProblem != "absent" { logger.info("\(error): serving no resource until the agent writes it") }
            lastMappingProblem = "absent"
            newPlan = ResourcePlan()
        } catch {
            let text = "\(error)"
            if lastMappingProblem != text { logger.error("\(text); keeping the resources served before") }
            lastMappingProblem = text
            return
        }
        guard newPlan != plan || running.count != newPlan.resources.count else { return }
        for (id, networks) in newPlan.shared.sorted(by: { $0.key < $1.key }) where plan.shared[id] != networks {
            logger.info("device \(id) is offered by networks \(networks.joined(separator: ", ")): a pod of one of them holds it at a time")
        }
        for (id, network) in newPlan.allocatedThroughDRA.sorted(by: { $0.key < $1.key }) where plan.allocatedThroughDRA[id] != network {
            logger.info("device \(id) is allocated through DRA (network '\(network)'): no device-plugin resource offers it")
        }
        plan = newPlan
        for network in running.keys.sorted() where newPlan.resource(network: network) == nil {
            await withdraw(network, reason: "no longer an exclusive network in the mapping file")
        }
        for resource in newPlan.resources {
            if let r = running[resource.network] {
                r.server.feed.publish(resource: resource, devices: links.advertise(resource, claims: claims.snapshot))
            } else {
                await start(resource)
            }
        }
    }

    private func start(_ resource: ServedResource) async {
        let feed = DeviceFeed(resource: resource, devices: links.advertise(resource, claims: claims.snapshot))
        do {
            let server = try await ResourceServer.start(socketPath: configuration.socketPath(resource), feed: feed, claims: claims)
            running[resource.network] = Running(server: server)
            logger.info("serving \(resource.resourceName) on \(server.socketPath) with \(resource.devices.count) device(s)")
        } catch {
            logger.error("\(error)")
        }
    }

    private func withdraw(_ network: String, reason: String) async {
        guard let r = running.removeValue(forKey: network) else { return }
        await r.server.stop()
        logger.info("withdrew \(ResourcePlan.resourceName(network: network)): \(reason)")
    }

    private func withdrawAll() async {
        for network in running.keys.sorted() { await withdraw(network, reason: "shutting down") }
    }

    /// Restarts servers whose socket was removed, and registers every resource not registered
    /// with the current kubelet.sock.
    private func keepRegistered() async {
        let kubelet = FileIdentity(path: configuration.kubeletSocket)
        for network in running.keys.sorted() {
            guard var r = running[network], let resource = plan.resource(network: network) else { continue }
            if !r.server.socketIsOurs {
                logger.info("socket \(r.server.socketPath) was removed (kubelet restart?): serving \(resource.resourceName) again")
                await r.server.stop()
                running[network] = nil
                await start(resource)
                guard let restarted = running[network] else { continue }
                r = restarted
            }
            if let mine = r.registeredWith, let kubelet, mine.device == kubelet.device, mine.inode == kubelet.inode { continue }
            r.registeredWith = nil
            guard let kubelet, ContinuousClock.now >= r.nextAttempt else {
                running[network] = r
                continue
            }
            do {
                try await KubeletRegistration.register(kubeletSocket: configuration.kubeletSocket,
                                                       endpoint: resource.socketName, resourceName: resource.resourceName)
                r.registeredWith = kubelet
                logger.info("registered \(resource.resourceName) with the kubelet")
            } catch {
                r.nextAttempt = .now + .seconds(1)
                logger.warning("\(error); trying again in 1 s")
            }
            // The resource may have been withdrawn while registering.
            if running[network] != nil { running[network] = r }
        }
    }
}
