import Foundation
import HTTPTypes
import Hummingbird
import Mustache

/// Renders the authorization server's pages (sign-in, consent, errors) from the Mustache
/// templates shipped in the package's resources. Output is HTML-escaped by Mustache's `{{name}}`;
/// templates never use the unescaped forms for anything a client or user supplied.
public struct PageRenderer: Sendable {
    private let library: MustacheLibrary

    /// Loads every `.mustache` file of `directory` (default: the package's templates) at start-up,
    /// so a broken template stops the server from starting instead of failing one request.
    public init(directory: String? = nil) throws {
        let directory = directory ?? Bundle.module.resourceURL!.appendingPathComponent("Templates").path
        var library = MustacheLibrary()
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".mustache") }.sorted()
        for file in files {
            let text = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
            try library.register(text, named: String(file.dropLast(".mustache".count)))
        }
        self.library = library
    }

    /// The page as a response with the headers every page carries: never cached (pages hold CSRF
    /// tokens and personal data), never framed (a framed consent page invites clickjacking), no
    /// scripts at all, and no referrer (query strings carry state).
    public func render(_ template: String, _ values: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let html = html(template, values)
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[.pragma] = "no-cache"
        headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// The page's HTML alone; an unknown template renders as nothing (a programming error the
    /// template tests catch).
    public func html(_ template: String, _ values: [String: Any]) -> String {
        library.render(values, withTemplate: template) ?? ""
    }

    /// The page shown instead of a redirect when the request cannot be trusted to go back to the
    /// client (unknown client, unregistered redirect URI: RFC 6749 §4.1.2.1).
    public func errorPage(tenantName: String, message: String, status: HTTPResponse.Status = .badRequest) -> Response {
        render("error", ["tenantName": tenantName, "message": message], status: status)
    }
}
