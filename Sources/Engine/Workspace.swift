import KernelSupport
import Kernels

/// Activations and gradients of one shard: a fixed block of batch rows.
///
/// The batch of n rows is cut into S shards by `shardBounds`; which shard a
/// row belongs to, and the order in which shard results are summed, depend
/// only on n and S — never on how many threads run them. That is what makes
/// a run on T threads bit-identical to a run on one.
///
/// All pointers are views into `Workspace`'s arena (structs of raw pointers:
/// no reference counting in the step). Shapes, r = rows of this shard:
struct Shard {
    var rowStart: Int
    var rows: Int
    var act: UnsafeMutablePointer<Float>?     // [r × Hp]  hprebn; phases 2 and 3 only read it (bnraw is recomputed).
                                              //           nil: a folding shard that sums it again (`StepEngine.preactivation`)
    var dh: UnsafeMutablePointer<Float>       // [r × Hp]  dh → dhpre, which phase 3 reads; no rows where the shard folds and so
                                              //           does BatchNorm's backward: there a tile's dhpre goes into the token
                                              //           sums at once, from the worker's `dhTile`
    var grads: UnsafeMutablePointer<Float>    // [P]       this shard's gradient, same layout as the parameters
                                              //           (all shards' gradients are one block, P apart)
    var tokenSums: UnsafeMutablePointer<Float>? // [V·B × Hp] in column blocks: a folding shard's Σ dhpre per (token, position);
                                              //           every shard has them (zeros if it does not fold) when some shard folds
    var mean: UnsafeMutablePointer<Float>     // [Hp]      BN partial statistics of the shard's rows
    var m2: UnsafeMutablePointer<Float>       // [Hp]      (right after mean: one piece to exchange)
}

/// What each worker computes for itself between barriers: the combined BN
/// statistics and coefficients. Every worker derives the same numbers from the
/// same shard partials in the same order, so no one has to broadcast them.
///
/// And the activations that live only within one row tile of phase 2 or 3
/// (emb, h, logits, demb, dhprebn): one tile's worth per worker, rewritten tile after tile,
/// so they stay in the worker's cache instead of being written back to
/// memory for every row of the batch.
struct WorkerScratch {
    var mean: UnsafeMutablePointer<Float>     // [Hp] batch mean
    var m2: UnsafeMutablePointer<Float>       // [Hp] Σ(x−mean)², then the Bessel variance
    var rstd: UnsafeMutablePointer<Float>     // [Hp] (var + eps)^−½
    var coefDh: UnsafeMutablePointer<Float>   // [Hp] dhprebn = coefDh·dhpre + coefBias + coefRaw·bnraw
    var coefBias: UnsafeMutablePointer<Float> // [Hp]
    var coefRaw: UnsafeMutablePointer<Float>  // [Hp]
    var h: UnsafeMutablePointer<Float>        // [t × Hp]  tanh output of the tile (t = tile rows)
    var logits: UnsafeMutablePointer<Float>   // [t × Vp]  its logits, then dlogits
    var emb: UnsafeMutablePointer<Float>      // [t × Kp]  its gathered embeddings (phases 1 and 3 gather them)
    var demb: UnsafeMutablePointer<Float>     // [t × Kp]  its embedding gradient
    var tokenTables: UnsafeMutablePointer<Float> // [B·V × Hp] in column blocks: phase 1's Tⱼ = C·W1ⱼ (T₀ with b1) for folding shards
    var actTile: UnsafeMutablePointer<Float>   // [max(t, 16) × Hp] a folding shard's hprebn of one tile, summed again in each phase
    var dhTile: UnsafeMutablePointer<Float>    // [t × Hp] a tile's dh → dhpre where its shard folds BatchNorm's backward too
                                               // (no rows otherwise): made and summed while it is in the cache, where the
                                               // shards' dh (4 MiB at batch 4096, H 256) would go out to memory and back

    /// Phase 3's dhprebn of the tile [t × Hp], in `h`'s memory: h is needed
    /// only within phase 2's tile.
    var dhprebn: UnsafeMutablePointer<Float> { h }
}

/// Where the step sums its folding shards' token sums and turns them into dW1
/// and dC (`StepEngine.finishFoldedEmbeddingGradient`).
struct FoldedSums {
    let shards: UnsafeMutablePointer<Float>   // [S × V·B × Hp] every shard's token sums of dhpre (column blocks), shard order
    let total: UnsafeMutablePointer<Float>    // [Vp × B × Hp] the step's token sums of dhprebn, row-major (padding rows stay 0)
    let dCPadded: UnsafeMutablePointer<Float> // [Vp × Ep] dC before its padding is dropped
    let firstShard: Int                       // the folding shard whose dW1, dC and db1 slots get the step's folded ones
    let allShardsFold: Bool                   // then the other shards' dW1 and dC (and, with BatchNorm folded, db1) stay zeros
    /// What folding BatchNorm's backward adds, where the step does
    /// (`StepEngine.foldsBatchNorm`; B²·V² floats and as many integers, 18 MB at V 500).
    let batchNorm: FoldedBatchNorm?
}

