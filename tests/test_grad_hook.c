/*
 * test_grad_hook.c - the gradient hook (bsnn_model_set_grad_hook): called
 * once per update with the complete batch-mean gradient, the rows and the
 * loss sum, before the finiteness check; what it leaves is what the update
 * uses and what the step reports; a non-zero return abandons the step with
 * the model and optimizer as before it; two threads that average their
 * gradients through it train like one process on the whole batch.
 */
#include "testutil.h"

#include "train/train.h"

#include <pthread.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

/* What a recording hook saw, over every call. */
typedef struct seen {
    size_t calls, count, rows;
    double loss_sum;
    float grads[64];
} seen;

static int record(void *user, float *grads, size_t count, size_t *rows, double *loss_sum)
{
    seen *s = user;
    s->calls++;
    s->count = count;
    s->rows = *rows;
    s->loss_sum = *loss_sum;
    memcpy(s->grads, grads, (count < 64 ? count : 64) * sizeof(float));
    return 0;
}

/* A linear model n_in -> n_out (one dense layer) under MSE, from seed. */
static bsnn_model *linear(size_t n_in, size_t n_out, uint64_t seed)
{
    bsnn_model *m = bsnn_model_create(n_in);
    cr_assert_not_null(m);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(n_out)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_MSE), BSNN_OK);
    cr_assert_eq(bsnn_model_init_params(m, seed), BSNN_OK);
    return m;
}

/* The linear model's batch-mean MSE gradient and loss sum over rows
 * [0, n) of x and t, in double, from its parameters p (W [in][out], b). */
static double linear_grad(double *g, const float *p, const float *x, const float *t, size_t n,
                          size_t in, size_t out)
{
    double loss = 0.0;
    memset(g, 0, (in * out + out) * sizeof(double));
    for (size_t r = 0; r < n; r++)
        for (size_t j = 0; j < out; j++) {
            double o = p[in * out + j];
            for (size_t i = 0; i < in; i++) o += (double)x[r * in + i] * p[i * out + j];
            double d = o - t[r * out + j];
            loss += 0.5 * d * d;
            for (size_t i = 0; i < in; i++) g[i * out + j] += x[r * in + i] * d / (double)n;
            g[in * out + j] += d / (double)n;
        }
    return loss;
}

static void fill(float *v, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = (float)((seed >> 8) % 2001) / 1000.0f - 1.0f;
    }
}

/* For several batch sizes (1 included, where plain SGD used to fold the
 * update into backward and never hold the gradient): one call per step,
 * with count, rows, the mean gradient and the loss sum the test computes. */
Test(grad_hook, sees_the_batch_mean_gradient_its_rows_and_loss_sum)
{
    size_t sizes[] = {1, 2, 7, 33};
    for (size_t k = 0; k < 4; k++) {
        size_t n = sizes[k], in = 3, out = 2, np = in * out + out;
        bsnn_model *m = linear(in, out, 5 + k);
        bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
        seen s = {0};
        cr_assert_eq(bsnn_model_set_grad_hook(m, record, &s), BSNN_OK);
        float x[33 * 3], t[33 * 2], p[8];
        fill(x, n * in, 11 + (unsigned)k), fill(t, n * out, 23 + (unsigned)k);
        bsnn_tensor *tx = tu_wrap(x, n, in), *ty = tu_wrap(t, n, out);
        for (int step = 0; step < 3; step++) {
            cr_assert_eq(bsnn_model_get_params(p, np, m), BSNN_OK);
            double g[8];
            double want_loss = linear_grad(g, p, x, t, n, in, out);
            double loss;
            cr_assert_eq(bsnn_model_train_step(&loss, m, opt, tx, ty), BSNN_OK, "%s",
                         bsnn_last_error());
            cr_assert_eq(s.calls, (size_t)step + 1, "batch %zu: one call per step", n);
            cr_assert_eq(s.count, np);
            cr_assert_eq(s.rows, n);
            cr_assert_lt(tu_rel(s.loss_sum, want_loss, 1e-6), 1e-5, "batch %zu: loss sum %g, want %g",
                         n, s.loss_sum, want_loss);
            cr_assert_lt(tu_rel(loss, want_loss / (double)n, 1e-6), 1e-5);
            for (size_t i = 0; i < np; i++)
                cr_assert_lt(tu_rel(s.grads[i], g[i], 1e-5), 1e-4, "batch %zu, grad %zu: %g vs %g",
                             n, i, (double)s.grads[i], g[i]);
            float after[8];
            cr_assert_eq(bsnn_model_get_grads(after, np, m), BSNN_OK);
            cr_assert(memcmp(after, s.grads, np * sizeof(float)) == 0,
                      "bsnn_model_get_grads reads what the hook saw (no penalty here)");
        }
        bsnn_tensor_free(tx), bsnn_tensor_free(ty);
        bsnn_optimizer_free(opt);
        bsnn_model_free(m);
    }
}

