import XCTest
@testable import Makemore

final class VocabularyTests: XCTestCase {
    func testBuildSortedWithDotFirst() {
        let v = Vocabulary(words: ["emma", "la roda", "o-b"])
        XCTAssertEqual(v.symbolString, ". -abdelmor")
        XCTAssertEqual(v.count, 11)
        XCTAssertEqual(v.symbols.first, ".")
        XCTAssertEqual(v.index(of: "."), 0)
        XCTAssertEqual(v.index(of: " "), 1)
        XCTAssertEqual(v.index(of: "r"), 10)
        XCTAssertNil(v.index(of: "z"))
    }

    func testSortsByScalarValueLikePython() {
        // sorted(set('zé aZ')) == [' ', 'Z', 'a', 'z', 'é']
        XCTAssertEqual(Vocabulary(words: ["zé", "aZ"]).symbolString, ".Zaz\u{E9}")
    }

    func testEncodeDecodeRoundTrip() throws {
        let v = Vocabulary(words: ["emma", "olivia", "ava"])
        let ix = try v.encode("mavi")
        XCTAssertEqual(v.decode(ix), "mavi")
        XCTAssertEqual(try v.encode("emma"), [2, 5, 5, 1])
        XCTAssertEqual(v.decode([0, 1, 99, -1]), ".a\u{FFFD}\u{FFFD}")
    }

    func testEncodeUnknownCharacter() {
        let v = Vocabulary(words: ["ab"])
        XCTAssertThrowsError(try v.encode("añb")) { error in
            XCTAssertEqual(error as? MakemoreError,
                           MakemoreError("word 'añb' has character 'ñ' which is not in the vocabulary"))
        }
    }

    func testSymbolStringRoundTrip() throws {
        let v = Vocabulary(words: ["la roda", "alegria-dulantzi"])
        let back = try Vocabulary(symbolString: v.symbolString)
        XCTAssertEqual(back, v)
        XCTAssertEqual(back.index(of: "z"), v.index(of: "z"))
    }

    func testSymbolStringErrors() {
        XCTAssertThrowsError(try Vocabulary(symbolString: "")) { error in
            XCTAssertEqual((error as? MakemoreError)?.message, "vocabulary '': the first symbol must be '.'")
        }
        XCTAssertThrowsError(try Vocabulary(symbolString: "ab.")) { error in
            XCTAssertEqual((error as? MakemoreError)?.message, "vocabulary 'ab.': the first symbol must be '.'")
        }
        XCTAssertThrowsError(try Vocabulary(symbolString: ".aba")) { error in
            XCTAssertEqual((error as? MakemoreError)?.message, "vocabulary '.aba': symbol 'a' appears twice")
        }
    }
}
