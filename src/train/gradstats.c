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

/* ---- checkpoints: the NOIS payload (docs/format.md) ----------------------- */

enum { NOISE_VERSION = 1 };

int bsnn__noise_worth_saving(const bsnn_model *m)
{
    return m->noise_route != BSNN_NOISE_OFF || m->noise.count > 0 ||
           m->noise.decay != BSNN__NOISE_DECAY_DEFAULT;
}

/* The estimator's doubles, in the file's order. */
static double *noise_doubles(bsnn__noise *e, int i)
{
    double *const fields[] = {&e->decay, &e->w,    &e->w2,   &e->g,        &e->t,
                              &e->b,     &e->B,    &e->m2_g, &e->m2_t,     &e->c_gt,
                              &e->small_sq, &e->big_sq};
    return fields[i];
}
#define NOISE_DOUBLES 12

void bsnn__noise_save(bsnn__writer *w, const bsnn_model *m)
{
    bsnn__noise e = m->noise;
    bsnn__put_u32(w, NOISE_VERSION);
    bsnn__put_u32(w, (uint32_t)m->noise_route);
    for (int i = 0; i < NOISE_DOUBLES; i++) bsnn__put_f64(w, *noise_doubles(&e, i));
    bsnn__put_u64(w, e.count);
}

bsnn_status bsnn__noise_load(bsnn__section *sec, bsnn_model *m)
{
    bsnn__reader *b = &sec->body;
    uint32_t version = bsnn__get_u32(b), route = bsnn__get_u32(b);
    bsnn__noise e;
    for (int i = 0; i < NOISE_DOUBLES; i++) *noise_doubles(&e, i) = bsnn__get_f64(b);
    e.count = bsnn__get_u64(b);
    BSNN_TRY(bsnn__body_ok(sec));
    BSNN_FAIL_IF(version != NOISE_VERSION, BSNN_E_FORMAT,
                 "noise-scale section version %u is unknown (this reader knows %d)", version,
                 NOISE_VERSION);
    int finite = 1;
    for (int i = 0; i < NOISE_DOUBLES; i++) finite &= isfinite(*noise_doubles(&e, i)) != 0;
    BSNN_FAIL_IF(!finite || !(e.decay >= 0.0 && e.decay <= 1.0) || e.w < 0.0 || e.w2 < 0.0 ||
                     (e.count == 0) != (e.w == 0.0),
                 BSNN_E_FORMAT, "the noise-scale estimate is invalid");
    BSNN_FORWARD_AS_IF_ERROR(bsnn__model_noise_check(m, (int)route), BSNN_E_FORMAT,
                             "the noise-scale route");
    BSNN_TRY(bsnn__model_set_noise_route(m, (int)route));
    m->noise = e;
    return BSNN_OK;
}
