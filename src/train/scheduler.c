/*
 * scheduler.c - the batch scheduler: which samples form each batch of an
 * epoch (shuffled with its own seeded generator or in stored order), how a
 * partial last batch is treated (kept, dropped, or carried into the next
 * epoch's first batch as the TensorFlow Playground does), how the batch
 * size is chosen per epoch (constant, steps, geometric growth), and the
 * learning rate of every update (schedule x batch-size scaling x warmup),
 * and, for data-parallel training, each rank's share of every global batch.
 * Formulas and sources: docs/scheduler.md.
 */
#include "train/train.h"

#include <stddef.h>

bsnn_scheduler *bsnn__scheduler_create(size_t n_samples)
{
    bsnn_scheduler *s = bsnn__calloc(1, sizeof *s);
    if (s == NULL) return NULL;
    s->order = bsnn__calloc(n_samples, sizeof(size_t));
    s->spare = bsnn__calloc(n_samples, sizeof(size_t));
    s->batch_buf = bsnn__calloc(n_samples, 2 * sizeof(size_t));
    if (s->order == NULL || s->spare == NULL || s->batch_buf == NULL) {
        bsnn__scheduler_free(s);
        return NULL;
    }
    s->n = n_samples;
    s->world = 1;
    bsnn__scheduler_defaults(s);
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
    bsnn__free(s->spare);
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
    s->adapt_batch = 0;
    s->noise_have = 0;
    s->noise_grad_sq = s->noise_trace = 0.0;
}

bsnn_status bsnn_scheduler_reset(bsnn_scheduler *s)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(s);
    bsnn__scheduler_reset(s);
    return BSNN_OK;
}

/* Every setting: id, name, type, static range, default and field. The
 * batch size's and the batch cap's ranges also depend on N and on each
 * other (range_of); the two end-of-epoch flags exclude each other. */
#define FIELD(f) offsetof(bsnn_scheduler, f)
#define MAX_EXACT BSNN__MAX_EXACT
static const bsnn__setting settings[] = {
    {BSNN_SCHED_BATCH_SIZE, "batch size", BSNN__SET_SIZE, 0, 1, MAX_EXACT, 32, FIELD(batch), NULL},
    {BSNN_SCHED_FULL_BATCH, "full batch flag", BSNN__SET_INT, 0, 0, 1, 0, FIELD(full_batch), NULL},
    {BSNN_SCHED_SHUFFLE, "shuffle flag", BSNN__SET_INT, 0, 0, 1, 1, FIELD(shuffle), NULL},
    {BSNN_SCHED_SEED, "seed", BSNN__SET_U64, 0, 0, MAX_EXACT, 0, FIELD(seed),
     "bsnn_scheduler_get_seed"},
    {BSNN_SCHED_DROP_LAST, "drop-last flag", BSNN__SET_INT, 0, 0, 1, 0, FIELD(drop_last), NULL},
    {BSNN_SCHED_CARRY_OVER, "carry-over flag", BSNN__SET_INT, 0, 0, 1, 0, FIELD(carry_over), NULL},
    {BSNN_SCHED_BATCH_SCHEDULE, "batch schedule", BSNN__SET_INT, 0, BSNN_BATCH_CONSTANT,
     BSNN_BATCH_ADAPTIVE, BSNN_BATCH_CONSTANT, FIELD(batch_schedule), NULL},
    {BSNN_SCHED_GROWTH_FACTOR, "growth factor", BSNN__SET_DOUBLE, BSNN_BOUND_LO_OPEN, 1, 1e6, 2,
     FIELD(growth), NULL},
    {BSNN_SCHED_GROWTH_EVERY, "growth period (epochs)", BSNN__SET_SIZE, 0, 1, MAX_EXACT, 1,
     FIELD(growth_every), NULL},
    {BSNN_SCHED_BATCH_CAP, "batch cap", BSNN__SET_SIZE, 0, 0, MAX_EXACT, 0, FIELD(batch_cap), NULL},
    {BSNN_SCHED_LR_SCHEDULE, "lr schedule", BSNN__SET_INT, 0, BSNN_LR_CONSTANT, BSNN_LR_COSINE,
     BSNN_LR_CONSTANT, FIELD(lr_schedule), NULL},
    {BSNN_SCHED_LR_DECAY, "lr decay", BSNN__SET_DOUBLE, BSNN_BOUND_LO_OPEN, 0, 1, 0.1,
     FIELD(lr_decay), NULL},
    {BSNN_SCHED_LR_STEP_EPOCHS, "lr step period (epochs)", BSNN__SET_SIZE, 0, 1, MAX_EXACT, 10,
     FIELD(lr_step_epochs), NULL},
    {BSNN_SCHED_LR_MIN_FACTOR, "lr floor factor", BSNN__SET_DOUBLE, 0, 0, 1, 0,
     FIELD(lr_min_factor), NULL},
    {BSNN_SCHED_WARMUP_STEPS, "warmup (updates)", BSNN__SET_SIZE, 0, 0, MAX_EXACT, 0,
     FIELD(warmup), NULL},
    {BSNN_SCHED_LR_SCALING, "lr scaling", BSNN__SET_INT, 0, BSNN_SCALE_NONE, BSNN_SCALE_ADASCALE,
     BSNN_SCALE_NONE, FIELD(lr_scaling), NULL},
    {BSNN_SCHED_BASE_BATCH, "base batch", BSNN__SET_SIZE, 0, 1, MAX_EXACT, 32, FIELD(base_batch),
     NULL},
    {BSNN_SCHED_MICRO_BATCH, "micro-batch", BSNN__SET_SIZE, 0, 0, MAX_EXACT, 0, FIELD(micro), NULL},
    {BSNN_SCHED_MEMORY_BUDGET, "memory budget (bytes)", BSNN__SET_SIZE, 0, 0, MAX_EXACT, 0,
     FIELD(budget), "bsnn_scheduler_get_memory_budget"},
    {BSNN_SCHED_BATCH_MIN, "smallest adaptive batch", BSNN__SET_SIZE, 0, 1, MAX_EXACT, 1,
     FIELD(batch_min), NULL},
    {BSNN_SCHED_BATCH_POW2, "power-of-two flag", BSNN__SET_INT, 0, 0, 1, 0, FIELD(pow2), NULL},
    {BSNN_SCHED_NOISE_TARGET, "noise-scale target factor", BSNN__SET_DOUBLE, BSNN_BOUND_LO_OPEN,
     0, 1e6, 1, FIELD(noise_target), NULL},
};
#define N_SETTINGS (sizeof settings / sizeof settings[0])

