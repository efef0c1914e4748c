import Foundation

/// Bytes of CPU 0's L2 cache as the OS describes it
/// (/sys/devices/system/cpu/cpu0/cache), or nil where it does not.
public func l2CacheBytes() -> Int? {
    let root = "/sys/devices/system/cpu/cpu0/cache"
    for index in 0..<8 {
        func read(_ name: String) -> String? {
            (try? String(contentsOfFile: "\(root)/index\(index)/\(name)", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let level = read("level") else { break }
        if level == "2", read("type") != "Instruction", let size = read("size").flatMap(cacheSizeBytes) { return size }
    }
    return nil
}

/// A cache size as sysfs writes it ("2048K", "1M", "512") in bytes, or nil.
public func cacheSizeBytes(_ text: String) -> Int? {
    let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
    guard let last = text.last else { return nil }
    if let unit = units[last] { return Int(text.dropLast()).map { $0 * unit } }
    return Int(text)
}
