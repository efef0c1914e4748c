import KernelSupport
import Kernels
import Parallel

/// One SGD step of the makemore MLP, forward and manual backward, cut into
/// phases that a worker pool can run shard by shard with a barrier between
/// phases:
///
/// (per shard: any worker, which claims the shard; per worker: every worker, for itself)
///   phase 1  per shard   embedding gather, hprebn = emb·W1 + b1, BN partial moments
///   ── barrier ──
///   combine  per worker  batch mean/var from all shards in shard order; Wᵀ copies
///   phase 2  per shard   BN normalize, tanh, logits, loss, dlogits, dW2, db2, dh,
///                        dhpre, partial dbngain / dbnbias
///   ── barrier ──
///   combine  per worker  dbngain / dbnbias summed in shard order → BN backward coefficients
///   phase 3  per shard   dhprebn, dW1, db1, demb, dC
///   ── barrier ──
///   reduce   per chunk   gradient = Σ shards in shard order; SGD on the chunk
///   ── barrier ──  (before the next step reads the parameters)
///
/// Nothing here allocates, locks or retains: phases read the fields of this
/// final class and raw pointers into `Workspace`.
public final class StepEngine {
    public let model: Model
    public let shape: ModelShape
    public let layout: ParameterLayout
    public let batchSize: Int
    public let shardCount: Int
    public let workerCount: Int
    let workspace: Workspace
    /// The kernels' ISA build (AVX2 or AVX-512) and each product's tile: speed, never bits.
    public let kernels: KernelSet
    public var plan: GemmPlan
    /// Rows per tile of every phase (StepEngine+Output.swift): `rowTile(shape)`,
    /// or what a test asks for; never more than a shard's rows. The matrix
    /// products run at this many rows, so it is the shape the tiles are tuned for.
    public let rowTile: Int
    /// Whether folding shards sum their hprebn again from the token tables in
    /// phases 2 and 3 (`preactivation`) instead of keeping it from phase 1.
    /// Speed and memory only: the same sums, so the same bits.
    public let recomputesPreactivation: Bool

    /// The step's input X [n × B], Y [n]: filled by the caller before phase 1,
    /// or, after `attachTrainingData`, by phase 1 from the rows `batchIndex` names.
    public let batchX: AlignedBuffer<Int32>
    public let batchY: AlignedBuffer<Int32>
    /// Which training example each batch row is (used after `attachTrainingData`).
    public let batchIndex: AlignedBuffer<Int32>
    let replicas: NodeReplicas
    /// Multi-process runs: how shard results reach the other processes
    /// (StepEngine+Exchange.swift), and the shards this process computes.
    var exchange: ShardExchange?
    public internal(set) var localShards: Range<Int>
    var exchangePieces: ExchangePieces?
    /// The reduced gradient of the last step that only computed it
    /// (`computeGradient`, or a learning rate of nil), same layout as the
    /// parameters. A step that updates the parameters does not write it.
    public let gradient: AlignedBuffer<Float>

    let params: UnsafeMutablePointer<Float>
    let grad: UnsafeMutablePointer<Float>
    /// Per worker: whether the gradient chunks it reduced in the last parallel
    /// step were all finite (true if it reduced none); their AND is the step's.
    let sliceFinite: UnsafeMutablePointer<Bool>
    /// Where the workers claim shards and reduce chunks (StepEngine+Parallel.swift):
    /// counter `phase · nodes + k` for node k's home shards of phases 0–2,
    /// `3 · nodes + k` for the chunks of reduce stage k.
    let claims: ClaimCounters
    /// Node k's home shards are `homeBounds[k]..<homeBounds[k + 1]`: the block
    /// of this process's shards its workers would own if shards were fixed.
    let homeBounds: UnsafeMutablePointer<Int>
    /// Worker w's block of shards, `workerBounds[w]..<workerBounds[w + 1]`
    /// (its home pool in the barrier-free steps).
    let workerBounds: UnsafeMutablePointer<Int>
    /// The parameter vector is reduced in this many chunks (`parameterSlice(worker: c, of: reduceChunks)`).
    let reduceChunks: Int
    /// Workers that take part in the steps of one process; the others wait
    /// at the pool's join barrier. Below `rowsPerWorker` rows per worker a
    /// second thread costs more in synchronization than it saves (batch 32 on
    /// 2 threads ran at 0.7x of 1), so the trainer and the bench set this to
    /// `usefulWorkers`; the shards, and so the bits, are the same either way.
    /// With an exchange (MPI) every worker takes part: its steps have barriers.
    public var activeWorkers: Int

    /// Rows per worker below which another worker does not pay.
    public static let rowsPerWorker = 128

