/*
 * layernorm.c - layer normalization (Ba, Kiros & Hinton 2016, "Layer
 * Normalization", arXiv:1607.06450): each row is normalised over its own
 * features, y = gamma (x - mean_row) / sqrt(var_row + eps) + beta, with the
 * row's mean and biased variance. Unlike batch norm nothing depends on the
 * other rows of the batch, so training and evaluation are the same
 * computation and a row's output is the same at every batch size.
 *
 * Parameters: gamma [n] (1 at start) then beta [n] (0), never
 * weight-decayed under BSNN_DECAY_WEIGHTS. No state. Scratch per row: the
 * normalised row xhat [n] and 1/sqrt(var + eps), kept for backward.
 */
#include "nn/nn.h"

#include <stddef.h>

typedef struct layernorm {
    double eps; /* variance epsilon (1e-5, PyTorch's default) */
} layernorm;

static const bsnn__setting settings[] = {
    {BSNN_LAYER_EPS, "eps", BSNN__SET_DOUBLE, 0, 1e-12, 1.0, 1e-5, offsetof(layernorm, eps), NULL},
};

static bsnn_status ln_setup(bsnn_layer *l, size_t n_in)
{
    BSNN_FAIL_IF(n_in > SIZE_MAX / 4 / sizeof(float), BSNN_E_ARG,
                 "layer norm over %zu features is too large", n_in);
    l->n_in = l->n_out = n_in;
    l->n_params = 2 * n_in;
    l->n_weights = 0;
    l->scratch_per_row = n_in + 1;
    return BSNN_OK;
}

static void ln_init(bsnn_layer *l, float *params, float *state, const bsnn__init_ctx *ctx)
{
    (void)state, (void)ctx;
    for (size_t j = 0; j < l->n_in; j++) {
        params[j] = 1.0f;
        params[l->n_in + j] = 0.0f;
    }
}

/* Scratch of row r: xhat [w], then invstd. */
static float *row_scratch(float *scratch, size_t r, size_t w) { return scratch + r * (w + 1); }

static void ln_infer(const bsnn_layer *l, const float *params, const float *state,
                     float *scratch, const float *x, float *y, size_t n)
{
    (void)state;
    const layernorm *d = l->data;
    size_t w = l->n_in;
    const float *gamma = params, *beta = params + w;
    for (size_t r = 0; r < n; r++) {
        const float *xr = x + r * w;
        float *hr = row_scratch(scratch, r, w), *yr = y + r * w;
        /* Two passes in double: a large mean cannot cancel the variance. */
        double sum = 0.0, ss = 0.0;
        for (size_t j = 0; j < w; j++) sum += xr[j];
        double mean = sum / (double)w;
        for (size_t j = 0; j < w; j++) {
            double dev = xr[j] - mean;
            ss += dev * dev;
        }
        double invstd = 1.0 / sqrt(ss / (double)w + d->eps);
        for (size_t j = 0; j < w; j++) {
            hr[j] = (float)((xr[j] - mean) * invstd);
            yr[j] = gamma[j] * hr[j] + beta[j];
        }
        hr[w] = (float)invstd;
    }
}

/* With g = gamma * dy: dx = invstd (g - mean(g) - xhat mean(g xhat)),
 * per row (the row's mean and variance depend on all of its features). */
static void ln_backward(const bsnn_layer *l, const float *params, const float *state, float *grads,
                        float *scratch, const float *x, const float *y, float *dy, float *dx,
                        size_t n)
{
    (void)state, (void)x, (void)y;
    size_t w = l->n_in;
    const float *gamma = params;
    float *ggamma = grads, *gbeta = grads + w;
    for (size_t r = 0; r < n; r++) {
        const float *dyr = dy + r * w, *hr = row_scratch(scratch, r, w);
        double sg = 0.0, sgh = 0.0;
        for (size_t j = 0; j < w; j++) {
            ggamma[j] += dyr[j] * hr[j];
            gbeta[j] += dyr[j];
            double g = (double)gamma[j] * dyr[j];
            sg += g;
            sgh += g * hr[j];
        }
        if (dx == NULL) continue;
        double mg = sg / (double)w, mgh = sgh / (double)w, invstd = hr[w];
        float *dxr = dx + r * w;
        for (size_t j = 0; j < w; j++)
            dxr[j] = (float)(invstd * ((double)gamma[j] * dyr[j] - mg - hr[j] * mgh));
    }
}

const bsnn_layer_ops bsnn__layernorm_ops = {
    .kind = BSNN_LAYER_LAYERNORM,
    .name = "layer norm",
    .data_size = sizeof(layernorm),
    .settings = settings,
    .n_settings = sizeof settings / sizeof settings[0],
    .setup = ln_setup,
    .init = ln_init,
    .infer = ln_infer,
    .backward = ln_backward,
};

bsnn_layer *bsnn_layer_layernorm(void)
{
    BSNN_ENTER();
    return bsnn__layer_new(&bsnn__layernorm_ops);
}
