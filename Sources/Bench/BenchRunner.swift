import Foundation
import Makemore
import Kernels
import Parallel

/// Runs the grid of a `BenchSpec`: for every cell, the real training step
/// (minibatch draw + `StepEngine.step` on a `WorkerPool`, lr 0.1), as
/// `Trainer.trainStep` does it, on synthetic data of the municipis shape.
///
/// Per cell: a fresh model (the notebook's init) and pool; `warmup` untimed steps;
/// `repeats` timed runs of `steps` steps with profiling off (the table's
/// min/median); then one more run of `steps` steps with the engine's phase
/// profiling on, for the breakdown (clock reads add well under 1 µs per step).
///
/// With an `exchange` (one rank of an MPI job of R ranks) it runs the grid's
/// cells of R ranks: every rank builds the same engine from the same synthetic
/// data and seed, attaches the exchange and computes its block of shards; all
/// ranks run the same number of steps (the calibration's decisions are agreed
/// with `agreeMax`). Without one it runs the cells of 1 rank.
public final class BenchRunner {
    public let spec: BenchSpec
    public let topology: Topology
    public let exchange: ShardExchange?
    /// This rank's index among the ranks on its host, and how many there are:
    /// rank l pins its workers to the CPUs after those of ranks < l (offset
    /// l × threads, modulo the CPU count); unpinned where the host's ranks ×
    /// threads exceed its CPUs.
    let localRank: Int
    let localRanks: Int
    let trainX: AlignedBuffer<Int32>
    let trainY: AlignedBuffer<Int32>
    /// Where the kernels' tiles are remembered (nil: untuned defaults).
    public var tiles: TileCache?

    /// The FMA peak, once `measurePeak()` ran (`run()` calls it when the spec asks for a probe).
    public private(set) var fmaPeak: FMAPeak?

    /// The rank count this runner's cells have.
    public var rankCount: Int { exchange?.rankCount ?? 1 }

    /// The cells this runner runs (the grid's cells of `rankCount` ranks).
    public var localCells: [(ranks: Int, threads: Int, batch: Int, nHidden: Int)] {
        spec.rankedCells.filter { $0.ranks == rankCount }
    }

    public init(spec: BenchSpec, topology: Topology = .detect(), exchange: ShardExchange? = nil,
                localRank: Int = 0, localRanks: Int = 1) throws {
        try spec.validate()
        self.spec = spec
        self.topology = topology
        self.exchange = exchange
        self.localRank = localRank
        self.localRanks = max(1, localRanks)
        // Synthetic training windows: uniform indices, like bench/torch_baseline.py's.
        var rng = Xoshiro(seed: UInt64(truncatingIfNeeded: spec.seed))
        trainX = AlignedBuffer(count: spec.examples * spec.blockSize)
        trainY = AlignedBuffer(count: spec.examples)
        for i in 0..<(spec.examples * spec.blockSize) { trainX.base[i] = Int32(rng.below(spec.vocabSize)) }
        for i in 0..<spec.examples { trainY.base[i] = Int32(rng.below(spec.vocabSize)) }
        for (r, t, b, h) in localCells {  // refuse impossible cells before running any
            _ = try placements(threads: t)
            try checkMemory(batch: b, nHidden: h, threads: t)
            let s = spec.shards(batch: b)
            if s < r * t { throw MakemoreError("bench: batch \(b) in \(s) shards cannot keep \(r) ranks × \(t) threads busy") }
        }
    }

    /// Runs this runner's cells; `progress` gets each cell as it finishes, with its
    /// speedup against the cells run so far (thread counts run in increasing order).
    public func run(progress: (BenchCell) -> Void = { _ in }) throws -> BenchReport {
        let start = loadAverages()
        if fmaPeak == nil && exchange == nil && spec.peakSeconds > 0 { _ = try measurePeak() }
        var cells = [BenchCell]()
        for (_, t, b, h) in localCells {
            cells.append(try runCell(threads: t, batch: b, nHidden: h))
            progress(report(cells: cells, loadAvgStart: start, predict: false).results.last!)
        }
        return report(cells: cells, loadAvgStart: start)
    }

