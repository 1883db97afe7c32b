import Foundation
import HTTPTypes
import PostgresNIO
import Synchronization
import Testing
@testable import Registrar

/// A clock the test moves by hand (never a sleep).
final class ManualClock: Sendable {
    private let current = Mutex(Date())
    var now: Date { current.withLock { $0 } }
    func advance(by seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

@Suite("Rate limits, overload shedding and client lifecycle")
struct AbuseAndLifecycleTests {
    static let body = #"{"client_name":"Claude Code (flood)","redirect_uris":["http://127.0.0.1:40000/callback"],"token_endpoint_auth_method":"none"}"#

    static func policy(_ change: (inout RegistrationPolicy) -> Void) -> RegistrationPolicy {
        var policy = RegistrationPolicy()
        change(&policy)
        return policy
    }

    /// Sends `count` registrations at once and returns their statuses.
    static func flood(_ server: TestServer, _ path: String, count: Int, body: String = body) async throws -> [Int] {
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<count {
                group.addTask { try await server.postJSON(path, body).status.code }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }

    static func count(_ sql: PostgresQuery, tenant: Tenant) async throws -> Int {
        try await TestEnvironment.withDatabase { database in
            try await database.withTenant(tenant.id) { connection in
                try #require(try await connection.run(sql, logger: TestEnvironment.logger).first).decode(Int.self)
            }
        }
    }

    @Test("Design §8: two instances on one database enforce one limit (accepted ≤ burst)")
    func limitHeldAcrossInstances() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: Self.policy {
            $0.rateLimits.registerPerAddress = RateLimit(limit: 1, periodSeconds: 3600, burst: 5)
        })
        let statuses = try await TestServer.run { first in
            try await TestServer.run { second in
                async let a = Self.flood(first, "/t/\(tenant.slug)/register", count: 12)
                async let b = Self.flood(second, "/t/\(tenant.slug)/register", count: 12)
                return try await a + b
            }
        }
        #expect(statuses.filter { $0 == 201 }.count == 5)
        #expect(statuses.filter { $0 == 429 }.count == 19)
        #expect(try await Self.count("SELECT count(*)::integer FROM clients", tenant: tenant) == 5)
    }

    @Test("draft-ietf-httpapi-ratelimit-headers: 429 carries Retry-After, RateLimit-Policy and RateLimit, in OAuth error JSON")
    func tooManyRequestsHeaders() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: Self.policy {
            $0.rateLimits.registerPerAddress = RateLimit(limit: 2, periodSeconds: 60, burst: 1)
        })
        try await TestServer.run { server in
            #expect(try await server.postJSON("/t/\(tenant.slug)/register", Self.body).status == .created)
            let refused = try await server.postJSON("/t/\(tenant.slug)/register", Self.body)
            #expect(refused.status == .tooManyRequests)
            #expect(refused.object["error"] == .string("too_many_requests"))
            let retry = try #require(refused.header("Retry-After").flatMap(Int.init))
            #expect((1...30).contains(retry))
            #expect(refused.header("RateLimit-Policy") == "\"register_per_address\";q=2;w=60")
            #expect(refused.header("RateLimit") == "\"register_per_address\";r=0;t=\(retry)")
        }
    }

    @Test("Design §8: the limit is checked before hashing, so a flood at the limit never fills the argon2 queue")
    func limitPrecedesHashing() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: Self.policy {
            $0.rateLimits.registerPerAddress = RateLimit(limit: 1, periodSeconds: 3600, burst: 1)
        })
        let statuses = try await TestServer.run(configure: { config in
            // One slow hashing thread and no queue: any second hash in flight would be shed with 503.
            config.argon2 = .init(memoryKiB: 32 * 1024, iterations: 3, parallelism: 1)
            config.argon2Threads = 1
            config.argon2QueueLimit = 0
        }) { server in
            try await Self.flood(server, "/t/\(tenant.slug)/register", count: 20)
        }
        #expect(statuses.filter { $0 == 201 }.count == 1)
        #expect(statuses.filter { $0 == 429 }.count == 19)
        #expect(!statuses.contains(503))
    }

    @Test("Design §2: a full argon2 queue sheds with 503 and Retry-After while health and metadata still answer")
    func overloadSheds() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: Self.policy { $0.registrationAccess = .open })
        try await TestServer.run(configure: { config in
            config.argon2 = .init(memoryKiB: 64 * 1024, iterations: 4, parallelism: 1)
            config.argon2Threads = 1
            config.argon2QueueLimit = 0
            config.rateLimiting = false
        }) { server in
            async let flood = Self.flood(server, "/t/\(tenant.slug)/register", count: 12)
            var cheap: [HTTPResponse.Status] = []
            for _ in 0..<5 {
                cheap.append(try await server.get("/healthz").status)
                cheap.append(try await server.get("/.well-known/oauth-authorization-server/t/\(tenant.slug)").status)
            }
            let statuses = try await flood
            #expect(cheap.allSatisfy { $0 == .ok })
            #expect(statuses.contains(503))
            #expect(statuses.contains(201))
            #expect(statuses.allSatisfy { $0 == 201 || $0 == 503 })
            let shed = try await withThrowingTaskGroup(of: TestServer.Reply.self) { group in
                for _ in 0..<6 { group.addTask { try await server.postJSON("/t/\(tenant.slug)/register", Self.body) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }.first { $0.status == .serviceUnavailable }
            if let shed {
                #expect(shed.header("Retry-After") == "1")
                #expect(shed.object["error"] == .string("temporarily_unavailable"))
            }
        }
    }

    @Test("Design §7: a full tenant refuses registration with 403 access_denied and audits the refusal")
    func maxClients() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: Self.policy { $0.maxClients = 3 })
        let statuses = try await TestServer.run { server in
            try await Self.flood(server, "/t/\(tenant.slug)/register", count: 8)
        }
        #expect(statuses.filter { $0 == 201 }.count == 3)
        #expect(statuses.filter { $0 == 403 }.count == 5)
        #expect(try await Self.count("SELECT count(*)::integer FROM clients", tenant: tenant) == 3)
        #expect(try await Self.count("SELECT count(*)::integer FROM audit_events WHERE action = 'client.registration_refused'", tenant: tenant) == 5)
    }

    @Test("Design §7: with deduplication on, an identical public registration from the same source returns the same client")
    func deduplicationOn() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: Self.policy { $0.deduplicationWindowSeconds = 3600 })
        try await TestServer.run { server in
            let first = try await server.postJSON("/t/\(tenant.slug)/register", Self.body).object
            // Another ephemeral loopback port is the same registration (RFC 8252 §7.3).
            let samePortless = Self.body.replacingOccurrences(of: "40000", with: "51234")
            let second = try await server.postJSON("/t/\(tenant.slug)/register", samePortless).object
            #expect(first["client_id"] != nil)
            #expect(second["client_id"] == first["client_id"])
            let different = try await server.postJSON("/t/\(tenant.slug)/register", Self.body.replacingOccurrences(of: "(flood)", with: "(other)")).object
            #expect(different["client_id"] != first["client_id"])
        }
        #expect(try await Self.count("SELECT count(*)::integer FROM clients", tenant: tenant) == 2)
    }

    @Test("Design §7: a deduplicated registration gets the shared client's id without RFC 7592 credentials; the first holder keeps managing it")
    func deduplicationNeverHandsOverManagement() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: Self.policy { $0.deduplicationWindowSeconds = 3600 })
        try await TestServer.run { server in
            // Two people behind one NAT send the same metadata.
            let first = try await server.postJSON("/t/\(tenant.slug)/register", Self.body)
            let second = try await server.postJSON("/t/\(tenant.slug)/register", Self.body)
            #expect(first.status == .created)
            #expect(second.status == .created)
            let clientID = try #require(first.object["client_id"]?.stringValue)
            let firstToken = try #require(first.object["registration_access_token"]?.stringValue)
            #expect(first.object["registration_client_uri"] != nil)

            // The second person's view: the client's id, nothing to manage it with.
            #expect(second.object["client_id"]?.stringValue == clientID)
            #expect(second.object["registration_access_token"] == nil)
            #expect(second.object["registration_client_uri"] == nil)
            #expect(second.object["redirect_uris"] != nil)
            expectNoEmptyValues(second.json ?? .null)

            // The first person's view: the token still works, and was never rotated out.
            let read = try await server.get("/t/\(tenant.slug)/register/\(clientID)", headers: [.authorization: "Bearer \(firstToken)"])
            #expect(read.status == .ok, "\(read.bodyText)")
            #expect(try await Stored.client(tenant, clientID)?.previousRegistrationAccessTokenHash == nil)
        }
        #expect(try await Self.count("SELECT count(*)::integer FROM clients", tenant: tenant) == 1)
        #expect(try await Self.count("SELECT count(*)::integer FROM audit_events WHERE action = 'client.deduplicated'", tenant: tenant) == 1)
    }

    @Test("Design §7: with deduplication off (the default), identical registrations create separate clients")
    func deduplicationOff() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestServer.run { server in
            let first = try await server.postJSON("/t/\(tenant.slug)/register", Self.body).object
            let second = try await server.postJSON("/t/\(tenant.slug)/register", Self.body).object
            #expect(first["client_id"] != second["client_id"])
        }
    }

    @Test("Design §7: the reaper disables never-used clients, later deletes them, and two reapers act on each client once")
    func reaping() async throws {
        let clock = ManualClock()
        let tenant = try await TestEnvironment.createTenant(policy: Self.policy {
            $0.reapNeverUsedAfterHours = 24
            $0.reapDeleteAfterDays = 7
        })
        var overrides = AppOverrides()
        overrides.now = { clock.now }
        let (used, registered) = try await TestServer.run(overrides: overrides) { server in
            var used: String?
            var registered: Set<String> = []
            for index in 0..<12 {
                let reply = try await server.postJSON("/t/\(tenant.slug)/register", Self.body).object
                registered.insert(try #require(reply["client_id"]?.stringValue))
                if index == 0 {
                    let id = try #require(reply["client_id"]?.stringValue)
                    let token = try #require(reply["registration_access_token"]?.stringValue)
                    #expect(try await server.get("/t/\(tenant.slug)/register/\(id)", headers: [.authorization: "Bearer \(token)"]).status == .ok)
                    used = id
                }
            }
            return (try #require(used), registered)
        }
        try await TestEnvironment.withDatabase { database in
            let repository = PostgresClientReaperRepository(database: database)
            var firstReaper = ClientReaper(repository: repository, now: { clock.now }, logger: TestEnvironment.logger)
            firstReaper.batchSize = 2
            var secondReaper = firstReaper
            secondReaper.batchSize = 3
            let (first, second) = (firstReaper, secondReaper)

            let mine = { (ids: [String]) in ids.filter(registered.contains) }
            let policy = tenant.policy
            #expect(try await repository.tenantsWithReaping().contains { $0.0 == tenant.id })
            // Inside the window nothing happens.
            #expect(try await first.run(tenantID: tenant.id, policy: policy) == ReapingResult())
            clock.advance(by: 25 * 3600)
            async let a = first.run(tenantID: tenant.id, policy: policy)
            async let b = second.run(tenantID: tenant.id, policy: policy)
            let (one, two) = try await (a, b)
            let disabled = mine(one.disabled + two.disabled)
            #expect(disabled.count == 11)
            #expect(Set(disabled).count == 11)
            #expect(!disabled.contains(used))

            clock.advance(by: 8 * 86400)
            async let c = first.run(tenantID: tenant.id, policy: policy)
            async let d = second.run(tenantID: tenant.id, policy: policy)
            let (three, four) = try await (c, d)
            #expect(Set(mine(three.deleted + four.deleted)) == Set(disabled))
            #expect(mine(three.deleted + four.deleted).count == 11)
        }
        #expect(try await Self.count("SELECT count(*)::integer FROM clients", tenant: tenant) == 1)
        #expect(try await Self.count("SELECT count(*)::integer FROM audit_events WHERE action = 'client.reaped'", tenant: tenant) == 22)
    }

    @Test("Design §7: the reaping dry run lists what the reaper would do and changes nothing")
    func reapingDryRun() async throws {
        let clock = ManualClock()
        let tenant = try await TestEnvironment.createTenant(policy: Self.policy { $0.reapNeverUsedAfterHours = 1 })
        var overrides = AppOverrides()
        overrides.now = { clock.now }
        try await TestServer.run(overrides: overrides) { server in
            _ = try await server.postJSON("/t/\(tenant.slug)/register", Self.body)
        }
        clock.advance(by: 2 * 3600)
        let result = try await TestEnvironment.withDatabase { database in
            try await PostgresClientReaperRepository(database: database)
                .candidates(tenantID: tenant.id, rule: ReapingRule(policy: tenant.policy, now: clock.now), limit: 10)
        }
        #expect(result.disabled.count == 1)
        #expect(try await Self.count("SELECT count(*)::integer FROM clients WHERE status = 'active'", tenant: tenant) == 1)
    }

    @Test("Design §7: RFC 7592 use keeps last_used_at current, written at most once a minute")
    func lastUsedCoalesced() async throws {
        let clock = ManualClock()
        let tenant = try await TestEnvironment.createTenant()
        var overrides = AppOverrides()
        overrides.now = { clock.now }
        let (clientID, firstUse, later) = try await TestServer.run(overrides: overrides) { server in
            let reply = try await server.postJSON("/t/\(tenant.slug)/register", Self.body).object
            let id = try #require(reply["client_id"]?.stringValue)
            let headers: HTTPFields = [.authorization: "Bearer \(try #require(reply["registration_access_token"]?.stringValue))"]
            _ = try await server.get("/t/\(tenant.slug)/register/\(id)", headers: headers)
            let firstUse = clock.now
            clock.advance(by: 10)
            _ = try await server.get("/t/\(tenant.slug)/register/\(id)", headers: headers)
            clock.advance(by: 120)
            _ = try await server.get("/t/\(tenant.slug)/register/\(id)", headers: headers)
            return (id, firstUse, clock.now)
        }
        let stored = try await TestEnvironment.withDatabase { database in
            try await PostgresClientRepository(database: database).find(tenantID: tenant.id, clientID: clientID)?.lastUsedAt
        }
        let lastUsed = try #require(stored)
        #expect(abs(lastUsed.timeIntervalSince(later)) < 1)
        #expect(lastUsed.timeIntervalSince(firstUse) > 100)
    }

    @Test("RFC 8252 §7.3: a loopback redirect matches on any port, never on another host or path")
    func loopbackPortVariance() {
        let registered = ["http://127.0.0.1:33418/callback", "http://localhost/cb", "https://app.example.com/cb"]
        #expect(RedirectURIMatcher.matches("http://127.0.0.1:50000/callback", registered: registered))
        #expect(RedirectURIMatcher.matches("http://127.0.0.1/callback", registered: registered))
        #expect(RedirectURIMatcher.matches("http://localhost:8080/cb", registered: registered))
        #expect(!RedirectURIMatcher.matches("http://127.0.0.1:50000/other", registered: registered))
        #expect(!RedirectURIMatcher.matches("http://localhost:50000/callback", registered: registered))
        #expect(!RedirectURIMatcher.matches("https://app.example.com:8443/cb", registered: registered))
        #expect(!RedirectURIMatcher.matches("https://app.example.com/cb?x=1", registered: registered))
    }
}

@Suite("Failed authentication bursts")
struct FailedAuthenticationBurstTests {
    @Test("Design §8: guessing registration access tokens is throttled per address and the burst is audited once")
    func guessingIsThrottledAndAudited() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: AbuseAndLifecycleTests.policy {
            $0.rateLimits.failedAuthenticationsPerAddress = RateLimit(limit: 1, periodSeconds: 3600, burst: 3)
        })
        let statuses = try await TestServer.run { server in
            let reply = try await server.postJSON("/t/\(tenant.slug)/register", AbuseAndLifecycleTests.body).object
            let clientID = try #require(reply["client_id"]?.stringValue)
            var statuses: [Int] = []
            for _ in 0..<8 {
                let guess = "rat_" + SecretGenerator.randomToken()
                statuses.append(try await server.get("/t/\(tenant.slug)/register/\(clientID)", headers: [.authorization: "Bearer \(guess)"]).status.code)
            }
            // Even the right token is refused while the address is throttled.
            let token = try #require(reply["registration_access_token"]?.stringValue)
            statuses.append(try await server.get("/t/\(tenant.slug)/register/\(clientID)", headers: [.authorization: "Bearer \(token)"]).status.code)
            return statuses
        }
        #expect(statuses.prefix(3).allSatisfy { $0 == 401 })
        #expect(statuses.suffix(5).allSatisfy { $0 == 429 })
        let bursts = try await AbuseAndLifecycleTests.count(
            "SELECT count(*)::integer FROM audit_events WHERE action = 'authentication.failures_exceeded'", tenant: tenant)
        #expect(bursts == 1)
    }
}
