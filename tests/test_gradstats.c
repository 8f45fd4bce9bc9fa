/*
 * test_gradstats.c - the gradient noise scale measured by the library (the
 * per-sample and micro-batch routes of every update, the on-demand
 * measurement) against |G|^2 and tr(Sigma) computed exactly by this test
 * from every per-sample gradient of the dataset, in double, by its own
 * backpropagation of a dense-tanh-dense softmax net (never the library's
 * code path); the standard error's 1/sqrt(rows); batch norm refused on
 * the per-sample route; statistics that never change the training.
 */
#include "testutil.h"

#include <stdio.h>

enum { IN = 5, HID = 7, OUT = 3 };
#define NP (IN * HID + HID + HID * OUT + OUT)

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static double unif(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (double)(rs >> 11) / 9007199254740992.0;
}

/* n rows: inputs U(-1,1), class = argmax of a fixed linear teacher plus
 * noise (so the classes overlap and the gradients are noisy). */
static double label_noise = 1.5;

static bsnn_dataset *make_data(size_t n, uint64_t seed)
{
    rs = seed * 2654435761ull + 1;
    float *x = malloc(n * IN * sizeof(float)), *y = malloc(n * sizeof(float));
    for (size_t r = 0; r < n; r++) {
        double best = -1e9;
        int cls = 0;
        for (int i = 0; i < IN; i++) x[r * IN + i] = (float)(2.0 * unif() - 1.0);
        for (int c = 0; c < OUT; c++) {
            double s = label_noise * unif();
            for (int i = 0; i < IN; i++) s += x[r * IN + i] * ((i + c) % 3 - 1.0);
            if (s > best) best = s, cls = c;
        }
        y[r] = (float)cls;
    }
    bsnn_dataset *ds = bsnn_dataset_create(x, y, n, IN, 1);
    cr_assert_not_null(ds, "%s", bsnn_last_error());
    free(x);
    free(y);
    return ds;
}

static bsnn_model *make_model(uint64_t seed, int route)
{
    bsnn_model *m = bsnn_model_create(IN);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(HID)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(OUT)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_SOFTMAX_CE), BSNN_OK);
    cr_assert_eq(bsnn_model_init_params(m, seed), BSNN_OK);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_NOISE_ROUTE, route), BSNN_OK, "%s",
                 bsnn_last_error());
    return m;
}

/* One row's loss gradient in double, from the formulas: parameters in
 * bsnn's order (W1 [IN][HID], b1, W2 [HID][OUT], b2). */
static void sample_grad(double *g, const float *p, const float *x, int cls)
{
    const float *W1 = p, *b1 = p + IN * HID, *W2 = b1 + HID, *b2 = W2 + HID * OUT;
    double h[HID], o[OUT], mx = -1e300, se = 0.0;
    for (int j = 0; j < HID; j++) {
        double s = b1[j];
        for (int i = 0; i < IN; i++) s += (double)x[i] * W1[i * HID + j];
        h[j] = tanh(s);
    }
    for (int c = 0; c < OUT; c++) {
        double s = b2[c];
        for (int j = 0; j < HID; j++) s += h[j] * W2[j * OUT + c];
        o[c] = s;
        mx = fmax(mx, s);
    }
    for (int c = 0; c < OUT; c++) se += exp(o[c] - mx);
    double d2[OUT], d1[HID];
    for (int c = 0; c < OUT; c++) d2[c] = exp(o[c] - mx) / se - (c == cls);
    double *gW1 = g, *gb1 = g + IN * HID, *gW2 = gb1 + HID, *gb2 = gW2 + HID * OUT;
    for (int j = 0; j < HID; j++) {
        double s = 0.0;
        for (int c = 0; c < OUT; c++) {
            gW2[j * OUT + c] = h[j] * d2[c];
            s += W2[j * OUT + c] * d2[c];
        }
        d1[j] = s * (1.0 - h[j] * h[j]);
    }
    for (int c = 0; c < OUT; c++) gb2[c] = d2[c];
    for (int j = 0; j < HID; j++) {
        gb1[j] = d1[j];
        for (int i = 0; i < IN; i++) gW1[i * HID + j] = x[i] * d1[j];
    }
}

/* Exact statistics of rows idx[0..n) (NULL: 0..n-1) at m's parameters:
 * mean of |g_i|^2, |mean g|^2, and the population tr(Sigma). */
typedef struct exact {
    double mean_sq, grad_sq, trace;
} exact;

static exact exact_stats(const bsnn_model *m, const bsnn_dataset *ds, const size_t *idx,
                         size_t n)
{
    float p[NP];
    cr_assert_eq(bsnn_model_get_params(p, NP, m), BSNN_OK);
    const float *x = bsnn_dataset_inputs(ds), *y = bsnn_dataset_targets(ds);
    double G[NP] = {0}, g[NP], msq = 0.0;
    for (size_t r = 0; r < n; r++) {
        size_t row = idx ? idx[r] : r;
        sample_grad(g, p, x + row * IN, (int)y[row]);
        for (int i = 0; i < NP; i++) {
            G[i] += g[i] / (double)n;
            msq += g[i] * g[i] / (double)n;
        }
    }
    exact e = {msq, 0.0, 0.0};
    for (int i = 0; i < NP; i++) e.grad_sq += G[i] * G[i];
    e.trace = msq - e.grad_sq; /* mean |g_i - G|^2 */
    return e;
}

