/*
 * demo_critical.h - parts 4 and 5 of the demo (included by demo.c, after its
 * helpers): the critical batch size on full Fashion-MNIST and on the
 * Playground spiral, and the Fashion-MNIST batch-size sweep with the honest
 * search.
 *
 *  4. For each batch size: the learning rate tuned on a log-spaced grid,
 *     then the updates S and samples E to reach a target check-set loss,
 *     median over seeds; the fit (S/S_min - 1)(E/E_min - 1) = 1 and
 *     B_crit = E_min/S_min; the noise scale B_simple measured while training
 *     and at the target; the adaptive batch size as its own point.
 *  5. Fixed epochs at every batch size (test accuracy, seconds per epoch,
 *     seconds to reach a validation accuracy), and bsnn_search_run with
 *     repeats and the one-standard-error rule.
 *
 * Independent runs go to a pool of two worker threads (one bsnn thread
 * each), so both cores work; wall times are measured with the other core
 * busy.
 */
#ifndef DEMO_CRITICAL_H
#define DEMO_CRITICAL_H

#include <pthread.h>

/* ---- a pool of worker threads ------------------------------------------------ */

typedef struct pool {
    char *jobs;
    size_t size, n, next;
    void (*fn)(void *job);
    pthread_mutex_t mu;
} pool;

static void *pool_worker(void *arg)
{
    pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        size_t i = p->next++;
        pthread_mutex_unlock(&p->mu);
        if (i >= p->n) return NULL;
        p->fn(p->jobs + i * p->size);
    }
}

/* Run fn on each of n jobs of `size` bytes, in order of the array, on
 * `workers` threads (put the longest jobs first). */
static void pool_run(void *jobs, size_t size, size_t n, void (*fn)(void *), int workers)
{
    pool p = {jobs, size, n, 0, fn, PTHREAD_MUTEX_INITIALIZER};
    pthread_t t[8];
    if (workers > 8) workers = 8;
    for (int i = 0; i < workers; i++)
        if (pthread_create(&t[i], NULL, pool_worker, &p) != 0) die("thread");
    for (int i = 0; i < workers; i++) pthread_join(t[i], NULL);
}

static int pool_workers = 2;
static pthread_mutex_t print_mu = PTHREAD_MUTEX_INITIALIZER;

#define LOCKED_PRINTF(...)                                                                         \
    do {                                                                                           \
        pthread_mutex_lock(&print_mu);                                                             \
        printf(__VA_ARGS__);                                                                       \
        fflush(stdout);                                                                            \
        pthread_mutex_unlock(&print_mu);                                                           \
    } while (0)

/* ---- one training run to a target loss ----------------------------------------- */

#define CURVE_MAX 160
#define CR_MAX_SIZES 12
#define CR_MAX_SEEDS 5

/* One task of the study: data, network, target, budgets, learning rates. */
typedef struct study {
    const char *name, *slug;
    const bsnn_dataset *train, *check;  /* check: where the target is judged   */
    const bsnn_dataset *measure;        /* rows of the on-demand measurement    */
    bsnn_model *(*net)(uint64_t seed);
    int playground;                     /* stored order, carry-over batching    */
    double target;                      /* check-set loss every size must reach */
    double check_factor;                /* checks at updates growing by this    */
    size_t max_updates;
    double max_samples;
    size_t noise_min_batch;             /* per-sample noise route from here     */
    double grid[12];
    int n_grid;
    int (*lr_center)(size_t batch);     /* grid index tried first               */
    size_t sizes[CR_MAX_SIZES];
    int n_sizes, seeds;
    size_t measure_batch, measure_batches;
    size_t shard;                       /* adaptive run: rows per scheduler epoch */
    size_t adapt_start, adapt_min;
} study;

/* What a run reports. */
typedef struct run_result {
    size_t batch;
    double lr;
    uint64_t seed;
    int reached, diverged;
    double S, E;                 /* updates and samples to the target (interpolated) */
    double seconds;              /* training seconds to the target (checks excluded) */
    double bs_target;            /* the running B_simple when the target was reached */
    double ms[12];               /* on-demand measurement at the target (NaN: none)  */
    size_t n_pts;                /* the check points */
    double pt_samples[CURVE_MAX], pt_updates[CURVE_MAX], pt_loss[CURVE_MAX];
    double pt_acc[CURVE_MAX], pt_bs[CURVE_MAX], pt_sec[CURVE_MAX], pt_batch[CURVE_MAX];
} run_result;

typedef struct watch {
    const study *st;
    run_result *r;
    bsnn_model *m;
    bsnn_scheduler *s;
    bsnn_workspace *ws;
    double next, samples, t_mark, train_seconds;
    size_t step_base, cap;
    int stop;                    /* reached or out of budget */
} watch;

static void watch_point(watch *w, size_t updates)
{
    double vl = 0, va = 0, bs = NAN;
    size_t n = bsnn_dataset_size(w->st->check);
    if (bsnn_model_evaluate_ws(&vl, &va, w->m, w->ws, w->st->check, n < 500 ? n : 500) != BSNN_OK)
        die("check");
    bsnn_model_noise(&bs, w->m, BSNN_NOISE_B_SIMPLE);
    run_result *r = w->r;
    size_t i = r->n_pts < CURVE_MAX ? r->n_pts++ : CURVE_MAX - 1; /* full: overwrite the last */
    r->pt_samples[i] = w->samples;
    r->pt_updates[i] = (double)updates;
    r->pt_loss[i] = vl;
    r->pt_acc[i] = va;
    r->pt_bs[i] = bs;
    r->pt_sec[i] = w->train_seconds;
    r->pt_batch[i] = w->s ? (double)bsnn_scheduler_batch_size(w->s) : (double)r->batch;
    if (vl <= w->st->target && !r->reached && i > 0) {
        /* between the last check above the target and this one, linearly */
        double l0 = r->pt_loss[i - 1], f = l0 > vl ? (l0 - w->st->target) / (l0 - vl) : 1.0;
        r->reached = 1;
        r->S = r->pt_updates[i - 1] + f * (r->pt_updates[i] - r->pt_updates[i - 1]);
        r->E = r->pt_samples[i - 1] + f * (r->pt_samples[i] - r->pt_samples[i - 1]);
        r->seconds = r->pt_sec[i - 1] + f * (r->pt_sec[i] - r->pt_sec[i - 1]);
        r->bs_target = bs;
        w->stop = 1;
    }
}

static int watch_cb(void *user, bsnn_event ev, size_t epoch, size_t step, size_t n, double loss)
{
    watch *w = user;
    (void)epoch, (void)loss;
    if (ev != BSNN_EVENT_STEP) return 0;
    w->samples += (double)n;
    size_t updates = w->step_base + step;
    int over = updates >= w->cap || w->samples >= w->st->max_samples;
    if ((double)updates < w->next && !over) return 0;
    double t = ex_now();
    w->train_seconds += t - w->t_mark;
    w->next = fmax((double)updates + 1, ceil((double)updates * w->st->check_factor));
    watch_point(w, updates);
    if (over) w->stop = 1;
    w->t_mark = ex_now(); /* checks are not training time */
    return w->stop;
}

static bsnn_scheduler *study_scheduler(const study *st, size_t n, size_t batch, uint64_t seed)
{
    bsnn_scheduler *s = bsnn_scheduler_create(n);
    if (s == NULL) die("scheduler");
    if (batch >= n)
        bsnn_scheduler_set(s, BSNN_SCHED_FULL_BATCH, 1);
    else if (bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, (double)batch) != BSNN_OK)
        die("batch size");
    bsnn_scheduler_set(s, BSNN_SCHED_SHUFFLE, st->playground ? 0 : 1);
    bsnn_scheduler_set(s, BSNN_SCHED_CARRY_OVER, st->playground);
    bsnn_scheduler_set_seed(s, seed);
    return s;
}

static void result_init(run_result *r, size_t batch, double lr, uint64_t seed)
{
    memset(r, 0, sizeof *r);
    r->batch = batch, r->lr = lr, r->seed = seed;
    r->S = r->E = r->seconds = r->bs_target = NAN;
    for (int i = 0; i < 12; i++) r->ms[i] = NAN;
}

/* Train at (batch, lr, seed) until the check-set loss reaches the target
 * (or cap updates, or the sample budget); optionally measure the noise
 * scale at the parameters where it stopped. */
