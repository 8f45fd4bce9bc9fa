/*
 * scheduler.c - the batch scheduler: which samples form each batch of an
 * epoch (shuffled with its own seeded generator or in stored order), how a
 * partial last batch is treated (kept, dropped, or carried into the next
 * epoch's first batch as the TensorFlow Playground does), how the batch
 * size is chosen per epoch (constant, steps, geometric growth), and the
 * learning rate of every update (schedule x batch-size scaling x warmup).
 * Formulas and sources: docs/scheduler.md.
 */
#include "train/train.h"

bsnn_scheduler *bsnn__scheduler_create(size_t n_samples)
{
    bsnn_scheduler *s = bsnn__calloc(1, sizeof *s);
    if (s == NULL) return NULL;
    s->order = bsnn__calloc(n_samples, sizeof(size_t));
    s->batch_buf = bsnn__calloc(n_samples, 2 * sizeof(size_t));
    if (s->order == NULL || s->batch_buf == NULL) {
        bsnn__scheduler_free(s);
        return NULL;
    }
    s->n = n_samples;
    s->batch = n_samples < 32 ? n_samples : 32;
    s->shuffle = 1;
    s->growth = 2.0;
    s->growth_every = 1;
    s->lr_decay = 0.1;
    s->lr_step_epochs = 10;
    s->base_batch = 32;
    bsnn__scheduler_reset(s);
    return s;
}

bsnn_scheduler *bsnn_scheduler_create(size_t n_samples)
{
    BSNN_ENTER();
    BSNN_FAIL_NULL_IF(n_samples == 0, BSNN_E_ARG, "n_samples is 0");
    return bsnn__scheduler_create(n_samples);
}

void bsnn__scheduler_free(bsnn_scheduler *s)
{
    if (s == NULL) return;
    bsnn__free(s->order);
    bsnn__free(s->batch_buf);
    bsnn__free(s->step_epochs);
    bsnn__free(s->step_sizes);
    bsnn__free(s);
}

void bsnn_scheduler_free(bsnn_scheduler *s) { bsnn__scheduler_free(s); }

void bsnn__scheduler_reset(bsnn_scheduler *s)
{
    bsnn__rng_seed(&s->rng, s->seed);
    s->epoch = s->step = s->pos = 0;
    s->in_epoch = 0;
    s->carried = 0;
    s->total_steps = 0;
    s->have_last = 0;
}

bsnn_status bsnn_scheduler_reset(bsnn_scheduler *s)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(s);
    bsnn__scheduler_reset(s);
    return BSNN_OK;
}

static int is_flag(double v) { return v == 0.0 || v == 1.0; }

static int is_count(double v, double lo, double hi)
{
    return v >= lo && v <= hi && v == floor(v);
}

#define BSNN_MAX_EXACT 9007199254740992.0 /* 2^53: integers exact in double */

/* The largest budget the double setting takes: 2^53, or SIZE_MAX where
 * size_t is narrower. */
static double max_budget(void)
{
    return (double)SIZE_MAX < BSNN_MAX_EXACT ? (double)SIZE_MAX : BSNN_MAX_EXACT;
}

void bsnn__scheduler_set_seed(bsnn_scheduler *s, uint64_t seed)
{
    s->seed = seed;
    bsnn__rng_seed(&s->rng, seed);
}

/* A double reading of an integer setting, refused beyond 2^53 (where a
 * double would round it) with the typed getter to use instead. */
static bsnn_status exact_double(double *out, uint64_t v, const char *what, const char *typed)
{
    BSNN_FAIL_IF(v > (1ull << 53), BSNN_E_ARG,
                 "the %s %llu is beyond 2^53, where a double is not "
                 "exact: read it with %s",
                 what, (unsigned long long)v, typed);
    *out = (double)v;
    return BSNN_OK;
}

