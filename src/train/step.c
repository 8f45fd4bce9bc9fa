/*
 * step.c - bsnn_model_train_step, the primitive on a batch the host hands
 * in (the update itself runs in engine.c), and the checks every training
 * entry point shares.
 */
#include "train/train.h"

#include <stdio.h>

/* Checks shared by every training entry point (the optimizer is bound only
 * after every check passed, so a rejected call leaves it free). */
bsnn_status bsnn__model_check_trainable(const bsnn_model *m)
{
    BSNN_FAIL_IF(m->in_hook, BSNN_E_STATE,
                 "called from inside the model's gradient hook (a hook must not train it)");
    BSNN_FAIL_IF(m->n_layers == 0, BSNN_E_STATE, "the model has no layers");
    BSNN_FAIL_IF(m->n_params == 0, BSNN_E_STATE, "the model has no trainable parameters");
    BSNN_TRY(bsnn__model_noise_check(m, m->noise_route)); /* layers added after the route */
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
    bsnn__batch b = {x->data, y->data, NULL, NULL, n, tw};
    return bsnn__engine_step(out_loss, NULL, m, opt, &b, n, opt->lr);
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
