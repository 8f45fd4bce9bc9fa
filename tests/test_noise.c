/*
 * test_noise.c - the gradient noise-scale estimator (src/common/noise.c)
 * and the model's running estimate (bsnn_model_noise, _observe, _reset):
 * the two-batch formulas against exact expectations, Monte Carlo batches
 * of a known population, the weighted means, standard errors and delta
 * method against the test's own double computations, the debiasing, the
 * range flag, and the public calls' errors.
 */
#include "testutil.h"

#include "common/common.h"

#include <stdio.h>

/* A small deterministic generator of the test's own (not the library's). */
static uint64_t lcg_state = 88172645463325252ull;
static double unif(void)
{
    lcg_state ^= lcg_state << 13;
    lcg_state ^= lcg_state >> 7;
    lcg_state ^= lcg_state << 17;
    return (double)(lcg_state >> 11) / 9007199254740992.0;
}

static int close_rel(double a, double b, double rel)
{
    return fabs(a - b) <= rel * fmax(fabs(a), fabs(b)) + 1e-300;
}

Test(noise, two_batch_formulas_invert_the_expectations)
{
    /* E |g_b|^2 = |G|^2 + tr/b: feeding the exact expectations of two
     * batch sizes back gives |G|^2 and tr(Sigma) for every b < B. */
    for (int k = 0; k < 200; k++) {
        double g2 = pow(10.0, -3.0 + 6.0 * unif()), tr = pow(10.0, -3.0 + 6.0 * unif());
        double b = 1.0 + floor(100.0 * unif()), B = b + 1.0 + floor(1000.0 * unif());
        double got_g, got_t;
        bsnn__noise_two_batch(&got_g, &got_t, g2 + tr / b, b, g2 + tr / B, B);
        /* rounding of the inputs, amplified by the cancellation */
        double tol_g = 1e-14 * (B * g2 + tr + b * g2 + tr) / ((B - b) * g2) + 1e-14;
        double tol_t = 1e-14 * (g2 + tr / b) / (tr * (1.0 / b - 1.0 / B)) + 1e-14;
        cr_assert(close_rel(got_g, g2, tol_g), "g2 %g got %g (b %g B %g tr %g)", g2, got_g, b, B,
                  tr);
        cr_assert(close_rel(got_t, tr, tol_t), "tr %g got %g", tr, got_t);
    }
}

/* A population of P vectors of dimension D; batches drawn with replacement
 * have E |mean|^2 = |G|^2 + tr_pop / b exactly. */
enum { P = 40, D = 6 };
static double pop[P][D];

static void make_population(double offset)
{
    for (int i = 0; i < P; i++)
        for (int j = 0; j < D; j++) pop[i][j] = offset * (j + 1) + (unif() - 0.5) * 2.0;
}

static void population_truth(double *g2, double *tr)
{
    double mean[D] = {0};
    for (int i = 0; i < P; i++)
        for (int j = 0; j < D; j++) mean[j] += pop[i][j] / P;
    *g2 = 0.0;
    *tr = 0.0;
    for (int j = 0; j < D; j++) *g2 += mean[j] * mean[j];
    for (int i = 0; i < P; i++)
        for (int j = 0; j < D; j++) *tr += (pop[i][j] - mean[j]) * (pop[i][j] - mean[j]) / P;
}

static double batch_sq(int b)
{
    double s[D] = {0}, out = 0.0;
    for (int r = 0; r < b; r++) {
        int i = (int)(unif() * P);
        for (int j = 0; j < D; j++) s[j] += pop[i][j] / b;
    }
    for (int j = 0; j < D; j++) out += s[j] * s[j];
    return out;
}

Test(noise, random_batches_average_to_the_population_values_within_their_errors)
{
    make_population(0.3);
    double g2, tr;
    population_truth(&g2, &tr);
    bsnn__noise e;
    bsnn__noise_clear(&e, 1.0);
    for (int k = 0; k < 20000; k++) bsnn__noise_observe(&e, batch_sq(2), 2, batch_sq(16), 16);
    double eg = bsnn__noise_field(&e, BSNN_NOISE_GRAD_SQ), et = bsnn__noise_field(&e, BSNN_NOISE_TRACE);
    double sg = bsnn__noise_field(&e, BSNN_NOISE_GRAD_SQ_SE),
           st = bsnn__noise_field(&e, BSNN_NOISE_TRACE_SE);
    cr_assert(sg > 0 && st > 0 && sg < 0.1 * g2 && st < 0.1 * tr, "se %g %g", sg, st);
    cr_assert(fabs(eg - g2) < 4.0 * sg, "|G|^2 %g, estimated %g +- %g", g2, eg, sg);
    cr_assert(fabs(et - tr) < 4.0 * st, "tr %g, estimated %g +- %g", tr, et, st);
    double bs = bsnn__noise_field(&e, BSNN_NOISE_B_SIMPLE),
           sb = bsnn__noise_field(&e, BSNN_NOISE_B_SIMPLE_SE);
    cr_assert(fabs(bs - tr / g2) < 4.0 * sb, "B_simple %g, estimated %g +- %g", tr / g2, bs, sb);
    cr_assert_eq(bsnn__noise_field(&e, BSNN_NOISE_COUNT), 20000);
    cr_assert_eq(bsnn__noise_field(&e, BSNN_NOISE_SMALL_ROWS), 2);
    cr_assert_eq(bsnn__noise_field(&e, BSNN_NOISE_BIG_ROWS), 16);
}

