import Foundation
import JSON
import KubeCore
import Testing
import TestSupport
@testable import KubeClient

@Suite struct RequestBuildingTests {
    @Test func pathsAndQueries() throws {
        let client = try KubernetesClient(configuration: ClientConfiguration(server: "https://127.0.0.1:6443/prefix/"))
        #expect(client.url(path: "/api/v1/nodes") == "https://127.0.0.1:6443/prefix/api/v1/nodes")
        let options = ListOptions(labelSelector: "app=x,tier in (a,b)", fieldSelector: "metadata.name=w1", limit: 10,
                                  continueToken: "tok/+=", resourceVersion: "0", resourceVersionMatch: .notOlderThan)
        #expect(client.url(path: "/apis/example.com/v1/widgets", query: options.queryItems) ==
                "https://127.0.0.1:6443/prefix/apis/example.com/v1/widgets?labelSelector=app%3Dx%2Ctier%20in%20%28a%2Cb%29&fieldSelector=metadata.name%3Dw1&limit=10&continue=tok%2F%2B%3D&resourceVersion=0&resourceVersionMatch=NotOlderThan")
        #expect(ListOptions(labels: ["b": "2", "a": "1"]).labelSelector == "a=1,b=2")
        let watch = WatchOptions(resourceVersion: "42", labelSelector: "a=b").queryItems(timeout: 321)
        #expect(watch.map { "\($0.0)=\($0.1)" } == ["watch=1", "labelSelector=a=b", "resourceVersion=42", "allowWatchBookmarks=true", "timeoutSeconds=321"])

        let gadgets = ResourceType(group: "example.com", version: "v1", resource: "gadgets", kind: "Gadget", namespaced: true)
        let dyn = client.dynamic(gadgets, namespace: "ns1")
        #expect(try dyn.objectPath("g1", subresource: "status") == "/apis/example.com/v1/namespaces/ns1/gadgets/g1/status")
        let noNamespace = client.dynamic(gadgets)
        #expect(throws: KubeClientError.self) { try noNamespace.objectPath("g1") }
        #expect(try noNamespace.objectPath("g1", namespace: "other") == "/apis/example.com/v1/namespaces/other/gadgets/g1")
        #expect(throws: KubeClientError.self) { try client.resource(Widget.self).objectPath("") }
        // cluster-scoped resources ignore a namespace
        #expect(client.resource(Widget.self, namespace: "ignored").namespace == nil)
    }

    @Test func patchAndDeleteBodies() throws {
        #expect(Patch.merge(["spec": ["size": 2]]).contentType == "application/merge-patch+json")
        #expect(Patch.json([["op": "replace", "path": "/spec/size", "value": 3]]).contentType == "application/json-patch+json")
        #expect(Patch.apply(["kind": "Widget"], fieldManager: "m", force: true).contentType == "application/apply-patch+yaml")
        #expect(String(decoding: Patch.json([["op": "remove", "path": "/a"]]).body, as: UTF8.self) == #"[{"op":"remove","path":"/a"}]"#)
        let delete = DeleteOptions(preconditionUID: "u1", preconditionResourceVersion: "9", propagationPolicy: .foreground,
                                   gracePeriodSeconds: 0, dryRun: true)
        let body = try JSONValue.parse(delete.body)
        #expect(body == ["kind": "DeleteOptions", "apiVersion": "v1", "preconditions": ["uid": "u1", "resourceVersion": "9"],
                         "propagationPolicy": "Foreground", "gracePeriodSeconds": 0, "dryRun": ["All"]])
        #expect(DeleteOptions().isEmpty)
    }

    @Test func tlsServerNameConnectsToConfiguredHost() throws {
        var config = ClientConfiguration(server: "https://10.1.2.3:6443")
        config.tlsServerName = "api.internal"
        let client = try KubernetesClient(configuration: config)
        #expect(client.tls.connectTo == "api.internal:6443:10.1.2.3:6443")
        #expect(client.url(path: "/version") == "https://api.internal:6443/version")
        #expect(KubernetesClient.splitAuthority("https://[fd00::1]:443/x")! == ("[fd00::1]", 443, "/x"))
    }

    @Test func invalidServerIsAConfigurationError() {
        let error = #expect(throws: KubeClientError.self) { try KubernetesClient(configuration: ClientConfiguration(server: "ftp://x")) }
        #expect(error?.description == "client configuration: server: 'ftp://x' is not an http(s) URL")
        let missingCA = #expect(throws: KubeClientError.self) {
            try KubernetesClient(configuration: ClientConfiguration(server: "https://a", certificateAuthority: .file("/nope/ca.crt")))
        }
        #expect(missingCA?.description.contains("/nope/ca.crt") == true)
    }
}