static void run_to_target(run_result *r, const study *st, size_t batch, double lr, uint64_t seed,
                          size_t cap, int measure)
{
    result_init(r, batch, lr, seed);
    bsnn_model *m = st->net(seed);
    if (batch >= st->noise_min_batch && batch >= 2)
        bsnn_model_set(m, BSNN_MODEL_NOISE_ROUTE, BSNN_NOISE_PER_SAMPLE);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    if (opt == NULL || bsnn_optimizer_set(opt, BSNN_OPT_LR, lr) != BSNN_OK) die("optimizer");
    size_t n = bsnn_dataset_size(st->train);
    bsnn_scheduler *s = study_scheduler(st, n, batch, seed);
    watch w = {.st = st, .r = r, .m = m, .ws = bsnn_workspace_create(m), .next = 1, .cap = cap};
    watch_point(&w, 0);
    w.t_mark = ex_now();
    bsnn_status rc = bsnn_model_train(NULL, m, opt, s, st->train, (size_t)1 << 30, watch_cb, &w);
    if (rc == BSNN_E_DIVERGED)
        r->diverged = 1;
    else if (rc != BSNN_OK)
        die("train to target");
    if (measure && r->reached && st->measure &&
        bsnn_model_noise_measure(r->ms, 12, m, st->measure, BSNN_NOISE_PER_SAMPLE,
                                 st->measure_batch, st->measure_batches, seed) != BSNN_OK)
        die("noise measurement");
    bsnn_workspace_free(w.ws);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
}

/* ---- tuning the learning rate per batch size, then the other seeds -------------- */

typedef struct tune_job {
    const study *st;
    size_t batch;
    run_result tried[12];
    int n_tried, best;        /* best: index into tried (-1: none reached) */
    int k_best;               /* its grid index */
} tune_job;

static int faster(const run_result *a, const run_result *b)
{
    return a->reached && (!b->reached || a->S < b->S);
}

/* Seed 1 at grid index k, capped at 1.5 x the best S so far (beyond that
 * it cannot win). Returns 1 if it became the best. */
static int tune_try(tune_job *j, int k)
{
    const study *st = j->st;
    run_result *best = j->best >= 0 ? &j->tried[j->best] : NULL;
    size_t cap = best && best->reached ? (size_t)ceil(1.5 * best->S) + 1 : st->max_updates;
    run_result *r = &j->tried[j->n_tried];
    run_to_target(r, st, j->batch, st->grid[k], 1, cap, 0);
    j->n_tried++;
    if (best == NULL || faster(r, best)) {
        j->best = j->n_tried - 1;
        j->k_best = k;
        return 1;
    }
    return 0;
}

/* From the centre of the grid walk down while it gets faster, else up. */
static void tune_batch(void *arg)
{
    tune_job *j = arg;
    const study *st = j->st;
    double t0 = ex_now();
    j->best = -1;
    int k = st->lr_center(j->batch);
    tune_try(j, k);
    int down = 0;
    for (int d = k - 1; d >= 0 && j->n_tried < 11 && tune_try(j, d); d--) down = 1;
    if (!down)
        for (int u = k + 1; u < st->n_grid && j->n_tried < 11 && tune_try(j, u); u++) continue;
    run_result *b = j->best >= 0 ? &j->tried[j->best] : NULL;
    LOCKED_PRINTF("  [%6.1fs] %s batch %5zu: lr %-6g %s S %7.0f  E %9.0f  (%d lrs tried, %.1f s)\n",
                  ex_now() - t_start, st->slug, j->batch, b ? b->lr : NAN,
                  b && b->reached ? "reached" : "NOT reached", b ? b->S : NAN, b ? b->E : NAN,
                  j->n_tried, ex_now() - t0);
}

typedef struct seed_job {
    const study *st;
    size_t batch;
    double lr;
    uint64_t seed;
    size_t cap;
    int measure;
    run_result r;
} seed_job;

static void seed_run(void *arg)
{
    seed_job *j = arg;
    run_to_target(&j->r, j->st, j->batch, j->lr, j->seed, j->cap, j->measure);
}

/* ---- the adaptive batch size as its own run --------------------------------------- */

typedef struct adaptive_job {
    const study *st;
    uint64_t seed;
    double lr;
    run_result r;
} adaptive_job;

/* The adaptive schedule changes the batch once per scheduler epoch; the
 * training rows are cut into shards of st->shard rows that one scheduler
 * runs through in turn, so the batch can adapt every shard (all the rows
 * are still used, each shard reshuffled on each pass). */
static void adaptive_run(void *arg)
{
    adaptive_job *j = arg;
    const study *st = j->st;
    run_result *r = &j->r;
    result_init(r, st->adapt_start, j->lr, j->seed);
    size_t n = bsnn_dataset_size(st->train), rows = st->shard ? st->shard : n;
    size_t k = n / rows, ni = bsnn_dataset_n_inputs(st->train), no = bsnn_dataset_n_targets(st->train);
    bsnn_dataset *shard[16];
    for (size_t i = 0; i < k && i < 16; i++)
        shard[i] = bsnn_dataset_wrap(bsnn_dataset_inputs(st->train) + i * rows * ni,
                                     bsnn_dataset_targets(st->train) + i * rows * no, rows, ni, no);
    bsnn_model *m = st->net(j->seed);
    bsnn_model_set(m, BSNN_MODEL_NOISE_ROUTE, BSNN_NOISE_PER_SAMPLE);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    bsnn_optimizer_set(opt, BSNN_OPT_LR, j->lr);
    bsnn_scheduler *s = study_scheduler(st, rows, st->adapt_start, j->seed);
    bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SCHEDULE, BSNN_BATCH_ADAPTIVE);
    bsnn_scheduler_set(s, BSNN_SCHED_BATCH_MIN, (double)st->adapt_min);
    bsnn_scheduler_set(s, BSNN_SCHED_BATCH_POW2, 1);
    bsnn_scheduler_set(s, BSNN_SCHED_LR_SCALING, BSNN_SCALE_ADASCALE);
    bsnn_scheduler_set(s, BSNN_SCHED_BASE_BATCH, (double)st->adapt_start);
    watch w = {.st = st, .r = r, .m = m, .s = s, .ws = bsnn_workspace_create(m), .next = 1,
               .cap = st->max_updates};
    watch_point(&w, 0);
    w.t_mark = ex_now();
    for (size_t e = 0; !w.stop; e++) {
        size_t steps = 0;
        bsnn_status rc = bsnn_model_train(&steps, m, opt, s, k ? shard[e % k] : st->train, 1,
                                          watch_cb, &w);
        if (rc == BSNN_E_DIVERGED) {
            r->diverged = 1;
            break;
        }
        if (rc != BSNN_OK) die("adaptive run");
        w.step_base += steps;
    }
    if (st->measure && r->reached)
        bsnn_model_noise_measure(r->ms, 12, m, st->measure, BSNN_NOISE_PER_SAMPLE,
                                 st->measure_batch, st->measure_batches, j->seed);
    for (size_t i = 0; i < k && i < 16; i++) bsnn_dataset_free(shard[i]);
    bsnn_workspace_free(w.ws);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
}

/* ---- the fit (S/S_min - 1)(E/E_min - 1) = 1 ---------------------------------------- */

/* On that curve S = S_min + E_min / B at batch B (E = B S): least squares
 * on log S over every run that reached the target, by a grid search in
 * (log S_min, log E_min) refined four times. */
typedef struct fit {
    double s_min, e_min, b_crit, rms, worst; /* rms and worst |log10 residual| */
} fit;

static double fit_cost(const double *b, const double *sv, size_t n, double ls, double le)
{
    double c = 0;
    for (size_t i = 0; i < n; i++) {
        double d = log(sv[i]) - log(exp(ls) + exp(le) / b[i]);
        c += d * d;
    }
    return c;
}

