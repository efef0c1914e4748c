import KernelSupport
import Kernels

// The reducer: per-shard gradients summed in shard order, then SGD.
//
// A slice is a 16-aligned range of the flat parameter vector; the workers of
// a node each reduce their own slice (a reduce-scatter), so no two workers
// write the same memory and the sum for every element is ((g₀ + g₁) + g₂) + …
// With several nodes the sum runs in stages, node by node: node 0 sums its
// (consecutive) shards, then node 1 adds its shards to that partial, and so
// on; the last node applies SGD and writes the new values into every node's
// replica. Each stage reads mostly node-local shard gradients plus one
// partial, and the result is the same fold as on one node, so it is
// bit-identical whatever the thread or node count.

extension StepEngine {
    /// Stage `k` on `slice`: gradient[slice] (= the partial of the nodes
    /// before k, if k > 0) += node k's shards, in shard order. On the last
    /// stage and with a learning rate, also params[slice] −= lr·gradient[slice],
    /// copied to every replica. Returns whether the gradient was all finite
    /// (meaningful on the last stage).
    @discardableResult
    func reduce(stage k: Int, slice: Range<Int>, learningRate lr: Float?) -> Bool {
        guard !slice.isEmpty else { return true }
        let at = slice.lowerBound
        let shards = replicas.count == 1 ? 0..<shardCount : replicas.nodes[k].reduceShards
        let last = k == replicas.count - 1
        let finite = reduceShards(workspace.shardGrads + shards.lowerBound * layout.count + at,
                                  stride: layout.count, count: shards.count, continuing: k > 0,
                                  into: grad + at, length: slice.count,
                                  update: last && lr != nil ? params + at : nil, lr: lr ?? 0)
        if last && lr != nil { replicas.broadcast(slice: slice) }
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

    /// The 16-aligned slice of the parameter vector that worker `w` of `T` reduces.
    public func parameterSlice(worker w: Int, of T: Int) -> Range<Int> {
        let vectors = layout.count / vecWidth
        return (w * vectors / T * vecWidth)..<((w + 1) * vectors / T * vecWidth)
    }
}
