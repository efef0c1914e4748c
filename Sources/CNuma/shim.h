// What Swift cannot import from libnuma and glibc directly: CPU_SET and friends
// are macros, futex is reached only through variadic syscall(). Keep this file
// to small static inline helpers.
#ifndef MAKEMORE_CNUMA_SHIM_H
#define MAKEMORE_CNUMA_SHIM_H
#include <numa.h>
#endif
