/*
 * bench_mpi.c - times data-parallel training steps of the wide net through
 * libbsnn_mpi, and the reduction alone, under mpirun (tests/bench/run_mpi.py
 * runs it; make bench-mpi).
 *
 *   bench_mpi steps THREADS MIN_TIME BATCH...   every rank trains its share
 *       of a global batch BATCH (the scheduler's rule) with
 *       bsnn_model_train_step; on more than one rank through bsnn_mpi_attach
 *       (one allreduce per update), on one rank plain bsnn (no MPI call)
 *   bench_mpi buckets MIN_TIME BATCH            the gradient's reduction
 *       alone: the whole arena at once, the three layers as buckets, and the
 *       buckets started before a step's compute (overlap) against compute
 *       then the reduction
 *
 * Rank 0 prints one JSON object per measurement. Every rank runs the same
 * number of steps (rank 0 decides it from a calibration), since each step is
 * a collective.
 */
#include <bsnn_mpi.h>

#include "bench_common.h"

static int rank, world;

/* The wide net (784-1024-1024-10, ReLU, softmax CE on class indices), the
 * same parameters on every rank (seeded). */
static bsnn_model *wide_model(void)
{
    static const size_t w[4] = {784, 1024, 1024, 10};
    bsnn_model *m = bsnn_model_create(w[0]);
    for (int i = 1; i < 4; i++) {
        bsnn_model_add(m, bsnn_layer_dense(w[i]));
        if (i < 3) bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_RELU));
    }
    bsnn_model_set_loss(m, BSNN_LOSS_SOFTMAX_CE);
    bsnn_model_init_params(m, 1);
    return m;
}

typedef struct run {
    bsnn_model *m;
    bsnn_optimizer *opt;
    bsnn_tensor *x, *y;
    int failed;
} run;

static void one_step(void *ctx)
{
    run *r = ctx;
    if (bsnn_model_train_step(NULL, r->m, r->opt, r->x, r->y) != BSNN_OK) r->failed = 1;
}

/* This rank's share of a global batch of `batch` rows (the same rows on
 * every rank: bench_common's generator restarted per batch). */
static void make_share(run *r, size_t batch)
{
    size_t lo = (size_t)rank * (batch / (size_t)world) +
                ((size_t)rank < batch % (size_t)world ? (size_t)rank : batch % (size_t)world);
    size_t rows = batch / (size_t)world + ((size_t)rank < batch % (size_t)world);
    size_t xs[2] = {rows, 784}, ys[2] = {rows, 1};
    r->x = bsnn_tensor_create(2, xs);
    r->y = bsnn_tensor_create(2, ys);
    bench_rng = 0x9E3779B97F4A7C15ull;
    float *x = bsnn_tensor_data(r->x), *y = bsnn_tensor_data(r->y);
    for (size_t i = 0; i < batch; i++)
        for (size_t j = 0; j < 785; j++) {
            float v = bench_uniform();
            if (i < lo || i >= lo + rows) continue;
            if (j < 784)
                x[(i - lo) * 784 + j] = v;
            else
                y[i - lo] = (float)(int)(v * 10.0f);
        }
}

/* Steps every rank runs: enough for min_time on the slowest rank. */
static long agreed_steps(void (*step)(void *), void *ctx, double min_time)
{
    for (int i = 0; i < 3; i++) step(ctx); /* workspace, optimizer state, caches */
    double t0 = bench_now();
    for (int i = 0; i < 3; i++) step(ctx);
    double per = (bench_now() - t0) / 3.0;
    long n = (long)(min_time / per) + 1, all = n;
    if (world > 1) MPI_Allreduce(&n, &all, 1, MPI_LONG, MPI_MAX, MPI_COMM_WORLD);
    return all < 3 ? 3 : all;
}

