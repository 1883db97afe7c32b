import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdTLS
import NIOCore
import Synchronization
@testable import Registrar

/// TLS in front of a Registrar under test, on loopback, with a certificate of the run's test CA
/// for `idp.test`: one tenant of the server can then be another's upstream OpenID provider
/// through the guarded outbound client, which speaks https only. Every request is passed on
/// as it came (method, path, query, Host, headers, body) and every answer back as it went.
struct TLSFront: Sendable {
    let port: Int
    let target: Target

    final class Target: Sendable {
        let port = Mutex(0)
    }

    var origin: String { "https://idp.test:\(port)" }

    static func run<T: Sendable>(_ body: @escaping @Sendable (TLSFront) async throws -> T) async throws -> T {
        let target = Target()
        let router = Router()
        @Sendable func pass(_ request: Request, _ context: some RequestContext) async throws -> Response {
            var request = request
            let bytes = try await request.collectBody(upTo: 1 << 20)
            let path = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
            let port = target.port.withLock { $0 }
            let (method, authority, headers) = (request.method, request.head.authority, request.headers)
            let answer = try await TestClient.withClient(host: "127.0.0.1", port: port) { client in
                try await client.execute(.init(path, method: method, authority: authority, headers: headers,
                                               body: bytes.readableBytes > 0 ? bytes : nil))
            }
            var answerHeaders = answer.head.headerFields
            answerHeaders[.transferEncoding] = nil
            return Response(status: answer.head.status, headers: answerHeaders, body: .init(byteBuffer: answer.body ?? ByteBuffer()))
        }
        router.get("**") { request, context in try await pass(request, context) }
        router.post("**") { request, context in try await pass(request, context) }
        let app = Application(router: router, server: try .tls(.http1(), tlsConfiguration: try DocumentServer.authority.serverConfiguration()),
                              configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        return try await app.test(.live) { client in
            try await body(TLSFront(port: client.port!, target: target))
        }
    }
}
