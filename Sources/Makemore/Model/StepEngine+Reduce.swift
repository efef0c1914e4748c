import Kernels

// The reducer: per-shard gradients summed in shard order, then SGD.
//
// A slice is a 16-aligned range of the flat parameter vector; with T workers
// each one reduces and updates its own slice (a reduce-scatter), so no two
// workers write the same memory and the sum for every element is
// ((g₀ + g₁) + g₂) + … whatever T is.

extension StepEngine {
    /// gradient[slice] = Σ_s shard_s.grads[slice], in shard order.
    func reduce(slice: Range<Int>) {
        let count = slice.count
        guard count > 0 else { return }
        let dst = grad + slice.lowerBound
        copy(dst, workspace.shards[0].grads + slice.lowerBound, count: count)
        for s in 1..<shardCount {
            addInPlace(dst, workspace.shards[s].grads + slice.lowerBound, count: count)
        }
    }

    /// Reduce then p −= lr·g on the slice.
    func reduceAndUpdate(slice: Range<Int>, learningRate lr: Float) {
        reduce(slice: slice)
        sgdUpdate(slice: slice, learningRate: lr)
    }

    /// Returns whether the slice's gradient was all finite.
    @discardableResult
    func sgdUpdate(slice: Range<Int>, learningRate lr: Float) -> Bool {
        Kernels.sgdUpdate(params + slice.lowerBound, grad + slice.lowerBound, lr: lr, count: slice.count)
    }

    /// running ← (1 − m)·running + m·batch, for mean and (Bessel) variance;
    /// done once per step, by one worker.
    func updateRunningStatistics(worker w: Int, momentum m: Float) {
        let ws = workspace.workers[w]
        let keep = Vec(repeating: 1 - m), take = Vec(repeating: m)
        let mean = model.runningMean.base, variance = model.runningVar.base
        var j = 0
        while j < shape.hiddenPadded {
            store(keep * load(mean + j) + take * load(ws.mean + j), mean + j)
            store(keep * load(variance + j) + take * load(ws.m2 + j), variance + j)
            j += vecWidth
        }
    }

    /// The 16-aligned slice of the parameter vector that worker `w` of `T` owns.
    public func parameterSlice(worker w: Int, of T: Int) -> Range<Int> {
        let vectors = layout.count / vecWidth
        return (w * vectors / T * vecWidth)..<((w + 1) * vectors / T * vecWidth)
    }
}
