/*
 * test_batchnorm.c - batch normalization: training-mode output statistics,
 * running averages converging to the data's, evaluation against the formula
 * recomputed in double, finite-difference gradients in both modes, mode
 * misuse (one-row training batches) and settings.
 *
 * Uses the private step pieces (bsnn__engine_forward, _gradient) to
 * see training-mode outputs and gradients without an optimizer update.
 */
#include "testutil.h"

#include "train/train.h"

/* Rows of w features, feature j ~ N(mu_j, sd_j^2), from bsnn's generator. */
static void gaussian_rows(float *x, size_t n, size_t w, const double *mu, const double *sd,
                          uint64_t seed)
{
    bsnn_rng rng;
    bsnn__rng_seed(&rng, seed);
    for (size_t r = 0; r < n; r++)
        for (size_t j = 0; j < w; j++)
            x[r * w + j] = (float)(mu[j] + sd[j] * bsnn__rng_normal(&rng));
}

/* Mean and biased variance of column j of an n x w array, in double. */
static void column_stats(double *out_mean, double *out_var, const float *a, size_t n, size_t w,
                         size_t j)
{
    double mean = 0, var = 0;
    for (size_t r = 0; r < n; r++) mean += a[r * w + j];
    mean /= (double)n;
    for (size_t r = 0; r < n; r++) var += (a[r * w + j] - mean) * (a[r * w + j] - mean);
    *out_mean = mean;
    *out_var = var / (double)n;
}

static bsnn_model *bn_only(size_t w)
{
    bsnn_model *m = bsnn_model_create(w);
    bsnn_model_set_loss(m, BSNN_LOSS_MSE);
    cr_assert_not_null(m);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_batchnorm()), BSNN_OK, "%s", bsnn_last_error());
    return m;
}

/* A training-mode forward pass of n rows, accepted as an update would be:
 * the layers commit what it left (the running statistics). */
static const float *train_forward(bsnn_model *m, const float *x, size_t n)
{
    cr_assert_eq(bsnn__model_reserve(m, n), BSNN_OK);
    const float *y = bsnn__engine_forward(m, x, n, 0);
    for (size_t i = 0; i < m->n_layers; i++) {
        bsnn_layer *l = m->layers[i];
        if (l->ops->commit) l->ops->commit(l, m->state + l->state_off, m->ws.scratch[i], 1, n);
    }
    return y;
}

static const double MU[3] = {5.0, -2.0, 0.0}, SD[3] = {3.0, 0.5, 1.0};

Test(batchnorm, train_output_has_mean_0_variance_1_per_feature_for_every_batch_size)
{
    const size_t sizes[] = {2, 3, 8, 33, 200};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        float x[200 * 3];
        gaussian_rows(x, n, 3, MU, SD, 10 + n);
        bsnn_model *m = bn_only(3);
        const float *y = train_forward(m, x, n);
        for (size_t j = 0; j < 3; j++) {
            double mean, var, xm, xv;
            column_stats(&mean, &var, y, n, 3, j);
            column_stats(&xm, &xv, x, n, 3, j);
            cr_assert_leq(fabs(mean), 1e-5, "n %zu feature %zu: mean %g", n, j, mean);
            /* var(xhat) = v / (v + eps) exactly, eps = 1e-5 */
            cr_assert_leq(fabs(var - xv / (xv + 1e-5)), 1e-4, "n %zu feature %zu: var %g", n, j,
                          var);
        }
        bsnn_model_free(m);
    }
}

Test(batchnorm, train_output_applies_gamma_and_beta_after_normalising)
{
    float x[16 * 3];
    gaussian_rows(x, 16, 3, MU, SD, 3);
    bsnn_model *m = bn_only(3);
    const float p[6] = {2.0f, 0.5f, -1.0f, 1.0f, -3.0f, 0.25f};
    cr_assert_eq(bsnn_model_set_params(m, p, 6), BSNN_OK);
    const float *y = train_forward(m, x, 16);
    for (size_t j = 0; j < 3; j++) {
        double mean, var;
        column_stats(&mean, &var, y, 16, 3, j);
        cr_assert_leq(fabs(mean - p[3 + j]), 1e-5, "feature %zu mean %g, beta %g", j, mean, p[3 + j]);
        cr_assert_leq(fabs(sqrt(var) - fabs(p[j])), 1e-3, "feature %zu sd %g, |gamma| %g", j,
                      sqrt(var), fabs(p[j]));
    }
    bsnn_model_free(m);
}

