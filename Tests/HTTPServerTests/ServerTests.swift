import Foundation
import Glibc
import Synchronization
import Testing

@testable import HTTPServer
import HTTPServerTLS

/// Starts a server, runs `body` with its port, and always stops it.
func withServer(
    host: String = "127.0.0.1", tls: TLSConfiguration? = nil, limits: HTTPLimits = .init(),
    errorResponder: HTTPErrorResponder? = nil, handler: @escaping HTTPHandler, _ body: (Int) throws -> Void
) throws {
    let server = HTTPServer(host: host, port: 0, security: tls, limits: limits, errorResponder: errorResponder, handler: handler)
    let port = try server.start()
    defer { server.stop() }
    try body(port)
}

/// Echoes method, decoded path, query and body.
let echoHandler: HTTPHandler = { request, writer in
    var text = "\(request.method) \(request.path)\n"
    for q in request.query { text += "q \(q.name)=\(q.value)\n" }
    text += "body \(String(decoding: request.body, as: UTF8.self))\n"
    if let peer = request.peer { text += "peer \(peer.commonName) [\(peer.organizations.joined(separator: ","))]\n" }
    writer.respond(status: 200, headers: ["X-Remote": request.remoteAddress], text: text)
}

@Suite struct PlainHTTPTests {
    @Test func getWithDecodedPathAndQuery() throws {
        try withServer(handler: echoHandler) { port in
            let out = try curl(["http://127.0.0.1:\(port)/api/v1/a%2Fb%20c?labelSelector=app%3Dweb%2Ctier+in+(a)&watch"])
            #expect(out.status == 0, "\(out.stderr)")
            #expect(out.stdout == "GET /api/v1/a/b c\nq labelSelector=app=web,tier in (a)\nq watch=\nbody \n")
        }
    }

    @Test func postContentLengthAndChunkedBodies() throws {
        try withServer(handler: echoHandler) { port in
            let fixed = try curl(["-X", "POST", "--data-binary", "hello world", "http://127.0.0.1:\(port)/x"])
            #expect(fixed.stdout == "POST /x\nbody hello world\n")
            let chunked = try curl([
                "-X", "PUT", "-H", "Transfer-Encoding: chunked", "--data-binary", "@-", "http://127.0.0.1:\(port)/y",
            ], stdin: Array("streamed body".utf8))
            #expect(chunked.status == 0, "\(chunked.stderr)")
            #expect(chunked.stdout == "PUT /y\nbody streamed body\n")
        }
    }

