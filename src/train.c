/*
 * train.c - training and evaluation: the one-batch training primitive
 * (forward, backward, one update with the batch-mean gradient), the
 * scheduler-driven loop (per-update lr from the scheduler, micro-batch
 * gradient accumulation, memory budget, per-epoch history) with its
 * callback, and batched evaluation.
 */
#include "internal.h"

#include <stdio.h>

void bsnn__model_zero_grads(bsnn_model *m)
{
    m->fused_rows = 0; /* a fused step's pending gradient is superseded */
    memset(m->grads, 0, m->n_params * sizeof(float));
    /* A step starts here: remember parameters and running statistics so a
     * step that diverges can leave the model exactly as it found it. */
    memcpy(m->undo, m->params, m->n_params * sizeof(float));
    if (m->n_state) memcpy(m->undo + m->n_params, m->state, m->n_state * sizeof(float));
}

/* Put back the parameters and state saved when the step began. */
static void undo_step(bsnn_model *m)
{
    memcpy(m->params, m->undo, m->n_params * sizeof(float));
    if (m->n_state) memcpy(m->state, m->undo + m->n_params, m->n_state * sizeof(float));
}

/* Forward and backward n rows (already validated, workspace reserved),
 * ADDING scale * sum of per-sample gradients into m->grads; returns the sum
 * of per-sample losses. */
double bsnn__model_accumulate(bsnn_model *m, const float *x, const float *y, size_t n,
                              size_t target_width, float scale)
{
    size_t last = m->n_layers - 1;
    const float *out = bsnn__model_forward_rows(m, x, n, m->training);
    bsnn_workspace *ws = &m->ws;
    int cur = 0;
    double loss = bsnn__loss(m->loss, out, y, n, m->layers[last]->n_out, target_width,
                             ws->delta[cur], scale);
    for (size_t i = m->n_layers; i-- > 0;) {
        bsnn_layer *l = m->layers[i];
        const float *in = i ? ws->acts[i - 1] : x;
        float *dx = i ? ws->delta[1 - cur] : NULL;
        l->ops->backward(l, bsnn__at(m->params, l->param_off), bsnn__at(m->grads, l->param_off),
                         bsnn__layer_scratch(m, ws, i), in, ws->acts[i], ws->delta[cur], dx, n);
        cur = 1 - cur;
    }
    return loss;
}

bsnn_status bsnn__model_apply(bsnn_model *m, bsnn_optimizer *opt, double lr, double loss)
{
    for (size_t i = 0; i < m->n_layers; i++) {
        bsnn_layer *l = m->layers[i];
        if (l->ops->regularize)
            l->ops->regularize(l, bsnn__at(m->params, l->param_off),
                               bsnn__at(m->grads, l->param_off));
    }
    if (!isfinite(loss) || !bsnn__all_finite(m->grads, m->n_params)) {
        undo_step(m);
        return bsnn__fail(BSNN_E_DIVERGED,
                          "loss %g or its gradient is not finite; parameters left unchanged", loss);
    }
    bsnn__optimizer_update(opt, m->params, m->grads, m->decay_mask, m->n_params, lr);
    /* A finite gradient can still overflow a parameter (a huge rate). */
    if (!bsnn__all_finite(m->params, m->n_params)) {
        undo_step(m);
        return bsnn__fail(BSNN_E_DIVERGED,
                          "the update (learning rate %g) made a parameter NaN or infinite; "
                          "parameters restored to their values before it",
                          lr);
    }
    return BSNN_OK;
}

/* Checks shared by every training entry point (the optimizer is bound only
 * after every check passed, so a rejected call leaves it free). */
static bsnn_status check_trainable(const bsnn_model *m)
{
    BSNN_FAIL_IF(m->n_layers == 0, BSNN_E_STATE, "the model has no layers");
    BSNN_FAIL_IF(m->n_params == 0, BSNN_E_STATE, "the model has no trainable parameters");
    return bsnn__model_check_loss(m);
}