/* A hook that checks each update's gradient against the test's own, for
 * batch (calls % 2) of an unshuffled 16-row set in batches of 8. */
typedef struct checker {
    bsnn_model *m;
    const float *x, *t;
    size_t calls, rows_seen;
    double worst;
} checker;

static int check_batch(void *user, float *grads, size_t count, size_t *rows, double *loss_sum)
{
    checker *c = user;
    size_t b = c->calls++ % 2;
    float p[8];
    double g[8];
    cr_assert_eq(bsnn_model_get_params(p, count, c->m), BSNN_OK); /* reading m is allowed */
    double loss = linear_grad(g, p, c->x + 8 * b * 3, c->t + 8 * b * 2, 8, 3, 2);
    for (size_t i = 0; i < count; i++) c->worst = fmax(c->worst, tu_rel(grads[i], g[i], 1e-5));
    c->worst = fmax(c->worst, tu_rel(*loss_sum, loss, 1e-6));
    c->rows_seen = *rows;
    return 0;
}

/* With micro-batches (3 rows per pass of 8-row batches) the hook runs once
 * per update, after the last pass, with the whole batch's mean gradient. */
Test(grad_hook, runs_once_per_update_after_every_micro_batch)
{
    size_t in = 3, out = 2, n = 16;
    float x[16 * 3], t[16 * 2];
    fill(x, n * in, 3), fill(t, n * out, 4);
    bsnn_dataset *ds = bsnn_dataset_create(x, t, n, in, out);
    bsnn_model *m = linear(in, out, 9);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_ADAM);
    bsnn_scheduler *sch = bsnn_scheduler_create(n);
    cr_assert_eq(bsnn_scheduler_set(sch, BSNN_SCHED_BATCH_SIZE, 8), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_set(sch, BSNN_SCHED_SHUFFLE, 0), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_set(sch, BSNN_SCHED_MICRO_BATCH, 3), BSNN_OK);
    checker c = {m, x, t, 0, 0, 0.0};
    cr_assert_eq(bsnn_model_set_grad_hook(m, check_batch, &c), BSNN_OK);
    size_t steps = 0;
    cr_assert_eq(bsnn_model_train(&steps, m, opt, sch, ds, 3, NULL, NULL), BSNN_OK, "%s",
                 bsnn_last_error());
    cr_assert_eq(steps, 6);
    cr_assert_eq(c.calls, 6, "one call per update, not per pass");
    cr_assert_eq(c.rows_seen, 8, "rows: the whole batch");
    cr_assert_lt(c.worst, 1e-4, "gradient or loss off by %g", c.worst);
    /* Removing the hook stops the calls. */
    cr_assert_eq(bsnn_model_set_grad_hook(m, NULL, &c), BSNN_OK);
    cr_assert_eq(bsnn_model_train(NULL, m, opt, sch, ds, 1, NULL, NULL), BSNN_OK);
    cr_assert_eq(c.calls, 6);
    bsnn_model_free(m);
    bsnn_scheduler_free(sch);
    bsnn_optimizer_free(opt);
    bsnn_dataset_free(ds);
}

/* A hook that replaces the gradient by a fixed vector (scaled by k). */
typedef struct replace {
    float k;
} replace;

static int replace_grad(void *user, float *grads, size_t count, size_t *rows, double *loss_sum)
{
    (void)rows, (void)loss_sum;
    const replace *r = user;
    for (size_t i = 0; i < count; i++) grads[i] = r->k * (float)((int)i - 3);
    return 0;
}

/* The update uses the gradient exactly as the hook leaves it; L1/L2
 * penalties are added after the hook. */
