import Foundation
import KernelSupport
import Kernels
import Parallel

/// Where a worker's time goes in a step, for `makemore bench`. Indices into
/// `StepEngine.phaseNanos` (per worker, accumulated while `profiling` is on).
public enum StepPhase: Int, CaseIterable {
    case forward, backward, batchNormSync, reduceUpdate, barrierWait
}

/// Training steps as one pool task. In one process (no `ShardExchange`) it
/// runs the barrier-free stages of StepEngine+Flow.swift. With an exchange
/// (MPI), where one thread per process must meet the other processes at
/// fixed points, it runs the phases below between barriers: in each per-shard phase the workers
/// claim shards one at a time from shared counters (`StepEngine.claims`):
/// first their node's home shards, then, when those are gone, the other
/// nodes'. The reduce stage claims chunks of the parameter vector the same
/// way. A worker that runs slowly (a CPU shared with another process) thus
/// takes fewer shards instead of making the others wait for its fixed block
/// at the next barrier. Who computes a shard never changes a bit: each shard
/// writes its own buffers, every worker derives the same BatchNorm numbers
/// into its own scratch, and shard results are combined in shard order.
///
/// Several steps run in one dispatch so that the pool's release and join are
/// paid once per chunk, and the next batch is drawn by worker 0 inside the
/// step (after barrier 2, when phase 1 no longer reads `batchIndex`), which
/// leaves four barriers per step.
///
/// Resetting the counters. A counter is claimed from only between the
/// barrier that opens its phase and the barrier that closes it (a worker
/// arrives at the closing barrier only after its last claim came back
/// empty). Worker 0 sets it back to 0 in the phase after, i.e. after the
/// closing barrier, so no claim can race the reset; and at least one more
/// barrier, which worker 0 reaches only after the reset, lies between the
/// reset and the counter's next use, so every worker sees 0 there:
///   phase 1 (shards)  counters reset in phase 2, next used after the step's end
///   phase 2 (shards)  reset in phase 3, next used in the next step
///   phase 3 (shards)  reset in the reduce, next used in the next step
///   reduce (chunks)   reset in the next step's phase 1, used after its barrier 3
/// A dispatch always runs whole steps, so every counter is 0 again at the
/// end of a dispatch except the reduce's, which the next step's phase 1
/// resets (a new dispatch starts with the pool's release barrier, so the
/// reset of the old step's reduce in a new dispatch works the same).
final class ParallelSteps: PoolTask {
    unowned(unsafe) let engine: StepEngine
    var count = 1
    var learningRates: UnsafePointer<Float>!
    var momentum: Float = 0
    var losses: UnsafeMutablePointer<Double>!
    /// Draws the batch of the next step into `batchIndex`; nil when the caller fills the batch itself.
    var sampleNext: (() -> Void)?
    /// Set by worker 0: steps done.
    var completed = 0

    init(engine: StepEngine) { self.engine = engine }

    func run(worker w: Int, context: PoolContext) {
        if engine.exchange == nil {
            // No barriers within the dispatch; workers past `activeWorkers` go straight to the join.
            if w < engine.activeWorkers { runFlow(worker: w, done: engine.flowDone) }
            return
        }
        for i in 0..<count {
            step(worker: w, context, learningRate: learningRates[i], drawNext: i + 1 < count)
            if i + 1 == count { break }  // the pool's join barrier ends the last one
            context.barrier.wait()  // parameters updated everywhere; finite flags visible
            if !engine.allSlicesFinite { break }  // every worker sees the same flags
        }
        // `diverged` is decided by the caller after the pool's join barrier:
        // the other workers' flags of the last step are only visible then.
    }

