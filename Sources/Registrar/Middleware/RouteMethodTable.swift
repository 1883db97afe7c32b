import HTTPTypes
import Hummingbird
import Synchronization

/// The methods each route answers, read from the router itself once every route is added, so
/// that the `Allow` header of a `405` cannot drift from the routes that exist.
///
/// RFC 9110 §15.5.6: a 405 response MUST carry `Allow` with the target's current methods.
final class RouteMethodTable: Sendable {
    private struct Route: Sendable {
        let components: [RouterPath.Element]
        let method: HTTPRequest.Method
    }

    private let routes = Mutex<[Route]>([])

    init() {}

    /// Takes the router's routes; called after the last route is added.
    func load(from router: Router<AppRequestContext>) {
        let loaded = router.routes.map { Route(components: $0.path.components, method: $0.method) }
        routes.withLock { $0 = loaded }
    }

    /// The methods some route answers on `path`, in a stable order; empty for an unknown path.
    func methods(for path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        var found: [HTTPRequest.Method] = []
        routes.withLock { routes in
            for route in routes where Self.matches(route.components, segments) && !found.contains(route.method) {
                found.append(route.method)
            }
        }
        return found.sorted { $0.rawValue < $1.rawValue }
    }

    static func matches(_ template: [RouterPath.Element], _ segments: [Substring]) -> Bool {
        var index = 0
        for element in template {
            if element.description == "**" { return true }
            guard index < segments.count, element ~= segments[index] else { return false }
            index += 1
        }
        return index == segments.count
    }
}
