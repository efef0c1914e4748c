// Vector operations Swift's SIMD types do not lower well. Swift's generic
// `pointwiseMax`, `.max()`, `.sum()` and SIMDMask comparisons on SIMD16<Float>
// often compile to per-lane scalar loops through the stack; clang's vector
// builtins give single instructions. ext_vector_type(16) float imports into
// Swift as SIMD16<Float>, and static inline functions inline into the caller.
#ifndef MAKEMORE_KERNELS_SHIM_H
#define MAKEMORE_KERNELS_SHIM_H

typedef float mm_f32x16 __attribute__((ext_vector_type(16)));
typedef float mm_f32x8 __attribute__((ext_vector_type(8)));
typedef float mm_f32x4 __attribute__((ext_vector_type(4)));

#define MM_INLINE static inline __attribute__((always_inline))

/// Lane-wise maximum, a > b ? a : b: one vmaxps per vector. A NaN in either
/// operand gives b. (__builtin_elementwise_max skips NaNs instead, which costs
/// a compare and a blend per vector; the softmax needs neither: a NaN logit
/// makes its row's sum NaN whatever the maximum is.)
MM_INLINE mm_f32x16 mm_max16(mm_f32x16 a, mm_f32x16 b) { return a > b ? a : b; }

/// Largest lane, by halving.
MM_INLINE float mm_reduce_max16(mm_f32x16 a) {
    mm_f32x8 b = __builtin_elementwise_max(__builtin_shufflevector(a, a, 0, 1, 2, 3, 4, 5, 6, 7),
                                           __builtin_shufflevector(a, a, 8, 9, 10, 11, 12, 13, 14, 15));
    mm_f32x4 c = __builtin_elementwise_max(__builtin_shufflevector(b, b, 0, 1, 2, 3),
                                           __builtin_shufflevector(b, b, 4, 5, 6, 7));
    float x = c[0] > c[2] ? c[0] : c[2], y = c[1] > c[3] ? c[1] : c[3];
    return x > y ? x : y;
}

/// Sum of the lanes, by halving (a fixed order, so results are reproducible).
MM_INLINE float mm_reduce_add16(mm_f32x16 a) {
    mm_f32x8 b = __builtin_shufflevector(a, a, 0, 1, 2, 3, 4, 5, 6, 7)
               + __builtin_shufflevector(a, a, 8, 9, 10, 11, 12, 13, 14, 15);
    mm_f32x4 c = __builtin_shufflevector(b, b, 0, 1, 2, 3) + __builtin_shufflevector(b, b, 4, 5, 6, 7);
    return (c[0] + c[2]) + (c[1] + c[3]);
}

// MARK: - 16 reductions at once
//
// Lane i of the result is the reduction of the 16 lanes of row i of a 16×16
// tile (row-major, 16 floats a row, any 4-byte alignment). The additions and
// maxima are done in exactly the order of mm_reduce_add16 / mm_reduce_max16
// (lanes j and j+8, then j and j+4, then j and j+2, then 0 and 1), so lane i
// equals mm_reduce_add16(row i) bit for bit; but the 16 reductions share
// their shuffles: 15 vector operations and ~30 two-source shuffles in all
// instead of 16 × (3 shuffles + 4 scalar operations + an extract).
//
// The tree combines vectors in pairs; each level halves the partials per row
// and the number of vectors. The shuffle patterns are chosen to be cheap on
// AVX2, where a 16-lane vector is two ymm halves: level 1 needs no shuffle
// (it only regroups halves), level 2 is vperm2f128, levels 3 and 4 are
// vshufps within 128-bit lanes. They leave the total of the vector read in
// slot 4a + b in lane 4·b' + a (b' = b with its two bits swapped), so slot
// 4a + b reads row 4·b' + a (rev_ below) and row i lands in lane i. Being lane-exact shufflevector semantics, the result does
// not depend on the target ISA.

typedef float mm_f32x16u __attribute__((ext_vector_type(16), aligned(4)));

#define MM_LOAD16U(p) (*(const mm_f32x16u *)(p))

