/*
 * test_dense.c - the dense layer: forward against hand-computed x W + b in
 * the documented [in][out]-then-bias order, gradients against central finite
 * differences in double (small shapes on the loop path, larger ones on
 * BLIS), initialisers, penalties, settings and bad input.
 */
#include "refnet.h"

Test(dense, forward_is_x_times_w_plus_b_in_documented_order)
{
    bsnn_model *m = bsnn_model_create(2);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(3)), BSNN_OK);
    cr_assert_eq(bsnn_model_param_count(m), 2 * 3 + 3);
    /* W[in][out] row-major, then b[out]. */
    float p[9] = {1, 2, 3,       /* W[0][*] */
                  4, 5, 6,       /* W[1][*] */
                  0.5f, -1, 10}; /* b */
    cr_assert_eq(bsnn_model_set_params(m, p, 9), BSNN_OK);
    float x[2 * 2] = {1, 0, -1, 2}, out[2 * 3];
    bsnn_tensor *tx = tu_wrap(x, 2, 2), *to = tu_wrap(out, 2, 3);
    cr_assert_eq(bsnn_model_forward(to, m, tx), BSNN_OK);
    /* row 0: (1,0) -> (1, 2, 3) + b; row 1: (-1,2) -> (-1+8, -2+10, -3+12) + b */
    float want[6] = {1.5f, 1, 13, 7.5f, 7, 19};
    for (int i = 0; i < 6; i++) cr_assert_float_eq(out[i], want[i], 1e-6, "out[%d] = %g", i, out[i]);
    bsnn_tensor_free(tx);
    bsnn_tensor_free(to);
    bsnn_model_free(m);
}

static void dense_grad_check(size_t n_in, size_t hidden, size_t n_out, size_t n, uint64_t seed)
{
    ref_net net = {.n_in = n_in, .n_layers = 3, .loss = BSNN_LOSS_MSE};
    net.layers[0] = (ref_layer){.dense = 1, .n_out = hidden};
    net.layers[1] = (ref_layer){.dense = 0, .act = BSNN_ACT_TANH};
    net.layers[2] = (ref_layer){.dense = 1, .n_out = n_out};
    float *x = calloc(n * n_in, sizeof(float)), *y = calloc(n * n_out, sizeof(float));
    ref_fill(x, n * n_in, -1.5, 1.5, (uint32_t)seed);
    ref_fill(y, n * n_out, -1.0, 1.0, (uint32_t)seed + 99);
    ref_check_grads(&net, seed, x, y, n, n_out, 1e-2);
    free(x);
    free(y);
}

Test(dense, gradients_match_finite_differences_small_shapes)
{
    size_t batches[4] = {1, 2, 5, 16};
    for (int b = 0; b < 4; b++) dense_grad_check(3, 4, 2, batches[b], 1 + (uint64_t)b);
}

Test(dense, gradients_match_finite_differences_on_blis_shapes)
{
    /* 40 x 24 x 20 and friends exceed the loop threshold: BLIS path. */
    dense_grad_check(20, 24, 6, 40, 5);
}

Test(dense, single_dense_layer_gradient_is_hand_derived)
{
    /* y = x W + b, MSE 1/2 (y - t)^2 averaged: dW = mean x^T (y - t), db = mean (y - t). */
    bsnn_model *m = bsnn_model_create(2);
    bsnn_model_set_loss(m, BSNN_LOSS_MSE);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(1)), BSNN_OK);
    float p[3] = {1, -1, 0.5f};
    cr_assert_eq(bsnn_model_set_params(m, p, 3), BSNN_OK);
    float x[4] = {1, 2, 3, 0}, y[2] = {0, 1}, g[3], pb[3];
    ref_bsnn_grad(g, pb, m, x, y, 2, 1);
    /* row 0: o = 1 - 2 + .5 = -.5, e = -.5; row 1: o = 3 + .5 = 3.5, e = 2.5 */
    cr_assert_float_eq(g[0], (1 * -0.5f + 3 * 2.5f) / 2, 1e-6);
    cr_assert_float_eq(g[1], (2 * -0.5f + 0 * 2.5f) / 2, 1e-6);
    cr_assert_float_eq(g[2], (-0.5f + 2.5f) / 2, 1e-6);
    /* SGD with lr 1e-3 applied exactly p - lr g. */
    float after[3];
    cr_assert_eq(bsnn_model_get_params(after, 3, m), BSNN_OK);
    for (int i = 0; i < 3; i++) cr_assert_float_eq(after[i], p[i] - 1e-3f * g[i], 1e-7);
    bsnn_model_free(m);
}

