import Foundation
import Kernels
import Parallel

/// Where a worker's time goes in a step, for `makemore bench`. Indices into
/// `StepEngine.phaseNanos` (per worker, accumulated while `profiling` is on).
public enum StepPhase: Int, CaseIterable {
    case forward, backward, batchNormSync, reduceUpdate, barrierWait
}

/// One training step as a pool task: worker w runs its block of shards
/// (`shardRange`) and, in the reduce stage of its node, a slice of the
/// parameter vector.
final class ParallelStep: PoolTask {
    unowned(unsafe) let engine: StepEngine
    var learningRate: Float = 0
    var momentum: Float = 0

    init(engine: StepEngine) { self.engine = engine }

    func run(worker w: Int, context: PoolContext) {
        let mine = engine.shards(ofWorker: w, of: context.workerCount)
        var timer = PhaseTimer(engine: engine, worker: w)
        engine.transposeWeights(worker: w)
        for s in mine { engine.forwardPreactivation(shard: s, worker: w) }
        timer.lap(.forward)
        exchangePoint(.moments, w, context, &timer)
        engine.combineBatchStatistics(worker: w)
        timer.lap(.batchNormSync)
        for s in mine { engine.forwardOutput(shard: s, worker: w) }
        timer.lap(.forward)
        for s in mine { engine.backwardOutput(shard: s, worker: w) }
        timer.lap(.backward)
        exchangePoint(.batchNorm, w, context, &timer)
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
    mutating func lap(_ phase: StepPhase) {
        guard let counters else { return }
        let now = monotonicNanos()
        counters[phase.rawValue] &+= now &- last
        last = now
    }
}

@inline(__always)
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

extension StepEngine {
    /// One SGD step on `pool`, which must have `workerCount` workers.
    /// Returns false if the loss or any gradient element was NaN or infinite:
    /// the caller stops the run and keeps its last good checkpoint.
    public func step(on pool: WorkerPool, learningRate: Float, momentum: Float) -> Bool {
        precondition(pool.placements.count == workerCount)
        parallelStep.learningRate = learningRate
        parallelStep.momentum = momentum
        pool.run(parallelStep)
        for w in 0..<workerCount where !sliceFinite[w] { return false }
        return loss.isFinite
    }

    /// Nanoseconds per phase of `worker` since profiling was last reset.
    public func phaseTime(worker: Int, _ phase: StepPhase) -> UInt64 {
        phaseNanos[worker * StepPhase.allCases.count + phase.rawValue]
    }

    public func resetPhaseTimes() {
        phaseNanos.update(repeating: 0, count: workerCount * StepPhase.allCases.count)
    }
}