static bsnn_status set_flag(bsnn_scheduler *s, bsnn_sched_param param, double value)
{
    BSNN_FAIL_IF(!is_flag(value), BSNN_E_ARG, "setting %d takes 0 or 1, not %g", (int)param, value);
    /* Refuse before changing anything, so a refused call leaves both flags. */
    BSNN_FAIL_IF(value == 1.0 && ((param == BSNN_SCHED_DROP_LAST && s->carry_over) ||
                                  (param == BSNN_SCHED_CARRY_OVER && s->drop_last)),
                 BSNN_E_ARG, "drop-last and carry-over exclude each other");
    if (param == BSNN_SCHED_FULL_BATCH) s->full_batch = (int)value;
    if (param == BSNN_SCHED_SHUFFLE) s->shuffle = (int)value;
    if (param == BSNN_SCHED_DROP_LAST) s->drop_last = (int)value;
    if (param == BSNN_SCHED_CARRY_OVER) s->carry_over = (int)value;
    return BSNN_OK;
}

/* Settings of the batch-size schedule. */
static bsnn_status set_batch(bsnn_scheduler *s, bsnn_sched_param param, double value)
{
    switch (param) {
    case BSNN_SCHED_BATCH_SIZE:
        BSNN_FAIL_IF(!is_count(value, 1.0, (double)s->n), BSNN_E_ARG,
                     "batch size %g is not an integer in 1..%zu", value, s->n);
        BSNN_FAIL_IF(s->batch_cap && value > (double)s->batch_cap, BSNN_E_ARG,
                     "batch size %g exceeds the batch cap %zu", value, s->batch_cap);
        s->batch = (size_t)value;
        return BSNN_OK;
    case BSNN_SCHED_BATCH_SCHEDULE:
        BSNN_FAIL_IF(!is_count(value, BSNN_BATCH_CONSTANT, BSNN_BATCH_GEOMETRIC), BSNN_E_ARG,
                     "batch schedule %g is not 0..2", value);
        s->batch_schedule = (int)value;
        return BSNN_OK;
    case BSNN_SCHED_GROWTH_FACTOR:
        BSNN_FAIL_IF(!(value > 1.0 && value <= 1e6), BSNN_E_ARG,
                     "growth factor %g must be > 1 (and <= 1e6)", value);
        s->growth = value;
        return BSNN_OK;
    case BSNN_SCHED_GROWTH_EVERY:
        BSNN_FAIL_IF(!is_count(value, 1.0, BSNN_MAX_EXACT), BSNN_E_ARG,
                     "growth period %g is not an integer >= 1 epochs", value);
        s->growth_every = (size_t)value;
        return BSNN_OK;
    default: /* BSNN_SCHED_BATCH_CAP */
        BSNN_FAIL_IF(value != 0.0 && !is_count(value, (double)s->batch, (double)s->n), BSNN_E_ARG,
                     "batch cap %g is not 0 or an integer in %zu (the batch "
                     "size)..%zu",
                     value, s->batch, s->n);
        s->batch_cap = (size_t)value;
        return BSNN_OK;
    }
}

/* Settings of the learning rate. */
static bsnn_status set_lr(bsnn_scheduler *s, bsnn_sched_param param, double value)
{
    switch (param) {
    case BSNN_SCHED_LR_SCHEDULE:
        BSNN_FAIL_IF(!is_count(value, BSNN_LR_CONSTANT, BSNN_LR_COSINE), BSNN_E_ARG,
                     "lr schedule %g is not 0..3", value);
        s->lr_schedule = (int)value;
        return BSNN_OK;
    case BSNN_SCHED_LR_DECAY:
        BSNN_FAIL_IF(!(value > 0.0 && value <= 1.0), BSNN_E_ARG, "lr decay %g is not in (0, 1]",
                     value);
        s->lr_decay = value;
        return BSNN_OK;
    case BSNN_SCHED_LR_STEP_EPOCHS:
        BSNN_FAIL_IF(!is_count(value, 1.0, BSNN_MAX_EXACT), BSNN_E_ARG,
                     "lr step period %g is not an integer >= 1", value);
        s->lr_step_epochs = (size_t)value;
        return BSNN_OK;
    case BSNN_SCHED_LR_MIN_FACTOR:
        BSNN_FAIL_IF(!(value >= 0.0 && value <= 1.0), BSNN_E_ARG,
                     "lr floor factor %g is not in [0, 1]", value);
        s->lr_min_factor = value;
        return BSNN_OK;
    case BSNN_SCHED_WARMUP_STEPS:
        BSNN_FAIL_IF(!is_count(value, 0.0, BSNN_MAX_EXACT), BSNN_E_ARG,
                     "warmup %g is not an integer >= 0 updates", value);
        s->warmup = (size_t)value;
        return BSNN_OK;
    case BSNN_SCHED_LR_SCALING:
        BSNN_FAIL_IF(!is_count(value, BSNN_SCALE_NONE, BSNN_SCALE_SQRT), BSNN_E_ARG,
                     "lr scaling %g is not 0..2", value);
        s->lr_scaling = (int)value;
        return BSNN_OK;
    default: /* BSNN_SCHED_BASE_BATCH */
        BSNN_FAIL_IF(!is_count(value, 1.0, BSNN_MAX_EXACT), BSNN_E_ARG,
                     "base batch %g is not an integer >= 1", value);
        s->base_batch = (size_t)value;
        return BSNN_OK;
    }
}

