import XCTest
@testable import Makemore
@testable import Parallel
@testable import Engine

/// The product's promise: the same config gives bit-identical parameters,
/// running statistics and losses whatever the thread count, because the
/// shards and the summation order are fixed by `parallel.shards`.
final class ThreadInvarianceTests: XCTestCase {
    static let words: [String] = {
        let all = try! WordSource.load(path: repositoryRoot.appendingPathComponent("data/municipis.csv").path,
                                       column: "Nom", cleaning: .municipis)
        return Array(all.prefix(1500))
    }()

    func config(threads: Int, shards: Int = 4, batch: Int = 37, topology: [[Int]]? = nil) -> Config {
        var c = Config()
        c.train.batchSize = batch
        c.train.steps = 40
        c.parallel.threads = .count(threads)
        c.parallel.shards = shards
        c.parallel.oversubscribe = true  // 3 threads on a 2-core machine
        c.parallel.topology = topology
        return c
    }

    /// Trains `config.train.steps` steps; returns the parameter bits, running statistics and every loss.
    /// `delay`: that worker sleeps this many microseconds before each claim of a shard or reduce chunk.
    func train(_ config: Config, delay: (worker: Int, micros: UInt32)? = nil) throws
        -> (params: [UInt32], running: [UInt32], losses: [Double]) {
        let dataset = try Dataset(words: Self.words, blockSize: 3, split: [0.8, 0.1, 0.1], seed: 42)
        let trainer = try Trainer(config: config, dataset: dataset, resume: nil, log: { _ in })
        trainer.engine.activeWorkers = trainer.engine.workerCount  // every thread works, even on a tiny batch
        defer { trainer.shutdown() }
        if let delay { (trainer.engine.delayedWorker, trainer.engine.delayMicros) = delay }
        var losses = [Double]()
        for _ in 0..<config.train.steps { losses.append(try trainer.trainStep()) }
        let m = trainer.model
        let params = (0..<m.layout.count).map { m.parameters.base[$0].bitPattern }
        let running = (0..<m.shape.hiddenPadded).flatMap { [m.runningMean.base[$0].bitPattern, m.runningVar.base[$0].bitPattern] }
        return (params, running, losses)
    }

    /// Below `StepEngine.rowsPerWorker` rows per thread the trainer lets fewer
    /// threads take part (a second one would slow the step); same bits.
    func testSmallBatchRunsOnFewerThreadsWithTheSameBits() throws {
        let dataset = try Dataset(words: Self.words, blockSize: 3, split: [0.8, 0.1, 0.1], seed: 42)
        let trainer = try Trainer(config: config(threads: 2), dataset: dataset, resume: nil, log: { _ in })
        defer { trainer.shutdown() }
        XCTAssertEqual(trainer.engine.workerCount, 2)
        XCTAssertEqual(trainer.engine.activeWorkers, 1, "batch 37 on 2 threads: one takes part")
        for _ in 0..<40 { try trainer.trainStep() }
        let one = try train(config(threads: 1))
        XCTAssertTrue((0..<trainer.model.layout.count).map { trainer.model.parameters.base[$0].bitPattern } == one.params)
        XCTAssertEqual(StepEngine.usefulWorkers(batchSize: 4096, workers: 2), 2)
        XCTAssertEqual(StepEngine.usefulWorkers(batchSize: 255, workers: 2), 1)
    }

    func testOneTwoThreeThreadsAreBitIdentical() throws {
        let one = try train(config(threads: 1))
        for t in [2, 3] {
            let other = try train(config(threads: t))
            XCTAssertEqual(one.losses, other.losses, "losses differ with \(t) threads")
            XCTAssertTrue(one.params == other.params, "parameters differ with \(t) threads")
            XCTAssertTrue(one.running == other.running, "running statistics differ with \(t) threads")
        }
        XCTAssertLessThan(one.losses.last!, one.losses.first!, "training should lower the loss")
    }

