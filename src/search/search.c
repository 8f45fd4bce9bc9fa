/*
 * search.c - bsnn_search: the batch-size search. Each candidate batch size
 * trains the same model from the same initial parameters and data order for
 * the same budget (epochs, samples seen or wall time) and is compared on a
 * validation metric; the heuristic halves or doubles from a start size while
 * the result improves. With repeats, each candidate is trained with several
 * data-order seeds (and initialisations), compared on the means, and a
 * choice rule (best mean, or the one-standard-error rule) picks the size.
 * One result row of means per candidate, and every run, readable by index.
 */
#include "search/search.h"

#include <stdio.h>

enum { COLS = 13, TRIAL_COLS = 10 };

struct bsnn_search {
    size_t start;
    int budget_kind, metric;
    double budget;
    size_t memory_budget;
    uint64_t seed;
    size_t repeats;
    int rule, reinit;
    double *rows;   /* COLS per row, bsnn_search_col order: means, n, sds */
    size_t n, cap, best;
    double *trials; /* TRIAL_COLS per training run, rows' runs in order */
    size_t n_trials, cap_trials, row_repeats; /* row_repeats: runs per row */
};

bsnn_search *bsnn_search_create(void)
{
    BSNN_ENTER();
    bsnn_search *se = bsnn__calloc(1, sizeof *se);
    if (se == NULL) return NULL;
    se->start = 128;
    se->budget_kind = BSNN_BUDGET_EPOCHS;
    se->budget = 5.0;
    se->metric = BSNN_METRIC_VAL_LOSS;
    se->repeats = 1;
    se->rule = BSNN_RULE_BEST_MEAN;
    return se;
}

void bsnn_search_free(bsnn_search *se)
{
    if (se == NULL) return;
    bsnn__free(se->rows);
    bsnn__free(se->trials);
    bsnn__free(se);
}

#define BSNN_MAX_EXACT 9007199254740992.0 /* 2^53: integers exact in double */

/* The valid range of each setting: lo..hi with open ends, whole numbers
 * only where `whole`. Index = bsnn_search_param. */
typedef struct search_range {
    const char *name;
    double lo, hi;
    unsigned open;
    int whole;
} search_range;

static const search_range ranges[] = {
    [BSNN_SEARCH_START] = {"start", 1.0, BSNN_MAX_EXACT, 0, 1},
    [BSNN_SEARCH_BUDGET_KIND] = {"budget kind", BSNN_BUDGET_EPOCHS, BSNN_BUDGET_SECONDS, 0, 1},
    [BSNN_SEARCH_BUDGET] = {"budget", 0.0, BSNN_MAX_EXACT, BSNN_BOUND_LO_OPEN, 0},
    [BSNN_SEARCH_METRIC] = {"metric", BSNN_METRIC_VAL_LOSS, BSNN_METRIC_VAL_ACCURACY, 0, 1},
    [BSNN_SEARCH_SEED] = {"seed", 0.0, BSNN_MAX_EXACT, 0, 1},
    [BSNN_SEARCH_MEMORY_BUDGET] = {"memory budget", 0.0, BSNN_MAX_EXACT, 0, 1},
    [BSNN_SEARCH_REPEATS] = {"repeats", 1.0, 10000.0, 0, 1},
    [BSNN_SEARCH_RULE] = {"rule", BSNN_RULE_BEST_MEAN, BSNN_RULE_ONE_SE, 0, 1},
    [BSNN_SEARCH_REINIT] = {"reinit flag", 0.0, 1.0, 0, 1},
};

#define N_RANGES ((int)(sizeof ranges / sizeof ranges[0]))

static const search_range *range_of(int param)
{
    return param >= 1 && param < N_RANGES ? &ranges[param] : NULL;
}

/* The largest value a range admits on this host (a budget is a size_t). */
static double range_hi(int param, const search_range *r)
{
    if (param == BSNN_SEARCH_MEMORY_BUDGET && (double)SIZE_MAX < r->hi) return (double)SIZE_MAX;
    return r->hi;
}

