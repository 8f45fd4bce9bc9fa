/*
 * test_dropout.c - inverted dropout: kept fraction within 3 standard
 * deviations of 1 - rate, kept values scaled by 1/(1 - rate), identity in
 * evaluation, seeded masks, finite-difference gradients with a fixed mask,
 * bad rates and seeds.
 */
#include "testutil.h"

#include "train/train.h"

static bsnn_model *drop_only(size_t w, double rate)
{
    bsnn_model *m = bsnn_model_create(w);
    bsnn_model_set_loss(m, BSNN_LOSS_MSE);
    cr_assert_not_null(m);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dropout(rate)), BSNN_OK, "%s", bsnn_last_error());
    return m;
}

static const float *train_forward(bsnn_model *m, const float *x, size_t n)
{
    cr_assert_eq(bsnn__model_reserve(m, n), BSNN_OK);
    return bsnn__engine_forward(m, x, n, 0);
}

Test(dropout, kept_fraction_is_within_3_sd_of_1_minus_rate_and_kept_values_are_scaled)
{
    const double rates[] = {0.1, 0.3, 0.5, 0.8};
    enum { ROWS = 500, W = 20 };
    static float x[ROWS * W];
    for (size_t i = 0; i < ROWS * W; i++) x[i] = 1.0f + (float)(i % 7);
    for (size_t k = 0; k < sizeof rates / sizeof rates[0]; k++) {
        double rate = rates[k], keep = 1.0 - rate;
        bsnn_model *m = drop_only(W, rate);
        const float *y = train_forward(m, x, ROWS);
        size_t kept = 0;
        for (size_t i = 0; i < ROWS * W; i++) {
            if (y[i] == 0.0f) continue;
            kept++;
            cr_assert_leq(tu_rel(y[i], x[i] / keep, 1e-6), 1e-6, "kept value %g, want %g", y[i],
                          x[i] / keep);
        }
        double n = ROWS * W, sd = sqrt(n * keep * rate);
        cr_assert_leq(fabs((double)kept - n * keep), 3.0 * sd,
                      "rate %g: kept %zu of %g, expected %g +- %g", rate, kept, n, n * keep, sd);
        bsnn_model_free(m);
    }
}

Test(dropout, rate_0_keeps_everything_in_training)
{
    float x[12];
    for (int i = 0; i < 12; i++) x[i] = (float)i - 5.5f;
    bsnn_model *m = drop_only(4, 0.0);
    const float *y = train_forward(m, x, 3);
    cr_assert_arr_eq(y, x, sizeof x);
    bsnn_model_free(m);
}

