/*
 * test_model.c - bsnn_model and the training primitive: batch gradient =
 * mean of single-sample gradients, 4-bit parity fitted by GD, SGD and
 * minibatch 4, bit-identical determinism for 1 and 2 threads, the documented
 * parameter order, inference on any number of rows, the training loop and
 * its callback, evaluation, zero allocations in steady-state steps, and bad
 * input of every model function.
 */
#include "refnet.h"

#include <stdio.h>

static bsnn_optimizer *sgd(double lr)
{
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    cr_assert_not_null(opt);
    cr_assert_eq(bsnn_optimizer_set(opt, BSNN_OPT_LR, lr), BSNN_OK);
    return opt;
}

/* ---- gradients ------------------------------------------------------------ */

/* Tolerance: |g_batch - mean of single-sample g| <= 1e-5 * max(1, max |g|). */
static void check_batch_mean(size_t n_in, size_t hidden, size_t n_out, size_t n, bsnn_loss loss)
{
    bsnn_model *m = tu_mlp(n_in, hidden, BSNN_ACT_TANH, n_out, BSNN_ACT_LINEAR, 3);
    cr_assert_eq(bsnn_model_set_loss(m, loss), BSNN_OK);
    size_t count = bsnn_model_param_count(m);
    float *p0 = calloc(count, sizeof(float)), *g = calloc(count, sizeof(float));
    double *mean = calloc(count, sizeof(double));
    float *x = calloc(n * n_in, sizeof(float)), *y = calloc(n * n_out, sizeof(float));
    ref_fill(x, n * n_in, -1, 1, (uint32_t)n);
    ref_fill(y, n * n_out, 0, 1, (uint32_t)n + 1);
    bsnn_model_get_params(p0, count, m);
    bsnn_optimizer *opt = sgd(0.1);
    for (size_t r = 0; r < n; r++) {
        bsnn_model_set_params(m, p0, count);
        bsnn_tensor *tx = tu_wrap(x + r * n_in, 1, n_in), *ty = tu_wrap(y + r * n_out, 1, n_out);
        cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_OK, "%s", bsnn_last_error());
        bsnn_model_get_grads(g, count, m);
        for (size_t i = 0; i < count; i++) mean[i] += g[i] / (double)n;
        bsnn_tensor_free(tx);
        bsnn_tensor_free(ty);
    }
    bsnn_model_set_params(m, p0, count);
    bsnn_tensor *tx = tu_wrap(x, n, n_in), *ty = tu_wrap(y, n, n_out);
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_OK);
    bsnn_model_get_grads(g, count, m);
    double scale = 1.0;
    for (size_t i = 0; i < count; i++) scale = fmax(scale, fabs(mean[i]));
    for (size_t i = 0; i < count; i++)
        cr_assert_leq(fabs(g[i] - mean[i]), 1e-5 * scale, "n %zu param %zu: batch %.9g, mean %.9g",
                      n, i, g[i], mean[i]);
    bsnn_tensor_free(tx);
    bsnn_tensor_free(ty);
    bsnn_optimizer_free(opt);
    free(p0), free(g), free(mean), free(x), free(y);
    bsnn_model_free(m);
}

Test(model, batch_gradient_is_mean_of_single_sample_gradients)
{
    size_t sizes[6] = {1, 2, 3, 7, 16, 33};
    for (int i = 0; i < 6; i++) check_batch_mean(3, 5, 2, sizes[i], BSNN_LOSS_MSE);
    check_batch_mean(3, 5, 2, 9, BSNN_LOSS_BCE_LOGITS);
    check_batch_mean(3, 5, 4, 9, BSNN_LOSS_SOFTMAX_CE);
    /* Shapes large enough for BLIS on the batch and the loop on one row. */
    check_batch_mean(8, 32, 4, 40, BSNN_LOSS_MSE);
}

Test(model, two_layer_network_gradient_matches_finite_differences)
{
    ref_net net = {.n_in = 4, .n_layers = 4, .loss = BSNN_LOSS_MSE};
    net.layers[0] = (ref_layer){.dense = 1, .n_out = 8};
    net.layers[1] = (ref_layer){.dense = 0, .act = BSNN_ACT_SIGMOID};
    net.layers[2] = (ref_layer){.dense = 1, .n_out = 1};
    net.layers[3] = (ref_layer){.dense = 0, .act = BSNN_ACT_SIGMOID};
    bsnn_dataset *ds = bsnn_dataset_parity(4);
    float x[64], y[16];
    memcpy(x, bsnn_dataset_inputs(ds), sizeof x);
    memcpy(y, bsnn_dataset_targets(ds), sizeof y);
    ref_check_grads(&net, 1, x, y, 16, 1, 1e-2);
    bsnn_dataset_free(ds);
}

/* ---- parameters -------------------------------------------------------------- */

static double sigm(double z) { return 1.0 / (1.0 + exp(-z)); }

Test(model, params_order_is_w_in_out_then_b_layer_by_layer)
{
    /* 2 -> dense(2) -> sigmoid -> dense(1). */
    bsnn_model *m = tu_mlp(2, 2, BSNN_ACT_SIGMOID, 1, BSNN_ACT_LINEAR, 1);
    cr_assert_eq(bsnn_model_param_count(m), 2 * 2 + 2 + 2 * 1 + 1);
    float p[9] = {0.1f, 0.2f,   /* W1[0][0], W1[0][1] */
                  -0.3f, 0.4f,  /* W1[1][0], W1[1][1] */
                  0.5f, -0.6f,  /* b1 */
                  0.7f, -0.8f,  /* W2[0][0], W2[1][0] */
                  0.9f};        /* b2 */
    cr_assert_eq(bsnn_model_set_params(m, p, 9), BSNN_OK);
    float back[9];
    cr_assert_eq(bsnn_model_get_params(back, 9, m), BSNN_OK);
    cr_assert(memcmp(p, back, sizeof p) == 0);
    float x[2] = {1.5f, -2.0f}, out[1];
    bsnn_tensor *tx = tu_wrap(x, 1, 2), *to = tu_wrap(out, 1, 1);
    cr_assert_eq(bsnn_model_forward(to, m, tx), BSNN_OK);
    double h0 = sigm(1.5 * 0.1 + -2.0 * -0.3 + 0.5), h1 = sigm(1.5 * 0.2 + -2.0 * 0.4 - 0.6);
    double want = 0.7 * h0 - 0.8 * h1 + 0.9;
    cr_assert_float_eq(out[0], want, 1e-6, "%g vs %g", out[0], want);
    bsnn_tensor_free(tx);
    bsnn_tensor_free(to);
    bsnn_model_free(m);
}

Test(model, set_params_rejects_non_finite_and_changes_nothing)
{
    bsnn_model *m = tu_mlp(2, 2, BSNN_ACT_SIGMOID, 1, BSNN_ACT_LINEAR, 1);
    float before[9], bad[9], after[9];
    bsnn_model_get_params(before, 9, m);
    float poison[3] = {NAN, INFINITY, -INFINITY};
    size_t where[3] = {0, 4, 8};
    for (int k = 0; k < 3; k++) {
        memcpy(bad, before, sizeof bad);
        for (int i = 0; i < 9; i++) bad[i] += 1.0f;
        bad[where[k]] = poison[k];
        cr_assert_eq(bsnn_model_set_params(m, bad, 9), BSNN_E_ARG);
        cr_assert(strstr(bsnn_last_error(), "bsnn_model_set_params") != NULL);
        bsnn_model_get_params(after, 9, m);
        cr_assert(memcmp(before, after, sizeof after) == 0);
    }
    cr_assert_eq(bsnn_model_set_params(m, before, 8), BSNN_E_SHAPE);
    cr_assert(strstr(bsnn_last_error(), "8") != NULL && strstr(bsnn_last_error(), "9") != NULL);
    cr_assert_eq(bsnn_model_set_params(m, NULL, 9), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_set_params(NULL, before, 9), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_get_params(after, 10, m), BSNN_E_SHAPE);
    cr_assert_eq(bsnn_model_get_params(NULL, 9, m), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_get_params(after, 9, NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_get_grads(after, 10, m), BSNN_E_SHAPE);
    cr_assert_eq(bsnn_model_get_grads(NULL, 9, m), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_get_grads(after, 9, NULL), BSNN_E_NULL);
    bsnn_model_free(m);
}

Test(model, init_params_same_seed_same_values)
{
    bsnn_model *m = tu_mlp(3, 4, BSNN_ACT_RELU, 2, BSNN_ACT_LINEAR, 5);
    size_t count = bsnn_model_param_count(m);
    float a[26], b[26];
    cr_assert_eq(count, 26);
    bsnn_model_get_params(a, count, m);
    cr_assert_eq(bsnn_model_init_params(m, 6), BSNN_OK);
    bsnn_model_get_params(b, count, m);
    cr_assert(memcmp(a, b, sizeof a) != 0);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_SEED, 5), BSNN_OK);
    bsnn_model_get_params(b, count, m);
    cr_assert(memcmp(a, b, sizeof a) == 0, "seed 5 again gives the same parameters");
    double v;
    cr_assert_eq(bsnn_model_get(&v, m, BSNN_MODEL_SEED), BSNN_OK);
    cr_assert_eq(v, 5.0);
    bsnn_model_free(m);
}

