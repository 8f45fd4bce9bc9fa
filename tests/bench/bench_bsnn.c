/*
 * bench_bsnn.c - times bsnn training steps, and the raw BLIS calls of the
 * same shapes, for one net and thread count.
 *
 *   bench_bsnn [--gemm-only] NET THREADS MIN_TIME BATCH...     NET: wide | tiny
 *
 * Prints one JSON object per line, variant and batch: the variants below
 * (full bsnn_model_train_step calls with one update rule each) and, for the
 * wide net at batch >= OUTSIDE_MIN_BATCH, impl "blis-gemm-<config>": only the
 * GEMMs of one dense training step (3 forward, 3 weight-gradient and 2
 * input-gradient products) called straight through bli_sgemm_ex with the
 * configuration BLIS selected in this process. --gemm-only times only those
 * (run.py runs it again under BLIS's other configurations). Allocations are
 * counted through bsnn's allocator hook.
 */
#include <bsnn.h>
#include <blis.h>

#include "bench_common.h"

/* Time outside GEMM is measured at batch >= this (the targets). */
enum { OUTSIDE_MIN_BATCH = 256 };

/* Gradient statistics are timed from this batch (issue 15's target). */
enum { NOISE_MIN_BATCH = 32 };

/* One timed configuration of bsnn's step. */
typedef struct variant {
    const char *impl;          /* "impl" of the results                    */
    bsnn_optimizer_kind rule;  /* with its PyTorch-default settings ...    */
    double lr;                 /* ... and this learning rate (0: default)  */
    int min_batch, wide_only;  /* where it is timed                        */
    int noise_route;           /* BSNN_MODEL_NOISE_ROUTE (0: off)          */
} variant;

static const variant variants[] = {
    {"bsnn", BSNN_SGD, 0.01, 1, 0, BSNN_NOISE_OFF},
    {"bsnn-adam", BSNN_ADAM, 0.0, NOISE_MIN_BATCH, 1, BSNN_NOISE_OFF},
    /* the per-sample noise route on the same Adam step: its extra time */
    {"bsnn-adam-noise", BSNN_ADAM, 0.0, NOISE_MIN_BATCH, 1, BSNN_NOISE_PER_SAMPLE},
};

static long long n_allocs;

static void *count_alloc(void *user, size_t size)
{
    (void)user;
    n_allocs++;
    return malloc(size);
}

static void count_free(void *user, void *ptr, size_t size)
{
    (void)user, (void)size;
    free(ptr);
}

typedef struct run {
    bsnn_model *m;
    bsnn_optimizer *opt;
    bsnn_tensor *x, *y;
    int failed;
} run;

static void bsnn_step(void *ctx)
{
    run *r = ctx;
    if (bsnn_model_train_step(NULL, r->m, r->opt, r->x, r->y) != BSNN_OK) r->failed = 1;
}

/* wide: dense, relu, dense, relu, dense, softmax CE on class indices;
 * tiny: tanh in place of relu and PyTorch's mean squared error. */
static bsnn_model *make_model(int wide, const int *w)
{
    bsnn_model *m = bsnn_model_create((size_t)w[0]);
    for (int i = 1; i < 4; i++) {
        bsnn_model_add(m, bsnn_layer_dense((size_t)w[i]));
        if (i < 3) bsnn_model_add(m, bsnn_layer_activation(wide ? BSNN_ACT_RELU : BSNN_ACT_TANH));
    }
    bsnn_model_set_loss(m, wide ? BSNN_LOSS_SOFTMAX_CE : BSNN_LOSS_MSE_MEAN);
    return m;
}

static void report(const char *impl, const char *net, int batch, int threads, double sec,
                   long steps, const char *extra)
{
    printf("{\"impl\":\"%s\",\"net\":\"%s\",\"batch\":%d,\"threads\":%d,\"us_per_step\":%.4f,"
           "\"steps\":%ld%s}\n",
           impl, net, batch, threads, sec * 1e6, steps, extra);
    fflush(stdout);
}

static void bench_model(const variant *v, const bench_args *a, int batch)
{
    bench_reset_peak_rss();
    int wide = strcmp(a->net, "wide") == 0;
    size_t n = (size_t)batch, xs[2] = {n, (size_t)a->w[0]}, ys[2] = {n, wide ? 1 : (size_t)a->w[3]};
    run r = {make_model(wide, a->w), bsnn_optimizer_create(v->rule), bsnn_tensor_create(2, xs),
             bsnn_tensor_create(2, ys), 0};
    if (v->lr > 0.0) bsnn_optimizer_set(r.opt, BSNN_OPT_LR, v->lr);
    if (v->noise_route) bsnn_model_set(r.m, BSNN_MODEL_NOISE_ROUTE, v->noise_route);
    float *x = bsnn_tensor_data(r.x), *y = bsnn_tensor_data(r.y);
    for (size_t i = 0; i < xs[0] * xs[1]; i++) x[i] = bench_uniform();
    for (size_t i = 0; i < n; i++)
        y[i] = wide ? (float)(int)(bench_uniform() * 10.0f) : bench_uniform() * 2.0f - 1.0f;
    for (int i = 0; i < 3; i++) bsnn_step(&r); /* workspace, optimizer state, caches */
    long long a0 = n_allocs;
    uint64_t snap0 = 0, snap1 = 0;
    bsnn_model_stat(&snap0, r.m, BSNN_STAT_SNAPSHOT_BYTES_TOTAL);
    long steps;
    double sec = bench_time(bsnn_step, &r, a->min_time, 0, &steps);
    double allocs = (double)(n_allocs - a0) / (double)steps;
    bsnn_model_stat(&snap1, r.m, BSNN_STAT_SNAPSHOT_BYTES_TOTAL);
    double snapshot = (double)(snap1 - snap0) / (double)steps;
    long long rss = bench_peak_rss();
    double loss = 0.0;
    bsnn_model_train_step(&loss, r.m, r.opt, r.x, r.y);
    char extra[256];
    /* Bytes the engine copied to be able to undo a step (bsnn_model_stat),
     * per timed step: 0 unless a step's safety bound failed. */
    snprintf(extra, sizeof extra,
             ",\"allocs_per_step\":%.4g,\"snapshot_bytes_per_step\":%.4g,"
             "\"peak_rss_bytes\":%lld,\"loss\":%.6g,\"ok\":%s",
             allocs, snapshot, rss, loss, r.failed ? "false" : "true");
    report(v->impl, a->net, batch, a->threads, sec, steps, extra);
    bsnn_tensor_free(r.x);
    bsnn_tensor_free(r.y);
    bsnn_optimizer_free(r.opt);
    bsnn_model_free(r.m);
}

