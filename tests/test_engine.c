/*
 * test_engine.c - the step engine: an update it rejects leaves no trace
 * (for every update rule and form, a non-finite gradient and a finite one
 * whose update or state overflows, through bsnn_model_train and through
 * bsnn_model_train_step, with batch norm and dropout: the checkpoint bytes
 * of model, optimizer and scheduler are as before it, and training goes on
 * exactly as a twin's that never met it); no copy is made unless the
 * safety bound fails; the fused SGD update agrees with the unfused one and
 * its gradient is there on demand; results are the same for every thread
 * count; the plan follows what it depends on.
 */
#include "testutil.h"

#include "train/train.h"

#include <stdio.h>

/* ---- a scripted gradient hook ------------------------------------------------ */

/* What the hook does at one call: pass the gradient through, put a NaN in
 * it, or replace it by a constant (huge or tiny). */
enum { PASS = 0, NAN_AT_0 = 1, FILL = 2 };
typedef struct act {
    int what;
    float value;
} act;

typedef struct script {
    act acts[16];
    size_t n, calls;
    act rest; /* after acts[n - 1] */
} script;

static int scripted(void *user, float *grads, size_t count, size_t *rows, double *loss_sum)
{
    (void)rows, (void)loss_sum;
    script *s = user;
    act a = s->calls < s->n ? s->acts[s->calls] : s->rest;
    s->calls++;
    if (a.what == NAN_AT_0) grads[0] = NAN;
    if (a.what == FILL)
        for (size_t i = 0; i < count; i++) grads[i] = (i % 2 ? -1.0f : 1.0f) * a.value;
    return 0;
}

/* ---- the configurations ------------------------------------------------------ */

typedef struct config {
    const char *name;
    bsnn_optimizer_kind kind;
    int variant;     /* bsnn_opt_variant, or for AdamW the decay scope */
    double lr;       /* for the overflowing step (0: keep the rule's)  */
    float big;       /* the overflowing gradient                        */
    int two_step;    /* AdaMax: beta2 0 and a huge accepted step first
                        (then gradients stay huge: a finite gradient
                        overflows AdaMax only after such a history)   */
} config;

static const config configs[] = {
    {"sgd", BSNN_SGD, 0, 1e6, 1e38f, 0},
    {"momentum", BSNN_MOMENTUM, BSNN_VARIANT_PYTORCH, 1e6, 1e38f, 0},
    {"momentum ruder", BSNN_MOMENTUM, BSNN_VARIANT_RUDER, 1e6, 1e38f, 0},
    {"nesterov", BSNN_NESTEROV, BSNN_VARIANT_PYTORCH, 1e6, 1e38f, 0},
    {"nesterov ruder", BSNN_NESTEROV, BSNN_VARIANT_RUDER, 1e6, 1e38f, 0},
    {"adagrad", BSNN_ADAGRAD, BSNN_VARIANT_PYTORCH, 0, 1e21f, 0},
    {"adagrad ruder", BSNN_ADAGRAD, BSNN_VARIANT_RUDER, 0, 1e21f, 0},
    {"adadelta", BSNN_ADADELTA, -1, 0, 1e21f, 0},
    {"rmsprop", BSNN_RMSPROP, BSNN_VARIANT_PYTORCH, 0, 1e21f, 0},
    {"rmsprop ruder", BSNN_RMSPROP, BSNN_VARIANT_RUDER, 0, 1e21f, 0},
    {"adam", BSNN_ADAM, -1, 0, 1e21f, 0},
    {"adamax", BSNN_ADAMAX, BSNN_VARIANT_PYTORCH, 0, 1e-30f, 1},
    {"adamax ruder", BSNN_ADAMAX, BSNN_VARIANT_RUDER, 0, 1e-30f, 1},
    {"nadam", BSNN_NADAM, BSNN_VARIANT_PYTORCH, 0, 1e21f, 0},
    {"nadam ruder", BSNN_NADAM, BSNN_VARIANT_RUDER, 0, 1e21f, 0},
    {"amsgrad", BSNN_AMSGRAD, BSNN_VARIANT_PYTORCH, 0, 1e21f, 0},
    {"amsgrad ruder", BSNN_AMSGRAD, BSNN_VARIANT_RUDER, 0, 1e21f, 0},
    {"adamw", BSNN_ADAMW, BSNN_DECAY_ALL, 0, 1e21f, 0},
    {"adamw weights", BSNN_ADAMW, BSNN_DECAY_WEIGHTS, 0, 1e21f, 0},
};
#define N_CONFIGS (sizeof configs / sizeof configs[0])