    @inline(__always)
    private func step(worker w: Int, _ context: PoolContext, learningRate: Float, drawNext: Bool) {
        let home = engine.replicas.workerNode[w]
        var timer = PhaseTimer(engine: engine, worker: w)
        if w == 0 { engine.resetClaims(.reduce) }
        engine.transposeWeights(worker: w)
        engine.computeTokenTables(worker: w)
        var cursor = 0
        while let s = engine.claimShard(.preactivation, worker: w, home: home, cursor: &cursor) {
            engine.forwardPreactivation(shard: s, worker: w)
        }
        timer.lap(.forward)
        exchangePoint(.moments, w, context, &timer)
        if w == 0 { engine.resetClaims(.preactivation) }
        engine.combineBatchStatistics(worker: w)
        timer.lap(.batchNormSync)
        cursor = 0
        while let s = engine.claimShard(.output, worker: w, home: home, cursor: &cursor) {
            engine.outputLayer(shard: s, worker: w, &timer)
        }
        exchangePoint(.batchNorm, w, context, &timer)
        if w == 0 {
            engine.resetClaims(.output)
            losses[completed] = engine.loss
            completed += 1
            if drawNext, let sampleNext {
                sampleNext()
                timer.restart()  // the draw is the caller's time (bench reports it apart), not a phase's
            }
        }
        engine.combineBatchNormGradients(worker: w)
        timer.lap(.batchNormSync)
        cursor = 0
        while let s = engine.claimShard(.hidden, worker: w, home: home, cursor: &cursor) {
            engine.backwardHidden(shard: s, worker: w)
        }
        timer.lap(.backward)
        exchangePoint(.gradients, w, context, &timer)
        if w == 0 { engine.resetClaims(.hidden) }
        if engine.foldsAnyShard {
            // The folded backward (StepEngine+FoldedBackward.swift), its three parts'
            // pieces dealt out in turn: tens of µs, not worth counters.
            let T = engine.workerCount
            for j in stride(from: w, to: engine.foldedActivationParts, by: T) { engine.sumFoldedActivations(position: j, worker: w) }
            context.barrier.wait()
            for c in stride(from: w, to: engine.tokenSumChunks, by: T) { engine.sumTokenSums(chunk: c, worker: w) }
            context.barrier.wait()
            for p in stride(from: w, to: engine.foldedGradientParts, by: T) { engine.finishFoldedEmbeddingGradient(part: p, worker: w) }
            timer.lap(.backward)
            context.barrier.wait()
            timer.lap(.barrierWait)
        }
        // Reduce: one stage per node, in node order (see StepEngine+Reduce.swift);
        // within a stage every worker claims chunks of the parameter vector.
        let nodes = engine.replicas.count
        var finite = true
        for k in 0..<nodes {
            while let chunk = engine.claimReduceChunk(stage: k, worker: w) {
                let ok = engine.reduce(stage: k, slice: engine.parameterSlice(worker: chunk, of: engine.reduceChunks),
                                       learningRate: learningRate)
                if k == nodes - 1 { finite = finite && ok }
            }
            if k < nodes - 1 {
                timer.lap(.reduceUpdate)
                context.barrier.wait()
                timer.lap(.barrierWait)
            }
        }
        engine.sliceFinite[w] = finite
        if w == 0 { engine.updateRunningStatistics(worker: 0, momentum: momentum) }
        timer.lap(.reduceUpdate)
    }

    /// A barrier; in a multi-process run also the exchange of that point's
    /// shard results, done by worker 0 between two barriers.
    @inline(__always)
    func exchangePoint(_ point: StepEngine.ExchangePoint, _ w: Int, _ context: PoolContext, _ timer: inout PhaseTimer) {
        context.barrier.wait()
        timer.lap(.barrierWait)
        guard engine.exchange != nil else { return }
        if w == 0 { engine.exchangeShards(point) }
        timer.lap(.batchNormSync)
        context.barrier.wait()
        timer.lap(.barrierWait)
    }
}

/// Adds the time since the last lap to a phase's counter; free when profiling is off.
struct PhaseTimer {
    let counters: UnsafeMutablePointer<UInt64>?
    let stages: UnsafeMutablePointer<UInt64>?  // `StepEngine.stageNanos`, in the barrier-free flow
    var last: UInt64
    var stageMark: UInt64 = 0

    @inline(__always)
    init(engine: StepEngine, worker: Int) {
        counters = engine.profiling ? engine.phaseNanos.line(worker) : nil
        stages = engine.profiling ? engine.stageNanos.line(worker) : nil
        last = counters == nil ? 0 : monotonicNanos()
    }

    /// The worker starts waiting for the stage before (or the previous step).
    @inline(__always)
    mutating func stageWaits() {
        if stages != nil { stageMark = monotonicNanos() }
    }

    /// ... and has stopped: stage `s`'s items are next.
    @inline(__always)
    mutating func stageStarts(_ s: Int) {
        if let stages { Self.charge(stages, 2 * s, since: &stageMark) }
    }

    /// It found no item of stage `s` left.
    @inline(__always)
    mutating func stageEnds(_ s: Int) {
        if let stages { Self.charge(stages, 2 * s + 1, since: &stageMark) }
    }

    @inline(__always)
    mutating func restart() {
        if counters != nil { last = monotonicNanos() }
    }

    @inline(__always)
    mutating func lap(_ phase: StepPhase) {
        if let counters { Self.charge(counters, phase.rawValue, since: &last) }
    }

