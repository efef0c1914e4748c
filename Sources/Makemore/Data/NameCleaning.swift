// NameCleaning: turns one raw name from a data file into the word the model
// sees. The `municipis` rule is the reference notebook's, step for step, so that
// the vocabulary and the example counts match it exactly:
//
//   1. keep the part before the first "/"      "Ayala/Aiara"      -> "Ayala"
//   2. if the name holds a "," and split(", ") gives exactly two parts,
//      swap them, joined by a space             "Roda, La"         -> "La Roda"
//                                               "Atzúbia, l'"      -> "l' Atzúbia"
//   3. fold to ASCII (ICU "Any-Latin; Latin-ASCII" in the notebook)
//                                                                  -> "l' Atzubia"
//   4. lowercase                                                   -> "l' atzubia"
//   5. delete the characters ( ) ' "                               -> "l atzubia"
//
// The apostrophe is deleted: on data/municipis.csv this gives the documented
// 29 symbols `.` + " -abcdefghijklmnopqrstuvwxyz" (the reference notebook prints those
// 28 as the Python repr `' -abc…z'`, whose quotes are not symbols) and 106373
// examples; keeping the apostrophe would give 30 symbols and 106468 examples.
// The notebook does not trim whitespace in this mode, so neither do we.
//
// ASCII folding without ICU: swift-foundation on Linux has no
// `applyingTransform`, so we decompose canonically (NFD), drop combining marks
// (canonical combining class != 0, as Python's `unicodedata.combining`), and map
// the Latin letters and punctuation that do not decompose through a small
// table taken from ICU's Latin-ASCII rules. Every accented letter in the
// municipis file is Latin-1 and decomposes, so this equals ICU there. Scripts
// that ICU would transliterate (Greek, Cyrillic, …) pass through unchanged and
// simply become vocabulary symbols.

import Foundation

/// How raw names are cleaned (config key `data.clean`).
public enum Cleaning: String, CaseIterable {
    /// The reference notebook's rule for Spanish municipality names (see above).
    case municipis
    /// Lowercase, then trim surrounding whitespace.
    case lowercase
    /// Only trim surrounding whitespace.
    case none
}

public enum NameCleaning {
    /// The cleaned form of `raw` under `mode`; may be empty (callers decide
    /// whether that is an error).
    public static func clean(_ raw: String, _ mode: Cleaning) -> String {
        switch mode {
        case .municipis:
            return municipis(raw)
        case .lowercase:
            return raw.lowercased().trimmingCharacters(in: .whitespacesAndNewlines)
        case .none:
            return raw.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// The notebook's steps 1–5. Steps 1 and 2 work on Unicode scalars, as
    /// Python's `str.split` does, so a combining mark after "/" or ", " cannot
    /// hide the separator inside a Swift grapheme cluster.
    static func municipis(_ raw: String) -> String {
        var scalars = Array(raw.unicodeScalars)
        // 1. name.split('/')[0]
        if let slash = scalars.firstIndex(of: "/") {
            scalars.removeSubrange(slash...)
        }
        // 2. if ',' in name: parts = name.split(', '); if len(parts) == 2: swap
        if scalars.contains(",") {
            let parts = split(scalars, on: [",", " "])
            if parts.count == 2 {
                scalars = parts[1] + [" "] + parts[0]
            }
        }
        // 3. fold to ASCII, 4. lowercase
        let folded = foldToASCII(String(String.UnicodeScalarView(scalars))).lowercased()
        // 5. delete ( ) ' "
        return String(folded.unicodeScalars.filter { !deleted.contains($0) }.map(Character.init))
    }

    private static let deleted: Set<Unicode.Scalar> = ["(", ")", "'", "\""]

    /// Python's `s.split(sep)` for a non-empty separator: every occurrence
    /// splits, empty parts are kept.
    static func split(_ s: [Unicode.Scalar], on sep: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var parts: [[Unicode.Scalar]] = []
        var start = 0
        var i = 0
        while i + sep.count <= s.count {
            if s[i..<(i + sep.count)].elementsEqual(sep) {
                parts.append(Array(s[start..<i]))
                i += sep.count
                start = i
            } else {
                i += 1
            }
        }
        parts.append(Array(s[start...]))
        return parts
    }

    /// Latin letters to ASCII: NFD, drop combining marks, then the table below
    /// for letters and punctuation that have no canonical decomposition.
    public static func foldToASCII(_ s: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in s.decomposedStringWithCanonicalMapping.unicodeScalars {
            if scalar.isASCII {
                out.append(scalar)
            } else if scalar.properties.canonicalCombiningClass != .notReordered {
                continue
            } else if let replacement = asciiReplacements[scalar] {
                out.append(contentsOf: replacement.unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// Non-decomposable Latin letters and common punctuation, as ICU's
    /// Latin-ASCII transliterator writes them.
    private static let asciiReplacements: [Unicode.Scalar: String] = [
        "ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE",
        "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D",
        "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH", "ı": "i", "ŀ": "l", "Ŀ": "L",
        "ħ": "h", "Ħ": "H", "ŧ": "t", "Ŧ": "T", "ŋ": "n", "Ŋ": "N",
        "ĸ": "q", "ſ": "s", "ƒ": "f",
        "\u{00A0}": " ",  // no-break space
        "\u{2018}": "'", "\u{2019}": "'", "\u{201A}": ",", "\u{201B}": "'",
        "\u{201C}": "\"", "\u{201D}": "\"", "\u{201E}": ",,",
        "\u{2010}": "-", "\u{2011}": "-", "\u{2012}": "-", "\u{2013}": "-", "\u{2014}": "-",
        "\u{00AB}": "<<", "\u{00BB}": ">>",
    ]
}
