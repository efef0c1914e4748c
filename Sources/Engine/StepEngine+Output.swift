import KernelSupport
import Kernels

// The output layer: tanh → linear → softmax cross-entropy, forward and
// backward side by side. Shapes: h/dh [r×Hp], W2 [Hp×Vp], logits [r×Vp].
//
// Phases 2 and 3 go through a shard in row tiles (`rowTile`) so that a
// tile's activations stay in the L2 cache whatever the batch: forward and
// backward of one tile, then the next. Every sum over rows (dW2, db2, the BN
// partial sums, the token sums, dW1, db1) continues its chain from one tile to the next in
// row order, and phase 1's moments go in 16-row blocks, so the tiling
// changes no parameter bit. What one tile alone needs (h, logits/dlogits,
// demb, dhprebn) goes to the worker's tile scratch, which
// the next tile overwrites while it is still in the cache; only hprebn and dh,
// read again in phase 3 where a shard does not fold, are kept for the whole shard.

extension StepEngine {
    /// Rows per tile: about 256 KiB of the tile's activations (hprebn, h, dh,
    /// logits, emb, demb), a multiple of 16. A function of the shape only.
    public static func rowTile(_ shape: ModelShape) -> Int {
        let bytesPerRow = 4 * (3 * shape.hiddenPadded + shape.vocabPadded + 2 * shape.inputPadded)
        return max(16, (256 * 1024 / bytesPerRow) & ~15)
    }

    /// The tile actually used: at most the largest shard's rows, so a
    /// small batch's tile scratch is no bigger than its shards.
    static func tileRows(_ tile: Int, batchSize n: Int, shards S: Int) -> Int { min(tile, largestShardRows(n, shards: S)) }

    /// The shard a worker takes as its `item`-th of phase 2 from a block of
    /// shards: the block's last first. Phase 1 ends on the block's last shards
    /// and phase 3 starts on its first, so each phase starts on the shards
    /// whose activations the one before left in the L2 or L3 (what a phase
    /// touched first is what the caches dropped first). Who computes a
    /// shard, and when, changes none of its bits.
    @inline(__always)
    static func outputShard(_ item: Int, of block: Range<Int>) -> Int { block.upperBound - 1 - item }

    /// Phase 2 on one shard, tile by tile; the shard's summed loss goes to `shardLoss`.
    func outputLayer(shard index: Int, worker w: Int, _ timer: inout PhaseTimer) {
        let rows = workspace.shards[index].rows
        var loss = 0.0
        var start = 0
        while start < rows {
            let tile = start..<min(rows, start + rowTile)
            let act = preactivation(shard: index, rows: tile, worker: w)
            loss += forwardOutput(shard: index, worker: w, rows: tile, act: act)
            timer.lap(.forward)
            backwardOutput(shard: index, worker: w, rows: tile, act: act)
            timer.lap(.backward)
            start = tile.upperBound
        }
        workspace.shardLoss[index] = loss
    }

    /// Forward on `rows` of the shard (at most `rowTile`): BN normalize and tanh,
    /// logits = h·W2 + b2, and dlogits = (softmax − onehot)/n over the logits,
    /// h and dlogits into the worker's tile scratch. Returns the rows' summed loss.
    func forwardOutput(shard index: Int, worker w: Int, rows: Range<Int>, act: UnsafePointer<Float>) -> Double {
        let sh = workspace.shards[index]
        let ws = workspace.workers[w]
        let params = node(of: w).params
        let (Hp, Vp, r) = (shape.hiddenPadded, shape.vocabPadded, rows.count)
        let (h, logits) = (ws.h, ws.logits)
        kernels.batchNormTanhForward(act: act, h: h, rows: r, cols: Hp,
                                     mean: ws.mean, rstd: ws.rstd, gain: params + layout.bngain, bias: params + layout.bnbias)
        kernels.gemm(m: r, n: Vp, k: Hp, a: h, aRow: Hp, aCol: 1,
                     b: params + layout.W2, ldb: Vp, c: logits, ldc: Vp, start: .bias(params + layout.b2),
                     tile: plan[.logits])
        return kernels.softmaxCrossEntropy(
            logits: logits, rows: r, valid: shape.vocabSize, ld: Vp,
            targets: batchY.base + sh.rowStart + rows.lowerBound, scale: 1 / Float(batchSize))
    }

    /// Backward on `rows` of the shard: dW2 += hᵀ·dlogits, db2, dh = dlogits·W2ᵀ,
    /// dhpre = (1 − h²)·dh, and the shard's partial dbnbias = Σdhpre and
    /// dbngain = Σ dhpre·bnraw, kept where the shard's gradient holds them;
    /// where the step folds BatchNorm's backward (`foldsBatchNorm`), a folding
    /// shard also adds each row's dhpre into its token sums, all the rest of
    /// its backward needs (`backwardHidden`).
    func backwardOutput(shard index: Int, worker w: Int, rows: Range<Int>, act: UnsafePointer<Float>) {
        let sh = workspace.shards[index]
        let ws = workspace.workers[w]
        let node = node(of: w)
        let (Hp, Vp, r) = (shape.hiddenPadded, shape.vocabPadded, rows.count)
        let addsTokenSums = sh.tokenSums != nil && foldsBatchNorm && folds(rows: sh.rows)
        let (h, logits) = (ws.h, ws.logits)
        let dh = addsTokenSums ? ws.dhTile : sh.dh + rows.lowerBound * Hp
        let continuing = rows.lowerBound > 0
        kernels.gemm(m: Hp, n: Vp, k: r, a: h, aRow: 1, aCol: Hp, b: logits, ldb: Vp,
                     c: sh.grads + layout.W2, ldc: Vp, start: continuing ? .accumulate : .zero, tile: plan[.outputWeightGrad])
        kernels.columnSums(logits, rows: r, cols: Vp, ld: Vp, into: sh.grads + layout.b2, continuing: continuing)
        // k = V, not Vp: dlogits' padding columns are zeros, which would only add ±0.
        kernels.gemm(m: r, n: Hp, k: shape.vocabSize, a: logits, aRow: Vp, aCol: 1,
                     b: node.w2T, ldb: Hp, c: dh, ldc: Hp, start: .zero, tile: plan[.hiddenGrad])
        kernels.tanhBackward(dh: dh, h: h, act: act, rows: r, cols: Hp, mean: ws.mean, rstd: ws.rstd,
                             sumD: sh.grads + layout.bnbias, sumDRaw: sh.grads + layout.bngain, continuing: continuing)
        if addsTokenSums, let sums = sh.tokenSums {
            kernels.embeddingRowSums(dh, count: r, cols: Hp, indices: batchX.base + (sh.rowStart + rows.lowerBound) * shape.blockSize,
                                     vocab: shape.vocabSize, perRow: shape.blockSize, sums: sums)
        }
    }
}
