// Vocabulary: the symbols of a character-level model and their indices.
// Index 0 is "." (start and end of every word); the other symbols are the
// distinct characters of the words, sorted by Unicode scalar values as Python's
// `sorted(set(''.join(words)))` sorts them, at indices 1, 2, ….
//
// A symbol is a Swift `Character` (a grapheme cluster). For the cleaned data
// sets every character is one scalar, so this is exactly Python's order; a
// cluster of several scalars sorts by its scalar sequence.
//
// Joined, the symbols need not split back into the same clusters: a lone
// combining mark joins the symbol before it, two lone regional indicators
// make a flag, Hangul jamo make a syllable. So a checkpoint stores them as a
// list (`symbolList`), and the joined `symbolString` is for people and for
// reading older files.
//
// `Character` equality is canonical equivalence ("é" == "e\u{301}"), so the
// two spellings are one symbol and either encodes to its index.

public struct Vocabulary: Equatable {
    /// The symbols in index order; `symbols[0] == "."`.
    public let symbols: [Character]
    private let indexOf: [Character: Int]

    /// "." then the sorted distinct characters of `words` ("." itself, if a
    /// word holds it, is not repeated).
    public init(words: [String]) {
        // Of canonically equivalent spellings the smallest is kept, so the
        // symbols and their order do not depend on which spelling came first.
        var distinct = [Character: Character]()
        for word in words {
            for c in word {
                if let kept = distinct[c], !Vocabulary.precedes(c, kept) { continue }
                distinct[c] = c
            }
        }
        distinct["."] = nil
        self.init(validated: ["."] + distinct.values.sorted(by: Vocabulary.precedes))
    }

    /// Python's order of strings: by Unicode scalar values.
    static func precedes(_ a: Character, _ b: Character) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { $0.value < $1.value }
    }

    /// The inverse of `symbolString` (checkpoint metadata `vocab`): "." must
    /// come first and no symbol may repeat.
    public init(symbolString: String) throws {
        let symbols = Array(symbolString)
        guard symbols.first == "." else {
            throw MakemoreError("vocabulary '\(symbolString)': the first symbol must be '.'")
        }
        var seen = Set<Character>()
        for c in symbols where !seen.insert(c).inserted {
            throw MakemoreError("vocabulary '\(symbolString)': symbol '\(c)' appears twice")
        }
        self.init(validated: symbols)
    }

    /// The inverse of `symbolList` (checkpoint metadata `vocab_symbols`):
    /// each entry one character, "." first, none repeated.
    public init(symbolList: [String]) throws {
        var symbols = [Character]()
        symbols.reserveCapacity(symbolList.count)
        for (i, text) in symbolList.enumerated() {
            guard text.count == 1, let c = text.first else {
                throw MakemoreError("vocabulary symbol \(i) \(SafetensorsFile.display(text)) is \(text.count) characters, expected one")
            }
            symbols.append(c)
        }
        guard symbols.first == "." else {
            throw MakemoreError("vocabulary: the first symbol must be '.', got \(symbolList.first.map { SafetensorsFile.display($0) } ?? "none")")
        }
        var seen = Set<Character>()
        for (i, c) in symbols.enumerated() where !seen.insert(c).inserted {
            throw MakemoreError("vocabulary symbol \(i) \(SafetensorsFile.display(String(c))) appears twice")
        }
        self.init(validated: symbols)
    }

    private init(validated symbols: [Character]) {
        self.symbols = symbols
        var indexOf: [Character: Int] = [:]
        for (i, c) in symbols.enumerated() {
            indexOf[c] = i
        }
        self.indexOf = indexOf
    }

    /// All symbols joined in index order, "." first.
    public var symbolString: String { String(symbols) }

    /// Each symbol on its own, in index order: what `init(symbolList:)` reads back exactly.
    public var symbolList: [String] { symbols.map { String($0) } }

    public var count: Int { symbols.count }

    public func index(of c: Character) -> Int? { indexOf[c] }

    /// The indices of the characters of `word` (no start/end markers added).
    public func encode(_ word: String) throws -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(word.count)
        for c in word {
            guard let i = indexOf[c] else {
                throw OutsideVocabulary(word: word, character: c)
            }
            out.append(Int32(i))
        }
        return out
    }

    /// The symbols at `indices`, joined; an index outside the vocabulary
    /// decodes as U+FFFD rather than trapping.
    public func decode(_ indices: [Int32]) -> String {
        var s = ""
        for i in indices {
            if i >= 0, Int(i) < symbols.count {
                s.append(symbols[Int(i)])
            } else {
                s.append("\u{FFFD}")
            }
        }
        return s
    }

    public static func == (a: Vocabulary, b: Vocabulary) -> Bool { a.symbols == b.symbols }
}

/// A word with a character that the vocabulary (a checkpoint's, given for
/// other data) does not have; `eval` adds which checkpoint.
public struct OutsideVocabulary: Error, CustomStringConvertible {
    public var word: String
    public var character: Character
    /// The file the word comes from, when known.
    public var source: String?

    public var description: String {
        (source.map { "\($0): " } ?? "") + "word '\(word)' has character '\(character)' which is not in the vocabulary"
    }
}