/// The folded BatchNorm backward's buffers (StepEngine+FoldedBackward.swift).
struct FoldedBatchNorm {
    let activations: UnsafeMutablePointer<Float> // [V × B × Hp] Σ hprebn per (token, position), row-major like `total`
    let pairCounts: UnsafeMutablePointer<Float>  // [B × V × B·V] per position j: rows with xⱼ = v and x_b = u, at (v, b·V + u)
    let pairTallies: UnsafeMutablePointer<Int32> // the same, counted as integers (`StepEngine.countFoldedPairs`)
}

/// Row range of shard `s` of `S` over `n` rows: sizes differ by at most one.
@inline(__always)
func shardBounds(_ s: Int, of shards: Int, rows n: Int) -> Range<Int> {
    (s * n / shards)..<((s + 1) * n / shards)
}

/// The rows of the largest of `shards` shards of `n` rows, ⌈n/S⌉ (`shardBounds`
/// gives each ⌊n/S⌋ or one more). Whether a shard folds depends on its rows
/// only, and more rows fold sooner, so some shard folds exactly when this one does.
public func largestShardRows(_ n: Int, shards: Int) -> Int { (n + shards - 1) / shards }

/// Owns the memory of all shards and worker scratch for a batch size and
/// row tile (`tileRows`: the most rows a worker's tile scratch holds).
final class Workspace {
    let shards: UnsafeMutablePointer<Shard>
    let shardCount: Int
    let workers: UnsafeMutablePointer<WorkerScratch>
    let workerCount: Int
    /// The S shard gradients, P floats apart, shard order: what the reducer sums.
    let shardGrads: UnsafeMutablePointer<Float>
    /// The folded embedding gradient's buffers, when some shard folds.
    let foldedSums: FoldedSums?
    /// Σ of the per-row losses of each shard.
    let shardLoss: UnsafeMutablePointer<Double>
    private let arena: AlignedBuffer<Float>
    /// What `init` allocated, counted as `bytes` counts it (tests compare the two).
    let allocatedBytes: Int

    /// `folds`: which shards fold their embedding products, by their rows;
    /// `recomputes`: folding shards keep no hprebn (`StepEngine.recomputesPreactivation`);
    /// `foldsBatchNorm`: the step folds BatchNorm's backward (`StepEngine.foldsBatchNorm`):
    /// `FoldedSums.batchNorm` is there exactly then.
    init(layout: ParameterLayout, batchSize n: Int, shards S: Int, workers T: Int, tileRows t: Int,
         folds: (Int) -> Bool, recomputes: Bool, foldsBatchNorm: Bool) {
        let s = layout.shape
        let (Hp, Kp, Vp) = (s.hiddenPadded, s.inputPadded, s.vocabPadded)
        let (V, B, Ep) = (s.vocabSize, s.blockSize, s.embdPadded)
        let anyFolds = folds(largestShardRows(n, shards: S))
        let pairs = anyFolds && foldsBatchNorm ? B * V * B * V : 0
        let tallies = pairs > 0 ? UnsafeMutablePointer<Int32>.allocate(capacity: pairs) : nil
        func keepsDh(_ r: Int) -> Bool { !(folds(r) && foldsBatchNorm) }
        func plan(_ carve: inout Carver<Float>) -> ([Shard], [WorkerScratch], UnsafeMutablePointer<Float>, FoldedSums?) {
            let gradBlock = carve.take(S * layout.count)
            let sumBlock = anyFolds ? carve.take(S * s.tokenSumFloats) : nil
            var shards = [Shard]()
            for i in 0..<S {
                let b = shardBounds(i, of: S, rows: n)
                let r = b.count
                shards.append(Shard(
                    rowStart: b.lowerBound, rows: r,
                    act: recomputes && folds(r) ? nil : carve.take(r * Hp), dh: carve.take(keepsDh(r) ? r * Hp : 0),
                    grads: gradBlock + i * layout.count, tokenSums: sumBlock.map { $0 + i * s.tokenSumFloats },
                    mean: carve.take(Hp), m2: carve.take(Hp)))
            }
            var workers = [WorkerScratch]()
            for _ in 0..<T {
                workers.append(WorkerScratch(
                    mean: carve.take(Hp), m2: carve.take(Hp), rstd: carve.take(Hp),
                    coefDh: carve.take(Hp), coefBias: carve.take(Hp), coefRaw: carve.take(Hp),
                    h: carve.take(t * Hp), logits: carve.take(t * Vp), emb: carve.take(t * Kp), demb: carve.take(t * Kp),
                    tokenTables: carve.take(anyFolds ? V * B * Hp : 0), actTile: carve.take(max(t, 16) * Hp),
                    dhTile: carve.take(anyFolds && foldsBatchNorm ? t * Hp : 0)))
            }
            let sums = sumBlock.map {
                FoldedSums(shards: $0, total: carve.take(Vp * B * Hp), dCPadded: carve.take(Vp * Ep),
                           firstShard: (0..<S).first { folds(shardBounds($0, of: S, rows: n).count) } ?? 0,
                           allShardsFold: (0..<S).allSatisfy { folds(shardBounds($0, of: S, rows: n).count) },
                           batchNorm: tallies.map {
                               FoldedBatchNorm(activations: carve.take(V * B * Hp), pairCounts: carve.take(pairs), pairTallies: $0)
                           })
            }
            return (shards, workers, gradBlock, sums)
        }
        var counter = Carver<Float>()
        _ = plan(&counter)
        arena = AlignedBuffer(count: counter.used)
        var carver = Carver(arena)
        let (shardList, workerList, gradBlock, sums) = plan(&carver)
        shardGrads = gradBlock
        allocatedBytes = 4 * (counter.used + pairs) + S * (MemoryLayout<Shard>.stride + MemoryLayout<Double>.stride)
            + T * MemoryLayout<WorkerScratch>.stride
        foldedSums = sums
        shardCount = S
        workerCount = T
        shardLoss = .allocate(capacity: S)
        shardLoss.initialize(repeating: 0, count: S)
        shards = .allocate(capacity: S)
        shards.initialize(from: shardList, count: S)
        workers = .allocate(capacity: T)
        workers.initialize(from: workerList, count: T)
    }