Test(batchnorm, parameters_start_at_gamma_1_beta_0_in_gamma_then_beta_order)
{
    bsnn_model *m = bn_only(3);
    float p[6];
    cr_assert_eq(bsnn_model_param_count(m), 6);
    cr_assert_eq(bsnn_model_get_params(p, 6, m), BSNN_OK);
    const float want[6] = {1, 1, 1, 0, 0, 0};
    cr_assert_arr_eq(p, want, sizeof p);
    cr_assert_eq(bsnn_layer_kind_of(bsnn_model_layer(m, 0)), BSNN_LAYER_BATCHNORM);
    bsnn_model_free(m);
}

Test(batchnorm, running_statistics_converge_to_the_data_mean_and_variance)
{
    bsnn_model *m = bn_only(3);
    bsnn_layer *l = bsnn_model_layer(m, 0);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_MOMENTUM, 0.01), BSNN_OK);
    float x[16 * 3];
    for (int b = 0; b < 3000; b++) {
        gaussian_rows(x, 16, 3, MU, SD, 1000 + (uint64_t)b);
        train_forward(m, x, 16);
    }
    const float *rm = m->state + l->state_off, *rv = rm + 3;
    /* EMA of 16-row batch statistics with momentum 0.01: sd of the mean
     * estimate 0.018 sd, of the variance 0.026 var; allow ~4.5 of those. */
    for (size_t j = 0; j < 3; j++) {
        cr_assert_leq(fabs(rm[j] - MU[j]), 0.08 * SD[j], "feature %zu running mean %g, data %g",
                      j, rm[j], MU[j]);
        cr_assert_leq(fabs(rv[j] - SD[j] * SD[j]), 0.12 * SD[j] * SD[j],
                      "feature %zu running var %g, data %g", j, rv[j], SD[j] * SD[j]);
    }
    bsnn_model_free(m);
}

Test(batchnorm, running_update_follows_the_momentum_formula_with_unbiased_variance)
{
    bsnn_model *m = bn_only(3);
    bsnn_layer *l = bsnn_model_layer(m, 0);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_MOMENTUM, 0.3), BSNN_OK);
    float x[5 * 3];
    gaussian_rows(x, 5, 3, MU, SD, 77);
    train_forward(m, x, 5);
    const float *rm = m->state + l->state_off, *rv = rm + 3;
    for (size_t j = 0; j < 3; j++) {
        double mean, var;
        column_stats(&mean, &var, x, 5, 3, j);
        cr_assert_leq(tu_rel(rm[j], 0.7 * 0.0 + 0.3 * mean, 1e-3), 1e-5);
        cr_assert_leq(tu_rel(rv[j], 0.7 * 1.0 + 0.3 * var * 5 / 4, 1e-3), 1e-5);
    }
    bsnn_model_free(m);
}

/* Evaluation: y = gamma (x - running mean) / sqrt(running var + eps) + beta. */
Test(batchnorm, eval_mode_matches_the_formula_with_running_statistics)
{
    bsnn_model *m = bn_only(3);
    bsnn_layer *l = bsnn_model_layer(m, 0);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_EPS, 1e-3), BSNN_OK);
    float x[8 * 3];
    for (int b = 0; b < 5; b++) {
        gaussian_rows(x, 8, 3, MU, SD, 500 + (uint64_t)b);
        train_forward(m, x, 8);
    }
    const float p[6] = {1.5f, -0.5f, 2.0f, 0.1f, 0.2f, -0.3f};
    cr_assert_eq(bsnn_model_set_params(m, p, 6), BSNN_OK);
    const float *rm = m->state + l->state_off, *rv = rm + 3;
    float xin[7 * 3], out[7 * 3];
    gaussian_rows(xin, 7, 3, MU, SD, 9);
    bsnn_tensor *tx = tu_wrap(xin, 7, 3), *to = tu_wrap(out, 7, 3);
    cr_assert_eq(bsnn_model_forward(to, m, tx), BSNN_OK, "%s", bsnn_last_error());
    for (size_t r = 0; r < 7; r++)
        for (size_t j = 0; j < 3; j++) {
            double want = p[j] * (xin[r * 3 + j] - (double)rm[j]) / sqrt((double)rv[j] + 1e-3) +
                          p[3 + j];
            cr_assert_leq(tu_rel(out[r * 3 + j], want, 1e-2), 1e-5, "row %zu feature %zu: %g vs %g",
                          r, j, out[r * 3 + j], want);
        }
    /* a single row evaluates fine */
    bsnn_tensor *t1 = tu_wrap(xin, 1, 3), *o1 = tu_wrap(out, 1, 3);
    cr_assert_eq(bsnn_model_forward(o1, m, t1), BSNN_OK, "%s", bsnn_last_error());
    bsnn_tensor_free(t1);
    bsnn_tensor_free(o1);
    bsnn_tensor_free(tx);
    bsnn_tensor_free(to);
    bsnn_model_free(m);
}

