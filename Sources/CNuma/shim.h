// What Swift cannot import from libnuma and glibc directly. CPU_SET and
// friends are macros, so pinning goes through libnuma's bitmask API; these
// helpers keep the few C-isms in one place.
#ifndef MAKEMORE_CNUMA_SHIM_H
#define MAKEMORE_CNUMA_SHIM_H
#include <numa.h>

/// Pins the calling thread to one CPU. Returns 0 or an errno value.
static inline int makemore_pin_current_thread(int cpu) {
    struct bitmask *mask = numa_allocate_cpumask();
    if (!mask) return 12; /* ENOMEM */
    numa_bitmask_setbit(mask, (unsigned int)cpu);
    int rc = numa_sched_setaffinity(0, mask);
    numa_free_cpumask(mask);
    return rc == 0 ? 0 : 22; /* EINVAL */
}

/// Lets the calling thread run on any of `cpus` again (undoes a pin, e.g.
/// before starting child processes, which inherit the mask). 0 or an errno value.
static inline int makemore_allow_current_thread(const int *cpus, int count) {
    struct bitmask *mask = numa_allocate_cpumask();
    if (!mask) return 12; /* ENOMEM */
    for (int i = 0; i < count; i++) numa_bitmask_setbit(mask, (unsigned int)cpus[i]);
    int rc = numa_sched_setaffinity(0, mask);
    numa_free_cpumask(mask);
    return rc == 0 ? 0 : 22; /* EINVAL */
}

/// A spin-wait hint: on x86 `pause` frees the core's shared resources for a
/// sibling hyperthread and avoids a memory-order mis-speculation on loop exit.
static inline void makemore_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// Whether `cpu` is in the calling process's affinity mask (containers and
/// taskset restrict it below what the node reports).
static inline int makemore_cpu_allowed(int cpu) {
    struct bitmask *mask = numa_allocate_cpumask();
    if (!mask) return 1;
    int ok = 1;
    if (numa_sched_getaffinity(0, mask) >= 0) ok = numa_bitmask_isbitset(mask, (unsigned int)cpu);
    numa_free_cpumask(mask);
    return ok;
}
#endif
