import Foundation

/// A management API key, presented as `rk_{id}.{secret}` and stored as an argon2id hash.
/// A platform key manages tenants and everything in them; a tenant key only its own tenant.
public struct AdminKey: Sendable, Equatable {
    public enum Role: String, Sendable, CaseIterable {
        /// Everything, on every tenant.
        case platform
        /// Read and write within one tenant.
        case admin
        /// Read only within one tenant.
        case viewer
        /// Only the client authentication API of one tenant.
        case service
    }

    public let id: String
    public let tenantID: UUID?
    public let role: Role
    public var label: String
    public var secretHash: String
    /// The keyed pre-check tag of the secret (design §4); nil for rows stored before tags.
    public var secretTag: String?
    public var createdAt: Date
    public var lastUsedAt: Date?
    public var revokedAt: Date?

    public init(id: String, tenantID: UUID?, role: Role, label: String, secretHash: String, createdAt: Date,
                lastUsedAt: Date? = nil, revokedAt: Date? = nil, secretTag: String? = nil) {
        self.id = id
        self.secretTag = secretTag
        self.tenantID = tenantID
        self.role = role
        self.label = label
        self.secretHash = secretHash
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
        self.revokedAt = revokedAt
    }

    /// `rk_{16 base62}.{43 base64url}` split into id and the whole presented value.
    public static func parse(_ presented: String) -> String? {
        guard presented.hasPrefix("rk_"), let dot = presented.firstIndex(of: ".") else { return nil }
        let id = presented[presented.index(presented.startIndex, offsetBy: 3)..<dot]
        let secret = presented[presented.index(after: dot)...]
        guard id.count == 16, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }),
              secret.count == 43, secret.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
        else { return nil }
        return String(id)
    }

    /// A new key id and its one-time presentation.
    public static func generate() -> (id: String, presented: String) {
        let id = SecretGenerator.shortID()
        return (id, "rk_\(id).\(SecretGenerator.randomToken())")
    }
}