static int in_range(int param, const search_range *r, double v)
{
    double hi = range_hi(param, r);
    return ((r->open & BSNN_BOUND_LO_OPEN) ? v > r->lo : v >= r->lo) &&
           ((r->open & BSNN_BOUND_HI_OPEN) ? v < hi : v <= hi) && (!r->whole || v == floor(v));
}

bsnn_status bsnn_search_set(bsnn_search *se, bsnn_search_param param, double value)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(se);
    const search_range *r = range_of((int)param);
    BSNN_FAIL_IF(r == NULL, BSNN_E_ARG, "unknown setting %d", (int)param);
    BSNN_FAIL_IF(!in_range((int)param, r, value), BSNN_E_ARG, "%s %g is not %sin %c%g, %.0f%c",
                 r->name, value, r->whole ? "a whole number " : "",
                 (r->open & BSNN_BOUND_LO_OPEN) ? '(' : '[', r->lo, range_hi((int)param, r),
                 (r->open & BSNN_BOUND_HI_OPEN) ? ')' : ']');
    switch (param) {
    case BSNN_SEARCH_START: se->start = (size_t)value; break;
    case BSNN_SEARCH_BUDGET_KIND: se->budget_kind = (int)value; break;
    case BSNN_SEARCH_BUDGET: se->budget = value; break;
    case BSNN_SEARCH_METRIC: se->metric = (int)value; break;
    case BSNN_SEARCH_SEED: se->seed = (uint64_t)value; break;
    case BSNN_SEARCH_REPEATS: se->repeats = (size_t)value; break;
    case BSNN_SEARCH_RULE: se->rule = (int)value; break;
    case BSNN_SEARCH_REINIT: se->reinit = (int)value; break;
    default: se->memory_budget = (size_t)value; break; /* BSNN_SEARCH_MEMORY_BUDGET */
    }
    return BSNN_OK;
}

/* An integer setting as a double, refused beyond 2^53 (it would round). */
static bsnn_status exact_double(double *out, uint64_t v, const char *what, const char *typed)
{
    BSNN_FAIL_IF(v > (1ull << 53), BSNN_E_ARG,
                 "the %s %llu is beyond 2^53, where a double is not "
                 "exact: read it with %s",
                 what, (unsigned long long)v, typed);
    *out = (double)v;
    return BSNN_OK;
}

bsnn_status bsnn_search_get(double *out, const bsnn_search *se, bsnn_search_param param)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(se);
    switch (param) {
    case BSNN_SEARCH_START: *out = (double)se->start; break;
    case BSNN_SEARCH_BUDGET_KIND: *out = se->budget_kind; break;
    case BSNN_SEARCH_BUDGET: *out = se->budget; break;
    case BSNN_SEARCH_METRIC: *out = se->metric; break;
    case BSNN_SEARCH_SEED: return exact_double(out, se->seed, "seed", "bsnn_search_get_seed");
    case BSNN_SEARCH_MEMORY_BUDGET:
        return exact_double(out, se->memory_budget, "memory budget",
                            "bsnn_search_get_memory_budget");
    case BSNN_SEARCH_REPEATS: *out = (double)se->repeats; break;
    case BSNN_SEARCH_RULE: *out = se->rule; break;
    case BSNN_SEARCH_REINIT: *out = se->reinit; break;
    default: return bsnn__fail(BSNN_E_ARG, "unknown setting %d", (int)param);
    }
    return BSNN_OK;
}

bsnn_status bsnn_search_bounds(double *out_lo, double *out_hi, unsigned *out_open,
                               const bsnn_search *se, bsnn_search_param param)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out_lo);
    BSNN_CHECK_NULL(out_hi);
    BSNN_CHECK_NULL(out_open);
    BSNN_CHECK_NULL(se);
    const search_range *r = range_of((int)param);
    BSNN_FAIL_IF(r == NULL, BSNN_E_ARG, "unknown setting %d", (int)param);
    *out_lo = r->lo;
    *out_hi = range_hi((int)param, r);
    *out_open = r->open;
    return BSNN_OK;
}

