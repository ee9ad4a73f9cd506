import Glibc
import Prometheus
import Synchronization

/// The standard `process_*` metrics of Prometheus clients (Linux, from `/proc/self`):
/// `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_virtual_memory_bytes`,
/// `process_open_fds`, `process_max_fds`, `process_start_time_seconds`, registered in a
/// `PrometheusCollectorRegistry` and read when scraped (`HealthServer` calls `update()` before it
/// emits). Values that cannot be read are reported as NaN rather than failing the scrape.
public final class ProcessMetrics: Sendable {
    private let cpu: Counter
    private let resident: Gauge
    private let virtual: Gauge
    private let openFDs: Gauge
    private let maxFDs: Gauge
    private let startTime: Gauge
    /// CPU seconds already added to the counter (swift-prometheus counters only go up by increments).
    private let cpuReported = Mutex<Double>(0)

    /// Registers the metrics in `registry`.
    public init(registry: PrometheusCollectorRegistry) {
        cpu = registry.makeCounter(descriptor: descriptor("process_cpu_seconds_total", "Total user and system CPU time spent in seconds."))
        resident = registry.makeGauge(descriptor: descriptor("process_resident_memory_bytes", "Resident memory size in bytes."))
        virtual = registry.makeGauge(descriptor: descriptor("process_virtual_memory_bytes", "Virtual memory size in bytes."))
        openFDs = registry.makeGauge(descriptor: descriptor("process_open_fds", "Number of open file descriptors."))
        maxFDs = registry.makeGauge(descriptor: descriptor("process_max_fds", "Maximum number of open file descriptors."))
        startTime = registry.makeGauge(
            descriptor: descriptor("process_start_time_seconds", "Start time of the process since unix epoch in seconds."))
        update()
    }

    /// Reads `/proc/self` and sets the metrics.
    public func update() {
        let stat = ProcSelfStat.read()
        if let stat {
            let seconds = Double(stat.utime + stat.stime) / ProcSelfStat.ticksPerSecond
            cpuReported.withLock { reported in
                if seconds > reported {
                    cpu.increment(by: seconds - reported)
                    reported = seconds
                }
            }
        }
        resident.set(stat.map { Double($0.rssPages) * Double(sysconf(Int32(_SC_PAGESIZE))) } ?? .nan)
        virtual.set(stat.map { Double($0.vsize) } ?? .nan)
        startTime.set(stat.flatMap { stat in ProcSelfStat.bootTime().map { $0 + Double(stat.startTicks) / ProcSelfStat.ticksPerSecond } } ?? .nan)
        openFDs.set(Self.openFileDescriptors())
        var limit = rlimit()
        maxFDs.set(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) != 0 ? .nan
            : limit.rlim_cur == rlim_t.max ? .infinity : Double(limit.rlim_cur))  // RLIM_INFINITY
    }

    static func openFileDescriptors() -> Double {
        guard let dir = opendir("/proc/self/fd") else { return .nan }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { $0.first == UInt8(ascii: ".") }
            if !isDot { count += 1 }
        }
        return Double(max(0, count - 1))  // minus the descriptor opendir itself holds
    }
}

/// The fields of `/proc/self/stat` the process metrics need.
struct ProcSelfStat {
    var utime: UInt64
    var stime: UInt64
    var startTicks: UInt64
    var vsize: UInt64
    var rssPages: Int64

    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    static func read() -> ProcSelfStat? {
        guard let text = readSmallFile("/proc/self/stat"), let close = text.lastIndex(of: ")") else { return nil }
        // Fields after "pid (comm) ": state is field 3; utime 14, stime 15, starttime 22, vsize 23, rss 24.
        let rest = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        func field(_ n: Int) -> Substring? {
            let i = n - 3
            return rest.indices.contains(i) ? rest[i] : nil
        }
        guard let u = field(14).flatMap({ UInt64($0) }), let s = field(15).flatMap({ UInt64($0) }),
            let st = field(22).flatMap({ UInt64($0) }), let vs = field(23).flatMap({ UInt64($0) }),
            let rss = field(24).flatMap({ Int64($0) })
        else { return nil }
        return ProcSelfStat(utime: u, stime: s, startTicks: st, vsize: vs, rssPages: rss)
    }

    static func bootTime() -> Double? {
        guard let text = readSmallFile("/proc/stat") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingPrefix(" "))
        }
        return nil
    }

    static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 4096) }
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
            if out.count > 1 << 20 { break }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
