/*
 * workspace.c - the buffers of forward passes and training steps, laid out
 * for one model in ONE allocation that grows only when the batch grows, so
 * a steady-state step allocates nothing. bsnn__workspace_layout is the one
 * description of that block: the allocator sizes it and points into it
 * with it, and bsnn_model_memory counts it with it, so the estimate is the
 * allocation to the byte.
 *
 * The block, each part 64-byte aligned: the pointer arrays (acts, scratch
 * and, for training, delta, n_layers each); every layer's output; every
 * layer's scratch; and for training: every layer's delta (dL/d output,
 * kept for the whole backward pass), the batch's inputs and targets, and
 * the per-chunk partial results of the step's reductions.
 */
#include "nn/nn.h"

/* A running byte offset whose overflow sticks. */
typedef struct cursor {
    size_t at;
    int overflow;
} cursor;

/* Reserve count * size bytes, 64-byte aligned; the offset of the part. */
static size_t take(cursor *c, size_t count, size_t size)
{
    size_t bytes = bsnn__mul_size(count, size);
    if (bytes == 0 && count && size) c->overflow = 1;
    size_t start = c->at, end = bsnn__add_size(start, bytes);
    size_t padded = bsnn__add_size(end, BSNN_ALIGN - 1);
    if ((end == 0 && (start | bytes)) || padded == 0) c->overflow = 1;
    c->at = padded & ~(size_t)(BSNN_ALIGN - 1);
    return start;
}

/* floats of a rows x width block, overflow recorded. */
static size_t rows_of(cursor *c, size_t rows, size_t width)
{
    size_t n = bsnn__mul_size(rows, width);
    if (n == 0 && rows && width) c->overflow = 1;
    return n;
}

/* The model's output width (model.c's bsnn__model_n_outputs: the layout
 * is below the model, so it does not call back into it). */
static size_t outputs(const bsnn_model *m)
{
    return m->n_layers ? m->layers[m->n_layers - 1]->n_out : m->n_in;
}

/* Partial results the step keeps per chunk: four per chunk of its largest
 * chunked reduction (the loss over row chunks, or the parameter arena). */
static size_t parts_of(const bsnn_model *m, size_t rows)
{
    size_t loss = bsnn__loss_chunks(rows, outputs(m));
    size_t arena = bsnn__chunks(m->n_params);
    size_t most = loss > arena ? loss : arena;
    return 4 * (most ? most : 1);
}

size_t bsnn__workspace_layout(const bsnn_model *m, size_t rows, int training,
                              bsnn_workspace *fill)
{
    cursor c = {0, 0};
    size_t nl = m->n_layers;
    char *base = fill ? fill->block : NULL;
    size_t acts = take(&c, nl, sizeof(float *)), scratch = take(&c, nl, sizeof(float *));
    size_t delta = training ? take(&c, nl, sizeof(float *)) : 0;
    if (fill) {
        fill->acts = (float **)(void *)(base + acts);
        fill->scratch = (float **)(void *)(base + scratch);
        fill->delta = training ? (float **)(void *)(base + delta) : NULL;
        fill->n_layers = nl;
    }
    for (size_t i = 0; i < nl; i++) {
        size_t off = take(&c, rows_of(&c, rows, m->layers[i]->n_out), sizeof(float));
        if (fill) fill->acts[i] = (float *)(void *)(base + off);
    }
    for (size_t i = 0; i < nl; i++) {
        const bsnn_layer *l = m->layers[i];
        size_t per_rows = rows_of(&c, rows, l->scratch_per_row);
        size_t floats = bsnn__add_size(per_rows, l->scratch_fixed);
        if (floats == 0 && (per_rows | l->scratch_fixed)) c.overflow = 1;
        size_t off = take(&c, floats, sizeof(float));
        if (fill) fill->scratch[i] = floats ? (float *)(void *)(base + off) : NULL;
    }
    if (!training) return c.overflow ? 0 : c.at;
    for (size_t i = 0; i < nl; i++) {
        size_t off = take(&c, rows_of(&c, rows, m->layers[i]->n_out), sizeof(float));
        if (fill) fill->delta[i] = (float *)(void *)(base + off);
    }
    size_t x = take(&c, rows_of(&c, rows, m->n_in), sizeof(float));
    size_t y = take(&c, rows_of(&c, rows, outputs(m)), sizeof(float));
    size_t n_parts = parts_of(m, rows), parts = take(&c, n_parts, sizeof(double));
    if (fill) {
        fill->xbuf = (float *)(void *)(base + x);
        fill->ybuf = (float *)(void *)(base + y);
        fill->parts = (double *)(void *)(base + parts);
        fill->n_parts = n_parts;
    }
    return c.overflow ? 0 : c.at;
}

size_t bsnn__model_workspace_bytes(const bsnn_model *m, size_t rows)
{
    size_t bytes = bsnn__workspace_layout(m, rows, 1, NULL);
    size_t cost = bsnn__alloc_cost(bytes);
    return bytes == 0 || cost < bytes ? 0 : cost;
}

void bsnn__workspace_release(bsnn_workspace *ws)
{
    bsnn__free(ws->block);
    ws->block = NULL;
    ws->acts = ws->scratch = ws->delta = NULL;
    ws->xbuf = ws->ybuf = NULL;
    ws->parts = NULL;
    ws->rows = ws->n_layers = ws->n_parts = 0;
}

bsnn_status bsnn__workspace_grow(bsnn_workspace *ws, const bsnn_model *m, size_t rows)
{
    if (rows <= ws->rows && ws->layout == m->layout) return BSNN_OK;
    if (rows < ws->rows) rows = ws->rows; /* a new layout keeps the size reached */
    size_t bytes = bsnn__workspace_layout(m, rows, ws->training, NULL);
    BSNN_FAIL_IF(bytes == 0 || bsnn__alloc_cost(bytes) < bytes, BSNN_E_NOMEM,
                 "cannot allocate a workspace of %zu rows: its size "
                 "overflows the address space",
                 rows);
    void *block = bsnn__calloc(1, bytes);
    if (block == NULL) return BSNN_E_NOMEM; /* the old block stays usable */
    bsnn__workspace_release(ws);
    ws->block = block;
    bsnn__workspace_layout(m, rows, ws->training, ws);
    ws->rows = rows;
    ws->layout = m->layout;
    return BSNN_OK;
}
