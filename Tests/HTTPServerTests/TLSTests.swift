import Foundation
import Glibc
import Synchronization
import Testing
import TestSupport

@testable import HTTPServer
import HTTPServerTLS

@Suite struct TLSTests {
    @Test func curlVerifiesTheServerWithTheCA() throws {
        let pki = try TestPKI.shared.get()
        let dir = try TempDir()
        defer { dir.cleanup() }
        let caFile = try dir.write("ca.crt", pki.ca.certificatePEM)
        let otherCA = try CertificateAuthority.generate(commonName: "someone-else")
        let otherFile = try dir.write("other.crt", otherCA.certificatePEM)
        try withServer(tls: pki.tls, handler: echoHandler) { port in
            let ok = try curl(["--cacert", caFile, "https://127.0.0.1:\(port)/secure?x=1"])
            #expect(ok.status == 0, "\(ok.stderr)")
            #expect(ok.stdout == "GET /secure\nq x=1\nbody \n")
            let byName = try curl(["--cacert", caFile, "--resolve", "localhost:\(port):127.0.0.1", "https://localhost:\(port)/n"])
            #expect(byName.status == 0, "\(byName.stderr)")
            let wrong = try curl(["--cacert", otherFile, "https://127.0.0.1:\(port)/"])
            #expect(wrong.status == 60, "expected a verification failure, got \(wrong.status): \(wrong.stderr)")
            #expect(wrong.stdout.isEmpty)
        }
    }

    @Test func alpnNegotiatesHTTP11() throws {
        let pki = try TestPKI.shared.get()
        let dir = try TempDir()
        defer { dir.cleanup() }
        let caFile = try dir.write("ca.crt", pki.ca.certificatePEM)
        try withServer(tls: pki.tls, handler: echoHandler) { port in
            let out = try curl(["-v", "--http2", "--cacert", caFile, "https://127.0.0.1:\(port)/alpn"])
            #expect(out.status == 0, "\(out.stderr)")
            #expect(out.stderr.contains("ALPN") && out.stderr.contains("http/1.1"))
            #expect(out.stdout.hasPrefix("GET /alpn\n"))
        }
    }

    @Test func clientCertificateIdentityReachesTheHandler() throws {
        let pki = try TestPKI.shared.get()
        let dir = try TempDir()
        defer { dir.cleanup() }
        let caFile = try dir.write("ca.crt", pki.ca.certificatePEM)
        let certFile = try dir.write("alice.crt", pki.alice.certificatePEM)
        let keyFile = try dir.write("alice.key", pki.alice.privateKeyPEM)
        let stranger = try CertificateAuthority.generate(commonName: "stranger-ca")
            .issue(commonName: "mallory", organizations: ["system:masters"], usage: .client)
        let strangerCert = try dir.write("mallory.crt", stranger.certificatePEM)
        let strangerKey = try dir.write("mallory.key", stranger.privateKeyPEM)
        try withServer(tls: pki.tls, handler: echoHandler) { port in
            let withCert = try curl(["--cacert", caFile, "--cert", certFile, "--key", keyFile, "https://127.0.0.1:\(port)/me"])
            #expect(withCert.status == 0, "\(withCert.stderr)")
            #expect(withCert.stdout.contains("peer alice [devs,system:masters]\n"))
            let anonymous = try curl(["--cacert", caFile, "https://127.0.0.1:\(port)/me"])
            #expect(anonymous.status == 0, "\(anonymous.stderr)")
            #expect(!anonymous.stdout.contains("peer"))
            // A certificate from an unknown CA is rejected during the handshake, never trusted.
            let forged = try curl(["--cacert", caFile, "--cert", strangerCert, "--key", strangerKey, "https://127.0.0.1:\(port)/me"])
            #expect(forged.status != 0)
            #expect(!forged.stdout.contains("mallory"))
        }
    }

    @Test func tlsKeepAliveReusesOneConnection() throws {
        let pki = try TestPKI.shared.get()
        let dir = try TempDir()
        defer { dir.cleanup() }
        let caFile = try dir.write("ca.crt", pki.ca.certificatePEM)
        let remotes = Recorder<String>()
        try withServer(tls: pki.tls, handler: { request, writer in
            remotes.append(request.remoteAddress)
            #expect(request.isTLS)
            writer.respond(status: 200, text: "ok")
        }) { port in
            let urls = (0..<1000).map { "https://127.0.0.1:\(port)/r\($0)" }
            let start = Date()
            let out = try curl(["--cacert", caFile] + urls)
            let elapsed = Date().timeIntervalSince(start)
            #expect(out.status == 0, "\(out.stderr)")
            #expect(out.stdout == String(repeating: "ok", count: 1000))
            #expect(remotes.all.count == 1000)
            #expect(elapsed < 15, "1000 GETs took \(elapsed) s")
            print("1000 TLS GETs on one connection: \(elapsed) s")
            #expect(Set(remotes.all).count == 1)
        }
    }

