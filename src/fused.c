/*
 * fused.c - the batch-1 plain-SGD training step with the update folded into
 * the backward pass. The general step makes five passes over the weight
 * arena (zero the gradients, accumulate them, check them for NaN, read them
 * again and rewrite the weights); at batch 1 each dense layer's gradient is
 * the outer product x dy^T, so this step instead
 *   1. runs forward, and backward for the input gradients only (reading W
 *      before any update, as the general step does),
 *   2. decides finiteness from max|x| and max|dy| (fl() is monotonic, so
 *      every product x_i dy_j is finite iff the largest one is): nothing is
 *      changed when the gradient would not be finite,
 *   3. makes one pass per layer writing W -= lr * (x_i dy_j) and the gradient
 *      itself (streamed, for bsnn_model_get_grads).
 * Results are bit-identical to the general step: the same products and the
 * same rounding of lr * g, no fused multiply-add. An update large enough to
 * overflow a parameter is left to the general step, which can undo it.
 */
#include "internal.h"

/* The fold applies to plain SGD on stacks of dense and activation layers
 * without penalties, at batch 1. */
int bsnn__fused_step_ok(const bsnn_model *m, const bsnn_optimizer *opt, size_t n)
{
    if (n != 1 || opt->kind != BSNN_SGD || opt->weight_decay != 0.0) return 0;
    for (size_t i = 0; i < m->n_layers; i++) {
        const bsnn_layer *l = m->layers[i];
        if (l->ops == &bsnn__dense_ops) {
            if (l->l1 != 0.0 || l->l2 != 0.0) return 0;
        } else if (l->ops != &bsnn__activation_ops) {
            return 0;
        }
    }
    return 1;
}

