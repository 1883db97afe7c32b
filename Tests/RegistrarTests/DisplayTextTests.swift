import Foundation
import Testing
@testable import Registrar

/// `client_name` is shown on the consent page: it must not be able to reorder, hide or smear
/// what a person reads there.
@Suite("Display text rules for client_name")
struct DisplayTextTests {
    @Test("Format characters (bidi overrides and isolates, zero-width characters, tags) are refused", arguments: [
        "Goo\u{202E}elg", "Good\u{200B}App", "\u{2066}App\u{2069}", "\u{2067}ppa\u{2069}", "App\u{200E}", "App\u{200F}",
        "\u{202A}App\u{202C}", "App\u{FEFF}", "App\u{061C}", "App\u{E0041}", "App\u{00AD}Name", "x\u{200D}y",
    ])
    func formatCharactersRefused(_ name: String) throws {
        let error = try #require(Fixture.error(Fixture.request(["client_name": .string(name)])))
        #expect(error.code == .invalidClientMetadata)
        #expect(error.errorDescription?.contains("client_name") == true)
    }

    @Test("The same rules hold for a language-tagged client_name")
    func localizedNameChecked() {
        #expect(Fixture.error(Fixture.request(["client_name#ar": .string("\u{202E}evil")]))?.code == .invalidClientMetadata)
    }

    @Test("Line and paragraph separators are refused", arguments: ["a\u{2028}b", "a\u{2029}b"])
    func separatorsRefused(_ name: String) {
        #expect(Fixture.error(Fixture.request(["client_name": .string(name)]))?.code == .invalidClientMetadata)
    }

    @Test("More than the cap of combining marks on one character is refused")
    func combiningMarksCapped() {
        let cap = ClientMetadataValidator.maximumCombiningMarks
        let smeared = "Z" + String(repeating: "\u{0336}", count: cap + 1) + "oom"
        #expect(Fixture.error(Fixture.request(["client_name": .string(smeared)]))?.code == .invalidClientMetadata)
        let marked = "Z" + String(repeating: "\u{0301}", count: cap) + "oom"
        #expect(Fixture.error(Fixture.request(["client_name": .string(marked)])) == nil)
    }

    @Test("client_name is stored NFC-normalised")
    func normalised() throws {
        let decomposed = "Cafe\u{0301} Re\u{0301}sume\u{0301}"
        let result = try Fixture.accept(Fixture.request(["client_name": .string(decomposed), "client_name#fr": .string(decomposed)]))
        let name = try #require(result.metadata.clientName)
        #expect(Array(name.unicodeScalars) == Array("Caf\u{E9} R\u{E9}sum\u{E9}".unicodeScalars))
        #expect(result.metadata.localized["client_name#fr"].map { Array($0.unicodeScalars) } == Array("Caf\u{E9} R\u{E9}sum\u{E9}".unicodeScalars))
    }

    @Test("Real names pass: scripts with marks, emoji sequences, flags", arguments: [
        "Claude", "ChatGPT", "Café Olé", "東京アプリ", "हिन्दी ऐप", "ภาษาไทย", "עברית", "العربية", "👨‍👩‍👧 Family", "🏳️‍🌈", "🇯🇵🇫🇷", "1️⃣ Keycap", "👍🏽",
    ])
    func realNamesAccepted(_ name: String) {
        #expect(Fixture.error(Fixture.request(["client_name": .string(name)])) == nil)
    }
}
