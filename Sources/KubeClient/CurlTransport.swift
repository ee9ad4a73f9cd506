import NativeThreads
import CCurl
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// One header of an HTTP response (name lower-cased).
public struct HTTPHeader: Sendable, Hashable {
    /// Lower-cased header name.
    public var name: String
    /// Value with surrounding whitespace removed.
    public var value: String
}

/// A request as the transport sees it: fully built URL, headers and body.
struct HTTPRequest: Sendable {
    var method: String
    var url: String
    var headers: [String] = []
    var body: [UInt8]? = nil
    /// Whole-transfer timeout in seconds (0 = none).
    var timeout: Double = 0
    /// Whether `timeout` is a watch's deadline (its timeoutSeconds plus a grace) rather than a
    /// request's own limit: its expiry is reported as ``TimeoutLimit/watchDeadline``.
    var timeoutIsWatchDeadline = false
    /// Abort when no byte arrived for this long (seconds, 0 = off).
    var idleTimeout: Double = 0
    /// The most body bytes a buffered response may hold (0 = no limit).
    var maxBodyBytes = 0
}

/// A complete (buffered) response.
struct HTTPResponse: Sendable {
    var status: Int
    var headers: [HTTPHeader]
    var body: Data

    func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.last { $0.name == lower }?.value
    }
}

/// What a streamed transfer delivers.
enum StreamPart: Sendable {
    case head(status: Int, headers: [HTTPHeader])
    case data(Data)
}

/// Flow control of a streamed response. The loop thread admits body bytes while fewer than
/// `highWater` are delivered but not yet consumed; beyond that it pauses the transfer (libcurl keeps
/// the bytes, the kernel's socket buffers fill, TCP tells the server to wait). The consumer reports
/// what it has processed; at `lowWater` the transfer is resumed. So a slow watch consumer costs a
/// bounded amount of memory instead of buffering everything the server sends.
final class StreamFlow: Sendable {
    let highWater: Int
    let lowWater: Int
    private struct State {
        var buffered = 0
        var paused = false
        var peak = 0
        var pauses = 0
    }
    private let state = Mutex(State())

    init(highWater: Int = 1 << 20, lowWater: Int = 256 << 10) {
        self.highWater = max(1, highWater)
        self.lowWater = min(max(0, lowWater), self.highWater - 1)
    }

    /// Loop thread: whether a chunk of `count` bytes may be delivered now (else the transfer pauses).
    func admit(_ count: Int) -> Bool {
        state.withLock { s in
            if s.buffered > 0 && s.buffered + count > highWater {
                if !s.paused { s.pauses += 1 }
                s.paused = true
                return false
            }
            s.buffered += count
            s.peak = max(s.peak, s.buffered)
            return true
        }
    }

    /// Consumer: `count` bytes were processed. True when the paused transfer must be resumed now.
    func consumed(_ count: Int) -> Bool {
        state.withLock { s in
            s.buffered = max(0, s.buffered - count)
            if s.paused && s.buffered <= lowWater {
                s.paused = false
                return true
            }
            return false
        }
    }

    /// The most bytes delivered and not yet consumed at any time, and how often the transfer paused.
    var statistics: (peakBuffered: Int, pauses: Int) { state.withLock { ($0.peak, $0.pauses) } }
}

/// A streamed response: its parts, and the acknowledgement the consumer gives for each body chunk
/// it has processed (which may resume a transfer paused by flow control).
struct ResponseStream: Sendable {
    let parts: AsyncThrowingStream<StreamPart, any Error>
    let flow: StreamFlow
    fileprivate let resume: @Sendable () -> Void

    /// Reports `count` body bytes processed.
    func consumed(_ count: Int) {
        if flow.consumed(count) { resume() }
    }
}

/// TLS and proxy settings shared by every transfer of one client (PEM bytes already loaded).
struct TLSMaterial: Sendable, Hashable {
    var caPEM: [UInt8]?
    var certificatePEM: [UInt8]?
    var keyPEM: [UInt8]?
    var insecureSkipVerify = false
    var proxyURL: String?
    /// Hosts never proxied (CURLOPT_NOPROXY): `$NO_PROXY` plus loopback, as Go's ProxyFromEnvironment does.
    var noProxy: String?
    var connectTimeout: Double = 10
    var userAgent: String = "automagic"
    /// `host:port:connect-host:connect-port` for CURLOPT_CONNECT_TO (used for tls-server-name).
    var connectTo: String?
    /// Offer HTTP/2 (ALPN); HTTP/1.1 only when false.
    var http2 = true
}