static fit fit_frontier(const double *b, const double *sv, size_t n)
{
    double smin = INFINITY, emin = INFINITY;
    for (size_t i = 0; i < n; i++) {
        smin = fmin(smin, sv[i]);
        emin = fmin(emin, sv[i] * b[i]);
    }
    double cs = log(smin), ce = log(emin), span = 3.0, best = INFINITY;
    for (int round = 0; round < 5; round++, span /= 8) {
        double bs = cs, be = ce;
        for (int i = -40; i <= 40; i++)
            for (int k = -40; k <= 40; k++) {
                double ls = cs + span * i / 40, le = ce + span * k / 40;
                double c = fit_cost(b, sv, n, ls, le);
                if (c < best) best = c, bs = ls, be = le;
            }
        cs = bs, ce = be;
    }
    fit f = {exp(cs), exp(ce), exp(ce) / exp(cs), 0, 0};
    for (size_t i = 0; i < n; i++) {
        double r = log10(sv[i] / (f.s_min + f.e_min / b[i]));
        f.rms += r * r / (double)n;
        f.worst = fmax(f.worst, fabs(r));
    }
    f.rms = sqrt(f.rms);
    return f;
}

/* ---- running a whole task ------------------------------------------------------------ */

typedef struct study_out {
    tune_job tune[CR_MAX_SIZES];
    seed_job seeds[CR_MAX_SIZES][CR_MAX_SEEDS]; /* [0]: the tuning's seed-1 run, re-run */
    adaptive_job adaptive[CR_MAX_SEEDS];
    double S_med[CR_MAX_SIZES], E_med[CR_MAX_SIZES], S_lo[CR_MAX_SIZES], S_hi[CR_MAX_SIZES];
    double E_lo[CR_MAX_SIZES], E_hi[CR_MAX_SIZES];
    int n_reached[CR_MAX_SIZES];
    double aS, aE, aS_lo, aS_hi, aE_lo, aE_hi; /* adaptive: median and range */
    fit f;
    double lr_best[CR_MAX_SIZES];
} study_out;

static double med(double *v, size_t n, double q) { return n ? ex_quantile(v, n, q) : NAN; }

/* Median and range of S and E over runs r[0..n) that reached. */
static int summarise(const run_result *const *r, int n, double *sm, double *em, double *slo,
                     double *shi, double *elo, double *ehi)
{
    double sv[CR_MAX_SEEDS], ev[CR_MAX_SEEDS];
    int k = 0;
    for (int i = 0; i < n; i++)
        if (r[i]->reached) sv[k] = r[i]->S, ev[k] = r[i]->E, k++;
    *sm = med(sv, (size_t)k, 0.5), *slo = med(sv, (size_t)k, 0), *shi = med(sv, (size_t)k, 1);
    *em = med(ev, (size_t)k, 0.5), *elo = med(ev, (size_t)k, 0), *ehi = med(ev, (size_t)k, 1);
    return k;
}

static void run_study(study_out *o, const study *st)
{
    memset(o, 0, sizeof *o);
    /* 1. the learning rate of every size on seed 1, largest sizes first
     *    (the longest jobs) */
    for (int i = 0; i < st->n_sizes; i++) {
        o->tune[i].st = st;
        o->tune[i].batch = st->sizes[st->n_sizes - 1 - i];
    }
    pool_run(o->tune, sizeof o->tune[0], (size_t)st->n_sizes, tune_batch, pool_workers);
    /* 2. the other seeds at the chosen rate; seed 1 again with the
     *    measurement at the target (the same run: the same S and E) */
    static seed_job jobs[CR_MAX_SIZES * CR_MAX_SEEDS];
    size_t nj = 0;
    for (int i = 0; i < st->n_sizes; i++) {
        const tune_job *t = &o->tune[i];
        int idx = st->n_sizes - 1 - i;
        o->lr_best[idx] = NAN;
        if (t->best < 0 || !t->tried[t->best].reached) continue;
        const run_result *b = &t->tried[t->best];
        o->lr_best[idx] = b->lr;
        for (int sd = 0; sd < st->seeds; sd++)
            jobs[nj++] = (seed_job){.st = st, .batch = t->batch, .lr = b->lr,
                                    .seed = (uint64_t)sd + 1, .cap = (size_t)ceil(3 * b->S) + 10,
                                    .measure = sd == 0 && st->measure != NULL};
    }
    pool_run(jobs, sizeof jobs[0], nj, seed_run, pool_workers);
    for (size_t k = 0; k < nj; k++)
        for (int i = 0; i < st->n_sizes; i++)
            if (st->sizes[i] == jobs[k].batch) o->seeds[i][jobs[k].seed - 1] = jobs[k];
    /* 3. the adaptive runs, from the smallest tuned size's neighbourhood */
    double lr0 = NAN;
    for (int i = 0; i < st->n_sizes; i++)
        if (st->sizes[i] == st->adapt_start) lr0 = o->lr_best[i];
    for (int sd = 0; sd < st->seeds; sd++)
        o->adaptive[sd] = (adaptive_job){.st = st, .seed = (uint64_t)sd + 1, .lr = lr0};
    if (isfinite(lr0))
        pool_run(o->adaptive, sizeof o->adaptive[0], (size_t)st->seeds, adaptive_run, pool_workers);
    /* summaries and the fit over every run that reached */
    double fb[CR_MAX_SIZES * CR_MAX_SEEDS], fs[CR_MAX_SIZES * CR_MAX_SEEDS];
    size_t nf = 0;
    for (int i = 0; i < st->n_sizes; i++) {
        const run_result *rr[CR_MAX_SEEDS];
        for (int sd = 0; sd < st->seeds; sd++) {
            rr[sd] = &o->seeds[i][sd].r;
            if (rr[sd]->reached && rr[sd]->batch) fb[nf] = (double)st->sizes[i], fs[nf++] = rr[sd]->S;
        }
        o->n_reached[i] = isfinite(o->lr_best[i]) ? summarise(rr, st->seeds, &o->S_med[i], &o->E_med[i],
                                                            &o->S_lo[i], &o->S_hi[i], &o->E_lo[i],
                                                            &o->E_hi[i])
                                                  : 0;
    }
    o->f = fit_frontier(fb, fs, nf);
    const run_result *ar[CR_MAX_SEEDS];
    for (int sd = 0; sd < st->seeds; sd++) ar[sd] = &o->adaptive[sd].r;
    summarise(ar, st->seeds, &o->aS, &o->aE, &o->aS_lo, &o->aS_hi, &o->aE_lo, &o->aE_hi);
}

/* ---- outputs ------------------------------------------------------------------------ */

static void study_csv(const study_out *o, const study *st)
{
    char name[96];
    snprintf(name, sizeof name, "critical_%s_tuning.csv", st->slug);
    FILE *f = out_file(name);
    fprintf(f, "batch,lr,seed,reached,diverged,updates_S,samples_E,train_seconds\n");
    for (int i = 0; i < st->n_sizes; i++)
        for (int k = 0; k < o->tune[i].n_tried; k++) {
            const run_result *r = &o->tune[i].tried[k];
            fprintf(f, "%zu,%g,1,%d,%d,%.1f,%.0f,%.3f\n", r->batch, r->lr, r->reached, r->diverged,
                    r->S, r->E, r->seconds);
        }
    fclose(f);
    snprintf(name, sizeof name, "critical_%s.csv", st->slug);
    f = out_file(name);
    fprintf(f, "run,batch,lr,seed,reached,updates_S,samples_E,train_seconds,b_simple_running,"
               "b_simple_measured,b_simple_se,grad_sq,trace,fit_S,log10_residual\n");
    for (int i = 0; i < st->n_sizes; i++)
        for (int sd = 0; sd < st->seeds; sd++) {
            const run_result *r = &o->seeds[i][sd].r;
            if (r->batch == 0) continue;
            double fitS = o->f.s_min + o->f.e_min / (double)r->batch;
            fprintf(f, "fixed,%zu,%g,%llu,%d,%.1f,%.0f,%.3f,%.4g,%.4g,%.3g,%.5g,%.5g,%.1f,%.4f\n",
                    r->batch, r->lr, (unsigned long long)r->seed, r->reached, r->S, r->E, r->seconds,
                    r->bs_target, r->ms[2], r->ms[5], r->ms[0], r->ms[1], fitS,
                    r->reached ? log10(r->S / fitS) : NAN);
        }
    for (int sd = 0; sd < st->seeds; sd++) {
        const run_result *r = &o->adaptive[sd].r;
        fprintf(f, "adaptive,%zu,%g,%llu,%d,%.1f,%.0f,%.3f,%.4g,%.4g,%.3g,%.5g,%.5g,,\n", r->batch,
                r->lr, (unsigned long long)r->seed, r->reached, r->S, r->E, r->seconds, r->bs_target,
                r->ms[2], r->ms[5], r->ms[0], r->ms[1]);
    }
    fclose(f);
    snprintf(name, sizeof name, "critical_%s_curves.csv", st->slug);
    f = out_file(name);
    fprintf(f, "run,batch,seed,updates,samples,epochs,check_loss,check_accuracy,b_simple,"
               "current_batch,train_seconds\n");
    double n = (double)bsnn_dataset_size(st->train);
    for (int i = 0; i < st->n_sizes; i++) {
        const run_result *r = &o->seeds[i][0].r;
        for (size_t k = 0; k < r->n_pts; k++)
            fprintf(f, "fixed,%zu,1,%.0f,%.0f,%.5f,%.5f,%.4f,%.5g,%.0f,%.3f\n", r->batch,
                    r->pt_updates[k], r->pt_samples[k], r->pt_samples[k] / n, r->pt_loss[k],
                    r->pt_acc[k], r->pt_bs[k], r->pt_batch[k], r->pt_sec[k]);
    }
    for (int sd = 0; sd < st->seeds; sd++) {
        const run_result *r = &o->adaptive[sd].r;
        for (size_t k = 0; k < r->n_pts; k++)
            fprintf(f, "adaptive,%zu,%llu,%.0f,%.0f,%.5f,%.5f,%.4f,%.5g,%.0f,%.3f\n", r->batch,
                    (unsigned long long)r->seed, r->pt_updates[k], r->pt_samples[k],
                    r->pt_samples[k] / n, r->pt_loss[k], r->pt_acc[k], r->pt_bs[k], r->pt_batch[k],
                    r->pt_sec[k]);
    }
    fclose(f);
}

