import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
@testable import Registrar

/// A live Registrar on a free port, reached over real HTTP. Requests may name any Host, so that
/// custom-domain and subdomain tenants are exercised exactly as in production.
struct TestServer: Sendable {
    /// The platform host the tests use; the public base URL is `http://localhost`.
    static let platformHost = "localhost"
    static let baseDomain = "registrar.test"
    /// One key-encryption key for every test server of the run, as one deployment shares one.
    static let keyEncryptionKey = KeyEncryptionKey.generate()

    let port: Int

    static func config(_ configure: (inout RegistrarConfig) throws -> Void = { _ in }) throws -> RegistrarConfig {
        var config = try RegistrarConfig(
            databaseURL: TestEnvironment.applicationURL(),
            port: 0,
            publicBaseURL: "http://localhost",
            baseDomain: baseDomain,
            argon2: .init(memoryKiB: 256, iterations: 1, parallelism: 1),
            argon2Threads: 2,
            sqlDirectory: TestEnvironment.sqlDirectory)
        // Tests run the reaper themselves, with their own clock.
        config.reaperInterval = nil
        config.keyEncryptionKey = keyEncryptionKey
        try configure(&config)
        return config
    }

    /// Runs `body` against a server built by `buildApplication`, as the executable builds it.
    static func run<T: Sendable>(
        configure: (inout RegistrarConfig) throws -> Void = { _ in },
        overrides: AppOverrides = .init(),
        startupCheck: Bool = true,
        tenantCache: Bool = false,
        _ body: @escaping @Sendable (TestServer) async throws -> T
    ) async throws -> T {
        try await TestEnvironment.prepare()
        var overrides = overrides
        overrides.maximumDatabaseConnections = 4
        overrides.checkSchemaAtStart = startupCheck
        if !tenantCache {
            // Tests change policies under a running server; TenantCacheTests covers the cache.
            overrides.tenantCacheLifetime = .zero
        }
        let config = try config(configure)
        return try await TestAdmission.servers.run {
            let app = try buildApplication(config: config, logger: TestEnvironment.logger, overrides: overrides)
            return try await app.test(.live) { client in
                try await body(TestServer(port: client.port!))
            }
        }
    }

    /// Builds the application and runs it as the executable does, expecting it to refuse to
    /// start; returns the error it stopped with.
    static func startupError(configure: (inout RegistrarConfig) throws -> Void) async throws -> any Error {
        try await TestEnvironment.prepare()
        var overrides = AppOverrides()
        overrides.maximumDatabaseConnections = 2
        let app = try buildApplication(config: try config(configure), logger: TestEnvironment.logger, overrides: overrides)
        do {
            try await withDeadline(.seconds(60), "server start") { try await app.run() }
        } catch let error as DeadlineExceeded {
            throw error
        } catch {
            return error
        }
        struct StartedAnyway: Error {}
        throw StartedAnyway()
    }

    struct Reply: Sendable {
        let status: HTTPResponse.Status
        let headers: HTTPFields
        let bodyText: String

        var json: JSONValue? {
            (try? JSONValue.parseObject(Array(bodyText.utf8))).map(JSONValue.object)
        }

        var object: [String: JSONValue] { json?.objectValue ?? [:] }

        func header(_ name: String) -> String? { headers[HTTPField.Name(name)!] }
    }

    func request(_ method: HTTPRequest.Method, _ path: String, host: String = TestServer.platformHost,
                 headers: HTTPFields = [:], body: String? = nil) async throws -> Reply {
        let buffer = body.map { ByteBuffer(string: $0) }
        let response = try await TestClient.withClient(host: "127.0.0.1", port: port) { client in
            try await client.execute(.init(path, method: method, authority: host, headers: headers, body: buffer))
        }
        return Reply(status: response.head.status, headers: response.head.headerFields,
                     bodyText: response.body.map { String(buffer: $0) } ?? "")
    }

    func get(_ path: String, host: String = TestServer.platformHost, headers: HTTPFields = [:]) async throws -> Reply {
        try await request(.get, path, host: host, headers: headers)
    }

    /// POSTs JSON (a raw string, so malformed bodies can be sent too).
    func postJSON(_ path: String, _ body: String, host: String = TestServer.platformHost, headers: HTTPFields = [:]) async throws -> Reply {
        var headers = headers
        if headers[.contentType] == nil { headers[.contentType] = "application/json" }
        return try await request(.post, path, host: host, headers: headers, body: body)
    }
}

/// Where a tenant is reached in each resolution mode of design §3.
enum ResolutionMode: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case path
    case subdomain
    case customDomain

    var testDescription: String { rawValue }

    /// A new tenant with a custom domain, and where it is reached in this mode.
    func newTenant() async throws -> (tenant: Tenant, host: String, prefix: String, issuer: String) {
        let domain = "\(TestEnvironment.uniqueSlug("auth")).customer.test"
        let tenant = try await TestEnvironment.createTenant(domains: [domain])
        let (host, prefix, issuer) = location(of: tenant, customDomain: domain)
        return (tenant, host, prefix, issuer)
    }

    /// The host to send and the path prefix of the tenant's endpoints.
    func location(of tenant: Tenant, customDomain: String) -> (host: String, prefix: String, issuer: String) {
        switch self {
        case .path: (TestServer.platformHost, "/t/\(tenant.slug)", "http://localhost/t/\(tenant.slug)")
        case .subdomain: ("\(tenant.slug).\(TestServer.baseDomain)", "", "https://\(tenant.slug).\(TestServer.baseDomain)")
        case .customDomain: (customDomain, "", "https://\(customDomain)")
        }
    }
}

import Testing

/// Asserts a JSON body has no null, no empty string and no empty array anywhere.
func expectNoEmptyValues(_ value: JSONValue, path: String = "$", sourceLocation: SourceLocation = #_sourceLocation) {
    switch value {
    case .null: Issue.record("null at \(path)", sourceLocation: sourceLocation)
    case .string(let string): #expect(!string.isEmpty, "empty string at \(path)", sourceLocation: sourceLocation)
    case .array(let array):
        #expect(!array.isEmpty, "empty array at \(path)", sourceLocation: sourceLocation)
        for (index, element) in array.enumerated() { expectNoEmptyValues(element, path: "\(path)[\(index)]", sourceLocation: sourceLocation) }
    case .object(let object):
        for (key, element) in object { expectNoEmptyValues(element, path: "\(path).\(key)", sourceLocation: sourceLocation) }
    case .bool, .number: break
    }
}