private let curlGlobalInit: Bool = {
    curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK
}()

/// One libcurl transfer. Owned by the loop thread once submitted; only `cancelRequested` is touched elsewhere.
final class CurlTransfer: @unchecked Sendable {
    let request: HTTPRequest
    let easy: UnsafeMutableRawPointer
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer: UnsafeMutablePointer<CChar>
    let cancelRequested = Atomic<Bool>(false)

    // Loop-thread state.
    var status = 0
    var headers: [HTTPHeader] = []
    var headDelivered = false
    var body = Data()
    var finished = false
    /// Set when the buffered body grew past `request.maxBodyBytes` (the transfer was aborted).
    var bodyLimitExceeded = false

    enum Mode {
        case buffered((Result<HTTPResponse, KubeClientError>) -> Void)
        case streaming(AsyncThrowingStream<StreamPart, any Error>.Continuation)
    }
    var mode: Mode
    /// Flow control of a streamed response (nil for buffered transfers).
    let flow: StreamFlow?

    /// The connect timeout (TCP and TLS handshake), seconds.
    let connectTimeout: Double

    init(request: HTTPRequest, tls: TLSMaterial, mode: Mode, flow: StreamFlow? = nil) throws(KubeClientError) {
        _ = curlGlobalInit
        connectTimeout = tls.connectTimeout
        guard let easy = curl_easy_init() else {
            throw .transport(url: request.url, message: "libcurl could not create a handle")
        }
        self.easy = easy
        self.request = request
        self.mode = mode
        self.flow = flow
        errorBuffer = .allocate(capacity: Int(ccurl_error_size()))
        errorBuffer.initialize(repeating: 0, count: Int(ccurl_error_size()))
        do throws(KubeClientError) {
            try configure(tls: tls)
        } catch {
            curl_easy_cleanup(easy)
            throw error
        }
    }

    deinit {
        curl_slist_free_all(headerList)
        curl_slist_free_all(connectToList)
        errorBuffer.deallocate()
    }

    private func check(_ code: CURLcode, _ what: String) throws(KubeClientError) {
        guard code == CURLE_OK else {
            throw .transport(url: request.url, message: "failed to set \(what): \(String(cString: curl_easy_strerror(code)))")
        }
    }

