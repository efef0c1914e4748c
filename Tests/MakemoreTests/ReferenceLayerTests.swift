import XCTest
@testable import Makemore

/// Every reference backward against central finite differences in float64.
/// Objective L = Σ w ⊙ f(x) with fixed random w, so dL/dy = w.
final class ReferenceLayerTests: XCTestCase {
    var rng = Xoshiro(seed: 7)
    func randoms(_ n: Int, scale: Double = 1) -> [Double] { (0..<n).map { _ in rng.gaussian() * scale } }

    /// d/dθ Σ w ⊙ f(θ) by central differences, for every element of θ.
    func numericGradient(_ theta: [Double], _ w: [Double], _ f: ([Double]) -> [Double]) -> [Double] {
        let h = 1e-6
        return theta.indices.map { k in
            var p = theta, q = theta
            p[k] += h; q[k] -= h
            let lp = zip(w, f(p)).reduce(0) { $0 + $1.0 * $1.1 }
            let lq = zip(w, f(q)).reduce(0) { $0 + $1.0 * $1.1 }
            return (lp - lq) / (2 * h)
        }
    }

    func assertClose(_ analytic: [Double], _ numeric: [Double], _ what: String, tol: Double = 1e-7, floor: Double = 1e-30) {
        let e = relativeError(analytic, numeric, floor: floor)
        XCTAssertLessThan(e, tol, "\(what): relative error \(e)")
    }

    func testLinearBackward() {
        let (n, k, m) = (4, 5, 3)
        let x = randoms(n * k), W = randoms(k * m), b = randoms(m), w = randoms(n * m)
        let g = Linear.backward(dy: w, x: x, W: W, n: n, k: k, m: m)
        assertClose(g.dx, numericGradient(x, w) { Linear.forward(x: $0, W: W, b: b, n: n, k: k, m: m) }, "dx")
        assertClose(g.dW, numericGradient(W, w) { Linear.forward(x: x, W: $0, b: b, n: n, k: k, m: m) }, "dW")
        assertClose(g.db, numericGradient(b, w) { Linear.forward(x: x, W: W, b: $0, n: n, k: k, m: m) }, "db")
    }

    func testBatchNormBackward() {
        let (n, m) = (6, 4)
        let x = randoms(n * m, scale: 2), gain = randoms(m), bias = randoms(m), w = randoms(n * m)
        let (_, cache) = BatchNorm.forward(x: x, gain: gain, bias: bias, n: n, m: m)
        let g = BatchNorm.backward(dy: w, x: x, gain: gain, cache: cache, n: n, m: m)
        assertClose(g.dx, numericGradient(x, w) { BatchNorm.forward(x: $0, gain: gain, bias: bias, n: n, m: m).y }, "dx")
        assertClose(g.dgain, numericGradient(gain, w) { BatchNorm.forward(x: x, gain: $0, bias: bias, n: n, m: m).y }, "dgain")
        assertClose(g.dbias, numericGradient(bias, w) { BatchNorm.forward(x: x, gain: gain, bias: $0, n: n, m: m).y }, "dbias")
    }

    func testBatchNormWithTwoRows() {
        // n = 2 is the smallest batch BatchNorm's Bessel correction allows.
        let (n, m) = (2, 3)
        let x = randoms(n * m), gain = randoms(m), bias = randoms(m), w = randoms(n * m)
        let (_, cache) = BatchNorm.forward(x: x, gain: gain, bias: bias, n: n, m: m)
        let g = BatchNorm.backward(dy: w, x: x, gain: gain, cache: cache, n: n, m: m)
        assertClose(g.dx, numericGradient(x, w) { BatchNorm.forward(x: $0, gain: gain, bias: bias, n: n, m: m).y }, "dx", tol: 1e-5)  // n = 2: the output barely depends on x (only through ε), so FD noise dominates
    }

    func testTanhBackward() {
        let x = randoms(10, scale: 2), w = randoms(10)
        let y = Tanh.forward(x)
        assertClose(Tanh.backward(dy: w, y: y), numericGradient(x, w) { Tanh.forward($0) }, "dx")
    }

    func testCrossEntropyBackward() {
        let (n, V) = (5, 7)
        let logits = randoms(n * V, scale: 3)
        let y: [Int32] = [0, 6, 3, 3, 1]
        let analytic = CrossEntropy.backward(logits: logits, y: y, n: n, V: V)
        let numeric = numericGradient(logits, [1]) { [CrossEntropy.forward(logits: $0, y: y, n: n, V: V)] }
        assertClose(analytic, numeric, "dlogits")
    }

    func testEmbeddingBackward() {
        let (V, E, n, B) = (5, 3, 4, 3)
        let table = randoms(V * E), w = randoms(n * B * E)
        let x: [Int32] = [0, 1, 1, 4, 4, 4, 2, 0, 1, 3, 3, 0]  // repeats: the scatter must accumulate
        let analytic = Embedding.backward(dout: w, vocab: V, dim: E, x: x, n: n, block: B)
        assertClose(analytic, numericGradient(table, w) { Embedding.forward(table: $0, dim: E, x: x, n: n, block: B) }, "dtable")
    }

    func testWholeModelBackward() {
        let shape = ModelShape(vocabSize: 7, blockSize: 3, nEmbd: 3, nHidden: 5)
        let ref = ReferenceModel(randomModel(shape, seed: 3))
        let (x, y) = randomBatch(shape, rows: 6, seed: 4)
        let grads = ref.lossAndGradients(x: x, y: y).gradients
        for name in ReferenceModel.trainedNames {
            let numeric = numericGradient(ref.tensors[name]!, [1]) { theta in
                var r = ref
                r.tensors[name] = theta
                return [r.loss(x: x, y: y)]
            }
            assertClose(grads[name]!, numeric, name, tol: 1e-6, floor: gradientFloor(grads))
        }
    }
}