    /// Measures the FMA peak (`measureFMAPeak` for `spec.peakSeconds`): one core
    /// alone on the placement of a 1-thread pool, then one probe per worker of a
    /// pool of the grid's largest thread count (its placements: pinned as the
    /// cells are), all at once, summed. Stored for the reports' peak shares.
    @discardableResult
    public func measurePeak() throws -> FMAPeak {
        let seconds = max(spec.peakSeconds, 0.01)
        let kernels = KernelSet.default  // the ISA the cells run
        func probe(threads: Int) throws -> Double {
            let task = PeakProbe(workers: threads, seconds: seconds, kernels: kernels)
            let pool = try WorkerPool(placements: try placements(threads: threads))
            defer { pool.shutdown() }
            pool.run(task)
            return task.total
        }
        let single = try probe(threads: 1)
        let threads = localCells.map(\.threads).max() ?? 1
        let all = try probe(threads: threads)
        let peak = FMAPeak(singleCoreGflops: roundTo(single, 2), allCoresGflops: roundTo(all, 2),
                           allCoresThreads: threads, vectorWidth: kernels.fmaPeakVectorWidth, seconds: seconds)
        fmaPeak = peak
        return peak
    }

    /// A report of `cells` (for instance this runner's merged with those of
    /// mpirun runs), with speedups and the ranks model's predictions.
    public func report(cells: [BenchCell], loadAvgStart start: [Double], predict: Bool = true) -> BenchReport {
        var report = BenchReport(
            date: ISO8601DateFormatter().string(from: Date()),
            machine: MachineInfo.current(topology: topology),
            data: "synthetic: uniform random windows, \(spec.examples) examples (the municipis training split's shape), seed \(spec.seed)",
            vocabSize: spec.vocabSize, blockSize: spec.blockSize, nEmbd: spec.nEmbd, warmup: spec.warmup,
            loadAvgStart: start, loadAvgEnd: loadAverages(),
            results: BenchRunner.withSpeedups(cells), fmaPeak: fmaPeak)
        report.results = report.withFlops(report.results)
        if predict { report.rankPredictions = RankScalingModel.predictions(for: report) }
        return report
    }

    /// Fills speedup and efficiency: against the cell of 1 rank (else the fewest
    /// ranks) and the smallest thread count of the same (batch, n_hidden, shards).
    public static func withSpeedups(_ cells: [BenchCell]) -> [BenchCell] {
        cells.map { cell in
            var c = cell
            let same = cells.filter { $0.batchSize == c.batchSize && $0.nHidden == c.nHidden && $0.shards == c.shards }
            let base = same.min { ($0.ranks, $0.threads) < ($1.ranks, $1.threads) } ?? c
            c.baselineThreads = base.threads
            c.speedup = roundTo(base.usPerStepMedian / c.usPerStepMedian, 3)
            c.efficiency = roundTo(c.speedup * Double(base.ranks * base.threads) / Double(c.ranks * c.threads), 3)
            return c
        }
    }

    func placements(threads: Int) throws -> [Placement] {
        do {
            return try topology.placements(.count(threads), pin: spec.pin, oversubscribe: spec.oversubscribe,
                                           local: localRank, of: localRanks)
        } catch let e as PoolError {
            throw MakemoreError(e, threads: "bench.threads", nodes: "bench.nodes", oversubscribe: "bench.oversubscribe: true, or --oversubscribe")
        }
    }

    func shape(nHidden: Int) -> ModelShape {
        ModelShape(vocabSize: spec.vocabSize, blockSize: spec.blockSize, nEmbd: spec.nEmbd, nHidden: nHidden)
    }

    func checkMemory(batch: Int, nHidden: Int, threads: Int) throws {
        let bytes = StepEngine.bytesNeeded(shape: shape(nHidden: nHidden), batchSize: batch,
                                           shards: spec.shards(batch: batch), workers: threads)
        try MemoryCheck.require(bytes, for: "bench: batch \(batch) with n_hidden \(nHidden)", lower: "the batch or n_hidden")
    }

