/*
 * test_tensor.c - bsnn_tensor: owned tensors are zero-filled and 64-byte
 * aligned, wrapped tensors borrow the caller's memory without copying, shape
 * queries, copy in/out, fill, and bad input.
 */
#include "testutil.h"

#include <stdint.h>

Test(tensor, create_reports_shape_and_is_zeroed_and_aligned)
{
    for (int rank = 1; rank <= BSNN_MAX_RANK; rank++) {
        size_t shape[4] = {3, 5, 2, 7}, want = 1;
        for (int i = 0; i < rank; i++) want *= shape[i];
        bsnn_tensor *t = bsnn_tensor_create(rank, shape);
        cr_assert_not_null(t, "%s", bsnn_last_error());
        cr_assert_eq(bsnn_tensor_rank(t), rank);
        for (int i = 0; i < rank; i++) cr_assert_eq(bsnn_tensor_dim(t, i), shape[i]);
        cr_assert_eq(bsnn_tensor_dim(t, rank), 0, "dim past the rank is 0");
        cr_assert_eq(bsnn_tensor_dim(t, -1), 0);
        cr_assert_eq(bsnn_tensor_size(t), want);
        float *d = bsnn_tensor_data(t);
        cr_assert_eq((uintptr_t)d % 64, 0, "owned storage is 64-byte aligned");
        for (size_t i = 0; i < want; i++) cr_assert_eq(d[i], 0.0f);
        bsnn_tensor_free(t);
    }
}

Test(tensor, wrap_borrows_caller_memory_without_copy)
{
    float buf[6] = {1, 2, 3, 4, 5, 6};
    size_t shape[2] = {2, 3};
    bsnn_tensor *t = bsnn_tensor_wrap(buf, 2, shape);
    cr_assert_not_null(t);
    cr_assert_eq(bsnn_tensor_data(t), buf);
    buf[4] = 50;
    cr_assert_eq(bsnn_tensor_data(t)[4], 50.0f, "a change by the caller is visible");
    cr_assert_eq(bsnn_tensor_fill(t, 7.0f), BSNN_OK);
    for (int i = 0; i < 6; i++) cr_assert_eq(buf[i], 7.0f, "a change through bsnn is visible");
    bsnn_tensor_free(t); /* must not free buf (ASan would catch it) */
    buf[0] = 1.0f;
    cr_assert_eq(buf[0], 1.0f);
}

Test(tensor, copy_in_copy_out_round_trip_and_fill)
{
    size_t shape[3] = {2, 2, 2};
    bsnn_tensor *t = bsnn_tensor_create(3, shape);
    float src[8] = {1, -2, 3, -4, 5, -6, 7, -8}, dst[8] = {0};
    cr_assert_eq(bsnn_tensor_copy_in(t, src, 8), BSNN_OK);
    cr_assert_eq(bsnn_tensor_copy_out(dst, 8, t), BSNN_OK);
    cr_assert(memcmp(src, dst, sizeof src) == 0);
    cr_assert_eq(bsnn_tensor_fill(t, -1.5f), BSNN_OK);
    cr_assert_eq(bsnn_tensor_copy_out(dst, 8, t), BSNN_OK);
    for (int i = 0; i < 8; i++) cr_assert_eq(dst[i], -1.5f);
    bsnn_tensor_free(t);
}

Test(tensor, rank_above_two_is_flattened_for_the_model)
{
    /* x [2][2][2] is two rows of 4 features. */
    bsnn_model *m = bsnn_model_create(4);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_LINEAR)), BSNN_OK);
    size_t xs[3] = {2, 2, 2}, os[2] = {2, 4};
    bsnn_tensor *x = bsnn_tensor_create(3, xs), *o = bsnn_tensor_create(2, os);
    float v[8] = {1, 2, 3, 4, 5, 6, 7, 8}, got[8];
    bsnn_tensor_copy_in(x, v, 8);
    cr_assert_eq(bsnn_model_forward(o, m, x), BSNN_OK, "%s", bsnn_last_error());
    bsnn_tensor_copy_out(got, 8, o);
    cr_assert(memcmp(v, got, sizeof v) == 0);
    bsnn_tensor_free(x);
    bsnn_tensor_free(o);
    bsnn_model_free(m);
}

Test(tensor, bad_input_is_rejected_with_a_message)
{
    size_t shape[4] = {2, 3, 1, 1}, zero[2] = {2, 0};
    float buf[6];
    cr_assert_null(bsnn_tensor_create(0, shape));
    cr_assert(strstr(bsnn_last_error(), "bsnn_tensor_create") != NULL);
    cr_assert(strstr(bsnn_last_error(), "rank 0") != NULL);
    cr_assert_null(bsnn_tensor_create(5, shape));
    cr_assert_null(bsnn_tensor_create(-1, shape));
    cr_assert_null(bsnn_tensor_create(2, NULL));
    cr_assert(strstr(bsnn_last_error(), "shape") != NULL);
    cr_assert_null(bsnn_tensor_create(2, zero));
    cr_assert(strstr(bsnn_last_error(), "shape[1]") != NULL);
    size_t huge[2] = {SIZE_MAX / 2, 4};
    cr_assert_null(bsnn_tensor_create(2, huge));
    cr_assert(strstr(bsnn_last_error(), "overflow") != NULL);
    size_t big[2] = {(size_t)1 << 40, (size_t)1 << 30}; /* no overflow, no memory */
    cr_assert_null(bsnn_tensor_create(2, big));
    cr_assert_null(bsnn_tensor_wrap(NULL, 2, shape));
    cr_assert(strstr(bsnn_last_error(), "bsnn_tensor_wrap") != NULL);
    cr_assert(strstr(bsnn_last_error(), "data") != NULL);
    cr_assert_null(bsnn_tensor_wrap(buf, 0, shape));
    cr_assert_null(bsnn_tensor_wrap(buf, 2, zero));

    cr_assert_eq(bsnn_tensor_rank(NULL), 0);
    cr_assert_eq(bsnn_tensor_dim(NULL, 0), 0);
    cr_assert_eq(bsnn_tensor_size(NULL), 0);
    cr_assert_null(bsnn_tensor_data(NULL));
    bsnn_tensor_free(NULL);

    bsnn_tensor *t = bsnn_tensor_wrap(buf, 2, shape);
    cr_assert_eq(bsnn_tensor_copy_in(NULL, buf, 6), BSNN_E_NULL);
    cr_assert(strstr(bsnn_last_error(), "bsnn_tensor_copy_in") != NULL);
    cr_assert_eq(bsnn_tensor_copy_in(t, NULL, 6), BSNN_E_NULL);
    cr_assert(strstr(bsnn_last_error(), "src") != NULL);
    cr_assert_eq(bsnn_tensor_copy_in(t, buf, 5), BSNN_E_SHAPE);
    cr_assert(strstr(bsnn_last_error(), "5") != NULL);
    cr_assert_eq(bsnn_tensor_copy_out(NULL, 6, t), BSNN_E_NULL);
    cr_assert_eq(bsnn_tensor_copy_out(buf, 6, NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_tensor_copy_out(buf, 7, t), BSNN_E_SHAPE);
    cr_assert_eq(bsnn_tensor_fill(NULL, 1.0f), BSNN_E_NULL);
    cr_assert(strstr(bsnn_last_error(), "bsnn_tensor_fill") != NULL);
    bsnn_tensor_free(t);
}
