import Foundation
import Hummingbird
import Synchronization

/// Tenants as recently read, for a few seconds (design §2: in-memory state expires within
/// seconds, so other instances see a change soon; this instance forgets at once on its own
/// admin writes). Unknown names are remembered too, so probing costs no query either, but apart
/// from the known ones and in a least-recently-used cache of fixed size: random names can only
/// push out other unknown names, never the tenants that real traffic is for.
public final class TenantCache: Sendable {
    struct Entry {
        let tenant: Tenant?
        let expires: ContinuousClock.Instant
    }

    struct State {
        /// Names that resolved to a tenant: bounded by the tenants that exist, not by callers.
        var known: [String: Entry] = [:]
        var unknown: LRUCache<String, ContinuousClock.Instant>
    }

    let lifetime: Duration
    /// Past this many known names (only real tenants' slugs and domains get here) the map starts over.
    static let knownCapacity = 50_000
    private let state: Mutex<State>

    public init(lifetime: Duration, unknownCapacity: Int = 10_000) {
        self.lifetime = lifetime
        self.state = Mutex(State(unknown: LRUCache(capacity: unknownCapacity)))
    }

    /// `.some(tenant or nil)` while a fresh entry exists; nil when `key` must be loaded.
    func cached(_ key: String, now: ContinuousClock.Instant = .now) -> Tenant?? {
        guard lifetime > .zero else { return nil }
        return state.withLock { state -> Tenant?? in
            if let entry = state.known[key] {
                if entry.expires > now { return .some(entry.tenant) }
                state.known[key] = nil
            }
            if let expires = state.unknown.value(for: key) {
                if expires > now { return .some(nil) }
                state.unknown.removeValue(for: key)
            }
            return nil
        }
    }

    func store(_ tenant: Tenant?, for key: String, now: ContinuousClock.Instant = .now) {
        guard lifetime > .zero else { return }
        let expires = now.advanced(by: lifetime)
        state.withLock { state in
            if let tenant {
                state.unknown.removeValue(for: key)
                if state.known.count >= Self.knownCapacity { state.known.removeAll(keepingCapacity: true) }
                state.known[key] = Entry(tenant: tenant, expires: expires)
            } else {
                state.known[key] = nil
                state.unknown.set(expires, for: key)
            }
        }
    }

    public func removeAll() {
        state.withLock { state in
            state.known.removeAll(keepingCapacity: true)
            state.unknown.removeAll()
        }
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
    let limiter: any RateLimiter
    /// Lookups that miss the cache, per address, before any tenant is known (platform-wide).
    let lookupLimit: RateLimit

    public init(tenants: any TenantRepository, publicBaseURL: String, baseDomain: String?, cache: TenantCache = TenantCache(lifetime: .zero),
                limiter: any RateLimiter = UnlimitedRateLimiter(), lookupLimit: RateLimit = PlatformRateLimits().tenantLookupsPerAddress) {
        self.tenants = tenants
        self.cache = cache
        self.limiter = limiter
        self.lookupLimit = lookupLimit
        self.publicBaseURL = publicBaseURL
        self.platformHost = (try? URIParser.parse(publicBaseURL).host) ?? "localhost"
        self.baseDomain = baseDomain
    }

    /// - Parameter pathSlug: the `{slug}` of a `/t/{slug}` route, nil on host-based routes.
    /// - Parameter limitAddress: the caller's aggregated address; a resolution that needs the
    ///   database is first counted against it, platform-wide, so unknown hosts and slugs cost a
    ///   caller its own budget before they cost a query. Cache hits are free.
    public func resolve(host: String?, pathSlug: String?, limitAddress: String = "-") async throws -> ResolvedTenant {
        let host = host ?? ""
        var counted = false
        func lookUp(_ key: String, _ load: () async throws -> Tenant?) async throws -> Tenant? {
            if let cached = cache.cached(key) { return cached }
            if !counted {
                counted = true
                try await limiter.hit("tenant_lookups_per_address", key: "lookup:\(limitAddress)", tenantID: nil, limit: lookupLimit)
            }
            let tenant = try await load()
            cache.store(tenant, for: key)
            return tenant
        }
        var resolved: ResolvedTenant?
        if let pathSlug {
            if host == platformHost, let tenant = try await lookUp("slug:" + pathSlug, { try await tenants.find(slug: pathSlug) }) {
                resolved = ResolvedTenant(tenant: tenant, issuer: "\(publicBaseURL)/t/\(tenant.slug)")
            }
        } else if host != platformHost, !host.isEmpty {
            if let tenant = try await lookUp("host:" + host, { try await tenants.find(domain: host) }) {
                resolved = ResolvedTenant(tenant: tenant, issuer: "https://\(host)")
            } else if let baseDomain, host.hasSuffix("." + baseDomain) {
                let label = String(host.dropLast(baseDomain.count + 1))
                if !label.contains("."), let tenant = try await lookUp("slug:" + label, { try await tenants.find(slug: label) }) {
                    resolved = ResolvedTenant(tenant: tenant, issuer: "https://\(tenant.slug).\(baseDomain)")
                }
            }
        }
        guard let resolved, resolved.tenant.status == .active else { throw OAuthError.tenantNotFound }
        RequestMetricsScope.noteTenant(resolved.tenant.slug)
        return resolved
    }

    func resolve(_ context: AppRequestContext) async throws -> ResolvedTenant {
        try await resolve(host: context.requestHost, pathSlug: context.parameters.get("tenant"), limitAddress: context.limitAddress)
    }
}
