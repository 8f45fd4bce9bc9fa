/*
 * rng.c - bsnn's own pseudo-random generator (xoshiro256**, seeded through
 * splitmix64), so results never depend on the host's rand() and a seed gives
 * the same stream on every platform.
 */
#include "common/common.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void bsnn__rng_seed(bsnn_rng *rng, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&x);
}

uint64_t bsnn__rng_next(bsnn_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double bsnn__rng_uniform(bsnn_rng *rng)
{
    return (double)(bsnn__rng_next(rng) >> 11) * 0x1.0p-53;
}

uint64_t bsnn__rng_below(bsnn_rng *rng, uint64_t bound)
{
    /* Rejection keeps every value equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t r;
    do r = bsnn__rng_next(rng);
    while (r >= limit);
    return r % bound;
}

double bsnn__rng_normal(bsnn_rng *rng)
{
    double v1, v2, s;
    do {
        v1 = 2.0 * bsnn__rng_uniform(rng) - 1.0;
        v2 = 2.0 * bsnn__rng_uniform(rng) - 1.0;
        s = v1 * v1 + v2 * v2;
    } while (s >= 1.0 || s == 0.0);
    return v1 * sqrt(-2.0 * log(s) / s);
}

void bsnn__shuffle(size_t *v, size_t n, bsnn_rng *rng)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)bsnn__rng_below(rng, i);
        size_t tmp = v[i - 1];
        v[i - 1] = v[j];
        v[j] = tmp;
    }
}
