/*
 * step.c - the training step: zero the gradient (remembering parameters
 * and state so a diverging step can be undone), forward and backward
 * accumulating the batch-mean gradient, penalties, the divergence check and
 * one optimizer update; bsnn_model_train_step, the primitive on a batch the
 * host hands in; and the checks every training entry point shares.
 */
#include "train/train.h"

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
        l->ops->backward(l, bsnn__at(m->params, l->param_off), bsnn__at(m->state, l->state_off),
                         bsnn__at(m->grads, l->param_off), bsnn__layer_scratch(m, ws, i), in,
                         ws->acts[i], ws->delta[cur], dx, n);
        cur = 1 - cur;
    }
    return loss;
}

/* The host's gradient hook on the complete gradient, if one is set: it may
 * change the gradient, *rows and *loss_sum (an allreduce), and run bsnn
 * functions, but not train m (in_hook refuses that). */
static bsnn_status run_hook(bsnn_model *m, size_t *rows, double *loss_sum)
{
    if (m->grad_hook == NULL) return BSNN_OK;
    int rc;
    m->in_hook = 1;
    BSNN_CALL_HOST(rc, m->grad_hook(m->grad_hook_user, m->grads, m->n_params, rows, loss_sum));
    m->in_hook = 0;
    BSNN_FAIL_IF(rc != 0, BSNN_E_CALLBACK,
                 "the gradient hook returned %d: the step was abandoned, parameters left "
                 "unchanged",
                 rc);
    BSNN_FAIL_IF(*rows == 0, BSNN_E_CALLBACK,
                 "the gradient hook left rows = 0 (an update covers at least one row): the "
                 "step was abandoned, parameters left unchanged");
    return BSNN_OK;
}

bsnn_status bsnn__model_apply(bsnn_model *m, bsnn_optimizer *opt, double lr, double *loss_sum,
                              size_t *rows)
{
    bsnn_status st = run_hook(m, rows, loss_sum);
    if (st != BSNN_OK) {
        undo_step(m);
        return st;
    }
    for (size_t i = 0; i < m->n_layers; i++) {
        bsnn_layer *l = m->layers[i];
        if (l->ops->regularize)
            l->ops->regularize(l, bsnn__at(m->params, l->param_off),
                               bsnn__at(m->grads, l->param_off));
    }
    double loss = *loss_sum / (double)*rows;
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
bsnn_status bsnn__model_check_trainable(const bsnn_model *m)
{
    BSNN_FAIL_IF(m->in_hook, BSNN_E_STATE,
                 "called from inside the model's gradient hook (a hook must not train it)");
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

bsnn_status bsnn__model_step_rows(double *out_loss, size_t *out_rows, bsnn_model *m,
                                  bsnn_optimizer *opt, const float *x, const float *y, size_t n,
                                  size_t target_width, double lr)
{
    BSNN_TRY(bsnn__model_check_batch(m, n));
    if (out_rows) *out_rows = n;
    if (bsnn__fused_step_ok(m, opt, n) &&
        bsnn__fused_step(out_loss, m, opt, x, y, n, target_width, lr))
        return BSNN_OK;
    return bsnn__model_step_general(out_loss, out_rows, m, opt, x, y, n, target_width, lr);
}

bsnn_status bsnn__model_step_general(double *out_loss, size_t *out_rows, bsnn_model *m,
                                     bsnn_optimizer *opt, const float *x, const float *y,
                                     size_t n, size_t target_width, double lr)
{
    bsnn__model_zero_grads(m);
    double loss_sum = bsnn__model_accumulate(m, x, y, n, target_width, 1.0f / (float)n);
    size_t rows = n;
    BSNN_TRY(bsnn__model_apply(m, opt, lr, &loss_sum, &rows));
    m->started = 1;
    if (out_loss) *out_loss = loss_sum / (double)rows;
    if (out_rows) *out_rows = rows;
    return BSNN_OK;
}

bsnn_status bsnn_model_train_step(double *out_loss, bsnn_model *m, bsnn_optimizer *opt,
                                  const bsnn_tensor *x, const bsnn_tensor *y)
{
    BSNN_ENTER_COMPUTE();
    BSNN_CHECK_NULL(m);
    BSNN_CHECK_NULL(opt);
    BSNN_CHECK_NULL(x);
    BSNN_CHECK_NULL(y);
    BSNN_TRY(bsnn__model_check_trainable(m));
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
    return bsnn__model_step_rows(out_loss, NULL, m, opt, x->data, y->data, n, tw, opt->lr);
}

bsnn_status bsnn__model_check_dataset(const bsnn_model *m, const bsnn_dataset *ds)
{
    BSNN_FAIL_IF(ds->n_in != m->n_in, BSNN_E_SHAPE, "dataset has %zu inputs, model expects %zu",
                 ds->n_in, m->n_in);
    BSNN_TRY(check_targets(m, ds->n_out));
    if (!bsnn__loss_targets_ok(m->loss, ds->y, ds->n, bsnn__model_n_outputs(m), ds->n_out))
        return bad_target("dataset targets", m, ds->y, ds->n, ds->n_out);
    return BSNN_OK;
}