void bsnn__scheduler_defaults(bsnn_scheduler *s)
{
    bsnn__settings_defaults(settings, N_SETTINGS, s);
    if (s->batch > s->n) s->batch = s->n;
}

void bsnn__scheduler_set_seed(bsnn_scheduler *s, uint64_t seed)
{
    s->seed = seed;
    bsnn__rng_seed(&s->rng, seed);
}

static bsnn_status unknown(int param)
{
    return bsnn__fail(BSNN_E_ARG, "unknown setting %d", param);
}

/* A setting's descriptor, with the batch size's and cap's ranges for this
 * scheduler: batch 1..(cap or N); cap batch..N (or 0: N). */
static const bsnn__setting *range_of(bsnn__setting *out, const bsnn_scheduler *s, int param)
{
    const bsnn__setting *d = bsnn__setting_find(settings, N_SETTINGS, param);
    if (d == NULL) return NULL;
    *out = *d;
    if (param == BSNN_SCHED_BATCH_SIZE) out->hi = (double)(s->batch_cap ? s->batch_cap : s->n);
    if (param == BSNN_SCHED_BATCH_CAP) out->lo = (double)s->batch, out->hi = (double)s->n;
    if (param == BSNN_SCHED_BATCH_MIN) out->hi = (double)s->n;
    return out;
}

bsnn_status bsnn__scheduler_set(bsnn_scheduler *s, bsnn_sched_param param, double value)
{
    bsnn__setting r;
    const bsnn__setting *d = range_of(&r, s, (int)param);
    if (d == NULL) return unknown((int)param);
    BSNN_FAIL_IF(param == BSNN_SCHED_BATCH_SIZE && s->batch_cap && value > (double)s->batch_cap &&
                     value <= (double)s->n && value == floor(value),
                 BSNN_E_ARG, "batch size %g exceeds the batch cap %zu", value, s->batch_cap);
    if (!(param == BSNN_SCHED_BATCH_CAP && value == 0.0)) /* cap 0 means N */
        BSNN_TRY(bsnn__setting_check(d, value));
    /* Refuse before changing anything, so a refused call leaves both flags. */
    BSNN_FAIL_IF(value == 1.0 && ((param == BSNN_SCHED_DROP_LAST && s->carry_over) ||
                                  (param == BSNN_SCHED_CARRY_OVER && s->drop_last)),
                 BSNN_E_ARG, "drop-last and carry-over exclude each other");
    bsnn__setting_store(d, s, value);
    if (param == BSNN_SCHED_SEED) bsnn__scheduler_set_seed(s, s->seed);
    return BSNN_OK;
}

