import Foundation
import Hummingbird

/// A tenant's resource servers (its MCP servers): registered, listed, changed, deleted, their
/// introspection credential rotated; and for each, what the MCP server must publish so that
/// clients find this tenant's authorization server (RFC 9728).
extension AdminController {
    func addResourceServerRoutes(to router: Router<AppRequestContext>, servers: any ResourceServerRepository) {
        let group = router.group(RouterPath(Self.prefix))
        let routes = ResourceServerRoutes(admin: self, servers: servers)
        group.post("/tenants/:tenant/resource-servers", use: routes.create)
        group.get("/tenants/:tenant/resource-servers", use: routes.list)
        group.get("/tenants/:tenant/resource-servers/:id", use: routes.get)
        group.patch("/tenants/:tenant/resource-servers/:id", use: routes.update)
        group.delete("/tenants/:tenant/resource-servers/:id", use: routes.delete)
        group.post("/tenants/:tenant/resource-servers/:id/credential", use: routes.rotateCredential)
        group.get("/tenants/:tenant/resource-servers/:id/protected-resource-metadata", use: routes.metadataDocument)
    }
}

/// The handlers, with the repository the admin controller itself does not hold.
struct ResourceServerRoutes: Sendable {
    let admin: AdminController
    let servers: any ResourceServerRepository

    var service: ResourceServerService {
        ResourceServerService(servers: servers, hasher: admin.verifier.hasher, tags: admin.verifier.tags, now: admin.now)
    }

    /// The issuer the documents name: `?issuer=` when it is one of the tenant's, else the preferred one.
    func issuer(_ request: Request, _ record: TenantRecord) throws -> String {
        let issuers = ResourceServerService.issuers(slug: record.tenant.slug, domains: record.domains,
                                                    publicBaseURL: admin.resolver.publicBaseURL, baseDomain: admin.resolver.baseDomain)
        guard let asked = request.uri.queryParameters["issuer"].map(String.init) else { return issuers[0] }
        guard issuers.contains(asked) else {
            throw Problem.invalid("issuer", "must be one of this tenant's issuers: \(issuers.joined(separator: ", "))")
        }
        return asked
    }

    // MARK: - Input

    struct Input {
        var resource: ResourceIndicator?
        var displayName: String?
        var scopes: [String]?
        var isDefault: Bool?
    }

    /// The request's members, each checked by the service's rules; `create` requires the URL and name.
    func input(_ request: Request, policy: RegistrationPolicy, create: Bool) async throws -> (Input, changed: [String]) {
        let body = try await admin.body(request, allowed: ["resource", "display_name", "scopes", "default"])
        var input = Input()
        do {
            if let raw = try AdminController.string(body, "resource", required: create, maxLength: ResourceIndicator.maximumLength) {
                input.resource = try ResourceServerService.resource(raw)
            }
            if let name = try AdminController.string(body, "display_name", required: create, maxLength: ResourceServerService.maximumDisplayName) {
                input.displayName = try ResourceServerService.displayName(name)
            }
            if let value = body["scopes"], value != .null {
                guard let items = value.arrayValue else { throw Problem.invalid("scopes", "must be an array of scope strings") }
                let strings = items.compactMap(\.stringValue)
                guard strings.count == items.count else { throw Problem.invalid("scopes", "must be an array of scope strings") }
                input.scopes = try ResourceServerService.scopes(strings, policy: policy)
            }
            if let value = body["default"], value != .null {
                guard let flag = value.boolValue else { throw Problem.invalid("default", "must be true or false") }
                input.isDefault = flag
            }
        } catch let refused as ResourceServerService.Refused {
            throw Problem.invalid(refused.field, refused.reason)
        }
        return (input, body.filter { $0.value != .null }.keys.sorted())
    }

