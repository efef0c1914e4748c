import KernelSupport
import Kernels

/// The sizes of the makemore MLP.
///
/// Shape legend used in comments throughout the model:
///   n = batch rows, V = vocabulary, E = n_embd, B = block_size,
///   K = B·E (the concatenated context), H = n_hidden.
/// Vp, Kp, Hp are V, K, H rounded up to 16 so every row is whole SIMD16
/// vectors; the padding columns hold zero parameters and get zero gradients,
/// so they never change (ParameterLayoutTests checks this).
public struct ModelShape: Equatable, Sendable {
    public var vocabSize: Int
    public var blockSize: Int
    public var nEmbd: Int
    public var nHidden: Int

    public init(vocabSize: Int, blockSize: Int, nEmbd: Int, nHidden: Int) {
        self.vocabSize = vocabSize
        self.blockSize = blockSize
        self.nEmbd = nEmbd
        self.nHidden = nHidden
    }

    public var inputWidth: Int { blockSize * nEmbd }        // K
    public var inputPadded: Int { paddedTo16(inputWidth) }  // Kp
    public var hiddenPadded: Int { paddedTo16(nHidden) }    // Hp
    public var vocabPadded: Int { paddedTo16(vocabSize) }   // Vp
    public var embdPadded: Int { paddedTo16(nEmbd) }        // Ep

    /// Whether a shard of `rows` rows folds its embedding products: hprebn
    /// from token tables (`forwardPreactivation`), dW1 and dC from per-token
    /// sums of dhprebn (`backwardHidden`). The products that turn the sums
    /// into dW1 and dC cost V·B·Hp·(E + Ep) multiply-adds (once a step, for
    /// all the shards) against the 2·rows·K·Hp a shard's per-row products
    /// take, so a shard folds where it would pay for them alone: from 38 rows
    /// at the default sizes (V 29, E 10); the tables, V·K·Hp once a step, pay
    /// sooner. A function of the shape and the shard's rows alone, so of the
    /// batch size and the shard count, never of the threads.
    public func foldsEmbedding(rows: Int) -> Bool { rows >= foldingRows }

    /// The fewest rows a folding shard has: the least with 2·rows·E > V·(E + Ep).
    public var foldingRows: Int { vocabSize * (nEmbd + embdPadded) / (2 * nEmbd) + 1 }

    /// Whether a step whose folding shards have `foldingRows` rows in all
    /// folds BatchNorm's backward too (StepEngine+FoldedBackward.swift): Σ
    /// hprebn per token then comes from B products of V × B·V × Hp, once a
    /// step, in place of a third pass over every folding row (hprebn made
    /// again, BatchNorm's backward, db1 and the token sums, ~4 passes of Hp).
    /// The products' B²·V² multiply-adds per column do not shrink with the
    /// batch; on an Emerald Rapids Xeon the two ways took the same time at
    /// 1024 rows (default sizes), the folded one 16-32% longer at 128-256
    /// rows and 6% shorter at 4096. So from B²·V²/8 rows: 947 at V 29, B 3.
    /// Of the batch size and shard count only, never the threads.
    public func foldsBatchNorm(foldingRows rows: Int) -> Bool { 8 * rows >= blockSize * blockSize * vocabSize * vocabSize }

    /// Floats of a folding shard's token sums (V·B·Hp): what it adds to the
    /// gradients the ranks of a multi-process run exchange.
    public var tokenSumFloats: Int { vocabSize * blockSize * hiddenPadded }
}

/// Where each parameter lives in the flat parameter (and gradient) vector.
///
/// One flat vector lets SGD, the reducer and checkpoints treat all parameters
/// as a single array; each region starts on a 16-float boundary and has its
/// padded row length, so kernels see plain row-major matrices.
public struct ParameterLayout: Equatable, Sendable {
    public let shape: ModelShape
    public let C: Int        // [V × E]
    public let W1: Int       // [K × Hp]
    public let b1: Int       // [Hp]
    public let bngain: Int   // [Hp]
    public let bnbias: Int   // [Hp]
    public let W2: Int       // [Hp × Vp]
    public let b2: Int       // [Vp]
    public let count: Int    // total, a multiple of 16

    public init(_ s: ModelShape) {
        shape = s
        var at = 0
        func region(_ t: ModelTensor) -> Int {
            defer { at += paddedTo16(t.storageRows(s) * t.rowStride(s)) }
            return at
        }
        C = region(.C)
        W1 = region(.W1)
        b1 = region(.b1)
        bngain = region(.bngain)
        bnbias = region(.bnbias)
        W2 = region(.W2)
        b2 = region(.b2)
        count = at
    }

    /// Where a trained tensor starts in the flat vector.
    public func offset(_ t: ModelTensor) -> Int {
        switch t {
        case .C: return C
        case .W1: return W1
        case .b1: return b1
        case .bngain: return bngain
        case .bnbias: return bnbias
        case .W2: return W2
        case .b2: return b2
        case .bnmeanRunning, .bnvarRunning: fatalError("\(t.name) is not in the parameter vector")
        }
    }

    /// Elements of the trained tensors, padding left out.
    public var trainedCount: Int { ModelTensor.trained.reduce(0) { $0 + $1.count(shape) } }
}
