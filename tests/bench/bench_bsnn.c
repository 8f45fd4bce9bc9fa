/*
 * bench_bsnn.c - times bsnn training steps, and the raw bli_sgemm calls of
 * the same shapes, for one net and thread count.
 *
 *   bench_bsnn NET THREADS MIN_TIME BATCH...     NET: wide | tiny
 *
 * Prints one JSON object per line and batch for impl "bsnn" (a full
 * bsnn_model_train_step with plain SGD) and impl "blis-gemm" (only the GEMMs
 * a dense forward+backward needs: 3 forward, 3 weight-gradient and 2
 * input-gradient products, called straight through bli_sgemm). Allocations
 * are counted through bsnn's own allocator hook.
 */
#include <bsnn.h>
#include <blis.h>

#include "bench_common.h"

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

static bsnn_model *make_model(const char *net, const int *w)
{
    int wide = strcmp(net, "wide") == 0;
    bsnn_activation act = wide ? BSNN_ACT_RELU : BSNN_ACT_TANH;
    bsnn_model *m = bsnn_model_create((size_t)w[0]);
    for (int i = 1; i < 4; i++) {
        bsnn_model_add(m, bsnn_layer_dense((size_t)w[i]));
        if (i < 3) bsnn_model_add(m, bsnn_layer_activation(act));
    }
    bsnn_model_set_loss(m, wide ? BSNN_LOSS_SOFTMAX_CE : BSNN_LOSS_MSE);
    return m;
}

static void report(const char *impl, const char *net, int batch, int threads, double sec,
                   long steps, double allocs, long long rss, const char *extra)
{
    printf("{\"impl\":\"%s\",\"net\":\"%s\",\"batch\":%d,\"threads\":%d,\"us_per_step\":%.4f,"
           "\"steps\":%ld,\"allocs_per_step\":%.4g,\"peak_rss_bytes\":%lld%s}\n",
           impl, net, batch, threads, sec * 1e6, steps, allocs, rss, extra);
    fflush(stdout);
}

static void bench_model(const char *net, const int *w, int batch, int threads, double min_time)
{
    bench_reset_peak_rss();
    size_t n = (size_t)batch, xs[2] = {n, (size_t)w[0]};
    int wide = strcmp(net, "wide") == 0;
    size_t ys[2] = {n, wide ? 1 : (size_t)w[3]};
    run r = {make_model(net, w), bsnn_optimizer_create(BSNN_SGD), bsnn_tensor_create(2, xs),
             bsnn_tensor_create(2, ys), 0};
    bsnn_optimizer_set(r.opt, BSNN_OPT_LR, 0.01);
    float *x = bsnn_tensor_data(r.x), *y = bsnn_tensor_data(r.y);
    for (size_t i = 0; i < xs[0] * xs[1]; i++) x[i] = bench_uniform();
    for (size_t i = 0; i < n; i++)
        y[i] = wide ? (float)(int)(bench_uniform() * 10.0f) : bench_uniform() * 2.0f - 1.0f;
    for (int i = 0; i < 3; i++) bsnn_step(&r); /* workspace and caches warm */
    long long a0 = n_allocs;
    long steps;
    double sec = bench_time(bsnn_step, &r, min_time, 0, &steps);
    double allocs = (double)(n_allocs - a0) / (double)steps;
    long long rss = bench_peak_rss();
    double loss = 0.0;
    bsnn_model_train_step(&loss, r.m, r.opt, r.x, r.y);
    char extra[160];
    snprintf(extra, sizeof extra, ",\"loss\":%.6g,\"ok\":%s", loss, r.failed ? "false" : "true");
    report("bsnn", net, batch, threads, sec, steps, allocs, rss, extra);
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
    float *act[4], *delta[4], *wt[3], *gw[3];
} gemm_ctx;

static void sg(size_t m, size_t n, size_t k, float *a, inc_t rsa, inc_t csa, float *b, inc_t rsb,
               inc_t csb, float beta, float *c, inc_t rsc)
{
    float one = 1.0f;
    bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)m, (dim_t)n, (dim_t)k, &one, a, rsa,
              csa, b, rsb, csb, &beta, c, rsc, 1);
}

static void gemm_step(void *ctx)
{
    gemm_ctx *g = ctx;
    size_t n = g->n;
    for (int l = 0; l < 3; l++) {
        size_t in = (size_t)g->w[l], out = (size_t)g->w[l + 1];
        sg(n, out, in, g->act[l], (inc_t)in, 1, g->wt[l], (inc_t)out, 1, 1.0f, g->act[l + 1],
           (inc_t)out);
    }
    for (int l = 2; l >= 0; l--) {
        size_t in = (size_t)g->w[l], out = (size_t)g->w[l + 1];
        sg(in, out, n, g->act[l], 1, (inc_t)in, g->delta[l + 1], (inc_t)out, 1, 1.0f, g->gw[l],
           (inc_t)out);
        if (l > 0)
            sg(n, in, out, g->delta[l + 1], (inc_t)out, 1, g->wt[l], 1, (inc_t)out, 0.0f,
               g->delta[l], (inc_t)in);
    }
}

static void bench_gemm(const char *net, const int *w, int batch, int threads, double min_time)
{
    gemm_ctx g;
    memcpy(g.w, w, sizeof g.w);
    g.n = (size_t)batch;
    for (int l = 0; l < 4; l++) {
        g.act[l] = calloc(g.n * (size_t)w[l], sizeof(float));
        g.delta[l] = calloc(g.n * (size_t)w[l], sizeof(float));
        for (size_t i = 0; i < g.n * (size_t)w[l]; i++)
            g.act[l][i] = bench_uniform(), g.delta[l][i] = bench_uniform() * 1e-3f;
    }
    for (int l = 0; l < 3; l++) {
        size_t c = (size_t)w[l] * (size_t)w[l + 1];
        g.wt[l] = calloc(c, sizeof(float));
        g.gw[l] = calloc(c, sizeof(float));
        for (size_t i = 0; i < c; i++) g.wt[l][i] = bench_uniform() * 1e-2f;
    }
    long steps;
    double sec = bench_time(gemm_step, &g, min_time, 3, &steps);
    report("blis-gemm", net, batch, threads, sec, steps, 0.0, 0, "");
    for (int l = 0; l < 4; l++) free(g.act[l]), free(g.delta[l]);
    for (int l = 0; l < 3; l++) free(g.wt[l]), free(g.gw[l]);
}

int main(int argc, char **argv)
{
    bench_args a;
    if (bench_parse(&a, argc, argv)) return 2;
    const char *net = a.net;
    int threads = a.threads, *w = a.w;
    double min_time = a.min_time;
    if (bsnn_set_allocator(count_alloc, count_free, NULL) != BSNN_OK ||
        bsnn_set_num_threads(threads) != BSNN_OK) {
        fprintf(stderr, "bench_bsnn: %s\n", bsnn_last_error());
        return 1;
    }
    bli_thread_set_num_threads(threads);
    for (int i = 4; i < argc; i++) {
        int batch = atoi(argv[i]);
        bench_model(net, w, batch, threads, min_time);
        bench_gemm(net, w, batch, threads, min_time / 2);
    }
    return 0;
}