/* The frontier's E for a given S (S > S_min): E_min S' / (S' - 1), S' = S / S_min. */
static double frontier_E(const fit *f, double S)
{
    double s = S / f->s_min;
    return s > 1 ? f->e_min * s / (s - 1) : INFINITY;
}

static void study_svg(const study_out *o, const study *st)
{
    char name[96], title[256], lab[128];
    snprintf(name, sizeof name, "critical_%s.svg", st->slug);
    snprintf(title, sizeof title,
             "%s: updates S and samples E to reach check-set loss %g (median and range over %d seeds)",
             st->name, st->target, st->seeds);
    svg_file s;
    open_svg(&s, name, 1040, 460, title);
    /* ranges from the data */
    double e0 = INFINITY, e1 = 0, s0 = INFINITY, s1 = 0;
    for (int i = 0; i < st->n_sizes; i++)
        if (o->n_reached[i]) {
            e0 = fmin(e0, o->E_lo[i]), e1 = fmax(e1, o->E_hi[i]);
            s0 = fmin(s0, o->S_lo[i]), s1 = fmax(s1, o->S_hi[i]);
        }
    if (isfinite(o->aS)) e0 = fmin(e0, o->aE_lo), e1 = fmax(e1, o->aE_hi), s0 = fmin(s0, o->aS_lo), s1 = fmax(s1, o->aS_hi);
    e0 = fmin(e0, o->f.e_min), s0 = fmin(s0, o->f.s_min);
    e0 = pow(10, floor(log10(e0 * 0.7) * 2) / 2), e1 = pow(10, ceil(log10(e1 * 1.4) * 2) / 2);
    s0 = pow(10, floor(log10(s0 * 0.7) * 2) / 2), s1 = pow(10, ceil(log10(s1 * 1.4) * 2) / 2);
    svg_panel p;
    svg_panel_begin_ex(&p, &s, 70, 44, 420, 290, e0, e1, s0, s1, SVG_LOG125, SVG_LOG125,
                       "S against E, one point per batch size", "samples E (log)",
                       "updates S (log)");
    /* the fitted frontier S = S_min (1 + B_crit/B), E = E_min (1 + B/B_crit) */
    double fx[200], fy[200];
    for (int i = 0; i < 200; i++) {
        double b = o->f.b_crit * pow(10, -4 + 8.0 * i / 199);
        fx[i] = o->f.e_min * (1 + b / o->f.b_crit), fy[i] = o->f.s_min * (1 + o->f.b_crit / b);
    }
    svg_line(&p, fx, fy, 200, "#555", 1.5, 0);
    double hx[2] = {e0, e1}, hy[2] = {o->f.s_min, o->f.s_min}, vx[2] = {o->f.e_min, o->f.e_min},
           vy[2] = {s0, s1};
    svg_line(&p, hx, hy, 2, "#999", 1, 1);
    svg_line(&p, vx, vy, 2, "#999", 1, 1);
    double cx = 2 * o->f.e_min, cy = 2 * o->f.s_min;
    svg_marker(&p, &cx, &cy, 1, "#000", SVG_SQUARE, 4);
    double px[CR_MAX_SIZES], py[CR_MAX_SIZES], pxl[CR_MAX_SIZES], pxh[CR_MAX_SIZES],
        pyl[CR_MAX_SIZES], pyh[CR_MAX_SIZES];
    size_t np = 0;
    for (int i = 0; i < st->n_sizes; i++) {
        if (!o->n_reached[i]) continue;
        px[np] = o->E_med[i], py[np] = o->S_med[i], pxl[np] = o->E_lo[i], pxh[np] = o->E_hi[i];
        pyl[np] = o->S_lo[i], pyh[np] = o->S_hi[i];
        snprintf(lab, sizeof lab, "%zu", st->sizes[i]);
        /* alternately above and below: neighbours can sit close */
        svg_label(&p, px[np], py[np], 6, np % 2 ? 13 : -5, "start", lab);
        np++;
    }
    svg_errbars(&p, px, py, pxl, pxh, pyl, pyh, np, svg_palette[0]);
    svg_marker(&p, px, py, np, svg_palette[0], SVG_CIRCLE, 4);
    if (isfinite(o->aS)) {
        double ax = o->aE, ay = o->aS, axl = o->aE_lo, axh = o->aE_hi, ayl = o->aS_lo, ayh = o->aS_hi;
        svg_errbars(&p, &ax, &ay, &axl, &axh, &ayl, &ayh, 1, svg_palette[1]);
        svg_marker(&p, &ax, &ay, 1, svg_palette[1], SVG_DIAMOND, 5);
    }
    p.legend_corner = SVG_BELOW;
    svg_legend_marker(&p, "fixed batch, bars: range", svg_palette[0], SVG_CIRCLE);
    snprintf(lab, sizeof lab, "adaptive, from batch %zu", st->adapt_start);
    svg_legend_marker(&p, lab, svg_palette[1], SVG_DIAMOND);
    snprintf(lab, sizeof lab, "fit: S_min %.0f, E_min %.0f", o->f.s_min, o->f.e_min);
    svg_legend(&p, lab, "#555", 0);
    svg_legend(&p, "asymptotes S_min, E_min", "#999", 1);
    snprintf(lab, sizeof lab, "B_crit = E_min/S_min = %.0f: (2 E_min, 2 S_min)", o->f.b_crit);
    svg_legend_marker(&p, lab, "#000", SVG_SQUARE);
    /* panel 2: B_simple while training */
    double n = (double)bsnn_dataset_size(st->train), x1 = 0, y0 = INFINITY, y1 = 0;
    for (int i = 0; i < st->n_sizes; i++) {
        const run_result *r = &o->seeds[i][0].r;
        for (size_t k = 1; k < r->n_pts; k++)
            if (isfinite(r->pt_bs[k]) && r->pt_bs[k] > 0) {
                x1 = fmax(x1, r->pt_samples[k] / n);
                y0 = fmin(y0, r->pt_bs[k]), y1 = fmax(y1, r->pt_bs[k]);
            }
    }
    const run_result *ad = &o->adaptive[0].r;
    for (size_t k = 1; k < ad->n_pts; k++)
        if (isfinite(ad->pt_bs[k]) && ad->pt_bs[k] > 0) {
            x1 = fmax(x1, ad->pt_samples[k] / n);
            y0 = fmin(y0, fmin(ad->pt_bs[k], ad->pt_batch[k]));
            y1 = fmax(y1, fmax(ad->pt_bs[k], ad->pt_batch[k]));
        }
    y0 = fmin(y0, o->f.b_crit), y1 = fmax(y1, o->f.b_crit);
    if (!isfinite(y0)) y0 = 1, y1 = 10, x1 = 1;
    double xlo = pow(10, floor(log10(fmax(1.0 / n, 1e-3)))), ylo = pow(10, floor(log10(y0 * 0.8))),
           yhi = pow(10, ceil(log10(y1 * 1.25)));
    svg_panel q;
    snprintf(title, sizeof title, "B_simple while training (seed 1; per-sample route)");
    svg_panel_begin_ex(&q, &s, 600, 44, 400, 290, xlo, pow(10, ceil(log10(x1 * 1.1))), ylo, yhi,
                       SVG_LOG125, SVG_LOG125, title, "epochs (log)", "B_simple, batch size (log)");
    q.legend_corner = SVG_BELOW;
    double bx[2] = {xlo, pow(10, ceil(log10(x1 * 1.1)))}, by[2] = {o->f.b_crit, o->f.b_crit};
    svg_line(&q, bx, by, 2, "#000", 1.2, 1);
    int col = 2;
    for (int i = 0; i < st->n_sizes; i++) {
        const run_result *r = &o->seeds[i][0].r;
        if (r->batch < st->noise_min_batch || r->n_pts < 3 || (i % 2) != (st->n_sizes - 1) % 2)
            continue;
        double xs[CURVE_MAX], ys[CURVE_MAX];
        size_t m = 0;
        for (size_t k = 1; k < r->n_pts; k++)
            if (isfinite(r->pt_bs[k]) && r->pt_bs[k] > 0)
                xs[m] = r->pt_samples[k] / n, ys[m++] = r->pt_bs[k];
        const char *c = svg_palette[col++ % 8];
        svg_line(&q, xs, ys, m, c, 1.6, 0);
        snprintf(lab, sizeof lab, "fixed batch %zu", r->batch);
        svg_legend(&q, lab, c, 0);
    }
    if (ad->n_pts > 2) {
        double xs[CURVE_MAX], ys[CURVE_MAX], zs[CURVE_MAX];
        size_t m = 0;
        for (size_t k = 1; k < ad->n_pts; k++)
            if (isfinite(ad->pt_bs[k]) && ad->pt_bs[k] > 0)
                xs[m] = ad->pt_samples[k] / n, ys[m] = ad->pt_bs[k], zs[m++] = ad->pt_batch[k];
        svg_line(&q, xs, ys, m, svg_palette[1], 2, 0);
        svg_line(&q, xs, zs, m, svg_palette[1], 1.4, 1);
        svg_legend(&q, "adaptive run: B_simple", svg_palette[1], 0);
        svg_legend(&q, "adaptive run: its batch", svg_palette[1], 1);
    }
    snprintf(lab, sizeof lab, "B_crit %.0f (fit, left)", o->f.b_crit);
    svg_legend(&q, lab, "#000", 1);
    svg_close(&s);
}

