/*
 * test_scheduler.c - the batch scheduler's schedules and accumulation:
 * exact (batch size, lr) sequences of every batch-size and lr schedule
 * against values recomputed here from the published formulas; resuming with
 * bsnn_scheduler_seek (and the checkpoint helpers) gives the same remaining
 * sequence; micro-batch accumulation (also with a partial last micro-batch,
 * and the automatic split under a memory budget) gives the single-batch
 * update; no allocation in steady-state accumulated steps; bad settings are
 * refused with messages; the adaptive batch size (against sequences
 * derived by hand from the documented rule, and a real run against the
 * rule applied to its own history) and AdaScale's gain.
 */
#include "refnet.h"
#include "train/train.h"

#include <pthread.h>
#include <stdio.h>

static const double PI = 3.14159265358979323846;

static bsnn_scheduler *sched(size_t n, size_t batch)
{
    bsnn_scheduler *s = bsnn_scheduler_create(n);
    cr_assert_not_null(s, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_SHUFFLE, 0), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, (double)batch), BSNN_OK, "%s",
                 bsnn_last_error());
    return s;
}

static void set(bsnn_scheduler *s, bsnn_sched_param p, double v)
{
    cr_assert_eq(bsnn_scheduler_set(s, p, v), BSNN_OK, "%s", bsnn_last_error());
}

/* Walk `epochs` epochs; check each batch's count against the expected batch
 * size of its epoch (partial last batch kept) and its lr against want_lr. */
typedef double (*lr_fn)(size_t epoch, size_t batch, size_t update);

static void check_run(bsnn_scheduler *s, size_t n, size_t epochs, const size_t *want_batch,
                      lr_fn want_lr)
{
    size_t update = 0;
    for (size_t e = 0; e < epochs; e++) {
        cr_assert_eq(bsnn_scheduler_batch_size_at(s, e), want_batch[e], "epoch %zu", e);
        size_t seen = 0;
        for (;;) {
            const size_t *idx;
            size_t count;
            int end;
            cr_assert_eq(bsnn_scheduler_next(&idx, &count, &end, s), BSNN_OK);
            size_t want = n - seen < want_batch[e] ? n - seen : want_batch[e];
            cr_assert_eq(count, want, "epoch %zu update %zu: %zu samples, want %zu", e, update,
                         count, want);
            double lr;
            cr_assert_eq(bsnn_scheduler_lr(&lr, s, 0.1), BSNN_OK);
            double ref = 0.1 * want_lr(e, want_batch[e], update);
            cr_assert_lt(tu_rel(lr, ref, 1e-300), 1e-12, "epoch %zu update %zu: lr %.17g, want %.17g",
                         e, update, lr, ref);
            seen += count;
            update++;
            if (end) break;
        }
        cr_assert_eq(seen, n);
    }
    cr_assert_eq(bsnn_scheduler_total_steps(s), update);
}

static double lr_one(size_t e, size_t b, size_t u) { (void)e, (void)b, (void)u; return 1.0; }

Test(scheduler, constant_schedule_gives_fixed_batches_and_base_lr)
{
    bsnn_scheduler *s = sched(10, 4);
    const size_t want[] = {4, 4, 4};
    check_run(s, 10, 3, want, lr_one);
    bsnn_scheduler_free(s);
}

Test(scheduler, step_list_switches_batch_size_at_listed_epochs)
{
    bsnn_scheduler *s = sched(16, 2);
    const size_t ep[] = {1, 3}, sz[] = {4, 8};
    cr_assert_eq(bsnn_scheduler_set_batch_steps(s, ep, sz, 2), BSNN_OK);
    set(s, BSNN_SCHED_BATCH_SCHEDULE, BSNN_BATCH_STEPS);
    const size_t want[] = {2, 4, 4, 8, 8};
    check_run(s, 16, 5, want, lr_one);
    bsnn_scheduler_free(s);
}

Test(scheduler, geometric_growth_multiplies_every_k_epochs_up_to_cap)
{
    bsnn_scheduler *s = sched(100, 3);
    set(s, BSNN_SCHED_BATCH_SCHEDULE, BSNN_BATCH_GEOMETRIC);
    set(s, BSNN_SCHED_GROWTH_EVERY, 2);
    set(s, BSNN_SCHED_BATCH_CAP, 20);
    const size_t want[] = {3, 3, 6, 6, 12, 12, 20, 20};
    check_run(s, 100, 8, want, lr_one);
    bsnn_scheduler_free(s);
    /* f = 1.5, no cap: floor(10 * 1.5^e), capped by N = 100 */
    s = sched(100, 10);
    set(s, BSNN_SCHED_BATCH_SCHEDULE, BSNN_BATCH_GEOMETRIC);
    set(s, BSNN_SCHED_GROWTH_FACTOR, 1.5);
    for (size_t e = 0; e < 9; e++) {
        double ref = floor(10.0 * pow(1.5, (double)e));
        size_t want_b = ref > 100 ? 100 : (size_t)ref;
        cr_assert_eq(bsnn_scheduler_batch_size_at(s, e), want_b, "epoch %zu", e);
    }
    bsnn_scheduler_free(s);
}

static double lr_step(size_t e, size_t b, size_t u) { (void)b, (void)u; return pow(0.5, (double)(e / 2)); }
static double lr_exp(size_t e, size_t b, size_t u) { (void)b, (void)u; return pow(0.9, (double)e); }
static double lr_cos(size_t e, size_t b, size_t u)
{
    (void)b, (void)u;
    double t = e < 4 ? (double)e : 4.0;
    return 0.1 + 0.9 * (1.0 + cos(PI * t / 4.0)) / 2.0;
}
static double lr_warm(size_t e, size_t b, size_t u)
{
    (void)e, (void)b;
    return u < 5 ? (double)(u + 1) / 5.0 : 1.0;
}

Test(scheduler, lr_step_decay_multiplies_by_gamma_every_s_epochs)
{
    bsnn_scheduler *s = sched(9, 4);
    set(s, BSNN_SCHED_LR_SCHEDULE, BSNN_LR_STEP);
    set(s, BSNN_SCHED_LR_DECAY, 0.5);
    set(s, BSNN_SCHED_LR_STEP_EPOCHS, 2);
    const size_t want[] = {4, 4, 4, 4, 4, 4};
    check_run(s, 9, 6, want, lr_step);
    bsnn_scheduler_free(s);
}

Test(scheduler, lr_exponential_is_gamma_to_the_epoch)
{
    bsnn_scheduler *s = sched(5, 5);
    set(s, BSNN_SCHED_LR_SCHEDULE, BSNN_LR_EXPONENTIAL);
    set(s, BSNN_SCHED_LR_DECAY, 0.9);
    const size_t want[] = {5, 5, 5, 5, 5};
    check_run(s, 5, 5, want, lr_exp);
    bsnn_scheduler_free(s);
}

Test(scheduler, lr_cosine_anneals_to_floor_over_t_epochs_then_stays)
{
    bsnn_scheduler *s = sched(6, 3);
    set(s, BSNN_SCHED_LR_SCHEDULE, BSNN_LR_COSINE);
    set(s, BSNN_SCHED_LR_STEP_EPOCHS, 4);
    set(s, BSNN_SCHED_LR_MIN_FACTOR, 0.1);
    const size_t want[] = {3, 3, 3, 3, 3, 3, 3};
    check_run(s, 6, 7, want, lr_cos);
    bsnn_scheduler_free(s);
}

Test(scheduler, linear_warmup_ramps_over_w_updates_across_epochs)
{
    bsnn_scheduler *s = sched(6, 2); /* 3 updates per epoch: warmup spans epochs */
    set(s, BSNN_SCHED_WARMUP_STEPS, 5);
    const size_t want[] = {2, 2, 2};
    check_run(s, 6, 3, want, lr_warm);
    bsnn_scheduler_free(s);
}

static double lr_lin(size_t e, size_t b, size_t u) { (void)e, (void)u; return (double)b / 4.0; }
static double lr_sqrt(size_t e, size_t b, size_t u) { (void)e, (void)u; return sqrt((double)b / 4.0); }
static double lr_all(size_t e, size_t b, size_t u)
{
    return lr_exp(e, b, u) * lr_lin(e, b, u) * (u < 3 ? (double)(u + 1) / 3.0 : 1.0);
}

