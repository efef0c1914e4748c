import KernelSupport
import Kernels

// The output layer: tanh → linear → softmax cross-entropy, forward and
// backward side by side. Shapes: h/dh [r×Hp], W2 [Hp×Vp], logits [r×Vp].

extension StepEngine {
    /// Phase 2, forward: BN normalize and tanh, logits = h·W2 + b2, the shard's
    /// summed loss, and dlogits = (softmax − onehot)/n over the logits.
    func forwardOutput(shard index: Int, worker w: Int) {
        normalizeAndActivate(shard: index, worker: w)
        let sh = workspace.shards[index]
        let params = node(of: w).params
        let (Hp, Vp) = (shape.hiddenPadded, shape.vocabPadded)
        kernels.gemm(m: sh.rows, n: Vp, k: Hp, a: sh.h, aRow: Hp, aCol: 1,
                     b: params + layout.W2, ldb: Vp, c: sh.logits, ldc: Vp, start: .bias(params + layout.b2),
                     tile: plan[.logits])
        workspace.shardLoss[index] = kernels.softmaxCrossEntropy(
            logits: sh.logits, rows: sh.rows, valid: shape.vocabSize, ld: Vp,
            targets: batchY.base + sh.rowStart, scale: 1 / Float(batchSize))
    }

    /// Phase 2, backward: dW2 = hᵀ·dlogits, db2, dh = dlogits·W2ᵀ,
    /// dhpre = (1 − h²)·dh, and the shard's partial dbnbias = Σdhpre and
    /// dbngain = Σ dhpre·bnraw, written where the shard's gradient keeps them.
    func backwardOutput(shard index: Int, worker w: Int) {
        let sh = workspace.shards[index]
        let node = node(of: w)
        let (Hp, Vp) = (shape.hiddenPadded, shape.vocabPadded)
        kernels.gemm(m: Hp, n: Vp, k: sh.rows, a: sh.h, aRow: 1, aCol: Hp,
                     b: sh.logits, ldb: Vp, c: sh.grads + layout.W2, ldc: Vp, start: .zero, tile: plan[.outputWeightGrad])
        kernels.columnSums(sh.logits, rows: sh.rows, cols: Vp, ld: Vp, into: sh.grads + layout.b2)
        kernels.gemm(m: sh.rows, n: Hp, k: Vp, a: sh.logits, aRow: Vp, aCol: 1,
                     b: node.w2T, ldb: Hp, c: sh.dh, ldc: Hp, start: .zero, tile: plan[.hiddenGrad])
        kernels.tanhBackward(dh: sh.dh, h: sh.h, bnraw: sh.act, rows: sh.rows, cols: Hp,
                             sumD: sh.grads + layout.bnbias, sumDRaw: sh.grads + layout.bngain)
    }
}