/* Print the task's table and its summary lines. */
static void study_report(const study_out *o, const study *st)
{
    printf("  %6s %7s %9s %17s %11s %21s %9s\n", "batch", "lr", "S (med)", "S range", "E (med)",
           "E range", "resid");
    for (int i = 0; i < st->n_sizes; i++) {
        if (!o->n_reached[i]) {
            printf("  %6zu   never reached the target\n", st->sizes[i]);
            SUMMARY("%s batch %zu never reached the target", st->slug, st->sizes[i]);
            continue;
        }
        double fitS = o->f.s_min + o->f.e_min / (double)st->sizes[i];
        printf("  %6zu %7g %9.0f %8.0f..%-8.0f %11.0f %10.0f..%-10.0f %+8.3f\n", st->sizes[i],
               o->lr_best[i], o->S_med[i], o->S_lo[i], o->S_hi[i], o->E_med[i], o->E_lo[i],
               o->E_hi[i], log10(o->S_med[i] / fitS));
    }
    printf("  fit: S_min %.0f, E_min %.0f, B_crit %.1f; residuals (log10 S) rms %.3f, worst %.3f\n",
           o->f.s_min, o->f.e_min, o->f.b_crit, o->f.rms, o->f.worst);
    SUMMARY("%s fit: S_min %.0f  E_min %.0f  B_crit %.1f  log10 residuals rms %.3f worst %.3f",
            st->slug, o->f.s_min, o->f.e_min, o->f.b_crit, o->f.rms, o->f.worst);
    /* B_simple at the target: the measurement (seed 1 of each size) */
    double bm[CR_MAX_SIZES], br[CR_MAX_SIZES * CR_MAX_SEEDS];
    size_t nm = 0, nr = 0;
    for (int i = 0; i < st->n_sizes; i++) {
        const run_result *r = &o->seeds[i][0].r;
        if (isfinite(r->ms[2])) {
            bm[nm++] = r->ms[2];
            printf("  batch %5zu at the target: measured B_simple %.1f +- %.1f (|G|^2 %.4g, tr %.4g)"
                   ", running %.1f\n",
                   r->batch, r->ms[2], r->ms[5], r->ms[0], r->ms[1], r->bs_target);
        }
        for (int sd = 0; sd < st->seeds; sd++) {
            const run_result *q = &o->seeds[i][sd].r;
            if (q->batch >= st->noise_min_batch && q->reached && isfinite(q->bs_target))
                br[nr++] = q->bs_target;
        }
    }
    double mmed = med(bm, nm, 0.5), mlo = med(bm, nm, 0), mhi = med(bm, nm, 1);
    double rmed = med(br, nr, 0.5), rlo = med(br, nr, 0), rhi = med(br, nr, 1);
    printf("  B_simple at the target: measured median %.1f [%.1f..%.1f] over %zu sizes, running "
           "median %.1f [%.1f..%.1f] over %zu runs; B_crit %.1f: ratio B_simple/B_crit %.2f\n",
           mmed, mlo, mhi, nm, rmed, rlo, rhi, nr, o->f.b_crit, mmed / o->f.b_crit);
    SUMMARY("%s B_simple at the target: measured %.1f [%.1f..%.1f], running %.1f [%.1f..%.1f]; "
            "B_crit %.1f; B_simple/B_crit %.2f",
            st->slug, mmed, mlo, mhi, rmed, rlo, rhi, o->f.b_crit, mmed / o->f.b_crit);
    if (isfinite(o->aS)) {
        /* the adaptive run against the frontier and the best fixed size */
        double eF = frontier_E(&o->f, o->aS), sF = o->f.s_min + o->f.e_min / (o->aE / o->aS);
        int best = -1;
        for (int i = 0; i < st->n_sizes; i++)
            if (o->n_reached[i] && o->E_med[i] <= o->aE * 1.0001 && (best < 0 || o->S_med[i] < o->S_med[best]))
                best = i;
        printf("  adaptive (start %zu, AdaScale): S %.0f [%.0f..%.0f], E %.0f [%.0f..%.0f]; E / "
               "frontier E at its S %.2f; S / frontier S at its mean batch %.2f\n",
               st->adapt_start, o->aS, o->aS_lo, o->aS_hi, o->aE, o->aE_lo, o->aE_hi, o->aE / eF,
               o->aS / sF);
        SUMMARY("%s adaptive: S %.0f E %.0f, E/frontier %.2f, S/frontier %.2f%s", st->slug, o->aS,
                o->aE, o->aE / eF, o->aS / sF, "");
        if (best >= 0) {
            printf("  best fixed size using no more samples: batch %zu, S %.0f, E %.0f\n",
                   st->sizes[best], o->S_med[best], o->E_med[best]);
            SUMMARY("%s best fixed batch within the adaptive run's samples: %zu (S %.0f, E %.0f)",
                    st->slug, st->sizes[best], o->S_med[best], o->E_med[best]);
        }
    } else {
        printf("  adaptive run: did not reach the target\n");
        SUMMARY("%s adaptive run did not reach the target", st->slug);
    }
}

/* ---- the two tasks ------------------------------------------------------------------ */

/* Fashion-MNIST: 784-256-128-10 ReLU (He uniform), softmax cross-entropy. */
static bsnn_model *fashion_net(uint64_t seed)
{
    bsnn_model *m = bsnn_model_create(784);
    add_dense(m, 256, BSNN_INIT_HE_UNIFORM, 0, 0, 0);
    add_act(m, BSNN_ACT_RELU);
    add_dense(m, 128, BSNN_INIT_HE_UNIFORM, 0, 0, 0);
    add_act(m, BSNN_ACT_RELU);
    add_dense(m, 10, BSNN_INIT_HE_UNIFORM, 0, 0, 0);
    set_loss(m, BSNN_LOSS_SOFTMAX_CE);
    if (bsnn_model_init_params(m, seed) != BSNN_OK) die("init");
    return m;
}

