// The vocabulary in a checkpoint's metadata.
//
// `vocab_symbols` is a JSON array of strings, one per symbol in index order,
// because the joined `vocab` string cannot always be split back into the same
// symbols (see Vocabulary). `vocab` is still written, for people and for older
// readers; files that only have `vocab` (older checkpoints, or ones saved from
// PyTorch with just that key) are read from it as before.

extension Checkpoint {
    static let vocabKey = "vocab"
    static let vocabSymbolsKey = "vocab_symbols"

    /// `vocabulary.symbolList` as a JSON array, for `vocab_symbols`.
    static func symbolsJSON(_ vocabulary: Vocabulary) -> String {
        var out: [UInt8] = [UInt8(ascii: "[")]
        for (i, symbol) in vocabulary.symbolList.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONLite.appendQuotedString(symbol, to: &out)
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }

    /// The vocabulary `meta` describes: from `vocab_symbols` when present
    /// (then `vocab`, if also there, must be its symbols joined), else from `vocab`.
    static func vocabulary(from meta: [String: String], source: String) throws -> Vocabulary {
        guard let json = meta[vocabSymbolsKey] else {
            guard let joined = meta[vocabKey] else {
                throw MakemoreError("\(source): no 'vocab' in the metadata (the symbols in index order, '.' first); "
                    + "add it when saving from PyTorch: save_file(tensors, path, metadata={'vocab': ''.join(itos[i] for i in range(len(itos)))})")
            }
            do { return try Vocabulary(symbolString: joined) } catch {
                throw MakemoreError("\(source): bad 'vocab' metadata: \(shown("\(error)", limit: 200))")
            }
        }
        let vocabulary: Vocabulary
        do { vocabulary = try Vocabulary(symbolList: symbolList(json)) } catch {
            throw MakemoreError("\(source): bad '\(vocabSymbolsKey)' metadata: \(shown("\(error)", limit: 200))")
        }
        // String equality is canonical equivalence, as the symbols' is.
        if let joined = meta[vocabKey], joined != vocabulary.symbolString {
            throw MakemoreError("\(source): metadata 'vocab' \(SafetensorsFile.display(joined)) is not the symbols of '\(vocabSymbolsKey)' joined")
        }
        return vocabulary
    }

    /// The strings of a JSON array of strings.
    private static func symbolList(_ json: String) throws -> [String] {
        let value: JSONValue
        do { value = try JSONLite.parse(Array(json.utf8)) } catch let f as JSONLite.Failure {
            throw MakemoreError("not a JSON array: \(f.message) at byte \(f.offset)")
        }
        guard case let .array(items) = value else {
            throw MakemoreError("expected a JSON array of strings, got \(value.typeName)")
        }
        return try items.enumerated().map { i, item in
            guard case let .string(s) = item else {
                throw MakemoreError("entry \(i) is \(item.typeName), expected a string")
            }
            return s
        }
    }

    /// Added to a count mismatch when the symbols came from the `vocab` string,
    /// which may have split into other characters than it was joined from.
    static func vocabularyHint(_ meta: [String: String]) -> String {
        meta[vocabSymbolsKey] == nil
            ? " (read from the 'vocab' string; symbols that join their neighbours, e.g. a lone combining mark, "
                + "need '\(vocabSymbolsKey)': a JSON array of the symbols in index order)"
            : ""
    }
}
