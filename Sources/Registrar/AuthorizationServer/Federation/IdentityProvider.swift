import Foundation

/// An OpenID provider a tenant's users sign in with (OpenID Connect Core 1.0 §3.1, the
/// authorization code flow), configured by the tenant's admins. Its client secret exists here
/// only sealed under the key-encryption key.
public struct IdentityProvider: Sendable, Equatable {
    public let tenantID: UUID
    /// The admin's name for it, in URLs and the vault: `[a-z0-9][a-z0-9-]{0,39}`.
    public let id: String
    public var displayName: String
    /// Where discovery starts (OpenID Connect Discovery 1.0 §4): `{issuer}/.well-known/openid-configuration`.
    public var issuer: String
    public var clientID: String
    public var sealedSecret: Data
    /// Always includes `openid`.
    public var scopes: [String]
    /// Which ID token claims name the user's subject, email and name.
    public var subjectClaim: String
    public var emailClaim: String
    public var nameClaim: String
    /// Emails outside these domains are refused; empty: any.
    public var allowedEmailDomains: [String]
    /// Whether the tenant's local passwords stay available beside this provider.
    public var localPasswords: Bool
    public var createdAt: Date
    public var updatedAt: Date

    public init(tenantID: UUID, id: String, displayName: String, issuer: String, clientID: String, sealedSecret: Data,
                scopes: [String], subjectClaim: String = "sub", emailClaim: String = "email", nameClaim: String = "name",
                allowedEmailDomains: [String] = [], localPasswords: Bool = true, createdAt: Date, updatedAt: Date? = nil) {
        self.tenantID = tenantID
        self.id = id
        self.displayName = displayName
        self.issuer = issuer
        self.clientID = clientID
        self.sealedSecret = sealedSecret
        self.scopes = scopes
        self.subjectClaim = subjectClaim
        self.emailClaim = emailClaim
        self.nameClaim = nameClaim
        self.allowedEmailDomains = allowedEmailDomains
        self.localPasswords = localPasswords
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
    }

    /// The sealing purpose of a provider's client secret and of the tokens the vault holds.
    public static let secretPurpose = "identity provider client secret"
    static let vaultPurpose = "upstream token"

    /// Whether an email is in the allowed domains (case-insensitively; any when none are set).
    public func allows(email: String) -> Bool {
        guard !allowedEmailDomains.isEmpty else { return true }
        guard let at = email.lastIndex(of: "@") else { return false }
        let domain = email[email.index(after: at)...].lowercased()
        return allowedEmailDomains.contains { $0.lowercased() == domain }
    }

    /// The admin's view: everything but the secret.
    public var json: JSONValue {
        .object([
            "id": .string(id), "display_name": .string(displayName), "issuer": .string(issuer), "client_id": .string(clientID),
            "scopes": .array(scopes.map(JSONValue.string)),
            "claims": .object(["subject": .string(subjectClaim), "email": .string(emailClaim), "name": .string(nameClaim)]),
            "allowed_email_domains": .array(allowedEmailDomains.map(JSONValue.string)),
            "local_passwords": .bool(localPasswords),
            "created_at": .string(createdAt.formatted(.iso8601)), "updated_at": .string(updatedAt.formatted(.iso8601)),
        ])
    }

    /// What an admin asks for, checked member by member (each refusal names its member).
    public struct Input: Sendable, Equatable {
        public var id: String
        public var displayName: String
        public var issuer: String
        public var clientID: String
        public var clientSecret: String
        public var scopes: [String]
        public var subjectClaim = "sub"
        public var emailClaim = "email"
        public var nameClaim = "name"
        public var allowedEmailDomains: [String] = []
        public var localPasswords = true
    }

    public struct Refused: Error, Equatable {
        public let field: String
        public let reason: String
    }

    static let members: Set<String> = ["id", "display_name", "issuer", "client_id", "client_secret", "scopes", "claims",
                                       "allowed_email_domains", "local_passwords"]

    /// The admin API's body → a checked input.
    public static func input(_ body: [String: JSONValue]) throws(Refused) -> Input {
        if let unknown = body.keys.sorted().first(where: { !members.contains($0) }) { throw Refused(field: unknown, reason: "unknown member") }
        func string(_ name: String, maximum: Int) throws(Refused) -> String {
            guard case .string(let value)? = body[name], !value.isEmpty else { throw Refused(field: name, reason: "is required, a non-empty string") }
            guard value.utf8.count <= maximum else { throw Refused(field: name, reason: "is longer than \(maximum) bytes") }
            guard value.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
                throw Refused(field: name, reason: "must not contain control characters")
            }
            return value
        }
        let id = try string("id", maximum: 40)
        guard id.utf8.first.map({ $0 != UInt8(ascii: "-") }) == true,
              id.utf8.allSatisfy({ (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == UInt8(ascii: "-") }) else {
            throw Refused(field: "id", reason: "must be lower-case letters, digits and '-', not starting with '-'")
        }
        let issuer = try string("issuer", maximum: 2000)
        guard let parts = try? URIParser.parse(issuer), parts.scheme == "https", parts.host != nil,
              !parts.rest.contains("?"), !issuer.hasSuffix("/") else {
            throw Refused(field: "issuer", reason: "must be an https URL without query, fragment or trailing slash (OpenID Connect Discovery §4)")
        }
        var input = Input(id: id, displayName: try string("display_name", maximum: 200), issuer: issuer,
                          clientID: try string("client_id", maximum: 1000), clientSecret: try string("client_secret", maximum: 2000),
                          scopes: ["openid", "email", "profile"])
        if let value = body["scopes"] {
            guard let scopes = value.arrayValue?.compactMap(\.stringValue), scopes.count == value.arrayValue?.count,
                  scopes.count <= 20, scopes.allSatisfy(ScopeSyntax.isValidToken) else {
                throw Refused(field: "scopes", reason: "must be an array of at most 20 scope tokens (RFC 6749 §3.3)")
            }
            input.scopes = (scopes.contains("openid") ? [] : ["openid"]) + scopes.reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
        }
        if let value = body["claims"] {
            guard let claims = value.objectValue else { throw Refused(field: "claims", reason: "must be an object of subject, email and name") }
            for (name, claim) in claims {
                guard ["subject", "email", "name"].contains(name) else { throw Refused(field: "claims.\(name)", reason: "unknown member") }
                guard let text = claim.stringValue, (1...100).contains(text.utf8.count), ScopeSyntax.isValidToken(text) else {
                    throw Refused(field: "claims.\(name)", reason: "must be a claim name")
                }
                switch name {
                case "subject": input.subjectClaim = text
                case "email": input.emailClaim = text
                default: input.nameClaim = text
                }
            }
        }
        if let value = body["allowed_email_domains"] {
            guard let domains = value.arrayValue?.compactMap(\.stringValue), domains.count == value.arrayValue?.count, domains.count <= 100,
                  domains.allSatisfy(URIParser.isValidDNSName) else {
                throw Refused(field: "allowed_email_domains", reason: "must be an array of at most 100 domain names")
            }
            input.allowedEmailDomains = domains.map { $0.lowercased() }
        }
        if let value = body["local_passwords"] {
            guard case .bool(let flag) = value else { throw Refused(field: "local_passwords", reason: "must be a boolean") }
            input.localPasswords = flag
        }
        return input
    }
}
