/*
 * batchnorm.c - batch normalization per feature for dense nets (Ioffe &
 * Szegedy 2015): y = gamma * (x - mean) / sqrt(var + eps) + beta.
 *
 * Training mode normalises with the batch's own mean and (biased) variance
 * and moves the running averages toward them, PyTorch's convention:
 *   running = (1 - momentum) * running + momentum * batch_statistic,
 * the variance entering unbiased (n / (n-1)), as in the paper's inference
 * step. Evaluation mode uses the running averages and changes nothing.
 *
 * Parameters: gamma [n] then beta [n]; state: running mean [n] then running
 * variance [n]; scratch: [mode][invstd n][mean n][pending mean n][pending
 * variance n][xhat rows x n], kept from forward to backward so the backward
 * pass knows which statistics were used. A training pass moves the PENDING
 * running averages (the update's first pass starts them from the state);
 * commit copies them into the state once the update is accepted, so a
 * rejected step leaves the running statistics as they were.
 */
#include "nn/nn.h"

#include <stddef.h>

typedef struct batchnorm {
    double momentum; /* running-average momentum (0.1)                 */
    double eps;      /* variance epsilon (1e-5)                         */
} batchnorm;

static const bsnn__setting settings[] = {
    {BSNN_LAYER_MOMENTUM, "momentum", BSNN__SET_DOUBLE, 0, 0.0, 1.0, 0.1,
     offsetof(batchnorm, momentum), NULL},
    {BSNN_LAYER_EPS, "eps", BSNN__SET_DOUBLE, 0, 1e-12, 1.0, 1e-5, offsetof(batchnorm, eps), NULL},
};

static bsnn_status bn_setup(bsnn_layer *l, size_t n_in)
{
    BSNN_FAIL_IF(n_in > SIZE_MAX / 8 / sizeof(float), BSNN_E_ARG,
                 "batch norm over %zu features is too large", n_in);
    l->n_in = l->n_out = n_in;
    l->n_params = 2 * n_in;
    l->n_state = 2 * n_in;
    l->scratch_fixed = 1 + 4 * n_in;
    l->scratch_per_row = n_in;
    l->n_weights = 0;
    return BSNN_OK;
}

/* gamma 1, beta 0; running mean 0, running variance 1 (the identity until
 * statistics arrive). */
static void bn_init(bsnn_layer *l, float *params, float *state, const bsnn__init_ctx *ctx)
{
    (void)ctx;
    size_t w = l->n_in;
    for (size_t j = 0; j < w; j++) {
        params[j] = 1.0f;
        params[w + j] = 0.0f;
        state[j] = 0.0f;
        state[w + j] = 1.0f;
    }
}

/* The parts of the scratch. */
typedef struct bn_scratch {
    float *mode, *invstd, *mean, *pending, *xhat;
} bn_scratch;

static bn_scratch parts(float *scratch, size_t w)
{
    bn_scratch p = {scratch, scratch + 1, scratch + 1 + w, scratch + 1 + 2 * w,
                    scratch + 1 + 4 * w};
    return p;
}

/* Columns per chunk of a per-feature pass over n rows. */
static size_t column_grain(size_t n)
{
    return n >= BSNN_PARALLEL_CHUNK ? 1 : BSNN_PARALLEL_CHUNK / n;
}

typedef struct bn_pass {
    const bsnn_layer *l;
    const float *params, *from; /* from: the running averages to move     */
    const float *x, *dy;
    float *y, *dx, *grads;
    bn_scratch s;
    size_t n;
    int accumulate, training;
} bn_pass;

/* Per-feature batch mean and biased variance in double (two passes, so
 * large means do not cancel the variance away), for the features
 * [lo, hi); the pending running averages move from `from`. */
static void statistics_chunk(void *ctx, size_t lo, size_t hi, size_t chunk)
{
    (void)chunk;
    const bn_pass *p = ctx;
    const batchnorm *d = p->l->data;
    size_t w = p->l->n_in, n = p->n;
    double mom = d->momentum, unbias = n > 1 ? (double)n / (double)(n - 1) : 1.0;
    for (size_t j = lo; j < hi; j++) {
        double sum = 0.0, ss = 0.0;
        for (size_t r = 0; r < n; r++) sum += p->x[r * w + j];
        double mean = sum / (double)n;
        for (size_t r = 0; r < n; r++) {
            double dev = p->x[r * w + j] - mean;
            ss += dev * dev;
        }
        double var = ss / (double)n;
        p->s.invstd[j] = (float)(1.0 / sqrt(var + d->eps));
        p->s.pending[j] = (float)((1.0 - mom) * p->from[j] + mom * mean);
        p->s.pending[w + j] = (float)((1.0 - mom) * p->from[w + j] + mom * var * unbias);
        p->s.mean[j] = (float)mean;
    }
}

/* y = gamma xhat + beta with the mean and 1/sqrt(var + eps) in scratch,
 * rows [lo, hi). */
