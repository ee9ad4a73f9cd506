import Foundation
import HTTPServer
import HTTPServerTLS
import JSON
import KubeClient
import KubeCore
import Synchronization
import Testing
import TestSupport

/// Client behaviour over real HTTPS against scripted fake API servers (edge cases a real server will not produce on demand).
@Suite struct FakeServerTests {
    @Test func sequentialRequestsReuseOneConnection() async throws {
        let server = try FakeAPIServer { _, writer in respondJSON(writer, widgetJSON("w1", rv: "1")) }
        var config = server.configuration
        config.qps = 0  // no client-side rate limit: measure the transport alone
        let client = try KubernetesClient(configuration: config)
        let widgets = client.resource(Widget.self)
        let (_, seconds) = try await elapsed { for _ in 0..<200 { _ = try await widgets.get("w1") } }
        print("200 sequential GETs over one TLS connection (debug build): \(Int(200 / seconds)) requests/s")
        #expect(client.requestsCompleted == 200)
        #expect(client.connectionsOpened <= 2, "opened \(client.connectionsOpened) connections for 200 GETs")
        // concurrent requests work too (each may need its own connection)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<16 { group.addTask { _ = try await widgets.get("w1") } }
            try await group.waitForAll()
        }
        #expect(client.requestsCompleted == 216)
    }

    @Test func wrongCAFailsClosed() async throws {
        let server = try FakeAPIServer { _, writer in respondJSON(writer, widgetJSON("w1", rv: "1")) }
        let otherCA = try CertificateAuthority.generate(commonName: "someone-else")
        var config = server.configuration
        config.certificateAuthority = .data(Array(otherCA.certificatePEM.utf8))
        let client = try KubernetesClient(configuration: config)
        let error = await #expect(throws: KubeClientError.self) { try await client.resource(Widget.self).get("w1") }
        guard case .transport(let url, let message)? = error else {
            Issue.record("expected a transport error, got \(String(describing: error))")
            return
        }
        #expect(url == "https://127.0.0.1:\(server.port)/apis/example.com/v1/widgets/w1")
        #expect(message.lowercased().contains("certificate"))
        #expect(server.requests.isEmpty)
        // The system trust store does not know the test CA either.
        config.certificateAuthority = nil
        let systemTrust = try KubernetesClient(configuration: config)
        await #expect(throws: KubeClientError.self) { try await systemTrust.resource(Widget.self).get("w1") }
        // Only an explicit insecure-skip-tls-verify gets through.
        config.insecureSkipTLSVerify = true
        let insecure = try KubernetesClient(configuration: config)
        #expect(try await insecure.resource(Widget.self).get("w1").metadata.name == "w1")
    }

    @Test func connectionRefusedNamesTheURL() async throws {
        let port = try freeLoopbackPort()
        let client = try KubernetesClient(configuration: ClientConfiguration(server: "https://127.0.0.1:\(port)", maxRetries: 0))
        let (error, seconds) = await elapsed {
            await #expect(throws: KubeClientError.self) { try await client.resource(Widget.self).get("w1") }
        }
        let text = try #require(error).description
        #expect(text.hasPrefix("failed to reach 'https://127.0.0.1:\(port)/apis/example.com/v1/widgets/w1'"))
        #expect(seconds < 15)  // immediate in practice; generous because CI machines are shared
    }

    @Test func nonJSONBodyIsADecodingErrorNamingTheURL() async throws {
        let server = try FakeAPIServer { _, writer in writer.respond(status: 200, text: "<html>hello</html>") }
        let client = try KubernetesClient(configuration: server.configuration)
        let error = await #expect(throws: KubeClientError.self) { try await client.resource(Widget.self).list() }
        guard case .decoding(let url, let message)? = error else {
            Issue.record("expected a decoding error, got \(String(describing: error))")
            return
        }
        #expect(url == "https://127.0.0.1:\(server.port)/apis/example.com/v1/widgets")
        #expect(message.contains("<html>"))
    }

    @Test func notFoundAndConflictStatusesAreDecoded() async throws {
        let server = try FakeAPIServer { request, writer in
            if request.method == "GET" {
                respondJSON(writer, status: 404, ["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
                                                  "message": #"widgets.example.com "nope" not found"#, "reason": "NotFound",
                                                  "details": ["name": "nope", "group": "example.com", "kind": "widgets"], "code": 404])
            } else {
                respondJSON(writer, status: 409, ["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
                                                  "message": "Operation cannot be fulfilled on widgets.example.com \"nope\": the object has been modified; please apply your changes to the latest version and try again",
                                                  "reason": "Conflict", "details": ["name": "nope", "group": "example.com", "kind": "widgets"], "code": 409])
            }
        }
        let client = try KubernetesClient(configuration: server.configuration)
        let widgets = client.resource(Widget.self)
        let notFound = await #expect(throws: KubeClientError.self) { try await widgets.get("nope") }
        #expect(notFound?.isNotFound == true)
        #expect(notFound?.status?.details?.name == "nope")
        #expect(notFound?.httpCode == 404)
        #expect(try await widgets.getIfExists("nope") == nil)
        var stale = Widget(name: "nope")
        stale.metadata.resourceVersion = "1"
        let conflict = await #expect(throws: KubeClientError.self) { try await widgets.update(stale) }
        #expect(conflict?.isConflict == true)
        #expect(conflict?.status?.reason == "Conflict")
        #expect(server.requests.last?.method == "PUT")
        #expect(server.requests.last?.headers["Content-Type"] == "application/json")
    }

    /// Issue 13 item 8: a PUT without resourceVersion is an unconditional overwrite on the server.
    @Test func updateWithoutResourceVersionIsRefusedBeforeSending() async throws {
        let server = try FakeAPIServer { _, writer in respondJSON(writer, widgetJSON("w1", rv: "9")) }
        let client = try KubernetesClient(configuration: server.configuration)
        let widgets = client.resource(Widget.self)
        for version in [nil, ""] as [String?] {
            var widget = Widget(name: "w1")
            widget.metadata.resourceVersion = version
            let error = await #expect(throws: KubeClientError.self) { try await widgets.update(widget) }
            let text = try #require(error).description
            #expect(text.contains("widgets 'w1'"), "\(text)")
            #expect(text.contains("resourceVersion"), "\(text)")
            let statusError = await #expect(throws: KubeClientError.self) { try await widgets.updateStatus(widget) }
            #expect(try #require(statusError).description.contains("the status of widgets 'w1'"))
        }
        #expect(server.requests.isEmpty)
        var current = Widget(name: "w1")
        current.metadata.resourceVersion = "8"
        #expect(try await widgets.update(current).metadata.resourceVersion == "9")
        #expect(server.requests.count == 1)
    }

    @Test func tooManyRequestsHonoursRetryAfter() async throws {
        let calls = Locked(0)
        let server = try FakeAPIServer { _, writer in
            let n = calls.withLock { n in n += 1; return n }
            if n == 1 {
                respondJSON(writer, status: 429, ["kind": "Status", "reason": "TooManyRequests", "code": 429,
                                                  "message": "Too many requests, please try again later."],
                            headers: ["Retry-After": "1"])
            } else {
                respondJSON(writer, widgetJSON("w1", rv: "1"))
            }
        }
        let client = try KubernetesClient(configuration: server.configuration)
        // POST: a 429 means the server did not process it, so even a create is retried.
        let (created, seconds) = try await elapsed { try await client.resource(Widget.self).create(Widget(name: "w1")) }
        #expect(created.metadata.name == "w1")
        #expect(seconds >= 0.9)
        #expect(server.requests.count == 2)

        var config = server.configuration
        config.maxRetries = 1
        let always429 = try FakeAPIServer { _, writer in
            respondJSON(writer, status: 429, ["kind": "Status", "reason": "TooManyRequests", "code": 429], headers: ["Retry-After": "0"])
        }
        config.server = "https://127.0.0.1:\(always429.port)"
        config.certificateAuthority = always429.configuration.certificateAuthority
        config.clientCertificate = always429.configuration.clientCertificate
        config.clientKey = always429.configuration.clientKey
        let limited = try KubernetesClient(configuration: config)
        let error = await #expect(throws: KubeClientError.self) { try await limited.resource(Widget.self).get("w1") }
        #expect(error?.isTooManyRequests == true)
        #expect(always429.requests.count == 2)
    }

    /// Issue 13 item 1: a 429 with `Retry-After: nan` (and the other unusable forms) killed the process
    /// with SIGILL; now it is retried after the default second, and a huge value waits at most 60 s.
    @Test func tooManyRequestsWithAnUnusableRetryAfterIsRetriedAfterOneSecond() async throws {
        for value in ["nan", "inf", "-1", "1e400"] {
            let calls = Locked(0)
            let server = try FakeAPIServer { _, writer in
                let n = calls.withLock { n in n += 1; return n }
                if n == 1 {
                    respondJSON(writer, status: 429, ["kind": "Status", "reason": "TooManyRequests", "code": 429],
                                headers: ["Retry-After": value])
                } else {
                    respondJSON(writer, widgetJSON("w1", rv: "1"))
                }
            }
            let client = try KubernetesClient(configuration: server.configuration)
            let (widget, seconds) = try await elapsed { try await client.resource(Widget.self).get("w1") }
            #expect(widget.metadata.name == "w1", "Retry-After: \(value)")
            #expect(seconds >= 0.9 && seconds < 5, "Retry-After: \(value) waited \(seconds) s")
            #expect(server.requests.count == 2, "Retry-After: \(value)")
        }
    }

    @Test func serverErrorsRetryOnlyIdempotentRequestsWithRetryAfter() async throws {
        let server = try FakeAPIServer { _, writer in
            respondJSON(writer, status: 503, ["kind": "Status", "reason": "ServiceUnavailable", "code": 503], headers: ["Retry-After": "0"])
        }
        var config = server.configuration
        config.maxRetries = 2
        let client = try KubernetesClient(configuration: config)
        await #expect(throws: KubeClientError.self) { try await client.resource(Widget.self).get("w1") }
        #expect(server.requests.count == 3)
        await #expect(throws: KubeClientError.self) { try await client.resource(Widget.self).create(Widget(name: "w1")) }
        #expect(server.requests.count == 4)
    }

    @Test func rotatedTokenFileIsPickedUp() async throws {
        let dir = try makeTempDir("kubeclient-test")
        defer { removeTestFiles(dir) }
        let tokenPath = dir + "/token"
        try write("token-one\n", to: tokenPath)
        let accepted = Locked("token-one")
        let (server, config) = try tokenServer(tokenFile: tokenPath) { $0 == accepted.value }
        let client = try KubernetesClient(configuration: config)
        _ = try await client.resource(Widget.self).get("w1")
        // The server rotates; the kubelet rewrites the file.
        accepted.withLock { $0 = "token-two" }
        try write("token-two\n", to: dir + "/token.tmp")
        #expect(rename(dir + "/token.tmp", tokenPath) == 0)
        _ = try await client.resource(Widget.self).get("w1")
        #expect(server.requests.last?.headers["Authorization"] == "Bearer token-two")
        // A token the server refuses gives 401 Unauthorized, named.
        accepted.withLock { $0 = "token-three" }
        let error = await #expect(throws: KubeClientError.self) { try await client.resource(Widget.self).get("w1") }
        #expect(error?.isUnauthorized == true)
    }

    /// Issue 13 item 6: the kubelet's projected-token layout (`token -> ..data/token`, `..data -> ..<timestamp>`)
    /// is swapped by replacing `..data`; for an instant `token` does not resolve. Requests in that gap
    /// use the last good token instead of failing; after the swap the new token is read.
    @Test func tokenFileMissingDuringTheSymlinkSwapKeepsTheLastGoodToken() async throws {
        let dir = try makeTempDir("kubeclient-test")
        defer { removeTestFiles(dir) }
        let tokenPath = dir + "/token"
        func publish(_ token: String, as folder: String) throws {
            #expect(mkdir(dir + "/" + folder, 0o755) == 0)
            try write(token + "\n", to: dir + "/" + folder + "/token")
            #expect(symlink(folder, dir + "/..data_tmp") == 0)
            #expect(rename(dir + "/..data_tmp", dir + "/..data") == 0)
        }
        try publish("token-one", as: "..2026_12_06_10_00_00.1")
        #expect(symlink("..data/token", tokenPath) == 0)
        let accepted = Locked(Set(["token-one"]))
        let (server, tokenConfig) = try tokenServer(tokenFile: tokenPath) { accepted.value.contains($0) }
        var config = tokenConfig
        config.maxRetries = 0
        let client = try KubernetesClient(configuration: config)
        let widgets = client.resource(Widget.self)
        _ = try await widgets.get("w1")
        // The gap: `..data` is gone, so `token` dangles.
        #expect(unlink(dir + "/..data") == 0)
        #expect(access(tokenPath, F_OK) != 0)
        _ = try await widgets.get("w1")
        #expect(server.requests.last?.headers["Authorization"] == "Bearer token-one")
        // Readable again (an empty file counts as not yet written): still the last good token.
        #expect(mkdir(dir + "/..2026_12_06_10_00_00.2", 0o755) == 0)
        try write("", to: dir + "/..2026_12_06_10_00_00.2/token")
        #expect(symlink("..2026_12_06_10_00_00.2", dir + "/..data") == 0)
        _ = try await widgets.get("w1")
        #expect(server.requests.last?.headers["Authorization"] == "Bearer token-one")
        // The swap completes with a new token, and the server accepts only that one now.
        accepted.withLock { $0 = ["token-two"] }
        try publish("token-two", as: "..2026_12_06_10_00_00.3")
        _ = try await widgets.get("w1")
        #expect(server.requests.last?.headers["Authorization"] == "Bearer token-two")
        // A client that never read a good token fails, naming the file.
        #expect(unlink(dir + "/..data") == 0)
        let fresh = try KubernetesClient(configuration: config)
        let error = await #expect(throws: KubeClientError.self) { try await fresh.resource(Widget.self).get("w1") }
        #expect(error?.description.contains("token file '\(tokenPath)'") == true, "\(String(describing: error))")
        #expect(error?.description.contains("No such file or directory") == true, "\(String(describing: error))")
    }

    @Test func execPluginIsCachedUntilExpiryAndRerunOn401() async throws {
        let dir = try makeTempDir("kubeclient-test")
        defer { removeTestFiles(dir) }
        let script = dir + "/plugin.sh"
        try write("""
        #!/bin/sh
        # Counts its runs; the token names the run; expires after $TTL seconds.
        n=$(cat "\(dir)/runs" 2>/dev/null || echo 0)
        n=$((n + 1))
        echo "$n" > "\(dir)/runs"
        echo "$KUBERNETES_EXEC_INFO" > "\(dir)/info"
        exp=$(date -u -d "+${TTL} seconds" +%Y-%m-%dT%H:%M:%SZ)
        printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"tok-%s","expirationTimestamp":"%s"}}' "$n" "$exp"
        """, to: script)
        #expect(chmod(script, 0o755) == 0)
        let refuse = Locked<Set<String>>([])
        let server = try FakeAPIServer { request, writer in
            let auth = request.headers["Authorization"] ?? ""
            if auth.hasPrefix("Bearer tok-"), !refuse.value.contains(auth) {
                respondJSON(writer, widgetJSON("w1", rv: "1"))
            } else {
                respondJSON(writer, status: 401, ["kind": "Status", "reason": "Unauthorized", "code": 401])
            }
        }
        var config = server.configuration
        config.clientCertificate = nil
        config.clientKey = nil
        config.exec = ExecConfiguration(command: script, env: ["TTL": "5"])
        let client = try KubernetesClient(configuration: config)
        let widgets = client.resource(Widget.self)
        _ = try await widgets.get("w1")
        _ = try await widgets.get("w1")
        #expect(try String(contentsOfFile: dir + "/runs", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        let info = try JSONValue.parse(String(contentsOfFile: dir + "/info", encoding: .utf8))
        #expect(info["kind"] == "ExecCredential")
        #expect(info[path: ["spec", "interactive"]] == false)
        // After the expiry the plugin runs again.
        try await Task.sleep(for: .seconds(5.5))
        _ = try await widgets.get("w1")
        #expect(server.requests.last?.headers["Authorization"] == "Bearer tok-2")
        // A 401 makes the client drop the credential and run the plugin again once.
        _ = refuse.withLock { $0.insert("Bearer tok-2") }
        _ = try await widgets.get("w1")
        #expect(server.requests.last?.headers["Authorization"] == "Bearer tok-3")
        // A failing plugin is an error naming it.
        try write("#!/bin/sh\necho 'no credentials for you' >&2\nexit 3\n", to: script)
        _ = refuse.withLock { $0.insert("Bearer tok-3") }
        let error = await #expect(throws: KubeClientError.self) { try await widgets.get("w1") }
        let text = try #require(error).description
        #expect(text.contains(script))
        #expect(text.contains("no credentials for you"))
    }

    /// Issue 13 item 10: every CURLE_OPERATION_TIMEDOUT was reported as "no data for N s (stalled
    /// connection)" with the idle limit. Each limit is now named with its own value and the time spent.
    @Test func stalledServerIsDetected() async throws {
        let listener = try SilentListener()
        defer { listener.close() }
        var config = ClientConfiguration(server: "http://127.0.0.1:\(listener.port)", requestTimeout: 1, watchIdleTimeout: 2, maxRetries: 0)
        config.connectTimeout = 3
        let client = try KubernetesClient(configuration: config)
        func check(_ error: KubeClientError?, _ limit: TimeoutLimit, seconds: Double, text: String,
                   sourceLocation: SourceLocation = #_sourceLocation) {
            guard case .timedOut(_, let limitSeconds, let reported, let spent)? = error else {
                Issue.record("expected a timeout, got \(String(describing: error))", sourceLocation: sourceLocation)
                return
            }
            #expect(reported == limit, sourceLocation: sourceLocation)
            #expect(limitSeconds == seconds, sourceLocation: sourceLocation)
            #expect((spent ?? 0) >= seconds - 0.1 && (spent ?? 99) < seconds + 5, "\(String(describing: spent))", sourceLocation: sourceLocation)
            let description = error?.description ?? ""
            #expect(description.contains(text), "\(description)", sourceLocation: sourceLocation)
            #expect(description.contains("127.0.0.1:\(listener.port)"), sourceLocation: sourceLocation)
        }
        // A plain request: the whole-request timeout (1 s), not the idle one.
        let (getError, getSeconds) = await elapsed {
            await #expect(throws: KubeClientError.self) { try await client.resource(Widget.self).get("w1") }
        }
        check(getError, .request, seconds: 1, text: "did not complete within the 1 s whole-request timeout")
        #expect(getError?.description.contains("no data for") == false)
        #expect(getSeconds < 15)
        // A watch: the idle (low-speed) timeout, 2 s.
        let (watchError, watchSeconds) = await elapsed {
            await #expect(throws: KubeClientError.self) {
                for try await _ in client.resource(Widget.self).watch(WatchOptions(resourceVersion: "1")) {}
            }
        }
        check(watchError, .idle, seconds: 2, text: "no data for 2 s (idle timeout")
        #expect(watchSeconds < 15)
        // A TLS server that never completes the handshake: the connect timeout (3 s), during the handshake.
        config.server = "https://127.0.0.1:\(listener.port)"
        config.requestTimeout = 30
        let tlsClient = try KubernetesClient(configuration: config)
        let (tlsError, tlsSeconds) = await elapsed {
            await #expect(throws: KubeClientError.self) { try await tlsClient.resource(Widget.self).get("w1") }
        }
        check(tlsError, .tlsHandshake, seconds: 3, text: "the TLS handshake did not finish within the 3 s connect timeout")
        #expect(tlsSeconds < 15)
        #expect(listener.acceptedCount >= 3)
    }

    /// The connect timeout before any TCP connection: a listener whose accept queue is full drops the SYN.
    @Test func connectTimeoutIsNamed() async throws {
        let listener = try SilentListener(accepting: false)
        defer { listener.close() }
        var config = ClientConfiguration(server: "https://127.0.0.1:\(listener.port)", requestTimeout: 30, maxRetries: 0)
        config.connectTimeout = 1
        let client = try KubernetesClient(configuration: config)
        let error = await #expect(throws: KubeClientError.self) { try await client.resource(Widget.self).get("w1") }
        guard case .timedOut(_, let seconds, let limit, let spent)? = error else {
            Issue.record("expected a timeout, got \(String(describing: error))")
            return
        }
        #expect(limit == .connect)
        #expect(seconds == 1)
        #expect((spent ?? 0) >= 0.9 && (spent ?? 99) < 6)
        #expect(error?.description.contains("no TCP connection within the 1 s connect timeout") == true, "\(String(describing: error))")
    }
}

