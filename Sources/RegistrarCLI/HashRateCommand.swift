import ArgumentParser
import Foundation
import NIOCore
import Registrar

/// `registrar hash-rate`: how many argon2id hashes per second the worker pool reaches with these
/// parameters on this machine — the ceiling on registrations per second.
struct HashRateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hash-rate", abstract: "Measure argon2id hashes per second on the worker pool.")
    @OptionGroup var argon2: Argon2Options
    @Option(name: .customLong("worker-threads"), help: "Threads (default: cores).") var threads: Int?
    @Option(help: "Seconds to measure.") var seconds: Int = 5

    func run() async throws {
        let threads = try positive(threads, "worker-threads", "REGISTRAR_WORKER_THREADS", default: System.coreCount)
        guard (1...120).contains(seconds) else { throw CLIError("--seconds must be from 1 to 120") }
        // Twice as many submitters as threads keep the pool's queue non-empty, as a flood does.
        let hasher = Argon2Hasher(parameters: try argon2.parameters(), threads: threads, queueLimit: threads * 2)
        let deadline = ContinuousClock.now.advanced(by: .seconds(seconds))
        let start = ContinuousClock.now
        let count = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<(threads * 2) {
                group.addTask {
                    var done = 0
                    while ContinuousClock.now < deadline {
                        _ = try await hasher.hash(SecretGenerator.registrationAccessToken())
                        done += 1
                    }
                    return done
                }
            }
            return try await group.reduce(0, +)
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        try await hasher.shutdown()
        print(String(format: "%.1f", Double(count) / seconds))
    }
}
