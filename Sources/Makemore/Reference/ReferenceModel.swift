import Foundation

/// The makemore MLP in float64, composed from `ReferenceLayers`: the model as
/// the reference notebook writes it, for checking the fast engine (gradcheck),
/// finite differences, and sampling (one row at a time, where speed does not matter).
public struct ReferenceModel {
    public let shape: ModelShape
    /// The notebook's tensor names (C, W1, b1, W2, b2, bngain, bnbias, bnmean_running, bnvar_running), unpadded.
    public var tensors: [String: [Double]]

    public static let trainedNames = ModelTensor.trained.map(\.name)

    public init(_ model: Model) {
        shape = model.shape
        var t = [String: [Double]]()
        for tensor in ModelTensor.allCases { t[tensor.name] = model.tensor(tensor).map(Double.init) }
        tensors = t
    }

    /// Training-mode loss and the gradient of every trained tensor on the batch X [n × B], Y [n].
    public func lossAndGradients(x: [Int32], y: [Int32]) -> (loss: Double, gradients: [String: [Double]]) {
        let (n, V, E, B, K, H) = dims(y.count)
        let emb = Embedding.forward(table: tensors["C"]!, dim: E, x: x, n: n, block: B)
        let hprebn = Linear.forward(x: emb, W: tensors["W1"]!, b: tensors["b1"]!, n: n, k: K, m: H)
        let (hpre, bn) = BatchNorm.forward(x: hprebn, gain: tensors["bngain"]!, bias: tensors["bnbias"]!, n: n, m: H)
        let h = Tanh.forward(hpre)
        let logits = Linear.forward(x: h, W: tensors["W2"]!, b: tensors["b2"]!, n: n, k: H, m: V)
        let loss = CrossEntropy.forward(logits: logits, y: y, n: n, V: V)

        let dlogits = CrossEntropy.backward(logits: logits, y: y, n: n, V: V)
        let out = Linear.backward(dy: dlogits, x: h, W: tensors["W2"]!, n: n, k: H, m: V)
        let dhpre = Tanh.backward(dy: out.dx, y: h)
        let norm = BatchNorm.backward(dy: dhpre, x: hprebn, gain: tensors["bngain"]!, cache: bn, n: n, m: H)
        let hidden = Linear.backward(dy: norm.dx, x: emb, W: tensors["W1"]!, n: n, k: K, m: H)
        let dC = Embedding.backward(dout: hidden.dx, vocab: V, dim: E, x: x, n: n, block: B)
        return (loss, ["C": dC, "W1": hidden.dW, "b1": hidden.db, "W2": out.dW, "b2": out.db,
                       "bngain": norm.dgain, "bnbias": norm.dbias])
    }

    /// Training-mode loss only (what finite differences perturb).
    public func loss(x: [Int32], y: [Int32]) -> Double {
        let (n, V, E, B, K, H) = dims(y.count)
        let emb = Embedding.forward(table: tensors["C"]!, dim: E, x: x, n: n, block: B)
        let hprebn = Linear.forward(x: emb, W: tensors["W1"]!, b: tensors["b1"]!, n: n, k: K, m: H)
        let hpre = BatchNorm.forward(x: hprebn, gain: tensors["bngain"]!, bias: tensors["bnbias"]!, n: n, m: H).y
        let logits = Linear.forward(x: Tanh.forward(hpre), W: tensors["W2"]!, b: tensors["b2"]!, n: n, k: H, m: V)
        return CrossEntropy.forward(logits: logits, y: y, n: n, V: V)
    }

    /// Eval-mode logits (running BatchNorm statistics) for contexts X [n × B].
    public func evalLogits(x: [Int32]) -> [Double] {
        let n = x.count / shape.blockSize
        let (_, V, E, B, K, H) = dims(n)
        let emb = Embedding.forward(table: tensors["C"]!, dim: E, x: x, n: n, block: B)
        let hprebn = Linear.forward(x: emb, W: tensors["W1"]!, b: tensors["b1"]!, n: n, k: K, m: H)
        let hpre = BatchNorm.forward(x: hprebn, gain: tensors["bngain"]!, bias: tensors["bnbias"]!,
                                     mean: tensors["bnmean_running"]!, variance: tensors["bnvar_running"]!, n: n, m: H)
        return Linear.forward(x: Tanh.forward(hpre), W: tensors["W2"]!, b: tensors["b2"]!, n: n, k: H, m: V)
    }

    private func dims(_ n: Int) -> (Int, Int, Int, Int, Int, Int) {
        (n, shape.vocabSize, shape.nEmbd, shape.blockSize, shape.inputWidth, shape.nHidden)
    }
}
