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

    /// Phase 3, tile by tile (see `rowTile`), for a shard that does not fold:
    /// dhprebn from dhpre (into tile scratch), db1, dW1 += embᵀ·dhprebn with
    /// emb gathered again, demb = dhprebn·W1ᵀ and dC from demb: two products
    /// with r·K·Hp multiply-adds each.
    ///
    /// A folding shard has nothing left to do here (see "the folded backward"
    /// below): phase 2 added its rows' dhpre into its token sums, and the
    /// step's finish turns every folding shard's sums into dW1, dC and db1 at
    /// once. Its own dW1, dC and db1 stay the zeros they started as (the first
    /// folding shard's get the step's). Which way a shard goes depends on its
    /// rows and the shape only, so on the batch size and shard count.
    func backwardHidden(shard index: Int, worker w: Int) {
        let sh = workspace.shards[index]
        guard !folds(rows: sh.rows) else { return }
        let ws = workspace.workers[w]
        let node = node(of: w)
        let (B, E, K, Kp, Hp) = (shape.blockSize, shape.nEmbd, shape.inputWidth, shape.inputPadded, shape.hiddenPadded)
        let dC = sh.grads + layout.C
        dC.update(repeating: 0, count: paddedTo16(shape.vocabSize * E))
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
            let emb = gatherEmbeddings(rows, worker: w)
            kernels.gemm(m: K, n: Hp, k: r, a: emb, aRow: 1, aCol: Kp, b: dhprebn, ldb: Hp,
                         c: sh.grads + layout.W1, ldc: Hp, start: start > 0 ? .accumulate : .zero, tile: plan[.inputWeightGrad])
            kernels.gemm(m: r, n: Kp, k: Hp, a: dhprebn, aRow: Hp, aCol: 1,
                         b: node.w1T, ldb: Kp, c: demb, ldc: Kp, start: .zero, tile: plan[.embeddingGrad])
            embeddingScatterAdd(grad: demb, ldg: Kp, dim: E, indices: context, rows: r, perRow: B, table: dC)
            start += r
        }
    }

    // MARK: the folded backward, once per step
    //
    // Row i's context (x₀ … x_{B−1}) enters hprebn as Σⱼ C[xⱼ]·W1ⱼ (W1ⱼ: rows
    // j·E ..< (j+1)·E), so with Sⱼ[v] = Σ of dhprebn over the folding rows
    // with xⱼ = v, dW1ⱼ = Cᵀ·Sⱼ, dC[v] = Σⱼ Sⱼ[v]·W1ⱼᵀ and db1 = Σ_v S₀[v].
    // And Sⱼ needs no pass over the rows after phase 2: BatchNorm's backward
    // is, per column, dhprebn = coefDh·dhpre + coefBias + coefRaw·bnraw with
    // coefficients the same for every row, so summed over a group of rows
    //
    //   Sⱼ[v] = coefDh·Dⱼ[v] + cⱼ[v]·coefBias + coefRaw·rstd·(Aⱼ[v] − cⱼ[v]·mean)
    //
    // with Dⱼ[v] the group's Σ dhpre (the token sums each folding shard adds
    // up in phase 2), cⱼ[v] its rows and Aⱼ[v] its Σ hprebn. Aⱼ comes from
    // the token tables: Aⱼ[v] = Σ_b Σ_u Nⱼ[v, (b, u)]·T_b[u], Nⱼ counting the
    // folding rows with xⱼ = v and x_b = u: one product of V × B·V × Hp per
    // position, in place of a third pass over every row (hprebn made again,
    // BatchNorm's backward, db1's sums, and dhprebn added into S).
    //
    // In three parts (any worker may take any piece; each part waits for the
    // one before): Aⱼ per position; the shards' D summed in shard order and
    // turned into S; then dW1ⱼ [E × Hp] = Cᵀ·Sⱼ per position and dC [V × E]
    // = S·W1S with db1 (S's rows read as B·Hp long, W1S the positions' W1ⱼᵀ
    // stacked, `w1S`), into the first folding shard's dW1, dC and db1, which
    // the reducer then adds to the other shards' (zeros, or a shard's own
    // where it does not fold). S·W1S runs over Vp rows, S's padding rows
    // being zeros: with V rows the last one fell to a one-row tile, one
    // latency-bound chain of B·Hp FMAs. The counts are exact, and what each
    // output adds, and in which order, depends only on the shards: the same
    // bits for any thread count.

    /// Pieces of part 0 (after `countFoldedPairs`): one per position.
    var foldedActivationParts: Int { foldsAnyShard ? shape.blockSize : 0 }

    /// Pieces of part 1: ranges of S's V·B rows.
    var tokenSumChunks: Int { min(shape.vocabSize * shape.blockSize, 2 * workerCount) }

    /// Pieces of part 2: one product per position, and dC with db1.
    var foldedGradientParts: Int { shape.blockSize + 1 }

    /// Every position's pair counts Nⱼ from the folding rows' contexts
    /// (`batchX`, complete from phase 1 on), as Floats for the products: one
    /// piece, after phase 1 (B² integer increments a row; counted in Float,
    /// the adds' latency made it 2.5 times as long).
    func countFoldedPairs() {
        guard let f = workspace.foldedSums else { return }
        let (V, B) = (shape.vocabSize, shape.blockSize)
        let (row, block) = (B * V, V * B * V)  // Nⱼ's row length, and Nⱼ's size
        let tally = f.pairTallies
        tally.update(repeating: 0, count: B * block)
        for s in 0..<shardCount where folds(rows: workspace.shards[s].rows) {
            let sh = workspace.shards[s]
            let x = batchX.base + sh.rowStart * B
            if B == 3 {  // the default: straight-line, each row's context loaded once
                @inline(__always) func add(_ r: UnsafeMutablePointer<Int32>, _ a: Int, _ b: Int, _ c: Int) {
                    r[a] &+= 1
                    r[V + b] &+= 1
                    r[2 * V + c] &+= 1
                }
                for i in 0..<sh.rows {
                    let (a, b, c) = (Int(x[3 * i]), Int(x[3 * i + 1]), Int(x[3 * i + 2]))
                    add(tally + a * row, a, b, c)
                    add(tally + block + b * row, a, b, c)
                    add(tally + 2 * block + c * row, a, b, c)
                }
            } else {
                for i in 0..<sh.rows {
                    let context = x + i * B
                    for j in 0..<B {
                        let r = tally + j * block + Int(context[j]) * row
                        for b in 0..<B { r[b * V + Int(context[b])] &+= 1 }
                    }
                }
            }
        }
        for i in 0..<(B * block) { f.pairCounts[i] = Float(tally[i]) }  // exact: at most the batch size
    }

    /// Part 0, position `j`: Aⱼ = Nⱼ·[T₀; …; T_{B−1}] from worker w's token
    /// tables (rows b·V + u, in column blocks: one product per block).
    func sumFoldedActivations(position j: Int, worker w: Int) {
        guard let f = workspace.foldedSums else { return }
        let (V, B, Hp) = (shape.vocabSize, shape.blockSize, shape.hiddenPadded)
        let counts = f.pairCounts + j * V * B * V
        let tables = workspace.workers[w].tokenTables
        var c0 = 0
        while c0 < Hp {
            let width = ColumnBlocks.width(at: c0, cols: Hp)
            kernels.gemm(m: V, n: width, k: B * V, a: counts, aRow: B * V, aCol: 1, b: tables + c0 * V * B, ldb: width,
                         c: f.activations + j * Hp + c0, ldc: B * Hp, start: .zero, tile: plan[.preactivation])
            c0 += width
        }
    }

    /// Part 1, piece `c` of `tokenSumChunks`: for the rows (v, j) of this
    /// piece, D = ((D₀ + D₁) + D₂) + … in shard order and S from it, with
    /// worker w's BatchNorm statistics and coefficients; and each shard's D
    /// set back to zeros for the next step's phase 2 while its lines are here
    /// (a memset of them in phase 2 would fetch them again).
    func sumTokenSums(chunk c: Int, worker w: Int) {
        guard let f = workspace.foldedSums else { return }
        let ws = workspace.workers[w]
        let (V, B, Hp, n) = (shape.vocabSize, shape.blockSize, shape.hiddenPadded, tokenSumChunks)
        let rows = V * B
        let piece = (c * rows / n)..<((c + 1) * rows / n)
        let stride = rows * Hp
        // The shards' D are in column blocks (`ColumnBlocks`), S row-major for
        // the products: this piece's rows, block by block.
        var c0 = 0
        while c0 < Hp {
            let width = ColumnBlocks.width(at: c0, cols: Hp)
            let block = f.shards + c0 * rows
            for row in piece {
                let (v, j) = (row / B, row % B)
                let count = Vec(repeating: f.pairCounts[(j * V + v) * B * V + j * V + v])  // Nⱼ[v, (j, v)]: the rows with xⱼ = v
                let first = block + row * width, total = f.total + row * Hp + c0, sums = f.activations + row * Hp + c0
                var c = 0
                while c < width {
                    var sum = load(first + c)
                    store(Vec(), first + c)
                    for s in 1..<shardCount {
                        sum += load(first + s * stride + c)
                        store(Vec(), first + s * stride + c)
                    }
                    let k = c0 + c
                    var raw = load(sums + c)
                    raw.addProduct(-count, load(ws.mean + k))
                    var g = count * load(ws.coefBias + k)
                    g.addProduct(load(ws.coefDh + k), sum)
                    g.addProduct(load(ws.coefRaw + k), raw * load(ws.rstd + k))
                    store(g, total + c)
                    c += vecWidth
                }
            }
            c0 += width
        }
    }

    /// Part 2, piece `part` of `foldedGradientParts`: dW1ⱼ for part j < B, dC and db1 for part B.
    func finishFoldedEmbeddingGradient(part: Int, worker w: Int) {
        guard let f = workspace.foldedSums else { return }
        let node = node(of: w)
        let (V, B, E, Ep, Hp) = (shape.vocabSize, shape.blockSize, shape.nEmbd, shape.embdPadded, shape.hiddenPadded)
        let grads = workspace.shards[f.firstShard].grads
        if part < B {
            kernels.gemm(m: E, n: Hp, k: V, a: node.params + layout.C, aRow: 1, aCol: E, b: f.total + part * Hp, ldb: B * Hp,
                         c: grads + layout.W1 + part * E * Hp, ldc: Hp, start: .zero, tile: plan[.inputWeightGrad])
            return
        }
        kernels.gemm(m: shape.vocabPadded, n: Ep, k: B * Hp, a: f.total, aRow: B * Hp, aCol: 1, b: node.w1S, ldb: Ep,
                     c: f.dCPadded, ldc: Ep, start: .zero, tile: plan[.embeddingGrad])
        let dC = grads + layout.C
        for v in 0..<V { (dC + v * E).update(from: f.dCPadded + v * Ep, count: E) }
        // Every folding row is in exactly one S₀[v].
        kernels.columnSums(f.total, rows: V, cols: Hp, ld: B * Hp, into: grads + layout.b1, continuing: false)
    }

    /// All three parts on one worker (the single-threaded step).
    func finishFoldedEmbeddingGradient(worker w: Int) {
        countFoldedPairs()
        for j in 0..<foldedActivationParts { sumFoldedActivations(position: j, worker: w) }
        for c in 0..<tokenSumChunks { sumTokenSums(chunk: c, worker: w) }
        for p in 0..<foldedGradientParts { finishFoldedEmbeddingGradient(part: p, worker: w) }
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
