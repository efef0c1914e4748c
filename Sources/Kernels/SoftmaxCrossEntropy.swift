import KernelSupport
import Foundation

// Fused softmax + cross-entropy forward and backward, row by row.
//
//   loss_i    = log Σ_v exp(z_iv − m_i) − (z_{i,y_i} − m_i),   m_i = max_v z_iv
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
    // Padding columns only occur in the last vector of a row: adding −∞
    // there masks them without a compare per row.
    let vectors = ld / vecWidth
    let last = vectors - 1
    var tailMask = Vec()
    for lane in 0..<vecWidth where last * vecWidth + lane >= valid { tailMask[lane] = -.infinity }
    var total = 0.0
    for i in 0..<rows {
        let z = logits + i * ld
        var rowMax = Vec(repeating: -.infinity)
        for k in 0..<last { rowMax = vmax(rowMax, load(z + k * vecWidth)) }
        rowMax = vmax(rowMax, load(z + last * vecWidth) + tailMask)
        let m = horizontalMax(rowMax)
        let y = Int(targets[i])
        let zy = z[y]  // read before the exp pass overwrites it
        let vm = Vec(repeating: m)
        var vsum = Vec()
        for k in 0...last {
            let e = vexp(load(z + k * vecWidth) + (k == last ? tailMask : Vec()) - vm)
            store(e, z + k * vecWidth)
            vsum += e
        }
        let sum = horizontalSum(vsum)
        total += Double(Foundation.log(sum) - (zy - m))
        let inv = Vec(repeating: scale / sum)
        for k in 0..<vectors { store(load(z + k * vecWidth) * inv, z + k * vecWidth) }
        z[y] -= scale
    }
    return total
}
