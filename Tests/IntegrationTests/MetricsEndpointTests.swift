import Foundation
import HTTPTypes
import Testing
@testable import Registrar

#if canImport(Glibc)
import Glibc
#endif

/// `GET /metrics`: Prometheus text, counters that move with requests, bounded labels, and who may scrape.
@Suite("Metrics endpoint")
struct MetricsEndpointTests {
    static let publicClient = ClientConfigurationTests.publicClient

    static func scrape(_ server: TestServer, headers: HTTPFields = [:], sourceLocation: SourceLocation = #_sourceLocation) async throws -> PrometheusText {
        let reply = try await server.get("/metrics", headers: headers)
        try #require(reply.status == .ok, "\(reply.status) \(reply.bodyText)", sourceLocation: sourceLocation)
        #expect(reply.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true, sourceLocation: sourceLocation)
        return try PrometheusText(reply.bodyText)
    }

    /// The route template of `POST {issuer}/register` on a path-based issuer, as it is labelled.
    static func isPathRegisterRoute(_ route: String?) -> Bool {
        guard let route else { return false }
        return route.hasPrefix("/t/") && route.hasSuffix("/register") && !route.contains("client_id")
    }

    /// A `GET {issuer}/register/{client_id}` answered 200, on a path-based issuer.
    static func isPathRead(_ sample: PrometheusText.Sample) -> Bool {
        let route = sample.labels["route"] ?? ""
        return sample.labels["method"] == "GET" && sample.labels["status"] == "200" && route.hasPrefix("/t/") && route.contains("client_id")
    }

    static func registrations(_ metrics: PrometheusText) -> Double {
        metrics.series("registrar_http_requests_total")
            .filter { isPathRegisterRoute($0.labels["route"]) && $0.labels["method"] == "POST" && $0.labels["status"] == "201" }
            .reduce(0) { $0 + $1.value }
    }

