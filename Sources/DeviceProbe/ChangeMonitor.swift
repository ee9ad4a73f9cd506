import CNetlink
import Glibc
import Synchronization

/// A debounced batch of device changes: re-probe when you receive one.
public struct DeviceChange: Sendable, Hashable {
    /// Why the batch was emitted.
    public enum Reason: String, Sendable, Hashable, Codable {
        /// A link appeared, disappeared or changed (RTM_NEWLINK / RTM_DELLINK).
        case link
        /// An address was added or removed (RTM_NEWADDR / RTM_DELADDR).
        case address
        /// An LLDP neighbour appeared, changed or expired.
        case lldp
        /// A default route of the main table appeared or disappeared (other routes are ignored).
        case route
        /// The periodic full resync timer fired (safety net).
        case resync
        /// The kernel dropped notifications (ENOBUFS): state is unknown, re-probe everything.
        case overflow
        /// The caller asked for a resync (`requestResync()`).
        case requested
    }

    /// Every reason seen in the batch.
    public var reasons: Set<Reason>
    /// Interface names named by link events and LLDP (best effort).
    public var interfaces: Set<String>
    /// Interface indexes named by link and address events.
    public var indexes: Set<Int>

    /// A batch with the given contents.
    public init(reasons: Set<Reason> = [], interfaces: Set<String> = [], indexes: Set<Int> = []) {
        self.reasons = reasons
        self.interfaces = interfaces
        self.indexes = indexes
    }

    mutating func merge(_ other: DeviceChange) {
        reasons.formUnion(other.reasons)
        interfaces.formUnion(other.interfaces)
        indexes.formUnion(other.indexes)
    }
}

/// How changes are watched.
public struct ProbeWatchOptions: Sendable, Hashable {
    /// Quiet time after the last event before a batch is emitted.
    public var debounce: Duration
    /// Longest a batch is held while events keep coming.
    public var maxDelay: Duration
    /// Period of the `.resync` safety net (nil: none).
    public var resyncInterval: Duration?

    /// Defaults: 75 ms debounce, 500 ms longest hold, resync every 5 minutes.
    public init(debounce: Duration = .milliseconds(75), maxDelay: Duration = .milliseconds(500),
                resyncInterval: Duration? = .seconds(300)) {
        self.debounce = debounce
        self.maxDelay = maxDelay
        self.resyncInterval = resyncInterval
    }
}

/// Fan-out of debounced change batches to `AsyncStream` subscribers; the netlink
/// subscription itself lives on the probe thread as a `SubscriptionSource`.
final class ChangeMonitor: Sendable {
    struct State {
        var subscribers: [Int: AsyncStream<DeviceChange>.Continuation] = [:]
        var nextID = 0
        var started = false
        var finished = false
    }

    let thread: LoopThread
    let options: ProbeWatchOptions
    let state = Mutex(State())
    let startError = Mutex<ProbeError?>(nil)

    init(thread: LoopThread, options: ProbeWatchOptions) {
        self.thread = thread
        self.options = options
    }

    func subscribe() -> AsyncStream<DeviceChange> {
        let (stream, cont) = AsyncStream<DeviceChange>.makeStream(bufferingPolicy: .bufferingNewest(64))
        let (id, needsStart, finished) = state.withLock { s -> (Int, Bool, Bool) in
            let id = s.nextID
            s.nextID += 1
            if s.finished { return (id, false, true) }
            s.subscribers[id] = cont
            let start = !s.started
            s.started = true
            return (id, start, false)
        }
        if finished {
            cont.finish()
            return stream
        }
        cont.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        if needsStart {
            let options = self.options
            let accepted = thread.submit { [self] ctx in
                do throws(ProbeError) {
                    let source = try SubscriptionSource(monitor: self, options: options)
                    ctx.add(source)
                    ctx.storage["subscription"] = source
                } catch {
                    self.startError.withLock { $0 = error }
                    self.finishAll()
                }
            }
            if !accepted { finishAll() }
        }
        return stream
    }

    /// Adds events to the pending batch on the probe thread (debounced like netlink events).
    func note(_ change: DeviceChange) {
        thread.submit { ctx in
            (ctx.storage["subscription"] as? SubscriptionSource)?.add(change)
        }
    }

    func emit(_ change: DeviceChange) {
        let subs = state.withLock { Array($0.subscribers.values) }
        for c in subs { c.yield(change) }
    }