    /// Shards are claimed as workers come free, so who computes which shard
    /// and reduce chunk changes from step to step. 3 threads on 7 shards
    /// (uneven blocks), and one worker slowed down before every claim so the
    /// others take its shards (worker 0, which also draws the batches, and
    /// worker 2), on one node and on virtual nodes (where the slowed
    /// worker's node has its home shards stolen): the same bits every time.
    func testAdversarialClaimingIsBitIdentical() throws {
        var base = config(threads: 1, shards: 7)
        base.train.steps = 25
        let one = try train(base)
        var runs: [(Config, (worker: Int, micros: UInt32)?)] = []
        var c = base
        c.parallel.threads = .count(3)
        runs.append((c, nil))
        runs.append((c, (worker: 0, micros: 200)))
        runs.append((c, (worker: 2, micros: 200)))
        c.parallel.topology = [[0], [1], [0]]
        runs.append((c, (worker: 1, micros: 200)))
        c.parallel.topology = [[0, 1], [0, 1]]
        c.parallel.threads = .perNode(2)
        runs.append((c, (worker: 3, micros: 200)))
        for (i, (config, delay)) in runs.enumerated() {
            let other = try train(config, delay: delay)
            XCTAssertEqual(one.losses, other.losses, "run \(i): losses differ")
            XCTAssertTrue(one.params == other.params, "run \(i): parameters differ")
            XCTAssertTrue(one.running == other.running, "run \(i): running statistics differ")
        }
    }

    /// Shards of enough rows (70 and 300 here) fold the embedding products
    /// (per-worker token tables, per-shard token sums; docs/design.md), and
    /// at 900 rows BatchNorm's backward too: the same bits on 1, 2 and 3
    /// threads, and on two virtual nodes.
    func testFoldingShardsAreBitIdentical() throws {
        let vocab = try Dataset(words: Self.words, blockSize: 3, split: [0.8, 0.1, 0.1], seed: 42).vocabulary.count
        for batch in [211, 900] {
            var base = config(threads: 1, shards: 3, batch: batch)
            base.train.steps = 12
            let shape = ModelShape(vocabSize: vocab, blockSize: 3, nEmbd: base.model.nEmbd, nHidden: base.model.nHidden)
            XCTAssertTrue(shape.foldsEmbedding(rows: batch / 3), "the shards must fold for this test to test it")
            XCTAssertEqual(shape.foldsBatchNorm(foldingRows: batch), batch == 900)
            let one = try train(base)
            // Folding shards keep hprebn from phase 1 or sum it again in phases 2
            // and 3 (`recomputesPreactivation`, by the L2's size): an L2 of 0
            // bytes makes every engine here recompute.
            let l2 = StepEngine.l2Bytes
            defer { StepEngine.l2Bytes = l2 }
            for recompute in [false, true] {
                StepEngine.l2Bytes = recompute ? 0 : 1 << 30
                for (threads, topology) in [(1, nil), (2, nil), (3, nil), (2, [[0], [1]] as [[Int]]?)] where recompute || threads > 1 {
                    var c = base
                    c.parallel.threads = .count(threads)
                    c.parallel.topology = topology
                    let other = try train(c)
                    XCTAssertTrue(one.params == other.params, "batch \(batch), \(threads) threads, topology "
                                  + "\(String(describing: topology)), recomputing \(recompute) change the parameters")
                    XCTAssertTrue(one.running == other.running)
                    XCTAssertEqual(one.losses, other.losses)
                }
            }
        }
    }

