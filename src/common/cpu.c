/*
 * cpu.c - what the CPU can run, asked once: bsnn's own kernels (kernels/)
 * are compiled for AVX2/FMA and AVX-512F and chosen at run time from these
 * answers, so a build runs everywhere and the choice never depends on
 * anything but the CPU.
 */
#include "common/common.h"

#include <stdatomic.h>

#if defined(__GNUC__) && defined(__x86_64__)
/* The answers as bits, -1 until asked. Atomic: the first calls may come
 * from several threads at once (each computes the same answer, so relaxed
 * ordering is enough). */
#define CPU_AVX2 1
#define CPU_AVX512F 2
static int cpu_features(void)
{
    static _Atomic int cached = -1;
    int v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v < 0) {
        __builtin_cpu_init();
        v = 0;
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) v |= CPU_AVX2;
        /* libgcc answers avx512f only when the OS also saves the zmm and
         * mask registers (XGETBV), so a yes here can never end in SIGILL. */
        if ((v & CPU_AVX2) && __builtin_cpu_supports("avx512f")) v |= CPU_AVX512F;
        atomic_store_explicit(&cached, v, memory_order_relaxed);
    }
    return v;
}

int bsnn__cpu_avx2(void) { return (cpu_features() & CPU_AVX2) != 0; }
int bsnn__cpu_avx512f(void) { return (cpu_features() & CPU_AVX512F) != 0; }
#else
int bsnn__cpu_avx2(void) { return 0; }
int bsnn__cpu_avx512f(void) { return 0; }
#endif