    private func configure(tls: TLSMaterial) throws(KubeClientError) {
        try check(ccurl_easy_setopt_string(easy, CURLOPT_URL, request.url), "URL")
        try check(ccurl_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1), "NOSIGNAL")
        if tls.http2 {
            // HTTP/2 when the server's ALPN answer says so, else HTTP/1.1. PIPEWAIT: while the first
            // connection is being set up, wait for it (to multiplex) rather than open another.
            try check(ccurl_easy_setopt_long(easy, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_2TLS)), "HTTP version")
            try check(ccurl_easy_setopt_long(easy, CURLOPT_PIPEWAIT, 1), "PIPEWAIT")
        } else {
            try check(ccurl_easy_setopt_long(easy, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1)), "HTTP version")
        }
        try check(ccurl_easy_setopt_long(easy, CURLOPT_TCP_KEEPALIVE, 1), "TCP keepalive")
        try check(ccurl_easy_setopt_long(easy, CURLOPT_TCP_KEEPIDLE, 30), "TCP keepalive idle")
        try check(ccurl_easy_setopt_long(easy, CURLOPT_TCP_KEEPINTVL, 10), "TCP keepalive interval")
        try check(ccurl_easy_setopt_string(easy, CURLOPT_ACCEPT_ENCODING, "gzip"), "Accept-Encoding")
        try check(ccurl_easy_setopt_string(easy, CURLOPT_USERAGENT, tls.userAgent), "User-Agent")
        try check(ccurl_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(tls.connectTimeout * 1000)), "connect timeout")
        if request.timeout > 0 {
            try check(ccurl_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, Int(request.timeout * 1000)), "timeout")
        }
        if request.idleTimeout > 0 {
            try check(ccurl_easy_setopt_long(easy, CURLOPT_LOW_SPEED_LIMIT, 1), "low speed limit")
            try check(ccurl_easy_setopt_long(easy, CURLOPT_LOW_SPEED_TIME, max(1, Int(request.idleTimeout.rounded(.up)))), "low speed time")
        }
        // TLS: verification on unless the configuration explicitly disables it.
        try check(ccurl_easy_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, tls.insecureSkipVerify ? 0 : 1), "peer verification")
        try check(ccurl_easy_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, tls.insecureSkipVerify ? 0 : 2), "host verification")
        if let ca = tls.caPEM {
            try check(setBlob(CURLOPT_CAINFO_BLOB, ca), "CA bundle")
        }
        if let cert = tls.certificatePEM, let key = tls.keyPEM {
            try check(ccurl_easy_setopt_string(easy, CURLOPT_SSLCERTTYPE, "PEM"), "client certificate type")
            try check(setBlob(CURLOPT_SSLCERT_BLOB, cert), "client certificate")
            try check(ccurl_easy_setopt_string(easy, CURLOPT_SSLKEYTYPE, "PEM"), "client key type")
            try check(setBlob(CURLOPT_SSLKEY_BLOB, key), "client key")
        }
        if let proxy = tls.proxyURL {
            try check(ccurl_easy_setopt_string(easy, CURLOPT_PROXY, proxy), "proxy")
        }
        if let noProxy = tls.noProxy {
            try check(ccurl_easy_setopt_string(easy, CURLOPT_NOPROXY, noProxy), "no-proxy list")
        }
        switch request.method {
        case "GET": try check(ccurl_easy_setopt_long(easy, CURLOPT_HTTPGET, 1), "GET")
        case "HEAD": try check(ccurl_easy_setopt_long(easy, CURLOPT_NOBODY, 1), "HEAD")
        default: try check(ccurl_easy_setopt_string(easy, CURLOPT_CUSTOMREQUEST, request.method), "method")
        }
        if let body = request.body {
            try check(ccurl_easy_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)), "body size")
            // COPYPOSTFIELDS copies the bytes; an empty body still needs a valid pointer.
            let code = body.withUnsafeBytes { raw -> CURLcode in
                if let base = raw.baseAddress {
                    return ccurl_easy_setopt_pointer(easy, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: base))
                }
                return ccurl_easy_setopt_string(easy, CURLOPT_COPYPOSTFIELDS, "")
            }
            try check(code, "body")
        }
        var list: UnsafeMutablePointer<curl_slist>? = nil
        for header in request.headers + ["Expect:"] {
            guard let appended = curl_slist_append(list, header) else {
                curl_slist_free_all(list)
                throw .transport(url: request.url, message: "failed to build request headers")
            }
            list = appended
        }
        headerList = list
        if let connectTo = tls.connectTo {
            connectToList = curl_slist_append(nil, connectTo)
            try check(ccurl_easy_setopt_slist(easy, CURLOPT_CONNECT_TO, connectToList), "connect-to")
        }
        try check(ccurl_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, list), "headers")
        try check(ccurl_easy_setopt_error_buffer(easy, errorBuffer), "error buffer")
        let me = Unmanaged.passUnretained(self).toOpaque()
        try check(ccurl_easy_setopt_header_function(easy, curlHeaderCallback, me), "header callback")
        try check(ccurl_easy_setopt_write_function(easy, curlWriteCallback, me), "write callback")
    }
    private var connectToList: UnsafeMutablePointer<curl_slist>?

    private func setBlob(_ option: CURLoption, _ bytes: [UInt8]) -> CURLcode {
        bytes.withUnsafeBytes { raw in ccurl_easy_setopt_blob(easy, option, raw.baseAddress, raw.count) }
    }

    // MARK: loop-thread callbacks

    func receivedHeaderLine(_ bytes: UnsafeRawBufferPointer) {
        var end = bytes.count
        while end > 0, bytes[end - 1] == 0x0A || bytes[end - 1] == 0x0D { end -= 1 }
        guard end > 0 else { return }
        let line = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<end]), as: UTF8.self)
        if line.hasPrefix("HTTP/") {
            // A new response (after 100 Continue or a redirect) starts: forget earlier headers.
            headers.removeAll(keepingCapacity: true)
            let parts = line.split(separator: " ", maxSplits: 2)
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmingWhitespace()
        headers.append(HTTPHeader(name: name, value: value))
        if name == "content-length", case .buffered = mode, let length = Int(value), length > 0 {
            body.reserveCapacity(min(length, request.maxBodyBytes > 0 ? request.maxBodyBytes : 1 << 30))
        }
    }

    /// What the write callback tells libcurl.
    enum WriteOutcome {
        case consumed, abort, pause
    }

    func receivedData(_ bytes: UnsafeRawBufferPointer) -> WriteOutcome {
        if cancelRequested.load(ordering: .relaxed) { return .abort }
        switch mode {
        case .buffered:
            if request.maxBodyBytes > 0, body.count + bytes.count > request.maxBodyBytes {
                bodyLimitExceeded = true
                return .abort
            }
            body.append(contentsOf: bytes)
        case .streaming(let continuation):
            if !headDelivered {
                headDelivered = true
                continuation.yield(.head(status: status, headers: headers))
            }
            // Paused: libcurl delivers the same bytes again after curl_easy_pause(CURLPAUSE_CONT).
            if let flow, !flow.admit(bytes.count) { return .pause }
            if case .terminated = continuation.yield(.data(Data(bytes))) { return .abort }
        }
        return .consumed
    }

    /// Called once on the loop thread after the handle left the multi handle.
    func finish(code: CURLcode?, cancelled: Bool) {
        guard !finished else { return }
        finished = true
        var error: KubeClientError?
        if cancelled || cancelRequested.load(ordering: .relaxed) {
            error = .cancelled(url: request.url)
        } else if bodyLimitExceeded {
            error = .transport(url: request.url, message: "the response body is larger than the \(byteLimit(request.maxBodyBytes)) limit "
                                + "for one response (maxResponseBytes); request abandoned")
        } else if let code, code != CURLE_OK {
            error = transportError(code)
        }
        var responseCode = 0
        if ccurl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &responseCode) == CURLE_OK, responseCode > 0 {
            status = responseCode
        }
        switch mode {
        case .buffered(let complete):
            if let error { complete(.failure(error)) } else {
                complete(.success(HTTPResponse(status: status, headers: headers, body: body)))
            }
            body = Data()
        case .streaming(let continuation):
            if let error {
                continuation.finish(throwing: error)
            } else {
                if !headDelivered {
                    headDelivered = true
                    continuation.yield(.head(status: status, headers: headers))
                }
                continuation.finish()
            }
        }
        mode = .buffered({ _ in })
        curl_easy_cleanup(easy)
    }

    private func transportError(_ code: CURLcode) -> KubeClientError {
        let detail = String(cString: errorBuffer)
        if code == CURLE_OPERATION_TIMEDOUT {
            return timeoutError(detail: detail)
        }
        let summary = String(cString: curl_easy_strerror(code))
        return .transport(url: request.url, message: detail.isEmpty ? summary : "\(summary): \(detail)")
    }
}

