/*
 * test_standardize.c - the standardize layer: its output is bit for bit
 * bsnn_dataset_standardize's; a model that begins with it, on raw rows,
 * trains and predicts exactly as the same model without it on standardised
 * rows; the input gradient (when it sits after another layer) matches
 * central differences of a double network; the statistics are state (not
 * parameters), kept by init_params and training, saved and loaded, refused
 * when a file forges them; misuse.
 */
#include "testutil.h"

#include "train/train.h"

static float lcg(unsigned *st, float a)
{
    *st = *st * 1103515245u + 12345u;
    return a * ((float)((*st >> 8) % 20001) / 10000.0f - 1.0f);
}

enum { N = 40, W = 3 };

/* Raw rows with very different scales per feature, and a target. */
static bsnn_dataset *raw_rows(unsigned seed)
{
    float x[N * W], y[N];
    unsigned st = seed;
    for (int r = 0; r < N; r++) {
        x[r * W + 0] = 1000.0f + 50.0f * lcg(&st, 1.0f);
        x[r * W + 1] = 0.01f * lcg(&st, 1.0f);
        x[r * W + 2] = -7.0f + lcg(&st, 3.0f);
        y[r] = (float)(x[r * W + 0] > 1000.0f) + (float)(x[r * W + 1] > 0.0f);
    }
    bsnn_dataset *ds = bsnn_dataset_create(x, y, N, W, 1);
    cr_assert_not_null(ds);
    return ds;
}

Test(standardize, output_is_bit_for_bit_the_datasets_standardisation)
{
    bsnn_dataset *ds = raw_rows(1);
    float mean[W], std[W];
    cr_assert_eq(bsnn_dataset_input_stats(mean, std, W, ds), BSNN_OK);
    bsnn_model *m = bsnn_model_create(W);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_standardize(mean, std, W)), BSNN_OK, "%s",
                 bsnn_last_error());
    cr_assert_eq(bsnn_layer_kind_of(bsnn_model_layer(m, 0)), BSNN_LAYER_STANDARDIZE);
    cr_assert_eq(bsnn_model_param_count(m), 0, "statistics are not parameters");
    float out[N * W];
    bsnn_tensor *tx = tu_wrap((float *)bsnn_dataset_inputs(ds), N, W), *to = tu_wrap(out, N, W);
    cr_assert_eq(bsnn_model_forward(to, m, tx), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_dataset_standardize(ds, mean, std, W), BSNN_OK);
    cr_assert(memcmp(out, bsnn_dataset_inputs(ds), sizeof out) == 0);
    bsnn_tensor_free(tx), bsnn_tensor_free(to);
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
}

/* 3 -> dense 6 -> tanh -> dense 1 with the same parameters, optionally
 * behind a standardize layer. */
static bsnn_model *net(const float *mean, const float *std)
{
    bsnn_model *m = bsnn_model_create(W);
    if (mean) cr_assert_eq(bsnn_model_add(m, bsnn_layer_standardize(mean, std, W)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(6)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(1)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_MSE), BSNN_OK);
    cr_assert_eq(bsnn_model_init_params(m, 5), BSNN_OK);
    return m;
}

Test(standardize, raw_rows_through_the_layer_train_exactly_as_standardised_rows)
{
    bsnn_dataset *raw = raw_rows(2), *pre = raw_rows(2);
    float mean[W], std[W];
    cr_assert_eq(bsnn_dataset_input_stats(mean, std, W, raw), BSNN_OK);
    cr_assert_eq(bsnn_dataset_standardize(pre, mean, std, W), BSNN_OK);
    bsnn_model *a = net(mean, std), *b = net(NULL, NULL);
    size_t np = bsnn_model_param_count(b);
    cr_assert_eq(bsnn_model_param_count(a), np);
    bsnn_optimizer *oa = bsnn_optimizer_create(BSNN_ADAM), *ob = bsnn_optimizer_create(BSNN_ADAM);
    bsnn_scheduler *sa = bsnn_scheduler_create(N), *sb = bsnn_scheduler_create(N);
    bsnn_scheduler_set(sa, BSNN_SCHED_BATCH_SIZE, 8), bsnn_scheduler_set(sb, BSNN_SCHED_BATCH_SIZE, 8);
    cr_assert_eq(bsnn_model_train(NULL, a, oa, sa, raw, 20, NULL, NULL), BSNN_OK, "%s",
                 bsnn_last_error());
    cr_assert_eq(bsnn_model_train(NULL, b, ob, sb, pre, 20, NULL, NULL), BSNN_OK);
    float pa[64], pb[64];
    cr_assert_eq(bsnn_model_get_params(pa, np, a), BSNN_OK);
    cr_assert_eq(bsnn_model_get_params(pb, np, b), BSNN_OK);
    cr_assert(memcmp(pa, pb, np * sizeof(float)) == 0, "training trajectories differ");
    double la, lb;
    cr_assert_eq(bsnn_model_evaluate(&la, NULL, a, raw, N), BSNN_OK);
    cr_assert_eq(bsnn_model_evaluate(&lb, NULL, b, pre, N), BSNN_OK);
    cr_assert_eq(la, lb);
    bsnn_optimizer_free(oa), bsnn_optimizer_free(ob);
    bsnn_scheduler_free(sa), bsnn_scheduler_free(sb);
    bsnn_model_free(a), bsnn_model_free(b);
    bsnn_dataset_free(raw), bsnn_dataset_free(pre);
}