    /// A batch whose first shard is one row short of folding and whose other
    /// three fold; and one of 30 shards, 25 of them folding, enough rows for
    /// BatchNorm's backward to fold too: the same bits on 1, 2 and 3 threads.
    func testPartlyFoldingBatchIsBitIdentical() throws {
        let vocab = try Dataset(words: Self.words, blockSize: 3, split: [0.8, 0.1, 0.1], seed: 42).vocabulary.count
        let shape = ModelShape(vocabSize: vocab, blockSize: 3, nEmbd: Config().model.nEmbd, nHidden: Config().model.nHidden)
        let f = shape.foldingRows
        for (shards, batch, folding) in [(4, 4 * f - 1, 3 * f), (30, 30 * f - 5, 25 * f)] {
            XCTAssertEqual(shape.foldsBatchNorm(foldingRows: folding), shards == 30, "the rule moved: pick other batches")
            var base = config(threads: 1, shards: shards, batch: batch)
            base.train.steps = 12
            let one = try train(base)
            for threads in [2, 3] {
                var c = base
                c.parallel.threads = .count(threads)
                let other = try train(c)
                XCTAssertTrue(one.params == other.params, "\(shards) shards: \(threads) threads change the parameters")
                XCTAssertTrue(one.running == other.running)
                XCTAssertEqual(one.losses, other.losses)
            }
        }
    }

    /// The multi-node path (a parameter and data replica per node, reduction
    /// node by node) on virtual nodes: the same bits as one thread.
    func testVirtualNodesAreBitIdentical() throws {
        let one = try train(config(threads: 1, shards: 6))
        for (threads, topology) in [(2, [[0], [1]]), (4, [[0, 1], [0, 1]]), (3, [[0], [1], [0]])] {
            var c = config(threads: threads, shards: 6, topology: topology)
            if threads == 4 { c.parallel.threads = .perNode(2) }
            let other = try train(c)
            XCTAssertTrue(one.params == other.params, "\(topology.count) virtual nodes, \(threads) threads change the parameters")
            XCTAssertTrue(one.running == other.running, "\(topology.count) virtual nodes change the running statistics")
            XCTAssertEqual(one.losses, other.losses)
        }
    }

    func testShardCountIsWhatFixesTheResult() throws {
        // Different shards may round differently, but must stay close: same math.
        let four = try train(config(threads: 1, shards: 4))
        let five = try train(config(threads: 2, shards: 5))
        for (a, b) in zip(four.losses, five.losses) { XCTAssertEqual(a, b, accuracy: 1e-4) }
    }

    func testMoreThreadsThanCPUsNeedsOversubscribe() throws {
        var c = config(threads: 64, shards: 64, batch: 64)
        c.parallel.oversubscribe = false
        let dataset = try Dataset(words: Self.words, blockSize: 3, split: [0.8, 0.1, 0.1], seed: 42)
        XCTAssertThrowsError(try Trainer(config: c, dataset: dataset, resume: nil, log: { _ in })) { error in
            XCTAssertTrue("\(error)".contains("parallel.threads"), "\(error)")
            XCTAssertTrue("\(error)".contains("oversubscribe"), "\(error)")
        }
    }

    func testMoreThreadsThanShardsIsRefused() throws {
        let dataset = try Dataset(words: Self.words, blockSize: 3, split: [0.8, 0.1, 0.1], seed: 42)
        XCTAssertThrowsError(try Trainer(config: config(threads: 3, shards: 2), dataset: dataset, resume: nil, log: { _ in })) { error in
            XCTAssertTrue("\(error)".contains("parallel.shards"), "\(error)")
        }
    }

    /// A NaN in any worker's slice stops the step with a Divergence error on
    /// the calling thread; the pool is left in a state that shuts down cleanly.
    func testDivergenceInParallelStepStopsCleanly() throws {
        var c = config(threads: 2)
        c.train.lr = [LearningRatePoint(step: 0, rate: 1e30)]
        let dataset = try Dataset(words: Self.words, blockSize: 3, split: [0.8, 0.1, 0.1], seed: 42)
        let trainer = try Trainer(config: c, dataset: dataset, resume: nil, log: { _ in })
        trainer.engine.activeWorkers = trainer.engine.workerCount  // every thread works, even on a tiny batch
        var caught: Divergence?
        for _ in 0..<50 {
            do { try trainer.trainStep() } catch let d as Divergence { caught = d; break }
        }
        XCTAssertNotNil(caught, "a learning rate of 1e30 must diverge")
        XCTAssertLessThan(caught?.step ?? .max, 10)
        trainer.shutdown()  // must not hang
    }

