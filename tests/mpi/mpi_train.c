/*
 * mpi_train.c - the program every rank runs in the MPI tests (tests/mpi/
 * test_mpi.c launches it under mpirun and reads what it prints). Modes:
 *
 *   equiv RULE BATCH EPOCHS [dropout]
 *                            data-parallel training with global batch BATCH
 *                            against one process training plain batches of
 *                            BATCH on rank 0 (same seed and order): parameters,
 *                            per-update losses and batch sizes, the history,
 *                            the global evaluation; ranks equal bit for bit;
 *                            the noise statistics and the weighted reduction
 *                            of unequal shares against the test's own sums
 *   resume RULE DIR bn|plain a checkpoint written by rank 0 mid-epoch resumes
 *                            the run bit-exactly (with batch norm: rank 1's
 *                            statistics are its own); without batch norm
 *                            also as one process, to 1e-5
 *   fail HOW                 rank 1 misbehaves at its 5th update (exit, leave,
 *                            hang, abort; return: rank 0 in RETURN mode)
 *   misuse                   every bsnn_mpi function's bad input, alike on
 *                            every rank
 *
 * Each check prints "ok: ..." or "FAIL: ..." (rank 0 unless named); the last
 * line is "RESULT: pass" or "RESULT: fail" and the exit status follows it.
 */
#include <bsnn_mpi.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int rank, world, failures;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            failures++;                                                                    \
            printf("FAIL: rank %d: ", rank);                                               \
            printf(__VA_ARGS__);                                                           \
            printf(" (%s:%d)\n", __FILE__, __LINE__);                                      \
        }                                                                                  \
    } while (0)
#define OK(...)                                                                            \
    do {                                                                                   \
        if (rank == 0) {                                                                   \
            printf("ok: ");                                                                \
            printf(__VA_ARGS__);                                                           \
            printf("\n");                                                                  \
        }                                                                                  \
    } while (0)
#define MUST(call)                                                                         \
    do {                                                                                   \
        bsnn_status must_st = (call);                                                      \
        if (must_st != BSNN_OK) {                                                          \
            printf("FAIL: rank %d: %s = %d: %s | %s\n", rank, #call, must_st,              \
                   bsnn_last_error(), bsnn_mpi_last_error());                              \
            fflush(stdout);                                                                \
            MPI_Abort(MPI_COMM_WORLD, 2);                                                  \
        }                                                                                  \
    } while (0)

/* ---- the task: the same data and model on every rank ---------------------- */

enum { N = 200, IN = 6, HIDDEN = 16, CLASSES = 3 };

/* N rows of IN inputs in [-1, 1] (a fixed xorshift stream) and a class
 * index: the argmax of a fixed linear map of the row, so it is learnable. */
static bsnn_dataset *task(void)
{
    static float x[N * IN], y[N];
    uint64_t z = 88172645463325252ull;
    for (int i = 0; i < N * IN; i++) {
        z ^= z << 13, z ^= z >> 7, z ^= z << 17;
        x[i] = (float)((double)(z >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
    for (int r = 0; r < N; r++) {
        double best = -1e9;
        for (int c = 0; c < CLASSES; c++) {
            double v = 0.0;
            for (int j = 0; j < IN; j++) v += x[r * IN + j] * sin(1.0 + c * 7 + j * 3);
            if (v > best) best = v, y[r] = (float)c;
        }
    }
    bsnn_dataset *ds = bsnn_dataset_create(x, y, N, IN, 1);
    if (ds == NULL) MUST(BSNN_E_NOMEM);
    return ds;
}

/* Dropout (rate 0.25) after the hidden layer when asked: its masks are
 * keyed by each row's index in the GLOBAL batch, so N ranks draw them as
 * one process does. */
static int with_dropout;

static bsnn_model *model(uint64_t seed, int batchnorm)
{
    bsnn_model *m = bsnn_model_create(IN);
    MUST(m ? BSNN_OK : BSNN_E_NOMEM);
    MUST(bsnn_model_add(m, bsnn_layer_dense(HIDDEN)));
    if (batchnorm) MUST(bsnn_model_add(m, bsnn_layer_batchnorm()));
    MUST(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH)));
    if (with_dropout) MUST(bsnn_model_add(m, bsnn_layer_dropout(0.25)));
    MUST(bsnn_model_add(m, bsnn_layer_dense(CLASSES)));
    MUST(bsnn_model_set_loss(m, BSNN_LOSS_SOFTMAX_CE));
    MUST(bsnn_model_init_params(m, seed));
    return m;
}

static bsnn_optimizer *optimizer(const char *rule)
{
    bsnn_optimizer_kind kind = strcmp(rule, "momentum") == 0 ? BSNN_MOMENTUM
                               : strcmp(rule, "adam") == 0   ? BSNN_ADAM
                                                             : BSNN_SGD;
    bsnn_optimizer *o = bsnn_optimizer_create(kind);
    MUST(o ? BSNN_OK : BSNN_E_NOMEM);
    MUST(bsnn_optimizer_set(o, BSNN_OPT_LR, kind == BSNN_ADAM ? 0.01 : 0.05));
    return o;
}

/* Shuffled, the lr scaled linearly from a base batch of 16 with a warmup:
 * the lr of every update depends on the GLOBAL batch and update count. */
static bsnn_scheduler *scheduler(size_t batch)
{
    bsnn_scheduler *s = bsnn_scheduler_create(N);
    MUST(s ? BSNN_OK : BSNN_E_NOMEM);
    MUST(bsnn_scheduler_set_seed(s, 5));
    MUST(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, (double)batch));
    MUST(bsnn_scheduler_set(s, BSNN_SCHED_LR_SCALING, BSNN_SCALE_LINEAR));
    MUST(bsnn_scheduler_set(s, BSNN_SCHED_BASE_BATCH, 16));
    MUST(bsnn_scheduler_set(s, BSNN_SCHED_WARMUP_STEPS, 3));
    return s;
}