static bsnn_optimizer *optimizer(const config *c)
{
    bsnn_optimizer *o = bsnn_optimizer_create(c->kind);
    cr_assert_not_null(o);
    if (c->kind == BSNN_ADAMW)
        cr_assert_eq(bsnn_optimizer_set(o, BSNN_OPT_DECAY_SCOPE, c->variant), BSNN_OK);
    else if (c->variant >= 0 && c->kind != BSNN_SGD)
        cr_assert_eq(bsnn_optimizer_set(o, BSNN_OPT_VARIANT, c->variant), BSNN_OK);
    if (c->two_step) cr_assert_eq(bsnn_optimizer_set(o, BSNN_OPT_BETA2, 0.0), BSNN_OK);
    return o;
}

/* 3 -> dense 6 -> batch norm -> tanh -> dropout 0.25 -> dense 2, MSE. */
static bsnn_model *net(void)
{
    bsnn_model *m = bsnn_model_create(3);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(6)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_batchnorm()), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH)), BSNN_OK);
    bsnn_layer *d = bsnn_layer_dropout(0.25);
    cr_assert_eq(bsnn_layer_set_seed(d, 77), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, d), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(2)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_MSE), BSNN_OK);
    cr_assert_eq(bsnn_model_init_params(m, 5), BSNN_OK);
    return m;
}

enum { ROWS = 12 };

static bsnn_dataset *data(void)
{
    float x[ROWS * 3], y[ROWS * 2];
    for (int i = 0; i < ROWS * 3; i++) x[i] = (float)((i * 7) % 11) / 5.0f - 1.0f;
    for (int i = 0; i < ROWS * 2; i++) y[i] = (float)((i * 5) % 3) / 2.0f;
    return bsnn_dataset_create(x, y, ROWS, 3, 2);
}

static bsnn_scheduler *scheduler(size_t micro)
{
    bsnn_scheduler *s = bsnn_scheduler_create(ROWS);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 4), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_set_seed(s, 7), BSNN_OK);
    if (micro) cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_MICRO_BATCH, (double)micro), BSNN_OK);
    return s;
}

/* Everything training keeps: model (parameters, batch-norm statistics,
 * dropout's counter), optimizer (state, step count), scheduler (order,
 * position, generator, lr clock), as checkpoint bytes. */
typedef struct image {
    void *bytes;
    size_t size;
} image;

static image snap(const bsnn_model *m, const bsnn_optimizer *o, const bsnn_scheduler *s)
{
    image im;
    cr_assert_eq(bsnn_checkpoint_save_alloc(&im.bytes, &im.size, m, o, s), BSNN_OK, "%s",
                 bsnn_last_error());
    return im;
}

static void same(image a, image b, const char *what, const char *name)
{
    cr_assert(a.size == b.size && memcmp(a.bytes, b.bytes, a.size) == 0, "%s: %s", name, what);
    bsnn_buffer_free(a.bytes);
    bsnn_buffer_free(b.bytes);
}

static uint64_t stat(const bsnn_model *m, bsnn_stat which)
{
    uint64_t v = 0;
    cr_assert_eq(bsnn_model_stat(&v, m, which), BSNN_OK);
    return v;
}

/* The script of the bad step for kind (0: NaN gradient, 1: overflow), and
 * AdaMax's accepted huge step before it. */
static void arm(script *s, const config *c, int kind)
{
    if (kind == 0) {
        s->acts[s->n++] = (act){NAN_AT_0, 0.0f};
        return;
    }
    s->acts[s->n++] = (act){FILL, c->big};
}

static void lr_for_bad_step(bsnn_optimizer *o, const config *c, int kind, double *saved)
{
    cr_assert_eq(bsnn_optimizer_get(saved, o, BSNN_OPT_LR), BSNN_OK);
    if (kind == 1 && c->lr > 0) cr_assert_eq(bsnn_optimizer_set(o, BSNN_OPT_LR, c->lr), BSNN_OK);
}

/* Stops training after `left` updates. */
static int stop_after(void *user, bsnn_event event, size_t epoch, size_t step, size_t batch,
                      double loss)
{
    (void)epoch, (void)step, (void)batch, (void)loss;
    size_t *left = user;
    return event == BSNN_EVENT_STEP && --*left == 0;
}

/* Through bsnn_model_train: one clean epoch (and AdaMax's huge accepted
 * step), then a call in which the update after `good` more is bad: it
 * stops there with the state of a twin stopped after as many good updates;
 * then both train two more epochs and end bit-identical. */
