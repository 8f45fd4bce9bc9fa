/*
 * make_files.c - writes the model and checkpoint files of tests/data/v0.2.0
 * with bsnn 0.2.0 (commit 07b26f0) and, in expected.txt, what 0.2.0 itself
 * computes from them after loading them back: predictions on stored rows,
 * parameters after resuming training (the rules whose formulas 0.3 kept:
 * SGD and Adam), and the scheduler's next batches and learning rates.
 * tests/test_compat.c loads the same files with the current bsnn and checks
 * it computes the same. Built against 0.2.0 only (see README); not part of
 * the build.
 */
#include <bsnn.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static FILE *out;

static void check(bsnn_status st, const char *what)
{
    if (st != BSNN_OK) {
        fprintf(stderr, "make_files: %s: %s\n", what, bsnn_last_error());
        exit(1);
    }
}

/* A deterministic value in [-a, a] (an LCG, so the test need not share it:
 * every row used is stored in expected.txt). */
static float lcg(unsigned *st, float a)
{
    *st = *st * 1103515245u + 12345u;
    return a * ((float)((*st >> 8) % 20001) / 10000.0f - 1.0f);
}

static void put_floats(const char *key, const float *v, size_t rows, size_t cols)
{
    fprintf(out, "%s %zu %zu", key, rows, cols);
    for (size_t i = 0; i < rows * cols; i++) fprintf(out, " %.9g", (double)v[i]);
    fprintf(out, "\n");
}

/* Predictions of m on rows x (rows x n_in) into expected.txt. */
static void predictions(bsnn_model *m, const float *x, size_t rows)
{
    size_t ni = bsnn_model_n_inputs(m), no = bsnn_model_n_outputs(m);
    size_t sx[2] = {rows, ni}, so[2] = {rows, no};
    bsnn_tensor *tx = bsnn_tensor_create(2, sx), *to = bsnn_tensor_create(2, so);
    check(bsnn_tensor_copy_in(tx, x, rows * ni), "copy in");
    check(bsnn_model_forward(to, m, tx), "forward");
    float *y = malloc(rows * no * sizeof *y);
    check(bsnn_tensor_copy_out(y, rows * no, to), "copy out");
    put_floats("x", x, rows, ni);
    put_floats("y", y, rows, no);
    free(y);
    bsnn_tensor_free(tx);
    bsnn_tensor_free(to);
}

static void put_params(const char *key, const bsnn_model *m)
{
    size_t n = bsnn_model_param_count(m);
    float *p = malloc(n * sizeof *p);
    check(bsnn_model_get_params(p, n, m), "get params");
    put_floats(key, p, 1, n);
    free(p);
}

static bsnn_dataset *dataset(size_t n, size_t ni, size_t no, unsigned seed, int classes)
{
    float *x = malloc(n * ni * sizeof *x), *y = malloc(n * no * sizeof *y);
    unsigned st = seed;
    for (size_t i = 0; i < n * ni; i++) x[i] = lcg(&st, 2.0f);
    for (size_t r = 0; r < n; r++)
        for (size_t j = 0; j < no; j++)
            y[r * no + j] = classes ? (float)((r * 7 + j) % (size_t)classes)
                                    : (x[r * ni] > 0.0f ? 0.8f : 0.2f);
    bsnn_dataset *ds = bsnn_dataset_create(x, y, n, ni, no);
    if (ds == NULL) check(BSNN_E_NOMEM, "dataset");
    put_floats("train_x", x, n, ni);
    put_floats("train_y", y, n, no);
    free(x);
    free(y);
    return ds;
}

static void add(bsnn_model *m, bsnn_layer *l, const char *what)
{
    if (l == NULL) check(BSNN_E_NOMEM, what);
    check(bsnn_model_add(m, l), what);
}

static void rows(float *x, size_t n, size_t ni, unsigned seed)
{
    unsigned st = seed;
    for (size_t i = 0; i < n * ni; i++) x[i] = lcg(&st, 2.5f);
}

static int stop_after(void *user, bsnn_event ev, size_t epoch, size_t step, size_t batch,
                      double loss)
{
    (void)epoch, (void)batch, (void)loss;
    return ev == BSNN_EVENT_STEP && step >= *(size_t *)user;
}

/* A: dense (He uniform, bias 0.1, L2) -> leaky relu (0.2) -> dense (LeCun
 * normal) -> elu (0.5) -> dense 1, BCE from logits, trained with SGD. */