/* Per-update records of a training callback; `stop_at` (0: never) stops
 * training after that update; `misbehave` makes rank 1 fail there. */
typedef struct run_log {
    size_t updates, batch[256], stop_at;
    double loss[256];
    const char *misbehave;
    bsnn_mpi *ctx;
} run_log;

static int on_event(void *user, bsnn_event ev, size_t epoch, size_t step, size_t batch,
                    double loss)
{
    run_log *log = user;
    (void)epoch;
    if (ev != BSNN_EVENT_STEP) return 0;
    if (step <= 256) log->batch[step - 1] = batch, log->loss[step - 1] = loss;
    log->updates = step;
    if (log->misbehave && rank == 1 && step == 5) {
        const char *how = log->misbehave;
        fflush(stdout);
        if (strcmp(how, "exit") == 0) exit(3);
        if (strcmp(how, "leave") == 0) return 1; /* stops training, then finalizes */
        if (strcmp(how, "hang") == 0 || strcmp(how, "return") == 0) sleep(600);
        if (strcmp(how, "abort") == 0)
            bsnn_mpi_abort(log->ctx, 5, "could not read its next file (a local error)");
    }
    return log->stop_at && step >= log->stop_at;
}

static double rel(double a, double b, double floor_)
{
    double d = fabs(a - b), s = fmax(fmax(fabs(a), fabs(b)), floor_);
    return d / s;
}

/* The worst relative difference of two parameter vectors (relative to the
 * parameter, or to 0.01 for smaller ones). */
static double worst(const float *a, const float *b, size_t n)
{
    double w = 0.0;
    for (size_t i = 0; i < n; i++) w = fmax(w, rel(a[i], b[i], 1e-2));
    return w;
}