static void train_case(const config *c, int kind, size_t good, size_t micro)
{
    bsnn_dataset *ds = data();
    bsnn_model *m = net(), *twin = net();
    bsnn_optimizer *o = optimizer(c), *ot = optimizer(c);
    bsnn_scheduler *s = scheduler(micro), *st = scheduler(micro);
    script sm = {{{0}}, 0, 0, {PASS, 0.0f}}, stw;
    size_t first = 3 + (size_t)c->two_step;
    for (size_t i = 0; i < 3; i++) sm.acts[sm.n++] = (act){PASS, 0.0f};
    if (c->two_step) sm.rest = sm.acts[sm.n++] = (act){FILL, 3e38f};
    for (size_t i = 0; i < good; i++) sm.acts[sm.n++] = sm.rest;
    stw = sm;
    cr_assert_eq(bsnn_model_set_grad_hook(m, scripted, &sm), BSNN_OK);
    cr_assert_eq(bsnn_model_set_grad_hook(twin, scripted, &stw), BSNN_OK);
    size_t left = first;
    cr_assert_eq(bsnn_model_train(NULL, m, o, s, ds, 9, stop_after, &left), BSNN_OK, "%s: %s",
                 c->name, bsnn_last_error());
    left = first;
    cr_assert_eq(bsnn_model_train(NULL, twin, ot, st, ds, 9, stop_after, &left), BSNN_OK);
    if (c->two_step) cr_assert_gt(stat(m, BSNN_STAT_SNAPSHOTS), 0, "%s: the huge step", c->name);
    arm(&sm, c, kind);
    double lr;
    lr_for_bad_step(o, c, kind, &lr);
    size_t steps = 99;
    uint64_t rejected = stat(m, BSNN_STAT_REJECTED), snaps = stat(m, BSNN_STAT_SNAPSHOTS);
    bsnn_status status = bsnn_model_train(&steps, m, o, s, ds, 9, NULL, NULL);
    cr_assert_eq(status, BSNN_E_DIVERGED, "%s kind %d: %d %s", c->name, kind, status,
                 bsnn_last_error());
    cr_assert_eq(steps, good);
    cr_assert_eq(stat(m, BSNN_STAT_REJECTED), rejected + 1);
    cr_assert_eq(stat(m, BSNN_STAT_SNAPSHOTS) > snaps, kind == 1 || (c->two_step && good),
                 "%s kind %d", c->name, kind);
    cr_assert_eq(stat(m, BSNN_STAT_SNAPSHOT_BYTES) > 0, kind == 1,
                 "%s kind %d: a copy only when the bound cannot prove the update safe", c->name,
                 kind);
    cr_assert_eq(bsnn_optimizer_set(o, BSNN_OPT_LR, lr), BSNN_OK);
    left = good; /* the twin's good updates of that call, at its learning rate */
    double lr_twin;
    lr_for_bad_step(ot, c, kind, &lr_twin);
    if (good)
        cr_assert_eq(bsnn_model_train(NULL, twin, ot, st, ds, 9, stop_after, &left), BSNN_OK);
    cr_assert_eq(bsnn_optimizer_set(ot, BSNN_OPT_LR, lr_twin), BSNN_OK);
    same(snap(m, o, s), snap(twin, ot, st), "the rejected update left a trace", c->name);
    cr_assert_eq(bsnn_model_train(NULL, m, o, s, ds, 2, NULL, NULL), BSNN_OK, "%s: %s", c->name,
                 bsnn_last_error());
    cr_assert_eq(bsnn_model_train(NULL, twin, ot, st, ds, 2, NULL, NULL), BSNN_OK);
    same(snap(m, o, s), snap(twin, ot, st), "training after it differs from the twin's", c->name);
    /* Steps with sane gradients copy nothing; AdaMax's go on at 3e38, which
     * the bound cannot prove safe: each copies the arena and its state. */
    cr_assert_eq(stat(m, BSNN_STAT_SNAPSHOT_BYTES) > 0, c->two_step, "%s", c->name);
    bsnn_scheduler_free(s), bsnn_scheduler_free(st);
    bsnn_optimizer_free(o), bsnn_optimizer_free(ot);
    bsnn_model_free(m), bsnn_model_free(twin);
    bsnn_dataset_free(ds);
}

/* Through bsnn_model_train_step on a fixed batch: the rejected step leaves
 * the checkpoint bytes as they were, and the next steps are a twin's. */