Test(scheduler, lr_scaling_follows_the_growing_batch)
{
    const size_t want[] = {2, 4, 8, 16, 32};
    lr_fn fns[] = {lr_lin, lr_sqrt};
    for (int k = 0; k < 2; k++) {
        bsnn_scheduler *s = sched(32, 2);
        set(s, BSNN_SCHED_BATCH_SCHEDULE, BSNN_BATCH_GEOMETRIC);
        set(s, BSNN_SCHED_LR_SCALING, k == 0 ? BSNN_SCALE_LINEAR : BSNN_SCALE_SQRT);
        set(s, BSNN_SCHED_BASE_BATCH, 4);
        check_run(s, 32, 5, want, fns[k]);
        bsnn_scheduler_free(s);
    }
    /* schedule x scaling x warmup together */
    bsnn_scheduler *s = sched(32, 2);
    set(s, BSNN_SCHED_BATCH_SCHEDULE, BSNN_BATCH_GEOMETRIC);
    set(s, BSNN_SCHED_LR_SCALING, BSNN_SCALE_LINEAR);
    set(s, BSNN_SCHED_BASE_BATCH, 4);
    set(s, BSNN_SCHED_LR_SCHEDULE, BSNN_LR_EXPONENTIAL);
    set(s, BSNN_SCHED_LR_DECAY, 0.9);
    set(s, BSNN_SCHED_WARMUP_STEPS, 3);
    check_run(s, 32, 5, want, lr_all);
    bsnn_scheduler_free(s);
}

Test(scheduler, full_batch_overrides_every_schedule)
{
    bsnn_scheduler *s = sched(12, 2);
    set(s, BSNN_SCHED_BATCH_SCHEDULE, BSNN_BATCH_GEOMETRIC);
    set(s, BSNN_SCHED_FULL_BATCH, 1);
    const size_t want[] = {12, 12, 12};
    check_run(s, 12, 3, want, lr_one);
    bsnn_scheduler_free(s);
}

/* A scheduler with shuffle, carry-over, growth and warmup: the hardest case
 * to resume. */
static bsnn_scheduler *resume_sched(void)
{
    bsnn_scheduler *s = bsnn_scheduler_create(23);
    set(s, BSNN_SCHED_SEED, 5);
    set(s, BSNN_SCHED_BATCH_SIZE, 3);
    set(s, BSNN_SCHED_CARRY_OVER, 1);
    set(s, BSNN_SCHED_BATCH_SCHEDULE, BSNN_BATCH_GEOMETRIC);
    set(s, BSNN_SCHED_GROWTH_EVERY, 2);
    set(s, BSNN_SCHED_WARMUP_STEPS, 7);
    set(s, BSNN_SCHED_LR_SCALING, BSNN_SCALE_SQRT);
    return s;
}

typedef struct rec {
    size_t epoch, step, count, idx[64];
    double lr;
} rec;

static size_t record(rec *out, size_t max, bsnn_scheduler *s, size_t epochs)
{
    size_t k = 0;
    while (bsnn_scheduler_epoch(s) < epochs && k < max) {
        out[k].epoch = bsnn_scheduler_epoch(s);
        out[k].step = bsnn_scheduler_step(s);
        const size_t *idx;
        int end;
        cr_assert_eq(bsnn_scheduler_next(&idx, &out[k].count, &end, s), BSNN_OK);
        cr_assert_leq(out[k].count, 64);
        memcpy(out[k].idx, idx, out[k].count * sizeof(size_t));
        cr_assert_eq(bsnn_scheduler_lr(&out[k].lr, s, 0.01), BSNN_OK);
        k++;
    }
    return k;
}

static void same_tail(const rec *full, size_t nfull, size_t from, const rec *tail, size_t ntail)
{
    cr_assert_eq(ntail, nfull - from);
    for (size_t i = 0; i < ntail; i++) {
        const rec *a = &full[from + i], *b = &tail[i];
        cr_assert_eq(a->epoch, b->epoch);
        cr_assert_eq(a->step, b->step);
        cr_assert_eq(a->count, b->count, "batch %zu", from + i);
        cr_assert_arr_eq(a->idx, b->idx, a->count * sizeof(size_t));
        cr_assert_eq(a->lr, b->lr, "batch %zu: lr %.17g vs %.17g", from + i, a->lr, b->lr);
    }
}

Test(scheduler, seek_resumes_the_same_remaining_sequence)
{
    static rec full[200], tail[200];
    bsnn_scheduler *a = resume_sched();
    size_t nfull = record(full, 200, a, 6);
    for (size_t from = 0; from < nfull; from += 3) {
        bsnn_scheduler *b = resume_sched();
        cr_assert_eq(bsnn_scheduler_seek(b, full[from].epoch, full[from].step), BSNN_OK, "%s",
                     bsnn_last_error());
        same_tail(full, nfull, from, tail, record(tail, 200, b, 6));
        bsnn_scheduler_free(b);
    }
    bsnn_scheduler_free(a);
}

Test(scheduler, its_checkpoint_payload_restores_position_and_rng)
{
    static rec full[200], tail[200];
    bsnn_scheduler *a = resume_sched();
    size_t nfull = record(full, 200, a, 6);
    bsnn_scheduler_reset(a);
    size_t from = 11;
    record(tail, from, a, 6);
    /* the scheduler writes its own payload (two passes: count, then fill) */
    bsnn__writer w = {NULL, 0, 0};
    bsnn__scheduler_save(&w, a);
    unsigned char *buf = malloc(w.len);
    size_t len = w.len;
    w = (bsnn__writer){buf, 0, 0};
    bsnn__scheduler_save(&w, a);
    cr_assert_eq(w.len, len);
    bsnn_scheduler *b = NULL;
    bsnn__reader r = {buf, len - 1, 0, 0}; /* one byte short */
    cr_assert_eq(bsnn__scheduler_load(&b, &r, 1 << 20), BSNN_E_FORMAT);
    cr_assert_null(b);
    /* an index out of range in the epoch's order */
    size_t order0 = len - 8 * (a->n + a->carried);
    unsigned char keep[8];
    memcpy(keep, buf + order0, 8);
    buf[order0] = 231, buf[order0 + 1] = 3; /* 999 */
    r = (bsnn__reader){buf, len, 0, 0};
    cr_assert_eq(bsnn__scheduler_load(&b, &r, 1 << 20), BSNN_E_FORMAT);
    cr_assert(strstr(bsnn_last_error(), "out of range") != NULL, "%s", bsnn_last_error());
    memcpy(buf + order0, keep, 8);
    r = (bsnn__reader){buf, len, 0, 0};
    cr_assert_eq(bsnn__scheduler_load(&b, &r, 1 << 20), BSNN_OK, "%s", bsnn_last_error());
    same_tail(full, nfull, from, tail, record(tail, 200, b, 6));
    free(buf);
    bsnn_scheduler_free(a);
    bsnn_scheduler_free(b);
}

/* A scheduler that never handed out a batch (no epoch drawn, batch size 0
 * in its position) goes through a checkpoint too: 0.2.0's loader refused
 * it as an inconsistent position, so a run could not be checkpointed, or
 * sent to other ranks, before its first update. */
Test(scheduler, a_fresh_scheduler_round_trips_through_a_checkpoint)
{
    static rec full[200], tail[200];
    bsnn_scheduler *a = resume_sched();
    size_t nfull = record(full, 200, a, 6);
    bsnn_scheduler_free(a);
    a = resume_sched();
    bsnn_model *m = tu_mlp(2, 3, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 1);
    void *buf;
    size_t size;
    cr_assert_eq(bsnn_checkpoint_save_alloc(&buf, &size, m, NULL, a), BSNN_OK);
    bsnn_model *m2;
    bsnn_scheduler *b;
    cr_assert_eq(bsnn_checkpoint_load_buffer(&m2, NULL, &b, buf, size), BSNN_OK, "%s",
                 bsnn_last_error());
    same_tail(full, nfull, 0, tail, record(tail, 200, b, 6));
    bsnn_buffer_free(buf);
    bsnn_model_free(m), bsnn_model_free(m2);
    bsnn_scheduler_free(a), bsnn_scheduler_free(b);
}

