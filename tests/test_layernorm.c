/*
 * test_layernorm.c - layer normalization (Ba, Kiros & Hinton 2016): the
 * output against the formula computed in double, gradients against central
 * differences of an independent double-precision network (dense -> layer
 * norm -> dense, MSE), independence of the batch (each row's output the
 * same alone, in any batch, in training and evaluation mode, and a one-row
 * training step is fine, unlike batch norm), save/load, decay scope and
 * settings.
 */
#include "testutil.h"

#include "train/train.h"

/* A reproducible float in [-a, a] from an LCG (independent of bsnn). */
static float lcg(unsigned *st, float a)
{
    *st = *st * 1103515245u + 12345u;
    return a * ((float)((*st >> 8) % 20001) / 10000.0f - 1.0f);
}

static bsnn_model *ln_net(size_t n_in, size_t hidden, size_t n_out)
{
    bsnn_model *m = bsnn_model_create(n_in);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(hidden)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_layernorm()), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(n_out)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_MSE), BSNN_OK);
    return m;
}

/* Fill every parameter, gamma and beta away from 1 and 0 so they matter. */
static void random_params(bsnn_model *m, unsigned seed)
{
    size_t np = bsnn_model_param_count(m);
    float *p = malloc(np * sizeof *p);
    unsigned st = seed;
    for (size_t i = 0; i < np; i++) p[i] = lcg(&st, 1.0f);
    cr_assert_eq(bsnn_model_set_params(m, p, np), BSNN_OK);
    free(p);
}

/* ---- the formula, in double ---------------------------------------------- */

/* y = gamma (x - mean) / sqrt(var + eps) + beta per row, biased variance. */
static void ref_layernorm(double *y, const double *x, size_t n, size_t w, const double *gamma,
                          const double *beta, double eps)
{
    for (size_t r = 0; r < n; r++) {
        double mean = 0, var = 0;
        for (size_t j = 0; j < w; j++) mean += x[r * w + j];
        mean /= (double)w;
        for (size_t j = 0; j < w; j++) var += (x[r * w + j] - mean) * (x[r * w + j] - mean);
        var /= (double)w;
        for (size_t j = 0; j < w; j++)
            y[r * w + j] = gamma[j] * (x[r * w + j] - mean) / sqrt(var + eps) + beta[j];
    }
}

Test(layernorm, output_matches_the_formula_in_double)
{
    enum { N = 9, W = 6 };
    bsnn_model *m = bsnn_model_create(W);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_layernorm()), BSNN_OK);
    random_params(m, 3);
    float p[2 * W], x[N * W], y[N * W];
    cr_assert_eq(bsnn_model_get_params(p, 2 * W, m), BSNN_OK);
    unsigned st = 11;
    for (int i = 0; i < N * W; i++) x[i] = 50.0f + lcg(&st, 4.0f); /* a large mean */
    bsnn_tensor *tx = tu_wrap(x, N, W), *ty = tu_wrap(y, N, W);
    cr_assert_eq(bsnn_model_forward(ty, m, tx), BSNN_OK, "%s", bsnn_last_error());
    double xd[N * W], yd[N * W], g[W], b[W];
    for (int i = 0; i < N * W; i++) xd[i] = x[i];
    for (int j = 0; j < W; j++) g[j] = p[j], b[j] = p[W + j];
    ref_layernorm(yd, xd, N, W, g, b, 1e-5);
    for (int i = 0; i < N * W; i++)
        cr_assert_leq(fabs(y[i] - yd[i]), 1e-5 * fmax(1.0, fabs(yd[i])), "element %d: %g vs %g", i,
                      (double)y[i], yd[i]);
    bsnn_tensor_free(tx), bsnn_tensor_free(ty);
    bsnn_model_free(m);
}

/* ---- gradients against central differences of a double network ------------- */

enum { FD_IN = 3, FD_H = 5, FD_OUT = 2 };