Test(grad_hook, the_update_uses_the_gradient_the_hook_leaves)
{
    size_t in = 3, out = 2, np = in * out + out, n = 4;
    float x[4 * 3], t[4 * 2], before[8], after[8];
    fill(x, n * in, 7), fill(t, n * out, 8);
    bsnn_tensor *tx = tu_wrap(x, n, in), *ty = tu_wrap(t, n, out);
    for (int penalty = 0; penalty < 2; penalty++) {
        bsnn_model *m = linear(in, out, 3);
        double l2 = penalty ? 0.5 : 0.0;
        cr_assert_eq(bsnn_layer_set(bsnn_model_layer(m, 0), BSNN_LAYER_L2, l2), BSNN_OK);
        bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
        cr_assert_eq(bsnn_optimizer_set(opt, BSNN_OPT_LR, 0.25), BSNN_OK);
        replace r = {0.125f};
        cr_assert_eq(bsnn_model_set_grad_hook(m, replace_grad, &r), BSNN_OK);
        cr_assert_eq(bsnn_model_get_params(before, np, m), BSNN_OK);
        cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_OK, "%s", bsnn_last_error());
        cr_assert_eq(bsnn_model_get_params(after, np, m), BSNN_OK);
        for (size_t i = 0; i < np; i++) {
            double g = 0.125 * ((double)i - 3.0);
            if (i < in * out) g += l2 * before[i]; /* weights only, after the hook */
            double want = before[i] - 0.25 * g;
            cr_assert_lt(fabs(after[i] - want), 1e-6, "param %zu: %g, want %g", i,
                         (double)after[i], want);
        }
        bsnn_optimizer_free(opt);
        bsnn_model_free(m);
    }
    bsnn_tensor_free(tx), bsnn_tensor_free(ty);
}

/* A hook that reports its own rows and loss sum (as an allreduce would). */
typedef struct resize {
    size_t rows;
    double loss_sum;
} resize;

static int resize_update(void *user, float *grads, size_t count, size_t *rows, double *loss_sum)
{
    (void)grads, (void)count;
    const resize *r = user;
    *rows = r->rows;
    *loss_sum = r->loss_sum;
    return 0;
}

typedef struct progress {
    size_t step_calls, last_batch;
    double last_loss, epoch_loss;
} progress;

static int on_progress(void *user, bsnn_event event, size_t epoch, size_t step, size_t batch_size,
                       double loss)
{
    (void)epoch, (void)step;
    progress *p = user;
    if (event == BSNN_EVENT_STEP) {
        p->step_calls++;
        p->last_batch = batch_size;
        p->last_loss = loss;
    } else {
        p->epoch_loss = loss;
    }
    return 0;
}

/* The rows and loss sum the hook leaves are what the step reports: the
 * mean loss, the callback's batch size and loss, the epoch's mean loss and
 * the history's samples; the parameters do not depend on them. */
Test(grad_hook, rows_and_loss_sum_it_leaves_are_what_is_reported)
{
    size_t in = 3, out = 2, n = 12;
    float x[12 * 3], t[12 * 2];
    fill(x, n * in, 1), fill(t, n * out, 2);
    bsnn_tensor *tx = tu_wrap(x, 4, in), *ty = tu_wrap(t, 4, out);
    bsnn_model *m = linear(in, out, 1), *twin = linear(in, out, 1);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_MOMENTUM);
    bsnn_optimizer *opt2 = bsnn_optimizer_create(BSNN_MOMENTUM);
    resize r = {20, 42.0};
    cr_assert_eq(bsnn_model_set_grad_hook(m, resize_update, &r), BSNN_OK);
    double loss;
    cr_assert_eq(bsnn_model_train_step(&loss, m, opt, tx, ty), BSNN_OK);
    cr_assert_eq(loss, 42.0 / 20.0, "out_loss = loss_sum / rows as left: %g", loss);
    cr_assert_eq(bsnn_model_train_step(NULL, twin, opt2, tx, ty), BSNN_OK);
    float a[8], b[8];
    bsnn_model_get_params(a, 8, m), bsnn_model_get_params(b, 8, twin);
    cr_assert(memcmp(a, b, sizeof a) == 0, "rows and loss do not change the update");
    /* Through the loop: 3 batches of 4 per epoch, 2 epochs. */
    bsnn_dataset *ds = bsnn_dataset_create(x, t, n, in, out);
    bsnn_scheduler *sch = bsnn_scheduler_create(n);
    bsnn_history *h = bsnn_history_create();
    cr_assert_eq(bsnn_scheduler_set(sch, BSNN_SCHED_BATCH_SIZE, 4), BSNN_OK);
    progress pr = {0};
    cr_assert_eq(bsnn_model_train_ex(NULL, m, opt, sch, ds, NULL, h, 2, on_progress, &pr), BSNN_OK,
                 "%s", bsnn_last_error());
    cr_assert_eq(pr.step_calls, 6);
    cr_assert_eq(pr.last_batch, 20, "callback's batch size: the hook's rows");
    cr_assert_eq(pr.last_loss, 42.0 / 20.0);
    cr_assert_lt(fabs(pr.epoch_loss - 42.0 / 20.0), 1e-12, "epoch mean: summed loss / summed rows");
    double samples;
    cr_assert_eq(bsnn_history_get(&samples, h, 1, BSNN_HIST_SAMPLES), BSNN_OK);
    cr_assert_eq(samples, 6 * 20.0, "history samples count the hook's rows");
    bsnn_history_free(h);
    bsnn_scheduler_free(sch);
    bsnn_dataset_free(ds);
    bsnn_tensor_free(tx), bsnn_tensor_free(ty);
    bsnn_optimizer_free(opt), bsnn_optimizer_free(opt2);
    bsnn_model_free(m), bsnn_model_free(twin);
}