/* The spiral network of part 3, with the seed as its initialisation. */
static bsnn_model *spiral_net(uint64_t seed) { return playground_net(seed); }

/* Grid index to start from: Fashion 0.05 at batch 8, one step (x2) up per
 * factor 4 of the batch, at most 0.4; spiral 0.03 at batch 1, one step
 * (x3.16) up per factor 4, at most 3. */
static int fashion_center(size_t b)
{
    int k = 2 + (int)floor(log2((double)b / 8.0) / 2.0 + 0.5);
    return k > 5 ? 5 : k;
}

static int spiral_center(size_t b)
{
    int k = 3 + (int)floor(log2((double)b) / 2.0 + 0.5);
    return k > 7 ? 7 : k;
}

typedef struct fashion_data {
    bsnn_dataset *train, *val, *test, *check, *measure;
    int ok;
} fashion_data;

static fashion_data fdata;

/* Full Fashion-MNIST: 60,000 training images split 50,000 / 10,000
 * (validation), the 10,000 test images; a fixed part of the validation
 * split is the check set, 10,000 training rows the measurement's rows.
 * QUICK: 10,000 / 2,000, and 2,000 test images. */
static int fashion_load(void)
{
    if (fdata.ok) return 1;
    size_t n_all = quick ? 12000 : 60000;
    bsnn_dataset *all = fm_load("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", n_all);
    fdata.test = fm_load("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", quick ? 2000 : 0);
    if (all == NULL || fdata.test == NULL) {
        bsnn_dataset_free(all);
        bsnn_dataset_free(fdata.test);
        return 0;
    }
    bsnn_dataset *rest = NULL, *unused = NULL;
    if (bsnn_dataset_split(&fdata.train, &fdata.val, all, 5.0 / 6.0, 7) != BSNN_OK ||
        bsnn_dataset_split(&fdata.check, &rest, fdata.val, quick ? 0.5 : 0.2, 3) != BSNN_OK ||
        bsnn_dataset_split(&fdata.measure, &unused, fdata.train, quick ? 0.3 : 0.2, 5) != BSNN_OK)
        die("split");
    bsnn_dataset_free(all);
    bsnn_dataset_free(rest);
    bsnn_dataset_free(unused);
    fdata.ok = 1;
    return 1;
}

static void fashion_free(void)
{
    bsnn_dataset_free(fdata.train);
    bsnn_dataset_free(fdata.val);
    bsnn_dataset_free(fdata.test);
    bsnn_dataset_free(fdata.check);
    bsnn_dataset_free(fdata.measure);
    memset(&fdata, 0, sizeof fdata);
}

static study_out fashion_out, spiral_out;
static int fashion_tuned; /* part 4 ran: part 5 uses its learning rates */

static void critical_fashion(void)
{
    study st = {0};
    st.name = "Fashion-MNIST";
    st.slug = "fashion";
    st.train = fdata.train, st.check = fdata.check, st.measure = fdata.measure;
    st.net = fashion_net;
    st.target = quick ? 0.65 : 0.5;
    st.check_factor = 1.12;
    st.max_updates = 60000;
    st.max_samples = quick ? 4e5 : 2e6;
    st.noise_min_batch = 64;
    st.n_grid = 8;
    for (int k = 0; k < 8; k++) st.grid[k] = 0.0125 * pow(2, k);
    st.lr_center = fashion_center;
    st.n_sizes = quick ? 7 : 10;
    for (int i = 0; i < st.n_sizes; i++) st.sizes[i] = (size_t)8 << i;
    st.seeds = quick ? 1 : 3;
    st.measure_batch = 250;
    st.measure_batches = bsnn_dataset_size(fdata.measure) / 250;
    st.shard = quick ? 2000 : 5000;
    st.adapt_start = 32, st.adapt_min = 8;
    printf("  %zu training rows, check set %zu validation rows, target loss %g; SGD, lr grid "
           "0.0125 x 2^k (k = 0..7); %d seed%s\n",
           bsnn_dataset_size(st.train), bsnn_dataset_size(st.check), st.target, st.seeds,
           st.seeds > 1 ? "s" : "");
    run_study(&fashion_out, &st);
    study_csv(&fashion_out, &st);
    study_svg(&fashion_out, &st);
    study_report(&fashion_out, &st);
    fashion_tuned = 1;
}

static void critical_spiral(void)
{
    bsnn_dataset *all = bsnn_dataset_playground(BSNN_PG_SPIRAL, 500, 0.0, 1, 0);
    bsnn_dataset *feat = bsnn_dataset_features(all, S_FEATS), *tr, *te;
    if (!feat || bsnn_dataset_split(&tr, &te, feat, 0.5, 1) != BSNN_OK) die("spiral data");
    study st = {0};
    st.name = "Playground spiral";
    st.slug = "spiral";
    st.train = tr, st.check = te, st.measure = tr;
    st.net = spiral_net;
    st.playground = 1;
    st.target = 0.1;
    st.check_factor = 1.08;
    st.max_updates = quick ? 30000 : 150000;
    st.max_samples = 4e6;
    st.noise_min_batch = 2;
    st.n_grid = 9;
    for (int k = 0; k < 9; k++) st.grid[k] = 0.001 * pow(10, k / 2.0);
    st.lr_center = spiral_center;
    st.n_sizes = quick ? 7 : 9;
    for (int i = 0; i < st.n_sizes; i++) st.sizes[i] = (size_t)1 << i;
    if (!quick) st.sizes[8] = 250; /* full batch (GD) */
    st.seeds = quick ? 2 : 5;
    st.measure_batch = 25, st.measure_batches = 10; /* all 250 rows, 10 groups */
    st.shard = 0;
    st.adapt_start = 2, st.adapt_min = 2;
    printf("  250 training points, the 250 test points as the check set, target loss %g (1/2 "
           "(o-t)^2); SGD, lr grid 0.001 x 10^(k/2) (k = 0..8); %d seeds\n",
           st.target, st.seeds);
    run_study(&spiral_out, &st);
    study_csv(&spiral_out, &st);
    study_svg(&spiral_out, &st);
    study_report(&spiral_out, &st);
    bsnn_dataset_free(all);
    bsnn_dataset_free(feat);
    bsnn_dataset_free(tr);
    bsnn_dataset_free(te);
}

static void critical_study(void)
{
    printf("\n[4/5] The critical batch size (McCandlish et al. 2018): updates and samples to a "
           "target loss\n");
    printf(" Playground spiral:\n");
    critical_spiral();
    printf(" Fashion-MNIST, 784-256-128-10 relu:\n");
    if (!fashion_load()) {
        printf("  skipped: Fashion-MNIST not readable under %s\n", fashion_dir);
        SUMMARY("critical fashion skipped: data set not found under %s", fashion_dir);
        return;
    }
    critical_fashion();
}

/* ---- part 5: fixed epochs at every size, and the honest search ---------------------- */

typedef struct sweep_job {
    size_t batch;
    double lr;
    uint64_t seed;
    size_t epochs;
    double test_acc, test_loss, sec_per_epoch;
    run_result r; /* its check points (validation accuracy against seconds) */
} sweep_job;

/* The learning rate of a size: part 4's choice, else the grid's centre. */
static double sweep_lr(size_t b)
{
    for (int i = 0; i < CR_MAX_SIZES; i++)
        if (fashion_tuned && fashion_out.tune[i].batch == b && fashion_out.tune[i].best >= 0)
            return fashion_out.tune[i].tried[fashion_out.tune[i].best].lr;
    return 0.0125 * pow(2, fashion_center(b));
}

