/*
 * test_diverge.c - divergence detection: when a loss, a gradient or an
 * update becomes NaN or infinite, training stops with BSNN_E_DIVERGED,
 * names where it stopped, and leaves the parameters as they were before the
 * bad update.
 */
#include "testutil.h"

#include <stdio.h>

typedef struct recorder {
    bsnn_model *m;
    float *last; /* parameters after the latest successful update */
    size_t n, steps;
} recorder;

static int record(void *user, bsnn_event event, size_t epoch, size_t step, size_t batch_size,
                  double loss)
{
    (void)epoch, (void)batch_size, (void)loss;
    recorder *r = user;
    if (event == BSNN_EVENT_STEP) {
        bsnn_model_get_params(r->last, r->n, r->m);
        r->steps = step;
    }
    return 0;
}

static bsnn_dataset *big_inputs(float scale)
{
    float x[16 * 2], y[16];
    for (int i = 0; i < 16; i++) {
        x[2 * i] = scale * (float)(i % 4 - 1.5);
        x[2 * i + 1] = scale * (float)(i / 4 - 1.5);
        y[i] = (float)(i % 3);
    }
    return bsnn_dataset_create(x, y, 16, 2, 1);
}

static int all_finite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* For several batch sizes: an absurd learning rate makes training diverge
 * within a few updates; training stops there with the parameters of the
 * last good update, and the message says where. */
Test(diverge, absurd_learning_rate_stops_with_last_good_parameters)
{
    size_t batches[] = {1, 3, 16};
    for (size_t k = 0; k < 3; k++) {
        bsnn_model *m = tu_mlp(2, 8, BSNN_ACT_RELU, 1, BSNN_ACT_LINEAR, 7);
        bsnn_dataset *ds = big_inputs(100.0f);
        bsnn_scheduler *s = bsnn_scheduler_create(16);
        bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
        cr_assert_eq(bsnn_optimizer_set(opt, BSNN_OPT_LR, 1e6), BSNN_OK);
        cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, (double)batches[k]), BSNN_OK);
        recorder r = {m, NULL, bsnn_model_param_count(m), 0};
        r.last = malloc(r.n * sizeof(float));
        bsnn_model_get_params(r.last, r.n, m); /* the "last good" before any update */
        size_t steps = 999;
        bsnn_status st = bsnn_model_train(&steps, m, opt, s, ds, 1000, record, &r);
        cr_assert_eq(st, BSNN_E_DIVERGED, "batch %zu: status %d", batches[k], st);
        cr_assert_eq(steps, r.steps, "out_steps counts the successful updates");
        float *now = malloc(r.n * sizeof(float));
        bsnn_model_get_params(now, r.n, m);
        cr_assert(all_finite(now, r.n));
        cr_assert(memcmp(now, r.last, r.n * sizeof(float)) == 0,
                  "batch %zu: parameters are not those of the last good update", batches[k]);
        const char *msg = bsnn_last_error();
        char want[64];
        snprintf(want, sizeof want, "update %zu of this call", steps + 1);
        cr_assert(strstr(msg, "epoch ") && strstr(msg, "batch ") && strstr(msg, want), "%s", msg);
        /* The model is still usable (its loss may be huge, not a crash). */
        cr_assert_eq(bsnn_model_evaluate(NULL, NULL, m, ds, 16), BSNN_OK);
        free(now);
        free(r.last);
        bsnn_optimizer_free(opt);
        bsnn_scheduler_free(s);
        bsnn_dataset_free(ds);
        bsnn_model_free(m);
    }
}

/* The reported epoch and batch are the scheduler's position of the bad batch. */
Test(diverge, message_names_epoch_and_batch_of_the_bad_update)
{
    bsnn_model *m = tu_mlp(2, 4, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 3);
    bsnn_dataset *ds = big_inputs(1.0f);
    bsnn_scheduler *s = bsnn_scheduler_create(16);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 4), BSNN_OK);
    /* Two calm epochs (8 updates), then an absurd rate. */
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, 2, NULL, NULL), BSNN_OK);
    cr_assert_eq(bsnn_optimizer_set(opt, BSNN_OPT_LR, 1e6), BSNN_OK);
    size_t steps = 0;
    cr_assert_eq(bsnn_model_train(&steps, m, opt, s, ds, 50, NULL, NULL), BSNN_E_DIVERGED);
    size_t epoch = 2 + steps / 4, batch = steps % 4;
    char want[128];
    snprintf(want, sizeof want, "bsnn_model_train: epoch %zu, batch %zu of the epoch, update %zu "
             "of this call: ", epoch, batch, steps + 1);
    cr_assert(strncmp(bsnn_last_error(), want, strlen(want)) == 0, "want '%s' first in '%s'", want,
              bsnn_last_error());
    cr_assert(strstr(bsnn_last_error(), "parameters") != NULL, "the reason is kept: '%s'",
              bsnn_last_error());
    bsnn_optimizer_free(opt);
    bsnn_scheduler_free(s);
    bsnn_dataset_free(ds);
    bsnn_model_free(m);
}

