/*
 * finite.c - the finiteness scan every entry point runs over caller and
 * file data, and the update runs over parameters and gradients.
 */
#include "common/common.h"

int bsnn__all_finite(const float *v, size_t count)
{
    /* An element is NaN or infinite exactly when its exponent bits are all
     * set. Counting those in integers keeps the loop branch-free, and unlike
     * a float sum the compiler may vectorise it (built at -O3, see Makefile). */
    uint32_t bad = 0;
    for (size_t i = 0; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, v + i, sizeof bits);
        bad |= (uint32_t)((bits & 0x7f800000u) == 0x7f800000u);
    }
    return bad == 0;
}

/* The scan, written once and compiled for the baseline and for AVX2 (twice
 * the lanes), chosen at run time; integer maxima, so the same answer. */
static inline __attribute__((always_inline)) uint32_t max_bits(const float *v, size_t count)
{
    uint32_t mx = 0;
    for (size_t i = 0; i < count; i++) {
        uint32_t bits = bsnn__mag_bits(v[i]);
        mx = bits > mx ? bits : mx;
    }
    return mx;
}

static uint32_t max_bits_base(const float *v, size_t count) { return max_bits(v, count); }

#if defined(__GNUC__) && defined(__x86_64__)
__attribute__((target("avx2"))) static uint32_t max_bits_avx2(const float *v, size_t count)
{
    return max_bits(v, count);
}
#else
#define max_bits_avx2 max_bits_base
#endif

uint32_t bsnn__max_abs_bits(const float *v, size_t count)
{
    if (count <= 64) return max_bits(v, count); /* not worth a dispatch */
    return bsnn__cpu_avx2() ? max_bits_avx2(v, count) : max_bits_base(v, count);
}
