import Foundation
import Makemore

// The results of `makemore bench`, as written by --json and --csv.
//
// Field names match bench/torch_baseline.py's (framework, threads, batch_size,
// n_hidden, steps, us_per_step_min, us_per_step_median, samples_per_s), so
// bench/compare.py joins the two on (threads, batch_size, n_hidden). Every
// field is always present; times are microseconds per step.

/// One stage of the barrier-free step (StepEngine+Flow.swift) in the profiled
/// repeat, µs a step, one value per worker: the time it waited for the stage
/// before (stage 0: for the previous step's last one), and the time it took
/// and did this stage's items. Where the step loses to more threads: a stage
/// whose work grows past its share, or whose waits say one worker holds it up.
public struct FlowStageTime: Codable, Equatable, Sendable {
    public var stage: String
    public var wait: [Double]
    public var work: [Double]
    public init(stage: String, wait: [Double], work: [Double]) { (self.stage, self.wait, self.work) = (stage, wait, work) }
}

/// Where one step's time goes, in µs per step (one worker's view).
public struct PhaseBreakdown: Codable, Equatable, Sendable {
    /// Drawing the minibatch (worker 0, before the workers start).
    public var sample: Double
    /// Embedding gather, hprebn, BN statistics, normalize, tanh, logits, loss.
    public var forward: Double
    /// dlogits … dC.
    public var backward: Double
    /// Combining the shards' BatchNorm moments and gradient sums, weight transposes.
    public var bnSync: Double
    /// Summing the shard gradients over this worker's slice and the SGD update.
    public var reduceUpdate: Double
    /// Waiting for the other workers inside the step: between its stages in one process
    /// (StepEngine+Flow.swift), at its four barriers in a multi-process one (imbalance plus the wait).
    public var barrierWait: Double
    /// Waking the workers and waiting for all to finish (pool dispatch/join): the
    /// step's wall time minus everything above.
    public var pool: Double

    public init(sample: Double = 0, forward: Double = 0, backward: Double = 0, bnSync: Double = 0,
                reduceUpdate: Double = 0, barrierWait: Double = 0, pool: Double = 0) {
        (self.sample, self.forward, self.backward, self.bnSync) = (sample, forward, backward, bnSync)
        (self.reduceUpdate, self.barrierWait, self.pool) = (reduceUpdate, barrierWait, pool)
    }

    public var total: Double { sample + forward + backward + bnSync + reduceUpdate + barrierWait + pool }

    /// Name and value in the order of the table and the stacked bars.
    public var parts: [(name: String, value: Double)] {
        [("sample", sample), ("forward", forward), ("backward", backward), ("bn_sync", bnSync),
         ("reduce_update", reduceUpdate), ("barrier_wait", barrierWait), ("pool", pool)]
    }

    enum CodingKeys: String, CodingKey {
        case sample, forward, backward, bnSync = "bn_sync", reduceUpdate = "reduce_update"
        case barrierWait = "barrier_wait", pool
    }
}