Test(batchnorm, eval_and_inference_never_change_parameters_or_running_statistics)
{
    bsnn_model *m = bsnn_model_create(3);
    bsnn_model_set_loss(m, BSNN_LOSS_MSE);
    bsnn_model_add(m, bsnn_layer_dense(4));
    bsnn_model_add(m, bsnn_layer_batchnorm());
    bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH));
    bsnn_model_add(m, bsnn_layer_dense(1));
    float x[10 * 3], y[10];
    gaussian_rows(x, 10, 3, MU, SD, 4);
    for (int i = 0; i < 10; i++) y[i] = (float)(i % 2);
    bsnn_tensor *tx = tu_wrap(x, 10, 3), *ty = tu_wrap(y, 10, 1);
    bsnn_optimizer *o = bsnn_optimizer_create(BSNN_ADAM);
    cr_assert_eq(bsnn_model_train_step(NULL, m, o, tx, ty), BSNN_OK, "%s", bsnn_last_error());
    size_t np = bsnn_model_param_count(m), ns = m->n_state;
    float p0[64], p1[64], s0[16], s1[16];
    bsnn_model_get_params(p0, np, m);
    memcpy(s0, m->state, ns * sizeof(float));
    bsnn_dataset *ds = bsnn_dataset_create(x, y, 10, 3, 1);
    double loss;
    cr_assert_eq(bsnn_model_evaluate(&loss, NULL, m, ds, 3), BSNN_OK);
    cr_assert_eq(bsnn_model_forward(ty, m, tx), BSNN_OK);
    bsnn_model_get_params(p1, np, m);
    memcpy(s1, m->state, ns * sizeof(float));
    cr_assert_arr_eq(p0, p1, np * sizeof(float), "parameters changed by evaluation");
    cr_assert_arr_eq(s0, s1, ns * sizeof(float), "running statistics changed by evaluation");
    /* a train step in evaluation mode updates parameters, not statistics */
    for (int i = 0; i < 10; i++) y[i] = (float)(i % 2);
    cr_assert_eq(bsnn_model_set_training(m, 0), BSNN_OK);
    cr_assert_eq(bsnn_model_train_step(NULL, m, o, tx, ty), BSNN_OK, "%s", bsnn_last_error());
    memcpy(s1, m->state, ns * sizeof(float));
    cr_assert_arr_eq(s0, s1, ns * sizeof(float), "eval-mode step changed running statistics");
    bsnn_dataset_free(ds);
    bsnn_optimizer_free(o);
    bsnn_tensor_free(tx);
    bsnn_tensor_free(ty);
    bsnn_model_free(m);
}

/* ---- finite differences ------------------------------------------------- */

/* Mean loss of the n rows in the model's current mode, gradient into m->grads. */
static double loss_and_grad(bsnn_model *m, const float *x, const float *y, size_t n)
{
    cr_assert_eq(bsnn__model_reserve(m, n), BSNN_OK);
    return bsnn__engine_gradient(m, x, y, n, 2) / (double)n;
}

/* Central differences of the batch loss against the backward pass, for
 * every parameter; the net is 3 -> dense 4 -> BN -> tanh -> dense 2, MSE. */