    func finishAll() {
        let subs = state.withLock { s -> [AsyncStream<DeviceChange>.Continuation] in
            s.finished = true
            let v = Array(s.subscribers.values)
            s.subscribers.removeAll()
            return v
        }
        for c in subs { c.finish() }
    }
}

/// The netlink multicast subscription (links, IPv4 and IPv6 addresses, default routes) with debounce
/// and the periodic resync timer. Blocking poll on one descriptor: free when idle.
final class SubscriptionSource: LoopSource {
    let fd: Int32
    private let monitor: ChangeMonitor // strong: the source may outlive the prober until the loop exits
    private let options: ProbeWatchOptions
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    private var pending: DeviceChange?
    private var firstAt: ContinuousClock.Instant = .now
    private var lastAt: ContinuousClock.Instant = .now
    private var nextResync: ContinuousClock.Instant?

    init(monitor: ChangeMonitor, options: ProbeWatchOptions) throws(ProbeError) {
        let groups = UInt32(CNL_RTMGRP_LINK | CNL_RTMGRP_IPV4_IFADDR | CNL_RTMGRP_IPV6_IFADDR
            | CNL_RTMGRP_IPV4_ROUTE | CNL_RTMGRP_IPV6_ROUTE)
        let fd = cnl_rtnl_open(groups, 4 << 20)
        guard fd >= 0 else { throw .openSocket(what: "rtnetlink subscription", errno: -fd) }
        self.fd = fd
        self.monitor = monitor
        self.options = options
        if let r = options.resyncInterval { nextResync = .now + r }
    }

    func add(_ change: DeviceChange) {
        let now = ContinuousClock.now
        if pending == nil {
            pending = change
            firstAt = now
        } else {
            pending?.merge(change)
        }
        lastAt = now
    }

    func readable(_ loop: LoopContext) {
        var batch = DeviceChange()
        while true {
            var truncated: Int32 = 0
            let n = buffer.withUnsafeMutableBufferPointer { cnl_recv(fd, $0.baseAddress, $0.count, 1, &truncated) }
            if n < 0 {
                if n == -Int(ENOBUFS) {
                    batch.reasons.insert(.overflow)
                    continue
                }
                break // EAGAIN: drained
            }
            if truncated != 0 { batch.reasons.insert(.overflow) }
            buffer.withUnsafeBytes { raw in
                let (messages, malformed) = splitNetlinkMessages(ByteView(UnsafeRawBufferPointer(rebasing: raw[0..<n])))
                if malformed { batch.reasons.insert(.overflow) }
                for m in messages {
                    switch m.type {
                    case NL.newLink, NL.delLink:
                        batch.reasons.insert(.link)
                        if let l = RawLink(payload: m.payload) {
                            batch.indexes.insert(Int(l.index))
                            if !l.name.isEmpty { batch.interfaces.insert(l.name) }
                        }
                    case NL.newAddr, NL.delAddr:
                        batch.reasons.insert(.address)
                        if let a = RawAddress(payload: m.payload) { batch.indexes.insert(Int(a.index)) }
                    case NL.newRoute, NL.delRoute:
                        // Only default routes matter (hasDefaultRoute); a BGP-fed table stays quiet.
                        let oifs = defaultRouteInterfaces(payload: m.payload)
                        if !oifs.isEmpty {
                            batch.reasons.insert(.route)
                            for i in oifs { batch.indexes.insert(Int(i)) }
                        }
                    default:
                        break
                    }
                }
            }
        }
        if !batch.reasons.isEmpty { add(batch) }
    }

    func deadline() -> ContinuousClock.Instant? {
        var d = nextResync
        if pending != nil {
            let due = min(lastAt + options.debounce, firstAt + options.maxDelay)
            d = d.map { min($0, due) } ?? due
        }
        return d
    }

    func fire(_ loop: LoopContext, now: ContinuousClock.Instant) {
        if let r = nextResync, r <= now, let interval = options.resyncInterval {
            add(DeviceChange(reasons: [.resync]))
            nextResync = now + interval
            // emit immediately: a resync needs no debounce
            if let p = pending {
                pending = nil
                monitor.emit(p)
            }
            return
        }
        if let p = pending, now >= min(lastAt + options.debounce, firstAt + options.maxDelay) {
            pending = nil
            monitor.emit(p)
        }
    }

    func close() { Glibc.close(fd) }
}
