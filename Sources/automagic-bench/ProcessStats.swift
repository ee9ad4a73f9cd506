// What the benchmarks read about their own process: CPU clocks, resident memory and its peak.
#if canImport(Glibc)
import Glibc

/// glibc's `malloc_trim` (not exported by the Glibc module).
@_silgen_name("malloc_trim") func glibcMallocTrim(_ pad: Int) -> Int32
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Readings of the calling process and thread.
public enum ProcessStats {
    /// CPU time consumed by the calling thread, in nanoseconds (on shared machines wall time
    /// includes waiting for a core).
    public static func threadCPUNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// User plus system CPU time of this process, in seconds.
    public static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }

    /// A monotonic clock in seconds.
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// `VmRSS` of this process in bytes (0 where unknown).
    public static func residentBytes() -> Int { statusBytes("VmRSS") }

    /// `VmHWM` (peak resident memory) of this process in bytes (0 where unknown).
    public static func peakResidentBytes() -> Int { statusBytes("VmHWM") }

    /// Resets the kernel's peak-RSS record of this process (`/proc/self/clear_refs`, Linux ≥ 4.0),
    /// after giving freed memory back to the kernel, so that `peakResidentBytes` measures from here on.
    public static func resetPeakResident() {
        #if os(Linux)
        #if canImport(Glibc)
        _ = glibcMallocTrim(0)
        #endif
        let fd = open("/proc/self/clear_refs", O_WRONLY)
        if fd >= 0 {
            _ = write(fd, "5", 1)
            close(fd)
        }
        #endif
    }

    /// A `kB` field of `/proc/self/status` in bytes.
    static func statusBytes(_ field: String) -> Int {
        let fd = open("/proc/self/status", O_RDONLY)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        let text = String(decoding: bytes, as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            return (line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0) * 1024
        }
        return 0
    }
}