static void file_dense(void)
{
    fprintf(out, "file model_dense.bsnn\n");
    bsnn_dataset *ds = dataset(16, 4, 1, 1, 0);
    bsnn_model *m = bsnn_model_create(4);
    check(bsnn_model_set(m, BSNN_MODEL_INIT, BSNN_INIT_GLOROT_NORMAL), "init");
    check(bsnn_model_set(m, BSNN_MODEL_THRESHOLD, 0.4), "threshold");
    bsnn_layer *d = bsnn_layer_dense(6);
    check(bsnn_layer_set(d, BSNN_LAYER_INIT, BSNN_INIT_HE_UNIFORM), "he");
    check(bsnn_layer_set(d, BSNN_LAYER_BIAS_INIT, 0.1), "bias");
    check(bsnn_layer_set(d, BSNN_LAYER_L2, 1e-3), "l2");
    add(m, d, "dense");
    bsnn_layer *a = bsnn_layer_activation(BSNN_ACT_LEAKY_RELU);
    check(bsnn_layer_set(a, BSNN_LAYER_SLOPE, 0.2), "slope");
    add(m, a, "leaky");
    bsnn_layer *d2 = bsnn_layer_dense(3);
    check(bsnn_layer_set(d2, BSNN_LAYER_INIT, BSNN_INIT_LECUN_NORMAL), "lecun");
    add(m, d2, "dense2");
    bsnn_layer *e = bsnn_layer_activation(BSNN_ACT_ELU);
    check(bsnn_layer_set(e, BSNN_LAYER_SLOPE, 0.5), "alpha");
    add(m, e, "elu");
    add(m, bsnn_layer_dense(1), "dense3");
    check(bsnn_model_set_loss(m, BSNN_LOSS_BCE_LOGITS), "loss");
    check(bsnn_model_init_params(m, 11), "seed");
    bsnn_optimizer *o = bsnn_optimizer_create(BSNN_SGD);
    bsnn_scheduler *s = bsnn_scheduler_create(16);
    check(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 4), "batch");
    check(bsnn_model_train(NULL, m, o, s, ds, 3, NULL, NULL), "train");
    check(bsnn_model_save(m, "model_dense.bsnn"), "save");
    bsnn_model *back = NULL;
    check(bsnn_model_load(&back, "model_dense.bsnn"), "load");
    float x[8 * 4];
    rows(x, 8, 4, 2);
    predictions(back, x, 8);
    double loss, acc;
    check(bsnn_model_evaluate(&loss, &acc, back, ds, 16), "evaluate");
    fprintf(out, "evaluate %.17g %.17g\n", loss, acc);
    bsnn_model_free(back);
    bsnn_model_free(m);
    bsnn_optimizer_free(o);
    bsnn_scheduler_free(s);
    bsnn_dataset_free(ds);
}

/* B: dense -> batch norm (0.25, 1e-3) -> tanh -> dropout (0.3, seed 42) ->
 * dense 3, softmax cross-entropy on class indices, Adam; saved in
 * evaluation mode after training. */
static void file_bn(void)
{
    fprintf(out, "file model_bn_dropout.bsnn\n");
    bsnn_dataset *ds = dataset(24, 3, 1, 3, 3);
    bsnn_model *m = bsnn_model_create(3);
    add(m, bsnn_layer_dense(5), "dense");
    bsnn_layer *bn = bsnn_layer_batchnorm();
    check(bsnn_layer_set(bn, BSNN_LAYER_MOMENTUM, 0.25), "momentum");
    check(bsnn_layer_set(bn, BSNN_LAYER_EPS, 1e-3), "eps");
    add(m, bn, "bn");
    add(m, bsnn_layer_activation(BSNN_ACT_TANH), "tanh");
    bsnn_layer *dr = bsnn_layer_dropout(0.3);
    check(bsnn_layer_set(dr, BSNN_LAYER_SEED, 42), "dropout seed");
    add(m, dr, "dropout");
    add(m, bsnn_layer_dense(3), "dense2");
    check(bsnn_model_set_loss(m, BSNN_LOSS_SOFTMAX_CE), "loss");
    check(bsnn_model_init_params(m, 5), "seed");
    bsnn_optimizer *o = bsnn_optimizer_create(BSNN_ADAM);
    check(bsnn_optimizer_set(o, BSNN_OPT_LR, 0.01), "lr");
    bsnn_scheduler *s = bsnn_scheduler_create(24);
    check(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 6), "batch");
    check(bsnn_model_train(NULL, m, o, s, ds, 4, NULL, NULL), "train");
    check(bsnn_model_set_training(m, 0), "eval mode");
    check(bsnn_model_save(m, "model_bn_dropout.bsnn"), "save");
    bsnn_model *back = NULL;
    check(bsnn_model_load(&back, "model_bn_dropout.bsnn"), "load");
    float x[8 * 3];
    rows(x, 8, 3, 4);
    predictions(back, x, 8);
    bsnn_model_free(back);
    bsnn_model_free(m);
    bsnn_optimizer_free(o);
    bsnn_scheduler_free(s);
    bsnn_dataset_free(ds);
}

