import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Testing
@testable import Registrar

/// Support for the resource server suites: a tenant whose policy allows MCP scopes, and the
/// admin API path of its resource servers. Names start with `Resource` so they clash with no
/// other suite's support.
enum ResourceFixture {
    static let scopes = ["mcp:tools", "mcp:resources"]

    /// A tenant whose policy lets clients ask for the MCP scopes as well as the default ones.
    static func tenant(domains: [String] = []) async throws -> Tenant {
        var policy = RegistrationPolicy()
        policy.allowedScopes += scopes
        return try await TestEnvironment.createTenant(domains: domains, policy: policy)
    }

    static func path(_ tenant: Tenant, _ rest: String = "") -> String {
        "/tenants/\(tenant.slug)/resource-servers" + rest
    }

    /// Registers a resource server through the admin API; requires 201 and returns its body.
    static func create(_ admin: AdminCaller, _ tenant: Tenant, _ body: [String: Any], query: String = "",
                       sourceLocation: SourceLocation = #_sourceLocation) async throws -> [String: JSONValue] {
        let reply = try await admin.post(path(tenant) + query, Self.body(body))
        try #require(reply.status == .created, "\(reply.status): \(reply.bodyText)", sourceLocation: sourceLocation)
        return reply.object
    }

    /// A request as the token endpoint's callers send it, for the authenticator alone.
    static func request(authorization: String? = nil) -> Request {
        var fields = HTTPFields()
        if let authorization { fields[.authorization] = authorization }
        let head = HTTPRequest(method: .post, scheme: "http", authority: "localhost", path: "/introspect", headerFields: fields)
        return Request(head: head, body: RequestBody(buffer: ByteBuffer()))
    }

    static func basic(_ id: String, _ secret: String) -> String {
        "Basic " + Data("\(id):\(secret)".utf8).base64EncodedString()
    }
}

extension ResourceFixture {
    /// A JSON object from Swift literals (strings, booleans, integers, arrays, objects, or
    /// `JSONValue`s), for request bodies.
    static func body(_ object: [String: Any]) -> [String: JSONValue] {
        object.mapValues(json)
    }

    static func json(_ value: Any) -> JSONValue {
        switch value {
        case let value as JSONValue: value
        case let value as String: .string(value)
        case let value as Bool: .bool(value)
        case let value as Int: .number(Double(value))
        case let value as [Any]: .array(value.map(json))
        case let value as [String: Any]: .object(value.mapValues(json))
        default: .null
        }
    }
}