static double field(const bsnn_model *m, bsnn_noise_field f)
{
    double v = -1.0;
    cr_assert_eq(bsnn_model_noise(&v, m, f), BSNN_OK, "%s", bsnn_last_error());
    return v;
}

static int rel_close(double a, double b, double rel) { return fabs(a - b) <= rel * fabs(b); }

static bsnn_tensor *rows_tensor(const float *src, size_t n, size_t w)
{
    size_t shape[2] = {n, w};
    bsnn_tensor *t = bsnn_tensor_create(2, shape);
    cr_assert_eq(bsnn_tensor_copy_in(t, src, n * w), BSNN_OK);
    return t;
}

Test(gradstats, the_per_sample_route_sees_each_rows_exact_gradient_norm)
{
    bsnn_dataset *ds = make_data(40, 1);
    bsnn_model *m = make_model(3, BSNN_NOISE_PER_SAMPLE);
    exact e = exact_stats(m, ds, NULL, 40);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    bsnn_tensor *x = rows_tensor(bsnn_dataset_inputs(ds), 40, IN);
    bsnn_tensor *y = rows_tensor(bsnn_dataset_targets(ds), 40, 1);
    cr_assert_eq(field(m, BSNN_NOISE_COUNT), 0);
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, x, y), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(field(m, BSNN_NOISE_COUNT), 1);
    cr_assert_eq(field(m, BSNN_NOISE_SMALL_ROWS), 1);
    cr_assert_eq(field(m, BSNN_NOISE_BIG_ROWS), 40);
    cr_assert(rel_close(field(m, BSNN_NOISE_SMALL_SQ), e.mean_sq, 1e-5), "mean |g_i|^2 %g want %g",
              field(m, BSNN_NOISE_SMALL_SQ), e.mean_sq);
    cr_assert(rel_close(field(m, BSNN_NOISE_BIG_SQ), e.grad_sq, 1e-5), "|g_B|^2 %g want %g",
              field(m, BSNN_NOISE_BIG_SQ), e.grad_sq);
    /* one observation of b = 1, B = 40: the sample estimates of the batch */
    double tr = e.trace * 40.0 / 39.0, g2 = e.grad_sq - tr / 40.0;
    cr_assert(rel_close(field(m, BSNN_NOISE_TRACE), tr, 1e-4));
    cr_assert(rel_close(field(m, BSNN_NOISE_GRAD_SQ), g2, 1e-4));
    cr_assert(rel_close(field(m, BSNN_NOISE_B_SIMPLE), tr / g2, 1e-4));
    bsnn_tensor_free(x);
    bsnn_tensor_free(y);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
}

/* The squared norm of the batch-mean gradient of rows [first, first + n)
 * of ds, from the test's own gradients. */
static double part_sq(const bsnn_model *m, const bsnn_dataset *ds, size_t first, size_t n)
{
    size_t idx[64];
    for (size_t i = 0; i < n; i++) idx[i] = first + i;
    return exact_stats(m, ds, idx, n).grad_sq;
}

Test(gradstats, the_micro_batch_route_sees_each_micro_batchs_exact_gradient_norm)
{
    /* 32 rows as micro-batches of 10: 10, 10, 10 and 2 rows */
    bsnn_dataset *ds = make_data(32, 2);
    bsnn_model *m = make_model(4, BSNN_NOISE_MICRO_BATCH);
    double want = (part_sq(m, ds, 0, 10) + part_sq(m, ds, 10, 10) + part_sq(m, ds, 20, 10) +
                   part_sq(m, ds, 30, 2)) / 4.0;
    double big = part_sq(m, ds, 0, 32);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_ADAM);
    bsnn_scheduler *s = bsnn_scheduler_create(32);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 32), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_SHUFFLE, 0), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_MICRO_BATCH, 10), BSNN_OK);
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, 1, NULL, NULL), BSNN_OK, "%s",
                 bsnn_last_error());
    cr_assert_eq(field(m, BSNN_NOISE_COUNT), 1);
    cr_assert(rel_close(field(m, BSNN_NOISE_SMALL_SQ), want, 1e-5), "mean |g_j|^2 %g want %g",
              field(m, BSNN_NOISE_SMALL_SQ), want);
    cr_assert(rel_close(field(m, BSNN_NOISE_BIG_SQ), big, 1e-5));
    /* 1/b is the mean of the micro-batches' 1/b_j */
    cr_assert(rel_close(field(m, BSNN_NOISE_SMALL_ROWS), 4.0 / (3.0 / 10 + 1.0 / 2), 1e-12));
    cr_assert_eq(field(m, BSNN_NOISE_BIG_ROWS), 32);
    /* one pass (no accumulation): nothing to observe */
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_MICRO_BATCH, 0), BSNN_OK);
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, 1, NULL, NULL), BSNN_OK);
    cr_assert_eq(field(m, BSNN_NOISE_COUNT), 1);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
}

