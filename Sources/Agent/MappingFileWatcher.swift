#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NativeThreads
import Synchronization

/// Watches the mapping file's folder with inotify and reports every change to the file itself
/// (removed, renamed away, replaced, written and closed, permissions changed) and the loss of
/// the folder. The agent answers each report by checking the file against what it last wrote
/// and restoring it, so a deleted or altered file is back within milliseconds, not at the next
/// resync.
///
/// One OS thread blocks in `poll(2)` on the inotify descriptor and a stop pipe; nothing polls
/// the file system on a timer, except while the folder itself is gone (then the watch is
/// re-armed every 200 ms until the agent has created the folder again).
///
/// ```swift
/// let watcher = MappingFileWatcher(path: "/var/run/automagic/mapping.json") { change in
///     if change.missing { /* say so in readiness */ }
///     /* check and restore the file */
/// }
/// defer { watcher.stop() }
/// ```
final class MappingFileWatcher: Sendable {
    /// What happened to the file.
    struct Change: Sendable, Equatable {
        /// The file is gone (removed, renamed away, or its folder was removed); otherwise it
        /// may have been changed.
        var missing: Bool
    }

    /// The watched file.
    let path: String
    private let directory: String
    private let name: String
    private let inotifyFD: Int32
    private let stopPipe: (read: Int32, write: Int32)
    private let stopped = Atomic<Bool>(false)
    private let onChange: @Sendable (Change) -> Void
    /// Whether the folder is watched now (false while it is gone).
    private let armed = Atomic<Bool>(false)

    static let mask: UInt32 = UInt32(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB
        | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

    /// Starts watching the folder of `path`. Throws when inotify or the thread cannot be set up
    /// (the agent then relies on the periodic check alone); a folder that does not exist yet is
    /// not an error: it is watched once it appears.
    init(path: String, onChange: @escaping @Sendable (Change) -> Void) throws(AgentError) {
        self.path = path
        directory = NodeAgent.directory(of: path)
        name = String(path[path.index(after: path.lastIndex(of: "/") ?? path.startIndex)...])
        self.onChange = onChange
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else {
            throw .watchMappingFile(path: path, cause: "inotify_init1: \(String(cString: strerror(errno)))")
        }
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            let e = errno
            close(fd)
            throw .watchMappingFile(path: path, cause: "pipe: \(String(cString: strerror(e)))")
        }
        for end in fds {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, O_NONBLOCK)
        }
        inotifyFD = fd
        stopPipe = (fds[0], fds[1])
        arm()
        guard NativeThread.start(name: "agent:file-watch", stackSize: 256 * 1024, { [self] in loop() }) else {
            close(fd)
            close(fds[0])
            close(fds[1])
            throw .watchMappingFile(path: path, cause: "could not start its thread")
        }
    }

    /// Stops the thread (and closes the descriptors once it has ended). Idempotent.
    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var byte: UInt8 = 1
        _ = write(stopPipe.write, &byte, 1)
    }

    /// Whether the folder is watched now.
    var isArmed: Bool { armed.load(ordering: .acquiring) }

    /// Adds the watch on the folder; true when it is in place.
    @discardableResult
    private func arm() -> Bool {
        let wd = inotify_add_watch(inotifyFD, directory, Self.mask)
        armed.store(wd >= 0, ordering: .releasing)
        return wd >= 0
    }

    private func loop() {
        defer {
            close(inotifyFD)
            close(stopPipe.read)
            close(stopPipe.write)
        }
        // Aligned for inotify_event; room for many events at once.
        let capacity = 64 * 1024
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: MemoryLayout<inotify_event>.alignment)
        defer { buffer.deallocate() }
        var fds = [pollfd(fd: inotifyFD, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: stopPipe.read, events: Int16(POLLIN), revents: 0)]
        // Ends only when stop() has written to the pipe: so that write never meets a closed
        // (or reused) descriptor.
        while true {
            fds[0].revents = 0
            fds[1].revents = 0
            // While the folder is gone: re-arm every 200 ms (the agent recreates it).
            let timeout: Int32 = isArmed ? -1 : 200
            let n = fds.withUnsafeMutableBufferPointer { poll($0.baseAddress, 2, timeout) }
            if n < 0 {
                if errno == EINTR { continue }
                usleep(100_000)  // EINVAL/ENOMEM: back off, never spin
                continue
            }
            if fds[1].revents != 0 { return }
            if !isArmed {
                if arm() { onChange(Change(missing: false)) }
                if fds[0].revents == 0 { continue }
            }
            guard fds[0].revents != 0 else { continue }
            var change: Change?
            while true {
                let got = read(inotifyFD, buffer, capacity)
                if got < 0 && errno == EINTR { continue }
                guard got > 0 else { break }
                if let c = Self.interpret(UnsafeRawBufferPointer(start: buffer, count: got), name: name, lostWatch: { [self] in
                    armed.store(false, ordering: .releasing)
                }) {
                    change = Change(missing: (change?.missing ?? false) || c.missing)
                }
            }
            if let change { onChange(change) }
        }
    }

    /// The change a batch of inotify events means for the file `name` (nil: none of them is
    /// about it). Calls `lostWatch` when the folder itself went away.
    static func interpret(_ bytes: UnsafeRawBufferPointer, name: String, lostWatch: () -> Void) -> Change? {
        var offset = 0
        var result: Change?
        let header = MemoryLayout<inotify_event>.size
        while offset + header <= bytes.count {
            let mask = bytes.loadUnaligned(fromByteOffset: offset + MemoryLayout<inotify_event>.offset(of: \.mask)!, as: UInt32.self)
            let length = Int(bytes.loadUnaligned(fromByteOffset: offset + MemoryLayout<inotify_event>.offset(of: \.len)!, as: UInt32.self))
            let nameStart = offset + header
            guard nameStart + length <= bytes.count else { break }
            let raw = UnsafeRawBufferPointer(rebasing: bytes[nameStart..<(nameStart + length)])
            let eventName = String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            offset = nameStart + length
            if mask & UInt32(IN_Q_OVERFLOW) != 0 {
                result = Change(missing: result?.missing ?? false)
                continue
            }
            if mask & UInt32(IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF) != 0 {
                lostWatch()
                result = Change(missing: true)
                continue
            }
            guard eventName == name else { continue }
            let gone = mask & UInt32(IN_DELETE | IN_MOVED_FROM) != 0
            result = Change(missing: (result?.missing ?? false) || gone)
        }
        return result
    }
}