/// One cell of the grid.
public struct BenchCell: Codable, Equatable, Sendable {
    public var framework = "makemore"
    /// MPI processes (1: a single process); `threads` is per rank.
    public var ranks = 1
    public var threads: Int
    public var batchSize: Int
    public var nHidden: Int
    public var shards: Int
    /// Timed steps per repeat.
    public var steps: Int
    public var repeats: Int
    public var usPerStepMin: Double
    public var usPerStepMedian: Double
    /// Every repeat, in run order.
    public var usPerStepRuns: [Double]
    /// batch / median step time.
    public var samplesPerS: Double
    /// The thread count the speedup is against: the grid's smallest (1 by default), at 1 rank.
    public var baselineThreads: Int
    /// median(baseline) / median(this), and speedup · baseline workers / (ranks · threads).
    public var speedup: Double
    public var efficiency: Double
    /// Worker 0's breakdown from one extra, profiled repeat; it sums to `profiledUsPerStep`.
    public var breakdown: PhaseBreakdown
    public var profiledUsPerStep: Double
    /// Every worker's phases in that repeat (`sample` and `pool` are worker 0's only, 0 elsewhere).
    public var workers: [PhaseBreakdown]
    /// Every stage of the step in that repeat (empty under MPI, whose steps keep their barriers).
    public var stages: [FlowStageTime] = []
    /// 1-minute load average when the cell started (it includes this benchmark's own threads).
    public var loadAvg1m: Double
    /// CPUs kept busy by other processes while the cell was timed, on average
    /// (/proc/stat minus this process; -1 where unknown). Above ~0.1 the cell
    /// shared the machine and its times, 2-thread ones most, are not clean.
    public var otherCPUsBusy: Double
    /// The last mean loss, to show the steps were real (synthetic labels: about ln V).
    public var finalLoss: Double
    /// FLOPs of the step's six matrix products: 6·n·(K·H + H·V) with K = block·n_embd,
    /// V the vocabulary, unpadded (forward emb·W1 and h·W2, backward dW2, dh, dW1, demb),
    /// as the model is written: shards that fold the embedding products do less.
    public var flopsPerStep: Double = 0
    /// flopsPerStep / median step time, in GFLOP/s.
    public var gflops: Double = 0
    /// gflops over the measured single-core FMA peak × ranks × threads (-1: no peak measured).
    public var peakShare: Double = -1
    /// gflops over the measured all-cores FMA peak per core × ranks × threads (-1: none).
    public var peakShareAllCores: Double = -1
    /// As `peakShare`, for the fastest repeat (`usPerStepMin`). The peak is
    /// itself a best window, so on a shared machine this is the like-for-like
    /// figure; the median's share also counts the other processes' time.
    public var peakShareBest: Double = -1

    /// Above this, `otherCPUsBusy` flags the cell as shared with other processes.
    public static let busyThreshold = 0.1
    /// Other processes kept more than `busyThreshold` CPUs busy while the cell was timed.
    public var hadCompetition: Bool { otherCPUsBusy > BenchCell.busyThreshold }

    enum CodingKeys: String, CodingKey {
        case framework, ranks, threads, batchSize = "batch_size", nHidden = "n_hidden", shards, steps, repeats
        case usPerStepMin = "us_per_step_min", usPerStepMedian = "us_per_step_median", usPerStepRuns = "us_per_step_runs"
        case samplesPerS = "samples_per_s", baselineThreads = "baseline_threads", speedup, efficiency
        case breakdown = "breakdown_us", profiledUsPerStep = "profiled_us_per_step", workers = "workers_us"
        case stages = "stages_us"
        case loadAvg1m = "load_avg_1m", otherCPUsBusy = "other_cpus_busy", finalLoss = "final_loss"
        case flopsPerStep = "flops_per_step", gflops, peakShare = "peak_share", peakShareAllCores = "peak_share_all_cores"
        case peakShareBest = "peak_share_best"
    }
}

extension BenchCell {
    /// As synthesized, except that `ranks` may be absent (results written before it existed: 1).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        framework = try c.decode(String.self, forKey: .framework)
        ranks = try c.decodeIfPresent(Int.self, forKey: .ranks) ?? 1
        threads = try c.decode(Int.self, forKey: .threads)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        nHidden = try c.decode(Int.self, forKey: .nHidden)
        shards = try c.decode(Int.self, forKey: .shards)
        steps = try c.decode(Int.self, forKey: .steps)
        repeats = try c.decode(Int.self, forKey: .repeats)
        usPerStepMin = try c.decode(Double.self, forKey: .usPerStepMin)
        usPerStepMedian = try c.decode(Double.self, forKey: .usPerStepMedian)
        usPerStepRuns = try c.decode([Double].self, forKey: .usPerStepRuns)
        samplesPerS = try c.decode(Double.self, forKey: .samplesPerS)
        baselineThreads = try c.decode(Int.self, forKey: .baselineThreads)
        speedup = try c.decode(Double.self, forKey: .speedup)
        efficiency = try c.decode(Double.self, forKey: .efficiency)
        breakdown = try c.decode(PhaseBreakdown.self, forKey: .breakdown)
        profiledUsPerStep = try c.decode(Double.self, forKey: .profiledUsPerStep)
        workers = try c.decode([PhaseBreakdown].self, forKey: .workers)
        stages = try c.decodeIfPresent([FlowStageTime].self, forKey: .stages) ?? []  // absent before it was measured
        loadAvg1m = try c.decode(Double.self, forKey: .loadAvg1m)
        otherCPUsBusy = try c.decode(Double.self, forKey: .otherCPUsBusy)
        finalLoss = try c.decode(Double.self, forKey: .finalLoss)
        // Absent in results written before the FMA peak was measured.
        flopsPerStep = try c.decodeIfPresent(Double.self, forKey: .flopsPerStep) ?? 0
        gflops = try c.decodeIfPresent(Double.self, forKey: .gflops) ?? 0
        peakShare = try c.decodeIfPresent(Double.self, forKey: .peakShare) ?? -1
        peakShareAllCores = try c.decodeIfPresent(Double.self, forKey: .peakShareAllCores) ?? -1
        peakShareBest = try c.decodeIfPresent(Double.self, forKey: .peakShareBest) ?? -1
    }

    /// FLOPs of one training step's six matrix products at this shape (see `flopsPerStep`).
    public static func matmulFlops(batch: Int, vocabSize: Int, blockSize: Int, nEmbd: Int, nHidden: Int) -> Double {
        let k = Double(blockSize * nEmbd), h = Double(nHidden), v = Double(vocabSize)
        return 6 * Double(batch) * (k * h + h * v)
    }
}