/* Measure over ds with the route; out[] holds every field. */
static void measure(double *out, bsnn_model *m, const bsnn_dataset *ds, bsnn_noise_route route,
                    size_t batch, size_t batches, uint64_t seed)
{
    cr_assert_eq(bsnn_model_noise_measure(out, 12, m, ds, route, batch, batches, seed), BSNN_OK,
                 "%s", bsnn_last_error());
}

#define F(f) ((f) - 1)

Test(gradstats, the_measurement_over_all_rows_matches_the_exact_values_within_5_percent)
{
    /* frozen parameters, several trained states (so B_simple varies) */
    bsnn_dataset *ds = make_data(600, 3);
    bsnn_model *m = make_model(5, BSNN_NOISE_OFF);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_ADAM);
    bsnn_scheduler *s = bsnn_scheduler_create(600);
    for (int round = 0; round < 3; round++) {
        exact e = exact_stats(m, ds, NULL, 600);
        double v[12], w[12];
        measure(v, m, ds, BSNN_NOISE_PER_SAMPLE, 50, 0, 0);
        cr_assert(rel_close(v[F(BSNN_NOISE_GRAD_SQ)], e.grad_sq, 0.05), "round %d: |G|^2 %g want %g",
                  round, v[F(BSNN_NOISE_GRAD_SQ)], e.grad_sq);
        cr_assert(rel_close(v[F(BSNN_NOISE_TRACE)], e.trace, 0.05), "round %d: tr %g want %g", round,
                  v[F(BSNN_NOISE_TRACE)], e.trace);
        cr_assert(rel_close(v[F(BSNN_NOISE_B_SIMPLE)], e.trace / e.grad_sq, 0.05));
        cr_assert_eq(v[F(BSNN_NOISE_COUNT)], 12);
        cr_assert_eq(v[F(BSNN_NOISE_BIG_ROWS)], 600);
        cr_assert(rel_close(v[F(BSNN_NOISE_SMALL_SQ)], e.mean_sq, 1e-5));
        cr_assert(rel_close(v[F(BSNN_NOISE_BIG_SQ)], e.grad_sq, 1e-5));
        /* the micro-batch route from the same 12 batches: an estimate from
         * 12 batch norms, within its standard errors of the per-sample one */
        measure(w, m, ds, BSNN_NOISE_MICRO_BATCH, 50, 0, 0);
        cr_assert(rel_close(w[F(BSNN_NOISE_SMALL_ROWS)], 50, 1e-12));
        double d = fabs(w[F(BSNN_NOISE_B_SIMPLE)] - v[F(BSNN_NOISE_B_SIMPLE)]);
        double se = hypot(w[F(BSNN_NOISE_B_SIMPLE_SE)], v[F(BSNN_NOISE_B_SIMPLE_SE)]);
        cr_assert(d <= 3.0 * se, "round %d: routes differ by %g, SEs %g and %g", round, d,
                  w[F(BSNN_NOISE_B_SIMPLE_SE)], v[F(BSNN_NOISE_B_SIMPLE_SE)]);
        cr_assert(fabs(w[F(BSNN_NOISE_TRACE)] - e.trace) <= 3.0 * w[F(BSNN_NOISE_TRACE_SE)]);
        printf("round %d: exact B %.4g, per-sample %.4g +- %.2g, micro %.4g +- %.2g\n", round,
               e.trace / e.grad_sq, v[F(BSNN_NOISE_B_SIMPLE)], v[F(BSNN_NOISE_B_SIMPLE_SE)],
               w[F(BSNN_NOISE_B_SIMPLE)], w[F(BSNN_NOISE_B_SIMPLE_SE)]);
        cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, 3, NULL, NULL), BSNN_OK);
    }
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
}

Test(gradstats, the_measurement_s_standard_error_shrinks_as_one_over_sqrt_rows)
{
    /* k batches of 8 rows for k = 16, 64, 256: each 4x the rows halves the
     * SE. The SE is itself an estimate (about 1/sqrt(2k) relative noise), so
     * each ratio is averaged over 4 draws. */
    bsnn_dataset *ds = make_data(4096, 6);
    bsnn_model *m = make_model(7, BSNN_NOISE_OFF);
    const int route[2] = {BSNN_NOISE_PER_SAMPLE, BSNN_NOISE_MICRO_BATCH};
    for (int ri = 0; ri < 2; ri++) {
        double se[3] = {0, 0, 0}, sg[3] = {0, 0, 0};
        const size_t ks[3] = {16, 64, 256};
        for (int i = 0; i < 3; i++)
            for (uint64_t seed = 1; seed <= 4; seed++) {
                double v[12];
                measure(v, m, ds, (bsnn_noise_route)route[ri], 8, ks[i], seed);
                cr_assert_eq(v[F(BSNN_NOISE_BIG_ROWS)], 8.0 * (double)ks[i]);
                se[i] += v[F(BSNN_NOISE_TRACE_SE)] / 4;
                sg[i] += v[F(BSNN_NOISE_GRAD_SQ_SE)] / 4;
            }
        for (int i = 0; i < 2; i++) {
            cr_assert(se[i] / se[i + 1] > 1.6 && se[i] / se[i + 1] < 2.5,
                      "route %d: tr SE %g at %zu batches, %g at %zu (ratio %g, want 2)", route[ri],
                      se[i], ks[i], se[i + 1], ks[i + 1], se[i] / se[i + 1]);
            cr_assert(sg[i] / sg[i + 1] > 1.6 && sg[i] / sg[i + 1] < 2.5,
                      "route %d: |G|^2 SE ratio %g, want 2", route[ri], sg[i] / sg[i + 1]);
        }
    }
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
}

