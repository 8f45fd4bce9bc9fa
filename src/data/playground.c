/*
 * playground.c - generated data sets: the TensorFlow Playground's six sets
 * (formulas and draw order of its dataset.ts, drawn from bsnn's own seeded
 * generator), its extra input features, and the 1-D toy of the batch-size
 * study. See docs/guide.md for the definitions.
 */
#include "data/data.h"

#define PG_PI 3.14159265358979323846

/* U(a, b) as the Playground draws it: a + (b - a) * rand(). */
static double unif(bsnn_rng *rng, double a, double b)
{
    return a + (b - a) * bsnn__rng_uniform(rng);
}

static void put(bsnn_dataset *ds, size_t i, double x, double y, double label)
{
    ds->x[2 * i] = (float)x;
    ds->x[2 * i + 1] = (float)y;
    ds->y[i] = (float)label;
}

/* Noise only decides the label; the stored point stays noise-free. */
static void gen_circle(bsnn_dataset *ds, double noise, bsnn_rng *rng)
{
    const double radius = 5.0;
    size_t half = ds->n / 2;
    for (size_t i = 0; i < ds->n; i++) {
        double r = i < half ? unif(rng, 0.0, radius * 0.5) : unif(rng, radius * 0.7, radius);
        double a = unif(rng, 0.0, 2.0 * PG_PI);
        double x = r * sin(a), y = r * cos(a);
        double nx = unif(rng, -radius, radius) * noise, ny = unif(rng, -radius, radius) * noise;
        double d = hypot(x + nx, y + ny);
        put(ds, i, x, y, d < radius * 0.5 ? 1.0 : -1.0);
    }
}

static double xor_coord(bsnn_rng *rng)
{
    double v = unif(rng, -5.0, 5.0);
    return v > 0 ? v + 0.3 : v - 0.3;
}

static void gen_xor(bsnn_dataset *ds, double noise, bsnn_rng *rng)
{
    for (size_t i = 0; i < ds->n; i++) {
        double x = xor_coord(rng);
        double y = xor_coord(rng);
        double nx = unif(rng, -5.0, 5.0) * noise, ny = unif(rng, -5.0, 5.0) * noise;
        put(ds, i, x, y, (x + nx) * (y + ny) >= 0.0 ? 1.0 : -1.0);
    }
}

static void gen_gauss(bsnn_dataset *ds, double noise, bsnn_rng *rng)
{
    /* Variance maps noise 0..0.5 linearly onto 0.5..4, unclamped. */
    double sd = sqrt(0.5 + 7.0 * noise);
    size_t half = ds->n / 2;
    for (size_t i = 0; i < ds->n; i++) {
        double c = i < half ? 2.0 : -2.0;
        double x = c + sd * bsnn__rng_normal(rng);
        double y = c + sd * bsnn__rng_normal(rng);
        put(ds, i, x, y, i < half ? 1.0 : -1.0);
    }
}

static void gen_spiral(bsnn_dataset *ds, double noise, bsnn_rng *rng)
{
    size_t m = ds->n / 2;
    for (size_t i = 0; i < ds->n; i++) {
        size_t k = i < m ? i : i - m;
        double delta = i < m ? 0.0 : PG_PI;
        double r = 5.0 * (double)k / (double)m;
        double t = 1.75 * 2.0 * PG_PI * (double)k / (double)m + delta;
        double x = r * sin(t) + unif(rng, -1.0, 1.0) * noise;
        double y = r * cos(t) + unif(rng, -1.0, 1.0) * noise;
        put(ds, i, x, y, i < m ? 1.0 : -1.0);
    }
}

static void gen_plane(bsnn_dataset *ds, double noise, bsnn_rng *rng)
{
    for (size_t i = 0; i < ds->n; i++) {
        double x = unif(rng, -6.0, 6.0), y = unif(rng, -6.0, 6.0);
        double nx = unif(rng, -6.0, 6.0) * noise, ny = unif(rng, -6.0, 6.0) * noise;
        put(ds, i, x, y, (x + nx + y + ny) / 10.0);
    }
}

/* The signed bump with the largest magnitude wins; ties keep the earlier. */
static double multi_gauss_label(double x, double y)
{
    static const double c[6][3] = {{-4, 2.5, 1},  {0, 2.5, -1}, {4, 2.5, 1},
                                   {-4, -2.5, -1}, {0, -2.5, 1}, {4, -2.5, -1}};
    double label = 0.0;
    for (int k = 0; k < 6; k++) {
        double f = 1.0 - hypot(x - c[k][0], y - c[k][1]) / 2.0;
        f = f < 0.0 ? 0.0 : f > 1.0 ? 1.0 : f;
        if (fabs(c[k][2] * f) > fabs(label)) label = c[k][2] * f;
    }
    return label;
}