static void step_case(const config *c, int kind)
{
    float x[6 * 3], y[6 * 2];
    for (int i = 0; i < 18; i++) x[i] = (float)((i * 5) % 7) / 3.0f - 1.0f;
    for (int i = 0; i < 12; i++) y[i] = (float)(i % 4) / 3.0f;
    bsnn_tensor *tx = tu_wrap(x, 6, 3), *ty = tu_wrap(y, 6, 2);
    bsnn_model *m = net(), *twin = net();
    bsnn_optimizer *o = optimizer(c), *ot = optimizer(c);
    script sm = {{{0}}, 0, 0, {PASS, 0.0f}}, stw;
    size_t first = 3 + (size_t)c->two_step;
    for (size_t i = 0; i < 3; i++) sm.acts[sm.n++] = (act){PASS, 0.0f};
    if (c->two_step) sm.rest = sm.acts[sm.n++] = (act){FILL, 3e38f};
    stw = sm;
    cr_assert_eq(bsnn_model_set_grad_hook(m, scripted, &sm), BSNN_OK);
    cr_assert_eq(bsnn_model_set_grad_hook(twin, scripted, &stw), BSNN_OK);
    for (size_t i = 0; i < first; i++) {
        cr_assert_eq(bsnn_model_train_step(NULL, m, o, tx, ty), BSNN_OK, "%s: %s", c->name,
                     bsnn_last_error());
        cr_assert_eq(bsnn_model_train_step(NULL, twin, ot, tx, ty), BSNN_OK);
    }
    image before = snap(m, o, NULL);
    arm(&sm, c, kind);
    double lr;
    lr_for_bad_step(o, c, kind, &lr);
    cr_assert_eq(bsnn_model_train_step(NULL, m, o, tx, ty), BSNN_E_DIVERGED, "%s kind %d",
                 c->name, kind);
    cr_assert_eq(stat(m, BSNN_STAT_SNAPSHOT_BYTES) > 0, kind == 1, "%s kind %d", c->name, kind);
    cr_assert_eq(bsnn_optimizer_set(o, BSNN_OPT_LR, lr), BSNN_OK);
    same(before, snap(m, o, NULL), "the rejected step left a trace", c->name);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(bsnn_model_train_step(NULL, m, o, tx, ty), BSNN_OK, "%s kind %d: %s",
                     c->name, kind, bsnn_last_error());
        cr_assert_eq(bsnn_model_train_step(NULL, twin, ot, tx, ty), BSNN_OK);
    }
    same(snap(m, o, NULL), snap(twin, ot, NULL), "steps after it differ from the twin's",
         c->name);
    bsnn_tensor_free(tx), bsnn_tensor_free(ty);
    bsnn_optimizer_free(o), bsnn_optimizer_free(ot);
    bsnn_model_free(m), bsnn_model_free(twin);
}

Test(engine, a_rejected_update_leaves_no_trace_for_every_rule_through_train_step)
{
    for (size_t i = 0; i < N_CONFIGS; i++)
        for (int kind = 0; kind < 2; kind++) step_case(&configs[i], kind);
}

Test(engine, a_rejected_update_leaves_no_trace_for_every_rule_through_train)
{
    for (size_t i = 0; i < N_CONFIGS; i++)
        for (int kind = 0; kind < 2; kind++) {
            train_case(&configs[i], kind, 0, 0); /* the first batch of an epoch */
            train_case(&configs[i], kind, 2, 0); /* the last batch of an epoch */
            train_case(&configs[i], kind, 1, 2); /* mid-epoch, micro-batches of 2 */
        }
}

/* ---- the fused update ---------------------------------------------------------- */

static int pass_through(void *user, float *grads, size_t count, size_t *rows, double *loss_sum)
{
    (void)user, (void)grads, (void)count, (void)rows, (void)loss_sum;
    return 0;
}

/* 5 -> dense 7 (L1 on it: never fused) -> relu -> dense 6 -> batch norm ->
 * tanh -> dense 3 under plain SGD. */
static bsnn_model *fusable(int l1)
{
    bsnn_model *m = bsnn_model_create(5);
    bsnn_layer *d = bsnn_layer_dense(7);
    if (l1) cr_assert_eq(bsnn_layer_set(d, BSNN_LAYER_L1, 1e-3), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, d), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_RELU)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(6)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_batchnorm()), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(3)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_MSE), BSNN_OK);
    cr_assert_eq(bsnn_model_init_params(m, 9), BSNN_OK);
    return m;
}

static double worst_rel(const float *a, const float *b, size_t n)
{
    double w = 0.0;
    for (size_t i = 0; i < n; i++) w = fmax(w, tu_rel(a[i], b[i], 1e-3));
    return w;
}

/* Plain SGD folds into the dense layers' backward pass (W -= lr x^T dy, no
 * gradient stored) where no penalty or hook stops it; the parameters agree
 * with the unfused update's (a hook that passes the gradient through
 * forces that one) to rounding, over 20 steps and batch sizes 2..64; the
 * gradient read afterwards is the unfused one's, also after a forward pass
 * or a larger batch reused the workspace. */