    /// Repository refusals as problems.
    func storing<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch ResourceServerRepositoryError.uriTaken {
            throw Problem(.conflict, "this tenant already has a resource server with this URL (compared in RFC 8707 canonical form)")
        } catch ResourceServerRepositoryError.defaultTaken {
            throw Problem(.conflict, "another resource server became the default at the same time; try again")
        }
    }

    func found(_ record: TenantRecord, _ context: AppRequestContext) async throws -> ResourceServer {
        let id = try context.parameters.require("id")
        guard let server = try await servers.find(id: id, tenant: record.tenant.id) else { throw Problem.notFound }
        return server
    }

    // MARK: - Handlers

    /// Registers a resource server; its credential is in this response only.
    @Sendable func create(request: Request, context: AppRequestContext) async throws -> Response {
        let (principal, record) = try await admin.tenant(request, context, .write)
        let (input, _) = try await input(request, policy: record.tenant.policy, create: true)
        let issuer = try issuer(request, record)
        let (server, credential) = try await storing {
            try await service.create(tenantID: record.tenant.id, resource: input.resource!, displayName: input.displayName!,
                                     scopes: input.scopes ?? [], isDefault: input.isDefault ?? false,
                                     audit: principal.actor("resource_server.created", context))
        }
        guard case .object(var object) = ResourceServerService.json(server, issuer: issuer) else { throw Problem(.internalError) }
        object["credential"] = .string(credential)
        return .json(.object(object), status: .created, headers: [
            .cacheControl: "no-store", .location: "\(AdminController.prefix)/tenants/\(record.tenant.slug)/resource-servers/\(server.id)",
        ])
    }

    @Sendable func list(request: Request, context: AppRequestContext) async throws -> Response {
        let (_, record) = try await admin.tenant(request, context, .read)
        let (limit, cursorText) = try admin.page(request)
        var cursor: Cursor?
        if let cursorText {
            guard let decoded = Cursor(encoded: cursorText), ResourceServer.isIssuedID(decoded.id) else {
                throw Problem.invalid("cursor", "is not a cursor this API returned")
            }
            cursor = decoded
        }
        let issuer = try issuer(request, record)
        let page = try await servers.list(tenant: record.tenant.id, after: cursor, limit: limit)
        return AdminController.listResponse(page.items.map { ResourceServerService.json($0, issuer: issuer) }, nextCursor: page.nextCursor)
    }

    @Sendable func get(request: Request, context: AppRequestContext) async throws -> Response {
        let (_, record) = try await admin.tenant(request, context, .read)
        let issuer = try issuer(request, record)
        return .json(ResourceServerService.json(try await found(record, context), issuer: issuer), headers: [.cacheControl: "no-store"])
    }

    /// The RFC 9728 document alone, exactly as the MCP server should serve it.
    @Sendable func metadataDocument(request: Request, context: AppRequestContext) async throws -> Response {
        let (_, record) = try await admin.tenant(request, context, .read)
        let issuer = try issuer(request, record)
        let server = try await found(record, context)
        return .json(ProtectedResourceMetadata(server: server, issuer: issuer).document, headers: [.cacheControl: "no-store"])
    }

    /// Changes the URL, name, scopes or default flag; absent members stay as they are. Making
    /// one resource server the default makes the previous default an ordinary one.
    @Sendable func update(request: Request, context: AppRequestContext) async throws -> Response {
        let (principal, record) = try await admin.tenant(request, context, .write)
        let (input, changed) = try await input(request, policy: record.tenant.policy, create: false)
        let issuer = try issuer(request, record)
        let id = try context.parameters.require("id")
        let now = admin.now()
        let updated = try await storing {
            try await servers.modify(id: id, tenant: record.tenant.id, audit: { server in
                var details = ResourceServerService.auditDetails(server)
                details["changed"] = .array(changed.map(JSONValue.string))
                return principal.actor("resource_server.updated", context, details: details)
            }) { current in
                var server = current
                if let resource = input.resource { server.uri = resource }
                if let name = input.displayName { server.displayName = name }
                if let scopes = input.scopes { server.scopes = scopes }
                if let isDefault = input.isDefault { server.isDefault = isDefault }
                server.updatedAt = now
                return server
            }
        }
        guard let updated else { throw Problem.notFound }
        return .json(ResourceServerService.json(updated, issuer: issuer), headers: [.cacheControl: "no-store"])
    }

    @Sendable func delete(request: Request, context: AppRequestContext) async throws -> Response {
        let (principal, record) = try await admin.tenant(request, context, .write)
        let server = try await found(record, context)
        let audit = principal.actor("resource_server.deleted", context, details: ResourceServerService.auditDetails(server))
        guard try await servers.delete(id: server.id, tenant: record.tenant.id, audit: audit) else { throw Problem.notFound }
        return Response(status: .noContent)
    }

    /// A new credential, shown once; the old one stops working at once.
    @Sendable func rotateCredential(request: Request, context: AppRequestContext) async throws -> Response {
        let (principal, record) = try await admin.tenant(request, context, .write)
        let id = try context.parameters.require("id")
        guard let (server, credential) = try await service.rotateCredential(
            id: id, tenantID: record.tenant.id, audit: principal.actor("resource_server.credential_rotated", context))
        else { throw Problem.notFound }
        return .json(.object(["id": .string(server.id), "credential": .string(credential)]), headers: [.cacheControl: "no-store"])
    }
}