bsnn_status bsnn__scheduler_set(bsnn_scheduler *s, bsnn_sched_param param, double value)
{
    switch (param) {
    case BSNN_SCHED_SEED:
        BSNN_FAIL_IF(!is_count(value, 0.0, BSNN_MAX_EXACT), BSNN_E_ARG,
                     "seed %g is not an integer in 0..2^53 (larger "
                     "seeds: bsnn_scheduler_set_seed)",
                     value);
        bsnn__scheduler_set_seed(s, (uint64_t)value);
        return BSNN_OK;
    case BSNN_SCHED_FULL_BATCH:
    case BSNN_SCHED_SHUFFLE:
    case BSNN_SCHED_DROP_LAST:
    case BSNN_SCHED_CARRY_OVER: return set_flag(s, param, value);
    case BSNN_SCHED_BATCH_SIZE:
    case BSNN_SCHED_BATCH_SCHEDULE:
    case BSNN_SCHED_GROWTH_FACTOR:
    case BSNN_SCHED_GROWTH_EVERY:
    case BSNN_SCHED_BATCH_CAP: return set_batch(s, param, value);
    case BSNN_SCHED_LR_SCHEDULE:
    case BSNN_SCHED_LR_DECAY:
    case BSNN_SCHED_LR_STEP_EPOCHS:
    case BSNN_SCHED_LR_MIN_FACTOR:
    case BSNN_SCHED_WARMUP_STEPS:
    case BSNN_SCHED_LR_SCALING:
    case BSNN_SCHED_BASE_BATCH: return set_lr(s, param, value);
    case BSNN_SCHED_MICRO_BATCH:
        BSNN_FAIL_IF(!is_count(value, 0.0, BSNN_MAX_EXACT), BSNN_E_ARG,
                     "micro-batch %g is not an integer >= 0", value);
        s->micro = (size_t)value;
        return BSNN_OK;
    case BSNN_SCHED_MEMORY_BUDGET:
        BSNN_FAIL_IF(!is_count(value, 0.0, max_budget()), BSNN_E_ARG,
                     "memory budget %g bytes is not a whole number in "
                     "0..%.0f (larger: bsnn_scheduler_set_memory_budget)",
                     value, max_budget());
        s->budget = (size_t)value;
        return BSNN_OK;
    }
    return bsnn__fail(BSNN_E_ARG, "unknown setting %d", (int)param);
}

bsnn_status bsnn_scheduler_set(bsnn_scheduler *s, bsnn_sched_param param, double value)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(s);
    return bsnn__scheduler_set(s, param, value);
}

