import Foundation
import Makemore

/// Predicts a step's time on R MPI ranks of 1 thread each (`makemore bench
/// --predict`), from the run's 1-thread cell (`StepCost`) and the bytes the
/// ranks exchange. Checked out of sample: fitted on 2 ranks, it predicted 3
/// hosts within 3% (docs/mpi.md). Several threads per rank are not predicted:
/// nothing has measured how the thread terms grow beyond 2 threads.
///
/// A step of R ranks is `StepCost.compute(R)`: the forward/backward work divided
/// by R, the BatchNorm combine and the reduction not (every rank combines and
/// reduces all S' = R·⌈S/R⌉ shards itself, which keeps the result exact without
/// a broadcast), plus the exchange: per step 4 all-gathers (`StepEngine+Exchange.swift`):
///
///   BatchNorm moments (mean, M2)       2·Hp·4·S' bytes gathered
///   BatchNorm partials (dbngain, dbnbias) 2·Hp·4·S'
///   losses                             8·S'
///   gradients                          P·4·S', and T·4·S' where shards fold
///
/// (Hp: n_hidden padded to 16; P: the parameter vector's length with padding,
/// `ParameterLayout.count`; T = V·B·Hp, a folding shard's token sums, sent
/// with its gradient), of which each rank receives (R−1)/R. Each costs a
/// latency α (⌈log₂ R⌉ rounds) and the bytes over the bandwidth bw one rank sees:
///
///   t(R) = compute(R) + [R>1]·(g·α·⌈log₂ R⌉ + (R−1)/R · S'·(16·Hp + 8 + 4·P + 4·T) / bw)
///
/// (g: the all-gathers, 4, or 5 where shards fold)
///
/// bw is the shared-memory figure measured by bench/mpi/collectives.c on this
/// machine (8 MiB gathered by 2 ranks in 390 µs: 4 MiB received, ≈ 10.7 GB/s).
/// α is calibrated from the run's cell of 2 ranks × 1 thread where there is one
/// (its time minus the predicted compute and bytes, over g: an effective latency
/// that also holds the ranks' waits for each other), else 0.3 µs (that
/// benchmark's 0.19–0.39 µs for small gathers). The stop flag's all-reduce,
/// once per chunk of steps, is left out.
///
/// Ranks on separate hosts (`bench --link-bandwidth`): bw is the link's rate,
/// since each rank receives its (R−1)/R through its own host's link, and α,
/// fitted the same way, is then the network's. One rank per host: two on a
/// host would share its link, which the model does not know.
public enum RankScalingModel {
    public static let rankCounts = [1, 2, 4, 8]
    /// Bytes per µs one rank receives in shared memory (4 MiB in 390 µs).
    public static let sharedMemoryBandwidth = 4.0 * 1_048_576 / 390
    /// µs per small all-gather in shared memory, when no 2-rank cell was measured.
    public static let assumedLatency = 0.3

    /// Bytes all ranks together gather per step with `shards` shards, whose
    /// token sums are `tokenSums` floats each (0 where they do not fold).
    public static func bytesGathered(hiddenPadded hp: Int, parameters p: Int, tokenSums t: Int, shards: Int) -> Int {
        shards * (2 * hp * 4 + 2 * hp * 4 + 8 + p * 4 + t * 4)
    }