Test(dropout, evaluation_is_the_identity)
{
    float x[8 * 5], out[8 * 5];
    for (int i = 0; i < 40; i++) x[i] = (float)(i * 37 % 11) - 5.0f;
    bsnn_model *m = drop_only(5, 0.6);
    bsnn_tensor *tx = tu_wrap(x, 8, 5), *to = tu_wrap(out, 8, 5);
    cr_assert_eq(bsnn_model_forward(to, m, tx), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_arr_eq(out, x, sizeof x);
    bsnn_tensor_free(tx);
    bsnn_tensor_free(to);
    bsnn_model_free(m);
}

/* What an accepted update does to a layer: its commit. */
static void accept(bsnn_model *m, size_t i)
{
    bsnn_layer *l = bsnn_model_layer(m, i);
    l->ops->commit(l, NULL, bsnn__layer_scratch(m, &m->ws, i), 1, 1);
}

Test(dropout, same_seed_gives_the_same_masks_and_setting_the_seed_restarts_them)
{
    float x[30];
    for (int i = 0; i < 30; i++) x[i] = 1.0f;
    bsnn_model *a = drop_only(10, 0.5), *b = drop_only(10, 0.5);
    float ya[30], yb[30], ya2[30];
    memcpy(ya, train_forward(a, x, 3), sizeof ya);
    memcpy(yb, train_forward(b, x, 3), sizeof yb);
    cr_assert_arr_eq(ya, yb, sizeof ya, "two models from the same seeds differ");
    memcpy(ya2, train_forward(a, x, 3), sizeof ya2);
    cr_assert_arr_eq(ya, ya2, sizeof ya, "a pass of an update that was not accepted moved the mask");
    accept(a, 0);
    memcpy(ya2, train_forward(a, x, 3), sizeof ya2);
    cr_assert(memcmp(ya, ya2, sizeof ya) != 0, "the mask did not change after an update");
    cr_assert_eq(bsnn_layer_set(bsnn_model_layer(a, 0), BSNN_LAYER_SEED, 0), BSNN_OK);
    memcpy(ya2, train_forward(a, x, 3), sizeof ya2);
    cr_assert_arr_eq(ya, ya2, sizeof ya, "setting the seed did not restart the masks");
    cr_assert_eq(bsnn_layer_set(bsnn_model_layer(a, 0), BSNN_LAYER_SEED, 12345), BSNN_OK);
    memcpy(ya2, train_forward(a, x, 3), sizeof ya2);
    cr_assert(memcmp(ya, ya2, sizeof ya) != 0, "another seed gave the same mask");
    double v;
    cr_assert_eq(bsnn_layer_get(&v, bsnn_model_layer(a, 0), BSNN_LAYER_SEED), BSNN_OK);
    cr_assert_eq(v, 12345.0);
    bsnn_model_free(a);
    bsnn_model_free(b);
}

/* Two dropout layers in a row with the default seed (0.2 seeded them from
 * the parameter offset, the same for both): the second must not drop
 * exactly what the first dropped. */
Test(dropout, two_layers_with_default_seeds_draw_different_masks)
{
    bsnn_model *m = bsnn_model_create(16);
    bsnn_model_set_loss(m, BSNN_LOSS_MSE);
    bsnn_model_add(m, bsnn_layer_dropout(0.5));
    bsnn_model_add(m, bsnn_layer_dropout(0.5));
    float x[4 * 16];
    for (int i = 0; i < 64; i++) x[i] = 1.0f;
    train_forward(m, x, 4);
    size_t only_second = 0;
    for (int i = 0; i < 64; i++) only_second += m->ws.acts[0][i] != 0.0f && m->ws.acts[1][i] == 0.0f;
    cr_assert_gt(only_second, 0, "the second layer dropped only what the first dropped");
    bsnn_model_free(m);
}

/* A mask is a function of the row's index within the update's global
 * batch: rows k.. run as their own pass (row0 = k: a later micro-batch, or
 * a data-parallel rank's share) get the masks they get in one pass. */
Test(dropout, masks_are_keyed_by_the_global_row)
{
    enum { ROWS = 9, W = 7 };
    float x[ROWS * W], whole[ROWS * W];
    for (int i = 0; i < ROWS * W; i++) x[i] = 1.0f + (float)(i % 5);
    bsnn_model *m = drop_only(W, 0.4);
    memcpy(whole, train_forward(m, x, ROWS), sizeof whole);
    for (size_t k = 1; k < ROWS; k += 3) {
        cr_assert_eq(bsnn__model_reserve(m, ROWS), BSNN_OK);
        const float *part = bsnn__engine_forward(m, x + k * W, ROWS - k, k);
        cr_assert(memcmp(part, whole + k * W, (ROWS - k) * W * sizeof(float)) == 0,
                  "rows %zu.. as their own pass drew other masks", k);
    }
    const float *shifted = bsnn__engine_forward(m, x, ROWS, 1);
    cr_assert(memcmp(shifted, whole, sizeof whole) != 0, "the row offset is not in the key");
    bsnn_model_free(m);
}

/* Mean loss of the rows in training mode with the mask restarted from seed
 * 5, gradient into m->grads: every call sees the same mask. */
static double fixed_mask_loss(bsnn_model *m, const float *x, const float *y, size_t n)
{
    cr_assert_eq(bsnn_layer_set(bsnn_model_layer(m, 1), BSNN_LAYER_SEED, 5), BSNN_OK);
    cr_assert_eq(bsnn__model_reserve(m, n), BSNN_OK);
    return bsnn__engine_gradient(m, x, y, n, 2) / (double)n;
}

Test(dropout, gradients_with_a_fixed_mask_match_finite_differences)
{
    bsnn_model *m = bsnn_model_create(3);
    bsnn_model_set_loss(m, BSNN_LOSS_MSE);
    bsnn_model_add(m, bsnn_layer_dense(6));
    bsnn_model_add(m, bsnn_layer_dropout(0.4));
    bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH));
    bsnn_model_add(m, bsnn_layer_dense(2));
    bsnn_model_init_params(m, 3);
    enum { N = 5 };
    float x[N * 3], y[N * 2];
    for (int i = 0; i < N * 3; i++) x[i] = (float)((i * 5) % 7) * 0.3f - 0.9f;
    for (int i = 0; i < N * 2; i++) y[i] = (float)((i * 3) % 4) * 0.5f - 0.7f;
    size_t np = bsnn_model_param_count(m);
    float p[64], g[64];
    bsnn_model_get_params(p, np, m);
    fixed_mask_loss(m, x, y, N);
    memcpy(g, m->grads, np * sizeof(float));
    size_t zero_grads = 0;
    for (size_t i = 0; i < np; i++) {
        const float h = 1e-2f;
        float keep = p[i];
        p[i] = keep + h;
        bsnn_model_set_params(m, p, np);
        double lp = fixed_mask_loss(m, x, y, N);
        p[i] = keep - h;
        bsnn_model_set_params(m, p, np);
        double lm = fixed_mask_loss(m, x, y, N);
        p[i] = keep;
        bsnn_model_set_params(m, p, np);
        double fd = (lp - lm) / (2.0 * h);
        zero_grads += g[i] == 0.0f;
        cr_assert_leq(fabs(fd - g[i]), 1e-2 * fmax(fabs(fd), fabs(g[i])) + 1e-4,
                      "param %zu: backward %g, finite difference %g", i, g[i], fd);
    }
    /* a dropped hidden unit (same one in every row is unlikely, but a
     * dropped element zeroes its share): the mask really was applied */
    cr_assert_lt(zero_grads, np, "every gradient is zero");
    bsnn_model_free(m);
}

