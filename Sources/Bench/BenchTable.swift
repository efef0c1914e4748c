import Foundation
import Makemore

/// The table `makemore bench` prints: one line per cell, times in µs per step.
///
///   [ranks] threads batch H shards | µs/step min median | samples/s speedup eff | GFLOP/s %peak %best %all | sample ... pool | others
///
/// `ranks` only when the run has cells of more than one rank: without MPI it
/// would be a column of 1s. The JSON and CSV always have it (the scripts read those).
///
/// GFLOP/s: the step's six matrix products (6·n·(K·H + H·V) FLOP) per median
/// step time; %peak: that over the measured single-core FMA peak × ranks ×
/// threads; %best: the same for the fastest repeat (the peak is a best window
/// too, so on a shared machine this is the like-for-like share); %all: over
/// the all-cores peak per core × ranks × threads ("-" when
/// no peak was measured). `others`: CPUs kept busy by other processes while the
/// cell was timed (0.00 on a quiet machine), with a `*` above 0.1: that cell
/// shared the machine. The breakdown is worker 0's, from the profiled repeat
/// (so it sums to that repeat's step time, a little above the unprofiled median).
public enum BenchTable {
    static let allColumns: [(String, Int)] = [
        ("ranks", 5), ("threads", 7), ("batch", 6), ("H", 5), ("shards", 6), ("µs/step min", 12), ("median", 9),
        ("samples/s", 10), ("speedup", 8), ("eff", 5), ("GFLOP/s", 8), ("%peak", 6), ("%best", 6), ("%all", 5),
        ("sample", 7), ("forward", 8), ("backward", 9), ("bn_sync", 8), ("reduce", 7), ("barrier", 8), ("pool", 6),
        ("others", 6),
    ]

    static func columns(ranks: Bool) -> [(String, Int)] { ranks ? allColumns : Array(allColumns.dropFirst()) }

    /// Whether a table of these rank counts (a grid's, or its cells') shows the `ranks` column.
    public static func showsRanks(_ rankCounts: [Int]) -> Bool { rankCounts.contains { $0 > 1 } }

    public static func header(ranks: Bool = false) -> String {
        let cols = columns(ranks: ranks)
        let line = cols.map { pad($0.0, $0.1) }.joined(separator: " ")
        let breakdown = cols.firstIndex { $0.0 == "sample" }!
        return line + "\n" + String(repeating: " ", count: cols[..<breakdown].map { $0.1 + 1 }.reduce(0, +))
            + "(breakdown: µs per step on worker 0)"
    }

    /// The lines printed under the table.
    public static let legend = [
        "GFLOP/s: the model's six matrix products, 6·n·(K·H + H·V) FLOP per median step (shards of 38+ rows fold three "
            + "of them into smaller ones: then it is the model's work per second, more than the engine does); "
            + "%peak: of the single-core FMA peak × ranks × threads; %best: the same for the fastest repeat (µs/step min); "
            + "%all: of the all-cores peak per core × ranks × threads",
        "* other processes kept more than \(BenchCell.busyThreshold) CPU busy while the cell was timed (others): its times are not clean",
    ]

    /// "FMA peak (AMD EPYC, 8-lane FMAs, 0.25 s): 1 core 86.7 GFLOP/s; 2 cores at once 170.1 (85.1 per core)"
    public static func peakLine(_ p: FMAPeak, cpuModel: String) -> String {
        "FMA peak (\(cpuModel), \(p.vectorWidth)-lane FMAs, \(p.seconds) s per probe): "
            + String(format: "1 core %.1f GFLOP/s; %d cores at once %.1f (%.1f per core)",
                     p.singleCoreGflops, p.allCoresThreads, p.allCoresGflops, p.allCoresPerCore)
    }

    public static func row(_ c: BenchCell, ranks: Bool = false) -> String {
        let b = c.breakdown
        let values: [String] = (ranks ? ["\(c.ranks)"] : []) + [
            "\(c.threads)", "\(c.batchSize)", "\(c.nHidden)", "\(c.shards)",
            f(c.usPerStepMin), f(c.usPerStepMedian), si(c.samplesPerS),
            String(format: "%.2f", c.speedup), String(format: "%.0f%%", c.efficiency * 100),
            c.gflops > 0 ? f(c.gflops) : "-", share(c.peakShare), share(c.peakShareBest), share(c.peakShareAllCores),
            f(b.sample), f(b.forward), f(b.backward), f(b.bnSync), f(b.reduceUpdate), f(b.barrierWait), f(b.pool),
            c.otherCPUsBusy < 0 ? "?" : String(format: "%.2f", c.otherCPUsBusy) + (c.hadCompetition ? "*" : ""),
        ]
        return zip(values, columns(ranks: ranks)).map { pad($0, $1.1) }.joined(separator: " ")
    }

    public static func format(_ report: BenchReport) -> String {
        var s = "\(report.machine.cpuModel), \(report.machine.logicalCPUs) CPUs, \(report.machine.numaNodes) NUMA node(s); "
            + "data \(report.data)\n"
        if let p = report.fmaPeak { s += peakLine(p, cpuModel: report.machine.cpuModel) + "\n" }
        let ranks = showsRanks(report.results.map(\.ranks))
        s += header(ranks: ranks) + "\n"
        for c in report.results { s += row(c, ranks: ranks) + "\n" }
        for line in legend { s += line + "\n" }
        s += "load average at start \(report.loadAvgStart), at end \(report.loadAvgEnd)\n"
        return s
    }

    /// A peak share in percent, "-" where unknown.
    static func share(_ x: Double) -> String { x < 0 ? "-" : String(format: "%.0f%%", x * 100) }

    /// Three significant figures, at most two decimals.
    static func f(_ x: Double) -> String {
        if x >= 100 { return String(format: "%.0f", x) }
        if x >= 10 { return String(format: "%.1f", x) }
        return String(format: "%.2f", x)
    }
}

/// 1234567 → "1.23M", 54321 → "54.3k".
func si(_ x: Double) -> String {
    if x >= 1e6 { return String(format: "%.2fM", x / 1e6) }
    if x >= 1e3 { return String(format: "%.1fk", x / 1e3) }
    return String(format: "%.0f", x)
}

/// `s` right-aligned in `width` characters; one space after it where it is as wide or wider.
func pad(_ s: String, _ width: Int) -> String {
    let n = s.count
    return n >= width ? s + " " : String(repeating: " ", count: width - n) + s
}
