import Foundation
import Logging

/// The clients of client ID metadata documents: an https `client_id` at `/authorize` or `/token`
/// becomes a client row, fetched through the guarded client, validated under the tenant's policy
/// and kept as long as its caching headers say within the tenant's bounds. The row is the cache,
/// so every instance shares it; errors and invalid documents are never stored, and a client
/// whose document has gone stops working once the stored fetch expires.
struct MetadataDocumentClients: Sendable {
    let clients: any ClientRepository
    let fetcher: GuardedHTTPClient
    let limiter: any RateLimiter
    let platform: PlatformRateLimits
    let flights = FetchCoalescer()
    let logger: Logger
    let now: @Sendable () -> Date

    /// The document's client for `url` in `tenant`, fetching it when no stored fetch is still
    /// believed. Status is not judged here: a disabled client is returned as it is stored.
    /// - Parameter address: the caller's limiter address; a fetch counts as a registration from it.
    func client(_ url: String, tenant: ResolvedTenant, address: String) async throws -> RegisteredClient {
        let settings = tenant.tenant.policy.metadataDocuments
        guard settings.enabled else { throw MetadataDocument.Refusal("this service does not accept client ID metadata documents") }
        let host = try MetadataDocument.checkURL(url)
        guard settings.allows(host: host) else {
            throw MetadataDocument.Refusal("metadata documents from \(host) are not accepted by this service")
        }
        let tenantID = tenant.tenant.id
        let stored = try await clients.find(tenantID: tenantID, clientID: url)
        if let stored, stored.registeredVia == .cimd, let fetch = stored.document, fetch.expiresAt > now() {
            return stored
        }
        // A new document's client is what anyone can make the server fetch and store: it costs
        // what a registration costs. A stored one's revalidation does not, so that a spent
        // registration budget never stops clients that already work.
        if stored == nil {
            try await limiter.check(RateLimitCheck.registration(from: address, tenantID: tenantID, limits: tenant.tenant.policy.rateLimits,
                                                                platform: platform))
        }
        return try await flights.run("\(tenantID) \(url)") {
            try await fetch(url, tenant: tenant, stored: stored)
        }
    }

    /// One fetch: conditional when a stored fetch has validators (a 304 renews it), else plain.
    func fetch(_ url: String, tenant: ResolvedTenant, stored: RegisteredClient?) async throws -> RegisteredClient {
        let policy = tenant.tenant.policy
        var conditions: [(String, String)] = []
        if let etag = stored?.document?.etag { conditions.append(("If-None-Match", etag)) }
        if let modified = stored?.document?.lastModified { conditions.append(("If-Modified-Since", modified)) }
        let response: GuardedHTTPClient.Response
        do {
            response = try await fetcher.get(url, headers: conditions, notModifiedAllowed: stored != nil && !conditions.isEmpty)
        } catch {
            logger.info("metadata document not fetched", metadata: ["client_id": "\(url)", "reason": "\(error)"])
            throw MetadataDocument.Refusal("its metadata document could not be fetched: \(error)")
        }
        let at = now()
        let fetch = MetadataDocumentFetch(fetchedAt: at, expiresAt: MetadataDocument.expiry(of: response.headers, fetchedAt: at, settings: policy.metadataDocuments),
                                          etag: response.headers.first(name: "etag"), lastModified: response.headers.first(name: "last-modified"))
        if response.status == 304, var stored {
            // Unchanged at its host, but judged again under the tenant's current policy.
            var document = stored.metadata.json
            document["client_id"] = .string(url)
            _ = try MetadataDocument.validate(document: document, url: url, policy: policy)
            try await clients.renewDocument(tenantID: tenant.tenant.id, clientID: url, fetch)
            stored.document = fetch
            return stored
        }
        let result = try MetadataDocument.validate(response.body, url: url, policy: policy)
        var client = RegisteredClient(tenantID: tenant.tenant.id, clientID: url, metadata: result.metadata, clientSecretHash: nil,
                                      clientSecretExpiresAt: nil, registrationAccessTokenHash: nil, registeredVia: .cimd,
                                      sourceAddress: nil, createdAt: at)
        client.document = fetch
        let details: [String: JSONValue] = ["registered_via": .string(RegisteredClient.Origin.cimd.rawValue),
                                            "client_name": result.metadata.clientName.map(JSONValue.string) ?? .null]
        do {
            return try await clients.storeDocumentClient(client, maxClients: policy.maxClients, audit: { change in
                AuditEvent(action: change == .created ? "client.registered" : "client.updated", actorType: .system, clientID: url,
                           details: details.merging(["document_change": .string(change.rawValue)]) { first, _ in first })
            })
        } catch ClientRepositoryError.quotaReached {
            throw MetadataDocument.Refusal("this service holds as many clients as it may")
        }
    }
}

/// One fetch per document at a time within an instance: requests that need the same document
/// while it is being fetched wait for that fetch instead of starting their own.
actor FetchCoalescer {
    private var running: [String: Task<RegisteredClient, any Error>] = [:]

    func run(_ key: String, _ work: @escaping @Sendable () async throws -> RegisteredClient) async throws -> RegisteredClient {
        if let task = running[key] { return try await task.value }
        let task = Task { try await work() }
        running[key] = task
        defer { running[key] = nil }
        return try await task.value
    }
}
