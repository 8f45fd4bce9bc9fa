/*
 * dataset.c - bsnn_dataset: rows of inputs and targets in two row-major
 * float arrays, built from caller arrays or generated (n-bit parity), and
 * split at random with a seed; standardised and one-hot encoded.
 */
#include "data/data.h"

bsnn_dataset *bsnn__dataset_adopt(float *x, float *y, size_t n, size_t n_in, size_t n_out)
{
    bsnn_dataset *ds = bsnn__calloc(1, sizeof *ds);
    if (ds == NULL) {
        bsnn__free(x);
        bsnn__free(y);
        return NULL;
    }
    ds->x = x;
    ds->y = y;
    ds->n = n;
    ds->n_in = n_in;
    ds->n_out = n_out;
    return ds;
}

/* Allocate the two arrays of an n-row dataset; NULL (and nothing leaked) on failure. */
bsnn_dataset *bsnn__dataset_alloc(size_t n, size_t n_in, size_t n_out)
{
    size_t nx = bsnn__mul_size(n, n_in), ny = bsnn__mul_size(n, n_out);
    BSNN_FAIL_NULL_IF(nx == 0 || ny == 0, BSNN_E_ARG,
                      "%zu rows of %zu inputs and %zu targets is too large", n, n_in, n_out);
    float *x = bsnn__calloc(nx, sizeof(float));
    float *y = x ? bsnn__calloc(ny, sizeof(float)) : NULL;
    if (y == NULL) {
        bsnn__free(x);
        return NULL;
    }
    return bsnn__dataset_adopt(x, y, n, n_in, n_out);
}

bsnn_dataset *bsnn_dataset_create(const float *x, const float *y, size_t n, size_t n_inputs,
                                  size_t n_targets)
{
    BSNN_ENTER();
    BSNN_FAIL_NULL_IF(x == NULL || y == NULL, BSNN_E_NULL, "argument '%s' is NULL",
                      x == NULL ? "x" : "y");
    BSNN_FAIL_NULL_IF(n == 0 || n_inputs == 0 || n_targets == 0, BSNN_E_ARG,
                      "n = %zu, n_inputs = %zu, n_targets = %zu: none may be 0", n, n_inputs,
                      n_targets);
    bsnn_dataset *ds = bsnn__dataset_alloc(n, n_inputs, n_targets);
    if (ds == NULL) return NULL;
    memcpy(ds->x, x, n * n_inputs * sizeof(float));
    memcpy(ds->y, y, n * n_targets * sizeof(float));
    if (!bsnn__all_finite(ds->x, n * n_inputs) || !bsnn__all_finite(ds->y, n * n_targets)) {
        bsnn__dataset_free(ds);
        bsnn__fail(BSNN_E_ARG, "x or y holds a NaN or infinite value");
        return NULL;
    }
    return ds;
}

bsnn_dataset *bsnn_dataset_wrap(const float *x, const float *y, size_t n, size_t n_inputs,
                                size_t n_targets)
{
    BSNN_ENTER();
    BSNN_FAIL_NULL_IF(x == NULL || y == NULL, BSNN_E_NULL, "argument '%s' is NULL",
                      x == NULL ? "x" : "y");
    BSNN_FAIL_NULL_IF(n == 0 || n_inputs == 0 || n_targets == 0, BSNN_E_ARG,
                      "n = %zu, n_inputs = %zu, n_targets = %zu: none may be 0", n, n_inputs,
                      n_targets);
    size_t nx = bsnn__mul_size(n, n_inputs), ny = bsnn__mul_size(n, n_targets);
    /* The arrays must also be addressable in bytes: count * 4 may not wrap. */
    BSNN_FAIL_NULL_IF(bsnn__mul_size(nx, sizeof(float)) == 0 ||
                          bsnn__mul_size(ny, sizeof(float)) == 0,
                      BSNN_E_ARG, "%zu rows of %zu inputs and %zu targets is too large", n,
                      n_inputs, n_targets);
    BSNN_FAIL_NULL_IF(!bsnn__all_finite(x, nx) || !bsnn__all_finite(y, ny), BSNN_E_ARG,
                      "x or y holds a NaN or infinite value");
    bsnn_dataset *ds = bsnn__calloc(1, sizeof *ds);
    if (ds == NULL) return NULL;
    /* Stored without const: every writer of ds->x / ds->y checks `borrowed`. */
    ds->x = (float *)(uintptr_t)x;
    ds->y = (float *)(uintptr_t)y;
    ds->n = n;
    ds->n_in = n_inputs;
    ds->n_out = n_targets;
    ds->borrowed = 1;
    return ds;
}

