/*
 * reduce.c - data parallelism proper. The gradient hook turns each rank's
 * local mean gradient into the global one: a small allreduce of the rows,
 * loss sum (and noise statistics), then ONE in-place MPI_Iallreduce of the
 * whole gradient arena, weighted by rows (local means scaled to sums when
 * the ranks' rows differ; plain means averaged when they are equal, which
 * saves a pass), divided back into the global mean. Every rank ends with
 * the same bits (MPI's reduction delivers one result to all), so every rank
 * applies the same update and reaches the same verdict. Why one reduction
 * and not buckets overlapped with the backward pass: docs/mpi.md. Also
 * bsnn_mpi_attach, which checks the ranks agree before installing it.
 */
#include "mpi/internal.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- passes over the gradient (the hot loops) ------------------------------- */

/* Lanes of the double sums of squares: independent chains the compiler can
 * vectorise without reassociating. */
#define LANES 8

static double sum_sq(const float *g, size_t n)
{
    double acc[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) acc[j] += (double)g[i + j] * (double)g[i + j];
    double s = 0.0;
    for (; i < n; i++) s += (double)g[i] * (double)g[i];
    for (int j = 0; j < LANES; j++) s += acc[j];
    return s;
}

/* A rank's mean over `rows` rows into their sum (rows < 2^24 is exact in
 * float; larger counts go through double). */
static void scale(float *g, size_t n, double rows)
{
    if (rows < 16777216.0) {
        float w = (float)rows;
        for (size_t i = 0; i < n; i++) g[i] *= w;
    } else {
        for (size_t i = 0; i < n; i++) g[i] = (float)((double)g[i] * rows);
    }
}

/* The reduced sum back into a mean: division by `by` (correctly rounded). */
static void divide(float *g, size_t n, double by)
{
    if (by < 16777216.0) {
        float d = (float)by;
        for (size_t i = 0; i < n; i++) g[i] /= d;
    } else {
        for (size_t i = 0; i < n; i++) g[i] = (float)((double)g[i] / by);
    }
}

/* ---- the reduction -------------------------------------------------------- */

/* Start the in-place sum of the arena, in chunks MPI counts can hold, with
 * libnbc's Rabenseifner algorithm for it (the host's own choice of that
 * variable, when it made one, is left alone). */
static bsnn_status start_arena(bsnn_mpi *ctx, float *g, size_t count, MPI_Request *reqs,
                               int *n, const char *what)
{
    int saved = 0, fast = 3;
    int set = ctx->have_alg && MPI_T_cvar_read(ctx->alg, &saved) == MPI_SUCCESS && saved == 0 &&
              MPI_T_cvar_write(ctx->alg, &fast) == MPI_SUCCESS;
    bsnn_status st = BSNN_OK;
    *n = 0;
    for (size_t off = 0; off < count && st == BSNN_OK; off += BSNN_MPI__CHUNK) {
        size_t k = count - off < BSNN_MPI__CHUNK ? count - off : BSNN_MPI__CHUNK;
        int rc = MPI_Iallreduce(MPI_IN_PLACE, g + off, (int)k, MPI_FLOAT, MPI_SUM, ctx->comm,
                                &reqs[(*n)++]);
        if (rc != MPI_SUCCESS) st = bsnn_mpi__mpi_failed(ctx, rc, what);
    }
    if (set) MPI_T_cvar_write(ctx->alg, &saved);
    return st;
}

/* The scalars, summed over ranks: rows, rows^2 (equal rows on every rank
 * iff size * sum(rows^2) == sum(rows)^2, exact in double), the loss sum,
 * |g_local|^2 and 1 for a rank with rows. */
enum { S_ROWS, S_ROWS_SQ, S_LOSS, S_SMALL_SQ, S_WITH_ROWS, N_SCALARS };

static void record(bsnn_mpi *ctx, const double *s, double local, double big_sq)
{
    double B = s[S_ROWS], k = s[S_WITH_ROWS], b = k > 0 ? B / k : 0.0;
    ctx->updates++;
    ctx->local_rows = local;
    ctx->global_rows = B;
    ctx->small_batch = b;
    if (!ctx->noise) return;
    /* The two-batch estimators of this one update, and the same observation
     * (|g_local|^2 over b rows, |g_global|^2 over B) into the attached
     * model's running estimate, which smooths |G|^2 and tr(Sigma) apart
     * before dividing (bsnn_model_noise_observe is allowed in the hook).
     * One rank (b == B) or a non-finite gradient has nothing to give. */
    ctx->small_sq = k > 0 ? s[S_SMALL_SQ] / k : NAN;
    ctx->big_sq = big_sq;
    ctx->grad_sq = b < B ? (B * big_sq - b * ctx->small_sq) / (B - b) : NAN;
    ctx->trace = b < B ? (ctx->small_sq - big_sq) / (1.0 / b - 1.0 / B) : NAN;
    if (ctx->model && b >= 1.0 && b < B && isfinite(ctx->small_sq) && isfinite(big_sq))
        bsnn_model_noise_observe(ctx->model, ctx->small_sq, b, big_sq, B);
}

