import CArgon2
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// argon2id (RFC 9106) for every long-lived secret, run on a dedicated thread pool so that the
/// event loops and Swift's cooperative pool never block on it.
///
/// The pool has a bounded queue: when `threads + queueLimit` hashes are already in flight, a new
/// request fails at once with `Argon2Hasher.Overloaded` (answered as 503 with `Retry-After`), so a
/// flood turns into fast refusals instead of growing latency for everyone.
public final class Argon2Hasher: Sendable {
    /// OWASP / ASVS 5.0 minimum for argon2id: m = 19 MiB, t = 2, p = 1.
    public struct Parameters: Sendable, Equatable {
        public var memoryKiB: UInt32
        public var iterations: UInt32
        public var parallelism: UInt32

        public init(memoryKiB: UInt32 = 19 * 1024, iterations: UInt32 = 2, parallelism: UInt32 = 1) {
            self.memoryKiB = memoryKiB
            self.iterations = iterations
            self.parallelism = parallelism
        }

        /// The PHC parameter segment these parameters produce, `m=19456,t=2,p=1`.
        var phcSegment: String { "m=\(memoryKiB),t=\(iterations),p=\(parallelism)" }
    }

    /// The pool is full; the caller should answer 503 with `Retry-After`.
    public struct Overloaded: Error {}

    public let parameters: Parameters
    public let threads: Int
    public let queueLimit: Int
    private let pool: NIOThreadPool
    private let inFlight = Mutex(0)
    static let saltLength = 16
    static let hashLength = 32

    public init(parameters: Parameters = .init(), threads: Int = System.coreCount, queueLimit: Int = 64) {
        #if os(Linux)
        // glibc raises its mmap threshold after the first large block is freed, after which each
        // argon2 block (19 MiB) is carved from an arena and kept; a fixed threshold hands every
        // block back to the system when its hash is done.
        mallopt(M_MMAP_THRESHOLD, 1 << 20)
        #endif
        self.parameters = parameters
        self.threads = max(1, threads)
        self.queueLimit = max(0, queueLimit)
        self.pool = NIOThreadPool(numberOfThreads: self.threads)
        self.pool.start()
    }

    /// Hashes being computed or waiting for a thread.
    public var inFlightCount: Int { inFlight.withLock { $0 } }

    /// A PHC string `$argon2id$v=19$m=…,t=…,p=…$salt$hash` with a fresh random salt.
    public func hash(_ secret: String) async throws -> String {
        let parameters = self.parameters
        return try await run {
            var salt = [UInt8](repeating: 0, count: Self.saltLength)
            var generator = SystemRandomNumberGenerator()
            for index in salt.indices { salt[index] = generator.next() }
            return try Self.hashSync(secret, salt: salt, parameters: parameters)
        }
    }

    /// Constant-time verification (libargon2 compares with `argon2_compare`).
    public func verify(_ secret: String, against encoded: String) async throws -> Bool {
        guard encoded.hasPrefix("$argon2id$") else { return false }
        return try await run { Self.verifySync(secret, encoded: encoded) }
    }

    /// Whether a stored hash was made with other parameters than the configured ones,
    /// so that a successful verify can store a fresh hash.
    public func needsRehash(_ encoded: String) -> Bool {
        !encoded.contains("$\(parameters.phcSegment)$")
    }

    private func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let capacity = threads + queueLimit
        let admitted = inFlight.withLock { count -> Bool in
            guard count < capacity else { return false }
            count += 1
            return true
        }
        guard admitted else { throw Overloaded() }
        defer { inFlight.withLock { $0 -= 1 } }
        return try await pool.runIfActive(body)
    }

    static func hashSync(_ secret: String, salt: [UInt8], parameters: Parameters) throws -> String {
        let password = Array(secret.utf8)
        let length = argon2_encodedlen(parameters.iterations, parameters.memoryKiB, parameters.parallelism,
                                       UInt32(salt.count), UInt32(hashLength), Argon2_id)
        var encoded = [CChar](repeating: 0, count: length)
        let result = argon2id_hash_encoded(parameters.iterations, parameters.memoryKiB, parameters.parallelism,
                                           password, password.count, salt, salt.count, hashLength, &encoded, length)
        guard result == ARGON2_OK.rawValue else {
            throw HashingError(message: String(cString: argon2_error_message(result)))
        }
        return String(decoding: encoded.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func verifySync(_ secret: String, encoded: String) -> Bool {
        let password = Array(secret.utf8)
        return argon2id_verify(encoded, password, password.count) == ARGON2_OK.rawValue
    }

    public struct HashingError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { "argon2: \(message)" }
    }

    /// Stops the pool's threads once no more work will come.
    public func shutdown() async throws {
        try await pool.shutdownGracefully()
    }
}

/// Runs for the application's lifetime and stops the hasher's threads on shutdown.
struct Argon2HasherService: Service {
    let hasher: Argon2Hasher

    func run() async throws {
        try? await gracefulShutdown()
        try await hasher.shutdown()
    }
}