bsnn_status bsnn_search_set_seed(bsnn_search *se, uint64_t seed)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(se);
    se->seed = seed;
    return BSNN_OK;
}

bsnn_status bsnn_search_get_seed(uint64_t *out, const bsnn_search *se)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(se);
    *out = se->seed;
    return BSNN_OK;
}

bsnn_status bsnn_search_set_memory_budget(bsnn_search *se, size_t bytes)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(se);
    se->memory_budget = bytes;
    return BSNN_OK;
}

bsnn_status bsnn_search_get_memory_budget(size_t *out, const bsnn_search *se)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(se);
    *out = se->memory_budget;
    return BSNN_OK;
}

size_t bsnn_search_count(const bsnn_search *se) { return se ? se->n : 0; }
size_t bsnn_search_best(const bsnn_search *se) { return se ? se->best : 0; }

bsnn_status bsnn_search_result(double *out, const bsnn_search *se, size_t row, bsnn_search_col col)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(se);
    BSNN_FAIL_IF(row >= se->n, BSNN_E_ARG, "row %zu is out of range (%zu rows)", row, se->n);
    BSNN_FAIL_IF(col < BSNN_SEARCH_COL_BATCH || col > BSNN_SEARCH_COL_VAL_ACCURACY_SD,
                 BSNN_E_ARG, "unknown column %d", (int)col);
    *out = se->rows[row * COLS + (size_t)col - 1];
    return BSNN_OK;
}

bsnn_status bsnn_search_trial(double *out, const bsnn_search *se, size_t row, size_t repeat,
                              bsnn_search_col col)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(se);
    BSNN_FAIL_IF(row >= se->n, BSNN_E_ARG, "row %zu is out of range (%zu rows)", row, se->n);
    BSNN_FAIL_IF(repeat >= se->row_repeats, BSNN_E_ARG,
                 "repeat %zu is out of range (%zu repeats a row)", repeat, se->row_repeats);
    BSNN_FAIL_IF(col < BSNN_SEARCH_COL_BATCH || col > BSNN_SEARCH_COL_MICRO_BATCH, BSNN_E_ARG,
                 "column %d is not one of a run's (1..%d)", (int)col,
                 BSNN_SEARCH_COL_MICRO_BATCH);
    *out = se->trials[(row * se->row_repeats + repeat) * TRIAL_COLS + (size_t)col - 1];
    return BSNN_OK;
}

static int write_rows(bsnn__text *t, const void *obj)
{
    const bsnn_search *se = obj;
    if (bsnn__text_printf(t, "batch,epochs,updates,train_loss,val_loss,val_accuracy,seconds,"
                             "peak_bytes,accumulated,micro_batch,n,val_loss_sd,"
                             "val_accuracy_sd\n") != 0)
        return -1;
    for (size_t r = 0; r < se->n; r++) {
        const double *v = se->rows + r * COLS;
        if (bsnn__text_printf(t,
                              "%.0f,%.6g,%.6g,%.9g,%.9g,%.9g,%.6f,%.0f,%.6g,%.0f,%.0f,%.9g,%.9g\n",
                              v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10],
                              v[11], v[12]) != 0)
            return -1;
    }
    return 0;
}

bsnn_status bsnn_search_write_csv(const bsnn_search *se, const char *path)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(se);
    BSNN_CHECK_NULL(path);
    return bsnn__write_text_file(path, write_rows, se);
}

/* ---- running candidates ---------------------------------------------------- */

/* Everything a run shares: the objects, the saved starting point, and a
 * scheduler reused by every candidate. */
typedef struct search_run {
    bsnn_search *se;
    bsnn_model *m;
    bsnn_optimizer *opt;
    const bsnn_dataset *train, *val;
    bsnn_scheduler *sched;
    float *params0, *state0;
    bsnn_rng *rng0; /* each layer's generator state (dropout's mask count) */
    bsnn__noise noise0; /* the model's noise estimate, put back at the end */
    int saved; /* every snapshot taken: only then may the model be restored */
} search_run;