Test(dense, l1_l2_penalties_add_to_weight_gradients_only)
{
    bsnn_model *m = bsnn_model_create(2);
    bsnn_model_set_loss(m, BSNN_LOSS_MSE);
    bsnn_layer *l = bsnn_layer_dense(1);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_L2, 0.5), BSNN_OK);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_L1, 0.25), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, l), BSNN_OK);
    float p[3] = {2, -4, 3};
    cr_assert_eq(bsnn_model_set_params(m, p, 3), BSNN_OK);
    float x[2] = {1, 1}, y[1] = {1}, g[3], pb[3];
    ref_bsnn_grad(g, pb, m, x, y, 1, 1);
    /* o = 2 - 4 + 3 = 1 = t: the data gradient is 0, only penalties remain:
     * dW = l2 w + l1 sign(w); the bias is not penalised. */
    cr_assert_float_eq(g[0], 0.5f * 2 + 0.25f, 1e-6);
    cr_assert_float_eq(g[1], 0.5f * -4 - 0.25f, 1e-6);
    cr_assert_float_eq(g[2], 0.0f, 1e-6);
    bsnn_model_free(m);
}

static void init_stats(bsnn_init init, double *out_lo, double *out_hi, double *out_sd,
                       size_t fan_in, size_t fan_out)
{
    bsnn_model *m = bsnn_model_create(fan_in);
    bsnn_layer *l = bsnn_layer_dense(fan_out);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_INIT, init), BSNN_OK);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_BIAS_INIT, 0.1), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, l), BSNN_OK);
    size_t count = bsnn_model_param_count(m), nw = fan_in * fan_out;
    float *p = calloc(count, sizeof(float));
    cr_assert_eq(bsnn_model_get_params(p, count, m), BSNN_OK);
    double lo = INFINITY, hi = -INFINITY, ss = 0.0;
    for (size_t i = 0; i < nw; i++) {
        lo = fmin(lo, p[i]);
        hi = fmax(hi, p[i]);
        ss += (double)p[i] * p[i];
    }
    for (size_t i = nw; i < count; i++) cr_assert_float_eq(p[i], 0.1f, 1e-7, "bias init");
    *out_lo = lo;
    *out_hi = hi;
    *out_sd = sqrt(ss / (double)nw);
    free(p);
    bsnn_model_free(m);
}

Test(dense, initialisers_follow_their_formulas)
{
    size_t fi = 100, fo = 50;
    double lo, hi, sd;
    init_stats(BSNN_INIT_ZEROS, &lo, &hi, &sd, fi, fo);
    cr_assert(lo == 0.0 && hi == 0.0);
    double a = sqrt(6.0 / (fi + fo));
    init_stats(BSNN_INIT_GLOROT_UNIFORM, &lo, &hi, &sd, fi, fo);
    cr_assert(lo >= -a && hi <= a && lo < -0.9 * a && hi > 0.9 * a, "%g %g vs %g", lo, hi, a);
    init_stats(BSNN_INIT_HE_UNIFORM, &lo, &hi, &sd, fi, fo);
    a = sqrt(6.0 / fi);
    cr_assert(lo >= -a && hi <= a && lo < -0.9 * a && hi > 0.9 * a);
    init_stats(BSNN_INIT_LECUN_UNIFORM, &lo, &hi, &sd, fi, fo);
    a = sqrt(3.0 / fi);
    cr_assert(lo >= -a && hi <= a && lo < -0.9 * a && hi > 0.9 * a);
    /* Normal initialisers: sample standard deviation within 5% (5000 draws). */
    init_stats(BSNN_INIT_GLOROT_NORMAL, &lo, &hi, &sd, fi, fo);
    cr_assert_lt(fabs(sd / sqrt(2.0 / (fi + fo)) - 1.0), 0.05, "sd %g", sd);
    init_stats(BSNN_INIT_HE_NORMAL, &lo, &hi, &sd, fi, fo);
    cr_assert_lt(fabs(sd / sqrt(2.0 / fi) - 1.0), 0.05, "sd %g", sd);
    init_stats(BSNN_INIT_LECUN_NORMAL, &lo, &hi, &sd, fi, fo);
    cr_assert_lt(fabs(sd / sqrt(1.0 / fi) - 1.0), 0.05, "sd %g", sd);
}

