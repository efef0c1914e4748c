import KernelSupport
import Kernels

// The folded backward, once per step (shards of `ModelShape.foldingRows` rows
// or more; StepEngine+Hidden.swift has the per-row backward of the others).
//
// Row i's context (x₀ … x_{B−1}) enters hprebn as Σⱼ C[xⱼ]·W1ⱼ (W1ⱼ: rows
// j·E ..< (j+1)·E), so with Sⱼ[v] = Σ of dhprebn over the folding rows
// with xⱼ = v, dW1ⱼ = Cᵀ·Sⱼ and dC[v] = Σⱼ Sⱼ[v]·W1ⱼᵀ. Each folding shard
// adds its rows into token sums of its own; once a step they are summed
// and turned into dW1 and dC. Two ways to get Sⱼ (`foldsBatchNorm`):
//
// * rows: each folding shard's phase 3 runs BatchNorm's backward row by row
//   and adds dhprebn into its token sums (and sums its own db1);
// * folded too, at larger batches: Sⱼ needs no pass over the rows after
//   phase 2. BatchNorm's backward is, per column, dhprebn = coefDh·dhpre +
//   coefBias + coefRaw·bnraw with coefficients the same for every row, so
//   summed over a group of rows
//
//     Sⱼ[v] = coefDh·Dⱼ[v] + cⱼ[v]·coefBias + coefRaw·rstd·(Aⱼ[v] − cⱼ[v]·mean)
//
//   with Dⱼ[v] the group's Σ dhpre (the token sums each folding shard adds
//   up in phase 2), cⱼ[v] its rows and Aⱼ[v] its Σ hprebn. Aⱼ comes from
//   the token tables: Aⱼ[v] = Σ_b Σ_u Nⱼ[v, (b, u)]·T_b[u], Nⱼ counting the
//   folding rows with xⱼ = v and x_b = u: one product of V × B·V × Hp per
//   position, in place of the third pass over every row; and db1 = Σ_v S₀[v].
//   Those products cost the same at any batch size, hence the rule.
//
// In three parts (any worker may take any piece; each part waits for the
// one before): Aⱼ per position (folded BatchNorm only); the shards' sums
// added in shard order (and turned into S); then dW1ⱼ [E × Hp] = Cᵀ·Sⱼ per
// position and dC [V × E] = S·W1S (with db1 where BatchNorm folds; S's rows
// read as B·Hp long, W1S the positions' W1ⱼᵀ stacked, `w1S`), into the first
// folding shard's dW1, dC and db1, which the reducer then adds to the other
// shards' (zeros, or a shard's own where it does not fold). S·W1S runs over
// Vp rows, S's padding rows being zeros: with V rows the last one fell to a
// one-row tile, one latency-bound chain of B·Hp FMAs. The counts are exact,
// and what each output adds, and in which order, depends only on the
// shards: the same bits for any thread count.

extension StepEngine {
    /// Pieces of part 0 (after `countFoldedPairs`): one per position.
    var foldedActivationParts: Int { foldsBatchNorm ? shape.blockSize : 0 }

    /// Pieces of part 1: ranges of S's V·B rows.
    var tokenSumChunks: Int { min(shape.vocabSize * shape.blockSize, 2 * workerCount) }

    /// Pieces of part 2: one product per position, and dC (with db1).
    var foldedGradientParts: Int { shape.blockSize + 1 }

    /// Every position's pair counts Nⱼ from the folding rows' contexts
    /// (`batchX`, complete from phase 1 on), as Floats for the products: one
    /// piece, after phase 1 (B² integer increments a row; counted in Float,
    /// the adds' latency made it 2.5 times as long).
    func countFoldedPairs() {
        guard let bn = workspace.foldedSums?.batchNorm else { return }
        let (V, B) = (shape.vocabSize, shape.blockSize)
        let (row, block) = (B * V, V * B * V)  // Nⱼ's row length, and Nⱼ's size
        let tally = bn.pairTallies
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
        for i in 0..<(B * block) { bn.pairCounts[i] = Float(tally[i]) }  // exact: at most the batch size
    }