Test(dropout, bad_rates_and_seeds_are_errors)
{
    cr_assert_null(bsnn_layer_dropout(1.0));
    cr_assert(strstr(bsnn_last_error(), "bsnn_layer_dropout") != NULL);
    cr_assert_null(bsnn_layer_dropout(-0.1));
    cr_assert_null(bsnn_layer_dropout(NAN));
    cr_assert_null(bsnn_layer_dropout(INFINITY));
    bsnn_layer *l = bsnn_layer_dropout(0.25);
    cr_assert_not_null(l);
    cr_assert_eq(bsnn_layer_kind_of(l), BSNN_LAYER_DROPOUT);
    const struct {
        bsnn_layer_param p;
        double v;
    } bad[] = {{BSNN_LAYER_RATE, 1.0},   {BSNN_LAYER_RATE, -0.01},  {BSNN_LAYER_RATE, NAN},
               {BSNN_LAYER_SEED, -1.0},  {BSNN_LAYER_SEED, 1.5},    {BSNN_LAYER_SEED, NAN},
               {BSNN_LAYER_SEED, 1e300}, {BSNN_LAYER_MOMENTUM, 0.1}, {BSNN_LAYER_L1, 0.1}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        cr_assert_eq(bsnn_layer_set(l, bad[k].p, bad[k].v), BSNN_E_ARG, "case %zu accepted", k);
    double v;
    cr_assert_eq(bsnn_layer_get(&v, l, BSNN_LAYER_RATE), BSNN_OK);
    cr_assert_eq(v, 0.25, "failed sets changed the rate");
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_RATE, 0.75), BSNN_OK);
    cr_assert_eq(bsnn_layer_get(&v, l, BSNN_LAYER_RATE), BSNN_OK);
    cr_assert_eq(v, 0.75);
    cr_assert_eq(bsnn_layer_get(&v, l, BSNN_LAYER_EPS), BSNN_E_ARG);
    bsnn_layer_free(l);
}

