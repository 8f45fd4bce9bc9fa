/*
 * tensor.c - bsnn_tensor: a float32 array of rank 1-4, owned (64-byte
 * aligned) or borrowed from the caller for zero-copy FFI.
 */
#include "internal.h"

static bsnn_status check_shape(const char *who, int rank, const size_t *shape, size_t *out_count)
{
    if (rank < 1 || rank > BSNN_MAX_RANK)
        return bsnn__fail(BSNN_E_ARG, "%s: rank %d is not in 1..%d", who, rank, BSNN_MAX_RANK);
    if (shape == NULL) return bsnn__fail(BSNN_E_NULL, "%s: argument 'shape' is NULL", who);
    size_t count = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] == 0)
            return bsnn__fail(BSNN_E_ARG, "%s: shape[%d] is 0", who, i);
        count = bsnn__mul_size(count, shape[i]);
        if (count == 0 || count > SIZE_MAX / sizeof(float))
            return bsnn__fail(BSNN_E_ARG, "%s: shape overflows the address space", who);
    }
    *out_count = count;
    return BSNN_OK;
}

static bsnn_tensor *tensor_new(const char *who, float *data, int rank, const size_t *shape)
{
    size_t count = 0;
    if (check_shape(who, rank, shape, &count) != BSNN_OK) return NULL;
    bsnn_tensor *t = bsnn__calloc(1, sizeof *t, who);
    if (t == NULL) return NULL;
    t->rank = rank;
    for (int i = 0; i < rank; i++) t->shape[i] = shape[i];
    if (data == NULL) {
        t->data = bsnn__calloc(count, sizeof(float), who);
        if (t->data == NULL) {
            bsnn__free(t);
            return NULL;
        }
        t->owned = 1;
    } else {
        t->data = data;
    }
    return t;
}

bsnn_tensor *bsnn_tensor_create(int rank, const size_t *shape)
{
    return tensor_new("bsnn_tensor_create", NULL, rank, shape);
}

bsnn_tensor *bsnn_tensor_wrap(float *data, int rank, const size_t *shape)
{
    if (data == NULL) {
        bsnn__fail(BSNN_E_NULL, "bsnn_tensor_wrap: argument 'data' is NULL");
        return NULL;
    }
    return tensor_new("bsnn_tensor_wrap", data, rank, shape);
}

void bsnn_tensor_free(bsnn_tensor *t)
{
    if (t == NULL) return;
    if (t->owned) bsnn__free(t->data);
    bsnn__free(t);
}

int bsnn_tensor_rank(const bsnn_tensor *t) { return t ? t->rank : 0; }

size_t bsnn_tensor_dim(const bsnn_tensor *t, int dim)
{
    if (t == NULL || dim < 0 || dim >= t->rank) return 0;
    return t->shape[dim];
}

size_t bsnn_tensor_size(const bsnn_tensor *t)
{
    if (t == NULL) return 0;
    size_t count = 1;
    for (int i = 0; i < t->rank; i++) count *= t->shape[i];
    return count;
}

size_t bsnn__tensor_rows(const bsnn_tensor *t) { return t->shape[0]; }

size_t bsnn__tensor_cols(const bsnn_tensor *t)
{
    size_t cols = 1;
    for (int i = 1; i < t->rank; i++) cols *= t->shape[i];
    return cols;
}

float *bsnn_tensor_data(bsnn_tensor *t) { return t ? t->data : NULL; }

bsnn_status bsnn_tensor_copy_in(bsnn_tensor *t, const float *src, size_t count)
{
    BSNN_CHECK_NULL("bsnn_tensor_copy_in", t);
    BSNN_CHECK_NULL("bsnn_tensor_copy_in", src);
    if (count != bsnn_tensor_size(t))
        return bsnn__fail(BSNN_E_SHAPE, "bsnn_tensor_copy_in: count %zu, tensor holds %zu",
                          count, bsnn_tensor_size(t));
    memmove(t->data, src, count * sizeof(float));
    return BSNN_OK;
}

bsnn_status bsnn_tensor_copy_out(float *out, size_t count, const bsnn_tensor *t)
{
    BSNN_CHECK_NULL("bsnn_tensor_copy_out", out);
    BSNN_CHECK_NULL("bsnn_tensor_copy_out", t);
    if (count != bsnn_tensor_size(t))
        return bsnn__fail(BSNN_E_SHAPE, "bsnn_tensor_copy_out: count %zu, tensor holds %zu",
                          count, bsnn_tensor_size(t));
    memmove(out, t->data, count * sizeof(float));
    return BSNN_OK;
}

bsnn_status bsnn_tensor_fill(bsnn_tensor *t, float value)
{
    BSNN_CHECK_NULL("bsnn_tensor_fill", t);
    size_t count = bsnn_tensor_size(t);
    for (size_t i = 0; i < count; i++) t->data[i] = value;
    return BSNN_OK;
}
