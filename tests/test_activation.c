/*
 * test_activation.c - activation layers: forward values against the
 * published formulas (recomputed here in double), gradients against central
 * finite differences of a double reference network, settings and bad input.
 */
#include "refnet.h"

#define N_ACTS 7
static const bsnn_activation all_acts[N_ACTS] = {
    BSNN_ACT_LINEAR, BSNN_ACT_SIGMOID,    BSNN_ACT_TANH,   BSNN_ACT_RELU,
    BSNN_ACT_LEAKY_RELU, BSNN_ACT_ELU, BSNN_ACT_SOFTMAX};

/* A model that is a single activation layer of width w. */
static bsnn_model *act_model(size_t w, bsnn_activation act, double slope)
{
    bsnn_model *m = bsnn_model_create(w);
    bsnn_layer *l = bsnn_layer_activation(act);
    cr_assert_not_null(l, "%s", bsnn_last_error());
    if (slope > 0) cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_SLOPE, slope), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, l), BSNN_OK, "%s", bsnn_last_error());
    return m;
}

/* Forward rows x through act and compare with the double formula. */
static void check_forward(bsnn_activation act, double slope, float *x, size_t rows, size_t w,
                          double tol)
{
    bsnn_model *m = act_model(w, act, slope);
    float *out = calloc(rows * w, sizeof(float));
    bsnn_tensor *tx = tu_wrap(x, rows, w), *to = tu_wrap(out, rows, w);
    cr_assert_eq(bsnn_model_forward(to, m, tx), BSNN_OK, "%s", bsnn_last_error());
    double used = slope > 0 ? slope : (act == BSNN_ACT_ELU ? 1.0 : 0.01);
    for (size_t r = 0; r < rows; r++) {
        double v[REF_MAX_WIDTH];
        for (size_t j = 0; j < w; j++) v[j] = x[r * w + j];
        ref_activate(act, used, v, w);
        for (size_t j = 0; j < w; j++) {
            float o = out[r * w + j];
            cr_assert(isfinite(o), "act %d row %zu col %zu: %g", act, r, j, o);
            cr_assert_leq(fabs(o - v[j]), tol * fmax(1.0, fabs(v[j])),
                          "act %d x=%g: got %.9g, formula %.9g", act, x[r * w + j], o, v[j]);
        }
    }
    bsnn_tensor_free(tx);
    bsnn_tensor_free(to);
    free(out);
    bsnn_model_free(m);
}

static float sample_x[2 * 6] = {-3.0f, -1.0f, -0.25f, 0.0f, 0.5f, 2.0f,
                                -20.0f, 20.0f, -0.001f, 0.001f, 7.5f, -7.5f};

Test(activation, forward_matches_published_formulas_for_every_kind)
{
    for (int i = 0; i < N_ACTS; i++) check_forward(all_acts[i], 0.0, sample_x, 2, 6, 1e-6);
}