/// The FMA peak `makemore bench` measured before its cells (Kernels' `measureFMAPeak`:
/// 12 independent vector FMA chains per thread, no memory traffic).
public struct FMAPeak: Codable, Equatable, Sendable {
    /// One core alone (worker 0's placement), GFLOP/s.
    public var singleCoreGflops: Double
    /// `allCoresThreads` threads at once on the pool's placements of the grid's
    /// largest thread count, summed, GFLOP/s.
    public var allCoresGflops: Double
    public var allCoresThreads: Int
    /// Lanes per FMA in the probe: 8 (AVX2 / NEON) or 16 (AVX-512).
    public var vectorWidth: Int
    /// Seconds each probe ran.
    public var seconds: Double

    public init(singleCoreGflops: Double, allCoresGflops: Double, allCoresThreads: Int, vectorWidth: Int, seconds: Double) {
        (self.singleCoreGflops, self.allCoresGflops, self.allCoresThreads) = (singleCoreGflops, allCoresGflops, allCoresThreads)
        (self.vectorWidth, self.seconds) = (vectorWidth, seconds)
    }

    /// The all-cores peak per core.
    public var allCoresPerCore: Double { allCoresGflops / Double(max(allCoresThreads, 1)) }

    enum CodingKeys: String, CodingKey {
        case singleCoreGflops = "single_core_gflops", allCoresGflops = "all_cores_gflops"
        case allCoresThreads = "all_cores_threads", vectorWidth = "vector_width", seconds
    }
}

/// The machine a run was made on.
public struct MachineInfo: Codable, Equatable, Sendable {
    public var cpuModel: String
    public var logicalCPUs: Int
    public var numaNodes: Int
    public var topology: String
    public var os: String

    enum CodingKeys: String, CodingKey {
        case cpuModel = "cpu_model", logicalCPUs = "logical_cpus", numaNodes = "numa_nodes", topology, os
    }
}

/// A whole run: what was asked, where, and the cells.
public struct BenchReport: Codable, Equatable, Sendable {
    public var framework = "makemore"
    public var schema = 1
    public var date: String
    public var machine: MachineInfo
    public var data: String
    public var vocabSize: Int
    public var blockSize: Int
    public var nEmbd: Int
    public var warmup: Int
    public var loadAvgStart: [Double]
    public var loadAvgEnd: [Double]
    public var results: [BenchCell]
    /// R ranks × 1 thread predicted from the cells (see `RankScalingModel`). Written,
    /// never read back: `recomputed()` derives them from the cells again.
    public var rankPredictions: [RankScalingPrediction]? = nil
    /// The measured FMA peak the cells' `peak_share` is against; absent in older
    /// results and where it was not measured (`bench.peak_s: 0`).
    public var fmaPeak: FMAPeak? = nil

    enum CodingKeys: String, CodingKey {
        case framework, schema, date, machine, data, vocabSize = "vocab_size", blockSize = "block_size", nEmbd = "n_embd"
        case warmup, loadAvgStart = "load_avg_start", loadAvgEnd = "load_avg_end", results
        case rankPredictions = "rank_predictions", fmaPeak = "fma_peak"
    }