static void sweep_run(void *arg)
{
    sweep_job *j = arg;
    study st = {0};
    st.train = fdata.train, st.check = fdata.check, st.net = fashion_net;
    st.target = -1; /* never: train the whole budget */
    st.check_factor = 1.15;
    st.max_updates = SIZE_MAX;
    st.max_samples = (double)j->epochs * (double)bsnn_dataset_size(fdata.train);
    st.noise_min_batch = SIZE_MAX;
    run_result *r = &j->r;
    result_init(r, j->batch, j->lr, j->seed);
    bsnn_model *m = fashion_net(j->seed);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    bsnn_optimizer_set(opt, BSNN_OPT_LR, j->lr);
    bsnn_scheduler *s = study_scheduler(&st, bsnn_dataset_size(fdata.train), j->batch, j->seed);
    watch w = {.st = &st, .r = r, .m = m, .ws = bsnn_workspace_create(m), .next = 1,
               .cap = SIZE_MAX};
    watch_point(&w, 0);
    w.t_mark = ex_now();
    if (bsnn_model_train(NULL, m, opt, s, fdata.train, j->epochs, watch_cb, &w) != BSNN_OK)
        die("sweep");
    j->sec_per_epoch = (w.train_seconds + ex_now() - w.t_mark) / (double)j->epochs;
    size_t nt = bsnn_dataset_size(fdata.test);
    if (bsnn_model_evaluate(&j->test_loss, &j->test_acc, m, fdata.test, nt < 1000 ? nt : 1000) !=
        BSNN_OK)
        die("test");
    bsnn_workspace_free(w.ws);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
}

typedef struct search_job {
    size_t epochs, repeats, chosen, best_mean;
    double lr;
    bsnn_search *se;
} search_job;

/* bsnn_search_run from 128 with repeats and the one-SE rule, on the
 * validation accuracy; the learning rate follows the batch by the square
 * root rule from 128's tuned rate. */
static void search_run(void *arg)
{
    search_job *j = arg;
    bsnn_model *m = fashion_net(1);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    bsnn_scheduler *tmpl = bsnn_scheduler_create(bsnn_dataset_size(fdata.train));
    j->se = bsnn_search_create();
    if (!opt || !tmpl || !j->se) die("search");
    bsnn_optimizer_set(opt, BSNN_OPT_LR, j->lr);
    bsnn_scheduler_set(tmpl, BSNN_SCHED_LR_SCALING, BSNN_SCALE_SQRT);
    bsnn_scheduler_set(tmpl, BSNN_SCHED_BASE_BATCH, 128);
    bsnn_search *se = j->se;
    bsnn_search_set(se, BSNN_SEARCH_START, 128);
    bsnn_search_set(se, BSNN_SEARCH_BUDGET_KIND, BSNN_BUDGET_EPOCHS);
    bsnn_search_set(se, BSNN_SEARCH_BUDGET, (double)j->epochs);
    bsnn_search_set(se, BSNN_SEARCH_METRIC, BSNN_METRIC_VAL_ACCURACY);
    bsnn_search_set(se, BSNN_SEARCH_REPEATS, (double)j->repeats);
    bsnn_search_set(se, BSNN_SEARCH_REINIT, 1);
    bsnn_search_set(se, BSNN_SEARCH_RULE, BSNN_RULE_ONE_SE);
    bsnn_search_set_seed(se, 1);
    if (bsnn_search_run(&j->chosen, se, m, opt, fdata.train, fdata.val, tmpl) != BSNN_OK)
        die("search run");
    /* the best mean among the same rows, for comparison */
    double best = -1;
    for (size_t i = 0; i < bsnn_search_count(se); i++) {
        double b, a;
        bsnn_search_result(&b, se, i, BSNN_SEARCH_COL_BATCH);
        bsnn_search_result(&a, se, i, BSNN_SEARCH_COL_VAL_ACCURACY);
        if (a > best) best = a, j->best_mean = (size_t)b;
    }
    bsnn_scheduler_free(tmpl);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
}

/* A job of part 5's pool: the search or one sweep run. */
typedef struct sweep_or_search {
    int is_search;
    void *job;
} sweep_or_search;

static void both_run(void *arg)
{
    sweep_or_search *b = arg;
    if (b->is_search)
        search_run(b->job);
    else
        sweep_run(b->job);
}

/* Seconds (training only) until the check-set accuracy first reaches acc. */
static double seconds_to(const run_result *r, double acc)
{
    for (size_t k = 1; k < r->n_pts; k++)
        if (r->pt_acc[k] >= acc) {
            double a0 = r->pt_acc[k - 1], f = a0 < r->pt_acc[k] ? (acc - a0) / (r->pt_acc[k] - a0) : 1;
            return r->pt_sec[k - 1] + f * (r->pt_sec[k] - r->pt_sec[k - 1]);
        }
    return NAN;
}

#define F_SIZES 10
#define F_SEEDS 3
#define F_ACCS 4

