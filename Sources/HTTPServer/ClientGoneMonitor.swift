import NativeThreads
import Glibc
import Synchronization

/// Watches the sockets of in-progress responses that asked to be told when their client
/// leaves (`HTTPResponseWriter.onClientGone`). One thread per server polls them for
/// hang-up every 200 ms; it runs only while something is registered.
final class ClientGoneMonitor: Sendable {
    private struct State {
        var writers: [ObjectIdentifier: ConnectionResponseWriter] = [:]
        var running = false
        var stopped = false
    }

    private let state = Mutex(State())

    func register(_ writer: ConnectionResponseWriter) {
        let startThread = state.withLock { s -> Bool in
            guard !s.stopped else { return false }
            s.writers[ObjectIdentifier(writer)] = writer
            if s.running { return false }
            s.running = true
            return true
        }
        if state.withLock({ $0.stopped }) {
            writer.markGone()
            return
        }
        if startThread {
            if !NativeThread.start(name: "http-client-gone", stackSize: 256 * 1024, { [self] in self.run() }) {
                // No thread: nobody would watch; say the client is gone rather than never telling.
                state.withLock { $0.running = false }
                unregister(writer)
                writer.markGone()
            }
        }
    }

    func unregister(_ writer: ConnectionResponseWriter) {
        state.withLock { _ = $0.writers.removeValue(forKey: ObjectIdentifier(writer)) }
    }

    /// Tells every registered writer that its client is gone (server stop) and stops watching.
    func stopAll() {
        let writers = state.withLock { s -> [ConnectionResponseWriter] in
            s.stopped = true
            let all = Array(s.writers.values)
            s.writers = [:]
            return all
        }
        for writer in writers { writer.markGone() }
    }

    private func run() {
        while true {
            let writers = state.withLock { s -> [ConnectionResponseWriter]? in
                if s.writers.isEmpty || s.stopped {
                    s.running = false
                    return nil
                }
                return Array(s.writers.values)
            }
            guard let writers else { return }
            var fds = writers.map { pollfd(fd: $0.transport.fd, events: pollReadHangUp, revents: 0) }
            let rc = poll(&fds, nfds_t(fds.count), 200)
            if rc > 0 {
                let mask = pollReadHangUp | Int16(POLLHUP) | Int16(POLLERR) | Int16(POLLNVAL)
                for (i, pfd) in fds.enumerated() where pfd.revents & mask != 0 {
                    unregister(writers[i])
                    writers[i].markGone()
                }
            } else if rc < 0 && errno != EINTR {
                usleep(200_000)
            }
            if rc == 0 || rc < 0 {
                // Nothing happened; loop again (registrations are picked up every round).
            }
        }
    }
}
