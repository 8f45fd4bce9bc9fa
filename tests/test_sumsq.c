/*
 * test_sumsq.c - the squared-norm kernels (src/kernels/sumsq.c) against a
 * sum recomputed in double, on lengths around their 16-lane and 4096-element
 * block boundaries: bsnn__sumsq_f32, bsnn__add_sumsq_f32 (which also adds
 * the vector into an accumulator) and bsnn__sumsq_max_f32 (the engine's one
 * pass for the statistics and the checks: the same sum to the bit, and the
 * largest magnitude as the test finds it, NaN above infinity).
 */
#include "testutil.h"

#include "kernels/kernels.h"

#include <math.h>
#include <string.h>

static const size_t lengths[] = {0,    1,    15,   16,   17,   63,    4095,  4096,
                                 4097, 8191, 8200, 12289, 16384, 16387, 100003};

static float val(size_t i, uint32_t seed)
{
    uint32_t h = (uint32_t)(i * 2654435761u) ^ (seed * 40503u);
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    /* magnitudes from 1e-3 to 1e3, both signs */
    return (float)(((h & 0xffff) / 32768.0 - 1.0) * pow(10.0, (double)((h >> 16) % 7) - 3.0));
}

static float *filled(size_t n, uint32_t seed)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = val(i, seed);
    return v;
}

static double exact_sumsq(const float *v, size_t n)
{
    long double s = 0.0L;
    for (size_t i = 0; i < n; i++) s += (long double)v[i] * v[i];
    return (double)s;
}

/* The largest |v| as the bits of a non-negative float, NaN above infinity:
 * from fabsf and a comparison that orders NaN last. */
static uint32_t exact_max_bits(const float *v, size_t n)
{
    float best = 0.0f;
    int nan = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(v[i])) nan = 1;
        else if (fabsf(v[i]) > best) best = fabsf(v[i]);
    }
    uint32_t b;
    memcpy(&b, &best, sizeof b);
    if (nan) {
        uint32_t top = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t x;
            memcpy(&x, &v[i], sizeof x);
            x &= 0x7fffffffu;
            if (x > top) top = x;
        }
        return top;
    }
    return b;
}

Test(sumsq, the_sum_of_squares_matches_a_sum_in_long_double)
{
    for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
        size_t n = lengths[k];
        float *v = filled(n, 1);
        double got = bsnn__sumsq_f32(v, n), want = exact_sumsq(v, n);
        cr_assert_leq(fabs(got - want), 1e-6 * want + 1e-30, "n %zu: %.17g vs %.17g", n, got,
                      want);
        free(v);
    }
}

Test(sumsq, add_sumsq_adds_the_vector_exactly_and_returns_the_same_sum)
{
    for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
        size_t n = lengths[k];
        float *v = filled(n, 2), *acc = filled(n, 3), *want = filled(n, 3);
        for (size_t i = 0; i < n; i++) want[i] += v[i];
        double got = bsnn__add_sumsq_f32(acc, v, n);
        cr_assert_eq(got, bsnn__sumsq_f32(v, n), "n %zu", n);
        cr_assert(n == 0 || memcmp(acc, want, n * sizeof *acc) == 0, "n %zu: acc differs", n);
        free(v), free(acc), free(want);
    }
}

Test(sumsq, the_one_pass_form_gives_the_same_sum_and_the_largest_magnitude)
{
    for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
        size_t n = lengths[k];
        float *v = filled(n, 4);
        for (int special = 0; special < 4; special++) {
            if (n && special == 1) v[n / 2] = -3e38f;      /* the largest, negative */
            if (n && special == 2) v[n - 1] = INFINITY;    /* in the last block's tail */
            if (n && special == 3) v[n / 3] = NAN;         /* NaN above infinity */
            uint32_t bits = 12345;
            double got = bsnn__sumsq_max_f32(v, n, &bits);
            double want = bsnn__sumsq_f32(v, n);
            cr_assert(memcmp(&got, &want, sizeof got) == 0 || (isnan(got) && isnan(want)),
                      "n %zu case %d: %.17g vs %.17g", n, special, got, want);
            cr_assert_eq(bits, exact_max_bits(v, n), "n %zu case %d: %08x vs %08x", n, special,
                         bits, exact_max_bits(v, n));
            cr_assert_eq(bits, bsnn__max_abs_bits(v, n), "n %zu case %d", n, special);
        }
        free(v);
    }
}
