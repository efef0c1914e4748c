import KernelSupport
import Kernels

/// The sizes of the makemore MLP.
///
/// Shape legend used in comments throughout the model:
///   n = batch rows, V = vocabulary, E = n_embd, B = block_size,
///   K = B·E (the concatenated context), H = n_hidden.
/// Vp, Kp, Hp are V, K, H rounded up to 16 so every row is whole SIMD16
/// vectors; the padding columns hold zero parameters and get zero gradients,
/// so they never change (ParameterTests checks this).
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
        func region(_ n: Int) -> Int { defer { at += paddedTo16(n) }; return at }
        C = region(s.vocabSize * s.nEmbd)
        W1 = region(s.inputWidth * s.hiddenPadded)
        b1 = region(s.hiddenPadded)
        bngain = region(s.hiddenPadded)
        bnbias = region(s.hiddenPadded)
        W2 = region(s.hiddenPadded * s.vocabPadded)
        b2 = region(s.vocabPadded)
        count = at
    }

    /// The trained tensors under the seed notebook's names, with their
    /// unpadded shapes and where they sit in the flat vector (offset, padded row length).
    public var tensors: [(name: String, shape: [Int], offset: Int, ld: Int)] {
        let s = shape
        return [
            ("C", [s.vocabSize, s.nEmbd], C, s.nEmbd),
            ("W1", [s.inputWidth, s.nHidden], W1, s.hiddenPadded),
            ("b1", [s.nHidden], b1, s.hiddenPadded),
            ("W2", [s.nHidden, s.vocabSize], W2, s.vocabPadded),
            ("b2", [s.vocabSize], b2, s.vocabPadded),
            ("bngain", [s.nHidden], bngain, s.hiddenPadded),
            ("bnbias", [s.nHidden], bnbias, s.hiddenPadded),
        ]
    }
}