#define MM_TREE16x16(OP, tile)                                                                        \
    const float *t_ = (tile);                                                                         \
    /* Level 1: b_j = a_j (op) a_{j+8}; vector k holds rows rev_[2k] in lanes 0-7, rev_[2k+1] in 8-15. */ \
    mm_f32x16 b_[8];                                                                                  \
    static const int rev_[16] = {0, 8, 4, 12, 1, 9, 5, 13, 2, 10, 6, 14, 3, 11, 7, 15};               \
    for (int k = 0; k < 8; k++) {                                                                     \
        mm_f32x16 p_ = MM_LOAD16U(t_ + 16 * rev_[2 * k]), q_ = MM_LOAD16U(t_ + 16 * rev_[2 * k + 1]);  \
        b_[k] = OP(__builtin_shufflevector(p_, q_, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23), \
                   __builtin_shufflevector(p_, q_, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31)); \
    }                                                                                                 \
    /* Level 2: c_j = b_j (op) b_{j+4}. */                                                            \
    mm_f32x16 c_[4];                                                                                  \
    for (int m = 0; m < 4; m++) {                                                                     \
        mm_f32x16 p_ = b_[2 * m], q_ = b_[2 * m + 1];                                                 \
        c_[m] = OP(__builtin_shufflevector(p_, q_, 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27), \
                   __builtin_shufflevector(p_, q_, 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31)); \
    }                                                                                                 \
    /* Level 3: d_j = c_j (op) c_{j+2}. */                                                            \
    mm_f32x16 d_[2];                                                                                  \
    for (int t = 0; t < 2; t++) {                                                                     \
        mm_f32x16 p_ = c_[2 * t], q_ = c_[2 * t + 1];                                                 \
        d_[t] = OP(__builtin_shufflevector(p_, q_, 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29), \
                   __builtin_shufflevector(p_, q_, 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31)); \
    }                                                                                                 \
    /* Level 4: d_0 (op) d_1. */                                                                      \
    return OP(__builtin_shufflevector(d_[0], d_[1], 0, 2, 16, 18, 4, 6, 20, 22, 8, 10, 24, 26, 12, 14, 28, 30), \
              __builtin_shufflevector(d_[0], d_[1], 1, 3, 17, 19, 5, 7, 21, 23, 9, 11, 25, 27, 13, 15, 29, 31));

#define MM_ADD_(a, b) ((a) + (b))
#define MM_MAX_(a, b) ((a) > (b) ? (a) : (b))  /* as mm_max16; a, b have no side effects */

/// Lane i = mm_reduce_add16(tile[16 i ..< 16 i + 16]), for i in 0..<16.
MM_INLINE mm_f32x16 mm_reduce_add16x16(const float *tile) { MM_TREE16x16(MM_ADD_, tile) }

/// Lane i = mm_reduce_max16(tile[16 i ..< 16 i + 16]) (for rows without NaN).
MM_INLINE mm_f32x16 mm_reduce_max16x16(const float *tile) { MM_TREE16x16(MM_MAX_, tile) }


// MARK: - FMA peak probe
//
// MM_FPEAK_CHAINS independent FMA chains a = a·m + c of the widest vector the
// target compiles natively: 16 lanes (one zmm) with AVX-512, else 8 (one ymm
// with AVX2; two q registers on NEON). 12 chains cover two FMA pipes of
// latency 4-5 (8-10 FMAs in flight) and, at 8 lanes, take 12 of AVX2's 16 ymm
// registers with m and c, so nothing spills. m < 1 and c > 0 keep every value
// near 1 (no overflow, no subnormals). The loop is compiled with the Swift
// module's -target-cpu (this header is inlined into Kernels).

#if defined(__AVX512F__)
#define MM_FPEAK_WIDTH 16
#else
#define MM_FPEAK_WIDTH 8
#endif
#define MM_FPEAK_CHAINS 12

/// Vector registers of the ISA this header is compiled for: 32 zmm with
/// AVX-512 (a SIMD16<Float> in one), 16 ymm with AVX2 (a SIMD16 in two). A
/// constant, so a kernel can size its groups of accumulators by it.
MM_INLINE int mm_vector_registers(void) { return MM_FPEAK_WIDTH == 16 ? 32 : 16; }

typedef float mm_fpeak_t __attribute__((ext_vector_type(MM_FPEAK_WIDTH)));

/// FLOPs of one iteration of mm_fma_peak_loop: 2 per lane per FMA.
MM_INLINE int mm_fma_peak_flops_per_iteration(void) { return 2 * MM_FPEAK_CHAINS * MM_FPEAK_WIDTH; }

/// Lanes per vector in the probe (8 or 16).
MM_INLINE int mm_fma_peak_width(void) { return MM_FPEAK_WIDTH; }