static void fashion_study(void)
{
    printf("\n[5/5] Fashion-MNIST, 784-256-128-10 relu, SGD: fixed epochs at every batch size, "
           "and the honest search\n");
    if (!fashion_load()) {
        printf("  skipped: Fashion-MNIST not readable under %s\n", fashion_dir);
        SUMMARY("fashion skipped: data set not found under %s", fashion_dir);
        return;
    }
    int n_sizes = quick ? 7 : F_SIZES, seeds = quick ? 1 : F_SEEDS;
    size_t epochs = quick ? 1 : 2;
    printf("  %zu training, %zu validation, %zu test images; %zu epochs per size, %d seeds, each "
           "size at %s learning rate\n",
           bsnn_dataset_size(fdata.train), bsnn_dataset_size(fdata.val),
           bsnn_dataset_size(fdata.test), epochs, seeds,
           fashion_tuned ? "its part-4 (tuned)" : "the grid-centre");
    static sweep_job jobs[F_SIZES * F_SEEDS + 1];
    size_t nj = 0;
    search_job sj = {.epochs = epochs, .repeats = quick ? 2 : 3, .lr = sweep_lr(128)};
    for (int i = n_sizes - 1; i >= 0; i--)
        for (int sd = 0; sd < seeds; sd++)
            jobs[nj++] = (sweep_job){.batch = (size_t)8 << i, .lr = sweep_lr((size_t)8 << i),
                                     .seed = (uint64_t)sd + 1, .epochs = epochs};
    /* the search is one long job: start it first, beside the sweep */
    static sweep_or_search all[F_SIZES * F_SEEDS + 1];
    all[0] = (sweep_or_search){1, &sj};
    for (size_t k = 0; k < nj; k++) all[k + 1] = (sweep_or_search){0, &jobs[k]};
    pool_run(all, sizeof all[0], nj + 1, both_run, pool_workers);
    /* per size: mean and sd over seeds */
    double xb[F_SIZES], acc_m[F_SIZES], acc_sd[F_SIZES], sec_m[F_SIZES], sec_sd[F_SIZES];
    const double accs[F_ACCS] = {0.78, 0.80, 0.82, 0.84};
    double tta[F_ACCS][F_SIZES], tlo[F_ACCS][F_SIZES], thi[F_ACCS][F_SIZES];
    FILE *f = out_file("fashion_sweep.csv");
    fprintf(f, "batch,lr,seed,epochs,updates,test_accuracy,test_loss,seconds_per_epoch");
    for (int a = 0; a < F_ACCS; a++) fprintf(f, ",seconds_to_val_acc_%.2f", accs[a]);
    fprintf(f, "\n");
    for (int i = 0; i < n_sizes; i++) {
        size_t b = (size_t)8 << i;
        double av[F_SEEDS], sv[F_SEEDS], tv[F_ACCS][F_SEEDS];
        int k = 0;
        for (size_t q = 0; q < nj; q++) {
            if (jobs[q].batch != b) continue;
            av[k] = jobs[q].test_acc, sv[k] = jobs[q].sec_per_epoch;
            fprintf(f, "%zu,%g,%llu,%zu,%.0f,%.4f,%.4f,%.3f", b, jobs[q].lr,
                    (unsigned long long)jobs[q].seed, epochs,
                    jobs[q].r.n_pts ? jobs[q].r.pt_updates[jobs[q].r.n_pts - 1] : 0.0,
                    jobs[q].test_acc, jobs[q].test_loss, jobs[q].sec_per_epoch);
            for (int a = 0; a < F_ACCS; a++) {
                tv[a][k] = seconds_to(&jobs[q].r, accs[a]);
                fprintf(f, ",%.3f", tv[a][k]);
            }
            fprintf(f, "\n");
            k++;
        }
        xb[i] = (double)b;
        double ma = 0, ms = 0, va = 0, vs = 0;
        for (int q = 0; q < k; q++) ma += av[q] / k, ms += sv[q] / k;
        for (int q = 0; q < k; q++)
            va += (av[q] - ma) * (av[q] - ma), vs += (sv[q] - ms) * (sv[q] - ms);
        acc_m[i] = ma, sec_m[i] = ms;
        acc_sd[i] = k > 1 ? sqrt(va / (k - 1)) : 0, sec_sd[i] = k > 1 ? sqrt(vs / (k - 1)) : 0;
        for (int a = 0; a < F_ACCS; a++) {
            double tmp[F_SEEDS];
            int nr = 0;
            for (int q = 0; q < k; q++)
                if (isfinite(tv[a][q])) tmp[nr++] = tv[a][q];
            /* a median only when most seeds got there */
            tta[a][i] = 2 * nr > k ? med(tmp, (size_t)nr, 0.5) : NAN;
            tlo[a][i] = 2 * nr > k ? med(tmp, (size_t)nr, 0) : NAN;
            thi[a][i] = 2 * nr > k ? med(tmp, (size_t)nr, 1) : NAN;
        }
    }
    fclose(f);
    char path[512];
    snprintf(path, sizeof path, "%s/fashion_search.csv", outdir);
    if (bsnn_search_write_csv(sj.se, path) != BSNN_OK) die("search csv");
    /* figures: accuracy and time per epoch, each on its own axes */
    svg_file s;
    char title[200], lab[96];
    snprintf(title, sizeof title,
             "Fashion-MNIST: %zu epochs at every batch size (mean +- sd over %d seeds, tuned lr)",
             epochs, seeds);
    open_svg(&s, "fashion_sweep.svg", 1000, 380, title);
    double amin = 1, amax = 0, smax = 0;
    for (int i = 0; i < n_sizes; i++) {
        amin = fmin(amin, acc_m[i] - acc_sd[i]), amax = fmax(amax, acc_m[i] + acc_sd[i]);
        smax = fmax(smax, sec_m[i] + sec_sd[i]);
    }
    double lo_a[F_SIZES], hi_a[F_SIZES], lo_s[F_SIZES], hi_s[F_SIZES];
    for (int i = 0; i < n_sizes; i++) {
        lo_a[i] = acc_m[i] - acc_sd[i], hi_a[i] = acc_m[i] + acc_sd[i];
        lo_s[i] = sec_m[i] - sec_sd[i], hi_s[i] = sec_m[i] + sec_sd[i];
    }
    svg_panel pa, pt;
    svg_panel_begin_ex(&pa, &s, 70, 44, 380, 270, 6, xb[n_sizes - 1] * 1.4,
                       floor(amin * 50 - 0.5) / 50, ceil(amax * 50 + 0.5) / 50, SVG_LOG2, SVG_LIN,
                       "test accuracy (10,000 test images)", "batch size (log)", "test accuracy");
    svg_errbars(&pa, xb, acc_m, NULL, NULL, lo_a, hi_a, (size_t)n_sizes, svg_palette[0]);
    svg_line(&pa, xb, acc_m, (size_t)n_sizes, svg_palette[0], 1.5, 0);
    svg_marker(&pa, xb, acc_m, (size_t)n_sizes, svg_palette[0], SVG_CIRCLE, 3.5);
    double cx = (double)sj.chosen, cy = NAN;
    for (int i = 0; i < n_sizes; i++)
        if (xb[i] == cx) cy = acc_m[i];
    if (isfinite(cy)) {
        svg_marker(&pa, &cx, &cy, 1, "#000", SVG_DIAMOND, 6);
        snprintf(lab, sizeof lab, "search (1-SE rule) chose %zu", sj.chosen);
        svg_legend_marker(&pa, lab, "#000", SVG_DIAMOND);
    }
    pa.legend_corner = SVG_BOTTOM_LEFT;
    svg_legend_marker(&pa, "mean, bar = +-1 sd", svg_palette[0], SVG_CIRCLE);
    svg_panel_begin_ex(&pt, &s, 560, 44, 380, 270, 6, xb[n_sizes - 1] * 1.4, 0,
                       ceil(smax * 1.15 * 4) / 4, SVG_LOG2, SVG_LIN,
                       "training seconds per epoch (1 thread, other core busy)", "batch size (log)",
                       "seconds per epoch");
    svg_errbars(&pt, xb, sec_m, NULL, NULL, lo_s, hi_s, (size_t)n_sizes, svg_palette[1]);
    svg_line(&pt, xb, sec_m, (size_t)n_sizes, svg_palette[1], 1.5, 0);
    svg_marker(&pt, xb, sec_m, (size_t)n_sizes, svg_palette[1], SVG_SQUARE, 3.5);
    pt.legend_corner = SVG_BOTTOM_LEFT;
    svg_legend_marker(&pt, "mean, bar = +-1 sd", svg_palette[1], SVG_SQUARE);
    svg_close(&s);
    /* time to accuracy */
    open_svg(&s, "fashion_time.svg", 560, 380,
             "Fashion-MNIST: training seconds to reach a validation accuracy");
    double tmax = 0, tmin = INFINITY;
    for (int a = 0; a < F_ACCS; a++)
        for (int i = 0; i < n_sizes; i++)
            if (isfinite(thi[a][i])) tmax = fmax(tmax, thi[a][i]), tmin = fmin(tmin, tlo[a][i]);
    if (!isfinite(tmin)) tmin = 0.1, tmax = 10;
    svg_panel_begin_ex(&pt, &s, 70, 44, 440, 280, 6, xb[n_sizes - 1] * 1.4,
                       pow(10, floor(log10(fmax(tmin, 1e-3) * 0.8))),
                       pow(10, ceil(log10(tmax * 1.25))), SVG_LOG2, SVG_LOG125,
                       "median (bar: range) over seeds; missing: not reached in the epochs",
                       "batch size (log)", "seconds (log)");
    for (int a = 0; a < F_ACCS; a++) {
        svg_errbars(&pt, xb, tta[a], NULL, NULL, tlo[a], thi[a], (size_t)n_sizes, svg_palette[a + 2]);
        svg_line(&pt, xb, tta[a], (size_t)n_sizes, svg_palette[a + 2], 1.5, 0);
        svg_marker(&pt, xb, tta[a], (size_t)n_sizes, svg_palette[a + 2], SVG_CIRCLE, 3);
        snprintf(lab, sizeof lab, "validation accuracy %.0f%%", 100 * accs[a]);
        svg_legend(&pt, lab, svg_palette[a + 2], 0);
    }
    pt.legend_corner = SVG_TOP_LEFT;
    svg_close(&s);
    /* tables */
    printf("  search trail (batch: mean val acc +- sd, n):");
    for (size_t i = 0; i < bsnn_search_count(sj.se); i++) {
        double b, a, sd, n;
        bsnn_search_result(&b, sj.se, i, BSNN_SEARCH_COL_BATCH);
        bsnn_search_result(&a, sj.se, i, BSNN_SEARCH_COL_VAL_ACCURACY);
        bsnn_search_result(&sd, sj.se, i, BSNN_SEARCH_COL_VAL_ACCURACY_SD);
        bsnn_search_result(&n, sj.se, i, BSNN_SEARCH_COL_N);
        printf(" %g: %.4f+-%.4f (%g)", b, a, sd, n);
    }
    printf("\n  one-SE rule chose %zu; the best mean was %zu\n", sj.chosen, sj.best_mean);
    SUMMARY("fashion search (repeats %zu, one-SE rule): chose %zu; best mean %zu", sj.repeats,
            sj.chosen, sj.best_mean);
    printf("  %6s %7s %17s %17s", "batch", "lr", "test acc", "s/epoch");
    for (int a = 0; a < F_ACCS; a++) printf("  s to %.0f%%", 100 * accs[a]);
    printf("\n");
    for (int i = 0; i < n_sizes; i++) {
        printf("  %6.0f %7g %8.4f+-%.4f %8.3f+-%.3f", xb[i], sweep_lr((size_t)xb[i]), acc_m[i],
               acc_sd[i], sec_m[i], sec_sd[i]);
        for (int a = 0; a < F_ACCS; a++) printf("  %9.2f", tta[a][i]);
        printf("\n");
        SUMMARY("fashion batch %-5.0f test acc %.4f +- %.4f  %.3f +- %.3f s/epoch  to 82%%: %.2f s",
                xb[i], acc_m[i], acc_sd[i], sec_m[i], sec_sd[i], tta[2][i]);
    }
    bsnn_search_free(sj.se);
}

#endif
