import Kernels
import Parallel

/// One training step as a pool task: worker w runs shards w, w+T, w+2T, …
/// and owns slice w of the parameter vector in the reduce + SGD phase.
final class ParallelStep: PoolTask {
    unowned(unsafe) let engine: StepEngine
    var learningRate: Float = 0
    var momentum: Float = 0

    init(engine: StepEngine) { self.engine = engine }

    func run(worker w: Int, context: PoolContext) {
        let T = context.workerCount, S = engine.shardCount
        var s = w
        while s < S { engine.forwardPreactivation(shard: s); s += T }
        context.barrier.wait()
        engine.combineBatchStatistics(worker: w)
        s = w
        while s < S { engine.forwardOutput(shard: s, worker: w); engine.backwardOutput(shard: s, worker: w); s += T }
        context.barrier.wait()
        engine.combineBatchNormGradients(worker: w)
        s = w
        while s < S { engine.backwardHidden(shard: s, worker: w); s += T }
        context.barrier.wait()
        let slice = engine.parameterSlice(worker: w, of: T)
        engine.reduce(slice: slice)
        engine.sliceFinite[w] = allFinite(engine.grad + slice.lowerBound, count: slice.count)
        engine.sgdUpdate(slice: slice, learningRate: learningRate)
        if w == 0 { engine.updateRunningStatistics(worker: 0, momentum: momentum) }
    }
}

extension StepEngine {
    /// One SGD step on `pool`, which must have `workerCount` workers.
    /// Returns false (and leaves the parameters updated with a bad gradient)
    /// if any gradient element was NaN or infinite: the caller stops the run
    /// and keeps its last good checkpoint.
    public func step(on pool: WorkerPool, learningRate: Float, momentum: Float) -> Bool {
        precondition(pool.placements.count == workerCount)
        parallelStep.learningRate = learningRate
        parallelStep.momentum = momentum
        pool.run(parallelStep)
        for w in 0..<workerCount where !sliceFinite[w] { return false }
        return loss.isFinite
    }
}
