/*
 * test_playground.c - the Playground generators, features and the 1-D toy:
 * counts, class balance, ranges, determinism per seed, and points recomputed
 * here from the Playground's formulas (replaying the documented draw order
 * on bsnn's generator).
 */
#include "testutil.h"

#include "train/train.h"

static const double PI = 3.14159265358979323846;

static bsnn_dataset *gen(bsnn_playground set, size_t n, double noise, uint64_t seed, int flags)
{
    bsnn_dataset *ds = bsnn_dataset_playground(set, n, noise, seed, flags);
    cr_assert_not_null(ds, "%s", bsnn_last_error());
    return ds;
}

static double U(bsnn_rng *r, double a, double b) { return a + (b - a) * bsnn__rng_uniform(r); }

Test(playground, every_set_has_n_rows_of_two_inputs_and_one_target)
{
    size_t ns[] = {2, 10, 500};
    for (int set = BSNN_PG_CIRCLE; set <= BSNN_PG_MULTI_GAUSS; set++)
        for (size_t k = 0; k < 3; k++) {
            bsnn_dataset *ds = gen((bsnn_playground)set, ns[k], 0.2, 7, 0);
            cr_assert_eq(bsnn_dataset_size(ds), ns[k]);
            cr_assert_eq(bsnn_dataset_n_inputs(ds), 2);
            cr_assert_eq(bsnn_dataset_n_targets(ds), 1);
            bsnn_dataset_free(ds);
        }
}

Test(playground, classification_sets_are_balanced_with_labels_plus_minus_one)
{
    for (int set = BSNN_PG_CIRCLE; set <= BSNN_PG_SPIRAL; set++) {
        bsnn_dataset *ds = gen((bsnn_playground)set, 500, 0.0, 3, 0);
        const float *y = bsnn_dataset_targets(ds);
        size_t pos = 0;
        for (size_t i = 0; i < 500; i++) {
            cr_assert(y[i] == 1.0f || y[i] == -1.0f);
            pos += y[i] > 0;
        }
        /* XOR's balance is statistical; the others are exactly n/2 at noise 0. */
        if (set == BSNN_PG_XOR)
            cr_assert(pos > 200 && pos < 300, "xor: %zu positives", pos);
        else
            cr_assert_eq(pos, 250, "set %d: %zu positives", set, pos);
        bsnn_dataset_free(ds);
    }
}

Test(playground, labels_01_flag_maps_minus_one_to_zero)
{
    bsnn_dataset *a = gen(BSNN_PG_CIRCLE, 100, 0.1, 5, 0);
    bsnn_dataset *b = gen(BSNN_PG_CIRCLE, 100, 0.1, 5, BSNN_PG_LABELS_01);
    for (size_t i = 0; i < 100; i++)
        cr_assert_eq(bsnn_dataset_targets(b)[i], bsnn_dataset_targets(a)[i] > 0 ? 1.0f : 0.0f);
    cr_assert_eq(memcmp(bsnn_dataset_inputs(a), bsnn_dataset_inputs(b), 200 * sizeof(float)), 0);
    bsnn_dataset_free(a);
    bsnn_dataset_free(b);
}

Test(playground, points_stay_in_the_documented_ranges)
{
    bsnn_dataset *c = gen(BSNN_PG_CIRCLE, 400, 0.5, 1, 0);
    for (size_t i = 0; i < 400; i++) {
        double r = hypot(bsnn_dataset_inputs(c)[2 * i], bsnn_dataset_inputs(c)[2 * i + 1]);
        if (i < 200) cr_assert(r <= 2.5 + 1e-5);
        else cr_assert(r >= 3.5 - 1e-5 && r <= 5.0 + 1e-5);
    }
    bsnn_dataset *x = gen(BSNN_PG_XOR, 400, 0.0, 1, 0);
    for (size_t i = 0; i < 800; i++) {
        double v = fabs(bsnn_dataset_inputs(x)[i]);
        cr_assert(v >= 0.3 - 1e-6 && v <= 5.3 + 1e-6);
    }
    bsnn_dataset *p = gen(BSNN_PG_PLANE, 400, 0.5, 1, 0);
    bsnn_dataset *g = gen(BSNN_PG_MULTI_GAUSS, 400, 0.5, 1, 0);
    for (size_t i = 0; i < 400; i++) {
        cr_assert(fabs(bsnn_dataset_targets(p)[i]) <= 1.8 + 1e-6);
        cr_assert(fabs(bsnn_dataset_targets(g)[i]) <= 1.0 + 1e-6);
        cr_assert(fabs(bsnn_dataset_inputs(p)[2 * i]) <= 6.0 + 1e-6);
    }
    bsnn_dataset_free(c);
    bsnn_dataset_free(x);
    bsnn_dataset_free(p);
    bsnn_dataset_free(g);
}

