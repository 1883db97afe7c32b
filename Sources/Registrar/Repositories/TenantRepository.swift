import Foundation
import Logging
import PostgresNIO

/// Why a tenant could not be created or changed.
public enum TenantRepositoryError: Error, Equatable {
    case invalidSlug
    case slugTaken
    case invalidDomain(String)
    case domainTaken(String)
    /// The host is the platform's own or under its base domain (see `CustomDomainRule`).
    case reservedDomain(String)
    /// The caller's version (ETag) is not the current one.
    case stale
    /// The tenant still has clients and no cascade was asked for.
    case notEmpty
}

/// A tenant with what the admin API shows of it.
public struct TenantRecord: Sendable, Equatable {
    public var tenant: Tenant
    public var domains: [String]
    public var createdAt: Date
    /// Whole microseconds of the last change, the tenant's version for `ETag` / `If-Match`.
    public var version: Int64
}

/// The tenant registry.
public protocol TenantRepository: Sendable {
    func create(slug: String, displayName: String, domains: [String]) async throws -> Tenant
    /// The tenant named by a `/t/{slug}` path or a `{slug}.{base domain}` host.
    func find(slug: String) async throws -> Tenant?
    /// The tenant that registered this custom domain.
    func find(domain: String) async throws -> Tenant?
    func domains(of tenantID: UUID) async throws -> [String]
    /// Replaces the policy document and records the change (before and after); returns the new version.
    /// With `expectedVersion`, refuses (`stale`) unless that is the current version.
    @discardableResult
    func setPolicy(_ policy: RegistrationPolicy, for tenantID: UUID, audit: AuditEvent?, expectedVersion: Int?) async throws -> Int

    /// Any status, with domains; nil when there is no such tenant.
    func record(slug: String) async throws -> TenantRecord?
    /// Ordered by slug, after `afterSlug`.
    func list(afterSlug: String?, limit: Int) async throws -> Page<TenantRecord>
    /// Changes name and/or status; with `expectedVersion`, refuses (`stale`) unless it is current.
    func update(_ tenantID: UUID, displayName: String?, status: Tenant.Status?, expectedVersion: Int64?) async throws -> TenantRecord?
    /// Deletes the tenant and everything in it; refuses (`notEmpty`) while it has clients unless `cascade`.
    func delete(_ tenantID: UUID, cascade: Bool) async throws -> Bool
    func addDomain(_ host: String, to tenantID: UUID) async throws
    func removeDomain(_ host: String, from tenantID: UUID) async throws -> Bool
}

extension TenantRepository {
    @discardableResult
    public func setPolicy(_ policy: RegistrationPolicy, for tenantID: UUID, audit: AuditEvent? = nil) async throws -> Int {
        try await setPolicy(policy, for: tenantID, audit: audit, expectedVersion: nil)
    }
}

/// Hosts that cannot be a tenant's custom domain. Resolution looks custom domains up first
/// (design §3), so a custom domain equal to the platform host, to the base domain or to a name
/// under it would take over the platform's own endpoints or another tenant's `{slug}.{base}`
/// issuer, and with it that tenant's registrations.
public struct CustomDomainRule: Sendable, Equatable {
    public var platformHost: String?
    public var baseDomain: String?

    public init(platformHost: String? = nil, baseDomain: String? = nil) {
        self.platformHost = platformHost?.lowercased()
        self.baseDomain = baseDomain?.lowercased()
    }

    /// The rule of a deployment served at `publicBaseURL` with `{slug}.{baseDomain}` tenants.
    public init(publicBaseURL: String, baseDomain: String?) {
        self.init(platformHost: try? URIParser.parse(publicBaseURL).host, baseDomain: baseDomain)
    }

    public func allows(_ host: String) -> Bool {
        var host = host.lowercased()
        if host.hasSuffix(".") { host.removeLast() }
        if let platformHost, host == platformHost { return false }
        if let baseDomain, !baseDomain.isEmpty, host == baseDomain || host.hasSuffix("." + baseDomain) { return false }
        return true
    }
}

public struct PostgresTenantRepository: TenantRepository {
    let database: Database
    let customDomains: CustomDomainRule
    var logger: Logger { database.logger }

    public init(database: Database, customDomains: CustomDomainRule = CustomDomainRule()) {
        self.database = database
        self.customDomains = customDomains
    }