Test(gradstats, batch_norm_is_refused_on_the_per_sample_route)
{
    bsnn_dataset *ds = make_data(64, 8);
    bsnn_model *m = bsnn_model_create(IN);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(HID)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_batchnorm()), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(OUT)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_SOFTMAX_CE), BSNN_OK);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_NOISE_ROUTE, BSNN_NOISE_PER_SAMPLE),
                 BSNN_E_UNSUPPORTED);
    cr_assert(strstr(bsnn_last_error(), "batch norm layer 1") != NULL, "%s", bsnn_last_error());
    double route = -1;
    cr_assert_eq(bsnn_model_get(&route, m, BSNN_MODEL_NOISE_ROUTE), BSNN_OK);
    cr_assert_eq(route, BSNN_NOISE_OFF);
    double v[12];
    cr_assert_eq(bsnn_model_noise_measure(v, 12, m, ds, BSNN_NOISE_PER_SAMPLE, 16, 0, 0),
                 BSNN_E_UNSUPPORTED);
    /* the micro-batch route works with batch norm (each batch its own statistics) */
    cr_assert_eq(bsnn_model_noise_measure(v, 12, m, ds, BSNN_NOISE_MICRO_BATCH, 16, 0, 0),
                 BSNN_OK, "%s", bsnn_last_error());
    cr_assert(isfinite(v[F(BSNN_NOISE_B_SIMPLE)]));
    bsnn_model_free(m);
    /* batch norm added after the route was set: refused when training */
    m = bsnn_model_create(IN);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(OUT)), BSNN_OK);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_NOISE_ROUTE, BSNN_NOISE_PER_SAMPLE), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_batchnorm()), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_SOFTMAX_CE), BSNN_OK);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    bsnn_scheduler *s = bsnn_scheduler_create(64);
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, 1, NULL, NULL), BSNN_E_UNSUPPORTED);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
}

/* Parameters, state and a next training step of a twin, bit for bit. */
static void assert_same_model(bsnn_model *a, bsnn_model *b)
{
    size_t n = bsnn_model_param_count(a);
    float *pa = malloc(n * sizeof(float)), *pb = malloc(n * sizeof(float));
    cr_assert_eq(bsnn_model_get_params(pa, n, a), BSNN_OK);
    cr_assert_eq(bsnn_model_get_params(pb, n, b), BSNN_OK);
    cr_assert_eq(memcmp(pa, pb, n * sizeof(float)), 0, "parameters differ");
    free(pa);
    free(pb);
}

/* Bit for bit for every rule whose update is the general one: Adam, momentum
 * and RMSprop in one pass, and plain SGD in micro-batches (plain SGD in one
 * pass without a hook is fused when no route is on, and the route declines
 * that: a few ulps apart, docs/scheduler.md). */
Test(gradstats, the_per_sample_route_leaves_training_bit_identical)
{
    const bsnn_optimizer_kind kinds[] = {BSNN_ADAM, BSNN_MOMENTUM, BSNN_RMSPROP, BSNN_SGD};
    for (size_t k = 0; k < 4; k++) {
        bsnn_dataset *ds = make_data(300, 9);
        bsnn_model *on = make_model(10, BSNN_NOISE_PER_SAMPLE), *off = make_model(10, BSNN_NOISE_OFF);
        bsnn_optimizer *o1 = bsnn_optimizer_create(kinds[k]), *o2 = bsnn_optimizer_create(kinds[k]);
        bsnn_scheduler *s1 = bsnn_scheduler_create(300), *s2 = bsnn_scheduler_create(300);
        if (kinds[k] == BSNN_SGD) {
            cr_assert_eq(bsnn_scheduler_set(s1, BSNN_SCHED_MICRO_BATCH, 8), BSNN_OK);
            cr_assert_eq(bsnn_scheduler_set(s2, BSNN_SCHED_MICRO_BATCH, 8), BSNN_OK);
        }
        cr_assert_eq(bsnn_model_train(NULL, on, o1, s1, ds, 4, NULL, NULL), BSNN_OK);
        cr_assert_eq(bsnn_model_train(NULL, off, o2, s2, ds, 4, NULL, NULL), BSNN_OK);
        assert_same_model(on, off);
        cr_assert_eq(field(on, BSNN_NOISE_COUNT), 4 * 10); /* 10 batches an epoch */
        cr_assert_eq(field(off, BSNN_NOISE_COUNT), 0);
        bsnn_scheduler_free(s1);
        bsnn_scheduler_free(s2);
        bsnn_optimizer_free(o1);
        bsnn_optimizer_free(o2);
        bsnn_model_free(on);
        bsnn_model_free(off);
        bsnn_dataset_free(ds);
    }
}

