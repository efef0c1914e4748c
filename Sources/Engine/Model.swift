import Foundation
import KernelSupport
import Kernels

/// The parameters of the makemore MLP and its BatchNorm running statistics.
///
/// All trained tensors live in one flat, padded vector (`ParameterLayout`);
/// the running statistics are not trained and sit apart. The class owns the
/// memory; the training step reads it through raw pointers.
public final class Model {
    public let shape: ModelShape
    public let layout: ParameterLayout
    public let parameters: AlignedBuffer<Float>
    public let runningMean: AlignedBuffer<Float>   // [Hp]
    public let runningVar: AlignedBuffer<Float>    // [Hp]

    /// All zeros; running variance 1 (the notebook's initial state).
    public init(shape: ModelShape) {
        self.shape = shape
        layout = ParameterLayout(shape)
        parameters = AlignedBuffer(count: layout.count)
        runningMean = AlignedBuffer(count: shape.hiddenPadded)
        runningVar = AlignedBuffer(count: shape.hiddenPadded)
        for j in 0..<shape.nHidden { runningVar.base[j] = 1 }
    }

    /// The notebook's initialisation (Kaiming-like W1 with tanh gain 5/3, small
    /// output layer so the first loss is near log V), drawn from `seed`.
    public convenience init(shape: ModelShape, seed: UInt64) {
        self.init(shape: shape)
        var rng = Xoshiro(seed: seed)
        let s = shape
        let w1Scale = (5.0 / 3.0) / Double(s.inputWidth).squareRoot()
        fill(.C, &rng) { $0 }
        fill(.W1, &rng) { $0 * w1Scale }
        fill(.b1, &rng) { $0 * 0.1 }
        fill(.W2, &rng) { $0 * 0.1 }
        fill(.b2, &rng) { $0 * 0.1 }
        fill(.bngain, &rng) { 1 + $0 * 0.1 }
        fill(.bnbias, &rng) { $0 * 0.1 }
    }

    private func fill(_ t: ModelTensor, _ rng: inout Xoshiro, _ f: (Double) -> Double) {
        set(t, (0..<t.count(shape)).map { _ in Float(f(rng.gaussian())) })
    }

    /// Where `t` is stored: its first float and the stride between its rows.
    private func storage(_ t: ModelTensor) -> (base: UnsafeMutablePointer<Float>, stride: Int) {
        switch t {
        case .bnmeanRunning: return (runningMean.base, shape.hiddenPadded)
        case .bnvarRunning: return (runningVar.base, shape.hiddenPadded)
        default: return (parameters.base + layout.offset(t), t.rowStride(shape))
        }
    }

    /// The tensor `t`, unpadded, row-major.
    public func tensor(_ t: ModelTensor) -> [Float] {
        let dims = t.shape(shape)
        let (rows, cols) = dims.count == 2 ? (dims[0], dims[1]) : (1, dims[0])
        let (base, stride) = storage(t)
        var out = [Float]()
        out.reserveCapacity(rows * cols)
        for r in 0..<rows { for c in 0..<cols { out.append(base[r * stride + c]) } }
        return out
    }

    /// Writes `values` (unpadded, row-major) into the tensor `t`; the padding stays zero.
    /// A wrong count is a programming error (readers check sizes first), fatal even in -Ounchecked builds.
    public func set(_ t: ModelTensor, _ values: [Float]) {
        let dims = t.shape(shape)
        let (rows, cols) = dims.count == 2 ? (dims[0], dims[1]) : (1, dims[0])
        guard values.count == rows * cols else {
            fatalError("Model.set(\(t.name)): \(values.count) values for a tensor of \(rows * cols)")
        }
        let (base, stride) = storage(t)
        for r in 0..<rows { for c in 0..<cols { base[r * stride + c] = values[r * cols + c] } }
    }

    public func copy() -> Model {
        let m = Model(shape: shape)
        m.parameters.base.update(from: parameters.base, count: layout.count)
        m.runningMean.base.update(from: runningMean.base, count: shape.hiddenPadded)
        m.runningVar.base.update(from: runningVar.base, count: shape.hiddenPadded)
        return m
    }
}