/* After a dense layer the layer passes dx = dy / std back: the first dense
 * layer's gradient against central differences of the same net in double. */
static double ref_loss(const double *p, const float *x, const float *t, size_t n,
                       const float *mean, const float *std)
{
    const double *w1 = p, *b1 = w1 + 2 * W, *w2 = b1 + W, *b2 = w2 + W;
    double loss = 0;
    for (size_t r = 0; r < n; r++) {
        double o = b2[0];
        for (int j = 0; j < W; j++) {
            double h = b1[j] + x[r * 2] * w1[j] + x[r * 2 + 1] * w1[W + j];
            o += ((h - mean[j]) / std[j]) * w2[j];
        }
        loss += 0.5 * (o - t[r]) * (o - t[r]);
    }
    return loss / (double)n;
}

Test(standardize, input_gradient_matches_central_differences_in_double)
{
    const float mean[W] = {0.5f, -1.0f, 2.0f}, std[W] = {0.25f, 3.0f, 1.5f};
    bsnn_model *m = bsnn_model_create(2);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(W)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_standardize(mean, std, W)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(1)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_MSE), BSNN_OK);
    size_t np = bsnn_model_param_count(m);
    cr_assert_eq(np, 2 * W + W + W + 1);
    float pf[16], x[7 * 2], t[7];
    double pd[16];
    unsigned st = 4;
    for (size_t i = 0; i < np; i++) pd[i] = pf[i] = lcg(&st, 1.0f);
    for (int i = 0; i < 14; i++) x[i] = lcg(&st, 2.0f);
    for (int i = 0; i < 7; i++) t[i] = lcg(&st, 1.0f);
    cr_assert_eq(bsnn_model_set_params(m, pf, np), BSNN_OK);
    cr_assert_eq(bsnn__model_reserve(m, 7), BSNN_OK);
    bsnn__engine_gradient(m, x, t, 7, 1);
    for (size_t i = 0; i < np; i++) {
        double keep = pd[i], h = 1e-6;
        pd[i] = keep + h;
        double lp = ref_loss(pd, x, t, 7, mean, std);
        pd[i] = keep - h;
        double lm = ref_loss(pd, x, t, 7, mean, std);
        pd[i] = keep;
        double fd = (lp - lm) / (2 * h);
        cr_assert_leq(fabs(fd - m->grads[i]), 2e-4 * fmax(1.0, fabs(fd)),
                      "param %zu: backward %g, double FD %g", i, m->grads[i], fd);
    }
    bsnn_model_free(m);
}

Test(standardize, statistics_are_state_kept_by_init_params_and_training)
{
    const float mean[W] = {1, 2, 3}, std[W] = {4, 5, 6};
    bsnn_model *m = net(mean, std);
    bsnn_layer *l = bsnn_model_layer(m, 0);
    const float *state = m->state + l->state_off;
    cr_assert_eq(l->n_state, 2 * W);
    const float want[2 * W] = {1, 2, 3, 4, 5, 6};
    cr_assert_arr_eq(state, want, sizeof want);
    cr_assert_eq(bsnn_model_init_params(m, 99), BSNN_OK);
    cr_assert_arr_eq(m->state + l->state_off, want, sizeof want, "init_params reset the stats");
    bsnn_dataset *ds = raw_rows(3);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    bsnn_scheduler *s = bsnn_scheduler_create(N);
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, 3, NULL, NULL), BSNN_OK);
    cr_assert_arr_eq(m->state + l->state_off, want, sizeof want, "training changed the stats");
    /* no settings */
    double v;
    unsigned open;
    for (int p = 1; p <= BSNN_LAYER_L2; p++) {
        cr_assert_eq(bsnn_layer_get(&v, l, (bsnn_layer_param)p), BSNN_E_ARG);
        cr_assert_eq(bsnn_layer_bounds(&v, &v, &open, BSNN_LAYER_STANDARDIZE, (bsnn_layer_param)p),
                     BSNN_E_ARG);
    }
    bsnn_optimizer_free(opt);
    bsnn_scheduler_free(s);
    bsnn_dataset_free(ds);
    bsnn_model_free(m);
}

