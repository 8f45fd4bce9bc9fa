/*
 * test_fused.c - the small-batch plain-SGD step with the update folded into
 * the backward pass (src/train/fused.c) must give what the general step (zero,
 * accumulate, check, update) gives - bit for bit at batch 1-4, where both use
 * the same GEMM kernel - keep the gradient readable, and leave parameters
 * untouched when the gradient or the update is not finite.
 */
#include "testutil.h"

#include "train/train.h"

static bsnn_model *net(bsnn_activation act, bsnn_loss loss, size_t n_in, size_t n_out)
{
    bsnn_model *m = tu_mlp(n_in, 24, act, n_out, BSNN_ACT_LINEAR, 7);
    cr_assert_eq(bsnn_model_set_loss(m, loss), BSNN_OK);
    return m;
}

static void fill(float *v, size_t n, unsigned seed, float scale)
{
    for (size_t i = 0; i < n; i++) v[i] = scale * ((float)((i * 2654435761u + seed * 97u) % 2001) / 1000.0f - 1.0f);
}

/* Train a and b on the same batches, a through the public step (fused),
 * b through the general step; compare params and grads (bitwise at batch
 * 1-4, else to float rounding). */
static void same_as_general_at(bsnn_activation act, bsnn_loss loss, size_t n_in, size_t n_out,
                               size_t n)
{
    bsnn_model *a = net(act, loss, n_in, n_out), *b = net(act, loss, n_in, n_out);
    bsnn_optimizer *oa = bsnn_optimizer_create(BSNN_SGD), *ob = bsnn_optimizer_create(BSNN_SGD);
    cr_assert_eq(bsnn_optimizer_set(oa, BSNN_OPT_LR, 0.05), BSNN_OK);
    size_t np = bsnn_model_param_count(a), tw = loss == BSNN_LOSS_SOFTMAX_CE ? 1 : n_out;
    float *x = malloc(n * n_in * sizeof(float)), *y = malloc(n * tw * sizeof(float));
    float *pa = malloc(np * sizeof(float)), *pb = malloc(np * sizeof(float));
    cr_assert_eq(bsnn__optimizer_bind(ob, b, np), BSNN_OK);
    cr_assert_eq(bsnn__model_reserve(b, n), BSNN_OK);
    double tol = n <= 4 ? 0.0 : 1e-4; /* BLIS sums differently */
    for (unsigned step = 0; step < 12; step++) {
        fill(x, n * n_in, step, 2.0f);
        fill(y, n * tw, step + 100, 1.0f);
        if (loss == BSNN_LOSS_SOFTMAX_CE)
            for (size_t r = 0; r < n; r++) y[r] = (float)((step + r) % n_out);
        bsnn_tensor *tx = tu_wrap(x, n, n_in), *ty = tu_wrap(y, n, tw);
        double la, lb;
        cr_assert_eq(bsnn_model_train_step(&la, a, oa, tx, ty), BSNN_OK, "%s", bsnn_last_error());
        cr_assert_eq(bsnn__model_step_general(&lb, NULL, b, ob, x, y, n, tw, 0.05), BSNN_OK);
        cr_assert(tu_rel(la, lb, 1e-6) <= tol, "n=%zu step %u: loss %.17g vs %.17g", n, step, la, lb);
        for (int what = 0; what < 2; what++) {
            (what ? bsnn_model_get_grads : bsnn_model_get_params)(pa, np, a);
            (what ? bsnn_model_get_grads : bsnn_model_get_params)(pb, np, b);
            for (size_t i = 0; i < np; i++)
                cr_assert(tu_rel(pa[i], pb[i], 1e-3) <= tol, "n=%zu step %u: %s %zu %.9g vs %.9g",
                          n, step, what ? "grad" : "param", i, pa[i], pb[i]);
        }
        bsnn_tensor_free(tx);
        bsnn_tensor_free(ty);
    }
    free(x), free(y), free(pa), free(pb);
    bsnn_optimizer_free(oa), bsnn_optimizer_free(ob);
    bsnn_model_free(a), bsnn_model_free(b);
}

static void same_as_general(bsnn_activation act, bsnn_loss loss, size_t n_in, size_t n_out)
{
    const size_t batches[] = {1, 2, 3, 4, 8, BSNN_FUSED_MAX_BATCH};
    for (size_t i = 0; i < sizeof batches / sizeof *batches; i++)
        same_as_general_at(act, loss, n_in, n_out, batches[i]);
}

Test(fused, small_batch_sgd_matches_general_step_for_tanh_mse)
{
    same_as_general(BSNN_ACT_TANH, BSNN_LOSS_MSE, 2, 1);
}

Test(fused, small_batch_sgd_matches_general_step_for_relu_softmax_ce)
{
    same_as_general(BSNN_ACT_RELU, BSNN_LOSS_SOFTMAX_CE, 40, 7);
}

Test(fused, small_batch_sgd_matches_general_step_for_sigmoid_bce)
{
    same_as_general(BSNN_ACT_SIGMOID, BSNN_LOSS_BCE_LOGITS, 17, 3);
}

