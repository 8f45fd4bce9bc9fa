/*
 * test_memory.c - bsnn_model_memory against the bytes really allocated
 * (counted through the allocator hook) while building and training several
 * nets (with and without batch norm and dropout) at several batch sizes with
 * several update rules; it must agree to the byte (one function lays the
 * workspace out for both). Also bsnn_model_max_batch and bad input.
 */
#include "testutil.h"

#include <stdio.h>

typedef struct net_case {
    size_t n_in, widths[4], n_dense, n_out;
    int norm; /* 1: batch norm and dropout after each hidden dense layer */
} net_case;

static bsnn_model *build(const net_case *c)
{
    bsnn_model *m = bsnn_model_create(c->n_in);
    bsnn_model_set_loss(m, BSNN_LOSS_MSE);
    for (size_t i = 0; i < c->n_dense; i++) {
        cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(c->widths[i])), BSNN_OK);
        if (c->norm) cr_assert_eq(bsnn_model_add(m, bsnn_layer_batchnorm()), BSNN_OK);
        cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_RELU)), BSNN_OK);
        if (c->norm) cr_assert_eq(bsnn_model_add(m, bsnn_layer_dropout(0.2)), BSNN_OK);
    }
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(c->n_out)), BSNN_OK);
    return m;
}

static bsnn_dataset *data(size_t n, size_t n_in, size_t n_out)
{
    float *x = calloc(n * n_in, sizeof(float)), *y = calloc(n * n_out, sizeof(float));
    for (size_t i = 0; i < n * n_in; i++) x[i] = (float)((i * 7919) % 13) / 13.0f - 0.5f;
    for (size_t i = 0; i < n * n_out; i++) y[i] = (float)((i * 104729) % 5) / 5.0f;
    bsnn_dataset *ds = bsnn_dataset_create(x, y, n, n_in, n_out);
    free(x);
    free(y);
    return ds;
}

/* The noise-scale route measure() sets on its models (0: off), training in
 * micro-batches of 4 rows when set. */
static int noise_route;

/* Peak bytes allocated from model creation through training at batch b,
 * minus the dataset and scheduler made before; and the estimate. */
static void measure(size_t *out_measured, size_t *out_estimate, const net_case *c, size_t b,
                    bsnn_optimizer_kind kind)
{
    tu_count_allocations(0);
    bsnn_dataset *ds = data(b, c->n_in, c->n_out);
    bsnn_scheduler *s = bsnn_scheduler_create(b);
    bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, (double)b);
    size_t base = tu_stats.live_bytes;
    bsnn_model *m = build(c);
    if (noise_route) {
        cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_NOISE_ROUTE, noise_route), BSNN_OK, "%s",
                     bsnn_last_error());
        bsnn_scheduler_set(s, BSNN_SCHED_MICRO_BATCH, 4);
    }
    bsnn_optimizer *opt = bsnn_optimizer_create(kind);
    /* Building grows the arenas layer by layer; count from the built model. */
    tu_stats.peak_bytes = tu_stats.live_bytes;
    size_t rows = noise_route && b > 4 ? 4 : b; /* the workspace holds one pass */
    cr_assert_eq(bsnn_model_memory(out_estimate, m, opt, rows), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, 2, NULL, NULL), BSNN_OK, "%s",
                 bsnn_last_error());
    *out_measured = tu_stats.peak_bytes - base;
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_scheduler_free(s);
    bsnn_dataset_free(ds);
    tu_restore_allocator();
}

Test(memory, estimate_is_the_allocated_bytes_exactly)
{
    const net_case nets[] = {
        {2, {4}, 1, 1, 0},
        {16, {64, 32}, 2, 10, 0},
        {784, {128}, 1, 10, 0},
        {10, {256, 256, 128}, 3, 3, 0},
        {12, {48, 24}, 2, 4, 1},
    };
    const size_t batches[] = {2, 7, 64, 300}; /* batch norm needs 2 rows */
    const bsnn_optimizer_kind kinds[] = {BSNN_SGD, BSNN_ADAM, BSNN_AMSGRAD};
    double worst = 0.0;
    for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++)
        for (size_t j = 0; j < sizeof batches / sizeof batches[0]; j++)
            for (size_t k = 0; k < 3; k++) {
                size_t measured, est;
                measure(&measured, &est, &nets[i], batches[j], kinds[k]);
                double rel = tu_rel((double)est, (double)measured, 1.0);
                worst = fmax(worst, rel);
                cr_assert_eq(est, measured, "net %zu batch %zu rule %d: estimate %zu, allocated %zu",
                             i, batches[j], (int)kinds[k], est, measured);
                if (k == 1 && (j == 0 || j == 3 || i == 4))
                    cr_log_info("memory: net %zu batch %zu adam: estimate %zu B, allocated %zu B",
                                i, batches[j], est, measured);
            }
    cr_log_info("memory: worst relative difference %.4f%%", 100.0 * worst);
}

/* With a noise-scale route (the micro-batch route keeps a gradient-sized
 * buffer from the moment it is set) the estimate is still exact. */
