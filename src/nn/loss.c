/*
 * loss.c - the objectives: per-sample loss summed in double, and the
 * gradient with respect to the last layer's output, already divided by the
 * batch size so that a batch's gradient is the mean of its samples'.
 */
#include "nn/nn.h"

int bsnn__loss_valid(int kind)
{
    return kind == BSNN_LOSS_MSE || kind == BSNN_LOSS_BCE_LOGITS || kind == BSNN_LOSS_SOFTMAX_CE ||
           kind == BSNN_LOSS_MSE_MEAN;
}

int bsnn__loss_target_width_ok(bsnn_loss kind, size_t width, size_t target_width)
{
    return target_width == width || (kind == BSNN_LOSS_SOFTMAX_CE && target_width == 1 && width > 1);
}

int bsnn__loss_targets_ok(bsnn_loss kind, const float *target, size_t n, size_t width,
                          size_t target_width)
{
    if (!bsnn__all_finite(target, n * target_width)) return 0;
    if (kind != BSNN_LOSS_SOFTMAX_CE || target_width == width) return 1;
    for (size_t r = 0; r < n; r++) {
        float c = target[r];
        if (!(c >= 0.0f && c < (float)width && c == floorf(c))) return 0;
    }
    return 1;
}

static double mse(const float *o, const float *t, size_t count, float *g, float scale)
{
    double sum = 0.0;
    for (size_t i = 0; i < count; i++) {
        float d = o[i] - t[i];
        sum += 0.5 * (double)d * d;
        if (g) g[i] = scale * d;
    }
    return sum;
}

/* PyTorch's MSELoss / Keras's 'mse': per sample the mean over its w
 * outputs, no 1/2, so the batch value is the mean over rows and outputs;
 * d/do of (1/w) (o - t)^2 is 2 (o - t) / w. */
static double mse_mean(const float *o, const float *t, size_t n, size_t w, float *g, float scale)
{
    double sum = 0.0;
    float k = scale * 2.0f / (float)w;
    for (size_t i = 0; i < n * w; i++) {
        float d = o[i] - t[i];
        sum += (double)d * d;
        if (g) g[i] = k * d;
    }
    return sum / (double)w;
}

static double bce_logits(const float *z, const float *t, size_t count, float *g, float scale)
{
    double sum = 0.0;
    for (size_t i = 0; i < count; i++) {
        double zi = z[i];
        /* max(z,0) - z t + log(1 + e^-|z|): no overflow for any z. */
        sum += (zi > 0 ? zi : 0) - zi * t[i] + log1p(exp(-fabs(zi)));
        if (g) g[i] = scale * (1.0f / (1.0f + expf(-z[i])) - t[i]);
    }
    return sum;
}

/* One row of softmax cross-entropy; t is the one-hot/probability row, or
 * NULL with `cls` the class index. */
static double softmax_ce_row(const float *z, const float *t, size_t cls, size_t w, float *g,
                             float scale)
{
    float mx = z[0];
    for (size_t j = 1; j < w; j++) mx = z[j] > mx ? z[j] : mx;
    double se = 0.0;
    for (size_t j = 0; j < w; j++) se += exp((double)z[j] - mx);
    double lse = mx + log(se);
    double tsum = 0.0, loss = 0.0;
    for (size_t j = 0; j < w; j++) {
        double tj = t ? t[j] : (double)(j == cls);
        tsum += tj;
        loss += tj * (lse - z[j]);
    }
    if (g)
        for (size_t j = 0; j < w; j++) {
            double tj = t ? t[j] : (double)(j == cls);
            g[j] = scale * (float)(exp((double)z[j] - lse) * tsum - tj);
        }
    return loss;
}

double bsnn__loss(bsnn_loss kind, const float *out, const float *target, size_t n, size_t width,
                  size_t target_width, float *grad, float scale)
{
    switch (kind) {
    case BSNN_LOSS_BCE_LOGITS: return bce_logits(out, target, n * width, grad, scale);
    case BSNN_LOSS_MSE_MEAN: return mse_mean(out, target, n, width, grad, scale);
    case BSNN_LOSS_SOFTMAX_CE: {
        double sum = 0.0;
        int indices = target_width != width;
        for (size_t r = 0; r < n; r++)
            sum += softmax_ce_row(out + r * width, indices ? NULL : target + r * width,
                                  indices ? (size_t)target[r] : 0, width,
                                  grad ? grad + r * width : NULL, scale);
        return sum;
    }
    default: return mse(out, target, n * width, grad, scale);
    }
}

/* ---- the training loss, in chunks of rows ---------------------------------- */

typedef struct loss_pass {
    bsnn_loss kind;
    const float *out, *target;
    size_t width, tw;
    float *grad, scale;
    double *parts;
} loss_pass;

static void loss_chunk(void *ctx, size_t lo, size_t hi, size_t chunk)
{
    const loss_pass *p = ctx;
    p->parts[chunk] = bsnn__loss(p->kind, p->out + lo * p->width, p->target + lo * p->tw, hi - lo,
                                 p->width, p->tw, p->grad + lo * p->width, p->scale);
}

size_t bsnn__loss_chunks(size_t n, size_t width)
{
    return bsnn__range_chunks(n, bsnn__row_grain(width));
}

double bsnn__loss_grad(bsnn_loss kind, const float *out, const float *target, size_t n,
                       size_t width, size_t target_width, float *grad, float scale,
                       double *parts)
{
    loss_pass p = {kind, out, target, width, target_width, grad, scale, parts};
    bsnn__parallel_range(n, bsnn__row_grain(width), loss_chunk, &p);
    double sum = 0.0;
    size_t chunks = bsnn__loss_chunks(n, width);
    for (size_t c = 0; c < chunks; c++) sum += parts[c];
    return sum;
}