extension CurlTransfer {
    /// Which limit a CURLE_OPERATION_TIMEDOUT hit: libcurl's message names the low-speed abort
    /// ("Operation too slow") and the handshake ("SSL connection timeout"); the time spent says whether
    /// the whole-request limit ran out; otherwise the phase the transfer reached decides.
    func timeoutError(detail: String) -> KubeClientError {
        var total: curl_off_t = 0, connected: curl_off_t = 0, handshaken: curl_off_t = 0
        let elapsed: Double? = ccurl_easy_getinfo_off(easy, CURLINFO_TOTAL_TIME_T, &total) == CURLE_OK ? Double(total) / 1e6 : nil
        _ = ccurl_easy_getinfo_off(easy, CURLINFO_CONNECT_TIME_T, &connected)
        _ = ccurl_easy_getinfo_off(easy, CURLINFO_APPCONNECT_TIME_T, &handshaken)
        let isTLS = request.url.lowercased().hasPrefix("https://")
        let limit = Self.timeoutLimit(detail: detail, connected: connected > 0, handshaken: handshaken > 0 || !isTLS,
                                      elapsed: elapsed ?? 0, request: request, connectTimeout: connectTimeout)
        let seconds: Double = switch limit {
        case .connect, .tlsHandshake: connectTimeout
        case .idle: request.idleTimeout
        case .request, .watchDeadline: request.timeout
        }
        return .timedOut(url: request.url, seconds: seconds, limit: limit, elapsed: elapsed)
    }