@Suite struct CancellationTests {
    @Test func cancellingARequestReturnsPromptly() async throws {
        let listener = try SilentListener()
        defer { listener.close() }
        let client = try KubernetesClient(configuration: ClientConfiguration(server: "http://127.0.0.1:\(listener.port)", requestTimeout: 60))
        let task = Task { try await client.resource(Widget.self).get("w1") }
        try await Task.sleep(for: .milliseconds(200))
        let start = ContinuousClock.now
        task.cancel()
        let result = await task.result
        #expect(ContinuousClock.now - start < .seconds(10))
        guard case .failure(let error) = result, case .cancelled? = error as? KubeClientError else {
            Issue.record("expected a cancelled error, got \(result)")
            return
        }
    }
}

@Suite struct FakeWatchTests {
    static func line(_ json: JSONValue) -> [UInt8] { json.serialized() + [0x0A] }

    @Test func eventsArriveIncrementallyWithBookmarks() async throws {
        let release = DispatchSemaphore(value: 0)
        let server = try FakeAPIServer { request, writer in
            writer.writeHead(status: 200, headers: ["Content-Type": "application/json"])
            writer.writeBody(Self.line(["type": "ADDED", "object": widgetJSON("w1", rv: "11")]))
            // Hold the rest until the client has seen the first event: proves nothing is buffered to the end.
            _ = release.wait(timeout: .now() + 10)
            let modified = Self.line(["type": "MODIFIED", "object": widgetJSON("w1", rv: "12", size: 2)])
            writer.writeBody(Array(modified[0..<10]))
            writer.writeBody(Array(modified[10...]))
            writer.writeBody(Self.line(["type": "BOOKMARK", "object": ["kind": "Widget", "apiVersion": "example.com/v1", "metadata": ["resourceVersion": "15"]]]))
            writer.finish()
        }
        let client = try KubernetesClient(configuration: server.configuration)
        var events: [WatchEvent<Widget>] = []
        for try await event in client.resource(Widget.self).watch(WatchOptions(resourceVersion: "10")) {
            events.append(event)
            if events.count == 1 { release.signal() }
        }
        #expect(events.map(\.type) == [.added, .modified, .bookmark])
        #expect(events.last?.resourceVersion == "15")
        #expect(events[1].object?.spec?.size == 2)
        let request = try #require(server.requests.first)
        #expect(request.query.contains("watch=1"))
        #expect(request.query.contains("resourceVersion=10"))
        #expect(request.query.contains("allowWatchBookmarks=true"))
        let timeout = request.query.split(separator: "&").first { $0.hasPrefix("timeoutSeconds=") }.flatMap { Int($0.dropFirst(15)) }
        #expect((300..<600).contains(try #require(timeout)))
    }

