import ArgumentParser
import Foundation
import NIOCore
import Registrar

/// `registrar hash-rate`: how many argon2id hashes per second the worker pool reaches with these
/// parameters on this machine — the ceiling on registrations per second — and what each hash
/// costs the kernel (system time, page faults) and the process (peak resident memory).
struct HashRateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash-rate", abstract: "Measure argon2id hashes per second on the worker pool.",
        discussion: """
            Prints hashes/s on stdout, and on stderr: hashes/s, system CPU ms per hash, minor page faults \
            per hash, peak RSS MiB and RSS MiB at the end.
            """)
    @OptionGroup var argon2: Argon2Options
    @Option(name: .customLong("worker-threads"), help: "Threads (default: cores).") var threads: Int?
    @Option(help: "Seconds to measure.") var seconds: Int = 5
    @Option(help: "argon2id code: sodium (libsodium for p=1, the default) or argon2 (libargon2 only).")
    var implementation: Argon2Hasher.Implementation = .sodium

    func run() async throws {
        let threads = try positive(threads, "worker-threads", "REGISTRAR_WORKER_THREADS", default: System.coreCount)
        guard (1...120).contains(seconds) else { throw CLIError("--seconds must be from 1 to 120") }
        // Twice as many submitters as threads keep the pool's queue non-empty, as a flood does;
        // they all count as one tenant, whose share is the whole queue here.
        let hasher = Argon2Hasher(parameters: try argon2.parameters(), threads: threads, queueLimit: threads * 2,
                                  tenantQueueLimit: threads * 2, implementation: implementation)
        let before = ResourceUsage.now()
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
        let after = ResourceUsage.now()
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        try await hasher.shutdown()
        let hashes = Double(max(count, 1))
        // stdout keeps the one figure scripts read; the costs go to stderr.
        print(String(format: "%.1f", Double(count) / seconds))
        let costs = String(format: "%.1f hashes/s  %.2f ms sys/hash  %.0f faults/hash  %.1f MiB peak RSS  %.1f MiB RSS\n",
                           Double(count) / seconds, (after.systemSeconds - before.systemSeconds) * 1000 / hashes,
                           Double(after.minorFaults - before.minorFaults) / hashes, after.peakRSSMiB, after.rssMiB)
        FileHandle.standardError.write(Data(costs.utf8))
    }
}

extension Argon2Hasher.Implementation: ExpressibleByArgument {}

/// The process's own counters: getrusage for CPU time and faults, /proc for resident memory.
struct ResourceUsage {
    var systemSeconds: Double
    var minorFaults: Int
    var peakRSSMiB: Double
    var rssMiB: Double

    static func now() -> ResourceUsage {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        func mebibytes(_ key: String) -> Double {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }),
                  let kib = line.split(separator: " ").compactMap({ Double($0) }).first
            else { return 0 }
            return kib / 1024
        }
        return ResourceUsage(
            systemSeconds: Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6,
            minorFaults: usage.ru_minflt, peakRSSMiB: mebibytes("VmHWM"), rssMiB: mebibytes("VmRSS"))
    }
}
