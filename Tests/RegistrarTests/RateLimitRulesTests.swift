import Foundation
import Testing
@testable import Registrar

/// Pure rules of the limiter: address aggregation, the shape of client ids, the ceiling on
/// tenants' limits, and the tenant cache's bounds.
@Suite("Rate limit rules")
struct RateLimitRulesTests {
    @Test("Issue 9: IPv6 sources count per /64 (configurable), IPv4-mapped ones as IPv4, anything else as one key", arguments: [
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "2001:db8:1:2:0:0:0:0/64"),
        ("2001:db8:1:2::1", 64, "2001:db8:1:2:0:0:0:0/64"),
        ("2001:DB8:1:2:ffff::9", 64, "2001:db8:1:2:0:0:0:0/64"),
        ("2001:db8:1:3::1", 64, "2001:db8:1:3:0:0:0:0/64"),
        ("2001:db8:1:2::1", 48, "2001:db8:1:0:0:0:0:0/48"),
        ("2001:db8:1:2::1", 56, "2001:db8:1:0:0:0:0:0/56"),
        ("2001:db8:1:2ff::1", 56, "2001:db8:1:200:0:0:0:0/56"),
        ("2001:db8::1", 128, "2001:db8:0:0:0:0:0:1/128"),
        ("::ffff:203.0.113.7", 64, "203.0.113.7"),
        ("203.0.113.7", 64, "203.0.113.7"),
        ("not an address", 64, "-"),
        ("", 64, "-"),
    ])
    func ipv6AddressesShareOneLimitPerSlash64(address: String, prefixLength: Int, key: String) {
        #expect(SourceAddress.limitKey(address, ipv6PrefixLength: prefixLength) == key)
    }

    @Test("Issue 9: the audited address of an IPv4 peer on a dual-stack socket is plain IPv4", arguments: [
        ("::ffff:192.0.2.1", "192.0.2.1"), ("192.0.2.1", "192.0.2.1"), ("2001:db8::1", "2001:db8::1"), ("junk", "junk"),
    ])
    func ipv4MappedAddressesAreNormalised(address: String, normalised: String) {
        #expect(SourceAddress.normalized(address) == normalised)
    }

    @Test("Issue 9: only ids of the shape this server issues can name a client", arguments: [
        ("cl_0123456789abcdefghijABCD", true),
        ("cl_0123456789abcdefghijABC", false),
        ("cl_0123456789abcdefghijABCDE", false),
        ("cx_0123456789abcdefghijABCD", false),
        ("cl_0123456789abcdefghij-BCD", false),
        ("cl_0123456789abcdefghijABC\u{00E9}", false),
        ("", false),
        (String(repeating: "a", count: 1800), false),
    ])
    func malformedClientIDsNameNoClient(clientID: String, issued: Bool) {
        #expect(RegistrationAccessTokenAuthenticator.isIssuedClientID(clientID) == issued)
    }

    @Test("Issue 9: every id the generator issues has the accepted shape")
    func issuedClientIDsAreAccepted() {
        for _ in 0..<1000 { #expect(RegistrationAccessTokenAuthenticator.isIssuedClientID(SecretGenerator.clientID())) }
    }

    @Test("Issue 9: a tenant's limit above the platform ceiling is refused, naming the field", arguments: [
        (RateLimit(limit: 601, periodSeconds: 60, burst: 10), "rate_limits.register_per_tenant.limit"),
        (RateLimit(limit: 11, periodSeconds: 1, burst: 10), "rate_limits.register_per_tenant.limit"),
        (RateLimit(limit: 600, periodSeconds: 60, burst: 201), "rate_limits.register_per_tenant.burst"),
    ] as [(RateLimit, String)])
    func limitsAboveTheCeilingAreRefused(limit: RateLimit, field: String) {
        var limits = RateLimits()
        limits.registerPerTenant = limit
        #expect(throws: PolicyError.self) { try limits.check(ceiling: RateLimit(limit: 600, periodSeconds: 60, burst: 200), field: "rate_limits") }
        do {
            try limits.check(ceiling: RateLimit(limit: 600, periodSeconds: 60, burst: 200), field: "rate_limits")
        } catch {
            #expect(error.field == field)
        }
    }

    @Test("Issue 9: limits at or below the ceiling, in any unit of time, are accepted", arguments: [
        RateLimit(limit: 600, periodSeconds: 60, burst: 200), RateLimit(limit: 10, periodSeconds: 1, burst: 1),
        RateLimit(limit: 36_000, periodSeconds: 3600, burst: 200),
    ])
    func limitsWithinTheCeilingAreAccepted(limit: RateLimit) throws {
        var limits = RateLimits()
        limits.registerPerTenant = limit
        try limits.check(ceiling: RateLimit(limit: 600, periodSeconds: 60, burst: 200), field: "rate_limits")
    }

    @Test("Issue 9: the default ceiling admits the default tenant limits")
    func defaultCeilingAdmitsDefaults() throws {
        try RateLimits().check(ceiling: PlatformRateLimits().tenantCeiling, field: "rate_limits")
    }

    @Test("Platform limits are written LIMIT/SECONDS[:BURST]", arguments: [
        ("600/60:200", RateLimit(limit: 600, periodSeconds: 60, burst: 200)),
        ("30/1", RateLimit(limit: 30, periodSeconds: 1, burst: 30)),
        ("0/60", nil), ("60", nil), ("60/0", nil), ("a/60", nil), ("60/60:", nil), ("60/60:0", nil), ("60/60/60", nil),
    ] as [(String, RateLimit?)])
    func rateLimitSpecs(spec: String, limit: RateLimit?) {
        #expect(RateLimit(spec: spec) == limit)
    }

    @Test("Issue 9: random unknown names cannot flush a known tenant from the cache")
    func randomNamesCannotFlushKnownTenants() {
        let cache = TenantCache(lifetime: .seconds(300), unknownCapacity: 1000)
        let tenant = Tenant(id: UUID(), slug: "known", displayName: "Known")
        cache.store(tenant, for: "slug:known")
        // More unknown names than the old cache held in total.
        for index in 0..<60_000 { cache.store(nil, for: "slug:random-\(index)") }
        #expect(cache.cached("slug:known")??.id == tenant.id)
        // The newest unknown names are remembered (no query), the oldest forgotten.
        #expect(cache.cached("slug:random-59999") != nil)
        #expect(cache.cached("slug:random-0") == nil)
    }

    @Test("The negative cache forgets the least recently used name first")
    func leastRecentlyUsedIsEvicted() {
        var cache = LRUCache<String, Int>(capacity: 3)
        cache.set(1, for: "a")
        cache.set(2, for: "b")
        cache.set(3, for: "c")
        #expect(cache.value(for: "a") == 1)
        cache.set(4, for: "d")
        #expect(cache.value(for: "b") == nil)
        #expect(cache.value(for: "a") == 1)
        #expect(cache.value(for: "c") == 3)
        cache.removeValue(for: "c")
        cache.set(5, for: "e")
        cache.set(6, for: "f")
        #expect(cache.count == 3)
        #expect(cache.value(for: "d") == nil)
        #expect([cache.value(for: "a"), cache.value(for: "e"), cache.value(for: "f")] == [1, 5, 6])
    }
}