/* Budget and train-loss tracking through the training callback. */
typedef struct cand_watch {
    const bsnn_search *se;
    double t0, samples, part_loss, part_samples, last_epoch_loss;
    int epochs_done;
} cand_watch;

static int watch_cb(void *user, bsnn_event ev, size_t epoch, size_t step, size_t n, double loss)
{
    cand_watch *w = user;
    (void)epoch, (void)step;
    if (ev == BSNN_EVENT_EPOCH) {
        w->last_epoch_loss = loss;
        w->epochs_done = 1;
        w->part_loss = w->part_samples = 0.0;
        return 0;
    }
    w->samples += (double)n;
    w->part_loss += loss * (double)n;
    w->part_samples += (double)n;
    if (w->se->budget_kind == BSNN_BUDGET_SAMPLES) return w->samples >= w->se->budget;
    if (w->se->budget_kind == BSNN_BUDGET_SECONDS) return bsnn__now() - w->t0 >= w->se->budget;
    return 0;
}

static bsnn_status add_row(bsnn_search *se, const double *row)
{
    return bsnn__rows_append(&se->rows, &se->n, &se->cap, COLS, row);
}

/* Restore the starting point shared by every candidate. */
static void restore_start(search_run *r)
{
    memcpy(r->m->params, r->params0, r->m->n_params * sizeof(float));
    if (r->m->n_state) memcpy(r->m->state, r->state0, r->m->n_state * sizeof(float));
    /* every candidate draws the same dropout masks as the first */
    for (size_t i = 0; i < r->m->n_layers; i++) {
        bsnn_layer *l = r->m->layers[i];
        if (l->ops->set_rng) l->ops->set_rng(l, &r->rng0[i]);
    }
    bsnn__optimizer_reset(r->opt);
    bsnn__noise_clear(&r->m->noise, r->m->noise.decay);
}

/* Train one run (repeat `rep`) of a candidate batch size and append its
 * TRIAL_COLS values to the trials. */
static bsnn_status run_trial(search_run *r, size_t batch, size_t rep)
{
    bsnn_search *se = r->se;
    size_t n = r->train->n, rows = batch, updates = 0;
    restore_start(r);
    if (se->reinit) bsnn__model_reinit(r->m, r->m->seed + rep);
    bsnn_scheduler *s = r->sched;
    BSNN_TRY(bsnn__scheduler_set(s, BSNN_SCHED_BATCH_CAP, 0));
    BSNN_TRY(bsnn__scheduler_set(s, BSNN_SCHED_BATCH_SIZE, (double)batch));
    s->budget = se->memory_budget;
    s->seed = se->seed + rep; /* repeat r: the data order of seed + r */
    bsnn__scheduler_reset(s);
    if (se->memory_budget > 0) {
        size_t fit;
        BSNN_TRY(bsnn__model_max_batch(&fit, r->m, r->opt, se->memory_budget, 2 * n));
        rows = bsnn__scheduler_rows(s, batch, fit);
    } else {
        rows = bsnn__scheduler_rows(s, batch, 0);
    }
    size_t epochs = se->budget_kind == BSNN_BUDGET_EPOCHS ? (size_t)ceil(se->budget) : SIZE_MAX;
    cand_watch w = {se, bsnn__now(), 0.0, 0.0, 0.0, 0.0, 0};
    char kept[BSNN__ERROR_CAP]; /* a divergence is a result here, not a failure */
    bsnn__error_save(kept, sizeof kept);
    bsnn_status st = bsnn__model_train(&updates, r->m, r->opt, s, r->train, NULL, NULL, epochs,
                                       watch_cb, &w);
    if (st == BSNN_E_DIVERGED) bsnn__error_restore(kept);
    double seconds = bsnn__now() - w.t0, vl = INFINITY, va = 0.0;
    if (st == BSNN_OK) {
        BSNN_TRY(bsnn__model_evaluate(&vl, &va, r->m, r->val,
                                     r->val->n < r->m->ws.rows ? r->val->n : r->m->ws.rows));
        if (!isfinite(vl)) vl = INFINITY, va = 0.0;
    } else if (st != BSNN_E_DIVERGED) {
        return st;
    }
    double train_loss = w.part_samples > 0.0 ? w.part_loss / w.part_samples
                        : w.epochs_done       ? w.last_epoch_loss
                                              : NAN;
    size_t peak = 0;
    bsnn__model_memory(&peak, r->m, r->opt, rows);
    double row[TRIAL_COLS] = {(double)batch, w.samples / (double)n, (double)updates, train_loss,
                              vl, va, seconds, (double)peak, rows < batch ? 1.0 : 0.0,
                              (double)rows};
    return bsnn__rows_append(&se->trials, &se->n_trials, &se->cap_trials, TRIAL_COLS, row);
}