    @Test func tlsStreamingAndBodies() throws {
        let pki = try TestPKI.shared.get()
        let dir = try TempDir()
        defer { dir.cleanup() }
        let caFile = try dir.write("ca.crt", pki.ca.certificatePEM)
        try withServer(tls: pki.tls, handler: { request, writer in
            writer.writeHead(status: 200, headers: ["Content-Type": "text/plain"])
            for i in 0..<5 { writer.writeBody(Array("line \(i) \(request.body.count)\n".utf8)) }
            writer.finish()
        }) { port in
            let body = String(repeating: "b", count: 200_000)
            let out = try curl(["--cacert", caFile, "--data-binary", "@-", "https://127.0.0.1:\(port)/s"], stdin: Array(body.utf8))
            #expect(out.status == 0, "\(out.stderr)")
            #expect(out.stdout == (0..<5).map { "line \($0) 200000\n" }.joined())
        }
    }

    @Test func plainClientOnTLSPortAndHandshakeGarbageAreHandled() throws {
        let pki = try TestPKI.shared.get()
        let limits = HTTPLimits(handshakeTimeout: .milliseconds(300))
        try withServer(tls: pki.tls, limits: limits, handler: echoHandler) { port in
            let client = try RawClient(port: port)
            try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.readToEnd(timeout: 5))
            #expect(!client.receivedText.contains("200 OK"))
            let silent = try RawClient(port: port)
            let start = Date()
            #expect(try silent.readToEnd(timeout: 5))
            #expect(Date().timeIntervalSince(start) < 3)
        }
    }

    @Test func badTLSMaterialIsReported() throws {
        let pki = try TestPKI.shared.get()
        let other = try CertificateAuthority.generate(commonName: "other").issue(commonName: "x", usage: .server)
        let cases = [
            TLSConfiguration(certificateChainPEM: "not a pem", privateKeyPEM: pki.server.privateKeyPEM),
            TLSConfiguration(certificateChainPEM: pki.server.certificatePEM, privateKeyPEM: "nope"),
            TLSConfiguration(certificateChainPEM: pki.server.certificatePEM, privateKeyPEM: other.privateKeyPEM),
            TLSConfiguration(certificateChainPEM: pki.server.certificatePEM, privateKeyPEM: pki.server.privateKeyPEM, clientCAPEM: "junk"),
        ]
        for config in cases {
            let server = HTTPServer(security: config, handler: echoHandler)
            #expect {
                try server.start()
            } throws: { error in
                guard case .tlsConfiguration(let cause) = error as? HTTPServerError else { return false }
                return !cause.isEmpty
            }
        }
    }

    @Test func certificateAuthorityRejectsBadInput() throws {
        #expect(throws: HTTPServerError.self) { try CertificateAuthority.generate(commonName: "") }
        let ca = try CertificateAuthority.generate(commonName: "ca")
        #expect(throws: HTTPServerError.self) { try ca.issue(commonName: "x", ipAddresses: ["300.1.1.1"], usage: .server) }
        #expect(throws: HTTPServerError.self) { try ca.issue(commonName: "x", dnsNames: ["a,IP:1.2.3.4"], usage: .server) }
        #expect(throws: HTTPServerError.self) { try ca.issue(commonName: "bad\nname", usage: .client) }
        let broken = CertificateAuthority(certificatePEM: ca.certificatePEM, privateKeyPEM: "garbage")
        #expect(throws: HTTPServerError.self) { try broken.issue(commonName: "x", usage: .client) }
        let both = try ca.issue(commonName: "node", dnsNames: ["node.local"], ipAddresses: ["10.0.0.1", "fd00::1"], usage: .serverAndClient)
        #expect(both.certificatePEM.hasPrefix("-----BEGIN CERTIFICATE-----"))
        #expect(both.privateKeyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----"))
    }

    @Test func issuedCertificatesHaveTheRequestedContents() throws {
        let pki = try TestPKI.shared.get()
        let dir = try TempDir()
        defer { dir.cleanup() }
        let serverFile = try dir.write("server.crt", pki.server.certificatePEM)
        let aliceFile = try dir.write("alice.crt", pki.alice.certificatePEM)
        let caFile = try dir.write("ca.crt", pki.ca.certificatePEM)
        let server = try run("/usr/bin/openssl", ["x509", "-in", serverFile, "-noout", "-text"])
        #expect(server.status == 0, "\(server.stderr)")
        #expect(server.stdout.contains("DNS:localhost"))
        #expect(server.stdout.contains("IP Address:127.0.0.1"))
        #expect(server.stdout.contains("IP Address:0:0:0:0:0:0:0:1"))
        #expect(server.stdout.contains("TLS Web Server Authentication"))
        #expect(server.stdout.contains("CA:FALSE"))
        let alice = try run("/usr/bin/openssl", ["x509", "-in", aliceFile, "-noout", "-subject", "-ext", "extendedKeyUsage"])
        #expect(alice.stdout.contains("O = devs, O = system:masters, CN = alice"), "\(alice.stdout)")
        #expect(alice.stdout.contains("TLS Web Client Authentication"))
        let verify = try run("/usr/bin/openssl", ["verify", "-CAfile", caFile, serverFile, aliceFile])
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
        let ca = try run("/usr/bin/openssl", ["x509", "-in", caFile, "-noout", "-text"])
        #expect(ca.stdout.contains("CA:TRUE"))
        #expect(ca.stdout.contains("Certificate Sign"))
    }
}