/* ---- inference --------------------------------------------------------------- */

Test(model, forward_on_any_number_of_rows_equals_row_by_row)
{
    /* 6 -> 40 -> 3: large batches take BLIS, single rows the loop, so the
     * tolerance is float rounding: 1e-5 relative. */
    bsnn_model *m = tu_mlp(6, 40, BSNN_ACT_TANH, 3, BSNN_ACT_SIGMOID, 9);
    size_t sizes[6] = {1, 2, 5, 17, 64, 130};
    for (int s = 0; s < 6; s++) {
        size_t n = sizes[s];
        float *x = calloc(n * 6, sizeof(float)), *o = calloc(n * 3, sizeof(float));
        ref_fill(x, n * 6, -3, 3, (uint32_t)n);
        bsnn_tensor *tx = tu_wrap(x, n, 6), *to = tu_wrap(o, n, 3);
        cr_assert_eq(bsnn_model_forward(to, m, tx), BSNN_OK, "%s", bsnn_last_error());
        for (size_t r = 0; r < n; r++) {
            float one[3];
            bsnn_tensor *rx = tu_wrap(x + r * 6, 1, 6), *ro = tu_wrap(one, 1, 3);
            cr_assert_eq(bsnn_model_forward(ro, m, rx), BSNN_OK);
            for (int j = 0; j < 3; j++)
                cr_assert_leq(fabs(one[j] - o[r * 3 + j]), 1e-5 * fmax(1.0, fabs(one[j])),
                              "n %zu row %zu", n, r);
            bsnn_tensor_free(rx);
            bsnn_tensor_free(ro);
        }
        bsnn_tensor_free(tx);
        bsnn_tensor_free(to);
        free(x);
        free(o);
    }
    bsnn_model_free(m);
}

Test(model, forward_never_changes_parameters)
{
    bsnn_model *m = tu_mlp(2, 3, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 2);
    float before[13], after[13], x[4] = {1, 2, 3, 4}, o[2];
    bsnn_model_get_params(before, 13, m);
    bsnn_tensor *tx = tu_wrap(x, 2, 2), *to = tu_wrap(o, 2, 1);
    for (int i = 0; i < 3; i++) cr_assert_eq(bsnn_model_forward(to, m, tx), BSNN_OK);
    bsnn_model_get_params(after, 13, m);
    cr_assert(memcmp(before, after, sizeof after) == 0);
    bsnn_tensor_free(tx);
    bsnn_tensor_free(to);
    bsnn_model_free(m);
}

/* ---- fitting 4-bit parity ------------------------------------------------------ */

typedef struct fit_state {
    bsnn_model *m;
    const bsnn_dataset *ds;
    size_t fitted_epoch;
} fit_state;

static int stop_when_fitted(void *user, bsnn_event ev, size_t epoch, size_t step, size_t batch,
                            double loss)
{
    (void)step, (void)batch, (void)loss;
    fit_state *fs = user;
    if (ev != BSNN_EVENT_EPOCH) return 0;
    double acc = 0.0;
    cr_assert_eq(bsnn_model_evaluate(NULL, &acc, fs->m, fs->ds, 16), BSNN_OK);
    if (acc < 1.0) return 0;
    fs->fitted_epoch = epoch + 1;
    return 1;
}

/* xor4's settings: 4-8-1 sigmoid, MSE, SGD lr 2, seeds 1. */
static void fit_parity(size_t batch)
{
    bsnn_dataset *ds = bsnn_dataset_parity(4);
    bsnn_model *m = tu_mlp(4, 8, BSNN_ACT_SIGMOID, 1, BSNN_ACT_SIGMOID, 1);
    bsnn_optimizer *opt = sgd(2.0);
    bsnn_scheduler *s = bsnn_scheduler_create(16);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, (double)batch), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_SEED, 1), BSNN_OK);
    fit_state fs = {m, ds, 0};
    size_t steps = 0;
    cr_assert_eq(bsnn_model_train(&steps, m, opt, s, ds, 100000, stop_when_fitted, &fs), BSNN_OK,
                 "%s", bsnn_last_error());
    cr_assert_gt(fs.fitted_epoch, 0, "batch %zu: not fitted in 100000 epochs", batch);
    cr_assert_eq(steps, fs.fitted_epoch * (16 / batch));
    /* Every output on the right side of 0.5, checked through forward. */
    float out[16];
    bsnn_tensor *tx = tu_wrap((float *)bsnn_dataset_inputs(ds), 16, 4), *to = tu_wrap(out, 16, 1);
    cr_assert_eq(bsnn_model_forward(to, m, tx), BSNN_OK);
    for (int r = 0; r < 16; r++)
        cr_assert_eq(out[r] > 0.5f, bsnn_dataset_targets(ds)[r] > 0.5f, "batch %zu row %d: %g",
                     batch, r, out[r]);
    cr_log_info("parity batch %zu: fitted after %zu updates (%zu epochs)", batch, steps,
                fs.fitted_epoch);
    bsnn_tensor_free(tx);
    bsnn_tensor_free(to);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
}

Test(model, full_batch_gd_fits_4bit_parity, .timeout = 120) { fit_parity(16); }
Test(model, sgd_batch_1_fits_4bit_parity, .timeout = 120) { fit_parity(1); }
Test(model, minibatch_4_fits_4bit_parity, .timeout = 120) { fit_parity(4); }

/* ---- determinism ------------------------------------------------------------------ */

/* 200 steps of a net big enough for BLIS and for its threaded path
 * (64 x 128 x 256 = 2^21 multiply-adds per product). */
static void train_big(float *out_params, size_t count, int threads)
{
    cr_assert_eq(bsnn_set_num_threads(threads), BSNN_OK);
    bsnn_model *m = tu_mlp(128, 256, BSNN_ACT_TANH, 16, BSNN_ACT_LINEAR, 77);
    cr_assert_eq(bsnn_model_param_count(m), count);
    size_t n = 256;
    float *x = calloc(n * 128, sizeof(float)), *y = calloc(n * 16, sizeof(float));
    ref_fill(x, n * 128, -1, 1, 1);
    ref_fill(y, n * 16, -1, 1, 2);
    bsnn_dataset *ds = bsnn_dataset_create(x, y, n, 128, 16);
    bsnn_scheduler *s = bsnn_scheduler_create(n);
    bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 64);
    bsnn_scheduler_set(s, BSNN_SCHED_SEED, 3);
    bsnn_optimizer *opt = sgd(0.01);
    size_t steps = 0;
    cr_assert_eq(bsnn_model_train(&steps, m, opt, s, ds, 50, NULL, NULL), BSNN_OK, "%s",
                 bsnn_last_error());
    cr_assert_eq(steps, 200);
    bsnn_model_get_params(out_params, count, m);
    bsnn_optimizer_free(opt);
    bsnn_scheduler_free(s);
    bsnn_dataset_free(ds);
    bsnn_model_free(m);
    free(x);
    free(y);
}

Test(model, same_seeds_bit_identical_after_200_steps_with_1_and_2_threads, .timeout = 120)
{
    size_t count = 128 * 256 + 256 + 256 * 16 + 16;
    float *a = calloc(count, sizeof(float)), *b = calloc(count, sizeof(float)),
          *c = calloc(count, sizeof(float));
    train_big(a, count, 1);
    train_big(b, count, 1);
    train_big(c, count, 2);
    cr_assert(memcmp(a, b, count * sizeof(float)) == 0, "two runs with 1 thread differ");
    size_t diff = 0;
    for (size_t i = 0; i < count; i++) diff += memcmp(a + i, c + i, sizeof(float)) != 0;
    cr_assert_eq(diff, 0, "%zu of %zu parameters differ between 1 and 2 threads", diff, count);
    free(a), free(b), free(c);
}

