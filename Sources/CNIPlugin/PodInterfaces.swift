#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNI

/// Looks at the interfaces of a pod's network namespace before ADD touches it.
enum PodInterfaces {
    /// What is known about an interface name in a network namespace.
    enum Presence: Equatable {
        /// The namespace has an interface of that name, with this index.
        case present(ifindex: UInt32)
        /// The namespace has no interface of that name.
        case absent
        /// The namespace could not be entered (missing, not a namespace, no privilege): the
        /// delegate will report it in its own words.
        case unknown
    }

    /// Whether the network namespace at `netnsPath` has an interface named `ifname`.
    ///
    /// The calling thread enters the namespace (`setns`), asks for the index of `ifname`
    /// (`if_nametoindex`, a socket of that namespace) and returns to its own namespace. Throws
    /// (code 5) only when it cannot return, so that nothing else runs in the pod's namespace.
    static func presence(of ifname: String, netnsPath: String) throws(CNIError) -> Presence {
        let own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        guard own >= 0 else { return .unknown }
        defer { close(own) }
        let target = open(netnsPath, O_RDONLY | O_CLOEXEC)
        guard target >= 0 else { return .unknown }
        defer { close(target) }
        guard enterNetns(target, cloneNewNet) == 0 else { return .unknown }
        let index = if_nametoindex(ifname)
        let lookupErrno = errno
        guard enterNetns(own, cloneNewNet) == 0 else {
            let text = String(cString: strerror(errno))
            throw CNIError(.ioFailure, "failed to return from network namespace '\(netnsPath)' after looking for interface '\(ifname)': \(text)")
        }
        if index != 0 { return .present(ifindex: index) }
        return lookupErrno == ENODEV ? .absent : .unknown
    }
}

/// `CLONE_NEWNET` (linux/sched.h; Glibc's module map shows `setns` and its flags only with _GNU_SOURCE).
private let cloneNewNet: Int32 = 0x4000_0000

/// `setns(2)`, a glibc function since 2.14 that the Glibc module does not export.
@_silgen_name("setns")
private func enterNetns(_ fd: Int32, _ nstype: Int32) -> Int32