/// `n` iterations of 12 independent FMAs; `seed` (≈ 1) starts the chains, and
/// the result (≈ 1: the chains' mean, so a caller can feed it back as the next
/// seed) depends on every FMA, so none can be dropped.
MM_INLINE float mm_fma_peak_loop(long n, float seed) {
    const mm_fpeak_t m = 0.9999f, c = 1e-4f;
    mm_fpeak_t a0 = seed, a1 = seed + 1e-3f, a2 = seed + 2e-3f, a3 = seed + 3e-3f;
    mm_fpeak_t a4 = seed + 4e-3f, a5 = seed + 5e-3f, a6 = seed + 6e-3f, a7 = seed + 7e-3f;
    mm_fpeak_t a8 = seed + 8e-3f, a9 = seed + 9e-3f, a10 = seed + 10e-3f, a11 = seed + 11e-3f;
    for (long i = 0; i < n; i++) {
        a0 = __builtin_elementwise_fma(a0, m, c); a1 = __builtin_elementwise_fma(a1, m, c);
        a2 = __builtin_elementwise_fma(a2, m, c); a3 = __builtin_elementwise_fma(a3, m, c);
        a4 = __builtin_elementwise_fma(a4, m, c); a5 = __builtin_elementwise_fma(a5, m, c);
        a6 = __builtin_elementwise_fma(a6, m, c); a7 = __builtin_elementwise_fma(a7, m, c);
        a8 = __builtin_elementwise_fma(a8, m, c); a9 = __builtin_elementwise_fma(a9, m, c);
        a10 = __builtin_elementwise_fma(a10, m, c); a11 = __builtin_elementwise_fma(a11, m, c);
    }
    mm_fpeak_t s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));
    float t = 0;
    for (int i = 0; i < MM_FPEAK_WIDTH; i++) t += s[i];
    return t / (MM_FPEAK_CHAINS * MM_FPEAK_WIDTH);
}

// MARK: - 8×8 transpose

typedef float mm_f32x8u __attribute__((ext_vector_type(8), aligned(4)));

/// out[i] = column i of the 8 rows r: unpack, in-lane shuffle, then a swap of
/// 128-bit halves, the usual 24 shuffles instead of 64 scalar moves.
MM_INLINE void mm_transpose8x8_registers(const mm_f32x8 r[8], mm_f32x8 out[8]) {
    mm_f32x8 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = __builtin_shufflevector(t[i], t[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
        u[i + 1] = __builtin_shufflevector(t[i], t[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        u[i + 2] = __builtin_shufflevector(t[i + 1], t[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
        u[i + 3] = __builtin_shufflevector(t[i + 1], t[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
    }
    for (int i = 0; i < 4; i++) {
        out[i] = __builtin_shufflevector(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        out[i + 4] = __builtin_shufflevector(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    }
}

/// Row i of dst (ldd floats apart) = column i of the 8×8 block of src (rows
/// lds floats apart). Only moves floats.
MM_INLINE void mm_transpose8x8(const float *src, long lds, float *dst, long ldd) {
    mm_f32x8 r[8], out[8];
    for (int i = 0; i < 8; i++) r[i] = *(const mm_f32x8u *)(src + i * lds);
    mm_transpose8x8_registers(r, out);
    for (int i = 0; i < 8; i++) *(mm_f32x8u *)(dst + i * ldd) = out[i];
}

/// The same for the first `n` (1...7) rows of the block, the others read as
/// zeros: each of the 8 rows of dst gets n floats and then 8 − n zeros, so
/// dst's rows need room for 8 (a padded row's padding, which is zero anyway).
/// One call instead of 8·n scalar moves: the rows left over below a matrix's
/// last full 8 (30 = 3·8 + 6 rows of W1) cost as much as all its full blocks.
/// (Not a masked store: those are microcoded on some AVX2 CPUs.)
MM_INLINE void mm_transpose8xn(const float *src, long lds, int n, float *dst, long ldd) {
    mm_f32x8 r[8], out[8];
    for (int i = 0; i < 8; i++) r[i] = i < n ? *(const mm_f32x8u *)(src + i * lds) : (mm_f32x8)0;
    mm_transpose8x8_registers(r, out);
    for (int i = 0; i < 8; i++) *(mm_f32x8u *)(dst + i * ldd) = out[i];
}

/// A hint to start loading the cache line at `p` (prefetcht0); never faults.
MM_INLINE void mm_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

/// 1 where the CPU and the OS support what `-target-cpu haswell` code uses
/// (AVX2, FMA, BMI1/2, LZCNT, MOVBE, F16C, POPCNT, and the YMM state enabled).
int makemore_cpu_has_avx2(void);
/// 1 where additionally AVX-512 F, CD, BW, DQ and VL are there and enabled
/// (what `-target-cpu skylake-avx512` code uses).
int makemore_cpu_has_avx512(void);

#endif