/* ---- training loop ------------------------------------------------------------------ */

/* What a scheduler-driven training test needs: data, a small tanh net, a
 * scheduler of the given batch size and SGD. */
typedef struct rig {
    bsnn_dataset *ds;
    bsnn_model *m;
    bsnn_scheduler *s;
    bsnn_optimizer *opt;
} rig;

static rig rig_make(bsnn_dataset *ds, size_t hidden, size_t batch, double lr)
{
    size_t n_in = bsnn_dataset_n_inputs(ds);
    rig r = {ds, tu_mlp(n_in, hidden, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 1),
             bsnn_scheduler_create(bsnn_dataset_size(ds)), sgd(lr)};
    cr_assert_eq(bsnn_scheduler_set(r.s, BSNN_SCHED_BATCH_SIZE, (double)batch), BSNN_OK);
    return r;
}

static void rig_free(rig *r)
{
    bsnn_optimizer_free(r->opt);
    bsnn_scheduler_free(r->s);
    bsnn_model_free(r->m);
    bsnn_dataset_free(r->ds);
}

typedef struct event_log {
    size_t n_samples, steps, epochs, last_epoch, sizes[64], stop_at;
    double step_loss_sum, epoch_loss[8];
} event_log;

static int log_events(void *user, bsnn_event ev, size_t epoch, size_t step, size_t batch,
                      double loss)
{
    event_log *lg = user;
    cr_assert(isfinite(loss));
    if (ev == BSNN_EVENT_STEP) {
        cr_assert_eq(step, lg->steps + 1, "step counts updates since training began");
        if (lg->steps < 64) lg->sizes[lg->steps] = batch;
        lg->steps++;
        lg->step_loss_sum += loss * (double)batch;
        lg->last_epoch = epoch;
    } else {
        cr_assert_eq(ev, BSNN_EVENT_EPOCH);
        cr_assert_eq(epoch, lg->epochs);
        cr_assert_float_eq(loss, lg->step_loss_sum / (double)lg->n_samples, 1e-9,
                           "epoch loss is the mean over the samples it used");
        lg->step_loss_sum = 0.0;
        if (lg->epochs < 8) lg->epoch_loss[lg->epochs] = loss;
        lg->epochs++;
    }
    return lg->stop_at && lg->steps == lg->stop_at;
}

Test(model, train_calls_back_after_every_step_and_epoch)
{
    float x[10 * 2], y[10];
    ref_fill(x, 20, -1, 1, 4);
    ref_fill(y, 10, 0, 1, 5);
    rig r = rig_make(bsnn_dataset_create(x, y, 10, 2, 1), 3, 4, 0.1);
    event_log lg = {.n_samples = 10};
    size_t steps = 0;
    cr_assert_eq(bsnn_model_train(&steps, r.m, r.opt, r.s, r.ds, 3, log_events, &lg), BSNN_OK);
    cr_assert_eq(steps, 9);
    cr_assert_eq(lg.steps, 9);
    cr_assert_eq(lg.epochs, 3);
    size_t want[9] = {4, 4, 2, 4, 4, 2, 4, 4, 2};
    for (int i = 0; i < 9; i++) cr_assert_eq(lg.sizes[i], want[i], "step %d", i);
    cr_assert_eq(bsnn_scheduler_epoch(r.s), 3);
    rig_free(&r);
}

Test(model, callback_can_stop_training_early)
{
    rig r = rig_make(bsnn_dataset_parity(3), 4, 2, 0.1);
    event_log lg = {.n_samples = 8, .stop_at = 5};
    size_t steps = 0;
    cr_assert_eq(bsnn_model_train(&steps, r.m, r.opt, r.s, r.ds, 100, log_events, &lg), BSNN_OK);
    cr_assert_eq(steps, 5);
    cr_assert_eq(lg.epochs, 1);
    rig_free(&r);
}

Test(model, train_with_zero_epochs_does_nothing)
{
    rig r = rig_make(bsnn_dataset_parity(2), 2, 4, 0.1);
    float before[9], after[9];
    bsnn_model_get_params(before, 9, r.m);
    size_t steps = 99;
    cr_assert_eq(bsnn_model_train(&steps, r.m, r.opt, r.s, r.ds, 0, NULL, NULL), BSNN_OK);
    cr_assert_eq(steps, 0);
    bsnn_model_get_params(after, 9, r.m);
    cr_assert(memcmp(before, after, sizeof after) == 0);
    rig_free(&r);
}

Test(model, train_step_returns_mean_loss_before_update)
{
    bsnn_model *m = bsnn_model_create(1);
    bsnn_model_set_loss(m, BSNN_LOSS_MSE);
    bsnn_model_add(m, bsnn_layer_dense(1));
    float p[2] = {2, 1};
    bsnn_model_set_params(m, p, 2);
    float x[3] = {0, 1, 2}, y[3] = {0, 0, 0};
    bsnn_tensor *tx = tu_wrap(x, 3, 1), *ty = tu_wrap(y, 3, 1);
    bsnn_optimizer *opt = sgd(0.5);
    double loss = -1;
    cr_assert_eq(bsnn_model_train_step(&loss, m, opt, tx, ty), BSNN_OK);
    /* outputs 1, 3, 5: mean of 1/2 o^2 = (1 + 9 + 25) / 6 */
    cr_assert_float_eq(loss, 35.0 / 6.0, 1e-9);
    bsnn_tensor_free(tx);
    bsnn_tensor_free(ty);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
}

Test(model, divergence_is_reported_and_parameters_are_left_unchanged)
{
    bsnn_model *m = bsnn_model_create(1);
    bsnn_model_set_loss(m, BSNN_LOSS_MSE);
    bsnn_model_add(m, bsnn_layer_dense(1));
    float p[2] = {3e38f, 0}, after[2];
    bsnn_model_set_params(m, p, 2);
    float x[1] = {10}, y[1] = {0};
    bsnn_tensor *tx = tu_wrap(x, 1, 1), *ty = tu_wrap(y, 1, 1);
    bsnn_optimizer *opt = sgd(0.1);
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_E_DIVERGED);
    cr_assert(strstr(bsnn_last_error(), "bsnn_model_train_step") != NULL);
    bsnn_model_get_params(after, 2, m);
    cr_assert(memcmp(p, after, sizeof p) == 0);
    bsnn_tensor_free(tx);
    bsnn_tensor_free(ty);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
}

/* ---- evaluation ---------------------------------------------------------------------- */

static bsnn_model *identity_model(size_t w, bsnn_loss loss)
{
    bsnn_model *m = bsnn_model_create(w);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_LINEAR)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, loss), BSNN_OK);
    return m;
}

static double accuracy_of(bsnn_model *m, const float *o, const float *t, size_t n, size_t w,
                          size_t tw)
{
    bsnn_dataset *ds = bsnn_dataset_create(o, t, n, w, tw);
    double acc = -1, first = -1;
    for (size_t b = 1; b <= n; b++) {
        cr_assert_eq(bsnn_model_evaluate(NULL, &acc, m, ds, b), BSNN_OK, "%s", bsnn_last_error());
        if (b == 1) first = acc;
        cr_assert_eq(acc, first, "accuracy does not depend on the batch size");
    }
    bsnn_dataset_free(ds);
    return acc;
}