Test(scheduler, bad_settings_are_refused_with_messages)
{
    bsnn_scheduler *s = sched(50, 10);
    double v;
    struct { bsnn_sched_param p; double v; const char *msg; } bad[] = {
        {BSNN_SCHED_GROWTH_FACTOR, 1.0, "growth factor"},
        {BSNN_SCHED_GROWTH_FACTOR, 0.5, "growth factor"},
        {BSNN_SCHED_GROWTH_FACTOR, NAN, "growth factor"},
        {BSNN_SCHED_GROWTH_EVERY, 0, "growth period"},
        {BSNN_SCHED_BATCH_CAP, 5, "batch cap"},
        {BSNN_SCHED_BATCH_CAP, 51, "batch cap"},
        {BSNN_SCHED_WARMUP_STEPS, -1, "warmup"},
        {BSNN_SCHED_WARMUP_STEPS, 1.5, "warmup"},
        {BSNN_SCHED_LR_DECAY, 0, "lr decay"},
        {BSNN_SCHED_LR_DECAY, 1.5, "lr decay"},
        {BSNN_SCHED_LR_STEP_EPOCHS, 0, "step period"},
        {BSNN_SCHED_LR_MIN_FACTOR, -0.1, "floor"},
        {BSNN_SCHED_LR_SCHEDULE, 4, "lr schedule"},
        {BSNN_SCHED_BATCH_SCHEDULE, 4, "batch schedule"},
        {BSNN_SCHED_LR_SCALING, 4, "lr scaling"},
        {BSNN_SCHED_BATCH_MIN, 0, "smallest adaptive batch"},
        {BSNN_SCHED_BATCH_MIN, 51, "smallest adaptive batch"},
        {BSNN_SCHED_BATCH_POW2, 2, "power-of-two flag"},
        {BSNN_SCHED_NOISE_TARGET, 0, "noise-scale target"},
        {BSNN_SCHED_NOISE_TARGET, INFINITY, "noise-scale target"},
        {BSNN_SCHED_BASE_BATCH, 0, "base batch"},
        {BSNN_SCHED_MICRO_BATCH, -2, "micro-batch"},
        {BSNN_SCHED_MEMORY_BUDGET, -1, "memory budget"},
        {(bsnn_sched_param)99, 1, "unknown setting"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double before = 0;
        bsnn_scheduler_get(&before, s, bad[i].p);
        cr_assert_eq(bsnn_scheduler_set(s, bad[i].p, bad[i].v), BSNN_E_ARG, "case %zu", i);
        cr_assert(strstr(bsnn_last_error(), bad[i].msg) != NULL, "case %zu: %s", i,
                  bsnn_last_error());
        cr_assert(strstr(bsnn_last_error(), "bsnn_scheduler_set") != NULL);
        if (bad[i].p != 99) {
            cr_assert_eq(bsnn_scheduler_get(&v, s, bad[i].p), BSNN_OK);
            cr_assert_eq(v, before, "case %zu changed the setting", i);
        }
    }
    /* cap below the batch, then a batch above the cap */
    set(s, BSNN_SCHED_BATCH_CAP, 20);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 21), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "cap") != NULL, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_scheduler_get(&v, s, (bsnn_sched_param)99), BSNN_E_ARG);
    cr_assert_eq(bsnn_scheduler_get(NULL, s, BSNN_SCHED_SEED), BSNN_E_NULL);
    /* steps lists */
    const size_t e_bad[] = {2, 2}, z_ok[] = {3, 4}, z_bad[] = {3, 51}, e_ok[] = {1, 2};
    cr_assert_eq(bsnn_scheduler_set_batch_steps(s, e_bad, z_ok, 2), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "epochs[1]") != NULL, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_scheduler_set_batch_steps(s, e_ok, z_bad, 2), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "sizes[1]") != NULL, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_scheduler_set_batch_steps(s, NULL, z_ok, 2), BSNN_E_NULL);
    cr_assert_eq(bsnn_scheduler_set_batch_steps(NULL, e_ok, z_ok, 2), BSNN_E_NULL);
    cr_assert_eq(bsnn_scheduler_set_batch_steps(s, NULL, NULL, 0), BSNN_OK);
    /* lr and seek */
    cr_assert_eq(bsnn_scheduler_lr(&v, s, 0.0), BSNN_E_ARG);
    cr_assert_eq(bsnn_scheduler_lr(&v, s, NAN), BSNN_E_ARG);
    cr_assert_eq(bsnn_scheduler_lr(NULL, s, 0.1), BSNN_E_NULL);
    cr_assert_eq(bsnn_scheduler_seek(NULL, 0, 0), BSNN_E_NULL);
    cr_assert_eq(bsnn_scheduler_seek(s, 1, 5), BSNN_E_ARG); /* epoch 1 has 5 batches: 0..4 */
    cr_assert(strstr(bsnn_last_error(), "fewer than 5 batches") != NULL, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_scheduler_epoch(s), 0);
    cr_assert_eq(bsnn_scheduler_seek(s, 1, 4), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_batch_size_at(NULL, 0), 0);
    cr_assert_eq(bsnn_scheduler_total_steps(NULL), 0);
    bsnn_scheduler_free(s);
}

Test(scheduler, bounds_agree_with_the_setter_for_every_setting)
{
    for (int p = 1; p <= BSNN_SCHED_MEMORY_BUDGET; p++) {
        bsnn_scheduler *s = sched(50, 10);
        double lo, hi, v;
        unsigned open;
        cr_assert_eq(bsnn_scheduler_bounds(&lo, &hi, &open, s, (bsnn_sched_param)p), BSNN_OK);
        cr_assert_leq(lo, hi);
        /* the ends are accepted unless open; just outside them is refused */
        if (!(open & 1)) {
            cr_assert_eq(bsnn_scheduler_set(s, (bsnn_sched_param)p, lo), BSNN_OK, "%d lo %g: %s", p,
                         lo, bsnn_last_error());
            cr_assert_eq(bsnn_scheduler_get(&v, s, (bsnn_sched_param)p), BSNN_OK);
            cr_assert_eq(v, lo);
        }
        double below = (open & 1) ? lo : lo - 1.0, above = (open & 2) ? hi : hi * 2.0 + 1.0;
        if (p != BSNN_SCHED_BATCH_CAP || below != 0.0) /* cap 0 means N */
            cr_assert_eq(bsnn_scheduler_set(s, (bsnn_sched_param)p, below), BSNN_E_ARG, "%d", p);
        cr_assert_eq(bsnn_scheduler_set(s, (bsnn_sched_param)p, above), BSNN_E_ARG, "%d %g", p,
                     above);
        bsnn_scheduler_free(s);
        s = sched(50, 10);
        if (!(open & 2))
            cr_assert_eq(bsnn_scheduler_set(s, (bsnn_sched_param)p, hi), BSNN_OK, "%d hi %g: %s", p,
                         hi, bsnn_last_error());
        bsnn_scheduler_free(s);
    }
    double lo, hi;
    unsigned open;
    bsnn_scheduler *s = sched(50, 10);
    cr_assert_eq(bsnn_scheduler_bounds(&lo, &hi, &open, s, (bsnn_sched_param)0), BSNN_E_ARG);
    cr_assert_eq(bsnn_scheduler_bounds(&lo, &hi, &open, NULL, BSNN_SCHED_SEED), BSNN_E_NULL);
    cr_assert_eq(bsnn_scheduler_bounds(NULL, &hi, &open, s, BSNN_SCHED_SEED), BSNN_E_NULL);
    bsnn_scheduler_free(s);
}

/* ---- gradient accumulation ------------------------------------------------ */

static const ref_net acc_net = {
    3, {{1, 8, 0, 0}, {0, 0, BSNN_ACT_TANH, 0}, {1, 2, 0, 0}}, 3, BSNN_LOSS_MSE};

enum { ACC_N = 37 };

static bsnn_dataset *acc_data(void)
{
    float x[ACC_N * 3], y[ACC_N * 2];
    ref_fill(x, ACC_N * 3, -1, 1, 1);
    ref_fill(y, ACC_N * 2, -1, 1, 2);
    bsnn_dataset *ds = bsnn_dataset_create(x, y, ACC_N, 3, 2);
    cr_assert_not_null(ds);
    return ds;
}

/* Params after `epochs` epochs at batch `batch`, micro-batch `micro`, a
 * memory budget (0: none), optimizer kind; grads of the last update in g. */
static size_t train_params(float *p, float *g, bsnn_optimizer_kind kind, size_t batch,
                           size_t micro, double budget, size_t epochs)
{
    bsnn_dataset *ds = acc_data();
    bsnn_model *m = ref_build(&acc_net, 4);
    bsnn_optimizer *opt = bsnn_optimizer_create(kind);
    bsnn_optimizer_set(opt, BSNN_OPT_LR, 0.05);
    bsnn_scheduler *s = bsnn_scheduler_create(ACC_N);
    set(s, BSNN_SCHED_SEED, 3);
    set(s, BSNN_SCHED_BATCH_SIZE, (double)batch);
    set(s, BSNN_SCHED_MICRO_BATCH, (double)micro);
    set(s, BSNN_SCHED_MEMORY_BUDGET, budget);
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, epochs, NULL, NULL), BSNN_OK, "%s",
                 bsnn_last_error());
    size_t count = bsnn_model_param_count(m);
    bsnn_model_get_params(p, count, m);
    if (g) bsnn_model_get_grads(g, count, m);
    size_t rows = m->ws.rows; /* rows per pass: proves the batch was split */
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
    return rows;
}

static void assert_close(const float *a, const float *b, size_t count, double tol, const char *what)
{
    for (size_t i = 0; i < count; i++)
        cr_assert_lt(tu_rel(a[i], b[i], 1e-3), tol, "%s: param %zu: %.9g vs %.9g", what, i, a[i],
                     b[i]);
}

