import Foundation
import Hummingbird

/// The tenant's token signing keys: listed (never any private material) and rotated. The
/// store is passed in rather than held by the controller, so that the routes stay beside the
/// keys they manage.
extension AdminController {
    func addSigningKeyRoutes(to router: Router<AppRequestContext>, keys: SigningKeyStore) {
        let group = router.group(RouterPath(Self.prefix))
        group.get("/tenants/:tenant/signing-keys") { request, context in
            try await listSigningKeys(request: request, context: context, keys: keys)
        }
        group.post("/tenants/:tenant/signing-keys/rotate") { request, context in
            try await rotateSigningKey(request: request, context: context, keys: keys)
        }
    }

    static func json(_ key: SigningKeySummary) -> JSONValue {
        var object: [String: JSONValue] = [
            "kid": .string(key.kid),
            "algorithm": .string(key.algorithm),
            "status": .string(key.status.rawValue),
            "created_at": timestamp(key.createdAt)!,
        ]
        if let retired = timestamp(key.retiredAt) { object["retired_at"] = retired }
        if let until = timestamp(key.publishUntil) { object["publish_until"] = until }
        return .object(object)
    }

    func listSigningKeys(request: Request, context: AppRequestContext, keys: SigningKeyStore) async throws -> Response {
        let (_, record) = try await tenant(request, context, .read)
        return Self.listResponse(try await keys.list(tenantID: record.tenant.id).map(Self.json), nextCursor: nil)
    }

    /// A new key signs from now on; the old one stays in `/jwks.json` until every token it
    /// signed has expired (the tenant's access-token lifetime plus a margin). Audited.
    func rotateSigningKey(request: Request, context: AppRequestContext, keys: SigningKeyStore) async throws -> Response {
        let (principal, record) = try await tenant(request, context, .write)
        let (kid, retiredKid) = try await keys.rotate(tenant: record.tenant, audit: principal.actor("signing_key.rotated", context))
        let all = try await keys.list(tenantID: record.tenant.id)
        var object: [String: JSONValue] = [:]
        if let active = all.first(where: { $0.kid == kid }) { object["active"] = Self.json(active) }
        if let retiredKid, let retired = all.first(where: { $0.kid == retiredKid }) { object["retired"] = Self.json(retired) }
        return .json(.object(object), headers: [.cacheControl: "no-store"])
    }
}
