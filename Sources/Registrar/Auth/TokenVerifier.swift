import Foundation
import Synchronization

/// Checks presented secrets against stored argon2id hashes: first the keyed tag (design §4), so
/// a wrong token never reaches argon2; then the verified-token cache when it knows the pair;
/// the hashing pool otherwise.
public struct TokenVerifier: Sendable {
    public let hasher: Argon2Hasher
    public let cache: VerifiedTokenCache
    public let tags: TokenTagKey
    /// How many verifications went to argon2 (the pool), for operators and tests.
    public let argon2Verifications: VerificationCounter

    public init(hasher: Argon2Hasher, cache: VerifiedTokenCache, tags: TokenTagKey,
                argon2Verifications: VerificationCounter = VerificationCounter()) {
        self.hasher = hasher
        self.cache = cache
        self.tags = tags
        self.argon2Verifications = argon2Verifications
    }

    public enum Outcome: Sendable, Equatable {
        case mismatch
        /// Verified; `rehash` is set when the stored hash used older parameters, `untagged` when
        /// the row has no tag yet (stored before tags existed) and the caller should write one.
        case verified(rehash: Bool, untagged: Bool)
    }

    /// `storedTag` nil means the row predates tags: argon2 decides, and a success says `untagged`.
    /// - Parameter tenant: whose share of the hashing queue a verification takes.
    public func verify(_ token: String, against storedHash: String, tag storedTag: String?, tenant: UUID? = nil) async throws -> Outcome {
        if let storedTag, !tags.matches(token, tag: storedTag) { return .mismatch }
        if cache.isVerified(token, against: storedHash) { return .verified(rehash: false, untagged: storedTag == nil) }
        argon2Verifications.increment()
        guard try await hasher.verify(token, against: storedHash, tenant: tenant) else { return .mismatch }
        cache.remember(token, verifiedAgainst: storedHash)
        return .verified(rehash: hasher.needsRehash(storedHash), untagged: storedTag == nil)
    }

    /// What is stored for a newly issued token: its argon2id hash and its tag.
    public func protect(_ token: String, tenant: UUID? = nil) async throws -> ProtectedToken {
        ProtectedToken(hash: try await hasher.hash(token, tenant: tenant), tag: tags.tag(token))
    }
}

/// The stored form of a server-generated token.
public struct ProtectedToken: Sendable, Equatable {
    public let hash: String
    public let tag: String
}

/// A count shared by every copy of the verifier that holds it.
public final class VerificationCounter: Sendable {
    private let count = Atomic<Int>(0)
    public init() {}
    public var value: Int { count.load(ordering: .relaxed) }
    func increment() { count.add(1, ordering: .relaxed) }
}