Test(scheduler, micro_batches_give_the_single_batch_update)
{
    enum { P = 3 * 8 + 8 + 8 * 2 + 2 };
    cr_assert_eq(ref_param_count(&acc_net), P);
    float whole[P], split[P], g[P];
    train_params(whole, NULL, BSNN_SGD, ACC_N, 0, 0, 1);
    /* 37 = 7 x 5 + 2 and 4 x 9 + 1: partial last micro-batches */
    const size_t micros[] = {1, 5, 9, 36, 37, 64};
    for (size_t k = 0; k < sizeof micros / sizeof micros[0]; k++) {
        size_t rows = train_params(split, g, BSNN_SGD, ACC_N, micros[k], 0, 1);
        cr_assert_eq(rows, micros[k] < ACC_N ? micros[k] : ACC_N);
        assert_close(whole, split, P, 1e-5, "sgd");
    }
    /* The accumulated gradient is the batch mean: check it against central
     * differences of the double reference at the starting parameters. */
    bsnn_dataset *ds = acc_data();
    bsnn_model *m = ref_build(&acc_net, 4);
    float p0[P];
    double pd[P], fd[P];
    bsnn_model_get_params(p0, P, m);
    for (size_t i = 0; i < P; i++) pd[i] = p0[i];
    ref_fd_grad(fd, &acc_net, pd, bsnn_dataset_inputs(ds), bsnn_dataset_targets(ds), ACC_N, 2, 1e-5);
    train_params(split, g, BSNN_SGD, ACC_N, 5, 0, 1);
    for (size_t i = 0; i < P; i++) {
        cr_assert_lt(tu_rel(g[i], fd[i], 1e-4), 1e-3, "grad %zu: %.8g vs fd %.8g", i, g[i], fd[i]);
        cr_assert_lt(tu_rel(split[i], p0[i] - 0.05 * fd[i], 1e-3), 1e-4);
    }
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
}

Test(scheduler, micro_batches_match_over_several_epochs_and_rules)
{
    enum { P = 3 * 8 + 8 + 8 * 2 + 2 };
    float whole[P], split[P];
    const bsnn_optimizer_kind kinds[] = {BSNN_SGD, BSNN_MOMENTUM, BSNN_ADAM};
    const size_t batches[] = {8, 13};
    for (size_t k = 0; k < 3; k++)
        for (size_t b = 0; b < 2; b++) {
            train_params(whole, NULL, kinds[k], batches[b], 0, 0, 3);
            cr_assert_eq(train_params(split, NULL, kinds[k], batches[b], 3, 0, 3), 3);
            assert_close(whole, split, P, 1e-4, "several epochs");
        }
}

Test(scheduler, memory_budget_splits_batches_and_keeps_the_update)
{
    enum { P = 3 * 8 + 8 + 8 * 2 + 2 };
    float whole[P], split[P];
    bsnn_model *m = ref_build(&acc_net, 4);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_ADAM);
    size_t need6, fit;
    cr_assert_eq(bsnn_model_memory(&need6, m, opt, 6), BSNN_OK);
    cr_assert_eq(bsnn_model_max_batch(&fit, m, opt, need6, 1000), BSNN_OK);
    cr_assert_eq(fit, 6);
    cr_assert_eq(bsnn_model_max_batch(&fit, m, opt, need6 - 1, 1000), BSNN_OK);
    cr_assert_eq(fit, 5);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    train_params(whole, NULL, BSNN_ADAM, ACC_N, 0, 0, 2);
    cr_assert_eq(train_params(split, NULL, BSNN_ADAM, ACC_N, 0, (double)need6, 2), 6);
    assert_close(whole, split, P, 1e-4, "budget split");
}

Test(scheduler, budget_below_one_row_is_an_error)
{
    bsnn_dataset *ds = acc_data();
    bsnn_model *m = ref_build(&acc_net, 4);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    bsnn_scheduler *s = bsnn_scheduler_create(ACC_N);
    size_t need1;
    cr_assert_eq(bsnn_model_memory(&need1, m, opt, 1), BSNN_OK);
    set(s, BSNN_SCHED_MEMORY_BUDGET, (double)need1 - 1);
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, 1, NULL, NULL), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "budget") != NULL, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_model_max_batch(&need1, m, opt, 10, 5), BSNN_E_ARG);
    set(s, BSNN_SCHED_MEMORY_BUDGET, (double)need1);
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, 1, NULL, NULL), BSNN_OK, "%s",
                 bsnn_last_error());
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
}

Test(scheduler, accumulated_steps_allocate_nothing_in_steady_state)
{
    tu_count_allocations(0);
    bsnn_dataset *ds = acc_data();
    bsnn_model *m = ref_build(&acc_net, 4);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_ADAM);
    bsnn_scheduler *s = bsnn_scheduler_create(ACC_N);
    set(s, BSNN_SCHED_BATCH_SIZE, 16);
    set(s, BSNN_SCHED_MICRO_BATCH, 5);
    set(s, BSNN_SCHED_WARMUP_STEPS, 4);
    set(s, BSNN_SCHED_LR_SCHEDULE, BSNN_LR_COSINE);
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, 1, NULL, NULL), BSNN_OK);
    size_t before = tu_stats.allocs;
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, 5, NULL, NULL), BSNN_OK);
    cr_assert_eq(tu_stats.allocs, before, "%zu allocations in steady state",
                 tu_stats.allocs - before);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
    tu_restore_allocator();
}

/* Issue 10, item 5: seek(s, SIZE_MAX, 0) replayed one shuffle per epoch and
 * never returned. Seeks that would replay more than 2^28 samples are
 * refused at once, naming the epoch, and leave the position as it was; the
 * limit is (epoch + 1) * N <= 2^28, checked at its edge for several N. */
Test(scheduler, seek_beyond_the_replay_bound_is_refused_at_once, .timeout = 10)
{
    const size_t ns[] = {1, 7, 1000, 60000};
    const size_t limit = (size_t)1 << 28;
    for (size_t i = 0; i < 4; i++) {
        bsnn_scheduler *s = bsnn_scheduler_create(ns[i]);
        cr_assert_not_null(s);
        const size_t *idx;
        size_t count;
        int end;
        cr_assert_eq(bsnn_scheduler_next(&idx, &count, &end, s), BSNN_OK);
        size_t total = bsnn_scheduler_total_steps(s), epoch = bsnn_scheduler_epoch(s);
        const size_t far[] = {SIZE_MAX, SIZE_MAX / 2, limit / ns[i], limit};
        for (size_t k = 0; k < 4; k++) {
            cr_assert_eq(bsnn_scheduler_seek(s, far[k], 0), BSNN_E_ARG, "N %zu epoch %zu", ns[i],
                         far[k]);
            cr_assert(strstr(bsnn_last_error(), "checkpoint") != NULL, "%s", bsnn_last_error());
            cr_assert_eq(bsnn_scheduler_total_steps(s), total, "position kept");
            cr_assert_eq(bsnn_scheduler_epoch(s), epoch);
        }
        bsnn_scheduler_free(s);
    }
}

/* One epoch's order from a shuffling scheduler of n samples, seeded typed. */
static void order_of(size_t *out, size_t n, uint64_t seed)
{
    bsnn_scheduler *s = bsnn_scheduler_create(n);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, (double)n), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_set_seed(s, seed), BSNN_OK);
    const size_t *idx;
    size_t count;
    int end;
    cr_assert_eq(bsnn_scheduler_next(&idx, &count, &end, s), BSNN_OK);
    cr_assert(count == n && end);
    memcpy(out, idx, n * sizeof *out);
    bsnn_scheduler_free(s);
}

/* Seeds 2^60 and 2^60 + 1 are one double but two shuffles; the double
 * getter refuses the first instead of rounding; up to 2^53 both forms
 * give the same stream. */
Test(scheduler, typed_seed_uses_all_64_bits_and_the_double_form_never_rounds)
{
    enum { N = 64 };
    size_t a[N], b[N], c[N];
    const uint64_t big = (uint64_t)1 << 60;
    order_of(a, N, big);
    order_of(b, N, big + 1);
    cr_assert(memcmp(a, b, sizeof a) != 0, "seeds 2^60 and 2^60+1 shuffled alike");
    bsnn_scheduler *s = bsnn_scheduler_create(N);
    cr_assert_eq(bsnn_scheduler_set_seed(s, big + 1), BSNN_OK);
    uint64_t got = 0;
    cr_assert_eq(bsnn_scheduler_get_seed(&got, s), BSNN_OK);
    cr_assert_eq(got, big + 1);
    double v = -1;
    cr_assert_eq(bsnn_scheduler_get(&v, s, BSNN_SCHED_SEED), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "bsnn_scheduler_get_seed") != NULL);
    cr_assert_eq(v, -1);
    /* the double setter and the typed one give the same shuffle */
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, N), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_SEED, 4242), BSNN_OK);
    const size_t *idx;
    size_t count;
    int end;
    cr_assert_eq(bsnn_scheduler_next(&idx, &count, &end, s), BSNN_OK);
    order_of(c, N, 4242);
    cr_assert(memcmp(idx, c, sizeof c) == 0);
    bsnn_scheduler_free(s);
}

/* The budget is a size_t: the typed pair reaches SIZE_MAX, the double form
 * takes whole numbers up to 2^53 only and never reads back a rounded one. */
