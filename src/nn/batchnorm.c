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
 * variance [n]; scratch: [mode][invstd n][mean n][xhat rows x n], kept from
 * forward to backward so the backward pass knows which statistics were used.
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
    BSNN_FAIL_IF(n_in > SIZE_MAX / 4 / sizeof(float), BSNN_E_ARG,
                 "batch norm over %zu features is too large", n_in);
    l->n_in = l->n_out = n_in;
    l->n_params = 2 * n_in;
    l->n_state = 2 * n_in;
    l->scratch_fixed = 1 + 2 * n_in;
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

/* Per-feature batch mean and biased variance in double (two passes, so
 * large means do not cancel the variance away); updates the running
 * averages and leaves the mean and 1/sqrt(var + eps) for normalising. */
static void batch_statistics(const bsnn_layer *l, float *state, float *invstd, float *mean_out,
                             const float *x, size_t n)
{
    const batchnorm *d = l->data;
    size_t w = l->n_in;
    double mom = d->momentum, unbias = n > 1 ? (double)n / (double)(n - 1) : 1.0;
    for (size_t j = 0; j < w; j++) {
        double sum = 0.0, ss = 0.0;
        for (size_t r = 0; r < n; r++) sum += x[r * w + j];
        double mean = sum / (double)n;
        for (size_t r = 0; r < n; r++) {
            double d = x[r * w + j] - mean;
            ss += d * d;
        }
        double var = ss / (double)n;
        invstd[j] = (float)(1.0 / sqrt(var + d->eps));
        state[j] = (float)((1.0 - mom) * state[j] + mom * mean);
        state[w + j] = (float)((1.0 - mom) * state[w + j] + mom * var * unbias);
        mean_out[j] = (float)mean;
    }
}

/* y = gamma xhat + beta with the mean and 1/sqrt(var + eps) in scratch. */
static void normalise(const bsnn_layer *l, const float *params, float *scratch, const float *x,
                      float *y, size_t n)
{
    size_t w = l->n_in;
    const float *gamma = params, *beta = params + w;
    const float *invstd = scratch + 1, *mean = invstd + w;
    float *xhat = scratch + 1 + 2 * w;
    for (size_t r = 0; r < n; r++) {
        const float *xr = x + r * w;
        float *hr = xhat + r * w, *yr = y + r * w;
        for (size_t j = 0; j < w; j++) {
            hr[j] = (xr[j] - mean[j]) * invstd[j];
            yr[j] = gamma[j] * hr[j] + beta[j];
        }
    }
}

/* Evaluation mode: the running statistics, which stay unchanged. */
static void bn_infer(const bsnn_layer *l, const float *params, const float *state,
                     float *scratch, const float *x, float *y, size_t n)
{
    const batchnorm *d = l->data;
    size_t w = l->n_in;
    float *invstd = scratch + 1, *mean = invstd + w;
    scratch[0] = 0.0f; /* backward: the statistics did not depend on the batch */
    for (size_t j = 0; j < w; j++) {
        invstd[j] = (float)(1.0 / sqrt((double)state[w + j] + d->eps));
        mean[j] = state[j];
    }
    normalise(l, params, scratch, x, y, n);
}

/* Training mode: the batch's statistics, moving the running averages. */
static void bn_forward(bsnn_layer *l, const float *params, float *state, float *scratch,
                       const float *x, float *y, size_t n)
{
    size_t w = l->n_in;
    scratch[0] = 1.0f;
    batch_statistics(l, state, scratch + 1, scratch + 1 + w, x, n);
    normalise(l, params, scratch, x, y, n);
}

static void bn_backward(const bsnn_layer *l, const float *params, const float *state, float *grads,
                        float *scratch, const float *x, const float *y, float *dy, float *dx,
                        size_t n)
{
    (void)state, (void)x, (void)y;
    size_t w = l->n_in;
    const float *gamma = params, *invstd = scratch + 1, *xhat = scratch + 1 + 2 * w;
    int training = scratch[0] != 0.0f;
    float *ggamma = grads, *gbeta = grads + w;
    for (size_t j = 0; j < w; j++) {
        double sdy = 0.0, sdyh = 0.0;
        for (size_t r = 0; r < n; r++) {
            sdy += dy[r * w + j];
            sdyh += (double)dy[r * w + j] * xhat[r * w + j];
        }
        ggamma[j] += (float)sdyh;
        gbeta[j] += (float)sdy;
        if (dx == NULL) continue;
        float k = gamma[j] * invstd[j];
        if (!training) {
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
    .min_train_rows = 2, /* one row has no variance */
};

bsnn_layer *bsnn_layer_batchnorm(void)
{
    BSNN_ENTER();
    return bsnn__layer_new(&bsnn__batchnorm_ops);
}
