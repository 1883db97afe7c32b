import Foundation

/// One of a tenant's protected resources (its MCP servers): the audience its tokens may name,
/// the scopes it accepts, and the credential it introspects tokens with.
public struct ResourceServer: Sendable, Equatable {
    public let tenantID: UUID
    /// `rs_` + 24 base62 characters; also the `client_id` it authenticates with.
    public let id: String
    /// What requests are matched against (`uri.canonical` is the stored key).
    public var uri: ResourceIndicator
    public var displayName: String
    /// The scopes it accepts, advertised as `scopes_supported` in its RFC 9728 metadata.
    public var scopes: [String]
    /// The audience of tokens requested without `resource` (at most one per tenant).
    public var isDefault: Bool
    /// argon2id PHC string of the credential, and its keyed pre-check tag (design §4).
    public var credentialHash: String
    public var credentialTag: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var lastUsedAt: Date?

    public init(tenantID: UUID, id: String, uri: ResourceIndicator, displayName: String, scopes: [String], isDefault: Bool,
                credentialHash: String, credentialTag: String?, createdAt: Date, updatedAt: Date, lastUsedAt: Date? = nil) {
        self.tenantID = tenantID
        self.id = id
        self.uri = uri
        self.displayName = displayName
        self.scopes = scopes
        self.isDefault = isDefault
        self.credentialHash = credentialHash
        self.credentialTag = credentialTag
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.lastUsedAt = lastUsedAt
    }

    /// The URL as registered (`uri.normalized`): what tokens for this resource carry in `aud`
    /// (RFC 9068 §3, RFC 8707 §2) and what its metadata names as `resource` (RFC 9728 §2), so the
    /// server finds its own URL in both, byte for byte.
    public var audience: String { uri.normalized }

    /// A new resource server id: `rs_` + 24 base62 characters (≈ 143 bits, design §4).
    public static func generateID() -> String {
        "rs_" + SecretGenerator.clientID().dropFirst(3)
    }

    /// A new credential: `rss_` + 43 base64url characters (256 bits), shown once.
    public static func generateCredential() -> String {
        "rss_" + SecretGenerator.randomToken()
    }

    /// Whether `id` has the shape of an id this server issues, so anything else is refused
    /// before it costs a query.
    public static func isIssuedID(_ id: String) -> Bool {
        id.utf8.count == 27 && id.hasPrefix("rs_") && id.utf8.dropFirst(3).allSatisfy(Self.isBase62)
    }

    /// Whether `credential` has the shape of `generateCredential()`'s output.
    public static func isCredentialShaped(_ credential: String) -> Bool {
        credential.utf8.count == 47 && credential.hasPrefix("rss_")
            && credential.utf8.dropFirst(4).allSatisfy { isBase62($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
    }

    static func isBase62(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
    }
}
