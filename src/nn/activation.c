/*
 * activation.c - elementwise nonlinearities (and the row-wise softmax) as
 * layers of unchanged width. Backward passes use the saved output where the
 * derivative is cheapest in terms of it (sigmoid, tanh, elu, softmax).
 * Setting: the slope of leaky relu (0.01) and alpha of elu (1).
 */
#include "nn/nn.h"

#include <stddef.h>

typedef struct activation {
    int act;       /* bsnn_activation (the LAYR variant)          */
    double slope;  /* leaky relu slope, elu alpha                 */
} activation;

static const bsnn__setting settings[] = {
    {BSNN_LAYER_SLOPE, "slope", BSNN__SET_DOUBLE, 0, 0.0, 1e6, 0.01, offsetof(activation, slope),
     NULL},
};

static int has_slope(int act) { return act == BSNN_ACT_LEAKY_RELU || act == BSNN_ACT_ELU; }

static int act_applies(const bsnn_layer *l, int id)
{
    (void)id; /* the one setting is the slope */
    return has_slope(((const activation *)l->data)->act);
}

static bsnn_status act_setup(bsnn_layer *l, size_t n_in)
{
    l->n_in = l->n_out = n_in;
    return BSNN_OK;
}

static void softmax_rows(const float *x, float *y, size_t lo, size_t hi, size_t w)
{
    for (size_t r = lo; r < hi; r++) {
        const float *xr = x + r * w;
        float *yr = y + r * w;
        float mx = xr[0];
        for (size_t j = 1; j < w; j++) mx = xr[j] > mx ? xr[j] : mx;
        double sum = 0.0;
        for (size_t j = 0; j < w; j++) sum += (yr[j] = expf(xr[j] - mx));
        float inv = (float)(1.0 / sum);
        for (size_t j = 0; j < w; j++) yr[j] *= inv;
    }
}

static void softmax_backward(const float *y, const float *dy, float *dx, size_t lo, size_t hi,
                             size_t w)
{
    for (size_t r = lo; r < hi; r++) {
        const float *yr = y + r * w, *dyr = dy + r * w;
        float *dxr = dx + r * w;
        double dot = 0.0;
        for (size_t j = 0; j < w; j++) dot += (double)dyr[j] * yr[j];
        for (size_t j = 0; j < w; j++) dxr[j] = yr[j] * (dyr[j] - (float)dot);
    }
}

/* One chunk of an activation pass: elements [lo, hi), or rows for softmax. */
typedef struct act_pass {
    int act;
    float a;
    size_t width;
    const float *x, *y, *dy;
    float *out;
} act_pass;

