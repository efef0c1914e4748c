import Foundation

/// The CPU's model name from /proc/cpuinfo ("AMD EPYC 9R14 96-Core Processor"),
/// or "unknown CPU": printed beside every speed figure, and the key of the tile cache.
public func cpuModelName() -> String {
    guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
          let colon = line.firstIndex(of: ":") else { return "unknown CPU" }
    return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
}