    /// `cells` with flopsPerStep, gflops and the peak shares (re)computed from
    /// their median step time, this report's shape and its FMA peak.
    public func withFlops(_ cells: [BenchCell]) -> [BenchCell] {
        cells.map { cell in
            var c = cell
            c.flopsPerStep = BenchCell.matmulFlops(batch: c.batchSize, vocabSize: vocabSize, blockSize: blockSize,
                                                   nEmbd: nEmbd, nHidden: c.nHidden)
            c.gflops = c.usPerStepMedian > 0 ? roundTo(c.flopsPerStep / (c.usPerStepMedian * 1e3), 3) : 0
            let cores = Double(c.ranks * c.threads)
            if let p = fmaPeak, p.singleCoreGflops > 0, p.allCoresGflops > 0 {
                c.peakShare = roundTo(c.gflops / (p.singleCoreGflops * cores), 4)
                c.peakShareAllCores = roundTo(c.gflops / (p.allCoresPerCore * cores), 4)
                c.peakShareBest = c.usPerStepMin > 0
                    ? roundTo(c.flopsPerStep / (c.usPerStepMin * 1e3) / (p.singleCoreGflops * cores), 4) : -1
            } else {
                c.peakShare = -1
                c.peakShareAllCores = -1
                c.peakShareBest = -1
            }
            return c
        }
    }

    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// One row per cell; the breakdown flattened to `breakdown_us.forward` etc.
    public var csv: String {
        var header = ["framework", "ranks", "threads", "batch_size", "n_hidden", "shards", "steps", "repeats",
                      "us_per_step_min", "us_per_step_median", "samples_per_s", "baseline_threads", "speedup",
                      "efficiency", "profiled_us_per_step", "load_avg_1m", "other_cpus_busy", "final_loss",
                      "flops_per_step", "gflops", "peak_share", "peak_share_all_cores", "peak_share_best"]
        header += PhaseBreakdown().parts.map { "breakdown_us.\($0.name)" }
        var lines = [header.joined(separator: ",")]
        for c in results {
            var row: [String] = [c.framework, "\(c.ranks)", "\(c.threads)", "\(c.batchSize)", "\(c.nHidden)", "\(c.shards)", "\(c.steps)",
                                 "\(c.repeats)", "\(c.usPerStepMin)", "\(c.usPerStepMedian)", "\(c.samplesPerS)",
                                 "\(c.baselineThreads)", "\(c.speedup)", "\(c.efficiency)", "\(c.profiledUsPerStep)",
                                 "\(c.loadAvg1m)", "\(c.otherCPUsBusy)", "\(c.finalLoss)",
                                 "\(c.flopsPerStep)", "\(c.gflops)", "\(c.peakShare)", "\(c.peakShareAllCores)",
                                 "\(c.peakShareBest)"]
            row += c.breakdown.parts.map { "\($0.value)" }
            lines.append(row.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension BenchReport {
    /// As synthesized, except that the predictions are not read: they are derived
    /// from the cells, and files written by earlier versions hold them in other
    /// shapes (`rank_predictions` with several threads per rank, `predictions` of
    /// threads × NUMA nodes), which are ignored.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        framework = try c.decode(String.self, forKey: .framework)
        schema = try c.decode(Int.self, forKey: .schema)
        date = try c.decode(String.self, forKey: .date)
        machine = try c.decode(MachineInfo.self, forKey: .machine)
        data = try c.decode(String.self, forKey: .data)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        blockSize = try c.decode(Int.self, forKey: .blockSize)
        nEmbd = try c.decode(Int.self, forKey: .nEmbd)
        warmup = try c.decode(Int.self, forKey: .warmup)
        loadAvgStart = try c.decode([Double].self, forKey: .loadAvgStart)
        loadAvgEnd = try c.decode([Double].self, forKey: .loadAvgEnd)
        results = try c.decode([BenchCell].self, forKey: .results)
        fmaPeak = try c.decodeIfPresent(FMAPeak.self, forKey: .fmaPeak)
    }
}

/// Rounds to `places` decimals, for files people read.
func roundTo(_ x: Double, _ places: Int = 2) -> Double {
    let f = pow(10.0, Double(places))
    return (x * f).rounded() / f
}