    @Test func goneAsEventOrStatusThrowsWatchExpired() async throws {
        let server = try FakeAPIServer { request, writer in
            if request.rawQuery.contains("resourceVersion=1&") {
                writer.writeHead(status: 200, headers: ["Content-Type": "application/json"])
                writer.writeBody(Self.line(["type": "ERROR", "object": ["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
                                                                        "message": "too old resource version: 1 (204)", "reason": "Expired", "code": 410]]))
                writer.finish()
            } else {
                respondJSON(writer, status: 410, ["kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "gone", "reason": "Gone", "code": 410])
            }
        }
        let client = try KubernetesClient(configuration: server.configuration)
        for rv in ["1", "2"] {
            let error = await #expect(throws: KubeClientError.self) {
                for try await _ in client.resource(Widget.self).watch(WatchOptions(resourceVersion: rv)) {}
            }
            #expect(error?.isGone == true, "rv \(rv): \(String(describing: error))")
            if case .watchExpired = error {} else { Issue.record("rv \(rv): expected watchExpired, got \(String(describing: error))") }
        }
    }

    @Test func cancellingTheConsumerAbortsTheTransfer() async throws {
        let gone = DispatchSemaphore(value: 0)
        let server = try FakeAPIServer { _, writer in
            writer.onClientGone { gone.signal() }
            writer.writeHead(status: 200, headers: ["Content-Type": "application/json"])
            writer.writeBody(Self.line(["type": "ADDED", "object": widgetJSON("w1", rv: "11")]))
            _ = gone.wait(timeout: .now() + 30)
            gone.signal()
        }
        let client = try KubernetesClient(configuration: server.configuration)
        let first = Locked(false)
        let task = Task {
            for try await _ in client.resource(Widget.self).watch() { first.withLock { $0 = true } }
        }
        while !first.value { try await Task.sleep(for: .milliseconds(10)) }
        let start = ContinuousClock.now
        task.cancel()
        // Like any AsyncThrowingStream, the iteration of a cancelled task simply ends.
        _ = await task.result
        // the server notices the closed connection promptly
        let noticed = await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: gone.wait(timeout: .now() + 5) == .success) }.start()
        }
        #expect(noticed)
        #expect(ContinuousClock.now - start < .seconds(10))
    }

    @Test func malformedEventIsADecodingError() async throws {
        let server = try FakeAPIServer { _, writer in
            writer.writeHead(status: 200, headers: ["Content-Type": "application/json"])
            writer.writeBody(Array("this is not json\n".utf8))
            writer.finish()
        }
        let client = try KubernetesClient(configuration: server.configuration)
        let error = await #expect(throws: KubeClientError.self) {
            for try await _ in client.resource(Widget.self).watch() {}
        }
        guard case .decoding(let url, _)? = error else {
            Issue.record("expected decoding error, got \(String(describing: error))")
            return
        }
        #expect(url.hasPrefix("https://127.0.0.1:\(server.port)/apis/example.com/v1/widgets?watch=1"))
    }
}

/// A fake API server that serves Widget `w1` to requests whose bearer token `accepts` lets in and
/// answers 401 Unauthorized to the others, and a configuration for it that authenticates with
/// the token in `tokenFile` (no client certificate).
private func tokenServer(tokenFile: String, accepts: @escaping @Sendable (String) -> Bool) throws -> (FakeAPIServer, ClientConfiguration) {
    let server = try FakeAPIServer { request, writer in
        let header = request.headers["Authorization"] ?? ""
        if header.hasPrefix("Bearer "), accepts(String(header.dropFirst("Bearer ".count))) {
            respondJSON(writer, widgetJSON("w1", rv: "1"))
        } else {
            respondJSON(writer, status: 401, ["kind": "Status", "reason": "Unauthorized", "code": 401, "message": "Unauthorized"])
        }
    }
    var config = server.configuration
    config.clientCertificate = nil
    config.clientKey = nil
    config.tokenFile = tokenFile
    return (server, config)
}