Test(model, evaluate_accuracy_by_hand_for_each_loss)
{
    /* MSE, one output: class = output > 0.5. */
    float o1[4] = {0.2f, 0.6f, 0.9f, 0.4f}, t1[4] = {0, 1, 0, 1};
    bsnn_model *m = identity_model(1, BSNN_LOSS_MSE);
    cr_assert_float_eq(accuracy_of(m, o1, t1, 4, 1, 1), 0.5, 1e-12);
    bsnn_model_free(m);
    /* BCE from logits: class = sigmoid(z) > threshold, i.e. z > 0 at 0.5. */
    float z[4] = {-2.0f, 0.1f, 3.0f, -0.1f}, t2[4] = {0, 1, 0, 1};
    m = identity_model(1, BSNN_LOSS_BCE_LOGITS);
    cr_assert_float_eq(accuracy_of(m, z, t2, 4, 1, 1), 0.5, 1e-12);
    /* threshold 0.7: sigmoid(3) = 0.95 > 0.7 but sigmoid(0.1) = 0.52 is not. */
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_THRESHOLD, 0.7), BSNN_OK);
    cr_assert_float_eq(accuracy_of(m, z, t2, 4, 1, 1), 0.25, 1e-12);
    bsnn_model_free(m);
    /* BCE with two outputs is multi-label: every output on its target's side. */
    float zz[3 * 2] = {2, -1, 2, 1, -3, -0.5f}, tt[3 * 2] = {1, 0, 1, 0, 0, 0};
    m = identity_model(2, BSNN_LOSS_BCE_LOGITS);
    cr_assert_float_eq(accuracy_of(m, zz, tt, 3, 2, 2), 2.0 / 3.0, 1e-12);
    bsnn_model_free(m);
    /* Softmax CE: argmax, with one-hot rows and with class indices. */
    float o3[3 * 3] = {1, 2, 3, 5, 0, 0, 0, 1, 0}, hot[9] = {0, 0, 1, 0, 1, 0, 0, 1, 0},
          idx[3] = {2, 1, 1};
    m = identity_model(3, BSNN_LOSS_SOFTMAX_CE);
    cr_assert_float_eq(accuracy_of(m, o3, hot, 3, 3, 3), 2.0 / 3.0, 1e-12);
    cr_assert_float_eq(accuracy_of(m, o3, idx, 3, 3, 1), 2.0 / 3.0, 1e-12);
    bsnn_model_free(m);
}

Test(model, evaluate_loss_does_not_depend_on_batch_size)
{
    bsnn_model *m = tu_mlp(3, 6, BSNN_ACT_TANH, 2, BSNN_ACT_LINEAR, 4);
    float x[23 * 3], y[23 * 2];
    ref_fill(x, 69, -1, 1, 6);
    ref_fill(y, 46, -1, 1, 7);
    bsnn_dataset *ds = bsnn_dataset_create(x, y, 23, 3, 2);
    double first = 0, loss = 0;
    for (size_t b = 1; b <= 23; b++) {
        cr_assert_eq(bsnn_model_evaluate(&loss, NULL, m, ds, b), BSNN_OK);
        if (b == 1) first = loss;
        cr_assert_lt(tu_rel(loss, first, 1e-12), 1e-6, "batch %zu: %g vs %g", b, loss, first);
    }
    cr_assert_eq(bsnn_model_evaluate(NULL, NULL, m, ds, 5), BSNN_OK);
    bsnn_dataset_free(ds);
    bsnn_model_free(m);
}

/* ---- zero heap allocations in steady state ----------------------------------------------- */

static void steps_allocate_nothing(size_t n)
{
    tu_count_allocations(0);
    bsnn_model *m = tu_mlp(8, 32, BSNN_ACT_RELU, 4, BSNN_ACT_LINEAR, 1);
    bsnn_optimizer *opt = sgd(0.01);
    float x[16 * 8], y[16 * 4];
    ref_fill(x, sizeof x / sizeof x[0], -1, 1, 1);
    ref_fill(y, sizeof y / sizeof y[0], -1, 1, 2);
    bsnn_tensor *tx = tu_wrap(x, n, 8), *ty = tu_wrap(y, n, 4);
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_OK); /* warm-up */
    size_t allocs = tu_stats.allocs;
    for (int i = 0; i < 20; i++) cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_OK);
    cr_assert_eq(tu_stats.allocs, allocs, "batch %zu: %zu allocations in 20 steady steps", n,
                 tu_stats.allocs - allocs);
    bsnn_tensor_free(tx);
    bsnn_tensor_free(ty);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    cr_assert_eq(tu_stats.live_bytes, 0);
    tu_restore_allocator();
}

Test(model, steady_state_steps_allocate_nothing_batch_1) { steps_allocate_nothing(1); }
Test(model, steady_state_steps_allocate_nothing_batch_3) { steps_allocate_nothing(3); }
Test(model, steady_state_steps_allocate_nothing_batch_16) { steps_allocate_nothing(16); }

Test(model, smaller_batches_after_a_larger_one_allocate_nothing)
{
    tu_count_allocations(0);
    bsnn_model *m = tu_mlp(2, 4, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 1);
    bsnn_optimizer *opt = sgd(0.01);
    float x[32] = {0}, y[16] = {0};
    size_t sizes[5] = {16, 1, 3, 16, 7};
    for (int i = 0; i < 5; i++) {
        bsnn_tensor *tx = tu_wrap(x, sizes[i], 2), *ty = tu_wrap(y, sizes[i], 1);
        size_t before = tu_stats.allocs;
        cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_OK);
        size_t used = tu_stats.allocs - before;
        bsnn_tensor_free(tx);
        bsnn_tensor_free(ty);
        if (i > 0) cr_assert_eq(used, 0, "step %d (batch %zu) allocated %zu", i, sizes[i], used);
    }
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    cr_assert_eq(tu_stats.live_bytes, 0);
    tu_restore_allocator();
}

Test(model, train_loop_allocates_nothing_after_first_call)
{
    tu_count_allocations(0);
    bsnn_dataset *ds = bsnn_dataset_parity(4);
    bsnn_model *m = tu_mlp(4, 8, BSNN_ACT_SIGMOID, 1, BSNN_ACT_SIGMOID, 1);
    bsnn_optimizer *opt = sgd(0.5);
    bsnn_scheduler *s = bsnn_scheduler_create(16);
    bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 5);
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, 1, NULL, NULL), BSNN_OK);
    size_t allocs = tu_stats.allocs;
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, 20, NULL, NULL), BSNN_OK);
    cr_assert_eq(tu_stats.allocs, allocs, "%zu allocations in 20 epochs", tu_stats.allocs - allocs);
    /* Carry-over: the workspace grows once, for the first batch of the
     * second epoch (5 + 1 rows); from then on nothing is allocated. */
    bsnn_scheduler_set(s, BSNN_SCHED_CARRY_OVER, 1);
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, 2, NULL, NULL), BSNN_OK);
    allocs = tu_stats.allocs;
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, 20, NULL, NULL), BSNN_OK);
    cr_assert_eq(tu_stats.allocs, allocs);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
    cr_assert_eq(tu_stats.live_bytes, 0);
    tu_restore_allocator();
}

/* ---- structure and bad input ---------------------------------------------------------------- */

Test(model, layer_added_after_training_is_rejected_and_freed)
{
    bsnn_model *m = tu_mlp(2, 3, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 1);
    bsnn_optimizer *opt = sgd(0.1);
    float x[2] = {1, 2}, y[1] = {1};
    bsnn_tensor *tx = tu_wrap(x, 1, 2), *ty = tu_wrap(y, 1, 1);
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_OK);
    size_t layers = bsnn_model_n_layers(m), params = bsnn_model_param_count(m);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(5)), BSNN_E_STATE);
    cr_assert(strstr(bsnn_last_error(), "bsnn_model_add") != NULL);
    cr_assert(strstr(bsnn_last_error(), "training has started") != NULL);
    cr_assert_eq(bsnn_model_n_layers(m), layers);
    cr_assert_eq(bsnn_model_param_count(m), params);
    cr_assert_eq(bsnn_model_n_outputs(m), 1);
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_OK, "the model still trains");
    bsnn_tensor_free(tx);
    bsnn_tensor_free(ty);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
}