Test(gradstats, the_measurement_changes_nothing_in_the_model)
{
    /* with dropout (a generator) and batch norm (running statistics) */
    bsnn_dataset *ds = make_data(200, 11);
    bsnn_model *m[2];
    for (int k = 0; k < 2; k++) {
        m[k] = bsnn_model_create(IN);
        cr_assert_eq(bsnn_model_add(m[k], bsnn_layer_dense(HID)), BSNN_OK);
        cr_assert_eq(bsnn_model_add(m[k], bsnn_layer_batchnorm()), BSNN_OK);
        cr_assert_eq(bsnn_model_add(m[k], bsnn_layer_activation(BSNN_ACT_TANH)), BSNN_OK);
        cr_assert_eq(bsnn_model_add(m[k], bsnn_layer_dropout(0.3)), BSNN_OK);
        cr_assert_eq(bsnn_model_add(m[k], bsnn_layer_dense(OUT)), BSNN_OK);
        cr_assert_eq(bsnn_model_set_loss(m[k], BSNN_LOSS_SOFTMAX_CE), BSNN_OK);
        cr_assert_eq(bsnn_model_set(m[k], BSNN_MODEL_NOISE_ROUTE, BSNN_NOISE_MICRO_BATCH), BSNN_OK);
    }
    bsnn_optimizer *o[2] = {bsnn_optimizer_create(BSNN_ADAM), bsnn_optimizer_create(BSNN_ADAM)};
    bsnn_scheduler *s[2] = {bsnn_scheduler_create(200), bsnn_scheduler_create(200)};
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(bsnn_scheduler_set(s[k], BSNN_SCHED_MICRO_BATCH, 8), BSNN_OK);
        cr_assert_eq(bsnn_model_train(NULL, m[k], o[k], s[k], ds, 1, NULL, NULL), BSNN_OK);
    }
    size_t n = bsnn_model_param_count(m[0]);
    float *g0 = malloc(n * sizeof(float)), *g1 = malloc(n * sizeof(float));
    cr_assert_eq(bsnn_model_get_grads(g0, n, m[0]), BSNN_OK);
    double before[12], after[12], v[12];
    for (int f = 0; f < 12; f++) before[f] = field(m[0], (bsnn_noise_field)(f + 1));
    measure(v, m[0], ds, BSNN_NOISE_MICRO_BATCH, 20, 0, 0);
    measure(v, m[0], ds, BSNN_NOISE_MICRO_BATCH, 16, 5, 3);
    for (int f = 0; f < 12; f++) after[f] = field(m[0], (bsnn_noise_field)(f + 1));
    cr_assert_eq(memcmp(before, after, sizeof before), 0, "the running estimate changed");
    cr_assert_eq(bsnn_model_get_grads(g1, n, m[0]), BSNN_OK);
    cr_assert_eq(memcmp(g0, g1, n * sizeof(float)), 0, "the gradient changed");
    assert_same_model(m[0], m[1]);
    /* running statistics and dropout's generator: the next epoch agrees */
    for (int k = 0; k < 2; k++)
        cr_assert_eq(bsnn_model_train(NULL, m[k], o[k], s[k], ds, 1, NULL, NULL), BSNN_OK);
    assert_same_model(m[0], m[1]);
    double l0, l1;
    cr_assert_eq(bsnn_model_evaluate(&l0, NULL, m[0], ds, 50), BSNN_OK);
    cr_assert_eq(bsnn_model_evaluate(&l1, NULL, m[1], ds, 50), BSNN_OK);
    cr_assert_eq(l0, l1, "evaluation (running statistics) differs");
    free(g0);
    free(g1);
    for (int k = 0; k < 2; k++) {
        bsnn_scheduler_free(s[k]);
        bsnn_optimizer_free(o[k]);
        bsnn_model_free(m[k]);
    }
    bsnn_dataset_free(ds);
}