    static func timeoutLimit(detail: String, connected: Bool, handshaken: Bool, elapsed: Double,
                             request: HTTPRequest, connectTimeout: Double) -> TimeoutLimit {
        if detail.contains("too slow"), request.idleTimeout > 0 { return .idle }
        // The whole-request limit covers the connect phase too: it is the one that expired when it ran out.
        let whole: TimeoutLimit = request.timeoutIsWatchDeadline ? .watchDeadline : .request
        if request.timeout > 0, elapsed >= request.timeout - 0.05 { return whole }
        // libcurl 7.x records the connect time only once TLS is up too, so its message tells the phases apart.
        if detail.contains("SSL") || detail.contains("TLS") { return .tlsHandshake }
        if !connected { return .connect }
        if !handshaken { return .tlsHandshake }
        if request.timeout > 0 { return whole }
        return .idle
    }
}

/// A byte limit as people say it: "64 MiB", "512 KiB", "100 bytes".
func byteLimit(_ bytes: Int) -> String {
    if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
    if bytes >= 1 << 10, bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
    return "\(bytes) bytes"
}

private let curlHeaderCallback: ccurl_data_callback = { data, size, count, user in
    let total = size * count
    guard let data, let user else { return total }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(user).takeUnretainedValue()
    transfer.receivedHeaderLine(UnsafeRawBufferPointer(start: data, count: total))
    return total
}

private let curlWriteCallback: ccurl_data_callback = { data, size, count, user in
    let total = size * count
    guard let data, let user else { return total }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(user).takeUnretainedValue()
    // Returning a different count makes libcurl abort the transfer (CURLE_WRITE_ERROR).
    switch transfer.receivedData(UnsafeRawBufferPointer(start: data, count: total)) {
    case .consumed: return total
    case .abort: return 0
    case .pause: return ccurl_writefunc_pause()
    }
}

/// A curl multi handle driven by one dedicated thread: every transfer of a client runs here, so the
/// Swift cooperative pool never blocks on I/O and connections are reused across requests.
final class CurlLoop: @unchecked Sendable {
    private struct Inbox {
        var adds: [CurlTransfer] = []
        var cancels: [CurlTransfer] = []
        var resumes: [CurlTransfer] = []
        var stop = false
    }

    private let multi: UnsafeMutableRawPointer
    private let inbox = Mutex(Inbox())
    private let connections = Atomic<Int>(0)
    private let completed = Atomic<Int>(0)
    private let completedHTTP2 = Atomic<Int>(0)
    // Loop-thread only.
    private var active: [UnsafeMutableRawPointer: CurlTransfer] = [:]

