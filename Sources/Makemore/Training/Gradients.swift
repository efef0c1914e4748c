import Foundation

/// A batch file: safetensors with X (I32 [n, block_size]) and Y (I32 [n]).
public struct Batch {
    public var x: [Int32]
    public var y: [Int32]
    public var count: Int { y.count }

    public static func load(path: String, shape: ModelShape) throws -> Batch {
        let file = try SafetensorsFile.read(path: path)
        let (x, xShape) = try file.int32s("X", source: path)
        let (y, yShape) = try file.int32s("Y", source: path)
        guard yShape.count == 1, yShape[0] >= 2 else {
            throw MakemoreError("\(path): Y must have shape [n] with n ≥ 2 (BatchNorm needs two rows), got \(yShape)")
        }
        guard xShape == [yShape[0], shape.blockSize] else {
            throw MakemoreError("\(path): X has shape \(xShape), expected [\(yShape[0]), \(shape.blockSize)] (the model's block_size)")
        }
        if let bad = (x + y).first(where: { $0 < 0 || Int($0) >= shape.vocabSize }) {
            throw MakemoreError("\(path): index \(bad) is outside the vocabulary (0..<\(shape.vocabSize))")
        }
        return Batch(x: x, y: y)
    }
}

/// The training-mode loss and gradients of `model` on `batch`, from the fast engine.
public func engineGradients(_ model: Model, _ batch: Batch, shards: Int = 1) -> (loss: Double, gradients: [String: [Float]]) {
    let engine = StepEngine(model: model, batchSize: batch.count, shards: min(shards, batch.count), workers: 1)
    engine.batchX.base.update(from: batch.x, count: batch.x.count)
    engine.batchY.base.update(from: batch.y, count: batch.y.count)
    engine.computeGradient()
    return (engine.loss, trainedGradients(engine))
}

/// The engine's last gradient per trained tensor, by name, padding left out.
public func trainedGradients(_ engine: StepEngine) -> [String: [Float]] {
    // Unpack the flat padded gradient through a model of the same layout.
    let unpack = Model(shape: engine.shape)
    unpack.parameters.base.update(from: engine.gradient.base, count: engine.layout.count)
    var grads = [String: [Float]]()
    for t in ModelTensor.trained { grads[t.name] = unpack.tensor(t) }
    return grads
}

/// One row of the reference notebook's comparison table.
public struct GradientComparison {
    public var name: String
    public var exact: Bool
    /// torch.allclose defaults: |a − b| ≤ 1e-8 + 1e-5·|b|, equal infinities close, NaN never.
    public var approximate: Bool
    /// NaN if any difference is NaN.
    public var maxDifference: Double
    /// No NaN or infinity in ours or the reference.
    public var finite: Bool

    public init(name: String, ours: [Double], reference: [Double]) {
        self.name = name
        exact = ours == reference
        approximate = zip(ours, reference).allSatisfy { a, b in
            a == b || (a.isFinite && b.isFinite && abs(a - b) <= 1e-8 + 1e-5 * abs(b))
        }
        maxDifference = zip(ours, reference).reduce(0) { maxKeepingNaN($0, abs($1.0 - $1.1)) }
        finite = ours.allSatisfy(\.isFinite) && reference.allSatisfy(\.isFinite)
    }

    /// Passes only with finite values throughout and the largest difference at
    /// most `bound`; a NaN anywhere fails, as `<=` on NaN is false.
    public func within(_ bound: Double) -> Bool {
        finite && maxDifference <= bound
    }

    public var line: String {
        "\(name.padding(toLength: 15, withPad: " ", startingAt: 0)) | exact: \(exact ? "True " : "False") | approximate: \(approximate ? "True " : "False") | maxdiff: \(String(format: "%.3e", maxDifference))"
    }
}

/// Central finite differences of the float64 reference loss for `samples`
/// elements of each trained tensor (all of them when the tensor is smaller),
/// against the reference model's analytic gradient.
public func finiteDifferenceCheck(_ model: Model, _ batch: Batch, samples: Int, seed: UInt64 = 1,
                                  step h: Double = 1e-5) -> [(name: String, maxRelative: Double, checked: Int)] {
    let ref = ReferenceModel(model)
    let analytic = ref.lossAndGradients(x: batch.x, y: batch.y).gradients
    let scale = analytic.values.flatMap { $0 }.reduce(0) { max($0, abs($1)) }
    var rng = Xoshiro(seed: seed)
    return ReferenceModel.trainedNames.map { name in
        let count = ref.tensors[name]!.count
        let picks = count <= samples ? Array(0..<count) : (0..<samples).map { _ in rng.below(count) }
        var worst = 0.0
        for k in picks {
            var plus = ref, minus = ref
            plus.tensors[name]![k] += h
            minus.tensors[name]![k] -= h
            let numeric = (plus.loss(x: batch.x, y: batch.y) - minus.loss(x: batch.x, y: batch.y)) / (2 * h)
            // Relative to the element, floored at 1% of the largest gradient (b1's true gradient is 0).
            let err = abs(numeric - analytic[name]![k]) / max(abs(analytic[name]![k]), 0.01 * scale)
            worst = maxKeepingNaN(worst, err)
        }
        return (name, worst, picks.count)
    }
}

/// The larger of `a` and `b`, NaN if either is: `Swift.max` returns the other
/// operand when one is NaN, which would let a NaN error pass a tolerance check.
public func maxKeepingNaN(_ a: Double, _ b: Double) -> Double {
    a.isNaN || b.isNaN ? .nan : max(a, b)
}