Test(noise, the_reported_standard_error_matches_the_spread_of_repeated_estimates)
{
    /* 200 independent estimators of 100 observations each: the sd of their
     * B_simple values is what each one's delta-method SE claims. */
    make_population(0.5);
    double vals[200], se_mean = 0.0, mean = 0.0, var = 0.0;
    for (int r = 0; r < 200; r++) {
        bsnn__noise e;
        bsnn__noise_clear(&e, 1.0);
        for (int k = 0; k < 100; k++) bsnn__noise_observe(&e, batch_sq(4), 4, batch_sq(32), 32);
        vals[r] = bsnn__noise_field(&e, BSNN_NOISE_B_SIMPLE);
        se_mean += bsnn__noise_field(&e, BSNN_NOISE_B_SIMPLE_SE) / 200;
        mean += vals[r] / 200;
    }
    for (int r = 0; r < 200; r++) var += (vals[r] - mean) * (vals[r] - mean) / 199;
    double sd = sqrt(var);
    cr_assert(se_mean > 0.75 * sd && se_mean < 1.33 * sd, "reported SE %g, spread %g", se_mean, sd);
}

/* The test's own weighted statistics of n pairs with weights d^(n-1-i). */
static void weighted(double *out_mg, double *out_mt, double *out_seg, double *out_set,
                     double *out_cov, const double *g, const double *t, int n, double d)
{
    double w = 0, w2 = 0, sg = 0, st = 0;
    for (int i = 0; i < n; i++) {
        double wi = pow(d, n - 1 - i);
        w += wi, w2 += wi * wi, sg += wi * g[i], st += wi * t[i];
    }
    double mg = sg / w, mt = st / w, vg = 0, vt = 0, c = 0;
    for (int i = 0; i < n; i++) {
        double wi = pow(d, n - 1 - i);
        vg += wi * (g[i] - mg) * (g[i] - mg);
        vt += wi * (t[i] - mt) * (t[i] - mt);
        c += wi * (g[i] - mg) * (t[i] - mt);
    }
    /* reliability weights: unbiased spread, then the variance of the mean */
    double eff = w - w2 / w, k = w2 / (w * w);
    *out_mg = mg, *out_mt = mt;
    *out_seg = sqrt(vg / eff * k), *out_set = sqrt(vt / eff * k);
    *out_cov = c / eff * k;
}

Test(noise, weighted_means_errors_and_delta_method_match_a_direct_computation)
{
    const double decays[] = {1.0, 0.99, 0.9, 0.5};
    for (int di = 0; di < 4; di++) {
        double d = decays[di], g[300], t[300];
        bsnn__noise e;
        bsnn__noise_clear(&e, d);
        for (int i = 0; i < 300; i++) {
            /* a large common offset: a naive sum-of-squares would cancel */
            g[i] = 1e6 + unif();
            t[i] = 5e7 + 40.0 * unif() + 20.0 * (g[i] - 1e6);
            bsnn__noise_add(&e, g[i], t[i], 1, 64);
            if (i < 1) continue;
            double mg, mt, seg, set, cov;
            weighted(&mg, &mt, &seg, &set, &cov, g, t, i + 1, d);
            cr_assert(close_rel(bsnn__noise_field(&e, BSNN_NOISE_GRAD_SQ), mg, 1e-12));
            cr_assert(close_rel(bsnn__noise_field(&e, BSNN_NOISE_TRACE), mt, 1e-12));
            if (d == 0.5 && i > 60) continue; /* weights below 2^-53 of the newest */
            cr_assert(close_rel(bsnn__noise_field(&e, BSNN_NOISE_GRAD_SQ_SE), seg, 1e-6),
                      "decay %g i %d: se %g want %g", d, i,
                      bsnn__noise_field(&e, BSNN_NOISE_GRAD_SQ_SE), seg);
            cr_assert(close_rel(bsnn__noise_field(&e, BSNN_NOISE_TRACE_SE), set, 1e-6));
            double r = mt / mg;
            double se_b = sqrt(set * set - 2 * r * cov + r * r * seg * seg) / mg;
            cr_assert(close_rel(bsnn__noise_field(&e, BSNN_NOISE_B_SIMPLE), r, 1e-12));
            cr_assert(close_rel(bsnn__noise_field(&e, BSNN_NOISE_B_SIMPLE_SE), se_b, 1e-5),
                      "decay %g i %d: B se %g want %g", d, i,
                      bsnn__noise_field(&e, BSNN_NOISE_B_SIMPLE_SE), se_b);
        }
    }
}