    @Test func expectContinueIsAnswered() throws {
        try withServer(handler: echoHandler) { port in
            let client = try RawClient(port: port)
            try client.send("POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            #expect(try client.read(until: "HTTP/1.1 100 Continue\r\n\r\n"))
            try client.send("abcde")
            #expect(try client.read(until: "body abcde\n"))
            // curl waits for the 100 before sending the body.
            let big = String(repeating: "z", count: 4000)
            let out = try curl(["-v", "-H", "Expect: 100-continue", "--data-binary", big, "http://127.0.0.1:\(port)/big"])
            #expect(out.stderr.contains("HTTP/1.1 100 Continue"))
            #expect(out.stdout == "POST /big\nbody \(big)\n")
        }
    }

    @Test func keepAliveServesManyRequestsOnOneConnection() throws {
        let remotes = Recorder<String>()
        try withServer(handler: { request, writer in
            remotes.append(request.remoteAddress)
            writer.respond(status: 200, text: "ok")
        }) { port in
            let urls = (0..<20).map { "http://127.0.0.1:\(port)/r\($0)" }
            let out = try curl(urls)
            #expect(out.stdout == String(repeating: "ok", count: 20))
            #expect(remotes.all.count == 20)
            #expect(Set(remotes.all).count == 1)

            // Pipelined requests on a raw connection are answered in order.
            let client = try RawClient(port: port)
            try client.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(try client.readToEnd())
            #expect(client.receivedText.components(separatedBy: "HTTP/1.1 200 OK").count == 3)
            #expect(client.receivedText.contains("Connection: close"))
        }
    }

    @Test func connectionCloseAndHTTP10() throws {
        try withServer(handler: { _, writer in
            writer.writeHead(status: 200, headers: ["Content-Type": "text/plain"])
            writer.writeBody(Array("streamed".utf8))
            writer.finish()
        }) { port in
            let client = try RawClient(port: port)
            try client.send("GET / HTTP/1.0\r\n\r\n")
            #expect(try client.readToEnd())
            #expect(client.receivedText.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(!client.receivedText.contains("chunked"))
            #expect(client.receivedText.hasSuffix("\r\n\r\nstreamed"))

            let closing = try RawClient(port: port)
            try closing.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(try closing.readToEnd())
            #expect(closing.receivedText.contains("Transfer-Encoding: chunked\r\n"))
            #expect(closing.receivedText.hasSuffix("8\r\nstreamed\r\n0\r\n\r\n"))
        }
    }

    @Test func headRequestHasNoBody() throws {
        try withServer(handler: echoHandler) { port in
            let client = try RawClient(port: port)
            try client.send("HEAD /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(try client.readToEnd())
            #expect(client.receivedText.contains("Content-Length: 14\r\n"))
            #expect(client.receivedText.hasSuffix("\r\n\r\n"))
        }
    }

    @Test func ipv6Loopback() throws {
        try withServer(host: "::1", handler: echoHandler) { port in
            let out = try curl(["-g", "http://[::1]:\(port)/six"])
            #expect(out.status == 0, "\(out.stderr)")
            #expect(out.stdout.hasPrefix("GET /six\n"))
            let client = try RawClient(host: "::1", port: port)
            try client.send("GET /raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(try client.readToEnd())
            #expect(client.receivedText.contains("X-Remote: [::1]:"))
        }
    }

    @Test func handlerWithoutResponseGets500() throws {
        try withServer(handler: { _, _ in }) { port in
            let out = try curl(["-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/"])
            #expect(out.stdout == "500")
        }
        try withServer(handler: { _, writer in writer.respond(status: 204) }) { port in
            let client = try RawClient(port: port)
            try client.send("DELETE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(try client.readToEnd())
            #expect(client.receivedText.hasPrefix("HTTP/1.1 204 No Content\r\n"))
            #expect(!client.receivedText.contains("Content-Length"))
            #expect(client.receivedText.hasSuffix("\r\n\r\n"))
        }
    }

    @Test func fiftyConcurrentClients() throws {
        let inFlight = Mutex((now: 0, peak: 0))
        try withServer(handler: { request, writer in
            inFlight.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) }
            usleep(150_000)
            inFlight.withLock { $0.now -= 1 }
            writer.respond(status: 200, text: request.path)
        }) { port in
            let results = Recorder<Bool>()
            let start = Date()
            onThreads(50) { i in
                do {
                    let client = try RawClient(port: port)
                    try client.send("GET /c\(i) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    _ = try client.readToEnd()
                    results.append(client.receivedText.hasPrefix("HTTP/1.1 200 OK") && client.receivedText.hasSuffix("\r\n\r\n/c\(i)"))
                } catch {
                    results.append(false)
                }
            }
            #expect(results.all.count == 50)
            #expect(results.all.allSatisfy { $0 })
            #expect(inFlight.withLock { $0.peak } > 10)
            #expect(Date().timeIntervalSince(start) < 7.5)  // 50 × 150 ms if served one at a time
        }
    }
}

@Suite struct StreamingTests {
    @Test func chunksArriveBeforeTheHandlerFinishes() throws {
        let release = Signal()
        let finished = Signal()
        try withServer(handler: { _, writer in
            writer.writeHead(status: 200, headers: ["Content-Type": "application/json"])
            writer.writeBody(Array("{\"type\":\"ADDED\"}\n".utf8))
            _ = release.wait(timeout: 10)
            writer.writeBody(Array("{\"type\":\"MODIFIED\"}\n".utf8))
            writer.finish()
            finished.fire()
        }) { port in
            let client = try RawClient(port: port)
            try client.send("GET /watch HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.read(until: "{\"type\":\"ADDED\"}\n\r\n", timeout: 5))
            #expect(client.receivedText.contains("Transfer-Encoding: chunked\r\n"))
            #expect(!client.receivedText.contains("MODIFIED"))
            release.fire()
            #expect(try client.read(until: "0\r\n\r\n", timeout: 5))
            #expect(client.receivedText.contains("14\r\n{\"type\":\"MODIFIED\"}\n\r\n"))
            #expect(finished.wait(timeout: 5))
        }
    }

    @Test func clientDisconnectIsDetected() throws {
        let gone = Signal()
        let writeFailed = Signal()
        try withServer(handler: { _, writer in
            writer.writeHead(status: 200, headers: [:])
            writer.writeBody(Array("first\n".utf8))
            writer.onClientGone { gone.fire() }
            // Keep streaming until a write reports the client gone (bounded so a bug cannot hang).
            for _ in 0..<200 {
                if !writer.writeBody(Array("tick\n".utf8)) {
                    writeFailed.fire()
                    break
                }
                usleep(20_000)
            }
            #expect(writer.isClientGone)
        }) { port in
            do {
                let client = try RawClient(port: port)
                try client.send("GET /watch HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(try client.read(until: "first\n"))
            }  // client closed here
            #expect(gone.wait(timeout: 5))
            #expect(writeFailed.wait(timeout: 5))
        }
    }

    @Test func blockedHandlerWakesOnDisconnect() throws {
        let woke = Signal()
        try withServer(handler: { _, writer in
            writer.writeHead(status: 200, headers: [:])
            writer.writeBody(Array("waiting\n".utf8))
            let wake = Signal()
            writer.onClientGone { wake.fire() }
            if wake.wait(timeout: 10) { woke.fire() }
        }) { port in
            do {
                let client = try RawClient(port: port)
                try client.send("GET /watch HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(try client.read(until: "waiting\n"))
            }
            #expect(woke.wait(timeout: 5))
        }
    }

    @Test func stopEndsStreamingHandlers() throws {
        let woke = Signal()
        let server = HTTPServer(port: 0) { _, writer in
            writer.writeBody(Array("x".utf8))
            let wake = Signal()
            writer.onClientGone { wake.fire() }
            if wake.wait(timeout: 10) { woke.fire() }
        }
        let port = try server.start()
        let client = try RawClient(port: port)
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.read(until: "1\r\nx\r\n"))
        let start = Date()
        server.stop()
        #expect(woke.wait(timeout: 1))
        #expect(Date().timeIntervalSince(start) < 3)
        #expect(try client.readToEnd(timeout: 3))
        server.stop()  // idempotent
    }
}

@Suite struct LimitAndErrorTests {
    @Test func declaredOversizedBodyGets413() throws {
        let called = Mutex(false)
        let limits = HTTPLimits(maxBodyBytes: 1000)
        try withServer(limits: limits, handler: { _, writer in
            called.withLock { $0 = true }
            writer.respond(status: 200)
        }) { port in
            let client = try RawClient(port: port)
            try client.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n")
            #expect(try client.readToEnd())
            #expect(client.receivedText.hasPrefix("HTTP/1.1 413 Request Entity Too Large\r\n"))
            #expect(client.receivedText.contains("Connection: close\r\n"))
            let out = try curl(["-o", "/dev/null", "-w", "%{http_code}", "--data-binary", String(repeating: "a", count: 5000), "http://127.0.0.1:\(port)/"])
            #expect(out.stdout == "413")
            #expect(called.withLock { $0 } == false)
        }
    }

    @Test func chunkedOversizedBodyGets413WithCustomAnswer() throws {
        let limits = HTTPLimits(maxBodyBytes: 10)
        let responder: HTTPErrorResponder = { status, message in
            (["Content-Type": "application/json"], Array("{\"code\":\(status),\"message\":\"\(message)\"}".utf8))
        }
        try withServer(limits: limits, errorResponder: responder, handler: echoHandler) { port in
            let client = try RawClient(port: port)
            try client.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n")
            #expect(try client.readToEnd())
            #expect(client.receivedText.hasPrefix("HTTP/1.1 413 "))
            #expect(client.receivedText.contains("Content-Type: application/json\r\n"))
            #expect(client.receivedText.contains("{\"code\":413,"))
        }
    }

    @Test(arguments: [
        "garbage\r\n\r\n",
        "GET /\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\n folded: y\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "\u{1}\u{2}\u{3} \u{ff} HTTP/1.1\r\n\r\n",
    ])
    func malformedRequestsGet400AndClose(_ raw: String) throws {
        try withServer(handler: echoHandler) { port in
            let client = try RawClient(port: port)
            try client.send(raw)
            #expect(try client.readToEnd(timeout: 5))
            #expect(client.receivedText.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(client.receivedText)")
        }
    }

    @Test func otherProtocolErrors() throws {
        let limits = HTTPLimits(maxHeaderBytes: 2048)
        try withServer(limits: limits, handler: echoHandler) { port in
            let cases: [(String, String)] = [
                ("GET / HTTP/2.0\r\nHost: x\r\n\r\n", "505"),
                ("GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 4000))\r\n\r\n", "431"),
                ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", "501"),
                ("POST / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx", "417"),
            ]
            for (raw, status) in cases {
                let client = try RawClient(port: port)
                try client.send(raw)
                #expect(try client.readToEnd(timeout: 5))
                #expect(client.receivedText.hasPrefix("HTTP/1.1 \(status) "), "\(client.receivedText)")
            }
        }
    }

    @Test func slowClientsAreCutOff() throws {
        let limits = HTTPLimits(headerTimeout: .milliseconds(300), readTimeout: .milliseconds(300), idleTimeout: .milliseconds(500))
        try withServer(limits: limits, handler: echoHandler) { port in
            // Slowloris: a head that never completes.
            let slow = try RawClient(port: port)
            try slow.send("GET / HTTP/1.1\r\nHost: x\r\n")
            let start = Date()
            #expect(try slow.readToEnd(timeout: 5))
            #expect(slow.receivedText.hasPrefix("HTTP/1.1 408 "))
            #expect(Date().timeIntervalSince(start) < 4)
            // A body that never arrives.
            let stalled = try RawClient(port: port)
            try stalled.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            #expect(try stalled.readToEnd(timeout: 5))
            #expect(stalled.receivedText.hasPrefix("HTTP/1.1 408 "))
        }
        let dripLimits = HTTPLimits(readTimeout: .seconds(5), bodyTimeout: .milliseconds(400))
        try withServer(limits: dripLimits, handler: echoHandler) { port in
            // A body dripped slowly enough to dodge the per-read timeout still hits the body deadline.
            let drip = try RawClient(port: port)
            try drip.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
            let start = Date()
            var answered = false
            for _ in 0..<80 {
                do { try drip.send("a") } catch { break }  // the server may already have closed
                if try drip.readOnce(timeout: 0.05) != -1 { answered = true; break }
            }
            if !answered { answered = try drip.readOnce(timeout: 1) > 0 }
            #expect(answered)
            #expect(drip.receivedText.hasPrefix("HTTP/1.1 408 "))
            #expect(Date().timeIntervalSince(start) < 3.5)
        }
        try withServer(limits: limits, handler: echoHandler) { port in
            // An idle keep-alive connection is closed quietly.
            let idle = try RawClient(port: port)
            #expect(try idle.readToEnd(timeout: 5))
            #expect(idle.received.isEmpty)
        }
    }

    /// Every connection is serving a request (handlers held): a further client gets 503.
    @Test func connectionLimitAnswers503WhenEveryConnectionIsBusy() throws {
        let limits = HTTPLimits(maxConnections: 2)
        let release = DispatchSemaphore(value: 0)
        let entered = DispatchSemaphore(value: 0)
        let holding: HTTPHandler = { request, writer in
            entered.signal()
            _ = release.wait(timeout: .now() + 10)
            echoHandler(request, writer)
        }
        try withServer(limits: limits, handler: holding) { port in
            defer { release.signal(); release.signal() }
            let a = try RawClient(port: port)
            let b = try RawClient(port: port)
            try a.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
            try b.send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(entered.wait(timeout: .now() + 5) == .success && entered.wait(timeout: .now() + 5) == .success)
            let c = try RawClient(port: port)
            #expect(try c.readToEnd(timeout: 5))
            #expect(c.receivedText.hasPrefix("HTTP/1.1 503 "))
        }
    }

    /// All connections taken by clients that send nothing, or idle between requests, or a head
    /// that never ends: a new client is served at once; the one that waited longest was closed to
    /// make room, and a connection serving a request never is.
    @Test func fullServerClosesTheLongestWaitingConnectionToMakeRoom() throws {
        let limits = HTTPLimits(maxConnections: 4, headerTimeout: .seconds(30), idleTimeout: .seconds(30))
        let release = DispatchSemaphore(value: 0)
        let busy: HTTPHandler = { request, writer in
            if request.path == "/hold" { _ = release.wait(timeout: .now() + 10) }
            echoHandler(request, writer)
        }
        try withServer(limits: limits, handler: busy) { port in
            defer { release.signal() }
            let serving = try RawClient(port: port)
            try serving.send("GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
            usleep(100_000)
            let silent = try RawClient(port: port)  // never sends a byte
            usleep(100_000)
            let idle = try RawClient(port: port)    // one request, then idle (keep-alive)
            try idle.send("GET /once HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try idle.read(until: "GET /once"))
            usleep(100_000)
            let slowloris = try RawClient(port: port)
            try slowloris.send("GET /never HTTP/1.1\r\nHost: x\r\n")
            usleep(100_000)
            // Full (4). Each newcomer is served at once and stays (keep-alive, so the server stays
            // full), evicting the longest waiting: silent, then idle, then slowloris.
            var newcomers: [RawClient] = []
            for (round, victim) in [silent, idle, slowloris].enumerated() {
                let newcomer = try RawClient(port: port)
                newcomers.append(newcomer)
                try newcomer.send("GET /new\(round) HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(try newcomer.read(until: "GET /new\(round)", timeout: 5), "round \(round): \(newcomer.receivedText)")
                #expect(newcomer.receivedText.hasPrefix("HTTP/1.1 200 "), "round \(round): \(newcomer.receivedText)")
                #expect(try victim.readToEnd(timeout: 5), "round \(round): the longest waiting connection was closed")
                usleep(100_000)
            }
            // The connection serving a request was left alone and still gets its answer.
            release.signal()
            #expect(try serving.read(until: "GET /hold"))
        }
    }

    @Test func startTwiceAndBadAddressesThrow() throws {
        let server = HTTPServer(port: 0, handler: echoHandler)
        try server.start()
        defer { server.stop() }
        #expect(throws: HTTPServerError.alreadyStarted) { try server.start() }
        #expect(throws: HTTPServerError.self) { try HTTPServer(host: "not an address!", handler: echoHandler).start() }
        #expect(throws: HTTPServerError.self) { try HTTPServer(port: 70000, handler: echoHandler).start() }
        #expect(throws: HTTPServerError.self) { try HTTPServer(port: server.port, handler: echoHandler).start() }
    }

    @Test func startCanBeRetriedAfterAFailure() throws {
        let occupant = HTTPServer(port: 0, handler: echoHandler)
        let port = try occupant.start()
        let second = HTTPServer(port: port, handler: echoHandler)
        defer { second.stop() }
        #expect(throws: HTTPServerError.self) { try second.start() }
        occupant.stop()
        #expect(try second.start() == port)
        #expect(try curl(["http://127.0.0.1:\(port)/again"]).stdout.hasPrefix("GET /again\n"))
    }
}

@Suite struct RecorderTests {
    @Test func recorderCapturesAResponseAndSimulatesDisconnect() throws {
        let recorder = HTTPResponseRecorder()
        let request = try #require(HTTPRequest(method: "GET", target: "/p%20q?a=1&a=2&flag"))
        #expect(request.path == "/p q")
        #expect(request.queryValues("a") == ["1", "2"])
        #expect(request.hasQueryParameter("flag"))
        #expect(request.queryValue("missing") == nil)
        echoHandler(request, recorder)
        #expect(recorder.status == 200)
        #expect(recorder.isFinished)
        #expect(recorder.bodyText.hasPrefix("GET /p q\n"))

        let stream = HTTPResponseRecorder()
        let gone = Signal()
        stream.writeHead(status: 200, headers: [:])
        stream.onClientGone { gone.fire() }
        #expect(stream.writeBody([1]))
        stream.disconnect()
        #expect(gone.wait(timeout: 1))
        #expect(!stream.writeBody([2]))
        #expect(stream.chunks == [[1]])
        #expect(HTTPRequest(method: "GET", target: "/%zz") == nil)
    }
}