/* C: a checkpoint in the middle of an epoch: Adam (beta2 0.99), a shuffled
 * carry-over scheduler with a cosine lr, warmup, sqrt scaling, micro-batches
 * and a memory budget, dropout in the model. Resumed for two epochs. */
static void file_adam_mid(void)
{
    fprintf(out, "file checkpoint_adam_mid.ckpt\n");
    bsnn_dataset *ds = dataset(20, 2, 1, 5, 0);
    bsnn_model *m = bsnn_model_create(2);
    add(m, bsnn_layer_dense(4), "dense");
    add(m, bsnn_layer_activation(BSNN_ACT_SIGMOID), "sigmoid");
    bsnn_layer *dr = bsnn_layer_dropout(0.2);
    check(bsnn_layer_set(dr, BSNN_LAYER_SEED, 9), "dropout seed");
    add(m, dr, "dropout");
    add(m, bsnn_layer_dense(1), "dense2");
    check(bsnn_model_set_loss(m, BSNN_LOSS_MSE), "loss");
    check(bsnn_model_init_params(m, 7), "seed");
    bsnn_optimizer *o = bsnn_optimizer_create(BSNN_ADAM);
    check(bsnn_optimizer_set(o, BSNN_OPT_BETA2, 0.99), "beta2");
    check(bsnn_optimizer_set(o, BSNN_OPT_LR, 0.02), "lr");
    bsnn_scheduler *s = bsnn_scheduler_create(20);
    const struct {
        bsnn_sched_param p;
        double v;
    } set[] = {{BSNN_SCHED_BATCH_SIZE, 3},   {BSNN_SCHED_SEED, 7},
               {BSNN_SCHED_CARRY_OVER, 1},   {BSNN_SCHED_LR_SCHEDULE, BSNN_LR_COSINE},
               {BSNN_SCHED_LR_STEP_EPOCHS, 5}, {BSNN_SCHED_LR_MIN_FACTOR, 0.1},
               {BSNN_SCHED_WARMUP_STEPS, 4}, {BSNN_SCHED_LR_SCALING, BSNN_SCALE_SQRT},
               {BSNN_SCHED_BASE_BATCH, 6},   {BSNN_SCHED_MICRO_BATCH, 2},
               {BSNN_SCHED_MEMORY_BUDGET, 1e9}};
    for (size_t i = 0; i < sizeof set / sizeof set[0]; i++) check(bsnn_scheduler_set(s, set[i].p, set[i].v), "sched");
    check(bsnn_model_train(NULL, m, o, s, ds, 2, NULL, NULL), "train");
    size_t stop = 3;
    check(bsnn_model_train(NULL, m, o, s, ds, 1, stop_after, &stop), "train part");
    check(bsnn_checkpoint_save(m, o, s, "checkpoint_adam_mid.ckpt"), "save");
    bsnn_model *bm = NULL;
    bsnn_optimizer *bo = NULL;
    bsnn_scheduler *bs = NULL;
    check(bsnn_checkpoint_load(&bm, &bo, &bs, "checkpoint_adam_mid.ckpt"), "load");
    fprintf(out, "position %zu %zu %zu\n", bsnn_scheduler_epoch(bs), bsnn_scheduler_step(bs),
            bsnn_scheduler_total_steps(bs));
    float x[6 * 2];
    rows(x, 6, 2, 6);
    predictions(bm, x, 6);
    check(bsnn_model_train(NULL, bm, bo, bs, ds, 2, NULL, NULL), "resume");
    put_params("resumed", bm);
    bsnn_model_free(bm), bsnn_optimizer_free(bo), bsnn_scheduler_free(bs);
    bsnn_model_free(m), bsnn_optimizer_free(o), bsnn_scheduler_free(s);
    bsnn_dataset_free(ds);
}

