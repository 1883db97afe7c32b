import CArgon2
import Foundation
import Synchronization
import Testing
@testable import Registrar

/// argon2id (RFC 9106) hashing of long-lived secrets, with small parameters so the tests are fast.
@Suite("Argon2Hasher")
struct Argon2HasherTests {
    static let small = Argon2Hasher.Parameters(memoryKiB: 256, iterations: 1, parallelism: 1)

    /// Runs `body` with a fresh hasher and always shuts its thread pool down.
    static func withHasher<T>(
        _ parameters: Argon2Hasher.Parameters = small, threads: Int = 1, queueLimit: Int = 8,
        _ body: (Argon2Hasher) async throws -> T
    ) async throws -> T {
        let hasher = Argon2Hasher(parameters: parameters, threads: threads, queueLimit: queueLimit)
        do {
            let result = try await body(hasher)
            try await hasher.shutdown()
            return result
        } catch {
            try? await hasher.shutdown()
            throw error
        }
    }

    @Test("RFC 9106 §4 / PHC: a hash is an argon2id v=19 PHC string with the configured parameters")
    func hashFormat() async throws {
        try await Self.withHasher { hasher in
            let encoded = try await hasher.hash("rcs_secret")
            #expect(encoded.hasPrefix("$argon2id$v=19$m=256,t=1,p=1$"))
            let fields = encoded.split(separator: "$", omittingEmptySubsequences: false)
            #expect(fields.count == 6)
            #expect(fields.count == 6 && fields[4].count == 22, "16-byte salt, unpadded base64")
            #expect(fields.count == 6 && fields[5].count == 43, "32-byte hash, unpadded base64")
            #expect(!encoded.contains("rcs_secret"))
            #expect(!hasher.needsRehash(encoded))
        }
    }

    @Test("Each hash has a fresh salt: the same secret hashes differently")
    func freshSalt() async throws {
        try await Self.withHasher { hasher in
            let first = try await hasher.hash("same secret")
            let second = try await hasher.hash("same secret")
            #expect(first != second)
            #expect(try await hasher.verify("same secret", against: first))
            #expect(try await hasher.verify("same secret", against: second))
        }
    }

    @Test("verify is true for the right secret and false for a wrong one")
    func verifyRightAndWrong() async throws {
        try await Self.withHasher { hasher in
            let encoded = try await hasher.hash("rat_correct-horse")
            #expect(try await hasher.verify("rat_correct-horse", against: encoded))
            #expect(try await !hasher.verify("rat_correct-horsE", against: encoded))
            #expect(try await !hasher.verify("rat_correct-horse ", against: encoded))
            #expect(try await !hasher.verify("", against: encoded))
        }
    }

    @Test("verify is false for anything that is not an argon2id PHC string")
    func verifyRefusesOtherFormats() async throws {
        try await Self.withHasher { hasher in
            let encoded = try await hasher.hash("secret")
            let others = [
                encoded.replacingOccurrences(of: "$argon2id$", with: "$argon2i$"),
                encoded.replacingOccurrences(of: "$argon2id$", with: "$argon2d$"),
                "secret",
                "",
                "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
                SecretGenerator.sha256Hex("secret"),
                "$argon2id$garbage",
                "$argon2id$v=19$m=256,t=1,p=1$",
            ]
            for other in others {
                #expect(try await !hasher.verify("secret", against: other), "\(other)")
            }
        }
    }

    @Test("A hash verifies with a hasher configured differently: the parameters travel in the PHC string")
    func verifyAcrossParameters() async throws {
        let encoded = try await Self.withHasher { try await $0.hash("secret") }
        try await Self.withHasher(.init(memoryKiB: 512, iterations: 2, parallelism: 1)) { (other) async throws in
            #expect(try await other.verify("secret", against: encoded))
            #expect(other.needsRehash(encoded))
        }
    }

    @Test("needsRehash is true for hashes made with other parameters", arguments: [
        ("$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA", false),
        ("$argon2id$v=19$m=512,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA", true),
        ("$argon2id$v=19$m=256,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA", true),
        ("$argon2id$v=19$m=256,t=1,p=2$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA", true),
        ("$argon2id$v=19$m=2560,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA", true),
        ("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA", true),
    ])
    func needsRehash(_ encoded: String, expected: Bool) async throws {
        try await Self.withHasher { hasher in
            #expect(hasher.needsRehash(encoded) == expected)
        }
    }

