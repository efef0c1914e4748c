import Foundation
import Kernels
import Parallel

/// A training run: the data, the model, the worker pool and the step loop,
/// with progress, periodic evaluation and checkpoints.
///
/// Everything that decides the numbers — parameters, running statistics, the
/// step counter and the batch-sampling generator — is in `checkpoint()`, so a
/// resumed run continues bit for bit.
public final class Trainer {
    public let config: Config
    public let dataset: Dataset
    public let model: Model
    public let topology: Topology
    public let placements: [Placement]
    public private(set) var step: Int
    /// The batch-sampling generator (the driver's).
    public var rng: Xoshiro { driver.rng }

    public let engine: StepEngine
    let driver: StepDriver
    var pool: WorkerPool { driver.pool }
    let evaluator: StepEngine

    /// Builds a run from `config`, or continues `resume` (whose config the caller
    /// has already merged). `log` receives the start-of-run report lines.
    /// `exchange`: this trainer is one process of a multi-process run (MPI);
    /// every process gets the same config and data and computes its block of shards.
    /// `tiles`: where to remember the kernels' register tiles per CPU (nil:
    /// the untuned defaults, as the tests use; speed only, never the bits).
    /// `localRank`: this process's index among the `count` processes of the job on its host
    /// (see `Topology.placements(_:pin:oversubscribe:local:of:)`).
    public init(config: Config, dataset: Dataset, resume: Checkpoint?, exchange: ShardExchange? = nil,
                localRank: (index: Int, count: Int) = (0, 1), tiles: TileCache? = nil, log: (String) -> Void) throws {
        try config.validate()
        self.config = config
        self.dataset = dataset
        guard dataset.train.count >= 1 else {
            throw MakemoreError("\(config.data.path): the training split is empty (data.split \(config.data.split))")
        }
        guard dataset.vocabulary.count <= 1 << 20 else {
            throw MakemoreError("\(config.data.path): \(dataset.vocabulary.count - 1) distinct characters; makemore trains at most \((1 << 20) - 1)")
        }
        let shape = ModelShape(vocabSize: dataset.vocabulary.count, blockSize: config.model.blockSize,
                               nEmbd: config.model.nEmbd, nHidden: config.model.nHidden)

        // Topology and placement first: a bad thread count should fail before any big allocation.
        var topo = config.parallel.topology.map { Topology(virtualNodes: $0) } ?? Topology.detect()
        let shards = config.shards
        do {
            topo = try topo.selecting(nodes: config.parallel.nodes)
            var request = config.parallel.threads
            // Whole cores first; `auto` leaves SMT siblings out (two threads on
            // one core share its vector units, so the second one adds little
            // and makes its sibling the slow worker everyone waits for).
            var usable = topo.coresFirst()
            if request == .auto {
                let (cores, siblings) = topo.onePerCore()
                usable = cores
                if !siblings.isEmpty {
                    log("threads: auto uses one CPU per physical core; left out as SMT siblings: CPUs \(compactList(siblings)) "
                        + "(an explicit thread count uses them)")
                }
                let useful = Trainer.autoThreadLimit(batchSize: config.train.batchSize, shards: shards)
                if usable.cpuCount > useful {
                    request = .count(useful)
                    log("threads: auto uses \(useful) of the \(usable.cpuCount) cores: "
                        + (useful == shards && shards * StepEngine.rowsPerWorker <= config.train.batchSize
                            ? "parallel.shards is \(shards); raise it (it fixes the result, so a new value gives other bits) to use them all"
                            : "batch \(config.train.batchSize) gives each thread at least \(StepEngine.rowsPerWorker) rows"))
                }
            }
            placements = try usable.placements(request, pin: config.parallel.pin, oversubscribe: config.parallel.oversubscribe,
                                               local: localRank.index, of: localRank.count)
        } catch let e as PoolError {
            throw MakemoreError(e, threads: "parallel.threads", nodes: "parallel.nodes",
                                oversubscribe: "parallel.oversubscribe: true, or --oversubscribe")
        }
        topology = topo
        let ranks = exchange?.rankCount ?? 1
        if placements.count * ranks > shards {
            throw MakemoreError("parallel.shards: \(shards) shards cannot keep \(placements.count) threads"
                + (ranks > 1 ? " on each of \(ranks) processes" : "") + " busy; "
                + "use at least as many shards as threads (the shard count, not the thread count, fixes the result)")
        }
        try Trainer.checkMemory(shape: shape, config: config, workers: placements.count, examples: dataset.train.count)

        if let resume {
            guard resume.model.shape == shape else {
                throw MakemoreError("\(resume.source ?? "the checkpoint"): its model (V=\(resume.model.shape.vocabSize) block=\(resume.model.shape.blockSize) "
                    + "E=\(resume.model.shape.nEmbd) H=\(resume.model.shape.nHidden)) does not match the config "
                    + "(V=\(shape.vocabSize) block=\(shape.blockSize) E=\(shape.nEmbd) H=\(shape.nHidden))")
            }
            guard resume.vocabulary == dataset.vocabulary else {
                throw MakemoreError("\(resume.source ?? "the checkpoint"): its vocabulary '\(resume.vocabulary.symbolString)' differs from the data's '\(dataset.vocabulary.symbolString)'")
            }
            model = resume.model
            step = resume.step
        } else {
            model = Model(shape: shape, seed: UInt64(truncatingIfNeeded: config.model.initSeed))
            step = 0
        }
        let rng = resume?.rng ?? Xoshiro(seed: UInt64(truncatingIfNeeded: config.train.seed))
        // Node indices in order of first use; a node with no worker gets no replica.
        var nodeIDs = [Int]()
        for p in placements where !nodeIDs.contains(p.node) { nodeIDs.append(p.node) }
        engine = StepEngine(model: model, batchSize: config.train.batchSize, shards: shards,
                            workerNodes: placements.map { p in nodeIDs.firstIndex(of: p.node)! }, nodeIDs: nodeIDs)
        evaluator = StepEngine(model: model, batchSize: Trainer.evaluatorBatch(examples: dataset.train.count), shards: 1, workers: 1)
        let pool: WorkerPool
        do {
            pool = try WorkerPool(placements: placements)
        } catch let e as PoolError {
            throw MakemoreError(e, threads: "parallel.threads", nodes: "parallel.nodes",
                                oversubscribe: "parallel.oversubscribe: true, or --oversubscribe")
        }
        // The engine copies the examples into each node's memory.
        let engine = engine, train = dataset.train
        driver = train.x.withUnsafeBufferPointer { x in
            train.y.withUnsafeBufferPointer { y in
                StepDriver(engine: engine, pool: pool, x: x.baseAddress!, y: y.baseAddress!,
                           examples: train.count, rng: rng)
            }
        }
        if let exchange { engine.attach(exchange: exchange) }
        if var tiles {
            let started = monotonicNanos()
            let (plan, measured) = tiles.tune(engine)
            engine.plan = plan
            evaluator.plan = tiles.tune(evaluator, products: [.preactivation, .logits]).plan  // forward only
            let ms = Double(monotonicNanos() - started) / 1e6
            let list = StepProduct.allCases.map { "\($0.name(engine.shape, rows: engine.rowTile)) \(plan[$0])" }
                .joined(separator: ", ")
            log("kernels: \(engine.kernels.isa.label); tiles \(list) ("
                + (measured.isEmpty ? "remembered for this CPU" : String(format: "measured in %.0f ms", ms))
                + (tiles.path.map { " in \($0)" } ?? "") + ")")
            if let problem = tiles.save() { log("warning: \(problem)") }
        }

        log("topology: \(topology)")
        log("workers: \(placements.count) (\(describe(placements)))"
            + (nodeIDs.count > 1 ? "; parameters and data replicated on \(nodeIDs.count) nodes" : ""))
        for problem in pool.pinningProblems { log("warning: \(problem)") }
        if exchange == nil {
            engine.activeWorkers = StepEngine.usefulWorkers(batchSize: config.train.batchSize, workers: placements.count)
            if engine.activeWorkers < placements.count {
                log("workers: \(engine.activeWorkers) of \(placements.count) take part in each step: batch \(config.train.batchSize) "
                    + "has fewer than \(StepEngine.rowsPerWorker) rows per thread, where another thread costs more than it saves "
                    + "(same result either way)")
            }
        }
        log("model: vocab \(shape.vocabSize), block \(shape.blockSize), n_embd \(shape.nEmbd), n_hidden \(shape.nHidden); "
            + "\(model.layout.trainedCount) parameters; "
            + "batch \(config.train.batchSize) in \(shards) shards")
    }

