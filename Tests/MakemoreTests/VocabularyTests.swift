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
            let e = error as? OutsideVocabulary
            XCTAssertEqual(e?.character, "ñ")
            XCTAssertEqual(e?.description, "word 'añb' has character 'ñ' which is not in the vocabulary")
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

    // MARK: Symbols that do not survive being joined

    /// Words whose characters, joined into one string, split into other
    /// characters: lone combining marks and format characters that attach to
    /// the symbol before them, an odd number of regional indicators, Hangul
    /// jamo that make syllables, ZWJ sequences, prepended marks; and
    /// canonically equivalent spellings, CR, NBSP, bidi marks.
    static let hostileWords = [
        "e\u{301}te", "\u{301}abc", "caf\u{E9}", "cafe\u{301}", "Zoë", "ÀGER", "a/b, c",
        "🇪🇸🇫", "x🇫", "🇦",
        "\u{1100}\u{1161}\u{11A8}", "x\u{1100}y", "\u{1161}z", "\u{11A8}w", "\u{AC00}",
        "👨\u{200D}👩\u{200D}👧", "👨", "\u{200D}x", "y\u{200D}", "\u{FE0F}v",
        "a\r\nb", "c\rd", "\u{A0}nb\u{A0}sp\u{A0}", "\u{200F}rtl\u{200E}", "שלום\u{200F}",
        "\u{903}ab", "a\u{600}", "\u{600}b", "x.\u{301}y", "\u{212B}ngstrom", "\u{C5}ngstrom",
    ]

    /// `v` through a checkpoint file: encode, bytes, decode.
    func throughCheckpoint(_ v: Vocabulary) throws -> Vocabulary {
        let shape = ModelShape(vocabSize: v.count, blockSize: 1, nEmbd: 1, nHidden: 1)
        let file = Checkpoint(model: Model(shape: shape), vocabulary: v, step: 0, config: nil, rng: nil).encode()
        return try Checkpoint.decode(SafetensorsFile.decode(file.encode(), source: "v.safetensors"), source: "v.safetensors").vocabulary
    }

    /// Exactly the same symbols: scalar for scalar, not only canonically equivalent.
    func scalars(_ v: Vocabulary) -> [[UInt32]] { v.symbolList.map { $0.unicodeScalars.map(\.value) } }

    func assertRoundTrips(_ words: [String], _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let v = Vocabulary(words: words)
        let back = try throughCheckpoint(v)
        XCTAssertEqual(scalars(back), scalars(v), what, file: file, line: line)
        XCTAssertEqual(back, v, what, file: file, line: line)
        for word in words {
            let ix = try v.encode(word)
            XCTAssertEqual(try back.encode(word), ix, "\(what): \(word.debugDescription)", file: file, line: line)
            XCTAssertEqual(back.decode(ix), word, "\(what): \(word.debugDescription)", file: file, line: line)
        }
    }

    func testHostileWordsRoundTripThroughACheckpointForEveryCleaning() throws {
        var joinedStringLoses = false
        for mode in Cleaning.allCases {
            let words = Self.hostileWords.map { NameCleaning.clean($0, mode) }.filter { !$0.isEmpty }
            try assertRoundTrips(words, "clean \(mode)")
            let v = Vocabulary(words: words)
            if (try? Vocabulary(symbolString: v.symbolString))?.count != v.count { joinedStringLoses = true }
        }
        XCTAssertTrue(joinedStringLoses, "the words no longer exercise what the joined string cannot hold")
    }

    /// A file with only the joined string (older checkpoints, PyTorch's recipe) still loads from it.
    func testCheckpointWithOnlyTheJoinedStringLoads() throws {
        let v = Vocabulary(words: ["zoë", "ana"])
        let shape = ModelShape(vocabSize: v.count, blockSize: 1, nEmbd: 1, nHidden: 1)
        var file = Checkpoint(model: Model(shape: shape), vocabulary: v, step: 0, config: nil, rng: nil).encode()
        XCTAssertEqual(file.metadata["vocab_symbols"], #"[".","a","n","o","z","ë"]"#)
        file.metadata["vocab_symbols"] = nil
        XCTAssertEqual(try Checkpoint.decode(file, source: "old").vocabulary.symbolList, v.symbolList)
        // Joined, a lone combining mark merges: the count disagrees, and the error says why.
        let marks = Vocabulary(words: ["a\u{301}", "\u{301}b"])
        var merged = Checkpoint(model: Model(shape: ModelShape(vocabSize: marks.count, blockSize: 1, nEmbd: 1, nHidden: 1)),
                                vocabulary: marks, step: 0, config: nil, rng: nil).encode()
        merged.metadata["vocab_symbols"] = nil
        XCTAssertThrowsError(try Checkpoint.decode(merged, source: "old")) { error in
            XCTAssertTrue("\(error)".contains("vocab_symbols"), "\(error)")
        }
    }

    func testSymbolListErrors() {
        func message(_ list: [String]) -> String? {
            do { _ = try Vocabulary(symbolList: list); return nil } catch { return "\(error)" }
        }
        XCTAssertEqual(message([]), "vocabulary: the first symbol must be '.', got none")
        XCTAssertEqual(message(["a", "."]), "vocabulary: the first symbol must be '.', got 'a'")
        XCTAssertEqual(message([".", "ab"]), "vocabulary symbol 1 'ab' is 2 characters, expected one")
        XCTAssertEqual(message([".", ""]), "vocabulary symbol 1 '' is 0 characters, expected one")
        XCTAssertEqual(message([".", "\u{E9}", "e\u{301}"]), "vocabulary symbol 2 'e\u{301}' appears twice")
    }

    func testBadSymbolsMetadataIsRefusedNamingTheKey() throws {
        let v = Vocabulary(words: ["ab"])
        let shape = ModelShape(vocabSize: v.count, blockSize: 1, nEmbd: 1, nHidden: 1)
        let good = Checkpoint(model: Model(shape: shape), vocabulary: v, step: 0, config: nil, rng: nil).encode()
        for (json, vocab, fragment) in [("[\".\",\"a\",", ".ab", "not a JSON array"), ("{}", ".ab", "got an object"),
                                        ("[\".\",1,\"b\"]", ".ab", "entry 1 is a number"),
                                        ("[\".\",\"b\",\"a\"]", ".ab", "is not the symbols of 'vocab_symbols' joined")] {
            var file = good
            file.metadata["vocab_symbols"] = json
            file.metadata["vocab"] = vocab
            XCTAssertThrowsError(try Checkpoint.decode(file, source: "m.safetensors"), json) { error in
                let text = "\(error)"
                XCTAssertTrue(text.hasPrefix("m.safetensors: ") && text.contains(fragment), text)
            }
        }
    }

    /// "é" and "e\u{301}" are one symbol; which spelling the vocabulary keeps,
    /// and so the order, does not depend on which word came first.
    func testCanonicallyEquivalentSpellingsAreOneSymbolWhateverComesFirst() throws {
        let a = Vocabulary(words: ["caf\u{E9}", "cafe\u{301}"]), b = Vocabulary(words: ["cafe\u{301}", "caf\u{E9}"])
        XCTAssertEqual(scalars(a), scalars(b))
        XCTAssertEqual(a.count, 5)
        XCTAssertEqual(try a.encode("caf\u{E9}"), try a.encode("cafe\u{301}"))
        try assertRoundTrips(["caf\u{E9}", "cafe\u{301}", "\u{212B}", "\u{C5}"], "equivalents")
    }

    /// Fuzz: vocabularies of random words drawn from the scalar ranges that
    /// segment in surprising ways come back from a checkpoint exactly, and
    /// every word encodes to the same indices and decodes to itself.
    func testVocabularyRoundTripFuzz() throws {
        let ranges: [ClosedRange<UInt32>] = [
            0x61...0x7A, 0x2E...0x2E, 0x20...0x20, 0x0A...0x0A, 0x0D...0x0D, 0xA0...0xA0, 0xC0...0xFF,
            0x300...0x36F, 0x0344...0x0345, 0x0600...0x0605, 0x0900...0x0903, 0x093E...0x094D, 0x0E33...0x0E33, 0x0F73...0x0F73,
            0x1100...0x1112, 0x1160...0x1175, 0x11A8...0x11C2, 0xAC00...0xAC1F,
            0x200B...0x200F, 0x20E3...0x20E3, 0x212B...0x212B, 0xFE00...0xFE0F,
            0x1F1E6...0x1F1FF, 0x1F3FB...0x1F3FF, 0x1F468...0x1F469, 0xE0020...0xE007F,
        ]
        var rng = Xoshiro(seed: 2024)
        func scalar() -> Unicode.Scalar {
            let r = ranges[rng.below(ranges.count)]
            return Unicode.Scalar(r.lowerBound + UInt32(rng.below(Int(r.upperBound - r.lowerBound) + 1)))!
        }
        for round in 0..<300 {
            let words = (0..<(1 + rng.below(8))).map { _ in
                var s = String.UnicodeScalarView()
                for _ in 0..<(1 + rng.below(6)) { s.append(scalar()) }
                return String(s)
            }
            try assertRoundTrips(words, "round \(round): \(words.map(\.debugDescription))")
        }
    }
}
