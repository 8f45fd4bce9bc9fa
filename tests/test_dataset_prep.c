/*
 * test_dataset_prep.c - preparing a dataset for training: input statistics
 * and standardisation (fit on one set, applied to another), one-hot targets.
 */
#include "testutil.h"

Test(dataset_prep, stats_are_the_population_mean_and_std_of_each_column)
{
    float x[8] = {1, 10, 2, 10, 3, 10, 6, 10}, y[4] = {0, 1, 0, 1};
    bsnn_dataset *ds = bsnn_dataset_create(x, y, 4, 2, 1);
    float mean[2], sd[2];
    cr_assert_eq(bsnn_dataset_input_stats(mean, sd, 2, ds), BSNN_OK);
    /* column 0: mean 3, deviations -2,-1,0,3 -> var 14/4. column 1 constant: std 1. */
    cr_assert_float_eq(mean[0], 3.0f, 1e-6);
    cr_assert_float_eq(sd[0], (float)sqrt(3.5), 1e-6);
    cr_assert_float_eq(mean[1], 10.0f, 1e-6);
    cr_assert_eq(sd[1], 1.0f);
    cr_assert_eq(bsnn_dataset_input_stats(mean, sd, 3, ds), BSNN_E_SHAPE);
    cr_assert_eq(bsnn_dataset_input_stats(NULL, sd, 2, ds), BSNN_E_NULL);
    bsnn_dataset_free(ds);
}

Test(dataset_prep, standardize_with_train_stats_centres_train_not_test)
{
    float xa[6] = {0, 2, 4, 6, 8, 10}, xb[2] = {5, 20}, y[6] = {0};
    bsnn_dataset *tr = bsnn_dataset_create(xa, y, 6, 1, 1);
    bsnn_dataset *te = bsnn_dataset_create(xb, y, 2, 1, 1);
    float mean, sd;
    cr_assert_eq(bsnn_dataset_input_stats(&mean, &sd, 1, tr), BSNN_OK);
    cr_assert_eq(bsnn_dataset_standardize(tr, &mean, &sd, 1), BSNN_OK);
    cr_assert_eq(bsnn_dataset_standardize(te, &mean, &sd, 1), BSNN_OK);
    double s = 0, q = 0;
    for (int i = 0; i < 6; i++) s += bsnn_dataset_inputs(tr)[i];
    for (int i = 0; i < 6; i++) q += pow(bsnn_dataset_inputs(tr)[i], 2);
    cr_assert_float_eq(s / 6, 0.0, 1e-6);
    cr_assert_float_eq(q / 6, 1.0, 1e-5);
    /* test point 20: (20 - 5) / sqrt(35/3 * ...) computed in double here */
    double var = 0;
    for (int i = 0; i < 6; i++) var += pow(xa[i] - 5.0, 2) / 6;
    cr_assert_float_eq(bsnn_dataset_inputs(te)[1], 15.0 / sqrt(var), 1e-5);
    float zero = 0.0f;
    cr_assert_eq(bsnn_dataset_standardize(te, &mean, &zero, 1), BSNN_E_ARG);
    cr_assert_eq(bsnn_dataset_standardize(te, &mean, &sd, 2), BSNN_E_SHAPE);
    cr_assert_eq(bsnn_dataset_standardize(NULL, &mean, &sd, 1), BSNN_E_NULL);
    bsnn_dataset_free(tr);
    bsnn_dataset_free(te);
}

Test(dataset_prep, one_hot_puts_a_single_one_in_the_label_column)
{
    float x[4] = {1, 2, 3, 4}, y[4] = {2, 0, 1, 2};
    bsnn_dataset *ds = bsnn_dataset_create(x, y, 4, 1, 1);
    bsnn_dataset *oh = bsnn_dataset_one_hot(ds, 3);
    cr_assert_not_null(oh, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_dataset_n_targets(oh), 3);
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < 3; j++)
            cr_assert_eq(bsnn_dataset_targets(oh)[r * 3 + j], j == (int)y[r] ? 1.0f : 0.0f);
    cr_assert_eq(bsnn_dataset_inputs(oh)[3], 4.0f);
    cr_assert_null(bsnn_dataset_one_hot(ds, 2)); /* label 2 out of range */
    cr_assert(strstr(bsnn_last_error(), "row 0") != NULL, "%s", bsnn_last_error());
    cr_assert_null(bsnn_dataset_one_hot(ds, 1));
    cr_assert_null(bsnn_dataset_one_hot(oh, 3)); /* 3 target columns */
    cr_assert_null(bsnn_dataset_one_hot(NULL, 3));
    float bad[4] = {0.5f, 0, 1, 1};
    bsnn_dataset *b = bsnn_dataset_create(x, bad, 4, 1, 1);
    cr_assert_null(bsnn_dataset_one_hot(b, 3));
    bsnn_dataset_free(b);
    bsnn_dataset_free(ds);
    bsnn_dataset_free(oh);
}