    /// `threads: auto` runs at most this many threads: one per shard, and
    /// at least `StepEngine.rowsPerWorker` rows each (below that the
    /// synchronization of a step costs more than a second thread saves).
    public static func autoThreadLimit(batchSize: Int, shards: Int) -> Int {
        StepEngine.usefulWorkers(batchSize: batchSize, workers: shards)
    }

    /// Refuses a config whose buffers would not fit in this machine's memory, before allocating them.
    static func checkMemory(shape: ModelShape, config: Config, workers: Int, examples: Int) throws {
        let needed = bytesNeeded(shape: shape, batchSize: config.train.batchSize, shards: config.shards,
                                 workers: workers, examples: examples)
        try MemoryCheck.require(needed, for: "this config", lower: "train.batch_size (\(config.train.batchSize)), "
            + "model.n_hidden (\(shape.nHidden)) or parallel.shards (\(config.shards))")
    }

    /// Rows per chunk of the eval-mode engine that computes split losses.
    static func evaluatorBatch(examples: Int) -> Int { min(1024, max(2, examples)) }

    /// Bytes a run allocates: the training engine and the evaluator
    /// (`StepEngine.bytesNeeded`), the model, and the training examples: the
    /// dataset's and the engine's copy per node.
    static func bytesNeeded(shape: ModelShape, batchSize: Int, shards: Int, workers: Int, examples: Int) -> Double {
        let model = 4 * (Double(ParameterLayout(shape).count) + 2 * Double(shape.hiddenPadded))
        let data = 4 * Double(examples) * Double(shape.blockSize + 1)
            + StepEngine.trainingDataBytes(shape: shape, examples: examples, workers: workers)
        return StepEngine.bytesNeeded(shape: shape, batchSize: batchSize, shards: shards, workers: workers)
            + StepEngine.bytesNeeded(shape: shape, batchSize: evaluatorBatch(examples: examples), shards: 1, workers: 1)
            + model + data
    }