    init(name: String) throws(KubeClientError) {
        _ = curlGlobalInit
        guard let multi = curl_multi_init() else {
            throw .transport(url: "", message: "libcurl could not create a multi handle")
        }
        self.multi = multi
        // Multiplex transfers over one HTTP/2 connection (libcurl's default since 7.62; explicit here).
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_PIPELINING, 2 /* CURLPIPE_MULTIPLEX */)
        guard NativeThread.start(name: name, { [self] in self.run() }) else {
            curl_multi_cleanup(multi)
            throw .transport(url: "", message: "failed to start the libcurl thread '\(name)'")
        }
    }

    /// Connections libcurl opened so far (sum of CURLINFO_NUM_CONNECTS over finished transfers).
    var connectionsOpened: Int { connections.load(ordering: .relaxed) }
    /// Transfers finished so far.
    var transfersCompleted: Int { completed.load(ordering: .relaxed) }
    /// Transfers finished so far whose response came over HTTP/2.
    var transfersCompletedOverHTTP2: Int { completedHTTP2.load(ordering: .relaxed) }

    func submit(_ transfer: CurlTransfer) {
        inbox.withLock { $0.adds.append(transfer) }
        curl_multi_wakeup(multi)
    }

    func cancel(_ transfer: CurlTransfer) {
        transfer.cancelRequested.store(true, ordering: .relaxed)
        inbox.withLock { $0.cancels.append(transfer) }
        curl_multi_wakeup(multi)
    }

    /// Resumes a transfer paused by flow control (the consumer caught up).
    func resume(_ transfer: CurlTransfer) {
        inbox.withLock { $0.resumes.append(transfer) }
        curl_multi_wakeup(multi)
    }

    /// Stops the loop thread; unfinished transfers fail as cancelled.
    func shutdown() {
        inbox.withLock { $0.stop = true }
        curl_multi_wakeup(multi)
    }

    private func run() {
        while true {
            let work = inbox.withLock { inbox -> Inbox in
                let taken = inbox
                inbox.adds.removeAll()
                inbox.cancels.removeAll()
                inbox.resumes.removeAll()
                return taken
            }
            for transfer in work.adds {
                if transfer.cancelRequested.load(ordering: .relaxed) {
                    transfer.finish(code: nil, cancelled: true)
                    continue
                }
                let rc = curl_multi_add_handle(multi, transfer.easy)
                if rc != CURLM_OK {
                    transfer.finish(code: CURLE_FAILED_INIT, cancelled: false)
                    continue
                }
                active[transfer.easy] = transfer
            }
            for transfer in work.cancels {
                if active.removeValue(forKey: transfer.easy) != nil {
                    curl_multi_remove_handle(multi, transfer.easy)
                    transfer.finish(code: nil, cancelled: true)
                }
            }
            for transfer in work.resumes where active[transfer.easy] === transfer {
                // May call the write callback at once with the held bytes (which may pause again).
                _ = curl_easy_pause(transfer.easy, 0 /* CURLPAUSE_CONT */)
            }
            if work.stop {
                for (easy, transfer) in active {
                    curl_multi_remove_handle(multi, easy)
                    transfer.finish(code: nil, cancelled: true)
                }
                active.removeAll()
                curl_multi_cleanup(multi)
                return
            }
            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            var left: Int32 = 0
            while let message = curl_multi_info_read(multi, &left) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
                let code = ccurl_msg_result(message)
                guard let transfer = active.removeValue(forKey: easy) else { continue }
                curl_multi_remove_handle(multi, easy)
                var count = 0
                if ccurl_easy_getinfo_long(easy, CURLINFO_NUM_CONNECTS, &count) == CURLE_OK {
                    connections.add(count, ordering: .relaxed)
                }
                completed.add(1, ordering: .relaxed)
                var version = 0
                if ccurl_easy_getinfo_long(easy, CURLINFO_HTTP_VERSION, &version) == CURLE_OK, version == Int(CURL_HTTP_VERSION_2_0) {
                    completedHTTP2.add(1, ordering: .relaxed)
                }
                transfer.finish(code: code, cancelled: false)
            }
            curl_multi_poll(multi, nil, 0, 1000, nil)
        }
    }

    /// Runs a request to completion and returns the buffered response.
    func perform(_ request: HTTPRequest, tls: TLSMaterial) async throws(KubeClientError) -> HTTPResponse {
        let box = TransferBox()
        let result: Result<HTTPResponse, KubeClientError> = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<HTTPResponse, KubeClientError>, Never>) in
                do throws(KubeClientError) {
                    let transfer = try CurlTransfer(request: request, tls: tls, mode: .buffered({ continuation.resume(returning: $0) }))
                    box.set(transfer)
                    if Task.isCancelled { transfer.cancelRequested.store(true, ordering: .relaxed) }
                    submit(transfer)
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        } onCancel: {
            if let transfer = box.get() { cancel(transfer) }
        }
        return try result.get()
    }

    /// Starts a streamed request: the stream yields the head, then body chunks as they arrive.
    /// Ending the iteration (or cancelling the consuming task) aborts the transfer.
    /// Body bytes are flow-controlled by `flow`: the consumer acknowledges each chunk with
    /// ``ResponseStream/consumed(_:)``.
    func stream(_ request: HTTPRequest, tls: TLSMaterial, flow: StreamFlow = StreamFlow()) -> ResponseStream {
        let (stream, continuation) = AsyncThrowingStream<StreamPart, any Error>.makeStream()
        let box = TransferBox()
        do throws(KubeClientError) {
            let transfer = try CurlTransfer(request: request, tls: tls, mode: .streaming(continuation), flow: flow)
            box.set(transfer)
            continuation.onTermination = { [weak self] termination in
                if case .finished = termination { return }
                self?.cancel(transfer)
            }
            submit(transfer)
        } catch {
            continuation.finish(throwing: error)
        }
        return ResponseStream(parts: stream, flow: flow, resume: { [weak self] in
            if let transfer = box.get() { self?.resume(transfer) }
        })
    }
}

/// Hands the transfer to a cancellation handler that may run on another thread.
private final class TransferBox: Sendable {
    private let transfer = Mutex<CurlTransfer?>(nil)
    func set(_ value: CurlTransfer) { transfer.withLock { $0 = value } }
    func get() -> CurlTransfer? { transfer.withLock { $0 } }
}
