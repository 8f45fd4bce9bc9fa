/*
 * test_history.c - per-epoch training history from bsnn_model_train_ex:
 * each row's epoch, batch size, lr, train loss, validation loss/accuracy,
 * samples and updates against values recomputed here (the callback's
 * epoch loss, bsnn_model_evaluate after the epoch, the schedule formulas,
 * counts of the scheduler's batches); CSV export, written atomically as
 * models are; bad input.
 */
#include "testutil.h"

#include "common/common.h"

#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static bsnn_dataset *blobs(size_t n, uint32_t seed)
{
    float *x = malloc(n * 2 * sizeof(float)), *y = malloc(n * sizeof(float));
    uint32_t s = seed;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        float a = (float)(s >> 8) / 16777216.0f * 2.0f - 1.0f;
        s = s * 1664525u + 1013904223u;
        float b = (float)(s >> 8) / 16777216.0f * 2.0f - 1.0f;
        x[2 * i] = a;
        x[2 * i + 1] = b;
        y[i] = a + b > 0.0f ? 1.0f : 0.0f;
    }
    bsnn_dataset *ds = bsnn_dataset_create(x, y, n, 2, 1);
    free(x);
    free(y);
    return ds;
}

typedef struct watch {
    bsnn_model *m;
    const bsnn_dataset *val;
    double epoch_loss[16], val_loss[16], val_acc[16];
    size_t updates[16], batches;
} watch;

static int cb(void *user, bsnn_event ev, size_t epoch, size_t step, size_t n, double loss)
{
    watch *w = user;
    (void)n;
    if (ev == BSNN_EVENT_STEP) {
        w->batches++;
        return 0;
    }
    w->epoch_loss[epoch] = loss;
    w->updates[epoch] = step;
    cr_assert_eq(bsnn_model_evaluate(&w->val_loss[epoch], &w->val_acc[epoch], w->m, w->val, 1),
                 BSNN_OK);
    return 0;
}

static double get(const bsnn_history *h, size_t row, bsnn_hist_field f)
{
    double v;
    cr_assert_eq(bsnn_history_get(&v, h, row, f), BSNN_OK, "%s", bsnn_last_error());
    return v;
}

Test(history, rows_record_each_epoch_against_independent_values)
{
    bsnn_dataset *tr = blobs(40, 1), *va = blobs(15, 2);
    bsnn_model *m = tu_mlp(2, 6, BSNN_ACT_TANH, 1, BSNN_ACT_SIGMOID, 3);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    bsnn_optimizer_set(opt, BSNN_OPT_LR, 0.5);
    bsnn_scheduler *s = bsnn_scheduler_create(40);
    bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 3);
    bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SCHEDULE, BSNN_BATCH_GEOMETRIC);
    bsnn_scheduler_set(s, BSNN_SCHED_LR_SCHEDULE, BSNN_LR_STEP);
    bsnn_scheduler_set(s, BSNN_SCHED_LR_DECAY, 0.5);
    bsnn_scheduler_set(s, BSNN_SCHED_LR_STEP_EPOCHS, 2);
    bsnn_history *h = bsnn_history_create();
    watch w = {.m = m, .val = va};
    size_t steps = 0;
    cr_assert_eq(bsnn_model_train_ex(&steps, m, opt, s, tr, va, h, 5, cb, &w), BSNN_OK, "%s",
                 bsnn_last_error());
    cr_assert_eq(bsnn_history_size(h), 5);
    size_t updates = 0;
    for (size_t e = 0; e < 5; e++) {
        size_t b = 3u << e;
        if (b > 40) b = 40;
        updates += (40 + b - 1) / b;
        cr_assert_eq(get(h, e, BSNN_HIST_EPOCH), (double)e);
        cr_assert_eq(get(h, e, BSNN_HIST_BATCH_SIZE), (double)b);
        cr_assert_float_eq(get(h, e, BSNN_HIST_LR), 0.5 * pow(0.5, (double)(e / 2)), 1e-15);
        cr_assert_float_eq(get(h, e, BSNN_HIST_TRAIN_LOSS), w.epoch_loss[e], 1e-12);
        cr_assert_float_eq(get(h, e, BSNN_HIST_VAL_LOSS), w.val_loss[e], 1e-9);
        cr_assert_float_eq(get(h, e, BSNN_HIST_VAL_ACCURACY), w.val_acc[e], 1e-12);
        cr_assert_eq(get(h, e, BSNN_HIST_SAMPLES), (double)(40 * (e + 1)));
        cr_assert_eq(get(h, e, BSNN_HIST_UPDATES), (double)updates);
        cr_assert_eq(w.updates[e], updates);
        cr_assert(get(h, e, BSNN_HIST_WALL_SECONDS) >= 0.0);
        if (e) cr_assert(get(h, e, BSNN_HIST_WALL_SECONDS) >= get(h, e - 1, BSNN_HIST_WALL_SECONDS));
    }
    cr_assert_eq(steps, updates);
    cr_assert_eq(w.batches, updates);
    /* CSV: header plus one line per epoch */
    char path[] = "/tmp/bsnn-history-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    cr_assert_eq(bsnn_history_write_csv(h, path), BSNN_OK, "%s", bsnn_last_error());
    FILE *f = fopen(path, "r");
    char line[512];
    cr_assert_not_null(fgets(line, sizeof line, f));
    cr_assert_str_eq(line, "epoch,batch_size,lr,train_loss,val_loss,val_accuracy,wall_seconds,"
                           "samples,updates,noise_grad_sq,noise_trace,b_simple\n");
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        double e, b;
        cr_assert_eq(sscanf(line, "%lf,%lf,", &e, &b), 2);
        cr_assert_eq(e, (double)lines);
        lines++;
    }
    fclose(f);
    remove(path);
    cr_assert_eq(lines, 5);
    /* a second call appends; clear forgets */
    cr_assert_eq(bsnn_model_train_ex(NULL, m, opt, s, tr, NULL, h, 2, NULL, NULL), BSNN_OK);
    cr_assert_eq(bsnn_history_size(h), 7);
    cr_assert_eq(get(h, 5, BSNN_HIST_EPOCH), 5.0);
    cr_assert(isnan(get(h, 6, BSNN_HIST_VAL_LOSS)));
    cr_assert(isnan(get(h, 6, BSNN_HIST_VAL_ACCURACY)));
    cr_assert_eq(get(h, 6, BSNN_HIST_SAMPLES), 80.0); /* since this call began */
    cr_assert_eq(bsnn_history_clear(h), BSNN_OK);
    cr_assert_eq(bsnn_history_size(h), 0);
    bsnn_history_free(h);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(tr);
    bsnn_dataset_free(va);
}

