import Foundation
import _KernelsShim
import KernelSupport
import Kernels

// The hidden layer: embedding → linear → synchronized BatchNorm, forward and
// backward side by side. Shapes: emb [t×Kp] (per tile), W1 [K×Hp], act/dh [r×Hp].
//
// BatchNorm uses the statistics of the whole batch (Bessel-corrected
// variance, as the notebook), so its forward needs the moments of every shard
// (combineBatchStatistics) and its backward two column sums over every shard
// (combineBatchNormGradients). The fused backward is the notebook's exercise 3:
//
//   dhprebn = g·r/n · (n·dhpre − Σ dhpre − n/(n−1) · bnraw · Σ(dhpre·bnraw))

extension StepEngine {
    // MARK: forward

    /// Phase 1, tile by tile: the tile's rows (from the node's copy of the
    /// training data, if attached); emb = C[X]; hprebn = emb·W1 + b1 (into
    /// `act`, which phases 2 and 3 only read); the shard's mean and M2 of hprebn.
    func forwardPreactivation(shard index: Int, worker w: Int) {
        let sh = workspace.shards[index]
        let params = node(of: w).params
        let Hp = shape.hiddenPadded
        // The moments read each tile of hprebn while it is still in the
        // cache. A tile ends on a 16-row block of the moments (or at the
        // shard's end), so the tile size never changes their bits.
        let tile = sh.rows <= rowTile ? sh.rows : max(16, rowTile & ~15)
        var start = 0
        while start < sh.rows {
            let r = min(sh.rows - start, tile)
            let rows = (sh.rowStart + start)..<(sh.rowStart + start + r)
            copyTrainingRows(rows, worker: w)
            let act = sh.act + start * Hp
            kernels.gemm(m: r, n: Hp, k: shape.inputWidth,
                         a: gatherEmbeddings(rows, worker: w), aRow: shape.inputPadded, aCol: 1,
                         b: params + layout.W1, ldb: Hp,
                         c: act, ldc: Hp, start: .bias(params + layout.b1), tile: plan[.preactivation])
            kernels.accumulateColumnMoments(act, rows: r, cols: Hp, ld: Hp, merged: start, mean: sh.mean, m2: sh.m2)
            start += r
        }
    }

    /// X and Y of these batch rows from the examples `batchIndex` names, when
    /// training data is attached (otherwise the caller filled them).
    private func copyTrainingRows(_ rows: Range<Int>, worker w: Int) {
        guard let examples = node(of: w).examples else { return }
        let B = shape.blockSize, stride = NodeReplicas.exampleStride(blockSize: B)
        let index = batchIndex.base
        // The rows are random: ask for the first 16 rows' lines at once, then
        // for row r+16's while copying row r, so the misses overlap (a batch
        // of 32 has shards of 16 rows).
        prefetchTrainingRows(rows.prefix(16), worker: w)
        for r in rows {
            if r + 16 < rows.upperBound { mm_prefetch(examples + Int(index[r + 16]) * stride) }
            let src = examples + Int(index[r]) * stride, dst = batchX.base + r * B
            for k in 0..<B { dst[k] = src[k] }  // B is ~3: a memmove call would cost more
            batchY.base[r] = src[B]
        }
    }

    /// Asks for the cache lines of the examples behind these batch rows in the
    /// copy of the training data worker `w` reads (nothing when none is attached).
    func prefetchTrainingRows(_ rows: Range<Int>, worker w: Int) {
        guard let examples = node(of: w).examples else { return }
        let stride = NodeReplicas.exampleStride(blockSize: shape.blockSize)
        for r in rows { mm_prefetch(examples + Int(batchIndex.base[r]) * stride) }
    }

    /// emb = C[X] for these batch rows [rows × Kp], into the worker's tile
    /// scratch. Phase 3 gathers again rather than keep emb per batch row: a
    /// gather from the table (in L1) costs less than reading a row back from
    /// memory at large batches, and the workspace needs Kp fewer floats a row.
    private func gatherEmbeddings(_ rows: Range<Int>, worker w: Int) -> UnsafeMutablePointer<Float> {
        let ws = workspace.workers[w]
        let B = shape.blockSize
        embeddingGather(table: node(of: w).params + layout.C, dim: shape.nEmbd,
                        indices: batchX.base + rows.lowerBound * B, rows: rows.count, perRow: B,
                        out: ws.emb, ldo: shape.inputPadded)
        return ws.emb
    }

    /// After barrier 1, on every worker: the batch mean, Bessel variance and
    /// (var+ε)^−½ from the shards' moments, merged in shard order.
    func combineBatchStatistics(worker w: Int) {
        let ws = workspace.workers[w]
        let Hp = shape.hiddenPadded
        let first = workspace.shards[0]
        copy(ws.mean, first.mean, count: Hp)
        copy(ws.m2, first.m2, count: Hp)
        var count = first.rows
        for s in 1..<shardCount {
            let sh = workspace.shards[s]
            combineMoments(countA: count, meanA: ws.mean, m2A: ws.m2,
                           countB: sh.rows, meanB: sh.mean, m2B: sh.m2, cols: Hp)
            count += sh.rows
        }
        let bessel = Vec(repeating: 1 / Float(batchSize - 1))
        let eps = Vec(repeating: StepEngine.bnEpsilon)
        var j = 0
        while j < Hp {
            let variance = load(ws.m2 + j) * bessel
            store(variance, ws.m2 + j)
            store(1 / (variance + eps).squareRoot(), ws.rstd + j)
            j += vecWidth
        }
    }