Test(gradstats, the_running_estimate_tracks_the_exact_value_during_training_within_20_percent)
{
    /* SGD at lr 0.005, batch 128 over 8192 rows (64 updates an epoch),
     * decay 0.99: the average spans about 100 updates, over which |G|^2
     * falls by about 10% (the average lags it by that much: the standard
     * error does not count this drift). After 8 epochs it is checked
     * against the exact value at the current parameters every 4 epochs up
     * to 32 (B_simple grows from 23 to 79), on both routes (micro-batches
     * of 16). */
    label_noise = 0.4; /* B_simple below the batch: a measurable range */
    bsnn_dataset *ds = make_data(8192, 12);
    const int routes[2] = {BSNN_NOISE_PER_SAMPLE, BSNN_NOISE_MICRO_BATCH};
    double last_b[2] = {0, 0}, last_se[2] = {0, 0};
    for (int ri = 0; ri < 2; ri++) {
        bsnn_model *m = make_model(13, routes[ri]);
        bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
        cr_assert_eq(bsnn_optimizer_set(opt, BSNN_OPT_LR, 0.005), BSNN_OK);
        bsnn_scheduler *s = bsnn_scheduler_create(8192);
        cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 128), BSNN_OK);
        if (routes[ri] == BSNN_NOISE_MICRO_BATCH)
            cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_MICRO_BATCH, 16), BSNN_OK);
        cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, 8, NULL, NULL), BSNN_OK);
        for (int e = 8; e <= 32; e += 4) {
            exact x = exact_stats(m, ds, NULL, 8192);
            double g2 = field(m, BSNN_NOISE_GRAD_SQ), tr = field(m, BSNN_NOISE_TRACE);
            double bs = field(m, BSNN_NOISE_B_SIMPLE);
            printf("route %d epoch %d: B_simple %.4g (exact %.4g) +- %.2g, |G|^2 %.4g (%.4g), "
                   "tr %.4g (%.4g)\n",
                   routes[ri], e, bs, x.trace / x.grad_sq, field(m, BSNN_NOISE_B_SIMPLE_SE), g2,
                   x.grad_sq, tr, x.trace);
            cr_assert(rel_close(g2, x.grad_sq, 0.2), "route %d epoch %d: |G|^2 %g want %g",
                      routes[ri], e, g2, x.grad_sq);
            cr_assert(rel_close(tr, x.trace, 0.2), "route %d epoch %d: tr %g want %g", routes[ri],
                      e, tr, x.trace);
            cr_assert(rel_close(bs, x.trace / x.grad_sq, 0.2), "route %d epoch %d: B %g want %g",
                      routes[ri], e, bs, x.trace / x.grad_sq);
            last_b[ri] = bs;
            last_se[ri] = field(m, BSNN_NOISE_B_SIMPLE_SE);
            cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, 4, NULL, NULL), BSNN_OK);
        }
        bsnn_scheduler_free(s);
        bsnn_optimizer_free(opt);
        bsnn_model_free(m);
    }
    /* the same run on the two routes: agreement within their errors */
    cr_assert(fabs(last_b[0] - last_b[1]) <= 3.0 * hypot(last_se[0], last_se[1]),
              "routes: %g +- %g and %g +- %g", last_b[0], last_se[0], last_b[1], last_se[1]);
    bsnn_dataset_free(ds);
}

/* A hook that records the local and a doubled "global" norm, as a
 * data-parallel host would through bsnn_model_noise_observe. */
typedef struct hook_ctx {
    bsnn_model *m;
    int calls;
} hook_ctx;

static int observing_hook(void *user, float *grads, size_t count, size_t *rows, double *loss_sum)
{
    hook_ctx *h = user;
    (void)loss_sum;
    double sq = 0.0;
    for (size_t i = 0; i < count; i++) sq += (double)grads[i] * grads[i];
    h->calls++;
    return bsnn_model_noise_observe(h->m, sq, (double)*rows, sq / 2.0, 2.0 * (double)*rows) !=
           BSNN_OK;
}

Test(gradstats, a_host_feeds_observations_from_inside_the_gradient_hook)
{
    bsnn_dataset *ds = make_data(64, 14);
    bsnn_model *m = make_model(15, BSNN_NOISE_OFF);
    hook_ctx h = {m, 0};
    cr_assert_eq(bsnn_model_set_grad_hook(m, observing_hook, &h), BSNN_OK);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    bsnn_scheduler *s = bsnn_scheduler_create(64);
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, 1, NULL, NULL), BSNN_OK, "%s",
                 bsnn_last_error());
    cr_assert_eq(h.calls, 2);
    cr_assert_eq(field(m, BSNN_NOISE_COUNT), 2);
    cr_assert_eq(field(m, BSNN_NOISE_SMALL_ROWS), 32);
    cr_assert_eq(field(m, BSNN_NOISE_BIG_ROWS), 64);
    /* |g_B|^2 = |g_b|^2 / 2 with B = 2b: |G|^2 = 0 exactly, B_simple inf */
    cr_assert(isinf(field(m, BSNN_NOISE_B_SIMPLE)));
    cr_assert_eq(bsnn_model_noise_reset(m), BSNN_OK);
    cr_assert_eq(field(m, BSNN_NOISE_COUNT), 0);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
}

