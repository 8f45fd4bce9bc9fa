/*
 * test_loss.c - the objectives: values against the published formulas
 * recomputed in double, gradients with respect to the last layer's output
 * against central finite differences of those formulas, stability at large
 * logits, class-index targets, and bad targets. MSE_MEAN is checked against
 * torch.nn.MSELoss's definition (test_golden.c against torch itself).
 *
 * Values are read through bsnn_model_evaluate on a parameter-free model (one
 * linear activation: the output is the input). Gradients are read as the
 * bias gradient of a dense layer with W = I, b = 0: dL/db = mean dL/dz.
 */
#include "refnet.h"

/* Mean loss of outputs o [n][w] against targets t [n][tw] via bsnn. */
static double bsnn_mean_loss(bsnn_loss loss, const float *o, const float *t, size_t n, size_t w,
                             size_t tw, size_t batch)
{
    bsnn_model *m = bsnn_model_create(w);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_LINEAR)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, loss), BSNN_OK);
    bsnn_dataset *ds = bsnn_dataset_create(o, t, n, w, tw);
    cr_assert_not_null(ds, "%s", bsnn_last_error());
    double value = NAN;
    cr_assert_eq(bsnn_model_evaluate(&value, NULL, m, ds, batch), BSNN_OK, "%s", bsnn_last_error());
    bsnn_dataset_free(ds);
    bsnn_model_free(m);
    return value;
}

/* The published formula, per sample, recomputed in double. */
static double formula(bsnn_loss loss, const float *o, const float *t, size_t w, size_t tw)
{
    double sum = 0.0;
    if (loss == BSNN_LOSS_MSE) {
        for (size_t j = 0; j < w; j++) sum += 0.5 * ((double)o[j] - t[j]) * ((double)o[j] - t[j]);
        return sum;
    }
    if (loss == BSNN_LOSS_MSE_MEAN) { /* torch.nn.MSELoss: mean over outputs, no 1/2 */
        for (size_t j = 0; j < w; j++) sum += ((double)o[j] - t[j]) * ((double)o[j] - t[j]);
        return sum / (double)w;
    }
    if (loss == BSNN_LOSS_BCE_LOGITS) {
        for (size_t j = 0; j < w; j++) {
            double z = o[j];
            sum += fmax(z, 0.0) - z * t[j] + log1p(exp(-fabs(z)));
        }
        return sum;
    }
    double se = 0.0, mx = o[0];
    for (size_t j = 1; j < w; j++) mx = fmax(mx, o[j]);
    for (size_t j = 0; j < w; j++) se += exp((double)o[j] - mx);
    for (size_t j = 0; j < w; j++) {
        double tj = tw == w ? t[j] : (double)(j == (size_t)t[0]);
        sum += tj * (mx + log(se) - o[j]);
    }
    return sum;
}

static void check_values(bsnn_loss loss, const float *o, const float *t, size_t n, size_t w,
                         size_t tw)
{
    double want = 0.0;
    for (size_t r = 0; r < n; r++) want += formula(loss, o + r * w, t + r * tw, w, tw);
    want /= (double)n;
    size_t batches[3] = {1, n > 2 ? 3 : 1, n};
    for (int b = 0; b < 3; b++) {
        double got = bsnn_mean_loss(loss, o, t, n, w, tw, batches[b]);
        cr_assert_lt(tu_rel(got, want, 1e-12), 1e-6, "loss %d batch %zu: %.10g vs formula %.10g",
                     loss, batches[b], got, want);
    }
}

/* bsnn's dL/dz for each row of z (batch 1 steps), via an identity dense layer. */
static void bsnn_output_grad(float *g, bsnn_loss loss, const float *z, const float *t, size_t n,
                             size_t w, size_t tw)
{
    for (size_t r = 0; r < n; r++) {
        bsnn_model *m = bsnn_model_create(w);
        cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(w)), BSNN_OK);
        cr_assert_eq(bsnn_model_set_loss(m, loss), BSNN_OK);
        size_t count = w * w + w;
        float *p = calloc(count, sizeof(float)), *gr = calloc(count, sizeof(float));
        for (size_t j = 0; j < w; j++) p[j * w + j] = 1.0f;
        cr_assert_eq(bsnn_model_set_params(m, p, count), BSNN_OK);
        float xr[REF_MAX_WIDTH], yr[REF_MAX_WIDTH];
        memcpy(xr, z + r * w, w * sizeof(float));
        memcpy(yr, t + r * tw, tw * sizeof(float));
        ref_bsnn_grad(gr, p, m, xr, yr, 1, tw);
        memcpy(g + r * w, gr + w * w, w * sizeof(float));
        free(p);
        free(gr);
        bsnn_model_free(m);
    }
}

