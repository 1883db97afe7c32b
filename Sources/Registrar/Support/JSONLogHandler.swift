import Foundation
import Logging

/// One JSON object per line on standard output: what log collectors expect from a container.
/// Metadata keys become fields, so every line of a request carries its `request_id`.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let label: String

    public init(label: String) {
        self.label = label
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var object: [String: JSONValue] = [
            "ts": .string(Self.timestamp(Date())),
            "level": .string(event.level.rawValue),
            "msg": .string(event.message.description),
            "logger": .string(label),
        ]
        let merged = event.metadata.map { metadata.merging($0) { $1 } } ?? metadata
        for (key, value) in merged where object[key] == nil {
            object[key] = Self.json(value)
        }
        var line = JSONValue.object(object).encoded()
        line.append(UInt8(ascii: "\n"))
        FileHandle.standardOutput.write(line)
    }

    static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let string): .string(string)
        case .stringConvertible(let convertible): .string(convertible.description)
        case .array(let array): .array(array.map(json))
        case .dictionary(let dictionary): .object(dictionary.mapValues(json))
        }
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}