bsnn_status bsnn__scheduler_get(double *out, const bsnn_scheduler *s, bsnn_sched_param param)
{
    switch (param) {
    case BSNN_SCHED_BATCH_SIZE: *out = (double)s->batch; break;
    case BSNN_SCHED_FULL_BATCH: *out = s->full_batch; break;
    case BSNN_SCHED_SHUFFLE: *out = s->shuffle; break;
    case BSNN_SCHED_SEED: return exact_double(out, s->seed, "seed", "bsnn_scheduler_get_seed");
    case BSNN_SCHED_DROP_LAST: *out = s->drop_last; break;
    case BSNN_SCHED_CARRY_OVER: *out = s->carry_over; break;
    case BSNN_SCHED_BATCH_SCHEDULE: *out = s->batch_schedule; break;
    case BSNN_SCHED_GROWTH_FACTOR: *out = s->growth; break;
    case BSNN_SCHED_GROWTH_EVERY: *out = (double)s->growth_every; break;
    case BSNN_SCHED_BATCH_CAP: *out = (double)s->batch_cap; break;
    case BSNN_SCHED_LR_SCHEDULE: *out = s->lr_schedule; break;
    case BSNN_SCHED_LR_DECAY: *out = s->lr_decay; break;
    case BSNN_SCHED_LR_STEP_EPOCHS: *out = (double)s->lr_step_epochs; break;
    case BSNN_SCHED_LR_MIN_FACTOR: *out = s->lr_min_factor; break;
    case BSNN_SCHED_WARMUP_STEPS: *out = (double)s->warmup; break;
    case BSNN_SCHED_LR_SCALING: *out = s->lr_scaling; break;
    case BSNN_SCHED_BASE_BATCH: *out = (double)s->base_batch; break;
    case BSNN_SCHED_MICRO_BATCH: *out = (double)s->micro; break;
    case BSNN_SCHED_MEMORY_BUDGET:
        return exact_double(out, s->budget, "memory budget", "bsnn_scheduler_get_memory_budget");
    default: return bsnn__fail(BSNN_E_ARG, "unknown setting %d", (int)param);
    }
    return BSNN_OK;
}

bsnn_status bsnn_scheduler_get(double *out, const bsnn_scheduler *s, bsnn_sched_param param)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(s);
    return bsnn__scheduler_get(out, s, param);
}

bsnn_status bsnn_scheduler_bounds(double *out_lo, double *out_hi, unsigned *out_open,
                                  const bsnn_scheduler *s, bsnn_sched_param param)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out_lo);
    BSNN_CHECK_NULL(out_hi);
    BSNN_CHECK_NULL(out_open);
    BSNN_CHECK_NULL(s);
    double lo = 0.0, hi = BSNN_MAX_EXACT;
    unsigned open = 0;
    switch (param) {
    case BSNN_SCHED_BATCH_SIZE: lo = 1.0, hi = (double)(s->batch_cap ? s->batch_cap : s->n); break;
    case BSNN_SCHED_FULL_BATCH:
    case BSNN_SCHED_SHUFFLE:
    case BSNN_SCHED_DROP_LAST:
    case BSNN_SCHED_CARRY_OVER: hi = 1.0; break;
    case BSNN_SCHED_BATCH_SCHEDULE: hi = BSNN_BATCH_GEOMETRIC; break;
    case BSNN_SCHED_GROWTH_FACTOR: lo = 1.0, hi = 1e6, open = BSNN_BOUND_LO_OPEN; break;
    case BSNN_SCHED_BATCH_CAP: lo = (double)s->batch, hi = (double)s->n; break;
    case BSNN_SCHED_LR_SCHEDULE: hi = BSNN_LR_COSINE; break;
    case BSNN_SCHED_LR_DECAY: hi = 1.0, open = BSNN_BOUND_LO_OPEN; break;
    case BSNN_SCHED_LR_MIN_FACTOR: hi = 1.0; break;
    case BSNN_SCHED_LR_SCALING: hi = BSNN_SCALE_SQRT; break;
    case BSNN_SCHED_GROWTH_EVERY:
    case BSNN_SCHED_LR_STEP_EPOCHS:
    case BSNN_SCHED_BASE_BATCH: lo = 1.0; break;
    case BSNN_SCHED_MEMORY_BUDGET: hi = max_budget(); break;
    case BSNN_SCHED_SEED:
    case BSNN_SCHED_WARMUP_STEPS:
    case BSNN_SCHED_MICRO_BATCH: break;
    default: return bsnn__fail(BSNN_E_ARG, "unknown setting %d", (int)param);
    }
    *out_lo = lo;
    *out_hi = hi;
    *out_open = open;
    return BSNN_OK;
}

bsnn_status bsnn_scheduler_set_seed(bsnn_scheduler *s, uint64_t seed)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(s);
    bsnn__scheduler_set_seed(s, seed);
    return BSNN_OK;
}

bsnn_status bsnn_scheduler_get_seed(uint64_t *out, const bsnn_scheduler *s)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(s);
    *out = s->seed;
    return BSNN_OK;
}