Test(dense, uniform_initialiser_uses_lo_hi)
{
    bsnn_model *m = bsnn_model_create(10);
    bsnn_layer *l = bsnn_layer_dense(10);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_INIT, BSNN_INIT_UNIFORM), BSNN_OK);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_INIT_LO, 2.0), BSNN_OK);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_INIT_HI, 3.0), BSNN_OK);
    double v;
    cr_assert_eq(bsnn_layer_get(&v, l, BSNN_LAYER_INIT_LO), BSNN_OK);
    cr_assert_eq(v, 2.0);
    cr_assert_eq(bsnn_model_add(m, l), BSNN_OK);
    float p[110];
    cr_assert_eq(bsnn_model_get_params(p, 110, m), BSNN_OK);
    for (int i = 0; i < 100; i++) cr_assert(p[i] >= 2.0f && p[i] <= 3.0f, "p[%d] = %g", i, p[i]);
    for (int i = 100; i < 110; i++) cr_assert_eq(p[i], 0.0f, "bias defaults to 0");
    bsnn_model_free(m);
}

Test(dense, same_seed_same_initial_weights_other_seed_different)
{
    bsnn_model *a = tu_mlp(4, 8, BSNN_ACT_SIGMOID, 1, BSNN_ACT_SIGMOID, 42);
    bsnn_model *b = tu_mlp(4, 8, BSNN_ACT_SIGMOID, 1, BSNN_ACT_SIGMOID, 42);
    bsnn_model *c = tu_mlp(4, 8, BSNN_ACT_SIGMOID, 1, BSNN_ACT_SIGMOID, 43);
    float pa[49], pb[49], pc[49];
    cr_assert_eq(bsnn_model_param_count(a), 4 * 8 + 8 + 8 + 1);
    bsnn_model_get_params(pa, 49, a);
    bsnn_model_get_params(pb, 49, b);
    bsnn_model_get_params(pc, 49, c);
    cr_assert(memcmp(pa, pb, sizeof pa) == 0);
    cr_assert(memcmp(pa, pc, sizeof pa) != 0);
    bsnn_model_free(a);
    bsnn_model_free(b);
    bsnn_model_free(c);
}

Test(dense, settings_round_trip_and_bounds)
{
    bsnn_layer *l = bsnn_layer_dense(3);
    cr_assert_not_null(l);
    cr_assert_eq(bsnn_layer_kind_of(l), BSNN_LAYER_DENSE);
    bsnn_layer_param ps[6] = {BSNN_LAYER_INIT, BSNN_LAYER_INIT_LO, BSNN_LAYER_INIT_HI,
                              BSNN_LAYER_BIAS_INIT, BSNN_LAYER_L1, BSNN_LAYER_L2};
    double vals[6] = {BSNN_INIT_HE_NORMAL, -0.25, 0.75, 0.1, 0.001, 0.01};
    for (int i = 0; i < 6; i++) {
        double lo, hi, v = -99;
        cr_assert_eq(bsnn_layer_bounds(&lo, &hi, (unsigned[1]){0}, BSNN_LAYER_DENSE, ps[i]), BSNN_OK);
        cr_assert(lo <= vals[i] && vals[i] <= hi);
        cr_assert_eq(bsnn_layer_set(l, ps[i], vals[i]), BSNN_OK, "%s", bsnn_last_error());
        cr_assert_eq(bsnn_layer_get(&v, l, ps[i]), BSNN_OK);
        cr_assert_eq(v, vals[i]);
    }
    bsnn_layer_free(l);
}

