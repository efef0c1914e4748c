import Foundation
import Makemore

/// The scaling model extended to R MPI ranks × T threads per rank
/// (`makemore bench --predict`, after the threads × nodes tables).
///
/// A step of R ranks is the single-process step of `ScalingModel` with the
/// forward/backward work divided by all R·T workers (the BatchNorm combine and
/// the reduction are not divided by R: every rank combines and reduces all S'
/// shards itself, which keeps the result exact without a broadcast), three
/// more barriers inside the pool (one per exchange point), and the exchange:
/// per step 4 all-gathers (`StepEngine+Exchange.swift`):
///
///   BatchNorm moments (mean, M2)       2·Hp·4·S' bytes gathered
///   BatchNorm partials (dbngain, dbnbias) 2·Hp·4·S'
///   losses                             8·S'
///   gradients                          P·4·S'
///
/// (Hp: n_hidden padded to 16; P: the parameter vector's length with padding,
/// `ParameterLayout.count`), of which each rank receives (R−1)/R. Each costs a
/// latency α (⌈log₂ R⌉ rounds) and the bytes over the bandwidth bw one rank sees:
///
///   t(R, T) = compute(R, T) + [R>1]·(4·α·⌈log₂ R⌉ + (R−1)/R · S'·(16·Hp + 8 + 4·P) / bw)
///
/// bw is the shared-memory figure measured by bench/mpi/collectives.c on this
/// machine (8 MiB gathered by 2 ranks in 390 µs: 4 MiB received, ≈ 10.7 GB/s).
/// α is calibrated from the run's cell of 2 ranks × 1 thread where there is one
/// (its time minus the predicted compute and bytes, over 4: an effective latency
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
    public static let threadCounts = [1, 2, 8]
    /// Bytes per µs one rank receives in shared memory (4 MiB in 390 µs).
    public static let sharedMemoryBandwidth = 4.0 * 1_048_576 / 390
    /// µs per small all-gather in shared memory, when no 2-rank cell was measured.
    public static let assumedLatency = 0.3

    /// Bytes all ranks together gather per step with `shards` shards.
    public static func bytesGathered(hiddenPadded hp: Int, parameters p: Int, shards: Int) -> Int {
        shards * (2 * hp * 4 + 2 * hp * 4 + 8 + p * 4)
    }

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
            let base = ScalingModel.calibrate(one: c1, two: c2, report: report)
            let shape = ModelShape(vocabSize: report.vocabSize, blockSize: report.blockSize, nEmbd: report.nEmbd, nHidden: c1.nHidden)
            var cal = RankScalingCalibration(threads: base, hiddenPadded: shape.hiddenPadded,
                                             parameters: ParameterLayout(shape).count,
                                             latency: assumedLatency, bandwidth: link ?? sharedMemoryBandwidth,
                                             source: "no 2-rank × 1-thread cell: α assumed \(assumedLatency) µs")
            if let m = same.first(where: { $0.ranks == 2 && $0.threads == 1 }), let compute = base.compute(ranks: 2, threads: 1, nodes: 1) {
                let bytes = Double(bytesGathered(hiddenPadded: cal.hiddenPadded, parameters: cal.parameters,
                                                 shards: base.shards(ranks: 2, threads: 1))) / 2
                cal.latency = roundTo(max(0, (m.usPerStepMedian - compute - bytes / cal.bandwidth) / 4), 3)
                cal.source = "α from the 2-rank × 1-thread cell"
            }
            var ranks = Set(rankCounts), threads = Set(threadCounts)
            for c in same { ranks.insert(c.ranks); threads.insert(c.threads) }
            guard let t11 = cal.time(ranks: 1, threads: 1) else { continue }  // fewer than 2 rows per shard
            var points = [RankScalingPoint]()
            for r in ranks.sorted() {
                for t in threads.sorted() {
                    guard let us = cal.time(ranks: r, threads: t) else { continue }
                    let s2 = base.shards(ranks: r, threads: t)
                    let gathered = bytesGathered(hiddenPadded: cal.hiddenPadded, parameters: cal.parameters, shards: s2)
                    let measured = same.first { $0.ranks == r && $0.threads == t }
                    points.append(RankScalingPoint(
                        ranks: r, threads: t, shards: s2, usPerStep: roundTo(us, 3),
                        samplesPerS: roundTo(Double(c1.batchSize) / us * 1e6, 0),
                        efficiency: roundTo(t11 / (Double(r * t) * us), 3),
                        bytesReceivedPerRank: share(gathered, of: r),
                        measuredUsPerStep: measured?.usPerStepMedian))
                }
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

    public static func format(_ predictions: [RankScalingPrediction]) -> String {
        guard !predictions.isEmpty else { return "" }
        let setting = predictions.allSatisfy({ $0.calibration.bandwidth == sharedMemoryBandwidth })
            ? "one host, shared memory" : "one rank per host, bw: each host's link"
        var s = """

            Scaling model, R ranks × T threads per rank (\(setting)):
              t(R,T) = t(T) with parallel/(R·T) and S' = R·T·⌈S/(R·T)⌉ shards, 3 more barriers when R > 1,
                       + [R>1]·(4·α·⌈log₂R⌉ + (R−1)/R · S'·(16·Hp + 8 + 4·P)/bw)
            entries: samples/s, efficiency against 1 rank × 1 thread, and the bytes each rank receives
            per step (4 all-gathers); "measured" rows give this run's cells and the model's error.

            """
        for p in predictions {
            let c = p.calibration
            s += "\nbatch \(p.batchSize), n_hidden \(p.nHidden), shards \(p.shards): Hp \(c.hiddenPadded), P \(c.parameters), "
            let bw = c.bandwidth >= 1000 ? String(format: "%.1f GB/s", c.bandwidth / 1000) : String(format: "%.3g MB/s", c.bandwidth)
            s += String(format: "α %.2f µs, bw %@  [%@]\n", c.latency, bw, c.source)
            s += predictionGrid(rowName: "ranks", rows: p.points.map(\.ranks), threads: p.points.map(\.threads),
                                batchSize: p.batchSize, width: 24) { r, t in
                p.points.first { $0.ranks == r && $0.threads == t }.map { pt in
                    let kb = pt.bytesReceivedPerRank == 0 ? "0 B" : String(format: "%.1f kB", Double(pt.bytesReceivedPerRank) / 1000)
                    return (text: "\(si(pt.samplesPerS)) \(percent(pt.efficiency)) \(kb)",
                            predicted: pt.usPerStep, measured: pt.measuredUsPerStep)
                }
            }
        }
        return s
    }
}