static void fd_check(size_t n, int training)
{
    bsnn_model *m = bsnn_model_create(3);
    bsnn_model_set_loss(m, BSNN_LOSS_MSE);
    bsnn_model_add(m, bsnn_layer_dense(4));
    bsnn_model_add(m, bsnn_layer_batchnorm());
    bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH));
    bsnn_model_add(m, bsnn_layer_dense(2));
    bsnn_model_init_params(m, 7);
    size_t np = bsnn_model_param_count(m);
    float p[64], g[64];
    bsnn_model_get_params(p, np, m);
    /* gamma and beta away from 1 and 0 so their gradients matter */
    for (size_t j = 0; j < 4; j++) p[16 + j] = 0.5f + 0.3f * (float)j, p[20 + j] = 0.1f * (float)j;
    bsnn_model_set_params(m, p, np);
    float x[16 * 3], y[16 * 2];
    gaussian_rows(x, n, 3, MU, SD, 40 + n);
    for (size_t i = 0; i < 2 * n; i++) y[i] = (float)((int)(i * 7 % 5) - 2) * 0.4f;
    if (!training) { /* non-trivial running statistics */
        for (int b = 0; b < 3; b++) loss_and_grad(m, x, y, n);
        bsnn_model_set_training(m, 0);
    }
    loss_and_grad(m, x, y, n);
    memcpy(g, m->grads, np * sizeof(float));
    const float h = 1e-2f;
    for (size_t i = 0; i < np; i++) {
        float keep = p[i];
        p[i] = keep + h;
        bsnn_model_set_params(m, p, np);
        double lp = loss_and_grad(m, x, y, n);
        p[i] = keep - h;
        bsnn_model_set_params(m, p, np);
        double lm = loss_and_grad(m, x, y, n);
        p[i] = keep;
        bsnn_model_set_params(m, p, np);
        double fd = (lp - lm) / (2.0 * h);
        cr_assert_leq(fabs(fd - g[i]), 1e-2 * fmax(fabs(fd), fabs(g[i])) + 2e-4,
                      "n %zu training %d param %zu: backward %g, finite difference %g", n,
                      training, i, g[i], fd);
    }
    bsnn_model_free(m);
}

Test(batchnorm, training_mode_gradients_match_finite_differences_for_several_batch_sizes)
{
    fd_check(2, 1);
    fd_check(5, 1);
    fd_check(16, 1);
}

Test(batchnorm, eval_mode_gradients_match_finite_differences)
{
    fd_check(1, 0);
    fd_check(6, 0);
}

/* ---- misuse and settings -------------------------------------------------- */

Test(batchnorm, one_row_training_step_is_an_error_and_changes_nothing)
{
    bsnn_model *m = bn_only(3);
    bsnn_model_add(m, bsnn_layer_dense(1));
    float x[3] = {1, 2, 3}, y[1] = {0.5f};
    bsnn_tensor *tx = tu_wrap(x, 1, 3), *ty = tu_wrap(y, 1, 1);
    bsnn_optimizer *o = bsnn_optimizer_create(BSNN_SGD);
    size_t np = bsnn_model_param_count(m);
    float p0[16], p1[16], s0[6];
    bsnn_model_get_params(p0, np, m);
    memcpy(s0, m->state, sizeof s0);
    cr_assert_eq(bsnn_model_train_step(NULL, m, o, tx, ty), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "batch norm") != NULL, "%s", bsnn_last_error());
    cr_assert(strstr(bsnn_last_error(), "1 row") != NULL, "%s", bsnn_last_error());
    bsnn_model_get_params(p1, np, m);
    cr_assert_arr_eq(p0, p1, np * sizeof(float));
    cr_assert_arr_eq(s0, m->state, sizeof s0);
    /* evaluation mode: a one-row step uses the running statistics */
    cr_assert_eq(bsnn_model_set_training(m, 0), BSNN_OK);
    cr_assert_eq(bsnn_model_train_step(NULL, m, o, tx, ty), BSNN_OK, "%s", bsnn_last_error());
    bsnn_optimizer_free(o);
    bsnn_tensor_free(tx);
    bsnn_tensor_free(ty);
    bsnn_model_free(m);
}

