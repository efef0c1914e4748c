/// `text` with line breaks and other control characters escaped, so that a
/// message built from user input stays on one line.
public func oneLine(_ text: String) -> String {
    var out = ""
    for u in text.unicodeScalars {
        if u.value < 0x20 || u.value == 0x7F || (0x80...0x9F).contains(u.value) || u.value == 0x2028 || u.value == 0x2029 {
            switch u {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out += "\\u{" + String(u.value, radix: 16) + "}"
            }
        } else {
            out.unicodeScalars.append(u)
        }
    }
    return out
}

/// A piece of user input for a message: on one line and at most `limit`
/// characters (then "…").
func shown(_ text: String, limit: Int = 80) -> String {
    let short = text.count > limit ? String(text.prefix(limit)) + "…" : text
    return oneLine(short)
}
