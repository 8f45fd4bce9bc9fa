/*
 * loop.c - bsnn_model_train and bsnn_model_train_ex: the scheduler-driven
 * loop (per-update lr from the scheduler, micro-batch gradient accumulation
 * under a memory budget, the per-epoch history with validation) and its
 * callback, which may stop training early.
 */
#include "train/train.h"

/* One update on the batch idx[0..n) of ds: processed `rows` rows at a time
 * (micro-batches), each adding (1/n) * its per-sample gradient sum, so the
 * accumulated gradient is the mean over the whole batch and ONE update is
 * applied with rate lr. rows == n is the plain step. *out_loss: the mean
 * loss; *out_rows: the rows the update covers (n unless the gradient hook
 * changed them). */
static bsnn_status batch_update(double *out_loss, size_t *out_rows, bsnn_model *m,
                                bsnn_optimizer *opt, const bsnn_dataset *ds, const size_t *idx,
                                size_t n, size_t rows, double lr)
{
    /* a no-op unless the batch grew; n == 0, a data-parallel rank's empty
     * share, runs no pass (the engine runs the hook on a zero gradient over
     * 0 rows) but needs the workspace's scratch all the same */
    BSNN_TRY(bsnn__model_reserve(m, rows ? rows : 1));
    /* (the loop has checked the smallest pass for batch norm: smallest_pass) */
    bsnn__batch b = {NULL, NULL, ds, idx, n, ds->n_out};
    return bsnn__engine_step(out_loss, out_rows, m, opt, &b, rows, lr);
}

/* The smallest forward pass of any rank on a global batch of c: each
 * share (c / W rows, or one more; c itself unsharded) split into passes
 * of at most the micro-batch rows, the remainder last. Batch norm
 * normalises each pass by its own statistics, so it must be large enough,
 * and every rank must refuse alike, never one alone while the others wait
 * in the hook. */
static size_t smallest_pass(const bsnn_scheduler *s, size_t c, size_t cap)
{
    size_t world = s->world > 1 ? s->world : 1;
    size_t lo = c / world, hi = lo + (c % world != 0), least = c;
    for (size_t k = lo ? lo : hi; k && k <= hi; k++) {
        size_t rows = bsnn__scheduler_rows(s, k, cap);
        size_t pass = rows >= k ? k : k % rows ? k % rows : rows;
        least = pass < least ? pass : least;
    }
    return least;
}

/* Rows per pass allowed by the scheduler's memory budget (0: no budget). */
static bsnn_status budget_rows(size_t *out, const bsnn_model *m, const bsnn_optimizer *opt,
                               const bsnn_scheduler *s)
{
    *out = 0;
    if (s->budget == 0) return BSNN_OK;
    BSNN_FORWARD_AS_IF_ERROR(bsnn__model_max_batch(out, m, opt, s->budget, 2 * s->n), BSNN_E_ARG,
                             "scheduler memory budget");
    return BSNN_OK;
}

/* Per-epoch bookkeeping of a training call, for callbacks and histories. */
typedef struct epoch_log {
    double t0, loss, lr;
    size_t samples, epoch_samples, updates;
} epoch_log;

static bsnn_status log_epoch(bsnn_model *m, const bsnn_dataset *val, bsnn_history *h,
                             const epoch_log *log, size_t epoch, size_t batch)
{
    if (h == NULL) return BSNN_OK;
    double vl = NAN, va = NAN;
    if (val) {
        /* Evaluate within the training workspace so it never grows here. */
        size_t rows = m->ws.rows < val->n ? m->ws.rows : val->n;
        BSNN_TRY(bsnn__model_evaluate(&vl, &va, m, val, rows ? rows : 1));
    }
    double row[BSNN__HIST_COLS] = {(double)epoch, (double)batch, log->lr,
                                   log->loss / (double)log->epoch_samples, vl, va,
                                   bsnn__now() - log->t0, (double)log->samples,
                                   (double)log->updates,
                                   bsnn__noise_field(&m->noise, BSNN_NOISE_GRAD_SQ),
                                   bsnn__noise_field(&m->noise, BSNN_NOISE_TRACE),
                                   bsnn__noise_field(&m->noise, BSNN_NOISE_B_SIMPLE)};
    return bsnn__history_append(h, row);
}