/* D: at an epoch boundary: plain SGD, a stepped batch-size list, drop-last,
 * step lr decay, a dense layer with a uniform initialiser. Resumed for three
 * epochs. */
static void file_sgd_steps(void)
{
    fprintf(out, "file checkpoint_sgd_steps.ckpt\n");
    bsnn_dataset *ds = dataset(30, 3, 2, 8, 0);
    bsnn_model *m = bsnn_model_create(3);
    bsnn_layer *d = bsnn_layer_dense(5);
    check(bsnn_layer_set(d, BSNN_LAYER_INIT, BSNN_INIT_UNIFORM), "uniform");
    check(bsnn_layer_set(d, BSNN_LAYER_INIT_LO, -0.3), "lo");
    check(bsnn_layer_set(d, BSNN_LAYER_INIT_HI, 0.3), "hi");
    check(bsnn_layer_set(d, BSNN_LAYER_L1, 1e-3), "l1");
    add(m, d, "dense");
    add(m, bsnn_layer_activation(BSNN_ACT_RELU), "relu");
    add(m, bsnn_layer_dense(2), "dense2");
    check(bsnn_model_set_loss(m, BSNN_LOSS_MSE), "loss");
    check(bsnn_model_init_params(m, 3), "seed");
    bsnn_optimizer *o = bsnn_optimizer_create(BSNN_SGD);
    check(bsnn_optimizer_set(o, BSNN_OPT_LR, 0.05), "lr");
    bsnn_scheduler *s = bsnn_scheduler_create(30);
    const size_t ep[2] = {1, 3}, sz[2] = {4, 8};
    check(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 2), "batch");
    check(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SCHEDULE, BSNN_BATCH_STEPS), "schedule");
    check(bsnn_scheduler_set_batch_steps(s, ep, sz, 2), "steps");
    check(bsnn_scheduler_set(s, BSNN_SCHED_DROP_LAST, 1), "drop last");
    check(bsnn_scheduler_set(s, BSNN_SCHED_LR_SCHEDULE, BSNN_LR_STEP), "lr step");
    check(bsnn_scheduler_set(s, BSNN_SCHED_LR_DECAY, 0.5), "decay");
    check(bsnn_scheduler_set(s, BSNN_SCHED_LR_STEP_EPOCHS, 2), "every");
    check(bsnn_scheduler_set(s, BSNN_SCHED_SEED, 123), "seed");
    check(bsnn_model_train(NULL, m, o, s, ds, 2, NULL, NULL), "train");
    check(bsnn_checkpoint_save(m, o, s, "checkpoint_sgd_steps.ckpt"), "save");
    bsnn_model *bm = NULL;
    bsnn_optimizer *bo = NULL;
    bsnn_scheduler *bs = NULL;
    check(bsnn_checkpoint_load(&bm, &bo, &bs, "checkpoint_sgd_steps.ckpt"), "load");
    fprintf(out, "position %zu %zu %zu\n", bsnn_scheduler_epoch(bs), bsnn_scheduler_step(bs),
            bsnn_scheduler_total_steps(bs));
    float x[5 * 3];
    rows(x, 5, 3, 9);
    predictions(bm, x, 5);
    check(bsnn_model_train(NULL, bm, bo, bs, ds, 3, NULL, NULL), "resume");
    put_params("resumed", bm);
    bsnn_model_free(bm), bsnn_optimizer_free(bo), bsnn_scheduler_free(bs);
    bsnn_model_free(m), bsnn_optimizer_free(o), bsnn_scheduler_free(s);
    bsnn_dataset_free(ds);
}

/* E: Nesterov (momentum 0.8) with a geometric batch schedule and an
 * exponential lr, mid-epoch. 0.3 computes Nesterov in PyTorch's form, so
 * the expected values are the loaded state: predictions, the settings and
 * the scheduler's next batches and their learning rates. */
