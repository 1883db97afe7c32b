import Foundation
import NIOCore
import Synchronization
import Testing
@testable import Registrar

/// Per-tenant documents are encoded once per tenant, policy version and issuer; serving them
/// again costs no encoding, a new policy version prepares a new document, and the cache is bounded.
@Suite("Prepared documents")
struct PreparedDocumentCacheTests {
    static func key(_ tenant: UUID, version: Int = 1, issuer: String = "https://a.example") -> PreparedDocumentCache.Key {
        .init(document: "metadata", tenantID: tenant, policyVersion: version, issuer: issuer)
    }

    @Test("Prepared documents: the second request for the same tenant, version and issuer does no encoding")
    func preparedOnce() {
        let cache = PreparedDocumentCache()
        let preparations = Mutex(0)
        let tenant = UUID()
        let prepare: () -> JSONValue = {
            preparations.withLock { $0 += 1 }
            return .object(["b": .string("2"), "a": .string("1")])
        }
        let first = cache.bytes(for: Self.key(tenant), prepare)
        let second = cache.bytes(for: Self.key(tenant), prepare)
        #expect(preparations.withLock { $0 } == 1)
        #expect(first == second)
        #expect(String(buffer: first) == #"{"a":"1","b":"2"}"#, "keys stay sorted")
    }

    @Test("Prepared documents: another policy version or issuer is prepared anew", arguments: [
        (2, "https://a.example"),
        (1, "https://b.example"),
    ])
    func keyedByVersionAndIssuer(version: Int, issuer: String) {
        let cache = PreparedDocumentCache()
        let tenant = UUID()
        _ = cache.bytes(for: Self.key(tenant)) { .object(["v": .string("old")]) }
        let changed = cache.bytes(for: Self.key(tenant, version: version, issuer: issuer)) { .object(["v": .string("new")]) }
        #expect(String(buffer: changed) == #"{"v":"new"}"#)
    }

    @Test("Prepared documents: the cache never holds more than its capacity")
    func bounded() {
        let cache = PreparedDocumentCache(capacity: 8)
        for _ in 0..<100 {
            _ = cache.bytes(for: Self.key(UUID())) { .object([:]) }
        }
        #expect(cache.count <= 8)
        #expect(cache.count > 0)
    }
}
