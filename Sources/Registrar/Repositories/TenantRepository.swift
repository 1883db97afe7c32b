import Foundation
import Logging
import PostgresNIO

/// Why a tenant could not be created or changed.
public enum TenantRepositoryError: Error, Equatable {
    case invalidSlug
    case slugTaken
    case invalidDomain(String)
    case domainTaken(String)
}

/// The tenant registry.
public protocol TenantRepository: Sendable {
    func create(slug: String, displayName: String, domains: [String]) async throws -> Tenant
    func list() async throws -> [Tenant]
    /// The tenant named by a `/t/{slug}` path or a `{slug}.{base domain}` host.
    func find(slug: String) async throws -> Tenant?
    /// The tenant that registered this custom domain.
    func find(domain: String) async throws -> Tenant?
    func domains(of tenantID: UUID) async throws -> [String]
    /// Replaces the policy document and records the change (before and after); returns the new version.
    @discardableResult
    func setPolicy(_ policy: RegistrationPolicy, for tenantID: UUID, audit: AuditEvent?) async throws -> Int
}

public struct PostgresTenantRepository: TenantRepository {
    let database: Database
    var logger: Logger { database.logger }

    public init(database: Database) {
        self.database = database
    }

    public func create(slug: String, displayName: String, domains: [String]) async throws -> Tenant {
        guard Tenant.isValidSlug(slug) else { throw TenantRepositoryError.invalidSlug }
        let domains = domains.map { $0.lowercased() }
        for domain in domains where !URIParser.isValidDNSName(domain) || !domain.contains(".") {
            throw TenantRepositoryError.invalidDomain(domain)
        }
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

    public func list() async throws -> [Tenant] {
        let rows = try await database.query("SELECT tenant_id, slug, display_name, status FROM tenants ORDER BY slug")
        var tenants: [Tenant] = []
        for row in rows {
            let (id, slug, name, status) = try row.decode((UUID, String, String, String).self)
            tenants.append(Tenant(id: id, slug: slug, displayName: name, status: Tenant.Status(rawValue: status) ?? .suspended))
        }
        return tenants
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
    public func setPolicy(_ policy: RegistrationPolicy, for tenantID: UUID, audit: AuditEvent? = nil) async throws -> Int {
        let document = policy.json.encodedString()
        return try await database.withTenant(tenantID) { connection in
            let before = try await connection.run("SELECT document::text FROM tenant_policies WHERE tenant_id = \(tenantID) FOR UPDATE", logger: logger)
                .first.map { try $0.decode(String.self) }
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
}