/* Mean and sample sd of column c over the k runs at v (TRIAL_COLS apart). */
static void mean_sd(double *out_mean, double *out_sd, const double *v, size_t k, int c)
{
    double mean = 0.0, ss = 0.0;
    for (size_t i = 0; i < k; i++) mean += v[i * TRIAL_COLS + (size_t)c] / (double)k;
    for (size_t i = 0; i < k; i++) {
        double d = v[i * TRIAL_COLS + (size_t)c] - mean;
        ss += d * d;
    }
    *out_mean = mean;
    /* one run has no spread; a diverged run (+inf) leaves the sd undefined */
    *out_sd = k > 1 && isfinite(mean) ? sqrt(ss / (double)(k - 1)) : NAN;
}

/* Train every repeat of a candidate and append its row of means. */
static bsnn_status run_candidate(search_run *r, size_t batch)
{
    bsnn_search *se = r->se;
    size_t first = se->n_trials, k = se->row_repeats;
    for (size_t rep = 0; rep < k; rep++) BSNN_TRY(run_trial(r, batch, rep));
    const double *v = se->trials + first * TRIAL_COLS;
    double row[COLS], sd[TRIAL_COLS];
    for (int c = 0; c < TRIAL_COLS; c++) mean_sd(&row[c], &sd[c], v, k, c);
    row[BSNN_SEARCH_COL_N - 1] = (double)k;
    row[BSNN_SEARCH_COL_VAL_LOSS_SD - 1] = sd[BSNN_SEARCH_COL_VAL_LOSS - 1];
    row[BSNN_SEARCH_COL_VAL_ACCURACY_SD - 1] = sd[BSNN_SEARCH_COL_VAL_ACCURACY - 1];
    return add_row(se, row);
}

/* 1 if row a is strictly better than row b by the search metric. */
static int better(const bsnn_search *se, size_t a, size_t b)
{
    const double *ra = se->rows + a * COLS, *rb = se->rows + b * COLS;
    double la = ra[BSNN_SEARCH_COL_VAL_LOSS - 1], lb = rb[BSNN_SEARCH_COL_VAL_LOSS - 1];
    if (se->metric == BSNN_METRIC_VAL_ACCURACY) {
        double aa = ra[BSNN_SEARCH_COL_VAL_ACCURACY - 1], ab = rb[BSNN_SEARCH_COL_VAL_ACCURACY - 1];
        if (aa != ab) return aa > ab;
    }
    return la < lb;
}

static size_t row_batch(const bsnn_search *se, size_t row)
{
    return (size_t)se->rows[row * COLS + BSNN_SEARCH_COL_BATCH - 1];
}

/* The pointers both entry points need. */
static bsnn_status check_objects(const size_t *out_best, const bsnn_search *se, const bsnn_model *m,
                                 const bsnn_optimizer *opt, const bsnn_dataset *train,
                                 const bsnn_dataset *val)
{
    BSNN_CHECK_NULL(out_best);
    BSNN_CHECK_NULL(se);
    BSNN_CHECK_NULL(m);
    BSNN_CHECK_NULL(opt);
    BSNN_CHECK_NULL(train);
    BSNN_CHECK_NULL(val);
    return BSNN_OK;
}

