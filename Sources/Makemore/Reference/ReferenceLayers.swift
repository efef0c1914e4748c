import Foundation

// The model's layers in float64, unfused and unvectorized: each a forward and
// a backward side by side, as plain loops a reader can check against the math.
// They are the yardstick: tests check each backward against finite
// differences, then the fast fused Float engine against these.
//
// Matrices are row-major [rows × cols] arrays. Backward functions return the
// gradient of their input(s) given the gradient of their output.

enum Embedding {
    /// out[i, j·E + e] = table[x[i, j], e]   → [n × B·E]
    static func forward(table: [Double], dim E: Int, x: [Int32], n: Int, block B: Int) -> [Double] {
        var out = [Double](repeating: 0, count: n * B * E)
        for i in 0..<n { for j in 0..<B { for e in 0..<E {
            out[(i * B + j) * E + e] = table[Int(x[i * B + j]) * E + e]
        } } }
        return out
    }

    /// dtable[x[i, j], e] += dout[i, j·E + e]
    static func backward(dout: [Double], vocab V: Int, dim E: Int, x: [Int32], n: Int, block B: Int) -> [Double] {
        var d = [Double](repeating: 0, count: V * E)
        for i in 0..<n { for j in 0..<B { for e in 0..<E {
            d[Int(x[i * B + j]) * E + e] += dout[(i * B + j) * E + e]
        } } }
        return d
    }
}

enum Linear {
    /// y = x·W + b;  x [n × k], W [k × m], b [m]  → [n × m]
    static func forward(x: [Double], W: [Double], b: [Double], n: Int, k: Int, m: Int) -> [Double] {
        var y = [Double](repeating: 0, count: n * m)
        for i in 0..<n { for c in 0..<m {
            var s = b[c]
            for p in 0..<k { s += x[i * k + p] * W[p * m + c] }
            y[i * m + c] = s
        } }
        return y
    }

    /// dx = dy·Wᵀ, dW = xᵀ·dy, db = Σrows dy
    static func backward(dy: [Double], x: [Double], W: [Double], n: Int, k: Int, m: Int)
        -> (dx: [Double], dW: [Double], db: [Double])
    {
        var dx = [Double](repeating: 0, count: n * k)
        var dW = [Double](repeating: 0, count: k * m)
        var db = [Double](repeating: 0, count: m)
        for i in 0..<n { for c in 0..<m {
            let g = dy[i * m + c]
            db[c] += g
            for p in 0..<k {
                dx[i * k + p] += g * W[p * m + c]
                dW[p * m + c] += x[i * k + p] * g
            }
        } }
        return (dx, dW, db)
    }
}

enum BatchNorm {
    static let epsilon = 1e-5

    struct Cache { var raw: [Double]; var rstd: [Double]; var mean: [Double]; var variance: [Double] }

    /// Training mode: batch mean and Bessel-corrected variance (as the notebook).
    /// y = gain·(x − μ)·(σ² + ε)^−½ + bias;  x [n × m]
    static func forward(x: [Double], gain: [Double], bias: [Double], n: Int, m: Int) -> (y: [Double], cache: Cache) {
        var mean = [Double](repeating: 0, count: m), variance = mean, rstd = mean
        for c in 0..<m {
            var s = 0.0
            for i in 0..<n { s += x[i * m + c] }
            mean[c] = s / Double(n)
            var q = 0.0
            for i in 0..<n { let d = x[i * m + c] - mean[c]; q += d * d }
            variance[c] = q / Double(n - 1)
            rstd[c] = 1 / (variance[c] + epsilon).squareRoot()
        }
        return normalize(x: x, gain: gain, bias: bias, mean: mean, variance: variance, rstd: rstd, n: n, m: m)
    }

    /// Eval mode: fixed (running) statistics.
    static func forward(x: [Double], gain: [Double], bias: [Double], mean: [Double], variance: [Double], n: Int, m: Int) -> [Double] {
        let rstd = variance.map { 1 / ($0 + epsilon).squareRoot() }
        return normalize(x: x, gain: gain, bias: bias, mean: mean, variance: variance, rstd: rstd, n: n, m: m).y
    }

    private static func normalize(x: [Double], gain: [Double], bias: [Double], mean: [Double],
                                  variance: [Double], rstd: [Double], n: Int, m: Int) -> (y: [Double], cache: Cache) {
        var raw = x, y = x
        for i in 0..<n { for c in 0..<m {
            raw[i * m + c] = (x[i * m + c] - mean[c]) * rstd[c]
            y[i * m + c] = gain[c] * raw[i * m + c] + bias[c]
        } }
        return (y, Cache(raw: raw, rstd: rstd, mean: mean, variance: variance))
    }

    /// The unfused chain rule through μ and σ², step by step as in the notebook's
    /// exercise 1 (the fused engine uses the closed form of exercise 3).
    static func backward(dy: [Double], x: [Double], gain: [Double], cache: Cache, n: Int, m: Int)
        -> (dx: [Double], dgain: [Double], dbias: [Double])
    {
        var dx = x, dgain = [Double](repeating: 0, count: m), dbias = dgain
        for c in 0..<m {
            let r = cache.rstd[c], mu = cache.mean[c]
            var draw = [Double](repeating: 0, count: n)
            for i in 0..<n {
                dgain[c] += cache.raw[i * m + c] * dy[i * m + c]
                dbias[c] += dy[i * m + c]
                draw[i] = gain[c] * dy[i * m + c]
            }
            // raw = (x − μ)·r,  r = (σ² + ε)^−½,  σ² = Σ(x − μ)²/(n−1)
            var dr = 0.0, ddiffSum = 0.0
            for i in 0..<n { dr += draw[i] * (x[i * m + c] - mu) }
            let dvar = dr * -0.5 * r * r * r
            var ddiff = [Double](repeating: 0, count: n)
            for i in 0..<n {
                ddiff[i] = draw[i] * r + dvar * 2 * (x[i * m + c] - mu) / Double(n - 1)
                ddiffSum += ddiff[i]
            }
            for i in 0..<n { dx[i * m + c] = ddiff[i] - ddiffSum / Double(n) }
        }
        return (dx, dgain, dbias)
    }
}

enum Tanh {
    static func forward(_ x: [Double]) -> [Double] { x.map { Foundation.tanh($0) } }
    static func backward(dy: [Double], y: [Double]) -> [Double] { zip(dy, y).map { $0 * (1 - $1 * $1) } }
}

enum CrossEntropy {
    /// Mean over rows of −log softmax(logits)[y];  logits [n × V]
    static func forward(logits: [Double], y: [Int32], n: Int, V: Int) -> Double {
        var total = 0.0
        for i in 0..<n {
            let row = logits[(i * V)..<((i + 1) * V)]
            let mx = row.max()!
            let lse = mx + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - mx) })
            total += lse - logits[i * V + Int(y[i])]
        }
        return total / Double(n)
    }

    /// dlogits = (softmax − onehot)/n
    static func backward(logits: [Double], y: [Int32], n: Int, V: Int) -> [Double] {
        var d = logits
        for i in 0..<n {
            let p = softmax(Array(logits[(i * V)..<((i + 1) * V)]))
            for v in 0..<V { d[i * V + v] = (p[v] - (v == Int(y[i]) ? 1 : 0)) / Double(n) }
        }
        return d
    }

    static func softmax(_ z: [Double]) -> [Double] {
        let mx = z.max()!
        let e = z.map { Foundation.exp($0 - mx) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }
}