Test(playground, same_seed_same_points_other_seed_other_points)
{
    for (int set = BSNN_PG_CIRCLE; set <= BSNN_PG_MULTI_GAUSS; set++) {
        bsnn_dataset *a = gen((bsnn_playground)set, 50, 0.3, 11, 0);
        bsnn_dataset *b = gen((bsnn_playground)set, 50, 0.3, 11, 0);
        bsnn_dataset *c = gen((bsnn_playground)set, 50, 0.3, 12, 0);
        cr_assert_eq(memcmp(bsnn_dataset_inputs(a), bsnn_dataset_inputs(b), 100 * sizeof(float)), 0);
        cr_assert_eq(memcmp(bsnn_dataset_targets(a), bsnn_dataset_targets(b), 50 * sizeof(float)), 0);
        cr_assert_neq(memcmp(bsnn_dataset_inputs(a), bsnn_dataset_inputs(c), 100 * sizeof(float)), 0);
        bsnn_dataset_free(a);
        bsnn_dataset_free(b);
        bsnn_dataset_free(c);
    }
}

Test(playground, spiral_without_noise_matches_the_formula_by_hand)
{
    bsnn_dataset *ds = gen(BSNN_PG_SPIRAL, 8, 0.0, 1, 0);
    const float *x = bsnn_dataset_inputs(ds);
    /* m = 4 per arm; point k: r = 5k/4, t = 1.75*2pi*k/4 (+pi for arm 2). */
    cr_assert_float_eq(x[0], 0.0f, 1e-6);
    cr_assert_float_eq(x[1], 0.0f, 1e-6);
    /* k = 2: r = 2.5, t = 1.75 pi: (2.5 sin, 2.5 cos) = (-1.76777, 1.76777). */
    cr_assert_float_eq(x[4], -1.7677670f, 1e-5);
    cr_assert_float_eq(x[5], 1.7677670f, 1e-5);
    /* Second arm k = 2 (row 6): t = 2.75 pi: (1.76777, -1.76777), label -1. */
    cr_assert_float_eq(x[12], 1.7677670f, 1e-5);
    cr_assert_float_eq(x[13], -1.7677670f, 1e-5);
    cr_assert_eq(bsnn_dataset_targets(ds)[6], -1.0f);
    cr_assert_eq(bsnn_dataset_targets(ds)[2], 1.0f);
    bsnn_dataset_free(ds);
}