static int refuse(void *user, float *grads, size_t count, size_t *rows, double *loss_sum)
{
    (void)grads, (void)count, (void)rows, (void)loss_sum;
    int *left = user;
    return (*left)-- <= 0 ? 7 : 0;
}

/* A model with batch norm (running statistics change in every forward). */
static bsnn_model *bn_model(uint64_t seed)
{
    bsnn_model *m = bsnn_model_create(3);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(4)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_batchnorm()), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(2)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_MSE), BSNN_OK);
    cr_assert_eq(bsnn_model_init_params(m, seed), BSNN_OK);
    return m;
}

/* Evaluation-mode outputs on x (they read the batch-norm statistics). */
static void eval_out(float *out, bsnn_model *m, float *x, size_t n)
{
    bsnn_tensor *tx = tu_wrap(x, n, 3), *to = tu_wrap(out, n, 2);
    cr_assert_eq(bsnn_model_forward(to, m, tx), BSNN_OK);
    bsnn_tensor_free(tx), bsnn_tensor_free(to);
}

/* A non-zero return abandons the step with BSNN_E_CALLBACK: parameters,
 * batch-norm statistics and Adam's moments and step count are as before,
 * so the next step gives what a twin that never took the abandoned step
 * gives, bit for bit. */
Test(grad_hook, a_non_zero_return_abandons_the_step)
{
    size_t n = 6, np;
    float x[6 * 3], t[6 * 2];
    fill(x, n * 3, 5), fill(t, n * 2, 6);
    bsnn_tensor *tx = tu_wrap(x, n, 3), *ty = tu_wrap(t, n, 2);
    bsnn_model *m = bn_model(4), *twin = bn_model(4);
    np = bsnn_model_param_count(m);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_ADAM), *opt2 = bsnn_optimizer_create(BSNN_ADAM);
    int left = 2; /* two good steps, then refusals */
    cr_assert_eq(bsnn_model_set_grad_hook(m, refuse, &left), BSNN_OK);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_OK);
        cr_assert_eq(bsnn_model_train_step(NULL, twin, opt2, tx, ty), BSNN_OK);
    }
    float *p0 = malloc(np * sizeof(float)), *p1 = malloc(np * sizeof(float));
    float e0[12], e1[12];
    bsnn_model_get_params(p0, np, m);
    eval_out(e0, m, x, n);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_E_CALLBACK);
        cr_assert(strstr(bsnn_last_error(), "bsnn_model_train_step: the gradient hook returned 7"),
                  "%s", bsnn_last_error());
    }
    bsnn_model_get_params(p1, np, m);
    eval_out(e1, m, x, n);
    cr_assert(memcmp(p0, p1, np * sizeof(float)) == 0, "parameters changed");
    cr_assert(memcmp(e0, e1, sizeof e0) == 0, "batch-norm statistics changed");
    /* The same next step as the twin's: Adam's state did not move. */
    cr_assert_eq(bsnn_model_set_grad_hook(m, NULL, NULL), BSNN_OK);
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_OK);
    cr_assert_eq(bsnn_model_train_step(NULL, twin, opt2, tx, ty), BSNN_OK);
    bsnn_model_get_params(p0, np, m);
    bsnn_model_get_params(p1, np, twin);
    cr_assert(memcmp(p0, p1, np * sizeof(float)) == 0, "next step differs from the twin's");
    free(p0), free(p1);
    bsnn_tensor_free(tx), bsnn_tensor_free(ty);
    bsnn_optimizer_free(opt), bsnn_optimizer_free(opt2);
    bsnn_model_free(m), bsnn_model_free(twin);
}

