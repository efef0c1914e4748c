import XCTest
@testable import Makemore

/// Malformed data files: every one is a single-line MakemoreError naming the
/// file (and line), never a trap.
final class WordSourceTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("makemore-wordsource-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    /// Writes `bytes` to a fresh file named `name` and returns its path.
    func file(_ name: String, _ bytes: [UInt8]) throws -> String {
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    func file(_ name: String, _ text: String) throws -> String {
        try file(name, Array(text.utf8))
    }

    func loadError(_ path: String, column: String? = "Nom", cleaning: Cleaning = .municipis) -> String? {
        do {
            let words = try WordSource.load(path: path, column: column, cleaning: cleaning)
            XCTFail("expected an error, got \(words)")
            return nil
        } catch let error as MakemoreError {
            XCTAssertFalse(error.message.contains("\n"), "one line: \(error.message)")
            return error.message
        } catch {
            XCTFail("not a MakemoreError: \(error)")
            return nil
        }
    }

    // MARK: - Good files

    func testCSVQuotingCRLFBOMAndBlankLines() throws {
        let p = try file("ok.csv", "\u{FEFF}Codi,Nom\r\n1,\"Roda, La\"\r\n\r\n2,\"Say \"\"Hi\"\"\"\r\n3,Ayala/Aiara")
        XCTAssertEqual(try WordSource.load(path: p, column: "Nom", cleaning: .municipis), ["la roda", "say hi", "ayala"])
        XCTAssertEqual(try WordSource.load(path: p, column: "Codi", cleaning: .none), ["1", "2", "3"])
    }

    func testQuotedLineBreakKeepsLineNumbers() throws {
        let p = try file("multi.csv", "Codi,Nom\n1,\"two\nlines\"\n2,b,extra\n")
        XCTAssertEqual(loadError(p), "\(p):4: 3 fields, expected 2 (Codi, Nom)")
    }

    func testSingleColumnCSVWithoutColumnName() throws {
        let p = try file("one.csv", "name\nAnna\nBob\n")
        XCTAssertEqual(try WordSource.load(path: p, column: nil, cleaning: .lowercase), ["anna", "bob"])
    }

    func testColumnMakesAnyFileCSV() throws {
        let p = try file("table.txt", "Codi,Nom\n1,Emma\n")
        XCTAssertEqual(try WordSource.load(path: p, column: "Nom", cleaning: .lowercase), ["emma"])
    }

    func testTextFile() throws {
        let p = try file("names.txt", "emma\r\n\nolivia\n  \nava\n")
        XCTAssertEqual(try WordSource.load(path: p, column: nil, cleaning: .none), ["emma", "olivia", "ava"])
    }

    // MARK: - Errors

    func testMissingFile() {
        let p = dir.appendingPathComponent("missing.csv").path
        XCTAssertEqual(loadError(p), "cannot read \(p): No such file or directory")
    }

    func testDirectory() {
        XCTAssertEqual(loadError(dir.path, column: nil), "cannot read \(dir.path): Is a directory")
    }

    func testNotUTF8() throws {
        let p = try file("latin1.csv", Array("Codi,Nom\n1,Ab".utf8) + [0xF1] + Array("c\n".utf8))
        XCTAssertEqual(loadError(p), "\(p): not valid UTF-8 (byte offset 13)")
    }

    func testEmptyFiles() throws {
        XCTAssertEqual(loadError(try file("empty.csv", "")), "\(dir.path)/empty.csv: empty file (a CSV file needs a header row)")
        XCTAssertEqual(loadError(try file("header.csv", "Codi,Nom\n")), "\(dir.path)/header.csv: no words")
        XCTAssertEqual(loadError(try file("empty.txt", ""), column: nil), "\(dir.path)/empty.txt: no words")
        XCTAssertEqual(loadError(try file("blank.txt", "\n \n\r\n"), column: nil), "\(dir.path)/blank.txt: no words")
    }

    func testMissingColumn() throws {
        let p = try file("cols.csv", "Codi,Name\n1,x\n")
        XCTAssertEqual(loadError(p), "\(p): no column 'Nom' (columns: Codi, Name)")
        XCTAssertEqual(loadError(p, column: nil), "\(p): 2 columns (Codi, Name); name the one holding the words (data.column)")
    }

    func testUnclosedQuote() throws {
        let p = try file("open.csv", "Codi,Nom\n1,Amurrio\n2,\"Roda, La\n3,Ayala\n")
        XCTAssertEqual(loadError(p), "\(p):3: unclosed quote (the quoted field runs to the end of the file)")
    }

    func testTextAfterClosingQuote() throws {
        let p = try file("after.csv", "Codi,Nom\n1,\"Roda\" La\n")
        XCTAssertEqual(loadError(p), "\(p):2: unexpected character after a closing quote (a quote inside a quoted field must be doubled: \"\")")
    }

    func testWrongFieldCount() throws {
        let p = try file("fields.csv", "Codi,Nom\n1,Amurrio\n2,Roda, La\n")
        XCTAssertEqual(loadError(p), "\(p):3: 3 fields, expected 2 (Codi, Nom)")
        let q = try file("short.csv", "Codi,Nom\n1\n")
        XCTAssertEqual(loadError(q), "\(q):2: 1 field, expected 2 (Codi, Nom)")
    }

    func testEmptyName() throws {
        let p = try file("blankname.csv", "Codi,Nom\n1,Amurrio\n2,\n")
        XCTAssertEqual(loadError(p), "\(p):3: empty name")
        let q = try file("parens.csv", "Codi,Nom\n1,\"()\"\n")
        XCTAssertEqual(loadError(q), "\(q):2: name '()' is empty after cleaning (municipis)")
        let t = try file("parens.txt", "ok\n()\n")
        XCTAssertEqual(loadError(t, column: nil), "\(t):2: name '()' is empty after cleaning (municipis)")
    }

    func testMarkerInWord() throws {
        let p = try file("dots.txt", "emma\nst. louis\n")
        XCTAssertEqual(loadError(p, column: nil, cleaning: .none),
                       "\(p):2: word 'st. louis' contains '.', which is reserved as the start/end marker")
    }

    func testDuplicateColumn() throws {
        let p = try file("dup.csv", "Nom,Nom\na,b\n")
        XCTAssertEqual(loadError(p), "\(p):1: column 'Nom' appears 2 times in the header")
    }

    func testDatasetLoadPrefixesPath() throws {
        let p = try file("v.txt", "abc\nabd\n")
        let v = try Vocabulary(symbolString: ".abc")
        XCTAssertThrowsError(try Dataset.load(path: p, column: nil, cleaning: .none, blockSize: 3,
                                              split: [0.5, 0.5, 0], seed: 1, vocabulary: v)) {
            XCTAssertEqual(($0 as? OutsideVocabulary)?.description,
                           "\(p): word 'abd' has character 'd' which is not in the vocabulary")
        }
    }
}