bsnn_status bsnn_scheduler_set_memory_budget(bsnn_scheduler *s, size_t bytes)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(s);
    s->budget = bytes;
    return BSNN_OK;
}

bsnn_status bsnn_scheduler_get_memory_budget(size_t *out, const bsnn_scheduler *s)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(s);
    *out = s->budget;
    return BSNN_OK;
}

bsnn_status bsnn__scheduler_set_batch_steps(bsnn_scheduler *s, const size_t *epochs,
                                            const size_t *sizes, size_t count)
{
    size_t *e = NULL, *z = NULL;
    if (count > 0) {
        for (size_t i = 0; i < count; i++) {
            BSNN_FAIL_IF(sizes[i] == 0 || sizes[i] > s->n, BSNN_E_ARG,
                         "sizes[%zu] is %zu, expected 1..%zu", i, sizes[i], s->n);
            BSNN_FAIL_IF(i > 0 && epochs[i] <= epochs[i - 1], BSNN_E_ARG,
                         "epochs[%zu] is %zu, not above epochs[%zu] = %zu", i, epochs[i], i - 1,
                         epochs[i - 1]);
        }
        e = bsnn__calloc(count, sizeof *e);
        z = e ? bsnn__calloc(count, sizeof *z) : NULL;
        if (z == NULL) {
            bsnn__free(e);
            return BSNN_E_NOMEM;
        }
        memcpy(e, epochs, count * sizeof *e);
        memcpy(z, sizes, count * sizeof *z);
    }
    bsnn__free(s->step_epochs);
    bsnn__free(s->step_sizes);
    s->step_epochs = e;
    s->step_sizes = z;
    s->n_steps = count;
    return BSNN_OK;
}

bsnn_status bsnn_scheduler_set_batch_steps(bsnn_scheduler *s, const size_t *epochs,
                                           const size_t *sizes, size_t count)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(s);
    if (count > 0) {
        BSNN_CHECK_NULL(epochs);
        BSNN_CHECK_NULL(sizes);
    }
    return bsnn__scheduler_set_batch_steps(s, epochs, sizes, count);
}

bsnn_status bsnn__scheduler_copy_settings(bsnn_scheduler *dst, const bsnn_scheduler *src)
{
    size_t *e = NULL, *z = NULL, n = dst->n;
    if (src->n_steps) {
        e = bsnn__calloc(src->n_steps, sizeof *e);
        z = e ? bsnn__calloc(src->n_steps, sizeof *z) : NULL;
        if (z == NULL) {
            bsnn__free(e);
            return BSNN_E_NOMEM;
        }
        for (size_t i = 0; i < src->n_steps; i++) {
            e[i] = src->step_epochs[i];
            z[i] = src->step_sizes[i] < n ? src->step_sizes[i] : n;
        }
    }
    bsnn_scheduler saved = *dst;
    *dst = *src;
    dst->n = n;
    dst->order = saved.order;
    dst->batch_buf = saved.batch_buf;
    bsnn__free(saved.step_epochs);
    bsnn__free(saved.step_sizes);
    dst->step_epochs = e;
    dst->step_sizes = z;
    if (dst->batch > n) dst->batch = n;
    if (dst->batch_cap > n) dst->batch_cap = n;
    bsnn__scheduler_reset(dst);
    return BSNN_OK;
}

size_t bsnn__scheduler_batch_at(const bsnn_scheduler *s, size_t epoch)
{
    if (s->full_batch) return s->n;
    size_t b = s->batch;
    if (s->batch_schedule == BSNN_BATCH_STEPS) {
        for (size_t i = 0; i < s->n_steps && s->step_epochs[i] <= epoch; i++)
            b = s->step_sizes[i];
    } else if (s->batch_schedule == BSNN_BATCH_GEOMETRIC) {
        size_t cap = s->batch_cap ? s->batch_cap : s->n;
        double grown = (double)b * pow(s->growth, (double)(epoch / s->growth_every));
        b = grown >= (double)cap ? cap : (size_t)floor(grown);
    }
    return b;
}

static size_t epoch_batch_size(const bsnn_scheduler *s)
{
    return bsnn__scheduler_batch_at(s, s->epoch);
}

