import XCTest
@testable import Makemore

/// Expected `municipis` outputs match the reference notebook's rule as written in
/// Tests/Fixtures/make_data_expectations.py (`clean_municipi`).
final class DataCleaningTests: XCTestCase {
    func testMunicipisTrickyNames() {
        let cases: [(String, String)] = [
            ("Ayala/Aiara", "ayala"),
            ("Roda, La", "la roda"),
            ("Atzúbia, l'", "l atzubia"),  // apostrophe deleted after the swap
            ("Palmas de Gran Canaria, Las", "las palmas de gran canaria"),
            ("Noáin (Valle de Elorz)/Noain (Elortzibar)", "noain valle de elorz"),
            ("Torre de les Maçanes, la/Torremanzanas", "la torre de les macanes"),
            ("Armiñón", "arminon"),
            ("Montuïri", "montuiri"),
            ("Aigües", "aigues"),
            ("Santa Llogaia d'Àlguema", "santa llogaia dalguema"),
            ("Éjeme", "ejeme"),
            ("Òdena", "odena"),
            ("Callosa d'en Sarrià", "callosa den sarria"),
            ("Alegría-Dulantzi", "alegria-dulantzi"),
            ("A, B, C", "a, b, c"),          // three parts: no swap
            ("a,b", "a,b"),                  // comma without space: no swap
            ("Say \"Hi\"", "say hi"),
        ]
        for (raw, expected) in cases {
            XCTAssertEqual(NameCleaning.clean(raw, .municipis), expected, raw)
        }
    }

    func testMunicipisDecomposedInput() {
        // "Peñíscola" with combining marks (NFD) folds the same as precomposed.
        XCTAssertEqual(NameCleaning.clean("Pen\u{303}i\u{301}scola", .municipis), "peniscola")
        // a combining mark right after "/" does not hide the separator
        XCTAssertEqual(NameCleaning.clean("Ayala/\u{301}Aiara", .municipis), "ayala")
    }

    func testFoldBeyondLatin1() {
        XCTAssertEqual(NameCleaning.clean("Straße", .municipis), "strasse")
        XCTAssertEqual(NameCleaning.clean("Øre, L'", .municipis), "l ore")
        XCTAssertEqual(NameCleaning.clean("O\u{2019}Neill", .municipis), "oneill")
        XCTAssertEqual(NameCleaning.clean("Łódź", .municipis), "lodz")
        XCTAssertEqual(NameCleaning.clean("Æbeltoft", .municipis), "aebeltoft")
    }

    func testLowercaseAndNone() {
        XCTAssertEqual(NameCleaning.clean("  Émile\t", .lowercase), "émile")
        XCTAssertEqual(NameCleaning.clean("  Émile\r", .none), "Émile")
        XCTAssertEqual(NameCleaning.clean("Roda, La", .none), "Roda, La")
        XCTAssertEqual(Cleaning(rawValue: "municipis"), .municipis)
        XCTAssertEqual(Cleaning.allCases.map(\.rawValue), ["municipis", "lowercase", "none"])
    }
}
