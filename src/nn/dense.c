/*
 * dense.c - the fully connected layer y = x W + b, W stored [in][out]
 * row-major so the forward product is the fast X*W form of GEMM; the
 * backward products read W and x through strides, never copies.
 * Settings: the initialiser (and its range for BSNN_INIT_UNIFORM), the
 * bias's initial value, L1 and L2 penalties on the weights.
 */
#include "nn/nn.h"

#include <stddef.h>

typedef struct dense {
    int init;                 /* bsnn_init; DEFAULT: the model's     */
    double init_lo, init_hi;  /* BSNN_INIT_UNIFORM's range           */
    double bias_init;
    double l1, l2;            /* penalties on weights                */
} dense;

#define FIELD(f) offsetof(dense, f)
static const bsnn__setting settings[] = {
    {BSNN_LAYER_INIT, "initialiser", BSNN__SET_INT, 0, BSNN_INIT_DEFAULT, BSNN_INIT_UNIFORM,
     BSNN_INIT_DEFAULT, FIELD(init), NULL},
    {BSNN_LAYER_INIT_LO, "init_lo", BSNN__SET_DOUBLE, 0, -1e6, 1e6, -0.5, FIELD(init_lo), NULL},
    {BSNN_LAYER_INIT_HI, "init_hi", BSNN__SET_DOUBLE, 0, -1e6, 1e6, 0.5, FIELD(init_hi), NULL},
    {BSNN_LAYER_BIAS_INIT, "bias_init", BSNN__SET_DOUBLE, 0, -1e6, 1e6, 0.0, FIELD(bias_init),
     NULL},
    {BSNN_LAYER_L1, "l1", BSNN__SET_DOUBLE, 0, 0.0, 1e6, 0.0, FIELD(l1), NULL},
    {BSNN_LAYER_L2, "l2", BSNN__SET_DOUBLE, 0, 0.0, 1e6, 0.0, FIELD(l2), NULL},
};

static bsnn_status dense_setup(bsnn_layer *l, size_t n_in)
{
    /* Every count checked before the next uses it: a wrapped count can
     * equal a genuine one (3 inputs and 2^62 + 4 outputs give 16), and the
     * initialiser would then write far past the arena. */
    size_t w = bsnn__mul_size(n_in, l->n_out);
    size_t n_params = w ? bsnn__add_size(w, l->n_out) : 0;
    /* dy and x of the small-batch fused step (train/fused.c) */
    size_t widths = bsnn__add_size(l->n_out, n_in);
    size_t scratch = bsnn__mul_size(widths, BSNN_FUSED_MAX_BATCH);
    BSNN_FAIL_IF(n_params == 0 || n_params > SIZE_MAX / sizeof(float) || scratch == 0 ||
                     scratch > SIZE_MAX / sizeof(float),
                 BSNN_E_ARG,
                 "dense layer of %zu inputs and %zu outputs is too large (its parameter count "
                 "overflows the address space)",
                 n_in, l->n_out);
    l->n_in = n_in;
    l->n_params = n_params;
    l->n_weights = w;
    l->scratch_fixed = scratch;
    return BSNN_OK;
}

/* Fill weights for (fan_in, fan_out) with initialiser init. */
static void init_weights(float *w, size_t fan_in, size_t fan_out, int init, double lo, double hi,
                         bsnn_rng *rng)
{
    size_t count = fan_in * fan_out;
    double a = 0.0, sd = 0.0;
    int normal = 0;
    switch (init) {
    case BSNN_INIT_ZEROS: lo = hi = 0.0; break;
    case BSNN_INIT_GLOROT_UNIFORM: a = sqrt(6.0 / (double)(fan_in + fan_out)); lo = -a; hi = a; break;
    case BSNN_INIT_GLOROT_NORMAL: normal = 1; sd = sqrt(2.0 / (double)(fan_in + fan_out)); break;
    case BSNN_INIT_HE_UNIFORM: a = sqrt(6.0 / (double)fan_in); lo = -a; hi = a; break;
    case BSNN_INIT_HE_NORMAL: normal = 1; sd = sqrt(2.0 / (double)fan_in); break;
    case BSNN_INIT_LECUN_UNIFORM: a = sqrt(3.0 / (double)fan_in); lo = -a; hi = a; break;
    case BSNN_INIT_LECUN_NORMAL: normal = 1; sd = sqrt(1.0 / (double)fan_in); break;
    default: break; /* BSNN_INIT_UNIFORM: lo, hi as given */
    }
    for (size_t i = 0; i < count; i++)
        w[i] = (float)(normal ? sd * bsnn__rng_normal(rng)
                              : lo + (hi - lo) * bsnn__rng_uniform(rng));
}