Test(standardize, save_and_load_keep_the_statistics_and_a_forged_std_is_refused)
{
    const float mean[W] = {10, -20, 0.5f}, std[W] = {2, 0.125f, 7};
    bsnn_model *m = net(mean, std);
    void *buf = NULL;
    size_t size = 0;
    cr_assert_eq(bsnn_model_save_alloc(&buf, &size, m), BSNN_OK);
    bsnn_model *back = NULL;
    cr_assert_eq(bsnn_model_load_buffer(&back, buf, size), BSNN_OK, "%s", bsnn_last_error());
    bsnn_layer *l = bsnn_model_layer(back, 0);
    cr_assert_eq(bsnn_layer_kind_of(l), BSNN_LAYER_STANDARDIZE);
    const float want[2 * W] = {10, -20, 0.5f, 2, 0.125f, 7};
    cr_assert_arr_eq(back->state + l->state_off, want, sizeof want);
    bsnn_dataset *ds = raw_rows(4);
    double la, lb;
    cr_assert_eq(bsnn_model_evaluate(&la, NULL, m, ds, N), BSNN_OK);
    cr_assert_eq(bsnn_model_evaluate(&lb, NULL, back, ds, N), BSNN_OK);
    cr_assert_eq(la, lb);
    bsnn_model_free(back);
    /* Forge std[1] = 0 in the STAT section and reseal its CRC. */
    unsigned char *p = buf;
    float std1 = 0.125f, zero = 0.0f;
    size_t at = 0;
    for (size_t i = 0; i + 4 <= size; i++)
        if (memcmp(p + i, &std1, 4) == 0) at = i;
    cr_assert_gt(at, 0);
    memcpy(p + at, &zero, 4);
    size_t sec = at;
    while (memcmp(p + sec, "STAT", 4) != 0) sec--;
    uint64_t len = 0;
    for (int k = 0; k < 8; k++) len |= (uint64_t)p[sec + 8 + k] << (8 * k);
    uint32_t crc = bsnn__crc32(0, p + sec, 16 + len);
    for (int k = 0; k < 4; k++) p[sec + 16 + len + k] = (unsigned char)(crc >> (8 * k));
    back = NULL;
    cr_assert_eq(bsnn_model_load_buffer(&back, buf, size), BSNN_E_FORMAT);
    cr_assert(strstr(bsnn_last_error(), "std") != NULL, "%s", bsnn_last_error());
    cr_assert_null(back);
    bsnn_buffer_free(buf);
    bsnn_dataset_free(ds);
    bsnn_model_free(m);
}

Test(standardize, bad_statistics_and_widths_are_refused)
{
    const float mean[W] = {0, 0, 0}, ok[W] = {1, 1, 1};
    const float zero[W] = {1, 0, 1}, neg[W] = {1, -1, 1}, inf[W] = {1, INFINITY, 1};
    const float nanm[W] = {0, NAN, 0};
    cr_assert_null(bsnn_layer_standardize(NULL, ok, W));
    cr_assert(strstr(bsnn_last_error(), "bsnn_layer_standardize: argument 'mean'") != NULL);
    cr_assert_null(bsnn_layer_standardize(mean, NULL, W));
    cr_assert_null(bsnn_layer_standardize(mean, ok, 0));
    cr_assert_null(bsnn_layer_standardize(mean, zero, W));
    cr_assert(strstr(bsnn_last_error(), "feature 1") != NULL, "%s", bsnn_last_error());
    cr_assert_null(bsnn_layer_standardize(mean, neg, W));
    cr_assert_null(bsnn_layer_standardize(mean, inf, W));
    cr_assert_null(bsnn_layer_standardize(nanm, ok, W));
    /* made for 3 features, added where the width is 4: refused and freed */
    bsnn_model *m = bsnn_model_create(4);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_standardize(mean, ok, W)), BSNN_E_SHAPE);
    cr_assert(strstr(bsnn_last_error(), "bsnn_model_add") != NULL, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_model_n_layers(m), 0);
    bsnn_layer *l = bsnn_layer_standardize(mean, ok, W);
    bsnn_layer_free(l); /* never added: its copy of the statistics goes too */
    bsnn_model_free(m);
}
