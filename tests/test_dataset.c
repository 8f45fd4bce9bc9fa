/*
 * test_dataset.c - bsnn_dataset: create copies the caller's arrays, the
 * n-bit parity set by hand, wrap borrows them (training on it equals
 * training on a copy, bit for bit), seeded splits (sizes, disjoint, covering,
 * deterministic), and bad input.
 */
#include "testutil.h"

Test(dataset, create_copies_the_callers_arrays)
{
    float x[3 * 2] = {1, 2, 3, 4, 5, 6}, y[3] = {7, 8, 9};
    bsnn_dataset *ds = bsnn_dataset_create(x, y, 3, 2, 1);
    cr_assert_not_null(ds, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_dataset_size(ds), 3);
    cr_assert_eq(bsnn_dataset_n_inputs(ds), 2);
    cr_assert_eq(bsnn_dataset_n_targets(ds), 1);
    cr_assert_neq(bsnn_dataset_inputs(ds), x, "a copy, not the caller's array");
    cr_assert_neq(bsnn_dataset_targets(ds), y);
    x[0] = 100;
    y[2] = 100;
    cr_assert_eq(bsnn_dataset_inputs(ds)[0], 1.0f, "later changes by the caller do not leak in");
    cr_assert_eq(bsnn_dataset_targets(ds)[2], 9.0f);
    for (int i = 1; i < 6; i++) cr_assert_eq(bsnn_dataset_inputs(ds)[i], (float)(i + 1));
    bsnn_dataset_free(ds);
}

Test(dataset, wrap_borrows_the_callers_arrays_without_copying)
{
    float x[3 * 2] = {1, 2, 3, 4, 5, 6}, y[3] = {7, 8, 9};
    bsnn_dataset *ds = bsnn_dataset_wrap(x, y, 3, 2, 1);
    cr_assert_not_null(ds, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_dataset_size(ds), 3);
    cr_assert_eq(bsnn_dataset_inputs(ds), x, "the caller's array itself");
    cr_assert_eq(bsnn_dataset_targets(ds), y);
    x[0] = 100;
    cr_assert_eq(bsnn_dataset_inputs(ds)[0], 100.0f, "borrowed: the caller's changes are seen");
    float mean[2] = {0, 0}, sd[2] = {1, 1};
    cr_assert_eq(bsnn_dataset_standardize(ds, mean, sd, 2), BSNN_E_STATE, "bsnn never writes it");
    cr_assert(strstr(bsnn_last_error(), "bsnn_dataset_standardize") != NULL, "%s", bsnn_last_error());
    cr_assert_eq(x[1], 2.0f, "unchanged after the refusal");
    /* A split copies the rows it takes, so its parts are ordinary datasets. */
    bsnn_dataset *a = NULL, *b = NULL;
    cr_assert_eq(bsnn_dataset_split(&a, &b, ds, 0.5, 3), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_dataset_standardize(a, mean, sd, 2), BSNN_OK, "%s", bsnn_last_error());
    bsnn_dataset_free(a);
    bsnn_dataset_free(b);
    bsnn_dataset_free(ds); /* frees the handle only: x and y are still the caller's */
    cr_assert_eq(x[5], 6.0f);
}

/* The same training run over a copied and a borrowed dataset: the data
 * path must not depend on who owns the arrays. */
static void train_on(float *out_params, size_t count, const bsnn_dataset *ds)
{
    bsnn_model *m = bsnn_model_create(4);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(5)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(1)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_BCE_LOGITS), BSNN_OK);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_ADAM);
    bsnn_scheduler *s = bsnn_scheduler_create(bsnn_dataset_size(ds));
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 3), BSNN_OK);
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, 7, NULL, NULL), BSNN_OK, "%s",
                 bsnn_last_error());
    cr_assert_eq(bsnn_model_param_count(m), count);
    cr_assert_eq(bsnn_model_get_params(out_params, count, m), BSNN_OK);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
}