bsnn_status bsnn__model_train(size_t *out_steps, bsnn_model *m, bsnn_optimizer *opt,
                              bsnn_scheduler *s, const bsnn_dataset *ds, const bsnn_dataset *val,
                              bsnn_history *history, size_t epochs, bsnn_callback cb, void *user)
{
    BSNN_FAIL_IF(s->n != ds->n, BSNN_E_SHAPE, "scheduler is for %zu samples, dataset has %zu", s->n,
                 ds->n);
    BSNN_TRY(bsnn__model_check_trainable(m));
    BSNN_TRY(bsnn__model_check_dataset(m, ds));
    if (val) BSNN_TRY(bsnn__model_check_dataset(m, val));
    size_t cap;
    BSNN_TRY(budget_rows(&cap, m, opt, s));
    BSNN_TRY(bsnn__model_check_batch(m, smallest_pass(s, bsnn__scheduler_batch_size(s), cap)));
    BSNN_TRY(bsnn__optimizer_bind(opt, m, m->n_params));
    size_t stop = epochs > SIZE_MAX - s->epoch ? SIZE_MAX : s->epoch + epochs;
    epoch_log log = {bsnn__now(), 0.0, 0.0, 0, 0, 0};
    bsnn_status st = BSNN_OK;
    while (s->epoch < stop) {
        const size_t *idx;
        size_t n;
        int epoch_end;
        size_t at_epoch = s->epoch, at_batch = s->step; /* for a divergence report */
        bsnn__sched_mark mark; /* a rejected update puts the scheduler back too */
        bsnn__scheduler_mark(&mark, s);
        bsnn__scheduler_next(&idx, &n, &epoch_end, s);
        size_t batch = s->last_batch;
        log.lr = bsnn__scheduler_lr_for(s, opt->lr, s->last_epoch, batch, s->last_update);
        double loss;
        size_t rows; /* what the update covers: n, or the hook's count */
        /* sharded: every rank refuses a share or micro-batch too small
         * alike; dropout masks follow the share's rows in the global batch */
        st = bsnn__model_check_batch(m, smallest_pass(s, s->last_global, cap));
        bsnn__model_set_row_offset(m, s->last_offset);
        if (st == BSNN_OK)
            st = batch_update(&loss, &rows, m, opt, ds, idx, n,
                              bsnn__scheduler_rows(s, n, cap), log.lr);
        if (st != BSNN_OK) {
            /* The update changed nothing; neither does this batch: the next
             * call draws it again, at the same point of the lr clock. */
            bsnn__scheduler_undo(s, &mark);
            /* where training stopped: 0-based epoch and batch within it (as
             * the callback counts epochs), 1-based update of this call */
            if (st == BSNN_E_DIVERGED || st == BSNN_E_CALLBACK)
                st = bsnn__context(st,
                                   "epoch %zu, batch %zu of the epoch, update %zu of this call",
                                   at_epoch, at_batch, log.updates + 1);
            break;
        }
        bsnn__scheduler_observe_noise(s, m); /* the next lr and epoch size */
        log.updates++;
        log.loss += loss * (double)rows;
        log.epoch_samples += rows;
        log.samples += rows;
        size_t epoch = s->last_epoch;
        int stop_now = 0;
        if (cb)
            BSNN_CALL_HOST(stop_now, cb(user, BSNN_EVENT_STEP, epoch, log.updates, rows, loss));
        if (stop_now) break;
        if (epoch_end) {
            double mean = log.loss / (double)log.epoch_samples;
            st = log_epoch(m, val, history, &log, epoch, batch);
            if (st != BSNN_OK) break;
            log.loss = 0.0;
            log.epoch_samples = 0;
            if (cb)
                BSNN_CALL_HOST(stop_now,
                               cb(user, BSNN_EVENT_EPOCH, epoch, log.updates, rows, mean));
            if (stop_now) break;
        }
    }
    bsnn__model_set_row_offset(m, 0); /* a step by hand after this has no shard */
    if (out_steps) *out_steps = log.updates;
    return st;
}

bsnn_status bsnn_model_train_ex(size_t *out_steps, bsnn_model *m, bsnn_optimizer *opt,
                                bsnn_scheduler *s, const bsnn_dataset *ds, const bsnn_dataset *val,
                                bsnn_history *history, size_t epochs, bsnn_callback cb, void *user)
{
    BSNN_ENTER_COMPUTE();
    BSNN_CHECK_NULL(m);
    BSNN_CHECK_NULL(opt);
    BSNN_CHECK_NULL(s);
    BSNN_CHECK_NULL(ds);
    return bsnn__model_train(out_steps, m, opt, s, ds, val, history, epochs, cb, user);
}

bsnn_status bsnn_model_train(size_t *out_steps, bsnn_model *m, bsnn_optimizer *opt,
                             bsnn_scheduler *s, const bsnn_dataset *ds, size_t epochs,
                             bsnn_callback cb, void *user)
{
    BSNN_ENTER_COMPUTE();
    BSNN_CHECK_NULL(m);
    BSNN_CHECK_NULL(opt);
    BSNN_CHECK_NULL(s);
    BSNN_CHECK_NULL(ds);
    return bsnn__model_train(out_steps, m, opt, s, ds, NULL, NULL, epochs, cb, user);
}
