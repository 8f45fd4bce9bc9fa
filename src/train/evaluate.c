/*
 * evaluate.c - bsnn_model_evaluate and bsnn_model_evaluate_ws: mean loss
 * (in double) and accuracy over a dataset in evaluation mode, a batch at a
 * time, on the model's own workspace or a host's (then the model is only
 * read, and several threads may evaluate it at once).
 */
#include "train/train.h"

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
    return bsnn__model_check_dataset(m, ds);
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
    bsnn__model_settle_grads(m); /* the forward passes overwrite its x */
    evaluate_rows(out_loss, out_accuracy, m, &m->ws, ds, batch_size);
    return BSNN_OK;
}

bsnn_status bsnn_model_evaluate(double *out_loss, double *out_accuracy, bsnn_model *m,
                                const bsnn_dataset *ds, size_t batch_size)
{
    BSNN_ENTER_COMPUTE();
    BSNN_CHECK_NULL(m);
    BSNN_CHECK_NULL(ds);
    BSNN_FAIL_IF(m->in_hook, BSNN_E_STATE,
                 "called from inside the model's gradient hook, whose step uses the model's "
                 "workspace (bsnn_model_evaluate_ws works there)");
    return bsnn__model_evaluate(out_loss, out_accuracy, m, ds, batch_size);
}

bsnn_status bsnn_model_evaluate_ws(double *out_loss, double *out_accuracy, const bsnn_model *m,
                                   bsnn_workspace *ws, const bsnn_dataset *ds, size_t batch_size)
{
    BSNN_ENTER_COMPUTE();
    BSNN_CHECK_NULL(m);
    BSNN_CHECK_NULL(ds);
    BSNN_TRY(check_evaluate(out_loss, m, ds, batch_size));
    BSNN_TRY(bsnn__workspace_reserve(ws, m, batch_size));
    evaluate_rows(out_loss, out_accuracy, m, ws, ds, batch_size);
    return BSNN_OK;
}
