import Foundation

/// Checks presented secrets against stored argon2id hashes: through the verified-token cache
/// when it knows the pair, on the hashing pool otherwise.
public struct TokenVerifier: Sendable {
    public let hasher: Argon2Hasher
    public let cache: VerifiedTokenCache

    public init(hasher: Argon2Hasher, cache: VerifiedTokenCache) {
        self.hasher = hasher
        self.cache = cache
    }

    public enum Outcome: Sendable, Equatable {
        case mismatch
        /// Verified; `rehash` is set when the stored hash used older parameters.
        case verified(rehash: Bool)
    }

    /// - Parameter tenant: whose share of the hashing queue a verification takes.
    public func verify(_ token: String, against storedHash: String, tenant: UUID? = nil) async throws -> Outcome {
        if cache.isVerified(token, against: storedHash) { return .verified(rehash: false) }
        guard try await hasher.verify(token, against: storedHash, tenant: tenant) else { return .mismatch }
        cache.remember(token, verifiedAgainst: storedHash)
        return .verified(rehash: hasher.needsRehash(storedHash))
    }
}
