/*
 * sumsq.c - squared norms of float vectors for the gradient noise scale:
 * sixteen independent float lanes (so the compiler vectorises them at -O3
 * without reassociating anything), flushed into a double every 4096
 * elements, so the result is deterministic and accurate to about 1e-6 at
 * any length.
 */
#include "kernels/kernels.h"

enum { LANES = 16, BLOCK = 4096 };

/* The sum of lanes, added in a fixed order. */
static double flush(float *lane)
{
    double s = 0.0;
    for (int j = 0; j < LANES; j++) {
        s += lane[j];
        lane[j] = 0.0f;
    }
    return s;
}

double bsnn__sumsq_f32(const float *x, size_t count)
{
    float lane[LANES] = {0};
    double total = 0.0;
    size_t i = 0;
    while (i + LANES <= count) {
        size_t end = i + BLOCK < count ? i + BLOCK : count;
        for (; i + LANES <= end; i += LANES)
            for (int j = 0; j < LANES; j++) lane[j] += x[i + j] * x[i + j];
        total += flush(lane);
    }
    for (; i < count; i++) total += (double)x[i] * x[i];
    return total;
}

double bsnn__add_sumsq_f32(float *acc, const float *x, size_t count)
{
    float lane[LANES] = {0};
    double total = 0.0;
    size_t i = 0;
    while (i + LANES <= count) {
        size_t end = i + BLOCK < count ? i + BLOCK : count;
        for (; i + LANES <= end; i += LANES)
            for (int j = 0; j < LANES; j++) {
                float v = x[i + j];
                acc[i + j] += v;
                lane[j] += v * v;
            }
        total += flush(lane);
    }
    for (; i < count; i++) {
        acc[i] += x[i];
        total += (double)x[i] * x[i];
    }
    return total;
}