Test(engine, fused_sgd_matches_the_unfused_update_and_keeps_its_gradient)
{
    size_t sizes[] = {3, 7, 17, 64}; /* batch norm over 2 rows amplifies rounding chaotically */
    for (int l1 = 0; l1 < 2; l1++)
        for (size_t k = 0; k < 4; k++) {
            size_t n = sizes[k];
            float *x = malloc(64 * 5 * sizeof(float)), *y = malloc(64 * 3 * sizeof(float));
            for (size_t i = 0; i < 64 * 5; i++) x[i] = (float)((i * 13) % 17) / 8.0f - 1.0f;
            for (size_t i = 0; i < 64 * 3; i++) y[i] = (float)((i * 7) % 5) / 4.0f;
            bsnn_tensor *tx = tu_wrap(x, n, 5), *ty = tu_wrap(y, n, 3);
            bsnn_model *f = fusable(l1), *u = fusable(l1);
            cr_assert_eq(bsnn_model_set_grad_hook(u, pass_through, NULL), BSNN_OK);
            bsnn_optimizer *of = bsnn_optimizer_create(BSNN_SGD);
            bsnn_optimizer *ou = bsnn_optimizer_create(BSNN_SGD);
            for (int s = 0; s < 20; s++) {
                cr_assert_eq(bsnn_model_train_step(NULL, f, of, tx, ty), BSNN_OK);
                cr_assert_eq(bsnn_model_train_step(NULL, u, ou, tx, ty), BSNN_OK);
            }
            cr_assert(f->layers[5]->fused && f->layers[2]->fused, "batch %zu: dense layers fused", n);
            cr_assert_eq(f->layers[0]->fused, !l1, "a penalised layer never fuses");
            cr_assert(!u->layers[5]->fused, "a hook stops fusion");
            size_t np = bsnn_model_param_count(f);
            float pf[256], pu[256], gf[256], gu[256], g2[256];
            bsnn_model_get_params(pf, np, f), bsnn_model_get_params(pu, np, u);
            cr_assert_lt(worst_rel(pf, pu, np), 1e-4, "batch %zu: parameters differ by %g", n,
                         worst_rel(pf, pu, np));
            bsnn_model_get_grads(gf, np, f), bsnn_model_get_grads(gu, np, u);
            cr_assert_lt(worst_rel(gf, gu, np), 1e-3, "batch %zu: gradients differ by %g", n,
                         worst_rel(gf, gu, np));
            float out[64 * 3];
            bsnn_tensor *to = tu_wrap(out, n, 3);
            cr_assert_eq(bsnn_model_forward(to, f, tx), BSNN_OK); /* overwrites its x */
            bsnn_model_get_grads(g2, np, f);
            cr_assert(memcmp(gf, g2, np * sizeof(float)) == 0, "the gradient moved with a forward");
            bsnn_tensor *tbig = tu_wrap(x, 64, 5), *tbo = tu_wrap(out, 64, 3);
            cr_assert_eq(bsnn_model_train_step(NULL, f, of, tx, ty), BSNN_OK);
            bsnn_model_get_grads(gf, np, f);
            cr_assert_eq(bsnn_model_forward(tbo, f, tbig), BSNN_OK); /* a larger workspace */
            bsnn_model_get_grads(g2, np, f);
            cr_assert(memcmp(gf, g2, np * sizeof(float)) == 0, "the gradient moved with a reserve");
            bsnn_tensor_free(to), bsnn_tensor_free(tbig), bsnn_tensor_free(tbo);
            bsnn_tensor_free(tx), bsnn_tensor_free(ty);
            bsnn_optimizer_free(of), bsnn_optimizer_free(ou);
            bsnn_model_free(f), bsnn_model_free(u);
            free(x), free(y);
        }
}

/* A fused update that cannot be proven safe (inputs of 1e30 make the
 * gradient overflow) takes the general path, which rejects it: nothing
 * changed. */
Test(engine, an_unprovable_fused_update_falls_back_and_is_rejected_exactly)
{
    bsnn_model *m = tu_mlp(5, 7, BSNN_ACT_LINEAR, 3, BSNN_ACT_LINEAR, 4); /* nothing saturates */
    bsnn_optimizer *o = bsnn_optimizer_create(BSNN_SGD);
    float x[4 * 5], y[4 * 3] = {0};
    for (int i = 0; i < 20; i++) x[i] = (float)(i % 3) - 1.0f;
    bsnn_tensor *tx = tu_wrap(x, 4, 5), *ty = tu_wrap(y, 4, 3);
    cr_assert_eq(bsnn_model_train_step(NULL, m, o, tx, ty), BSNN_OK);
    image before = snap(m, o, NULL);
    cr_assert(m->layers[0]->fused && m->layers[2]->fused);
    for (int i = 0; i < 20; i++) x[i] *= 1e30f;
    cr_assert_eq(bsnn_model_train_step(NULL, m, o, tx, ty), BSNN_E_DIVERGED, "%s", bsnn_last_error());
    same(before, snap(m, o, NULL), "the rejected fused update left a trace", "sgd");
    bsnn_tensor_free(tx), bsnn_tensor_free(ty);
    bsnn_optimizer_free(o);
    bsnn_model_free(m);
}

/* ---- no copies in the common case ------------------------------------------- */

/* Every rule at its defaults, 30 updates of a batch-norm and dropout net on
 * sane data: the safety bound proves every update, nothing is copied. */