static void forward_chunk(void *ctx, size_t lo, size_t hi, size_t chunk)
{
    (void)chunk;
    const act_pass *p = ctx;
    const float *x = p->x;
    float *y = p->out, a = p->a;
    switch (p->act) {
    case BSNN_ACT_SIGMOID: bsnn__sigmoid_f32(x + lo, y + lo, hi - lo); break;
    case BSNN_ACT_TANH: bsnn__tanh_f32(x + lo, y + lo, hi - lo); break;
    case BSNN_ACT_RELU:
        for (size_t i = lo; i < hi; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case BSNN_ACT_LEAKY_RELU: /* both sides computed: the loop vectorises */
        for (size_t i = lo; i < hi; i++) {
            float v = x[i], low = a * v;
            y[i] = v > 0.0f ? v : low;
        }
        break;
    case BSNN_ACT_ELU:
        for (size_t i = lo; i < hi; i++) y[i] = x[i] > 0.0f ? x[i] : a * expm1f(x[i]);
        break;
    case BSNN_ACT_SOFTMAX: softmax_rows(x, y, lo, hi, p->width); break;
    default: memcpy(y + lo, x + lo, (hi - lo) * sizeof(float)); break;
    }
}

static void backward_chunk(void *ctx, size_t lo, size_t hi, size_t chunk)
{
    (void)chunk;
    const act_pass *p = ctx;
    const float *x = p->x, *y = p->y, *dy = p->dy;
    float *dx = p->out, a = p->a;
    switch (p->act) {
    case BSNN_ACT_SIGMOID:
        for (size_t i = lo; i < hi; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
        break;
    case BSNN_ACT_TANH:
        for (size_t i = lo; i < hi; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
        break;
    /* dy loaded and both sides computed whatever x: the loops vectorise
     * (a load or product only under a condition does not) */
    case BSNN_ACT_RELU:
        for (size_t i = lo; i < hi; i++) {
            float g = dy[i];
            dx[i] = x[i] > 0.0f ? g : 0.0f;
        }
        break;
    case BSNN_ACT_LEAKY_RELU:
        for (size_t i = lo; i < hi; i++) {
            float g = dy[i], low = a * g;
            dx[i] = x[i] > 0.0f ? g : low;
        }
        break;
    case BSNN_ACT_ELU:
        for (size_t i = lo; i < hi; i++) {
            float g = dy[i], low = g * (y[i] + a);
            dx[i] = x[i] > 0.0f ? g : low;
        }
        break;
    case BSNN_ACT_SOFTMAX: softmax_backward(y, dy, dx, lo, hi, p->width); break;
    default: memcpy(dx + lo, dy + lo, (hi - lo) * sizeof(float)); break;
    }
}

/* Elementwise passes in chunks of BSNN_PARALLEL_CHUNK floats; softmax, a
 * row at a time, in chunks of rows. */
static void run(const act_pass *p, size_t n, bsnn__range_fn fn)
{
    if (p->act == BSNN_ACT_SOFTMAX)
        bsnn__parallel_range(n, bsnn__row_grain(p->width), fn, (void *)p);
    else
        bsnn__parallel_range(n * p->width, BSNN_PARALLEL_CHUNK, fn, (void *)p);
}

static void act_infer(const bsnn_layer *l, const float *params, const float *state,
                      float *scratch, const float *x, float *y, size_t n)
{
    (void)params, (void)state, (void)scratch;
    const activation *d = l->data;
    act_pass p = {d->act, (float)d->slope, l->n_out, x, NULL, NULL, y};
    run(&p, n, forward_chunk);
}

static void act_backward(const bsnn_layer *l, const bsnn__pass *pass, const float *params,
                         const float *state, float *grads, int accumulate, float *scratch,
                         const float *x, const float *y, float *dy, float *dx, size_t n)
{
    (void)pass, (void)params, (void)state, (void)grads, (void)accumulate, (void)scratch;
    if (dx == NULL) return;
    const activation *d = l->data;
    act_pass p = {d->act, (float)d->slope, l->n_out, x, y, dy, dx};
    run(&p, n, backward_chunk);
}

static int act_final(const bsnn_layer *l) { return ((const activation *)l->data)->act; }

static uint32_t act_variant(const bsnn_layer *l)
{
    return (uint32_t)((const activation *)l->data)->act;
}

/* The activation, and the slope's default for it (a file stores the slope
 * only where it applies). */
static void set_act(bsnn_layer *l, int act)
{
    activation *d = l->data;
    d->act = act;
    d->slope = act == BSNN_ACT_ELU ? 1.0 : 0.01;
}

static bsnn_status act_set_variant(bsnn_layer *l, uint32_t variant)
{
    BSNN_FAIL_IF(variant > BSNN_ACT_SOFTMAX, BSNN_E_FORMAT, "unknown activation %u", variant);
    set_act(l, (int)variant);
    return BSNN_OK;
}

const bsnn_layer_ops bsnn__activation_ops = {
    .kind = BSNN_LAYER_ACTIVATION,
    .name = "activation",
    .data_size = sizeof(activation),
    .settings = settings,
    .n_settings = sizeof settings / sizeof settings[0],
    .setup = act_setup,
    .infer = act_infer,
    .backward = act_backward,
    .applies = act_applies,
    .final_activation = act_final,
    .variant = act_variant,
    .set_variant = act_set_variant,
};

bsnn_layer *bsnn_layer_activation(bsnn_activation kind)
{
    BSNN_ENTER();
    BSNN_FAIL_NULL_IF((int)kind < BSNN_ACT_LINEAR || (int)kind > BSNN_ACT_SOFTMAX, BSNN_E_ARG,
                      "unknown activation %d", (int)kind);
    bsnn_layer *l = bsnn__layer_new(&bsnn__activation_ops);
    if (l) set_act(l, (int)kind);
    return l;
}