Test(model, add_takes_ownership_and_reports_structure)
{
    cr_assert_null(bsnn_model_create(0));
    cr_assert(strstr(bsnn_last_error(), "bsnn_model_create") != NULL);
    bsnn_model *m = bsnn_model_create(3);
    cr_assert_eq(bsnn_model_n_inputs(m), 3);
    cr_assert_eq(bsnn_model_n_outputs(m), 3, "no layers: outputs = inputs");
    bsnn_layer *d = bsnn_layer_dense(4);
    cr_assert_eq(bsnn_model_add(m, d), BSNN_OK);
    cr_assert_eq(bsnn_model_layer(m, 0), d);
    cr_assert_null(bsnn_model_layer(m, 1));
    cr_assert_null(bsnn_model_layer(NULL, 0));
    /* Adding the same layer twice: rejected, and it stays owned by the model. */
    cr_assert_eq(bsnn_model_add(m, d), BSNN_E_STATE);
    cr_assert_eq(bsnn_model_n_layers(m), 1);
    /* A layer owned by another model is rejected and not freed. */
    bsnn_model *other = bsnn_model_create(4);
    cr_assert_eq(bsnn_model_add(other, d), BSNN_E_STATE);
    bsnn_model_free(other);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_RELU)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(2)), BSNN_OK);
    cr_assert_eq(bsnn_model_n_layers(m), 3);
    cr_assert_eq(bsnn_model_n_outputs(m), 2);
    cr_assert_eq(bsnn_model_param_count(m), 3 * 4 + 4 + 4 * 2 + 2);
    /* NULL model: the layer is freed (ASan's leak check would see it). */
    cr_assert_eq(bsnn_model_add(NULL, bsnn_layer_dense(1)), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_add(m, NULL), BSNN_E_NULL);
    cr_assert(strstr(bsnn_last_error(), "layer") != NULL);
    cr_assert_eq(bsnn_model_n_layers(NULL), 0);
    cr_assert_eq(bsnn_model_n_inputs(NULL), 0);
    cr_assert_eq(bsnn_model_n_outputs(NULL), 0);
    cr_assert_eq(bsnn_model_param_count(NULL), 0);
    bsnn_model_free(NULL);
    bsnn_model_free(m);
}

/* Issue 10, item 6: bsnn_layer_free on a layer a model owns freed it, and
 * bsnn_model_free freed it again (a double free). Now it frees nothing,
 * records a message, and the model still works and frees it once; also
 * bsnn_model_add(NULL, layer of another model) leaves that layer alone. */
Test(model, layer_free_on_an_owned_layer_is_a_no_op_with_a_message)
{
    tu_count_allocations(0);
    bsnn_model *m = bsnn_model_create(2);
    bsnn_layer *d = bsnn_layer_dense(3), *a = bsnn_layer_activation(BSNN_ACT_TANH);
    cr_assert_eq(bsnn_model_add(m, d), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, a), BSNN_OK);
    size_t live = tu_stats.live_bytes;
    bsnn_layer_free(d);
    cr_assert(strstr(bsnn_last_error(), "bsnn_layer_free") != NULL, "%s", bsnn_last_error());
    cr_assert(strstr(bsnn_last_error(), "belongs to a model") != NULL, "%s", bsnn_last_error());
    bsnn_layer_free(a);
    cr_assert_eq(bsnn_model_add(NULL, d), BSNN_E_NULL);
    cr_assert_eq(tu_stats.live_bytes, live, "nothing was freed");
    cr_assert_eq(bsnn_model_layer(m, 0), d);
    cr_assert_eq(bsnn_layer_kind_of(d), BSNN_LAYER_DENSE, "still a valid layer");
    float x[2] = {1, -1}, o[3];
    bsnn_tensor *tx = tu_wrap(x, 1, 2), *to = tu_wrap(o, 1, 3);
    cr_assert_eq(bsnn_model_forward(to, m, tx), BSNN_OK, "%s", bsnn_last_error());
    bsnn_tensor_free(tx);
    bsnn_tensor_free(to);
    bsnn_model_free(m);
    cr_assert_eq(tu_stats.live_bytes, 0);
    cr_assert_eq(tu_stats.allocs, tu_stats.frees, "each block freed once");
    tu_restore_allocator();
}

Test(model, settings_reject_bad_values)
{
    bsnn_model *m = bsnn_model_create(2);
    double v;
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_SEED, -1), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_SEED, 1.5), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_SEED, NAN), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "seed") != NULL);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_SEED, 12), BSNN_OK, "a seed may be set before layers");
    cr_assert_eq(bsnn_model_get(&v, m, BSNN_MODEL_SEED), BSNN_OK);
    cr_assert_eq(v, 12);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_THRESHOLD, INFINITY), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_THRESHOLD, NAN), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_INIT, 0), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_INIT, 9), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_INIT, 2.5), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_INIT, BSNN_INIT_HE_UNIFORM), BSNN_OK);
    cr_assert_eq(bsnn_model_get(&v, m, BSNN_MODEL_INIT), BSNN_OK);
    cr_assert_eq(v, BSNN_INIT_HE_UNIFORM);
    /* The mode has one setter: bsnn_model_set refuses it and names that one. */
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_TRAINING, 0), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "bsnn_model_set_training") != NULL, "%s",
              bsnn_last_error());
    cr_assert_eq(bsnn_model_get(&v, m, BSNN_MODEL_TRAINING), BSNN_OK);
    cr_assert_eq(v, 1, "the refused set left training mode on");
    cr_assert_eq(bsnn_model_set_training(m, 0), BSNN_OK);
    cr_assert_eq(bsnn_model_get(&v, m, BSNN_MODEL_TRAINING), BSNN_OK);
    cr_assert_eq(v, 0);
    cr_assert_eq(bsnn_model_set_training(m, 1), BSNN_OK);
    cr_assert_eq(bsnn_model_set_training(NULL, 1), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_set(m, (bsnn_model_param)99, 1), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "99") != NULL);
    cr_assert_eq(bsnn_model_set(NULL, BSNN_MODEL_SEED, 1), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_get(NULL, m, BSNN_MODEL_SEED), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_get(&v, NULL, BSNN_MODEL_SEED), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_get(&v, m, (bsnn_model_param)99), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_init_params(NULL, 1), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_init_params(m, 1), BSNN_E_STATE, "no layers");
    bsnn_model_free(m);
}

Test(model, forward_rejects_bad_input)
{
    bsnn_model *m = bsnn_model_create(3);
    float x[6] = {0}, o[4];
    bsnn_tensor *x23 = tu_wrap(x, 2, 3), *o22 = tu_wrap(o, 2, 2), *o12 = tu_wrap(o, 1, 2),
                *o23 = tu_wrap(x, 2, 3), *x32 = tu_wrap(x, 3, 2);
    cr_assert_eq(bsnn_model_forward(o22, m, x23), BSNN_E_STATE, "no layers");
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(2)), BSNN_OK);
    cr_assert_eq(bsnn_model_forward(o22, m, x23), BSNN_OK);
    cr_assert_eq(bsnn_model_forward(NULL, m, x23), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_forward(o22, NULL, x23), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_forward(o22, m, NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_forward(o12, m, x23), BSNN_E_SHAPE, "out rows differ");
    cr_assert(strstr(bsnn_last_error(), "out has 1 rows") != NULL, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_model_forward(o23, m, x23), BSNN_E_SHAPE, "out columns differ");
    cr_assert_eq(bsnn_model_forward(o22, m, x32), BSNN_E_SHAPE, "x columns differ");
    x[5] = NAN;
    cr_assert_eq(bsnn_model_forward(o22, m, x23), BSNN_E_ARG);
    x[5] = -INFINITY;
    cr_assert_eq(bsnn_model_forward(o22, m, x23), BSNN_E_ARG);
    bsnn_tensor_free(x23), bsnn_tensor_free(o22), bsnn_tensor_free(o12);
    bsnn_tensor_free(o23), bsnn_tensor_free(x32);
    bsnn_model_free(m);
}

Test(model, train_step_rejects_bad_input)
{
    bsnn_model *m = bsnn_model_create(2);
    bsnn_model_set_loss(m, BSNN_LOSS_MSE);
    bsnn_optimizer *opt = sgd(0.1);
    float x[4] = {1, 2, 3, 4}, y[2] = {0, 1};
    bsnn_tensor *tx = tu_wrap(x, 2, 2), *ty = tu_wrap(y, 2, 1), *ty1 = tu_wrap(y, 1, 1),
                *ty2 = tu_wrap(x, 2, 2), *tx3 = tu_wrap(x, 1, 3);
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_E_STATE, "no layers");
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH)), BSNN_OK);
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty2), BSNN_E_STATE, "no parameters");
    cr_assert(strstr(bsnn_last_error(), "no trainable parameters") != NULL);
    bsnn_model_free(m);
    m = tu_mlp(2, 3, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 1);
    cr_assert_eq(bsnn_model_train_step(NULL, NULL, opt, tx, ty), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_train_step(NULL, m, NULL, tx, ty), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, NULL, ty), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx3, ty1), BSNN_E_SHAPE);
    cr_assert(strstr(bsnn_last_error(), "batch has 3 columns, model expects 2") != NULL);
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty1), BSNN_E_SHAPE, "rows differ");
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty2), BSNN_E_SHAPE, "target width");
    x[2] = NAN;
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_E_ARG);
    x[2] = INFINITY;
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_E_ARG);
    x[2] = 3;
    y[1] = NAN;
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_E_ARG);
    y[1] = 1;
    /* None of the failures above bound the optimizer to m. */
    bsnn_model *other = tu_mlp(2, 3, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 1);
    double loss = -1;
    cr_assert_eq(bsnn_model_train_step(&loss, other, opt, tx, ty), BSNN_OK, "%s", bsnn_last_error());
    cr_assert(loss >= 0);
    /* Now it is bound to other: m is refused until a reset. */
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_E_STATE);
    cr_assert(strstr(bsnn_last_error(), "bound to another model") != NULL);
    cr_assert_eq(bsnn_optimizer_reset(opt), BSNN_OK);
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_OK);
    bsnn_tensor_free(tx), bsnn_tensor_free(ty), bsnn_tensor_free(ty1);
    bsnn_tensor_free(ty2), bsnn_tensor_free(tx3);
    bsnn_optimizer_free(opt);
    bsnn_model_free(other);
    bsnn_model_free(m);
}