Test(scheduler, memory_budget_is_a_byte_count_in_both_forms)
{
    bsnn_scheduler *s = bsnn_scheduler_create(10);
    size_t z = 1;
    cr_assert_eq(bsnn_scheduler_get_memory_budget(&z, s), BSNN_OK);
    cr_assert_eq(z, 0, "default is no budget");
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_MEMORY_BUDGET, 4096), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_get_memory_budget(&z, s), BSNN_OK);
    cr_assert_eq(z, 4096);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_MEMORY_BUDGET, 4096.5), BSNN_E_ARG);
    cr_assert_eq(bsnn_scheduler_get_memory_budget(&z, s), BSNN_OK);
    cr_assert_eq(z, 4096, "a refused budget changed it");
    cr_assert_eq(bsnn_scheduler_set_memory_budget(s, SIZE_MAX), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_get_memory_budget(&z, s), BSNN_OK);
    cr_assert_eq(z, SIZE_MAX);
    double v;
    cr_assert_eq(bsnn_scheduler_get(&v, s, BSNN_SCHED_MEMORY_BUDGET), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "bsnn_scheduler_get_memory_budget") != NULL);
    bsnn_scheduler_free(s);
}

/* ---- data-parallel sharding ---------------------------------------------- */

/* Remainder rules of the shard tests: keep, drop, carry over. */
static void remainder_rule(bsnn_scheduler *s, int rule)
{
    if (rule == 1) set(s, BSNN_SCHED_DROP_LAST, 1);
    if (rule == 2) set(s, BSNN_SCHED_CARRY_OVER, 1);
}

static bsnn_scheduler *shard_sched(size_t n, size_t batch, int rule, int grow)
{
    bsnn_scheduler *s = bsnn_scheduler_create(n);
    cr_assert_not_null(s);
    set(s, BSNN_SCHED_SEED, 11);
    set(s, BSNN_SCHED_BATCH_SIZE, (double)batch);
    remainder_rule(s, rule);
    if (grow) {
        set(s, BSNN_SCHED_BATCH_SCHEDULE, BSNN_BATCH_GEOMETRIC);
        set(s, BSNN_SCHED_LR_SCALING, BSNN_SCALE_LINEAR);
        set(s, BSNN_SCHED_WARMUP_STEPS, 3);
    }
    return s;
}

/* For world sizes 1..7 (more ranks than some batches hold), every
 * remainder rule, constant and growing batches: W sharded schedulers with
 * the same seed hand out, rank after rank, exactly the batch an unsharded
 * one hands out (same samples in the same order), each share of size
 * floor(c/W) plus one for the first c mod W ranks, with the same epoch
 * ends, epochs, steps and lr. */
Test(scheduler, shards_split_every_global_batch_contiguously_in_rank_order)
{
    const size_t n = 23, worlds[] = {1, 2, 3, 4, 7}, batches[] = {5, 2, 23};
    for (size_t wi = 0; wi < 5; wi++)
        for (size_t bi = 0; bi < 3; bi++)
            for (int rule = 0; rule < 3; rule++)
                for (int grow = 0; grow < 2; grow++) {
                    size_t world = worlds[wi];
                    bsnn_scheduler *one = shard_sched(n, batches[bi], rule, grow);
                    bsnn_scheduler *r[7];
                    for (size_t k = 0; k < world; k++) {
                        r[k] = shard_sched(n, batches[bi], rule, grow);
                        cr_assert_eq(bsnn_scheduler_set_shard(r[k], k, world), BSNN_OK);
                    }
                    for (int step = 0; step < 60; step++) {
                        const size_t *gi;
                        size_t c;
                        int gend;
                        cr_assert_eq(bsnn_scheduler_next(&gi, &c, &gend, one), BSNN_OK);
                        double glr;
                        bsnn_scheduler_lr(&glr, one, 0.1);
                        size_t at = 0;
                        for (size_t k = 0; k < world; k++) {
                            const size_t *li;
                            size_t lc;
                            int lend;
                            cr_assert_eq(bsnn_scheduler_next(&li, &lc, &lend, r[k]), BSNN_OK);
                            size_t want = c / world + (k < c % world ? 1 : 0);
                            cr_assert_eq(lc, want, "W %zu rank %zu step %d: %zu of %zu samples",
                                         world, k, step, lc, c);
                            cr_assert(lc == 0 || memcmp(li, gi + at, lc * sizeof *li) == 0,
                                      "W %zu rank %zu step %d: not the global batch's rows "
                                      "%zu..%zu",
                                      world, k, step, at, at + lc);
                            at += lc;
                            cr_assert_eq(lend, gend);
                            cr_assert_eq(bsnn_scheduler_epoch(r[k]), bsnn_scheduler_epoch(one));
                            cr_assert_eq(bsnn_scheduler_step(r[k]), bsnn_scheduler_step(one));
                            double lr;
                            bsnn_scheduler_lr(&lr, r[k], 0.1);
                            cr_assert_eq(lr, glr, "the lr follows the global batch");
                        }
                        cr_assert_eq(at, c);
                    }
                    for (size_t k = 0; k < world; k++) bsnn_scheduler_free(r[k]);
                    bsnn_scheduler_free(one);
                }
}

/* The shard belongs to the process, not to the run: reset and seek keep
 * it, a checkpoint does not store it (a loaded scheduler is unsharded and
 * continues the same global sequence, on any number of ranks). */
Test(scheduler, shard_survives_reset_and_seek_but_not_a_checkpoint)
{
    bsnn_scheduler *s = shard_sched(23, 5, 2, 1);
    size_t rank = 9, world = 9;
    cr_assert_eq(bsnn_scheduler_get_shard(&rank, &world, s), BSNN_OK);
    cr_assert(rank == 0 && world == 1, "default (0, 1)");
    cr_assert_eq(bsnn_scheduler_set_shard(s, 2, 3), BSNN_OK);
    bsnn_scheduler_reset(s);
    cr_assert_eq(bsnn_scheduler_seek(s, 1, 1), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_scheduler_get_shard(&rank, &world, s), BSNN_OK);
    cr_assert(rank == 2 && world == 3);
    bsnn_model *m = tu_mlp(2, 3, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 1);
    void *buf;
    size_t size;
    cr_assert_eq(bsnn_checkpoint_save_alloc(&buf, &size, m, NULL, s), BSNN_OK);
    bsnn_model *m2;
    bsnn_scheduler *s2;
    cr_assert_eq(bsnn_checkpoint_load_buffer(&m2, NULL, &s2, buf, size), BSNN_OK, "%s",
                 bsnn_last_error());
    cr_assert_eq(bsnn_scheduler_get_shard(&rank, &world, s2), BSNN_OK);
    cr_assert(rank == 0 && world == 1, "a checkpoint does not hold the shard");
    /* the loaded global batch, sharded again, is rank 2's share */
    cr_assert_eq(bsnn_scheduler_set_shard(s2, 2, 3), BSNN_OK);
    const size_t *a, *b;
    size_t ca, cb;
    int ea, eb;
    bsnn_scheduler_next(&a, &ca, &ea, s);
    bsnn_scheduler_next(&b, &cb, &eb, s2);
    cr_assert_eq(ca, cb);
    cr_assert(memcmp(a, b, ca * sizeof *a) == 0);
    bsnn_buffer_free(buf);
    bsnn_model_free(m), bsnn_model_free(m2);
    bsnn_scheduler_free(s), bsnn_scheduler_free(s2);
}

Test(scheduler, bad_shards_are_refused_and_leave_the_old_one)
{
    bsnn_scheduler *s = bsnn_scheduler_create(8);
    cr_assert_eq(bsnn_scheduler_set_shard(s, 1, 2), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_set_shard(s, 0, 0), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "world_size is 0") != NULL, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_scheduler_set_shard(s, 3, 3), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "rank 3 is not below world_size 3") != NULL, "%s",
              bsnn_last_error());
    size_t rank, world;
    cr_assert_eq(bsnn_scheduler_get_shard(&rank, &world, s), BSNN_OK);
    cr_assert(rank == 1 && world == 2);
    bsnn_scheduler_free(s);
}

/* W "ranks" in W threads, each with its own model, optimizer and sharded
 * scheduler over the whole dataset, combining gradients through the hook
 * with a shared-memory allreduce weighted by rows (slots added in rank
 * order, so every rank gets the same bits). */
enum { MAX_RANKS = 4, SHARD_P = 64 };

typedef struct shared_sum {
    pthread_barrier_t barrier;
    size_t world;
    float sum[MAX_RANKS][SHARD_P];
    size_t rows[MAX_RANKS];
    double loss[MAX_RANKS];
} shared_sum;

typedef struct shard_rank {
    shared_sum *ar;
    size_t id;
    bsnn_model *m;
    bsnn_optimizer *opt;
    bsnn_scheduler *s;
    const bsnn_dataset *ds;
    size_t epochs, steps, seen_batch[64];
    double seen_loss[64];
    bsnn_status st;
} shard_rank;

