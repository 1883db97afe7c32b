import Crypto
import Foundation
import Hummingbird

/// Server-side sessions of a tenant's authorization server. The browser holds a random 256-bit
/// id in a cookie scoped to the tenant (`SessionCookie`); the database holds only its SHA-256,
/// so a leaked table signs nobody in. Lifetimes come from the tenant's policy
/// (`authorization_server.session_idle_lifetime_seconds`, `session_absolute_lifetime_seconds`).
public struct SessionStore: Sendable {
    let sessions: any SessionRepository
    let now: @Sendable () -> Date
    /// How stale `last_seen_at` may get before a request writes it again.
    static let touchIntervalSeconds = 60

    public init(sessions: any SessionRepository, now: @escaping @Sendable () -> Date = { Date() }) {
        self.sessions = sessions
        self.now = now
    }

    /// The stored form of a cookie value.
    public static func hash(_ value: String) -> String {
        SecretGenerator.base64URL(SHA256.hash(data: Data(value.utf8)))
    }

    /// The signed-in session the request's cookie names at this tenant, or nil: no cookie, an
    /// unknown or expired session, a disabled user, or a session of another tenant (the lookup
    /// is keyed by this tenant and runs under its row-level security).
    public func current(_ request: Request, tenant: ResolvedTenant) async throws -> SignedInSession? {
        guard let value = SessionCookie.session(tenant).value(in: request.headers), Self.isWellFormed(value) else { return nil }
        let settings = tenant.tenant.policy.authorizationServer
        return try await sessions.live(hash: Self.hash(value), tenant: tenant.tenant.id, at: now(),
                                       idle: settings.sessionIdleLifetimeSeconds, absolute: settings.sessionAbsoluteLifetimeSeconds,
                                       touchInterval: Self.touchIntervalSeconds)
    }

    /// Starts a session for `user` after a successful sign-in and returns the `Set-Cookie` value.
    /// The id is always new (no session fixation: whatever id the browser had before, it is not
    /// the one that becomes signed in), and the browser's previous session, if any, is deleted.
    public func start(for user: User, request: Request, tenant: ResolvedTenant) async throws -> String {
        let cookie = SessionCookie.session(tenant)
        let previous = cookie.value(in: request.headers).flatMap { Self.isWellFormed($0) ? Self.hash($0) : nil }
        let value = SecretGenerator.randomToken()
        let settings = tenant.tenant.policy.authorizationServer
        let at = now()
        try await sessions.create(hash: Self.hash(value), user: user, tenant: tenant.tenant.id, authTime: at, at: at,
                                  idle: settings.sessionIdleLifetimeSeconds, absolute: settings.sessionAbsoluteLifetimeSeconds,
                                  replacing: previous)
        return cookie.setting(value, maxAge: settings.sessionAbsoluteLifetimeSeconds)
    }

    /// Ends the request's session, if any, and returns the `Set-Cookie` value that removes the cookie.
    public func end(_ request: Request, tenant: ResolvedTenant) async throws -> String {
        let cookie = SessionCookie.session(tenant)
        if let value = cookie.value(in: request.headers), Self.isWellFormed(value) {
            try await sessions.delete(hash: Self.hash(value), tenant: tenant.tenant.id)
        }
        return cookie.clearing
    }

    /// Ends every session of a user (admin revocation, password reset); returns how many.
    public func endAll(userID: UUID, tenant: UUID) async throws -> Int {
        try await sessions.deleteAll(userID: userID, tenant: tenant)
    }

    /// Values this server issues are 43 base64url characters; anything else is not looked up.
    static func isWellFormed(_ value: String) -> Bool {
        value.utf8.count == 43 && value.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
        }
    }
}
