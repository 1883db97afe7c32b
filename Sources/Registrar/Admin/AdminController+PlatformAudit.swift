import Foundation
import Hummingbird

/// The platform audit log: changes to tenants, their domains and platform keys, newest first.
/// Platform keys only; it outlives the tenants it tells of.
extension AdminController {
    func addPlatformAuditRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("/audit", use: listPlatformAudit)
    }

    @Sendable func listPlatformAudit(request: Request, context: AppRequestContext) async throws -> Response {
        _ = try await requirePlatform(request, context)
        let (limit, before) = try auditPage(request)
        let parameters = request.uri.queryParameters
        var filter = PlatformAuditFilter()
        filter.action = parameters["action"].map(String.init)
        filter.tenantSlug = parameters["tenant"].map(String.init)
        filter.actorID = parameters["actor"].map(String.init)
        filter.since = try dateParameter(request, "since")
        filter.until = try dateParameter(request, "until")
        let page = try await platformAudit.list(filter: filter, before: before, limit: limit)
        return Self.listResponse(page.items.map(\.json), nextCursor: page.nextCursor)
    }
}
