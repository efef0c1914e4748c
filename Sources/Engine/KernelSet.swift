import Foundation
import Kernels
import KernelSupport
import KernelsAVX512
import _KernelsShim

// Which build of the kernels a step runs. The kernel sources are compiled
// twice, once for AVX2 + FMA (module Kernels, any x86-64 since Haswell and
// Zen 1) and once for AVX-512 (module KernelsAVX512, Skylake-SP and later,
// Zen 4 and later), so one binary runs everywhere and uses the wide registers
// where the CPU has them. Both builds do the same lane-wise arithmetic with
// explicit FMAs and fixed-order horizontal sums, so they give the same bits.
// The engine's own loops are only the small per-column combines; everything
// per row goes through here.

/// An instruction set the kernels are built for.
public enum ISA: String, CaseIterable, Sendable {
    case avx2, avx512

    /// What this CPU runs (and its OS has enabled): AVX-512 F/BW/DQ/VL/CD
    /// where present, else AVX2 + FMA, else nil.
    public static var best: ISA? {
        if makemore_cpu_has_avx512() != 0 { return .avx512 }
        return makemore_cpu_has_avx2() != 0 ? .avx2 : nil
    }

    public var isSupported: Bool {
        switch self {
        case .avx512: makemore_cpu_has_avx512() != 0
        case .avx2: makemore_cpu_has_avx2() != 0
        }
    }

    /// "AVX2 + FMA", "AVX-512" — for reports.
    public var label: String { self == .avx2 ? "AVX2 + FMA" : "AVX-512" }
}

/// The per-row kernels of one ISA; a switch per call (not per element).
public struct KernelSet: Sendable {
    public let isa: ISA

    public init(_ isa: ISA) { self.isa = isa }

    /// Why this process cannot run the kernels, in one line, or nil: a CPU
    /// without AVX2 + FMA, or `MAKEMORE_ISA` naming an ISA the CPU lacks or none.
    public static func cpuProblem() -> String? {
        guard ISA.avx2.isSupported else {
            return "this CPU lacks AVX2 and FMA (or the OS has not enabled them); makemore needs an x86-64 CPU "
                + "from Intel Haswell (2013) or AMD Zen (2017) on"
        }
        guard let text = ProcessInfo.processInfo.environment["MAKEMORE_ISA"], !text.isEmpty else { return nil }
        guard let isa = ISA(rawValue: text.lowercased()) else {
            return "MAKEMORE_ISA=\(text) is not an ISA makemore is built for; use avx2 or avx512, or unset it"
        }
        return isa.isSupported ? nil : "MAKEMORE_ISA=\(text): this CPU lacks AVX-512 (F, CD, BW, DQ, VL); use avx2, or unset it"
    }

    /// The widest this CPU runs, or AVX2 where `MAKEMORE_ISA=avx2` forces it
    /// (the CLI refuses a forced ISA the CPU lacks before any engine exists).
    public static var `default`: KernelSet {
        let forced = ProcessInfo.processInfo.environment["MAKEMORE_ISA"].flatMap { ISA(rawValue: $0.lowercased()) }
        if let forced, forced.isSupported { return KernelSet(forced) }
        return KernelSet(ISA.best ?? .avx2)
    }

