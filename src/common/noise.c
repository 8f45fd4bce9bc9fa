/*
 * noise.c - the two-batch estimator of the gradient noise scale
 * (McCandlish, Kaplan and Amodei 2018, "An Empirical Model of Large-Batch
 * Training", appendix A): unbiased estimates of |G|^2 and tr(Sigma) from
 * the squared norms of two mean gradients at the same parameters, their
 * weighted means with exponential forgetting (the debiased EMA of gpt-neox
 * and Pollux when decay < 1, the plain mean at decay 1), standard errors
 * from weighted second moments, and the ratio B_simple = tr(Sigma) / |G|^2
 * taken of the averages (never an average of ratios: each one is noisy and
 * its mean biased).
 */
#include "common/common.h"

void bsnn__noise_clear(bsnn__noise *e, double decay)
{
    memset(e, 0, sizeof *e);
    e->decay = decay;
}

void bsnn__noise_two_batch(double *out_grad_sq, double *out_trace, double small_sq, double b,
                           double big_sq, double B)
{
    /* E |g_b|^2 = |G|^2 + tr/b for both sizes: two equations, two unknowns. */
    *out_grad_sq = (B * big_sq - b * small_sq) / (B - b);
    *out_trace = (small_sq - big_sq) / (1.0 / b - 1.0 / B);
}

/* One weighted update of a mean and its squared deviations (West 1979,
 * with every earlier weight already scaled by the decay): x has weight 1. */
static double west(double *mean, double *m2, double w, double x)
{
    double before = x - *mean;
    *mean += before / w;
    *m2 += before * (x - *mean);
    return before;
}

void bsnn__noise_add(bsnn__noise *e, double grad_sq, double trace, double b, double B)
{
    double d = e->decay;
    e->w = d * e->w + 1.0;
    e->w2 = d * d * e->w2 + 1.0;
    e->m2_g *= d;
    e->m2_t *= d;
    e->c_gt *= d;
    double before_g = west(&e->g, &e->m2_g, e->w, grad_sq);
    west(&e->t, &e->m2_t, e->w, trace);
    /* co-deviation: the old deviation of one times the new of the other */
    e->c_gt += before_g * (trace - e->t);
    e->b += (b - e->b) / e->w;
    e->B += (B - e->B) / e->w;
    e->count++;
}

void bsnn__noise_observe(bsnn__noise *e, double small_sq, double b, double big_sq, double B)
{
    double g, t;
    bsnn__noise_two_batch(&g, &t, small_sq, b, big_sq, B);
    bsnn__noise_add(e, g, t, b, B);
    e->small_sq = small_sq;
    e->big_sq = big_sq;
}

double bsnn__noise_range(double bs, double b, double B)
{
    if (isnan(bs)) return NAN;
    if (bs < b) return -1.0;
    return bs > B ? 1.0 : 0.0;
}

/* Variance of a weighted mean: the reliability-weighted spread (unbiased
 * for independent observations) times sum w^2 / (sum w)^2. NaN until two
 * observations carry weight. */
static double mean_var(const bsnn__noise *e, double m2)
{
    double eff = e->w - e->w2 / e->w; /* sum w minus what one weight alone is */
    if (e->count < 2 || !(eff > 0.0)) return NAN;
    return m2 / eff * e->w2 / (e->w * e->w);
}

static double b_simple(const bsnn__noise *e)
{
    return e->g > 0.0 ? e->t / e->g : INFINITY;
}

/* Delta method for t / g: Var ~ (Var t - 2 r Cov + r^2 Var g) / g^2. */
static double b_simple_se(const bsnn__noise *e)
{
    if (!(e->g > 0.0)) return NAN;
    double r = e->t / e->g;
    double v = mean_var(e, e->m2_t) - 2.0 * r * mean_var(e, e->c_gt) +
               r * r * mean_var(e, e->m2_g);
    return v > 0.0 ? sqrt(v) / e->g : (v == 0.0 ? 0.0 : NAN);
}

double bsnn__noise_field(const bsnn__noise *e, bsnn_noise_field field)
{
    if (field == BSNN_NOISE_COUNT) return (double)e->count;
    if (e->count == 0) return NAN;
    switch (field) {
    case BSNN_NOISE_GRAD_SQ: return e->g;
    case BSNN_NOISE_TRACE: return e->t;
    case BSNN_NOISE_B_SIMPLE: return b_simple(e);
    case BSNN_NOISE_GRAD_SQ_SE: return sqrt(mean_var(e, e->m2_g));
    case BSNN_NOISE_TRACE_SE: return sqrt(mean_var(e, e->m2_t));
    case BSNN_NOISE_B_SIMPLE_SE: return b_simple_se(e);
    case BSNN_NOISE_RANGE: return bsnn__noise_range(b_simple(e), e->b, e->B);
    case BSNN_NOISE_SMALL_ROWS: return e->b;
    case BSNN_NOISE_BIG_ROWS: return e->B;
    case BSNN_NOISE_SMALL_SQ: return e->small_sq;
    case BSNN_NOISE_BIG_SQ: return e->big_sq;
    default: return NAN;
    }
}
