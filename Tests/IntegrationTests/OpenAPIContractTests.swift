import Foundation
import HTTPTypes
import Hummingbird
import Testing
@testable import Registrar

/// `openapi/admin-v1.json` and the router agree both ways: every `/admin/v1` route is documented
/// with its method, every documented operation is routed, and the server serves that very file.
@Suite("OpenAPI contract: openapi/admin-v1.json matches the admin router")
struct OpenAPIContractTests {
    /// The checkout this file belongs to (Tests/IntegrationTests/ → repository root).
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let documentPath = repositoryRoot.appendingPathComponent("openapi/admin-v1.json").path

    static let httpMethods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    static func document() throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: documentPath))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "the document is not a JSON object")
    }

    /// `METHOD /path` for every operation of the document, paths relative to the server URL,
    /// captures written `{name}`.
    static func documentedOperations() throws -> Set<String> {
        let paths = try #require(try document()["paths"] as? [String: Any], "the document has no paths")
        var operations: Set<String> = []
        for (path, item) in paths {
            let item = try #require(item as? [String: Any], "path item \(path) is not an object")
            for key in item.keys where httpMethods.contains(key) {
                operations.insert("\(key.uppercased()) \(normalised(path))")
            }
        }
        return operations
    }

    /// `METHOD /path` for every route the application registers under `/admin/v1`, relative to it.
    static func routedOperations() async throws -> Set<String> {
        let config = try TestServer.config { $0.openAPIFile = documentPath }
        let components = try buildComponents(config: config, logger: TestEnvironment.logger, overrides: .init())
        var operations: Set<String> = []
        for route in components.router.routes {
            let path = normalised(route.path.description)
            guard path.hasPrefix(AdminController.prefix + "/") else { continue }
            operations.insert("\(route.method.rawValue.uppercased()) \(path.dropFirst(AdminController.prefix.count))")
        }
        try await components.hasher.shutdown()
        return operations
    }

    /// One spelling for captures: Hummingbird's `:name` and OpenAPI's `{name}` both become `{name}`.
    static func normalised(_ path: String) -> String {
        "/" + path.split(separator: "/", omittingEmptySubsequences: true).map { component in
            component.hasPrefix(":") ? "{\(component.dropFirst())}" : String(component)
        }.joined(separator: "/")
    }

    @Test("OpenAPI contract: the document is OpenAPI 3.1 served from /admin/v1")
    func documentShape() throws {
        let document = try Self.document()
        #expect((document["openapi"] as? String)?.hasPrefix("3.1") == true)
        let servers = try #require(document["servers"] as? [[String: Any]])
        #expect(servers.compactMap { $0["url"] as? String } == [AdminController.prefix])
        // Every documented path is relative to the server URL, not absolute.
        for operation in try Self.documentedOperations() {
            #expect(!operation.contains(AdminController.prefix), "\(operation) repeats the server URL")
        }
    }

    @Test("OpenAPI contract: every /admin/v1 route is documented with the same method")
    func everyRouteIsDocumented() async throws {
        let routed = try await Self.routedOperations()
        let documented = try Self.documentedOperations()
        #expect(routed.count >= 28, "the router has fewer admin routes than expected: \(routed.sorted())")
        for operation in routed.subtracting(documented).sorted() {
            Issue.record("routed but not documented in openapi/admin-v1.json: \(operation)")
        }
    }

    @Test("OpenAPI contract: every documented operation exists in the router")
    func everyDocumentedOperationIsRouted() async throws {
        let routed = try await Self.routedOperations()
        let documented = try Self.documentedOperations()
        #expect(!documented.isEmpty)
        for operation in documented.subtracting(routed).sorted() {
            Issue.record("documented in openapi/admin-v1.json but not routed: \(operation)")
        }
    }

    @Test("OpenAPI contract: GET /admin/v1/openapi.json serves the repository's document, without a key")
    func servedDocument() async throws {
        let expected = try String(contentsOfFile: Self.documentPath, encoding: .utf8)
        try await TestServer.run(configure: { $0.openAPIFile = Self.documentPath }) { server in
            let reply = try await server.get("/admin/v1/openapi.json")
            #expect(reply.status == .ok)
            #expect(reply.header("Content-Type")?.hasPrefix("application/json") == true)
            #expect(reply.bodyText == expected)
        }
    }
}