static int reduce(bsnn_mpi *ctx, float *g, size_t count, size_t *rows, double *loss_sum)
{
    if (bsnn_mpi__usable(ctx) != BSNN_OK) return 1;
    char what[96];
    snprintf(what, sizeof what, "the gradient allreduce of update %zu", ctx->updates + 1);
    double local = (double)*rows;
    double s[N_SCALARS] = {local, local * local, *loss_sum, 0.0, local > 0 ? 1.0 : 0.0};
    if (ctx->noise && local > 0) s[S_SMALL_SQ] = sum_sq(g, count);
    if (bsnn_mpi__allreduce(ctx, s, N_SCALARS, MPI_DOUBLE, MPI_SUM, what) != BSNN_OK) return 1;
    double total = s[S_ROWS];
    int equal = s[S_ROWS_SQ] * (double)ctx->size == total * total;
    if (!equal) scale(g, count, local);
    MPI_Request reqs[BSNN_MPI__MAX_REQUESTS];
    int n = 0;
    if (start_arena(ctx, g, count, reqs, &n, what) != BSNN_OK) return 1;
    if (bsnn_mpi__wait(ctx, reqs, n, what) != BSNN_OK) return 1;
    if (total > 0) divide(g, count, equal ? (double)ctx->size : total);
    record(ctx, s, local, ctx->noise ? sum_sq(g, count) : NAN);
    *rows = (size_t)total;
    *loss_sum = s[S_LOSS];
    return 0;
}

int bsnn_mpi__grad_hook(void *user, float *grads, size_t count, size_t *rows, double *loss_sum)
{
    bsnn_mpi *ctx = user;
    const char *entry = bsnn_mpi__entry;
    bsnn_mpi__entry = "bsnn_mpi gradient hook";
    double t0 = MPI_Wtime();
    int rc = reduce(ctx, grads, count, rows, loss_sum);
    ctx->last_seconds = MPI_Wtime() - t0;
    ctx->reduce_seconds += ctx->last_seconds;
    bsnn_mpi__entry = entry;
    return rc;
}

/* ---- attach ----------------------------------------------------------------- */

/* FNV-1a over bytes, continuing from h. */
static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

#define FNV_START 14695981039346656037ull

static bsnn_status params_print(uint64_t *out, const bsnn_model *m)
{
    size_t count = bsnn_model_param_count(m);
    float *p = malloc(count ? count * sizeof *p : 1);
    if (p == NULL) return bsnn_mpi__fail(BSNN_E_NOMEM, "out of memory (%zu parameters)", count);
    bsnn_status st = bsnn_model_get_params(p, count, m);
    *out = fnv(fnv(FNV_START, &count, sizeof count), p, count * sizeof *p);
    free(p);
    if (st != BSNN_OK) return bsnn_mpi__fail_bsnn(st, "reading the parameters");
    return BSNN_OK;
}

/* The scheduler's global sequence: samples, seed, position and every
 * setting that shapes batches or lrs (not the micro-batch or memory budget,
 * which only split a rank's share). */
static uint64_t sched_print(const bsnn_scheduler *s)
{
    uint64_t h = FNV_START;
    if (s == NULL) return h;
    size_t pos[4] = {bsnn_scheduler_n_samples(s), bsnn_scheduler_epoch(s), bsnn_scheduler_step(s),
                     bsnn_scheduler_total_steps(s)};
    uint64_t seed = 0;
    bsnn_scheduler_get_seed(&seed, s);
    h = fnv(fnv(h, pos, sizeof pos), &seed, sizeof seed);
    for (int p = BSNN_SCHED_BATCH_SIZE; p <= BSNN_SCHED_BASE_BATCH; p++) {
        double v = 0.0;
        if (p != BSNN_SCHED_SEED) bsnn_scheduler_get(&v, s, (bsnn_sched_param)p);
        h = fnv(h, &v, sizeof v);
    }
    return h;
}

bsnn_status bsnn_mpi_attach(bsnn_mpi *ctx, bsnn_model *m, bsnn_scheduler *s)
{
    BSNN_MPI_ENTER();
    BSNN_MPI_CHECK_NULL(ctx);
    BSNN_MPI_TRY(bsnn_mpi__usable(ctx));
    uint64_t mine[2] = {0, sched_print(s)};
    bsnn_status st = m ? params_print(&mine[0], m)
                       : bsnn_mpi__fail(BSNN_E_NULL, "argument 'm' is NULL");
    BSNN_MPI_TRY(bsnn_mpi__agree(ctx, st, "bsnn_mpi_attach"));
    /* all equal iff max(v) == v and max(~v) == ~v on every rank */
    uint64_t v[4] = {mine[0], ~mine[0], mine[1], ~mine[1]}, w[4];
    memcpy(w, v, sizeof v);
    BSNN_MPI_TRY(bsnn_mpi__allreduce(ctx, w, 4, MPI_UINT64_T, MPI_MAX, "bsnn_mpi_attach"));
    BSNN_MPI_FAIL_IF(w[0] != v[0] || w[1] != v[1], BSNN_E_STATE,
                     "the ranks' models differ (parameters or their count): make them equal "
                     "with bsnn_mpi_broadcast first");
    BSNN_MPI_FAIL_IF(w[2] != v[2] || w[3] != v[3], BSNN_E_STATE,
                     "the ranks' schedulers differ (samples, seed, position or batch and lr "
                     "settings): every rank must draw the same global batches");
    st = bsnn_model_set_grad_hook(m, bsnn_mpi__grad_hook, ctx);
    if (st == BSNN_OK && s) st = bsnn_scheduler_set_shard(s, (size_t)ctx->rank, (size_t)ctx->size);
    if (st != BSNN_OK) st = bsnn_mpi__fail_bsnn(st, "installing the hook");
    st = bsnn_mpi__agree(ctx, st, "bsnn_mpi_attach");
    if (st == BSNN_OK) ctx->model = m;
    return st;
}
