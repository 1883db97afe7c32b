import Foundation
import Hummingbird

/// Tenants: platform keys create, change and delete them; a tenant's own keys may read it.
extension AdminController {
    func addTenantRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("/tenants", use: createTenant)
        group.get("/tenants", use: listTenants)
        group.get("/tenants/:tenant", use: getTenant)
        group.patch("/tenants/:tenant", use: updateTenant)
        group.delete("/tenants/:tenant", use: deleteTenant)
        group.post("/tenants/:tenant/domains", use: addDomain)
        group.delete("/tenants/:tenant/domains/:host", use: removeDomain)
    }

    static func json(_ record: TenantRecord, issuerBase: String) -> JSONValue {
        .object([
            "slug": .string(record.tenant.slug),
            "id": .string(record.tenant.id.uuidString.lowercased()),
            "display_name": .string(record.tenant.displayName),
            "status": .string(record.tenant.status.rawValue),
            "domains": .array(record.domains.map(JSONValue.string)),
            "issuer": .string("\(issuerBase)/t/\(record.tenant.slug)"),
            "created_at": timestamp(record.createdAt)!,
        ])
    }

    func tenantResponse(_ record: TenantRecord, status: HTTPResponse.Status = .ok) -> Response {
        .json(Self.json(record, issuerBase: resolver.publicBaseURL), status: status,
              headers: [.eTag: Self.etag(record.version), .cacheControl: "no-store"])
    }

    static func problem(for error: TenantRepositoryError) -> Problem {
        switch error {
        case .invalidSlug: .invalid("slug", "must be 3-63 characters of a-z, 0-9 and inner hyphens")
        case .slugTaken: Problem(.conflict, "a tenant with this slug exists")
        case .invalidDomain(let host): .invalid("host", "'\(host)' is not a host name")
        case .domainTaken(let host): Problem(.conflict, "the domain '\(host)' belongs to a tenant already")
        case .reservedDomain(let host): .invalid("host", "'\(host)' is the platform's own host or under its base domain, so it cannot be a custom domain")
        case .stale: Problem(.preconditionFailed, "the resource changed since it was read; read it again and retry")
        case .notEmpty: Problem(.conflict, "the tenant still has clients; delete them or pass cascade=true")
        }
    }

    /// Runs a change to tenants or policies; this instance's tenant cache forgets what it knew.
    func mapping<T>(_ body: () async throws -> T) async throws -> T {
        defer { resolver.cache.removeAll() }
        do { return try await body() } catch let error as TenantRepositoryError { throw Self.problem(for: error) }
    }

    @Sendable func createTenant(request: Request, context: AppRequestContext) async throws -> Response {
        _ = try await requirePlatform(request, context)
        let body = try await body(request, allowed: ["slug", "display_name", "domains"])
        let slug = try Self.string(body, "slug", required: true, maxLength: 63)!
        guard Tenant.isValidSlug(slug) else { throw Self.problem(for: .invalidSlug) }
        let name = try Self.string(body, "display_name") ?? slug
        guard !name.isEmpty else { throw Problem.invalid("display_name", "must not be empty") }
        var domains: [String] = []
        if let value = body["domains"], value != .null {
            guard let array = value.arrayValue, array.count <= 20, array.allSatisfy({ $0.stringValue != nil }) else {
                throw Problem.invalid("domains", "must be an array of at most 20 host names")
            }
            domains = array.compactMap(\.stringValue)
        }
        let created = try await mapping { try await tenants.create(slug: slug, displayName: name, domains: domains) }
        guard let record = try await tenants.record(slug: created.slug) else { throw Problem.notFound }
        return tenantResponse(record, status: .created)
    }

    @Sendable func listTenants(request: Request, context: AppRequestContext) async throws -> Response {
        _ = try await requirePlatform(request, context)
        let (limit, cursor) = try page(request)
        var after: String?
        if let cursor {
            guard let slug = Cursor.decodeText(cursor) else { throw Problem.invalid("cursor", "is not a cursor this API returned") }
            after = slug
        }
        let page = try await tenants.list(afterSlug: after, limit: limit)
        return Self.listResponse(page.items.map { Self.json($0, issuerBase: resolver.publicBaseURL) }, nextCursor: page.nextCursor)
    }

    @Sendable func getTenant(request: Request, context: AppRequestContext) async throws -> Response {
        let (_, record) = try await tenant(request, context, .read)
        return tenantResponse(record)
    }

    @Sendable func updateTenant(request: Request, context: AppRequestContext) async throws -> Response {
        _ = try await requirePlatform(request, context)
        let (_, record) = try await tenant(request, context, .write)
        let expected = try Self.ifMatch(request)
        let body = try await body(request, allowed: ["display_name", "status"])
        let name = try Self.string(body, "display_name")
        if let name, name.isEmpty { throw Problem.invalid("display_name", "must not be empty") }
        var status: Tenant.Status?
        if let text = try Self.string(body, "status") {
            guard let value = Tenant.Status(rawValue: text) else { throw Problem.invalid("status", "must be active or suspended") }
            status = value
        }
        guard let updated = try await mapping({
            try await tenants.update(record.tenant.id, displayName: name, status: status, expectedVersion: expected)
        }) else { throw Problem.notFound }
        return tenantResponse(updated)
    }

    @Sendable func deleteTenant(request: Request, context: AppRequestContext) async throws -> Response {
        _ = try await requirePlatform(request, context)
        let (_, record) = try await tenant(request, context, .write)
        let cascade: Bool
        switch request.uri.queryParameters["cascade"].map(String.init) {
        case nil, "false": cascade = false
        case "true": cascade = true
        default: throw Problem.invalid("cascade", "must be true or false")
        }
        guard try await mapping({ try await tenants.delete(record.tenant.id, cascade: cascade) }) else { throw Problem.notFound }
        return Response(status: .noContent)
    }

    @Sendable func addDomain(request: Request, context: AppRequestContext) async throws -> Response {
        _ = try await requirePlatform(request, context)
        let (_, record) = try await tenant(request, context, .write)
        let body = try await body(request, allowed: ["host"])
        let host = try Self.string(body, "host", required: true, maxLength: 253)!
        try await mapping { try await tenants.addDomain(host, to: record.tenant.id) }
        guard let updated = try await tenants.record(slug: record.tenant.slug) else { throw Problem.notFound }
        return tenantResponse(updated, status: .created)
    }

    @Sendable func removeDomain(request: Request, context: AppRequestContext) async throws -> Response {
        _ = try await requirePlatform(request, context)
        let (_, record) = try await tenant(request, context, .write)
        let host = try context.parameters.require("host")
        guard try await mapping({ try await tenants.removeDomain(host, from: record.tenant.id) }) else { throw Problem.notFound }
        return Response(status: .noContent)
    }
}

extension Cursor {
    /// The text inside a simple cursor (a slug or an id).
    static func decodeText(_ cursor: String) -> String? {
        guard cursor.count <= 200, let bytes = Base64URL.decode(cursor) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }
}
