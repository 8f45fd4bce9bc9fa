/*
 * test_init.c - dense initialisers as distributions: sample mean and
 * variance of the draws against each formula's, the shape (normal versus
 * uniform) of the draws, the model-level default and the per-layer
 * override; L1/L2 penalties added once per update whatever the batch size.
 * (test_dense.c checks ranges, seeds and the penalty on one example.)
 */
#include "testutil.h"

/* The weights of a fan_in x fan_out dense layer made with `init` (layer
 * override, or the model default when layer_init is BSNN_INIT_DEFAULT),
 * into a new array of fan_in * fan_out floats. */
static float *draw(bsnn_init model_init, bsnn_init layer_init, size_t fan_in, size_t fan_out,
                   uint64_t seed)
{
    bsnn_model *m = bsnn_model_create(fan_in);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_INIT, model_init), BSNN_OK, "%s", bsnn_last_error());
    bsnn_layer *l = bsnn_layer_dense(fan_out);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_INIT, layer_init), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, l), BSNN_OK);
    cr_assert_eq(bsnn_model_init_params(m, seed), BSNN_OK);
    size_t count = bsnn_model_param_count(m);
    float *p = malloc(count * sizeof(float));
    cr_assert_eq(bsnn_model_get_params(p, count, m), BSNN_OK);
    bsnn_model_free(m);
    return p;
}

typedef struct stats {
    double mean, var, within_1sd; /* fraction with |w - mean| < sd */
} stats;

static stats stats_of(const float *w, size_t n)
{
    stats s = {0, 0, 0};
    for (size_t i = 0; i < n; i++) s.mean += w[i];
    s.mean /= (double)n;
    for (size_t i = 0; i < n; i++) s.var += (w[i] - s.mean) * (w[i] - s.mean);
    s.var /= (double)n;
    double sd = sqrt(s.var);
    for (size_t i = 0; i < n; i++) s.within_1sd += fabs(w[i] - s.mean) < sd;
    s.within_1sd /= (double)n;
    return s;
}

/* The variance each initialiser's formula gives, and whether it is normal. */
static double formula_var(bsnn_init init, double fi, double fo, int *normal)
{
    *normal = init == BSNN_INIT_GLOROT_NORMAL || init == BSNN_INIT_HE_NORMAL ||
              init == BSNN_INIT_LECUN_NORMAL;
    switch (init) {
    case BSNN_INIT_GLOROT_UNIFORM: /* U(-a,a), a^2 = 6/(fi+fo): var a^2/3 */
    case BSNN_INIT_GLOROT_NORMAL: return 2.0 / (fi + fo);
    case BSNN_INIT_HE_UNIFORM:
    case BSNN_INIT_HE_NORMAL: return 2.0 / fi;
    case BSNN_INIT_LECUN_UNIFORM:
    case BSNN_INIT_LECUN_NORMAL: return 1.0 / fi;
    default: return 0.0;
    }
}

Test(init, every_initialiser_has_the_formula_mean_and_variance_over_several_shapes)
{
    const size_t shapes[][2] = {{64, 32}, {200, 100}, {30, 300}};
    for (int init = BSNN_INIT_GLOROT_UNIFORM; init <= BSNN_INIT_LECUN_NORMAL; init++)
        for (size_t k = 0; k < 3; k++) {
            size_t fi = shapes[k][0], fo = shapes[k][1], n = fi * fo;
            int normal;
            double v = formula_var((bsnn_init)init, (double)fi, (double)fo, &normal);
            float *w = draw(BSNN_INIT_ZEROS, (bsnn_init)init, fi, fo, 11 + k);
            stats s = stats_of(w, n);
            /* mean within 4 standard errors; variance within 4 of its own
             * standard errors (var of the sample variance: (mu4 - v^2)/n,
             * mu4 = 3v^2 normal, 9v^2/5 uniform) */
            double se_var = v * sqrt((normal ? 2.0 : 0.8) / (double)n);
            cr_assert_leq(fabs(s.mean), 4.0 * sqrt(v / (double)n), "init %d %zux%zu: mean %g", init,
                          fi, fo, s.mean);
            cr_assert_leq(fabs(s.var - v), 4.0 * se_var, "init %d %zux%zu: var %g, formula %g",
                          init, fi, fo, s.var, v);
            /* shape: 68.3% within 1 sd for a normal, 57.7% for a uniform */
            double want = normal ? 0.6827 : 1.0 / sqrt(3.0);
            cr_assert_leq(fabs(s.within_1sd - want), 0.02, "init %d: %.4f within 1 sd, want %.4f",
                          init, s.within_1sd, want);
            free(w);
        }
}

Test(init, fixed_range_has_uniform_mean_and_variance)
{
    bsnn_model *m = bsnn_model_create(100);
    bsnn_layer *l = bsnn_layer_dense(100);
    bsnn_layer_set(l, BSNN_LAYER_INIT, BSNN_INIT_UNIFORM);
    bsnn_layer_set(l, BSNN_LAYER_INIT_LO, -0.2);
    bsnn_layer_set(l, BSNN_LAYER_INIT_HI, 0.6);
    cr_assert_eq(bsnn_model_add(m, l), BSNN_OK);
    float p[100 * 100 + 100];
    cr_assert_eq(bsnn_model_get_params(p, 10100, m), BSNN_OK);
    stats s = stats_of(p, 10000);
    double v = 0.8 * 0.8 / 12.0;
    cr_assert_leq(fabs(s.mean - 0.2), 4.0 * sqrt(v / 1e4), "mean %g", s.mean);
    cr_assert_leq(fabs(s.var - v), 4.0 * v * sqrt(0.8 / 1e4), "var %g, want %g", s.var, v);
    bsnn_model_free(m);
}

