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

typedef struct ln_pass {
    const bsnn_layer *l;
    const float *params, *x, *dy;
    float *scratch, *y, *dx, *grads;
    size_t n;
    int accumulate;
} ln_pass;

static void infer_chunk(void *ctx, size_t lo, size_t hi, size_t chunk)
{
    (void)chunk;
    const ln_pass *p = ctx;
    const layernorm *d = p->l->data;
    size_t w = p->l->n_in;
    const float *gamma = p->params, *beta = p->params + w;
    for (size_t r = lo; r < hi; r++) {
        const float *xr = p->x + r * w;
        float *hr = row_scratch(p->scratch, r, w), *yr = p->y + r * w;
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

static void ln_infer(const bsnn_layer *l, const float *params, const float *state,
                     float *scratch, const float *x, float *y, size_t n)
{
    (void)state;
    ln_pass p = {l, params, x, NULL, scratch, y, NULL, NULL, n, 0};
    bsnn__parallel_range(n, bsnn__row_grain(l->n_in + 1), infer_chunk, &p);
}

/* The parameter gradients, per feature over every row (in row order). */
static void param_chunk(void *ctx, size_t lo, size_t hi, size_t chunk)
{
    (void)chunk;
    const ln_pass *p = ctx;
    size_t w = p->l->n_in;
    float *ggamma = p->grads, *gbeta = p->grads + w;
    for (size_t j = lo; j < hi; j++) {
        float gg = p->accumulate ? ggamma[j] : 0.0f, gb = p->accumulate ? gbeta[j] : 0.0f;
        for (size_t r = 0; r < p->n; r++) {
            float dyr = p->dy[r * w + j];
            gg += dyr * row_scratch(p->scratch, r, w)[j];
            gb += dyr;
        }
        ggamma[j] = gg;
        gbeta[j] = gb;
    }
}

/* With g = gamma * dy: dx = invstd (g - mean(g) - xhat mean(g xhat)),
 * per row (the row's mean and variance depend on all of its features). */
static void input_chunk(void *ctx, size_t lo, size_t hi, size_t chunk)
{
    (void)chunk;
    const ln_pass *p = ctx;
    size_t w = p->l->n_in;
    const float *gamma = p->params;
    for (size_t r = lo; r < hi; r++) {
        const float *dyr = p->dy + r * w, *hr = row_scratch(p->scratch, r, w);
        double sg = 0.0, sgh = 0.0;
        for (size_t j = 0; j < w; j++) {
            double g = (double)gamma[j] * dyr[j];
            sg += g;
            sgh += g * hr[j];
        }
        double mg = sg / (double)w, mgh = sgh / (double)w, invstd = hr[w];
        float *dxr = p->dx + r * w;
        for (size_t j = 0; j < w; j++)
            dxr[j] = (float)(invstd * ((double)gamma[j] * dyr[j] - mg - hr[j] * mgh));
    }
}

/* The rows' own gradients' squared norms: row r's is dgamma_j = dy_rj
 * xhat_rj, dbeta_j = dy_rj (each row is normalised by its own statistics,
 * so rows never mix). */
static double sample_norms(const float *scratch, const float *dy, size_t n, size_t w)
{
    double total = 0.0;
    for (size_t r = 0; r < n; r++) {
        const float *dyr = dy + r * w, *hr = scratch + r * (w + 1); /* row_scratch */
        for (size_t j = 0; j < w; j++) {
            double g = dyr[j];
            total += g * g * (1.0 + (double)hr[j] * hr[j]);
        }
    }
    return total;
}

static void ln_backward(const bsnn_layer *l, const bsnn__pass *pass, const float *params,
                        const float *state, float *grads, int accumulate, float *scratch,
                        const float *x, const float *y, float *dy, float *dx, size_t n)
{
    (void)state, (void)x, (void)y;
    if (pass && pass->sample_sq) *pass->sample_sq += sample_norms(scratch, dy, n, l->n_in);
    ln_pass p = {l, params, NULL, dy, scratch, NULL, dx, grads, n, accumulate};
    size_t cols = n >= BSNN_PARALLEL_CHUNK ? 1 : BSNN_PARALLEL_CHUNK / n;
    bsnn__parallel_range(l->n_in, cols, param_chunk, &p);
    if (dx) bsnn__parallel_range(n, bsnn__row_grain(l->n_in), input_chunk, &p);
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
    .sample_norms = 1,
};

bsnn_layer *bsnn_layer_layernorm(void)
{
    BSNN_ENTER();
    return bsnn__layer_new(&bsnn__layernorm_ops);
}
