import Foundation
import Hummingbird
import NIOCore

/// The audit log: filtered pages newest first, and an NDJSON export streamed in batches.
extension AdminController {
    func addAuditRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("/tenants/:tenant/audit", use: listAudit)
        group.get("/tenants/:tenant/audit/export", use: exportAudit)
    }

    @Sendable func listAudit(request: Request, context: AppRequestContext) async throws -> Response {
        let (_, record) = try await tenant(request, context, .read)
        let (limit, before) = try auditPage(request)
        let parameters = request.uri.queryParameters
        var filter = AuditFilter()
        filter.action = parameters["action"].map(String.init)
        filter.clientID = parameters["client_id"].map(String.init)
        filter.actorID = parameters["actor"].map(String.init)
        filter.since = try dateParameter(request, "since")
        filter.until = try dateParameter(request, "until")
        let page = try await audit.list(tenantID: record.tenant.id, filter: filter, before: before, limit: limit)
        return Self.listResponse(page.items.map(\.json), nextCursor: page.nextCursor)
    }

    @Sendable func exportAudit(request: Request, context: AppRequestContext) async throws -> Response {
        let (_, record) = try await tenant(request, context, .read)
        let since = try dateParameter(request, "since")
        let until = try dateParameter(request, "until")
        let audit = self.audit
        let tenantID = record.tenant.id
        let body = ResponseBody { writer in
            var after: Int64 = 0
            while true {
                let batch = try await audit.export(tenantID: tenantID, since: since, until: until, after: after, limit: 500)
                guard let last = batch.last else { break }
                var buffer = ByteBuffer()
                for item in batch {
                    buffer.writeBytes(item.json.encoded())
                    buffer.writeInteger(UInt8(ascii: "\n"))
                }
                try await writer.write(buffer)
                after = last.id
                if batch.count < 500 { break }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/x-ndjson", .cacheControl: "no-store"], body: body)
    }
}
