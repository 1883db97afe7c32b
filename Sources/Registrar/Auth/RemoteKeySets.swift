import Foundation
import Synchronization

/// The JWK Sets clients publish at their `jwks_uri` (RFC 7591 §2), for `private_key_jwt`
/// assertions (RFC 7523). Fetched through the guarded client, kept per URL for as long as
/// `Cache-Control` says within 5 minutes and a day (a metadata document's bounds), in memory:
/// a key set is cheap to fetch again, and a rotated key is picked up by the next fetch.
final class RemoteKeySets: Sendable {
    struct Entry: Sendable {
        let keys: JSONValue
        let expiresAt: Date
    }

    static let bounds: MetadataDocumentSettings = {
        var bounds = MetadataDocumentSettings()
        bounds.cacheMinimumSeconds = 300
        bounds.cacheMaximumSeconds = 86_400
        return bounds
    }()

    let fetcher: GuardedHTTPClient
    let cache = Mutex(LRUCache<String, Entry>(capacity: 1_000))

    init(fetcher: GuardedHTTPClient) {
        self.fetcher = fetcher
    }

    /// The key set at `url`, from the cache while it is believed, else fetched now.
    func keys(at url: String, now: Date) async throws(ClientAssertionVerifier.Rejected) -> JSONValue {
        if let entry = cache.withLock({ $0.value(for: url) }), entry.expiresAt > now { return entry.keys }
        let response: GuardedHTTPClient.Response
        do { response = try await fetcher.get(url) } catch { throw .init("the client's jwks_uri could not be fetched: \(error)") }
        guard let object = try? JSONValue.parseObject(response.body), case .array? = object["keys"] else {
            throw .init("the client's jwks_uri does not serve a JWK Set")
        }
        let entry = Entry(keys: .object(object), expiresAt: MetadataDocument.expiry(of: response.headers, fetchedAt: now, settings: Self.bounds))
        cache.withLock { $0.set(entry, for: url) }
        return entry.keys
    }
}
