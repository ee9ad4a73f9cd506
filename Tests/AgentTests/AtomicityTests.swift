import Foundation
import MappingFile
import Synchronization
import Testing
import TestSupport

@testable import Agent

/// A reader parsing the mapping file in a tight loop while the writer replaces it thousands of
/// times never sees a partial or unparsable file.
@Suite struct AtomicityTests {
    @Test func readerNeverSeesAPartialFile() throws {
        let dir = try makeTempDir("amatomic", inMemory: true)
        defer { removeTestFiles(dir) }
        let path = "\(dir)/mapping.json"
        func mapping(_ generation: Int64) -> NodeNetworkMapping {
            // Sizes vary so that a torn read would show.
            var networks: [String: NetworkMapping] = [:]
            for i in 0..<Int(generation % 17 + 1) {
                networks["net\(i)"] = NetworkMapping(device: "eth\(i)", map: "net\(i)", mac: "aa:bb:cc:dd:ee:\(String(format: "%02x", i))")
            }
            return NodeNetworkMapping(node: "n1", generation: generation, updatedAt: "2026-11-28T22:00:00Z", networks: networks)
        }
        try MappingFile.write(mapping(1), to: path)
        let stop = Atomic<Bool>(false)
        let reads = Atomic<Int>(0)
        let failures = Mutex<[String]>([])
        let lastGeneration = Atomic<Int64>(0)
        let reader = Thread {
            while !stop.load(ordering: .acquiring) {
                do {
                    let m = try MappingFile.read(path: path)
                    guard m.networks.count == Int(m.generation % 17 + 1) else {
                        failures.withLock { $0.append("generation \(m.generation) has \(m.networks.count) networks") }
                        continue
                    }
                    if m.generation < lastGeneration.load(ordering: .relaxed) {
                        failures.withLock { $0.append("generation went back to \(m.generation)") }
                    }
                    lastGeneration.store(m.generation, ordering: .relaxed)
                    reads.wrappingAdd(1, ordering: .relaxed)
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        reader.start()
        for g in Int64(2)...2001 {
            try MappingFile.write(mapping(g), to: path)
        }
        stop.store(true, ordering: .releasing)
        while !reader.isFinished { usleep(1000) }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0.prefix(5) })")
        #expect(reads.load(ordering: .relaxed) > 100)
        #expect(try MappingFile.read(path: path).generation == 2001)
        // No temporary files are left behind.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0 != "mapping.json" }
        #expect(leftovers.isEmpty)
    }
}