/* Validate the objects, save the starting point and make the scheduler. */
static bsnn_status begin(search_run *r, const bsnn_scheduler *tmpl)
{
    BSNN_CHECK_NULL(r->se);
    BSNN_CHECK_NULL(r->m);
    BSNN_CHECK_NULL(r->opt);
    BSNN_CHECK_NULL(r->train);
    BSNN_CHECK_NULL(r->val);
    BSNN_FAIL_IF(r->m->n_layers == 0 || r->m->n_params == 0, BSNN_E_STATE,
                 "the model has no trainable parameters");
    BSNN_TRY(bsnn__model_check_loss(r->m));
    BSNN_FAIL_IF(r->val->n_in != r->train->n_in || r->val->n_out != r->train->n_out, BSNN_E_SHAPE,
                 "val has %zu inputs and %zu targets, train %zu and %zu", r->val->n_in,
                 r->val->n_out, r->train->n_in, r->train->n_out);
    r->se->n = 0;
    r->se->best = 0;
    r->se->n_trials = 0;
    r->se->row_repeats = r->se->repeats;
    r->noise0 = r->m->noise;
    r->params0 = bsnn__calloc(r->m->n_params, sizeof(float));
    if (r->params0 == NULL) return BSNN_E_NOMEM;
    memcpy(r->params0, r->m->params, r->m->n_params * sizeof(float));
    if (r->m->n_state) {
        r->state0 = bsnn__calloc(r->m->n_state, sizeof(float));
        if (r->state0 == NULL) return BSNN_E_NOMEM;
        memcpy(r->state0, r->m->state, r->m->n_state * sizeof(float));
    }
    r->rng0 = bsnn__calloc(r->m->n_layers, sizeof(bsnn_rng));
    if (r->rng0 == NULL) return BSNN_E_NOMEM;
    for (size_t i = 0; i < r->m->n_layers; i++) {
        const bsnn_layer *l = r->m->layers[i];
        if (l->ops->get_rng) l->ops->get_rng(l, &r->rng0[i]);
    }
    r->saved = 1;
    r->sched = bsnn__scheduler_create(r->train->n);
    if (r->sched == NULL) return BSNN_E_NOMEM;
    if (tmpl) BSNN_TRY(bsnn__scheduler_copy_settings(r->sched, tmpl));
    r->sched->batch_schedule = BSNN_BATCH_CONSTANT;
    r->sched->full_batch = 0;
    bsnn__scheduler_set_seed(r->sched, r->se->seed);
    return BSNN_OK;
}

/* Put the model back at its starting point and release the run. */
static bsnn_status finish(search_run *r, bsnn_status st, size_t *out_best)
{
    /* Restore only from a complete snapshot: when the second one could not
     * be allocated, the model was never touched. */
    if (r->saved) {
        restore_start(r);
        r->m->noise = r->noise0;
    }
    bsnn__free(r->params0);
    bsnn__free(r->state0);
    bsnn__free(r->rng0);
    bsnn__scheduler_free(r->sched);
    if (st == BSNN_OK && out_best) *out_best = r->se->best;
    return st;
}

/* Index of the best row among all rows (ties: the earliest). */
static size_t best_row(const bsnn_search *se)
{
    size_t b = 0;
    for (size_t i = 1; i < se->n; i++)
        if (better(se, i, b)) b = i;
    return b;
}

/* The one-standard-error rule: the largest batch among the rows whose
 * metric mean is within one standard error (sd / sqrt(n) of the best
 * row; 0 with one repeat) of the best mean. */
static size_t one_se_choice(const bsnn_search *se)
{
    size_t b = best_row(se);
    int acc = se->metric == BSNN_METRIC_VAL_ACCURACY;
    int mc = acc ? BSNN_SEARCH_COL_VAL_ACCURACY - 1 : BSNN_SEARCH_COL_VAL_LOSS - 1;
    int sc = acc ? BSNN_SEARCH_COL_VAL_ACCURACY_SD - 1 : BSNN_SEARCH_COL_VAL_LOSS_SD - 1;
    const double *rb = se->rows + b * COLS;
    double n = rb[BSNN_SEARCH_COL_N - 1], sd = rb[sc];
    double err = n > 1.0 && isfinite(sd) ? sd / sqrt(n) : 0.0;
    size_t pick = row_batch(se, b);
    for (size_t i = 0; i < se->n; i++) {
        double v = se->rows[i * COLS + (size_t)mc];
        int within = acc ? v >= rb[mc] - err : v <= rb[mc] + err;
        if (within && row_batch(se, i) > pick) pick = row_batch(se, i);
    }
    return pick;
}