static void file_nesterov(void)
{
    fprintf(out, "file checkpoint_nesterov.ckpt\n");
    bsnn_dataset *ds = dataset(16, 4, 1, 11, 0);
    bsnn_model *m = bsnn_model_create(4);
    add(m, bsnn_layer_dense(3), "dense");
    add(m, bsnn_layer_activation(BSNN_ACT_TANH), "tanh");
    add(m, bsnn_layer_dense(1), "dense2");
    check(bsnn_model_set_loss(m, BSNN_LOSS_MSE), "loss");
    bsnn_optimizer *o = bsnn_optimizer_create(BSNN_NESTEROV);
    check(bsnn_optimizer_set(o, BSNN_OPT_MOMENTUM, 0.8), "momentum");
    check(bsnn_optimizer_set(o, BSNN_OPT_LR, 0.03), "lr");
    bsnn_scheduler *s = bsnn_scheduler_create(16);
    check(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 2), "batch");
    check(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SCHEDULE, BSNN_BATCH_GEOMETRIC), "geometric");
    check(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_CAP, 8), "cap");
    check(bsnn_scheduler_set(s, BSNN_SCHED_LR_SCHEDULE, BSNN_LR_EXPONENTIAL), "exp");
    check(bsnn_scheduler_set(s, BSNN_SCHED_LR_DECAY, 0.9), "decay");
    check(bsnn_model_train(NULL, m, o, s, ds, 1, NULL, NULL), "train");
    size_t stop = 2;
    check(bsnn_model_train(NULL, m, o, s, ds, 1, stop_after, &stop), "train part");
    check(bsnn_checkpoint_save(m, o, s, "checkpoint_nesterov.ckpt"), "save");
    bsnn_model *bm = NULL;
    bsnn_optimizer *bo = NULL;
    bsnn_scheduler *bs = NULL;
    check(bsnn_checkpoint_load(&bm, &bo, &bs, "checkpoint_nesterov.ckpt"), "load");
    float x[4 * 4];
    rows(x, 4, 4, 12);
    predictions(bm, x, 4);
    double mom, lr;
    check(bsnn_optimizer_get(&mom, bo, BSNN_OPT_MOMENTUM), "get");
    check(bsnn_optimizer_get(&lr, bo, BSNN_OPT_LR), "get");
    fprintf(out, "optimizer %d %.17g %.17g\n", bsnn_optimizer_kind_of(bo), mom, lr);
    fprintf(out, "position %zu %zu %zu\n", bsnn_scheduler_epoch(bs), bsnn_scheduler_step(bs),
            bsnn_scheduler_total_steps(bs));
    for (int b = 0; b < 6; b++) {
        const size_t *idx;
        size_t n;
        int end;
        check(bsnn_scheduler_next(&idx, &n, &end, bs), "next");
        double blr;
        check(bsnn_scheduler_lr(&blr, bs, 0.03), "lr");
        fprintf(out, "batch %d %.17g %zu", end, blr, n);
        for (size_t i = 0; i < n; i++) fprintf(out, " %zu", idx[i]);
        fprintf(out, "\n");
    }
    bsnn_model_free(bm), bsnn_optimizer_free(bo), bsnn_scheduler_free(bs);
    bsnn_model_free(m), bsnn_optimizer_free(o), bsnn_scheduler_free(s);
    bsnn_dataset_free(ds);
}

/* F: a checkpoint holding the model only (no optimizer, no scheduler). */
static void file_model_only(void)
{
    fprintf(out, "file checkpoint_model_only.ckpt\n");
    bsnn_model *m = bsnn_model_create(2);
    add(m, bsnn_layer_dense(2), "dense");
    add(m, bsnn_layer_activation(BSNN_ACT_SOFTMAX), "softmax");
    check(bsnn_model_set_loss(m, BSNN_LOSS_MSE), "loss");
    check(bsnn_model_init_params(m, 13), "seed");
    check(bsnn_checkpoint_save(m, NULL, NULL, "checkpoint_model_only.ckpt"), "save");
    bsnn_model *bm = NULL;
    check(bsnn_checkpoint_load(&bm, NULL, NULL, "checkpoint_model_only.ckpt"), "load");
    float x[3 * 2];
    rows(x, 3, 2, 14);
    predictions(bm, x, 3);
    bsnn_model_free(bm);
    bsnn_model_free(m);
}

int main(void)
{
    out = fopen("expected.txt", "w");
    if (out == NULL) return 1;
    fprintf(out, "# written by make_files.c with bsnn %s (see README)\n", bsnn_version_string());
    file_dense();
    file_bn();
    file_adam_mid();
    file_sgd_steps();
    file_nesterov();
    file_model_only();
    fclose(out);
    return 0;
}
