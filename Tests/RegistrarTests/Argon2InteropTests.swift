import CArgon2
import Foundation
import Testing
@testable import Registrar

/// The pool's argon2id (libsodium for p = 1) against libargon2's reference build as the oracle:
/// every pool hash verifies with libargon2 and every libargon2 hash with the pool.
@Suite("argon2id interoperability")
struct Argon2InteropTests {
    /// libargon2's own string API, untouched by the hasher: the oracle.
    static func oracleVerify(_ secret: String, _ encoded: String) -> Bool {
        let password = Array(secret.utf8)
        return argon2id_verify(encoded, password, password.count) == ARGON2_OK.rawValue
    }

    static func oracleHash(_ secret: String, salt: [UInt8], _ parameters: Argon2Hasher.Parameters) -> String {
        let password = Array(secret.utf8)
        let length = argon2_encodedlen(parameters.iterations, parameters.memoryKiB, parameters.parallelism,
                                       UInt32(salt.count), 32, Argon2_id)
        var encoded = [CChar](repeating: 0, count: length)
        let result = argon2id_hash_encoded(parameters.iterations, parameters.memoryKiB, parameters.parallelism,
                                           password, password.count, salt, salt.count, 32, &encoded, length)
        precondition(result == ARGON2_OK.rawValue, "libargon2: \(result)")
        return String(decoding: encoded.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Random secrets: empty, ASCII, multi-byte UTF-8 and embedded NUL, up to 80 scalars.
    static func randomSecret<G: RandomNumberGenerator>(using generator: inout G) -> String {
        let pools: [ClosedRange<UInt32>] = [0x20...0x7E, 0x00...0x7F, 0xA0...0x2FF, 0x1F300...0x1F64F]
        let length = Int.random(in: 0...80, using: &generator)
        var scalars = String.UnicodeScalarView()
        for _ in 0..<length {
            let pool = pools.randomElement(using: &generator)!
            scalars.append(Unicode.Scalar(UInt32.random(in: pool, using: &generator))!)
        }
        return String(scalars)
    }

    static func randomParameters<G: RandomNumberGenerator>(lanes: UInt32, using generator: inout G) -> Argon2Hasher.Parameters {
        .init(memoryKiB: UInt32.random(in: (8 * lanes)...1024, using: &generator),
              iterations: UInt32.random(in: 1...3, using: &generator), parallelism: lanes)
    }

    @Test("p = 1 runs on libsodium by default, p > 1 and the argon2 implementation on libargon2", arguments: [
        (UInt32(1), Argon2Hasher.Implementation.sodium, Argon2Hasher.Backend.libsodium),
        (2, .sodium, .libargon2),
        (4, .sodium, .libargon2),
        (1, .argon2, .libargon2),
        (2, .argon2, .libargon2),
    ])
    func backendChoice(parallelism: UInt32, implementation: Argon2Hasher.Implementation, expected: Argon2Hasher.Backend) {
        #expect(Argon2Hasher.backend(parallelism: parallelism, implementation: implementation) == expected)
        #expect(Argon2Hasher(threads: 1).implementation == .sodium)
    }

    @Test("Pool hashes (libsodium, random inputs and parameters) verify with libargon2; wrong secrets do not")
    func poolHashesVerifyWithLibargon2() async throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<12 {
            let parameters = Self.randomParameters(lanes: 1, using: &generator)
            let hasher = Argon2Hasher(parameters: parameters, threads: 1)
            let secret = Self.randomSecret(using: &generator)
            let encoded = try await hasher.hash(secret)
            try await hasher.shutdown()
            #expect(encoded.hasPrefix("$argon2id$v=19$\(parameters.phcSegment)$"), "\(encoded)")
            #expect(Self.oracleVerify(secret, encoded), "\(parameters) \(encoded)")
            #expect(!Self.oracleVerify(secret + "x", encoded))
        }
    }

    @Test("libargon2 hashes (random inputs, p = 1 and p > 1) verify with the pool; wrong secrets do not")
    func libargon2HashesVerifyWithPool() async throws {
        var generator = SystemRandomNumberGenerator()
        let hasher = Argon2Hasher(parameters: .init(memoryKiB: 256, iterations: 1, parallelism: 1), threads: 2)
        for round in 0..<16 {
            let parameters = Self.randomParameters(lanes: [1, 1, 2, 4][round % 4], using: &generator)
            let secret = Self.randomSecret(using: &generator)
            let salt = (0..<Int.random(in: 8...32, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let encoded = Self.oracleHash(secret, salt: salt, parameters)
            #expect(try await hasher.verify(secret, against: encoded), "\(encoded)")
            #expect(try await !hasher.verify(secret + "x", against: encoded), "\(encoded)")
        }
        try await hasher.shutdown()
    }

    @Test("libargon2 through the pool's own memory region writes exactly what libargon2's string API writes")
    func regionHashMatchesOracle() async throws {
        var generator = SystemRandomNumberGenerator()
        let hasher = Argon2Hasher(threads: 1, implementation: .argon2)
        for round in 0..<8 {
            let parameters = Self.randomParameters(lanes: [1, 2, 3, 4][round % 4], using: &generator)
            let secret = Self.randomSecret(using: &generator)
            let salt = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let ours = try await hasher.run { try Argon2Hasher.hashSync(secret, salt: salt, parameters: parameters) }
            #expect(ours == Self.oracleHash(secret, salt: salt, parameters))
        }
        try await hasher.shutdown()
    }

    @Test("p > 1: the pool hashes with libargon2, and libargon2 verifies it")
    func parallelHashesStillWork() async throws {
        let parameters = Argon2Hasher.Parameters(memoryKiB: 512, iterations: 2, parallelism: 2)
        let hasher = Argon2Hasher(parameters: parameters, threads: 1)
        let encoded = try await hasher.hash("rcs_lanes")
        #expect(encoded.hasPrefix("$argon2id$v=19$m=512,t=2,p=2$"))
        #expect(Self.oracleVerify("rcs_lanes", encoded))
        #expect(try await hasher.verify("rcs_lanes", against: encoded))
        #expect(try await !hasher.verify("rcs_lanez", against: encoded))
        try await hasher.shutdown()
    }

    /// Hashes stored before libsodium came in, written by libargon2's `argon2id_hash_encoded`.
    static let stored: [(secret: String, encoded: String)] = [
        ("rat_old-stored-token", "$argon2id$v=19$m=19456,t=2,p=1$AxQlNkdYaXqLnK2+z+DxAg$4AofvpxAVCz0CZzBlj3dZdRBF/GZdwBAl3roQnAH4I8"),
        ("rcs_Z8Jr0c1Q2wE5-sSecret", "$argon2id$v=19$m=256,t=1,p=1$AxQlNkdYaXqLnK2+z+DxAg$hsw0lQ4rExGXwgChEdTk4bekCf8g2G5UnK+iESCDsyc"),
        ("pässwörd 🔑", "$argon2id$v=19$m=512,t=2,p=2$AxQlNkdYaXqLnK2+z+DxAg$ia/aR5mOGDhofnSLL+ucT3VyGiBD57cFOQv+0LcTSmg"),
        ("lanes-four", "$argon2id$v=19$m=1024,t=3,p=4$AxQlNkdYaXqLnK2+z+DxAg$SiCu8MoO+P/jUGVEd2W0XTv77GEWrt2rvt1EyjO0HDE"),
    ]

    @Test("Old stored hashes verify with both implementations, and only with their secret", arguments: Argon2Hasher.Implementation.allCases)
    func storedHashesStillVerify(implementation: Argon2Hasher.Implementation) async throws {
        let hasher = Argon2Hasher(threads: 1, implementation: implementation)
        for (secret, encoded) in Self.stored {
            #expect(Self.oracleVerify(secret, encoded), "fixture \(encoded)")
            #expect(try await hasher.verify(secret, against: encoded), "\(encoded)")
            #expect(try await !hasher.verify(String(secret.dropLast()), against: encoded), "\(encoded)")
        }
        try await hasher.shutdown()
    }
}
