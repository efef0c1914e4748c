// CSVTable: a strict RFC 4180 reader for the data files.
//
// Why not a package such as CSV.swift (yaslab, 2.5.2)? Read
// its `CSVReader.readField`: an unclosed quote is silently read to the end of
// the file as one field; `"ab"c` becomes `ab"` with the `c` dropped; no error
// or line number is ever reported for malformed input; and its subscript calls
// `fatalError` when a row is missing. We promise a one-line error naming the
// file and line for every malformed input, and catching those cases on top of
// CSV.swift would need a quote-aware pass over the bytes anyway, which is a
// parser. So this is that parser, about as long as the checks would have been.
//
// Format: fields separated by ",", records by LF or CRLF (or a lone CR);
// a field may be quoted with `"`, inside which `""` is a quote and commas and
// line breaks are literal. Completely blank lines are skipped, as Python's
// `csv` module and pandas do. A `"` inside an unquoted field is kept literally
// (Python's csv does the same); after a closing quote only `,` or a line break
// may follow.

struct CSVRecord {
    /// 1-based line on which the record starts.
    var line: Int
    var fields: [String]
}

enum CSVTable {
    /// Parses `text` (already decoded) into records. `name` is the path used
    /// in error messages.
    static func parse(_ text: String, name: String) throws -> [CSVRecord] {
        var records: [CSVRecord] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var line = 1
        var recordLine = 1
        var quoteLine = 1

        enum State { case fieldStart, unquoted, quoted, afterQuote }
        var state = State.fieldStart

        func endField() {
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
        }
        func endRecord() {
            endField()
            // A blank line is one empty unquoted field: skip it.
            let blank = fields.count == 1 && fields[0].isEmpty && state == .fieldStart
            if !blank {
                records.append(CSVRecord(line: recordLine, fields: fields))
            }
            fields.removeAll(keepingCapacity: true)
        }

        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            let isBreak = b == UInt8(ascii: "\n") || b == UInt8(ascii: "\r")
            // CRLF counts as one line break.
            let breakLength = (b == UInt8(ascii: "\r") && i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "\n")) ? 2 : 1
            switch state {
            case .quoted:
                if b == UInt8(ascii: "\"") {
                    if i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "\"") {
                        field.append(b)
                        i += 1
                    } else {
                        state = .afterQuote
                    }
                } else {
                    if isBreak { line += 1 }
                    if isBreak && breakLength == 2 {
                        field.append(contentsOf: [b, bytes[i + 1]])
                        i += 1
                    } else {
                        field.append(b)
                    }
                }
            case .fieldStart, .unquoted, .afterQuote:
                if b == UInt8(ascii: ",") {
                    endField()
                    state = .fieldStart
                } else if isBreak {
                    endRecord()
                    state = .fieldStart
                    line += 1
                    i += breakLength - 1
                    recordLine = line
                } else if state == .afterQuote {
                    throw MakemoreError("\(name):\(line): unexpected character after a closing quote (a quote inside a quoted field must be doubled: \"\")")
                } else if state == .fieldStart && b == UInt8(ascii: "\"") {
                    state = .quoted
                    quoteLine = line
                } else {
                    field.append(b)
                    state = .unquoted
                }
            }
            i += 1
        }
        if state == .quoted {
            throw MakemoreError("\(name):\(quoteLine): unclosed quote (the quoted field runs to the end of the file)")
        }
        // The last record, unless the file ended with a line break.
        if state != .fieldStart || !fields.isEmpty {
            endRecord()
        }
        return records
    }
}
