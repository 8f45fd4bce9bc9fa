/*
 * test_workspace.c - bsnn_workspace: a host-owned workspace for inference
 * on a const model. Its results must equal the model's own forward and
 * evaluate bit for bit at every batch size, it must grow only when the batch
 * grows, follow layers added after it was made, refuse another model, and
 * never change the model it reads. (Several threads on one model:
 * tests/test_thread.c.)
 */
#include "testutil.h"

/* 3 -> dense 8 -> batch norm -> tanh -> dropout -> dense 2, trained a few
 * steps so the running statistics are not the identity. */
static bsnn_model *trained_model(void)
{
    bsnn_model *m = bsnn_model_create(3);
    cr_assert_not_null(m);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(8)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_batchnorm()), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dropout(0.3)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(2)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_SOFTMAX_CE), BSNN_OK);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_ADAM);
    float x[16 * 3], y[16];
    for (int i = 0; i < 16 * 3; i++) x[i] = (float)sin(0.7 * i);
    for (int i = 0; i < 16; i++) y[i] = (float)(i % 2);
    bsnn_tensor *tx = tu_wrap(x, 16, 3), *ty = tu_wrap(y, 16, 1);
    for (int s = 0; s < 5; s++)
        cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_OK, "%s", bsnn_last_error());
    bsnn_tensor_free(tx), bsnn_tensor_free(ty);
    bsnn_optimizer_free(opt);
    return m;
}

static void fill_rows(float *x, size_t n, size_t cols, double phase)
{
    for (size_t i = 0; i < n * cols; i++) x[i] = (float)cos(phase + 0.37 * (double)i);
}

Test(workspace, forward_ws_equals_forward_bit_for_bit_at_every_batch_size)
{
    bsnn_model *m = trained_model();
    bsnn_workspace *ws = bsnn_workspace_create(m);
    cr_assert_not_null(ws, "%s", bsnn_last_error());
    static const size_t sizes[] = {1, 7, 64, 3, 64, 200, 1};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        float *x = malloc(n * 3 * sizeof(float)), *a = malloc(n * 2 * sizeof(float));
        float *b = malloc(n * 2 * sizeof(float));
        fill_rows(x, n, 3, (double)k);
        bsnn_tensor *tx = tu_wrap(x, n, 3), *ta = tu_wrap(a, n, 2), *tb = tu_wrap(b, n, 2);
        cr_assert_eq(bsnn_model_forward_ws(ta, m, ws, tx), BSNN_OK, "%s", bsnn_last_error());
        cr_assert_eq(bsnn_model_forward(tb, m, tx), BSNN_OK, "%s", bsnn_last_error());
        cr_assert(memcmp(a, b, n * 2 * sizeof(float)) == 0, "batch %zu differs", n);
        bsnn_tensor_free(tx), bsnn_tensor_free(ta), bsnn_tensor_free(tb);
        free(x), free(a), free(b);
    }
    bsnn_workspace_free(ws);
    bsnn_model_free(m);
}

Test(workspace, evaluate_ws_equals_evaluate)
{
    bsnn_model *m = trained_model();
    float x[50 * 3], y[50];
    fill_rows(x, 50, 3, 0.5);
    for (int i = 0; i < 50; i++) y[i] = (float)((i * 7) % 2);
    bsnn_dataset *ds = bsnn_dataset_create(x, y, 50, 3, 1);
    bsnn_workspace *ws = bsnn_workspace_create(m);
    for (size_t batch = 1; batch <= 50; batch += 7) {
        double l1 = -1, a1 = -1, l2 = -2, a2 = -2;
        cr_assert_eq(bsnn_model_evaluate_ws(&l1, &a1, m, ws, ds, batch), BSNN_OK, "%s",
                     bsnn_last_error());
        cr_assert_eq(bsnn_model_evaluate(&l2, &a2, m, ds, batch), BSNN_OK);
        cr_assert(l1 == l2 && a1 == a2, "batch %zu: %.17g/%.17g vs %.17g/%.17g", batch, l1, a1,
                  l2, a2);
    }
    bsnn_workspace_free(ws);
    bsnn_dataset_free(ds);
    bsnn_model_free(m);
}

/* Inference reads the model only: parameters, statistics (batch norm's
 * running averages) and the dropout generator are untouched. */