/* Through bsnn_model_train: the refusal stops training with BSNN_E_CALLBACK
 * after the updates that were made, the message saying where. */
Test(grad_hook, a_refusal_stops_training_where_it_happened)
{
    bsnn_dataset *ds = bsnn_dataset_parity(3);
    bsnn_model *m = tu_mlp(3, 4, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 2);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    bsnn_scheduler *sch = bsnn_scheduler_create(8);
    cr_assert_eq(bsnn_scheduler_set(sch, BSNN_SCHED_BATCH_SIZE, 2), BSNN_OK);
    int left = 5;
    cr_assert_eq(bsnn_model_set_grad_hook(m, refuse, &left), BSNN_OK);
    size_t steps = 0;
    cr_assert_eq(bsnn_model_train(&steps, m, opt, sch, ds, 10, NULL, NULL), BSNN_E_CALLBACK);
    cr_assert_eq(steps, 5);
    cr_assert(strstr(bsnn_last_error(), "epoch 1, batch 1 of the epoch, update 6 of this call") &&
                  strstr(bsnn_last_error(), "gradient hook returned 7"),
              "%s", bsnn_last_error());
    bsnn_scheduler_free(sch);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
}

static int zero_rows(void *user, float *grads, size_t count, size_t *rows, double *loss_sum)
{
    (void)user, (void)grads, (void)count, (void)loss_sum;
    *rows = 0;
    return 0;
}

static int poison(void *user, float *grads, size_t count, size_t *rows, double *loss_sum)
{
    (void)user, (void)rows, (void)loss_sum;
    grads[count - 1] = NAN;
    return 0;
}

/* Replaces whatever gradient and loss arrived (finite or not) by zeros. */
static int cure(void *user, float *grads, size_t count, size_t *rows, double *loss_sum)
{
    int *saw_nonfinite = user;
    for (size_t i = 0; i < count; i++) {
        if (!isfinite(grads[i])) *saw_nonfinite = 1;
        grads[i] = 0.0f;
    }
    if (!isfinite(*loss_sum)) *saw_nonfinite = 1;
    *loss_sum = 0.0;
    (void)rows;
    return 0;
}

/* The finiteness check comes after the hook: a NaN the hook leaves is
 * divergence, and a non-finite gradient the hook replaces is not (so every
 * rank of an allreduce reaches the same verdict); rows = 0 is refused. */
Test(grad_hook, the_finiteness_check_comes_after_the_hook)
{
    size_t in = 2, out = 1, np = 3;
    float x[2] = {1e30f, -1e30f}, t[1] = {0.0f}, p0[3], p1[3];
    bsnn_tensor *tx = tu_wrap(x, 1, in), *ty = tu_wrap(t, 1, out);
    bsnn_model *m = linear(in, out, 2);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    bsnn_model_get_params(p0, np, m);
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_E_DIVERGED, "no hook: diverges");
    int saw = 0;
    cr_assert_eq(bsnn_model_set_grad_hook(m, cure, &saw), BSNN_OK);
    double loss = -1.0;
    cr_assert_eq(bsnn_model_train_step(&loss, m, opt, tx, ty), BSNN_OK, "%s", bsnn_last_error());
    cr_assert(saw, "the hook saw the non-finite gradient or loss");
    cr_assert_eq(loss, 0.0);
    bsnn_model_get_params(p1, np, m);
    cr_assert(memcmp(p0, p1, sizeof p0) == 0, "a zero gradient leaves SGD's parameters alone");
    x[0] = 0.5f, x[1] = 0.25f;
    cr_assert_eq(bsnn_model_set_grad_hook(m, poison, NULL), BSNN_OK);
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_E_DIVERGED);
    bsnn_model_get_params(p1, np, m);
    cr_assert(memcmp(p0, p1, sizeof p0) == 0);
    cr_assert_eq(bsnn_model_set_grad_hook(m, zero_rows, NULL), BSNN_OK);
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_E_CALLBACK);
    cr_assert(strstr(bsnn_last_error(), "rows = 0"), "%s", bsnn_last_error());
    bsnn_model_get_params(p1, np, m);
    cr_assert(memcmp(p0, p1, sizeof p0) == 0);
    bsnn_tensor_free(tx), bsnn_tensor_free(ty);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
}

/* What a hook that calls back into bsnn gets. */
typedef struct reentry {
    bsnn_model *m;
    bsnn_optimizer *opt;
    bsnn_tensor *x, *y;
    bsnn_status train, set_hook, forward, forward_ws;
    int round_toward_zero, ftz;
} reentry;