/* The chosen size: the rule's, or (BEST_MEAN) the one already found. */
static void apply_rule(bsnn_search *se)
{
    if (se->rule == BSNN_RULE_ONE_SE) se->best = one_se_choice(se);
}

bsnn_status bsnn_search_sweep(size_t *out_best, bsnn_search *se, bsnn_model *m,
                              bsnn_optimizer *opt, const bsnn_dataset *train,
                              const bsnn_dataset *val, const bsnn_scheduler *tmpl,
                              const size_t *sizes, size_t count)
{
    BSNN_ENTER_COMPUTE();
    BSNN_TRY(check_objects(out_best, se, m, opt, train, val));
    BSNN_CHECK_NULL(sizes);
    BSNN_FAIL_IF(count == 0, BSNN_E_ARG, "count is 0");
    for (size_t i = 0; i < count; i++)
        BSNN_FAIL_IF(sizes[i] == 0 || sizes[i] > train->n, BSNN_E_ARG,
                     "sizes[%zu] is %zu, expected 1..%zu", i, sizes[i], train->n);
    search_run r = {.se = se, .m = m, .opt = opt, .train = train, .val = val};
    bsnn_status st = begin(&r, tmpl);
    for (size_t i = 0; st == BSNN_OK && i < count; i++) st = run_candidate(&r, sizes[i]);
    if (st == BSNN_OK) {
        se->best = row_batch(se, best_row(se));
        apply_rule(se);
    }
    return finish(&r, st, out_best);
}

/* The heuristic: start, B/2, 2B, then keep going the better way. */
static bsnn_status heuristic(search_run *r)
{
    bsnn_search *se = r->se;
    size_t n = r->train->n, cur = se->start < n ? se->start : n;
    BSNN_TRY(run_candidate(r, cur));
    size_t best = 0, down = SIZE_MAX, up = SIZE_MAX;
    if (cur / 2 >= 1 && cur / 2 != cur) {
        BSNN_TRY(run_candidate(r, cur / 2));
        down = se->n - 1;
    }
    size_t twice = cur > n / 2 ? n : 2 * cur;
    if (twice != cur) {
        BSNN_TRY(run_candidate(r, twice));
        up = se->n - 1;
    }
    int dir = 0; /* -1 halving, +1 doubling */
    if (down != SIZE_MAX && better(se, down, best)) dir = -1;
    if (up != SIZE_MAX && better(se, up, best) && (dir == 0 || better(se, up, down))) dir = 1;
    if (dir != 0) best = dir < 0 ? down : up;
    while (dir != 0) {
        size_t b = row_batch(se, best);
        size_t next = dir < 0 ? b / 2 : (b > n / 2 ? n : 2 * b);
        if (next == 0 || next == b) break;
        BSNN_TRY(run_candidate(r, next));
        if (!better(se, se->n - 1, best)) break;
        best = se->n - 1;
    }
    se->best = row_batch(se, best);
    return BSNN_OK;
}

bsnn_status bsnn_search_run(size_t *out_best, bsnn_search *se, bsnn_model *m, bsnn_optimizer *opt,
                            const bsnn_dataset *train, const bsnn_dataset *val,
                            const bsnn_scheduler *tmpl)
{
    BSNN_ENTER_COMPUTE();
    BSNN_TRY(check_objects(out_best, se, m, opt, train, val));
    search_run r = {.se = se, .m = m, .opt = opt, .train = train, .val = val};
    bsnn_status st = begin(&r, tmpl);
    if (st == BSNN_OK) st = heuristic(&r);
    if (st == BSNN_OK) apply_rule(se);
    return finish(&r, st, out_best);
}
