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
    /// training data, if attached), their hprebn (`computePreactivation`)
    /// into the shard's `act`, or into tile scratch where the shard keeps
    /// none (`recomputesPreactivation`), and the shard's mean and M2 of hprebn.
    func forwardPreactivation(shard index: Int, worker w: Int) {
        let sh = workspace.shards[index]
        let Hp = shape.hiddenPadded
        // The moments read each tile of hprebn while it is still in the
        // cache. A tile ends on a 16-row block of the moments (or at the
        // shard's end), so the tile size never changes their bits.
        let tile = sh.rows <= rowTile ? sh.rows : max(16, rowTile & ~15)
        var start = 0
        while start < sh.rows {
            let rows = start..<min(sh.rows, start + tile)
            copyTrainingRows((sh.rowStart + rows.lowerBound)..<(sh.rowStart + rows.upperBound), worker: w)
            let act = sh.act.map { $0 + start * Hp } ?? workspace.workers[w].actTile
            computePreactivation(shard: index, rows: rows, worker: w, into: act)
            kernels.accumulateColumnMoments(act, rows: rows.count, cols: Hp, ld: Hp, merged: start, mean: sh.mean, m2: sh.m2)
            start = rows.upperBound
        }
    }

    /// hprebn of `rows` (shard-relative, at most a row tile) of shard
    /// `index`, for phases 2 and 3 and eval: from the shard's `act`, where
    /// phase 1 kept it, or else (`recomputesPreactivation`) computed again
    /// into the worker's tile scratch, the same way, so the same bits.
    func preactivation(shard index: Int, rows: Range<Int>, worker w: Int) -> UnsafeMutablePointer<Float> {
        if let act = workspace.shards[index].act { return act + rows.lowerBound * shape.hiddenPadded }
        let out = workspace.workers[w].actTile
        computePreactivation(shard: index, rows: rows, worker: w, into: out)
        return out
    }

    /// hprebn = emb·W1 + b1 of `rows` (shard-relative) of shard `index` into
    /// `out` [rows × Hp], with emb = C[X]. A folding shard
    /// (`ModelShape.foldsEmbedding`) sums rows of the worker's token tables
    /// instead, hprebn = Σⱼ Tⱼ[xⱼ] (`computeTokenTables`): row i's product
    /// emb·W1 is Σⱼ C[xⱼ]·W1ⱼ, and with V tokens there are only V·B different
    /// terms, so the product is done on the table, not the rows.
    private func computePreactivation(shard index: Int, rows: Range<Int>, worker w: Int, into out: UnsafeMutablePointer<Float>) {
        let sh = workspace.shards[index]
        let Hp = shape.hiddenPadded
        let batchRows = (sh.rowStart + rows.lowerBound)..<(sh.rowStart + rows.upperBound)
        if folds(rows: sh.rows) {
            kernels.tokenTableSums(workspace.workers[w].tokenTables, vocab: shape.vocabSize, cols: Hp,
                                   indices: batchX.base + batchRows.lowerBound * shape.blockSize, perRow: shape.blockSize,
                                   rows: rows.count, out: out, ldo: Hp)
        } else {
            let params = node(of: w).params
            kernels.gemm(m: rows.count, n: Hp, k: shape.inputWidth,
                         a: gatherEmbeddings(batchRows, worker: w), aRow: shape.inputPadded, aCol: 1,
                         b: params + layout.W1, ldb: Hp,
                         c: out, ldc: Hp, start: .bias(params + layout.b1), tile: plan[.preactivation])
        }
    }

    /// Worker w's token tables from its node's parameters, for the folding
    /// shards of this step's phase 1: Tⱼ [V × Hp] = C·W1ⱼ for each position
    /// j, T₀ starting from b1. Every worker makes its own (V·K·Hp
    /// multiply-adds: the product for V rows, where a folding shard has more
    /// than V), so no worker waits for another's; the same bits on every worker.
    func computeTokenTables(worker w: Int) {
        guard foldsAnyShard else { return }
        let params = node(of: w).params
        kernels.tokenTables(shape, C: params + layout.C, W1: params + layout.W1, b1: params + layout.b1,
                            into: workspace.workers[w].tokenTables, tile: plan[.preactivation])
    }

    /// X and Y of these batch rows from the examples `batchIndex` names, when
    /// training data is attached (otherwise the caller filled them).
    func copyTrainingRows(_ rows: Range<Int>, worker w: Int) {
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
    /// scratch (shards that do not fold). Phase 3 gathers again rather than keep emb per batch row: a
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

    /// Phase 3, tile by tile (see `rowTile`): dhprebn from dhpre (into tile
    /// scratch), db1, and then one of two ways (`foldsEmbedding`):
    ///
    /// * per row: dW1 += embᵀ·dhprebn with emb gathered again, demb =
    ///   dhprebn·W1ᵀ and dC from demb; two products with r·K·Hp multiply-adds each;
    /// * folded: each row's dhprebn added into the shard's token sums, which
    ///   the step turns into dW1 and dC once (StepEngine+FoldedBackward.swift).
    ///   Its own dW1 and dC stay the zeros they started as (the first folding
    ///   shard's get the step's).
    ///
    /// Where the step folds BatchNorm's backward too (`foldsBatchNorm`), a
    /// folding shard has nothing to do here: phase 2 added its rows' dhpre
    /// into its token sums, and the step's finish makes dW1, dC and db1 from
    /// them. Which way a shard goes depends on its rows, the batch and the
    /// shape only, so on the batch size and shard count, never the threads.
    func backwardHidden(shard index: Int, worker w: Int) {
        let sh = workspace.shards[index]
        let folded = folds(rows: sh.rows)
        guard !(folded && foldsBatchNorm) else { return }
        let ws = workspace.workers[w]
        let node = node(of: w)
        let (B, E, K, Kp, Hp) = (shape.blockSize, shape.nEmbd, shape.inputWidth, shape.inputPadded, shape.hiddenPadded)
        let dC = sh.grads + layout.C
        if !folded { dC.update(repeating: 0, count: paddedTo16(shape.vocabSize * E)) }
        var start = 0
        while start < sh.rows {
            let r = min(sh.rows - start, rowTile)
            let rows = (sh.rowStart + start)..<(sh.rowStart + start + r)
            let act = preactivation(shard: index, rows: start..<(start + r), worker: w)
            let (dhpre, dhprebn, demb) = (sh.dh + start * Hp, ws.dhprebn, ws.demb)
            kernels.batchNormBackward(dhpre: dhpre, act: act, dhprebn: dhprebn, rows: r, cols: Hp, mean: ws.mean, rstd: ws.rstd,
                                      coefDh: ws.coefDh, coefBias: ws.coefBias, coefRaw: ws.coefRaw)
            kernels.columnSums(dhprebn, rows: r, cols: Hp, ld: Hp, into: sh.grads + layout.b1, continuing: start > 0)
            let context = batchX.base + rows.lowerBound * B
            if folded {
                kernels.embeddingRowSums(dhprebn, count: r, cols: Hp, indices: context, vocab: shape.vocabSize, perRow: B,
                                         sums: sh.tokenSums!)
            } else {
                let emb = gatherEmbeddings(rows, worker: w)
                kernels.gemm(m: K, n: Hp, k: r, a: emb, aRow: 1, aCol: Kp, b: dhprebn, ldb: Hp,
                             c: sh.grads + layout.W1, ldc: Hp, start: start > 0 ? .accumulate : .zero, tile: plan[.inputWeightGrad])
                kernels.gemm(m: r, n: Kp, k: Hp, a: dhprebn, aRow: Hp, aCol: 1,
                             b: node.w1T, ldb: Kp, c: demb, ldc: Kp, start: .zero, tile: plan[.embeddingGrad])
                embeddingScatterAdd(grad: demb, ldg: Kp, dim: E, indices: context, rows: r, perRow: B, table: dC)
            }
            start += r
        }
    }

    /// W1ᵀ [Hp × Kp], W2ᵀ [Vp × Hp] and W1S [B·Hp × Ep] of the worker's
    /// node, for the dx = dy·Wᵀ products: each of the node's T workers writes its own block
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
        guard foldsAnyShard else { return }  // only folding shards read W1S; small shards' steps skip it
        let (B, E, Ep) = (shape.blockSize, shape.nEmbd, shape.embdPadded)
        for j in 0..<B {  // w1S's padding columns stay the zeros the buffer starts with
            transpose(rows: E, columns: (i * Hp / T)..<((i + 1) * Hp / T),
                      src: node.params + layout.W1 + j * E * Hp, lds: Hp, dst: node.w1S + j * Hp * Ep, ldd: Ep)
        }
    }
}
