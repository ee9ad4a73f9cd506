import Testing

@testable import HTTPServer

@Suite struct ParserTests {
    func head(_ text: String) throws(ProtocolViolation) -> RequestHead {
        let bytes = Array(text.utf8)
        return try RequestParser.parseHead(bytes[...], maxHeaderCount: 100)
    }

    @Test func parsesRequestLineAndFields() throws {
        let h = try head("GET /api?x=1 HTTP/1.1\r\nHost: a\r\nAccept:  application/json \r\nX-Multi: 1\r\nx-multi: 2\r\n\r\n")
        #expect(h.method == "GET")
        #expect(h.target == "/api?x=1")
        #expect(h.minorVersion == 1)
        #expect(h.headers["accept"] == "application/json")
        #expect(h.headers.values(for: "X-MULTI") == ["1", "2"])
        #expect(h.wantsKeepAlive)
        let old = try head("GET / HTTP/1.0\nConnection: Keep-Alive\n\n")  // bare LF accepted
        #expect(old.minorVersion == 0)
        #expect(old.wantsKeepAlive)
        #expect(try !head("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n").wantsKeepAlive)
    }

    @Test func findsTheEndOfTheHead() {
        #expect(RequestParser.headEnd(Array("GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY".utf8)[...]) == 27)
        #expect(RequestParser.headEnd(Array("GET / HTTP/1.1\nHost: a\n\nBODY".utf8)[...]) == 24)
        #expect(RequestParser.headEnd(Array("GET / HTTP/1.1\r\nHost: a\r\n".utf8)[...]) == nil)
        #expect(RequestParser.leadingNewlines(Array("\r\n\r\nGET".utf8)[...]) == 4)
    }

    @Test func framingRules() throws {
        func framing(_ fields: String, max: Int = 100) throws(ProtocolViolation) -> BodyFraming {
            try RequestParser.framing(of: try head("POST / HTTP/1.1\r\nHost: a\r\n\(fields)\r\n"), maxBodyBytes: max)
        }
        #expect(try framing("") == .none)
        #expect(try framing("Content-Length: 0\r\n") == .none)
        #expect(try framing("Content-Length: 10\r\n") == .length(10))
        #expect(try framing("Content-Length: 10, 10\r\n") == .length(10))
        #expect(try framing("Transfer-Encoding: Chunked\r\n") == .chunked)
        #expect(throws: ProtocolViolation(status: 413, message: "request body too large: 101 bytes (limit 100 bytes)")) {
            try framing("Content-Length: 101\r\n")
        }
        #expect(throws: ProtocolViolation.self) { try framing("Content-Length: 99999999999999999999999\r\n") }
        #expect(throws: ProtocolViolation.self) { try framing("Content-Length: 1e3\r\n") }
        #expect(throws: ProtocolViolation.self) { try framing("Transfer-Encoding: gzip, chunked\r\n") }
    }

    @Test func chunkedDecoderHandlesSplitsExtensionsAndTrailers() throws {
        let wire = Array("5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nTrailer: x\r\n\r\nNEXT".utf8)
        // Feed one byte at a time to exercise every split point.
        var decoder = ChunkedDecoder(maxBodyBytes: 100)
        var buffer: [UInt8] = []
        var position = 0
        var body: [UInt8] = []
        for byte in wire where !decoder.isDone {
            buffer.append(byte)
            try decoder.feed(buffer, position: &position, body: &body)
        }
        #expect(decoder.isDone)
        #expect(String(decoding: body, as: UTF8.self) == "hello world")
        #expect(position == wire.count - 4)

        var small = ChunkedDecoder(maxBodyBytes: 4)
        var p = 0
        var b: [UInt8] = []
        #expect(throws: ProtocolViolation.self) { try small.feed(Array("5\r\nhello\r\n".utf8), position: &p, body: &b) }
        var bad = ChunkedDecoder(maxBodyBytes: 100)
        p = 0
        #expect(throws: ProtocolViolation.self) { try bad.feed(Array("2\r\nabX".utf8), position: &p, body: &b) }
    }

    @Test func percentDecodingAndTargets() throws {
        #expect(percentDecode("a%2Fb+c", plusAsSpace: false) == "a/b+c")
        #expect(percentDecode("a%2Fb+c", plusAsSpace: true) == "a/b c")
        #expect(percentDecode("%E2%9C%93", plusAsSpace: false) == "✓")
        #expect(percentDecode("%", plusAsSpace: false) == nil)
        #expect(percentDecode("%G0", plusAsSpace: false) == nil)
        #expect(percentDecode("%FF", plusAsSpace: false) == nil)  // not UTF-8
        let absolute = try #require(ParsedTarget("http://example.com:80/x/y?q=1#frag"))
        #expect(absolute.path == "/x/y")
        #expect(absolute.query.map(\.value) == ["1"])
        #expect(try #require(ParsedTarget("http://example.com")).path == "/")
    }

    @Test func headersAreCaseInsensitiveAndOrdered() {
        var h: HTTPHeaders = ["Content-Type": "a", "X-A": "1"]
        h.add(name: "x-a", value: "2")
        h["CONTENT-TYPE"] = "b"
        #expect(h.fields.map(\.name) == ["CONTENT-TYPE", "X-A", "x-a"])
        h["x-A"] = "3"
        #expect(h.values(for: "X-a") == ["3"])
        h["content-type"] = nil
        #expect(!h.contains("Content-Type"))
        #expect(h == ["X-A": "3"])
        #expect(httpDate(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT")
    }
}