    @inline(__always)
    public func gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, aRow: Int, aCol: Int,
                     b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                     start: GemmInit, tile: GemmTile) {
        switch isa {
        case .avx512:
            KernelsAVX512.gemm(m: m, n: n, k: k, a: a, aRow: aRow, aCol: aCol, b: b, ldb: ldb, c: c, ldc: ldc, start: start, tile: tile)
        case .avx2:
            Kernels.gemm(m: m, n: n, k: k, a: a, aRow: aRow, aCol: aCol, b: b, ldb: ldb, c: c, ldc: ldc, start: start, tile: tile)
        }
    }

    @inline(__always)
    public func softmaxCrossEntropy(logits: UnsafeMutablePointer<Float>, rows: Int, valid: Int, ld: Int,
                             targets: UnsafePointer<Int32>, scale: Float) -> Double {
        switch isa {
        case .avx512: KernelsAVX512.softmaxCrossEntropy(logits: logits, rows: rows, valid: valid, ld: ld, targets: targets, scale: scale)
        case .avx2: Kernels.softmaxCrossEntropy(logits: logits, rows: rows, valid: valid, ld: ld, targets: targets, scale: scale)
        }
    }

    @inline(__always)
    public func batchNormTanhForward(act: UnsafePointer<Float>, h: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
                              mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                              gain: UnsafePointer<Float>, bias: UnsafePointer<Float>) {
        switch isa {
        case .avx512: KernelsAVX512.batchNormTanhForward(act: act, h: h, rows: rows, cols: cols, mean: mean, rstd: rstd, gain: gain, bias: bias)
        case .avx2: Kernels.batchNormTanhForward(act: act, h: h, rows: rows, cols: cols, mean: mean, rstd: rstd, gain: gain, bias: bias)
        }
    }

    @inline(__always)
    public func tanhBackward(dh: UnsafeMutablePointer<Float>, h: UnsafePointer<Float>, act: UnsafePointer<Float>, rows: Int, cols: Int,
                      mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                      sumD: UnsafeMutablePointer<Float>, sumDRaw: UnsafeMutablePointer<Float>, continuing: Bool) {
        switch isa {
        case .avx512:
            KernelsAVX512.tanhBackward(dh: dh, h: h, act: act, rows: rows, cols: cols, mean: mean, rstd: rstd,
                                       sumD: sumD, sumDRaw: sumDRaw, continuing: continuing)
        case .avx2:
            Kernels.tanhBackward(dh: dh, h: h, act: act, rows: rows, cols: cols, mean: mean, rstd: rstd,
                                 sumD: sumD, sumDRaw: sumDRaw, continuing: continuing)
        }
    }

    @inline(__always)
    public func batchNormBackward(dhpre: UnsafePointer<Float>, act: UnsafePointer<Float>, dhprebn: UnsafeMutablePointer<Float>,
                           rows: Int, cols: Int, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                           coefDh: UnsafePointer<Float>, coefBias: UnsafePointer<Float>, coefRaw: UnsafePointer<Float>) {
        switch isa {
        case .avx512:
            KernelsAVX512.batchNormBackward(dhpre: dhpre, act: act, dhprebn: dhprebn, rows: rows, cols: cols, mean: mean, rstd: rstd,
                                            coefDh: coefDh, coefBias: coefBias, coefRaw: coefRaw)
        case .avx2:
            Kernels.batchNormBackward(dhpre: dhpre, act: act, dhprebn: dhprebn, rows: rows, cols: cols, mean: mean, rstd: rstd,
                                      coefDh: coefDh, coefBias: coefBias, coefRaw: coefRaw)
        }
    }

    @inline(__always)
    public func accumulateColumnMoments(_ x: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int, merged: Int,
                       mean: UnsafeMutablePointer<Float>, m2: UnsafeMutablePointer<Float>) {
        switch isa {
        case .avx512: KernelsAVX512.accumulateColumnMoments(x, rows: rows, cols: cols, ld: ld, merged: merged, mean: mean, m2: m2)
        case .avx2: Kernels.accumulateColumnMoments(x, rows: rows, cols: cols, ld: ld, merged: merged, mean: mean, m2: m2)
        }
    }

    @inline(__always)
    public func columnSums(_ x: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int, into sums: UnsafeMutablePointer<Float>,
                    continuing: Bool) {
        switch isa {
        case .avx512: KernelsAVX512.columnSums(x, rows: rows, cols: cols, ld: ld, into: sums, continuing: continuing)
        case .avx2: Kernels.columnSums(x, rows: rows, cols: cols, ld: ld, into: sums, continuing: continuing)
        }
    }

    @inline(__always)
    public func embeddingRowSums(_ rows: UnsafePointer<Float>, count: Int, cols: Int,
                                 indices: UnsafePointer<Int32>, vocab: Int, perRow: Int, sums: UnsafeMutablePointer<Float>) {
        switch isa {
        case .avx512:
            KernelsAVX512.embeddingRowSums(rows, count: count, cols: cols, indices: indices, vocab: vocab, perRow: perRow, sums: sums)
        case .avx2: Kernels.embeddingRowSums(rows, count: count, cols: cols, indices: indices, vocab: vocab, perRow: perRow, sums: sums)
        }
    }

    /// The folded forward's token tables: Tⱼ [V × Hp] = C·W1ⱼ for each position j
    /// (T₀ starting from `b1`) into `tables` [B·V × Hp] in column blocks
    /// (`ColumnBlocks`), which `tokenTableSums` reads: one product per table
    /// and block, each output the same FMA chain as one product per table.
    /// C is [V × E], W1 [B·E × Hp].
    public func tokenTables(_ s: ModelShape, C: UnsafePointer<Float>, W1: UnsafePointer<Float>, b1: UnsafePointer<Float>,
                            into tables: UnsafeMutablePointer<Float>, tile: GemmTile) {
        let (V, B, E, Hp) = (s.vocabSize, s.blockSize, s.nEmbd, s.hiddenPadded)
        var c0 = 0
        while c0 < Hp {
            let width = ColumnBlocks.width(at: c0, cols: Hp)
            let block = tables + c0 * B * V
            for j in 0..<B {
                gemm(m: V, n: width, k: E, a: C, aRow: E, aCol: 1, b: W1 + j * E * Hp + c0, ldb: Hp,
                     c: block + j * V * width, ldc: width, start: j == 0 ? .bias(b1 + c0) : .zero, tile: tile)
            }
            c0 += width
        }
    }

    @inline(__always)
    public func tokenTableSums(_ tables: UnsafePointer<Float>, vocab: Int, cols: Int, indices: UnsafePointer<Int32>,
                               perRow: Int, rows: Int, out: UnsafeMutablePointer<Float>, ldo: Int) {
        switch isa {
        case .avx512:
            KernelsAVX512.tokenTableSums(tables, vocab: vocab, cols: cols, indices: indices, perRow: perRow, rows: rows, out: out, ldo: ldo)
        case .avx2:
            Kernels.tokenTableSums(tables, vocab: vocab, cols: cols, indices: indices, perRow: perRow, rows: rows, out: out, ldo: ldo)
        }
    }

    /// Lanes per FMA of this ISA's peak probe (8 on AVX2, 16 on AVX-512).
    public var fmaPeakVectorWidth: Int {
        switch isa {
        case .avx512: KernelsAVX512.fmaPeakVectorWidth
        case .avx2: Kernels.fmaPeakVectorWidth
        }
    }

    /// One thread's FMA throughput in GFLOP/s on this ISA's registers (see FMAPeak.swift).
    public func measureFMAPeak(seconds: Double) -> Double {
        switch isa {
        case .avx512: KernelsAVX512.measureFMAPeak(seconds: seconds)
        case .avx2: Kernels.measureFMAPeak(seconds: seconds)
        }
    }
}
