import Foundation

/// The one check of a command's memory before anything big is allocated.
/// The budget is the least of: 80% of the machine's physical memory
/// (room for the OS, the page cache and whatever else runs), the cgroup's
/// `memory.max` (a container's limit) and `ulimit -v`; or
/// MAKEMORE_MEMORY_LIMIT (bytes, or a number with K, M, G or T) when set.
public enum MemoryCheck {
    public static let limit = 0.8

    /// What a command may allocate, and where that figure comes from.
    public struct Budget {
        public var bytes: Double
        public var source: String
    }

    public static func budget(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Budget {
        if let text = environment["MAKEMORE_MEMORY_LIMIT"], !text.isEmpty {
            guard let bytes = parseSize(text) else {
                throw MakemoreError("MAKEMORE_MEMORY_LIMIT: cannot read '\(text)' (expected bytes, or a number with K, M, G or T, e.g. 8G)")
            }
            return Budget(bytes: bytes, source: "MAKEMORE_MEMORY_LIMIT")
        }
        var best = Budget(bytes: .infinity, source: "")
        let physical = Double(sysconf(Int32(_SC_PHYS_PAGES))) * Double(sysconf(Int32(_SC_PAGESIZE)))
        if physical > 0 { best = Budget(bytes: physical * limit, source: "\(Int(limit * 100))% of the machine's \(size(physical))") }
        if let bytes = try? FileReader.readAll(path: "/sys/fs/cgroup/memory.max", limit: 64),
           let max = Double(String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
           max * limit < best.bytes {
            best = Budget(bytes: max * limit, source: "\(Int(limit * 100))% of the cgroup's memory.max, \(size(max))")
        }
        var address = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &address) == 0 && address.rlim_cur != rlim_t.max {
            let cap = Double(address.rlim_cur) * limit
            if cap < best.bytes { best = Budget(bytes: cap, source: "\(Int(limit * 100))% of ulimit -v, \(size(Double(address.rlim_cur)))") }
        }
        return best
    }

    /// The bytes a command may allocate (infinite when nothing says).
    public static var allowance: Double { (try? budget().bytes) ?? .infinity }

    /// Throws, naming `what` needs how much and what to `lower` (nil: the
    /// input is too big for this machine), when `bytes` is over the budget
    /// (or not a number).
    public static func require(_ bytes: Double, for what: String, lower: String?) throws {
        let b = try budget()
        if !(bytes <= b.bytes) {
            throw MakemoreError("\(what) needs \(size(bytes)) for its buffers but may use \(size(b.bytes)) (\(b.source)); "
                + (lower.map { "lower \($0)" } ?? "too big for this machine"))
        }
    }

    /// Before building a one-worker engine of `shape` for `rows` rows, as
    /// eval and grads do.
    public static func requireEngine(_ shape: ModelShape, rows: Int, shards: Int = 1, for what: String) throws {
        try require(StepEngine.bytesNeeded(shape: shape, batchSize: rows, shards: shards, workers: 1), for: what, lower: nil)
    }

    /// "512", "64M", "8G", "1.5T" → bytes (powers of 1024); nil otherwise.
    static func parseSize(_ text: String) -> Double? {
        let units: [Character: Double] = ["K": 0x1p10, "M": 0x1p20, "G": 0x1p30, "T": 0x1p40]
        var digits = text.trimmingCharacters(in: .whitespaces).uppercased()
        var scale = 1.0
        if let last = digits.last, let unit = units[last] {
            scale = unit
            digits.removeLast()
        }
        guard let n = Double(digits), n.isFinite, n > 0 else { return nil }
        return n * scale
    }

    /// "512 B", "64.0 MiB", "1.25 GiB", "3.0 TiB".
    public static func size(_ bytes: Double) -> String {
        switch bytes {
        case 0x1p40...: return String(format: "%.1f TiB", bytes / 0x1p40)
        case 0x1p30...: return String(format: "%.2f GiB", bytes / 0x1p30)
        case 0x1p20...: return String(format: "%.1f MiB", bytes / 0x1p20)
        case 0x1p10...: return String(format: "%.1f KiB", bytes / 0x1p10)
        default: return String(format: "%.0f B", bytes)
        }
    }
}