static void dense_init(bsnn_layer *l, float *params, float *state, const bsnn__init_ctx *ctx)
{
    (void)state;
    const dense *d = l->data;
    int init = d->init == BSNN_INIT_DEFAULT ? ctx->default_init : d->init;
    init_weights(params, l->n_in, l->n_out, init, d->init_lo, d->init_hi, ctx->rng);
    float *b = params + l->n_in * l->n_out;
    for (size_t j = 0; j < l->n_out; j++) b[j] = (float)d->bias_init;
}

static void dense_infer(const bsnn_layer *l, const float *params, const float *state,
                        float *scratch, const float *x, float *y, size_t n)
{
    (void)state, (void)scratch;
    size_t in = l->n_in, out = l->n_out;
    const float *b = params + in * out;
    /* Start each row at the bias so the GEMM accumulates onto it (beta = 1):
     * the bias add costs no extra pass over y. */
    for (size_t r = 0; r < n; r++) memcpy(y + r * out, b, out * sizeof(float));
    bsnn__sgemm(n, out, in, 1.0f, x, (ptrdiff_t)in, 1, params, (ptrdiff_t)out, 1, 1.0f, y,
                (ptrdiff_t)out, 1);
}

static void dense_backward(const bsnn_layer *l, const float *params, const float *state,
                           float *grads, float *scratch, const float *x, const float *y, float *dy,
                           float *dx, size_t n)
{
    (void)state, (void)scratch, (void)y;
    size_t in = l->n_in, out = l->n_out;
    float *gb = grads + in * out;
    /* dW += x^T dy: x read transposed through its strides. */
    bsnn__sgemm(in, out, n, 1.0f, x, 1, (ptrdiff_t)in, dy, (ptrdiff_t)out, 1, 1.0f, grads,
                (ptrdiff_t)out, 1);
    for (size_t r = 0; r < n; r++) {
        const float *dyr = dy + r * out;
        for (size_t j = 0; j < out; j++) gb[j] += dyr[j];
    }
    /* dx = dy W^T: W read transposed through its strides. */
    if (dx)
        bsnn__sgemm(n, in, out, 1.0f, dy, (ptrdiff_t)out, 1, params, 1, (ptrdiff_t)out, 0.0f, dx,
                    (ptrdiff_t)in, 1);
}

static int dense_penalty_active(const bsnn_layer *l)
{
    const dense *d = l->data;
    return d->l1 != 0.0 || d->l2 != 0.0;
}

static void dense_regularize(const bsnn_layer *l, const float *params, float *grads)
{
    const dense *d = l->data;
    size_t count = l->n_in * l->n_out;
    float l1 = (float)d->l1, l2 = (float)d->l2;
    if (l1 == 0.0f && l2 == 0.0f) return;
    for (size_t i = 0; i < count; i++) {
        float w = params[i];
        float sign = (float)((w > 0.0f) - (w < 0.0f));
        grads[i] += l2 * w + l1 * sign;
    }
}

const bsnn_layer_ops bsnn__dense_ops = {
    .kind = BSNN_LAYER_DENSE,
    .name = "dense",
    .data_size = sizeof(dense),
    .settings = settings,
    .n_settings = sizeof settings / sizeof settings[0],
    .setup = dense_setup,
    .init = dense_init,
    .infer = dense_infer,
    .backward = dense_backward,
    .regularize = dense_regularize,
    .penalty_active = dense_penalty_active,
};

bsnn_layer *bsnn_layer_dense(size_t n_outputs)
{
    BSNN_ENTER();
    BSNN_FAIL_NULL_IF(n_outputs == 0, BSNN_E_ARG, "n_outputs is 0");
    bsnn_layer *l = bsnn__layer_new(&bsnn__dense_ops);
    if (l) l->n_out = n_outputs;
    return l;
}