static int reenter(void *user, float *grads, size_t count, size_t *rows, double *loss_sum)
{
    (void)grads, (void)count, (void)rows, (void)loss_sum;
    reentry *r = user;
    r->train = bsnn_model_train_step(NULL, r->m, r->opt, r->x, r->y);
    r->set_hook = bsnn_model_set_grad_hook(r->m, NULL, NULL);
    float out[2];
    bsnn_tensor *to = tu_wrap(out, 1, 1);
    bsnn_tensor *tx = tu_wrap(bsnn_tensor_data(r->x), 1, 2);
    r->forward = bsnn_model_forward(to, r->m, tx); /* m's own workspace: in use */
    bsnn_workspace *ws = bsnn_workspace_create(r->m);
    r->forward_ws = bsnn_model_forward_ws(to, r->m, ws, tx);
    bsnn_workspace_free(ws);
    bsnn_tensor_free(to), bsnn_tensor_free(tx);
#if defined(__x86_64__)
    unsigned csr = _mm_getcsr();
    r->round_toward_zero = (csr & 0x6000u) == 0x6000u;
    r->ftz = (csr & 0x8040u) != 0;
#endif
    return 0;
}

/* From inside the hook, training m, changing its hook or using its own
 * workspace (bsnn_model_forward) is BSNN_E_STATE, inference through a
 * host's workspace works;
 * the hook runs with the host's floating-point control state (its rounding
 * mode, no flushing of subnormals). */
Test(grad_hook, inside_the_hook_training_m_is_refused_and_the_host_fp_state_holds)
{
    bsnn_model *m = linear(2, 1, 3);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    float x[2] = {0.5f, -1.0f}, t[1] = {0.25f};
    bsnn_tensor *tx = tu_wrap(x, 1, 2), *ty = tu_wrap(t, 1, 1);
    reentry r = {m, opt, tx, ty, BSNN_OK, BSNN_OK, BSNN_OK, BSNN_E_NULL, 0, 1};
    cr_assert_eq(bsnn_model_set_grad_hook(m, reenter, &r), BSNN_OK);
#if defined(__x86_64__)
    unsigned host = _mm_getcsr();
    _mm_setcsr((host & ~0x8040u) | 0x6000u); /* round toward zero, no FTZ/DAZ */
#endif
    bsnn_status st = bsnn_model_train_step(NULL, m, opt, tx, ty);
#if defined(__x86_64__)
    _mm_setcsr(host);
    cr_assert(r.round_toward_zero && !r.ftz, "the hook ran without the host's MXCSR");
#endif
    cr_assert_eq(st, BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(r.train, BSNN_E_STATE);
    cr_assert_eq(r.set_hook, BSNN_E_STATE);
    cr_assert_eq(r.forward, BSNN_E_STATE, "m's own workspace is the step's");
    cr_assert_eq(r.forward_ws, BSNN_OK, "inference with a workspace of the host's is allowed");
    cr_assert_eq(bsnn_model_set_grad_hook(m, NULL, NULL), BSNN_OK, "allowed again after the step");
    bsnn_tensor_free(tx), bsnn_tensor_free(ty);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
}

/* ---- two "ranks" in two threads, averaging through the hook -------------- */

/* A shared-memory allreduce of two ranks: each leaves rows x grads and its
 * loss sum in its slot; after a barrier both add the slots in rank order
 * (the same bits on both), divide by the summed rows and leave the global
 * rows and loss; a second barrier keeps the slots until both have read. */
typedef struct allreduce {
    pthread_barrier_t barrier;
    float sum[2][64];
    size_t rows[2];
    double loss[2];
} allreduce;

typedef struct rank {
    allreduce *ar;
    int id;
    bsnn_model *m;
    bsnn_optimizer *opt;
    const float *x, *t; /* this rank's rows of every global batch */
    size_t local, steps, in, out;
    bsnn_status st;
} rank;

static int reduce(void *user, float *grads, size_t count, size_t *rows, double *loss_sum)
{
    rank *r = user;
    allreduce *ar = r->ar;
    for (size_t i = 0; i < count; i++) ar->sum[r->id][i] = (float)*rows * grads[i];
    ar->rows[r->id] = *rows;
    ar->loss[r->id] = *loss_sum;
    pthread_barrier_wait(&ar->barrier);
    size_t total = ar->rows[0] + ar->rows[1];
    for (size_t i = 0; i < count; i++) grads[i] = (ar->sum[0][i] + ar->sum[1][i]) / (float)total;
    *rows = total;
    *loss_sum = ar->loss[0] + ar->loss[1];
    pthread_barrier_wait(&ar->barrier);
    return 0;
}

static void *run_rank(void *arg)
{
    rank *r = arg;
    bsnn_tensor *tx = tu_wrap((float *)r->x, r->local, r->in);
    bsnn_tensor *ty = tu_wrap((float *)r->t, r->local, r->out);
    r->st = BSNN_OK;
    for (size_t s = 0; s < r->steps && r->st == BSNN_OK; s++)
        r->st = bsnn_model_train_step(NULL, r->m, r->opt, tx, ty);
    bsnn_tensor_free(tx), bsnn_tensor_free(ty);
    return NULL;
}

/* 4 -> dense 5 -> tanh -> dropout 0.3 -> dense 2, from seed 8. */
static bsnn_model *dropout_net(void)
{
    bsnn_model *m = bsnn_model_create(4);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(5)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dropout(0.3)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(2)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_MSE), BSNN_OK);
    cr_assert_eq(bsnn_model_init_params(m, 8), BSNN_OK);
    return m;
}