    /// How many of `workers` are worth running at `batchSize`.
    public static func usefulWorkers(batchSize: Int, workers: Int) -> Int {
        max(1, min(workers, batchSize / rowsPerWorker))
    }

    /// Tests: worker `delayedWorker` sleeps `delayMicros` before each claim,
    /// so the others take its work (claiming order must not change a bit).
    var delayedWorker = -1
    /// The barrier-free steps (StepEngine+Flow.swift): claim counters (stage s,
    /// pool q at s · (T + 1) + q), done counts per stage (and at index
    /// `flowStages` the divergence flag), and per worker the step whose
    /// BatchNorm statistics / backward coefficients / token tables its scratch holds
    /// (each worker's on a cache line of its own: they are written every step and read every item).
    let flowClaims: ClaimCounters
    let flowDone: CompletionCounters
    let statsStep: WorkerLines<Int>
    let coefStep: WorkerLines<Int>
    let tableStep: WorkerLines<Int>
    /// A worker that has run this long without a break yields its CPU before
    /// claiming an item (StepEngine+Flow.swift); 0: never. 1 ms: under the
    /// time slice a Linux CPU shared by two busy threads gives each (measured
    /// 2–4 ms on the development VM); a sweep of 0.5–3 ms with a busy
    /// process on one of two CPUs gave 2 threads 1.05–1.27x of one, against
    /// 0.8–0.98x without yielding.
    var runBudgetNanos: UInt64 = 1_000_000
    var delayMicros: UInt32 = 0
    /// Tests: every shard's embedding products folded (true) or per row
    /// (false) whatever its rows (`ModelShape.foldsEmbedding`); nil: by the rows.
    let foldsEmbedding: Bool?

    /// Whether a shard of `rows` rows folds its embedding products.
    @inline(__always)
    func folds(rows: Int) -> Bool { foldsEmbedding ?? shape.foldsEmbedding(rows: rows) }

    /// Whether the step folds BatchNorm's backward as well: its folding shards
    /// then have no phase 3 (StepEngine+FoldedBackward.swift). By the folding
    /// shards' rows in all (`ModelShape.foldsBatchNorm`); tests force it.
    let foldsBatchNorm: Bool

    /// Whether some shard of a step folds: then phase 1 needs the token
    /// tables and phase 3 W1S. (The flow asks on every claim: the workspace
    /// has the folded sums' buffers exactly then.)
    @inline(__always)
    var foldsAnyShard: Bool { workspace.foldedSums != nil }
    lazy var parallelSteps = ParallelSteps(engine: self)
    /// Accumulate per-phase times in `phaseNanos` (see `StepPhase`); off in normal training.
    public var profiling = false
    let phaseNanos: WorkerLines<UInt64>  // worker w's at line(w)[phase]
    /// Per worker and stage of the flow (StepEngine+Flow.swift), while `profiling`: the
    /// time waiting for the stage before (stage 0: the previous step's last) at line(w)[2s],
    /// and the time taking and doing the stage's items at line(w)[2s + 1].
    let stageNanos: WorkerLines<UInt64>
    static let bnEpsilon: Float = 1e-5

    /// `workerNodes[w]` is the node index of worker w (non-decreasing from 0) and
    /// `nodeIDs[k]` the NUMA node that node k's replicas are allocated on;
    /// the default is one node.
    public convenience init(model: Model, batchSize: Int, shards: Int, workers: Int,
                            kernels: KernelSet = .default, plan: GemmPlan? = nil) {
        self.init(model: model, batchSize: batchSize, shards: shards,
                  workerNodes: Array(repeating: 0, count: workers), nodeIDs: [0], kernels: kernels, plan: plan)
    }

    public convenience init(model: Model, batchSize: Int, shards: Int, workerNodes: [Int], nodeIDs: [Int],
                            kernels: KernelSet = .default, plan: GemmPlan? = nil) {
        self.init(model: model, batchSize: batchSize, shards: shards, workerNodes: workerNodes, nodeIDs: nodeIDs,
                  kernels: kernels, plan: plan, rowTile: StepEngine.rowTile(model.shape))
    }

