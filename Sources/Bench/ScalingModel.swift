import Foundation
import Makemore
import Kernels

/// Predicts a step's time on T threads and N NUMA nodes from the per-phase
/// times measured on 1 and 2 threads (Amdahl plus a synchronization term).
/// `makemore bench --predict` prints it; run the bench on a bigger machine
/// with more thread counts and the same command prints the measured cells
/// next to the predicted ones (the model still calibrates on 1 and 2 threads only).
///
/// From the 1-thread cell (its breakdown scaled so it sums to the unprofiled median):
///   serial    sample (batch draw on worker 0) + pool overhead: once per step, not divided
///   parallel  forward + backward: per shard, so divided by T
///   bnSync    every worker combines all S' shard partials and transposes W1, W2 itself;
///             the per-shard part (φ, from element counts: 4·S / (4·S + Kp + Vp)) grows with S'
///   reduce    reduce-scatter + SGD: each worker sums S' shard gradients over P/T parameters,
///             so it costs reduce·(S'+2)/(S+2)/T
/// From the 2-thread cell:
///   coherence the extra time E of worker 0's compute phases at T = 2 beyond half the
///             1-thread time. Where E > 0 it is cache lines of parameters and shard
///             buffers last written by another core; a fraction (T−1)/T of them is
///             elsewhere, so the term grows as E·2(T−1)/T. Where E < 0, half the batch
///             per core ran faster than the whole (more of it stayed in cache): a
///             gain g = E / (parallel/2) on the per-thread work from T = 2 on, taken
///             as noise and clamped beyond −20%.
///   wake      worker 0's pool dispatch/join time at T = 2 beyond T = 1: waking the
///             parked workers and waiting for the last to finish. The wake-ups run in
///             parallel, so it is one constant for every T ≥ 2.
///   β         worker 0's wait at the 3 barriers inside the step at T = 2, per barrier:
///             a central-counter barrier serializes one cache-line transfer per thread,
///             so they cost 3·β·(T−1). On 2 cores β also holds the load imbalance, which
///             need not grow with T, so this term is an upper bound.
/// On N nodes the communication terms are multiplied by ν(N) = 1 + (ρ−1)·(N−1)/N, with
/// ρ = 2 the cost of a cross-node cache-line transfer relative to a same-node one
/// (typical two-socket figures, ~130 ns against ~65 ns), an assumption, not a measurement.
/// The shard count at T threads is S' = T·⌈S/T⌉ (at least one shard per thread); a cell
/// is not predicted where that leaves fewer than 2 rows per shard.
///
///   t(T, N) = serial + parallel/T·(1 + g·[T>1]) + bnSync·(1 − φ + φ·S'/S) + reduce·(S'+2)/((S+2)·T)
///             + ν(N)·[coherence·2(T−1)/T + wake·[T>1] + 3·β·(T−1)]
///
/// Not modelled: memory bandwidth (the large-batch working set leaves L2, and 16+
/// cores share one memory system), SMT, frequency changes with active cores, and
/// operating-system noise, which grows with T.
public enum ScalingModel {
    public static let threadCounts = [1, 2, 4, 8, 16, 64]
    public static let nodeCounts = [1, 2, 4]
    /// Barriers inside a step (the pool's release and join are `wake`).
    public static let barriersInStep = 3.0
    public static let remoteFactor = 2.0
    /// β when the run has no 2-thread cell: a few cache-line transfers, assumed.
    public static let assumedBeta = 0.25