/* Name the first bad target of n rows of width tw (what
 * bsnn__loss_targets_ok refused): its row, column, value, and the range a
 * class index must be in. `what` names the array in the message. */
static bsnn_status bad_target(const char *what, const bsnn_model *m,
                              const float *t, size_t n, size_t tw)
{
    size_t width = bsnn__model_n_outputs(m);
    int indices = m->loss == BSNN_LOSS_SOFTMAX_CE && tw == 1 && width > 1;
    for (size_t r = 0; r < n; r++)
        for (size_t j = 0; j < tw; j++) {
            float v = t[r * tw + j];
            BSNN_FAIL_IF(!isfinite(v), BSNN_E_ARG,
                         "%s row %zu, column %zu holds %g, not a finite "
                         "value",
                         what, r, j, (double)v);
            BSNN_FAIL_IF(indices && !(v >= 0.0f && v < (float)width && v == floorf(v)), BSNN_E_ARG,
                         "%s row %zu holds %g, not a class index (a whole number in "
                         "0..%zu for %zu outputs)",
                         what, r, (double)v, width - 1, width);
        }
    return bsnn__fail(BSNN_E_ARG, "%s hold a bad value", what);
}

bsnn_status bsnn__model_check_batch(const bsnn_model *m, size_t n)
{
    if (!m->training) return BSNN_OK;
    for (size_t i = 0; i < m->n_layers; i++) {
        const bsnn_layer_ops *ops = m->layers[i]->ops;
        BSNN_FAIL_IF(n < ops->min_train_rows, BSNN_E_ARG,
                     "a batch of %zu row%s is too small for %s layer %zu in training "
                     "mode (needs %zu rows: one row has no batch variance); use a larger "
                     "batch, BSNN_SCHED_DROP_LAST, or evaluation mode",
                     n, n == 1 ? "" : "s", ops->name, i, ops->min_train_rows);
    }
    return BSNN_OK;
}

static bsnn_status check_targets(const bsnn_model *m, size_t target_width)
{
    size_t width = bsnn__model_n_outputs(m);
    BSNN_FAIL_IF(!bsnn__loss_target_width_ok(m->loss, width, target_width), BSNN_E_SHAPE,
                 "targets have %zu columns, model outputs %zu", target_width, width);
    return BSNN_OK;
}

bsnn_status bsnn__model_step_rows(double *out_loss, bsnn_model *m, bsnn_optimizer *opt,
                                  const float *x, const float *y, size_t n, size_t target_width,
                                  double lr)
{
    BSNN_TRY(bsnn__model_check_batch(m, n));
    if (bsnn__fused_step_ok(m, opt, n))
        return bsnn__fused_step(out_loss, m, opt, x, y, n, target_width, lr);
    return bsnn__model_step_general(out_loss, m, opt, x, y, n, target_width, lr);
}

bsnn_status bsnn__model_step_general(double *out_loss, bsnn_model *m, bsnn_optimizer *opt,
                                     const float *x, const float *y, size_t n,
                                     size_t target_width, double lr)
{
    bsnn__model_zero_grads(m);
    double loss = bsnn__model_accumulate(m, x, y, n, target_width, 1.0f / (float)n) / (double)n;
    BSNN_TRY(bsnn__model_apply(m, opt, lr, loss));
    m->started = 1;
    if (out_loss) *out_loss = loss;
    return BSNN_OK;
}