    /// The time since `mark` added to `counters[i]`, and `mark` moved to now.
    @inline(__always)
    private static func charge(_ counters: UnsafeMutablePointer<UInt64>, _ i: Int, since mark: inout UInt64) {
        let now = monotonicNanos()
        counters[i] &+= now &- mark
        mark = now
    }
}

@inline(__always)
public func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

extension StepEngine {
    /// Up to `count` SGD steps in one dispatch on `pool`. The caller has put
    /// step 0's batch in place; `sampleNext` (called on the caller's thread,
    /// as worker 0) draws each following one into `batchIndex`. Step i uses
    /// `learningRates[i]` and writes its mean loss to `losses[i]`. Stops after
    /// the first step whose loss or gradient is not finite (`diverged`).
    public func steps(
        _ count: Int, on pool: WorkerPool, learningRates: UnsafePointer<Float>, momentum: Float,
        losses: UnsafeMutablePointer<Double>, sampleNext: (() -> Void)?
    ) -> (completed: Int, diverged: Bool) {
        precondition(pool.placements.count == workerCount && count >= 1)
        let task = parallelSteps
        (task.count, task.learningRates, task.momentum, task.losses) = (count, learningRates, momentum, losses)
        task.completed = 0
        let flow = exchange == nil
        if flow { resetFlow(oversubscribed: pool.barrier.yieldWhileSpinning) }
        if let sampleNext {
            withoutActuallyEscaping(sampleNext) { draw in
                task.sampleNext = draw
                pool.run(task)
                task.sampleNext = nil
            }
        } else {
            task.sampleNext = nil
            pool.run(task)
        }
        let diverged = (flow ? flowDiverged : !allSlicesFinite) || !losses[task.completed - 1].isFinite
        return (task.completed, diverged)
    }

    /// The counters of one part of the step (see `ParallelSteps` for when they are reset).
    enum ClaimPhase: Int { case preactivation = 0, output = 1, hidden = 2, reduce = 3 }

    /// The next shard of `phase` for worker `w` of node `home`, or nil when
    /// every shard of this process is taken. `cursor` (0 at the start of the
    /// phase) counts the nodes whose shards this worker found all taken: it
    /// takes its own node's shards first, then steals from the next nodes in turn.
    @inline(__always)
    func claimShard(_ phase: ClaimPhase, worker w: Int, home: Int, cursor: inout Int) -> Int? {
        if w == delayedWorker { usleep(delayMicros) }
        let nodes = replicas.count
        while cursor < nodes {
            var k = home + cursor
            if k >= nodes { k -= nodes }
            let i = claims.claim(phase.rawValue * nodes + k)
            let home = homeBounds[k]..<homeBounds[k + 1]
            if i < home.count { return phase == .output ? Self.outputShard(i, of: home) : home.lowerBound + i }
            cursor += 1
        }
        return nil
    }

    /// The next parameter chunk of reduce stage `k`, or nil when all are taken.
    @inline(__always)
    func claimReduceChunk(stage k: Int, worker w: Int) -> Int? {
        if w == delayedWorker { usleep(delayMicros) }
        let c = claims.claim(ClaimPhase.reduce.rawValue * replicas.count + k)
        return c < reduceChunks ? c : nil
    }

    /// Sets the counters of `phase` (every node's) back to 0; by worker 0, only
    /// where `ParallelSteps` says no one can be claiming from them.
    @inline(__always)
    func resetClaims(_ phase: ClaimPhase) {
        let nodes = replicas.count
        for k in 0..<nodes { claims.reset(phase.rawValue * nodes + k) }
    }

    var allSlicesFinite: Bool {
        for w in 0..<workerCount where !sliceFinite[w] { return false }
        return true
    }

    /// Nanoseconds per phase of `worker` since profiling was last reset.
    public func phaseTime(worker: Int, _ phase: StepPhase) -> UInt64 {
        phaseNanos.line(worker)[phase.rawValue]
    }

    public func resetPhaseTimes() {
        phaseNanos.fill(0)
        stageNanos.fill(0)
    }

    /// Nanoseconds `worker` spent in stage `s` of the flow since profiling was
    /// last reset: waiting for the stage before (stage 0: for the previous
    /// step's last), and taking and doing the stage's items. Zeros under MPI,
    /// whose steps run between barriers instead.
    public func stageTime(worker: Int, stage s: Int) -> (wait: UInt64, work: UInt64) {
        (stageNanos.line(worker)[2 * s], stageNanos.line(worker)[2 * s + 1])
    }
}
