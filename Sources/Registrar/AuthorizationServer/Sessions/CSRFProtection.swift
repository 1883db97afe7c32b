import Foundation

/// CSRF tokens for the authorization server's forms (RFC 9700 §4.4.1.8 on CSRF in the flows;
/// OWASP's "signed double-submit cookie"). A form's token is an HMAC under a server key of what
/// it is bound to: the browser's session (consent, sign-out) or, on the sign-in form, a random
/// pre-session cookie. A cross-site page can neither read that cookie nor compute the HMAC, and
/// a cookie planted by a sibling host is useless without the key. Tokens are compared in
/// constant time.
public struct CSRFProtection: Sendable {
    let key: TokenTagKey

    public init(key: TokenTagKey) {
        self.key = key
    }

    /// The token of a form with `purpose` (e.g. `signin`, `signout`, `consent`) for this tenant
    /// and `binding` (the pre-session cookie value or the session hash).
    public func token(purpose: String, tenant: ResolvedTenant, binding: String) -> String {
        key.tag(Self.message(purpose: purpose, tenant: tenant, binding: binding))
    }

    /// Whether a posted token is the one for this purpose, tenant and binding.
    public func verify(_ presented: String?, purpose: String, tenant: ResolvedTenant, binding: String?) -> Bool {
        guard let presented, let binding, !presented.isEmpty, !binding.isEmpty else { return false }
        return key.matches(Self.message(purpose: purpose, tenant: tenant, binding: binding), tag: presented)
    }

    static func message(purpose: String, tenant: ResolvedTenant, binding: String) -> String {
        "csrf\u{0}\(purpose)\u{0}\(tenant.tenant.id.uuidString)\u{0}\(binding)"
    }

    /// The sign-in form's pre-session cookie (random, like a session id, but signing nobody in).
    public static func preSessionCookie(_ tenant: ResolvedTenant) -> SessionCookie {
        SessionCookie(purpose: "signin_csrf", issuer: tenant.issuer)
    }

    /// The token that a session-bound form (consent, sign-out) carries.
    public func token(purpose: String, tenant: ResolvedTenant, session: SignedInSession) -> String {
        token(purpose: purpose, tenant: tenant, binding: session.sessionHash)
    }

    public func verify(_ presented: String?, purpose: String, tenant: ResolvedTenant, session: SignedInSession) -> Bool {
        verify(presented, purpose: purpose, tenant: tenant, binding: session.sessionHash)
    }
}