Test(activation, forward_hand_values)
{
    /* Values worked out by hand. */
    float x[4] = {-2.0f, -0.5f, 0.0f, 3.0f}, out[4];
    struct { bsnn_activation act; double slope; float want[4]; } cases[] = {
        {BSNN_ACT_LINEAR, 0, {-2.0f, -0.5f, 0.0f, 3.0f}},
        {BSNN_ACT_RELU, 0, {0.0f, 0.0f, 0.0f, 3.0f}},
        {BSNN_ACT_LEAKY_RELU, 0, {-0.02f, -0.005f, 0.0f, 3.0f}},
        {BSNN_ACT_LEAKY_RELU, 0.2, {-0.4f, -0.1f, 0.0f, 3.0f}},
        {BSNN_ACT_ELU, 0, {-0.8646647f, -0.3934693f, 0.0f, 3.0f}},   /* e^-2 - 1, e^-.5 - 1 */
        {BSNN_ACT_ELU, 2.0, {-1.7293294f, -0.7869387f, 0.0f, 3.0f}},
        {BSNN_ACT_SIGMOID, 0, {0.1192029f, 0.3775407f, 0.5f, 0.9525741f}},
        {BSNN_ACT_TANH, 0, {-0.9640276f, -0.4621172f, 0.0f, 0.9950548f}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        bsnn_model *m = act_model(4, cases[c].act, cases[c].slope);
        bsnn_tensor *tx = tu_wrap(x, 1, 4), *to = tu_wrap(out, 1, 4);
        cr_assert_eq(bsnn_model_forward(to, m, tx), BSNN_OK);
        for (int j = 0; j < 4; j++)
            cr_assert_float_eq(out[j], cases[c].want[j], 1e-6, "case %zu col %d: %g vs %g", c, j,
                               out[j], cases[c].want[j]);
        bsnn_tensor_free(tx);
        bsnn_tensor_free(to);
        bsnn_model_free(m);
    }
}

Test(activation, softmax_rows_sum_to_one_and_hand_values)
{
    /* softmax(0, ln 2, ln 5) = (1, 2, 5) / 8 */
    float x[2 * 3] = {0.0f, 0.6931472f, 1.6094379f, 1000.0f, 1000.0f, -1000.0f}, out[6];
    bsnn_model *m = act_model(3, BSNN_ACT_SOFTMAX, 0);
    bsnn_tensor *tx = tu_wrap(x, 2, 3), *to = tu_wrap(out, 2, 3);
    cr_assert_eq(bsnn_model_forward(to, m, tx), BSNN_OK);
    cr_assert_float_eq(out[0], 0.125f, 1e-6);
    cr_assert_float_eq(out[1], 0.25f, 1e-6);
    cr_assert_float_eq(out[2], 0.625f, 1e-6);
    /* Huge logits stay finite (max subtracted first). */
    cr_assert_float_eq(out[3], 0.5f, 1e-6);
    cr_assert_float_eq(out[4], 0.5f, 1e-6);
    cr_assert_float_eq(out[5], 0.0f, 1e-6);
    bsnn_tensor_free(tx);
    bsnn_tensor_free(to);
    bsnn_model_free(m);
}

Test(activation, sigmoid_and_tanh_saturate_without_nan)
{
    float x[4] = {-1000.0f, -89.0f, 89.0f, 1000.0f}, out[4];
    bsnn_activation acts[2] = {BSNN_ACT_SIGMOID, BSNN_ACT_TANH};
    for (int a = 0; a < 2; a++) {
        bsnn_model *m = act_model(4, acts[a], 0);
        bsnn_tensor *tx = tu_wrap(x, 1, 4), *to = tu_wrap(out, 1, 4);
        cr_assert_eq(bsnn_model_forward(to, m, tx), BSNN_OK);
        float lo = acts[a] == BSNN_ACT_SIGMOID ? 0.0f : -1.0f;
        cr_assert_float_eq(out[0], lo, 1e-6);
        cr_assert_float_eq(out[1], lo, 1e-6);
        cr_assert_float_eq(out[2], 1.0f, 1e-6);
        cr_assert_float_eq(out[3], 1.0f, 1e-6);
        bsnn_tensor_free(tx);
        bsnn_tensor_free(to);
        bsnn_model_free(m);
    }
}

/* dense(5) -> act -> dense(3), MSE: the first layer's gradient flows back
 * through the activation, so it checks the activation's backward pass. */
static void grad_check_act(bsnn_activation act, double slope, size_t n)
{
    ref_net net = {.n_in = 4, .n_layers = 3, .loss = BSNN_LOSS_MSE};
    net.layers[0] = (ref_layer){.dense = 1, .n_out = 5};
    net.layers[1] = (ref_layer){.dense = 0, .act = act, .slope = slope};
    net.layers[2] = (ref_layer){.dense = 1, .n_out = 3};
    float x[16 * 4], y[16 * 3];
    ref_fill(x, n * 4, -2.0, 2.0, (uint32_t)(act * 31 + n));
    ref_fill(y, n * 3, -1.0, 1.0, (uint32_t)(act * 17 + n + 5));
    ref_check_grads(&net, 7 + (uint64_t)act, x, y, n, 3, 1e-2);
}

Test(activation, gradients_match_finite_differences_for_every_kind)
{
    size_t batches[3] = {1, 3, 16};
    for (int i = 0; i < N_ACTS; i++)
        for (int b = 0; b < 3; b++) grad_check_act(all_acts[i], 0.0, batches[b]);
}

Test(activation, leaky_relu_and_elu_gradients_with_custom_slope)
{
    grad_check_act(BSNN_ACT_LEAKY_RELU, 0.3, 5);
    grad_check_act(BSNN_ACT_ELU, 0.5, 5);
    grad_check_act(BSNN_ACT_ELU, 2.0, 5);
}

Test(activation, softmax_output_layer_gradient_with_mse)
{
    /* Softmax as the last layer: its full Jacobian is exercised. */
    ref_net net = {.n_in = 3, .n_layers = 2, .loss = BSNN_LOSS_MSE};
    net.layers[0] = (ref_layer){.dense = 1, .n_out = 4};
    net.layers[1] = (ref_layer){.dense = 0, .act = BSNN_ACT_SOFTMAX};
    float x[6 * 3], y[6 * 4];
    ref_fill(x, sizeof x / sizeof x[0], -2.0, 2.0, 3);
    ref_fill(y, sizeof y / sizeof y[0], 0.0, 1.0, 4);
    ref_check_grads(&net, 11, x, y, 6, 4, 1e-2);
}

Test(activation, slope_setting_get_set_and_bounds)
{
    bsnn_layer *l = bsnn_layer_activation(BSNN_ACT_LEAKY_RELU);
    double v = -1.0, lo, hi;
    cr_assert_eq(bsnn_layer_get(&v, l, BSNN_LAYER_SLOPE), BSNN_OK);
    cr_assert_float_eq(v, 0.01, 1e-12);
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_SLOPE, 0.25), BSNN_OK);
    cr_assert_eq(bsnn_layer_get(&v, l, BSNN_LAYER_SLOPE), BSNN_OK);
    cr_assert_float_eq(v, 0.25, 1e-12);
    cr_assert_eq(bsnn_layer_bounds(&lo, &hi, (unsigned[1]){0}, BSNN_LAYER_ACTIVATION, BSNN_LAYER_SLOPE), BSNN_OK);
    cr_assert(lo <= 0.25 && 0.25 <= hi);
    cr_assert_eq(bsnn_layer_kind_of(l), BSNN_LAYER_ACTIVATION);
    bsnn_layer_free(l);
    bsnn_layer *e = bsnn_layer_activation(BSNN_ACT_ELU);
    cr_assert_eq(bsnn_layer_get(&v, e, BSNN_LAYER_SLOPE), BSNN_OK);
    cr_assert_float_eq(v, 1.0, 1e-12);
    bsnn_layer_free(e);
}