Test(dataset, training_on_a_wrapped_dataset_equals_training_on_a_copy)
{
    bsnn_dataset *par = bsnn_dataset_parity(4);
    bsnn_dataset *copy = bsnn_dataset_create(bsnn_dataset_inputs(par), bsnn_dataset_targets(par),
                                             16, 4, 1);
    bsnn_dataset *wrap = bsnn_dataset_wrap(bsnn_dataset_inputs(par), bsnn_dataset_targets(par),
                                           16, 4, 1);
    cr_assert_not_null(wrap, "%s", bsnn_last_error());
    float pc[31], pw[31];
    train_on(pc, 31, copy);
    train_on(pw, 31, wrap);
    cr_assert_eq(memcmp(pc, pw, sizeof pc), 0, "bit-identical parameters");
    bsnn_dataset_free(wrap);
    bsnn_dataset_free(copy);
    bsnn_dataset_free(par);
}

Test(dataset, wrap_refuses_null_empty_non_finite_and_overflowing_sizes)
{
    float x[4] = {1, 2, 3, 4}, y[2] = {0, 1};
    cr_assert_null(bsnn_dataset_wrap(NULL, y, 2, 2, 1));
    cr_assert(strstr(bsnn_last_error(), "bsnn_dataset_wrap") != NULL, "%s", bsnn_last_error());
    cr_assert(strstr(bsnn_last_error(), "'x'") != NULL);
    cr_assert_null(bsnn_dataset_wrap(x, NULL, 2, 2, 1));
    cr_assert(strstr(bsnn_last_error(), "'y'") != NULL);
    cr_assert_null(bsnn_dataset_wrap(x, y, 0, 2, 1));
    cr_assert_null(bsnn_dataset_wrap(x, y, 2, 0, 1));
    cr_assert_null(bsnn_dataset_wrap(x, y, 2, 2, 0));
    float xn[4] = {1, NAN, 3, 4}, yi[2] = {0, INFINITY};
    cr_assert_null(bsnn_dataset_wrap(xn, y, 2, 2, 1));
    cr_assert(strstr(bsnn_last_error(), "NaN") != NULL, "%s", bsnn_last_error());
    cr_assert_null(bsnn_dataset_wrap(x, yi, 2, 2, 1));
    /* Counts whose product, or whose byte size, wraps: refused before any read. */
    cr_assert_null(bsnn_dataset_wrap(x, y, (size_t)1 << 40, (size_t)1 << 40, 1));
    cr_assert(strstr(bsnn_last_error(), "too large") != NULL, "%s", bsnn_last_error());
    cr_assert_null(bsnn_dataset_wrap(x, y, SIZE_MAX / 4 + 1, 1, 1));
    cr_assert(strstr(bsnn_last_error(), "too large") != NULL, "%s", bsnn_last_error());
}

Test(dataset, parity_rows_are_counting_order_with_odd_parity_targets)
{
    bsnn_dataset *ds = bsnn_dataset_parity(4);
    cr_assert_eq(bsnn_dataset_size(ds), 16);
    cr_assert_eq(bsnn_dataset_n_inputs(ds), 4);
    cr_assert_eq(bsnn_dataset_n_targets(ds), 1);
    const float *x = bsnn_dataset_inputs(ds), *y = bsnn_dataset_targets(ds);
    /* By hand: row 0 = 0000 -> 0, row 1 = 0001 -> 1, row 6 = 0110 -> 0,
     * row 7 = 0111 -> 1, row 8 = 1000 -> 1, row 15 = 1111 -> 0. */
    float want_x[6][4] = {{0, 0, 0, 0}, {0, 0, 0, 1}, {0, 1, 1, 0},
                          {0, 1, 1, 1}, {1, 0, 0, 0}, {1, 1, 1, 1}};
    int rows[6] = {0, 1, 6, 7, 8, 15};
    float want_y[6] = {0, 1, 0, 1, 1, 0};
    for (int k = 0; k < 6; k++) {
        for (int b = 0; b < 4; b++) cr_assert_eq(x[rows[k] * 4 + b], want_x[k][b], "row %d", rows[k]);
        cr_assert_eq(y[rows[k]], want_y[k], "row %d", rows[k]);
    }
    int ones = 0;
    for (int r = 0; r < 16; r++) ones += y[r] == 1.0f;
    cr_assert_eq(ones, 8);
    bsnn_dataset_free(ds);
    bsnn_dataset *one = bsnn_dataset_parity(1);
    cr_assert_eq(bsnn_dataset_size(one), 2);
    cr_assert_eq(bsnn_dataset_targets(one)[0], 0.0f);
    cr_assert_eq(bsnn_dataset_targets(one)[1], 1.0f);
    bsnn_dataset_free(one);
}