    /// One cell: warm-up, timed repeats, one profiled repeat.
    public func runCell(threads: Int, batch: Int, nHidden: Int) throws -> BenchCell {
        let load = loadAverages()[0]
        let shards = spec.shards(batch: batch)
        let model = Model(shape: shape(nHidden: nHidden), seed: 2_147_483_647)
        let engine = StepEngine(model: model, batchSize: batch, shards: shards, workers: threads)
        if let exchange {
            engine.attach(exchange: exchange)
        } else {
            engine.activeWorkers = StepEngine.usefulWorkers(batchSize: batch, workers: threads)  // as train does
        }
        if var tiles {
            engine.plan = tiles.tune(engine).plan
            _ = tiles.save()
            self.tiles = tiles
        }
        let pool = try WorkerPool(placements: try placements(threads: threads))
        defer { pool.shutdown() }
        let run = StepDriver(engine: engine, pool: pool, x: trainX.base, y: trainY.base, examples: spec.examples,
                             rng: Xoshiro(seed: UInt64(truncatingIfNeeded: spec.seed) &+ 1))

        try runSteps(run, spec.warmup)
        var steps = spec.steps
        if steps == 0 {  // about targetSeconds per repeat, from a short calibration
            var n = 1, elapsed: UInt64 = 0
            let enough = UInt64(min(0.02, spec.targetSeconds / 5) * 1e9)
            while true {
                let t0 = monotonicNanos()
                try runSteps(run, n)
                elapsed = monotonicNanos() - t0
                var done = elapsed >= enough || n >= 1 << 20
                // Every rank runs the same steps: stop when any rank has timed enough.
                if let exchange { done = exchange.agreeMax(done ? 1 : 0) != 0 }
                if done { break }
                n *= 2
            }
            let perStep = Double(elapsed) / Double(n) / 1e9
            steps = max(1, min(10_000_000, Int((spec.targetSeconds / perStep).rounded())))
            if let exchange { steps = Int(exchange.agreeMax(Int32(steps))) }
        }

        let cpu0 = CPUUsage.now()
        var runs = [Double]()
        for _ in 0..<spec.repeats {
            let t0 = monotonicNanos()
            try runSteps(run, steps)
            runs.append(Double(monotonicNanos() - t0) / 1000 / Double(steps))
        }

        // The profiled repeat.
        engine.resetPhaseTimes()
        engine.profiling = true
        let (wallNanos, sampleNanos) = try profiledSteps(run, steps)
        engine.profiling = false
        let others = CPUUsage.now().othersBusy(since: cpu0)
        let n = Double(steps)
        func us(_ ns: UInt64) -> Double { Double(ns) / 1000 / n }
        var workers = [PhaseBreakdown]()
        for w in 0..<threads {
            workers.append(PhaseBreakdown(
                forward: us(engine.phaseTime(worker: w, .forward)), backward: us(engine.phaseTime(worker: w, .backward)),
                bnSync: us(engine.phaseTime(worker: w, .batchNormSync)),
                reduceUpdate: us(engine.phaseTime(worker: w, .reduceUpdate)),
                barrierWait: us(engine.phaseTime(worker: w, .barrierWait))))
        }
        workers[0].sample = us(sampleNanos)
        let inside = workers[0].total
        workers[0].pool = max(0, us(wallNanos) - inside)
        let breakdown = workers[0]
        workers = workers.map(Self.roundedBreakdown)
        var stages = (0..<engine.flowStages).map { s in
            FlowStageTime(stage: engine.flowStageName(s),
                          wait: (0..<threads).map { roundTo(us(engine.stageTime(worker: $0, stage: s).wait), 3) },
                          work: (0..<threads).map { roundTo(us(engine.stageTime(worker: $0, stage: s).work), 3) })
        }
        if stages.allSatisfy({ $0.work.allSatisfy { $0 == 0 } }) { stages = [] }  // the barrier steps (MPI)

        let sorted = runs.sorted()
        let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2]
            : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        return BenchCell(
            ranks: rankCount, threads: threads, batchSize: batch, nHidden: nHidden, shards: shards, steps: steps, repeats: spec.repeats,
            usPerStepMin: roundTo(sorted[0], 3), usPerStepMedian: roundTo(median, 3), usPerStepRuns: runs.map { roundTo($0, 3) },
            samplesPerS: roundTo(Double(batch) / (median * 1e-6), 0),
            baselineThreads: threads, speedup: 1, efficiency: 1,
            breakdown: Self.roundedBreakdown(breakdown), profiledUsPerStep: roundTo(us(wallNanos), 3), workers: workers,
            stages: stages,
            loadAvg1m: load, otherCPUsBusy: others.map { roundTo($0, 3) } ?? -1, finalLoss: roundTo(engine.loss, 4))
    }

    static func roundedBreakdown(_ b: PhaseBreakdown) -> PhaseBreakdown {
        PhaseBreakdown(sample: roundTo(b.sample, 3), forward: roundTo(b.forward, 3),
                       backward: roundTo(b.backward, 3), bnSync: roundTo(b.bnSync, 3),
                       reduceUpdate: roundTo(b.reduceUpdate, 3), barrierWait: roundTo(b.barrierWait, 3),
                       pool: roundTo(b.pool, 3))
    }
}