bsnn_status bsnn_scheduler_set(bsnn_scheduler *s, bsnn_sched_param param, double value)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(s);
    return bsnn__scheduler_set(s, param, value);
}

bsnn_status bsnn__scheduler_get(double *out, const bsnn_scheduler *s, bsnn_sched_param param)
{
    const bsnn__setting *d = bsnn__setting_find(settings, N_SETTINGS, (int)param);
    if (d == NULL) return unknown((int)param);
    return bsnn__setting_load(d, s, out);
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
    bsnn__setting r;
    const bsnn__setting *d = range_of(&r, s, (int)param);
    if (d == NULL) return unknown((int)param);
    *out_lo = d->lo;
    *out_hi = bsnn__setting_hi(d);
    *out_open = d->open;
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
    dst->spare = saved.spare;
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

/* B_simple of the last observed estimate: +inf when |G|^2 <= 0 (the
 * gradient is lost in the noise), 0 when tr(Sigma) <= 0, NaN with none. */
static double observed_b_simple(const bsnn_scheduler *s)
{
    if (!s->noise_have) return NAN;
    if (!(s->noise_trace > 0.0)) return 0.0;
    return s->noise_grad_sq > 0.0 ? s->noise_trace / s->noise_grad_sq : INFINITY;
}

/* The nearest power of two to b in log terms within [lo, hi], or b when
 * that range holds none. */
static double power_of_two_in(double b, double lo, double hi)
{
    double p = exp2(floor(log2(b) + 0.5));
    double plo = exp2(ceil(log2(lo))), phi = exp2(floor(log2(hi)));
    if (plo > phi) return b;
    return p < plo ? plo : p > phi ? phi : p;
}

/* ADAPTIVE: the batch of the next epoch, from the last epoch's and the
 * observed noise scale (see docs/scheduler.md). */
static size_t adaptive_batch(const bsnn_scheduler *s)
{
    double cap = (double)(s->batch_cap ? s->batch_cap : s->n);
    double mn = (double)s->batch_min < cap ? (double)s->batch_min : cap;
    if (s->adapt_batch == 0) return s->batch; /* epoch 0 (or just reset) */
    double prev = (double)s->adapt_batch, bs = observed_b_simple(s);
    if (isnan(bs)) return s->adapt_batch;
    double lo = ceil(prev / s->growth), hi = floor(prev * s->growth);
    lo = lo < mn ? mn : lo > cap ? cap : lo;
    hi = hi > cap ? cap : hi < mn ? mn : hi;
    double t = s->noise_target * bs; /* may be +inf */
    double b = t < lo ? lo : t > hi ? hi : floor(t + 0.5);
    if (s->pow2) b = power_of_two_in(b, lo, hi);
    return (size_t)b;
}

size_t bsnn__scheduler_batch_at(const bsnn_scheduler *s, size_t epoch)
{
    if (s->full_batch) return s->n;
    size_t b = s->batch;
    if (s->batch_schedule == BSNN_BATCH_ADAPTIVE)
        return s->in_epoch ? s->cur_batch : adaptive_batch(s);
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

/* AdaScale's gain r = (var + sqr) / (var / ratio + sqr), var the variance
 * of a B0-row batch's mean gradient (tr(Sigma) / B0), sqr = |G|^2: with
 * Bs = B_simple, (1 + Bs/B0) / (1 + Bs/B). Between 1 and ratio. */
static double adascale_gain(const bsnn_scheduler *s, size_t batch, double ratio)
{
    double bs = observed_b_simple(s);
    if (isnan(bs)) return 1.0;
    double r = isinf(bs) ? ratio
                         : (1.0 + bs / (double)s->base_batch) / (1.0 + bs / (double)batch);
    double lo = ratio < 1.0 ? ratio : 1.0, hi = ratio < 1.0 ? 1.0 : ratio;
    return r < lo ? lo : r > hi ? hi : r;
}

double bsnn__scheduler_lr_for(const bsnn_scheduler *s, double base, size_t epoch, size_t batch,
                              size_t update)
{
    double ratio = (double)batch / (double)s->base_batch;
    double scale = s->lr_scaling == BSNN_SCALE_LINEAR     ? ratio
                   : s->lr_scaling == BSNN_SCALE_SQRT     ? sqrt(ratio)
                   : s->lr_scaling == BSNN_SCALE_ADASCALE ? adascale_gain(s, batch, ratio)
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

/* The new order is drawn into the spare buffer and swapped in, so the old
 * one survives for bsnn__scheduler_undo. */
static void start_epoch(bsnn_scheduler *s)
{
    size_t *fresh = s->spare;
    for (size_t i = 0; i < s->n; i++) fresh[i] = i;
    if (s->shuffle) bsnn__shuffle(fresh, s->n, &s->rng);
    s->spare = s->order;
    s->order = fresh;
    s->cur_batch = epoch_batch_size(s);
    if (s->batch_schedule == BSNN_BATCH_ADAPTIVE) s->adapt_batch = s->cur_batch;
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

/* Where rank r's share of a global batch of c samples starts: the first
 * c mod W ranks hold one sample more than the others, so shares differ by
 * at most one and sum to c (no product that could overflow). */
static size_t share_start(size_t c, size_t r, size_t world)
{
    size_t extra = c % world;
    return r * (c / world) + (r < extra ? r : extra);
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
    s->last_global = count;
    s->last_offset = 0;
    if (s->world > 1) {
        s->last_offset = share_start(count, s->rank, s->world);
        idx += s->last_offset;
        count = share_start(count, s->rank + 1, s->world) - s->last_offset;
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

void bsnn__scheduler_mark(bsnn__sched_mark *out, const bsnn_scheduler *s)
{
    *out = (bsnn__sched_mark){s->epoch,       s->step,       s->pos,         s->cur_batch,
                              s->carried,     s->total_steps, s->last_epoch, s->last_batch,
                              s->last_update, s->in_epoch,   s->have_last,   s->rng,
                              s->order};
}

void bsnn__scheduler_undo(bsnn_scheduler *s, const bsnn__sched_mark *m)
{
    if (s->order != m->order) { /* an epoch began: its old order is the spare */
        s->spare = s->order;
        s->order = m->order;
    }
    s->epoch = m->epoch;
    s->step = m->step;
    s->pos = m->pos;
    s->cur_batch = m->cur_batch;
    s->carried = m->carried;
    s->total_steps = m->total_steps;
    s->last_epoch = m->last_epoch;
    s->last_batch = m->last_batch;
    s->last_update = m->last_update;
    s->in_epoch = m->in_epoch;
    s->have_last = m->have_last;
    s->rng = m->rng;
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

bsnn_status bsnn_scheduler_set_shard(bsnn_scheduler *s, size_t rank, size_t world_size)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(s);
    BSNN_FAIL_IF(world_size == 0, BSNN_E_ARG, "world_size is 0 (1: no sharding)");
    BSNN_FAIL_IF(rank >= world_size, BSNN_E_ARG, "rank %zu is not below world_size %zu", rank,
                 world_size);
    s->rank = rank;
    s->world = world_size;
    return BSNN_OK;
}

bsnn_status bsnn_scheduler_get_shard(size_t *out_rank, size_t *out_world_size,
                                     const bsnn_scheduler *s)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out_rank);
    BSNN_CHECK_NULL(out_world_size);
    BSNN_CHECK_NULL(s);
    *out_rank = s->rank;
    *out_world_size = s->world;
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

void bsnn__scheduler_observe_noise(bsnn_scheduler *s, const bsnn_model *m)
{
    if (m->noise.count == 0) return;
    s->noise_have = 1;
    s->noise_grad_sq = m->noise.g;
    s->noise_trace = m->noise.t;
}

bsnn_status bsnn_scheduler_observe_noise(bsnn_scheduler *s, const bsnn_model *m)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(s);
    BSNN_CHECK_NULL(m);
    bsnn__scheduler_observe_noise(s, m);
    return BSNN_OK;
}

/* Most samples a seek replays: about 2 s of shuffling at 8 ns a sample.
 * Beyond it a resume needs a checkpoint, whose position loads in O(N). */
#define SEEK_MAX_SAMPLES ((size_t)1 << 28)

bsnn_status bsnn_scheduler_seek(bsnn_scheduler *s, size_t epoch, size_t step)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(s);
    BSNN_FAIL_IF(s->batch_schedule == BSNN_BATCH_ADAPTIVE && !s->full_batch, BSNN_E_STATE,
                 "the adaptive batch schedule's sizes depend on the measured noise scale, "
                 "which a replay cannot know: resume from a checkpoint "
                 "(bsnn_checkpoint_save)");
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

/* ---- checkpoints: the scheduler writes and reads its own state ----------- */

/* The position: a version word, the scalar position, the RNG, (version 2)
 * the adaptive batch and the observed noise scale, then the epoch's order
 * and the carried leftovers, as u64 words (docs/format.md). Version 1 is
 * written whenever version 2's words are all zero, so files of runs
 * without the noise scale are what 0.2.0 wrote. */
enum { POSITION_V1 = 1, POSITION_V2 = 2, FIXED_V1 = 14, FIXED_V2 = 18, FIXED_MAX = 18 };

static uint64_t f64_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double bits_f64(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* Settings added in 0.3 are written only away from their defaults, so a
 * 0.2.0 reader (which refuses unknown settings) still reads the others. */
static int setting_saved(const void *obj, int id)
{
    if (id != BSNN_SCHED_BATCH_MIN && id != BSNN_SCHED_BATCH_POW2 && id != BSNN_SCHED_NOISE_TARGET)
        return 1;
    const bsnn__setting *d = bsnn__setting_find(settings, N_SETTINGS, id);
    double v = 0.0;
    bsnn__setting_load(d, obj, &v);
    return v != d->def;
}

void bsnn__scheduler_save(bsnn__writer *w, const bsnn_scheduler *s)
{
    bsnn__put_u64(w, s->n);
    bsnn__put_settings(w, settings, N_SETTINGS, s, setting_saved, s);
    bsnn__put_u64(w, s->n_steps);
    for (size_t i = 0; i < s->n_steps; i++) {
        bsnn__put_u64(w, s->step_epochs[i]);
        bsnn__put_u64(w, s->step_sizes[i]);
    }
    int v2 = s->adapt_batch != 0 || s->noise_have;
    size_t fixed = v2 ? FIXED_V2 : FIXED_V1;
    const uint64_t head[FIXED_MAX] = {
        v2 ? POSITION_V2 : POSITION_V1, s->n, s->epoch, s->step, s->pos, s->cur_batch,
        (uint64_t)s->in_epoch, s->carried, s->total_steps, 0, s->rng.s[0], s->rng.s[1],
        s->rng.s[2], s->rng.s[3], s->adapt_batch, (uint64_t)s->noise_have,
        f64_bits(s->noise_grad_sq), f64_bits(s->noise_trace)};
    bsnn__put_u64(w, fixed + s->n + s->carried);
    for (size_t i = 0; i < fixed; i++) bsnn__put_u64(w, head[i]);
    for (size_t i = 0; i < s->n; i++) bsnn__put_u64(w, s->order[i]);
    for (size_t i = 0; i < s->carried; i++) bsnn__put_u64(w, s->batch_buf[i]);
}

static bsnn_status set_any(void *s, int id, double v)
{
    return bsnn__scheduler_set(s, (bsnn_sched_param)id, v);
}

/* A value beyond 2^53 (the codec gives smaller ones to set_any): only the
 * seed and the byte budget take one. */
static bsnn_status set_wide(void *obj, int id, uint64_t v)
{
    bsnn_scheduler *s = obj;
    const bsnn__setting *d = bsnn__setting_find(settings, N_SETTINGS, id);
    if (d == NULL) return unknown(id);
    BSNN_FAIL_IF(id != BSNN_SCHED_SEED && id != BSNN_SCHED_MEMORY_BUDGET, BSNN_E_ARG,
                 "%s %llu is out of range", d->name, (unsigned long long)v);
    BSNN_TRY(bsnn__setting_check_u64(d, v));
    bsnn__setting_store_u64(d, s, v);
    if (id == BSNN_SCHED_SEED) bsnn__scheduler_set_seed(s, s->seed);
    return BSNN_OK;
}

/* The batch-size step list, validated as bsnn_scheduler_set_batch_steps. */
static bsnn_status load_steps(bsnn_scheduler *s, bsnn__reader *b)
{
    size_t count = bsnn__get_size(b);
    BSNN_FAIL_IF(b->bad || count > bsnn__remaining(b) / 16, BSNN_E_FORMAT,
                 "scheduler declares %zu batch steps in %zu bytes", count, bsnn__remaining(b));
    if (count == 0) return BSNN_OK;
    size_t *epochs = bsnn__calloc(count, 2 * sizeof(size_t));
    if (epochs == NULL) return BSNN_E_NOMEM;
    size_t *sizes = epochs + count;
    for (size_t i = 0; i < count; i++) {
        epochs[i] = bsnn__get_size(b);
        sizes[i] = bsnn__get_size(b);
    }
    bsnn_status st =
        b->bad ? BSNN_E_FORMAT : bsnn__scheduler_set_batch_steps(s, epochs, sizes, count);
    bsnn__free(epochs);
    BSNN_FORWARD_AS_IF_ERROR(st, BSNN_E_FORMAT, "the scheduler's batch steps are invalid");
    return BSNN_OK;
}

/* The position words into the new scheduler s, each checked: the remaining
 * sequence is then bit-identical to the saved run's. */
/* Version 2's words: the adaptive batch and the observed estimate. */
static bsnn_status load_noise_words(bsnn_scheduler *s, const uint64_t *in)
{
    double g = bits_f64(in[16]), t = bits_f64(in[17]);
    BSNN_FAIL_IF(in[14] > s->n || in[15] > 1 || !isfinite(g) || !isfinite(t), BSNN_E_FORMAT,
                 "scheduler's adaptive batch or observed noise scale is invalid");
    s->adapt_batch = (size_t)in[14];
    s->noise_have = (int)in[15];
    s->noise_grad_sq = g;
    s->noise_trace = t;
    return BSNN_OK;
}

static bsnn_status load_position(bsnn_scheduler *s, bsnn__reader *b)
{
    size_t count = bsnn__get_size(b);
    BSNN_FAIL_IF(b->bad || count > bsnn__remaining(b) / 8 || count < FIXED_V1, BSNN_E_FORMAT,
                 "scheduler declares %zu position words in %zu bytes", count, bsnn__remaining(b));
    uint64_t in[FIXED_MAX];
    for (int i = 0; i < FIXED_V1; i++) in[i] = bsnn__get_u64(b);
    BSNN_FAIL_IF((in[0] != POSITION_V1 && in[0] != POSITION_V2) || in[1] != s->n, BSNN_E_FORMAT,
                 "scheduler state is not version %d or %d for %zu samples", POSITION_V1,
                 POSITION_V2, s->n);
    size_t fixed = in[0] == POSITION_V2 ? FIXED_V2 : FIXED_V1;
    BSNN_FAIL_IF(count < fixed, BSNN_E_FORMAT, "scheduler declares %zu position words", count);
    for (size_t i = FIXED_V1; i < fixed; i++) in[i] = bsnn__get_u64(b);
    if (fixed == FIXED_V2) BSNN_TRY(load_noise_words(s, in));
    uint64_t pos = in[4], cur = in[5], carried = in[7];
    /* the batch size is drawn with an epoch's order: 0 before the first */
    BSNN_FAIL_IF(pos > s->n || (cur == 0 && in[6]) || cur > s->n || in[6] > 1 || carried >= s->n ||
                     count != fixed + s->n + carried,
                 BSNN_E_FORMAT, "scheduler position is inconsistent");
    for (size_t i = 0; i < s->n + carried; i++) {
        uint64_t v = bsnn__get_u64(b);
        BSNN_FAIL_IF(v >= s->n, BSNN_E_FORMAT, "sample index %zu is out of range", i);
        if (i < s->n)
            s->order[i] = (size_t)v;
        else
            s->batch_buf[i - s->n] = (size_t)v;
    }
    s->epoch = (size_t)in[2];
    s->step = (size_t)in[3];
    s->pos = (size_t)pos;
    s->cur_batch = (size_t)cur;
    s->in_epoch = (int)in[6];
    s->carried = (size_t)carried;
    s->total_steps = (size_t)in[8];
    for (int i = 0; i < 4; i++) s->rng.s[i] = in[10 + i];
    s->have_last = 0;
    return BSNN_OK;
}

bsnn_status bsnn__scheduler_load(bsnn_scheduler **out, bsnn__reader *b, size_t file_size)
{
    size_t n = bsnn__get_size(b);
    /* The position holds one word per sample: n is bounded by the file. */
    BSNN_FAIL_IF(b->bad || n == 0 || n > file_size / 8, BSNN_E_FORMAT,
                 "scheduler for %zu samples in a %zu-byte file", n, file_size);
    bsnn_scheduler *s = bsnn__scheduler_create(n);
    if (s == NULL) return BSNN_E_NOMEM;
    bsnn_status st = bsnn__get_settings(b, s, "scheduler", set_any, set_wide);
    if (st == BSNN_OK) st = load_steps(s, b);
    if (st == BSNN_OK) st = load_position(s, b);
    if (st != BSNN_OK) {
        bsnn__scheduler_free(s);
        return st;
    }
    *out = s;
    return BSNN_OK;
}