Test(gradstats, bad_arguments_are_refused_with_a_message)
{
    bsnn_dataset *ds = make_data(64, 16);
    bsnn_model *m = make_model(17, BSNN_NOISE_OFF);
    double v[12], x = 0;
    cr_assert_eq(bsnn_model_noise(NULL, m, BSNN_NOISE_B_SIMPLE), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_noise(&x, NULL, BSNN_NOISE_B_SIMPLE), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_noise(&x, m, (bsnn_noise_field)13), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_noise(&x, m, (bsnn_noise_field)0), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_noise_observe(NULL, 1, 1, 1, 2), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_noise_observe(m, -1, 1, 1, 2), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_noise_observe(m, NAN, 1, 1, 2), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_noise_observe(m, 1, 0.5, 1, 2), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_noise_observe(m, 1, 2, 1, 2), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "big_rows 2") != NULL, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_model_noise_observe(m, 1, 2, INFINITY, 4), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_noise_reset(NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_NOISE_ROUTE, 3), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_NOISE_ROUTE, 1.5), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_NOISE_DECAY, 1.01), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_NOISE_DECAY, NAN), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_NOISE_DECAY, 0.5), BSNN_OK);
    cr_assert_eq(bsnn_model_get(&x, m, BSNN_MODEL_NOISE_DECAY), BSNN_OK);
    cr_assert_eq(x, 0.5);
    double lo, hi;
    unsigned open;
    cr_assert_eq(bsnn_model_bounds(&lo, &hi, &open, m, BSNN_MODEL_NOISE_ROUTE), BSNN_OK);
    cr_assert(lo == 0 && hi == 2 && open == 0);
    const bsnn_noise_route ps = BSNN_NOISE_PER_SAMPLE;
    cr_assert_eq(bsnn_model_noise_measure(NULL, 12, m, ds, ps, 8, 0, 0), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_noise_measure(v, 12, NULL, ds, ps, 8, 0, 0), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_noise_measure(v, 12, m, NULL, ps, 8, 0, 0), BSNN_E_NULL);
    cr_assert_eq(bsnn_model_noise_measure(v, 0, m, ds, ps, 8, 0, 0), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_noise_measure(v, 13, m, ds, ps, 8, 0, 0), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_noise_measure(v, 12, m, ds, BSNN_NOISE_OFF, 8, 0, 0), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_noise_measure(v, 12, m, ds, ps, 0, 0, 0), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_noise_measure(v, 12, m, ds, ps, 65, 0, 0), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_noise_measure(v, 12, m, ds, ps, 8, 9, 0), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "9 batches of 8 rows") != NULL, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_model_noise_measure(v, 12, m, ds, ps, 1, 1, 0), BSNN_E_ARG);
    cr_assert_eq(bsnn_model_noise_measure(v, 12, m, ds, BSNN_NOISE_MICRO_BATCH, 64, 0, 0),
                 BSNN_E_ARG);
    /* count limits what is written */
    v[1] = -7;
    cr_assert_eq(bsnn_model_noise_measure(v, 1, m, ds, ps, 8, 0, 0), BSNN_OK);
    cr_assert_eq(v[1], -7);
    bsnn_dataset *wide = bsnn_dataset_parity(3);
    cr_assert_eq(bsnn_model_noise_measure(v, 12, m, wide, ps, 2, 0, 0), BSNN_E_SHAPE);
    bsnn_dataset_free(wide);
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
}

Test(gradstats, the_per_sample_route_handles_layer_norm_rows_apart)
{
    /* Layer norm normalises each row over its own features, so a row's
     * gradient is what a one-row step computes: the per-sample route's
     * mean |g_i|^2 equals the mean of 24 one-row gradients' squared norms. */
    bsnn_dataset *ds = make_data(24, 18);
    bsnn_model *m = bsnn_model_create(IN);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(6)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_layernorm()), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(OUT)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_SOFTMAX_CE), BSNN_OK);
    size_t n = bsnn_model_param_count(m);
    float *p = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
    /* perturb gamma and beta away from 1 and 0 so their gradients matter */
    cr_assert_eq(bsnn_model_get_params(p, n, m), BSNN_OK);
    for (size_t i = IN * 6 + 6; i < IN * 6 + 6 + 12; i++) p[i] += 0.3f * (float)(i % 5) - 0.6f;
    cr_assert_eq(bsnn_model_set_params(m, p, n), BSNN_OK);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    const float *x = bsnn_dataset_inputs(ds), *y = bsnn_dataset_targets(ds);
    double want = 0.0;
    for (size_t r = 0; r < 24; r++) {
        bsnn_tensor *tx = rows_tensor(x + r * IN, 1, IN), *ty = rows_tensor(y + r, 1, 1);
        cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_OK, "%s", bsnn_last_error());
        cr_assert_eq(bsnn_model_get_grads(g, n, m), BSNN_OK);
        for (size_t i = 0; i < n; i++) want += (double)g[i] * g[i] / 24.0;
        cr_assert_eq(bsnn_model_set_params(m, p, n), BSNN_OK);
        bsnn_tensor_free(tx);
        bsnn_tensor_free(ty);
    }
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_NOISE_ROUTE, BSNN_NOISE_PER_SAMPLE), BSNN_OK);
    bsnn_tensor *tx = rows_tensor(x, 24, IN), *ty = rows_tensor(y, 24, 1);
    cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_OK);
    cr_assert(rel_close(field(m, BSNN_NOISE_SMALL_SQ), want, 1e-5), "mean |g_i|^2 %g want %g",
              field(m, BSNN_NOISE_SMALL_SQ), want);
    bsnn_tensor_free(tx);
    bsnn_tensor_free(ty);
    bsnn_optimizer_free(opt);
    free(p);
    free(g);
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
}

/* ---- only accepted updates observe; no allocation in steady state -------- */

static int refusing_hook(void *user, float *grads, size_t count, size_t *rows, double *loss_sum)
{
    (void)user, (void)grads, (void)count, (void)rows, (void)loss_sum;
    return 1;
}

/* An update the hook abandons, and one whose rule overflows a parameter
 * (the engine's snapshot puts it back), record nothing; the accepted
 * updates around them each record one observation. */
