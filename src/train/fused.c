/*
 * fused.c - the small-batch plain-SGD training step with the update folded
 * into the backward pass. The general step makes about eight passes over the
 * weight arena (zero the gradients, snapshot the parameters, accumulate,
 * check the gradient for NaN, read it again and rewrite the weights, check
 * the weights); for batches of up to BSNN_FUSED_MAX_BATCH rows this step
 *   1. runs forward, and backward for the input gradients only (reading W
 *      before any update, as the general step does), keeping each dense
 *      layer's dy;
 *   2. proves from max|x| and max|dy| that every gradient element and every
 *      update lr*g is finite and small enough that no finite weight can
 *      overflow (|lr*g| < 2^103); when it cannot, it hands the batch to the
 *      general step, which can undo a diverging update;
 *   3. makes one pass per dense layer computing its gradient x^T dy tile by
 *      tile and writing W -= lr * g from registers. The gradient itself is
 *      not stored: each dense layer keeps its x and dy, and
 *      bsnn_model_get_grads (or a workspace change) rebuilds it on demand
 *      with the same kernel, so it reads back exactly what the update used.
 * Every product is rounded as in the general step (no fused multiply-add in
 * the update), so at batch 1-4, where both use the same GEMM kernel, the
 * results are bit-identical to it.
 */
#include "train/train.h"

/* The fold applies to plain SGD on stacks of dense and activation layers
 * without penalties, at small batches. */
int bsnn__fused_step_ok(const bsnn_model *m, const bsnn_optimizer *opt, size_t n)
{
    if (n > BSNN_FUSED_MAX_BATCH || opt->kind != BSNN_SGD || opt->weight_decay != 0.0 ||
        m->grad_hook)
        return 0;
    for (size_t i = 0; i < m->n_layers; i++) {
        const bsnn_layer *l = m->layers[i];
        if (bsnn__layer_is_dense(l)) {
            if (l->ops->penalty_active(l)) return 0;
        } else if (!bsnn__layer_is_activation(l)) {
            return 0;
        }
    }
    return 1;
}

/* max |v[i]|, or NaN when v holds a NaN. The magnitude bits of floats
 * order like unsigned integers (NaNs above infinity), so an integer max
 * finds both the largest value and any NaN, and vectorises (-O3). */
static float max_abs(const float *v, size_t count)
{
    uint32_t mx = 0;
    for (size_t i = 0; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, v + i, sizeof bits);
        bits &= 0x7fffffffu;
        mx = bits > mx ? bits : mx;
    }
    float f;
    memcpy(&f, &mx, sizeof f);
    return f;
}

/* Forward, loss, and backward for input gradients only; each dense layer's
 * dy is kept in its fixed scratch. Returns the summed loss. */
static double forward_backward(bsnn_model *m, const float *x, const float *y, size_t n,
                               size_t tw)
{
    size_t last = m->n_layers - 1;
    const float *out = bsnn__model_forward_rows(m, x, n, m->training);
    int cur = 0;
    double loss = bsnn__loss(m->loss, out, y, n, m->layers[last]->n_out, tw, m->ws.delta[cur],
                             1.0f / (float)n);
    for (size_t i = m->n_layers; i-- > 0;) {
        bsnn_layer *l = m->layers[i];
        const float *in = i ? m->ws.acts[i - 1] : x;
        float *dx = i ? m->ws.delta[1 - cur] : NULL;
        float *scratch = bsnn__layer_scratch(m, &m->ws, i);
        if (bsnn__layer_is_dense(l)) {
            memcpy(scratch, m->ws.delta[cur], n * l->n_out * sizeof(float));
            memcpy(scratch + BSNN_FUSED_MAX_BATCH * l->n_out, in, n * l->n_in * sizeof(float));
            if (dx)
                bsnn__sgemm(n, l->n_in, l->n_out, 1.0f, scratch, (ptrdiff_t)l->n_out, 1,
                            m->params + l->param_off, 1, (ptrdiff_t)l->n_out, 0.0f, dx,
                            (ptrdiff_t)l->n_in, 1);
        } else {
            l->ops->backward(l, bsnn__at(m->params, l->param_off),
                             bsnn__at(m->state, l->state_off), bsnn__at(m->grads, l->param_off),
                             scratch, in, m->ws.acts[i], m->ws.delta[cur], dx, n);
        }
        cur = 1 - cur;
    }
    return loss;
}

/* 1 when every gradient element and every step lr*g is provably finite and
 * below 2^103 (|w| <= FLT_MAX needs a step of at least 2^-24 FLT_MAX to
 * round past it). |g| <= n max|x| max|dy| exactly; the factor 1 + n 2^-23
 * covers the rounding of the n-term sums. */
static int update_safe(bsnn_model *m, const float *x, size_t n, float step)
{
    double slack = (double)n * (1.0 + (double)n * 0x1p-23), s = fabs((double)step);
    for (size_t i = 0; i < m->n_layers; i++) {
        bsnn_layer *l = m->layers[i];
        if (!bsnn__layer_is_dense(l)) continue;
        const float *in = i ? m->ws.acts[i - 1] : x;
        double mx = max_abs(in, n * l->n_in);
        double md = max_abs(bsnn__layer_scratch(m, &m->ws, i), n * l->n_out);
        double gw = slack * mx * md, gb = slack * md;
        if (!(gw < 0x1p127 && s * gw < 0x1p103 && s * gb < 0x1p103)) return 0;
    }
    return 1;
}

int bsnn__fused_step(double *out_loss, bsnn_model *m, bsnn_optimizer *opt, const float *x,
                     const float *y, size_t n, size_t tw, double lr)
{
    double loss = forward_backward(m, x, y, n, tw) / (double)n;
    float step = (float)lr;
    /* Anything not provably safe (including a NaN loss) is declined: the
     * caller runs the general step, and forward and backward were pure
     * here, so it sees the same batch. */
    if (!isfinite(loss) || !update_safe(m, x, n, step)) return 0;
    for (size_t i = 0; i < m->n_layers; i++) {
        bsnn_layer *l = m->layers[i];
        if (!bsnn__layer_is_dense(l)) continue;
        size_t in = l->n_in, out = l->n_out;
        float *w = m->params + l->param_off, *g = m->grads + l->param_off;
        const float *dy = bsnn__layer_scratch(m, &m->ws, i);
        bsnn__sgemm_tn_sgd(in, out, n, i ? m->ws.acts[i - 1] : x, dy, NULL, w, step);
        float *gb = g + in * out, *b = w + in * out;
        /* The bias gradient summed in the general step's order. */
        for (size_t j = 0; j < out; j++) gb[j] = 0.0f;
        for (size_t r = 0; r < n; r++)
            for (size_t j = 0; j < out; j++) gb[j] += dy[r * out + j];
        for (size_t j = 0; j < out; j++) b[j] -= step * gb[j];
    }
    opt->t++;
    m->started = 1;
    m->fused_rows = n; /* the weight gradients live in the scratch for now */
    if (out_loss) *out_loss = loss;
    return 1;
}