    /// Several steps per pool dispatch (the batch of the next step drawn inside
    /// the step) give the same bits as one step per dispatch.
    func testChunkedStepsMatchSingleSteps() throws {
        let reference = try train(config(threads: 1))
        for threads in [1, 2] {
            let dataset = try Dataset(words: Self.words, blockSize: 3, split: [0.8, 0.1, 0.1], seed: 42)
            let c = config(threads: threads)
            let trainer = try Trainer(config: c, dataset: dataset, resume: nil, log: { _ in })
            trainer.engine.activeWorkers = trainer.engine.workerCount  // every thread works, even on a tiny batch
            var losses = [Double]()
            for chunk in [1, 7, 13, 19] {  // 40 steps in uneven chunks
                let done = try trainer.trainSteps(chunk)
                losses += (0..<done).map { trainer.chunkLosses[$0] }
            }
            let m = trainer.model
            trainer.shutdown()
            XCTAssertEqual(losses, reference.losses, "\(threads) threads")
            XCTAssertTrue((0..<m.layout.count).map { m.parameters.base[$0].bitPattern } == reference.params)
        }
    }
}

/// The kernels' two speed knobs, register tiles and ISA build, never change a bit.
final class KernelChoiceInvarianceTests: XCTestCase {
    /// `steps` steps of a fresh engine on the given kernels and plan; the parameter bits after them.
    func train(kernels: KernelSet, plan: GemmPlan?, steps: Int = 5) throws -> [UInt32] {
        let shape = ModelShape(vocabSize: 27, blockSize: 3, nEmbd: 10, nHidden: 48)
        let model = Model(shape: shape, seed: 7)
        let batch = 45, examples = 200
        let engine = StepEngine(model: model, batchSize: batch, shards: 3, workers: 1, kernels: kernels, plan: plan)
        var rng = Xoshiro(seed: 3)
        let x = AlignedBuffer<Int32>(count: examples * 3), y = AlignedBuffer<Int32>(count: examples)
        for i in 0..<(examples * 3) { x.base[i] = Int32(rng.below(27)) }
        for i in 0..<examples { y.base[i] = Int32(rng.below(27)) }
        let driver = StepDriver(engine: engine, pool: try WorkerPool(placements: [Placement(worker: 0, node: 0, cpu: nil)]),
                                x: x.base, y: y.base, examples: examples, rng: Xoshiro(seed: 9))
        _ = driver.run(steps, learningRate: { _ in 0.1 }, momentum: 0.001)
        return (0..<model.layout.count).map { model.parameters.base[$0].bitPattern }
    }

    func testEveryTileGivesTheSameStep() throws {
        let kernels = KernelSet(.avx2)
        let reference = try train(kernels: kernels, plan: nil)
        for tile in GemmTile.all {
            XCTAssertTrue(try train(kernels: kernels, plan: GemmPlan(tile)) == reference, "tile \(tile) changes the step")
        }
        // A mixed plan, as the tuner makes them.
        var mixed = GemmPlan(GemmTile(2, 2))
        for (i, p) in StepProduct.allCases.enumerated() { mixed[p] = GemmTile.all[(i * 5) % GemmTile.all.count] }
        XCTAssertTrue(try train(kernels: kernels, plan: mixed) == reference)
    }

    func testAVX512AndAVX2GiveTheSameStep() throws {
        try XCTSkipUnless(ISA.avx512.isSupported, "this CPU has no AVX-512: only the AVX2 build can run here")
        XCTAssertTrue(try train(kernels: KernelSet(.avx512), plan: nil) == train(kernels: KernelSet(.avx2), plan: nil),
                      "the AVX-512 and AVX2 builds of the kernels give different parameters")
    }
}