Test(playground, circle_xor_plane_replay_the_documented_draw_order)
{
    bsnn_rng r;
    double noise = 0.3;
    bsnn_dataset *c = gen(BSNN_PG_CIRCLE, 4, noise, 9, 0);
    bsnn__rng_seed(&r, 9);
    for (size_t i = 0; i < 4; i++) {
        double rad = i < 2 ? U(&r, 0, 2.5) : U(&r, 3.5, 5), a = U(&r, 0, 2 * PI);
        double px = rad * sin(a), py = rad * cos(a);
        double nx = U(&r, -5, 5) * noise, ny = U(&r, -5, 5) * noise;
        double lab = sqrt((px + nx) * (px + nx) + (py + ny) * (py + ny)) < 2.5 ? 1 : -1;
        cr_assert_float_eq(bsnn_dataset_inputs(c)[2 * i], px, 1e-5);
        cr_assert_float_eq(bsnn_dataset_inputs(c)[2 * i + 1], py, 1e-5);
        cr_assert_eq(bsnn_dataset_targets(c)[i], (float)lab);
    }
    bsnn_dataset *x = gen(BSNN_PG_XOR, 4, noise, 9, 0);
    bsnn__rng_seed(&r, 9);
    for (size_t i = 0; i < 4; i++) {
        double px = U(&r, -5, 5);
        px += px > 0 ? 0.3 : -0.3;
        double py = U(&r, -5, 5);
        py += py > 0 ? 0.3 : -0.3;
        double nx = U(&r, -5, 5) * noise, ny = U(&r, -5, 5) * noise;
        cr_assert_float_eq(bsnn_dataset_inputs(x)[2 * i], px, 1e-5);
        cr_assert_eq(bsnn_dataset_targets(x)[i], (px + nx) * (py + ny) >= 0 ? 1.0f : -1.0f);
    }
    bsnn_dataset *p = gen(BSNN_PG_PLANE, 4, noise, 9, 0);
    bsnn__rng_seed(&r, 9);
    for (size_t i = 0; i < 4; i++) {
        double px = U(&r, -6, 6), py = U(&r, -6, 6);
        double nx = U(&r, -6, 6) * noise, ny = U(&r, -6, 6) * noise;
        cr_assert_float_eq(bsnn_dataset_targets(p)[i], (px + nx + py + ny) / 10, 1e-6);
    }
    bsnn_dataset_free(c);
    bsnn_dataset_free(x);
    bsnn_dataset_free(p);
}

/* Independent statement of the multi-Gaussian label rule. */
static double bump_label(double x, double y)
{
    double cx[6] = {-4, 0, 4, -4, 0, 4}, cy[6] = {2.5, 2.5, 2.5, -2.5, -2.5, -2.5};
    double sg[6] = {1, -1, 1, -1, 1, -1}, best = 0;
    for (int k = 0; k < 6; k++) {
        double d = sqrt((x - cx[k]) * (x - cx[k]) + (y - cy[k]) * (y - cy[k]));
        double f = fmin(1.0, fmax(0.0, 1 - d / 2)) * sg[k];
        if (fabs(f) > fabs(best)) best = f;
    }
    return best;
}

Test(playground, multi_gauss_and_gauss_replay_by_hand)
{
    bsnn_rng r;
    bsnn_dataset *g = gen(BSNN_PG_MULTI_GAUSS, 50, 0.0, 4, 0);
    bsnn__rng_seed(&r, 4);
    for (size_t i = 0; i < 50; i++) {
        double px = U(&r, -6, 6), py = U(&r, -6, 6);
        U(&r, -6, 6), U(&r, -6, 6);
        cr_assert_float_eq(bsnn_dataset_targets(g)[i], bump_label(px, py), 1e-6);
    }
    /* Gaussian: sd = sqrt(0.5 + 7*noise); Marsaglia polar, first value only. */
    double noise = 0.2, sd = sqrt(0.5 + 7 * noise);
    bsnn_dataset *t = gen(BSNN_PG_GAUSS, 4, noise, 4, 0);
    bsnn__rng_seed(&r, 4);
    for (size_t i = 0; i < 8; i++) {
        double v1, v2, s;
        do {
            v1 = U(&r, -1, 1);
            v2 = U(&r, -1, 1);
            s = v1 * v1 + v2 * v2;
        } while (s >= 1 || s == 0);
        double want = (i < 4 ? 2 : -2) + sd * v1 * sqrt(-2 * log(s) / s);
        cr_assert_float_eq(bsnn_dataset_inputs(t)[i], want, 1e-5);
    }
    bsnn_dataset_free(g);
    bsnn_dataset_free(t);
}