Test(model, learning_rate_must_be_positive_and_finite)
{
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    double bad[5] = {0.0, -0.1, NAN, INFINITY, -INFINITY}, v;
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(bsnn_optimizer_set(opt, BSNN_OPT_LR, bad[i]), BSNN_E_ARG, "lr %g", bad[i]);
        cr_assert(strstr(bsnn_last_error(), "bsnn_optimizer_set") != NULL);
    }
    cr_assert_eq(bsnn_optimizer_get(&v, opt, BSNN_OPT_LR), BSNN_OK);
    cr_assert(v > 0 && isfinite(v), "rejected values left lr unchanged");
    bsnn_optimizer_free(opt);
}

/* An allocator that hands a freed block straight back for the next request
 * of the same size, so a freed model's address is reused at once. */
#define RECYCLE_SLOTS 64
static struct { void *p; size_t size; } recycled[RECYCLE_SLOTS];

static void *recycle_alloc(void *user, size_t size)
{
    (void)user;
    for (int i = RECYCLE_SLOTS; i-- > 0;)
        if (recycled[i].p && recycled[i].size == size) {
            void *p = recycled[i].p;
            recycled[i].p = NULL;
            return p;
        }
    return malloc(size);
}

static void recycle_free(void *user, void *ptr, size_t size)
{
    (void)user;
    for (int i = 0; i < RECYCLE_SLOTS; i++)
        if (recycled[i].p == NULL) {
            recycled[i].p = ptr;
            recycled[i].size = size;
            return;
        }
    free(ptr);
}

Test(model, optimizer_refuses_a_new_model_at_a_freed_models_address)
{
    cr_assert_eq(bsnn_set_allocator(recycle_alloc, recycle_free, NULL), BSNN_OK);
    bsnn_optimizer *opt = sgd(0.1);
    float x[2] = {1, 2}, y[1] = {1};
    bsnn_tensor *tx = tu_wrap(x, 1, 2), *ty = tu_wrap(y, 1, 1);
    bsnn_model *a = tu_mlp(2, 3, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 1);
    cr_assert_eq(bsnn_model_train_step(NULL, a, opt, tx, ty), BSNN_OK);
    void *old = a;
    bsnn_model_free(a);
    bsnn_model *b = tu_mlp(2, 3, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 1);
    cr_assert_eq((void *)b, old, "the test allocator reuses the address");
    cr_assert_eq(bsnn_model_train_step(NULL, b, opt, tx, ty), BSNN_E_STATE,
                 "the optimizer's state belongs to the freed model");
    cr_assert_eq(bsnn_optimizer_reset(opt), BSNN_OK);
    cr_assert_eq(bsnn_model_train_step(NULL, b, opt, tx, ty), BSNN_OK);
    bsnn_model_free(b);
    bsnn_tensor_free(tx);
    bsnn_tensor_free(ty);
    bsnn_optimizer_free(opt);
    cr_assert_eq(bsnn_set_allocator(NULL, NULL, NULL), BSNN_OK);
    for (int i = 0; i < RECYCLE_SLOTS; i++) free(recycled[i].p);
}

Test(model, optimizer_follows_its_model_when_layers_are_added_before_training)
{
    /* A failed first step must not pin the optimizer to the old size. */
    bsnn_model *m = bsnn_model_create(2);
    bsnn_model_set_loss(m, BSNN_LOSS_MSE);
    bsnn_model_add(m, bsnn_layer_dense(3));
    bsnn_optimizer *opt = sgd(0.1);
    float x[2] = {1, 2}, y[1] = {1};
    bsnn_tensor *tx = tu_wrap(x, 1, 2), *ty = tu_wrap(y, 1, 1);
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_E_SHAPE, "3 outputs, 1 target");
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(1)), BSNN_OK);
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_OK, "%s", bsnn_last_error());
    bsnn_tensor_free(tx);
    bsnn_tensor_free(ty);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
}

Test(model, train_rejects_bad_input)
{
    bsnn_dataset *ds = bsnn_dataset_parity(3), *ds4 = bsnn_dataset_parity(4);
    bsnn_model *m = tu_mlp(3, 4, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 1);
    bsnn_optimizer *opt = sgd(0.1);
    bsnn_scheduler *s = bsnn_scheduler_create(8), *s16 = bsnn_scheduler_create(16);
    cr_assert_eq(bsnn_model_train(NULL, NULL, opt, s, ds, 1, NULL, NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_train(NULL, m, NULL, s, ds, 1, NULL, NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_train(NULL, m, opt, NULL, ds, 1, NULL, NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s, NULL, 1, NULL, NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s16, ds, 1, NULL, NULL), BSNN_E_SHAPE);
    cr_assert(strstr(bsnn_last_error(), "scheduler is for 16 samples, dataset has 8") != NULL);
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s16, ds4, 1, NULL, NULL), BSNN_E_SHAPE);
    cr_assert(strstr(bsnn_last_error(), "dataset has 4 inputs, model expects 3") != NULL);
    float xv[8 * 3] = {0}, yv[8 * 2] = {0};
    bsnn_dataset *wide = bsnn_dataset_create(xv, yv, 8, 3, 2);
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s, wide, 1, NULL, NULL), BSNN_E_SHAPE);
    bsnn_model *empty = bsnn_model_create(3);
    cr_assert_eq(bsnn_model_train(NULL, empty, opt, s, ds, 1, NULL, NULL), BSNN_E_STATE);
    size_t steps = 0;
    cr_assert_eq(bsnn_model_train(&steps, m, opt, s, ds, 2, NULL, NULL), BSNN_OK);
    cr_assert_eq(steps, 2, "8 samples, default batch min(32, N) = 8: one step per epoch");
    bsnn_model_free(empty);
    bsnn_dataset_free(wide);
    bsnn_scheduler_free(s);
    bsnn_scheduler_free(s16);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
    bsnn_dataset_free(ds4);
}

Test(model, evaluate_rejects_bad_input)
{
    bsnn_dataset *ds = bsnn_dataset_parity(3), *ds4 = bsnn_dataset_parity(4);
    bsnn_model *m = tu_mlp(3, 4, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 1);
    double loss = -7, acc = -7;
    cr_assert_eq(bsnn_model_evaluate(&loss, &acc, m, ds, 0), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "batch_size 0") != NULL);
    cr_assert_eq(bsnn_model_evaluate(&loss, &acc, m, ds, 9), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "batch_size 9 is not in 1..8") != NULL);
    cr_assert_eq(bsnn_model_evaluate(&loss, &acc, NULL, ds, 1), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_evaluate(&loss, &acc, m, NULL, 1), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_evaluate(&loss, &acc, m, ds4, 1), BSNN_E_SHAPE);
    cr_assert(loss == -7 && acc == -7, "outputs untouched on failure");
    bsnn_model *empty = bsnn_model_create(3);
    cr_assert_eq(bsnn_model_evaluate(&loss, &acc, empty, ds, 1), BSNN_E_STATE);
    bsnn_model_free(empty);
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
    bsnn_dataset_free(ds4);
}

/* ---- issue 10: the loss is chosen explicitly, and impossible ones refused -- */

/* Every entry point that trains, and evaluate's loss, on model m with a
 * 4-row parity-2 set: each must fail with `status` and a message holding
 * `why`, leaving the parameters as they were and the optimizer unbound. */
