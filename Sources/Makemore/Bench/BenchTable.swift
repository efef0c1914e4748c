import Foundation

/// The table `makemore bench` prints: one line per cell, times in µs per step.
///
///   ranks threads batch    H shards | µs/step min median | samples/s speedup  eff | sample forward ... pool | others
///
/// `others`: CPUs kept busy by other processes while the cell was timed (0.00 on a quiet machine).
/// The breakdown is worker 0's, from the profiled repeat (so it sums to that
/// repeat's step time, a little above the unprofiled median).
public enum BenchTable {
    static let columns: [(String, Int)] = [
        ("ranks", 5), ("threads", 7), ("batch", 6), ("H", 5), ("shards", 6), ("µs/step min", 12), ("median", 9),
        ("samples/s", 10), ("speedup", 8), ("eff", 5),
        ("sample", 7), ("forward", 8), ("backward", 9), ("bn_sync", 8), ("reduce", 7), ("barrier", 8), ("pool", 6),
        ("others", 6),
    ]

    public static var header: String {
        let line = columns.map { pad($0.0, $0.1) }.joined(separator: " ")
        return line + "\n" + String(repeating: " ", count: columns[0..<10].map { $0.1 + 1 }.reduce(0, +))
            + "(breakdown: µs per step on worker 0)"
    }

    public static func row(_ c: BenchCell) -> String {
        let b = c.breakdown
        let values: [String] = [
            "\(c.ranks)", "\(c.threads)", "\(c.batchSize)", "\(c.nHidden)", "\(c.shards)",
            f(c.usPerStepMin), f(c.usPerStepMedian), si(c.samplesPerS),
            String(format: "%.2f", c.speedup), String(format: "%.0f%%", c.efficiency * 100),
            f(b.sample), f(b.forward), f(b.backward), f(b.bnSync), f(b.reduceUpdate), f(b.barrierWait), f(b.pool),
            c.otherCPUsBusy < 0 ? "?" : String(format: "%.2f", c.otherCPUsBusy),
        ]
        return zip(values, columns).map { pad($0, $1.1) }.joined(separator: " ")
    }

    public static func format(_ report: BenchReport) -> String {
        var s = "\(report.machine.cpuModel), \(report.machine.logicalCPUs) CPUs, \(report.machine.numaNodes) NUMA node(s); "
            + "data \(report.data)\n"
        s += header + "\n"
        for c in report.results { s += row(c) + "\n" }
        s += "load average at start \(report.loadAvgStart), at end \(report.loadAvgEnd)\n"
        return s
    }

    /// Three significant figures, at most two decimals.
    static func f(_ x: Double) -> String {
        if x >= 100 { return String(format: "%.0f", x) }
        if x >= 10 { return String(format: "%.1f", x) }
        return String(format: "%.2f", x)
    }
}
