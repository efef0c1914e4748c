import Foundation
import KernelSupport
import Kernels
import Parallel

/// Where a worker's time goes in a step, for `makemore bench`. Indices into
/// `StepEngine.phaseNanos` (per worker, accumulated while `profiling` is on).
public enum StepPhase: Int, CaseIterable {
    case forward, backward, batchNormSync, reduceUpdate, barrierWait
}

/// Training steps as one pool task: worker w runs its block of shards
/// (`shardRange`) and, in the reduce stage of its node, a slice of the
/// parameter vector. Several steps run in one dispatch so that the pool's
/// release and join are paid once per chunk, and the next batch is drawn by
/// worker 0 inside the step (after barrier 2, when phase 1 no longer reads
/// `batchIndex`), which leaves four barriers per step.
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
        let mine = engine.shards(ofWorker: w, of: context.workerCount)
        var timer = PhaseTimer(engine: engine, worker: w)
        engine.transposeWeights(worker: w)
        for s in mine { engine.forwardPreactivation(shard: s, worker: w) }
        timer.lap(.forward)
        exchangePoint(.moments, w, context, &timer)
        engine.combineBatchStatistics(worker: w)
        timer.lap(.batchNormSync)
        for s in mine { engine.outputLayer(shard: s, worker: w, &timer) }
        exchangePoint(.batchNorm, w, context, &timer)
        if w == 0 {
            losses[completed] = engine.loss
            completed += 1
            if drawNext, let sampleNext {
                sampleNext()
                timer.restart()  // the draw is the caller's time (bench reports it apart), not a phase's
            }
        }
        engine.combineBatchNormGradients(worker: w)
        timer.lap(.batchNormSync)
        for s in mine { engine.backwardHidden(shard: s, worker: w) }
        timer.lap(.backward)
        exchangePoint(.gradients, w, context, &timer)
        // Reduce: one stage per node, in node order (see StepEngine+Reduce.swift).
        let nodes = engine.replicas.count
        let myNode = engine.replicas.workerNode[w]
        let team = engine.replicas.nodes[myNode].workers
        engine.sliceFinite[w] = true
        for k in 0..<nodes {
            if k == myNode {
                let slice = engine.parameterSlice(worker: w - team.lowerBound, of: team.count)
                let finite = engine.reduce(stage: k, slice: slice, learningRate: learningRate)
                if k == nodes - 1 { engine.sliceFinite[w] = finite }
            }
            if k < nodes - 1 {
                timer.lap(.reduceUpdate)
                context.barrier.wait()
                timer.lap(.barrierWait)
            }
        }
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
    var last: UInt64

    @inline(__always)
    init(engine: StepEngine, worker: Int) {
        counters = engine.profiling ? engine.phaseNanos + worker * StepPhase.allCases.count : nil
        last = counters == nil ? 0 : monotonicNanos()
    }

    @inline(__always)
    mutating func restart() {
        if counters != nil { last = monotonicNanos() }
    }

    @inline(__always)
    mutating func lap(_ phase: StepPhase) {
        guard let counters else { return }
        let now = monotonicNanos()
        counters[phase.rawValue] &+= now &- last
        last = now
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
        let diverged = !allSlicesFinite || !losses[task.completed - 1].isFinite
        return (task.completed, diverged)
    }

    var allSlicesFinite: Bool {
        for w in 0..<workerCount where !sliceFinite[w] { return false }
        return true
    }

    /// Nanoseconds per phase of `worker` since profiling was last reset.
    public func phaseTime(worker: Int, _ phase: StepPhase) -> UInt64 {
        phaseNanos[worker * StepPhase.allCases.count + phase.rawValue]
    }

    public func resetPhaseTimes() {
        phaseNanos.update(repeating: 0, count: workerCount * StepPhase.allCases.count)
    }
}
