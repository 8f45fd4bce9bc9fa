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
    BSNN_FAIL_IF(n_params == 0 || n_params > SIZE_MAX / sizeof(float), BSNN_E_ARG,
                 "dense layer of %zu inputs and %zu outputs is too large (its parameter count "
                 "overflows the address space)",
                 n_in, l->n_out);
    l->n_in = n_in;
    l->n_params = n_params;
    l->n_weights = w;
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

/* Every row of y starts at the bias, so the product accumulates onto it
 * (beta = 1): the bias add costs no extra pass over y. Rows in chunks. */
typedef struct bias_rows {
    const float *b;
    float *y;
    size_t out;
} bias_rows;

static void fill_bias(void *ctx, size_t lo, size_t hi, size_t chunk)
{
    (void)chunk;
    const bias_rows *c = ctx;
    size_t out = c->out;
    if (out >= 32) {
        for (size_t r = lo; r < hi; r++) memcpy(c->y + r * out, c->b, out * sizeof(float));
        return;
    }
    float *y0 = c->y + lo * out;
    size_t rows = hi - lo, done = 1;
    if (rows <= 4) { /* a few narrow rows: no call at all */
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0; j < out; j++) y0[r * out + j] = c->b[j];
        return;
    }
    /* Many narrow rows: a call per row costs more than the row; copy the
     * rows written so far onto the next ones, doubling (log2 of the rows
     * calls). */
    memcpy(y0, c->b, out * sizeof(float));
    while (done < rows) {
        size_t k = rows - done < done ? rows - done : done;
        memcpy(y0 + done * out, y0, k * out * sizeof(float));
        done += k;
    }
}

static void dense_infer(const bsnn_layer *l, const float *params, const float *state,
                        float *scratch, const float *x, float *y, size_t n)
{
    (void)state, (void)scratch;
    size_t in = l->n_in, out = l->n_out;
    bias_rows c = {params + in * out, y, out};
    bsnn__parallel_range(n, bsnn__row_grain(out), fill_bias, &c);
    bsnn__sgemm(n, out, in, 1.0f, x, (ptrdiff_t)in, 1, params, (ptrdiff_t)out, 1, 1.0f, y,
                (ptrdiff_t)out, 1);
}

/* The bias gradient, column sums of dy over n rows in row order (the same
 * sum whatever the chunks: each column is summed whole), written or added
 * into gb, or applied as b -= c * sum (apply set). */
typedef struct colsum {
    const float *dy;
    float *gb;
    size_t n, out;
    int accumulate, apply;
    float c;
} colsum;

static void sum_columns(void *ctx, size_t lo, size_t hi, size_t chunk)
{
    (void)chunk;
    const colsum *s = ctx;
    if (s->n == 1) { /* one row: its sum is the row (the same bits) */
        float *gb = s->gb;
        const float *dy = s->dy;
        if (s->apply)
            for (size_t j = lo; j < hi; j++) gb[j] -= s->c * dy[j];
        else if (s->accumulate)
            for (size_t j = lo; j < hi; j++) gb[j] += dy[j];
        else
            for (size_t j = lo; j < hi; j++) gb[j] = dy[j];
        return;
    }
    float sum[256];
    for (size_t j0 = lo; j0 < hi; j0 += 256) {
        size_t w = hi - j0 < 256 ? hi - j0 : 256;
        for (size_t j = 0; j < w; j++) sum[j] = 0.0f;
        size_t r = 0, out = s->out;
        /* four rows a round, each added in row order (the same sums) */
        for (; r + 4 <= s->n; r += 4) {
            const float *d = s->dy + r * out + j0;
            for (size_t j = 0; j < w; j++)
                sum[j] = (((sum[j] + d[j]) + d[out + j]) + d[2 * out + j]) + d[3 * out + j];
        }
        for (; r < s->n; r++) {
            const float *dyr = s->dy + r * out + j0;
            for (size_t j = 0; j < w; j++) sum[j] += dyr[j];
        }
        float *gb = s->gb + j0;
        if (s->apply)
            for (size_t j = 0; j < w; j++) gb[j] -= s->c * sum[j];
        else if (s->accumulate)
            for (size_t j = 0; j < w; j++) gb[j] += sum[j];
        else
            for (size_t j = 0; j < w; j++) gb[j] = sum[j];
    }
}

static void bias_pass(const float *dy, float *gb, size_t n, size_t out, int accumulate, int apply,
                      float c)
{
    colsum s = {dy, gb, n, out, accumulate, apply, c};
    size_t grain = n >= BSNN_PARALLEL_CHUNK ? 1 : BSNN_PARALLEL_CHUNK / n;
    bsnn__parallel_range(out, grain, sum_columns, &s);
}

