// A small, strict JSON reader and writer for safetensors headers.
//
// Foundation's JSONSerialization turns numbers into NSNumber (losing the
// integer/float distinction and exactness above 2^53) and has no nesting
// limit, so the safetensors header is parsed here instead. Every failure is a
// thrown `JSONLite.Failure` with a byte offset; nothing traps on any input.

enum JSONValue: Equatable {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    /// The number exactly as written (already checked against the JSON grammar).
    case number(String)
    case bool(Bool)
    case null

    static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case let (.array(x), .array(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        case (.null, .null): return true
        default: return false
        }
    }

    /// A short name of the JSON type, for error messages.
    var typeName: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        }
    }

    /// The value as a non-negative integer, if it is written as one (digits
    /// only, no sign, fraction or exponent) and fits in a UInt64.
    var nonNegativeInteger: UInt64? {
        guard case let .number(text) = self else { return nil }
        var value: UInt64 = 0
        var sawDigit = false
        for byte in text.utf8 {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            if o1 || o2 { return nil }
            value = s
            sawDigit = true
        }
        return sawDigit ? value : nil
    }

    /// A compact rendering of a scalar or small value for error messages.
    var brief: String {
        switch self {
        case let .number(t): return t.count > 24 ? String(t.prefix(24)) + "…" : t
        case let .string(s): return JSONLite.quote(s.count > 24 ? String(s.prefix(24)) + "…" : s)
        case let .bool(b): return b ? "true" : "false"
        case .null: return "null"
        case let .array(items): return items.count > 8 ? "[…\(items.count) items]" : "[" + items.map(\.brief).joined(separator: ", ") + "]"
        case .object: return "{…}"
        }
    }
}

enum JSONLite {
    struct Failure: Error {
        var message: String
        var offset: Int
    }

    /// Deepest nesting accepted; safetensors headers need 3 levels.
    static let maxDepth = 64

