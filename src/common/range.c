/*
 * range.c - passes over a range cut into chunks of a fixed grain, run
 * through bsnn__parallel: the grain is chosen from the data's sizes only
 * (never the thread count), so the chunks, and any per-chunk partial
 * results, are the same whatever runs them.
 */
#include "common/common.h"

typedef struct range_job {
    bsnn__range_fn fn;
    void *ctx;
    size_t count, grain;
} range_job;

static void run_range(void *ctx, size_t chunk)
{
    const range_job *j = ctx;
    size_t lo = chunk * j->grain, hi = lo + j->grain < j->count ? lo + j->grain : j->count;
    j->fn(j->ctx, lo, hi, chunk);
}

size_t bsnn__range_chunks(size_t count, size_t grain)
{
    return grain ? count / grain + (count % grain != 0) : 0;
}

void bsnn__parallel_ranges(size_t count, size_t grain, bsnn__range_fn fn, void *ctx)
{
    size_t chunks = bsnn__range_chunks(count, grain);
    range_job j = {fn, ctx, count, grain};
    bsnn__parallel(chunks, run_range, &j);
}

size_t bsnn__row_grain(size_t width)
{
    return width >= BSNN_PARALLEL_CHUNK ? 1 : BSNN_PARALLEL_CHUNK / (width ? width : 1);
}
