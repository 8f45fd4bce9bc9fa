/*
 * refnet.h - an independent double-precision reference of dense/activation
 * stacks and of the losses, written from the formulas (not from
 * bsnn's code), for finite-difference gradient checks and hand-value tests.
 */
#ifndef BSNN_REFNET_H
#define BSNN_REFNET_H

#include "testutil.h"

#define REF_MAX_LAYERS 8
#define REF_MAX_WIDTH 64

typedef struct ref_layer {
    int dense;       /* 1: dense with n_out units; 0: activation act */
    size_t n_out;
    int act;
    double slope;    /* leaky relu slope / elu alpha (used when > 0) */
} ref_layer;

typedef struct ref_net {
    size_t n_in;
    ref_layer layers[REF_MAX_LAYERS];
    size_t n_layers;
    bsnn_loss loss;
} ref_net;

static inline size_t ref_param_count(const ref_net *net)
{
    size_t w = net->n_in, count = 0;
    for (size_t i = 0; i < net->n_layers; i++)
        if (net->layers[i].dense) {
            count += w * net->layers[i].n_out + net->layers[i].n_out;
            w = net->layers[i].n_out;
        }
    return count;
}

/* The published definitions of each activation, applied to a whole row. */
static inline void ref_activate(int act, double slope, double *v, size_t w)
{
    if (act == BSNN_ACT_SOFTMAX) {
        double mx = v[0], sum = 0.0;
        for (size_t j = 1; j < w; j++) mx = fmax(mx, v[j]);
        for (size_t j = 0; j < w; j++) sum += exp(v[j] - mx);
        for (size_t j = 0; j < w; j++) v[j] = exp(v[j] - mx) / sum;
        return;
    }
    for (size_t j = 0; j < w; j++) {
        double z = v[j];
        switch (act) {
        case BSNN_ACT_SIGMOID: v[j] = 1.0 / (1.0 + exp(-z)); break;
        case BSNN_ACT_TANH: v[j] = tanh(z); break;
        case BSNN_ACT_RELU: v[j] = z > 0 ? z : 0.0; break;
        case BSNN_ACT_LEAKY_RELU: v[j] = z > 0 ? z : slope * z; break;
        case BSNN_ACT_ELU: v[j] = z > 0 ? z : slope * (exp(z) - 1.0); break;
        default: break;
        }
    }
}

/* Forward one sample; returns the output width, output in out. */
static inline size_t ref_forward(const ref_net *net, const double *p, const float *x, double *out)
{
    double a[REF_MAX_WIDTH], b[REF_MAX_WIDTH];
    size_t w = net->n_in;
    for (size_t j = 0; j < w; j++) a[j] = x[j];
    for (size_t i = 0; i < net->n_layers; i++) {
        const ref_layer *L = &net->layers[i];
        if (!L->dense) {
            double slope = L->slope > 0 ? L->slope : (L->act == BSNN_ACT_ELU ? 1.0 : 0.01);
            ref_activate(L->act, slope, a, w);
            continue;
        }
        const double *W = p, *bias = p + w * L->n_out;
        for (size_t o = 0; o < L->n_out; o++) {
            double s = bias[o];
            for (size_t k = 0; k < w; k++) s += a[k] * W[k * L->n_out + o];
            b[o] = s;
        }
        p += w * L->n_out + L->n_out;
        w = L->n_out;
        memcpy(a, b, w * sizeof(double));
    }
    memcpy(out, a, w * sizeof(double));
    return w;
}

/* One sample's loss from its output o (width w) and target row t (width tw:
 * w, or 1 holding a class index for softmax cross-entropy). */
static inline double ref_sample_loss(bsnn_loss loss, const double *o, const float *t, size_t w,
                                     size_t tw)
{
    double sum = 0.0;
    if (loss == BSNN_LOSS_MSE) {
        for (size_t j = 0; j < w; j++) sum += 0.5 * (o[j] - t[j]) * (o[j] - t[j]);
    } else if (loss == BSNN_LOSS_MSE_MEAN) {
        for (size_t j = 0; j < w; j++) sum += (o[j] - t[j]) * (o[j] - t[j]) / (double)w;
    } else if (loss == BSNN_LOSS_BCE_LOGITS) {
        /* -t log s(z) - (1-t) log(1 - s(z)), written in the overflow-free form. */
        for (size_t j = 0; j < w; j++) {
            double z = o[j];
            double log_s = z >= 0 ? -log1p(exp(-z)) : z - log1p(exp(z));
            double log_1ms = z >= 0 ? -z - log1p(exp(-z)) : -log1p(exp(z));
            sum += -t[j] * log_s - (1.0 - t[j]) * log_1ms;
        }
    } else {
        double mx = o[0], se = 0.0;
        for (size_t j = 1; j < w; j++) mx = fmax(mx, o[j]);
        for (size_t j = 0; j < w; j++) se += exp(o[j] - mx);
        for (size_t j = 0; j < w; j++) {
            double tj = tw == w ? t[j] : (double)(j == (size_t)t[0]);
            sum -= tj * (o[j] - mx - log(se));
        }
    }
    return sum;
}

