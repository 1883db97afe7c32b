import HTTPTypes
import Hummingbird
import Testing
@testable import Registrar

/// The methods named in a 405's Allow come from the router's routes, matched segment by segment.
@Suite("Route method table")
struct RouteMethodTableTests {
    static let table: RouteMethodTable = {
        let router = Router(context: AppRequestContext.self)
        router.post("/t/:tenant/register") { _, _ in Response(status: .ok) }
        router.get("/t/:tenant/register/:client") { _, _ in Response(status: .ok) }
        router.put("/t/:tenant/register/:client") { _, _ in Response(status: .ok) }
        router.get("/files/**") { _, _ in Response(status: .ok) }
        let table = RouteMethodTable()
        table.load(from: router)
        return table
    }()

    @Test("Allow: a path gets the methods of every route template it matches, sorted; other paths none", arguments: [
        ("/t/acme/register", ["POST"]),
        ("/t/acme/register/cl_1", ["GET", "PUT"]),
        ("/t/acme/register/cl_1/", ["GET", "PUT"]),
        ("/t/acme/register/cl_1/extra", []),
        ("/t/acme", []),
        ("/files/a/b/c", ["GET"]),
        ("/", []),
    ])
    func methodsForPath(path: String, expected: [String]) {
        #expect(Self.table.methods(for: path).map(\.rawValue) == expected)
    }
}
