import Foundation

/// The one check of a run's memory before anything big is allocated: at
/// most 80% of the machine's physical memory, leaving room for the OS, the
/// page cache and whatever else runs.
public enum MemoryCheck {
    public static let limit = 0.8

    /// Throws, naming `what` needs how much and what to `lower`, when `bytes`
    /// is over the limit (or not a number).
    public static func require(_ bytes: Double, for what: String, lower: String) throws {
        let physical = Double(sysconf(Int32(_SC_PHYS_PAGES))) * Double(sysconf(Int32(_SC_PAGESIZE)))
        guard physical > 0 else { return }
        if !(bytes <= physical * limit) {
            throw MakemoreError("\(what) needs \(gibibytes(bytes)) for its buffers but the machine has \(gibibytes(physical)) "
                + "(at most \(Int(limit * 100))% may be used); lower \(lower)")
        }
    }

    /// "1.25 GiB", "3.0 TiB".
    public static func gibibytes(_ bytes: Double) -> String {
        bytes >= 0x1p40 ? String(format: "%.1f TiB", bytes / 0x1p40) : String(format: "%.2f GiB", bytes / 0x1p30)
    }
}
