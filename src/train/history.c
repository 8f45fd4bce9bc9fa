/*
 * history.c - bsnn_history: one row of doubles per training epoch (epoch,
 * batch size, lr, losses, accuracy, time, samples, updates, the gradient
 * noise-scale estimates), readable by
 * index for FFI hosts and written to CSV in one call for plots.
 */
#include "train/train.h"


struct bsnn_history {
    double *rows; /* BSNN__HIST_COLS per row */
    size_t n, cap;
};

bsnn_history *bsnn_history_create(void)
{
    BSNN_ENTER();
    return bsnn__calloc(1, sizeof(bsnn_history));
}

void bsnn_history_free(bsnn_history *h)
{
    if (h == NULL) return;
    bsnn__free(h->rows);
    bsnn__free(h);
}

size_t bsnn_history_size(const bsnn_history *h) { return h ? h->n : 0; }

bsnn_status bsnn_history_clear(bsnn_history *h)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(h);
    h->n = 0;
    return BSNN_OK;
}

bsnn_status bsnn__rows_append(double **rows, size_t *n, size_t *cap, size_t cols,
                              const double *row)
{
    if (*n == *cap) {
        /* Doubling keeps appends amortised O(1). */
        size_t grown_cap = *cap ? 2 * *cap : 64;
        double *grown = bsnn__calloc(grown_cap, cols * sizeof(double));
        if (grown == NULL) return BSNN_E_NOMEM;
        if (*n) memcpy(grown, *rows, *n * cols * sizeof(double));
        bsnn__free(*rows);
        *rows = grown;
        *cap = grown_cap;
    }
    memcpy(*rows + *n * cols, row, cols * sizeof(double));
    (*n)++;
    return BSNN_OK;
}

bsnn_status bsnn__history_append(bsnn_history *h, const double *row)
{
    return bsnn__rows_append(&h->rows, &h->n, &h->cap, BSNN__HIST_COLS, row);
}

bsnn_status bsnn_history_get(double *out, const bsnn_history *h, size_t row,
                             bsnn_hist_field field)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(h);
    BSNN_FAIL_IF(row >= h->n, BSNN_E_ARG, "row %zu is out of range (%zu rows)", row, h->n);
    BSNN_FAIL_IF(field < BSNN_HIST_EPOCH || field > BSNN_HIST_B_SIMPLE, BSNN_E_ARG,
                 "unknown field %d", (int)field);
    *out = h->rows[row * BSNN__HIST_COLS + (size_t)field - 1];
    return BSNN_OK;
}

static const char *const hist_header =
    "epoch,batch_size,lr,train_loss,val_loss,val_accuracy,wall_seconds,samples,updates,"
    "noise_grad_sq,noise_trace,b_simple\n";

static int write_rows(bsnn__text *t, const void *obj)
{
    const bsnn_history *h = obj;
    if (bsnn__text_printf(t, "%s", hist_header) != 0) return -1;
    for (size_t r = 0; r < h->n; r++) {
        const double *v = h->rows + r * BSNN__HIST_COLS;
        if (bsnn__text_printf(t, "%.0f,%.0f,%.9g,%.9g,%.9g,%.9g,%.6f,%.0f,%.0f,%.9g,%.9g,%.9g\n",
                              v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10],
                              v[11]) != 0)
            return -1;
    }
    return 0;
}

bsnn_status bsnn_history_write_csv(const bsnn_history *h, const char *path)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(h);
    BSNN_CHECK_NULL(path);
    return bsnn__write_text_file(path, write_rows, h);
}