static int sum_hook(void *user, float *grads, size_t count, size_t *rows, double *loss_sum)
{
    shard_rank *r = user;
    shared_sum *ar = r->ar;
    cr_assert_leq(count, SHARD_P);
    for (size_t i = 0; i < count; i++) ar->sum[r->id][i] = (float)*rows * grads[i];
    ar->rows[r->id] = *rows;
    ar->loss[r->id] = *loss_sum;
    pthread_barrier_wait(&ar->barrier);
    size_t total = 0;
    double loss = 0.0;
    for (size_t k = 0; k < ar->world; k++) total += ar->rows[k], loss += ar->loss[k];
    for (size_t i = 0; i < count; i++) {
        float g = ar->sum[0][i];
        for (size_t k = 1; k < ar->world; k++) g += ar->sum[k][i];
        grads[i] = g / (float)total;
    }
    *rows = total;
    *loss_sum = loss;
    pthread_barrier_wait(&ar->barrier);
    return 0;
}

static int log_steps(void *user, bsnn_event ev, size_t epoch, size_t step, size_t batch,
                     double loss)
{
    shard_rank *r = user;
    (void)epoch;
    if (ev == BSNN_EVENT_STEP && step <= 64) {
        r->seen_batch[step - 1] = batch;
        r->seen_loss[step - 1] = loss;
    }
    return 0;
}

static void *train_rank(void *arg)
{
    shard_rank *r = arg;
    r->st = bsnn_model_train(&r->steps, r->m, r->opt, r->s, r->ds, r->epochs, log_steps, r);
    return NULL;
}

static void shard_rank_init(shard_rank *r, bsnn_model *m, bsnn_optimizer_kind kind,
                            size_t batch, int rule, const bsnn_dataset *ds, size_t epochs)
{
    r->m = m;
    r->opt = bsnn_optimizer_create(kind);
    bsnn_optimizer_set(r->opt, BSNN_OPT_LR, 0.05);
    r->s = bsnn_scheduler_create(bsnn_dataset_size(ds));
    set(r->s, BSNN_SCHED_SEED, 3);
    set(r->s, BSNN_SCHED_BATCH_SIZE, (double)batch);
    set(r->s, BSNN_SCHED_LR_SCALING, BSNN_SCALE_SQRT);
    set(r->s, BSNN_SCHED_BASE_BATCH, 4);
    remainder_rule(r->s, rule);
    r->ds = ds;
    r->epochs = epochs;
    r->steps = 0;
}

static void shard_rank_free(shard_rank *r)
{
    bsnn_scheduler_free(r->s);
    bsnn_optimizer_free(r->opt);
    bsnn_model_free(r->m);
}

/* Run `world` ranks to completion (rank 0 on this thread). */
static void run_ranks(shard_rank *ranks, shared_sum *ar, size_t world)
{
    ar->world = world;
    pthread_barrier_init(&ar->barrier, NULL, (unsigned)world);
    pthread_t th[MAX_RANKS];
    for (size_t k = 1; k < world; k++) pthread_create(&th[k], NULL, train_rank, &ranks[k]);
    train_rank(&ranks[0]);
    for (size_t k = 1; k < world; k++) pthread_join(th[k], NULL);
    pthread_barrier_destroy(&ar->barrier);
}

/* For SGD, momentum and Adam and every remainder rule over 3 epochs: 2 and
 * 3 ranks (batch 8 of 37 samples: uneven shares; batch 2 on 3 ranks: an
 * empty share at every update) end with the parameters of one process
 * training the whole batches (relative 1e-5, floor 0.01: float sums in
 * another order),
 * report the same global batch size to the callback at every update, the
 * same losses, and agree with each other bit for bit. */
Test(scheduler, sharded_ranks_through_the_hook_train_like_one_process, .timeout = 60)
{
    enum { P = 3 * 8 + 8 + 8 * 2 + 2 };
    const bsnn_optimizer_kind kinds[] = {BSNN_SGD, BSNN_MOMENTUM, BSNN_ADAM};
    const size_t cases[][2] = {{2, 8}, {3, 8}, {3, 2}}; /* world, batch */
    bsnn_dataset *ds = acc_data();
    for (int k = 0; k < 3; k++)
        for (int c = 0; c < 3; c++)
            for (int rule = 0; rule < 3; rule++) {
                size_t world = cases[c][0], batch = cases[c][1], epochs = batch == 2 ? 1 : 3;
                shard_rank one;
                shard_rank_init(&one, ref_build(&acc_net, 4), kinds[k], batch, rule, ds, epochs);
                cr_assert_eq(bsnn_model_train(&one.steps, one.m, one.opt, one.s, ds, epochs,
                                              log_steps, &one),
                             BSNN_OK, "%s", bsnn_last_error());
                static shared_sum ar;
                shard_rank ranks[MAX_RANKS];
                for (size_t r = 0; r < world; r++) {
                    shard_rank_init(&ranks[r], ref_build(&acc_net, 4), kinds[k], batch, rule, ds, epochs);
                    ranks[r].ar = &ar;
                    ranks[r].id = r;
                    cr_assert_eq(bsnn_scheduler_set_shard(ranks[r].s, r, world), BSNN_OK);
                    cr_assert_eq(bsnn_model_set_grad_hook(ranks[r].m, sum_hook, &ranks[r]),
                                 BSNN_OK);
                }
                run_ranks(ranks, &ar, world);
                float p1[P], p[P], p0[P];
                bsnn_model_get_params(p1, P, one.m);
                for (size_t r = 0; r < world; r++) {
                    cr_assert_eq(ranks[r].st, BSNN_OK, "rank %zu: %s", r, bsnn_last_error());
                    cr_assert_eq(ranks[r].steps, one.steps);
                    bsnn_model_get_params(r ? p : p0, P, ranks[r].m);
                    if (r) cr_assert(memcmp(p, p0, sizeof p) == 0, "rank %zu differs", r);
                }
                char what[80];
                snprintf(what, sizeof what, "rule %d, %zu ranks, batch %zu, remainder %d",
                         kinds[k], world, batch, rule);
                /* relative to the parameter, or to 0.01 for smaller ones (a
                 * parameter near 0 differs by float rounding of the others) */
                for (size_t i = 0; i < P; i++)
                    cr_assert_lt(tu_rel(p0[i], p1[i], 1e-2), 1e-5, "%s: param %zu: %.9g vs %.9g",
                                 what, i, p0[i], p1[i]);
                for (size_t u = 0; u < one.steps && u < 64; u++) {
                    cr_assert_eq(ranks[0].seen_batch[u], one.seen_batch[u], "%s update %zu",
                                 what, u);
                    cr_assert_lt(tu_rel(ranks[0].seen_loss[u], one.seen_loss[u], 1e-6), 1e-5,
                                 "%s update %zu: loss %g vs %g", what, u, ranks[0].seen_loss[u],
                                 one.seen_loss[u]);
                }
                for (size_t r = 0; r < world; r++) shard_rank_free(&ranks[r]);
                shard_rank_free(&one);
            }
    bsnn_dataset_free(ds);
}

static bsnn_model *dropout_net(void)
{
    bsnn_model *m = bsnn_model_create(3);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(8)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dropout(0.3)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(2)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_MSE), BSNN_OK);
    cr_assert_eq(bsnn_model_init_params(m, 4), BSNN_OK);
    return m;
}

/* Dropout masks are keyed by each row's index in the GLOBAL batch (the
 * shard's offset passed on by the loop), so 2 and 3 ranks with dropout
 * still train like one process. */
Test(scheduler, sharded_ranks_with_dropout_draw_the_masks_of_one_process, .timeout = 60)
{
    enum { P = 3 * 8 + 8 + 8 * 2 + 2 };
    bsnn_dataset *ds = acc_data();
    for (size_t world = 2; world <= 3; world++) {
        shard_rank one;
        shard_rank_init(&one, dropout_net(), BSNN_MOMENTUM, 8, 0, ds, 3);
        cr_assert_eq(bsnn_model_train(&one.steps, one.m, one.opt, one.s, ds, 3, NULL, NULL),
                     BSNN_OK, "%s", bsnn_last_error());
        static shared_sum ar;
        shard_rank ranks[MAX_RANKS];
        for (size_t r = 0; r < world; r++) {
            shard_rank_init(&ranks[r], dropout_net(), BSNN_MOMENTUM, 8, 0, ds, 3);
            ranks[r].ar = &ar;
            ranks[r].id = r;
            bsnn_scheduler_set_shard(ranks[r].s, r, world);
            bsnn_model_set_grad_hook(ranks[r].m, sum_hook, &ranks[r]);
        }
        run_ranks(ranks, &ar, world);
        float p1[P], p0[P];
        bsnn_model_get_params(p1, P, one.m);
        bsnn_model_get_params(p0, P, ranks[0].m);
        for (size_t i = 0; i < P; i++)
            cr_assert_lt(tu_rel(p0[i], p1[i], 1e-2), 1e-5, "%zu ranks: param %zu: %.9g vs %.9g",
                         world, i, p0[i], p1[i]);
        for (size_t r = 0; r < world; r++) shard_rank_free(&ranks[r]);
        shard_rank_free(&one);
    }
    bsnn_dataset_free(ds);
}