    /// The predictions for every (batch, n_hidden, shards) of `report` that has a cell
    /// of 1 rank × 1 thread: R ∈ `rankCounts` and the run's rank counts, 1 thread per rank.
    /// `link`: bytes per µs through each host's link, for ranks on separate hosts; nil: one host, shared memory.
    public static func predictions(for report: BenchReport, link: Double? = nil) -> [RankScalingPrediction] {
        var out = [RankScalingPrediction]()
        var seen = Set<[Int]>()
        let single = report.results.filter { $0.ranks == 1 }
        for c1 in single where c1.threads == 1 {
            let key = [c1.batchSize, c1.nHidden, c1.shards]
            guard seen.insert(key).inserted else { continue }
            let same = report.results.filter { $0.batchSize == c1.batchSize && $0.nHidden == c1.nHidden && $0.shards == c1.shards }
            let c2 = single.first { $0.threads == 2 && same.contains($0) }
            let step = StepCost.calibrate(one: c1, two: c2, report: report)
            let shape = ModelShape(vocabSize: report.vocabSize, blockSize: report.blockSize, nEmbd: report.nEmbd, nHidden: c1.nHidden)
            var cal = RankScalingCalibration(step: step, hiddenPadded: shape.hiddenPadded,
                                             parameters: ParameterLayout(shape).count,
                                             tokenSums: shape.tokenSumFloats, foldRows: shape.foldingRows,
                                             latency: assumedLatency, bandwidth: link ?? sharedMemoryBandwidth,
                                             source: "no 2-rank × 1-thread cell: α assumed \(assumedLatency) µs")
            if let m = same.first(where: { $0.ranks == 2 && $0.threads == 1 }), let compute = step.compute(ranks: 2) {
                let bytes = Double(cal.bytesGathered(ranks: 2)) / 2
                cal.latency = roundTo(max(0, (m.usPerStepMedian - compute - bytes / cal.bandwidth) / cal.allGathers(ranks: 2)), 3)
                cal.source = "α from the 2-rank × 1-thread cell"
            }
            guard let t1 = cal.time(ranks: 1) else { continue }  // fewer than 2 rows per shard
            var points = [RankScalingPoint]()
            for r in Set(rankCounts).union(same.map(\.ranks)).sorted() {
                guard let us = cal.time(ranks: r) else { continue }
                let s2 = step.shards(ranks: r)
                let gathered = cal.bytesGathered(ranks: r)
                let measured = same.first { $0.ranks == r && $0.threads == 1 }
                points.append(RankScalingPoint(
                    ranks: r, shards: s2, usPerStep: roundTo(us, 3),
                    samplesPerS: roundTo(Double(c1.batchSize) / us * 1e6, 0),
                    efficiency: roundTo(t1 / (Double(r) * us), 3),
                    bytesReceivedPerRank: share(gathered, of: r),
                    measuredUsPerStep: measured?.usPerStepMedian))
            }
            out.append(RankScalingPrediction(batchSize: c1.batchSize, nHidden: c1.nHidden, shards: c1.shards,
                                             calibration: cal, points: points))
        }
        return out
    }

    /// ⌊bytes·(R−1)/R⌋, what one of R ranks receives, without forming bytes·(R−1)
    /// (which overflows for the largest models and rank counts a results file may hold).
    static func share(_ bytes: Int, of r: Int) -> Int {
        guard r > 1 else { return 0 }
        let (q, m) = bytes.quotientAndRemainder(dividingBy: r)
        return q * (r - 1) + m * (r - 1) / r
    }

    /// A rate such as `100mbit` or `1gbit` (tc's units) in bytes per µs, or nil.
    public static func linkRate(_ text: String) -> Double? {
        let units: [(String, Double)] = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1)]
        for (unit, bits) in units where text.hasSuffix(unit) {
            guard let v = Double(text.dropLast(unit.count)), v.isFinite, v > 0 else { return nil }
            let rate = v * bits / 8 / 1e6
            return rate >= 1e-3 && rate <= 1e7 ? rate : nil
        }
        return nil
    }

    /// The prediction tables, with measured cells (± error) where the run has them.
    public static func format(_ predictions: [RankScalingPrediction]) -> String {
        guard !predictions.isEmpty else {
            return "scaling model: no cell of 1 rank × 1 thread to calibrate on (add 1 to --threads)\n"
        }
        let setting = predictions.allSatisfy({ $0.calibration.bandwidth == sharedMemoryBandwidth })
            ? "one host, shared memory" : "one rank per host, bw: each host's link"
        var s = """

            Scaling model, R ranks × 1 thread per rank (\(setting)):
              t(R) = serial + parallel/R·(1+g·[R>1]) + bn_sync·(1−φ+φ·S'/S) + reduce·(S'+2)/(S+2)   (S' = R·⌈S/R⌉)
                     + [R>1]·(4·α·⌈log₂R⌉ + (R−1)/R · S'·(16·Hp + 8 + 4·P)/bw)
            calibrated on the 1-rank × 1-thread cell (g: the cache gain of the 2-thread cell, 0 unless
            it ran superlinearly; α: fitted to the 2-rank × 1-thread cell); entries: samples/s, efficiency
            against 1 rank, and the bytes each rank receives per step (4 all-gathers); "measured" rows
            give this run's cells and the model's error. Several threads per rank are measured, not predicted.

            """
        for p in predictions {
            let c = p.calibration, t = c.step
            s += "\nbatch \(p.batchSize), n_hidden \(p.nHidden), shards \(p.shards): "
            s += String(format: "serial %.2f µs, parallel %.1f µs, bn_sync %.2f µs (φ %.2f), reduce %.2f µs, g %.1f%%  [%@]\n",
                        t.serial, t.parallel, t.bnSync, t.bnSyncShardFraction, t.reduce, 100 * t.cacheGain, t.source)
            let bw = c.bandwidth >= 1000 ? String(format: "%.1f GB/s", c.bandwidth / 1000) : String(format: "%.3g MB/s", c.bandwidth)
            s += String(format: "  Hp %d, P %d, α %.2f µs, bw %@  [%@]\n", c.hiddenPadded, c.parameters, c.latency, bw, c.source)
            s += predictionGrid(rowName: "ranks", column: "T=1", batchSize: p.batchSize, width: 24,
                                rows: p.points.map { pt in
                let kb = pt.bytesReceivedPerRank == 0 ? "0 B" : String(format: "%.1f kB", Double(pt.bytesReceivedPerRank) / 1000)
                return (row: pt.ranks, text: "\(si(pt.samplesPerS)) \(percent(pt.efficiency)) \(kb)",
                        predicted: pt.usPerStep, measured: pt.measuredUsPerStep)
            })
        }
        return s
    }
}

