/// The tensors of the makemore MLP under the reference notebook's names: the one
/// list from which the flat parameter layout, a checkpoint's names and
/// shapes, and the reference model's gradients are all derived.
public enum ModelTensor: String, CaseIterable, Sendable {
    case C, W1, b1, W2, b2, bngain, bnbias
    case bnmeanRunning = "bnmean_running", bnvarRunning = "bnvar_running"

    /// The tensors SGD trains, which live in the flat parameter vector; the
    /// running statistics are updated by the forward pass and sit apart.
    public static let trained: [ModelTensor] = [.C, .W1, .b1, .W2, .b2, .bngain, .bnbias]

    public var name: String { rawValue }
    public var isTrained: Bool { self != .bnmeanRunning && self != .bnvarRunning }

    /// The unpadded shape, as PyTorch holds it.
    public func shape(_ s: ModelShape) -> [Int] {
        switch self {
        case .C: return [s.vocabSize, s.nEmbd]
        case .W1: return [s.inputWidth, s.nHidden]
        case .W2: return [s.nHidden, s.vocabSize]
        case .b2: return [s.vocabSize]
        case .b1, .bngain, .bnbias, .bnmeanRunning, .bnvarRunning: return [s.nHidden]
        }
    }

    /// Elements of the unpadded tensor.
    public func count(_ s: ModelShape) -> Int { shape(s).reduce(1, *) }

    /// Rows in storage: W2 has a zero row for each padding unit of the
    /// hidden layer, so dh = dlogits·W2ᵀ comes out padded too.
    public func storageRows(_ s: ModelShape) -> Int {
        switch self {
        case .C: return s.vocabSize
        case .W1: return s.inputWidth
        case .W2: return s.hiddenPadded
        case .b1, .b2, .bngain, .bnbias, .bnmeanRunning, .bnvarRunning: return 1
        }
    }

    /// Floats from one row to the next in storage: the last dimension padded
    /// to whole vectors (C keeps E: its rows are gathered, never vectorized across).
    public func rowStride(_ s: ModelShape) -> Int {
        switch self {
        case .C: return s.nEmbd
        case .W2, .b2: return s.vocabPadded
        case .W1, .b1, .bngain, .bnbias, .bnmeanRunning, .bnvarRunning: return s.hiddenPadded
        }
    }
}
