/*
 * tensor.c - bsnn_tensor: a float32 array of rank 1-4, owned (64-byte
 * aligned) or borrowed from the caller for zero-copy FFI.
 */
#include "common/common.h"

static bsnn_status check_shape(int rank, const size_t *shape, size_t *out_count)
{
    BSNN_FAIL_IF(rank < 1 || rank > BSNN_MAX_RANK, BSNN_E_ARG, "rank %d is not in 1..%d", rank,
                 BSNN_MAX_RANK);
    BSNN_CHECK_NULL(shape);
    size_t count = 1;
    for (int i = 0; i < rank; i++) {
        BSNN_FAIL_IF(shape[i] == 0, BSNN_E_ARG, "shape[%d] is 0", i);
        count = bsnn__mul_size(count, shape[i]);
        BSNN_FAIL_IF(count == 0 || count > SIZE_MAX / sizeof(float), BSNN_E_ARG,
                     "shape overflows the address space");
    }
    *out_count = count;
    return BSNN_OK;
}

static bsnn_tensor *tensor_new(float *data, int rank, const size_t *shape)
{
    size_t count = 0;
    if (check_shape(rank, shape, &count) != BSNN_OK) return NULL;
    bsnn_tensor *t = bsnn__calloc(1, sizeof *t);
    if (t == NULL) return NULL;
    t->rank = rank;
    for (int i = 0; i < rank; i++) t->shape[i] = shape[i];
    if (data == NULL) {
        t->data = bsnn__calloc(count, sizeof(float));
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
    BSNN_ENTER();
    return tensor_new(NULL, rank, shape);
}

bsnn_tensor *bsnn_tensor_wrap(float *data, int rank, const size_t *shape)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL_CTOR(data);
    return tensor_new(data, rank, shape);
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

size_t bsnn__tensor_size(const bsnn_tensor *t)
{
    size_t count = 1;
    for (int i = 0; i < t->rank; i++) count *= t->shape[i];
    return count;
}

size_t bsnn_tensor_size(const bsnn_tensor *t) { return t ? bsnn__tensor_size(t) : 0; }

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
    BSNN_ENTER();
    BSNN_CHECK_NULL(t);
    BSNN_CHECK_NULL(src);
    BSNN_FAIL_IF(count != bsnn__tensor_size(t), BSNN_E_SHAPE, "count %zu, tensor holds %zu", count,
                 bsnn__tensor_size(t));
    memmove(t->data, src, count * sizeof(float));
    return BSNN_OK;
}

bsnn_status bsnn_tensor_copy_out(float *out, size_t count, const bsnn_tensor *t)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(t);
    BSNN_FAIL_IF(count != bsnn__tensor_size(t), BSNN_E_SHAPE, "count %zu, tensor holds %zu", count,
                 bsnn__tensor_size(t));
    memmove(out, t->data, count * sizeof(float));
    return BSNN_OK;
}

bsnn_status bsnn_tensor_fill(bsnn_tensor *t, float value)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(t);
    size_t count = bsnn__tensor_size(t);
    for (size_t i = 0; i < count; i++) t->data[i] = value;
    return BSNN_OK;
}
