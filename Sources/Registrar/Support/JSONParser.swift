/// A strict RFC 8259 parser for request bodies and JWT segments, written instead of decoding with
/// `JSONDecoder` because that one silently keeps one of two members with the same name.
///
/// RFC 7493 (I-JSON) §2.3: "Objects in I-JSON messages MUST NOT have members with duplicate
/// names." A body with `{"redirect_uris": [...], "redirect_uris": [...]}` means one thing to a
/// proxy that keeps the last and another to a parser that keeps the first, so it is refused. Names
/// are compared after unescaping (and, as Swift compares strings, after canonical equivalence,
/// which is also what would collide in the resulting dictionary).
///
/// Nesting is bounded by `JSONValue.maximumDepth` while parsing, so the recursion is bounded too.
struct JSONParser {
    private let bytes: [UInt8]
    private var index = 0
    private var depth = 0

    init(_ bytes: some Collection<UInt8>) {
        self.bytes = Array(bytes)
    }

    /// Parses one complete JSON text: a value with nothing but whitespace around it.
    static func parse(_ bytes: some Collection<UInt8>) throws(JSONBodyError) -> JSONValue {
        var parser = JSONParser(bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue()
        parser.skipWhitespace()
        guard parser.index == parser.bytes.count else { throw .malformed }
        return value
    }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
    }

    private mutating func expect(_ literal: String) throws(JSONBodyError) {
        for byte in literal.utf8 {
            guard current == byte else { throw .malformed }
            index += 1
        }
    }

    private mutating func parseValue() throws(JSONBodyError) -> JSONValue {
        guard let byte = current else { throw .malformed }
        switch byte {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        default: return .number(try parseNumber())
        }
    }

    private mutating func enter() throws(JSONBodyError) {
        depth += 1
        if depth > JSONValue.maximumDepth { throw .tooDeep }
        index += 1
    }

    private mutating func parseObject() throws(JSONBodyError) -> JSONValue {
        try enter()
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw .malformed }
            let name = try parseString()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw .malformed }
            index += 1
            skipWhitespace()
            let value = try parseValue()
            guard members.updateValue(value, forKey: name) == nil else { throw .duplicateMember(name) }
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                depth -= 1
                return .object(members)
            default: throw .malformed
            }
        }
    }

    private mutating func parseArray() throws(JSONBodyError) -> JSONValue {
        try enter()
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                depth -= 1
                return .array(elements)
            default: throw .malformed
            }
        }
    }

    /// RFC 8259 §7: unescaped control characters and lone surrogates are errors; so is invalid UTF-8.
    private mutating func parseString() throws(JSONBodyError) -> String {
        index += 1  // the opening quote
        var decoded: [UInt8] = []
        while true {
            guard let byte = current else { throw .malformed }
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                guard let string = String(validating: decoded, as: UTF8.self) else { throw .malformed }
                return string
            case UInt8(ascii: "\\"):
                index += 1
                guard let escape = current else { throw .malformed }
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(escape)
                case UInt8(ascii: "b"): decoded.append(0x08)
                case UInt8(ascii: "f"): decoded.append(0x0C)
                case UInt8(ascii: "n"): decoded.append(0x0A)
                case UInt8(ascii: "r"): decoded.append(0x0D)
                case UInt8(ascii: "t"): decoded.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try parseHex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        try expect("\\u")
                        let low = try parseHex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw .malformed }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw .malformed
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw .malformed }
                    decoded.append(contentsOf: String(Character(unicode)).utf8)
                default: throw .malformed
                }
            case 0x00..<0x20:
                throw .malformed
            default:
                decoded.append(byte)
                index += 1
            }
        }
    }

    private mutating func parseHex4() throws(JSONBodyError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw .malformed }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw .malformed
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// RFC 8259 §6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, finite.
    private mutating func parseNumber() throws(JSONBodyError) -> Double {
        let start = index
        func digits(_ parser: inout JSONParser) -> Int {
            let from = parser.index
            while let byte = parser.current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { parser.index += 1 }
            return parser.index - from
        }
        if current == UInt8(ascii: "-") { index += 1 }
        if current == UInt8(ascii: "0") {
            index += 1
        } else if digits(&self) == 0 {
            throw .malformed
        }
        if current == UInt8(ascii: ".") {
            index += 1
            guard digits(&self) > 0 else { throw .malformed }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard digits(&self) > 0 else { throw .malformed }
        }
        guard let value = Double(String(decoding: bytes[start..<index], as: UTF8.self)), value.isFinite else { throw .malformed }
        return value
    }
}