@Suite struct ErrorDecodingTests {
    func response(_ status: Int, _ body: String, headers: [HTTPHeader] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: headers, body: Data(body.utf8))
    }

    @Test func statusBodyIsDecoded() throws {
        let body = #"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"widgets.example.com \"nope\" not found","reason":"NotFound","details":{"name":"nope","group":"example.com","kind":"widgets"},"code":404}"#
        let error = KubernetesClient.apiError(response(404, body), url: "https://h/apis/example.com/v1/widgets/nope")
        #expect(error.isNotFound)
        #expect(!error.isConflict)
        let status = try #require(error.status)
        #expect(status.details?.name == "nope")
        #expect(status.details?.kind == "widgets")
        #expect(error.description == #"request to 'https://h/apis/example.com/v1/widgets/nope' failed with HTTP 404 NotFound: widgets.example.com "nope" not found"#)
    }

    @Test func causesAreKept() throws {
        let body = #"{"kind":"Status","status":"Failure","message":"Widget.example.com \"w\" is invalid: spec.size: Invalid value: 0","reason":"Invalid","details":{"name":"w","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: 0","field":"spec.size"}]},"code":422}"#
        let error = KubernetesClient.apiError(response(422, body), url: "u")
        #expect(error.isInvalid)
        #expect(error.status?.details?.causes?.first?.field == "spec.size")
        #expect(error.description.contains("[spec.size FieldValueInvalid Invalid value: 0]"))
    }

    @Test func plainTextBodyIsSynthesized() {
        let error = KubernetesClient.apiError(response(404, "404 page not found\n"), url: "https://h/apis/nope/v1")
        #expect(error.isNotFound)
        #expect(error.status?.message == "404 page not found")
        #expect(error.status?.reason == "NotFound")
        let conflict = KubernetesClient.apiError(response(409, #"{"kind":"Status","reason":"Conflict","code":409,"message":"the object has been modified"}"#), url: "u")
        #expect(conflict.isConflict)
        let exists = KubernetesClient.apiError(response(409, #"{"kind":"Status","reason":"AlreadyExists","code":409}"#), url: "u")
        #expect(exists.isAlreadyExists)
        #expect(!exists.isConflict)
        let gone = KubernetesClient.apiError(response(410, ""), url: "u")
        #expect(gone.isGone)
        #expect(gone.status?.message == "HTTP 410")
    }

    @Test func retryPolicy() {
        let retryAfter = [HTTPHeader(name: "retry-after", value: "2")]
        #expect(KubernetesClient.retryDelay(response(429, "", headers: retryAfter), method: "POST") == 2)
        #expect(KubernetesClient.retryDelay(response(429, ""), method: "GET") == 1)
        #expect(KubernetesClient.retryDelay(response(503, "", headers: retryAfter), method: "GET") == 2)
        #expect(KubernetesClient.retryDelay(response(503, "", headers: retryAfter), method: "POST") == nil)
        #expect(KubernetesClient.retryDelay(response(503, ""), method: "GET") == nil)
        #expect(KubernetesClient.retryDelay(response(409, "", headers: retryAfter), method: "PUT") == nil)
    }

    /// Issue 13 item 1: `Retry-After: nan` trapped in `Duration.seconds` (SIGILL in agent and controller).
    @Test func retryDelayIsAlwaysFiniteAndBounded() {
        func delay(_ status: Int, _ value: String, _ method: String = "GET") -> Double? {
            KubernetesClient.retryDelay(response(status, "", headers: [HTTPHeader(name: "retry-after", value: value)]),
                                        method: method, now: 784_111_777)
        }
        // A 429 always retries: an unusable value falls back to 1 s, a huge one is capped at 60 s.
        for bad in ["nan", "NaN", "inf", "-inf", "-1", "1e400", "1e3", "+5", "", "soon", "0x10", " . "] {
            #expect(delay(429, bad) == 1, "Retry-After: \(bad)")
            // A 5xx only retries with a usable Retry-After.
            #expect(delay(503, bad) == nil, "Retry-After: \(bad)")
        }
        #expect(delay(429, "12345678901234567890") == 60)
        #expect(delay(429, "00000000000000000007") == 7)
        #expect(delay(503, "Sun, 06 Nov 1994 08:50:07 GMT") == 30)
        #expect(delay(503, "Sun, 06 Nov 1994 08:50:07 GMT", "POST") == nil)
    }

    @Test(arguments: [
        ("0", 0.0), ("2", 2), (" 7 ", 7), ("1.5", 1.5), ("59", 59), ("60", 60), ("61", 60), ("3600", 60),
        ("99999999999999999999", 60), (String(repeating: "9", count: 400), 60),
        // HTTP-dates relative to now = Sun, 06 Nov 1994 08:49:37 GMT (784111777).
        ("Sun, 06 Nov 1994 08:49:47 GMT", 10),       // IMF-fixdate
        ("Sunday, 06-Nov-94 08:49:57 GMT", 20),      // obsolete RFC 850 form
        ("Sun Nov  6 08:50:02 1994", 25),            // asctime form
        ("Sun, 06 Nov 1994 08:49:37 GMT", 0),        // now
        ("Sat, 05 Nov 1994 08:49:37 GMT", 0),        // in the past: at once
        ("Mon, 07 Nov 1994 08:49:37 GMT", 60),       // a day ahead: capped
        ("Fri, 31 Dec 9999 23:59:59 GMT", 60),
    ] as [(String, Double)])
    func retryAfterForms(value: String, seconds: Double) {
        #expect(RetryAfter.seconds(value, now: 784_111_777) == seconds)
    }

    @Test(arguments: ["nan", "-nan", "inf", "infinity", "-1", "-0", "1e400", "1E2", "+1", "1.", ".5", "1.2.3", "0x1p3", "1 2",
                      "", "   ", "tomorrow",
                      "Sun, 32 Nov 1994 08:49:37 GMT", String(repeating: "a", count: 10_000)])
    func retryAfterRejectsEverythingElse(value: String) {
        #expect(RetryAfter.seconds(value, now: 784_111_777) == nil)
    }
}

@Suite struct WatchDecoderTests {
    static let stream = """
    {"type":"ADDED","object":{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w","resourceVersion":"309"},"spec":{"color":"red","size":1}}}
    {"type":"MODIFIED","object":{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w","resourceVersion":"310"},"spec":{"color":"red","size":2}}}
    {"type":"BOOKMARK","object":{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"resourceVersion":"311"}}}
    {"type":"DELETED","object":{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w","resourceVersion":"312"},"spec":{"color":"red","size":2}}}
    {"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (204)","reason":"Expired","code":410}}

    """

    @Test func decodesAcrossArbitraryChunkBoundaries() throws {
        let bytes = Data(Self.stream.utf8)
        for chunkSize in [1, 7, 64, 200, bytes.count] {
            var decoder = WatchLineDecoder<Widget>()
            var events: [WatchEvent<Widget>] = []
            var offset = 0
            while offset < bytes.count {
                let end = min(offset + chunkSize, bytes.count)
                try decoder.feed(bytes.subdata(in: offset..<end)) { events.append($0) }
                offset = end
            }
            try decoder.finish { events.append($0) }
            #expect(events.map(\.type) == [.added, .modified, .bookmark, .deleted, .error], "chunk size \(chunkSize)")
            #expect(events.map(\.resourceVersion) == ["309", "310", "311", "312", nil])
            #expect(events[1].object?.spec?.size == 2)
            if case .error(let status) = events[4] { #expect(status.code == 410) } else { Issue.record("last event is not ERROR") }
        }
    }

    @Test func unterminatedLastLineIsDecodedAtFinish() throws {
        var decoder = WatchLineDecoder<Widget>()
        let text = #"{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"5"}}}"#
        var events: [WatchEvent<Widget>] = []
        try decoder.feed(Data(text.utf8)) { events.append($0) }
        #expect(events.isEmpty)
        try decoder.finish { events.append($0) }
        #expect(events.first?.resourceVersion == "5")
    }

    @Test func garbageLineNamesTheStreamAndEvent() throws {
        var decoder = WatchLineDecoder<Widget>(source: "https://h/w?watch=1")
        let error = #expect(throws: KubeClientError.self) {
            _ = try decoder.decodeAll(Data((#"{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"1"}}}"# + "\nnot json\n").utf8))
        }
        let text = try #require(error).description
        #expect(text.contains("https://h/w?watch=1"))
        #expect(text.contains("watch event 2"))
    }
}

@Suite struct CredentialUnitTests {
    @Test func tokenFileRotationIsPickedUp() throws {
        let dir = try makeTempDir("kubeclient-test")
        defer { removeTestFiles(dir) }
        let path = dir + "/token"
        try write("first\n", to: path)
        let auth = Authenticator(configuration: ClientConfiguration(server: "https://a", tokenFile: path))
        #expect(try auth.readTokenFile(path) == "first")
        // Rotate the way kubelet does: write a new file and rename it over the old one.
        try write("second", to: dir + "/token.new")
        #expect(rename(dir + "/token.new", path) == 0)
        #expect(try auth.readTokenFile(path) == "second")
        // A file that is briefly missing (the kubelet swapping it) keeps the last good token.
        try FileManager.default.removeItem(atPath: path)
        #expect(try auth.readTokenFile(path) == "second")
        // With no good token read before, a missing file is an error that names it.
        let fresh = Authenticator(configuration: ClientConfiguration(server: "https://a", tokenFile: path))
        let error = #expect(throws: KubeClientError.self) { try fresh.readTokenFile(path) }
        #expect(error?.description.contains(path) == true)
    }

    @Test func execCredentialParsing() throws {
        let exec = ExecConfiguration(command: "/bin/plugin")
        let ok = ExecRunner.parse(Data(#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t1","expirationTimestamp":"2030-01-01T00:00:00Z"}}"#.utf8), exec: exec)
        let credential = try ok.get()
        #expect(credential.token == "t1")
        #expect(credential.expiration == KubeTime.parse("2030-01-01T00:00:00Z"))
        let bad = ExecRunner.parse(Data("hello".utf8), exec: exec)
        #expect(throws: KubeClientError.self) { try bad.get() }
        let empty = ExecRunner.parse(Data(#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{}}"#.utf8), exec: exec)
        #expect(throws: KubeClientError.self) { try empty.get() }
        let info = ExecCredentialProvider.execInfo(exec: ExecConfiguration(command: "x", provideClusterInfo: true),
                                                   configuration: ClientConfiguration(server: "https://s:1", certificateAuthority: .data([65])))
        let json = try JSONValue.parse(info)
        #expect(json[path: ["spec", "cluster", "server"]] == "https://s:1")
        #expect(json[path: ["spec", "cluster", "certificate-authority-data"]] == "QQ==")
        #expect(json["kind"] == "ExecCredential")
    }

    @Test func rateLimiterSpacesRequestsAfterBurst() async throws {
        let limiter = RateLimiter(qps: 20, burst: 2)
        let (_, seconds) = try await elapsed {
            for _ in 0..<6 { try await limiter.acquire() }
        }
        // 2 immediately, 4 more at 20/s: about 0.2 s
        #expect(seconds >= 0.17)
        #expect(seconds < 15)
    }
}

@Suite struct TimeoutClassificationTests {
    @Test(arguments: [
        // detail, connected, handshaken, elapsed, request timeout, idle timeout → limit
        ("Operation too slow. Less than 1 bytes/sec transferred the last 90 seconds", true, true, 95.0, 150.0, 90.0, TimeoutLimit.idle),
        ("Operation timed out after 30001 milliseconds with 0 bytes received", true, true, 30.0, 30.0, 0.0, .request),
        ("Operation timed out after 30001 milliseconds with 0 bytes received", false, false, 30.0, 30.0, 0.0, .request),
        ("Connection timed out after 10001 milliseconds", false, false, 10.0, 30.0, 0.0, .connect),
        ("SSL connection timeout", true, false, 10.0, 30.0, 0.0, .tlsHandshake),
        ("SSL connection timeout", false, false, 10.0, 30.0, 0.0, .tlsHandshake),  // libcurl 7.88: no connect time yet
    ] as [(String, Bool, Bool, Double, Double, Double, TimeoutLimit)])
    func timeoutLimitClassification(detail: String, connected: Bool, handshaken: Bool, elapsed: Double,
                                    timeout: Double, idle: Double, expected: TimeoutLimit) {
        var request = HTTPRequest(method: "GET", url: "https://127.0.0.1:1/")
        request.timeout = timeout
        request.idleTimeout = idle
        #expect(CurlTransfer.timeoutLimit(detail: detail, connected: connected, handshaken: handshaken, elapsed: elapsed,
                                          request: request, connectTimeout: 10) == expected)
        // The same expiry on a watch is its deadline (timeoutSeconds + grace), named as such.
        request.timeoutIsWatchDeadline = true
        #expect(CurlTransfer.timeoutLimit(detail: detail, connected: connected, handshaken: handshaken, elapsed: elapsed,
                                          request: request, connectTimeout: 10) == (expected == .request ? .watchDeadline : expected))
    }

    @Test func aWatchDeadlineNamesTimeoutSecondsNotAWholeRequestTimeout() {
        let text = KubeClientError.timedOut(url: "https://k/apis/x?watch=true", seconds: 13, limit: .watchDeadline, elapsed: 13).description
        #expect(text == "watch 'https://k/apis/x?watch=true' did not end within 13 s (its timeoutSeconds plus 3 s): the server "
                + "never closed it, so the connection is taken for dead, gave up after 13 s", "\(text)")
    }
}
