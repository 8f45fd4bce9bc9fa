/*
 * optimizer.c - update rules over the model's flat parameter arena, and the
 * hyperparameter setter/getter/bounds that bindings validate against.
 */
#include "internal.h"

static const char *kind_name(int kind)
{
    switch (kind) {
    case BSNN_SGD: return "sgd";
    default: return "unknown";
    }
}

static int kind_valid(int kind) { return kind == BSNN_SGD; }

bsnn_optimizer *bsnn_optimizer_create(bsnn_optimizer_kind kind)
{
    if (!kind_valid((int)kind)) {
        bsnn__fail(BSNN_E_ARG, "bsnn_optimizer_create: unknown optimizer kind %d", (int)kind);
        return NULL;
    }
    bsnn_optimizer *opt = bsnn__calloc(1, sizeof *opt, "bsnn_optimizer_create");
    if (opt == NULL) return NULL;
    opt->kind = kind;
    opt->lr = 0.01;
    return opt;
}

void bsnn_optimizer_free(bsnn_optimizer *opt)
{
    if (opt == NULL) return;
    bsnn__free(opt->state);
    bsnn__free(opt);
}

int bsnn_optimizer_kind_of(const bsnn_optimizer *opt) { return opt ? (int)opt->kind : 0; }

bsnn_status bsnn_optimizer_bounds(double *out_lo, double *out_hi, int *out_open,
                                  bsnn_optimizer_kind kind, bsnn_opt_param param)
{
    BSNN_CHECK_NULL("bsnn_optimizer_bounds", out_lo);
    BSNN_CHECK_NULL("bsnn_optimizer_bounds", out_hi);
    BSNN_CHECK_NULL("bsnn_optimizer_bounds", out_open);
    if (!kind_valid((int)kind) || param != BSNN_OPT_LR)
        return bsnn__fail(BSNN_E_ARG, "bsnn_optimizer_bounds: parameter %d does not apply to %s",
                          (int)param, kind_name((int)kind));
    *out_lo = 0.0;
    *out_hi = 1e6;
    *out_open = 1;
    return BSNN_OK;
}

bsnn_status bsnn_optimizer_set(bsnn_optimizer *opt, bsnn_opt_param param, double value)
{
    BSNN_CHECK_NULL("bsnn_optimizer_set", opt);
    double lo, hi;
    int open;
    if (bsnn_optimizer_bounds(&lo, &hi, &open, opt->kind, param) != BSNN_OK)
        return bsnn__fail(BSNN_E_ARG, "bsnn_optimizer_set: parameter %d does not apply to %s",
                          (int)param, kind_name((int)opt->kind));
    int ok = isfinite(value) && ((open & 1) ? value > lo : value >= lo) &&
             ((open & 2) ? value < hi : value <= hi);
    if (!ok)
        return bsnn__fail(BSNN_E_ARG, "bsnn_optimizer_set: value %g of parameter %d is out of %c%g, %g%c",
                          value, (int)param, (open & 1) ? '(' : '[', lo, hi, (open & 2) ? ')' : ']');
    opt->lr = value;
    return BSNN_OK;
}

bsnn_status bsnn_optimizer_get(double *out, const bsnn_optimizer *opt, bsnn_opt_param param)
{
    BSNN_CHECK_NULL("bsnn_optimizer_get", out);
    BSNN_CHECK_NULL("bsnn_optimizer_get", opt);
    if (param != BSNN_OPT_LR)
        return bsnn__fail(BSNN_E_ARG, "bsnn_optimizer_get: parameter %d does not apply to %s",
                          (int)param, kind_name((int)opt->kind));
    *out = opt->lr;
    return BSNN_OK;
}

bsnn_status bsnn_optimizer_reset(bsnn_optimizer *opt)
{
    BSNN_CHECK_NULL("bsnn_optimizer_reset", opt);
    bsnn__free(opt->state);
    opt->state = NULL;
    opt->n = 0;
    opt->t = 0;
    opt->bound = NULL;
    return BSNN_OK;
}

bsnn_status bsnn__optimizer_bind(bsnn_optimizer *opt, const bsnn_model *m, size_t n)
{
    if (opt->bound == m && opt->n == n) return BSNN_OK;
    if (opt->bound != NULL)
        return bsnn__fail(BSNN_E_STATE,
                          "bsnn_model_train_step: optimizer is bound to another model "
                          "(call bsnn_optimizer_reset to reuse it)");
    opt->bound = m;
    opt->n = n;
    opt->t = 0;
    return BSNN_OK;
}

void bsnn__optimizer_update(bsnn_optimizer *opt, float *params, const float *grads,
                            const float *decay_mask, size_t n, double lr)
{
    (void)decay_mask;
    float step = (float)lr;
    for (size_t i = 0; i < n; i++) params[i] -= step * grads[i];
    opt->t++;
}
