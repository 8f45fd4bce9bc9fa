/*
 * test_compat.c - files written by bsnn 0.2.0 still load. tests/data/v0.2.0
 * holds model and checkpoint files written by the 0.2.0 build (commit
 * 07b26f0, tests/data/v0.2.0/README) and expected.txt, what that build
 * itself computed from them after loading them back: predictions on stored
 * rows, training-set loss and accuracy, parameters after resuming training
 * (SGD and Adam, whose formulas 0.3 kept), and the scheduler's position, next
 * batches and learning rates. The current build must compute the same
 * (to 1e-6 relative: the same kernels give identical bits on the machine
 * that wrote them; a CPU without AVX2 takes libm's tanh and sigmoid).
 */
#include "testutil.h"

#include <stdio.h>

#define DIR "tests/data/v0.2.0/"

/* One file's block of expected.txt, parsed. */
typedef struct expect {
    float x[256], y[256], train_x[256], train_y[256], resumed[256];
    size_t x_rows, x_cols, y_rows, y_cols, t_rows, t_in, t_out, n_resumed;
    double loss, acc;
    int has_eval, has_position, has_optimizer;
    size_t epoch, step, total;
    int opt_kind;
    double opt_momentum, opt_lr;
    size_t n_batches;
    int batch_end[8];
    double batch_lr[8];
    size_t batch_n[8], batch_idx[8][16];
} expect;

static void read_floats(FILE *f, float *out, size_t *rows, size_t *cols)
{
    cr_assert_eq(fscanf(f, "%zu %zu", rows, cols), 2);
    cr_assert_leq(*rows * *cols, 256);
    for (size_t i = 0; i < *rows * *cols; i++) cr_assert_eq(fscanf(f, "%f", &out[i]), 1);
}

/* The block of expected.txt for `file`. */
static void load_expect(expect *e, const char *file)
{
    memset(e, 0, sizeof *e);
    FILE *f = fopen(DIR "expected.txt", "r");
    cr_assert_not_null(f, "run make test from the repository root");
    char key[64], name[128];
    int in_block = 0;
    while (fscanf(f, "%63s", key) == 1) {
        if (key[0] == '#') {
            int c;
            while ((c = fgetc(f)) != '\n' && c != EOF) continue;
            continue;
        }
        if (strcmp(key, "file") == 0) {
            cr_assert_eq(fscanf(f, "%127s", name), 1);
            if (in_block) break;
            in_block = strcmp(name, file) == 0;
            continue;
        }
        float scratch[256];
        size_t r, c;
        if (!in_block) { /* skip another file's line */
            int ch;
            while ((ch = fgetc(f)) != '\n' && ch != EOF) continue;
            continue;
        }
        if (strcmp(key, "x") == 0) read_floats(f, e->x, &e->x_rows, &e->x_cols);
        else if (strcmp(key, "y") == 0) read_floats(f, e->y, &e->y_rows, &e->y_cols);
        else if (strcmp(key, "train_x") == 0) read_floats(f, e->train_x, &e->t_rows, &e->t_in);
        else if (strcmp(key, "train_y") == 0) read_floats(f, e->train_y, &r, &e->t_out);
        else if (strcmp(key, "resumed") == 0) read_floats(f, e->resumed, &r, &e->n_resumed);
        else if (strcmp(key, "evaluate") == 0) {
            cr_assert_eq(fscanf(f, "%lf %lf", &e->loss, &e->acc), 2);
            e->has_eval = 1;
        } else if (strcmp(key, "position") == 0) {
            cr_assert_eq(fscanf(f, "%zu %zu %zu", &e->epoch, &e->step, &e->total), 3);
            e->has_position = 1;
        } else if (strcmp(key, "optimizer") == 0) {
            cr_assert_eq(fscanf(f, "%d %lf %lf", &e->opt_kind, &e->opt_momentum, &e->opt_lr), 3);
            e->has_optimizer = 1;
        } else if (strcmp(key, "batch") == 0) {
            size_t b = e->n_batches++;
            cr_assert_eq(fscanf(f, "%d %lf %zu", &e->batch_end[b], &e->batch_lr[b],
                                &e->batch_n[b]),
                         3);
            for (size_t i = 0; i < e->batch_n[b]; i++)
                cr_assert_eq(fscanf(f, "%zu", &e->batch_idx[b][i]), 1);
        } else {
            cr_assert_fail("unknown key %s", key);
        }
        (void)scratch, (void)c;
    }
    fclose(f);
    cr_assert(in_block, "no block for %s", file);
}