/* For SGD, momentum and Adam: two threads, each training its own copy of
 * a model with dropout on its share of a 16-row batch and averaging
 * through the hook, end with the parameters of one model trained on the
 * whole batch (to rounding: the sum is taken in another order), over 20
 * steps; unequal shares (5 and 11 rows) too. Each rank gives its share's
 * first global row (bsnn__model_set_row_offset, as libbsnn_mpi does), so
 * dropout draws the whole batch's masks. */
Test(grad_hook, two_threads_averaging_through_it_train_like_one_model)
{
    bsnn_optimizer_kind kinds[] = {BSNN_SGD, BSNN_MOMENTUM, BSNN_ADAM};
    size_t splits[] = {8, 5};
    size_t in = 4, out = 2, n = 16;
    float x[16 * 4], t[16 * 2];
    fill(x, n * in, 17), fill(t, n * out, 19);
    for (int k = 0; k < 3; k++)
        for (int sp = 0; sp < 2; sp++) {
            bsnn_model *whole = dropout_net();
            bsnn_optimizer *ow = bsnn_optimizer_create(kinds[k]);
            bsnn_tensor *tx = tu_wrap(x, n, in), *ty = tu_wrap(t, n, out);
            for (int s = 0; s < 20; s++)
                cr_assert_eq(bsnn_model_train_step(NULL, whole, ow, tx, ty), BSNN_OK);
            allreduce ar;
            pthread_barrier_init(&ar.barrier, NULL, 2);
            rank ranks[2];
            size_t first = splits[sp];
            for (int i = 0; i < 2; i++) {
                ranks[i] = (rank){&ar, i, dropout_net(),
                                  bsnn_optimizer_create(kinds[k]), x + (i ? first * in : 0),
                                  t + (i ? first * out : 0), i ? n - first : first, 20, in, out,
                                  BSNN_OK};
                cr_assert_eq(bsnn_model_set_grad_hook(ranks[i].m, reduce, &ranks[i]), BSNN_OK);
                bsnn__model_set_row_offset(ranks[i].m, i ? first : 0);
            }
            pthread_t th;
            pthread_create(&th, NULL, run_rank, &ranks[1]);
            run_rank(&ranks[0]);
            pthread_join(th, NULL);
            pthread_barrier_destroy(&ar.barrier);
            size_t np = bsnn_model_param_count(whole);
            float pw[64], p0[64], p1[64];
            bsnn_model_get_params(pw, np, whole);
            bsnn_model_get_params(p0, np, ranks[0].m);
            bsnn_model_get_params(p1, np, ranks[1].m);
            cr_assert_eq(ranks[0].st, BSNN_OK, "%s", bsnn_last_error());
            cr_assert_eq(ranks[1].st, BSNN_OK);
            cr_assert(memcmp(p0, p1, np * sizeof(float)) == 0, "the ranks agree bit for bit");
            double worst = 0.0;
            for (size_t i = 0; i < np; i++) worst = fmax(worst, tu_rel(p0[i], pw[i], 1e-3));
            cr_assert_lt(worst, 1e-5, "rule %d, split %zu: relative difference %g", kinds[k],
                         first, worst);
            for (int i = 0; i < 2; i++) {
                bsnn_optimizer_free(ranks[i].opt);
                bsnn_model_free(ranks[i].m);
            }
            bsnn_tensor_free(tx), bsnn_tensor_free(ty);
            bsnn_optimizer_free(ow);
            bsnn_model_free(whole);
        }
}