public struct RankScalingCalibration: Codable, Equatable, Sendable {
    /// The single-process model (1 and 2 threads of 1 rank).
    public var threads: ScalingCalibration
    public var hiddenPadded: Int
    public var parameters: Int
    /// µs per all-gather (per round), and bytes per µs one rank receives.
    public var latency: Double
    public var bandwidth: Double
    public var source: String

    enum CodingKeys: String, CodingKey {
        case threads, hiddenPadded = "hidden_padded", parameters, latency = "latency_us"
        case bandwidth = "bandwidth_bytes_per_us", source
    }

    /// Predicted µs per step, or nil where S' shards would hold fewer than 2 rows each.
    public func time(ranks R: Int, threads T: Int) -> Double? {
        guard let compute = threads.compute(ranks: R, threads: T, nodes: 1) else { return nil }
        guard R > 1 else { return compute }
        let s2 = threads.shards(ranks: R, threads: T)
        let bytes = Double(RankScalingModel.bytesGathered(hiddenPadded: hiddenPadded, parameters: parameters, shards: s2))
        let rounds = ceil(log2(Double(R)))
        return compute + 4 * latency * rounds + Double(R - 1) / Double(R) * bytes / bandwidth
    }
}

public struct RankScalingPoint: Codable, Equatable, Sendable {
    public var ranks: Int
    public var threads: Int
    public var shards: Int
    public var usPerStep: Double
    public var samplesPerS: Double
    public var efficiency: Double
    /// Bytes each rank receives per step in the 4 all-gathers.
    public var bytesReceivedPerRank: Int
    public var measuredUsPerStep: Double?

    enum CodingKeys: String, CodingKey {
        case ranks, threads, shards, usPerStep = "us_per_step", samplesPerS = "samples_per_s", efficiency
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