Test(engine, clean_training_copies_nothing_for_every_rule)
{
    bsnn_dataset *ds = data();
    for (size_t i = 0; i < N_CONFIGS; i++) {
        const config *c = &configs[i];
        if (c->two_step) continue; /* beta2 0 is no default */
        bsnn_model *m = net();
        bsnn_optimizer *o = optimizer(c);
        bsnn_scheduler *s = scheduler(0);
        cr_assert_eq(bsnn_model_train(NULL, m, o, s, ds, 10, NULL, NULL), BSNN_OK);
        cr_assert_eq(stat(m, BSNN_STAT_UPDATES), 30);
        cr_assert_eq(stat(m, BSNN_STAT_SNAPSHOT_BYTES_TOTAL), 0, "%s copied %llu bytes", c->name,
                     (unsigned long long)stat(m, BSNN_STAT_SNAPSHOT_BYTES_TOTAL));
        cr_assert_eq(stat(m, BSNN_STAT_SNAPSHOTS), 0);
        cr_assert_eq(stat(m, BSNN_STAT_REJECTED), 0);
        bsnn_scheduler_free(s);
        bsnn_optimizer_free(o);
        bsnn_model_free(m);
    }
    bsnn_optimizer *adamax = bsnn_optimizer_create(BSNN_ADAMAX);
    bsnn_model *m = net();
    bsnn_scheduler *s = scheduler(0);
    cr_assert_eq(bsnn_model_train(NULL, m, adamax, s, ds, 10, NULL, NULL), BSNN_OK);
    cr_assert_eq(stat(m, BSNN_STAT_SNAPSHOT_BYTES_TOTAL), 0, "adamax at its defaults");
    uint64_t v;
    cr_assert_eq(bsnn_model_stat(&v, m, (bsnn_stat)0), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_stat(&v, m, (bsnn_stat)6), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_stat(NULL, m, BSNN_STAT_UPDATES), BSNN_E_NULL);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(adamax);
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
}

/* ---- every thread count gives the same bits -------------------------------- */

/* 3 -> dense 16 -> layer norm -> relu -> dropout -> dense 16 -> batch norm
 * -> elu -> dense 4 (softmax CE on class indices), 64 rows in batches of
 * 24 with micro-batches of 10: every pass kind and chunked reduction. */
static bsnn_model *mixed(void)
{
    bsnn_model *m = bsnn_model_create(3);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(16)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_layernorm()), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_RELU)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dropout(0.3)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(16)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_batchnorm()), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_ELU)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(4)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_SOFTMAX_CE), BSNN_OK);
    cr_assert_eq(bsnn_model_init_params(m, 21), BSNN_OK);
    return m;
}

Test(engine, every_thread_count_gives_the_same_bits)
{
    enum { N = 64 };
    float x[N * 3], y[N];
    for (int i = 0; i < N * 3; i++) x[i] = (float)((i * 37) % 19) / 9.0f - 1.0f;
    for (int i = 0; i < N; i++) y[i] = (float)(i % 4);
    bsnn_dataset *ds = bsnn_dataset_create(x, y, N, 3, 1);
    for (size_t i = 0; i < N_CONFIGS; i++) {
        const config *c = &configs[i];
        if (c->two_step) continue;
        image first = {NULL, 0};
        for (int threads = 1; threads <= 4; threads++) {
            cr_assert_eq(bsnn_set_num_threads(threads), BSNN_OK);
            bsnn_model *m = mixed();
            bsnn_optimizer *o = optimizer(c);
            bsnn_scheduler *s = bsnn_scheduler_create(N);
            cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 24), BSNN_OK);
            cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_MICRO_BATCH, 10), BSNN_OK);
            cr_assert_eq(bsnn_model_train(NULL, m, o, s, ds, 3, NULL, NULL), BSNN_OK, "%s: %s",
                         c->name, bsnn_last_error());
            image now = snap(m, o, s);
            if (threads == 1)
                first = now;
            else {
                cr_assert(now.size == first.size && memcmp(now.bytes, first.bytes, now.size) == 0,
                          "%s: %d threads differ from 1", c->name, threads);
                bsnn_buffer_free(now.bytes);
            }
            bsnn_scheduler_free(s);
            bsnn_optimizer_free(o);
            bsnn_model_free(m);
        }
        bsnn_buffer_free(first.bytes);
    }
    cr_assert_eq(bsnn_set_num_threads(1), BSNN_OK);
    bsnn_dataset_free(ds);
}

/* ---- the plan ----------------------------------------------------------------- */

/* The plan is made once and reused while its key holds; a penalty, a hook,
 * another rule or another number of rows per pass makes a new one. */
