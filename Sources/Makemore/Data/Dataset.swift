// Dataset: words -> vocabulary, the notebook's shuffled 80/10/10 split, and the
// (context, next character) training examples.
//
// Shapes: N = number of examples, K = block_size.
//   Examples.x  [N, K]  Int32, row-major: the K previous symbol indices
//   Examples.y  [N]     Int32: the index of the symbol that follows
//
// The split reproduces the reference notebook exactly:
//   random.seed(seed); random.shuffle(words)
//   n1 = int(f0 * len(words)); n2 = int((f0 + f1) * len(words))
//   train = words[:n1], dev = words[n1:n2], test = words[n2:]
// and the windows are the notebook's build_dataset:
//   context = [0] * K
//   for ch in w + '.': X.append(context); Y.append(stoi[ch]); context = context[1:] + [stoi[ch]]

/// Windows of `blockSize` previous symbol indices and the symbol that follows.
public struct Examples {
    public let blockSize: Int
    /// `count * blockSize` indices, row-major.
    public var x: [Int32]
    /// `count` target indices.
    public var y: [Int32]
    public var count: Int { y.count }

    /// Checks that `x` holds exactly `blockSize` indices per target.
    public init(blockSize: Int, x: [Int32], y: [Int32]) throws {
        guard blockSize >= 1 else {
            throw MakemoreError("model.block_size must be at least 1, got \(blockSize)")
        }
        guard x.count == y.count * blockSize else {
            throw MakemoreError("examples: \(x.count) context indices for \(y.count) targets with block_size \(blockSize) (expected \(y.count * blockSize))")
        }
        self.blockSize = blockSize
        self.x = x
        self.y = y
    }

    /// The notebook's windows over `words` (each already encoded, without
    /// markers). `blockSize` must be at least 1.
    init(encodedWords: [[Int32]], blockSize: Int) {
        self.blockSize = blockSize
        let total = encodedWords.reduce(0) { $0 + $1.count + 1 }
        var x: [Int32] = []
        var y: [Int32] = []
        x.reserveCapacity(total * blockSize)
        y.reserveCapacity(total)
        var context = [Int32](repeating: 0, count: blockSize)
        for word in encodedWords {
            for i in context.indices { context[i] = 0 }
            for ix in word + [0] {  // 0 is "." at the end
                x.append(contentsOf: context)
                y.append(ix)
                context.removeFirst()
                context.append(ix)
            }
        }
        self.x = x
        self.y = y
    }
}

public struct Dataset {
    public let vocabulary: Vocabulary
    /// All words, in shuffled order (train, then dev, then test).
    public let words: [String]
    public let train: Examples, dev: Examples, test: Examples
    /// Word counts of the three parts: `words[..<n1]`, `words[n1..<n2]`, `words[n2...]`.
    public let trainWordCount: Int, devWordCount: Int, testWordCount: Int
    /// Train, dev and test, in that order (the order losses are reported in).
    public var splits: [Examples] { [train, dev, test] }
    /// What the split is made from (the cleaned words, in file order), as
    /// 16 hex digits: another fingerprint means another split.
    public let fingerprint: String

    /// Shuffles `words` with CPython's `random.seed(seed); random.shuffle`,
    /// splits them by the fractions `split` (three non-negative numbers that
    /// sum to 1) and builds the windows of `blockSize` previous indices.
    /// `vocabulary` (from a checkpoint) replaces the one built from the words;
    /// a character outside it is an error.
    public init(words: [String], blockSize: Int, split: [Double], seed: Int, vocabulary: Vocabulary? = nil) throws {
        guard blockSize >= 1 else {
            throw MakemoreError("model.block_size must be at least 1, got \(blockSize)")
        }
        try Self.validate(split: split)
        guard !words.isEmpty else {
            throw MakemoreError("no words")
        }
        for word in words where word.contains(".") {
            throw MakemoreError("word '\(word)' contains '.', which is reserved as the start/end marker")
        }
        // One example per character and one per word end, each K + 1 indices,
        // held twice while they are built.
        let examples = words.reduce(0) { $0 + $1.count + 1 }
        try MemoryCheck.require(8 * Double(examples) * Double(blockSize + 1),
                                for: "the \(examples) examples of \(words.count) words", lower: "the word list or model.block_size")
        let vocabulary = vocabulary ?? Vocabulary(words: words)
        fingerprint = Dataset.fingerprint(of: words)
        var shuffled = words
        var rng = PythonRandom(seed: seed)
        rng.shuffle(&shuffled)
        let encoded = try shuffled.map { try vocabulary.encode($0) }

        let n = Double(shuffled.count)
        let n1 = min(max(Int(split[0] * n), 0), shuffled.count)
        let n2 = min(max(Int((split[0] + split[1]) * n), n1), shuffled.count)

        self.vocabulary = vocabulary
        self.words = shuffled
        train = Examples(encodedWords: Array(encoded[..<n1]), blockSize: blockSize)
        dev = Examples(encodedWords: Array(encoded[n1..<n2]), blockSize: blockSize)
        test = Examples(encodedWords: Array(encoded[n2...]), blockSize: blockSize)
        trainWordCount = n1
        devWordCount = n2 - n1
        testWordCount = shuffled.count - n2
    }

    /// 64-bit FNV-1a over the words' UTF-8 bytes, each followed by a newline:
    /// any change of a word, or of their order, changes it.
    static func fingerprint(of words: [String]) -> String {
        var h = FNV1a()
        for word in words {
            for byte in word.utf8 { h.add(byte: byte) }
            h.add(byte: 0x0A)
        }
        return h.hex
    }

    /// `WordSource.load` then `init`; errors from `init` are prefixed with the path.
    public static func load(path: String, column: String?, cleaning: Cleaning, blockSize: Int,
                            split: [Double], seed: Int, vocabulary: Vocabulary? = nil) throws -> Dataset {
        let words = try WordSource.load(path: path, column: column, cleaning: cleaning)
        do {
            return try Dataset(words: words, blockSize: blockSize, split: split, seed: seed, vocabulary: vocabulary)
        } catch let error as MakemoreError {
            throw MakemoreError("\(path): \(error.message)")
        } catch var error as OutsideVocabulary {
            error.source = path
            throw error
        }
    }

    /// `split` must be three finite, non-negative fractions summing to 1 (±1e-9).
    public static func validate(split: [Double]) throws {
        let shown = "[" + split.map { "\($0)" }.joined(separator: ", ") + "]"
        guard split.count == 3 else {
            throw MakemoreError("data.split \(shown): expected 3 fractions (train, dev, test), got \(split.count)")
        }
        guard split.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw MakemoreError("data.split \(shown): fractions must be non-negative numbers")
        }
        let sum = split.reduce(0, +)
        guard abs(sum - 1) <= 1e-9 else {
            throw MakemoreError("data.split \(shown): fractions must sum to 1, they sum to \(sum)")
        }
    }
}
