import Foundation

// Fused softmax + cross-entropy forward and backward, row by row.
//
//   loss_i    = log Σ_v exp(z_iv) − z_{i,y_i}
//   dlogits   = (softmax(z) − onehot(y)) · scale        (scale = 1/n for a mean)
//
// The seed's exercise 2: one pass gives both the loss and its gradient, so the
// probabilities are never stored separately. Columns ≥ `valid` are row padding:
// they are masked to −∞ so they get probability 0 and a zero gradient.

/// Overwrites `logits` [rows × ld] with dlogits and returns Σ_i loss_i.
/// `targets` must be in 0..<valid (the caller validates user data).
public func softmaxCrossEntropy(
    logits: UnsafeMutablePointer<Float>, rows: Int, valid: Int, ld: Int,
    targets: UnsafePointer<Int32>, scale: Float
) -> Double {
    let lane = Vec(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
    let vscale = Vec(repeating: scale)
    var total = 0.0
    for i in 0..<rows {
        let z = logits + i * ld
        // max over the valid columns, for a stable exp
        var vmax = Vec(repeating: -.infinity)
        var j = 0
        while j < ld {
            vmax = pointwiseMax(vmax, masked(load(z + j), lane, valid - j))
            j += vecWidth
        }
        let m = vmax.max()
        let vm = Vec(repeating: m)
        var vsum = Vec()
        j = 0
        while j < ld {
            let e = vexp(masked(load(z + j), lane, valid - j) - vm)
            store(e, z + j)
            vsum += e
            j += vecWidth
        }
        let sum = vsum.sum()
        let y = Int(targets[i])
        let zy = z[y]  // already exp(z_y − m); recover the log-probability
        total += Double(Foundation.log(sum) - Foundation.log(zy))
        let inv = Vec(repeating: 1 / sum) * vscale
        j = 0
        while j < ld {
            store(load(z + j) * inv, z + j)
            j += vecWidth
        }
        z[y] -= scale
    }
    return total
}

/// Lanes at or beyond `remaining` become −∞.
@inline(__always)
func masked(_ v: Vec, _ lane: Vec, _ remaining: Int) -> Vec {
    v.replacing(with: -.infinity, where: lane .>= Vec(repeating: Float(remaining)))
}
