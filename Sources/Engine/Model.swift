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

    /// All zeros; running variance 1 (the seed's initial state).
    public init(shape: ModelShape) {
        self.shape = shape
        layout = ParameterLayout(shape)
        parameters = AlignedBuffer(count: layout.count)
        runningMean = AlignedBuffer(count: shape.hiddenPadded)
        runningVar = AlignedBuffer(count: shape.hiddenPadded)
        for j in 0..<shape.nHidden { runningVar.base[j] = 1 }
    }

    /// The seed's initialisation (Kaiming-like W1 with tanh gain 5/3, small
    /// output layer so the first loss is near log V), drawn from `seed`.
    public convenience init(shape: ModelShape, seed: UInt64) {
        self.init(shape: shape)
        var rng = Xoshiro(seed: seed)
        let s = shape
        let w1Scale = (5.0 / 3.0) / Double(s.inputWidth).squareRoot()
        fill("C", &rng) { $0 }
        fill("W1", &rng) { $0 * w1Scale }
        fill("b1", &rng) { $0 * 0.1 }
        fill("W2", &rng) { $0 * 0.1 }
        fill("b2", &rng) { $0 * 0.1 }
        fill("bngain", &rng) { 1 + $0 * 0.1 }
        fill("bnbias", &rng) { $0 * 0.1 }
    }

    private func fill(_ name: String, _ rng: inout Xoshiro, _ f: (Double) -> Double) {
        let t = tensorInfo(name)!
        let values = (0..<t.shape.reduce(1, *)).map { _ in Float(f(rng.gaussian())) }
        set(name, values)
    }

    func tensorInfo(_ name: String) -> (name: String, shape: [Int], offset: Int, ld: Int)? {
        layout.tensors.first { $0.name == name }
    }

    /// The tensor `name` (a seed name: C, W1, b1, W2, b2, bngain, bnbias) unpadded, row-major.
    public func tensor(_ name: String) -> [Float] {
        guard let t = tensorInfo(name) else { return runningStat(name) }
        let rows = t.shape.count == 2 ? t.shape[0] : 1
        let cols = t.shape.last!
        var out = [Float]()
        out.reserveCapacity(rows * cols)
        for r in 0..<rows { for c in 0..<cols { out.append(parameters.base[t.offset + r * t.ld + c]) } }
        return out
    }

    /// Writes `values` (unpadded, row-major, of the tensor's element count) into the tensor `name`.
    public func set(_ name: String, _ values: [Float]) {
        guard let t = tensorInfo(name) else {
            let buffer = name == "bnmean_running" ? runningMean : runningVar
            for (j, v) in values.enumerated() { buffer.base[j] = v }
            return
        }
        let rows = t.shape.count == 2 ? t.shape[0] : 1
        let cols = t.shape.last!
        precondition(values.count == rows * cols)
        for r in 0..<rows { for c in 0..<cols { parameters.base[t.offset + r * t.ld + c] = values[r * cols + c] } }
    }

    private func runningStat(_ name: String) -> [Float] {
        let buffer = name == "bnmean_running" ? runningMean : runningVar
        return Array(UnsafeBufferPointer(start: buffer.base, count: shape.nHidden))
    }

    /// Every tensor a checkpoint holds, with its shape: the trained ones then the running statistics.
    public var allTensorShapes: [(name: String, shape: [Int])] {
        layout.tensors.map { ($0.name, $0.shape) } + [
            ("bnmean_running", [shape.nHidden]), ("bnvar_running", [shape.nHidden]),
        ]
    }

    public func copy() -> Model {
        let m = Model(shape: shape)
        m.parameters.base.update(from: parameters.base, count: layout.count)
        m.runningMean.base.update(from: runningMean.base, count: shape.hiddenPadded)
        m.runningVar.base.update(from: runningVar.base, count: shape.hiddenPadded)
        return m
    }
}
