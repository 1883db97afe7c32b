import Foundation
import HTTPTypes
import Hummingbird
import Metrics
import Synchronization

/// Counts and times every request by route template (never the raw path: client ids and slugs
/// would make the label set unbounded), method and status. Placed outside the error middleware,
/// so the status is the one the client received.
struct RequestMetricsMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    /// Adds the tenant's slug as a label (`--metrics-tenant-labels`): one series per tenant, so
    /// only when the operator chose that cost.
    let tenantLabels: Bool

    static let methods: Set<HTTPRequest.Method> = [.get, .head, .post, .put, .patch, .delete, .options]

    /// Requests being answered now: zero at rest. A load test reads it to start a phase only
    /// once the previous phase's abandoned requests have drained.
    static let inFlight = Meter(label: "registrar_http_requests_in_flight", factory: RegistrarMetrics.factory)

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        Self.inFlight.increment()
        defer { Self.inFlight.decrement() }
        let scope = tenantLabels ? RequestMetricsScope() : nil
        do {
            let response = try await RequestMetricsScope.$current.withValue(scope) { try await next(request, context) }
            record(request, context, status: response.status.code, scope: scope, since: start)
            return response
        } catch {
            // Only what the error middleware could not render gets here; it ends as a 500.
            record(request, context, status: (error as? HTTPResponseError)?.status.code ?? 500, scope: scope, since: start)
            throw error
        }
    }

    func record(_ request: Request, _ context: Context, status: Int, scope: RequestMetricsScope?, since start: ContinuousClock.Instant) {
        let route = context.endpointPath ?? "unmatched"
        let method = Self.methods.contains(request.method) ? request.method.rawValue : "OTHER"
        var dimensions = [("route", route), ("method", method), ("status", String(status))]
        if let scope { dimensions.append(("tenant", scope.tenant ?? "-")) }
        Counter(label: "registrar_http_requests_total", dimensions: dimensions, factory: RegistrarMetrics.factory).increment()
        dimensions.remove(at: 2)
        Metrics.Timer(label: "registrar_http_request_duration_seconds", dimensions: dimensions, factory: RegistrarMetrics.factory)
            .recordInterval(since: start)
    }
}

/// Carries the tenant a request resolved to back out to the metrics middleware; present only
/// when tenant labels are on.
final class RequestMetricsScope: Sendable {
    @TaskLocal static var current: RequestMetricsScope?
    private let resolved = Mutex<String?>(nil)

    var tenant: String? { resolved.withLock { $0 } }

    /// Called where a request's tenant is resolved; only registered, active tenants reach it,
    /// so the label's values are bounded by the registry, not by what clients send.
    static func noteTenant(_ slug: String) {
        current?.resolved.withLock { $0 = slug }
    }
}
