import Foundation
import Testing
@testable import Registrar

/// The strict request-body parser (RFC 8259, RFC 7493 §2.3).
@Suite("Strict JSON parser")
struct JSONParserTests {
    static func parse(_ text: String) throws(JSONBodyError) -> [String: JSONValue] {
        try JSONValue.parseObject(Array(text.utf8))
    }

    @Test("RFC 7493 §2.3: an object with a member name twice is refused, naming it", arguments: [
        (#"{"redirect_uris":["https://a.example/cb"],"redirect_uris":["https://b.example/cb"]}"#, "redirect_uris"),
        (#"{"a":1,"b":2,"a":1}"#, "a"),
        (#"{"jwks":{"keys":[{"kty":"EC","kty":"RSA"}]}}"#, "kty"),
        (#"{"scope":"x","\u0073cope":"y"}"#, "scope"),
        (#"{"client_name":"a","client_name":"a"}"#, "client_name"),
    ])
    func duplicateMembersRefused(_ text: String, _ name: String) {
        #expect(throws: JSONBodyError.duplicateMember(name)) { try Self.parse(text) }
    }

    @Test("The same name in different objects is not a duplicate")
    func sameNameInDifferentObjects() throws {
        let object = try Self.parse(#"{"a":{"kty":"EC"},"b":[{"kty":"EC"},{"kty":"RSA"}]}"#)
        #expect(object["b"]?.arrayValue?.count == 2)
    }

    @Test("Strings, escapes, numbers and literals are read as RFC 8259 says")
    func values() throws {
        let object = try Self.parse(#" { "s" : "a\"b\\c\/d\n\u00e9\ud83d\ude00" , "n" : -1.5e2, "z": 0, "t": true, "f": false, "x": null, "e": [], "o": {} } "#)
        #expect(object["s"] == .string("a\"b\\c/d\né😀"))
        #expect(object["n"] == .number(-150))
        #expect(object["z"] == .number(0))
        #expect(object["t"] == .bool(true))
        #expect(object["f"] == .bool(false))
        #expect(object["x"] == .null)
        #expect(object["e"] == .array([]))
        #expect(object["o"] == .object([:]))
    }

    @Test("Text RFC 8259 does not allow is malformed", arguments: [
        #"{"a":01}"#, #"{"a":1.}"#, #"{"a":.5}"#, #"{"a":+1}"#, #"{"a":1e}"#, #"{"a":"\ud800"}"#, #"{"a":"\udc00x"}"#,
        "{\"a\":\"tab\there\"}", #"{"a":"\x"}"#, #"{"a":tru}"#, #"{"a":1,}"#, #"{"a":1}x"#, #"{'a':1}"#, #"{"a" 1}"#, #"{"a":[1,]}"#,
        #"{"a":1e999}"#, "",
    ])
    func malformed(_ text: String) {
        #expect(throws: JSONBodyError.malformed) { try Self.parse(text) }
    }

    @Test("Invalid UTF-8 inside a string is malformed")
    func invalidUTF8() {
        let bytes: [UInt8] = Array(#"{"a":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)
        #expect(throws: JSONBodyError.malformed) { try JSONValue.parseObject(bytes) }
    }
}
