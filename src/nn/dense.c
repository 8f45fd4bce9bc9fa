/*
 * dense.c - the fully connected layer y = x W + b, W stored [in][out]
 * row-major so the forward product is the fast X*W form of GEMM; the
 * backward products read W and x through strides, never copies.
 */
#include "nn/nn.h"

static bsnn_status dense_setup(bsnn_layer *l, size_t n_in)
{
    /* Every count checked before the next uses it: a wrapped count can
     * equal a genuine one (3 inputs and 2^62 + 4 outputs give 16), and the
     * initialiser would then write far past the arena. */
    size_t w = bsnn__mul_size(n_in, l->n_out);
    size_t n_params = w ? bsnn__add_size(w, l->n_out) : 0;
    /* dy and x of the small-batch fused step (fused.c) */
    size_t widths = bsnn__add_size(l->n_out, n_in);
    size_t scratch = bsnn__mul_size(widths, BSNN_FUSED_MAX_BATCH);
    BSNN_FAIL_IF(n_params == 0 || n_params > SIZE_MAX / sizeof(float) || scratch == 0 ||
                     scratch > SIZE_MAX / sizeof(float),
                 BSNN_E_ARG,
                 "dense layer of %zu inputs and %zu outputs is too large "
                 "(its parameter count overflows the address space)",
                 n_in, l->n_out);
    l->n_in = n_in;
    l->n_params = n_params;
    l->scratch_fixed = scratch;
    return BSNN_OK;
}

void bsnn__init_weights(float *w, size_t fan_in, size_t fan_out, int init, double lo, double hi,
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

static void dense_init(bsnn_layer *l, float *params, float *state, bsnn_rng *rng)
{
    (void)state;
    int init = l->init == BSNN_INIT_DEFAULT ? l->model_init : l->init;
    bsnn__init_weights(params, l->n_in, l->n_out, init, l->init_lo, l->init_hi, rng);
    float *b = params + l->n_in * l->n_out;
    for (size_t j = 0; j < l->n_out; j++) b[j] = (float)l->bias_init;
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

static void dense_backward(bsnn_layer *l, const float *params, float *grads, float *scratch,
                           const float *x, const float *y, float *dy, float *dx, size_t n)
{
    (void)scratch, (void)y;
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

static void dense_regularize(const bsnn_layer *l, const float *params, float *grads)
{
    size_t count = l->n_in * l->n_out;
    float l1 = (float)l->l1, l2 = (float)l->l2;
    if (l1 == 0.0f && l2 == 0.0f) return;
    for (size_t i = 0; i < count; i++) {
        float w = params[i];
        float sign = (float)((w > 0.0f) - (w < 0.0f));
        grads[i] += l2 * w + l1 * sign;
    }
}

static bsnn_status dense_set(bsnn_layer *l, bsnn_layer_param p, double v)
{
    switch (p) {
    case BSNN_LAYER_INIT:
        BSNN_FAIL_IF(v != floor(v), BSNN_E_ARG, "initialiser %g is not an integer", v);
        l->init = (int)v;
        break;
    case BSNN_LAYER_INIT_LO: l->init_lo = v; break;
    case BSNN_LAYER_INIT_HI: l->init_hi = v; break;
    case BSNN_LAYER_BIAS_INIT: l->bias_init = v; break;
    case BSNN_LAYER_L1: l->l1 = v; break;
    case BSNN_LAYER_L2: l->l2 = v; break;
    default: return bsnn__fail(BSNN_E_ARG, "setting %d does not apply to dense", (int)p);
    }
    return BSNN_OK;
}

static bsnn_status dense_get(const bsnn_layer *l, bsnn_layer_param p, double *out)
{
    switch (p) {
    case BSNN_LAYER_INIT: *out = l->init; break;
    case BSNN_LAYER_INIT_LO: *out = l->init_lo; break;
    case BSNN_LAYER_INIT_HI: *out = l->init_hi; break;
    case BSNN_LAYER_BIAS_INIT: *out = l->bias_init; break;
    case BSNN_LAYER_L1: *out = l->l1; break;
    case BSNN_LAYER_L2: *out = l->l2; break;
    default: return bsnn__fail(BSNN_E_ARG, "setting %d does not apply to dense", (int)p);
    }
    return BSNN_OK;
}

const bsnn_layer_ops bsnn__dense_ops = {
    .kind = BSNN_LAYER_DENSE,
    .name = "dense",
    .setup = dense_setup,
    .init = dense_init,
    .infer = dense_infer,
    .backward = dense_backward,
    .regularize = dense_regularize,
    .set = dense_set,
    .get = dense_get,
};

bsnn_layer *bsnn_layer_dense(size_t n_outputs)
{
    BSNN_ENTER();
    BSNN_FAIL_NULL_IF(n_outputs == 0, BSNN_E_ARG, "n_outputs is 0");
    bsnn_layer *l = bsnn__layer_new(&bsnn__dense_ops);
    if (l) l->n_out = n_outputs;
    return l;
}