static void training_refused(bsnn_model *m, bsnn_status status, const char *why)
{
    size_t ni = bsnn_model_n_inputs(m), no = bsnn_model_n_outputs(m), np = bsnn_model_param_count(m);
    float x[4 * 8] = {0}, y[4 * 8] = {0}, before[256], after[256];
    for (size_t i = 0; i < 4 * ni; i++) x[i] = (float)(i % 3) - 1.0f;
    for (size_t r = 0; r < 4; r++) y[r * no + r % no] = 1.0f;
    cr_assert_leq(np, 256);
    bsnn_model_get_params(before, np, m);
    bsnn_tensor *tx = tu_wrap(x, 4, ni), *ty = tu_wrap(y, 4, no);
    bsnn_dataset *ds = bsnn_dataset_create(x, y, 4, ni, no);
    bsnn_optimizer *opt = sgd(0.1);
    bsnn_scheduler *s = bsnn_scheduler_create(4);
    bsnn_search *se = bsnn_search_create();
    const size_t sizes[1] = {2};
    size_t best = 0;
    double loss = 0.0, acc = 0.0;
    const char *names[] = {"bsnn_model_train_step", "bsnn_model_train", "bsnn_model_train_ex",
                           "bsnn_search_run", "bsnn_search_sweep", "bsnn_model_evaluate"};
    for (int i = 0; i < 6; i++) {
        bsnn_status st = i == 0   ? bsnn_model_train_step(NULL, m, opt, tx, ty)
                         : i == 1 ? bsnn_model_train(NULL, m, opt, s, ds, 1, NULL, NULL)
                         : i == 2 ? bsnn_model_train_ex(NULL, m, opt, s, ds, ds, NULL, 1, NULL, NULL)
                         : i == 3 ? bsnn_search_run(&best, se, m, opt, ds, ds, NULL)
                         : i == 4 ? bsnn_search_sweep(&best, se, m, opt, ds, ds, NULL, sizes, 1)
                                  : bsnn_model_evaluate(&loss, &acc, m, ds, 4);
        cr_assert_eq(st, status, "%s returned %d: %s", names[i], st, bsnn_last_error());
        cr_assert(strstr(bsnn_last_error(), names[i]) != NULL, "%s", bsnn_last_error());
        cr_assert(strstr(bsnn_last_error(), why) != NULL, "%s: '%s' lacks '%s'", names[i],
                  bsnn_last_error(), why);
    }
    bsnn_model_get_params(after, np, m);
    cr_assert_arr_eq(before, after, np * sizeof(float), "parameters unchanged");
    /* the optimizer was never bound: another model trains with it */
    bsnn_model *other = tu_mlp(2, 2, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 1);
    float ox[2] = {1, 0}, oy[1] = {1};
    bsnn_tensor *otx = tu_wrap(ox, 1, 2), *oty = tu_wrap(oy, 1, 1);
    cr_assert_eq(bsnn_model_train_step(NULL, other, opt, otx, oty), BSNN_OK, "%s",
                 bsnn_last_error());
    bsnn_tensor_free(otx);
    bsnn_tensor_free(oty);
    bsnn_model_free(other);
    bsnn_search_free(se);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_dataset_free(ds);
    bsnn_tensor_free(tx);
    bsnn_tensor_free(ty);
}

/* No loss chosen: in 0.2.0 training silently ran MSE (multi-class data
 * included). Now every training entry point, and evaluate's loss, fail with
 * BSNN_E_STATE telling the host to call bsnn_model_set_loss; forward and
 * evaluate's accuracy alone need no loss. */
Test(model, training_without_a_chosen_loss_fails_saying_to_set_one)
{
    bsnn_model *m = bsnn_model_create(2);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(3)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(3)), BSNN_OK);
    training_refused(m, BSNN_E_STATE, "call bsnn_model_set_loss");
    float x[2] = {0.5f, -1}, o[3];
    bsnn_tensor *tx = tu_wrap(x, 1, 2), *to = tu_wrap(o, 1, 3);
    cr_assert_eq(bsnn_model_forward(to, m, tx), BSNN_OK, "%s", bsnn_last_error());
    float y[3] = {0, 1, 0};
    bsnn_dataset *ds = bsnn_dataset_create(x, y, 1, 2, 3);
    double acc = -1.0;
    cr_assert_eq(bsnn_model_evaluate(NULL, &acc, m, ds, 1), BSNN_OK, "%s", bsnn_last_error());
    cr_assert(acc == 0.0 || acc == 1.0);
    /* choosing one makes the same model trainable */
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_SOFTMAX_CE), BSNN_OK);
    bsnn_optimizer *opt = sgd(0.1);
    bsnn_tensor *ty = tu_wrap(y, 1, 3);
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_OK, "%s", bsnn_last_error());
    bsnn_optimizer_free(opt);
    bsnn_tensor_free(ty);
    bsnn_tensor_free(tx);
    bsnn_tensor_free(to);
    bsnn_dataset_free(ds);
    bsnn_model_free(m);
}

/* The loss is readable as BSNN_MODEL_LOSS (0 for none), set only through
 * bsnn_model_set_loss (bsnn_model_set names it), and NONE is not a loss. */
Test(model, loss_setting_reads_none_then_the_chosen_loss)
{
    bsnn_model *m = bsnn_model_create(2);
    double v = -1;
    cr_assert_eq(bsnn_model_get(&v, m, BSNN_MODEL_LOSS), BSNN_OK);
    cr_assert_eq(v, BSNN_LOSS_NONE);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_NONE), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_LOSS, BSNN_LOSS_BCE_LOGITS), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "bsnn_model_set_loss") != NULL, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_BCE_LOGITS), BSNN_OK);
    cr_assert_eq(bsnn_model_get(&v, m, BSNN_MODEL_LOSS), BSNN_OK);
    cr_assert_eq(v, BSNN_LOSS_BCE_LOGITS);
    cr_assert_eq(bsnn_model_set_loss(m, (bsnn_loss)99), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_get(&v, m, BSNN_MODEL_LOSS), BSNN_OK);
    cr_assert_eq(v, BSNN_LOSS_BCE_LOGITS, "a refused value keeps the loss");
    bsnn_model_free(m);
}

/* A model 2 -> 3 (tanh) -> n_out dense, then `last` as an activation layer
 * unless LINEAR; `first` is set as the loss before any layer (NONE: not). */
static bsnn_model *ending_with(size_t n_out, bsnn_activation last, bsnn_loss first)
{
    bsnn_model *m = bsnn_model_create(2);
    if (first != BSNN_LOSS_NONE)
        cr_assert_eq(bsnn_model_set_loss(m, first), BSNN_OK, "nothing to conflict with yet");
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(3)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(n_out)), BSNN_OK);
    if (last != BSNN_ACT_LINEAR)
        cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(last)), BSNN_OK);
    return m;
}

/* Combinations that train silently wrong in 0.2.0: SOFTMAX_CE over one
 * output (loss 0, nothing learned), a softmax layer before SOFTMAX_CE and a
 * sigmoid layer before BCE_LOGITS (the loss applies it again). Refused
 * whichever comes first: set_loss after the layers is BSNN_E_ARG and keeps
 * the old loss; layers after set_loss make every training entry point
 * BSNN_E_STATE. Each message says why. */