size_t bsnn_scheduler_batch_size_at(const bsnn_scheduler *s, size_t epoch)
{
    return s ? bsnn__scheduler_batch_at(s, epoch) : 0;
}

static double schedule_factor(const bsnn_scheduler *s, size_t epoch)
{
    const double pi = 3.14159265358979323846;
    switch (s->lr_schedule) {
    case BSNN_LR_STEP: return pow(s->lr_decay, (double)(epoch / s->lr_step_epochs));
    case BSNN_LR_EXPONENTIAL: return pow(s->lr_decay, (double)epoch);
    case BSNN_LR_COSINE: {
        double t = (double)(epoch < s->lr_step_epochs ? epoch : s->lr_step_epochs);
        double mn = s->lr_min_factor;
        return mn + (1.0 - mn) * 0.5 * (1.0 + cos(pi * t / (double)s->lr_step_epochs));
    }
    default: return 1.0;
    }
}

double bsnn__scheduler_lr_for(const bsnn_scheduler *s, double base, size_t epoch, size_t batch,
                              size_t update)
{
    double ratio = (double)batch / (double)s->base_batch;
    double scale = s->lr_scaling == BSNN_SCALE_LINEAR ? ratio
                   : s->lr_scaling == BSNN_SCALE_SQRT ? sqrt(ratio)
                                                       : 1.0;
    double warm = update < s->warmup ? (double)(update + 1) / (double)s->warmup : 1.0;
    return base * schedule_factor(s, epoch) * scale * warm;
}

bsnn_status bsnn_scheduler_lr(double *out, const bsnn_scheduler *s, double base_lr)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(s);
    BSNN_FAIL_IF(!(base_lr > 0.0 && isfinite(base_lr)), BSNN_E_ARG,
                 "base_lr %g is not a finite value > 0", base_lr);
    if (s->have_last)
        *out = bsnn__scheduler_lr_for(s, base_lr, s->last_epoch, s->last_batch, s->last_update);
    else
        *out = bsnn__scheduler_lr_for(s, base_lr, s->epoch, bsnn__scheduler_batch_size(s),
                                      s->total_steps);
    return BSNN_OK;
}

size_t bsnn__scheduler_rows(const bsnn_scheduler *s, size_t n, size_t cap)
{
    size_t rows = n;
    if (s->micro && s->micro < rows) rows = s->micro;
    if (cap && cap < rows) rows = cap;
    return rows;
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

void bsnn__scheduler_next(const size_t **out_indices, size_t *out_count, int *out_epoch_end,
                          bsnn_scheduler *s)
{
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
    s->have_last = 1;
    s->last_epoch = s->epoch;
    s->last_batch = s->cur_batch;
    s->last_update = s->total_steps++;
    int end = epoch_ends_after(s, s->pos);
    if (end) {
        s->in_epoch = 0;
        s->epoch++;
        s->step = 0;
    }
    *out_indices = idx;
    *out_count = count;
    *out_epoch_end = end;
}

bsnn_status bsnn_scheduler_next(const size_t **out_indices, size_t *out_count, int *out_epoch_end,
                                bsnn_scheduler *s)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out_indices);
    BSNN_CHECK_NULL(out_count);
    BSNN_CHECK_NULL(out_epoch_end);
    BSNN_CHECK_NULL(s);
    bsnn__scheduler_next(out_indices, out_count, out_epoch_end, s);
    return BSNN_OK;
}

size_t bsnn_scheduler_epoch(const bsnn_scheduler *s) { return s ? s->epoch : 0; }
size_t bsnn_scheduler_step(const bsnn_scheduler *s) { return s ? s->step : 0; }
size_t bsnn_scheduler_n_samples(const bsnn_scheduler *s) { return s ? s->n : 0; }

size_t bsnn__scheduler_batch_size(const bsnn_scheduler *s)
{
    return s->in_epoch ? s->cur_batch : epoch_batch_size(s);
}

size_t bsnn_scheduler_batch_size(const bsnn_scheduler *s)
{
    return s ? bsnn__scheduler_batch_size(s) : 0;
}

size_t bsnn_scheduler_total_steps(const bsnn_scheduler *s) { return s ? s->total_steps : 0; }

/* Most samples a seek replays: about 2 s of shuffling at 8 ns a sample.
 * Beyond it a resume needs a checkpoint, whose position loads in O(N). */