    /// The predictions for every (batch, n_hidden) of `report` that has a 1-thread cell.
    public static func predictions(for report: BenchReport) -> [ScalingPrediction] {
        var out = [ScalingPrediction]()
        var seen = Set<[Int]>()
        let single = report.results.filter { $0.ranks == 1 }  // cells of several ranks: RankScalingModel
        for c1 in single where c1.threads == 1 {
            let key = [c1.batchSize, c1.nHidden, c1.shards]
            guard seen.insert(key).inserted else { continue }
            let c2 = single.first { $0.threads == 2 && $0.batchSize == c1.batchSize && $0.nHidden == c1.nHidden && $0.shards == c1.shards }
            let cal = calibrate(one: c1, two: c2, report: report)
            var threads = Set(threadCounts)
            for c in single where c.batchSize == c1.batchSize && c.nHidden == c1.nHidden && c.shards == c1.shards {
                threads.insert(c.threads)
            }
            // No prediction where one shard would hold fewer than 2 rows.
            guard let t1 = cal.time(threads: 1, nodes: 1) else { continue }
            var points = [ScalingPoint]()
            for n in nodeCounts {
                for t in threads.sorted() where t >= n && t % n == 0 {
                    guard let us = cal.time(threads: t, nodes: n) else { continue }
                    let measured = n == report.machine.numaNodes
                        ? single.first { $0.threads == t && $0.batchSize == c1.batchSize && $0.nHidden == c1.nHidden && $0.shards == c1.shards }
                        : nil
                    points.append(ScalingPoint(
                        threads: t, nodes: n, shards: cal.shards(threads: t),
                        usPerStep: roundTo(us, 3), samplesPerS: roundTo(Double(c1.batchSize) / us * 1e6, 0),
                        efficiency: roundTo(t1 / (Double(t) * us), 3),
                        measuredUsPerStep: measured?.usPerStepMedian))
                }
            }
            out.append(ScalingPrediction(batchSize: c1.batchSize, nHidden: c1.nHidden, shards: c1.shards,
                                         calibration: cal, points: points))
        }
        return out
    }

    static func calibrate(one c1: BenchCell, two c2: BenchCell?, report: BenchReport) -> ScalingCalibration {
        func scale(_ c: BenchCell) -> Double { c.profiledUsPerStep > 0 ? c.usPerStepMedian / c.profiledUsPerStep : 1 }
        let k1 = scale(c1), b1 = c1.breakdown
        let Kp = paddedTo16(report.blockSize * report.nEmbd), Vp = paddedTo16(report.vocabSize)
        let S = Double(c1.shards)
        var cal = ScalingCalibration(
            serial: (b1.sample + b1.pool + b1.barrierWait) * k1,
            parallel: (b1.forward + b1.backward) * k1,
            bnSync: b1.bnSync * k1,
            bnSyncShardFraction: roundTo(4 * S / (4 * S + Double(Kp + Vp)), 3),
            reduce: b1.reduceUpdate * k1,
            coherence: 0, cacheGain: 0, beta: assumedBeta, wake: 0, batchSize: c1.batchSize, baseShards: c1.shards,
            source: "1 thread measured; no 2-thread cell: β assumed \(assumedBeta) µs, wake 0")
        if let c2, c2.shards >= 2 {
            let k2 = scale(c2), b2 = c2.breakdown
            let compute2 = (b2.forward + b2.backward + b2.reduceUpdate + b2.bnSync) * k2
            let excess = compute2 - (cal.parallel + cal.reduce) / 2 - cal.bnSync
            cal.coherence = max(0, excess)
            cal.cacheGain = min(0, excess) / (cal.parallel / 2)
            cal.source = "1 and 2 threads measured"
            if cal.cacheGain < -0.2 {
                cal.cacheGain = -0.2
                cal.source += "; cache gain clamped at −20% (a noisy 1- or 2-thread cell)"
            }
            cal.wake = max(0, b2.pool * k2 - b1.pool * k1)
            cal.beta = max(0, b2.barrierWait * k2 - b1.barrierWait * k1) / barriersInStep
        }
        cal.serial = roundTo(cal.serial, 3)
        cal.parallel = roundTo(cal.parallel, 3)
        cal.bnSync = roundTo(cal.bnSync, 3)
        cal.reduce = roundTo(cal.reduce, 3)
        cal.coherence = roundTo(cal.coherence, 3)
        cal.cacheGain = roundTo(cal.cacheGain, 4)
        cal.beta = roundTo(cal.beta, 3)
        cal.wake = roundTo(cal.wake, 3)
        return cal
    }

