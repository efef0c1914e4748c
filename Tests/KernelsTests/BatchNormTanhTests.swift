import KernelSupport
import Kernels
import KernelsAVX512
import XCTest
import _KernelsShim

/// BatchNorm + tanh forward and tanh backward walk their columns in groups
/// whose size depends on the ISA (two columns a row iteration forward; four
/// at a time backward on AVX-512, one on AVX2). Every output and every column
/// sum must still be the same bits as one column at a time, rows in order,
/// and the same on both ISA builds.
final class BatchNormTanhTests: XCTestCase {
    /// Column counts that exercise every walk: one vector, a pair, a pair and
    /// one, one group of four, a group and one, and H 200's 13 vectors.
    static let widths = [16, 32, 48, 64, 80, 208]
    static let rows = 37

    struct Inputs {
        let cols: Int
        let act, h, dh, mean, rstd, gain, bias, sumD, sumDRaw: AlignedBuffer<Float>

        init(cols: Int, seed: UInt64) {
            var state = seed
            func filled(_ n: Int, scale: Float, offset: Float = 0) -> AlignedBuffer<Float> {
                let b = AlignedBuffer<Float>(count: n)
                for i in 0..<n {
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    b.base[i] = offset + scale * (Float(Int64(bitPattern: state >> 11) % 2_000_001) / 1_000_000 - 1)
                }
                return b
            }
            let n = BatchNormTanhTests.rows * cols
            self.cols = cols
            act = filled(n, scale: 3)
            h = filled(n, scale: 0.99)
            dh = filled(n, scale: 0.1)
            mean = filled(cols, scale: 0.5)
            rstd = filled(cols, scale: 0.4, offset: 1)
            gain = filled(cols, scale: 0.5, offset: 1)
            bias = filled(cols, scale: 0.3)
            sumD = filled(cols, scale: 1)      // what `continuing` starts from
            sumDRaw = filled(cols, scale: 1)
        }
    }

    /// What the ISA build's kernels give: h of the forward; dhpre and the two
    /// column sums of the backward, fresh and continuing.
    static func run(_ x: Inputs, avx512: Bool) -> [[UInt32]] {
        let (r, c) = (rows, x.cols)
        let h = AlignedBuffer<Float>(count: r * c)
        var out = [[UInt32]]()
        for continuing in [false, true] {
            let dh = AlignedBuffer<Float>(count: r * c), sumD = AlignedBuffer<Float>(count: c), sumDRaw = AlignedBuffer<Float>(count: c)
            dh.base.update(from: x.dh.base, count: r * c)
            sumD.base.update(from: x.sumD.base, count: c)
            sumDRaw.base.update(from: x.sumDRaw.base, count: c)
            if avx512 {
                KernelsAVX512.batchNormTanhForward(act: x.act.base, h: h.base, rows: r, cols: c, mean: x.mean.base, rstd: x.rstd.base,
                                                   gain: x.gain.base, bias: x.bias.base)
                KernelsAVX512.tanhBackward(dh: dh.base, h: x.h.base, act: x.act.base, rows: r, cols: c, mean: x.mean.base,
                                           rstd: x.rstd.base, sumD: sumD.base, sumDRaw: sumDRaw.base, continuing: continuing)
            } else {
                Kernels.batchNormTanhForward(act: x.act.base, h: h.base, rows: r, cols: c, mean: x.mean.base, rstd: x.rstd.base,
                                             gain: x.gain.base, bias: x.bias.base)
                Kernels.tanhBackward(dh: dh.base, h: x.h.base, act: x.act.base, rows: r, cols: c, mean: x.mean.base,
                                     rstd: x.rstd.base, sumD: sumD.base, sumDRaw: sumDRaw.base, continuing: continuing)
            }
            for b in [h, dh] { out.append((0..<(r * c)).map { b.base[$0].bitPattern }) }
            for b in [sumD, sumDRaw] { out.append((0..<c).map { b.base[$0].bitPattern }) }
        }
        return out
    }

    /// The same, one column vector at a time and the rows in order, with the
    /// kernels' own per-element operations (`vtanh`, FMAs).
    static func reference(_ x: Inputs) -> [[UInt32]] {
        let (r, c) = (rows, x.cols)
        func vec(_ b: AlignedBuffer<Float>, _ i: Int) -> SIMD16<Float> {
            SIMD16<Float>((0..<16).map { b.base[i + $0] })
        }
        var h = [UInt32](repeating: 0, count: r * c)
        var out = [[UInt32]]()
        for continuing in [false, true] {
            var dhpre = [UInt32](repeating: 0, count: r * c)
            var sums = [UInt32](repeating: 0, count: c), sumsRaw = [UInt32](repeating: 0, count: c)
            for j in stride(from: 0, to: c, by: 16) {
                let (mu, rs) = (vec(x.mean, j), vec(x.rstd, j))
                var sd = continuing ? vec(x.sumD, j) : SIMD16(), sdr = continuing ? vec(x.sumDRaw, j) : SIMD16()
                for i in 0..<r {
                    let o = i * c + j
                    let raw = (vec(x.act, o) - mu) * rs
                    let y = Kernels.vtanh(vec(x.bias, j).addingProduct(vec(x.gain, j), raw))
                    let hv = vec(x.h, o)
                    let d = SIMD16<Float>(repeating: 1).addingProduct(-hv, hv) * vec(x.dh, o)
                    sd += d
                    sdr = sdr.addingProduct(d, raw)
                    for l in 0..<16 { (h[o + l], dhpre[o + l]) = (y[l].bitPattern, d[l].bitPattern) }
                }
                for l in 0..<16 { (sums[j + l], sumsRaw[j + l]) = (sd[l].bitPattern, sdr[l].bitPattern) }
            }
            out += [h, dhpre, sums, sumsRaw]
        }
        return out
    }

    func testEveryColumnWalkGivesTheOneColumnBits() {
        for (k, cols) in Self.widths.enumerated() {
            let x = Inputs(cols: cols, seed: UInt64(k + 1))
            XCTAssertEqual(Self.run(x, avx512: false), Self.reference(x), "AVX2 build, \(cols) columns")
        }
    }

    func testBothISABuildsGiveTheSameBits() throws {
        try XCTSkipUnless(makemore_cpu_has_avx512() != 0, "this CPU has no AVX-512: the AVX-512 build cannot run here")
        for (k, cols) in Self.widths.enumerated() {
            let x = Inputs(cols: cols, seed: UInt64(k + 11))
            XCTAssertEqual(Self.run(x, avx512: true), Self.reference(x), "AVX-512 build, \(cols) columns")
        }
    }
}