Test(gradstats, a_rejected_or_rolled_back_update_records_nothing)
{
    for (int route = BSNN_NOISE_MICRO_BATCH; route <= BSNN_NOISE_PER_SAMPLE; route++) {
        bsnn_model *m = tu_mlp(5, 7, BSNN_ACT_LINEAR, 3, BSNN_ACT_LINEAR, 4); /* no saturation */
        cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_NOISE_ROUTE, route), BSNN_OK);
        bsnn_optimizer *o = bsnn_optimizer_create(BSNN_SGD);
        float x[8 * 5], y[8 * 3] = {0};
        for (int i = 0; i < 40; i++) x[i] = (float)(i % 3) - 1.0f + 0.1f * (float)(i % 7);
        bsnn_dataset *ds = bsnn_dataset_create(x, y, 8, 5, 3);
        bsnn_scheduler *s = bsnn_scheduler_create(8);
        cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 8), BSNN_OK);
        cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_MICRO_BATCH, 4), BSNN_OK);
        cr_assert_eq(bsnn_model_train(NULL, m, o, s, ds, 1, NULL, NULL), BSNN_OK, "%s",
                     bsnn_last_error());
        cr_assert_eq(field(m, BSNN_NOISE_COUNT), 1, "route %d: the accepted update", route);
        cr_assert_eq(bsnn_model_set_grad_hook(m, refusing_hook, NULL), BSNN_OK);
        cr_assert_eq(bsnn_model_train(NULL, m, o, s, ds, 1, NULL, NULL), BSNN_E_CALLBACK);
        cr_assert_eq(field(m, BSNN_NOISE_COUNT), 1, "route %d: the abandoned update", route);
        cr_assert_eq(bsnn_model_set_grad_hook(m, NULL, NULL), BSNN_OK);
        /* inputs of 1e18: a finite gradient of about 1e36 that the rule's
         * step of lr 1e3 overflows: snapshot taken, parameters restored */
        float big[8 * 5];
        for (int i = 0; i < 40; i++) big[i] = x[i] * 1e18f;
        bsnn_dataset *huge = bsnn_dataset_create(big, y, 8, 5, 3);
        cr_assert_eq(bsnn_optimizer_set(o, BSNN_OPT_LR, 1e3), BSNN_OK);
        uint64_t snaps0, snaps1;
        cr_assert_eq(bsnn_model_stat(&snaps0, m, BSNN_STAT_SNAPSHOTS), BSNN_OK);
        cr_assert_eq(bsnn_model_train(NULL, m, o, s, huge, 1, NULL, NULL), BSNN_E_DIVERGED, "%s",
                     bsnn_last_error());
        cr_assert_eq(bsnn_model_stat(&snaps1, m, BSNN_STAT_SNAPSHOTS), BSNN_OK);
        cr_assert_eq(snaps1, snaps0 + 1, "route %d: the update was rolled back", route);
        cr_assert_eq(field(m, BSNN_NOISE_COUNT), 1, "route %d: the rolled-back update", route);
        cr_assert_eq(bsnn_optimizer_set(o, BSNN_OPT_LR, 0.01), BSNN_OK);
        cr_assert_eq(bsnn_model_train(NULL, m, o, s, ds, 1, NULL, NULL), BSNN_OK);
        cr_assert_eq(field(m, BSNN_NOISE_COUNT), 2, "route %d: the next accepted update", route);
        bsnn_dataset_free(huge);
        bsnn_dataset_free(ds);
        bsnn_scheduler_free(s);
        bsnn_optimizer_free(o);
        bsnn_model_free(m);
    }
}

/* With either route on, a training call's updates allocate nothing once
 * the model is warm: the micro-batch buffer is made when the route is set,
 * so a longer run allocates exactly what a shorter one does. */
Test(gradstats, steady_state_steps_with_a_route_allocate_nothing)
{
    for (int route = BSNN_NOISE_MICRO_BATCH; route <= BSNN_NOISE_PER_SAMPLE; route++) {
        size_t per_call[2];
        for (int k = 0; k < 2; k++) {
            tu_count_allocations(0);
            bsnn_dataset *ds = make_data(96, 21);
            bsnn_model *m = make_model(5, route);
            bsnn_optimizer *o = bsnn_optimizer_create(BSNN_ADAM);
            bsnn_scheduler *s = bsnn_scheduler_create(96);
            cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 16), BSNN_OK);
            cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_MICRO_BATCH, 5), BSNN_OK);
            cr_assert_eq(bsnn_model_train(NULL, m, o, s, ds, 1, NULL, NULL), BSNN_OK); /* warm */
            size_t before = tu_stats.allocs;
            cr_assert_eq(bsnn_model_train(NULL, m, o, s, ds, k ? 6 : 1, NULL, NULL), BSNN_OK);
            per_call[k] = tu_stats.allocs - before;
            cr_assert_gt(field(m, BSNN_NOISE_COUNT), 0);
            bsnn_scheduler_free(s);
            bsnn_optimizer_free(o);
            bsnn_model_free(m);
            bsnn_dataset_free(ds);
            tu_restore_allocator();
        }
        cr_assert_eq(per_call[1], per_call[0],
                     "route %d: 36 updates allocated %zu times, 6 updates %zu times", route,
                     per_call[1], per_call[0]);
    }
}