/* Mean over rows of 1/2 sum (o - t)^2 for dense(W1) -> layer norm ->
 * dense(W2), all in double; p in bsnn's parameter order. */
static double ref_loss(const double *p, const double *x, const double *t, size_t n, double eps)
{
    const double *w1 = p, *b1 = w1 + FD_IN * FD_H, *gamma = b1 + FD_H, *beta = gamma + FD_H;
    const double *w2 = beta + FD_H, *b2 = w2 + FD_H * FD_OUT;
    double h[16 * FD_H], hn[16 * FD_H], loss = 0;
    for (size_t r = 0; r < n; r++)
        for (int j = 0; j < FD_H; j++) {
            double s = b1[j];
            for (int k = 0; k < FD_IN; k++) s += x[r * FD_IN + k] * w1[k * FD_H + j];
            h[r * FD_H + j] = s;
        }
    ref_layernorm(hn, h, n, FD_H, gamma, beta, eps);
    for (size_t r = 0; r < n; r++)
        for (int j = 0; j < FD_OUT; j++) {
            double o = b2[j];
            for (int k = 0; k < FD_H; k++) o += hn[r * FD_H + k] * w2[k * FD_OUT + j];
            double d = o - t[r * FD_OUT + j];
            loss += 0.5 * d * d;
        }
    return loss / (double)n;
}

static void fd_check(size_t n, int training, double eps)
{
    bsnn_model *m = ln_net(FD_IN, FD_H, FD_OUT);
    cr_assert_eq(bsnn_layer_set(bsnn_model_layer(m, 1), BSNN_LAYER_EPS, eps), BSNN_OK);
    random_params(m, 5 + (unsigned)n);
    cr_assert_eq(bsnn_model_set_training(m, training), BSNN_OK);
    size_t np = bsnn_model_param_count(m);
    cr_assert_eq(np, FD_IN * FD_H + FD_H + 2 * FD_H + FD_H * FD_OUT + FD_OUT);
    float pf[128], x[16 * FD_IN], t[16 * FD_OUT];
    double pd[128], xd[16 * FD_IN], td[16 * FD_OUT];
    cr_assert_eq(bsnn_model_get_params(pf, np, m), BSNN_OK);
    unsigned st = 17 + (unsigned)n;
    for (size_t i = 0; i < n * FD_IN; i++) xd[i] = x[i] = lcg(&st, 2.0f);
    for (size_t i = 0; i < n * FD_OUT; i++) td[i] = t[i] = lcg(&st, 1.0f);
    for (size_t i = 0; i < np; i++) pd[i] = pf[i];
    /* bsnn's backward pass, no update */
    cr_assert_eq(bsnn__model_reserve(m, n), BSNN_OK);
    double loss = bsnn__engine_gradient(m, x, t, n, FD_OUT) / (double)n;
    cr_assert_leq(fabs(loss - ref_loss(pd, xd, td, n, eps)), 1e-5 * fmax(1.0, loss));
    const double h = 1e-6;
    for (size_t i = 0; i < np; i++) {
        double keep = pd[i];
        pd[i] = keep + h;
        double lp = ref_loss(pd, xd, td, n, eps);
        pd[i] = keep - h;
        double lm = ref_loss(pd, xd, td, n, eps);
        pd[i] = keep;
        double fd = (lp - lm) / (2 * h), g = m->grads[i];
        cr_assert_leq(fabs(fd - g), 2e-4 * fmax(fabs(fd), 1.0),
                      "n %zu training %d eps %g param %zu: backward %.9g, double FD %.9g", n,
                      training, eps, i, g, fd);
    }
    bsnn_model_free(m);
}

Test(layernorm, gradients_match_central_differences_of_a_double_network)
{
    fd_check(1, 1, 1e-5);
    fd_check(4, 1, 1e-5);
    fd_check(13, 0, 1e-5);
    fd_check(6, 1, 0.5); /* a large eps: its place in the formula matters */
}