    @Test("The default parameters are the OWASP / ASVS minimum: m=19456, t=2, p=1")
    func defaultParameters() {
        #expect(Argon2Hasher.Parameters() == .init(memoryKiB: 19 * 1024, iterations: 2, parallelism: 1))
        #expect(Argon2Hasher.Parameters().phcSegment == "m=19456,t=2,p=1")
    }

    @Test("When threads + queueLimit hashes are in flight, further hashes fail at once with Overloaded")
    func overload() async throws {
        // Capacity 1: one slow hash holds the only slot; the other seven are refused, or at the
        // very least one of them is (a refusal only needs two hashes to overlap).
        let slow = Argon2Hasher.Parameters(memoryKiB: 65_536, iterations: 3, parallelism: 1)
        try await Self.withHasher(slow, threads: 1, queueLimit: 0) { (hasher) async throws in
            #expect(hasher.threads + hasher.queueLimit == 1)
            let outcomes = await withTaskGroup(of: String.self) { group in
                for index in 0..<8 {
                    group.addTask {
                        do {
                            _ = try await hasher.hash("secret \(index)")
                            return "hashed"
                        } catch is Argon2Hasher.Overloaded {
                            return "overloaded"
                        } catch {
                            return "error: \(error)"
                        }
                    }
                }
                var outcomes: [String] = []
                for await outcome in group { outcomes.append(outcome) }
                return outcomes
            }
            #expect(outcomes.count == 8)
            #expect(outcomes.filter { $0 == "overloaded" }.count >= 1, "\(outcomes)")
            #expect(outcomes.filter { $0 == "hashed" }.count >= 1, "\(outcomes)")
            #expect(outcomes.allSatisfy { $0 == "hashed" || $0 == "overloaded" }, "\(outcomes)")
            #expect(hasher.inFlightCount == 0, "every slot is released")
        }
    }

    @Test("A hash requested while the only slot is held is refused with Overloaded")
    func overloadWhileSlotHeld() async throws {
        try await Self.withHasher(threads: 1, queueLimit: 0) { (hasher) async throws in
            // The holder keeps the only slot until the second request has been answered, so the
            // test does not depend on how long a hash takes on a busy machine.
            let release = DispatchSemaphore(value: 0)
            let holder = Task { try await hasher.run { () -> String in
                release.wait()
                return "held"
            } }
            let deadline = ContinuousClock.now.advanced(by: .seconds(30))
            while hasher.inFlightCount == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(1)) }
            #expect(hasher.inFlightCount == 1, "the holder took the slot")
            await #expect(throws: Argon2Hasher.Overloaded.self) { try await hasher.hash("second") }
            release.signal()
            #expect(try await holder.value == "held")
            #expect(hasher.inFlightCount == 0, "every slot is released")
        }
    }
}

/// The pool's threads: their priority, their memory, and the tenants' shares of their queue.
@Suite("Argon2Hasher pool")
struct Argon2HasherPoolTests {
    @Test("Hashing threads run at nice 10, below the caller's threads (the event loops stay at 0)")
    func hashingThreadsAreNiced() async throws {
        let hasher = Argon2Hasher(parameters: Argon2HasherTests.small, threads: 2)
        let callerNice = registrar_thread_nice()
        var seen: [Int32: Int32] = [:]
        for _ in 0..<8 {
            let (tid, nice) = try await hasher.run { (registrar_thread_id(), registrar_thread_nice()) }
            seen[tid] = nice
        }
        try await hasher.shutdown()
        #expect(!seen.isEmpty)
        #expect(seen.values.allSatisfy { $0 == HashingPool.niceness }, "\(seen)")
        #expect(callerNice < HashingPool.niceness)
        #expect(registrar_thread_nice() == callerNice, "only the pool's own threads are lowered")
    }

    @Test("The kernel reports the pool thread's nice value in /proc/self/task/<tid>/stat")
    func niceVisibleToTheKernel() async throws {
        let hasher = Argon2Hasher(parameters: Argon2HasherTests.small, threads: 1)
        let stat = try await hasher.run { () -> String in
            (try? String(contentsOfFile: "/proc/self/task/\(registrar_thread_id())/stat", encoding: .utf8)) ?? ""
        }
        try await hasher.shutdown()
        // Fields after the parenthesised name: state is field 3, nice is field 19.
        let afterName = stat.split(separator: ")").last.map { $0.split(separator: " ") } ?? []
        #expect(afterName.count > 17)
        #expect(afterName.count > 17 && afterName[16] == "10", "\(stat)")
    }

