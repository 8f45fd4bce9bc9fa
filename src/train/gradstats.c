/*
 * gradstats.c - the model's gradient noise scale during training: the
 * observation each accepted update adds from the step engine's per-update
 * statistics (m->stats: the per-sample squared norms its backward loop
 * sums, the micro-batch gradients' norms of an accumulated update, |g_B|^2
 * after the hook), and the public calls that read, feed and reset the
 * running estimate. The estimator itself is common/noise.c; the on-demand
 * measurement is noise_measure.c.
 */
#include "train/train.h"

/* The small batch of the last update: its squared norm and rows (0: none).
 * Per-sample: the mean of the B rows' own |g_i|^2, b = 1 (only when every
 * layer with parameters gave its rows' norms). Micro-batch: the mean of the
 * k micro-batch mean gradients' |g_j|^2, b = their harmonic mean rows (the
 * mean's expectation is |G|^2 + tr(Sigma) mean_j(1/b_j)), k >= 2. */
static double small_batch(double *out_rows, const bsnn_model *m)
{
    const bsnn__grad_stats *st = &m->stats;
    *out_rows = 0.0;
    if (m->noise_route == BSNN_NOISE_PER_SAMPLE && st->rows >= 1 && st->sample_complete) {
        *out_rows = 1.0;
        return st->sample_sq_sum / (double)st->rows;
    }
    if (m->noise_route == BSNN_NOISE_MICRO_BATCH && st->passes >= 2) {
        *out_rows = (double)st->passes / st->micro_inv_rows;
        return st->micro_sq_sum / (double)st->passes;
    }
    return 0.0;
}

void bsnn__noise_record(bsnn_model *m, size_t rows)
{
    double b, small = small_batch(&b, m), big = m->stats.global_sq;
    if (!(b >= 1.0 && (double)rows > b) || !isfinite(small) || !isfinite(big)) return;
    bsnn__noise_observe(&m->noise, small, b, big, (double)rows);
}

bsnn_status bsnn_model_noise(double *out, const bsnn_model *m, bsnn_noise_field field)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(m);
    BSNN_FAIL_IF(field < BSNN_NOISE_GRAD_SQ || field > BSNN_NOISE_BIG_SQ, BSNN_E_ARG,
                 "unknown field %d", (int)field);
    *out = bsnn__noise_field(&m->noise, field);
    return BSNN_OK;
}

bsnn_status bsnn_model_noise_observe(bsnn_model *m, double small_sq, double small_rows,
                                     double big_sq, double big_rows)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(m);
    BSNN_FAIL_IF(!(isfinite(small_sq) && small_sq >= 0.0), BSNN_E_ARG,
                 "small_sq %g is not a finite value >= 0", small_sq);
    BSNN_FAIL_IF(!(isfinite(big_sq) && big_sq >= 0.0), BSNN_E_ARG,
                 "big_sq %g is not a finite value >= 0", big_sq);
    BSNN_FAIL_IF(!(isfinite(small_rows) && small_rows >= 1.0), BSNN_E_ARG,
                 "small_rows %g is not a finite value >= 1", small_rows);
    BSNN_FAIL_IF(!(isfinite(big_rows) && big_rows > small_rows), BSNN_E_ARG,
                 "big_rows %g is not a finite value above small_rows %g", big_rows, small_rows);
    bsnn__noise_observe(&m->noise, small_sq, small_rows, big_sq, big_rows);
    return BSNN_OK;
}

bsnn_status bsnn_model_noise_reset(bsnn_model *m)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(m);
    BSNN_FAIL_IF(m->in_hook, BSNN_E_STATE,
                 "called from inside the model's gradient hook (the update being made will "
                 "record into the estimate)");
    bsnn__noise_clear(&m->noise, m->noise.decay);
    return BSNN_OK;
}