Test(batchnorm, scheduler_batch_of_1_is_refused_before_any_update)
{
    bsnn_dataset *ds = bsnn_dataset_parity(3);
    bsnn_model *m = bsnn_model_create(3);
    bsnn_model_set_loss(m, BSNN_LOSS_MSE);
    bsnn_model_add(m, bsnn_layer_dense(4));
    bsnn_model_add(m, bsnn_layer_batchnorm());
    bsnn_model_add(m, bsnn_layer_dense(1));
    bsnn_optimizer *o = bsnn_optimizer_create(BSNN_SGD);
    bsnn_scheduler *s = bsnn_scheduler_create(8);
    bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 1);
    size_t steps = 99;
    cr_assert_eq(bsnn_model_train(&steps, m, o, s, ds, 1, NULL, NULL), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "batch norm") != NULL, "%s", bsnn_last_error());
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(o);
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
}

Test(batchnorm, partial_last_batch_of_1_stops_training_unless_dropped)
{
    bsnn_dataset *full = bsnn_dataset_parity(3);
    /* 7 rows, batches of 3: 3 + 3 + a partial 1 */
    bsnn_dataset *ds = bsnn_dataset_create(bsnn_dataset_inputs(full), bsnn_dataset_targets(full),
                                           7, 3, 1);
    bsnn_model *m = bsnn_model_create(3);
    bsnn_model_set_loss(m, BSNN_LOSS_MSE);
    bsnn_model_add(m, bsnn_layer_dense(4));
    bsnn_model_add(m, bsnn_layer_batchnorm());
    bsnn_model_add(m, bsnn_layer_dense(1));
    bsnn_optimizer *o = bsnn_optimizer_create(BSNN_SGD);
    bsnn_scheduler *s = bsnn_scheduler_create(7);
    bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 3);
    size_t steps = 0;
    cr_assert_eq(bsnn_model_train(&steps, m, o, s, ds, 1, NULL, NULL), BSNN_E_ARG);
    cr_assert_eq(steps, 2, "the two full batches were used, got %zu steps", steps);
    bsnn_scheduler_set(s, BSNN_SCHED_DROP_LAST, 1);
    bsnn_scheduler_reset(s);
    cr_assert_eq(bsnn_model_train(&steps, m, o, s, ds, 3, NULL, NULL), BSNN_OK, "%s",
                 bsnn_last_error());
    cr_assert_eq(steps, 6);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(o);
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
    bsnn_dataset_free(full);
}

Test(batchnorm, settings_have_bounds_and_bad_values_are_errors)
{
    bsnn_layer *l = bsnn_layer_batchnorm();
    cr_assert_not_null(l);
    double v, lo, hi;
    cr_assert_eq(bsnn_layer_get(&v, l, BSNN_LAYER_MOMENTUM), BSNN_OK);
    cr_assert_eq(v, 0.1);
    cr_assert_eq(bsnn_layer_get(&v, l, BSNN_LAYER_EPS), BSNN_OK);
    cr_assert_eq(v, 1e-5);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_MOMENTUM, 0.25), BSNN_OK);
    cr_assert_eq(bsnn_layer_get(&v, l, BSNN_LAYER_MOMENTUM), BSNN_OK);
    cr_assert_eq(v, 0.25);
    cr_assert_eq(bsnn_layer_bounds(&lo, &hi, (unsigned[1]){0}, BSNN_LAYER_BATCHNORM, BSNN_LAYER_MOMENTUM), BSNN_OK);
    cr_assert(lo == 0.0 && hi == 1.0);
    const struct {
        bsnn_layer_param p;
        double v;
    } bad[] = {{BSNN_LAYER_MOMENTUM, -0.1}, {BSNN_LAYER_MOMENTUM, 1.5}, {BSNN_LAYER_MOMENTUM, NAN},
               {BSNN_LAYER_EPS, 0.0},       {BSNN_LAYER_EPS, -1e-5},    {BSNN_LAYER_EPS, INFINITY},
               {BSNN_LAYER_RATE, 0.5},      {BSNN_LAYER_L2, 0.1},       {BSNN_LAYER_SLOPE, 0.1}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        cr_assert_eq(bsnn_layer_set(l, bad[k].p, bad[k].v), BSNN_E_ARG, "case %zu accepted", k);
        cr_assert(strlen(bsnn_last_error()) > 10);
    }
    cr_assert_eq(bsnn_layer_get(&v, l, BSNN_LAYER_RATE), BSNN_E_ARG);
    cr_assert_eq(bsnn_layer_get(&v, l, BSNN_LAYER_MOMENTUM), BSNN_OK);
    cr_assert_eq(v, 0.25, "failed sets changed the momentum");
    bsnn_layer_free(l);
}

