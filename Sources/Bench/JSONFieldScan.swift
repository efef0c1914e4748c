// Foundation's JSONDecoder refuses a number it cannot represent (1e999, an
// integer field holding 1.5 or 10^25) and Python's NaN/Infinity as "not valid
// JSON", with no field named. This scan walks the text once and names the
// first such value, so the error can say where it is.

enum JSONFieldScan {
    /// "results[0].threads: expected an integer, got 1.5" for the first value
    /// that no JSON decoder could turn into the type its field needs, or nil.
    /// Keys in `integerKeys` hold integers. Stops quietly at a syntax error.
    static func firstUnreadableValue(_ bytes: [UInt8], integerKeys: Set<String>) -> String? {
        var frames: [Frame] = []
        var i = 0
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: ":"):
                i += 1
            case UInt8(ascii: "{"):
                frames.append(.object(key: nil)); i += 1
            case UInt8(ascii: "["):
                frames.append(.array(index: 0)); i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                guard frames.popLast() != nil else { return nil }
                i += 1
            case UInt8(ascii: ","):
                if let last = frames.popLast() { frames.append(last.next) }
                i += 1
            case UInt8(ascii: "\""):
                guard let (text, end) = string(bytes, from: i) else { return nil }
                if case .object(nil)? = frames.last { frames[frames.count - 1] = .object(key: text) }
                i = end
            default:
                let start = i
                while i < bytes.count, !delimiters.contains(bytes[i]) { i += 1 }
                let token = String(decoding: bytes[start..<i], as: UTF8.self)
                if let problem = problem(token, integer: frames.last?.key.map(integerKeys.contains) ?? false) {
                    return "\(path(frames)): \(problem)"
                }
            }
        }
        return nil
    }

    private enum Frame {
        case object(key: String?)
        case array(index: Int)

        var key: String? {
            if case let .object(key) = self { return key }
            return nil
        }

        /// After a comma: the next element, or an object's next key.
        var next: Frame {
            switch self {
            case .object: return .object(key: nil)
            case let .array(n): return .array(index: n + 1)
            }
        }
    }

    private static let delimiters: Set<UInt8> = Set(" \t\n\r,:]}[{\"".utf8)

    private static func problem(_ token: String, integer: Bool) -> String? {
        if ["true", "false", "null"].contains(token) { return nil }
        let shown = token.count > 24 ? String(token.prefix(24)) + "…" : token
        guard let first = token.utf8.first, first == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first),
              let value = Double(token) else {
            return "\(shown) is not a JSON value (NaN and Infinity are not JSON numbers)"
        }
        guard value.isFinite else { return "\(shown) is beyond the range of a number" }
        if integer && Int(token) == nil {
            return token.contains(where: { ".eE".contains($0) }) ? "expected an integer, got \(shown)" : "\(shown) is beyond the range of an integer"
        }
        return nil
    }

    /// The string starting at the quote at `start`, and the index after its closing quote.
    private static func string(_ bytes: [UInt8], from start: Int) -> (String, Int)? {
        var i = start + 1
        var out: [UInt8] = []
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") { return (String(decoding: out, as: UTF8.self), i + 1) }
            if b == UInt8(ascii: "\\") {
                i += 1  // keys are plain names; an escape is kept as its letter, which is enough to name the field
                guard i < bytes.count else { return nil }
            }
            out.append(bytes[i])
            i += 1
        }
        return nil
    }

    private static func path(_ frames: [Frame]) -> String {
        var out = ""
        for frame in frames {
            switch frame {
            case let .object(key?): out += (out.isEmpty ? "" : ".") + key
            case .object(nil): break
            case let .array(n): out += "[\(n)]"
            }
        }
        return out.isEmpty ? "the file" : out
    }
}