bsnn_status bsnn_model_train_step(double *out_loss, bsnn_model *m, bsnn_optimizer *opt,
                                  const bsnn_tensor *x, const bsnn_tensor *y)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(m);
    BSNN_CHECK_NULL(opt);
    BSNN_CHECK_NULL(x);
    BSNN_CHECK_NULL(y);
    BSNN_TRY(check_trainable(m));
    size_t n = bsnn__tensor_rows(x), tw = bsnn__tensor_cols(y);
    BSNN_FAIL_IF(bsnn__tensor_cols(x) != m->n_in, BSNN_E_SHAPE,
                 "batch has %zu columns, model expects %zu", bsnn__tensor_cols(x), m->n_in);
    BSNN_FAIL_IF(bsnn__tensor_rows(y) != n, BSNN_E_SHAPE, "y has %zu rows, x has %zu",
                 bsnn__tensor_rows(y), n);
    BSNN_TRY(check_targets(m, tw));
    BSNN_FAIL_IF(!bsnn__all_finite(x->data, n * m->n_in), BSNN_E_ARG,
                 "x holds a NaN or infinite value");
    if (!bsnn__loss_targets_ok(m->loss, y->data, n, bsnn__model_n_outputs(m), tw))
        return bad_target("y", m, y->data, n, tw);
    BSNN_TRY(bsnn__model_check_batch(m, n));
    BSNN_TRY(bsnn__optimizer_bind(opt, m, m->n_params));
    BSNN_TRY(bsnn__model_reserve(m, n));
    return bsnn__model_step_rows(out_loss, m, opt, x->data, y->data, n, tw, opt->lr);
}

/* Copy the rows idx[0..n) of ds into the model's batch buffers. */
static void gather(bsnn_model *m, const bsnn_dataset *ds, const size_t *idx, size_t n)
{
    for (size_t r = 0; r < n; r++) {
        memcpy(m->ws.xbuf + r * ds->n_in, ds->x + idx[r] * ds->n_in, ds->n_in * sizeof(float));
        memcpy(m->ws.ybuf + r * ds->n_out, ds->y + idx[r] * ds->n_out, ds->n_out * sizeof(float));
    }
}

static bsnn_status check_dataset(const bsnn_model *m, const bsnn_dataset *ds)
{
    BSNN_FAIL_IF(ds->n_in != m->n_in, BSNN_E_SHAPE, "dataset has %zu inputs, model expects %zu",
                 ds->n_in, m->n_in);
    BSNN_TRY(check_targets(m, ds->n_out));
    if (!bsnn__loss_targets_ok(m->loss, ds->y, ds->n, bsnn__model_n_outputs(m), ds->n_out))
        return bad_target("dataset targets", m, ds->y, ds->n, ds->n_out);
    return BSNN_OK;
}

/* One update on the batch idx[0..n) of ds: processed `rows` rows at a time
 * (micro-batches), each adding (1/n) * its per-sample gradient sum, so the
 * accumulated gradient is the mean over the whole batch and ONE update is
 * applied with rate lr. rows == n is the plain step. */
static bsnn_status batch_update(double *out_loss, bsnn_model *m, bsnn_optimizer *opt,
                                const bsnn_dataset *ds, const size_t *idx, size_t n, size_t rows,
                                double lr)
{
    BSNN_TRY(bsnn__model_reserve(m, rows)); /* a no-op unless the batch grew */
    if (rows == n) {
        gather(m, ds, idx, n);
        return bsnn__model_step_rows(out_loss, m, opt, m->ws.xbuf, m->ws.ybuf, n, ds->n_out, lr);
    }
    /* Batch norm normalises each micro-batch by its own statistics: the
     * smallest one (the remainder) must be large enough. */
    BSNN_TRY(bsnn__model_check_batch(m, n % rows ? n % rows : rows));
    bsnn__model_zero_grads(m);
    float scale = 1.0f / (float)n;
    double loss = 0.0;
    for (size_t off = 0; off < n; off += rows) {
        size_t k = n - off < rows ? n - off : rows;
        gather(m, ds, idx + off, k);
        loss += bsnn__model_accumulate(m, m->ws.xbuf, m->ws.ybuf, k, ds->n_out, scale);
    }
    loss /= (double)n;
    BSNN_TRY(bsnn__model_apply(m, opt, lr, loss));
    m->started = 1;
    *out_loss = loss;
    return BSNN_OK;
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
                                   (double)log->updates};
    return bsnn__history_append(h, row);
}

