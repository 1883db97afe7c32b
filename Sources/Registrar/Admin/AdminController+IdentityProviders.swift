import Foundation
import Hummingbird

/// A tenant's upstream OpenID providers: created (the client secret sealed at once and never
/// shown again), listed, shown and deleted. Deleting one ends its users' links and vaulted tokens.
extension AdminController {
    func addIdentityProviderRoutes(to router: Router<AppRequestContext>, providers: any IdentityProviderRepository,
                                   encryption: KeyEncryptionKey) {
        let group = router.group(RouterPath(Self.prefix))
        let routes = IdentityProviderRoutes(admin: self, providers: providers, encryption: encryption)
        group.post("/tenants/:tenant/identity-providers", use: routes.create)
        group.get("/tenants/:tenant/identity-providers", use: routes.list)
        group.get("/tenants/:tenant/identity-providers/:provider", use: routes.get)
        group.delete("/tenants/:tenant/identity-providers/:provider", use: routes.delete)
    }
}

struct IdentityProviderRoutes: Sendable {
    let admin: AdminController
    let providers: any IdentityProviderRepository
    let encryption: KeyEncryptionKey

    static let maximumProviders = 20

    /// The provider's view, with where its sign-in comes back (the callback to register upstream).
    static func json(_ provider: IdentityProvider, record: TenantRecord, admin: AdminController) -> JSONValue {
        guard case .object(var object) = provider.json else { return provider.json }
        let issuers = ResourceServerService.issuers(slug: record.tenant.slug, domains: record.domains,
                                                    publicBaseURL: admin.resolver.publicBaseURL, baseDomain: admin.resolver.baseDomain)
        object["redirect_uris"] = .array(issuers.map { .string($0 + "/signin/callback") })
        return .object(object)
    }

    @Sendable func create(request: Request, context: AppRequestContext) async throws -> Response {
        let (principal, record) = try await admin.tenant(request, context, .write)
        let body = try await admin.body(request, allowed: IdentityProvider.members)
        let input: IdentityProvider.Input
        do {
            input = try IdentityProvider.input(body)
        } catch {
            throw Problem.invalid(error.field, error.reason)
        }
        let tenantID = record.tenant.id
        guard try await providers.list(tenant: tenantID).count < Self.maximumProviders else {
            throw Problem(.conflict, "this tenant has \(Self.maximumProviders) identity providers, the most it may have")
        }
        let sealed = try encryption.seal(Data(input.clientSecret.utf8), purpose: IdentityProvider.secretPurpose, tenantID: tenantID, binding: input.id)
        let provider = IdentityProvider(tenantID: tenantID, id: input.id, displayName: input.displayName, issuer: input.issuer,
                                        clientID: input.clientID, sealedSecret: sealed, scopes: input.scopes, subjectClaim: input.subjectClaim,
                                        emailClaim: input.emailClaim, nameClaim: input.nameClaim,
                                        allowedEmailDomains: input.allowedEmailDomains, localPasswords: input.localPasswords,
                                        createdAt: admin.now())
        do {
            try await providers.create(provider, audit: principal.actor("identity_provider.created", context,
                                                                         details: ["provider": .string(provider.id), "issuer": .string(provider.issuer)]))
        } catch IdentityProviderRepositoryError.duplicate {
            throw Problem(.conflict, "this tenant already has an identity provider '\(input.id)'")
        }
        return .json(Self.json(provider, record: record, admin: admin), status: .created, headers: [
            .cacheControl: "no-store", .location: "\(AdminController.prefix)/tenants/\(record.tenant.slug)/identity-providers/\(provider.id)",
        ])
    }

    @Sendable func list(request: Request, context: AppRequestContext) async throws -> Response {
        let (_, record) = try await admin.tenant(request, context, .read)
        let all = try await providers.list(tenant: record.tenant.id)
        return AdminController.listResponse(all.map { Self.json($0, record: record, admin: admin) }, nextCursor: nil)
    }

    @Sendable func get(request: Request, context: AppRequestContext) async throws -> Response {
        let (_, record) = try await admin.tenant(request, context, .read)
        guard let provider = try await providers.find(id: try context.parameters.require("provider"), tenant: record.tenant.id) else {
            throw Problem.notFound
        }
        return .json(Self.json(provider, record: record, admin: admin), headers: [.cacheControl: "no-store"])
    }

    @Sendable func delete(request: Request, context: AppRequestContext) async throws -> Response {
        let (principal, record) = try await admin.tenant(request, context, .write)
        let id = try context.parameters.require("provider")
        guard try await providers.delete(id: id, tenant: record.tenant.id,
                                         audit: principal.actor("identity_provider.deleted", context, details: ["provider": .string(id)])) else {
            throw Problem.notFound
        }
        return Response(status: .noContent)
    }
}