/* Two ranks train a batch-norm net on 10 samples at batch `batch` (passes
 * of `micro` rows; 0: whole shares) until an update is refused: every rank
 * must refuse the same one, with BSNN_E_ARG, after want_steps updates. */
static void bn_shards_refuse_alike(size_t batch, size_t micro, size_t want_steps, uint32_t seed)
{
    float x[10 * 3], y[10 * 2];
    ref_fill(x, 30, -1, 1, seed), ref_fill(y, 20, -1, 1, seed + 1);
    bsnn_dataset *ds = bsnn_dataset_create(x, y, 10, 3, 2);
    static shared_sum ar;
    shard_rank ranks[2];
    for (size_t r = 0; r < 2; r++) {
        bsnn_model *m = bsnn_model_create(3);
        bsnn_model_add(m, bsnn_layer_dense(6));
        bsnn_model_add(m, bsnn_layer_batchnorm());
        bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH));
        bsnn_model_add(m, bsnn_layer_dense(2));
        cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_MSE), BSNN_OK);
        shard_rank_init(&ranks[r], m, BSNN_SGD, batch, 0, ds, 2);
        if (micro) set(ranks[r].s, BSNN_SCHED_MICRO_BATCH, (double)micro);
        ranks[r].ar = &ar;
        ranks[r].id = r;
        bsnn_scheduler_set_shard(ranks[r].s, r, 2);
        bsnn_model_set_grad_hook(ranks[r].m, sum_hook, &ranks[r]);
    }
    run_ranks(ranks, &ar, 2);
    for (size_t r = 0; r < 2; r++) {
        cr_assert_eq(ranks[r].st, BSNN_E_ARG, "batch %zu micro %zu rank %zu: status %d", batch,
                     micro, r, ranks[r].st);
        cr_assert_eq(ranks[r].steps, want_steps, "batch %zu micro %zu rank %zu: %zu updates",
                     batch, micro, r, ranks[r].steps);
        shard_rank_free(&ranks[r]);
    }
    cr_assert(strstr(bsnn_last_error(), "a batch of 1 row is too small") != NULL, "%s",
              bsnn_last_error());
    bsnn_dataset_free(ds);
}

/* Batch norm needs 2 rows per pass: when any rank's share of a global batch
 * is too small, EVERY rank refuses that update alike (so none waits for the
 * others in the hook): 10 samples, batch 4 on 2 ranks: shares 2+2, 2+2, then
 * 1+1, refused at the third update; batch 3: a share of 1 at once. */
Test(scheduler, a_share_too_small_for_batch_norm_is_refused_on_every_rank, .timeout = 30)
{
    bn_shards_refuse_alike(4, 0, 2, 5);
    bn_shards_refuse_alike(3, 0, 0, 5);
}

/* An empty share without a hook to combine the ranks is refused with a
 * message, not a 0/0 loss. */
Test(scheduler, an_empty_share_without_a_gradient_hook_is_a_state_error)
{
    bsnn_dataset *ds = acc_data();
    shard_rank r;
    shard_rank_init(&r, ref_build(&acc_net, 4), BSNN_SGD, 2, 0, ds, 1);
    bsnn_scheduler_set_shard(r.s, 2, 3);
    cr_assert_eq(bsnn_model_train(&r.steps, r.m, r.opt, r.s, ds, 1, NULL, NULL), BSNN_E_STATE);
    cr_assert(strstr(bsnn_last_error(), "needs a gradient hook") != NULL, "%s",
              bsnn_last_error());
    cr_assert_eq(r.steps, 0);
    shard_rank_free(&r);
    bsnn_dataset_free(ds);
}

/* ---- the adaptive batch size and AdaScale (issue 15) ---------------------- */

/* A model whose noise estimate is exactly |G|^2 = 1, tr(Sigma) = bs (decay
 * 0: the last observation): E|g_1|^2 = 1 + bs, E|g_2|^2 = 1 + bs/2. */
static void set_estimate(bsnn_model *m, double bs)
{
    cr_assert_eq(bsnn_model_noise_observe(m, 1.0 + bs, 1.0, 1.0 + bs / 2.0, 2.0), BSNN_OK, "%s",
                 bsnn_last_error());
    double got;
    cr_assert_eq(bsnn_model_noise(&got, m, BSNN_NOISE_B_SIMPLE), BSNN_OK);
    cr_assert_eq(got, bs);
}

/* Walk one epoch by hand; returns its batch size (the first batch's count). */
static size_t walk_epoch(bsnn_scheduler *s)
{
    const size_t *idx;
    size_t count, first = 0;
    int end = 0;
    while (!end) {
        cr_assert_eq(bsnn_scheduler_next(&idx, &count, &end, s), BSNN_OK);
        if (first == 0) first = count;
    }
    return first;
}

Test(scheduler, adaptive_batch_follows_b_simple_within_the_factor_min_and_cap)
{
    bsnn_model *m = tu_mlp(2, 3, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 1);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_NOISE_DECAY, 0), BSNN_OK);
    bsnn_scheduler *s = sched(1000, 10);
    set(s, BSNN_SCHED_BATCH_SCHEDULE, BSNN_BATCH_ADAPTIVE);
    set(s, BSNN_SCHED_BATCH_MIN, 4);
    set(s, BSNN_SCHED_BATCH_CAP, 300);
    /* f = 2 (the growth factor's default). By hand: from b, the next batch
     * is round(target x B_simple) clamped to [max(4, ceil(b/2)), min(300,
     * floor(2b))]; no estimate keeps b. */
    const double bs[] = {NAN, 100, 100, 100, 100, 1000, 1000, 1, 1, 1, 1, 1, 1, 1, 33.4, INFINITY,
                         20.5};
    const size_t want[] = {10, 20, 40, 80, 100, 200, 300, 150, 75, 38, 19, 10, 5, 4, 8, 16, 21};
    for (size_t e = 0; e < sizeof want / sizeof want[0]; e++) {
        if (isinf(bs[e])) /* |G|^2 estimated 0: the noise drowns the gradient */
            cr_assert_eq(bsnn_model_noise_observe(m, 2.0, 1.0, 1.0, 2.0), BSNN_OK);
        else if (!isnan(bs[e]))
            set_estimate(m, bs[e]);
        cr_assert_eq(bsnn_scheduler_observe_noise(s, m), BSNN_OK);
        cr_assert_eq(bsnn_scheduler_batch_size(s), want[e], "epoch %zu (before)", e);
        cr_assert_eq(bsnn_scheduler_batch_size_at(s, e + 7), want[e], "epoch %zu: the next", e);
        cr_assert_eq(walk_epoch(s), want[e], "epoch %zu", e);
    }
    /* the target factor: 2 x B_simple 15 = 30, within [11, 42] */
    set(s, BSNN_SCHED_NOISE_TARGET, 2);
    set_estimate(m, 15);
    cr_assert_eq(bsnn_scheduler_observe_noise(s, m), BSNN_OK);
    cr_assert_eq(walk_epoch(s), 30);
    /* seek cannot replay what was measured */
    cr_assert_eq(bsnn_scheduler_seek(s, 2, 0), BSNN_E_STATE);
    /* reset forgets the estimate and the last batch: BATCH_SIZE again */
    cr_assert_eq(bsnn_scheduler_reset(s), BSNN_OK);
    cr_assert_eq(walk_epoch(s), 10);
    cr_assert_eq(walk_epoch(s), 10, "no estimate: kept");
    bsnn_scheduler_free(s);
    bsnn_model_free(m);
}

