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

/// Lane-wise maximum (vmaxps).
MM_INLINE mm_f32x16 mm_max16(mm_f32x16 a, mm_f32x16 b) { return __builtin_elementwise_max(a, b); }

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

/// A hint to start loading the cache line at `p` (prefetcht0); never faults.
MM_INLINE void mm_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

/// 1 where the CPU and the OS support what `-target-cpu haswell` code uses
/// (AVX2, FMA, BMI1/2, LZCNT, MOVBE, F16C, POPCNT, and the YMM state enabled).
int makemore_cpu_has_avx2(void);
/// 1 where additionally AVX-512 F, CD, BW, DQ and VL are there and enabled
/// (what `-target-cpu skylake-avx512` code uses).
int makemore_cpu_has_avx512(void);

#endif