Test(model, impossible_loss_and_last_layer_pairs_are_refused_in_either_order)
{
    const struct {
        size_t n_out;
        bsnn_activation last;
        bsnn_loss loss;
        const char *why;
    } bad[] = {{1, BSNN_ACT_LINEAR, BSNN_LOSS_SOFTMAX_CE, "over one output is always 0"},
               {1, BSNN_ACT_TANH, BSNN_LOSS_SOFTMAX_CE, "over one output is always 0"},
               {3, BSNN_ACT_SOFTMAX, BSNN_LOSS_SOFTMAX_CE, "applies the softmax itself"},
               {1, BSNN_ACT_SIGMOID, BSNN_LOSS_BCE_LOGITS, "applies the sigmoid itself"},
               {3, BSNN_ACT_SIGMOID, BSNN_LOSS_BCE_LOGITS, "applies the sigmoid itself"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bsnn_model *m = ending_with(bad[i].n_out, bad[i].last, BSNN_LOSS_MSE);
        cr_assert_eq(bsnn_model_set_loss(m, bad[i].loss), BSNN_E_ARG, "case %zu", i);
        cr_assert(strstr(bsnn_last_error(), bad[i].why) != NULL, "case %zu: %s", i,
                  bsnn_last_error());
        double v = 0;
        cr_assert_eq(bsnn_model_get(&v, m, BSNN_MODEL_LOSS), BSNN_OK);
        cr_assert_eq(v, BSNN_LOSS_MSE, "case %zu: the old loss is kept", i);
        bsnn_model_free(m);
        m = ending_with(bad[i].n_out, bad[i].last, bad[i].loss);
        training_refused(m, BSNN_E_STATE, bad[i].why);
        bsnn_model_free(m);
    }
    /* what stays allowed: these outputs with MSE, a softmax or sigmoid that
     * is not last, several outputs under SOFTMAX_CE */
    bsnn_model *ok1 = ending_with(3, BSNN_ACT_SOFTMAX, BSNN_LOSS_MSE);
    bsnn_model *ok2 = ending_with(1, BSNN_ACT_SIGMOID, BSNN_LOSS_MSE);
    cr_assert_eq(bsnn_model_add(ok1, bsnn_layer_dense(2)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(ok1, BSNN_LOSS_SOFTMAX_CE), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_model_add(ok2, bsnn_layer_dense(1)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(ok2, BSNN_LOSS_BCE_LOGITS), BSNN_OK, "%s", bsnn_last_error());
    bsnn_model_free(ok1);
    bsnn_model_free(ok2);
}

/* "dataset targets hold a bad class index" named nothing. The message now
 * gives the row, the value and the valid range, for datasets and for a
 * train step's y; a non-finite target names its row and column. */
Test(model, bad_class_index_messages_name_the_row_value_and_range)
{
    bsnn_model *m = ending_with(3, BSNN_ACT_LINEAR, BSNN_LOSS_SOFTMAX_CE);
    float x[8] = {0, 1, 1, 0, 1, 1, 0, 0}, y[4] = {0, 2, 5, 1};
    bsnn_dataset *ds = bsnn_dataset_create(x, y, 4, 2, 1);
    bsnn_optimizer *opt = sgd(0.1);
    bsnn_scheduler *s = bsnn_scheduler_create(4);
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, 1, NULL, NULL), BSNN_E_ARG);
    const char *msg = bsnn_last_error();
    cr_assert(strstr(msg, "row 2") && strstr(msg, "holds 5") && strstr(msg, "0..2"), "%s", msg);
    float y2[4] = {0, 1.5f, 1, 1};
    bsnn_tensor *tx = tu_wrap(x, 4, 2), *ty = tu_wrap(y2, 4, 1);
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_E_ARG);
    msg = bsnn_last_error();
    cr_assert(strstr(msg, "y row 1") && strstr(msg, "1.5") && strstr(msg, "0..2"), "%s", msg);
    y2[1] = NAN;
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "row 1, column 0") != NULL, "%s", bsnn_last_error());
    bsnn_tensor_free(tx);
    bsnn_tensor_free(ty);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_dataset_free(ds);
    bsnn_model_free(m);
}

/* README.md's 20-line example (keep in step with it): 4 -> 8 tanh -> 1 logit,
 * BCE from logits, Adam lr 0.05, batches of 4, 2000 epochs. It must fit all
 * 16 parity samples for at least 9 of the 10 seeds 1..10 (model and shuffle
 * seed); in 0.2.0 it ended at accuracy 0.94. */
Test(model, readme_example_fits_4bit_parity_for_9_of_10_seeds, .timeout = 120)
{
    int fitted = 0;
    for (int seed = 1; seed <= 10; seed++) {
        bsnn_dataset *data = bsnn_dataset_parity(4);
        bsnn_model *net = bsnn_model_create(4);
        cr_assert_eq(bsnn_model_add(net, bsnn_layer_dense(8)), BSNN_OK);
        cr_assert_eq(bsnn_model_add(net, bsnn_layer_activation(BSNN_ACT_TANH)), BSNN_OK);
        cr_assert_eq(bsnn_model_add(net, bsnn_layer_dense(1)), BSNN_OK);
        cr_assert_eq(bsnn_model_set_loss(net, BSNN_LOSS_BCE_LOGITS), BSNN_OK);
        cr_assert_eq(bsnn_model_set(net, BSNN_MODEL_SEED, seed), BSNN_OK);
        bsnn_optimizer *adam = bsnn_optimizer_create(BSNN_ADAM);
        cr_assert_eq(bsnn_optimizer_set(adam, BSNN_OPT_LR, 0.05), BSNN_OK);
        bsnn_scheduler *batches = bsnn_scheduler_create(16);
        cr_assert_eq(bsnn_scheduler_set(batches, BSNN_SCHED_BATCH_SIZE, 4), BSNN_OK);
        cr_assert_eq(bsnn_scheduler_set(batches, BSNN_SCHED_SEED, seed), BSNN_OK);
        cr_assert_eq(bsnn_model_train(NULL, net, adam, batches, data, 2000, NULL, NULL), BSNN_OK,
                     "%s", bsnn_last_error());
        double acc = 0;
        cr_assert_eq(bsnn_model_evaluate(NULL, &acc, net, data, 16), BSNN_OK);
        fitted += acc == 1.0;
        bsnn_scheduler_free(batches);
        bsnn_optimizer_free(adam);
        bsnn_model_free(net);
        bsnn_dataset_free(data);
    }
    fprintf(stderr, "readme example: fitted 4-bit parity for %d of 10 seeds\n", fitted);
    cr_assert_geq(fitted, 9, "fitted for %d of 10 seeds", fitted);
}

/* Model settings' bounds agree with the setter; the read-only ones have no
 * bounds; the typed seed reaches all 64 bits (2^60 and 2^60 + 1, one
 * double, initialise differently) and the double form never rounds. */
Test(model, bounds_agree_with_the_setter_and_the_typed_seed_reaches_every_value)
{
    bsnn_model *m = tu_mlp(3, 4, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 1);
    const bsnn_model_param settable[] = {BSNN_MODEL_SEED, BSNN_MODEL_THRESHOLD, BSNN_MODEL_INIT};
    for (size_t k = 0; k < 3; k++) {
        double lo, hi, v;
        unsigned open;
        bsnn_model_param p = settable[k];
        cr_assert_eq(bsnn_model_bounds(&lo, &hi, &open, m, p), BSNN_OK);
        cr_assert_eq(open, 0);
        cr_assert_eq(bsnn_model_set(m, p, nextafter(lo, -INFINITY)), BSNN_E_ARG, "%d", (int)p);
        cr_assert_eq(bsnn_model_set(m, p, nextafter(hi, INFINITY)), BSNN_E_ARG, "%d", (int)p);
        for (int e = 0; e < 2; e++) {
            double want = e ? hi : lo;
            cr_assert_eq(bsnn_model_set(m, p, want), BSNN_OK, "%d %g: %s", (int)p, want,
                         bsnn_last_error());
            cr_assert_eq(bsnn_model_get(&v, m, p), BSNN_OK);
            cr_assert_eq(v, want);
        }
    }
    double lo, hi;
    unsigned open;
    cr_assert_eq(bsnn_model_bounds(&lo, &hi, &open, m, BSNN_MODEL_TRAINING), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_bounds(&lo, &hi, &open, m, BSNN_MODEL_LOSS), BSNN_E_ARG);
    const uint64_t big = (uint64_t)1 << 60;
    float a[21], b[21];
    cr_assert_eq(bsnn_model_param_count(m), 21);
    cr_assert_eq(bsnn_model_set_seed(m, big), BSNN_OK);
    bsnn_model_get_params(a, 21, m);
    cr_assert_eq(bsnn_model_set_seed(m, big + 1), BSNN_OK);
    bsnn_model_get_params(b, 21, m);
    cr_assert(memcmp(a, b, sizeof a) != 0, "seeds 2^60 and 2^60+1 initialised alike");
    uint64_t got = 0;
    cr_assert_eq(bsnn_model_get_seed(&got, m), BSNN_OK);
    cr_assert_eq(got, big + 1);
    double v = -1;
    cr_assert_eq(bsnn_model_get(&v, m, BSNN_MODEL_SEED), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "bsnn_model_get_seed") != NULL);
    /* set_seed is init_params with the seed kept: the same parameters */
    cr_assert_eq(bsnn_model_init_params(m, big), BSNN_OK);
    bsnn_model_get_params(b, 21, m);
    cr_assert_arr_eq(a, b, sizeof a);
    bsnn_model_free(m);
}
