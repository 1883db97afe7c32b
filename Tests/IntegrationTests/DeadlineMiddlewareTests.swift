import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Registrar

/// The deadline costs no task per request: the handler runs in the very task the middleware
/// runs in, and it sees the deadline the middleware set.
@Suite("Deadline middleware")
struct DeadlineMiddlewareTests {
    static func taskHash() -> String {
        withUnsafeCurrentTask { task in task.map { String($0.hashValue) } ?? "none" }
    }

    /// Records the task it runs in, outside the deadline middleware.
    struct TaskProbe: RouterMiddleware {
        typealias Context = AppRequestContext
        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            let outside = DeadlineMiddlewareTests.taskHash()
            var response = try await next(request, context)
            response.headers[HTTPField.Name("X-Outer-Task")!] = outside
            return response
        }
    }

    @Test("Deadline: the handler runs in the request's own task (no child task or task group) and sees the request deadline")
    func handlerRunsInTheRequestTask() async throws {
        let router = Router(context: AppRequestContext.self)
        router.add(middleware: TaskProbe())
        router.add(middleware: DeadlineMiddleware(limit: .seconds(30)))
        router.get("/probe") { _, _ -> Response in
            var headers = HTTPFields()
            headers[HTTPField.Name("X-Inner-Task")!] = DeadlineMiddlewareTests.taskHash()
            headers[HTTPField.Name("X-Deadline-Set")!] = RequestExpiry.deadline == nil ? "no" : "yes"
            return Response(status: .ok, headers: headers)
        }
        let app = Application(router: router)
        try await app.test(.router) { client in
            try await client.execute(uri: "/probe", method: .get) { response in
                #expect(response.status == .ok)
                let outer = response.headers[HTTPField.Name("X-Outer-Task")!]
                #expect(outer != nil && outer != "none")
                #expect(response.headers[HTTPField.Name("X-Inner-Task")!] == outer)
                #expect(response.headers[HTTPField.Name("X-Deadline-Set")!] == "yes")
            }
        }
    }
}