    // MARK: backward

    /// After barrier 2, on every worker: Σdhpre (= dbnbias) and Σ dhpre·bnraw
    /// (= dbngain) summed over shards in shard order, folded into three per-column
    /// coefficients so phase 3 is one FMA chain per element.
    func combineBatchNormGradients(worker w: Int) {
        let ws = workspace.workers[w]
        let params = node(of: w).params
        let Hp = shape.hiddenPadded
        let n = Float(batchSize)
        let invN = Vec(repeating: 1 / n), invN1 = Vec(repeating: 1 / (n - 1))
        var j = 0
        while j < Hp {
            var sumD = Vec(), sumDR = Vec()
            for s in 0..<shardCount {
                let g = workspace.shards[s].grads
                sumD += load(g + layout.bnbias + j)
                sumDR += load(g + layout.bngain + j)
            }
            let scale = load(params + layout.bngain + j) * load(ws.rstd + j)  // g·r
            store(scale, ws.coefDh + j)
            store(-scale * invN * sumD, ws.coefBias + j)
            store(-scale * invN1 * sumDR, ws.coefRaw + j)
            j += vecWidth
        }
    }

    /// Phase 3, tile by tile (see `rowTile`): emb gathered again, dhprebn from
    /// dhpre (into tile scratch), dW1 += embᵀ·dhprebn, db1, demb = dhprebn·W1ᵀ,
    /// and dC from demb.
    func backwardHidden(shard index: Int, worker w: Int) {
        let sh = workspace.shards[index]
        let ws = workspace.workers[w]
        let node = node(of: w)
        let (B, E, K, Kp, Hp) = (shape.blockSize, shape.nEmbd, shape.inputWidth, shape.inputPadded, shape.hiddenPadded)
        let dC = sh.grads + layout.C
        dC.update(repeating: 0, count: paddedTo16(shape.vocabSize * E))
        var start = 0
        while start < sh.rows {
            let r = min(sh.rows - start, rowTile)
            let emb = gatherEmbeddings((sh.rowStart + start)..<(sh.rowStart + start + r), worker: w)
            let (dhpre, act, dhprebn, demb) = (sh.dh + start * Hp, sh.act + start * Hp, ws.dhprebn, ws.demb)
            kernels.batchNormBackward(dhpre: dhpre, act: act, dhprebn: dhprebn, rows: r, cols: Hp, mean: ws.mean, rstd: ws.rstd,
                                      coefDh: ws.coefDh, coefBias: ws.coefBias, coefRaw: ws.coefRaw)
            kernels.gemm(m: K, n: Hp, k: r, a: emb, aRow: 1, aCol: Kp, b: dhprebn, ldb: Hp,
                         c: sh.grads + layout.W1, ldc: Hp, start: start > 0 ? .accumulate : .zero, tile: plan[.inputWeightGrad])
            kernels.columnSums(dhprebn, rows: r, cols: Hp, ld: Hp, into: sh.grads + layout.b1, continuing: start > 0)
            kernels.gemm(m: r, n: Kp, k: Hp, a: dhprebn, aRow: Hp, aCol: 1,
                         b: node.w1T, ldb: Kp, c: demb, ldc: Kp, start: .zero, tile: plan[.embeddingGrad])
            embeddingScatterAdd(grad: demb, ldg: Kp, dim: E,
                                indices: batchX.base + (sh.rowStart + start) * B, rows: r, perRow: B, table: dC)
            start += r
        }
    }

    /// W1ᵀ [Hp × Kp] and W2ᵀ [Vp × Hp] of the worker's node, for the
    /// dx = dy·Wᵀ products: each of the node's T workers writes its own block
    /// of rows, so the writes do not share cache lines. Done at the start of a
    /// step; the first use is after barrier 1.
    func transposeWeights(worker w: Int) {
        let node = node(of: w)
        let (i, T) = (w - node.workers.lowerBound, node.workers.count)
        let (K, Kp, Hp, Vp) = (shape.inputWidth, shape.inputPadded, shape.hiddenPadded, shape.vocabPadded)
        transpose(rows: K, columns: (i * Hp / T)..<((i + 1) * Hp / T),
                  src: node.params + layout.W1, lds: Hp, dst: node.w1T, ldd: Kp)
        transpose(rows: Hp, columns: (i * Vp / T)..<((i + 1) * Vp / T),
                  src: node.params + layout.W2, lds: Vp, dst: node.w2T, ldd: Hp)
    }
}