    /// The prediction tables, with measured cells (± error) where the run has them.
    public static func format(_ predictions: [ScalingPrediction]) -> String {
        guard !predictions.isEmpty else {
            return "scaling model: no cell with 1 thread to calibrate on (add 1 to --threads)\n"
        }
        var s = """
            Scaling model: t(T,N) = serial + parallel/T·(1+g) + bn_sync·(1−φ+φ·S'/S) + reduce·(S'+2)/((S+2)·T)
                                    + ν(N)·[coherence·2(T−1)/T + wake + 3·β·(T−1)],  ν(N) = 1 + (N−1)/N  (S' = T·⌈S/T⌉)
            (g: the cache gain at T ≥ 2, 0 unless 2 threads ran superlinearly); calibrated on 1 and 2
            threads; entries are samples/s and efficiency against 1 thread;
            "measured" rows give this run's cells and the model's error.

            """
        for p in predictions {
            let c = p.calibration
            s += "\nbatch \(p.batchSize), n_hidden \(p.nHidden), shards \(p.shards): "
            s += String(format: "serial %.2f µs, parallel %.1f µs, bn_sync %.2f µs (φ %.2f), reduce %.2f µs, coherence@2 %.2f µs, g %.1f%%, wake %.2f µs, β %.3f µs  [%@]\n",
                        c.serial, c.parallel, c.bnSync, c.bnSyncShardFraction, c.reduce, c.coherence, 100 * c.cacheGain, c.wake, c.beta, c.source)
            s += predictionGrid(rowName: "nodes", rows: p.points.map(\.nodes), threads: p.points.map(\.threads),
                                batchSize: p.batchSize, width: 14) { n, t in
                p.points.first { $0.threads == t && $0.nodes == n }.map {
                    (text: "\(si($0.samplesPerS)) \(percent($0.efficiency))", predicted: $0.usPerStep, measured: $0.measuredUsPerStep)
                }
            }
        }
        return s
    }
}

/// What the model learned from one (batch, n_hidden) pair; µs per step.
public struct ScalingCalibration: Codable, Equatable, Sendable {
    public var serial: Double
    public var parallel: Double
    public var bnSync: Double
    public var bnSyncShardFraction: Double
    public var reduce: Double
    public var coherence: Double
    /// g: the per-thread work's relative change from T = 2 on (≤ 0: a cache gain).
    public var cacheGain: Double
    /// Per barrier and per extra thread.
    public var beta: Double
    /// Pool wake-up and join beyond 1 thread, once per step for any T ≥ 2.
    public var wake: Double
    public var batchSize: Int
    public var baseShards: Int
    public var source: String

    enum CodingKeys: String, CodingKey {
        case serial, parallel, bnSync = "bn_sync", bnSyncShardFraction = "bn_sync_shard_fraction", reduce
        case coherence = "coherence_at_2", cacheGain = "cache_gain", beta = "barrier_beta", wake = "pool_wake", batchSize = "batch_size", baseShards = "shards", source
    }

    /// S' = T·⌈S/T⌉: at least one shard per thread, the same shards per thread.
    public func shards(threads T: Int) -> Int { T * ((baseShards + T - 1) / T) }

    /// S' = R·T·⌈S/(R·T)⌉ for R ranks of T threads.
    public func shards(ranks R: Int, threads T: Int) -> Int { R * T * ((baseShards + R * T - 1) / (R * T)) }

    /// Predicted µs per step, or nil where S' shards would hold fewer than 2 rows each.
    public func time(threads T: Int, nodes N: Int) -> Double? { compute(ranks: 1, threads: T, nodes: N) }

