/*
 * evaluate.c - loss and accuracy over a whole dataset that every rank
 * holds, each rank evaluating its contiguous share of the rows (the
 * scheduler's rule for a batch) through a borrowed view, and the sums
 * combined by rows: the global figures, for the price of 1/N of the work.
 */
#include "mpi/internal.h"

#include <math.h>

size_t bsnn_mpi__share_start(size_t c, size_t r, size_t size)
{
    size_t extra = c % size;
    return r * (c / size) + (r < extra ? r : extra);
}

/* This rank's part: sums of loss and correct rows over its share. */
static bsnn_status evaluate_share(double *sums, const bsnn_mpi *ctx, bsnn_model *m,
                                  const bsnn_dataset *ds, size_t batch_size, int want_loss,
                                  int want_accuracy)
{
    size_t n = bsnn_dataset_size(ds), ni = bsnn_dataset_n_inputs(ds),
           no = bsnn_dataset_n_targets(ds);
    BSNN_MPI_FAIL_IF(batch_size == 0 || batch_size > n, BSNN_E_ARG,
                     "batch_size %zu is outside 1..%zu (the dataset's rows)", batch_size, n);
    size_t lo = bsnn_mpi__share_start(n, (size_t)ctx->rank, (size_t)ctx->size);
    size_t rows = bsnn_mpi__share_start(n, (size_t)ctx->rank + 1, (size_t)ctx->size) - lo;
    sums[2] = (double)rows;
    if (rows == 0) return BSNN_OK;
    bsnn_dataset *view = bsnn_dataset_wrap(bsnn_dataset_inputs(ds) + lo * ni,
                                           bsnn_dataset_targets(ds) + lo * no, rows, ni, no);
    if (view == NULL) return bsnn_mpi__fail_bsnn(BSNN_E_NOMEM, "a view of this rank's rows");
    double loss = 0.0, accuracy = 0.0;
    bsnn_status st =
        bsnn_model_evaluate(want_loss ? &loss : NULL, want_accuracy ? &accuracy : NULL, m, view,
                            batch_size < rows ? batch_size : rows);
    bsnn_dataset_free(view);
    if (st != BSNN_OK) return bsnn_mpi__fail_bsnn(st, "evaluating this rank's rows");
    sums[0] = loss * (double)rows;
    sums[1] = nearbyint(accuracy * (double)rows); /* a count of right rows */
    return BSNN_OK;
}

bsnn_status bsnn_mpi_evaluate(double *out_loss, double *out_accuracy, bsnn_mpi *ctx,
                              bsnn_model *m, const bsnn_dataset *ds, size_t batch_size)
{
    BSNN_MPI_ENTER();
    BSNN_MPI_CHECK_NULL(ctx);
    BSNN_MPI_TRY(bsnn_mpi__usable(ctx));
    const char *what = "bsnn_mpi_evaluate";
    double sums[3] = {0.0, 0.0, 0.0};
    bsnn_status st = m == NULL    ? bsnn_mpi__fail(BSNN_E_NULL, "argument 'm' is NULL")
                     : ds == NULL ? bsnn_mpi__fail(BSNN_E_NULL, "argument 'ds' is NULL")
                                  : evaluate_share(sums, ctx, m, ds, batch_size,
                                                   out_loss != NULL, out_accuracy != NULL);
    BSNN_MPI_TRY(bsnn_mpi__agree(ctx, st, what));
    BSNN_MPI_TRY(bsnn_mpi__allreduce(ctx, sums, 3, MPI_DOUBLE, MPI_SUM, what));
    if (out_loss) *out_loss = sums[0] / sums[2];
    if (out_accuracy) *out_accuracy = sums[1] / sums[2];
    return BSNN_OK;
}
