import Foundation

/// Remembered consent: what one user allowed one client, as the union of every scope set they
/// consented to (issue 11 item 1: remembered per user + client + scope set).
public struct ConsentGrant: Sendable, Equatable {
    public let tenantID: UUID
    public let grantID: UUID
    public let userID: UUID
    public let clientID: String
    public var scopes: [String]
    public let createdAt: Date
    public var updatedAt: Date

    public init(tenantID: UUID, grantID: UUID, userID: UUID, clientID: String, scopes: [String], createdAt: Date, updatedAt: Date) {
        self.tenantID = tenantID
        self.grantID = grantID
        self.userID = userID
        self.clientID = clientID
        self.scopes = scopes
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// The union of `existing` and `added`, existing scopes first, each once.
    public static func union(_ existing: [String], _ added: [String]) -> [String] {
        var result = existing
        for scope in added where !result.contains(scope) { result.append(scope) }
        return result
    }
}