    @Test("/metrics parses as Prometheus text and its counters move with requests, labelled by route template")
    func countersMoveWithRequests() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestServer.run { server in
            let before = try await Self.scrape(server)
            var clients: [RegisteredReply] = []
            for _ in 0..<3 { clients.append(try await server.register(tenant, Self.publicClient)) }
            #expect(try await server.get(clients[0].path, headers: bearer(clients[0].registrationAccessToken)).status == .ok)
            let after = try await Self.scrape(server)

            #expect(after.types["registrar_http_requests_total"] == "counter")
            #expect(after.types["registrar_http_request_duration_seconds"] == "histogram")
            #expect(Self.registrations(after) - Self.registrations(before) >= 3)
            let registered = after.value("registrar_registrations_total", ["origin": "dcr"])
                - before.value("registrar_registrations_total", ["origin": "dcr"])
            #expect(registered >= 3)
            let readRoute = after.series("registrar_http_requests_total").first(where: Self.isPathRead)
            #expect(readRoute != nil, "the RFC 7592 read is counted under its template")
            let timed = after.series("registrar_http_request_duration_seconds_count").filter { Self.isPathRegisterRoute($0.labels["route"]) }
            #expect(timed.reduce(0) { $0 + $1.value } >= 3)
            #expect(after.value("registrar_db_operation_seconds_count") > before.value("registrar_db_operation_seconds_count"))
            #expect(after.types["registrar_db_operations_in_flight"] == "gauge")
            // The scrape itself is the one request in flight (other tests' servers share the registry).
            #expect(after.value("registrar_http_requests_in_flight") >= 1)
            #expect(after.value("registrar_process_resident_memory_bytes") > 1_000_000)

            // Cardinality: templates, not paths; no tenant label unless the operator asked for one.
            let values = after.samples.flatMap(\.labels.values)
            let identifiers = [tenant.slug] + clients.map(\.clientID)
            #expect(!values.contains { value in identifiers.contains { value.contains($0) } })
            #expect(!after.series("registrar_http_requests_total").contains { $0.labels["tenant"] != nil && $0.labels["tenant"] == tenant.slug })
        }
    }

    @Test("With tenant labels on, requests and registrations carry the resolved tenant's slug")
    func tenantLabelsWhenOptedIn() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestServer.run(configure: { $0.metricsTenantLabels = true }) { server in
            _ = try await server.register(tenant, Self.publicClient)
            let unknown = "not-a-tenant-\(UUID().uuidString.prefix(8).lowercased())"
            #expect(try await server.postJSON("/t/\(unknown)/register", Self.publicClient).status == .notFound)
            let metrics = try await Self.scrape(server)
            #expect(metrics.value("registrar_registrations_total", ["origin": "dcr", "tenant": tenant.slug]) == 1)
            let series = metrics.series("registrar_http_requests_total").filter { $0.labels["tenant"] == tenant.slug }
            #expect(series.contains { $0.labels["method"] == "POST" && $0.labels["status"] == "201" && Self.isPathRegisterRoute($0.labels["route"]) })
            // An unknown slug never becomes a label value: only registered tenants do.
            #expect(!metrics.samples.contains { $0.labels["tenant"]?.hasPrefix("not-a-tenant-") == true })
        }
    }

    @Test("Rate-limit refusals are counted by the limit's name")
    func rateLimitRefusalsAreCounted() async throws {
        var policy = RegistrationPolicy()
        policy.rateLimits.clientConfigurationPerClient = RateLimit(limit: 1, periodSeconds: 3600, burst: 1)
        let tenant = try await TestEnvironment.createTenant(policy: policy)
        try await TestServer.run { server in
            let client = try await server.register(tenant, Self.publicClient)
            let before = try await Self.scrape(server).value("registrar_rate_limit_refusals_total", ["limit": "client_configuration"])
            var refused = 0
            for _ in 0..<3 {
                let reply = try await server.get(client.path, headers: bearer(client.registrationAccessToken))
                if reply.status == .tooManyRequests { refused += 1 }
            }
            #expect(refused >= 2)
            let after = try await Self.scrape(server).value("registrar_rate_limit_refusals_total", ["limit": "client_configuration"])
            #expect(after - before >= Double(refused))
        }
    }

    @Test("/metrics answers on the platform host only: a tenant's domain gets the 404 of an unknown path")
    func platformHostOnly() async throws {
        let domain = "\(TestEnvironment.uniqueSlug("metrics")).customer.test"
        let tenant = try await TestEnvironment.createTenant(domains: [domain])
        try await TestServer.run { server in
            for host in [domain, "\(tenant.slug).\(TestServer.baseDomain)"] {
                let reply = try await server.get("/metrics", host: host)
                #expect(reply.status == .notFound)
                #expect(reply.object["error"] == .string("not_found"))
                #expect(!reply.bodyText.contains("registrar_"))
            }
        }
    }

    @Test("With a metrics token, a scrape needs it as a Bearer credential")
    func tokenRequired() async throws {
        let token = "metrics-" + UUID().uuidString
        try await TestServer.run(configure: { $0.metricsToken = token }) { server in
            for headers: HTTPFields in [[:], bearer("wrong"), bearer(token + "x"), authorization("Basic \(token)")] {
                let reply = try await server.get("/metrics", headers: headers)
                #expect(reply.status == .unauthorized)
                #expect(reply.object["error"] == .string("invalid_token"))
                #expect(!reply.bodyText.contains("registrar_"))
            }
            _ = try await Self.scrape(server, headers: bearer(token))
        }
    }

    @Test("Every metric the Grafana dashboard queries is one this service exports")
    func dashboardQueriesExportedMetrics() async throws {
        let file = URL(fileURLWithPath: TestEnvironment.sqlDirectory).deletingLastPathComponent().appendingPathComponent("docker/grafana-dashboard.json")
        let dashboard = try JSONValue.parseObject(Array(try Data(contentsOf: file)))
        let expressions = (dashboard["panels"]?.arrayValue ?? []).flatMap { panel in
            (panel.objectValue?["targets"]?.arrayValue ?? []).compactMap { $0.objectValue?["expr"]?.stringValue }
        }
        #expect(expressions.count >= 12)
        let pattern = /registrar_[a-z0-9_]+/
        let queried = Set(expressions.flatMap { $0.matches(of: pattern).map { String($0.output) } }).map { name in
            ["_bucket", "_count", "_sum"].first { name.hasSuffix($0) }.map { String(name.dropLast($0.count)) } ?? name
        }
        let tenant = try await TestEnvironment.createTenant()
        let exported = try await TestServer.run { server in
            _ = try await server.register(tenant, Self.publicClient)
            return Set(try await Self.scrape(server).types.keys)
        }
        // Made elsewhere: by the argon2 pool, and by the reaper, which these servers do not run.
        let elsewhere: Set = ["registrar_argon2_queue_depth", "registrar_argon2_wait_seconds", "registrar_argon2_hash_seconds",
                              "registrar_reaper_runs_total", "registrar_rate_limit_refusals_total"]
        for name in Set(queried) {
            #expect(exported.contains(name) || elsewhere.contains(name), "\(name) is queried but not exported")
        }
    }

    /// A port nothing listens on now (the kernel's choice for a socket bound to port 0).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        try #require(bound == 0)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test("With --metrics-port, /metrics is served on its own listener and not on the main port")
    func separateListener() async throws {
        let port = try Self.freePort()
        try await TestServer.run(configure: { $0.metricsPort = port }) { server in
            #expect(try await server.get("/metrics").status == .notFound)
            let metrics = try await Self.scrape(TestServer(port: port))
            #expect(metrics.types["registrar_http_requests_total"] == "counter")
        }
    }
}