/* Split rows back to source row numbers through their unique first input. */
static void check_split(size_t n, double fraction, uint64_t seed)
{
    float *x = calloc(n * 2, sizeof(float)), *y = calloc(n, sizeof(float));
    for (size_t r = 0; r < n; r++) x[r * 2] = (float)r, x[r * 2 + 1] = -(float)r, y[r] = (float)r;
    bsnn_dataset *ds = bsnn_dataset_create(x, y, n, 2, 1), *a = NULL, *b = NULL;
    cr_assert_eq(bsnn_dataset_split(&a, &b, ds, fraction, seed), BSNN_OK, "%s", bsnn_last_error());
    size_t want = (size_t)floor(fraction * (double)n + 0.5);
    if (want < 1) want = 1;
    if (want > n - 1) want = n - 1;
    cr_assert_eq(bsnn_dataset_size(a), want, "n %zu fraction %g", n, fraction);
    cr_assert_eq(bsnn_dataset_size(a) + bsnn_dataset_size(b), n);
    cr_assert_eq(bsnn_dataset_n_inputs(b), 2);
    int *seen = calloc(n, sizeof(int));
    bsnn_dataset *parts[2] = {a, b};
    for (int p = 0; p < 2; p++)
        for (size_t r = 0; r < bsnn_dataset_size(parts[p]); r++) {
            const float *row = bsnn_dataset_inputs(parts[p]) + r * 2;
            size_t src = (size_t)row[0];
            cr_assert_lt(src, n);
            cr_assert_eq(row[1], -(float)src, "rows stay whole");
            cr_assert_eq(bsnn_dataset_targets(parts[p])[r], (float)src, "targets follow rows");
            seen[src]++;
        }
    for (size_t r = 0; r < n; r++) cr_assert_eq(seen[r], 1, "row %zu: disjoint and covering", r);
    /* Same seed, same split. */
    bsnn_dataset *a2 = NULL, *b2 = NULL;
    cr_assert_eq(bsnn_dataset_split(&a2, &b2, ds, fraction, seed), BSNN_OK);
    cr_assert(memcmp(bsnn_dataset_inputs(a), bsnn_dataset_inputs(a2),
                     bsnn_dataset_size(a) * 2 * sizeof(float)) == 0);
    free(seen);
    free(x);
    free(y);
    bsnn_dataset_free(a), bsnn_dataset_free(b), bsnn_dataset_free(a2), bsnn_dataset_free(b2);
    bsnn_dataset_free(ds);
}

Test(dataset, split_sizes_disjoint_covering_and_deterministic)
{
    double fractions[5] = {0.5, 0.1, 0.9, 0.001, 0.999};
    size_t sizes[4] = {2, 3, 16, 101};
    for (int f = 0; f < 5; f++)
        for (int s = 0; s < 4; s++) check_split(sizes[s], fractions[f], 3 + (uint64_t)s);
}

Test(dataset, split_depends_on_the_seed)
{
    bsnn_dataset *ds = bsnn_dataset_parity(6), *a, *b, *c, *d;
    cr_assert_eq(bsnn_dataset_split(&a, &b, ds, 0.5, 1), BSNN_OK);
    cr_assert_eq(bsnn_dataset_split(&c, &d, ds, 0.5, 2), BSNN_OK);
    cr_assert(memcmp(bsnn_dataset_inputs(a), bsnn_dataset_inputs(c), 32 * 6 * sizeof(float)) != 0);
    bsnn_dataset_free(a), bsnn_dataset_free(b), bsnn_dataset_free(c), bsnn_dataset_free(d);
    bsnn_dataset_free(ds);
}