/* Central differences of the double formula with respect to each output. */
static void check_grads(bsnn_loss loss, const float *z, const float *t, size_t n, size_t w,
                        size_t tw)
{
    float *g = calloc(n * w, sizeof(float));
    bsnn_output_grad(g, loss, z, t, n, w, tw);
    for (size_t r = 0; r < n; r++)
        for (size_t j = 0; j < w; j++) {
            double o[REF_MAX_WIDTH], h = 1e-5;
            for (size_t k = 0; k < w; k++) o[k] = z[r * w + k];
            o[j] += h;
            double up = ref_sample_loss(loss, o, t + r * tw, w, tw);
            o[j] -= 2 * h;
            double down = ref_sample_loss(loss, o, t + r * tw, w, tw);
            double fd = (up - down) / (2 * h), a = g[r * w + j];
            cr_assert_lt(tu_rel(a, fd, 1e-4), 1e-2, "loss %d row %zu out %zu: %.8g vs fd %.8g",
                         loss, r, j, a, fd);
        }
    free(g);
}

Test(loss, mse_is_half_squared_error_summed_over_outputs_mean_over_batch)
{
    float o[5 * 3], t[5 * 3];
    ref_fill(o, 15, -2, 2, 1);
    ref_fill(t, 15, -1, 1, 2);
    check_values(BSNN_LOSS_MSE, o, t, 5, 3, 3);
    /* By hand: o = (1, 2), t = (0, 0) -> 1/2 (1 + 4) = 2.5. */
    float oh[2] = {1, 2}, th[2] = {0, 0};
    cr_assert_float_eq(bsnn_mean_loss(BSNN_LOSS_MSE, oh, th, 1, 2, 2, 1), 2.5, 1e-12);
}

Test(loss, mse_gradient_matches_finite_differences)
{
    float z[4 * 3], t[4 * 3];
    ref_fill(z, 12, -2, 2, 3);
    ref_fill(t, 12, -1, 1, 4);
    check_grads(BSNN_LOSS_MSE, z, t, 4, 3, 3);
}

Test(loss, mse_mean_is_the_mean_over_rows_and_outputs_without_a_half)
{
    float o[6 * 3], t[6 * 3];
    ref_fill(o, 18, -2, 2, 10);
    ref_fill(t, 18, -1, 1, 11);
    check_values(BSNN_LOSS_MSE_MEAN, o, t, 6, 3, 3);
    /* By hand: o = (1, 2, 3), t = 0 -> (1 + 4 + 9) / 3 (1/2-sum MSE: 7). */
    float oh[3] = {1, 2, 3}, th[3] = {0, 0, 0};
    cr_assert_float_eq(bsnn_mean_loss(BSNN_LOSS_MSE_MEAN, oh, th, 1, 3, 3, 1), 14.0 / 3.0, 1e-12);
}

Test(loss, mse_mean_is_two_over_width_times_half_sum_mse_for_every_width)
{
    for (size_t w = 1; w <= 6; w++) {
        float o[5 * 6], t[5 * 6];
        ref_fill(o, 5 * w, -3, 3, 20 + w);
        ref_fill(t, 5 * w, -1, 1, 40 + w);
        double half = bsnn_mean_loss(BSNN_LOSS_MSE, o, t, 5, w, w, 5);
        double mean = bsnn_mean_loss(BSNN_LOSS_MSE_MEAN, o, t, 5, w, w, 5);
        cr_assert_lt(tu_rel(mean, 2.0 / (double)w * half, 1e-12), 1e-6,
                     "width %zu: MSE_MEAN %.9g, 2/w MSE %.9g", w, mean, 2.0 / (double)w * half);
    }
}

Test(loss, mse_mean_gradient_matches_finite_differences)
{
    float z[4 * 3], t[4 * 3];
    ref_fill(z, 12, -2, 2, 12);
    ref_fill(t, 12, -1, 1, 13);
    check_grads(BSNN_LOSS_MSE_MEAN, z, t, 4, 3, 3);
}

Test(loss, bce_logits_values_match_formula)
{
    float z[6 * 2], t[6 * 2];
    ref_fill(z, 12, -6, 6, 5);
    ref_fill(t, 12, 0, 1, 6); /* soft targets too */
    check_values(BSNN_LOSS_BCE_LOGITS, z, t, 6, 2, 2);
    /* By hand: z = 0 gives log 2 whatever the target. */
    float z0[1] = {0}, t0[1] = {1};
    cr_assert_float_eq(bsnn_mean_loss(BSNN_LOSS_BCE_LOGITS, z0, t0, 1, 1, 1, 1), log(2.0), 1e-12);
}

Test(loss, bce_logits_gradient_matches_finite_differences)
{
    float z[5 * 2], t[5 * 2] = {0, 1, 1, 0, 0.3f, 0.7f, 1, 1, 0, 0};
    ref_fill(z, 10, -4, 4, 7);
    check_grads(BSNN_LOSS_BCE_LOGITS, z, t, 5, 2, 2);
}

Test(loss, bce_logits_is_stable_at_logit_magnitude_100)
{
    /* |z| = 100: exp(100) overflows float; the stable form must not. */
    float z[4] = {100, -100, 100, -100}, t[4] = {1, 0, 0, 1};
    double want[4] = {0.0, 0.0, 100.0, 100.0}; /* up to e^-100 */
    for (int i = 0; i < 4; i++) {
        double got = bsnn_mean_loss(BSNN_LOSS_BCE_LOGITS, z + i, t + i, 1, 1, 1, 1);
        cr_assert(isfinite(got));
        cr_assert_float_eq(got, want[i], 1e-9, "z %g t %g: %g", z[i], t[i], got);
    }
    float g[4];
    bsnn_output_grad(g, BSNN_LOSS_BCE_LOGITS, z, t, 4, 1, 1);
    float gw[4] = {0, 0, 1, -1}; /* sigmoid(z) - t */
    for (int i = 0; i < 4; i++) cr_assert_float_eq(g[i], gw[i], 1e-6, "grad %d: %g", i, g[i]);
}

