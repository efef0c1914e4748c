import Foundation
import Kernels
import KernelSupport
import XCTest

/// softmaxCrossEntropy against a straightforward Double reference, and its
/// bit-level properties: dlogits equal to the former row-by-row kernel's, a
/// row's results independent of its block, padding exactly zero.
final class SoftmaxCrossEntropyTests: XCTestCase {
    struct Case {
        let rows: Int, valid: Int, ld: Int
        let scale: Float
        var spread: Float = 4  // logits uniform in [-spread, spread)
    }

    static func logits(_ c: Case, seed: UInt64) -> [Float] {
        var s = seed
        return (0..<(c.rows * c.ld)).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return (Float(s >> 40) / Float(1 << 24) * 2 - 1) * c.spread
        }
    }

    static func targets(_ c: Case) -> [Int32] { (0..<c.rows).map { Int32(($0 * 7 + 3) % c.valid) } }

    static func run(_ c: Case, _ z: inout [Float], _ t: [Int32]) -> Double {
        z.withUnsafeMutableBufferPointer { zb in
            t.withUnsafeBufferPointer { tb in
                softmaxCrossEntropy(logits: zb.baseAddress!, rows: c.rows, valid: c.valid, ld: c.ld,
                                    targets: tb.baseAddress!, scale: c.scale)
            }
        }
    }

    /// Double reference: per-row losses and dlogits (padding columns 0).
    static func reference(_ c: Case, _ z: [Float], _ t: [Int32]) -> (losses: [Double], grad: [Double]) {
        var losses = [Double](), grad = [Double](repeating: 0, count: z.count)
        for i in 0..<c.rows {
            let row = (0..<c.valid).map { Double(z[i * c.ld + $0]) }
            let m = row.max()!
            let s = row.reduce(0) { $0 + exp($1 - m) }
            let y = Int(t[i])
            losses.append(log(s) - (row[y] - m))
            for v in 0..<c.valid {
                grad[i * c.ld + v] = (exp(row[v] - m) / s - (v == y ? 1 : 0)) * Double(c.scale)
            }
        }
        return (losses, grad)
    }

    /// The kernel before the 16-row blocks (row by row, libm log), for the
    /// bit-identity of dlogits; for ld − 16 < valid ≤ ld.
    static func rowByRow(_ c: Case, _ z: inout [Float], _ t: [Int32]) -> Double {
        let vectors = c.ld / 16, last = vectors - 1
        var tailMask = SIMD16<Float>()
        for lane in 0..<16 where last * 16 + lane >= c.valid { tailMask[lane] = -.infinity }
        var total = 0.0
        z.withUnsafeMutableBufferPointer { zb in
            for i in 0..<c.rows {
                let p = zb.baseAddress! + i * c.ld
                var rowMax = SIMD16<Float>(repeating: -.infinity)
                for k in 0..<last { rowMax = vmax(rowMax, load(p + k * 16)) }
                rowMax = vmax(rowMax, load(p + last * 16) + tailMask)
                let m = horizontalMax(rowMax)
                let y = Int(t[i]), zy = p[y]
                var vsum = SIMD16<Float>()
                for k in 0...last {
                    let e = vexp(load(p + k * 16) + (k == last ? tailMask : SIMD16()) - SIMD16(repeating: m))
                    store(e, p + k * 16)
                    vsum += e
                }
                let sum = horizontalSum(vsum)
                total += Double(Foundation.log(sum) - (zy - m))
                let inv = SIMD16<Float>(repeating: c.scale / sum)
                for k in 0..<vectors { store(load(p + k * 16) * inv, p + k * 16) }
                p[y] -= c.scale
            }
        }
        return total
    }

    static let cases: [Case] = {
        var cs = [Case]()
        for rows in [1, 2, 5, 15, 16, 17, 31, 32, 33, 100, 512] {
            for (valid, ld) in [(29, 32), (27, 32), (32, 32), (17, 32), (16, 16), (1, 16), (5, 16),
                                (29, 48), (29, 64), (40, 64), (16, 48), (64, 64)] {
                cs.append(Case(rows: rows, valid: valid, ld: ld, scale: 1 / Float(rows)))
            }
        }
        cs.append(Case(rows: 37, valid: 29, ld: 32, scale: 1))
        cs.append(Case(rows: 37, valid: 29, ld: 32, scale: 0.25, spread: 40))   // peaked softmax
        cs.append(Case(rows: 37, valid: 29, ld: 32, scale: 0.25, spread: 1e-3))  // nearly uniform
        cs.append(Case(rows: 19, valid: 29, ld: 32, scale: 1, spread: 200))      // most e^(z-m) underflow
        cs.append(Case(rows: 19, valid: 29, ld: 32, scale: 1, spread: 45))       // some e^(z-m) subnormal
        return cs
    }()

    func testMatchesDoubleReference() {
        for (n, c) in Self.cases.enumerated() {
            var z = Self.logits(c, seed: UInt64(n) + 1)
            let t = Self.targets(c)
            let ref = Self.reference(c, z, t)
            let total = Self.run(c, &z, t)
            let refTotal = ref.losses.reduce(0, +)
            XCTAssertEqual(total, refTotal, accuracy: 2e-6 * max(1, abs(refTotal)), "loss \(c)")
            var worst = 0.0
            for i in 0..<c.rows {
                for v in 0..<c.ld {
                    let g = z[i * c.ld + v]
                    if v >= c.valid {
                        if g != 0 || g.sign == .minus {
                            XCTFail("padding column \(v) of row \(i) is \(g), not +0: \(c)")
                            return
                        }
                        continue
                    }
                    worst = max(worst, abs(Double(g) - ref.grad[i * c.ld + v]))
                }
            }
            // |dlogit| ≤ scale; a few Float roundings of the softmax.
            XCTAssertLessThanOrEqual(worst, 1e-6 * Double(c.scale), "dlogits \(c)")
        }
    }

    func testPerRowLossesAndRowOrderSummation() {
        // The total is Σ Double(loss_i) in row order: equal, bit for bit, to
        // adding the single-row calls' results in row order.
        for c in [Case(rows: 37, valid: 29, ld: 32, scale: 0.1), Case(rows: 16, valid: 40, ld: 64, scale: 1)] {
            let z0 = Self.logits(c, seed: 99), t = Self.targets(c)
            var z = z0
            let total = Self.run(c, &z, t)
            var sum = 0.0
            var zRows = [Float]()
            for i in 0..<c.rows {
                let one = Case(rows: 1, valid: c.valid, ld: c.ld, scale: c.scale)
                var row = Array(z0[(i * c.ld)..<((i + 1) * c.ld)])
                sum += Self.run(one, &row, [t[i]])
                zRows += row
            }
            XCTAssertEqual(total.bitPattern, sum.bitPattern, "\(c)")
            // A row's dlogits do not depend on the block it is computed in.
            XCTAssertEqual(z.map(\.bitPattern), zRows.map(\.bitPattern), "\(c)")
        }
    }

    func testDlogitsBitIdenticalToRowByRowKernel() {
        // The block tree adds in horizontalSum's order, so dlogits are those of
        // the row-by-row kernel bit for bit; the loss differs only by vlog vs logf.
        for (n, c) in Self.cases.enumerated() where c.ld - 16 < c.valid {
            let z0 = Self.logits(c, seed: UInt64(n) + 1000), t = Self.targets(c)
            var a = z0, b = z0
            let la = Self.run(c, &a, t)
            let lb = Self.rowByRow(c, &b, t)
            // Except where the old exp result was subnormal (now flushed to 0).
            for j in 0..<a.count where a[j].bitPattern != b[j].bitPattern {
                if !(a[j] == 0 && abs(b[j]) < 0x1p-120) {
                    XCTFail("dlogit \(j) is \(a[j]), the row-by-row kernel's \(b[j]): \(c)")
                    break
                }
            }
            XCTAssertEqual(la, lb, accuracy: 1e-6 * max(1, abs(lb)), "\(c)")
        }
    }

    func testKnownValues() {
        // Uniform logits: loss = log(valid) per row, softmax = 1/valid.
        let c = Case(rows: 20, valid: 29, ld: 32, scale: 0.5)
        var z = [Float](repeating: 3, count: c.rows * c.ld)
        let t = Self.targets(c)
        let total = Self.run(c, &z, t)
        XCTAssertEqual(total, 20 * log(29.0), accuracy: 1e-5)
        for i in 0..<c.rows {
            for v in 0..<c.valid {
                let want: Float = (1 / 29 - (v == Int(t[i]) ? 1 : 0)) * 0.5
                XCTAssertEqual(z[i * c.ld + v], want, accuracy: 1e-7)
            }
        }
        // A confident correct row: loss ≈ 0 and its gradient ≈ 0.
        let d = Case(rows: 1, valid: 3, ld: 16, scale: 1)
        var w: [Float] = [0, 30, 0] + [Float](repeating: 7, count: 13)  // padding ignored
        let l = Self.run(d, &w, [1])
        XCTAssertEqual(l, 2 * exp(-30.0), accuracy: 1e-12)
        XCTAssertEqual(Array(w[3...]), [Float](repeating: 0, count: 13))
    }
}