/* ---- independence of the batch -------------------------------------------- */

Test(layernorm, each_row_is_the_same_alone_in_any_batch_and_in_both_modes)
{
    enum { N = 37, W = 4 };
    bsnn_model *m = bsnn_model_create(W);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_layernorm()), BSNN_OK);
    random_params(m, 8);
    float x[N * W], all[N * W], one[W];
    unsigned st = 9;
    for (int i = 0; i < N * W; i++) x[i] = lcg(&st, 3.0f) * (float)(1 + i % 7);
    bsnn_tensor *tx = tu_wrap(x, N, W), *ta = tu_wrap(all, N, W);
    cr_assert_eq(bsnn_model_forward(ta, m, tx), BSNN_OK);
    for (int r = 0; r < N; r++) {
        bsnn_tensor *t1 = tu_wrap(x + r * W, 1, W), *o1 = tu_wrap(one, 1, W);
        cr_assert_eq(bsnn_model_forward(o1, m, t1), BSNN_OK);
        cr_assert(memcmp(one, all + r * W, sizeof one) == 0, "row %d differs alone", r);
        bsnn_tensor_free(t1), bsnn_tensor_free(o1);
    }
    /* training mode computes the same thing */
    cr_assert_eq(bsnn__model_reserve(m, N), BSNN_OK);
    const float *train_y = bsnn__engine_forward(m, x, N, 0);
    cr_assert(memcmp(train_y, all, sizeof all) == 0, "training mode differs");
    bsnn_tensor_free(tx), bsnn_tensor_free(ta);
    bsnn_model_free(m);
}

Test(layernorm, a_one_row_training_step_works_where_batch_norm_refuses)
{
    bsnn_model *m = ln_net(3, 4, 1);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_ADAM);
    float x[3] = {1, -2, 0.5f}, y[1] = {0.25f};
    bsnn_tensor *tx = tu_wrap(x, 1, 3), *ty = tu_wrap(y, 1, 1);
    double first = 0, last = 0;
    for (int s = 0; s < 200; s++) {
        cr_assert_eq(bsnn_model_train_step(&last, m, opt, tx, ty), BSNN_OK, "%s",
                     bsnn_last_error());
        if (s == 0) first = last;
    }
    cr_assert_lt(last, 0.01 * first, "one-row training did not fit: %g -> %g", first, last);
    bsnn_tensor_free(tx), bsnn_tensor_free(ty);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
}

/* ---- parameters, settings, persistence ---------------------------------------- */

Test(layernorm, parameters_start_at_gamma_1_beta_0_and_eps_is_a_setting)
{
    bsnn_model *m = bsnn_model_create(3);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_layernorm()), BSNN_OK);
    float p[6];
    cr_assert_eq(bsnn_model_param_count(m), 6);
    cr_assert_eq(bsnn_model_get_params(p, 6, m), BSNN_OK);
    const float want[6] = {1, 1, 1, 0, 0, 0};
    cr_assert_arr_eq(p, want, sizeof p);
    bsnn_layer *l = bsnn_model_layer(m, 0);
    cr_assert_eq(bsnn_layer_kind_of(l), BSNN_LAYER_LAYERNORM);
    double v, lo, hi;
    unsigned open;
    cr_assert_eq(bsnn_layer_get(&v, l, BSNN_LAYER_EPS), BSNN_OK);
    cr_assert_eq(v, 1e-5);
    cr_assert_eq(bsnn_layer_bounds(&lo, &hi, &open, BSNN_LAYER_LAYERNORM, BSNN_LAYER_EPS), BSNN_OK);
    cr_assert(lo == 1e-12 && hi == 1.0 && open == 0);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_EPS, 0.0), BSNN_E_ARG);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_MOMENTUM, 0.1), BSNN_E_ARG);
    cr_assert_eq(bsnn_layer_set_seed(l, 1), BSNN_E_ARG);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_EPS, 1e-3), BSNN_OK);
    cr_assert_eq(bsnn_layer_get(&v, l, BSNN_LAYER_EPS), BSNN_OK);
    cr_assert_eq(v, 1e-3);
    bsnn_model_free(m);
}