Test(engine, the_plan_is_reused_until_what_it_depends_on_changes)
{
    bsnn_model *m = fusable(0);
    bsnn_optimizer *o = bsnn_optimizer_create(BSNN_SGD);
    float x[8 * 5], y[8 * 3];
    for (int i = 0; i < 40; i++) x[i] = (float)(i % 5) / 2.0f - 1.0f;
    for (int i = 0; i < 24; i++) y[i] = (float)(i % 2);
    bsnn_tensor *tx = tu_wrap(x, 8, 5), *ty = tu_wrap(y, 8, 3), *t4 = tu_wrap(x, 4, 5);
    bsnn_tensor *y4 = tu_wrap(y, 4, 3);
    cr_assert_eq(bsnn_model_train_step(NULL, m, o, tx, ty), BSNN_OK);
    uint64_t stamp = o->plan.stamp;
    for (int i = 0; i < 5; i++) cr_assert_eq(bsnn_model_train_step(NULL, m, o, tx, ty), BSNN_OK);
    cr_assert_eq(o->plan.stamp, stamp, "remade with nothing changed");
    cr_assert(o->plan.fused && m->layers[0]->fused);
    cr_assert_eq(bsnn_model_train_step(NULL, m, o, t4, y4), BSNN_OK);
    cr_assert_neq(o->plan.stamp, stamp, "4 rows per pass: a new plan");
    stamp = o->plan.stamp;
    cr_assert_eq(bsnn_layer_set(bsnn_model_layer(m, 0), BSNN_LAYER_L2, 0.01), BSNN_OK);
    cr_assert_eq(bsnn_model_train_step(NULL, m, o, t4, y4), BSNN_OK);
    cr_assert_neq(o->plan.stamp, stamp);
    cr_assert(!m->layers[0]->fused && m->layers[2]->fused, "the penalised layer left the fusion");
    cr_assert_eq(bsnn_model_set_grad_hook(m, pass_through, NULL), BSNN_OK);
    cr_assert_eq(bsnn_model_train_step(NULL, m, o, t4, y4), BSNN_OK);
    cr_assert(!o->plan.fused && !m->layers[2]->fused, "a hook needs the gradient");
    bsnn_optimizer *adam = bsnn_optimizer_create(BSNN_ADAM);
    bsnn_model *m2 = fusable(0);
    cr_assert_eq(bsnn_model_train_step(NULL, m2, adam, t4, y4), BSNN_OK);
    cr_assert(!adam->plan.can_fuse && !m2->layers[2]->fused, "Adam is not linear in g");
    bsnn_tensor_free(tx), bsnn_tensor_free(ty), bsnn_tensor_free(t4), bsnn_tensor_free(y4);
    bsnn_optimizer_free(o), bsnn_optimizer_free(adam);
    bsnn_model_free(m), bsnn_model_free(m2);
}

/* ---- gradient statistics (the noise-scale work builds on them) ------------ */

typedef struct stat_check {
    bsnn_model *m;
    const float *x, *t;
    size_t calls;
    double worst;
} stat_check;

/* Inside the hook (the update's passes are done, the update is not):
 * the engine's statistics against the per-sample gradients of the linear
 * model 3 -> 2 under MSE, computed here in double from its parameters, for
 * batch (calls % 2) of 8 unshuffled rows in passes of 3, 3 and 2. */
static int check_stats(void *user, float *grads, size_t count, size_t *rows, double *loss_sum)
{
    (void)grads, (void)rows, (void)loss_sum;
    stat_check *c = user;
    float p[8];
    cr_assert_eq(bsnn_model_get_params(p, count, c->m), BSNN_OK);
    const float *x = c->x + (c->calls % 2) * 8 * 3, *t = c->t + (c->calls % 2) * 8 * 2;
    c->calls++;
    double mean[8] = {0}, micro[8] = {0}, sample_sq = 0, micro_sq = 0, micro_wsq = 0;
    size_t starts[4] = {0, 3, 6, 8};
    for (int j = 0; j < 3; j++) {
        memset(micro, 0, sizeof micro);
        for (size_t r = starts[j]; r < starts[j + 1]; r++) {
            double g[8], sq = 0;
            for (size_t o = 0; o < 2; o++) {
                double y = p[6 + o];
                for (size_t i = 0; i < 3; i++) y += (double)x[r * 3 + i] * p[i * 2 + o];
                double d = y - t[r * 2 + o];
                for (size_t i = 0; i < 3; i++) g[i * 2 + o] = x[r * 3 + i] * d;
                g[6 + o] = d;
            }
            for (size_t k = 0; k < 8; k++) {
                sq += g[k] * g[k];
                micro[k] += g[k];
                mean[k] += g[k] / 8.0;
            }
            sample_sq += sq;
        }
        double b = (double)(starts[j + 1] - starts[j]), s = 0;
        for (size_t k = 0; k < 8; k++) s += (micro[k] / b) * (micro[k] / b);
        micro_sq += s;
        micro_wsq += b * s;
    }
    double batch_sq = 0;
    for (size_t k = 0; k < 8; k++) batch_sq += mean[k] * mean[k];
    const bsnn__grad_stats *st = bsnn__model_stats(c->m);
    cr_assert_eq(st->passes, 3);
    cr_assert_eq(st->rows, 8);
    cr_assert(st->sample_complete);
    c->worst = fmax(c->worst, tu_rel(st->micro_sq_sum, micro_sq, 1e-9));
    c->worst = fmax(c->worst, tu_rel(st->micro_sq_wsum, micro_wsq, 1e-9));
    c->worst = fmax(c->worst, tu_rel(st->batch_sq, batch_sq, 1e-9));
    c->worst = fmax(c->worst, tu_rel(st->sample_sq_sum, sample_sq, 1e-9));
    return 0;
}