    /// `rowTile`: rows per tile of phases 2 and 3, and `recomputes`:
    /// `recomputesPreactivation` if not by the rule (tests vary both; the bits
    /// must not change); `folds`: `foldsEmbedding`; `foldsBatchNorm`: whether
    /// a step with folding shards folds BatchNorm's backward, if not by the rule.
    init(model: Model, batchSize: Int, shards: Int, workerNodes: [Int], nodeIDs: [Int],
         kernels: KernelSet = .default, plan: GemmPlan? = nil, rowTile tile: Int, recomputes: Bool? = nil, folds: Bool? = nil,
         foldsBatchNorm foldsBN: Bool? = nil) {
        self.kernels = kernels
        activeWorkers = workerNodes.count
        self.plan = plan ?? GemmPlan(GemmTuner.untuned(kernels.isa))
        let workers = workerNodes.count
        precondition(batchSize >= 2 && shards >= workers && shards <= batchSize && workers >= 1 && tile >= 1)
        rowTile = StepEngine.tileRows(tile, batchSize: batchSize, shards: shards)
        self.model = model
        shape = model.shape
        layout = model.layout
        self.batchSize = batchSize
        shardCount = shards
        workerCount = workers
        recomputesPreactivation = recomputes
            ?? StepEngine.recomputesPreactivation(shape: model.shape, batchSize: batchSize, workers: workers)
        foldsEmbedding = folds
        let shape = model.shape
        let shardFolds = { (rows: Int) in folds ?? shape.foldsEmbedding(rows: rows) }  // `folds(rows:)`, before self is whole
        let foldingRows = StepEngine.foldingRows(batchSize: batchSize, shards: shards, folds: shardFolds)
        foldsBatchNorm = foldingRows > 0 && (foldsBN ?? shape.foldsBatchNorm(foldingRows: foldingRows))
        workspace = Workspace(layout: layout, batchSize: batchSize, shards: shards, workers: workers, tileRows: rowTile,
                              folds: shardFolds, recomputes: recomputesPreactivation, foldsBatchNorm: foldsBatchNorm)
        batchX = AlignedBuffer(count: batchSize * shape.blockSize)
        batchY = AlignedBuffer(count: batchSize)
        batchIndex = AlignedBuffer(count: batchSize)
        replicas = NodeReplicas(model: model, workerNodes: workerNodes, nodeIDs: nodeIDs, shards: shards)
        localShards = 0..<shards
        gradient = AlignedBuffer(count: layout.count)
        params = model.parameters.base
        grad = gradient.base
        sliceFinite = .allocate(capacity: workers)
        sliceFinite.initialize(repeating: true, count: workers)
        claims = ClaimCounters(count: 4 * nodeIDs.count)
        homeBounds = .allocate(capacity: nodeIDs.count + 1)
        homeBounds.initialize(repeating: 0, count: nodeIDs.count + 1)
        workerBounds = .allocate(capacity: workers + 1)
        workerBounds.initialize(repeating: 0, count: workers + 1)
        let vectors = layout.count / vecWidth
        reduceChunks = max(1, min(vectors, max(4 * workers, layout.count / 4096)))
        let nodes = nodeIDs.count
        flowClaims = ClaimCounters(count: (5 + nodes) * (workers + 1))  // flowStages pools of T + 1
        flowDone = CompletionCounters(count: 5 + nodes + 1)  // flowStages, and the divergence flag
        statsStep = WorkerLines(workers: workers, repeating: -1)
        coefStep = WorkerLines(workers: workers, repeating: -1)
        tableStep = WorkerLines(workers: workers, repeating: -1)
        phaseNanos = WorkerLines(workers: workers, count: StepPhase.allCases.count, repeating: 0)
        stageNanos = WorkerLines(workers: workers, count: 2 * (5 + nodes), repeating: 0)
        setHomeShards()
    }

    deinit {
        exchangePieces?.deallocate()
        sliceFinite.deallocate()
        phaseNanos.deallocate()
        stageNanos.deallocate()
        homeBounds.deallocate()
        workerBounds.deallocate()
        claims.deallocate()
        flowClaims.deallocate()
        statsStep.deallocate()
        coefStep.deallocate()
        tableStep.deallocate()
    }

    /// From now on phase 1 gathers each batch row from these examples (X
    /// [count × B], Y [count], copied here) by `batchIndex`, on every node
    /// from that node's copy.
    public func attachTrainingData(x: UnsafePointer<Int32>, y: UnsafePointer<Int32>, count: Int) {
        replicas.attachTrainingData(x: x, y: y, count: count, blockSize: shape.blockSize)
    }

    /// The node state worker `w` reads.
    @inline(__always)
    func node(of w: Int) -> NodeState { replicas.nodes[replicas.workerNode[w]] }

    /// The rule for `recomputesPreactivation`: recompute when a worker's
    /// share of the batch's hprebn is more than half its L2 cache (1 MiB
    /// assumed where the OS does not say). Phases 1, 2 and 3 each go over all
    /// the shards, so hprebn kept from phase 1 that has left the L2 is read
    /// back from L3 or memory twice, after having been written there; summing
    /// three rows of the token tables again costs less. Measured on a Xeon
    /// (2 MiB L2), one thread: batch 65536 1.35× faster at H 256 and 1.04×
    /// at H 64; batch 4096 the same at H 256 (4 MiB of hprebn) and 4-6%
    /// slower at H 64 (1 MiB, which the L2 keeps), where the rule keeps it.
    /// With the tables in column blocks (`ColumnBlocks`) the sums got cheaper,
    /// and at batch 4096, H 64 the two ways measure the same (32 rounds).
    static func recomputesPreactivation(shape: ModelShape, batchSize: Int, workers: Int) -> Bool {
        let share = 4 * Double(batchSize) / Double(workers) * Double(shape.hiddenPadded)
        return share > Double(StepEngine.l2Bytes) / 2
    }