    public func create(slug: String, displayName: String, domains: [String]) async throws -> Tenant {
        guard Tenant.isValidSlug(slug) else { throw TenantRepositoryError.invalidSlug }
        let domains = domains.map { $0.lowercased() }
        for domain in domains where !URIParser.isValidDNSName(domain) || !domain.contains(".") {
            throw TenantRepositoryError.invalidDomain(domain)
        }
        if let reserved = domains.first(where: { !customDomains.allows($0) }) { throw TenantRepositoryError.reservedDomain(reserved) }
        let name = displayName.isEmpty ? slug : displayName
        do {
            return try await database.withPlatformScope { connection in
                let rows = try await connection.run(
                    "INSERT INTO tenants (slug, display_name) VALUES (\(slug), \(name)) RETURNING tenant_id", logger: logger)
                guard let id = try rows.first?.decode(UUID.self) else { throw TenantRepositoryError.slugTaken }
                for domain in domains {
                    try await connection.run("INSERT INTO tenant_domains (tenant_id, host) VALUES (\(id), \(domain))", logger: logger)
                }
                return Tenant(id: id, slug: slug, displayName: name)
            }
        } catch let error as DatabaseError where error.kind == .uniqueViolation {
            if error.constraint == "tenants_slug_key" { throw TenantRepositoryError.slugTaken }
            throw TenantRepositoryError.domainTaken(domains.first ?? "")
        }
    }


    public func find(slug: String) async throws -> Tenant? {
        guard Tenant.isValidSlug(slug) else { return nil }
        return try await resolve("SELECT * FROM registrar_resolve_tenant(\(slug), NULL)")
    }

    public func find(domain: String) async throws -> Tenant? {
        try await resolve("SELECT * FROM registrar_resolve_tenant(NULL, \(domain.lowercased()))")
    }

    private func resolve(_ query: PostgresQuery) async throws -> Tenant? {
        let rows = try await database.query(query)
        for row in rows {
            let (id, slug, name, status, policy, version) = try row.decode((UUID, String, String, String, String?, Int?).self)
            // A stored policy was validated when it was written; should it ever fail to parse,
            // the tenant is treated as unknown rather than served with a policy nobody set.
            let parsed: RegistrationPolicy
            if let policy {
                guard let object = try? JSONValue.parseObject(Array(policy.utf8)),
                      let value = try? RegistrationPolicy(json: .object(object)) else {
                    logger.error("stored policy does not parse", metadata: ["tenant": "\(slug)"])
                    return nil
                }
                parsed = value
            } else {
                parsed = .default
            }
            return Tenant(id: id, slug: slug, displayName: name, status: Tenant.Status(rawValue: status) ?? .suspended,
                          policy: parsed, policyVersion: version ?? 0)
        }
        return nil
    }

    public func domains(of tenantID: UUID) async throws -> [String] {
        let rows = try await database.query("SELECT host FROM tenant_domains WHERE tenant_id = \(tenantID) ORDER BY host")
        var hosts: [String] = []
        for row in rows { hosts.append(try row.decode(String.self)) }
        return hosts
    }

    @discardableResult
    public func setPolicy(_ policy: RegistrationPolicy, for tenantID: UUID, audit: AuditEvent?, expectedVersion: Int?) async throws -> Int {
        let document = policy.json.encodedString()
        return try await database.withTenant(tenantID) { connection in
            let current = try await connection.run(
                "SELECT document::text, version FROM tenant_policies WHERE tenant_id = \(tenantID) FOR UPDATE", logger: logger)
                .first.map { try $0.decode((String, Int).self) }
            if let expectedVersion, expectedVersion != (current?.1 ?? 0) { throw TenantRepositoryError.stale }
            let before = current?.0
            let rows = try await connection.run("""
                INSERT INTO tenant_policies (tenant_id, document) VALUES (\(tenantID), \(document)::jsonb)
                ON CONFLICT (tenant_id) DO UPDATE SET document = EXCLUDED.document,
                    version = tenant_policies.version + 1, updated_at = now()
                RETURNING version
                """, logger: logger)
            let version = try rows.first?.decode(Int.self) ?? 0
            if var audit {
                let previous = before.flatMap { try? JSONValue.parseObject(Array($0.utf8)) }.map(JSONValue.object) ?? RegistrationPolicy.default.json
                audit.details["before"] = previous
                audit.details["after"] = policy.json
                audit.details["version"] = .number(Double(version))
                try await AuditLog.record(audit, tenantID: tenantID, on: connection, logger: logger)
            }
            return version
        }
    }

