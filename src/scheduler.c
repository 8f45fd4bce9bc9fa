/*
 * scheduler.c - the batch scheduler: which samples form each batch of an
 * epoch (shuffled with its own seeded generator or in stored order), how a
 * partial last batch is treated (kept, dropped, or carried into the next
 * epoch's first batch as the TensorFlow Playground does), and how the batch
 * size is chosen per epoch.
 */
#include "internal.h"

bsnn_scheduler *bsnn_scheduler_create(size_t n_samples)
{
    const char *who = "bsnn_scheduler_create";
    if (n_samples == 0) {
        bsnn__fail(BSNN_E_ARG, "%s: n_samples is 0", who);
        return NULL;
    }
    bsnn_scheduler *s = bsnn__calloc(1, sizeof *s, who);
    if (s == NULL) return NULL;
    s->order = bsnn__calloc(n_samples, sizeof(size_t), who);
    s->batch_buf = bsnn__calloc(n_samples, 2 * sizeof(size_t), who);
    if (s->order == NULL || s->batch_buf == NULL) {
        bsnn_scheduler_free(s);
        return NULL;
    }
    s->n = n_samples;
    s->batch = n_samples < 32 ? n_samples : 32;
    s->shuffle = 1;
    bsnn_scheduler_reset(s);
    return s;
}

void bsnn_scheduler_free(bsnn_scheduler *s)
{
    if (s == NULL) return;
    bsnn__free(s->order);
    bsnn__free(s->batch_buf);
    bsnn__free(s);
}

bsnn_status bsnn_scheduler_reset(bsnn_scheduler *s)
{
    BSNN_CHECK_NULL("bsnn_scheduler_reset", s);
    bsnn__rng_seed(&s->rng, s->seed);
    s->epoch = s->step = s->pos = 0;
    s->in_epoch = 0;
    s->carried = 0;
    return BSNN_OK;
}

static int is_flag(double v) { return v == 0.0 || v == 1.0; }

bsnn_status bsnn_scheduler_set(bsnn_scheduler *s, bsnn_sched_param param, double value)
{
    const char *who = "bsnn_scheduler_set";
    BSNN_CHECK_NULL(who, s);
    switch (param) {
    case BSNN_SCHED_BATCH_SIZE:
        if (!(value >= 1.0 && value <= (double)s->n && value == floor(value)))
            return bsnn__fail(BSNN_E_ARG, "%s: batch size %g is not an integer in 1..%zu", who,
                              value, s->n);
        s->batch = (size_t)value;
        return BSNN_OK;
    case BSNN_SCHED_SEED:
        if (!(value >= 0.0 && value <= 9007199254740992.0 && value == floor(value)))
            return bsnn__fail(BSNN_E_ARG, "%s: seed %g is not an integer in 0..2^53", who, value);
        s->seed = (uint64_t)value;
        bsnn__rng_seed(&s->rng, s->seed);
        return BSNN_OK;
    case BSNN_SCHED_FULL_BATCH:
    case BSNN_SCHED_SHUFFLE:
    case BSNN_SCHED_DROP_LAST:
    case BSNN_SCHED_CARRY_OVER:
        if (!is_flag(value))
            return bsnn__fail(BSNN_E_ARG, "%s: setting %d takes 0 or 1, not %g", who, (int)param,
                              value);
        if (param == BSNN_SCHED_FULL_BATCH) s->full_batch = (int)value;
        if (param == BSNN_SCHED_SHUFFLE) s->shuffle = (int)value;
        if (param == BSNN_SCHED_DROP_LAST) s->drop_last = (int)value;
        if (param == BSNN_SCHED_CARRY_OVER) s->carry_over = (int)value;
        if (s->drop_last && s->carry_over)
            return s->drop_last = s->carry_over = 0,
                   bsnn__fail(BSNN_E_ARG, "%s: drop-last and carry-over exclude each other", who);
        return BSNN_OK;
    }
    return bsnn__fail(BSNN_E_ARG, "%s: unknown setting %d", who, (int)param);
}