Test(layernorm, save_and_load_keep_parameters_eps_and_predictions)
{
    bsnn_model *m = ln_net(3, 5, 2);
    cr_assert_eq(bsnn_layer_set(bsnn_model_layer(m, 1), BSNN_LAYER_EPS, 0.125), BSNN_OK);
    random_params(m, 21);
    void *buf = NULL;
    size_t size = 0;
    cr_assert_eq(bsnn_model_save_alloc(&buf, &size, m), BSNN_OK);
    bsnn_model *back = NULL;
    cr_assert_eq(bsnn_model_load_buffer(&back, buf, size), BSNN_OK, "%s", bsnn_last_error());
    double v;
    cr_assert_eq(bsnn_layer_get(&v, bsnn_model_layer(back, 1), BSNN_LAYER_EPS), BSNN_OK);
    cr_assert_eq(v, 0.125);
    float x[8 * 3], a[8 * 2], b[8 * 2];
    unsigned st = 2;
    for (int i = 0; i < 24; i++) x[i] = lcg(&st, 2.0f);
    bsnn_tensor *tx = tu_wrap(x, 8, 3), *ta = tu_wrap(a, 8, 2), *tb = tu_wrap(b, 8, 2);
    cr_assert_eq(bsnn_model_forward(ta, m, tx), BSNN_OK);
    cr_assert_eq(bsnn_model_forward(tb, back, tx), BSNN_OK);
    cr_assert(memcmp(a, b, sizeof a) == 0, "a loaded layer-norm model predicts differently");
    bsnn_tensor_free(tx), bsnn_tensor_free(ta), bsnn_tensor_free(tb);
    bsnn_buffer_free(buf);
    bsnn_model_free(back);
    bsnn_model_free(m);
}

/* AdamW with BSNN_DECAY_WEIGHTS decays dense weights, never gamma or beta:
 * with a zero gradient (zero targets on zero outputs) gamma stays at 1. */
Test(layernorm, gamma_and_beta_are_not_weights_for_decoupled_decay)
{
    bsnn_model *m = bsnn_model_create(2);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_layernorm()), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_MSE), BSNN_OK);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_ADAMW);
    cr_assert_eq(bsnn_optimizer_set(opt, BSNN_OPT_DECAY_SCOPE, BSNN_DECAY_WEIGHTS), BSNN_OK);
    cr_assert_eq(bsnn_optimizer_set(opt, BSNN_OPT_WEIGHT_DECAY, 10), BSNN_OK);
    float x[2] = {1, 1}, y[2] = {0, 0}, p[4];
    bsnn_tensor *tx = tu_wrap(x, 1, 2), *ty = tu_wrap(y, 1, 2);
    for (int s = 0; s < 5; s++) cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_OK);
    cr_assert_eq(bsnn_model_get_params(p, 4, m), BSNN_OK);
    cr_assert(p[0] == 1.0f && p[1] == 1.0f, "gamma was decayed: %g %g", p[0], p[1]);
    /* the same run decaying every parameter does shrink gamma */
    bsnn_model_free(m);
    bsnn_optimizer_free(opt);
    m = bsnn_model_create(2);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_layernorm()), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_MSE), BSNN_OK);
    opt = bsnn_optimizer_create(BSNN_ADAMW);
    cr_assert_eq(bsnn_optimizer_set(opt, BSNN_OPT_WEIGHT_DECAY, 10), BSNN_OK);
    for (int s = 0; s < 5; s++) cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_OK);
    cr_assert_eq(bsnn_model_get_params(p, 4, m), BSNN_OK);
    cr_assert_lt(p[0], 1.0f, "DECAY_ALL left gamma at %g", p[0]);
    bsnn_tensor_free(tx), bsnn_tensor_free(ty);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
}