Test(loss, softmax_ce_one_hot_values_and_gradients)
{
    float z[4 * 3], t[4 * 3] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 0.2f, 0.3f, 0.5f};
    ref_fill(z, 12, -3, 3, 8);
    check_values(BSNN_LOSS_SOFTMAX_CE, z, t, 4, 3, 3);
    check_grads(BSNN_LOSS_SOFTMAX_CE, z, t, 4, 3, 3);
    /* By hand: equal logits over 4 classes give log 4. */
    float ze[4] = {2, 2, 2, 2}, te[4] = {0, 0, 1, 0};
    cr_assert_float_eq(bsnn_mean_loss(BSNN_LOSS_SOFTMAX_CE, ze, te, 1, 4, 4, 1), log(4.0), 1e-9);
}

Test(loss, softmax_ce_class_index_equals_one_hot)
{
    float z[5 * 4], idx[5] = {0, 3, 1, 2, 3}, hot[5 * 4] = {0};
    ref_fill(z, 20, -3, 3, 9);
    for (int r = 0; r < 5; r++) hot[r * 4 + (int)idx[r]] = 1.0f;
    check_values(BSNN_LOSS_SOFTMAX_CE, z, idx, 5, 4, 1);
    check_grads(BSNN_LOSS_SOFTMAX_CE, z, idx, 5, 4, 1);
    double a = bsnn_mean_loss(BSNN_LOSS_SOFTMAX_CE, z, idx, 5, 4, 1, 5);
    double b = bsnn_mean_loss(BSNN_LOSS_SOFTMAX_CE, z, hot, 5, 4, 4, 5);
    cr_assert_float_eq(a, b, 1e-9);
    float ga[20], gb[20];
    bsnn_output_grad(ga, BSNN_LOSS_SOFTMAX_CE, z, idx, 5, 4, 1);
    bsnn_output_grad(gb, BSNN_LOSS_SOFTMAX_CE, z, hot, 5, 4, 4);
    for (int i = 0; i < 20; i++) cr_assert_float_eq(ga[i], gb[i], 1e-7);
}

Test(loss, softmax_ce_is_stable_at_large_logits)
{
    float z[3] = {1000, -1000, 0}, t[1] = {1};
    double got = bsnn_mean_loss(BSNN_LOSS_SOFTMAX_CE, z, t, 1, 3, 1, 1);
    cr_assert(isfinite(got));
    cr_assert_float_eq(got, 2000.0, 1e-6);
    float g[3];
    bsnn_output_grad(g, BSNN_LOSS_SOFTMAX_CE, z, t, 1, 3, 1);
    cr_assert_float_eq(g[0], 1.0f, 1e-6);
    cr_assert_float_eq(g[1], -1.0f, 1e-6);
    cr_assert_float_eq(g[2], 0.0f, 1e-6);
}

Test(loss, bad_targets_are_rejected)
{
    bsnn_model *m = bsnn_model_create(3);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(3)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_SOFTMAX_CE), BSNN_OK);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    float x[3] = {1, 2, 3};
    float bad_idx[5] = {-1, 3, 1.5f, NAN, 100};
    bsnn_tensor *tx = tu_wrap(x, 1, 3);
    for (int i = 0; i < 5; i++) {
        bsnn_tensor *ty = tu_wrap(bad_idx + i, 1, 1);
        cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_E_ARG, "index %g",
                     bad_idx[i]);
        cr_assert(strstr(bsnn_last_error(), "bsnn_model_train_step") != NULL);
        bsnn_tensor_free(ty);
    }
    /* Two target columns fit neither one-hot rows of 3 nor a class index. */
    float y2[2] = {0, 1};
    bsnn_tensor *ty2 = tu_wrap(y2, 1, 2);
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty2), BSNN_E_SHAPE);
    cr_assert(strstr(bsnn_last_error(), "2") != NULL);
    bsnn_tensor_free(ty2);
    /* MSE needs as many target columns as outputs. */
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_MSE), BSNN_OK);
    float y1[1] = {0};
    bsnn_tensor *ty1 = tu_wrap(y1, 1, 1);
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty1), BSNN_E_SHAPE);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_MSE_MEAN), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty1), BSNN_E_SHAPE,
                 "MSE_MEAN needs as many target columns as outputs too");
    bsnn_tensor_free(ty1);
    bsnn_tensor_free(tx);
    cr_assert_eq(bsnn_model_set_loss(m, (bsnn_loss)0), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_set_loss(m, (bsnn_loss)5), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "5") != NULL);
    cr_assert_eq(bsnn_model_set_loss(NULL, BSNN_LOSS_MSE), BSNN_E_NULL);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
}