    public func record(slug: String) async throws -> TenantRecord? {
        guard Tenant.isValidSlug(slug), let tenant = try await find(slug: slug) else { return nil }
        let rows = try await database.query("""
            SELECT created_at, (extract(epoch FROM updated_at) * 1000000)::bigint FROM tenants WHERE tenant_id = \(tenant.id)
            """)
        guard let (createdAt, version) = try rows.first?.decode((Date, Int64).self) else { return nil }
        return TenantRecord(tenant: tenant, domains: try await domains(of: tenant.id), createdAt: createdAt, version: version)
    }

    public func list(afterSlug: String?, limit: Int) async throws -> Page<TenantRecord> {
        let rows = try await database.query("""
            SELECT t.tenant_id, t.slug, t.display_name, t.status, t.created_at, (extract(epoch FROM t.updated_at) * 1000000)::bigint,
                COALESCE((SELECT array_agg(d.host ORDER BY d.host) FROM tenant_domains d WHERE d.tenant_id = t.tenant_id), '{}')
            FROM tenants t WHERE t.slug > \(afterSlug ?? "") ORDER BY t.slug LIMIT \(limit + 1)
            """)
        let records = try rows.prefix(limit).map { row in
            let (id, slug, name, status, createdAt, version, domains) = try row.decode((UUID, String, String, String, Date, Int64, [String]).self)
            return TenantRecord(tenant: Tenant(id: id, slug: slug, displayName: name, status: Tenant.Status(rawValue: status) ?? .suspended),
                                domains: domains, createdAt: createdAt, version: version)
        }
        return Page(items: records, nextCursor: rows.count > limit ? records.last.map { SecretGenerator.base64URL(Array($0.tenant.slug.utf8)) } : nil)
    }

    public func update(_ tenantID: UUID, displayName: String?, status: Tenant.Status?, expectedVersion: Int64?) async throws -> TenantRecord? {
        let slug: String? = try await database.withPlatformScope { connection in
            let rows = try await connection.run("""
                SELECT slug, (extract(epoch FROM updated_at) * 1000000)::bigint FROM tenants WHERE tenant_id = \(tenantID) FOR UPDATE
                """, logger: logger)
            guard let (slug, version) = try rows.first?.decode((String, Int64).self) else { return nil }
            if let expectedVersion, expectedVersion != version { throw TenantRepositoryError.stale }
            try await connection.run("""
                UPDATE tenants SET display_name = COALESCE(\(displayName), display_name), status = COALESCE(\(status?.rawValue), status),
                    updated_at = clock_timestamp() WHERE tenant_id = \(tenantID)
                """, logger: logger)
            return slug
        }
        return try await slug.asyncFlatMap { try await record(slug: $0) }
    }

    public func delete(_ tenantID: UUID, cascade: Bool) async throws -> Bool {
        try await database.withPlatformScope { connection in
            try await connection.run("SELECT set_config('registrar.tenant_id', \(tenantID.uuidString), true)", logger: logger)
            let clients = try await connection.run("SELECT count(*)::integer FROM clients WHERE tenant_id = \(tenantID)", logger: logger)
            if !cascade, try clients.first?.decode(Int.self) ?? 0 > 0 { throw TenantRepositoryError.notEmpty }
            return !(try await connection.run("DELETE FROM tenants WHERE tenant_id = \(tenantID) RETURNING tenant_id", logger: logger)).isEmpty
        }
    }

    public func addDomain(_ host: String, to tenantID: UUID) async throws {
        let host = host.lowercased()
        guard URIParser.isValidDNSName(host), host.contains(".") else { throw TenantRepositoryError.invalidDomain(host) }
        guard customDomains.allows(host) else { throw TenantRepositoryError.reservedDomain(host) }
        do {
            try await database.withPlatformScope { connection in
                try await connection.run("INSERT INTO tenant_domains (tenant_id, host) VALUES (\(tenantID), \(host))", logger: logger)
                try await connection.run("UPDATE tenants SET updated_at = clock_timestamp() WHERE tenant_id = \(tenantID)", logger: logger)
            }
        } catch let error as DatabaseError where error.kind == .uniqueViolation {
            throw TenantRepositoryError.domainTaken(host)
        }
    }

    public func removeDomain(_ host: String, from tenantID: UUID) async throws -> Bool {
        try await database.withPlatformScope { connection in
            let rows = try await connection.run(
                "DELETE FROM tenant_domains WHERE tenant_id = \(tenantID) AND host = \(host.lowercased()) RETURNING host", logger: logger)
            if !rows.isEmpty {
                try await connection.run("UPDATE tenants SET updated_at = clock_timestamp() WHERE tenant_id = \(tenantID)", logger: logger)
            }
            return !rows.isEmpty
        }
    }
}