static void gen_multi_gauss(bsnn_dataset *ds, double noise, bsnn_rng *rng)
{
    for (size_t i = 0; i < ds->n; i++) {
        double x = unif(rng, -6.0, 6.0), y = unif(rng, -6.0, 6.0);
        double nx = unif(rng, -6.0, 6.0) * noise, ny = unif(rng, -6.0, 6.0) * noise;
        put(ds, i, x, y, multi_gauss_label(x + nx, y + ny));
    }
}

bsnn_dataset *bsnn_dataset_playground(bsnn_playground set, size_t n, double noise, uint64_t seed,
                                      unsigned flags)
{
    BSNN_ENTER();
    static void (*const gen[])(bsnn_dataset *, double, bsnn_rng *) = {
        NULL, gen_circle, gen_xor, gen_gauss, gen_spiral, gen_plane, gen_multi_gauss};
    BSNN_FAIL_NULL_IF((int)set < BSNN_PG_CIRCLE || (int)set > BSNN_PG_MULTI_GAUSS, BSNN_E_ARG,
                      "set %d is not a bsnn_playground value", (int)set);
    int classify = set <= BSNN_PG_SPIRAL;
    BSNN_FAIL_NULL_IF(n == 0 || (classify && n % 2 != 0), BSNN_E_ARG, "n = %zu, expected %s", n,
                      classify ? "an even count >= 2 (two equal classes)" : "n >= 1");
    BSNN_FAIL_NULL_IF(!(noise >= 0.0 && noise <= 1.0), BSNN_E_ARG, "noise %g is not in [0, 1]",
                      noise);
    BSNN_FAIL_NULL_IF(flags & ~(unsigned)BSNN_PG_LABELS_01, BSNN_E_ARG,
                      "flags 0x%x hold unknown bits", flags);
    bsnn_dataset *ds = bsnn__dataset_alloc(n, 2, 1);
    if (ds == NULL) return NULL;
    bsnn_rng rng;
    bsnn__rng_seed(&rng, seed);
    gen[set](ds, noise, &rng);
    if (classify && (flags & BSNN_PG_LABELS_01))
        for (size_t i = 0; i < n; i++) ds->y[i] = ds->y[i] > 0.0f ? 1.0f : 0.0f;
    return ds;
}

static int popcount7(unsigned v)
{
    int c = 0;
    for (; v; v >>= 1) c += (int)(v & 1u);
    return c;
}

bsnn_dataset *bsnn_dataset_features(const bsnn_dataset *ds, unsigned mask)
{
    BSNN_ENTER();
    BSNN_FAIL_NULL_IF(ds == NULL, BSNN_E_NULL, "argument 'ds' is NULL");
    BSNN_FAIL_NULL_IF(ds->n_in != 2, BSNN_E_SHAPE, "ds has %zu inputs, expected 2 (x1, x2)",
                      ds->n_in);
    BSNN_FAIL_NULL_IF(mask == 0 || mask > 127u, BSNN_E_ARG,
                      "mask 0x%x is not a nonzero OR of bsnn_feature", mask);
    size_t w = (size_t)popcount7(mask);
    bsnn_dataset *out = bsnn__dataset_alloc(ds->n, w, ds->n_out);
    if (out == NULL) return NULL;
    for (size_t i = 0; i < ds->n; i++) {
        double x1 = ds->x[2 * i], x2 = ds->x[2 * i + 1];
        double f[7] = {x1, x2, x1 * x1, x2 * x2, x1 * x2, sin(x1), sin(x2)};
        float *row = out->x + i * w;
        for (unsigned b = 0, j = 0; b < 7; b++)
            if (mask & (1u << b)) row[j++] = (float)f[b];
    }
    memcpy(out->y, ds->y, ds->n * ds->n_out * sizeof(float));
    return out;
}

/* The toy's points: y = 0.8 sin(3x) plus small fixed offsets. The two test
 * points sit on the curve's extremes (x = -0.5 and 0.7), between training
 * points, where the fitted functions differ most. */
static const float toy_train[6][2] = {{-1.0f, -0.05f}, {-0.7f, -0.65f}, {-0.3f, -0.55f},
                                      {0.1f, 0.30f},   {0.5f, 0.75f},   {0.9f, 0.40f}};
static const float toy_test[2][2] = {{-0.5f, -0.80f}, {0.7f, 0.69f}};

static bsnn_dataset *toy_part(const float (*pts)[2], size_t n)
{
    bsnn_dataset *ds = bsnn__dataset_alloc(n, 1, 1);
    if (ds == NULL) return NULL;
    for (size_t i = 0; i < n; i++) {
        ds->x[i] = pts[i][0];
        ds->y[i] = pts[i][1];
    }
    return ds;
}

bsnn_status bsnn_dataset_toy1d(bsnn_dataset **out_train, bsnn_dataset **out_test)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out_train);
    BSNN_CHECK_NULL(out_test);
    bsnn_dataset *a = toy_part(toy_train, 6);
    bsnn_dataset *b = a ? toy_part(toy_test, 2) : NULL;
    if (b == NULL) {
        bsnn__dataset_free(a);
        return BSNN_E_NOMEM;
    }
    *out_train = a;
    *out_test = b;
    return BSNN_OK;
}
