import Foundation

/// The CPU's model name from /proc/cpuinfo ("AMD EPYC 9R14 96-Core Processor"),
/// or "unknown CPU": printed beside every speed figure, and the key of the tile cache.
public func cpuModelName() -> String {
    guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown CPU" }
    return cpuModelName(cpuinfo: text)
}

/// The model name of the first processor in `text` (the format of
/// /proc/cpuinfo), with its family and model numbers appended when the name
/// has no digit in it. A virtual machine often hides the model behind a
/// generic name ("AMD EPYC" for a Zen 3 and a Zen 5 alike, "Intel Xeon
/// Processor (Icelake)"); the numbers tell those apart, in reports and in the
/// tile cache, which must not hand one CPU's tiles to another.
public func cpuModelName(cpuinfo text: String) -> String {
    // The first processor's block only, split once: /proc/cpuinfo repeats
    // every field for each CPU (hundreds of KB on a large server).
    let block = text.range(of: "\n\n").map { text[..<$0.lowerBound] } ?? text[...]
    let lines = block.split(separator: "\n")
    func field(_ key: String) -> String? {
        for line in lines {
            guard let colon = line.firstIndex(of: ":"),
                  line[..<colon].trimmingCharacters(in: .whitespaces) == key else { continue }
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            return value.isEmpty ? nil : value
        }
        return nil
    }
    guard let name = field("model name") else { return "unknown CPU" }
    guard !name.contains(where: \.isNumber), let family = field("cpu family"), let model = field("model") else { return name }
    return "\(name) (family \(family), model \(model))"
}
