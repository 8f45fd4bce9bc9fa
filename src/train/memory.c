/*
 * memory.c - what training costs in bytes: bsnn_model_memory adds up every
 * block the model and optimizer hold while training at a batch size (as
 * bsnn__alloc requests them, alignment header included), and
 * bsnn_model_max_batch inverts it for a memory budget.
 */
#include "train/train.h"

/* Bytes that do not depend on the batch: structures, arenas, optimizer. */
static size_t fixed_bytes(const bsnn_model *m, const bsnn_optimizer *opt)
{
    size_t arena = m->n_params * sizeof(float);
    size_t bytes = bsnn__model_fixed_bytes(m);
    if (opt) {
        /* optimizer.c allocates n_state_vectors arena-sized vectors on bind */
        bytes += bsnn__alloc_cost(sizeof *opt) + bsnn__alloc_cost(opt->n_state_vectors * arena);
        /* a snapshot buffer exists only after a step whose safety bound failed */
        if (opt->snap) bytes += bsnn__alloc_cost(opt->snap_cap * sizeof(float));
    }
    return bytes;
}

static bsnn_status check_model(const bsnn_model *m)
{
    BSNN_CHECK_NULL(m);
    BSNN_FAIL_IF(m->n_layers == 0, BSNN_E_STATE, "the model has no layers");
    return BSNN_OK;
}

/* Rows beyond which the estimate could overflow size_t: the one-row
 * workspace bounds the bytes each further row adds. 0 when even one row
 * overflows (a model wider than the address space). */
static size_t max_rows_of(const bsnn_model *m)
{
    size_t one = bsnn__model_workspace_bytes(m, 1);
    return one ? (SIZE_MAX / 4) / one : 0;
}

bsnn_status bsnn__model_memory(size_t *out_bytes, const bsnn_model *m, const bsnn_optimizer *opt,
                               size_t batch)
{
    BSNN_FAIL_IF(batch == 0, BSNN_E_ARG, "batch is 0, expected >= 1");
    BSNN_FAIL_IF(batch > max_rows_of(m), BSNN_E_ARG,
                 "batch %zu overflows the workspace size (the model is %zu wide at most)", batch,
                 m->max_width);
    *out_bytes = fixed_bytes(m, opt) + bsnn__model_workspace_bytes(m, batch);
    return BSNN_OK;
}

bsnn_status bsnn_model_memory(size_t *out_bytes, const bsnn_model *m, const bsnn_optimizer *opt,
                              size_t batch)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out_bytes);
    BSNN_TRY(check_model(m));
    BSNN_CHECK_NULL(opt);
    return bsnn__model_memory(out_bytes, m, opt, batch);
}

bsnn_status bsnn__model_max_batch(size_t *out, const bsnn_model *m, const bsnn_optimizer *opt,
                                  size_t budget_bytes, size_t max_rows)
{
    BSNN_FAIL_IF(max_rows == 0, BSNN_E_ARG, "max_rows is 0, expected >= 1");
    BSNN_FAIL_IF(max_rows_of(m) == 0, BSNN_E_ARG,
                 "the workspace of one row overflows the address space (the model is %zu wide "
                 "at most)",
                 m->max_width);
    size_t fixed = fixed_bytes(m, opt);
    size_t need1 = fixed + bsnn__model_workspace_bytes(m, 1);
    BSNN_FAIL_IF(need1 > budget_bytes, BSNN_E_ARG,
                 "budget %zu bytes is below the %zu bytes one row needs", budget_bytes, need1);
    /* The cost grows with rows; bisect for the last row count that fits. */
    size_t lo = 1, hi = max_rows < max_rows_of(m) ? max_rows : max_rows_of(m);
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        if (fixed + bsnn__model_workspace_bytes(m, mid) <= budget_bytes)
            lo = mid;
        else
            hi = mid - 1;
    }
    *out = lo;
    return BSNN_OK;
}

bsnn_status bsnn_model_max_batch(size_t *out, const bsnn_model *m, const bsnn_optimizer *opt,
                                 size_t budget_bytes, size_t max_rows)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_TRY(check_model(m));
    BSNN_CHECK_NULL(opt);
    return bsnn__model_max_batch(out, m, opt, budget_bytes, max_rows);
}
