import Foundation
import Testing
@testable import Registrar

/// The authorization server's pages: escaped output and the headers every page carries.
@Suite("Page renderer")
struct PageRendererTests {
    @Test("Text a client or user supplied is HTML-escaped, and the page names the tenant and its language")
    func escapesSuppliedText() throws {
        let renderer = try PageRenderer()
        let html = renderer.html("error", ["tenantName": "Acme & Co", "message": "<script>alert(\"x\")</script>"])
        #expect(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"))
        #expect(!html.contains("<script>"))
        #expect(html.contains("Acme &amp; Co"))
        #expect(html.contains("<html lang=\"en\">"))
        #expect(renderer.errorPage(tenantName: "Acme", message: "x").status == .badRequest)
    }

    @Test("Pages are never cached, never framed, run no scripts and send no referrer")
    func securityHeaders() throws {
        let response = try PageRenderer().errorPage(tenantName: "Acme", message: "x")
        #expect(response.headers[.contentType] == "text/html; charset=utf-8")
        #expect(response.headers[.cacheControl] == "no-store")
        let policy = try #require(response.headers[.contentSecurityPolicy])
        #expect(policy.contains("default-src 'none'"))
        #expect(policy.contains("frame-ancestors 'none'"))
        #expect(!policy.contains("script-src"))
        #expect(response.headers[.init("X-Frame-Options")!] == "DENY")
        #expect(response.headers[.init("Referrer-Policy")!] == "no-referrer")
    }
}