Test(scheduler, adaptive_batch_in_powers_of_two)
{
    bsnn_model *m = tu_mlp(2, 3, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 1);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_NOISE_DECAY, 0), BSNN_OK);
    bsnn_scheduler *s = sched(5000, 10);
    set(s, BSNN_SCHED_BATCH_SCHEDULE, BSNN_BATCH_ADAPTIVE);
    set(s, BSNN_SCHED_BATCH_POW2, 1);
    set(s, BSNN_SCHED_GROWTH_FACTOR, 4);
    /* the nearest power of two (in log2) to the clamped target, kept in
     * the allowed range: 10 -> [3, 40]: 100 -> 40 -> 32; [8, 128]: 100 ->
     * 128 (log2 100 = 6.64); [32, 512]: 300 -> 256; 3000 -> [64, 1024] ->
     * 1024; 1 -> [256, 4096]: 256 */
    const double bs[] = {NAN, 100, 100, 300, 3000, 1};
    const size_t want[] = {10, 32, 128, 256, 1024, 256};
    for (size_t e = 0; e < 6; e++) {
        if (!isnan(bs[e])) set_estimate(m, bs[e]);
        cr_assert_eq(bsnn_scheduler_observe_noise(s, m), BSNN_OK);
        cr_assert_eq(walk_epoch(s), want[e], "epoch %zu", e);
    }
    /* no power of two in range (factor 1.1 from 100: [91, 110]): unrounded */
    bsnn_scheduler_free(s);
    s = sched(5000, 100);
    set(s, BSNN_SCHED_BATCH_SCHEDULE, BSNN_BATCH_ADAPTIVE);
    set(s, BSNN_SCHED_BATCH_POW2, 1);
    set(s, BSNN_SCHED_GROWTH_FACTOR, 1.1);
    cr_assert_eq(walk_epoch(s), 100);
    set_estimate(m, 1000);
    cr_assert_eq(bsnn_scheduler_observe_noise(s, m), BSNN_OK);
    cr_assert_eq(walk_epoch(s), 110);
    bsnn_scheduler_free(s);
    bsnn_model_free(m);
}

Test(scheduler, adascale_scales_the_lr_by_its_gain)
{
    /* r = (var + sqr) / (var / s + sqr), var = tr / B0, sqr = |G|^2, s =
     * B / B0; here |G|^2 = 1 and tr = B_simple: r = (1 + Bs/B0) / (1 + Bs/B) */
    bsnn_model *m = tu_mlp(2, 3, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 1);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_NOISE_DECAY, 0), BSNN_OK);
    bsnn_scheduler *s = sched(1000, 80);
    set(s, BSNN_SCHED_LR_SCALING, BSNN_SCALE_ADASCALE);
    set(s, BSNN_SCHED_BASE_BATCH, 10);
    double lr;
    const size_t *idx;
    size_t count;
    int end;
    cr_assert_eq(bsnn_scheduler_next(&idx, &count, &end, s), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_lr(&lr, s, 0.1), BSNN_OK);
    cr_assert_eq(lr, 0.1, "no estimate yet: gain 1");
    const double bs[] = {100, 10, 0.5, 1e9};
    for (int i = 0; i < 4; i++) {
        set_estimate(m, bs[i]);
        cr_assert_eq(bsnn_scheduler_observe_noise(s, m), BSNN_OK);
        cr_assert_eq(bsnn_scheduler_lr(&lr, s, 0.1), BSNN_OK);
        double var = bs[i] / 10.0, sqr = 1.0, scale = 80.0 / 10.0;
        double want = 0.1 * (var + sqr) / (var / scale + sqr);
        cr_assert(fabs(lr - want) <= 1e-12 * want, "B_simple %g: lr %.15g, want %.15g", bs[i], lr,
                  want);
        cr_assert(lr >= 0.1 && lr <= 0.8, "the gain lies in [1, s]");
    }
    /* |G|^2 <= 0: the gain is s (linear scaling); B below B0: r <= 1 */
    cr_assert_eq(bsnn_model_noise_observe(m, 2.0, 1.0, 1.0, 2.0), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_observe_noise(s, m), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_lr(&lr, s, 0.1), BSNN_OK);
    cr_assert(fabs(lr - 0.8) < 1e-15, "lr %g", lr);
    bsnn_scheduler *small = sched(1000, 5);
    set(small, BSNN_SCHED_LR_SCALING, BSNN_SCALE_ADASCALE);
    set(small, BSNN_SCHED_BASE_BATCH, 10);
    set_estimate(m, 20);
    cr_assert_eq(bsnn_scheduler_observe_noise(small, m), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_lr(&lr, small, 0.1), BSNN_OK);
    cr_assert(fabs(lr - 0.1 * 3.0 / 5.0) < 1e-15, "lr %g: (1 + 2) / (1 + 4)", lr);
    cr_assert_eq(bsnn_scheduler_observe_noise(NULL, m), BSNN_E_NULL);
    cr_assert_eq(bsnn_scheduler_observe_noise(s, NULL), BSNN_E_NULL);
    bsnn_scheduler_free(small);
    bsnn_scheduler_free(s);
    bsnn_model_free(m);
}

/* One adaptive run with the per-sample route: each epoch's batch and lr. */
typedef struct adaptive_run {
    size_t batch[12];
    double lr[12], bs[12];
    float params[64];
} adaptive_run;

static void run_adaptive(adaptive_run *out, uint64_t seed)
{
    bsnn_dataset *ds = bsnn_dataset_parity(8); /* 256 rows */
    bsnn_model *m = tu_mlp(8, 6, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 3);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_NOISE_ROUTE, BSNN_NOISE_PER_SAMPLE), BSNN_OK);
    cr_assert_eq(bsnn_model_set(m, BSNN_MODEL_NOISE_DECAY, 0.9), BSNN_OK);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    cr_assert_eq(bsnn_optimizer_set(opt, BSNN_OPT_LR, 0.05), BSNN_OK);
    bsnn_scheduler *s = bsnn_scheduler_create(256);
    cr_assert_eq(bsnn_scheduler_set_seed(s, seed), BSNN_OK);
    set(s, BSNN_SCHED_BATCH_SIZE, 4);
    set(s, BSNN_SCHED_BATCH_SCHEDULE, BSNN_BATCH_ADAPTIVE);
    set(s, BSNN_SCHED_BATCH_MIN, 2);
    set(s, BSNN_SCHED_LR_SCALING, BSNN_SCALE_ADASCALE);
    set(s, BSNN_SCHED_BASE_BATCH, 4);
    bsnn_history *h = bsnn_history_create();
    cr_assert_eq(bsnn_model_train_ex(NULL, m, opt, s, ds, NULL, h, 12, NULL, NULL), BSNN_OK, "%s",
                 bsnn_last_error());
    for (size_t e = 0; e < 12; e++) {
        double b;
        cr_assert_eq(bsnn_history_get(&b, h, e, BSNN_HIST_BATCH_SIZE), BSNN_OK);
        out->batch[e] = (size_t)b;
        cr_assert_eq(bsnn_history_get(&out->lr[e], h, e, BSNN_HIST_LR), BSNN_OK);
        cr_assert_eq(bsnn_history_get(&out->bs[e], h, e, BSNN_HIST_B_SIMPLE), BSNN_OK);
    }
    cr_assert_eq(bsnn_model_get_params(out->params, bsnn_model_param_count(m), m), BSNN_OK);
    bsnn_history_free(h);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
}

Test(scheduler, an_adaptive_run_is_deterministic_and_each_epoch_follows_the_last_estimate)
{
    adaptive_run a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    run_adaptive(&a, 7);
    run_adaptive(&b, 7);
    cr_assert_eq(memcmp(&a, &b, sizeof a), 0, "the same seed, the same run");
    cr_assert_eq(a.batch[0], 4);
    int moved = 0;
    for (size_t e = 1; e < 12; e++) {
        /* by hand from the history: the rule on the previous epoch's
         * batch and the B_simple at its end (factor 2, min 2, cap 256) */
        double lo = fmax(2.0, ceil((double)a.batch[e - 1] / 2.0));
        double hi = fmin(256.0, floor((double)a.batch[e - 1] * 2.0));
        double t = a.bs[e - 1], want = t < lo ? lo : t > hi ? hi : floor(t + 0.5);
        cr_assert_eq((double)a.batch[e], want, "epoch %zu: batch %zu, from %zu and B_simple %g", e,
                     a.batch[e], a.batch[e - 1], t);
        moved += a.batch[e] != a.batch[e - 1];
        /* the epoch's last lr: AdaScale's gain from the estimate after its
         * next-to-last update, so only bounded here: within [1, B/B0] */
        double ratio = (double)a.batch[e] / 4.0;
        cr_assert(a.lr[e] >= 0.05 * fmin(1.0, ratio) - 1e-15 &&
                  a.lr[e] <= 0.05 * fmax(1.0, ratio) + 1e-15, "epoch %zu: lr %g", e, a.lr[e]);
    }
    cr_assert_gt(moved, 2, "the batch changed with the measurements");
    adaptive_run c;
    memset(&c, 0, sizeof c);
    run_adaptive(&c, 8);
    cr_assert_neq(memcmp(a.params, c.params, sizeof a.params), 0, "another seed, another run");
}

/* The same with micro-batches: a share split into passes of 2 rows leaves
 * a remainder pass of 1 on some rank, and every rank refuses that update
 * alike. Micro-batch 2: batch 5 gives shares 3 + 2 (rank 0's passes 2 + 1),
 * refused at once on both ranks although rank 1's passes are fine; batch 4
 * gives shares 2 + 2 twice, then 1 + 1: two updates. */
Test(scheduler, a_micro_batch_too_small_for_batch_norm_is_refused_on_every_rank, .timeout = 30)
{
    bn_shards_refuse_alike(5, 2, 0, 7);
    bn_shards_refuse_alike(4, 2, 2, 7);
}