/* Mean loss over n rows. */
static inline double ref_loss(const ref_net *net, const double *p, const float *x,
                              const float *y, size_t n, size_t tw)
{
    double out[REF_MAX_WIDTH], sum = 0.0;
    for (size_t r = 0; r < n; r++) {
        size_t w = ref_forward(net, p, x + r * net->n_in, out);
        sum += ref_sample_loss(net->loss, out, y + r * tw, w, tw);
    }
    return sum / (double)n;
}

/* Central finite differences of ref_loss in double, step h. */
static inline void ref_fd_grad(double *g, const ref_net *net, double *p, const float *x,
                               const float *y, size_t n, size_t tw, double h)
{
    size_t count = ref_param_count(net);
    for (size_t i = 0; i < count; i++) {
        double keep = p[i];
        p[i] = keep + h;
        double up = ref_loss(net, p, x, y, n, tw);
        p[i] = keep - h;
        double down = ref_loss(net, p, x, y, n, tw);
        p[i] = keep;
        g[i] = (up - down) / (2.0 * h);
    }
}

/* The bsnn model described by net, parameters from seed. */
static inline bsnn_model *ref_build(const ref_net *net, uint64_t seed)
{
    bsnn_model *m = bsnn_model_create(net->n_in);
    cr_assert_not_null(m, "%s", bsnn_last_error());
    for (size_t i = 0; i < net->n_layers; i++) {
        const ref_layer *L = &net->layers[i];
        bsnn_layer *l = L->dense ? bsnn_layer_dense(L->n_out) : bsnn_layer_activation(L->act);
        cr_assert_not_null(l, "%s", bsnn_last_error());
        if (!L->dense && L->slope > 0)
            cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_SLOPE, L->slope), BSNN_OK, "%s",
                         bsnn_last_error());
        cr_assert_eq(bsnn_model_add(m, l), BSNN_OK, "%s", bsnn_last_error());
    }
    cr_assert_eq(bsnn_model_set_loss(m, net->loss), BSNN_OK);
    cr_assert_eq(bsnn_model_init_params(m, seed), BSNN_OK);
    return m;
}

/* Run one train step of model m on (x, y) and return its analytic gradient
 * (mean over the batch, as bsnn_model_get_grads reports it) in g, and the
 * parameters before the step in p. */
static inline double ref_bsnn_grad(float *g, float *p, bsnn_model *m, float *x, float *y,
                                   size_t n, size_t tw)
{
    size_t count = bsnn_model_param_count(m);
    cr_assert_eq(bsnn_model_get_params(p, count, m), BSNN_OK);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    cr_assert_not_null(opt);
    cr_assert_eq(bsnn_optimizer_set(opt, BSNN_OPT_LR, 1e-3), BSNN_OK);
    bsnn_tensor *tx = tu_wrap(x, n, bsnn_model_n_inputs(m)), *ty = tu_wrap(y, n, tw);
    double loss = -1.0;
    cr_assert_eq(bsnn_model_train_step(&loss, m, opt, tx, ty), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_model_get_grads(g, count, m), BSNN_OK);
    bsnn_tensor_free(tx);
    bsnn_tensor_free(ty);
    bsnn_optimizer_free(opt);
    return loss;
}

/* Gradient check: bsnn's analytic gradient of net on (x, y) against central
 * finite differences of the double reference. Relative error
 * |a - f| / max(|a|, |f|, 1e-4) must stay below tol for every parameter;
 * returns the worst relative error seen. Also checks the reported loss. */
static inline double ref_check_grads(const ref_net *net, uint64_t seed, float *x, float *y,
                                     size_t n, size_t tw, double tol)
{
    bsnn_model *m = ref_build(net, seed);
    size_t count = bsnn_model_param_count(m);
    cr_assert_eq(count, ref_param_count(net));
    float *g = calloc(count, sizeof(float)), *pf = calloc(count, sizeof(float));
    double *p = calloc(count, sizeof(double)), *fd = calloc(count, sizeof(double));
    double loss = ref_bsnn_grad(g, pf, m, x, y, n, tw);
    for (size_t i = 0; i < count; i++) p[i] = pf[i];
    double ref = ref_loss(net, p, x, y, n, tw);
    cr_assert_lt(tu_rel(loss, ref, 1e-6), 1e-4, "loss %g, reference %g", loss, ref);
    ref_fd_grad(fd, net, p, x, y, n, tw, 1e-5);
    double worst = 0.0;
    for (size_t i = 0; i < count; i++) {
        double rel = tu_rel(g[i], fd[i], 1e-4);
        cr_assert_lt(rel, tol, "param %zu: analytic %.8g, finite difference %.8g (rel %.3g)", i,
                     g[i], fd[i], rel);
        worst = fmax(worst, rel);
    }
    free(g);
    free(pf);
    free(p);
    free(fd);
    bsnn_model_free(m);
    return worst;
}

/* Fill v with uniform values in [lo, hi) from a small LCG (test data only). */
static inline void ref_fill(float *v, size_t count, double lo, double hi, uint32_t seed)
{
    uint32_t s = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < count; i++) {
        s = s * 1664525u + 1013904223u;
        v[i] = (float)(lo + (hi - lo) * (double)(s >> 8) / 16777216.0);
    }
}

#endif
