import Foundation
import KernelSupport

/// The six matrix products of a training step, named for what they compute.
/// Shapes per row tile of r rows (K = block·n_embd, padded Kp; H hidden, Hp; V vocabulary, Vp):
public enum StepProduct: Int, CaseIterable, Sendable {
    /// hprebn = emb·W1 + b1         m r,  n Hp, k K
    ///   folded: Tⱼ = C·W1ⱼ (+ b1)    m V,  n 64, k E, once per position j and column block (`ColumnBlocks`) a step
    case preactivation
    /// logits = h·W2 + b2           m r,  n Vp, k Hp
    case logits
    /// dW2 = hᵀ·dlogits             m Hp, n Vp, k r   (A transposed)
    case outputWeightGrad
    /// dh = dlogits·W2ᵀ             m r,  n Hp, k V   (dlogits' padding is zeros)
    case hiddenGrad
    /// dW1 = embᵀ·dhprebn           m K,  n Hp, k r   (A transposed)
    ///   folded (a shard of enough rows; see `backwardHidden`):
    ///   dW1ⱼ = Cᵀ·Sⱼ                 m E,  n Hp, k V   (A transposed), once per position j
    case inputWeightGrad
    /// demb = dhprebn·W1ᵀ           m r,  n Kp, k Hp
    ///   folded: dC = S·W1S           m Vp, n Ep, k B·Hp
    case embeddingGrad

    /// `name`, or what the product computes where a tile of `rows` rows folds
    /// (`folded`: whether it does, instead of `ModelShape.foldsEmbedding`).
    public func name(_ s: ModelShape, rows r: Int, folded: Bool? = nil) -> String {
        guard folded ?? s.foldsEmbedding(rows: r) else { return name }
        switch self {
        case .preactivation: return "C·W1ⱼ"
        case .inputWeightGrad: return "Cᵀ·S"
        case .embeddingGrad: return "S·W1S"
        default: return name
        }
    }

    public var name: String {
        switch self {
        case .preactivation: "emb·W1"
        case .logits: "h·W2"
        case .outputWeightGrad: "hᵀ·dlogits"
        case .hiddenGrad: "dlogits·W2ᵀ"
        case .inputWeightGrad: "embᵀ·dh"
        case .embeddingGrad: "dh·W1ᵀ"
        }
    }

    /// (m, n, k, A transposed) for a row tile of `rows` rows (of a shard of
    /// as many: a tile has fewer rows than its shard only when the shard has
    /// more than enough to fold); `folded` overrides `ModelShape.foldsEmbedding`.
    public func dimensions(_ s: ModelShape, rows r: Int, folded: Bool? = nil) -> (m: Int, n: Int, k: Int, transposedA: Bool) {
        if folded ?? s.foldsEmbedding(rows: r) {
            if self == .preactivation { return (s.vocabSize, ColumnBlocks.width(at: 0, cols: s.hiddenPadded), s.nEmbd, false) }
            if self == .inputWeightGrad { return (s.nEmbd, s.hiddenPadded, s.vocabSize, true) }
            if self == .embeddingGrad { return (s.vocabPadded, s.embdPadded, s.blockSize * s.hiddenPadded, false) }
        }
        return switch self {
        case .preactivation: (r, s.hiddenPadded, s.inputWidth, false)
        case .logits: (r, s.vocabPadded, s.hiddenPadded, false)
        case .outputWeightGrad: (s.hiddenPadded, s.vocabPadded, r, true)
        case .hiddenGrad: (r, s.hiddenPadded, s.vocabSize, false)
        case .inputWeightGrad: (s.inputWidth, s.hiddenPadded, r, true)
        case .embeddingGrad: (r, s.inputPadded, s.hiddenPadded, false)
        }
    }

    /// Multiply-adds × 2 over the unpadded sizes: what the model needs, not what the padding adds.
    public static func stepFlops(_ s: ModelShape, batch n: Int) -> Double {
        6 * Double(n) * Double(s.inputWidth * s.nHidden + s.nHidden * s.vocabSize)
    }
}

/// Which tile each product of a step uses: speed only, never the bits.
/// Fixed storage (no array): the engine reads it in every step, without reference counting.
public struct GemmPlan: Sendable {
    private var tiles: InlineArray<6, GemmTile>

    public init(_ tile: GemmTile) { tiles = InlineArray(repeating: tile) }

    public subscript(_ p: StepProduct) -> GemmTile {
        get { tiles[p.rawValue] }
        set { tiles[p.rawValue] = newValue }
    }
}
