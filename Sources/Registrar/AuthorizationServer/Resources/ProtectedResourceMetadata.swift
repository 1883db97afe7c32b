/// What a resource server must serve and say so that MCP clients find its authorization server
/// (RFC 9728; MCP authorization, revision 2025-11-25, "Protected Resource Metadata Discovery").
/// Pure: built from the registered resource and the issuer its clients will use.
public struct ProtectedResourceMetadata: Sendable, Equatable {
    public let resource: String
    public let issuer: String
    public let scopes: [String]
    public let resourceName: String

    public init(server: ResourceServer, issuer: String) {
        resource = server.audience
        self.issuer = issuer
        scopes = server.scopes
        resourceName = server.displayName
    }

    /// The RFC 9728 §2 document. `resource` is the URL as registered: §3.3 makes clients refuse
    /// a document whose `resource` is not identical to the URL they used. `authorization_servers`
    /// names the issuer byte for byte as its own metadata says it (RFC 8414 §3.3; clients of MCP
    /// 2026-07-28 compare them exactly). Only the `header` bearer method (RFC 6750 §2.1): MCP
    /// forbids tokens in the query string. No empty member: `scopes_supported` only when the
    /// server names scopes.
    public var document: JSONValue {
        var object: [String: JSONValue] = [
            "resource": .string(resource),
            "authorization_servers": .array([.string(issuer)]),
            "bearer_methods_supported": .array([.string("header")]),
            "resource_name": .string(resourceName),
        ]
        if !scopes.isEmpty { object["scopes_supported"] = .array(scopes.map(JSONValue.string)) }
        return .object(object)
    }

    /// RFC 9728 §3.1: `/.well-known/oauth-protected-resource` inserted between the host and the
    /// path (a path of `/` alone contributes nothing): `https://h/mcp` serves it at
    /// `https://h/.well-known/oauth-protected-resource/mcp`.
    public var url: String {
        Self.wellKnownURL(for: resource)
    }

    public static func wellKnownURL(for resource: String) -> String {
        guard let indicator = try? ResourceIndicator(parsing: resource) else { return resource }
        let origin = "\(indicator.scheme)://\(indicator.host)" + (indicator.port.map { ":\($0)" } ?? "")
        let path = indicator.path == "/" ? "" : indicator.path
        return origin + "/.well-known/oauth-protected-resource" + path + (indicator.query.map { "?" + $0 } ?? "")
    }

    /// The challenge of the resource server's 401 (RFC 6750 §3): `resource_metadata` points at
    /// the document (RFC 9728 §5.1), and `scope` names what to ask for (MCP 2025-11-25: clients
    /// request the scopes of the challenge first). Neither value can contain a quote or a
    /// backslash: resource URLs are restricted to RFC 3986 characters without them, scope tokens
    /// to RFC 6749 §3.3.
    public var wwwAuthenticate: String {
        var value = "Bearer resource_metadata=\"\(url)\""
        if !scopes.isEmpty { value += ", scope=\"\(scopes.joined(separator: " "))\"" }
        return value
    }
}