bsnn_dataset *bsnn_dataset_parity(int bits)
{
    BSNN_ENTER();
    BSNN_FAIL_NULL_IF(bits < 1 || bits > 20, BSNN_E_ARG, "bits = %d is not in 1..20", bits);
    size_t n = (size_t)1 << bits;
    bsnn_dataset *ds = bsnn__dataset_alloc(n, (size_t)bits, 1);
    if (ds == NULL) return NULL;
    for (size_t r = 0; r < n; r++) {
        int ones = 0;
        for (int b = 0; b < bits; b++) {
            int bit = (int)((r >> (bits - 1 - b)) & 1u);
            ds->x[r * (size_t)bits + (size_t)b] = (float)bit;
            ones += bit;
        }
        ds->y[r] = (float)(ones & 1);
    }
    return ds;
}

void bsnn__dataset_free(bsnn_dataset *ds)
{
    if (ds == NULL) return;
    if (!ds->borrowed) {
        bsnn__free(ds->x);
        bsnn__free(ds->y);
    }
    bsnn__free(ds);
}

void bsnn_dataset_free(bsnn_dataset *ds) { bsnn__dataset_free(ds); }

size_t bsnn_dataset_size(const bsnn_dataset *ds) { return ds ? ds->n : 0; }
size_t bsnn_dataset_n_inputs(const bsnn_dataset *ds) { return ds ? ds->n_in : 0; }
size_t bsnn_dataset_n_targets(const bsnn_dataset *ds) { return ds ? ds->n_out : 0; }
const float *bsnn_dataset_inputs(const bsnn_dataset *ds) { return ds ? ds->x : NULL; }
const float *bsnn_dataset_targets(const bsnn_dataset *ds) { return ds ? ds->y : NULL; }

/* A new dataset holding rows idx[0..count) of ds, in that order. */
static bsnn_dataset *dataset_rows(const bsnn_dataset *ds, const size_t *idx, size_t count)
{
    bsnn_dataset *part = bsnn__dataset_alloc(count, ds->n_in, ds->n_out);
    if (part == NULL) return NULL;
    for (size_t r = 0; r < count; r++) {
        memcpy(part->x + r * ds->n_in, ds->x + idx[r] * ds->n_in, ds->n_in * sizeof(float));
        memcpy(part->y + r * ds->n_out, ds->y + idx[r] * ds->n_out, ds->n_out * sizeof(float));
    }
    return part;
}

bsnn_status bsnn_dataset_split(bsnn_dataset **out_first, bsnn_dataset **out_second,
                               const bsnn_dataset *ds, double fraction, uint64_t seed)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out_first);
    BSNN_CHECK_NULL(out_second);
    BSNN_CHECK_NULL(ds);
    BSNN_FAIL_IF(!(fraction > 0.0 && fraction < 1.0), BSNN_E_ARG, "fraction %g is not in (0, 1)",
                 fraction);
    BSNN_FAIL_IF(ds->n < 2, BSNN_E_SHAPE, "a dataset of %zu row cannot be split", ds->n);
    size_t n_first = (size_t)floor(fraction * (double)ds->n + 0.5);
    if (n_first < 1) n_first = 1;
    if (n_first > ds->n - 1) n_first = ds->n - 1;
    size_t *idx = bsnn__calloc(ds->n, sizeof(size_t));
    if (idx == NULL) return BSNN_E_NOMEM;
    bsnn_rng rng;
    bsnn__rng_seed(&rng, seed);
    for (size_t i = 0; i < ds->n; i++) idx[i] = i;
    bsnn__shuffle(idx, ds->n, &rng);
    bsnn_dataset *a = dataset_rows(ds, idx, n_first);
    bsnn_dataset *b = a ? dataset_rows(ds, idx + n_first, ds->n - n_first) : NULL;
    bsnn__free(idx);
    if (b == NULL) {
        bsnn__dataset_free(a);
        return BSNN_E_NOMEM;
    }
    *out_first = a;
    *out_second = b;
    return BSNN_OK;
}