    /// Bytes `init` allocates, counted the way its plan carves them (every
    /// take rounded up to 16 floats), in floating point so that absurd sizes
    /// are refused instead of overflowing.
    static func bytes(layout: ParameterLayout, batchSize n: Int, shards S: Int, workers T: Int, tileRows t: Int,
                      folds: (Int) -> Bool, recomputes: Bool, foldsBatchNorm: Bool) -> Double {
        let s = layout.shape
        let (Hp, Kp, Vp) = (Double(s.hiddenPadded), Double(s.inputPadded), Double(s.vocabPadded))
        // Per shard: act (unless it folds and recomputes), dh [r×Hp] (unless
        // it folds and so does BatchNorm's backward; rows are whole vectors,
        // so the r-row takes need no rounding), mean and m2 [Hp]; the gradients [P].
        // Per worker: 6 vectors [Hp], h, logits, emb, demb of t rows, the
        // token tables when some shard folds, a tile of hprebn (whole
        // vectors: no rounding) and one of dhpre where BatchNorm folds too.
        // Shards have n/S rows, n % S of them one more.
        func arrays(_ r: Int) -> Double { (recomputes && folds(r) ? 0 : 1) + (folds(r) && foldsBatchNorm ? 0 : 1) }
        let (small, large) = (Double(S - n % S), Double(n % S))
        let activations = Hp * (small * Double(n / S) * arrays(n / S) + large * Double(n / S + 1) * arrays(n / S + 1))
        let (V, B, Ep) = (Double(s.vocabSize), Double(s.blockSize), Double(s.embdPadded))
        let anyFolds = folds(largestShardRows(n, shards: S))
        let tables = anyFolds ? V * B * Hp : 0
        let dhTile = anyFolds && foldsBatchNorm ? Double(t) * Hp : 0
        let perWorker = 6 * Hp + Double(t) * (Hp + Vp + 2 * Kp) + tables + Double(max(t, 16)) * Hp + dhTile
        // When some shard folds: every shard's token sums, their total and dC;
        // where BatchNorm folds too, the activations' sums and the pair counts
        // (as Float and as the Int32 tallies, allocated apart).
        let pairCount = B * V * B * V
        let pairs = anyFolds && foldsBatchNorm ? 16 * (pairCount / 16).rounded(.up) + pairCount + V * B * Hp : 0
        let sums = anyFolds ? Double(S) * V * B * Hp + Vp * B * Hp + Vp * Ep + pairs : 0
        let floats = activations + Double(S) * (Double(layout.count) + 2 * Hp) + Double(T) * perWorker + sums
        return 4 * floats + Double(S) * Double(MemoryLayout<Shard>.stride + MemoryLayout<Double>.stride)
            + Double(T) * Double(MemoryLayout<WorkerScratch>.stride)
    }

    deinit {
        foldedSums?.batchNorm?.pairTallies.deallocate()
        shardLoss.deallocate()
        shards.deallocate()
        workers.deallocate()
    }
}