/* sum_r (|x_r|^2 + 1) |dy_r|^2: a dense layer's per-sample gradient is
 * x_r^T dy_r (and dy_r for the bias), so its squared norm needs no
 * per-sample gradient (the noise-scale statistics). */
static double sample_norms(const float *x, const float *dy, size_t n, size_t in, size_t out)
{
    double total = 0.0;
    for (size_t r = 0; r < n; r++)
        total += (bsnn__sumsq_f32(x + r * in, in) + 1.0) * bsnn__sumsq_f32(dy + r * out, out);
    return total;
}

/* dx = dy W^T: W read transposed through its strides. */
static void dense_backward_input(const bsnn_layer *l, const float *params, const float *dy,
                                 float *dx, size_t n)
{
    size_t in = l->n_in, out = l->n_out;
    if (dx)
        bsnn__sgemm(n, in, out, 1.0f, dy, (ptrdiff_t)out, 1, params, 1, (ptrdiff_t)out, 0.0f, dx,
                    (ptrdiff_t)in, 1);
}

static void dense_write_grads(const bsnn_layer *l, float *grads, const float *x, const float *dy,
                              size_t n)
{
    size_t in = l->n_in, out = l->n_out;
    bsnn__sgemm(in, out, n, 1.0f, x, 1, (ptrdiff_t)in, dy, (ptrdiff_t)out, 1, 0.0f, grads,
                (ptrdiff_t)out, 1);
    bias_pass(dy, grads + in * out, n, out, 0, 0, 0.0f);
}

static void dense_backward(const bsnn_layer *l, const bsnn__pass *p, const float *params,
                           const float *state, float *grads, int accumulate, float *scratch,
                           const float *x, const float *y, float *dy, float *dx, size_t n)
{
    (void)state, (void)scratch, (void)y;
    size_t in = l->n_in, out = l->n_out;
    /* dW = x^T dy (+ dW): x read transposed through its strides. */
    bsnn__sgemm(in, out, n, 1.0f, x, 1, (ptrdiff_t)in, dy, (ptrdiff_t)out, 1,
                accumulate ? 1.0f : 0.0f, grads, (ptrdiff_t)out, 1);
    bias_pass(dy, grads + in * out, n, out, accumulate, 0, 0.0f);
    if (p && p->sample_sq) *p->sample_sq += sample_norms(x, dy, n, in, out);
    dense_backward_input(l, params, dy, dx, n);
}

/* |g| <= n max|x| max|dy| for every weight and n max|dy| for every bias,
 * times 1 + 2n 2^-24 for the rounding of an n-term sum in any order. */
static double dense_grad_bound(const bsnn_layer *l, const float *x, const float *dy, size_t n)
{
    double mx = bsnn__bits_float(bsnn__max_abs_bits(x, n * l->n_in));
    double md = bsnn__bits_float(bsnn__max_abs_bits(dy, n * l->n_out));
    double slack = 1.0 + 2.0 * (double)n * 0x1p-24;
    if (!(slack < 2.0)) return INFINITY;
    return (double)n * md * (mx > 1.0 ? mx : 1.0) * slack;
}

/* Plain SGD without the gradient: W += (-c) x^T dy in the product itself
 * (beta = 1 on W), then b -= c colsum(dy). */
static void dense_apply_linear(const bsnn_layer *l, float *params, const float *x, const float *dy,
                               size_t n, float c)
{
    size_t in = l->n_in, out = l->n_out;
    bsnn__sgemm(in, out, n, -c, x, 1, (ptrdiff_t)in, dy, (ptrdiff_t)out, 1, 1.0f, params,
                (ptrdiff_t)out, 1);
    bias_pass(dy, params + in * out, n, out, 0, 1, c);
}

static int dense_penalty_active(const bsnn_layer *l)
{
    const dense *d = l->data;
    return d->l1 != 0.0 || d->l2 != 0.0;
}

typedef struct penalty {
    const float *w;
    float *g;
    float l1, l2;
} penalty;

static void add_penalty(void *ctx, size_t lo, size_t hi, size_t chunk)
{
    (void)chunk;
    const penalty *p = ctx;
    for (size_t i = lo; i < hi; i++) {
        float w = p->w[i];
        float sign = (float)((w > 0.0f) - (w < 0.0f));
        p->g[i] += p->l2 * w + p->l1 * sign;
    }
}

static void dense_regularize(const bsnn_layer *l, const float *params, float *grads)
{
    const dense *d = l->data;
    penalty p = {params, grads, (float)d->l1, (float)d->l2};
    if (p.l1 == 0.0f && p.l2 == 0.0f) return;
    bsnn__parallel_range(l->n_in * l->n_out, BSNN_PARALLEL_CHUNK, add_penalty, &p);
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
    .sample_norms = 1,
    .backward_input = dense_backward_input,
    .grad_bound = dense_grad_bound,
    .apply_linear = dense_apply_linear,
    .write_grads = dense_write_grads,
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