static void normalise_chunk(void *ctx, size_t lo, size_t hi, size_t chunk)
{
    (void)chunk;
    const bn_pass *p = ctx;
    size_t w = p->l->n_in;
    const float *gamma = p->params, *beta = p->params + w;
    for (size_t r = lo; r < hi; r++) {
        const float *xr = p->x + r * w;
        float *hr = p->s.xhat + r * w, *yr = p->y + r * w;
        for (size_t j = 0; j < w; j++) {
            hr[j] = (xr[j] - p->s.mean[j]) * p->s.invstd[j];
            yr[j] = gamma[j] * hr[j] + beta[j];
        }
    }
}

static void normalise(bn_pass *p, float *y)
{
    p->y = y;
    bsnn__parallel_range(p->n, bsnn__row_grain(p->l->n_in), normalise_chunk, p);
}

/* Evaluation mode: the running statistics, which stay unchanged. */
static void bn_infer(const bsnn_layer *l, const float *params, const float *state,
                     float *scratch, const float *x, float *y, size_t n)
{
    const batchnorm *d = l->data;
    size_t w = l->n_in;
    bn_pass p = {l, params, NULL, x, NULL, NULL, NULL, NULL, parts(scratch, w), n, 0, 0};
    *p.s.mode = 0.0f; /* backward and commit: no batch statistics here */
    for (size_t j = 0; j < w; j++) {
        p.s.invstd[j] = (float)(1.0 / sqrt((double)state[w + j] + d->eps));
        p.s.mean[j] = state[j];
    }
    normalise(&p, y);
}

/* Training mode: the batch's statistics, moving the pending running
 * averages (from the state on the update's first pass). */
static void bn_forward(const bsnn_layer *l, const bsnn__pass *pass, const float *params,
                       const float *state, float *scratch, const float *x, float *y, size_t n)
{
    size_t w = l->n_in;
    bn_scratch s = parts(scratch, w);
    bn_pass p = {l, params, pass->first ? state : s.pending, x, NULL, NULL, NULL, NULL, s, n, 0, 1};
    *s.mode = 1.0f;
    bsnn__parallel_range(w, column_grain(n), statistics_chunk, &p);
    normalise(&p, y);
}

static void backward_chunk(void *ctx, size_t lo, size_t hi, size_t chunk)
{
    (void)chunk;
    const bn_pass *p = ctx;
    size_t w = p->l->n_in, n = p->n;
    const float *gamma = p->params, *invstd = p->s.invstd, *xhat = p->s.xhat, *dy = p->dy;
    float *ggamma = p->grads, *gbeta = p->grads + w, *dx = p->dx;
    for (size_t j = lo; j < hi; j++) {
        double sdy = 0.0, sdyh = 0.0;
        for (size_t r = 0; r < n; r++) {
            sdy += dy[r * w + j];
            sdyh += (double)dy[r * w + j] * xhat[r * w + j];
        }
        ggamma[j] = (p->accumulate ? ggamma[j] : 0.0f) + (float)sdyh;
        gbeta[j] = (p->accumulate ? gbeta[j] : 0.0f) + (float)sdy;
        if (dx == NULL) continue;
        float k = gamma[j] * invstd[j];
        if (!p->training) {
            for (size_t r = 0; r < n; r++) dx[r * w + j] = k * dy[r * w + j];
            continue;
        }
        /* dx = gamma invstd (dy - mean(dy) - xhat mean(dy xhat)): the mean
         * and variance depend on every row of the batch. */
        float mdy = (float)(sdy / (double)n), mdyh = (float)(sdyh / (double)n);
        for (size_t r = 0; r < n; r++)
            dx[r * w + j] = k * (dy[r * w + j] - mdy - xhat[r * w + j] * mdyh);
    }
}

static void bn_backward(const bsnn_layer *l, const bsnn__pass *pass, const float *params,
                        const float *state, float *grads, int accumulate, float *scratch,
                        const float *x, const float *y, float *dy, float *dx, size_t n)
{
    (void)pass, (void)state, (void)x, (void)y;
    bn_scratch s = parts(scratch, l->n_in);
    bn_pass p = {l, params, NULL, NULL, dy, NULL, dx, grads, s, n, accumulate, *s.mode != 0.0f};
    bsnn__parallel_range(l->n_in, column_grain(n), backward_chunk, &p);
}

/* The update was accepted: the running averages its passes moved. */
static void bn_commit(bsnn_layer *l, float *state, const float *scratch, int training,
                      size_t rows)
{
    if (!training || rows == 0) return; /* no batch statistics this update */
    memcpy(state, scratch + 1 + 2 * l->n_in, 2 * l->n_in * sizeof(float));
}

const bsnn_layer_ops bsnn__batchnorm_ops = {
    .kind = BSNN_LAYER_BATCHNORM,
    .name = "batch norm",
    .data_size = sizeof(batchnorm),
    .settings = settings,
    .n_settings = sizeof settings / sizeof settings[0],
    .setup = bn_setup,
    .init = bn_init,
    .infer = bn_infer,
    .forward = bn_forward,
    .backward = bn_backward,
    .commit = bn_commit,
    .min_train_rows = 2, /* one row has no variance */
};

bsnn_layer *bsnn_layer_batchnorm(void)
{
    BSNN_ENTER();
    return bsnn__layer_new(&bsnn__batchnorm_ops);
}