/* Per update: the squared norms of every micro-batch's mean gradient (and
 * weighted by its rows), of the batch's, and the sum of the per-sample
 * gradients' squared norms, as the test computes them from the samples. */
Test(engine, gradient_statistics_match_the_per_sample_gradients)
{
    float x[16 * 3], t[16 * 2];
    for (int i = 0; i < 48; i++) x[i] = (float)((i * 11) % 7) / 3.0f - 1.0f;
    for (int i = 0; i < 32; i++) t[i] = (float)((i * 3) % 5) / 4.0f;
    bsnn_dataset *ds = bsnn_dataset_create(x, t, 16, 3, 2);
    bsnn_model *m = bsnn_model_create(3);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(2)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_MSE), BSNN_OK);
    cr_assert_eq(bsnn__model_set_stats(m, BSNN__STATS_MICRO | BSNN__STATS_SAMPLE), BSNN_OK);
    bsnn_optimizer *o = bsnn_optimizer_create(BSNN_SGD);
    bsnn_scheduler *s = bsnn_scheduler_create(16);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 8), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_SHUFFLE, 0), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_MICRO_BATCH, 3), BSNN_OK);
    stat_check c = {m, x, t, 0, 0.0};
    cr_assert_eq(bsnn_model_set_grad_hook(m, check_stats, &c), BSNN_OK);
    cr_assert_eq(bsnn_model_train(NULL, m, o, s, ds, 3, NULL, NULL), BSNN_OK, "%s",
                 bsnn_last_error());
    cr_assert_eq(c.calls, 6);
    cr_assert_lt(c.worst, 1e-5, "statistics off by %g", c.worst);
    /* Off: nothing measured. */
    cr_assert_eq(bsnn__model_set_stats(m, 0), BSNN_OK);
    cr_assert_eq(bsnn_model_set_grad_hook(m, NULL, NULL), BSNN_OK);
    cr_assert_eq(bsnn_model_train(NULL, m, o, s, ds, 1, NULL, NULL), BSNN_OK);
    cr_assert_eq(bsnn__model_stats(m)->micro_sq_sum, 0.0);
    cr_assert_eq(bsnn__model_stats(m)->sample_sq_sum, 0.0);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(o);
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
}

/* A step whose bound fails needs its snapshot buffer: when that allocation
 * fails, the step is refused with BSNN_E_NOMEM and nothing changed; once
 * the buffer exists, later such steps allocate nothing. */
Test(engine, no_memory_for_the_snapshot_changes_nothing)
{
    tu_count_allocations(0);
    bsnn_model *m = net();
    bsnn_optimizer *o = optimizer(&configs[10]); /* adam */
    float x[6 * 3], y[6 * 2];
    for (int i = 0; i < 18; i++) x[i] = (float)(i % 5) / 2.0f - 1.0f;
    for (int i = 0; i < 12; i++) y[i] = (float)(i % 3) / 2.0f;
    bsnn_tensor *tx = tu_wrap(x, 6, 3), *ty = tu_wrap(y, 6, 2);
    script sm = {{{PASS, 0.0f}, {FILL, 1e17f}, {FILL, 1e17f}, {FILL, 1e17f}}, 4, 0, {PASS, 0.0f}};
    cr_assert_eq(bsnn_model_set_grad_hook(m, scripted, &sm), BSNN_OK);
    cr_assert_eq(bsnn_model_train_step(NULL, m, o, tx, ty), BSNN_OK);
    image before = snap(m, o, NULL);
    tu_stats.fail_at = tu_stats.allocs + 1; /* g = 1e17: g^2 beyond the bound, v stays finite */
    cr_assert_eq(bsnn_model_train_step(NULL, m, o, tx, ty), BSNN_E_NOMEM);
    cr_assert(strstr(bsnn_last_error(), "snapshot"), "%s", bsnn_last_error());
    tu_stats.fail_at = 0;
    same(before, snap(m, o, NULL), "a refused snapshot left a trace", "adam");
    cr_assert_eq(bsnn_model_train_step(NULL, m, o, tx, ty), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_gt(stat(m, BSNN_STAT_SNAPSHOT_BYTES), 0);
    size_t allocs = tu_stats.allocs;
    cr_assert_eq(bsnn_model_train_step(NULL, m, o, tx, ty), BSNN_OK);
    cr_assert_eq(tu_stats.allocs, allocs, "a second snapshot allocated");
    bsnn_tensor_free(tx), bsnn_tensor_free(ty);
    size_t bytes; /* now only the model and the optimizer are alive */
    cr_assert_eq(bsnn_model_memory(&bytes, m, o, 6), BSNN_OK);
    cr_assert_eq(bytes, tu_stats.live_bytes, "the estimate counts the snapshot buffer");
    bsnn_optimizer_free(o);
    bsnn_model_free(m);
    tu_restore_allocator();
}
