/*
 * cpu.c - what the CPU can run, asked once: bsnn's own kernels (kernels/)
 * are compiled for AVX2 and FMA and chosen at run time from this answer,
 * so a build runs everywhere and the choice never depends on anything but
 * the CPU.
 */
#include "common/common.h"

#include <stdatomic.h>

int bsnn__cpu_avx2(void)
{
#if defined(__GNUC__) && defined(__x86_64__)
    /* Atomic: the first calls may come from several threads at once (each
     * computes the same answer, so relaxed ordering is enough). */
    static _Atomic int cached = -1;
    int v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        atomic_store_explicit(&cached, v, memory_order_relaxed);
    }
    return v;
#else
    return 0;
#endif
}