/* max |v[i]|, or NaN when v holds a NaN. */
static float max_abs(const float *v, size_t count)
{
    float mx = 0.0f;
    for (size_t i = 0; i < count; i++) {
        float a = fabsf(v[i]);
        if (a != a) return a;
        mx = a > mx ? a : mx;
    }
    return mx;
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

/* W[i][j] -= step * (x_i dy_j) and G[i][j] = x_i dy_j over [in][out]. */
__attribute__((target("avx2"))) static void rank1_update_avx2(float *w, float *g, const float *x,
                                                               const float *dy, size_t in,
                                                               size_t out, float step)
{
    __m256 vs = _mm256_set1_ps(step);
    size_t vec = out & ~(size_t)7;
    for (size_t i = 0; i < in; i++) {
        float *wr = w + i * out, *gr = g + i * out;
        __m256 xi = _mm256_set1_ps(x[i]);
        int aligned = ((uintptr_t)gr & 31) == 0;
        size_t j = 0;
        for (; j < vec; j += 8) {
            __m256 p = _mm256_mul_ps(xi, _mm256_loadu_ps(dy + j));
            _mm256_storeu_ps(wr + j, _mm256_sub_ps(_mm256_loadu_ps(wr + j), _mm256_mul_ps(vs, p)));
            /* The gradient is only read back on request: keep it out of cache. */
            if (aligned)
                _mm256_stream_ps(gr + j, p);
            else
                _mm256_storeu_ps(gr + j, p);
        }
        for (; j < out; j++) {
            float p = x[i] * dy[j];
            wr[j] -= step * p;
            gr[j] = p;
        }
    }
    _mm_sfence();
}

#endif

static void rank1_update(float *w, float *g, const float *x, const float *dy, size_t in,
                         size_t out, float step)
{
#if defined(__GNUC__) && defined(__x86_64__)
    if (bsnn__cpu_avx2()) {
        rank1_update_avx2(w, g, x, dy, in, out, step);
        return;
    }
#endif
    for (size_t i = 0; i < in; i++)
        for (size_t j = 0; j < out; j++) {
            float p = x[i] * dy[j];
            w[i * out + j] -= step * p;
            g[i * out + j] = p;
        }
}

/* Forward, loss, and backward for input gradients only; each dense layer's
 * dy is kept in its fixed scratch. Returns the loss. */
static double forward_backward(bsnn_model *m, const float *x, const float *y, size_t tw)
{
    size_t last = m->n_layers - 1;
    const float *out = bsnn__model_forward_rows(m, x, 1, m->training);
    int cur = 0;
    double loss = bsnn__loss(m->loss, out, y, 1, m->layers[last]->n_out, tw, m->delta[cur], 1.0f);
    for (size_t i = m->n_layers; i-- > 0;) {
        bsnn_layer *l = m->layers[i];
        const float *in = i ? m->acts[i - 1] : x;
        float *dx = i ? m->delta[1 - cur] : NULL;
        float *scratch = bsnn__layer_scratch(m, i, m->ws_rows);
        if (l->ops == &bsnn__dense_ops) {
            memcpy(scratch, m->delta[cur], l->n_out * sizeof(float));
            if (dx)
                bsnn__sgemm(1, l->n_in, l->n_out, 1.0f, scratch, (ptrdiff_t)l->n_out, 1,
                            m->params + l->param_off, 1, (ptrdiff_t)l->n_out, 0.0f, dx,
                            (ptrdiff_t)l->n_in, 1);
        } else {
            l->ops->backward(l, m->params + l->param_off, m->grads + l->param_off, scratch, in,
                             m->acts[i], m->delta[cur], dx, 1);
        }
        cur = 1 - cur;
    }
    return loss;
}

/* 1 if every gradient element is finite; *out_safe says whether every
 * update step lr*g is below 2^103, so that w - lr*g cannot overflow for any
 * finite w (|w| <= FLT_MAX needs a step of at least 2^-24 FLT_MAX to round
 * past it). Rounding is monotonic, so the largest products bound them all. */
static int gradient_finite(int *out_safe, bsnn_model *m, const float *x, float step)
{
    *out_safe = 1;
    for (size_t i = 0; i < m->n_layers; i++) {
        bsnn_layer *l = m->layers[i];
        if (l->ops != &bsnn__dense_ops) continue;
        const float *in = i ? m->acts[i - 1] : x;
        float mx = max_abs(in, l->n_in);
        float md = max_abs(bsnn__layer_scratch(m, i, m->ws_rows), l->n_out);
        float prod = mx * md;
        if (!isfinite(prod)) return 0;
        float big = 0x1p103f, s = fabsf(step);
        if (!(s * prod < big && s * md < big)) *out_safe = 0;
    }
    return 1;
}

bsnn_status bsnn__fused_step(double *out_loss, bsnn_model *m, bsnn_optimizer *opt,
                             const float *x, const float *y, size_t tw, double lr, const char *who)
{
    double loss = forward_backward(m, x, y, tw);
    float step = (float)lr;
    int safe;
    if (!isfinite(loss) || !gradient_finite(&safe, m, x, step))
        return bsnn__fail(BSNN_E_DIVERGED,
                          "%s: loss %g or its gradient is not finite; parameters left unchanged",
                          who, loss);
    /* An update that might overflow a parameter: let the general step (with
     * its snapshot and restore) decide. Forward and backward are pure here. */
    if (!safe) return bsnn__model_step_general(out_loss, m, opt, x, y, 1, tw, lr, who);
    for (size_t i = 0; i < m->n_layers; i++) {
        bsnn_layer *l = m->layers[i];
        if (l->ops != &bsnn__dense_ops) continue;
        size_t in = l->n_in, out = l->n_out;
        float *w = m->params + l->param_off, *g = m->grads + l->param_off;
        const float *dy = bsnn__layer_scratch(m, i, m->ws_rows);
        rank1_update(w, g, i ? m->acts[i - 1] : x, dy, in, out, step);
        for (size_t j = 0; j < out; j++) {
            g[in * out + j] = dy[j];
            w[in * out + j] -= step * dy[j];
        }
    }
    opt->t++;
    m->started = 1;
    if (out_loss) *out_loss = loss;
    return BSNN_OK;
}
