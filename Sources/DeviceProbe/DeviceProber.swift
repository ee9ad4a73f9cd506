import AutomagicAPI
import CNetlink
import Glibc
import Synchronization

/// Probes the network devices of one network namespace: one rtnetlink dump for all
/// links, one for all addresses, one for routes (default-route presence), ethtool per
/// device (driver, bus info, speed), sysfs through a host root (PCI IDs, NUMA, SR-IOV).
///
/// All kernel work runs on one dedicated OS thread that entered the namespace once
/// (setns changes only the calling thread); callers never block Swift's cooperative pool
/// when they use the async `probe()`.
///
/// ```swift
/// let prober = try DeviceProber(netnsPath: "/proc/1/ns/net", lldp: LLDPOptions(patterns: ["eth*"]))
/// let changes = prober.changes()                   // subscribe first, then probe: nothing is missed
/// var devices = try await prober.probe()
/// for await change in changes {                     // debounced netlink + LLDP events, periodic .resync
///     devices = try await prober.probe()
/// }
/// prober.shutdown()
/// ```
///
/// What is listed, and how:
/// - `kind`: the link kind (IFLA_INFO_KIND) mapped to bond, bridge, vlan, veth, macvlan
///   (also macvtap), ipvlan (also ipvtap); other kinds (tun, vxlan, ifb, …) and loopback are
///   `virtual`. Without a link kind: `vf` when the PCI function has a `physfn`, `physical`
///   when the kernel names a parent bus device (IFLA_PARENT_DEV_NAME, or the sysfs `device`
///   link of the same ifindex), otherwise `virtual`.
/// - `parent`: the master (bond/bridge/VRF), else the lower device of vlan/macvlan/ipvlan
///   when it is in the same namespace, else the PF of a VF. A veth peer is not a parent.
/// - Loopback is excluded (option `includeLoopback`); IPv6 link-local addresses are
///   excluded (option `includeIPv6LinkLocal`): every IPv6 device has one and it identifies
///   no network. Addresses keep the kernel's order (IPv4 first, primary first).
/// - `carrier` is the kernel's IFLA_CARRIER, also for admin-down links (false then).
/// - `speedMbps` is omitted when the driver reports unknown (-1) or 0; `permanentMAC` when
///   the kernel has none (veth, bridge); `numaNode` when sysfs says -1.
/// - `vendorID`/`deviceID` are 4 lower-case hex digits without `0x`.
/// - sysfs shows the namespace it was mounted in; a `/sys/class/net/<name>` entry is trusted
///   only when its ifindex matches the probed link. PCI facts come from
///   `<hostRoot>/sys/bus/pci/devices/<address>`, which is not namespaced.
/// - `hasDefaultRoute` is set (true or false) on every device from the main table.
public final class DeviceProber: Sendable {
    /// Root below which `/sys` is read (`/` in production, a fixture tree in tests).
    public let hostRoot: String
    /// The network namespace probed (nil: the process's own).
    public let netnsPath: String?
    /// What to list.
    public let options: ProbeOptions

    let thread: LoopThread
    let monitor: ChangeMonitor
    private let assembler: DeviceAssembler
    let lldpState: Mutex<LLDPListener?>

    /// Starts the probe thread and enters `netnsPath` (e.g. `/proc/1/ns/net` or
    /// `/var/run/netns/NAME`); throws when the namespace cannot be entered.
    public init(hostRoot: String = "/", netnsPath: String? = nil, options: ProbeOptions = .init(),
                watch: ProbeWatchOptions = .init(), lldp: LLDPOptions? = nil) throws(ProbeError) {
        self.hostRoot = hostRoot
        self.netnsPath = netnsPath
        self.options = options
        let threadName = "probe:\(netnsPath ?? "self")"
        thread = try LoopThread(name: threadName, netnsPath: netnsPath)
        assembler = DeviceAssembler(sysfs: Sysfs(root: hostRoot), options: options)
        monitor = ChangeMonitor(thread: thread, options: watch)
        lldpState = Mutex(nil)
        if let lldp {
            let monitor = self.monitor
            let listener = try LLDPListener(netnsPath: netnsPath, options: lldp) { names in
                monitor.note(DeviceChange(reasons: [.lldp], interfaces: names))
            }
            lldpState.withLock { $0 = listener }
        }
    }

