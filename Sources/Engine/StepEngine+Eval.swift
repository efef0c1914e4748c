import Foundation
import KernelSupport
import Kernels

// Eval mode: the forward pass with the running BatchNorm statistics, no
// backward. Reuses phase 1 and the forward half of phase 2 on shard 0, with
// worker 0's statistics replaced by the running ones.

extension StepEngine {
    /// Mean cross-entropy over `count` examples X [count × B], Y [count], in
    /// chunks of `batchSize` rows. Needs an engine with one shard and one worker.
    public func evaluate(x: UnsafePointer<Int32>, y: UnsafePointer<Int32>, count: Int) -> Double {
        evaluate(x: x, y: y, count: count, until: { false })!
    }

    /// `evaluate`, or nil as soon as `stop` says so (asked between chunks, so
    /// a signal is answered within one chunk of a long split).
    public func evaluate(x: UnsafePointer<Int32>, y: UnsafePointer<Int32>, count: Int, until stop: () -> Bool) -> Double? {
        precondition(shardCount == 1 && workerCount == 1 && replicas.nodes[0].examples == nil)
        guard count > 0 else { return .nan }
        let ws = workspace.workers[0]
        let Hp = shape.hiddenPadded
        let eps = Vec(repeating: StepEngine.bnEpsilon)
        var j = 0
        while j < Hp {
            store(load(model.runningMean.base + j), ws.mean + j)
            store(1 / (load(model.runningVar.base + j) + eps).squareRoot(), ws.rstd + j)
            j += vecWidth
        }
        computeTokenTables(worker: 0)
        let B = shape.blockSize
        let full = workspace.shards[0].rows
        defer { workspace.shards[0].rows = full }
        var total = 0.0
        var start = 0
        while start < count {
            if stop() { return nil }
            let rows = min(batchSize, count - start)
            workspace.shards[0].rows = rows
            batchX.base.update(from: x + start * B, count: rows * B)
            batchY.base.update(from: y + start, count: rows)
            forwardPreactivation(shard: 0, worker: 0)
            var first = 0
            while first < rows {  // forwardOutput takes at most a row tile (its h and logits scratch)
                let tile = first..<min(rows, first + rowTile)
                total += forwardOutput(shard: 0, worker: 0, rows: tile, act: preactivation(shard: 0, rows: tile, worker: 0))
                first = tile.upperBound
            }
            start += rows
        }
        return total / Double(count)
    }
}