static void bench_steps(bsnn_mpi *ctx, int threads, double min_time, size_t batch)
{
    run r = {wide_model(), bsnn_optimizer_create(BSNN_SGD), NULL, NULL, 0};
    bsnn_optimizer_set(r.opt, BSNN_OPT_LR, 0.01);
    make_share(&r, batch);
    if (world > 1 && bsnn_mpi_attach(ctx, r.m, NULL) != BSNN_OK) {
        fprintf(stderr, "bench_mpi: %s\n", bsnn_mpi_last_error());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    long steps = agreed_steps(one_step, &r, min_time);
    double red0 = 0.0, red1 = 0.0;
    bsnn_mpi_stat(&red0, ctx, BSNN_MPI_STAT_REDUCE_SECONDS);
    if (world > 1) MPI_Barrier(MPI_COMM_WORLD);
    double t0 = bench_now();
    for (long i = 0; i < steps; i++) one_step(&r);
    double sec = (bench_now() - t0) / (double)steps;
    bsnn_mpi_stat(&red1, ctx, BSNN_MPI_STAT_REDUCE_SECONDS);
    double red = (red1 - red0) / (double)steps, red_max = red, sec_max = sec;
    int failed = r.failed, any = failed;
    if (world > 1) {
        MPI_Allreduce(&red, &red_max, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        MPI_Allreduce(&sec, &sec_max, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    }
    if (rank == 0)
        printf("{\"impl\":\"bsnn-mpi\",\"ranks\":%d,\"threads\":%d,\"batch\":%zu,"
               "\"us_per_step\":%.3f,\"steps\":%ld,\"reduce_us_per_step\":%.3f,"
               "\"reduce_us_rank0\":%.3f,\"ok\":%s}\n",
               world, threads, batch, sec_max * 1e6, steps, red_max * 1e6, red * 1e6,
               any ? "false" : "true");
    fflush(stdout);
    bsnn_tensor_free(r.x), bsnn_tensor_free(r.y);
    bsnn_optimizer_free(r.opt);
    bsnn_model_free(r.m);
}

/* ---- the reduction alone: whole, buckets, overlap ---------------------------- */

/* The arena's three layers in the order a backward pass finishes them. */
static const size_t layer_floats[3] = {1024 * 10 + 10, 1024 * 1024 + 1024, 784 * 1024 + 1024};

/* libnbc's Rabenseifner algorithm, as libbsnn_mpi selects it. */
static void select_rabenseifner(void)
{
    int provided, index, count, v = 3;
    MPI_T_cvar_handle h;
    if (MPI_T_init_thread(MPI_THREAD_SINGLE, &provided) != MPI_SUCCESS) return;
    if (MPI_T_cvar_get_index("coll_libnbc_iallreduce_algorithm", &index) == MPI_SUCCESS &&
        MPI_T_cvar_handle_alloc(index, NULL, &h, &count) == MPI_SUCCESS) {
        MPI_T_cvar_write(h, &v);
        MPI_T_cvar_handle_free(&h);
    }
}

static void start(float *g, MPI_Request *req, int *n, int buckets)
{
    *n = 0;
    size_t off = 0;
    for (int b = 0; b < 3; b++) {
        size_t k = buckets ? layer_floats[b] : layer_floats[0] + layer_floats[1] + layer_floats[2];
        MPI_Iallreduce(MPI_IN_PLACE, g + off, (int)k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                       &req[(*n)++]);
        off += k;
        if (!buckets) break;
    }
}

static void waitall(MPI_Request *req, int n)
{
    int done = 0;
    while (!done) MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE);
}

/* Median of `reps` timings of fn's variant (the same on every rank). */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void bench_buckets(double min_time, size_t batch)
{
    select_rabenseifner();
    size_t count = layer_floats[0] + layer_floats[1] + layer_floats[2];
    float *g = calloc(count, sizeof *g);
    run r = {wide_model(), bsnn_optimizer_create(BSNN_SGD), NULL, NULL, 0};
    bsnn_optimizer_set(r.opt, BSNN_OPT_LR, 0.01);
    make_share(&r, batch);
    long reps = agreed_steps(one_step, &r, min_time / 3);
    enum { WHOLE, BUCKETS, COMPUTE, SEQUENTIAL, OVERLAP, LEFT, N_KINDS };
    double *t[N_KINDS];
    for (int k = 0; k < N_KINDS; k++) t[k] = calloc((size_t)reps, sizeof(double));
    MPI_Request req[3];
    int n;
    for (long i = 0; i < reps; i++) {
        for (int buckets = 0; buckets < 2; buckets++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = bench_now();
            start(g, req, &n, buckets);
            waitall(req, n);
            t[buckets ? BUCKETS : WHOLE][i] = bench_now() - t0;
        }
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = bench_now();
        one_step(&r);
        double t1 = bench_now();
        start(g, req, &n, 0);
        waitall(req, n);
        t[COMPUTE][i] = t1 - t0;
        t[SEQUENTIAL][i] = bench_now() - t0;
        /* the buckets started first, the compute done while they are in
         * flight (no MPI call meanwhile, as inside bsnn's backward pass) */
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = bench_now();
        start(g, req, &n, 1);
        one_step(&r);
        t1 = bench_now();
        waitall(req, n);
        t[OVERLAP][i] = bench_now() - t0;
        t[LEFT][i] = bench_now() - t1;
    }
    for (int k = 0; k < N_KINDS; k++) qsort(t[k], (size_t)reps, sizeof(double), cmp_double);
    if (rank == 0)
        printf("{\"impl\":\"reduction\",\"ranks\":%d,\"batch\":%zu,\"floats\":%zu,\"reps\":%ld,"
               "\"whole_us\":%.3f,\"buckets_us\":%.3f,\"compute_us\":%.3f,"
               "\"sequential_us\":%.3f,\"overlap_us\":%.3f,\"left_after_compute_us\":%.3f}\n",
               world, batch, count, reps, t[WHOLE][reps / 2] * 1e6, t[BUCKETS][reps / 2] * 1e6,
               t[COMPUTE][reps / 2] * 1e6, t[SEQUENTIAL][reps / 2] * 1e6,
               t[OVERLAP][reps / 2] * 1e6, t[LEFT][reps / 2] * 1e6);
    fflush(stdout);
    for (int k = 0; k < N_KINDS; k++) free(t[k]);
    free(g);
    bsnn_tensor_free(r.x), bsnn_tensor_free(r.y);
    bsnn_optimizer_free(r.opt);
    bsnn_model_free(r.m);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    bsnn_mpi *ctx = bsnn_mpi_create(MPI_COMM_WORLD);
    int ok = ctx != NULL && argc >= 4;
    if (ok && strcmp(argv[1], "steps") == 0 && argc >= 5) {
        int threads = atoi(argv[2]);
        bsnn_set_num_threads(threads);
        for (int i = 4; i < argc; i++) bench_steps(ctx, threads, atof(argv[3]), (size_t)atol(argv[i]));
    } else if (ok && strcmp(argv[1], "buckets") == 0 && world > 1) {
        bench_buckets(atof(argv[2]), (size_t)atol(argv[3]));
    } else {
        if (rank == 0)
            fprintf(stderr, "usage: bench_mpi steps THREADS MIN_TIME BATCH... | buckets MIN_TIME "
                            "BATCH (2+ ranks)\n%s\n",
                    bsnn_mpi_last_error());
        ok = 0;
    }
    bsnn_mpi_free(ctx);
    MPI_Finalize();
    return ok ? 0 : 1;
}
