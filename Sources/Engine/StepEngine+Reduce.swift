import KernelSupport
import Kernels

// The reducer: per-shard gradients summed in shard order, then SGD.
//
// A slice is a 16-aligned range of the flat parameter vector. The vector is
// cut into `reduceChunks` slices that the workers claim one at a time (a
// reduce-scatter with dynamic slices), so no two workers write the same
// memory, a slow worker reduces fewer chunks, and the sum for every element
// is ((g₀ + g₁) + g₂) + … whoever computes it.
// With several nodes the sum runs in stages, node by node: stage 0 sums node
// 0's (consecutive) home shards, then stage 1 adds node 1's home shards to
// that partial, and so on, with a barrier between stages; the last stage
// applies SGD and writes the new values into every node's replica. Every
// worker claims chunks in every stage (a worker of another node reads the
// stage's shard gradients remotely rather than wait at the barrier). The
// result is the same fold as on one node, so it is bit-identical whatever
// the thread or node count; the finite check is that of the last stage,
// AND-ed over its chunks and then over the workers.

extension StepEngine {
    /// Stage `k` on `slice`: gradient[slice] (= the partial of the nodes
    /// before k, if k > 0) += node k's shards, in shard order. On the last
    /// stage and with a learning rate, params[slice] −= lr·(that sum) instead,
    /// copied to every replica, and gradient[slice] is not written. Returns
    /// whether the sum was all finite (meaningful on the last stage).
    @discardableResult
    func reduce(stage k: Int, slice: Range<Int>, learningRate lr: Float?) -> Bool {
        guard !slice.isEmpty else { return true }
        let at = slice.lowerBound
        let shards = replicas.count == 1 ? 0..<shardCount : replicas.nodes[k].reduceShards
        let last = k == replicas.count - 1
        let update = last && lr != nil
        func sum(_ part: Range<Int>, shards count: Int) -> Bool {
            part.isEmpty || reduceShards(workspace.shardGrads + shards.lowerBound * layout.count + part.lowerBound,
                                         stride: layout.count, count: count, continuing: k > 0,
                                         into: grad + part.lowerBound, length: part.count,
                                         update: update ? params + part.lowerBound : nil, lr: lr ?? 0)
        }
        // Below `zeroGradientsEnd` every shard's gradient is zeros but shard 0's: the fold adds
        // them as x + 0, and (x + 0) + 0 is x + 0, so one zero shard gives the same bits as all.
        let split = min(max(at, zeroGradientsEnd), slice.upperBound)
        let folded = sum(at..<split, shards: min(shards.count, k == 0 ? 2 : 1))
        let finite = sum(split..<slice.upperBound, shards: shards.count) && folded
        if update { replicas.broadcast(slice: slice) }
        return finite
    }

    /// Where every shard folds, the step's dC, dW1 (and, where BatchNorm folds, db1) go into
    /// the first shard's gradient (StepEngine+FoldedBackward.swift) and the other shards'
    /// stay zeros: the reducer reads one of them, not all (at 32 shards, 31 · 2210 floats
    /// a step at H 64, 31 · 8226 at H 256). C, W1 and b1 lead the parameter vector.
    var zeroGradientsEnd: Int {
        guard let f = workspace.foldedSums, f.allShardsFold else { return 0 }
        return foldsBatchNorm ? layout.bngain : layout.b1
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

    /// The 16-aligned slice `w` of `T` of the parameter vector (a reduce chunk).
    public func parameterSlice(worker w: Int, of T: Int) -> Range<Int> {
        let vectors = layout.count / vecWidth
        return (w * vectors / T * vecWidth)..<((w + 1) * vectors / T * vecWidth)
    }
}
