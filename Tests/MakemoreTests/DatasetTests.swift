import XCTest
@testable import Makemore

/// Full-data expectations come from `python3 Tests/Fixtures/make_data_expectations.py`
/// (CPython 3.11.7): the reference notebook's cleaning, `random.seed(42); random.shuffle`,
/// split 0.8/0.1/0.1, block_size 3.
final class DatasetTests: XCTestCase {
    static let dataDir = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("data")

    func testMunicipisMatchesNotebook() throws {
        let path = Self.dataDir.appendingPathComponent("municipis.csv").path
        let words = try WordSource.load(path: path, column: "Nom", cleaning: .municipis)
        XCTAssertEqual(words.count, 8132)
        // fnv1a64('\n'.join(cleaned words in file order)) from the Python reference:
        // every one of the 8132 names is cleaned identically.
        XCTAssertEqual(fnv1a64(words.joined(separator: "\n")), 0x338d_ff25_da77_1842)

        let d = try Dataset(words: words, blockSize: 3, split: [0.8, 0.1, 0.1], seed: 42)
        XCTAssertEqual(d.vocabulary.count, 29)
        XCTAssertEqual(d.vocabulary.symbolString, ". -abcdefghijklmnopqrstuvwxyz")
        XCTAssertEqual(Array(d.words.prefix(5)), ["riotuerto", "manises", "bellprat", "san esteban del molar", "mahora"])
        XCTAssertEqual(Array(d.words.suffix(2)), ["castellar del valles", "villaumbrales"])
        XCTAssertEqual([d.train.count, d.dev.count, d.test.count], [85122, 10498, 10753])
        XCTAssertEqual([d.trainWordCount, d.devWordCount, d.testWordCount], [6505, 813, 814])
        for e in [d.train, d.dev, d.test] {
            XCTAssertEqual(e.blockSize, 3)
            XCTAssertEqual(e.x.count, e.count * 3)
        }
        // The first training word's windows: "riotuerto."
        let r = Int32(d.vocabulary.index(of: "r")!), i = Int32(d.vocabulary.index(of: "i")!)
        let o = Int32(d.vocabulary.index(of: "o")!)
        XCTAssertEqual(Array(d.train.x.prefix(12)), [0, 0, 0, 0, 0, r, 0, r, i, r, i, o])
        XCTAssertEqual(Array(d.train.y.prefix(4)), [r, i, o, Int32(d.vocabulary.index(of: "t")!)])
    }

    func testMunicipisLoadInOneCall() throws {
        let path = Self.dataDir.appendingPathComponent("municipis.csv").path
        let d = try Dataset.load(path: path, column: "Nom", cleaning: .municipis,
                                 blockSize: 3, split: [0.8, 0.1, 0.1], seed: 42)
        XCTAssertEqual(d.train.count + d.dev.count + d.test.count, 106373)
    }

    func testNamesMatchesNotebook() throws {
        let path = Self.dataDir.appendingPathComponent("names.txt").path
        let d = try Dataset.load(path: path, column: nil, cleaning: .none,
                                 blockSize: 3, split: [0.8, 0.1, 0.1], seed: 42)
        XCTAssertEqual(d.words.count, 32033)
        XCTAssertEqual(d.vocabulary.count, 27)
        XCTAssertEqual(d.vocabulary.symbolString, ".abcdefghijklmnopqrstuvwxyz")
        XCTAssertEqual(Array(d.words.prefix(5)), ["yuheng", "diondre", "xavien", "jori", "juanluis"])
        XCTAssertEqual(Array(d.words.suffix(2)), ["zaylynn", "yovani"])
        XCTAssertEqual([d.train.count, d.dev.count, d.test.count], [182625, 22655, 22866])
    }

    func testWindows() throws {
        let d = try Dataset(words: ["ab"], blockSize: 3, split: [1, 0, 0], seed: 42)
        XCTAssertEqual(d.train.x, [0, 0, 0, 0, 0, 1, 0, 1, 2])
        XCTAssertEqual(d.train.y, [1, 2, 0])
        XCTAssertEqual(d.dev.count, 0)
        XCTAssertEqual(d.test.count, 0)
        let one = try Dataset(words: ["ab", "b"], blockSize: 1, split: [0, 0, 1], seed: 3)
        XCTAssertEqual(one.test.count, 5)
        XCTAssertEqual(one.test.x.count, 5)
    }

    func testExplicitVocabulary() throws {
        let v = try Vocabulary(symbolString: ".abc")
        let d = try Dataset(words: ["ab", "ca"], blockSize: 2, split: [0.5, 0.5, 0], seed: 1, vocabulary: v)
        XCTAssertEqual(d.vocabulary, v)
        XCTAssertThrowsError(try Dataset(words: ["ab", "dd"], blockSize: 2, split: [0.5, 0.5, 0], seed: 1, vocabulary: v)) {
            XCTAssertEqual(($0 as? OutsideVocabulary)?.description, "word 'dd' has character 'd' which is not in the vocabulary")
        }
    }

    func testInvalidArguments() {
        func message(_ body: () throws -> Dataset) -> String? {
            do { _ = try body(); return nil } catch { return (error as? MakemoreError)?.message }
        }
        XCTAssertEqual(message { try Dataset(words: ["a"], blockSize: 0, split: [0.8, 0.1, 0.1], seed: 1) },
                       "model.block_size must be at least 1, got 0")
        XCTAssertEqual(message { try Dataset(words: ["a"], blockSize: 3, split: [0.8, 0.2], seed: 1) },
                       "data.split [0.8, 0.2]: expected 3 fractions (train, dev, test), got 2")
        XCTAssertEqual(message { try Dataset(words: ["a"], blockSize: 3, split: [1.1, -0.1, 0], seed: 1) },
                       "data.split [1.1, -0.1, 0.0]: fractions must be non-negative numbers")
        XCTAssertEqual(message { try Dataset(words: ["a"], blockSize: 3, split: [0.8, 0.1, 0.2], seed: 1) }?
                        .hasPrefix("data.split [0.8, 0.1, 0.2]: fractions must sum to 1"), true)
        XCTAssertEqual(message { try Dataset(words: ["a"], blockSize: 3, split: [.nan, 0.5, 0.5], seed: 1) },
                       "data.split [nan, 0.5, 0.5]: fractions must be non-negative numbers")
        XCTAssertEqual(message { try Dataset(words: [], blockSize: 3, split: [0.8, 0.1, 0.1], seed: 1) }, "no words")
        XCTAssertEqual(message { try Dataset(words: ["st. louis"], blockSize: 3, split: [0.8, 0.1, 0.1], seed: 1) },
                       "word 'st. louis' contains '.', which is reserved as the start/end marker")
        XCTAssertNoThrow(try Dataset(words: ["a"], blockSize: 3, split: [0.8, 0.1, 0.1 + 1e-12], seed: 1))
    }

    func testExamplesInit() {
        XCTAssertNoThrow(try Examples(blockSize: 2, x: [0, 1, 1, 2], y: [2, 0]))
        XCTAssertThrowsError(try Examples(blockSize: 2, x: [0, 1, 1], y: [2, 0]))
        XCTAssertThrowsError(try Examples(blockSize: 0, x: [], y: []))
    }
}

/// FNV-1a, 64-bit, over UTF-8 bytes (same function as the Python generator).
func fnv1a64(_ s: String) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in s.utf8 {
        h ^= UInt64(b)
        h = h &* 0x100_0000_01b3
    }
    return h
}