static void close_to(const float *got, const float *want, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        cr_assert_leq(fabs((double)got[i] - want[i]), 1e-6 * fmax(1.0, fabs(want[i])),
                      "%s[%zu]: %.9g, 0.2.0 gave %.9g", what, i, (double)got[i], (double)want[i]);
}

static void check_predictions(bsnn_model *m, const expect *e)
{
    cr_assert_eq(bsnn_model_n_inputs(m), e->x_cols);
    cr_assert_eq(bsnn_model_n_outputs(m), e->y_cols);
    float y[256];
    bsnn_tensor *tx = tu_wrap((float *)e->x, e->x_rows, e->x_cols);
    bsnn_tensor *ty = tu_wrap(y, e->y_rows, e->y_cols);
    cr_assert_eq(bsnn_model_forward(ty, m, tx), BSNN_OK, "%s", bsnn_last_error());
    close_to(y, e->y, e->y_rows * e->y_cols, "prediction");
    bsnn_tensor_free(tx), bsnn_tensor_free(ty);
}

static bsnn_dataset *train_set(const expect *e)
{
    bsnn_dataset *ds = bsnn_dataset_create(e->train_x, e->train_y, e->t_rows, e->t_in, e->t_out);
    cr_assert_not_null(ds, "%s", bsnn_last_error());
    return ds;
}

Test(compat, model_files_of_0_2_0_load_and_predict_as_0_2_0_did)
{
    const char *files[] = {"model_dense.bsnn", "model_bn_dropout.bsnn"};
    for (int k = 0; k < 2; k++) {
        static expect e;
        load_expect(&e, files[k]);
        char path[128];
        snprintf(path, sizeof path, DIR "%s", files[k]);
        bsnn_model *m = NULL;
        cr_assert_eq(bsnn_model_load(&m, path), BSNN_OK, "%s: %s", files[k], bsnn_last_error());
        check_predictions(m, &e);
        if (e.has_eval) {
            bsnn_dataset *ds = train_set(&e);
            double loss, acc;
            cr_assert_eq(bsnn_model_evaluate(&loss, &acc, m, ds, e.t_rows), BSNN_OK);
            cr_assert_leq(fabs(loss - e.loss), 1e-6 * fmax(1.0, e.loss), "loss %.17g vs %.17g",
                          loss, e.loss);
            cr_assert_eq(acc, e.acc);
            bsnn_dataset_free(ds);
        }
        bsnn_model_free(m);
    }
    /* what the files hold, read through today's API */
    bsnn_model *m = NULL;
    cr_assert_eq(bsnn_model_load(&m, DIR "model_bn_dropout.bsnn"), BSNN_OK);
    double v;
    cr_assert_eq(bsnn_layer_get(&v, bsnn_model_layer(m, 1), BSNN_LAYER_MOMENTUM), BSNN_OK);
    cr_assert_eq(v, 0.25);
    cr_assert_eq(bsnn_layer_get(&v, bsnn_model_layer(m, 3), BSNN_LAYER_RATE), BSNN_OK);
    cr_assert_eq(v, 0.3);
    uint64_t seed = 0;
    cr_assert_eq(bsnn_layer_get_seed(&seed, bsnn_model_layer(m, 3)), BSNN_OK);
    cr_assert_eq(seed, 42);
    cr_assert_eq(bsnn_model_get(&v, m, BSNN_MODEL_TRAINING), BSNN_OK);
    cr_assert_eq(v, 0, "saved in evaluation mode");
    cr_assert_eq(bsnn_model_get(&v, m, BSNN_MODEL_LOSS), BSNN_OK);
    cr_assert_eq(v, BSNN_LOSS_SOFTMAX_CE);
    bsnn_model_free(m);
    cr_assert_eq(bsnn_model_load(&m, DIR "model_dense.bsnn"), BSNN_OK);
    cr_assert_eq(bsnn_layer_get(&v, bsnn_model_layer(m, 1), BSNN_LAYER_SLOPE), BSNN_OK);
    cr_assert_eq(v, 0.2);
    cr_assert_eq(bsnn_layer_get(&v, bsnn_model_layer(m, 3), BSNN_LAYER_SLOPE), BSNN_OK);
    cr_assert_eq(v, 0.5);
    cr_assert_eq(bsnn_layer_get(&v, bsnn_model_layer(m, 0), BSNN_LAYER_INIT), BSNN_OK);
    cr_assert_eq(v, BSNN_INIT_HE_UNIFORM);
    cr_assert_eq(bsnn_model_get(&v, m, BSNN_MODEL_THRESHOLD), BSNN_OK);
    cr_assert_eq(v, 0.4);
    bsnn_model_free(m);
}

