import Foundation
import Hummingbird
import Synchronization

/// Tenants as recently read, for a few seconds (design §2: in-memory state expires within
/// seconds, so other instances see a change soon; this instance forgets at once on its own
/// admin writes). Unknown tenants are remembered too, so probing costs no query either.
public final class TenantCache: Sendable {
    struct Entry {
        let tenant: Tenant?
        let expires: ContinuousClock.Instant
    }

    let lifetime: Duration
    private let entries = Mutex<[String: Entry]>([:])

    public init(lifetime: Duration) {
        self.lifetime = lifetime
    }

    func value(_ key: String, load: () async throws -> Tenant?) async throws -> Tenant? {
        guard lifetime > .zero else { return try await load() }
        let now = ContinuousClock.now
        if let entry = entries.withLock({ $0[key] }), entry.expires > now { return entry.tenant }
        let tenant = try await load()
        entries.withLock { entries in
            if entries.count >= 50_000 { entries.removeAll(keepingCapacity: true) }
            entries[key] = Entry(tenant: tenant, expires: now.advanced(by: lifetime))
        }
        return tenant
    }

    public func removeAll() {
        entries.withLock { $0.removeAll(keepingCapacity: true) }
    }
}

/// Finds the tenant of a request (design §3): a registered custom domain first, then
/// `{slug}.{base domain}`, and on the platform host only, a `/t/{slug}` path. The issuer comes from configuration
/// and the tenant's record, never from whatever Host the client sent. An unknown, suspended or
/// malformed tenant is the same 404, so that nobody can probe which tenants exist.
public struct TenantResolver: Sendable {
    let tenants: any TenantRepository
    let publicBaseURL: String
    let platformHost: String
    let baseDomain: String?
    let cache: TenantCache

    public init(tenants: any TenantRepository, publicBaseURL: String, baseDomain: String?, cache: TenantCache = TenantCache(lifetime: .zero)) {
        self.tenants = tenants
        self.cache = cache
        self.publicBaseURL = publicBaseURL
        self.platformHost = (try? URIParser.parse(publicBaseURL).host) ?? "localhost"
        self.baseDomain = baseDomain
    }

    /// - Parameter pathSlug: the `{slug}` of a `/t/{slug}` route, nil on host-based routes.
    public func resolve(host: String?, pathSlug: String?) async throws -> ResolvedTenant {
        let host = host ?? ""
        var resolved: ResolvedTenant?
        if let pathSlug {
            if host == platformHost, let tenant = try await cache.value("slug:" + pathSlug, load: { try await tenants.find(slug: pathSlug) }) {
                resolved = ResolvedTenant(tenant: tenant, issuer: "\(publicBaseURL)/t/\(tenant.slug)")
            }
        } else if host != platformHost, !host.isEmpty {
            if let tenant = try await cache.value("host:" + host, load: { try await tenants.find(domain: host) }) {
                resolved = ResolvedTenant(tenant: tenant, issuer: "https://\(host)")
            } else if let baseDomain, host.hasSuffix("." + baseDomain) {
                let label = String(host.dropLast(baseDomain.count + 1))
                if !label.contains("."), let tenant = try await cache.value("slug:" + label, load: { try await tenants.find(slug: label) }) {
                    resolved = ResolvedTenant(tenant: tenant, issuer: "https://\(tenant.slug).\(baseDomain)")
                }
            }
        }
        guard let resolved, resolved.tenant.status == .active else { throw OAuthError.tenantNotFound }
        RequestMetricsScope.noteTenant(resolved.tenant.slug)
        return resolved
    }

    func resolve(_ context: AppRequestContext) async throws -> ResolvedTenant {
        try await resolve(host: context.requestHost, pathSlug: context.parameters.get("tenant"))
    }
}