Test(activation, bad_input_is_rejected_with_a_message)
{
    cr_assert_null(bsnn_layer_activation((bsnn_activation)-1));
    cr_assert(strstr(bsnn_last_error(), "bsnn_layer_activation") != NULL);
    cr_assert(strstr(bsnn_last_error(), "-1") != NULL);
    cr_assert_null(bsnn_layer_activation((bsnn_activation)7));
    bsnn_layer *l = bsnn_layer_activation(BSNN_ACT_RELU);
    double v;
    /* A slope does not apply to relu. */
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_SLOPE, 0.1), BSNN_E_ARG);
    cr_assert_eq(bsnn_layer_get(&v, l, BSNN_LAYER_SLOPE), BSNN_E_ARG);
    /* Dense settings do not apply to an activation. */
    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_L2, 0.1), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "bsnn_layer_set") != NULL);
    bsnn_layer_free(l);
    bsnn_layer *k = bsnn_layer_activation(BSNN_ACT_LEAKY_RELU);
    cr_assert_eq(bsnn_layer_set(k, BSNN_LAYER_SLOPE, -0.5), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "-0.5") != NULL);
    cr_assert_eq(bsnn_layer_set(k, BSNN_LAYER_SLOPE, NAN), BSNN_E_ARG);
    cr_assert_eq(bsnn_layer_set(k, BSNN_LAYER_SLOPE, INFINITY), BSNN_E_ARG);
    cr_assert_eq(bsnn_layer_get(&v, k, BSNN_LAYER_SLOPE), BSNN_OK);
    cr_assert_float_eq(v, 0.01, 1e-12, "a rejected value left the setting unchanged");
    cr_assert_eq(bsnn_layer_set(NULL, BSNN_LAYER_SLOPE, 0.1), BSNN_E_NULL);
    cr_assert_eq(bsnn_layer_get(NULL, k, BSNN_LAYER_SLOPE), BSNN_E_NULL);
    cr_assert_eq(bsnn_layer_get(&v, NULL, BSNN_LAYER_SLOPE), BSNN_E_NULL);
    cr_assert_eq(bsnn_layer_bounds(NULL, &v, (unsigned[1]){0}, BSNN_LAYER_ACTIVATION, BSNN_LAYER_SLOPE), BSNN_E_NULL);
    cr_assert_eq(bsnn_layer_bounds(&v, &v, (unsigned[1]){0}, BSNN_LAYER_ACTIVATION, BSNN_LAYER_L1), BSNN_E_ARG);
    cr_assert_eq(bsnn_layer_kind_of(NULL), 0);
    bsnn_layer_free(NULL);
    bsnn_layer_free(k);
}

Test(activation, forward_rejects_non_finite_inputs)
{
    bsnn_model *m = act_model(3, BSNN_ACT_SIGMOID, 0);
    float out[3];
    float bad[3][3] = {{NAN, 0, 0}, {0, INFINITY, 0}, {0, 0, -INFINITY}};
    for (int i = 0; i < 3; i++) {
        bsnn_tensor *tx = tu_wrap(bad[i], 1, 3), *to = tu_wrap(out, 1, 3);
        cr_assert_eq(bsnn_model_forward(to, m, tx), BSNN_E_ARG, "case %d", i);
        cr_assert(strstr(bsnn_last_error(), "bsnn_model_forward") != NULL);
        bsnn_tensor_free(tx);
        bsnn_tensor_free(to);
    }
    bsnn_model_free(m);
}
