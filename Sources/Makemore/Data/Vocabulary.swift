// Vocabulary: the symbols of a character-level model and their indices.
// Index 0 is "." (start and end of every word); the other symbols are the
// distinct characters of the words, sorted by Unicode scalar values as Python's
// `sorted(set(''.join(words)))` sorts them, at indices 1, 2, ….
//
// A symbol is a Swift `Character` (a grapheme cluster). For the cleaned data
// sets every character is one scalar, so this is exactly Python's order; a
// cluster of several scalars sorts by its scalar sequence.

public struct Vocabulary: Equatable {
    /// The symbols in index order; `symbols[0] == "."`.
    public let symbols: [Character]
    private let indexOf: [Character: Int]

    /// "." then the sorted distinct characters of `words` ("." itself, if a
    /// word holds it, is not repeated).
    public init(words: [String]) {
        var distinct = Set<Character>()
        for word in words {
            distinct.formUnion(word)
        }
        distinct.remove(".")
        let sorted = distinct.sorted { a, b in
            a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { $0.value < $1.value }
        }
        self.init(validated: ["."] + sorted)
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

    public var count: Int { symbols.count }

    public func index(of c: Character) -> Int? { indexOf[c] }

    /// The indices of the characters of `word` (no start/end markers added).
    public func encode(_ word: String) throws -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(word.count)
        for c in word {
            guard let i = indexOf[c] else {
                throw MakemoreError("word '\(word)' has character '\(c)' which is not in the vocabulary")
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