#define SEEK_MAX_SAMPLES ((size_t)1 << 28)

bsnn_status bsnn_scheduler_seek(bsnn_scheduler *s, size_t epoch, size_t step)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(s);
    /* The replay walks (epoch + 1) * N samples at most (the target epoch
     * included); refuse before starting rather than run for ages. */
    BSNN_FAIL_IF(epoch >= SEEK_MAX_SAMPLES / s->n, BSNN_E_ARG,
                 "epoch %zu of %zu samples would replay more than %zu samples "
                 "(2^28); resume from a checkpoint (bsnn_checkpoint_save) instead",
                 epoch, s->n, SEEK_MAX_SAMPLES);
    bsnn__scheduler_reset(s);
    const size_t *idx;
    size_t count;
    int end;
    /* Replaying is the only way to reproduce the RNG draws, carried
     * leftovers and the warmup clock exactly; it costs no allocation. */
    while (s->epoch < epoch || (s->epoch == epoch && s->step < step)) {
        bsnn__scheduler_next(&idx, &count, &end, s);
        if (s->epoch > epoch) {
            bsnn__scheduler_reset(s);
            return bsnn__fail(BSNN_E_ARG, "epoch %zu has fewer than %zu batches", epoch, step);
        }
    }
    s->have_last = 0;
    return BSNN_OK;
}

/* Checkpoint layout: a version word, the scalar position, the RNG, the
 * epoch's order, then the carried leftovers. */
enum { SCHED_STATE_VERSION = 1, SCHED_STATE_FIXED = 14 };

size_t bsnn__scheduler_state_words(const bsnn_scheduler *s)
{
    return SCHED_STATE_FIXED + s->n + s->carried;
}

void bsnn__scheduler_save(const bsnn_scheduler *s, uint64_t *out)
{
    uint64_t head[SCHED_STATE_FIXED] = {
        SCHED_STATE_VERSION, s->n, s->epoch, s->step, s->pos, s->cur_batch, (uint64_t)s->in_epoch,
        s->carried, s->total_steps, 0, s->rng.s[0], s->rng.s[1], s->rng.s[2], s->rng.s[3]};
    memcpy(out, head, sizeof head);
    for (size_t i = 0; i < s->n; i++) out[SCHED_STATE_FIXED + i] = s->order[i];
    for (size_t i = 0; i < s->carried; i++) out[SCHED_STATE_FIXED + s->n + i] = s->batch_buf[i];
}

bsnn_status bsnn__scheduler_load(bsnn_scheduler *s, const uint64_t *in, size_t count)
{
    BSNN_ENTER();
    BSNN_FAIL_IF(count < SCHED_STATE_FIXED || in[0] != SCHED_STATE_VERSION || in[1] != s->n,
                 BSNN_E_FORMAT, "scheduler state is not version %d for %zu samples",
                 SCHED_STATE_VERSION, s->n);
    uint64_t pos = in[4], cur = in[5], carried = in[7];
    BSNN_FAIL_IF(pos > s->n || cur == 0 || cur > s->n || in[6] > 1 || carried >= s->n ||
                     count != SCHED_STATE_FIXED + s->n + carried,
                 BSNN_E_FORMAT, "scheduler position is inconsistent");
    for (size_t i = 0; i < s->n + carried; i++)
        BSNN_FAIL_IF(in[SCHED_STATE_FIXED + i] >= s->n, BSNN_E_FORMAT,
                     "sample index %zu is out of range", i);
    s->epoch = (size_t)in[2];
    s->step = (size_t)in[3];
    s->pos = (size_t)pos;
    s->cur_batch = (size_t)cur;
    s->in_epoch = (int)in[6];
    s->carried = (size_t)carried;
    s->total_steps = (size_t)in[8];
    for (int i = 0; i < 4; i++) s->rng.s[i] = in[10 + i];
    for (size_t i = 0; i < s->n; i++) s->order[i] = (size_t)in[SCHED_STATE_FIXED + i];
    for (size_t i = 0; i < s->carried; i++) s->batch_buf[i] = (size_t)in[SCHED_STATE_FIXED + s->n + i];
    s->have_last = 0;
    return BSNN_OK;
}
