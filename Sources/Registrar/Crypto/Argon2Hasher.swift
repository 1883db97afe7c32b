import CArgon2
import CSodium
import Foundation
import NIOCore
import ServiceLifecycle

/// argon2id (RFC 9106) for every long-lived secret, run on a dedicated pool of threads so that
/// the event loops and Swift's cooperative pool never block on it.
///
/// Two implementations of the same function, measured on this service's hardware:
/// - libsodium's (`crypto_pwhash_str_alg`, runtime-dispatched SSSE3/AVX2/AVX-512) for `p = 1`,
///   the configured default. Its compute takes about half of libargon2's user time, but Debian's
///   libsodium 1.0.18 maps fresh memory for every hash itself (not through malloc, so no mmap
///   threshold helps) and so pays the page faults: about 10 ms of system time per 19 MiB hash.
///   Even so it takes the least CPU per hash in all (0.88 of libargon2 with reused memory).
/// - libargon2's portable reference build for `p > 1`, which libsodium refuses, and as the oracle
///   the tests check libsodium's output against. It hashes in a memory region each pool thread
///   maps once, so its hashes pay no page faults.
/// Both write and read the same PHC strings, so stored hashes verify whichever made them.
///
/// The pool has a bounded queue shared fairly between tenants (`FairQueue`): when
/// `threads + queueLimit` hashes are in flight, a new request takes the newest waiting slot of
/// a busier tenant (whose request then fails) or fails itself, at once, with
/// `Argon2Hasher.Overloaded` (answered as 503 with `Retry-After`), so a flood turns into fast
/// refusals for the flooding tenant instead of growing latency or refusals for everyone.
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

    /// Which argon2id code the pool runs.
    public enum Implementation: String, Sendable, CaseIterable {
        /// libsodium wherever it can (`p = 1`), libargon2 otherwise. The default.
        case sodium
        /// libargon2 (the portable reference build) for everything: the comparison point.
        case argon2
    }

    /// The library one hash or verification runs on.
    enum Backend: Equatable {
        case libsodium
        case libargon2
    }

    /// The pool is full; the caller should answer 503 with `Retry-After`.
    public struct Overloaded: Error {}

    public let parameters: Parameters
    public let threads: Int
    public let queueLimit: Int
    /// Waiting slots one tenant may hold beyond a job on every thread.
    public let tenantQueueLimit: Int
    public let implementation: Implementation
    private let pool: HashingPool
    static let saltLength = 16
    static let hashLength = 32

    /// - Parameter tenantQueueLimit: the most of the `queueLimit` waiting slots one tenant may
    ///   hold; by default all of them (a tenant alone may use the whole queue; when it is full,
    ///   quieter tenants take the busiest tenant's newest slots, see `FairQueue`).
    public init(
        parameters: Parameters = .init(), threads: Int = System.coreCount, queueLimit: Int = 64,
        tenantQueueLimit: Int? = nil, implementation: Implementation = .sodium
    ) {
        Self.initialiseSodium
        self.parameters = parameters
        self.threads = max(1, threads)
        self.queueLimit = max(0, queueLimit)
        self.tenantQueueLimit = max(1, tenantQueueLimit ?? self.queueLimit)
        self.implementation = implementation
        self.pool = HashingPool(threads: self.threads, waitingLimit: self.queueLimit, tenantWaitingLimit: self.tenantQueueLimit)
    }

    /// `sodium_init` picks the fastest code for this CPU; it is idempotent and thread-safe,
    /// and this runs it once before the first hasher exists.
    private static let initialiseSodium: Void = {
        precondition(sodium_init() >= 0, "libsodium failed to initialise")
    }()

    /// Hashes being computed or waiting for a thread.
    public var inFlightCount: Int { pool.inFlight }

    /// A PHC string `$argon2id$v=19$m=…,t=…,p=…$salt$hash` with a fresh random salt.
    /// - Parameter tenant: whose share of the queue the hash takes (nil: the platform's own).
    public func hash(_ secret: String, tenant: UUID? = nil) async throws -> String {
        let parameters = self.parameters
        let implementation = self.implementation
        return try await pool.run(tenant: tenant) {
            try Self.hashSync(secret, parameters: parameters, implementation: implementation)
        }
    }

    /// Constant-time verification (libsodium compares with `sodium_memcmp`, libargon2 with
    /// `argon2_compare`).
    public func verify(_ secret: String, against encoded: String, tenant: UUID? = nil) async throws -> Bool {
        guard PHCString(encoded) != nil else { return false }
        let implementation = self.implementation
        return try await pool.run(tenant: tenant) { Self.verifySync(secret, encoded: encoded, implementation: implementation) }
    }

    /// Whether a stored hash was made with other parameters than the configured ones,
    /// so that a successful verify can store a fresh hash.
    public func needsRehash(_ encoded: String) -> Bool {
        !encoded.contains("$\(parameters.phcSegment)$")
    }

    /// Runs `body` on a hashing thread under `tenant`'s share of the queue.
    func run<T: Sendable>(tenant: UUID? = nil, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.run(tenant: tenant, body)
    }

    /// The size of the calling thread's libargon2 region (read here, in the module whose copy
    /// of the shim's thread-local the hasher uses).
    static var threadRegionBytes: Int { registrar_argon2_region_bytes() }

    static func backend(parallelism: UInt32, implementation: Implementation) -> Backend {
        implementation == .sodium && parallelism == 1 ? .libsodium : .libargon2
    }

    /// Hashes on the calling thread with a fresh random salt.
    static func hashSync(_ secret: String, parameters: Parameters, implementation: Implementation = .sodium) throws -> String {
        switch backend(parallelism: parameters.parallelism, implementation: implementation) {
        case .libsodium:
            return try sodiumHash(secret, parameters: parameters)
        case .libargon2:
            var salt = [UInt8](repeating: 0, count: saltLength)
            var generator = SystemRandomNumberGenerator()
            for index in salt.indices { salt[index] = generator.next() }
            return try hashSync(secret, salt: salt, parameters: parameters)
        }
    }

    /// libargon2 with a given salt, in the calling thread's reused memory region.
    static func hashSync(_ secret: String, salt: [UInt8], parameters: Parameters) throws -> String {
        var output = [UInt8](repeating: 0, count: hashLength)
        let result = withContext(Array(secret.utf8), salt, parameters, output: &output) { argon2_ctx(&$0, Argon2_id) }
        guard result == ARGON2_OK.rawValue else {
            throw HashingError(message: String(cString: argon2_error_message(result)))
        }
        return PHCString(memoryKiB: parameters.memoryKiB, iterations: parameters.iterations,
                         parallelism: parameters.parallelism, salt: salt, hash: output).encoded
    }

    /// Verifies on the calling thread; false for anything that is not an argon2id PHC string.
    static func verifySync(_ secret: String, encoded: String, implementation: Implementation = .sodium) -> Bool {
        guard let phc = PHCString(encoded) else { return false }
        let password = Array(secret.utf8)
        switch backend(parallelism: phc.parallelism, implementation: implementation) {
        case .libsodium:
            return crypto_pwhash_str_verify(encoded, password.map { CChar(bitPattern: $0) }, UInt64(password.count)) == 0
        case .libargon2:
            let parameters = Parameters(memoryKiB: phc.memoryKiB, iterations: phc.iterations, parallelism: phc.parallelism)
            var output = [UInt8](repeating: 0, count: phc.hash.count)
            let result = withContext(password, phc.salt, parameters, output: &output) { context in
                phc.hash.withUnsafeBufferPointer { expected in
                    expected.withMemoryRebound(to: CChar.self) { argon2_verify_ctx(&context, $0.baseAddress, Argon2_id) }
                }
            }
            return result == ARGON2_OK.rawValue
        }
    }

    /// libsodium's argon2id13; it draws its own 16-byte salt and writes a 32-byte hash, as ours.
    private static func sodiumHash(_ secret: String, parameters: Parameters) throws -> String {
        let password = Array(secret.utf8).map { CChar(bitPattern: $0) }
        var encoded = [CChar](repeating: 0, count: Int(crypto_pwhash_strbytes()))
        let result = crypto_pwhash_str_alg(&encoded, password, UInt64(password.count), UInt64(parameters.iterations),
                                           Int(parameters.memoryKiB) * 1024, crypto_pwhash_alg_argon2id13())
        guard result == 0 else { throw HashingError(message: "libsodium could not hash (out of memory or bad parameters)") }
        return String(decoding: encoded.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// An `argon2_context` over these buffers whose memory comes from the thread's region.
    /// Lanes run one after another on the pool thread (`threads = 1`): the pool is the parallelism.
    private static func withContext(
        _ password: [UInt8], _ salt: [UInt8], _ parameters: Parameters, output: inout [UInt8],
        _ body: (inout argon2_context) -> Int32
    ) -> Int32 {
        var password = password
        var salt = salt
        return output.withUnsafeMutableBufferPointer { out in
            password.withUnsafeMutableBufferPointer { pwd in
                salt.withUnsafeMutableBufferPointer { saltBuffer in
                    var context = argon2_context(
                        out: out.baseAddress, outlen: UInt32(out.count),
                        pwd: pwd.baseAddress, pwdlen: UInt32(pwd.count),
                        salt: saltBuffer.baseAddress, saltlen: UInt32(saltBuffer.count),
                        secret: nil, secretlen: 0, ad: nil, adlen: 0,
                        t_cost: parameters.iterations, m_cost: parameters.memoryKiB,
                        lanes: parameters.parallelism, threads: 1, version: UInt32(ARGON2_VERSION_13.rawValue),
                        allocate_cbk: registrar_argon2_allocate, free_cbk: registrar_argon2_keep,
                        flags: 0)  // ARGON2_DEFAULT_FLAGS
                    return body(&context)
                }
            }
        }
    }

    public struct HashingError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { "argon2: \(message)" }
    }

    /// Stops the pool's threads once no more work will come.
    public func shutdown() async throws {
        await pool.shutdown()
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