    @Test("libargon2 hashes in the thread's reused region: after the first hash, no page faults per hash")
    func libargon2PaysNoPageFaults() async throws {
        // 4 MiB = 1,024 pages: a freshly mapped block would fault in every one of them.
        let parameters = Argon2Hasher.Parameters(memoryKiB: 4096, iterations: 1, parallelism: 1)
        let hasher = Argon2Hasher(parameters: parameters, threads: 1, implementation: .argon2)
        let (faults, region) = try await hasher.run { () throws -> (Int, Int) in
            let salt = [UInt8](repeating: 7, count: 16)
            _ = try Argon2Hasher.hashSync("warm up", salt: salt, parameters: parameters)
            let before = registrar_thread_minor_faults()
            for index in 0..<5 { _ = try Argon2Hasher.hashSync("secret \(index)", salt: salt, parameters: parameters) }
            return ((registrar_thread_minor_faults() - before) / 5, Argon2Hasher.threadRegionBytes)
        }
        // A bigger hash (a stored one with more memory) grows the region once.
        let bigger = Argon2Hasher.Parameters(memoryKiB: 8192, iterations: 1, parallelism: 2)
        let grown = try await hasher.run { () throws -> Int in
            _ = try Argon2Hasher.hashSync("bigger", salt: [UInt8](repeating: 1, count: 16), parameters: bigger)
            return Argon2Hasher.threadRegionBytes
        }
        try await hasher.shutdown()
        #expect(faults < 32, "minor faults per hash: \(faults)")
        #expect(region == 4096 * 1024)
        #expect(grown == 8192 * 1024)
    }

    @Test("A flood on tenant A leaves tenant B's hashes above 90 % success; A is refused")
    func floodOnOneTenantLeavesOthersTheirShare() async throws {
        let parameters = Argon2Hasher.Parameters(memoryKiB: 2048, iterations: 1, parallelism: 1)
        let hasher = Argon2Hasher(parameters: parameters, threads: 1, queueLimit: 8)
        #expect(hasher.tenantQueueLimit == 8, "by default a tenant alone may use the whole queue")
        let tenantA = UUID()
        let tenantB = UUID()
        let bDone = StopFlag()
        let flood = Task {
            await withTaskGroup(of: (Int, Int).self) { group in
                for _ in 0..<24 {
                    group.addTask {
                        var (hashed, refused) = (0, 0)
                        while !bDone.isSet {
                            do {
                                _ = try await hasher.hash("flood", tenant: tenantA)
                                hashed += 1
                            } catch {
                                refused += 1
                                try? await Task.sleep(for: .milliseconds(1))
                            }
                        }
                        return (hashed, refused)
                    }
                }
                return await group.reduce((0, 0)) { ($0.0 + $1.0, $0.1 + $1.1) }
            }
        }
        // Let the flood fill the pool first.
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        while hasher.inFlightCount < hasher.threads + hasher.tenantQueueLimit && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(1))
        }
        var (bHashed, bRefused) = (0, 0)
        for index in 0..<40 {
            do {
                let encoded = try await hasher.hash("b \(index)", tenant: tenantB)
                #expect(Argon2Hasher.verifySync("b \(index)", encoded: encoded))
                bHashed += 1
            } catch is Argon2Hasher.Overloaded {
                bRefused += 1
            }
        }
        bDone.set()
        let (aHashed, aRefused) = await flood.value
        try await hasher.shutdown()
        #expect(aRefused > 0, "A flooded the pool: hashed \(aHashed), refused \(aRefused)")
        #expect(Double(bHashed) / 40 > 0.9, "B hashed \(bHashed), refused \(bRefused)")
        #expect(hasher.inFlightCount == 0)
    }
}

/// Tells the flooding tasks to stop.
private final class StopFlag: Sendable {
    private let state = Mutex(false)
    var isSet: Bool { state.withLock { $0 } }
    func set() { state.withLock { $0 = true } }
}