    /// Part 0, position `j`: Aⱼ = Nⱼ·[T₀; …; T_{B−1}] from worker w's token
    /// tables (rows b·V + u, in column blocks: one product per block).
    func sumFoldedActivations(position j: Int, worker w: Int) {
        guard let bn = workspace.foldedSums?.batchNorm else { return }
        let (V, B, Hp) = (shape.vocabSize, shape.blockSize, shape.hiddenPadded)
        let counts = bn.pairCounts + j * V * B * V
        let tables = workspace.workers[w].tokenTables
        var c0 = 0
        while c0 < Hp {
            let width = ColumnBlocks.width(at: c0, cols: Hp)
            kernels.gemm(m: V, n: width, k: B * V, a: counts, aRow: B * V, aCol: 1, b: tables + c0 * V * B, ldb: width,
                         c: bn.activations + j * Hp + c0, ldc: B * Hp, start: .zero, tile: plan[.preactivation])
            c0 += width
        }
    }

    /// Part 1, piece `c` of `tokenSumChunks`: for the rows (v, j) of this
    /// piece, D = ((D₀ + D₁) + D₂) + … in shard order and S from it, with
    /// worker w's BatchNorm statistics and coefficients where BatchNorm folds
    /// (otherwise D is S: the shards added dhprebn); and each shard's D
    /// set back to zeros for the next step's phase 2 while its lines are here
    /// (a memset of them in phase 2 would fetch them again).
    func sumTokenSums(chunk c: Int, worker w: Int) {
        guard let f = workspace.foldedSums else { return }
        let (ws, bn) = (workspace.workers[w], f.batchNorm)
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
                let first = block + row * width, total = f.total + row * Hp + c0
                // Where BatchNorm folds: Nⱼ[v, (j, v)], the rows with xⱼ = v, and their Σ hprebn.
                let folded = bn.map { (count: Vec(repeating: $0.pairCounts[(j * V + v) * B * V + j * V + v]),
                                       sums: $0.activations + row * Hp + c0) }
                var c = 0
                while c < width {
                    var sum = load(first + c)
                    store(Vec(), first + c)
                    for s in 1..<shardCount {
                        sum += load(first + s * stride + c)
                        store(Vec(), first + s * stride + c)
                    }
                    if let folded {
                        let k = c0 + c
                        var raw = load(folded.sums + c)
                        raw.addProduct(-folded.count, load(ws.mean + k))
                        var g = folded.count * load(ws.coefBias + k)
                        g.addProduct(load(ws.coefDh + k), sum)
                        g.addProduct(load(ws.coefRaw + k), raw * load(ws.rstd + k))
                        store(g, total + c)
                    } else {
                        store(sum, total + c)  // the shards added dhprebn itself
                    }
                    c += vecWidth
                }
            }
            c0 += width
        }
    }

    /// Part 2, piece `part` of `foldedGradientParts`: dW1ⱼ for part j < B, dC (and db1) for part B.
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
        // Every folding row is in exactly one S₀[v]. (Otherwise each shard summed its own db1 in phase 3.)
        if foldsBatchNorm {
            kernels.columnSums(f.total, rows: V, cols: Hp, ld: B * Hp, into: grads + layout.b1, continuing: false)
        }
    }

    /// All three parts on one worker (the single-threaded step).
    func finishFoldedEmbeddingGradient(worker w: Int) {
        countFoldedPairs()
        for j in 0..<foldedActivationParts { sumFoldedActivations(position: j, worker: w) }
        for c in 0..<tokenSumChunks { sumTokenSums(chunk: c, worker: w) }
        for p in 0..<foldedGradientParts { finishFoldedEmbeddingGradient(part: p, worker: w) }
    }
}
