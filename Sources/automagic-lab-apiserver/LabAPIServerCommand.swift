import ArgumentParser
import Foundation
import LabAPIServer
import Logging

/// `automagic-lab-apiserver`: an in-memory, Kubernetes-API-compatible HTTPS server for the lab and tests.
@main
struct LabAPIServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "automagic-lab-apiserver",
        abstract: "An in-memory, Kubernetes-compatible API server over HTTPS (for the lab and tests).")

    @Option(help: "TCP port to listen on (0 picks a free port).")
    var port: Int = 6443

    @Option(help: "Address to listen on.")
    var bindAddress: String = "127.0.0.1"

    @Option(help: "Directory for the CA, serving and admin certificates (created, or reused when present).")
    var certDir: String = "./lab-certs"

    @Option(help: "Write an admin kubeconfig (client certificate, group system:masters) here.")
    var kubeconfigOut: String?

    @Option(help: "Static bearer tokens: lines of token,user,uid,\"group1,group2\"[,key=value...] (extras, e.g. authentication.kubernetes.io/node-name=worker-1, shown by SelfSubjectReview).")
    var tokenFile: String?

    @Option(help: "Authorization rules (JSON array of {users,groups,verbs,apiGroups,resources,namespaces}) for users outside system:masters.")
    var policyFile: String?

    @Option(help: "Snapshot file: loaded at start, written atomically every few seconds and at exit.")
    var data: String?

    @Option(help: "Append every write (POST, PUT, PATCH, DELETE) to this file as a JSON line: user, User-Agent, times, status.")
    var auditLog: String?

    @Option(help: "Write the bound port to this file once listening.")
    var portFile: String?

    @Option(help: "Log level (trace, debug, info, notice, warning, error, critical).")
    var logLevel: String = "info"

    func run() throws {
        var logger = Logger(label: "automagic.lab-apiserver")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        var options = LabServerOptions()
        options.bindAddress = bindAddress
        options.port = port
        options.certDir = certDir
        options.kubeconfigPath = kubeconfigOut
        options.dataPath = data
        options.auditLogPath = auditLog
        options.logger = logger
        if let tokenFile { options.tokens = try LabServer.loadTokenFile(tokenFile) }
        if let policyFile { options.rules = try LabServer.loadPolicyFile(policyFile) }
        let server = try LabServer.start(options)
        if let portFile {
            try "\(server.port)\n".write(toFile: portFile, atomically: true, encoding: .utf8)
        }
        FileHandle.standardOutput.write(Data("automagic-lab-apiserver listening on \(server.url) (port \(server.port), kubeconfig: \(server.kubeconfigPath))\n".utf8))
        let stop = DispatchSemaphore(value: 0)
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let sources = [SIGINT, SIGTERM].map { sig -> any DispatchSourceSignal in
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { stop.signal() }
            s.resume()
            return s
        }
        stop.wait()
        _ = sources
        // A watchdog: the snapshot is written first thing in stop(); if closing connections then
        // takes too long (a stuck client), exit anyway rather than ignore the signal.
        let watchdog = Thread {
            Thread.sleep(forTimeInterval: 10)
            FileHandle.standardError.write(Data("automagic-lab-apiserver: connections did not close within 10 s; exiting\n".utf8))
            _exit(0)
        }
        watchdog.start()
        server.stop()
    }
}