Test(dataset, bad_input_is_rejected_with_a_message)
{
    float x[4] = {1, 2, 3, 4}, y[2] = {0, 1};
    cr_assert_null(bsnn_dataset_create(NULL, y, 2, 2, 1));
    cr_assert(strstr(bsnn_last_error(), "bsnn_dataset_create") != NULL);
    cr_assert(strstr(bsnn_last_error(), "'x'") != NULL);
    cr_assert_null(bsnn_dataset_create(x, NULL, 2, 2, 1));
    cr_assert(strstr(bsnn_last_error(), "'y'") != NULL);
    cr_assert_null(bsnn_dataset_create(x, y, 0, 2, 1));
    cr_assert_null(bsnn_dataset_create(x, y, 2, 0, 1));
    cr_assert_null(bsnn_dataset_create(x, y, 2, 2, 0));
    cr_assert(strstr(bsnn_last_error(), "n_targets = 0") != NULL, "%s", bsnn_last_error());
    cr_assert_null(bsnn_dataset_create(x, y, SIZE_MAX / 2, 4, 1), "size overflow");
    float bad[4][4] = {{NAN, 2, 3, 4}, {1, INFINITY, 3, 4}, {1, 2, 3, -INFINITY}};
    for (int i = 0; i < 3; i++) {
        cr_assert_null(bsnn_dataset_create(bad[i], y, 2, 2, 1), "case %d", i);
        cr_assert(strstr(bsnn_last_error(), "NaN or infinite") != NULL);
    }
    float ybad[2] = {0, NAN};
    cr_assert_null(bsnn_dataset_create(x, ybad, 2, 2, 1));

    cr_assert_null(bsnn_dataset_parity(0));
    cr_assert(strstr(bsnn_last_error(), "bsnn_dataset_parity") != NULL);
    cr_assert(strstr(bsnn_last_error(), "bits = 0") != NULL);
    cr_assert_null(bsnn_dataset_parity(21));
    cr_assert_null(bsnn_dataset_parity(-3));

    cr_assert_eq(bsnn_dataset_size(NULL), 0);
    cr_assert_eq(bsnn_dataset_n_inputs(NULL), 0);
    cr_assert_eq(bsnn_dataset_n_targets(NULL), 0);
    cr_assert_null(bsnn_dataset_inputs(NULL));
    cr_assert_null(bsnn_dataset_targets(NULL));
    bsnn_dataset_free(NULL);

    bsnn_dataset *ds = bsnn_dataset_create(x, y, 2, 2, 1), *one = bsnn_dataset_create(x, y, 1, 2, 1);
    bsnn_dataset *a = (bsnn_dataset *)1, *b = (bsnn_dataset *)1; /* must stay untouched */
    double fr[6] = {0.0, 1.0, -0.5, 1.5, NAN, INFINITY};
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(bsnn_dataset_split(&a, &b, ds, fr[i], 1), BSNN_E_ARG, "fraction %g", fr[i]);
        cr_assert(strstr(bsnn_last_error(), "fraction") != NULL);
    }
    cr_assert_eq(bsnn_dataset_split(&a, &b, one, 0.5, 1), BSNN_E_SHAPE, "one row cannot split");
    cr_assert_eq(bsnn_dataset_split(NULL, &b, ds, 0.5, 1), BSNN_E_NULL);
    cr_assert_eq(bsnn_dataset_split(&a, NULL, ds, 0.5, 1), BSNN_E_NULL);
    cr_assert_eq(bsnn_dataset_split(&a, &b, NULL, 0.5, 1), BSNN_E_NULL);
    cr_assert(a == (bsnn_dataset *)1 && b == (bsnn_dataset *)1, "outputs untouched on failure");
    bsnn_dataset_free(ds);
    bsnn_dataset_free(one);
}
