#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Small, Foundation-free file primitives: whole-file reads, crash-safe replacement
/// (temporary file in the same directory, `fsync`, `rename`, `fsync` of the directory)
/// and `flock` locks. Used for the mapping file and the CNI plugin's attachment cache.
public enum AtomicFile {
    /// The prefix of temporary files; ``cleanStaleTemporaries(in:olderThanSeconds:)`` removes leftovers.
    public static let temporaryPrefix = ".automagic-tmp-"

    /// Reads the whole file. A missing file is ``MappingFileError/notFound(path:)``.
    public static func read(path: String) throws(MappingFileError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let e = errno
            if e == ENOENT || e == ENOTDIR { throw .notFound(path: path) }
            throw .readFailed(path: path, errno: e)
        }
        defer { close(fd) }
        // Sized by fstat, read into uninitialized capacity: no zero-filled scratch buffer (its
        // memset and fresh pages were a measurable part of a CNI call). The size is only a hint
        // (the file may grow, or be a FIFO or a procfs file that reports 0): read until EOF.
        var st = stat()
        var capacity = (fstat(fd, &st) == 0 && st.st_size > 0 ? Int(st.st_size) : 4096) + 1
        var out: [UInt8] = []
        while true {
            var failure: Int32 = 0
            let chunk = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
                var n = 0
                while true {
                    n = Glibc.read(fd, buffer.baseAddress, buffer.count)
                    if n >= 0 || errno != EINTR { break }
                }
                if n < 0 { failure = errno; n = 0 }
                count = n
            }
            if failure != 0 { throw .readFailed(path: path, errno: failure) }
            if chunk.isEmpty { return out }
            if out.isEmpty { out = chunk } else { out.append(contentsOf: chunk) }
            capacity = 4096
        }
    }

    /// Replaces `path` with `bytes` atomically: readers see the old or the new content,
    /// never a mix. With `durable` (the default) the file and its directory are fsync'd, so
    /// after return the new content survives a crash; without it the write costs no disk
    /// flush (for caches that can be rebuilt).
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644, durable: Bool = true) throws(MappingFileError) {
        let dir = directory(of: path)
        let base = basename(of: path)
        var template = Array("\(dir)/\(temporaryPrefix)\(base).XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        if fd < 0 { throw .writeFailed(path: path, step: "create temporary file", errno: errno) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        let tmp = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var ok = false
        defer {
            if !ok { unlink(tmp) }
        }
        do {
            defer { close(fd) }
            if fchmod(fd, mode) != 0 { throw MappingFileError.writeFailed(path: path, step: "chmod temporary file", errno: errno) }
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw MappingFileError.writeFailed(path: path, step: "write temporary file", errno: errno)
                }
                offset += n
            }
            if durable, fsync(fd) != 0 { throw MappingFileError.writeFailed(path: path, step: "fsync temporary file", errno: errno) }
        }
        if rename(tmp, path) != 0 { throw .writeFailed(path: path, step: "rename temporary file", errno: errno) }
        ok = true
        guard durable else { return }
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            defer { close(dfd) }
            if fsync(dfd) != 0 { throw .writeFailed(path: path, step: "fsync directory", errno: errno) }
        }
    }

    /// Writes `bytes` only if the file's content differs. Returns whether it wrote.
    @discardableResult
    public static func writeIfChanged(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644) throws(MappingFileError) -> Bool {
        do {
            if try read(path: path) == bytes { return false }
        } catch let e where e.isNotFound {
            // first write
        }
        try write(bytes, to: path, mode: mode)
        return true
    }

    /// Writes `bytes` to `path` in place (create or truncate, then write), without a temporary
    /// file or fsync. Only for small files whose writers are serialized by other means and whose
    /// readers tolerate a torn file after a crash (they see a decode error and fall back).
    public static func writeInPlace(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600) throws(MappingFileError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        if fd < 0 { throw .writeFailed(path: path, step: "open", errno: errno) }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .writeFailed(path: path, step: "write", errno: errno)
            }
            offset += n
        }
    }

    /// Removes the file; a missing file is not an error. Returns whether something was removed.
    @discardableResult
    public static func remove(path: String) throws(MappingFileError) -> Bool {
        if unlink(path) == 0 { return true }
        if errno == ENOENT { return false }
        throw .writeFailed(path: path, step: "remove", errno: errno)
    }

    /// Removes temporary files left in `directory` by writers that crashed, when older than
    /// `olderThanSeconds` (so a concurrent writer's file is not taken away). Returns the names removed.
    @discardableResult
    public static func cleanStaleTemporaries(in directory: String, olderThanSeconds: Int = 60) -> [String] {
        var removed: [String] = []
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        for name in (try? listDirectory(directory)) ?? [] where name.hasPrefix(temporaryPrefix) {
            let full = "\(directory)/\(name)"
            var st = stat()
            guard lstat(full, &st) == 0 else { continue }
            if Int(now.tv_sec) - Int(st.st_mtim.tv_sec) >= olderThanSeconds, unlink(full) == 0 {
                removed.append(name)
            }
        }
        return removed
    }

    /// The names in a directory (without `.` and `..`).
    public static func listDirectory(_ directory: String) throws(MappingFileError) -> [String] {
        guard let d = opendir(directory) else {
            let e = errno
            if e == ENOENT { throw .notFound(path: directory) }
            throw .readFailed(path: directory, errno: e)
        }
        defer { closedir(d) }
        var names: [String] = []
        while let entry = readdir(d) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Creates `path` and its missing parents (like `mkdir -p`).
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(MappingFileError) {
        // Common case first: the directory exists (one syscall).
        var st = stat()
        if stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR { return }
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, mode) != 0 && errno != EEXIST {
                throw .writeFailed(path: current, step: "create directory", errno: errno)
            }
        }
    }

    /// The folder part of `path` (`/run/automagic` for `/run/automagic/mapping.json`, `.` for a bare name).
    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    static func basename(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}

/// An advisory `flock` lock on a file, released by ``unlock()``, on deinit, or when the process exits.
///
/// ```swift
/// let lock = try FileLock(path: "/var/lib/automagic/lock", exclusive: false)
/// defer { lock.unlock() }
/// ```
public final class FileLock {
    private var fd: Int32

    /// Opens (creating if needed) `path` and blocks until the lock is held.
    /// `exclusive: false` takes a shared lock.
    public init(path: String, exclusive: Bool) throws(MappingFileError) {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if fd < 0 { throw .lockFailed(path: path, errno: errno) }
        while flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0 {
            if errno == EINTR { continue }
            let e = errno
            close(fd)
            throw .lockFailed(path: path, errno: e)
        }
        self.fd = fd
    }

    /// Releases the lock.
    public func unlock() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    deinit { unlock() }
}
