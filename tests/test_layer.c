/*
 * test_layer.c - what every layer kind shares: bounds that agree with the
 * setter for every kind and setting (ends accepted unless open, just
 * outside refused), kinds reported by bsnn_layer_kind_of. Each kind's own
 * maths is in its own file (test_dense.c, test_batchnorm.c, ...).
 */
#include "testutil.h"

/* Every layer setting's bounds agree with the setter: the ends are accepted
 * unless open (BSNN_BOUND_*), and just outside them is refused. */
Test(layer, bounds_agree_with_the_setter_for_every_kind_and_setting)
{
    bsnn_layer *layers[] = {bsnn_layer_dense(2), bsnn_layer_activation(BSNN_ACT_LEAKY_RELU),
                            bsnn_layer_batchnorm(), bsnn_layer_dropout(0.5)};
    size_t checked = 0;
    for (size_t k = 0; k < sizeof layers / sizeof layers[0]; k++) {
        bsnn_layer *l = layers[k];
        for (int p = 1; p <= BSNN_LAYER_L2; p++) {
            double lo, hi, v;
            unsigned open = 99;
            if (bsnn_layer_bounds(&lo, &hi, &open, bsnn_layer_kind_of(l), (bsnn_layer_param)p) !=
                BSNN_OK) {
                cr_assert_eq(bsnn_layer_set(l, (bsnn_layer_param)p, 0.0), BSNN_E_ARG,
                             "kind %zu takes setting %d without bounds", k, p);
                continue;
            }
            checked++;
            cr_assert_eq(open & ~3u, 0, "unknown open bits");
            double below = (open & BSNN_BOUND_LO_OPEN) ? lo : nextafter(lo, -INFINITY);
            double above = (open & BSNN_BOUND_HI_OPEN) ? hi : nextafter(hi, INFINITY);
            cr_assert_eq(bsnn_layer_set(l, (bsnn_layer_param)p, below), BSNN_E_ARG, "%zu/%d below",
                         k, p);
            cr_assert_eq(bsnn_layer_set(l, (bsnn_layer_param)p, above), BSNN_E_ARG, "%zu/%d above",
                         k, p);
            double inside[2] = {(open & BSNN_BOUND_LO_OPEN) ? nextafter(lo, hi) : lo,
                                (open & BSNN_BOUND_HI_OPEN) ? nextafter(hi, lo) : hi};
            for (int e = 0; e < 2; e++) {
                double want = inside[e];
                cr_assert_eq(bsnn_layer_set(l, (bsnn_layer_param)p, want), BSNN_OK, "%zu/%d %g: %s",
                             k, p, want, bsnn_last_error());
                cr_assert_eq(bsnn_layer_get(&v, l, (bsnn_layer_param)p), BSNN_OK);
                cr_assert_eq(v, want);
            }
        }
        bsnn_layer_free(l);
    }
    cr_assert_eq(checked, 11, "every setting of every kind has bounds");
    double lo, hi;
    unsigned open;
    cr_assert_eq(bsnn_layer_bounds(&lo, &hi, &open, BSNN_LAYER_DROPOUT, BSNN_LAYER_RATE), BSNN_OK);
    cr_assert(lo == 0.0 && hi == 1.0 && open == BSNN_BOUND_HI_OPEN);
    cr_assert_eq(bsnn_layer_bounds(&lo, &hi, &open, BSNN_LAYER_NONE, BSNN_LAYER_RATE), BSNN_E_ARG);
}
