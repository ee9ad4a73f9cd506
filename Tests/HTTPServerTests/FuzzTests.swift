import Foundation
import Testing

@testable import HTTPServer
import TestSupport

let seedRequests = [
    "GET /api/v1/namespaces?watch=1&resourceVersion=5 HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\n\r\n",
    "POST /apis/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
    "PUT /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "GET / HTTP/1.0\r\n\r\n",
]

/// Mutates a request: flips, inserts, deletes and duplicates bytes.
func mutate(_ bytes: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
    var out = bytes
    for _ in 0..<Int.random(in: 1...6, using: &rng) {
        guard !out.isEmpty else { break }
        let i = Int.random(in: 0..<out.count, using: &rng)
        switch Int.random(in: 0..<5, using: &rng) {
        case 0: out[i] = UInt8.random(in: 0...255, using: &rng)
        case 1: out.insert(UInt8.random(in: 0...255, using: &rng), at: i)
        case 2: out.remove(at: i)
        case 3: out.insert(contentsOf: out[i..<min(out.count, i + 8)], at: i)
        default: out[i] = [UInt8(ascii: "\r"), UInt8(ascii: "\n"), UInt8(ascii: ":"), UInt8(ascii: " "), UInt8(ascii: "%")][i % 5]
        }
    }
    return out
}

@Suite struct FuzzTests {
    /// The sans-I/O parser never crashes and either parses or names a 4xx/5xx problem.
    @Test func parserSurvivesMutatedRequests() {
        var rng = SplitMix64(state: 0xA070_3A61)
        var parsed = 0, rejected = 0
        for round in 0..<5000 {
            let input = mutate(Array(seedRequests[round % seedRequests.count].utf8), &rng)
            let slice = input[...]
            let start = RequestParser.leadingNewlines(slice)
            guard let end = RequestParser.headEnd(slice[(slice.startIndex + start)...]) else { continue }
            do {
                let head = try RequestParser.parseHead(input[(start)..<end], maxHeaderCount: 50)
                switch try RequestParser.framing(of: head, maxBodyBytes: 1000) {
                case .chunked:
                    var decoder = ChunkedDecoder(maxBodyBytes: 1000)
                    var position = end
                    var body: [UInt8] = []
                    try decoder.feed(input, position: &position, body: &body)
                    #expect(position <= input.count)
                case .length(let n):
                    #expect(n > 0 && n <= 1000)
                case .none:
                    break
                }
                _ = HTTPRequest(method: head.method, target: head.target, headers: head.headers)
                parsed += 1
            } catch {
                #expect((400...505).contains(error.status))
                rejected += 1
            }
        }
        #expect(parsed > 100)
        #expect(rejected > 100)
    }

    /// Mutated requests over real sockets never take the server down: it still answers afterwards.
    @Test func serverSurvivesMutatedRequests() throws {
        let limits = HTTPLimits(headerTimeout: .milliseconds(200), readTimeout: .milliseconds(200), idleTimeout: .milliseconds(200))
        try withServer(limits: limits, handler: echoHandler) { port in
            var rng = SplitMix64(state: 0x5EED)
            for round in 0..<100 {
                let client = try RawClient(port: port)
                let input = mutate(Array(seedRequests[round % seedRequests.count].utf8), &rng)
                do { try client.send(input) } catch { continue }  // the server may have closed already
                #expect(try client.readToEnd(timeout: 5))
                let text = client.receivedText
                #expect(text.isEmpty || text.hasPrefix("HTTP/1.1 "), "\(text.prefix(80))")
            }
            let out = try curl(["http://127.0.0.1:\(port)/still-alive"])
            #expect(out.stdout.hasPrefix("GET /still-alive\n"))
        }
    }
}