Test(batchnorm, steady_state_training_steps_allocate_nothing)
{
    tu_count_allocations(0);
    bsnn_model *m = bsnn_model_create(3);
    bsnn_model_set_loss(m, BSNN_LOSS_MSE);
    bsnn_model_add(m, bsnn_layer_dense(4));
    bsnn_model_add(m, bsnn_layer_batchnorm());
    bsnn_model_add(m, bsnn_layer_dropout(0.2));
    bsnn_model_add(m, bsnn_layer_dense(1));
    float x[6 * 3], y[6] = {0, 1, 0, 1, 1, 0};
    gaussian_rows(x, 6, 3, MU, SD, 8);
    bsnn_tensor *tx = tu_wrap(x, 6, 3), *ty = tu_wrap(y, 6, 1);
    bsnn_optimizer *o = bsnn_optimizer_create(BSNN_ADAM);
    cr_assert_eq(bsnn_model_train_step(NULL, m, o, tx, ty), BSNN_OK, "%s", bsnn_last_error());
    size_t before = tu_stats.allocs;
    for (int s = 0; s < 5; s++) cr_assert_eq(bsnn_model_train_step(NULL, m, o, tx, ty), BSNN_OK);
    cr_assert_eq(tu_stats.allocs, before);
    bsnn_optimizer_free(o);
    bsnn_tensor_free(tx);
    bsnn_tensor_free(ty);
    bsnn_model_free(m);
    tu_restore_allocator();
}

Test(batchnorm, save_and_load_keep_statistics_settings_and_dropout_stream)
{
    bsnn_model *m = bsnn_model_create(3);
    bsnn_model_set_loss(m, BSNN_LOSS_MSE);
    bsnn_model_add(m, bsnn_layer_dense(4));
    bsnn_model_add(m, bsnn_layer_batchnorm());
    bsnn_model_add(m, bsnn_layer_dropout(0.3));
    bsnn_model_add(m, bsnn_layer_dense(1));
    bsnn_layer_set(bsnn_model_layer(m, 1), BSNN_LAYER_MOMENTUM, 0.2);
    bsnn_layer_set(bsnn_model_layer(m, 1), BSNN_LAYER_EPS, 1e-3);
    float x[8 * 3], y[8] = {0, 1, 1, 0, 1, 0, 0, 1};
    gaussian_rows(x, 8, 3, MU, SD, 21);
    bsnn_tensor *tx = tu_wrap(x, 8, 3), *ty = tu_wrap(y, 8, 1);
    bsnn_optimizer *o = bsnn_optimizer_create(BSNN_SGD);
    for (int s = 0; s < 3; s++) cr_assert_eq(bsnn_model_train_step(NULL, m, o, tx, ty), BSNN_OK);
    void *buf = NULL;
    size_t size = 0;
    cr_assert_eq(bsnn_model_save_alloc(&buf, &size, m), BSNN_OK, "%s", bsnn_last_error());
    bsnn_model *c = NULL;
    cr_assert_eq(bsnn_model_load_buffer(&c, buf, size), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(c->n_state, m->n_state);
    cr_assert_arr_eq(c->state, m->state, m->n_state * sizeof(float));
    double v;
    cr_assert_eq(bsnn_layer_get(&v, bsnn_model_layer(c, 1), BSNN_LAYER_EPS), BSNN_OK);
    cr_assert_eq(v, 1e-3);
    cr_assert_eq(bsnn_layer_get(&v, bsnn_model_layer(c, 2), BSNN_LAYER_RATE), BSNN_OK);
    cr_assert_eq(v, 0.3);
    /* the next training-mode outputs (same dropout mask) agree */
    const float *a = train_forward(m, x, 8);
    float ya[8 * 1];
    memcpy(ya, a, sizeof ya);
    const float *b = train_forward(c, x, 8);
    cr_assert_arr_eq(ya, b, sizeof ya, "loaded model differs in training mode");
    bsnn_buffer_free(buf);
    bsnn_model_free(c);
    bsnn_optimizer_free(o);
    bsnn_tensor_free(tx);
    bsnn_tensor_free(ty);
    bsnn_model_free(m);
}