bsnn_status bsnn__model_train(size_t *out_steps, bsnn_model *m, bsnn_optimizer *opt,
                              bsnn_scheduler *s, const bsnn_dataset *ds, const bsnn_dataset *val,
                              bsnn_history *history, size_t epochs, bsnn_callback cb, void *user)
{
    BSNN_FAIL_IF(s->n != ds->n, BSNN_E_SHAPE, "scheduler is for %zu samples, dataset has %zu", s->n,
                 ds->n);
    BSNN_TRY(check_trainable(m));
    BSNN_TRY(check_dataset(m, ds));
    if (val) BSNN_TRY(check_dataset(m, val));
    BSNN_TRY(bsnn__model_check_batch(m, bsnn__scheduler_batch_size(s)));
    size_t cap;
    BSNN_TRY(budget_rows(&cap, m, opt, s));
    BSNN_TRY(bsnn__optimizer_bind(opt, m, m->n_params));
    size_t stop = epochs > SIZE_MAX - s->epoch ? SIZE_MAX : s->epoch + epochs;
    epoch_log log = {bsnn__now(), 0.0, 0.0, 0, 0, 0};
    bsnn_status st = BSNN_OK;
    while (s->epoch < stop) {
        const size_t *idx;
        size_t n;
        int epoch_end;
        size_t at_epoch = s->epoch, at_batch = s->step; /* for a divergence report */
        bsnn__scheduler_next(&idx, &n, &epoch_end, s);
        size_t batch = s->last_batch;
        log.lr = bsnn__scheduler_lr_for(s, opt->lr, s->last_epoch, batch, s->last_update);
        double loss;
        st = batch_update(&loss, m, opt, ds, idx, n, bsnn__scheduler_rows(s, n, cap), log.lr);
        if (st == BSNN_E_DIVERGED) {
            /* where training stopped: 0-based epoch and batch within it (as
             * the callback counts epochs), 1-based update of this call */
            st = bsnn__context(st, "epoch %zu, batch %zu of the epoch, update %zu of this call",
                               at_epoch, at_batch, log.updates + 1);
            break;
        }
        if (st != BSNN_OK) break;
        log.updates++;
        log.loss += loss * (double)n;
        log.epoch_samples += n;
        log.samples += n;
        size_t epoch = s->last_epoch;
        int stop_now = 0;
        if (cb) BSNN_CALL_HOST(stop_now, cb(user, BSNN_EVENT_STEP, epoch, log.updates, n, loss));
        if (stop_now) break;
        if (epoch_end) {
            double mean = log.loss / (double)log.epoch_samples;
            st = log_epoch(m, val, history, &log, epoch, batch);
            if (st != BSNN_OK) break;
            log.loss = 0.0;
            log.epoch_samples = 0;
            if (cb)
                BSNN_CALL_HOST(stop_now, cb(user, BSNN_EVENT_EPOCH, epoch, log.updates, n, mean));
            if (stop_now) break;
        }
    }
    if (out_steps) *out_steps = log.updates;
    return st;
}

bsnn_status bsnn_model_train_ex(size_t *out_steps, bsnn_model *m, bsnn_optimizer *opt,
                                bsnn_scheduler *s, const bsnn_dataset *ds, const bsnn_dataset *val,
                                bsnn_history *history, size_t epochs, bsnn_callback cb, void *user)
{
    BSNN_ENTER();
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
    BSNN_ENTER();
    BSNN_CHECK_NULL(m);
    BSNN_CHECK_NULL(opt);
    BSNN_CHECK_NULL(s);
    BSNN_CHECK_NULL(ds);
    return bsnn__model_train(out_steps, m, opt, s, ds, NULL, NULL, epochs, cb, user);
}

