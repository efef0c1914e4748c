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
    var emb: UnsafeMutablePointer<Float>      // [r × Kp]  gathered embeddings
    var act: UnsafeMutablePointer<Float>      // [r × Hp]  hprebn, then bnraw
    var h: UnsafeMutablePointer<Float>        // [r × Hp]  tanh output
    var logits: UnsafeMutablePointer<Float>   // [r × Vp]  logits, then dlogits
    var dh: UnsafeMutablePointer<Float>       // [r × Hp]  dh → dhpre → dhprebn
    var demb: UnsafeMutablePointer<Float>     // [r × Kp]
    var grads: UnsafeMutablePointer<Float>    // [P]       this shard's gradient, same layout as the parameters
                                              //           (all shards' gradients are one block, P apart)
    var mean: UnsafeMutablePointer<Float>     // [Hp]      BN partial statistics of the shard's rows
    var m2: UnsafeMutablePointer<Float>       // [Hp]      (right after mean: one piece to exchange)
}

/// What each worker computes for itself between barriers: the combined BN
/// statistics and coefficients. Every worker derives the same numbers from the
/// same shard partials in the same order, so no one has to broadcast them.
struct WorkerScratch {
    var mean: UnsafeMutablePointer<Float>     // [Hp] batch mean
    var m2: UnsafeMutablePointer<Float>       // [Hp] Σ(x−mean)², then the Bessel variance
    var rstd: UnsafeMutablePointer<Float>     // [Hp] (var + eps)^−½
    var coefDh: UnsafeMutablePointer<Float>   // [Hp] dhprebn = coefDh·dhpre + coefBias + coefRaw·bnraw
    var coefBias: UnsafeMutablePointer<Float> // [Hp]
    var coefRaw: UnsafeMutablePointer<Float>  // [Hp]
}

/// Row range of shard `s` of `S` over `n` rows: sizes differ by at most one.
@inline(__always)
func shardBounds(_ s: Int, of shards: Int, rows n: Int) -> Range<Int> {
    (s * n / shards)..<((s + 1) * n / shards)
}

/// Owns the memory of all shards and worker scratch for a batch size.
final class Workspace {
    let shards: UnsafeMutablePointer<Shard>
    let shardCount: Int
    let workers: UnsafeMutablePointer<WorkerScratch>
    let workerCount: Int
    /// The S shard gradients, P floats apart, shard order: what the reducer sums.
    let shardGrads: UnsafeMutablePointer<Float>
    /// Σ of the per-row losses of each shard.
    let shardLoss: UnsafeMutablePointer<Double>
    private let arena: AlignedBuffer<Float>

    init(layout: ParameterLayout, batchSize n: Int, shards S: Int, workers T: Int) {
        let s = layout.shape
        let (Hp, Kp, Vp) = (s.hiddenPadded, s.inputPadded, s.vocabPadded)
        func plan(_ carve: inout Carver<Float>) -> ([Shard], [WorkerScratch], UnsafeMutablePointer<Float>) {
            let gradBlock = carve.take(S * layout.count)
            var shards = [Shard]()
            for i in 0..<S {
                let b = shardBounds(i, of: S, rows: n)
                let r = b.count
                shards.append(Shard(
                    rowStart: b.lowerBound, rows: r,
                    emb: carve.take(r * Kp), act: carve.take(r * Hp), h: carve.take(r * Hp),
                    logits: carve.take(r * Vp), dh: carve.take(r * Hp), demb: carve.take(r * Kp),
                    grads: gradBlock + i * layout.count, mean: carve.take(Hp), m2: carve.take(Hp)))
            }
            var workers = [WorkerScratch]()
            for _ in 0..<T {
                workers.append(WorkerScratch(
                    mean: carve.take(Hp), m2: carve.take(Hp), rstd: carve.take(Hp),
                    coefDh: carve.take(Hp), coefBias: carve.take(Hp), coefRaw: carve.take(Hp)))
            }
            return (shards, workers, gradBlock)
        }
        var counter = Carver<Float>()
        _ = plan(&counter)
        arena = AlignedBuffer(count: counter.used)
        var carver = Carver(arena)
        let (shardList, workerList, gradBlock) = plan(&carver)
        shardGrads = gradBlock
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
    static func bytes(layout: ParameterLayout, batchSize n: Int, shards S: Int, workers T: Int) -> Double {
        let s = layout.shape
        let (Hp, Kp, Vp) = (Double(s.hiddenPadded), Double(s.inputPadded), Double(s.vocabPadded))
        // Per shard: emb, demb [r×Kp], act, h, dh [r×Hp], logits [r×Vp] (rows are whole
        // vectors, so the r-row takes need no rounding), mean and m2 [Hp]; the gradients [P].
        let perRow = 2 * Kp + 3 * Hp + Vp
        let floats = Double(n) * perRow + Double(S) * (Double(layout.count) + 2 * Hp) + Double(T) * 6 * Hp
        return 4 * floats + Double(S) * Double(MemoryLayout<Shard>.stride + MemoryLayout<Double>.stride)
            + Double(T) * Double(MemoryLayout<WorkerScratch>.stride)
    }

    deinit {
        shardLoss.deallocate()
        shards.deallocate()
        workers.deallocate()
    }
}