bsnn_status bsnn_scheduler_get(double *out, const bsnn_scheduler *s, bsnn_sched_param param)
{
    const char *who = "bsnn_scheduler_get";
    BSNN_CHECK_NULL(who, out);
    BSNN_CHECK_NULL(who, s);
    switch (param) {
    case BSNN_SCHED_BATCH_SIZE: *out = (double)s->batch; break;
    case BSNN_SCHED_FULL_BATCH: *out = s->full_batch; break;
    case BSNN_SCHED_SHUFFLE: *out = s->shuffle; break;
    case BSNN_SCHED_SEED: *out = (double)s->seed; break;
    case BSNN_SCHED_DROP_LAST: *out = s->drop_last; break;
    case BSNN_SCHED_CARRY_OVER: *out = s->carry_over; break;
    default: return bsnn__fail(BSNN_E_ARG, "%s: unknown setting %d", who, (int)param);
    }
    return BSNN_OK;
}

static size_t epoch_batch_size(const bsnn_scheduler *s)
{
    return s->full_batch ? s->n : s->batch;
}

static void start_epoch(bsnn_scheduler *s)
{
    for (size_t i = 0; i < s->n; i++) s->order[i] = i;
    if (s->shuffle) bsnn__shuffle(s->order, s->n, &s->rng);
    s->cur_batch = epoch_batch_size(s);
    s->pos = 0;
    s->step = 0;
    s->in_epoch = 1;
}

/* Samples left in the epoch after position pos that will still be handed
 * out as (or inside) a batch of this epoch. */
static int epoch_ends_after(const bsnn_scheduler *s, size_t pos)
{
    size_t left = s->n - pos;
    if (left == 0) return 1;
    return (s->drop_last || s->carry_over) && left < s->cur_batch;
}

bsnn_status bsnn_scheduler_next(const size_t **out_indices, size_t *out_count, int *out_epoch_end,
                                bsnn_scheduler *s)
{
    const char *who = "bsnn_scheduler_next";
    BSNN_CHECK_NULL(who, out_indices);
    BSNN_CHECK_NULL(who, out_count);
    BSNN_CHECK_NULL(who, out_epoch_end);
    BSNN_CHECK_NULL(who, s);
    if (!s->in_epoch) {
        /* Carry-over: keep the previous epoch's leftovers before reshuffling. */
        if (s->carry_over && s->pos < s->n && s->epoch > 0) {
            s->carried = s->n - s->pos;
            memcpy(s->batch_buf, s->order + s->pos, s->carried * sizeof(size_t));
        }
        start_epoch(s);
    }
    size_t take = s->n - s->pos < s->cur_batch ? s->n - s->pos : s->cur_batch;
    const size_t *idx = s->order + s->pos;
    size_t count = take;
    if (s->carried > 0) {
        memcpy(s->batch_buf + s->carried, idx, take * sizeof(size_t));
        idx = s->batch_buf;
        count += s->carried;
        s->carried = 0;
    }
    s->pos += take;
    s->step++;
    int end = epoch_ends_after(s, s->pos);
    if (end) {
        s->in_epoch = 0;
        s->epoch++;
        s->step = 0;
    }
    *out_indices = idx;
    *out_count = count;
    *out_epoch_end = end;
    return BSNN_OK;
}

size_t bsnn_scheduler_epoch(const bsnn_scheduler *s) { return s ? s->epoch : 0; }
size_t bsnn_scheduler_step(const bsnn_scheduler *s) { return s ? s->step : 0; }
size_t bsnn_scheduler_n_samples(const bsnn_scheduler *s) { return s ? s->n : 0; }

size_t bsnn_scheduler_batch_size(const bsnn_scheduler *s)
{
    if (s == NULL) return 0;
    return s->in_epoch ? s->cur_batch : epoch_batch_size(s);
}
