import Foundation
import PostgresNIO

/// A page of a keyset-paginated list and the opaque cursor of the next page.
public struct Page<Item: Sendable>: Sendable {
    public let items: [Item]
    public let nextCursor: String?
}

/// The position after the last item of a page: a timestamp in whole microseconds (exact, unlike a
/// floating-point Date) and an id to break ties. Opaque to callers: base64url of `micros.id`.
public struct Cursor: Sendable, Equatable {
    public let micros: Int64
    public let id: String

    public init(micros: Int64, id: String) {
        self.micros = micros
        self.id = id
    }

    public var encoded: String { SecretGenerator.base64URL(Array("\(micros).\(id)".utf8)) }

    public init?(encoded: String) {
        guard encoded.count <= 200, let bytes = Base64URL.decode(encoded),
              let text = String(validating: bytes, as: UTF8.self), let dot = text.firstIndex(of: "."),
              let micros = Int64(text[..<dot]) else { return nil }
        self.init(micros: micros, id: String(text[text.index(after: dot)...]))
    }
}

/// Builds a statement with numbered binds, for queries whose filters are optional.
struct QueryBuilder {
    private(set) var sql: String
    private(set) var bindings = PostgresBindings()
    private var count = 0

    init(_ sql: String) { self.sql = sql }

    /// Appends `fragment`, with each `?` replaced by the next bind of `values`, in order.
    mutating func append(_ fragment: String, _ values: any PostgresThrowingDynamicTypeEncodable...) throws {
        var text = ""
        var iterator = values.makeIterator()
        for character in fragment {
            if character == "?", let value = iterator.next() {
                count += 1
                text += "$\(count)"
                try bindings.append(value)
            } else {
                text.append(character)
            }
        }
        sql += text
    }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: bindings) }
}

/// `created_at` as whole microseconds since 1970, for cursors.
let microsSQL = "(extract(epoch FROM created_at) * 1000000)::bigint"