Test(dropout, a_network_with_dropout_trains_and_evaluates_deterministically)
{
    float out[2][16];
    for (int run = 0; run < 2; run++) {
        bsnn_dataset *ds = bsnn_dataset_parity(4);
        bsnn_model *m = bsnn_model_create(4);
        bsnn_model_set_loss(m, BSNN_LOSS_MSE);
        bsnn_model_add(m, bsnn_layer_dense(16));
        bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH));
        bsnn_model_add(m, bsnn_layer_dropout(0.1));
        bsnn_model_add(m, bsnn_layer_dense(1));
        bsnn_optimizer *o = bsnn_optimizer_create(BSNN_ADAM);
        bsnn_optimizer_set(o, BSNN_OPT_LR, 0.01);
        bsnn_scheduler *s = bsnn_scheduler_create(16);
        bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 4);
        cr_assert_eq(bsnn_model_train(NULL, m, o, s, ds, 50, NULL, NULL), BSNN_OK, "%s",
                     bsnn_last_error());
        bsnn_tensor *tx = tu_wrap((float *)bsnn_dataset_inputs(ds), 16, 4);
        bsnn_tensor *to = tu_wrap(out[run], 16, 1);
        cr_assert_eq(bsnn_model_forward(to, m, tx), BSNN_OK);
        bsnn_tensor_free(tx);
        bsnn_tensor_free(to);
        bsnn_scheduler_free(s);
        bsnn_optimizer_free(o);
        bsnn_model_free(m);
        bsnn_dataset_free(ds);
    }
    cr_assert_arr_eq(out[0], out[1], sizeof out[0], "same seeds, different results");
}

/* The typed seed reaches all 64 bits: seeds 2^60 and 2^60 + 1 are the same
 * double, yet give different masks; the double getter refuses such a seed
 * instead of rounding it, and the double setter refuses beyond 2^53. */
Test(dropout, typed_seed_uses_all_64_bits_and_the_double_form_never_rounds)
{
    float x[40];
    for (int i = 0; i < 40; i++) x[i] = 1.0f;
    bsnn_model *a = drop_only(10, 0.5), *b = drop_only(10, 0.5);
    const uint64_t big = (uint64_t)1 << 60;
    cr_assert_eq(bsnn_layer_set_seed(bsnn_model_layer(a, 0), big), BSNN_OK);
    cr_assert_eq(bsnn_layer_set_seed(bsnn_model_layer(b, 0), big + 1), BSNN_OK);
    float ya[40], yb[40];
    memcpy(ya, train_forward(a, x, 4), sizeof ya);
    memcpy(yb, train_forward(b, x, 4), sizeof yb);
    cr_assert(memcmp(ya, yb, sizeof ya) != 0, "seeds 2^60 and 2^60+1 drew the same mask");
    uint64_t got = 0;
    cr_assert_eq(bsnn_layer_get_seed(&got, bsnn_model_layer(b, 0)), BSNN_OK);
    cr_assert_eq(got, big + 1);
    double v = -1;
    cr_assert_eq(bsnn_layer_get(&v, bsnn_model_layer(b, 0), BSNN_LAYER_SEED), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "bsnn_layer_get_seed") != NULL, "%s", bsnn_last_error());
    cr_assert_eq(v, -1, "a refused read wrote its output");
    cr_assert_eq(bsnn_layer_set(bsnn_model_layer(b, 0), BSNN_LAYER_SEED, 9007199254740994.0),
                 BSNN_E_ARG, "2^53 + 2 accepted as a double");
    /* Up to 2^53 both forms agree exactly. */
    cr_assert_eq(bsnn_layer_set(bsnn_model_layer(a, 0), BSNN_LAYER_SEED, 9007199254740992.0),
                 BSNN_OK);
    cr_assert_eq(bsnn_layer_get_seed(&got, bsnn_model_layer(a, 0)), BSNN_OK);
    cr_assert_eq(got, (uint64_t)1 << 53);
    /* Setting the seed either way restarts the same stream. */
    cr_assert_eq(bsnn_layer_set_seed(bsnn_model_layer(a, 0), 77), BSNN_OK);
    memcpy(ya, train_forward(a, x, 4), sizeof ya);
    cr_assert_eq(bsnn_layer_set(bsnn_model_layer(a, 0), BSNN_LAYER_SEED, 77), BSNN_OK);
    memcpy(yb, train_forward(a, x, 4), sizeof yb);
    cr_assert_arr_eq(ya, yb, sizeof ya);
    /* Only kinds with a seed have one. */
    bsnn_layer *d = bsnn_layer_dense(3);
    cr_assert_eq(bsnn_layer_set_seed(d, 1), BSNN_E_ARG);
    cr_assert_eq(bsnn_layer_get_seed(&got, d), BSNN_E_ARG);
    bsnn_layer_free(d);
    bsnn_model_free(a);
    bsnn_model_free(b);
}