Test(memory, estimate_is_exact_with_a_noise_route)
{
    const net_case nets[] = {{16, {64, 32}, 2, 10, 0}, {12, {48, 24}, 2, 4, 1}};
    const size_t batches[] = {2, 8, 64}; /* whole micro-batches: batch norm needs 2 rows */
    for (int route = BSNN_NOISE_MICRO_BATCH; route <= BSNN_NOISE_PER_SAMPLE; route++)
        for (size_t i = 0; i < 2; i++)
            for (size_t j = 0; j < 3; j++) {
                if (route == BSNN_NOISE_PER_SAMPLE && nets[i].norm) continue; /* refused */
                size_t measured, est;
                noise_route = route;
                measure(&measured, &est, &nets[i], batches[j], BSNN_ADAM);
                noise_route = 0;
                cr_assert_eq(est, measured, "route %d net %zu batch %zu: estimate %zu, allocated %zu",
                             route, i, batches[j], est, measured);
            }
}

Test(memory, estimate_grows_with_batch_and_max_batch_inverts_it)
{
    const net_case c = {8, {32}, 1, 2, 0};
    bsnn_model *m = build(&c);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    size_t prev = 0;
    for (size_t b = 1; b <= 512; b *= 2) {
        size_t bytes, fit;
        cr_assert_eq(bsnn_model_memory(&bytes, m, opt, b), BSNN_OK);
        cr_assert_gt(bytes, prev);
        prev = bytes;
        cr_assert_eq(bsnn_model_max_batch(&fit, m, opt, bytes, 100000), BSNN_OK);
        cr_assert_eq(fit, b);
        cr_assert_eq(bsnn_model_max_batch(&fit, m, opt, bytes, 3), BSNN_OK);
        cr_assert_eq(fit, b < 3 ? b : 3);
    }
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
}

Test(memory, bad_input_is_refused)
{
    const net_case c = {8, {32}, 1, 2, 0};
    bsnn_model *m = build(&c), *empty = bsnn_model_create(3);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    size_t out = 42;
    cr_assert_eq(bsnn_model_memory(NULL, m, opt, 1), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_memory(&out, NULL, opt, 1), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_memory(&out, m, NULL, 1), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_memory(&out, m, opt, 0), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_memory(&out, empty, opt, 1), BSNN_E_STATE);
    cr_assert_eq(bsnn_model_memory(&out, m, opt, SIZE_MAX / 2), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_max_batch(&out, m, opt, 1000000000, 0), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_max_batch(&out, m, opt, 100, 10), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "one row needs") != NULL, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_model_max_batch(NULL, m, opt, 1000000000, 10), BSNN_E_NULL);
    cr_assert_eq(out, 42);
    /* a budget beyond any machine: capped where the estimate stays exact */
    cr_assert_eq(bsnn_model_max_batch(&out, m, opt, SIZE_MAX, SIZE_MAX), BSNN_OK);
    size_t bytes;
    cr_assert_eq(bsnn_model_memory(&bytes, m, opt, out), BSNN_OK);
    cr_assert_lt(bytes, SIZE_MAX / 2);
    cr_assert_eq(bsnn_model_memory(&bytes, m, opt, out + 1), BSNN_E_ARG);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_model_free(empty);
}

/* Issue 10, item 1: the workspace size rows * width * sizeof(float), and
 * the sum over layers, wrapped for widths near SIZE_MAX / 4 (a model of
 * parameter-free layers is that wide without allocating anything), so the
 * estimate came out small, or divided by zero, and a reserve would have
 * allocated too little. Every such width and row count must be refused. */
Test(memory, workspace_sizes_that_overflow_are_refused)
{
    const size_t widths[] = {SIZE_MAX / 4 + 1, SIZE_MAX / 4, SIZE_MAX / 8, SIZE_MAX / 16 + 3,
                             (size_t)1 << 61, (size_t)1 << 58, SIZE_MAX / 400};
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
        bsnn_model *m = bsnn_model_create(widths[i]);
        cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_RELU)), BSNN_OK);
        cr_assert_eq(bsnn_model_add(m, bsnn_layer_dropout(0.5)), BSNN_OK);
        cr_assert_eq(bsnn_model_add(m, bsnn_layer_dropout(0.5)), BSNN_OK);
        /* one row: 3 layer outputs, their 3 deltas, x, y: 8 blocks of
         * width floats (dropout recomputes its mask: no per-row scratch);
         * in 128 bits, independently */
        unsigned __int128 one_row = (unsigned __int128)widths[i] * 4 * 8;
        size_t bytes = 0, fit = 0;
        bsnn_status st = bsnn_model_memory(&bytes, m, opt, 1);
        if (one_row > SIZE_MAX / 4) {
            cr_assert_eq(st, BSNN_E_ARG, "width %zu: %d, %zu bytes", widths[i], st, bytes);
            cr_assert_eq(bsnn_model_max_batch(&fit, m, opt, SIZE_MAX, 100), BSNN_E_ARG);
            cr_assert(strstr(bsnn_last_error(), "overflows") != NULL, "%s", bsnn_last_error());
        } else {
            cr_assert_eq(st, BSNN_OK, "width %zu: %s", widths[i], bsnn_last_error());
            cr_assert_geq((unsigned __int128)bytes, one_row, "width %zu: %zu bytes", widths[i],
                          bytes);
            cr_assert_eq(bsnn_model_memory(&bytes, m, opt, SIZE_MAX / 2), BSNN_E_ARG);
        }
        bsnn_model_free(m);
    }
    bsnn_optimizer_free(opt);
}
