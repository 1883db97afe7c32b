import Crypto
import Foundation
import Synchronization

/// Remembers, for a short time, that a presented token matched a stored argon2id hash (design §4),
/// so that a client reading its own registration does not pay a hash on every request.
///
/// The key is SHA-256 of the token (the token itself is never kept) and the entry records the
/// exact stored hash it was verified against: a later request only skips argon2 when it read the
/// same hash from the database. Rotation or deletion changes or removes that hash, so the cache
/// can never accept a dead token, and every instance can keep its own.
public final class VerifiedTokenCache: Sendable {
    struct Entry {
        let storedHash: String
        let expires: ContinuousClock.Instant
    }

    private let entries = Mutex<[SHA256Digest: Entry]>([:])
    public let lifetime: Duration
    public let capacity: Int

    public init(lifetime: Duration = .seconds(60), capacity: Int = 100_000) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    /// Whether `token` was verified against exactly `storedHash` within the lifetime.
    public func isVerified(_ token: String, against storedHash: String) -> Bool {
        let key = SHA256.hash(data: Data(token.utf8))
        let now = ContinuousClock.now
        return entries.withLock { entries in
            guard let entry = entries[key] else { return false }
            guard entry.expires > now else {
                entries[key] = nil
                return false
            }
            // Both are public hash strings; equality here reveals nothing about the token.
            return entry.storedHash == storedHash
        }
    }

    public func remember(_ token: String, verifiedAgainst storedHash: String) {
        let key = SHA256.hash(data: Data(token.utf8))
        let now = ContinuousClock.now
        entries.withLock { entries in
            if entries.count >= capacity {
                entries = entries.filter { $0.value.expires > now }
                if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[key] = Entry(storedHash: storedHash, expires: now.advanced(by: lifetime))
        }
    }
}