    /// The state to save: everything a resumed run needs.
    public func checkpoint() -> Checkpoint {
        Checkpoint(model: model, vocabulary: dataset.vocabulary, step: step, config: config, rng: rng,
                   dataFingerprint: dataset.fingerprint)
    }

    /// One SGD step; throws if the loss or a gradient is not finite.
    @discardableResult
    public func trainStep() throws -> Double {
        try trainSteps(1)
        return chunkLosses[0]
    }

    /// Up to `count` steps (at most `StepDriver.maxChunk`) in one dispatch of
    /// the worker pool, which saves the pool's release and join per step (it
    /// matters at small batches). The losses of the steps are in `chunkLosses`.
    /// Throws `Divergence` at the first step whose loss or gradient is not finite.
    @discardableResult
    public func trainSteps(_ count: Int) throws -> Int {
        let first = step
        let (done, diverged) = driver.run(count, learningRate: { Float(self.config.learningRate(at: first + $0)) },
                                          momentum: Float(config.train.bnMomentum))
        if diverged { throw Divergence(step: step + done, loss: chunkLosses[done - 1]) }
        step += done
        return done
    }

    /// Per-step losses of the last `trainSteps` call.
    public var chunkLosses: UnsafeBufferPointer<Double> { driver.losses }

    /// Eval-mode (running statistics) mean loss on a split.
    public func loss(on examples: Examples) -> Double {
        loss(on: examples, until: { false })!
    }

    /// `loss(on:)`, or nil once `stop` says so (a signal during a long evaluation).
    public func loss(on examples: Examples, until stop: () -> Bool) -> Double? {
        examples.x.withUnsafeBufferPointer { x in
            examples.y.withUnsafeBufferPointer { y in
                evaluator.evaluate(x: x.baseAddress!, y: y.baseAddress!, count: examples.count, until: stop)
            }
        }
    }

    /// Whether every parameter and running statistic is a finite number (checked before each save,
    /// since a huge learning rate can overflow a weight with a finite gradient).
    public func parametersFinite() -> Bool {
        let m = model
        return allFinite(m.parameters.base, count: m.layout.count)
            && allFinite(m.runningMean.base, count: m.shape.hiddenPadded)
            && allFinite(m.runningVar.base, count: m.shape.hiddenPadded)
    }

    public func shutdown() { pool.shutdown() }
}

/// A step whose loss or gradient was NaN or infinite; the parameters after it are not saved.
public struct Divergence: Error, CustomStringConvertible {
    public var step: Int
    public var loss: Double
    public var description: String {
        "step \(step): the \(loss.isFinite ? "gradient" : "loss") is not finite (loss \(loss)); training stopped before saving it"
    }
}