/* Arguments shared by the per-column statistics functions. */
static bsnn_status check_columns(const bsnn_dataset *ds, const float *mean,
                                 const float *std, size_t count)
{
    BSNN_CHECK_NULL(ds);
    BSNN_CHECK_NULL(mean);
    BSNN_CHECK_NULL(std);
    BSNN_FAIL_IF(count != ds->n_in, BSNN_E_SHAPE, "count %zu, dataset has %zu inputs", count,
                 ds->n_in);
    return BSNN_OK;
}

bsnn_status bsnn_dataset_input_stats(float *out_mean, float *out_std, size_t count,
                                     const bsnn_dataset *ds)
{
    BSNN_ENTER();
    BSNN_TRY(check_columns(ds, out_mean, out_std, count));
    for (size_t j = 0; j < count; j++) {
        /* Two passes in double: the mean first, then squared deviations,
         * which stays accurate when the mean is large. */
        double sum = 0.0, sq = 0.0;
        for (size_t r = 0; r < ds->n; r++) sum += ds->x[r * count + j];
        double mean = sum / (double)ds->n;
        for (size_t r = 0; r < ds->n; r++) {
            double d = ds->x[r * count + j] - mean;
            sq += d * d;
        }
        double sd = sqrt(sq / (double)ds->n);
        out_mean[j] = (float)mean;
        out_std[j] = sd > 0.0 && (float)sd > 0.0f ? (float)sd : 1.0f;
    }
    return BSNN_OK;
}

bsnn_status bsnn_dataset_standardize(bsnn_dataset *ds, const float *mean, const float *std,
                                     size_t count)
{
    BSNN_ENTER();
    BSNN_TRY(check_columns(ds, mean, std, count));
    BSNN_FAIL_IF(ds->borrowed, BSNN_E_STATE,
                 "ds borrows the host's arrays (bsnn_dataset_wrap), which bsnn never writes; "
                 "standardise them yourself or use bsnn_dataset_create");
    for (size_t j = 0; j < count; j++)
        BSNN_FAIL_IF(!isfinite(mean[j]) || !isfinite(std[j]) || !(std[j] > 0.0f), BSNN_E_ARG,
                     "column %zu has mean %g and std %g", j, (double)mean[j], (double)std[j]);
    for (size_t r = 0; r < ds->n; r++)
        for (size_t j = 0; j < count; j++) {
            float *v = ds->x + r * count + j;
            *v = (*v - mean[j]) / std[j];
        }
    return BSNN_OK;
}

bsnn_dataset *bsnn_dataset_one_hot(const bsnn_dataset *ds, size_t n_classes)
{
    BSNN_ENTER();
    BSNN_FAIL_NULL_IF(ds == NULL, BSNN_E_NULL, "argument 'ds' is NULL");
    BSNN_FAIL_NULL_IF(ds->n_out != 1 || n_classes < 2, BSNN_E_SHAPE,
                      "ds has %zu target columns and n_classes is %zu; expected 1 "
                      "column and n_classes >= 2",
                      ds->n_out, n_classes);
    for (size_t r = 0; r < ds->n; r++) {
        float c = ds->y[r];
        BSNN_FAIL_NULL_IF(!(c >= 0.0f && c < (float)n_classes && c == floorf(c)), BSNN_E_ARG,
                          "row %zu has label %g, not a class in 0..%zu", r, (double)c,
                          n_classes - 1);
    }
    bsnn_dataset *out = bsnn__dataset_alloc(ds->n, ds->n_in, n_classes);
    if (out == NULL) return NULL;
    memcpy(out->x, ds->x, ds->n * ds->n_in * sizeof(float));
    for (size_t r = 0; r < ds->n; r++) out->y[r * n_classes + (size_t)ds->y[r]] = 1.0f;
    return out;
}