    /// The step without the exchange between ranks: the forward/backward work
    /// divides by all R·T workers, the BatchNorm combine and the reduction do
    /// not divide by R (every rank combines and reduces all S' shards itself),
    /// and each of the three exchange points adds a barrier inside the pool.
    func compute(ranks R: Int, threads T: Int, nodes N: Int) -> Double? {
        let s2 = shards(ranks: R, threads: T)
        guard batchSize / s2 >= 2 else { return nil }
        let t = Double(T), ratio = Double(s2) / Double(baseShards)
        let nu = 1 + (ScalingModel.remoteFactor - 1) * Double(N - 1) / Double(N)
        let barriers = ScalingModel.barriersInStep + (R > 1 ? 3 : 0)
        return serial + parallel / (Double(R) * t) * (T > 1 || R > 1 ? 1 + cacheGain : 1)
            + bnSync * (1 - bnSyncShardFraction + bnSyncShardFraction * ratio)
            + reduce * (Double(s2) + 2) / ((Double(baseShards) + 2) * t)
            + nu * (coherence * 2 * (t - 1) / t + (T > 1 ? wake : 0) + barriers * beta * (t - 1))
    }
}

public struct ScalingPoint: Codable, Equatable, Sendable {
    public var threads: Int
    public var nodes: Int
    public var shards: Int
    public var usPerStep: Double
    public var samplesPerS: Double
    public var efficiency: Double
    /// The run's own cell with this thread count, where it has one (null otherwise).
    public var measuredUsPerStep: Double?

    enum CodingKeys: String, CodingKey {
        case threads, nodes, shards, usPerStep = "us_per_step", samplesPerS = "samples_per_s", efficiency
        case measuredUsPerStep = "measured_us_per_step"
    }

    public func encode(to encoder: Encoder) throws {  // null rather than absent
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(threads, forKey: .threads)
        try c.encode(nodes, forKey: .nodes)
        try c.encode(shards, forKey: .shards)
        try c.encode(usPerStep, forKey: .usPerStep)
        try c.encode(samplesPerS, forKey: .samplesPerS)
        try c.encode(efficiency, forKey: .efficiency)
        try c.encode(measuredUsPerStep, forKey: .measuredUsPerStep)
    }
}

public struct ScalingPrediction: Codable, Equatable, Sendable {
    public var batchSize: Int
    public var nHidden: Int
    public var shards: Int
    public var calibration: ScalingCalibration
    public var points: [ScalingPoint]

    enum CodingKeys: String, CodingKey {
        case batchSize = "batch_size", nHidden = "n_hidden", shards, calibration, points
    }
}

/// 1234567 → "1.23M", 54321 → "54.3k".
func si(_ x: Double) -> String {
    if x >= 1e6 { return String(format: "%.2fM", x / 1e6) }
    if x >= 1e3 { return String(format: "%.1fk", x / 1e3) }
    return String(format: "%.0f", x)
}

/// 0.874 → "87%"; "?" where the model's arithmetic gave no number (a cell of
/// zero times), rather than trapping on the conversion.
func percent(_ x: Double) -> String {
    let p = (x * 100).rounded()
    return abs(p) < 1e15 ? "\(Int(p))%" : "?"
}

func pad(_ s: String, _ width: Int) -> String {
    let n = s.count
    return n >= width ? s + " " : String(repeating: " ", count: width - n) + s
}

/// A table of predictions: a row per `rows` value (nodes, ranks), a column per
/// thread count; under each row that has measured cells, a `measured` row
/// with this run's samples/s and the model's error.
func predictionGrid(rowName: String, rows: [Int], threads: [Int], batchSize: Int, width: Int,
                    cell: (_ row: Int, _ threads: Int) -> (text: String, predicted: Double, measured: Double?)?) -> String {
    let columns = Array(Set(threads)).sorted()
    var s = "  \(rowName) " + columns.map { pad("T=\($0)", width) }.joined() + "\n"
    for r in Array(Set(rows)).sorted() {
        s += "  " + pad("\(r)", 5) + " " + columns.map { pad(cell(r, $0)?.text ?? "—", width) }.joined() + "\n"
        let measured = columns.map { t -> String? in
            guard let c = cell(r, t), let m = c.measured else { return nil }
            return "\(si(Double(batchSize) / m * 1e6)) \(String(format: "%+.0f%%", (c.predicted - m) / m * 100))"
        }
        if measured.contains(where: { $0 != nil }) {
            s += "measured" + measured.map { pad($0 ?? "", width) }.joined() + "\n"
        }
    }
    return s
}