/// One FMA-peak probe per worker, at once; `total` sums their GFLOP/s.
final class PeakProbe: PoolTask {
    let seconds: Double
    let kernels: KernelSet
    let results: AlignedBuffer<Double>
    let workers: Int

    init(workers: Int, seconds: Double, kernels: KernelSet) {
        self.workers = workers
        self.seconds = seconds
        self.kernels = kernels
        results = AlignedBuffer(count: workers)
    }

    func run(worker: Int, context: PoolContext) {
        results.base[worker] = kernels.measureFMAPeak(seconds: seconds)  // each worker its own slot
    }

    var total: Double { (0..<workers).reduce(0) { $0 + results.base[$1] } }
}

/// `n` steps of a cell as training runs them (the driver's chunks), at the
/// default config's learning rate and BatchNorm momentum.
func runSteps(_ driver: StepDriver, _ n: Int) throws {
    let train = Config().train
    let lr = Float(Config().learningRate(at: 0)), momentum = Float(train.bnMomentum)
    let chunk = StepDriver.chunkSize(batchSize: driver.engine.batchSize)
    var left = n
    while left > 0 {
        let (done, diverged) = driver.run(min(left, chunk), learningRate: { _ in lr }, momentum: momentum)
        if diverged { throw MakemoreError("bench: the loss or a gradient became non-finite (loss \(driver.engine.loss))") }
        left -= done
    }
}

/// Wall time of `n` steps and the part of it spent drawing batches.
func profiledSteps(_ driver: StepDriver, _ n: Int) throws -> (wall: UInt64, sample: UInt64) {
    driver.samplingNanos = 0
    driver.timeSampling = true
    defer { driver.timeSampling = false }
    let t0 = monotonicNanos()
    try runSteps(driver, n)
    return (monotonicNanos() - t0, driver.samplingNanos)
}

/// CPU time of the whole machine (/proc/stat) and of this process, to tell how
/// busy the other processes kept the CPUs while a cell was timed. The load
/// average cannot: it counts the benchmark's own threads too.
struct CPUUsage {
    var machineBusy: Double  // seconds, all CPUs: user, nice, system, irq, softirq, steal
    var process: Double      // seconds, this process's threads (user + system)
    var wall: UInt64

    static func now() -> CPUUsage {
        var busy = Double.nan
        if let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
           let line = text.split(separator: "\n").first, line.hasPrefix("cpu ") {
            let f = line.split(separator: " ").dropFirst().compactMap { Double($0) }
            if f.count >= 8 {  // user nice system idle iowait irq softirq steal
                busy = (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / Double(sysconf(Int32(_SC_CLK_TCK)))
            }
        }
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        let own = Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6
            + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
        return CPUUsage(machineBusy: busy, process: own, wall: monotonicNanos())
    }

    /// CPUs kept busy by everything but this process since `start`, on average
    /// (0.5: half a CPU); nil where /proc/stat cannot be read.
    func othersBusy(since start: CPUUsage) -> Double? {
        let seconds = Double(wall - start.wall) / 1e9
        guard machineBusy.isFinite, start.machineBusy.isFinite, seconds > 0 else { return nil }
        return max(0, ((machineBusy - start.machineBusy) - (process - start.process)) / seconds)
    }
}

/// The 1, 5 and 15-minute load averages.
public func loadAverages() -> [Double] {
    var l = [Double](repeating: 0, count: 3)
    if getloadavg(&l, 3) != 3 { return [0, 0, 0] }
    return l.map { roundTo($0, 2) }
}

extension MachineInfo {
    public static func current(topology: Topology) -> MachineInfo {
        let model = cpuModelName()
        var u = utsname()
        uname(&u)
        func field<T>(_ t: T) -> String {
            withUnsafeBytes(of: t) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return MachineInfo(cpuModel: model, logicalCPUs: sysconf(Int32(_SC_NPROCESSORS_ONLN)),
                           numaNodes: topology.nodes.count, topology: topology.description,
                           os: "\(field(u.sysname)) \(field(u.release)) \(field(u.machine))")
    }
}
