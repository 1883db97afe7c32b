import Hummingbird
import PostgresNIO

/// Liveness answers while the process runs; readiness also needs the database reachable and
/// the schema at the version this code needs.
struct HealthController: Sendable {
    let database: Database
    let requiredSchemaVersion: Int

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/healthz") { _, _ in
            Response.json(.object(["status": .string("ok")]))
        }
        router.get("/readyz", use: ready)
    }

    @Sendable func ready(request: Request, context: AppRequestContext) async throws -> Response {
        var version = 0
        do {
            let rows = try await database.query("SELECT COALESCE(max(version), 0)::integer FROM schema_migrations")
            version = try rows.first?.decode(Int.self) ?? 0
        } catch {
            context.logger.warning("readiness: database unreachable", metadata: ["error": .string(String(describing: error))])
            return Response.json(.object(["status": .string("unavailable"), "reason": .string("database unreachable")]), status: .serviceUnavailable)
        }
        guard version >= requiredSchemaVersion else {
            return Response.json(.object([
                "status": .string("unavailable"),
                "reason": .string("schema version \(version) is older than \(requiredSchemaVersion)"),
            ]), status: .serviceUnavailable)
        }
        return Response.json(.object(["status": .string("ready"), "schema_version": .number(Double(version))]))
    }
}