/* Load a 0.2.0 checkpoint, check its model and position, resume it for
 * `epochs` epochs on the stored training set into p[] (its parameters). */
static size_t resume_into(float *p, const char *file, size_t epochs)
{
    static expect e;
    load_expect(&e, file);
    char path[128];
    snprintf(path, sizeof path, DIR "%s", file);
    bsnn_model *m = NULL;
    bsnn_optimizer *o = NULL;
    bsnn_scheduler *s = NULL;
    cr_assert_eq(bsnn_checkpoint_load(&m, &o, &s, path), BSNN_OK, "%s: %s", file,
                 bsnn_last_error());
    cr_assert(o && s);
    cr_assert(e.has_position);
    cr_assert_eq(bsnn_scheduler_epoch(s), e.epoch);
    cr_assert_eq(bsnn_scheduler_step(s), e.step);
    cr_assert_eq(bsnn_scheduler_total_steps(s), e.total);
    check_predictions(m, &e);
    bsnn_dataset *ds = train_set(&e);
    cr_assert_eq(bsnn_model_train(NULL, m, o, s, ds, epochs, NULL, NULL), BSNN_OK, "%s",
                 bsnn_last_error());
    size_t n = bsnn_model_param_count(m);
    cr_assert_eq(n, e.n_resumed);
    cr_assert_eq(bsnn_model_get_params(p, n, m), BSNN_OK);
    bsnn_dataset_free(ds);
    bsnn_model_free(m), bsnn_optimizer_free(o), bsnn_scheduler_free(s);
    return n;
}

/* ... and compare the parameters with 0.2.0's own resumed run. */
static void resume(const char *file, size_t epochs)
{
    static expect e;
    load_expect(&e, file);
    float p[256];
    size_t n = resume_into(p, file, epochs);
    close_to(p, e.resumed, n, "resumed parameter");
}

/* This checkpoint's model has dropout, whose masks are counter-based since
 * 0.3 (0.2's generator state loads as the counter): the resumed run draws
 * other masks than 0.2.0's, so it is checked against itself (two resumes
 * agree to the bit) and for staying finite and near 0.2.0's parameters. */
Test(compat, adam_checkpoint_saved_mid_epoch_resumes_as_0_2_0_did)
{
    static expect e;
    load_expect(&e, "checkpoint_adam_mid.ckpt");
    float a[256], b[256];
    size_t n = resume_into(a, "checkpoint_adam_mid.ckpt", 2);
    cr_assert_eq(resume_into(b, "checkpoint_adam_mid.ckpt", 2), n);
    cr_assert(memcmp(a, b, n * sizeof(float)) == 0, "two resumes differ");
    for (size_t i = 0; i < n; i++)
        cr_assert_leq(fabs((double)a[i] - e.resumed[i]), 0.5, "parameter %zu: %g, 0.2.0 %g", i,
                      (double)a[i], (double)e.resumed[i]);
}

