import Kernels

// The reducer: per-shard gradients summed in shard order, then SGD.
//
// A slice is a 16-aligned range of the flat parameter vector; with T workers
// each one reduces and updates its own slice (a reduce-scatter), so no two
// workers write the same memory and the sum for every element is
// ((g₀ + g₁) + g₂) + … whatever T is.

extension StepEngine {
    /// gradient[slice] = Σ_s shard_s.grads[slice] in shard order; with a learning
    /// rate, also params[slice] −= lr·gradient[slice].
    /// Returns whether the slice's gradient was all finite.
    @discardableResult
    func reduce(slice: Range<Int>, learningRate lr: Float? = nil) -> Bool {
        guard !slice.isEmpty else { return true }
        let at = slice.lowerBound
        let finite = reduceShards(workspace.shardGrads + at, stride: layout.count, count: shardCount,
                                  into: grad + at, length: slice.count,
                                  update: lr == nil ? nil : params + at, lr: lr ?? 0)
        return finite
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