/* 1 on every rank when every rank holds rank 0's n floats bit for bit. */
static int same_everywhere(const float *p, size_t n)
{
    float *mine = malloc(n * sizeof *mine);
    memcpy(mine, p, n * sizeof *mine);
    MPI_Bcast(mine, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD);
    int same = memcmp(mine, p, n * sizeof *p) == 0, all = 0;
    MPI_Allreduce(&same, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    free(mine);
    return all;
}

static float *params_of(const bsnn_model *m, size_t *n)
{
    *n = bsnn_model_param_count(m);
    float *p = malloc(*n * sizeof *p);
    MUST(bsnn_model_get_params(p, *n, m));
    return p;
}

/* ---- equiv ------------------------------------------------------------------ */

/* Rank 0 alone: the same training as one process on whole batches. */
static bsnn_model *reference(run_log *log, bsnn_history *h, const char *rule, size_t batch,
                             size_t epochs, const bsnn_dataset *ds)
{
    bsnn_model *m = model(7, 0);
    bsnn_optimizer *o = optimizer(rule);
    bsnn_scheduler *s = scheduler(batch);
    size_t steps = 0;
    MUST(bsnn_model_train_ex(&steps, m, o, s, ds, NULL, h, epochs, on_event, log));
    bsnn_optimizer_free(o);
    bsnn_scheduler_free(s);
    return m;
}

/* The weighted reduction of unequal shares by hand (train_step on rows
 * rank r holds: 5 + 3r of them), against sums the test computes from each
 * rank's own gradient on a hook-less copy; and the noise statistics. */
static void check_unequal_shares(bsnn_mpi *ctx, bsnn_model *m, const bsnn_dataset *ds)
{
    size_t np = bsnn_model_param_count(m), lo = 0, rows = 5 + 3 * (size_t)rank;
    for (int r = 0; r < rank; r++) lo += 5 + 3 * (size_t)r;
    size_t shape_x[2] = {rows, IN}, shape_y[2] = {rows, 1};
    bsnn_tensor *x = bsnn_tensor_wrap((float *)bsnn_dataset_inputs(ds) + lo * IN, 2, shape_x);
    bsnn_tensor *y = bsnn_tensor_wrap((float *)bsnn_dataset_targets(ds) + lo, 2, shape_y);
    /* this rank's own mean gradient, on a copy without the hook */
    void *buf;
    size_t size;
    MUST(bsnn_model_save_alloc(&buf, &size, m));
    bsnn_model *copy;
    MUST(bsnn_model_load_buffer(&copy, buf, size));
    bsnn_buffer_free(buf);
    bsnn_optimizer *sgd = bsnn_optimizer_create(BSNN_SGD);
    double local_loss;
    MUST(bsnn_model_train_step(&local_loss, copy, sgd, x, y));
    float *g = malloc(np * sizeof *g), *sum = malloc(np * sizeof *sum);
    MUST(bsnn_model_get_grads(g, np, copy));
    double gsq = 0.0, mine[2] = {0.0, 0.0}, loss_sum = local_loss * (double)rows;
    for (size_t i = 0; i < np; i++) gsq += (double)g[i] * g[i], sum[i] = g[i] * (float)rows;
    MPI_Allreduce(MPI_IN_PLACE, sum, (int)np, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    mine[0] = gsq, mine[1] = loss_sum;
    MPI_Allreduce(MPI_IN_PLACE, mine, 2, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    double B = 0.0;
    for (int r = 0; r < world; r++) B += 5 + 3 * r;
    double big = 0.0;
    for (size_t i = 0; i < np; i++) sum[i] /= (float)B, big += (double)sum[i] * sum[i];
    /* the same step through the hook */
    MUST(bsnn_mpi_set(ctx, BSNN_MPI_NOISE_STATS, 1));
    MUST(bsnn_model_noise_reset(m)); /* the observation below is its first */
    double loss;
    bsnn_optimizer *sgd2 = bsnn_optimizer_create(BSNN_SGD);
    MUST(bsnn_model_train_step(&loss, m, sgd2, x, y));
    MUST(bsnn_model_get_grads(g, np, m));
    double wg = 0.0;
    for (size_t i = 0; i < np; i++) wg = fmax(wg, rel(g[i], sum[i], 1e-3));
    CHECK(wg < 1e-5, "unequal shares: gradient %g from the rows-weighted mean", wg);
    CHECK(rel(loss, mine[1] / B, 1e-9) < 1e-9, "unequal shares: loss %.12g, want %.12g", loss,
          mine[1] / B);
    double st[11];
    for (int k = 1; k <= 10; k++) MUST(bsnn_mpi_stat(&st[k], ctx, (bsnn_mpi_stat_id)k));
    double b = B / world, small = mine[0] / world;
    CHECK(st[BSNN_MPI_STAT_LOCAL_ROWS] == (double)rows && st[BSNN_MPI_STAT_GLOBAL_ROWS] == B &&
              st[BSNN_MPI_STAT_SMALL_BATCH] == b,
          "rows %g / %g / %g, want %zu / %g / %g", st[4], st[5], st[6], rows, B, b);
    CHECK(rel(st[BSNN_MPI_STAT_SMALL_SQNORM], small, 1e-12) < 1e-6, "|g_b|^2 %.9g, want %.9g",
          st[7], small);
    CHECK(rel(st[BSNN_MPI_STAT_BIG_SQNORM], big, 1e-12) < 1e-5, "|g_B|^2 %.9g, want %.9g", st[8],
          big);
    /* one rank: b == B, no estimate */
    double gsq_est = world > 1 ? (B * big - b * small) / (B - b) : NAN;
    double tr_est = world > 1 ? (small - big) / (1.0 / b - 1.0 / B) : NAN;
    CHECK(world > 1 ? rel(st[BSNN_MPI_STAT_GRAD_SQ], gsq_est, 1e-9) < 1e-4 : isnan(st[9]),
          "|G|^2 estimate %.9g, want %.9g", st[9], gsq_est);
    CHECK(world > 1 ? rel(st[BSNN_MPI_STAT_TRACE], tr_est, 1e-9) < 1e-4 : isnan(st[10]),
          "tr(Sigma) estimate %.9g, want %.9g", st[10], tr_est);
    /* the same observation went into the attached model's running estimate
     * (its first: the estimate equals the single-update values) */
    double count, est_g, est_t, est_b, est_bb, est_small, est_big;
    MUST(bsnn_model_noise(&count, m, BSNN_NOISE_COUNT));
    MUST(bsnn_model_noise(&est_g, m, BSNN_NOISE_GRAD_SQ));
    MUST(bsnn_model_noise(&est_t, m, BSNN_NOISE_TRACE));
    MUST(bsnn_model_noise(&est_b, m, BSNN_NOISE_SMALL_ROWS));
    MUST(bsnn_model_noise(&est_bb, m, BSNN_NOISE_BIG_ROWS));
    MUST(bsnn_model_noise(&est_small, m, BSNN_NOISE_SMALL_SQ));
    MUST(bsnn_model_noise(&est_big, m, BSNN_NOISE_BIG_SQ));
    if (world > 1) {
        CHECK(count == 1 && est_b == b && est_bb == B, "model estimate: %g observations, b %g B %g",
              count, est_b, est_bb);
        CHECK(rel(est_small, small, 1e-12) < 1e-6 && rel(est_big, big, 1e-12) < 1e-5,
              "model estimate: |g_b|^2 %.9g |g_B|^2 %.9g, want %.9g %.9g", est_small, est_big,
              small, big);
        CHECK(rel(est_g, gsq_est, 1e-9) < 1e-4 && rel(est_t, tr_est, 1e-9) < 1e-4,
              "model estimate: |G|^2 %.9g tr %.9g, want %.9g %.9g", est_g, est_t, gsq_est, tr_est);
    } else {
        CHECK(count == 0, "one rank fed %g observations (it has no small batch)", count);
    }
    CHECK(st[BSNN_MPI_STAT_LAST_SECONDS] > 0 && st[BSNN_MPI_STAT_REDUCE_SECONDS] >= st[3],
          "reduce seconds %g, last %g", st[2], st[3]);
    OK("unequal shares (5 + 3r rows): gradient within %.1g of the rows-weighted mean; noise "
       "statistics b %g B %g |g_b|^2 %.4g |g_B|^2 %.4g, estimates |G|^2 %.4g tr %.4g, fed "
       "to the model's estimate (%g observation)",
       wg, b, B, small, big, gsq_est, tr_est, count);
    bsnn_optimizer_free(sgd), bsnn_optimizer_free(sgd2);
    bsnn_model_free(copy);
    bsnn_tensor_free(x), bsnn_tensor_free(y);
    free(g), free(sum);
}

static void equiv(bsnn_mpi *ctx, const char *rule, size_t batch, size_t epochs)
{
    bsnn_dataset *ds = task();
    /* ranks start different; the broadcast makes them rank 0's */
    bsnn_model *m = model(7 + (uint64_t)rank, 0);
    bsnn_optimizer *opt = optimizer(rule);
    bsnn_scheduler *s = scheduler(batch);
    MUST(bsnn_mpi_broadcast(ctx, &m, &opt, &s));
    MUST(bsnn_mpi_attach(ctx, m, s));
    run_log log = {0};
    bsnn_history *h = bsnn_history_create();
    size_t steps = 0;
    MUST(bsnn_model_train_ex(&steps, m, opt, s, ds, NULL, h, epochs, on_event, &log));
    size_t np;
    float *p = params_of(m, &np);
    CHECK(same_everywhere(p, np), "the ranks' parameters differ");
    double gl, ga, wl, wa;
    MUST(bsnn_mpi_evaluate(&gl, &ga, ctx, m, ds, 16));
    MUST(bsnn_model_evaluate(&wl, &wa, m, ds, N));
    CHECK(rel(gl, wl, 1e-12) < 1e-6 && ga == wa,
          "bsnn_mpi_evaluate: loss %.9g accuracy %g, whole set %.9g %g", gl, ga, wl, wa);
    if (rank == 0) {
        run_log ref_log = {0};
        bsnn_history *rh = bsnn_history_create();
        bsnn_model *one = reference(&ref_log, rh, rule, batch, epochs, ds);
        float *q = params_of(one, &np);
        double w = worst(p, q, np);
        CHECK(w < 1e-5, "%s: parameters differ from one process by %g (relative)", rule, w);
        CHECK(log.updates == ref_log.updates, "%zu updates, one process %zu", log.updates,
              ref_log.updates);
        double wl2 = 0.0;
        int batches_equal = 1;
        for (size_t u = 0; u < log.updates && u < 256; u++) {
            batches_equal &= log.batch[u] == ref_log.batch[u];
            wl2 = fmax(wl2, rel(log.loss[u], ref_log.loss[u], 1e-6));
        }
        CHECK(batches_equal, "the callback's batch sizes differ from one process's");
        CHECK(wl2 < 1e-5, "per-update losses differ by %g", wl2);
        double wh = 0.0;
        for (size_t e = 0; e < bsnn_history_size(h); e++) {
            double a, b;
            MUST(bsnn_history_get(&a, h, e, BSNN_HIST_TRAIN_LOSS));
            MUST(bsnn_history_get(&b, rh, e, BSNN_HIST_TRAIN_LOSS));
            wh = fmax(wh, rel(a, b, 1e-6));
            MUST(bsnn_history_get(&a, h, e, BSNN_HIST_SAMPLES));
            MUST(bsnn_history_get(&b, rh, e, BSNN_HIST_SAMPLES));
            CHECK(a == b, "epoch %zu: %g samples, one process %g", e, a, b);
        }
        CHECK(wh < 1e-5 && bsnn_history_size(h) == epochs, "history: %zu rows, losses differ by %g",
              bsnn_history_size(h), wh);
        OK("%s%s, %d ranks, global batch %zu (last of each epoch %d), %zu epochs, %zu updates: "
           "parameters within %.2g of one process (relative, floor 0.01), per-update losses "
           "within %.2g, same batch sizes and history samples; ranks equal bit for bit; global "
           "evaluation loss %.6f accuracy %.3f",
           rule, with_dropout ? " with dropout" : "", world, batch, (int)(N % batch), epochs,
           log.updates, w, wl2, gl, ga);
        free(q);
        bsnn_model_free(one);
        bsnn_history_free(rh);
    }
    check_unequal_shares(ctx, m, ds);
    free(p);
    bsnn_history_free(h);
    bsnn_model_free(m);
    bsnn_optimizer_free(opt);
    bsnn_scheduler_free(s);
    bsnn_dataset_free(ds);
}

/* ---- resume ----------------------------------------------------------------- */

enum { RESUME_EPOCHS = 4, RESUME_AT = 9, RESUME_BATCH = 32 };

/* One rank's end state: parameters and its whole checkpoint (model with
 * batch-norm statistics, optimizer, scheduler position). */
typedef struct end_state {
    float *p;
    size_t np, size;
    void *bytes;
} end_state;

static void end_state_of(end_state *e, const bsnn_model *m, const bsnn_optimizer *o,
                         const bsnn_scheduler *s)
{
    e->p = params_of(m, &e->np);
    MUST(bsnn_checkpoint_save_alloc(&e->bytes, &e->size, m, o, s));
}

static void resume(bsnn_mpi *ctx, const char *rule, const char *dir, int bn)
{
    bsnn_dataset *ds = task();
    char path[512];
    snprintf(path, sizeof path, "%s/resume.ckpt", dir);
    /* uninterrupted */
    bsnn_model *m = model(7, bn);
    bsnn_optimizer *o = optimizer(rule);
    bsnn_scheduler *s = scheduler(RESUME_BATCH);
    MUST(bsnn_mpi_broadcast(ctx, &m, &o, &s));
    MUST(bsnn_mpi_attach(ctx, m, s));
    MUST(bsnn_model_train(NULL, m, o, s, ds, RESUME_EPOCHS, NULL, NULL));
    end_state full;
    end_state_of(&full, m, o, s);
    bsnn_model_free(m), bsnn_optimizer_free(o), bsnn_scheduler_free(s);
    /* stopped after update RESUME_AT (mid-epoch), saved by rank 0, all freed */
    m = model(7, bn), o = optimizer(rule), s = scheduler(RESUME_BATCH);
    MUST(bsnn_mpi_broadcast(ctx, &m, &o, &s));
    MUST(bsnn_mpi_attach(ctx, m, s));
    run_log log = {0};
    log.stop_at = RESUME_AT;
    MUST(bsnn_model_train(NULL, m, o, s, ds, RESUME_EPOCHS, on_event, &log));
    size_t at_epoch = bsnn_scheduler_epoch(s), at_step = bsnn_scheduler_step(s);
    MUST(bsnn_mpi_checkpoint_save(ctx, m, o, s, path));
    bsnn_model_free(m), bsnn_optimizer_free(o), bsnn_scheduler_free(s);
    /* resumed: rank 0 reads the file, every rank gets its objects */
    MUST(bsnn_mpi_checkpoint_load(ctx, &m, &o, &s, path));
    MUST(bsnn_mpi_attach(ctx, m, s));
    MUST(bsnn_model_train(NULL, m, o, s, ds, RESUME_EPOCHS - bsnn_scheduler_epoch(s), NULL,
                          NULL));
    end_state resumed;
    end_state_of(&resumed, m, o, s);
    CHECK(memcmp(full.p, resumed.p, full.np * sizeof *full.p) == 0,
          "resumed parameters differ from the uninterrupted run's");
    CHECK(same_everywhere(resumed.p, resumed.np), "the ranks' parameters differ");
    if (rank == 0)
        CHECK(full.size == resumed.size && memcmp(full.bytes, resumed.bytes, full.size) == 0,
              "rank 0's checkpoint of the resumed run differs from the uninterrupted one's");
    /* batch-norm statistics are per rank: rank 1's differ from rank 0's */
    if (bn && world > 1) {
        int differ = 0;
        if (rank == 1) {
            MPI_Send(&full.size, 1, MPI_UNSIGNED_LONG, 0, 0, MPI_COMM_WORLD);
            MPI_Send(full.bytes, (int)full.size, MPI_BYTE, 0, 1, MPI_COMM_WORLD);
        } else if (rank == 0) {
            size_t size1;
            MPI_Recv(&size1, 1, MPI_UNSIGNED_LONG, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            unsigned char *b1 = malloc(size1);
            MPI_Recv(b1, (int)size1, MPI_BYTE, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            differ = size1 != full.size || memcmp(b1, full.bytes, size1) != 0;
            free(b1);
            CHECK(differ, "rank 1's uninterrupted checkpoint equals rank 0's: batch-norm "
                          "statistics should be per rank");
        }
    }
    OK("%s%s, %d ranks, %d epochs: stopped after update %d (epoch %zu, batch %zu), rank 0 "
       "saved, every rank loaded: parameters and rank 0's whole checkpoint (optimizer, "
       "scheduler%s) bit-identical to the uninterrupted run%s",
       rule, bn ? " with batch norm" : "", world, RESUME_EPOCHS, RESUME_AT, at_epoch, at_step,
       bn ? ", batch-norm statistics" : "",
       bn ? "; rank 1's batch-norm statistics differ from rank 0's" : "");
    bsnn_model_free(m), bsnn_optimizer_free(o), bsnn_scheduler_free(s);
    /* the same checkpoint resumed by one process on whole batches (batch
     * norm would normalise over the global batch there: another model) */
    if (rank == 0 && !bn) {
        MUST(bsnn_checkpoint_load(&m, &o, &s, path));
        MUST(bsnn_model_train(NULL, m, o, s, ds, RESUME_EPOCHS - bsnn_scheduler_epoch(s), NULL,
                              NULL));
        size_t np;
        float *q = params_of(m, &np);
        double w = worst(full.p, q, np);
        CHECK(w < 1e-5, "resumed as one process: parameters differ by %g", w);
        OK("the %d-rank checkpoint resumed as 1 process: parameters within %.2g of the %d-rank "
           "run (relative, floor 0.01)",
           world, w, world);
        free(q);
        bsnn_model_free(m), bsnn_optimizer_free(o), bsnn_scheduler_free(s);
    }
    free(full.p), free(resumed.p);
    bsnn_buffer_free(full.bytes), bsnn_buffer_free(resumed.bytes);
    bsnn_dataset_free(ds);
}

/* ---- fail ------------------------------------------------------------------- */

static void fail(bsnn_mpi *ctx, const char *how)
{
    bsnn_dataset *ds = task();
    MUST(bsnn_mpi_set(ctx, BSNN_MPI_TIMEOUT, 5));
    if (strcmp(how, "return") == 0) MUST(bsnn_mpi_set(ctx, BSNN_MPI_ON_TIMEOUT, BSNN_MPI_RETURN));
    bsnn_model *m = model(7, 0);
    bsnn_optimizer *o = optimizer("sgd");
    bsnn_scheduler *s = scheduler(8);
    MUST(bsnn_mpi_broadcast(ctx, &m, &o, &s));
    MUST(bsnn_mpi_attach(ctx, m, s));
    run_log log = {0};
    log.misbehave = how;
    log.ctx = ctx;
    printf("rank %d: training\n", rank);
    fflush(stdout);
    bsnn_status st = bsnn_model_train(NULL, m, o, s, ds, 20, on_event, &log);
    if (st != BSNN_OK) {
        printf("rank %d: training returned status %d: %s; bsnn_mpi: %s\n", rank, st,
               bsnn_last_error(), bsnn_mpi_last_error());
        fflush(stdout);
        bsnn_mpi_abort(ctx, 4, "ending the job after the failed reduction");
    }
    printf("rank %d: left training after %zu updates\n", rank, log.updates);
    fflush(stdout);
    bsnn_model_free(m), bsnn_optimizer_free(o), bsnn_scheduler_free(s);
    bsnn_dataset_free(ds);
}

/* ---- misuse ----------------------------------------------------------------- */

#define EXPECT(call, status, text)                                                          \
    do {                                                                                    \
        bsnn_status got = (call);                                                           \
        CHECK(got == (status) && strstr(bsnn_mpi_last_error(), (text)) != NULL,             \
              "%s gave %d (%s), want %d with '%s'", #call, got, bsnn_mpi_last_error(),      \
              (status), (text));                                                            \
        checks++;                                                                           \
    } while (0)

static void misuse(bsnn_mpi *ctx)
{
    int checks = 0;
    double d;
    unsigned u;
    bsnn_model *m = model(7, 0), *none = NULL;
    bsnn_optimizer *o = optimizer("sgd");
    bsnn_scheduler *s = scheduler(8);
    bsnn_dataset *ds = task();
    /* local checks: NULL handles and arguments, settings */
    CHECK(bsnn_mpi_create(MPI_COMM_NULL) == NULL &&
              strstr(bsnn_mpi_last_error(), "MPI_COMM_NULL") != NULL,
          "create(MPI_COMM_NULL): %s", bsnn_mpi_last_error());
    checks++;
    CHECK(bsnn_mpi_rank(NULL) == 0 && bsnn_mpi_size(NULL) == 0, "rank/size of NULL");
    CHECK(bsnn_mpi_rank(ctx) == rank && bsnn_mpi_size(ctx) == world, "rank/size");
    bsnn_mpi_free(NULL);
    EXPECT(bsnn_mpi_set(NULL, BSNN_MPI_TIMEOUT, 1), BSNN_E_NULL, "'ctx'");
    EXPECT(bsnn_mpi_set(ctx, BSNN_MPI_TIMEOUT, 0), BSNN_E_ARG, "timeout (seconds) 0 is outside (0");
    EXPECT(bsnn_mpi_set(ctx, BSNN_MPI_TIMEOUT, NAN), BSNN_E_ARG, "timeout");
    EXPECT(bsnn_mpi_set(ctx, BSNN_MPI_ON_TIMEOUT, 2), BSNN_E_ARG, "on-timeout action 2");
    EXPECT(bsnn_mpi_set(ctx, BSNN_MPI_NOISE_STATS, 0.5), BSNN_E_ARG, "noise-statistics flag 0.5");
    EXPECT(bsnn_mpi_set(ctx, (bsnn_mpi_param)99, 1), BSNN_E_ARG, "unknown setting 99");
    EXPECT(bsnn_mpi_get(NULL, ctx, BSNN_MPI_TIMEOUT), BSNN_E_NULL, "'out'");
    EXPECT(bsnn_mpi_get(&d, ctx, (bsnn_mpi_param)0), BSNN_E_ARG, "unknown setting 0");
    MUST(bsnn_mpi_get(&d, ctx, BSNN_MPI_TIMEOUT));
    CHECK(d == 60, "default timeout %g", d);
    double lo, hi;
    EXPECT(bsnn_mpi_bounds(&lo, &hi, NULL, ctx, BSNN_MPI_TIMEOUT), BSNN_E_NULL, "'out_open'");
    EXPECT(bsnn_mpi_bounds(&lo, &hi, &u, ctx, (bsnn_mpi_param)7), BSNN_E_ARG, "unknown setting 7");
    MUST(bsnn_mpi_bounds(&lo, &hi, &u, ctx, BSNN_MPI_TIMEOUT));
    CHECK(lo == 0 && hi == 1e6 && u == BSNN_BOUND_LO_OPEN, "timeout bounds");
    EXPECT(bsnn_mpi_stat(NULL, ctx, BSNN_MPI_STAT_UPDATES), BSNN_E_NULL, "'out'");
    EXPECT(bsnn_mpi_stat(&d, ctx, (bsnn_mpi_stat_id)11), BSNN_E_ARG, "unknown statistic 11");
    MUST(bsnn_mpi_stat(&d, ctx, BSNN_MPI_STAT_GRAD_SQ));
    CHECK(isnan(d), "no estimate before an update");
    EXPECT(bsnn_mpi_broadcast(NULL, &m, &o, &s), BSNN_E_NULL, "'ctx'");
    EXPECT(bsnn_mpi_attach(NULL, m, s), BSNN_E_NULL, "'ctx'");
    EXPECT(bsnn_mpi_checkpoint_save(NULL, m, o, s, "x"), BSNN_E_NULL, "'ctx'");
    EXPECT(bsnn_mpi_checkpoint_load(NULL, &m, NULL, NULL, "x"), BSNN_E_NULL, "'ctx'");
    EXPECT(bsnn_mpi_evaluate(&d, NULL, NULL, m, ds, 8), BSNN_E_NULL, "'ctx'");
    /* collective checks: every rank returns the same status */
    EXPECT(bsnn_mpi_broadcast(ctx, NULL, &o, &s), BSNN_E_NULL, "'m'");
    EXPECT(bsnn_mpi_broadcast(ctx, rank == 0 ? &none : &m, NULL, NULL), BSNN_E_NULL,
           "rank 0 has no model");
    EXPECT(bsnn_mpi_broadcast(ctx, &m, rank == 0 ? &o : NULL, NULL), BSNN_E_ARG,
           rank == 0 ? "failed: " : "this rank's 'opt' is NULL");
    if (world > 1) {
        bsnn_model *mine = model(7 + (uint64_t)rank, 0);
        EXPECT(bsnn_mpi_attach(ctx, mine, s), BSNN_E_STATE, "models differ");
        bsnn_model_free(mine);
        bsnn_scheduler *other = scheduler(8 + (size_t)rank);
        EXPECT(bsnn_mpi_attach(ctx, m, other), BSNN_E_STATE, "schedulers differ");
        bsnn_scheduler_free(other);
    }
    EXPECT(bsnn_mpi_attach(ctx, NULL, s), BSNN_E_NULL, "'m'");
    EXPECT(bsnn_mpi_checkpoint_save(ctx, m, o, s, "/nonexistent-dir/x.ckpt"), BSNN_E_IO,
           "rank 0 writing the checkpoint");
    EXPECT(bsnn_mpi_checkpoint_load(ctx, &m, NULL, NULL, "/nonexistent-dir/x.ckpt"), BSNN_E_IO,
           "rank 0 reading the checkpoint");
    EXPECT(bsnn_mpi_checkpoint_load(ctx, NULL, NULL, NULL, "x"), BSNN_E_NULL, "'out_model'");
    EXPECT(bsnn_mpi_evaluate(&d, NULL, ctx, m, ds, 0), BSNN_E_ARG, "batch_size 0");
    EXPECT(bsnn_mpi_evaluate(&d, NULL, ctx, m, NULL, 8), BSNN_E_NULL, "'ds'");
    bsnn_model *no_loss = bsnn_model_create(IN);
    bsnn_model_add(no_loss, bsnn_layer_dense(CLASSES));
    EXPECT(bsnn_mpi_evaluate(&d, NULL, ctx, no_loss, ds, 8), BSNN_E_STATE, "evaluating");
    bsnn_model_free(no_loss);
    /* a good path still works after all that */
    MUST(bsnn_mpi_attach(ctx, m, s));
    size_t r, w;
    MUST(bsnn_scheduler_get_shard(&r, &w, s));
    CHECK(r == (size_t)rank && w == (size_t)world, "attach shards the scheduler: (%zu, %zu)", r, w);
    OK("misuse: %d refused calls with their messages, the same status on every rank", checks);
    bsnn_model_free(m), bsnn_optimizer_free(o), bsnn_scheduler_free(s);
    bsnn_dataset_free(ds);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    bsnn_mpi *ctx = bsnn_mpi_create(MPI_COMM_WORLD);
    if (ctx == NULL) MUST(BSNN_E_STATE);
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "equiv") == 0 && (argc == 5 || argc == 6)) {
        with_dropout = argc == 6 && strcmp(argv[5], "dropout") == 0;
        equiv(ctx, argv[2], (size_t)atoi(argv[3]), (size_t)atoi(argv[4]));
    }
    else if (strcmp(mode, "resume") == 0 && argc == 5)
        resume(ctx, argv[2], argv[3], strcmp(argv[4], "bn") == 0);
    else if (strcmp(mode, "fail") == 0 && argc == 3)
        fail(ctx, argv[2]);
    else if (strcmp(mode, "misuse") == 0)
        misuse(ctx);
    else {
        if (rank == 0) fprintf(stderr, "usage: mpi_train equiv|resume|fail|misuse ...\n");
        failures++;
    }
    int all = 0;
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) printf("RESULT: %s\n", all ? "fail" : "pass");
    fflush(stdout);
    bsnn_mpi_free(ctx);
    MPI_Finalize();
    return all ? 1 : 0;
}