    deinit {
        thread.shutdown()
        lldpState.withLock { $0?.shutdown() }
    }

    /// Stops the probe thread, the change subscription and the LLDP listener; ends every
    /// `changes()` stream. Later probes throw `.stopped`.
    public func shutdown() {
        monitor.finishAll()
        thread.shutdown()
        lldpState.withLock { $0?.shutdown() }
    }

    /// Probes every device (blocks the calling OS thread until done; prefer the async
    /// variant from Swift concurrency).
    public func probe() throws(ProbeError) -> [NetworkDevice] {
        try probeLinks().map(\.device)
    }

    func probeLinks() throws(ProbeError) -> [ProbedLink] {
        let neighbours = currentNeighbours()
        let assembler = self.assembler
        let links = try thread.sync { ctx in Self.run(ctx, assembler, neighbours) }
        updateLLDPSelection(links)
        return links
    }

    /// Probes every device on the probe thread without blocking the caller.
    public func probe() async throws(ProbeError) -> [NetworkDevice] {
        try await probeLinks().map(\.device)
    }

    func probeLinks() async throws(ProbeError) -> [ProbedLink] {
        let neighbours = currentNeighbours()
        let assembler = self.assembler
        let links = try await thread.async { ctx in Self.run(ctx, assembler, neighbours) }
        updateLLDPSelection(links)
        return links
    }

    private func currentNeighbours() -> [Int: LLDPNeighbor] {
        lldpState.withLock { $0?.neighboursByIndex() } ?? [:]
    }

    private static func run(_ ctx: LoopContext, _ assembler: DeviceAssembler,
                            _ neighbours: [Int: LLDPNeighbor]) -> Result<[ProbedLink], ProbeError> {
        do throws(ProbeError) {
            // Before anything is read: never probe a namespace other than the one given.
            try ctx.verifyNamespace()
            let worker: ProbeWorker
            if let w = ctx.storage["probe"] as? ProbeWorker {
                worker = w
            } else {
                worker = try ProbeWorker()
                ctx.storage["probe"] = worker
            }
            let links = try worker.dumpLinks()
            let addresses = try worker.dumpAddresses()
            let routes = assembler.options.defaultRoutes ? try worker.dumpDefaultRouteInterfaces() : nil
            return .success(assembler.assemble(links: links, addresses: addresses, defaultRoutes: routes,
                                               ethtool: worker.ethtool, neighbours: neighbours))
        } catch {
            return .failure(error)
        }
    }

    /// Debounced change batches from a netlink subscription (links, IPv4 and IPv6
    /// addresses) in the probed namespace, LLDP neighbour changes, and the periodic
    /// `.resync`. Each call returns a new stream; the subscription opens on first use,
    /// before any probe queued after this call runs (so subscribe, then probe). A batch with
    /// `.overflow` means the kernel dropped events: re-probe everything (you always should).
    /// Streams end at `shutdown()` (or at once if the subscription socket cannot be opened).
    /// Cheap when idle: one blocking poll, no timers except the resync interval.
    public func changes() -> AsyncStream<DeviceChange> { monitor.subscribe() }

    /// Emits a `.requested` batch to every `changes()` stream (after the debounce).
    public func requestResync() { monitor.note(DeviceChange(reasons: [.requested])) }

    /// Every LLDP neighbour currently known (all per device, not only the published one);
    /// empty when LLDP is off.
    public func lldpNeighbours() -> [LLDPObservation] {
        lldpState.withLock { $0 }?.observations() ?? []
    }

    /// Counters of the LLDP listener; nil when LLDP is off.
    public func lldpStatistics() -> LLDPStatistics? {
        lldpState.withLock { $0?.stats.withLock { $0 } }
    }

    /// Points the LLDP listener at the devices `LLDPOptions` selects from `devices`
    /// (done after every probe; call it yourself only if you assemble devices otherwise).
    func updateLLDPSelection(_ links: [ProbedLink]) {
        guard let l = lldpState.withLock({ $0 }) else { return }
        l.select(l.options.selection(links))
    }

    /// OS thread id of the probe thread (diagnostics, tests).
    public var threadID: Int { thread.threadID }
}