/* The GEMMs of one dense training step, as bsnn lays them out: weights
 * [in][out] row-major, forward X*W, dW = X^T dY, dX = dY W^T. */
typedef struct gemm_ctx {
    int w[4];
    size_t n;
    rntm_t rntm;
    float *act[4], *delta[4], *wt[3], *gw[3];
} gemm_ctx;

static void sg(gemm_ctx *g, size_t m, size_t n, size_t k, float *a, inc_t rsa, inc_t csa,
               float *b, inc_t rsb, inc_t csb, float beta, float *c, inc_t rsc)
{
    float one = 1.0f;
    bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)m, (dim_t)n, (dim_t)k, &one, a, rsa,
                 csa, b, rsb, csb, &beta, c, rsc, 1, NULL, &g->rntm);
}

static void gemm_step(void *ctx)
{
    gemm_ctx *g = ctx;
    size_t n = g->n;
    for (int l = 0; l < 3; l++) {
        size_t in = (size_t)g->w[l], out = (size_t)g->w[l + 1];
        sg(g, n, out, in, g->act[l], (inc_t)in, 1, g->wt[l], (inc_t)out, 1, 1.0f, g->act[l + 1],
           (inc_t)out);
    }
    for (int l = 2; l >= 0; l--) {
        size_t in = (size_t)g->w[l], out = (size_t)g->w[l + 1];
        sg(g, in, out, n, g->act[l], 1, (inc_t)in, g->delta[l + 1], (inc_t)out, 1, 1.0f, g->gw[l],
           (inc_t)out);
        if (l > 0)
            sg(g, n, in, out, g->delta[l + 1], (inc_t)out, 1, g->wt[l], 1, (inc_t)out, 0.0f,
               g->delta[l], (inc_t)in);
    }
}

/* The products on `threads` threads through a per-call rntm_t, with the
 * context BLIS selected (cntx NULL): no global BLIS setting is changed. */
static void bench_gemm(const bench_args *a, int batch)
{
    gemm_ctx g = {.n = (size_t)batch, .rntm = BLIS_RNTM_INITIALIZER};
    memcpy(g.w, a->w, sizeof g.w);
    bli_rntm_set_num_threads(a->threads, &g.rntm);
    for (int l = 0; l < 4; l++) {
        g.act[l] = calloc(g.n * (size_t)a->w[l], sizeof(float));
        g.delta[l] = calloc(g.n * (size_t)a->w[l], sizeof(float));
        for (size_t i = 0; i < g.n * (size_t)a->w[l]; i++)
            g.act[l][i] = bench_uniform(), g.delta[l][i] = bench_uniform() * 1e-3f;
    }
    for (int l = 0; l < 3; l++) {
        size_t c = (size_t)a->w[l] * (size_t)a->w[l + 1];
        g.wt[l] = calloc(c, sizeof(float));
        g.gw[l] = calloc(c, sizeof(float));
        for (size_t i = 0; i < c; i++) g.wt[l][i] = bench_uniform() * 1e-2f;
    }
    long steps;
    double sec = bench_time(gemm_step, &g, a->min_time / 2, 2, &steps);
    char impl[64];
    snprintf(impl, sizeof impl, "blis-gemm-%s", bli_arch_string(bli_arch_query_id()));
    report(impl, a->net, batch, a->threads, sec, steps, "");
    for (int l = 0; l < 4; l++) free(g.act[l]), free(g.delta[l]);
    for (int l = 0; l < 3; l++) free(g.wt[l]), free(g.gw[l]);
}

int main(int argc, char **argv)
{
    int gemm_only = argc > 1 && strcmp(argv[1], "--gemm-only") == 0;
    argc -= gemm_only, argv += gemm_only;
    bench_args a;
    if (bench_parse(&a, argc, argv)) return 2;
    if (bsnn_set_allocator(count_alloc, count_free, NULL) != BSNN_OK ||
        bsnn_set_num_threads(a.threads) != BSNN_OK) {
        fprintf(stderr, "bench_bsnn: %s\n", bsnn_last_error());
        return 1;
    }
    bli_init();
    int wide = strcmp(a.net, "wide") == 0;
    for (int i = 4; i < argc; i++) {
        int batch = atoi(argv[i]);
        for (size_t k = 0; k < sizeof variants / sizeof *variants && !gemm_only; k++)
            if (batch >= variants[k].min_batch && (wide || !variants[k].wide_only))
                bench_model(&variants[k], &a, batch);
        if (wide && batch >= OUTSIDE_MIN_BATCH) bench_gemm(&a, batch);
    }
    return 0;
}