/* Accuracy count over n rows of outputs o against targets t. */
static size_t count_correct(const bsnn_model *m, const float *o, const float *t, size_t n,
                            size_t width, size_t tw)
{
    size_t correct = 0;
    for (size_t r = 0; r < n; r++) {
        const float *orow = o + r * width, *trow = t + r * tw;
        if (width == 1 || m->loss == BSNN_LOSS_BCE_LOGITS) {
            /* Each output is a yes/no decision (multi-label under BCE, where
             * argmax would be meaningless): the row is right when all are. */
            int right = 1;
            for (size_t j = 0; j < width; j++) {
                double p = m->loss == BSNN_LOSS_BCE_LOGITS ? 1.0 / (1.0 + exp(-orow[j])) : orow[j];
                right &= (p > m->threshold) == (trow[j] > m->threshold);
            }
            correct += (size_t)right;
            continue;
        }
        size_t po = 0, pt = 0;
        for (size_t j = 1; j < width; j++) po = orow[j] > orow[po] ? j : po;
        if (tw == 1)
            pt = (size_t)trow[0];
        else
            for (size_t j = 1; j < width; j++) pt = trow[j] > trow[pt] ? j : pt;
        correct += po == pt;
    }
    return correct;
}

/* The checks of an evaluate call (m and ds not NULL), both entry points. */
static bsnn_status check_evaluate(const double *out_loss, const bsnn_model *m,
                                  const bsnn_dataset *ds, size_t batch_size)
{
    BSNN_FAIL_IF(m->n_layers == 0, BSNN_E_STATE, "the model has no layers");
    if (out_loss) BSNN_TRY(bsnn__model_check_loss(m)); /* accuracy alone needs none */
    BSNN_FAIL_IF(batch_size == 0 || batch_size > ds->n, BSNN_E_ARG,
                 "batch_size %zu is not in 1..%zu", batch_size, ds->n);
    return check_dataset(m, ds);
}

/* Evaluation on a workspace already reserved for batch_size rows: reads m
 * only, so host workspaces make it thread-safe. */
static void evaluate_rows(double *out_loss, double *out_accuracy, const bsnn_model *m,
                          bsnn_workspace *ws, const bsnn_dataset *ds, size_t batch_size)
{
    size_t width = bsnn__model_n_outputs(m), correct = 0;
    double loss = 0.0;
    for (size_t start = 0; start < ds->n; start += batch_size) {
        size_t n = ds->n - start < batch_size ? ds->n - start : batch_size;
        const float *o = bsnn__model_infer_rows(m, ws, ds->x + start * ds->n_in, n);
        const float *t = ds->y + start * ds->n_out;
        if (out_loss) loss += bsnn__loss(m->loss, o, t, n, width, ds->n_out, NULL, 0.0f);
        correct += count_correct(m, o, t, n, width, ds->n_out);
    }
    if (out_loss) *out_loss = loss / (double)ds->n;
    if (out_accuracy) *out_accuracy = (double)correct / (double)ds->n;
}

bsnn_status bsnn__model_evaluate(double *out_loss, double *out_accuracy, bsnn_model *m,
                                 const bsnn_dataset *ds, size_t batch_size)
{
    BSNN_TRY(check_evaluate(out_loss, m, ds, batch_size));
    BSNN_TRY(bsnn__model_reserve(m, batch_size));
    evaluate_rows(out_loss, out_accuracy, m, &m->ws, ds, batch_size);
    return BSNN_OK;
}

bsnn_status bsnn_model_evaluate(double *out_loss, double *out_accuracy, bsnn_model *m,
                                const bsnn_dataset *ds, size_t batch_size)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(m);
    BSNN_CHECK_NULL(ds);
    return bsnn__model_evaluate(out_loss, out_accuracy, m, ds, batch_size);
}

bsnn_status bsnn_model_evaluate_ws(double *out_loss, double *out_accuracy, const bsnn_model *m,
                                   bsnn_workspace *ws, const bsnn_dataset *ds, size_t batch_size)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(m);
    BSNN_CHECK_NULL(ds);
    BSNN_TRY(check_evaluate(out_loss, m, ds, batch_size));
    BSNN_TRY(bsnn__workspace_reserve(ws, m, batch_size));
    evaluate_rows(out_loss, out_accuracy, m, ws, ds, batch_size);
    return BSNN_OK;
}