Test(init, zeros_gives_zero_weights)
{
    float *w = draw(BSNN_INIT_HE_NORMAL, BSNN_INIT_ZEROS, 8, 8, 1);
    for (int i = 0; i < 64; i++) cr_assert_eq(w[i], 0.0f);
    free(w);
}

Test(init, the_model_default_applies_unless_a_layer_overrides_it)
{
    /* default: the model's initialiser (He normal here), same draws as a
     * layer asking for it explicitly */
    float *by_model = draw(BSNN_INIT_HE_NORMAL, BSNN_INIT_DEFAULT, 50, 40, 3);
    float *by_layer = draw(BSNN_INIT_GLOROT_UNIFORM, BSNN_INIT_HE_NORMAL, 50, 40, 3);
    cr_assert_arr_eq(by_model, by_layer, 2000 * sizeof(float));
    stats s = stats_of(by_model, 2000);
    cr_assert_leq(fabs(s.var / (2.0 / 50) - 1.0), 0.15, "var %g", s.var);
    free(by_model);
    free(by_layer);
    /* a fresh model's default is uniform Glorot */
    bsnn_model *m = bsnn_model_create(3);
    double v;
    cr_assert_eq(bsnn_model_get(&v, m, BSNN_MODEL_INIT), BSNN_OK);
    cr_assert_eq(v, BSNN_INIT_GLOROT_UNIFORM);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_INIT, 0), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_INIT, 9), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_INIT, 2.5), BSNN_E_ARG);
    bsnn_model_free(m);
}

Test(init, bad_initialiser_settings_are_errors)
{
    bsnn_layer *l = bsnn_layer_dense(4);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_INIT, -1), BSNN_E_ARG);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_INIT, 9), BSNN_E_ARG);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_INIT, 1.5), BSNN_E_ARG);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_INIT, NAN), BSNN_E_ARG);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_INIT_LO, INFINITY), BSNN_E_ARG);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_L2, -0.1), BSNN_E_ARG);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_L1, NAN), BSNN_E_ARG);
    bsnn_layer_free(l);
}

/* The penalty gradient l2 w + l1 sign(w) on weights (not biases) is added
 * ONCE per update: the same for every batch size, on top of the batch-mean
 * data gradient. */
Test(init, penalties_are_added_once_per_update_for_every_batch_size)
{
    const size_t sizes[] = {1, 4, 16};
    bsnn_dataset *ds = bsnn_dataset_parity(4);
    for (size_t k = 0; k < 3; k++) {
        size_t n = sizes[k];
        float g[2][64], p0[64];
        size_t np = 0;
        for (int pen = 0; pen < 2; pen++) {
            bsnn_model *m = tu_mlp(4, 6, BSNN_ACT_TANH, 1, BSNN_ACT_SIGMOID, 5);
            if (pen) {
                bsnn_layer_set(bsnn_model_layer(m, 0), BSNN_LAYER_L2, 0.3);
                bsnn_layer_set(bsnn_model_layer(m, 0), BSNN_LAYER_L1, 0.05);
                bsnn_layer_set(bsnn_model_layer(m, 2), BSNN_LAYER_L2, 0.7);
            }
            np = bsnn_model_param_count(m);
            bsnn_model_get_params(p0, np, m);
            bsnn_optimizer *o = bsnn_optimizer_create(BSNN_SGD);
            bsnn_tensor *tx = tu_wrap((float *)bsnn_dataset_inputs(ds), n, 4);
            bsnn_tensor *ty = tu_wrap((float *)bsnn_dataset_targets(ds), n, 1);
            cr_assert_eq(bsnn_model_train_step(NULL, m, o, tx, ty), BSNN_OK, "%s",
                         bsnn_last_error());
            cr_assert_eq(bsnn_model_get_grads(g[pen], np, m), BSNN_OK);
            bsnn_tensor_free(tx);
            bsnn_tensor_free(ty);
            bsnn_optimizer_free(o);
            bsnn_model_free(m);
        }
        /* layout: W1 4x6, b1 6, W2 6x1, b2 1 */
        for (size_t i = 0; i < np; i++) {
            double l1 = 0, l2 = 0;
            if (i < 24) l1 = 0.05, l2 = 0.3;
            else if (i >= 30 && i < 36) l2 = 0.7;
            double w = p0[i], want = l2 * w + l1 * ((w > 0) - (w < 0));
            cr_assert_leq(fabs((g[1][i] - g[0][i]) - want), 1e-6,
                          "batch %zu param %zu: penalty gradient %g, formula %g", n, i,
                          g[1][i] - g[0][i], want);
        }
    }
    bsnn_dataset_free(ds);
}