Test(noise, the_average_is_debiased_from_the_first_observation)
{
    /* An EMA started at 0 would read (1 - d) x after one observation. */
    bsnn__noise e;
    bsnn__noise_clear(&e, 0.99);
    bsnn__noise_add(&e, 3.0, 12.0, 1, 32);
    cr_assert_eq(bsnn__noise_field(&e, BSNN_NOISE_GRAD_SQ), 3.0);
    cr_assert_eq(bsnn__noise_field(&e, BSNN_NOISE_TRACE), 12.0);
    cr_assert_eq(bsnn__noise_field(&e, BSNN_NOISE_B_SIMPLE), 4.0);
    cr_assert(isnan(bsnn__noise_field(&e, BSNN_NOISE_B_SIMPLE_SE)), "one observation has no spread");
    bsnn__noise_add(&e, 5.0, 12.0, 1, 32);
    /* weights 0.99 and 1 */
    cr_assert(close_rel(bsnn__noise_field(&e, BSNN_NOISE_GRAD_SQ), (0.99 * 3 + 5) / 1.99, 1e-15));
}

Test(noise, decay_zero_keeps_the_last_observation_only)
{
    bsnn__noise e;
    bsnn__noise_clear(&e, 0.0);
    bsnn__noise_observe(&e, 10.0, 1, 2.0, 9);
    bsnn__noise_observe(&e, 20.0, 2, 4.0, 10);
    double g, t;
    bsnn__noise_two_batch(&g, &t, 20.0, 2, 4.0, 10);
    cr_assert(close_rel(bsnn__noise_field(&e, BSNN_NOISE_GRAD_SQ), g, 1e-15));
    cr_assert(close_rel(bsnn__noise_field(&e, BSNN_NOISE_TRACE), t, 1e-15));
    cr_assert_eq(bsnn__noise_field(&e, BSNN_NOISE_SMALL_SQ), 20.0);
    cr_assert_eq(bsnn__noise_field(&e, BSNN_NOISE_BIG_SQ), 4.0);
    cr_assert_eq(bsnn__noise_field(&e, BSNN_NOISE_SMALL_ROWS), 2);
}

Test(noise, nothing_is_reported_before_an_observation)
{
    bsnn__noise e;
    bsnn__noise_clear(&e, 0.9);
    cr_assert_eq(bsnn__noise_field(&e, BSNN_NOISE_COUNT), 0.0);
    for (int f = BSNN_NOISE_GRAD_SQ; f <= BSNN_NOISE_BIG_SQ; f++)
        if (f != BSNN_NOISE_COUNT) cr_assert(isnan(bsnn__noise_field(&e, (bsnn_noise_field)f)), "%d", f);
}

Test(noise, the_range_flag_says_where_the_estimate_is_mostly_noise)
{
    bsnn__noise e;
    bsnn__noise_clear(&e, 1.0);
    bsnn__noise_add(&e, 1.0, 50.0, 4, 128); /* 50 in [4, 128] */
    cr_assert_eq(bsnn__noise_field(&e, BSNN_NOISE_RANGE), 0.0);
    bsnn__noise_clear(&e, 1.0);
    bsnn__noise_add(&e, 1.0, 2.0, 4, 128);
    cr_assert_eq(bsnn__noise_field(&e, BSNN_NOISE_RANGE), -1.0);
    bsnn__noise_clear(&e, 1.0);
    bsnn__noise_add(&e, 1.0, 500.0, 4, 128);
    cr_assert_eq(bsnn__noise_field(&e, BSNN_NOISE_RANGE), 1.0);
    /* |G|^2 estimated <= 0: the gradient is lost in the noise */
    bsnn__noise_clear(&e, 1.0);
    bsnn__noise_add(&e, -0.5, 10.0, 4, 128);
    cr_assert(isinf(bsnn__noise_field(&e, BSNN_NOISE_B_SIMPLE)));
    cr_assert_eq(bsnn__noise_field(&e, BSNN_NOISE_RANGE), 1.0);
    cr_assert(isnan(bsnn__noise_field(&e, BSNN_NOISE_B_SIMPLE_SE)));
}
