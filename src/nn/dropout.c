/*
 * dropout.c - inverted dropout (Srivastava et al. 2014, scaled at training
 * time): in training mode each element is kept with probability 1 - rate
 * and scaled by 1 / (1 - rate), so evaluation is the identity and the
 * expected activation is the same in both modes.
 *
 * Masks come from the layer's own generator, seeded from BSNN_LAYER_SEED
 * mixed with the layer's offset in the parameter arena (so two dropout
 * layers with the default seed, separated by a dense layer, draw different
 * masks); it restarts when the model initialises its parameters and when the
 * seed is set. scratch: the scaled mask, rows x n floats, for backward.
 */
#include "nn/nn.h"

static bsnn_status drop_setup(bsnn_layer *l, size_t n_in)
{
    l->n_in = l->n_out = n_in;
    l->scratch_per_row = n_in;
    return BSNN_OK;
}

static void reseed(bsnn_layer *l)
{
    bsnn__rng_seed(&l->rng, l->seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(l->param_off + 1)));
}

static void drop_init(bsnn_layer *l, float *params, float *state, bsnn_rng *rng)
{
    (void)params, (void)state, (void)rng;
    reseed(l);
}

/* Keep with probability 1 - rate: a 53-bit uniform draw at or above rate. */
static void draw_mask(bsnn_layer *l, float *mask, size_t count)
{
    double rate = l->rate;
    float scale = (float)(1.0 / (1.0 - rate));
    for (size_t i = 0; i < count; i++)
        mask[i] = bsnn__rng_uniform(&l->rng) >= rate ? scale : 0.0f;
}

/* Evaluation mode: the identity. */
static void drop_infer(const bsnn_layer *l, const float *params, const float *state,
                       float *scratch, const float *x, float *y, size_t n)
{
    (void)params, (void)state;
    size_t count = n * l->n_in;
    memcpy(y, x, count * sizeof(float));
    for (size_t i = 0; i < count; i++) scratch[i] = 1.0f; /* backward = identity */
}

static void drop_forward(bsnn_layer *l, const float *params, float *state, float *scratch,
                         const float *x, float *y, size_t n)
{
    (void)params, (void)state;
    size_t count = n * l->n_in;
    draw_mask(l, scratch, count);
    for (size_t i = 0; i < count; i++) y[i] = x[i] * scratch[i];
}

static void drop_backward(bsnn_layer *l, const float *params, float *grads, float *scratch,
                          const float *x, const float *y, float *dy, float *dx, size_t n)
{
    (void)params, (void)grads, (void)x, (void)y;
    if (dx == NULL) return;
    size_t count = n * l->n_in;
    for (size_t i = 0; i < count; i++) dx[i] = dy[i] * scratch[i];
}

static bsnn_status drop_set(bsnn_layer *l, bsnn_layer_param p, double v)
{
    if (p == BSNN_LAYER_RATE) {
        l->rate = v;
    } else if (p == BSNN_LAYER_SEED) {
        BSNN_FAIL_IF(v != floor(v), BSNN_E_ARG, "dropout seed %g is not an integer", v);
        l->seed = (uint64_t)v;
        reseed(l);
    } else {
        return bsnn__fail(BSNN_E_ARG, "setting %d does not apply to dropout", (int)p);
    }
    return BSNN_OK;
}

static bsnn_status drop_get(const bsnn_layer *l, bsnn_layer_param p, double *out)
{
    if (p == BSNN_LAYER_RATE)
        *out = l->rate;
    else if (p == BSNN_LAYER_SEED && l->seed > (1ull << 53))
        return bsnn__fail(BSNN_E_ARG,
                          "dropout seed %llu is beyond 2^53, where a double "
                          "is not exact: read it with bsnn_layer_get_seed",
                          (unsigned long long)l->seed);
    else if (p == BSNN_LAYER_SEED)
        *out = (double)l->seed;
    else
        return bsnn__fail(BSNN_E_ARG, "setting %d does not apply to dropout", (int)p);
    return BSNN_OK;
}

static void drop_set_seed(bsnn_layer *l, uint64_t seed)
{
    l->seed = seed;
    reseed(l);
}

const bsnn_layer_ops bsnn__dropout_ops = {
    .kind = BSNN_LAYER_DROPOUT,
    .name = "dropout",
    .setup = drop_setup,
    .init = drop_init,
    .infer = drop_infer,
    .forward = drop_forward,
    .backward = drop_backward,
    .set = drop_set,
    .get = drop_get,
    .set_seed = drop_set_seed,
};

bsnn_layer *bsnn_layer_dropout(double rate)
{
    BSNN_ENTER();
    BSNN_FAIL_NULL_IF(!(rate >= 0.0 && rate < 1.0), BSNN_E_ARG, "rate %g is not in [0, 1)", rate);
    bsnn_layer *l = bsnn__layer_new(&bsnn__dropout_ops);
    if (l == NULL) return NULL;
    l->rate = rate;
    reseed(l);
    return l;
}
