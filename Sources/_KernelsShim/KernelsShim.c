// CPU feature checks, compiled for baseline x86-64 so they run on any CPU,
// before any AVX code does. Read straight from CPUID and XGETBV.
#include "KernelsShim.h"

#if defined(__x86_64__)
#include <cpuid.h>

static unsigned long long xcr0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

int makemore_cpu_has_avx2(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const unsigned int leaf1 = (1u << 12) | (1u << 22) | (1u << 23) | (1u << 27) | (1u << 28) | (1u << 29);  // fma movbe popcnt osxsave avx f16c
    if ((c & leaf1) != leaf1) return 0;
    if ((xcr0() & 0x6) != 0x6) return 0;  // XMM and YMM state
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    const unsigned int leaf7 = (1u << 3) | (1u << 5) | (1u << 8);  // bmi1 avx2 bmi2
    if ((b & leaf7) != leaf7) return 0;
    if (!__get_cpuid(0x80000001, &a, &b, &c, &d)) return 0;
    return (c & (1u << 5)) != 0;  // lzcnt
}

int makemore_cpu_has_avx512(void) {
    if (!makemore_cpu_has_avx2()) return 0;
    if ((xcr0() & 0xE6) != 0xE6) return 0;  // opmask, ZMM_Hi256, Hi16_ZMM state
    unsigned int a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    const unsigned int leaf7 = (1u << 16) | (1u << 17) | (1u << 28) | (1u << 30) | (1u << 31);  // f dq cd bw vl
    return (b & leaf7) == leaf7;
}
#else
int makemore_cpu_has_avx2(void) { return 0; }
int makemore_cpu_has_avx512(void) { return 0; }
#endif