    /// The L2 the rule assumes (tests set it, to take either way).
    static var l2Bytes = l2CacheBytes() ?? 1 << 20

    /// The rows of a batch's folding shards in all: what decides whether
    /// BatchNorm's backward folds (`ModelShape.foldsBatchNorm`). `shardBounds`
    /// gives n % S shards ⌊n/S⌋ + 1 rows and the others ⌊n/S⌋.
    static func foldingRows(batchSize n: Int, shards S: Int, folds: (Int) -> Bool) -> Int {
        let (rows, longer) = (n / S, n % S)
        return (folds(rows) ? (S - longer) * rows : 0) + (longer > 0 && folds(rows + 1) ? longer * (rows + 1) : 0)
    }

    /// Bytes an engine of these sizes allocates beyond the model: the
    /// workspace, the batch buffers, the gradient and W1's and W2's transposes per node (one
    /// node assumed per worker, the most there can be). In floating point, for
    /// refusing impossible configs before allocating anything.
    public static func bytesNeeded(shape: ModelShape, batchSize: Int, shards: Int, workers: Int) -> Double {
        let layout = ParameterLayout(shape)
        let P = Double(layout.count)
        let transposes = Double(shape.hiddenPadded) * Double(shape.inputPadded + shape.vocabPadded + shape.blockSize * shape.embdPadded)
        let tile = tileRows(rowTile(shape), batchSize: batchSize, shards: shards)
        let recomputes = recomputesPreactivation(shape: shape, batchSize: batchSize, workers: workers)
        let folds = { shape.foldsEmbedding(rows: $0) }
        let foldsBatchNorm = shape.foldsBatchNorm(foldingRows: foldingRows(batchSize: batchSize, shards: shards, folds: folds))
        return Workspace.bytes(layout: layout, batchSize: batchSize, shards: shards, workers: workers, tileRows: tile,
                               folds: folds, recomputes: recomputes, foldsBatchNorm: foldsBatchNorm)
            + 4 * Double(batchSize) * Double(shape.blockSize + 2)  // batchX, batchY, batchIndex
            + 4 * P                                                 // the reduced gradient
            + 4 * Double(workers) * (transposes + P)                // per node: W1ᵀ, W2ᵀ, a parameter replica
    }

    /// Bytes the nodes' copies of `examples` training examples take once
    /// attached (`attachTrainingData`), one node assumed per worker.
    public static func trainingDataBytes(shape: ModelShape, examples: Int, workers: Int) -> Double {
        4 * Double(workers) * Double(examples) * Double(NodeReplicas.exampleStride(blockSize: shape.blockSize))
    }

    /// Sum of the per-row losses of the last step divided by n: the mean loss.
    public var loss: Double {
        var total = 0.0
        for s in 0..<shardCount { total += workspace.shardLoss[s] }  // shard order
        return total / Double(batchSize)
    }

    /// The whole step on the calling thread (worker 0), phases in order.
    public func stepSingleThreaded(learningRate lr: Float, momentum: Float) {
        precondition(workerCount == 1)
        runPhases()
        reduce(stage: 0, slice: 0..<layout.count, learningRate: lr)
        updateRunningStatistics(worker: 0, momentum: momentum)
    }

    /// Only the gradient (no update), into `gradient`.
    public func computeGradient() {
        precondition(workerCount == 1)
        runPhases()
        reduce(stage: 0, slice: 0..<layout.count, learningRate: nil)
    }

    /// Phases 1–3 on the calling thread, as worker 0 of a one-node engine.
    private func runPhases() {
        transposeWeights(worker: 0)
        computeTokenTables(worker: 0)
        for s in 0..<shardCount { forwardPreactivation(shard: s, worker: 0) }
        combineBatchStatistics(worker: 0)
        var timer = PhaseTimer(engine: self, worker: 0)
        for s in 0..<shardCount { outputLayer(shard: Self.outputShard(s, of: 0..<shardCount), worker: 0, &timer) }
        combineBatchNormGradients(worker: 0)
        for s in 0..<shardCount { backwardHidden(shard: s, worker: 0) }
        finishFoldedEmbeddingGradient(worker: 0)
    }
}
