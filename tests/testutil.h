/*
 * testutil.h - helpers shared by the Criterion tests: a counting allocator
 * (also the allocation-failure injector) and small model builders.
 */
#ifndef BSNN_TESTUTIL_H
#define BSNN_TESTUTIL_H

#include <bsnn.h>

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Counting allocator: allocation count, live bytes, and failure of the
 * fail_at-th allocation (0: never fail). With persistent set, every
 * allocation after that one fails too while `failing` stays set: the test
 * clears it when the public call that met the failure returns (SQLite's
 * persistent fault mode). */
typedef struct tu_alloc_stats {
    size_t allocs, frees, live_bytes, peak_bytes;
    size_t fail_at, failed;
    int persistent, failing;
} tu_alloc_stats;

static tu_alloc_stats tu_stats;

static void *tu_alloc(void *user, size_t size)
{
    (void)user;
    if (tu_stats.failing || (tu_stats.fail_at && tu_stats.allocs + 1 == tu_stats.fail_at)) {
        tu_stats.allocs++;
        tu_stats.failed++;
        tu_stats.failing = tu_stats.persistent;
        return NULL;
    }
    void *p = malloc(size);
    if (p) {
        tu_stats.allocs++;
        tu_stats.live_bytes += size;
        if (tu_stats.live_bytes > tu_stats.peak_bytes) tu_stats.peak_bytes = tu_stats.live_bytes;
    }
    return p;
}

static void tu_free(void *user, void *ptr, size_t size)
{
    (void)user;
    tu_stats.frees++;
    tu_stats.live_bytes -= size;
    free(ptr);
}

/* Install the counting allocator; call before any bsnn object exists. */
static inline void tu_count_allocations(size_t fail_at)
{
    memset(&tu_stats, 0, sizeof tu_stats);
    tu_stats.fail_at = fail_at;
    cr_assert_eq(bsnn_set_allocator(tu_alloc, tu_free, NULL), BSNN_OK, "%s", bsnn_last_error());
}

static inline void tu_restore_allocator(void)
{
    cr_assert_eq(bsnn_set_allocator(NULL, NULL, NULL), BSNN_OK, "%s", bsnn_last_error());
}

/* A model n_in -> hidden (act) -> n_out (out_act), params from seed, with
 * MSE chosen (the loss the tests using it were written for). */
static inline bsnn_model *tu_mlp(size_t n_in, size_t hidden, bsnn_activation act, size_t n_out,
                                 bsnn_activation out_act, uint64_t seed)
{
    bsnn_model *m = bsnn_model_create(n_in);
    cr_assert_not_null(m, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(hidden)), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(act)), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(n_out)), BSNN_OK, "%s", bsnn_last_error());
    if (out_act != BSNN_ACT_LINEAR)
        cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(out_act)), BSNN_OK, "%s",
                     bsnn_last_error());
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_MSE), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_model_init_params(m, seed), BSNN_OK);
    return m;
}

/* A rank-2 tensor borrowing rows x cols floats. */
static inline bsnn_tensor *tu_wrap(float *data, size_t rows, size_t cols)
{
    size_t shape[2] = {rows, cols};
    bsnn_tensor *t = bsnn_tensor_wrap(data, 2, shape);
    cr_assert_not_null(t, "%s", bsnn_last_error());
    return t;
}

/* Relative difference |a-b| / max(|a|,|b|,floor). */
static inline double tu_rel(double a, double b, double floor_)
{
    double d = fabs(a - b), s = fmax(fmax(fabs(a), fabs(b)), floor_);
    return d / s;
}

#endif
