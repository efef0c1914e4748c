// WordSource: reads the list of words (names) from a data file and cleans them.
//
//   *.csv, or any file when a column is named  -> CSV with a header row; the
//                                                 words are one column
//   anything else                              -> one word per line
//
// Every problem with the file is a MakemoreError with one line that names the
// path (and the line, where there is one); nothing here traps on user data.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

public struct WordSource {
    /// The cleaned words of the file at `path`, in file order.
    ///
    /// - CSV (`.csv` extension or `column != nil`): the header row names the
    ///   columns and `column` picks one (nil is allowed when there is exactly one
    ///   column). Every record must have as many fields as the header. A name
    ///   that is empty after cleaning is an error (`x.csv:17: empty name`).
    /// - Text: one word per line (LF or CRLF). Blank lines are skipped; a line
    ///   that cleaning empties is an error.
    /// - Either way: "." is the start/end marker and may not occur in a word,
    ///   and a file without words is an error (`x.txt: no words`).
    public static func load(path: String, column: String?, cleaning: Cleaning) throws -> [String] {
        let text = try readUTF8(path: path)
        let isCSV = column != nil || path.lowercased().hasSuffix(".csv")
        let words = isCSV
            ? try csvWords(text, path: path, column: column, cleaning: cleaning)
            : try lineWords(text, path: path, cleaning: cleaning)
        guard !words.isEmpty else {
            throw MakemoreError("\(path): no words")
        }
        return words
    }

    // MARK: - Formats

    private static func csvWords(_ text: String, path: String, column: String?, cleaning: Cleaning) throws -> [String] {
        let records = try CSVTable.parse(text, name: path)
        guard let header = records.first else {
            throw MakemoreError("\(path): empty file (a CSV file needs a header row)")
        }
        let columns = header.fields
        let listed = columns.joined(separator: ", ")
        let columnIndex: Int
        if let column {
            let matches = columns.indices.filter { columns[$0] == column }
            guard let first = matches.first else {
                throw MakemoreError("\(path): no column '\(column)' (columns: \(listed))")
            }
            guard matches.count == 1 else {
                throw MakemoreError("\(path):\(header.line): column '\(column)' appears \(matches.count) times in the header")
            }
            columnIndex = first
        } else {
            guard columns.count == 1 else {
                throw MakemoreError("\(path): \(columns.count) columns (\(listed)); name the one holding the words (data.column)")
            }
            columnIndex = 0
        }

        var words: [String] = []
        words.reserveCapacity(records.count - 1)
        for record in records.dropFirst() {
            guard record.fields.count == columns.count else {
                throw MakemoreError("\(path):\(record.line): \(record.fields.count) field\(record.fields.count == 1 ? "" : "s"), expected \(columns.count) (\(listed))")
            }
            let raw = record.fields[columnIndex]
            let word = NameCleaning.clean(raw, cleaning)
            guard !word.isEmpty else {
                let what = raw.isEmpty ? "empty name" : "name '\(raw)' is empty after cleaning (\(cleaning.rawValue))"
                throw MakemoreError("\(path):\(record.line): \(what)")
            }
            try checkNoMarker(word, path: path, line: record.line)
            words.append(word)
        }
        return words
    }

    private static func lineWords(_ text: String, path: String, cleaning: Cleaning) throws -> [String] {
        var words: [String] = []
        var lineNumber = 0
        // Split on LF only; a CR before it (CRLF files) is removed below.
        for rawLine in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            var bytes = rawLine
            if bytes.last == UInt8(ascii: "\r") { bytes = bytes.dropLast() }
            let raw = String(decoding: bytes, as: UTF8.self)
            if raw.allSatisfy(\.isWhitespace) { continue }
            let word = NameCleaning.clean(raw, cleaning)
            guard !word.isEmpty else {
                throw MakemoreError("\(path):\(lineNumber): name '\(raw)' is empty after cleaning (\(cleaning.rawValue))")
            }
            try checkNoMarker(word, path: path, line: lineNumber)
            words.append(word)
        }
        return words
    }

    private static func checkNoMarker(_ word: String, path: String, line: Int) throws {
        if word.contains(".") {
            throw MakemoreError("\(path):\(line): word '\(word)' contains '.', which is reserved as the start/end marker")
        }
    }

    // MARK: - Reading the file

    /// The file's contents as a String: an unreadable file says why (errno),
    /// invalid UTF-8 says where, and a leading UTF-8 byte order mark is dropped.
    static func readUTF8(path: String) throws -> String {
        let bytes = try FileReader.readAll(path: path, limit: FileReader.Limit.wordList, what: "a word list")
        var body = bytes[...]
        if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }
        if let offset = firstInvalidUTF8Offset(body) {
            throw MakemoreError("\(path): not valid UTF-8 (byte offset \(offset))")
        }
        return String(decoding: body, as: UTF8.self)
    }

    /// The offset (from the start of the file, counting a BOM) of the first
    /// byte of the first ill-formed UTF-8 sequence, or nil if there is none.
    static func firstInvalidUTF8Offset(_ bytes: ArraySlice<UInt8>) -> Int? {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = bytes.startIndex
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                offset += encoded.count
            case .emptyInput:
                return nil
            case .error:
                return offset
            }
        }
    }
}
