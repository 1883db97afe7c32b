import Foundation
import Metrics
import Prometheus

/// The process's metrics, exported by `GET /metrics` in the Prometheus text format.
///
/// swift-metrics has one factory per process, so the registry is bootstrapped once, on first use;
/// every server built in the same process (the tests build many) shares it. Label values come
/// only from bounded sets: route templates, status codes, limit names, registration origins, and
/// tenant slugs only where the operator opted in (`--metrics-tenant-labels`).
public enum RegistrarMetrics {
    public static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Most of this service answers in a few milliseconds; the default buckets start at 5 ms.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
            .seconds(5), .seconds(10),
        ]
        MetricsSystem.bootstrap(factory)
        return registry
    }()

    /// The factory of Registrar's own metrics; touching it bootstraps the process-wide system,
    /// so that metrics made by other components afterwards land in the same registry.
    static var factory: any MetricsFactory {
        _ = registry
        return MetricsSystem.factory
    }

    /// Makes sure the registry is the process's metrics factory before any component is built.
    public static func bootstrap() {
        _ = registry
    }

    /// The exposition text, with the gauges sampled at scrape time brought up to date first.
    public static func exposition() -> [UInt8] {
        if let resident = ProcessMemory.residentBytes() {
            Gauge(label: "registrar_process_resident_memory_bytes", factory: factory).record(resident)
        }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        return buffer
    }

    // MARK: - What the rest of the service counts

    /// A request over a shared limit, refused with 429 (`limit` is the limit's name).
    public static func rateLimitRefused(_ limit: String) {
        Counter(label: "registrar_rate_limit_refusals_total", dimensions: [("limit", limit)], factory: factory).increment()
    }

    /// A client newly stored, by how it came (`dcr`, `admin`, `cimd`).
    public static func clientRegistered(via origin: String, tenant: String) {
        var dimensions = [("origin", origin)]
        if RequestMetricsScope.current != nil { dimensions.append(("tenant", tenant)) }
        Counter(label: "registrar_registrations_total", dimensions: dimensions, factory: factory).increment()
    }

    /// One pass of the client reaper.
    public static func reaperRan(succeeded: Bool) {
        Counter(label: "registrar_reaper_runs_total", dimensions: [("outcome", succeeded ? "ok" : "failed")], factory: factory).increment()
    }

    /// Database units of work (a statement or a transaction) waiting for or holding a connection.
    static let databaseInFlight = Meter(label: "registrar_db_operations_in_flight", factory: factory)

    /// Times one database unit of work, from asking the pool for a connection to its end.
    static func timeDatabase<T>(_ kind: String, _ body: () async throws -> T) async rethrows -> T {
        databaseInFlight.increment()
        let start = ContinuousClock.now
        defer {
            databaseInFlight.decrement()
            Metrics.Timer(label: "registrar_db_operation_seconds", dimensions: [("kind", kind)], factory: factory)
                .recordInterval(since: start)
        }
        return try await body()
    }
}

extension Metrics.Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}

/// The resident set of this process, read from `/proc/self/statm` (Linux); nil elsewhere.
enum ProcessMemory {
    static func residentBytes() -> Int64? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count >= 2, let pages = Int64(fields[1]) else { return nil }
        return pages * Int64(sysconf(Int32(_SC_PAGESIZE)))
    }
}