Test(playground, bad_arguments_return_null_with_a_message)
{
    cr_assert_null(bsnn_dataset_playground((bsnn_playground)0, 10, 0, 1, 0));
    cr_assert(strstr(bsnn_last_error(), "set 0") != NULL, "%s", bsnn_last_error());
    cr_assert_null(bsnn_dataset_playground((bsnn_playground)7, 10, 0, 1, 0));
    cr_assert_null(bsnn_dataset_playground(BSNN_PG_SPIRAL, 7, 0, 1, 0));
    cr_assert_null(bsnn_dataset_playground(BSNN_PG_PLANE, 0, 0, 1, 0));
    cr_assert_null(bsnn_dataset_playground(BSNN_PG_PLANE, 10, -0.1, 1, 0));
    cr_assert_null(bsnn_dataset_playground(BSNN_PG_PLANE, 10, NAN, 1, 0));
    cr_assert_null(bsnn_dataset_playground(BSNN_PG_PLANE, 10, 0, 1, 8));
    cr_assert(strstr(bsnn_last_error(), "flags") != NULL);
}

Test(playground, features_are_the_formulas_in_mask_order)
{
    bsnn_dataset *ds = gen(BSNN_PG_XOR, 20, 0.0, 2, 0);
    bsnn_dataset *f = bsnn_dataset_features(ds, 127);
    cr_assert_not_null(f, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_dataset_n_inputs(f), 7);
    for (size_t i = 0; i < 20; i++) {
        double a = bsnn_dataset_inputs(ds)[2 * i], b = bsnn_dataset_inputs(ds)[2 * i + 1];
        double want[7] = {a, b, a * a, b * b, a * b, sin(a), sin(b)};
        for (int j = 0; j < 7; j++)
            cr_assert_float_eq(bsnn_dataset_inputs(f)[i * 7 + j], want[j], 1e-5);
        cr_assert_eq(bsnn_dataset_targets(f)[i], bsnn_dataset_targets(ds)[i]);
    }
    bsnn_dataset *g = bsnn_dataset_features(ds, BSNN_FEAT_X2 | BSNN_FEAT_SIN_X1);
    cr_assert_eq(bsnn_dataset_n_inputs(g), 2);
    cr_assert_float_eq(bsnn_dataset_inputs(g)[1], sin(bsnn_dataset_inputs(ds)[0]), 1e-6);
    cr_assert_null(bsnn_dataset_features(ds, 0));
    cr_assert_null(bsnn_dataset_features(ds, 128));
    cr_assert_null(bsnn_dataset_features(NULL, 1));
    cr_assert_null(bsnn_dataset_features(f, 1)); /* 7 inputs, not 2 */
    bsnn_dataset_free(ds);
    bsnn_dataset_free(f);
    bsnn_dataset_free(g);
}

Test(playground, toy1d_has_six_train_and_two_test_points_in_range)
{
    bsnn_dataset *tr = NULL, *te = NULL;
    cr_assert_eq(bsnn_dataset_toy1d(&tr, &te), BSNN_OK);
    cr_assert_eq(bsnn_dataset_size(tr), 6);
    cr_assert_eq(bsnn_dataset_size(te), 2);
    cr_assert_eq(bsnn_dataset_n_inputs(tr), 1);
    for (size_t i = 0; i < 6; i++) cr_assert(fabs(bsnn_dataset_inputs(tr)[i]) <= 1.0f);
    cr_assert_eq(bsnn_dataset_toy1d(NULL, &te), BSNN_E_NULL);
    bsnn_dataset_free(tr);
    bsnn_dataset_free(te);
}

Test(playground, generators_leak_nothing_when_allocation_fails)
{
    for (size_t k = 1; k <= 3; k++) {
        tu_count_allocations(k);
        bsnn_dataset *ds = bsnn_dataset_playground(BSNN_PG_CIRCLE, 10, 0, 1, 0);
        if (ds) bsnn_dataset_free(ds);
        else cr_assert_eq(tu_stats.live_bytes, 0);
        cr_assert_eq(tu_stats.live_bytes, 0);
        tu_restore_allocator();
    }
}
