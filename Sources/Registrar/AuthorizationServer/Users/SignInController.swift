import Foundation
import Hummingbird

/// The tenant's sign-in page, `GET/POST {issuer}/signin`, and sign-out, `POST {issuer}/signout`.
public struct SignInController: Sendable {
    /// The sign-in page that returns to `returnTo` once the user has signed in.
    /// - Parameters:
    ///   - returnTo: a path+query under the tenant's own `/authorize` (see `SignInReturnPath`);
    ///     anything else is dropped, and the page then ends at a plain "signed in" page instead
    ///     of redirecting anywhere.
    ///   - loginHint: prefills the email field (OIDC Core §3.1.2.1 `login_hint`).
    ///   - forceLogin: ask for the password even when a session exists (`prompt=login`,
    ///     `max_age` passed). The caller must not send `prompt=login` back in `returnTo`, or the
    ///     browser would come straight back here.
    public static func signInURL(tenant: ResolvedTenant, returnTo: String, loginHint: String?, forceLogin: Bool) -> String {
        var parameters: [String] = []
        if SignInReturnPath.isValid(returnTo, tenant: tenant) {
            parameters.append("return_to=" + SignInReturnPath.encode(returnTo))
        }
        if let loginHint, !loginHint.isEmpty {
            parameters.append("login_hint=" + SignInReturnPath.encode(String(loginHint.prefix(320))))
        }
        if forceLogin { parameters.append("prompt=login") }
        return tenant.issuer + "/signin" + (parameters.isEmpty ? "" : "?" + parameters.joined(separator: "&"))
    }
}