Test(dense, bad_input_is_rejected_with_a_message)
{
    cr_assert_null(bsnn_layer_dense(0));
    cr_assert(strstr(bsnn_last_error(), "bsnn_layer_dense") != NULL);
    cr_assert(strstr(bsnn_last_error(), "n_outputs") != NULL);
    bsnn_layer *l = bsnn_layer_dense(2);
    double v;
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_INIT, 1.5), BSNN_E_ARG);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_INIT, 99), BSNN_E_ARG);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_INIT, -1), BSNN_E_ARG);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_L2, -0.1), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "-0.1") != NULL);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_L1, NAN), BSNN_E_ARG);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_BIAS_INIT, INFINITY), BSNN_E_ARG);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_SLOPE, 0.1), BSNN_E_ARG);
    cr_assert_eq(bsnn_layer_set(l, (bsnn_layer_param)999, 0.1), BSNN_E_ARG);
    cr_assert_eq(bsnn_layer_get(&v, l, BSNN_LAYER_RATE), BSNN_E_ARG);
    cr_assert_eq(bsnn_layer_get(&v, l, BSNN_LAYER_INIT), BSNN_OK);
    cr_assert_eq(v, BSNN_INIT_DEFAULT, "rejected values left the setting unchanged");
    cr_assert_eq(bsnn_layer_bounds(&v, &v, (unsigned[1]){0}, (bsnn_layer_kind)99, BSNN_LAYER_INIT), BSNN_E_ARG);
    cr_assert_eq(bsnn_layer_bounds(&v, NULL, (unsigned[1]){0}, BSNN_LAYER_DENSE, BSNN_LAYER_INIT), BSNN_E_NULL);
    bsnn_layer_free(l);
    /* A dense layer too large for the address space fails on add, freed. */
    bsnn_model *m = bsnn_model_create((size_t)1 << 40);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense((size_t)1 << 40)), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "too large") != NULL);
    cr_assert_eq(bsnn_model_n_layers(m), 0);
    bsnn_model_free(m);
}

/* An allocator that refuses blocks above 1 GiB, so a layer whose true size
 * is merely huge fails as out of memory instead of reaching malloc. */
static size_t big_asks;
static void *capped_alloc(void *user, size_t size)
{
    (void)user;
    if (size > ((size_t)1 << 30)) {
        big_asks++;
        return NULL;
    }
    return malloc(size);
}
static void capped_free(void *user, void *p, size_t size)
{
    (void)user, (void)size;
    free(p);
}

/* Issue 10, item 1: dense_setup's guard underflowed for n_out > SIZE_MAX/4
 * and (n_in + 1) * n_out wrapped: 3 inputs and 2^62 + 4 outputs gave 16
 * parameters, and the initialiser wrote 2^62 floats into 16. Expected
 * outcome from 128-bit arithmetic: a count that does not fit is refused
 * (BSNN_E_ARG) before any block is asked for; one that fits but is huge is
 * asked for and fails as out of memory; the model is unchanged either way. */
Test(dense, widths_whose_counts_wrap_are_refused_before_allocating)
{
    const size_t inputs[] = {1, 2, 3, 4, 5, 7, 8, 15, 16, 1000};
    const size_t p62 = (size_t)1 << 62, p63 = (size_t)1 << 63;
    cr_assert_eq(bsnn_set_allocator(capped_alloc, capped_free, NULL), BSNN_OK);
    size_t refused = 0, nomem = 0;
    for (size_t a = 0; a < sizeof inputs / sizeof inputs[0]; a++) {
        size_t in = inputs[a];
        const size_t outs[] = {p62 + 4, p62 + 5, p63 + 1, p63 + 2, SIZE_MAX, SIZE_MAX / 4 + 1,
                               SIZE_MAX / (in + 1) + 1, SIZE_MAX / (in + 1) / 4,
                               SIZE_MAX / 32, SIZE_MAX / 128, (size_t)1 << 40};
        for (size_t b = 0; b < sizeof outs / sizeof outs[0]; b++) {
            size_t out = outs[b];
            unsigned __int128 params = (unsigned __int128)(in + 1) * out;
            int fits = params * 4 <= SIZE_MAX; /* a dense layer has no scratch (0.3) */
            bsnn_model *m = bsnn_model_create(in);
            cr_assert_not_null(m);
            size_t asks = big_asks;
            bsnn_status st = bsnn_model_add(m, bsnn_layer_dense(out));
            if (!fits) {
                cr_assert_eq(st, BSNN_E_ARG, "%zu -> %zu: %d %s", in, out, st, bsnn_last_error());
                cr_assert(strstr(bsnn_last_error(), "too large") != NULL, "%s", bsnn_last_error());
                cr_assert_eq(big_asks, asks, "%zu -> %zu: asked for a block", in, out);
                refused++;
            } else {
                cr_assert_eq(st, BSNN_E_NOMEM, "%zu -> %zu: %d %s", in, out, st, bsnn_last_error());
                nomem++;
            }
            cr_assert_eq(bsnn_model_n_layers(m), 0);
            cr_assert_eq(bsnn_model_param_count(m), 0);
            bsnn_model_free(m);
        }
    }
    cr_assert_eq(bsnn_set_allocator(NULL, NULL, NULL), BSNN_OK);
    cr_assert_gt(refused, 40);
    cr_assert_gt(nomem, 5);
}
