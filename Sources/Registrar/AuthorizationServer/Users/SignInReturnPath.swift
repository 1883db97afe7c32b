/// Where the sign-in page may send the browser after a sign-in: only back into the tenant's own
/// `/authorize`, as a relative path and query. An absolute URL, a scheme-relative `//host`, a
/// backslash (which browsers read as a slash), a fragment or another path is refused, so the
/// sign-in page can never be used as an open redirect (RFC 9700 §4.11).
public enum SignInReturnPath {
    /// The path of the tenant's authorization endpoint as the browser sees it.
    public static func authorizePath(_ tenant: ResolvedTenant) -> String {
        SessionCookie.issuerPath(tenant) + "/authorize"
    }

    /// Characters a return path may hold: RFC 3986 unreserved, sub-delims, `:@/?` and `%` (for
    /// percent-encoded octets). Nothing that a browser might reinterpret.
    static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            Array("-._~!$&'()*+,;=:@/?%".utf8).contains(byte)
        }
    }

    /// Whether `value` is a path+query under the tenant's `/authorize` that may be redirected to.
    public static func isValid(_ value: String, tenant: ResolvedTenant) -> Bool {
        let prefix = authorizePath(tenant)
        guard value.utf8.count <= 8192, value == prefix || value.hasPrefix(prefix + "?") else { return false }
        return value.utf8.allSatisfy(isAllowed)
    }

    /// `/authorize` with the given query (without its `?`), ready to be a return path.
    public static func authorize(_ tenant: ResolvedTenant, query: String?) -> String {
        guard let query, !query.isEmpty else { return authorizePath(tenant) }
        return authorizePath(tenant) + "?" + query
    }

    /// Percent-encodes a query parameter value (everything but unreserved characters).
    static func encode(_ value: String) -> String {
        var output = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                output.append(Character(Unicode.Scalar(byte)))
            default:
                output += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return output
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