/* A rank whose share of a global batch is empty (libbsnn_mpi, a global
 * batch smaller than the world) still takes part: the engine runs the
 * update on 0 rows with a zero gradient, which the hook turns into the
 * global one; its dropout count moves with the others' (the next masks
 * match), its batch-norm statistics stay its own. Without a hook a batch
 * of 0 rows is refused. */
static void *empty_rank(void *arg)
{
    rank *r = arg;
    cr_assert_eq(bsnn__model_reserve(r->m, 1), BSNN_OK);
    bsnn__batch b = {r->x, r->t, NULL, NULL, 0, r->out};
    r->st = BSNN_OK;
    for (size_t s = 0; s < r->steps && r->st == BSNN_OK; s++)
        r->st = bsnn__engine_step(NULL, NULL, r->m, r->opt, &b, 0, 0.01);
    return NULL;
}

Test(grad_hook, an_empty_share_takes_part_in_the_update)
{
    size_t in = 4, out = 2, n = 6;
    float x[6 * 4], t[6 * 2];
    fill(x, n * in, 29), fill(t, n * out, 31);
    bsnn_model *whole = dropout_net();
    bsnn_optimizer *ow = bsnn_optimizer_create(BSNN_SGD);
    bsnn_tensor *tx = tu_wrap(x, n, in), *ty = tu_wrap(t, n, out);
    for (int s = 0; s < 5; s++) cr_assert_eq(bsnn_model_train_step(NULL, whole, ow, tx, ty), BSNN_OK);
    allreduce ar;
    pthread_barrier_init(&ar.barrier, NULL, 2);
    rank ranks[2];
    for (int i = 0; i < 2; i++) {
        ranks[i] = (rank){&ar, i, dropout_net(), bsnn_optimizer_create(BSNN_SGD), x, t,
                          i ? 0 : n, 5, in, out, BSNN_OK};
        cr_assert_eq(bsnn_model_set_grad_hook(ranks[i].m, reduce, &ranks[i]), BSNN_OK);
    }
    pthread_t th;
    pthread_create(&th, NULL, empty_rank, &ranks[1]);
    run_rank(&ranks[0]);
    pthread_join(th, NULL);
    pthread_barrier_destroy(&ar.barrier);
    cr_assert_eq(ranks[0].st, BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(ranks[1].st, BSNN_OK);
    size_t np = bsnn_model_param_count(whole);
    float pw[64], p0[64], p1[64];
    bsnn_model_get_params(pw, np, whole);
    bsnn_model_get_params(p0, np, ranks[0].m);
    bsnn_model_get_params(p1, np, ranks[1].m);
    cr_assert(memcmp(p0, p1, np * sizeof(float)) == 0, "the ranks agree bit for bit");
    double worst = 0.0; /* rows x g / rows and the fused update round differently */
    for (size_t i = 0; i < np; i++) worst = fmax(worst, tu_rel(p0[i], pw[i], 1e-3));
    cr_assert_lt(worst, 1e-5, "relative difference %g from one process", worst);
    bsnn_rng c0, c1;
    ranks[0].m->layers[2]->ops->get_rng(ranks[0].m->layers[2], &c0);
    ranks[1].m->layers[2]->ops->get_rng(ranks[1].m->layers[2], &c1);
    cr_assert_eq(c0.s[0], 5, "dropout counted 5 updates");
    cr_assert_eq(c1.s[0], 5, "the empty rank counted them too");
    for (int i = 0; i < 2; i++) {
        bsnn_optimizer_free(ranks[i].opt);
        bsnn_model_free(ranks[i].m);
    }
    bsnn_model *alone = dropout_net();
    bsnn_optimizer *oa = bsnn_optimizer_create(BSNN_SGD);
    cr_assert_eq(bsnn__model_reserve(alone, 1), BSNN_OK);
    bsnn__batch b = {x, t, NULL, NULL, 0, out};
    cr_assert_eq(bsnn__engine_step(NULL, NULL, alone, oa, &b, 0, 0.01), BSNN_E_STATE);
    bsnn_optimizer_free(oa);
    bsnn_model_free(alone);
    bsnn_tensor_free(tx), bsnn_tensor_free(ty);
    bsnn_optimizer_free(ow);
    bsnn_model_free(whole);
}