/* A finite gradient that the update overflows (lr * g > FLT_MAX) and a
 * gradient that itself overflows both leave the parameters untouched. */
Test(diverge, train_step_leaves_parameters_unchanged_on_overflow)
{
    float scales[] = {1e15f, 1e30f}; /* update overflows; gradient overflows */
    for (int k = 0; k < 2; k++) {
        bsnn_model *m = tu_mlp(2, 3, BSNN_ACT_LINEAR, 1, BSNN_ACT_LINEAR, 5);
        bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
        cr_assert_eq(bsnn_optimizer_set(opt, BSNN_OPT_LR, 1e6), BSNN_OK);
        float x[2] = {scales[k], -scales[k]}, y[1] = {0.0f};
        bsnn_tensor *tx = tu_wrap(x, 1, 2), *ty = tu_wrap(y, 1, 1);
        size_t n = bsnn_model_param_count(m);
        float *before = malloc(n * sizeof(float)), *after = malloc(n * sizeof(float));
        bsnn_model_get_params(before, n, m);
        bsnn_status st = BSNN_OK;
        for (int i = 0; i < 10 && st == BSNN_OK; i++) {
            bsnn_model_get_params(before, n, m);
            st = bsnn_model_train_step(NULL, m, opt, tx, ty);
        }
        cr_assert_eq(st, BSNN_E_DIVERGED, "scale %g", (double)scales[k]);
        bsnn_model_get_params(after, n, m);
        cr_assert(memcmp(before, after, n * sizeof(float)) == 0, "scale %g: %s",
                  (double)scales[k], bsnn_last_error());
        cr_assert(all_finite(after, n));
        free(before);
        free(after);
        bsnn_tensor_free(tx);
        bsnn_tensor_free(ty);
        bsnn_optimizer_free(opt);
        bsnn_model_free(m);
    }
}

/* A diverging step leaves batch-norm running statistics as they were too:
 * evaluation-mode outputs (which use them) are unchanged by the failed step. */
Test(diverge, batchnorm_statistics_are_restored_with_the_parameters)
{
    bsnn_model *m = bsnn_model_create(2);
    bsnn_model_set_loss(m, BSNN_LOSS_MSE);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(3)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_batchnorm()), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(1)), BSNN_OK);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    float x[4 * 2] = {1, 2, -1, 0.5f, 3, -2, 0, 1}, y[4] = {0, 1, 0, 1};
    bsnn_tensor *tx = tu_wrap(x, 4, 2), *ty = tu_wrap(y, 4, 1);
    float before[4], after[4];
    bsnn_tensor *tb = tu_wrap(before, 4, 1), *ta = tu_wrap(after, 4, 1);
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_OK);
    /* Targets of 1e30 and an absurd rate: some step overflows and fails. */
    float big[4] = {1e30f, -1e30f, 1e30f, -1e30f};
    bsnn_tensor *tbig = tu_wrap(big, 4, 1);
    cr_assert_eq(bsnn_optimizer_set(opt, BSNN_OPT_LR, 1e6), BSNN_OK);
    bsnn_status st = BSNN_OK;
    for (int i = 0; i < 20 && st == BSNN_OK; i++) {
        cr_assert_eq(bsnn_model_forward(tb, m, tx), BSNN_OK);
        st = bsnn_model_train_step(NULL, m, opt, tx, tbig);
    }
    cr_assert_eq(st, BSNN_E_DIVERGED);
    cr_assert_eq(bsnn_model_forward(ta, m, tx), BSNN_OK);
    cr_assert(memcmp(before, after, sizeof before) == 0, "evaluation outputs changed");
    bsnn_tensor_free(tx), bsnn_tensor_free(ty), bsnn_tensor_free(tb), bsnn_tensor_free(ta);
    bsnn_tensor_free(tbig);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
}
