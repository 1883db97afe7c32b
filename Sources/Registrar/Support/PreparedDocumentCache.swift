import Foundation
import NIOCore
import Synchronization

/// Per-tenant documents (authorization server metadata and the like) encoded once per tenant,
/// policy version and issuer, so that serving them costs no JSON encoding: the request path
/// copies prepared bytes. A policy change bumps the version and so prepares a new document; the
/// number of entries is bounded so that many tenants or hosts cannot grow it without limit.
final class PreparedDocumentCache: Sendable {
    struct Key: Hashable, Sendable {
        let document: String
        let tenantID: UUID
        let policyVersion: Int
        let issuer: String
    }

    private let entries = Mutex<[Key: ByteBuffer]>([:])
    let capacity: Int

    init(capacity: Int = 4096) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    var count: Int { entries.withLock { $0.count } }

    /// The prepared bytes for `key`, encoding them with `prepare` only the first time.
    func bytes(for key: Key, _ prepare: () -> JSONValue) -> ByteBuffer {
        if let hit = entries.withLock({ $0[key] }) { return hit }
        // Encoded outside the lock; two requests racing on a new key both encode, one wins.
        let buffer = ByteBuffer(data: prepare().encoded())
        entries.withLock { entries in
            if entries[key] == nil, entries.count >= capacity {
                // Older versions of the same tenant are dead weight: drop them first.
                let stale = entries.keys.filter { $0.tenantID == key.tenantID && $0.document == key.document && $0.policyVersion < key.policyVersion }
                for old in stale { entries[old] = nil }
                if entries.count >= capacity, let victim = entries.keys.first { entries[victim] = nil }
            }
            entries[key] = buffer
        }
        return buffer
    }
}