Test(history, many_epochs_grow_the_table)
{
    bsnn_dataset *tr = blobs(4, 1);
    bsnn_model *m = tu_mlp(2, 2, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 3);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    bsnn_scheduler *s = bsnn_scheduler_create(4);
    bsnn_history *h = bsnn_history_create();
    cr_assert_eq(bsnn_model_train_ex(NULL, m, opt, s, tr, tr, h, 300, NULL, NULL), BSNN_OK);
    cr_assert_eq(bsnn_history_size(h), 300);
    cr_assert_eq(get(h, 299, BSNN_HIST_EPOCH), 299.0);
    bsnn_history_free(h);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(tr);
}

Test(history, bad_input_is_refused)
{
    bsnn_dataset *tr = blobs(8, 1);
    float x3[3] = {0, 0, 0}, y1[1] = {0};
    bsnn_dataset *wide = bsnn_dataset_create(x3, y1, 1, 3, 1);
    bsnn_model *m = tu_mlp(2, 2, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 3);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    bsnn_scheduler *s = bsnn_scheduler_create(8);
    bsnn_history *h = bsnn_history_create();
    double v = 5;
    cr_assert_eq(bsnn_model_train_ex(NULL, m, opt, s, tr, wide, h, 1, NULL, NULL), BSNN_E_SHAPE);
    cr_assert_eq(bsnn_history_size(h), 0);
    cr_assert_eq(bsnn_model_train_ex(NULL, NULL, opt, s, tr, NULL, h, 1, NULL, NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_history_get(&v, h, 0, BSNN_HIST_EPOCH), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "row 0") != NULL, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_model_train_ex(NULL, m, opt, s, tr, NULL, h, 1, NULL, NULL), BSNN_OK);
    cr_assert_eq(bsnn_history_get(&v, h, 0, (bsnn_hist_field)0), BSNN_E_ARG);
    cr_assert_eq(bsnn_history_get(&v, h, 0, (bsnn_hist_field)13), BSNN_E_ARG);
    cr_assert_eq(bsnn_history_get(NULL, h, 0, BSNN_HIST_EPOCH), BSNN_E_NULL);
    cr_assert_eq(bsnn_history_get(&v, NULL, 0, BSNN_HIST_EPOCH), BSNN_E_NULL);
    cr_assert_eq(v, 5);
    cr_assert_eq(bsnn_history_clear(NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_history_size(NULL), 0);
    cr_assert_eq(bsnn_history_write_csv(NULL, "/tmp/x.csv"), BSNN_E_NULL);
    cr_assert_eq(bsnn_history_write_csv(h, NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_history_write_csv(h, "/nonexistent-dir/h.csv"), BSNN_E_IO);
    cr_assert(strstr(bsnn_last_error(), "bsnn_history_write_csv") != NULL, "%s", bsnn_last_error());
    bsnn_history_free(NULL);
    bsnn_history_free(h);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(tr);
    bsnn_dataset_free(wide);
}

/* The CSV goes through the same atomic writer as models: never a fixed
 * PATH.tmp (0.2's CSV writer used one and failed when it existed), the
 * old file replaced whole, temp files of killed saves of the path swept;
 * the same on the named-file route of systems without O_TMPFILE. */
Test(history, csv_is_written_atomically_as_models_are)
{
    char dir[] = "/tmp/bsnn-hist-XXXXXX", path[128], name[256];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/h.csv", dir);
    snprintf(name, sizeof name, "%s.tmp", path);
    cr_assert_eq(mkdir(name, 0700), 0); /* the name 0.2 wrote to is taken */
    pid_t dead = fork();
    cr_assert_geq(dead, 0);
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    char stale[256];
    snprintf(stale, sizeof stale, "%s.tmp-%ld-4", path, (long)dead);
    FILE *f = fopen(stale, "w");
    cr_assert_not_null(f);
    fputs("partial", f);
    fclose(f);
    bsnn_history *h = bsnn_history_create();
    for (int route = 0; route < 2; route++) {
        bsnn__io_named_temp_only = route;
        cr_assert_eq(bsnn_history_write_csv(h, path), BSNN_OK, "%s", bsnn_last_error());
        f = fopen(path, "r");
        cr_assert_not_null(f);
        char line[256] = "";
        cr_assert_not_null(fgets(line, sizeof line, f));
        cr_assert(strncmp(line, "epoch,batch_size,lr", 19) == 0, "%s", line);
        cr_assert_null(fgets(line, sizeof line, f), "an empty history has the header only");
        fclose(f);
    }
    bsnn__io_named_temp_only = 0;
    cr_assert_neq(access(stale, F_OK), 0, "the killed save's temp file was kept");
    DIR *d = opendir(dir);
    size_t entries = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) entries += e->d_name[0] != '.';
    closedir(d);
    cr_assert_eq(entries, 2, "only h.csv and the directory h.csv.tmp remain");
    bsnn_history_free(h);
    remove(path);
    rmdir(name);
    rmdir(dir);
}

/* After each epoch the callback compares the history's new row with the
 * model's estimate at that moment. */
typedef struct noise_watch {
    bsnn_history *h;
    bsnn_model *m;
    int epochs;
} noise_watch;

static int noise_cb(void *user, bsnn_event ev, size_t epoch, size_t step, size_t n, double loss)
{
    noise_watch *w = user;
    (void)step, (void)n, (void)loss;
    if (ev != BSNN_EVENT_EPOCH) return 0;
    const bsnn_noise_field f[3] = {BSNN_NOISE_GRAD_SQ, BSNN_NOISE_TRACE, BSNN_NOISE_B_SIMPLE};
    const bsnn_hist_field c[3] = {BSNN_HIST_NOISE_GRAD_SQ, BSNN_HIST_NOISE_TRACE,
                                  BSNN_HIST_B_SIMPLE};
    for (int i = 0; i < 3; i++) {
        double want, got;
        cr_assert_eq(bsnn_model_noise(&want, w->m, f[i]), BSNN_OK);
        cr_assert_eq(bsnn_history_get(&got, w->h, epoch, c[i]), BSNN_OK);
        cr_assert(got == want || (isnan(got) && isnan(want)), "epoch %zu column %d: %g vs %g",
                  epoch, c[i], got, want);
    }
    w->epochs++;
    return 0;
}

Test(history, noise_scale_columns_hold_the_estimate_after_each_epoch)
{
    bsnn_dataset *tr = bsnn_dataset_parity(5);
    bsnn_model *m = tu_mlp(5, 8, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 2);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_ADAM);
    bsnn_scheduler *s = bsnn_scheduler_create(32);
    bsnn_history *h = bsnn_history_create();
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 8), BSNN_OK);
    noise_watch w = {h, m, 0};
    /* route off: NaN columns */
    cr_assert_eq(bsnn_model_train_ex(NULL, m, opt, s, tr, NULL, h, 2, noise_cb, &w), BSNN_OK);
    double v;
    cr_assert_eq(bsnn_history_get(&v, h, 1, BSNN_HIST_B_SIMPLE), BSNN_OK);
    cr_assert(isnan(v));
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_NOISE_ROUTE, BSNN_NOISE_PER_SAMPLE), BSNN_OK);
    cr_assert_eq(bsnn_model_train_ex(NULL, m, opt, s, tr, NULL, h, 3, noise_cb, &w), BSNN_OK);
    cr_assert_eq(w.epochs, 5);
    cr_assert_eq(bsnn_history_get(&v, h, 4, BSNN_HIST_NOISE_TRACE), BSNN_OK);
    cr_assert(v > 0, "tr %g", v);
    cr_assert_eq(bsnn_history_get(&v, h, 0, (bsnn_hist_field)13), BSNN_E_ARG);
    bsnn_history_free(h);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(tr);
}