Test(fused, applies_only_to_small_batch_plain_sgd_without_penalties)
{
    bsnn_model *m = net(BSNN_ACT_TANH, BSNN_LOSS_MSE, 3, 2);
    bsnn_optimizer *sgd = bsnn_optimizer_create(BSNN_SGD), *adam = bsnn_optimizer_create(BSNN_ADAM);
    cr_assert(bsnn__fused_step_ok(m, sgd, 1));
    cr_assert(bsnn__fused_step_ok(m, sgd, BSNN_FUSED_MAX_BATCH));
    cr_assert(!bsnn__fused_step_ok(m, sgd, BSNN_FUSED_MAX_BATCH + 1));
    cr_assert(!bsnn__fused_step_ok(m, adam, 1));
    cr_assert_eq(bsnn_layer_set(bsnn_model_layer(m, 0), BSNN_LAYER_L2, 0.1), BSNN_OK);
    cr_assert(!bsnn__fused_step_ok(m, sgd, 1));
    bsnn_optimizer_free(sgd), bsnn_optimizer_free(adam);
    bsnn_model_free(m);
}

/* A gradient that overflows (huge inputs times huge output error), and an
 * update that overflows a parameter (huge rate): both leave every parameter
 * as it was and report BSNN_E_DIVERGED. */
Test(fused, batch1_divergence_leaves_parameters_unchanged)
{
    const double rates[] = {0.01, 1e6};
    const float scales[] = {3e19f, 1e17f};
    for (int c = 0; c < 2; c++) {
        bsnn_model *m = net(BSNN_ACT_LINEAR, BSNN_LOSS_MSE, 4, 1);
        bsnn_optimizer *o = bsnn_optimizer_create(BSNN_SGD);
        cr_assert_eq(bsnn_optimizer_set(o, BSNN_OPT_LR, rates[c]), BSNN_OK);
        size_t np = bsnn_model_param_count(m);
        float *before = malloc(np * sizeof(float)), *after = malloc(np * sizeof(float));
        bsnn_model_get_params(before, np, m);
        float x[4], y[1] = {-scales[c]};
        for (int i = 0; i < 4; i++) x[i] = scales[c];
        bsnn_tensor *tx = tu_wrap(x, 1, 4), *ty = tu_wrap(y, 1, 1);
        cr_assert_eq(bsnn_model_train_step(NULL, m, o, tx, ty), BSNN_E_DIVERGED, "case %d", c);
        bsnn_model_get_params(after, np, m);
        for (size_t i = 0; i < np; i++) {
            cr_assert(isfinite(after[i]));
            cr_assert_eq(before[i], after[i], "case %d: param %zu changed", c, i);
        }
        bsnn_tensor_free(tx), bsnn_tensor_free(ty);
        free(before), free(after);
        bsnn_optimizer_free(o);
        bsnn_model_free(m);
    }
}

/* The fused step leaves the weight gradients to be rebuilt on demand from
 * saved inputs and deltas: they must read back the same after the model's
 * workspace grows (a wider forward) and after other forwards reuse it. */
Test(fused, gradient_reads_back_after_workspace_changes)
{
    bsnn_model *a = net(BSNN_ACT_TANH, BSNN_LOSS_MSE, 5, 2), *b = net(BSNN_ACT_TANH, BSNN_LOSS_MSE, 5, 2);
    bsnn_optimizer *oa = bsnn_optimizer_create(BSNN_SGD), *ob = bsnn_optimizer_create(BSNN_SGD);
    size_t np = bsnn_model_param_count(a), n = 3;
    float x[15], y[6], big[64 * 5], out[64 * 2];
    fill(x, 15, 1, 1.5f);
    fill(y, 6, 2, 1.0f);
    fill(big, 64 * 5, 3, 1.0f);
    float *ga = malloc(np * sizeof(float)), *gb = malloc(np * sizeof(float));
    cr_assert_eq(bsnn__optimizer_bind(ob, b, np), BSNN_OK);
    cr_assert_eq(bsnn__model_reserve(b, n), BSNN_OK);
    bsnn_tensor *tx = tu_wrap(x, n, 5), *ty = tu_wrap(y, n, 2);
    bsnn_tensor *tbig = tu_wrap(big, 64, 5), *tout = tu_wrap(out, 64, 2);
    bsnn_tensor *tsmall = tu_wrap(big, 2, 5), *tsout = tu_wrap(out, 2, 2);
    cr_assert_eq(bsnn_model_train_step(NULL, a, oa, tx, ty), BSNN_OK);
    cr_assert_eq(bsnn__model_step_general(NULL, NULL, b, ob, x, y, n, 2, 0.01), BSNN_OK);
    cr_assert_eq(bsnn_model_forward(tsout, a, tsmall), BSNN_OK); /* reuses the workspace */
    bsnn_model_get_grads(ga, np, a);
    bsnn_model_get_grads(gb, np, b);
    for (size_t i = 0; i < np; i++) cr_assert_eq(ga[i], gb[i], "grad %zu after a small forward", i);
    cr_assert_eq(bsnn_model_forward(tout, a, tbig), BSNN_OK); /* grows it */
    bsnn_model_get_grads(ga, np, a);
    for (size_t i = 0; i < np; i++) cr_assert_eq(ga[i], gb[i], "grad %zu after the workspace grew", i);
    bsnn_tensor_free(tx), bsnn_tensor_free(ty), bsnn_tensor_free(tbig), bsnn_tensor_free(tout);
    bsnn_tensor_free(tsmall), bsnn_tensor_free(tsout);
    free(ga), free(gb);
    bsnn_optimizer_free(oa), bsnn_optimizer_free(ob);
    bsnn_model_free(a), bsnn_model_free(b);
}