Test(workspace, inference_on_a_workspace_changes_nothing_in_the_model)
{
    bsnn_model *m = trained_model();
    size_t np = bsnn_model_param_count(m);
    void *before = NULL, *after = NULL;
    size_t n1 = 0, n2 = 0;
    cr_assert_eq(bsnn_model_save_alloc(&before, &n1, m), BSNN_OK);
    bsnn_workspace *ws = bsnn_workspace_create(m);
    float x[30 * 3], out[30 * 2];
    fill_rows(x, 30, 3, 1.0);
    bsnn_tensor *tx = tu_wrap(x, 30, 3), *to = tu_wrap(out, 30, 2);
    for (int r = 0; r < 3; r++) cr_assert_eq(bsnn_model_forward_ws(to, m, ws, tx), BSNN_OK);
    cr_assert_eq(bsnn_model_save_alloc(&after, &n2, m), BSNN_OK);
    cr_assert(n1 == n2 && memcmp(before, after, n1) == 0, "the model's file image changed");
    cr_assert_gt(np, 0);
    bsnn_buffer_free(before), bsnn_buffer_free(after);
    bsnn_tensor_free(tx), bsnn_tensor_free(to);
    bsnn_workspace_free(ws);
    bsnn_model_free(m);
}

/* A call at or below the largest batch served allocates nothing. */
Test(workspace, grows_only_when_the_batch_grows)
{
    tu_count_allocations(0);
    bsnn_model *m = trained_model();
    bsnn_workspace *ws = bsnn_workspace_create(m);
    float x[40 * 3], out[40 * 2];
    fill_rows(x, 40, 3, 2.0);
    bsnn_tensor *t40 = tu_wrap(x, 40, 3), *o40 = tu_wrap(out, 40, 2);
    bsnn_tensor *t5 = tu_wrap(x, 5, 3), *o5 = tu_wrap(out, 5, 2);
    cr_assert_eq(bsnn_model_forward_ws(o40, m, ws, t40), BSNN_OK);
    size_t allocs = tu_stats.allocs;
    cr_assert_eq(bsnn_model_forward_ws(o5, m, ws, t5), BSNN_OK);
    cr_assert_eq(bsnn_model_forward_ws(o40, m, ws, t40), BSNN_OK);
    cr_assert_eq(tu_stats.allocs, allocs, "a batch within the reserve allocated");
    bsnn_tensor_free(t40), bsnn_tensor_free(o40), bsnn_tensor_free(t5), bsnn_tensor_free(o5);
    bsnn_workspace_free(ws);
    bsnn_model_free(m);
    cr_assert_eq(tu_stats.live_bytes, 0);
    tu_restore_allocator();
}

/* Made before layers were added, or before more were: it adapts. */
Test(workspace, follows_layers_added_after_it_was_made)
{
    bsnn_model *m = bsnn_model_create(2);
    bsnn_workspace *ws = bsnn_workspace_create(m);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(3)), BSNN_OK);
    float x[4] = {0.5f, -1.0f, 2.0f, 0.25f}, a[6], b[6];
    bsnn_tensor *tx = tu_wrap(x, 2, 2), *ta = tu_wrap(a, 2, 3), *tb = tu_wrap(b, 2, 3);
    cr_assert_eq(bsnn_model_forward_ws(ta, m, ws, tx), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_RELU)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(3)), BSNN_OK);
    cr_assert_eq(bsnn_model_forward_ws(ta, m, ws, tx), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_model_forward(tb, m, tx), BSNN_OK);
    cr_assert(memcmp(a, b, sizeof a) == 0);
    bsnn_tensor_free(tx), bsnn_tensor_free(ta), bsnn_tensor_free(tb);
    bsnn_workspace_free(ws);
    bsnn_model_free(m);
}

Test(workspace, refuses_another_model_and_bad_arguments)
{
    bsnn_model *m = trained_model(), *other = trained_model();
    bsnn_workspace *ws = bsnn_workspace_create(other);
    float x[3] = {1, 2, 3}, out[2];
    bsnn_tensor *tx = tu_wrap(x, 1, 3), *to = tu_wrap(out, 1, 2);
    cr_assert_eq(bsnn_model_forward_ws(to, m, ws, tx), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "bsnn_model_forward_ws") != NULL);
    cr_assert(strstr(bsnn_last_error(), "another model") != NULL, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_model_forward_ws(to, m, NULL, tx), BSNN_E_NULL);
    cr_assert(strstr(bsnn_last_error(), "'ws'") != NULL, "%s", bsnn_last_error());
    cr_assert_null(bsnn_workspace_create(NULL));
    cr_assert(strstr(bsnn_last_error(), "bsnn_workspace_create") != NULL);
    bsnn_dataset *ds = bsnn_dataset_create(x, x, 1, 3, 1);
    cr_assert_eq(bsnn_model_evaluate_ws(NULL, NULL, m, ws, ds, 1), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "bsnn_model_evaluate_ws") != NULL);
    bsnn_dataset_free(ds);
    bsnn_workspace_free(NULL);
    /* Outliving its model is allowed: freeing it later is safe. */
    bsnn_model_free(other);
    bsnn_workspace_free(ws);
    bsnn_tensor_free(tx), bsnn_tensor_free(to);
    bsnn_model_free(m);
}