    /// Parses `bytes` (which must be valid UTF-8; callers check that first) as
    /// one JSON value with optional surrounding whitespace.
    static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        if parser.pos < bytes.count {
            throw Failure(message: "unexpected \(parser.describeCurrent()) after the JSON value", offset: parser.pos)
        }
        return value
    }

    private struct Parser {
        let bytes: [UInt8]
        var pos = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        func describeCurrent() -> String {
            guard pos < bytes.count else { return "end of header" }
            let b = bytes[pos]
            if b >= 0x21 && b < 0x7F { return "character '\(Character(Unicode.Scalar(b)))'" }
            return "byte 0x" + String(b, radix: 16, uppercase: true)
        }

        func fail(_ message: String) -> Failure { Failure(message: message, offset: pos) }

        mutating func skipWhitespace() {
            while pos < bytes.count {
                switch bytes[pos] {
                case 0x20, 0x09, 0x0A, 0x0D: pos += 1
                default: return
                }
            }
        }

        mutating func parseValue(depth: Int) throws -> JSONValue {
            guard depth < JSONLite.maxDepth else { throw fail("nesting deeper than \(JSONLite.maxDepth) levels") }
            guard pos < bytes.count else { throw fail("unexpected end of header, expected a value") }
            switch bytes[pos] {
            case UInt8(ascii: "{"): return try parseObject(depth: depth)
            case UInt8(ascii: "["): return try parseArray(depth: depth)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
            case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
            case UInt8(ascii: "n"): try expectLiteral("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
            default: throw fail("unexpected \(describeCurrent()), expected a value")
            }
        }

        mutating func expectLiteral(_ word: String) throws {
            for byte in word.utf8 {
                guard pos < bytes.count, bytes[pos] == byte else { throw fail("invalid literal, expected '\(word)'") }
                pos += 1
            }
        }

        mutating func parseObject(depth: Int) throws -> JSONValue {
            pos += 1 // {
            var members: [(key: String, value: JSONValue)] = []
            skipWhitespace()
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else {
                    throw fail("unexpected \(describeCurrent()), expected a string key")
                }
                let key = try parseString()
                skipWhitespace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else {
                    throw fail("unexpected \(describeCurrent()), expected ':'")
                }
                pos += 1
                skipWhitespace()
                let value = try parseValue(depth: depth + 1)
                members.append((key, value))
                skipWhitespace()
                guard pos < bytes.count else { throw fail("unexpected end of header inside an object") }
                if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(members) }
                throw fail("unexpected \(describeCurrent()), expected ',' or '}'")
            }
        }

        mutating func parseArray(depth: Int) throws -> JSONValue {
            pos += 1 // [
            var items: [JSONValue] = []
            skipWhitespace()
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
            while true {
                skipWhitespace()
                items.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                guard pos < bytes.count else { throw fail("unexpected end of header inside an array") }
                if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
                throw fail("unexpected \(describeCurrent()), expected ',' or ']'")
            }
        }

        mutating func parseNumber() throws -> String {
            let start = pos
            func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
            if bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            guard pos < bytes.count, isDigit(bytes[pos]) else { throw fail("invalid number") }
            if bytes[pos] == UInt8(ascii: "0") {
                pos += 1
                if pos < bytes.count, isDigit(bytes[pos]) { throw fail("invalid number (leading zero)") }
            } else {
                while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
            }
            if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
                pos += 1
                guard pos < bytes.count, isDigit(bytes[pos]) else { throw fail("invalid number (no digits after '.')") }
                while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
            }
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
                pos += 1
                if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
                guard pos < bytes.count, isDigit(bytes[pos]) else { throw fail("invalid number (no digits in exponent)") }
                while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
            }
            return String(decoding: bytes[start..<pos], as: UTF8.self)
        }

        func hexValue(_ b: UInt8) -> UInt32? {
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(b - UInt8(ascii: "A") + 10)
            default: return nil
            }
        }

        mutating func parseHex4() throws -> UInt32 {
            guard bytes.count - pos >= 4 else { throw fail("truncated \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                guard let h = hexValue(bytes[pos]) else { throw fail("invalid hex digit in \\u escape") }
                v = v << 4 | h
                pos += 1
            }
            return v
        }

        mutating func parseString() throws -> String {
            pos += 1 // opening quote
            var out: [UInt8] = []
            while true {
                guard pos < bytes.count else { throw fail("unterminated string") }
                let b = bytes[pos]
                if b == UInt8(ascii: "\"") { pos += 1; break }
                if b < 0x20 { throw fail("unescaped control character 0x\(String(b, radix: 16)) in string") }
                if b != UInt8(ascii: "\\") { out.append(b); pos += 1; continue }
                pos += 1
                guard pos < bytes.count else { throw fail("unterminated escape in string") }
                let e = bytes[pos]
                pos += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try parseHex4()
                    if code >= 0xD800 && code < 0xDC00 {
                        guard bytes.count - pos >= 6, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired surrogate in \\u escape")
                        }
                        pos += 2
                        let low = try parseHex4()
                        guard low >= 0xDC00 && low < 0xE000 else { throw fail("unpaired surrogate in \\u escape") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else if code >= 0xDC00 && code < 0xE000 {
                        throw fail("unpaired surrogate in \\u escape")
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw fail("invalid \\u escape") }
                    out.append(contentsOf: Array(String(Character(scalar)).utf8))
                default:
                    let shown = e >= 0x21 && e < 0x7F ? "'\\\(Character(Unicode.Scalar(e)))'" : "backslash before byte 0x\(String(e, radix: 16, uppercase: true))"
                    throw fail("invalid escape \(shown) in string")
                }
            }
            // The header was validated as UTF-8 and escapes produce valid
            // scalars, so this decoding never substitutes replacement characters.
            return String(decoding: out, as: UTF8.self)
        }
    }

    // MARK: Writing

    /// `s` as a JSON string literal, escaped the way serde_json (and hence the
    /// Python `safetensors` library) does it: `\"`, `\\`, the short escapes
    /// `\b \t \n \f \r`, other control characters as `\u00xx`; everything
    /// else, including non-ASCII, is written as raw UTF-8.
    static func quote(_ s: String) -> String {
        var out: [UInt8] = [0x22]
        appendQuoted(s, to: &out)
        out.append(0x22)
        return String(decoding: out, as: UTF8.self)
    }

    static func appendQuotedString(_ s: String, to out: inout [UInt8]) {
        out.append(0x22)
        appendQuoted(s, to: &out)
        out.append(0x22)
    }

    private static func appendQuoted(_ s: String, to out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        for b in s.utf8 {
            switch b {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x00..<0x20:
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                        hex[Int(b >> 4)], hex[Int(b & 0xF)]])
            default: out.append(b)
            }
        }
    }
}