Test(compat, sgd_checkpoint_with_batch_steps_resumes_as_0_2_0_did)
{
    resume("checkpoint_sgd_steps.ckpt", 3);
}

/* Nesterov's formula changed in 0.3 (PyTorch's form), so compare what was
 * loaded: the model, the optimizer's settings, and the scheduler's next
 * batches and learning rates. */
Test(compat, nesterov_checkpoint_loads_its_settings_and_position)
{
    static expect e;
    load_expect(&e, "checkpoint_nesterov.ckpt");
    bsnn_model *m = NULL;
    bsnn_optimizer *o = NULL;
    bsnn_scheduler *s = NULL;
    cr_assert_eq(bsnn_checkpoint_load(&m, &o, &s, DIR "checkpoint_nesterov.ckpt"), BSNN_OK, "%s",
                 bsnn_last_error());
    check_predictions(m, &e);
    cr_assert(e.has_optimizer);
    cr_assert_eq((int)bsnn_optimizer_kind_of(o), e.opt_kind);
    double v;
    cr_assert_eq(bsnn_optimizer_get(&v, o, BSNN_OPT_MOMENTUM), BSNN_OK);
    cr_assert_eq(v, e.opt_momentum);
    cr_assert_eq(bsnn_optimizer_get(&v, o, BSNN_OPT_LR), BSNN_OK);
    cr_assert_eq(v, e.opt_lr);
    cr_assert_eq(bsnn_optimizer_get(&v, o, BSNN_OPT_VARIANT), BSNN_OK);
    cr_assert_eq(v, BSNN_VARIANT_PYTORCH, "a 0.2 checkpoint holds no variant: the default");
    cr_assert_eq(bsnn_scheduler_epoch(s), e.epoch);
    cr_assert_eq(bsnn_scheduler_step(s), e.step);
    cr_assert_eq(bsnn_scheduler_total_steps(s), e.total);
    cr_assert_gt(e.n_batches, 0);
    for (size_t b = 0; b < e.n_batches; b++) {
        const size_t *idx;
        size_t n;
        int end;
        cr_assert_eq(bsnn_scheduler_next(&idx, &n, &end, s), BSNN_OK);
        double lr;
        cr_assert_eq(bsnn_scheduler_lr(&lr, s, 0.03), BSNN_OK);
        cr_assert_eq(end, e.batch_end[b], "batch %zu", b);
        cr_assert_eq(n, e.batch_n[b], "batch %zu", b);
        cr_assert_eq(lr, e.batch_lr[b], "batch %zu lr", b);
        for (size_t i = 0; i < n; i++) cr_assert_eq(idx[i], e.batch_idx[b][i], "batch %zu", b);
    }
    bsnn_model_free(m), bsnn_optimizer_free(o), bsnn_scheduler_free(s);
}

Test(compat, model_only_checkpoint_loads_without_optimizer_or_scheduler)
{
    static expect e;
    load_expect(&e, "checkpoint_model_only.ckpt");
    bsnn_model *m = NULL;
    bsnn_optimizer *o = (bsnn_optimizer *)1;
    bsnn_scheduler *s = (bsnn_scheduler *)1;
    cr_assert_eq(bsnn_checkpoint_load(&m, &o, &s, DIR "checkpoint_model_only.ckpt"), BSNN_OK,
                 "%s", bsnn_last_error());
    cr_assert_null(o);
    cr_assert_null(s);
    check_predictions(m, &e);
    bsnn_model_free(m);
    /* and a model loader reads the model part of any 0.2.0 checkpoint */
    cr_assert_eq(bsnn_model_load(&m, DIR "checkpoint_sgd_steps.ckpt"), BSNN_OK, "%s",
                 bsnn_last_error());
    bsnn_model_free(m);
}
