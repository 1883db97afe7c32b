import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import HummingbirdTLS
import NIOCore
import NIOSSL
import Synchronization
import X509
@testable import Registrar

/// A real HTTPS server on loopback that serves whatever a test puts at a path: client ID
/// metadata documents, JWK Sets, redirects, slow and oversized answers. Its certificate is
/// issued by a CA made for the run, which Registrar trusts only through `--outbound-ca-file`,
/// and it is reached only through `--outbound-allow 127.0.0.1/32`: the guard's two explicit
/// exceptions, so everything else about the fetch is as in production.
struct DocumentServer: Sendable {
    /// What one path answers.
    struct Answer: Sendable {
        var status: HTTPResponse.Status = .ok
        var headers: HTTPFields = [.contentType: "application/json"]
        var body: String
        /// How long to wait before answering.
        var delay: Duration = .zero
        /// Sent in chunks without a Content-Length, so that only the bytes themselves tell the size.
        var chunked = false
    }

    /// The names the certificate is issued for; tests resolve them to 127.0.0.1.
    static let hosts = ["docs.test", "claude.test", "untrusted.test", "dual.test", "idp.test"]
    static let authority = TestAuthority()

    final class Routes: Sendable {
        let answers = Mutex<[String: Answer]>([:])
        let hits = Mutex<[String: Int]>([:])
        /// The request headers and authority (`Host`) of the last request per path.
        let lastHeaders = Mutex<[String: HTTPFields]>([:])
        let lastAuthority = Mutex<[String: String]>([:])
    }

    let port: Int
    let routes: Routes

    /// `https://docs.test:{port}{path}` by default.
    func url(_ path: String, host: String = "docs.test") -> String { "https://\(host):\(port)\(path)" }

    func serve(_ path: String, _ answer: Answer) { routes.answers.withLock { $0[path] = answer } }

    func serve(_ path: String, json: String, headers: HTTPFields = [.contentType: "application/json"]) {
        serve(path, Answer(headers: headers, body: json))
    }

    func hits(_ path: String) -> Int { routes.hits.withLock { $0[path] ?? 0 } }

    func lastHeaders(_ path: String) -> HTTPFields? { routes.lastHeaders.withLock { $0[path] } }

    func lastAuthority(_ path: String) -> String? { routes.lastAuthority.withLock { $0[path] } }

    /// The resolver a Registrar under test uses: the certificate's names on loopback, plus
    /// `private.test` on a private address, which the guard must refuse.
    static var resolver: StaticHostResolver {
        var table = Dictionary(uniqueKeysWithValues: hosts.map { ($0, ["127.0.0.1"]) })
        table["private.test"] = ["10.1.2.3"]
        table["mixed.test"] = ["127.0.0.1", "192.168.1.9"]
        // As `localhost` often resolves: ::1 first, where nothing listens.
        table["dual.test"] = ["::1", "127.0.0.1"]
        return StaticHostResolver(table)
    }

    /// Runs `body` with a document server listening.
    static func run<T: Sendable>(_ body: @escaping @Sendable (DocumentServer) async throws -> T) async throws -> T {
        let routes = Routes()
        let router = Router()
        router.get("**") { request, _ -> Response in
            let path = request.uri.path
            routes.hits.withLock { $0[path, default: 0] += 1 }
            routes.lastHeaders.withLock { $0[path] = request.headers }
            routes.lastAuthority.withLock { $0[path] = request.head.authority }
            guard let answer = routes.answers.withLock({ $0[path] }) else { return Response(status: .notFound) }
            if answer.delay > .zero { try await Task.sleep(for: answer.delay) }
            guard answer.chunked else {
                return Response(status: answer.status, headers: answer.headers, body: .init(byteBuffer: ByteBuffer(string: answer.body)))
            }
            let chunks = stride(from: 0, to: answer.body.utf8.count, by: 1024).map { start in
                ByteBuffer(bytes: Array(answer.body.utf8.dropFirst(start).prefix(1024)))
            }
            return Response(status: answer.status, headers: answer.headers, body: ResponseBody { writer in
                for chunk in chunks { try await writer.write(chunk) }
                try await writer.finish(nil)
            })
        }
        let app = Application(router: router, server: try .tls(.http1(), tlsConfiguration: try authority.serverConfiguration()),
                              configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        return try await app.test(.live) { client in
            try await body(DocumentServer(port: client.port!, routes: routes))
        }
    }
}

/// A CA made for the run, its certificate in a PEM file (for `--outbound-ca-file`), and a server
/// certificate it issued for `DocumentServer.hosts`.
struct TestAuthority: Sendable {
    let caFile: String
    let leafPEM: String
    let leafKeyPEM: String

    init() {
        do {
            let caKey = P256.Signing.PrivateKey()
            let caName = try DistinguishedName { CommonName("Registrar test CA") }
            let now = Date()
            let ca = try Certificate(
                version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
                notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(86_400),
                issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                    Critical(KeyUsage(keyCertSign: true))
                },
                issuerPrivateKey: .init(caKey))
            let leafKey = P256.Signing.PrivateKey()
            let leaf = try Certificate(
                version: .v3, serialNumber: .init(), publicKey: .init(leafKey.publicKey),
                notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(86_400),
                issuer: caName, subject: try DistinguishedName { CommonName("docs.test") }, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true))
                    try ExtendedKeyUsage([.serverAuth])
                    SubjectAlternativeNames(DocumentServer.hosts.map { .dnsName($0) })
                },
                issuerPrivateKey: .init(caKey))
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("registrar-test-ca-\(UUID().uuidString).pem").path
            try ca.serializeAsPEM().pemString.write(toFile: file, atomically: true, encoding: .utf8)
            caFile = file
            leafPEM = try leaf.serializeAsPEM().pemString
            leafKeyPEM = leafKey.pemRepresentation
        } catch {
            fatalError("the test CA could not be made: \(error)")
        }
    }

    func serverConfiguration() throws -> TLSConfiguration {
        TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(leafPEM.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(leafKeyPEM.utf8), format: .pem)))
    }
}

/// A fixed table of names, so that a host resolves to an address of the test's choosing (a
/// private one, or loopback where the document server listens). Unknown names have no address.
struct StaticHostResolver: HostResolver {
    let table: [String: [String]]

    init(_ table: [String: [String]]) {
        self.table = Dictionary(uniqueKeysWithValues: table.map { ($0.key.lowercased(), $0.value) })
    }

    func addresses(of host: String) async throws -> [String] {
        table[host.lowercased()] ?? []
    }
}
