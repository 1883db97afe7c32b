import Foundation
import HTTPTypes

/// The cookies of a tenant's authorization server: where they live and what they are called.
///
/// Each is scoped to the tenant's issuer: `Path` is the issuer's path (`/t/acme`) or `/` for a
/// host issuer, so two path tenants on one host never send each other their cookies. Names carry
/// the tenant too (a host issuer, always https, uses the `__Host-` prefix, which the browser only
/// accepts with `Secure`, `Path=/` and no `Domain`), so a cookie set by one tenant can never be
/// mistaken for another's even where paths nest.
public struct SessionCookie: Sendable, Equatable {
    /// The cookie's name.
    public let name: String
    public let path: String
    /// False only when the issuer is plain http on a loopback host (local development): a
    /// `Secure` cookie would never come back there (RFC 6265bis §5.4).
    public let secure: Bool

    /// - Parameter purpose: `session`, or `signin_csrf` for the sign-in form's pre-session cookie.
    public init(purpose: String, issuer: String) {
        let parts = try? URIParser.parse(issuer)
        let scheme = parts?.scheme ?? "https"
        let host = parts?.host ?? ""
        var path = parts?.rest ?? ""
        if let query = path.firstIndex(where: { $0 == "?" || $0 == "#" }) { path = String(path[..<query]) }
        while path.hasSuffix("/") { path.removeLast() }
        self.path = path.isEmpty ? "/" : path
        let loopback = RedirectURI.loopbackHosts.contains(host) || host.hasPrefix("127.") || host.hasSuffix(".localhost")
        self.secure = !(scheme == "http" && loopback)
        if self.path == "/" {
            self.name = secure ? "__Host-registrar_\(purpose)" : "registrar_\(purpose)"
        } else {
            // Path tenants: the last path segment is the slug, a DNS label, so a valid cookie name.
            let slug = self.path.split(separator: "/").last.map(String.init) ?? "tenant"
            self.name = "registrar_\(purpose)_\(slug)"
        }
    }

    public static func session(_ tenant: ResolvedTenant) -> SessionCookie {
        SessionCookie(purpose: "session", issuer: tenant.issuer)
    }

    /// The path under which the tenant's endpoints live as a browser sees them: "" for a host
    /// issuer, `/t/acme` for a path issuer.
    public static func issuerPath(_ tenant: ResolvedTenant) -> String {
        let path = SessionCookie.session(tenant).path
        return path == "/" ? "" : path
    }

    /// `Set-Cookie` that stores `value` for `maxAge` seconds: `HttpOnly` (no script reads it),
    /// `SameSite=Lax` (sent on the top-level navigation back from a client, not on cross-site
    /// subrequests or POSTs).
    public func setting(_ value: String, maxAge: Int) -> String {
        "\(name)=\(value); Path=\(path); Max-Age=\(maxAge); HttpOnly; SameSite=Lax" + (secure ? "; Secure" : "")
    }

    /// `Set-Cookie` that removes the cookie.
    public var clearing: String {
        "\(name)=; Path=\(path); Max-Age=0; HttpOnly; SameSite=Lax" + (secure ? "; Secure" : "")
    }

    /// The cookie's value in the request's `Cookie` headers, if present. A name sent twice (a
    /// cookie from a wider path beside ours) yields the first one, as RFC 6265 §5.4 orders the
    /// most specific path first.
    public func value(in headers: HTTPFields) -> String? {
        for header in headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let trimmed = pair.drop { $0 == " " || $0 == "\t" }
                guard let equals = trimmed.firstIndex(of: "=") else { continue }
                if trimmed[..<equals] == name {
                    let value = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
                    return value.isEmpty ? nil : value
                }
            }
        }
        return nil
    }
}