public struct RankScalingCalibration: Codable, Equatable, Sendable {
    /// The step on 1 thread of each rank, without the exchange.
    public var step: StepCost
    public var hiddenPadded: Int
    public var parameters: Int
    /// A folding shard's token sums (floats), and the fewest rows a shard folds at.
    public var tokenSums: Int
    public var foldRows: Int
    /// µs per all-gather (per round), and bytes per µs one rank receives.
    public var latency: Double
    public var bandwidth: Double
    public var source: String

    enum CodingKeys: String, CodingKey {
        case step, hiddenPadded = "hidden_padded", parameters, tokenSums = "token_sums", foldRows = "fold_rows", latency = "latency_us"
        case bandwidth = "bandwidth_bytes_per_us", source
    }

    /// Bytes all R ranks together gather per step: the token sums too where
    /// the S' shards fold (a shard's rows are ⌊n/S'⌋ or one more).
    public func bytesGathered(ranks R: Int) -> Int {
        RankScalingModel.bytesGathered(hiddenPadded: hiddenPadded, parameters: parameters,
                                       tokenSums: folds(ranks: R) ? tokenSums : 0, shards: step.shards(ranks: R))
    }

    /// Whether the S' shards fold (the largest does), and so every shard's token sums are gathered.
    func folds(ranks R: Int) -> Bool { largestShardRows(step.batchSize, shards: step.shards(ranks: R)) >= foldRows }

    /// All-gathers per step: 4, and the token sums' where shards fold.
    func allGathers(ranks R: Int) -> Double { folds(ranks: R) ? 5 : 4 }

    /// Predicted µs per step on R ranks of 1 thread, or nil where S' shards would hold fewer than 2 rows each.
    public func time(ranks R: Int) -> Double? {
        guard let compute = step.compute(ranks: R) else { return nil }
        guard R > 1 else { return compute }
        let bytes = Double(bytesGathered(ranks: R))
        let rounds = ceil(log2(Double(R)))
        return compute + allGathers(ranks: R) * latency * rounds + Double(R - 1) / Double(R) * bytes / bandwidth
    }
}

/// R ranks of 1 thread each.
public struct RankScalingPoint: Codable, Equatable, Sendable {
    public var ranks: Int
    public var shards: Int
    public var usPerStep: Double
    public var samplesPerS: Double
    public var efficiency: Double
    /// Bytes each rank receives per step in the 4 all-gathers.
    public var bytesReceivedPerRank: Int
    /// The run's own cell of R ranks × 1 thread, where it has one.
    public var measuredUsPerStep: Double?

    enum CodingKeys: String, CodingKey {
        case ranks, shards, usPerStep = "us_per_step", samplesPerS = "samples_per_s", efficiency
        case bytesReceivedPerRank = "bytes_received_per_rank", measuredUsPerStep = "measured_us_per_step"
    }
}

public struct RankScalingPrediction: Codable, Equatable, Sendable {
    public var batchSize: Int
    public var nHidden: Int
    public var shards: Int
    public var calibration: RankScalingCalibration
    public var points: [RankScalingPoint]

    enum CodingKeys: String, CodingKey {
        case batchSize = "batch_size", nHidden = "n_hidden", shards, calibration, points
    }
}

/// 0.874 → "87%"; "?" where the model's arithmetic gave no number (a cell of
/// zero times), rather than trapping on the conversion.
func percent(_ x: Double) -> String {
    let p = (x * 100).rounded()
    return abs(p) < 1e15 ? "\(Int(p))%" : "?"
}

/// A one-column table of predictions: a line per row (a rank count) and, under
/// a row with a measured cell, a `measured` line with this run's samples/s and
/// the model's error.
func predictionGrid(rowName: String, column: String, batchSize: Int, width: Int,
                    rows: [(row: Int, text: String, predicted: Double, measured: Double?)]) -> String {
    var s = "  \(rowName) " + pad(column, width) + "\n"
    for r in rows.sorted(by: { $0.row < $1.row }) {
        s += "  " + pad("\(r.row)", 5) + " " + pad(r.text, width) + "\n"
        if let m = r.measured {
            s += "measured" + pad("\(si(Double(batchSize) / m * 1e6)) \(String(format: "%+.0f%%", (r.predicted - m) / m * 100))", width) + "\n"
        }
    }
    return s
}
