import Foundation
import Hummingbird

/// `/admin/v1/tenants/{tenant}/users/{user}/grants…`: the consent a user gave, listed and
/// revoked by the tenant's admins. Revoking a grant revokes every token family issued under it,
/// so its refresh tokens stop working at once (issue 11 item 1).
struct AdminGrantRoutes: Sendable {
    let admin: AdminController
    let users: any UserRepository
    let grants: any ConsentGrantRepository

    func addRoutes(to router: Router<AppRequestContext>) {
        let group = router.group(RouterPath(AdminController.prefix))
        group.get("/tenants/:tenant/users/:user_id/grants", use: list)
        group.delete("/tenants/:tenant/users/:user_id/grants", use: revokeAll)
        group.delete("/tenants/:tenant/users/:user_id/grants/:grant_id", use: revoke)
    }

    static func json(_ grant: ConsentGrant, client: RegisteredClient?) -> JSONValue {
        var object: [String: JSONValue] = [
            "grant_id": .string(grant.grantID.uuidString.lowercased()),
            "user_id": .string(grant.userID.uuidString.lowercased()),
            "client_id": .string(grant.clientID),
            "scopes": .array(grant.scopes.map(JSONValue.string)),
            "created_at": AdminController.timestamp(grant.createdAt)!,
            "updated_at": AdminController.timestamp(grant.updatedAt)!,
        ]
        if let name = client?.metadata.clientName, !name.isEmpty { object["client_name"] = .string(name) }
        return .object(object)
    }

    /// The tenant and the user named in the path; an unknown or malformed user id is 404.
    func user(_ request: Request, _ context: AppRequestContext, _ access: AdminController.Access) async throws -> (AdminPrincipal, TenantRecord, User) {
        let (principal, record) = try await admin.tenant(request, context, access)
        guard let id = UUID(uuidString: try context.parameters.require("user_id")),
              let user = try await users.find(id: id, tenant: record.tenant.id)
        else { throw Problem.notFound }
        return (principal, record, user)
    }

    @Sendable func list(request: Request, context: AppRequestContext) async throws -> Response {
        let (_, record, user) = try await user(request, context, .read)
        var items: [JSONValue] = []
        for grant in try await grants.list(userID: user.id, tenantID: record.tenant.id) {
            items.append(Self.json(grant, client: try await admin.clients.find(tenantID: record.tenant.id, clientID: grant.clientID)))
        }
        return AdminController.listResponse(items, nextCursor: nil)
    }

    @Sendable func revoke(request: Request, context: AppRequestContext) async throws -> Response {
        let (principal, record, user) = try await user(request, context, .write)
        guard let grantID = UUID(uuidString: try context.parameters.require("grant_id")) else { throw Problem.notFound }
        let grant = try await grants.list(userID: user.id, tenantID: record.tenant.id).first { $0.grantID == grantID }
        guard let grant else { throw Problem.notFound }
        try await revoke(grant, principal: principal, context: context)
        return Response(status: .noContent)
    }

    @Sendable func revokeAll(request: Request, context: AppRequestContext) async throws -> Response {
        let (principal, record, user) = try await user(request, context, .write)
        for grant in try await grants.list(userID: user.id, tenantID: record.tenant.id) {
            try await revoke(grant, principal: principal, context: context)
        }
        return Response(status: .noContent)
    }

    func revoke(_ grant: ConsentGrant, principal: AdminPrincipal, context: AppRequestContext) async throws {
        guard try await ConsentGrantRevocation(grants: grants, now: admin.now)
            .revoke(grantID: grant.grantID, userID: grant.userID, tenantID: grant.tenantID)
        else { return }
        try await admin.clients.record(
            principal.actor("grant.revoked", context, clientID: grant.clientID,
                            details: ["grant_id": .string(grant.grantID.uuidString.lowercased()), "user_id": .string(grant.userID.uuidString.lowercased())]),
            tenantID: grant.tenantID)
    }
}
