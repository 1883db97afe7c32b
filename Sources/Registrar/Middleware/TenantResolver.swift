import Hummingbird

/// Finds the tenant of a request (design §3): a registered custom domain first, then
/// `{slug}.{base domain}`, and on the platform host only, a `/t/{slug}` path. The issuer comes from configuration
/// and the tenant's record, never from whatever Host the client sent. An unknown, suspended or
/// malformed tenant is the same 404, so that nobody can probe which tenants exist.
public struct TenantResolver: Sendable {
    let tenants: any TenantRepository
    let publicBaseURL: String
    let platformHost: String
    let baseDomain: String?

    public init(tenants: any TenantRepository, publicBaseURL: String, baseDomain: String?) {
        self.tenants = tenants
        self.publicBaseURL = publicBaseURL
        self.platformHost = (try? URIParser.parse(publicBaseURL).host) ?? "localhost"
        self.baseDomain = baseDomain
    }

    /// - Parameter pathSlug: the `{slug}` of a `/t/{slug}` route, nil on host-based routes.
    public func resolve(host: String?, pathSlug: String?) async throws -> ResolvedTenant {
        let host = host ?? ""
        var resolved: ResolvedTenant?
        if let pathSlug {
            if host == platformHost, let tenant = try await tenants.find(slug: pathSlug) {
                resolved = ResolvedTenant(tenant: tenant, issuer: "\(publicBaseURL)/t/\(tenant.slug)")
            }
        } else if host != platformHost, !host.isEmpty {
            if let tenant = try await tenants.find(domain: host) {
                resolved = ResolvedTenant(tenant: tenant, issuer: "https://\(host)")
            } else if let baseDomain, host.hasSuffix("." + baseDomain) {
                let label = String(host.dropLast(baseDomain.count + 1))
                if !label.contains("."), let tenant = try await tenants.find(slug: label) {
                    resolved = ResolvedTenant(tenant: tenant, issuer: "https://\(tenant.slug).\(baseDomain)")
                }
            }
        }
        guard let resolved, resolved.tenant.status == .active else { throw OAuthError.tenantNotFound }
        return resolved
    }

    func resolve(_ context: AppRequestContext) async throws -> ResolvedTenant {
        try await resolve(host: context.requestHost, pathSlug: context.parameters.get("tenant"))
    }
}
