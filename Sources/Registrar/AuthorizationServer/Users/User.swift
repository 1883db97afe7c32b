import Foundation

/// A tenant's local user: someone who signs in at the tenant's authorization server. The
/// password hash is deliberately not part of this value, so a `User` can be shown, logged or
/// encoded without ever carrying it.
public struct User: Sendable, Equatable {
    public enum Status: String, Sendable, CaseIterable {
        case active
        /// Cannot sign in; existing sessions end when the user is disabled.
        case disabled
    }

    public let id: UUID
    public let tenantID: UUID
    public var email: String
    public var displayName: String
    public var emailVerified: Bool
    public var status: Status
    public let createdAt: Date
    public var updatedAt: Date
    public var lastSignInAt: Date?

    public init(id: UUID = UUID(), tenantID: UUID, email: String, displayName: String = "", emailVerified: Bool = false,
                status: Status = .active, createdAt: Date, updatedAt: Date? = nil, lastSignInAt: Date? = nil) {
        self.id = id
        self.tenantID = tenantID
        self.email = email
        self.displayName = displayName
        self.emailVerified = emailVerified
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
        self.lastSignInAt = lastSignInAt
    }

    /// The admin API's representation (never any credential).
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(id.uuidString.lowercased()),
            "email": .string(email),
            "display_name": .string(displayName),
            "email_verified": .bool(emailVerified),
            "status": .string(status.rawValue),
            "created_at": .string(createdAt.formatted(.iso8601)),
            "updated_at": .string(updatedAt.formatted(.iso8601)),
        ]
        if let lastSignInAt { object["last_sign_in_at"] = .string(lastSignInAt.formatted(.iso8601)) }
        return .object(object)
    }
}
