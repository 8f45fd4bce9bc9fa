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

#include <stddef.h>

typedef struct dropout {
    double rate;    /* probability of dropping, [0, 1)                  */
    uint64_t seed;  /* BSNN_LAYER_SEED                                  */
    bsnn_rng rng;   /* the mask generator (the LAYR rng field)          */
} dropout;

static const bsnn__setting settings[] = {
    {BSNN_LAYER_RATE, "rate", BSNN__SET_DOUBLE, BSNN_BOUND_HI_OPEN, 0.0, 1.0, 0.0,
     offsetof(dropout, rate), NULL},
    {BSNN_LAYER_SEED, "seed", BSNN__SET_U64, 0, 0.0, BSNN__MAX_EXACT, 0.0, offsetof(dropout, seed),
     "bsnn_layer_get_seed"},
};

static bsnn_status drop_setup(bsnn_layer *l, size_t n_in)
{
    l->n_in = l->n_out = n_in;
    l->scratch_per_row = n_in;
    return BSNN_OK;
}

static void reseed(bsnn_layer *l)
{
    dropout *d = l->data;
    bsnn__rng_seed(&d->rng, d->seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(l->param_off + 1)));
}

static void drop_init(bsnn_layer *l, float *params, float *state, const bsnn__init_ctx *ctx)
{
    (void)params, (void)state, (void)ctx;
    reseed(l);
}

/* Keep with probability 1 - rate: a 53-bit uniform draw at or above rate. */
static void draw_mask(bsnn_layer *l, float *mask, size_t count)
{
    dropout *d = l->data;
    double rate = d->rate;
    float scale = (float)(1.0 / (1.0 - rate));
    for (size_t i = 0; i < count; i++)
        mask[i] = bsnn__rng_uniform(&d->rng) >= rate ? scale : 0.0f;
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

static void drop_backward(const bsnn_layer *l, const float *params, const float *state,
                          float *grads, float *scratch, const float *x, const float *y, float *dy,
                          float *dx, size_t n)
{
    (void)params, (void)state, (void)grads, (void)x, (void)y;
    if (dx == NULL) return;
    size_t count = n * l->n_in;
    for (size_t i = 0; i < count; i++) dx[i] = dy[i] * scratch[i];
}

static void drop_changed(bsnn_layer *l, int id)
{
    if (id == BSNN_LAYER_SEED) reseed(l);
}

static void drop_get_rng(const bsnn_layer *l, bsnn_rng *out)
{
    *out = ((const dropout *)l->data)->rng;
}

static void drop_set_rng(bsnn_layer *l, const bsnn_rng *rng) { ((dropout *)l->data)->rng = *rng; }

const bsnn_layer_ops bsnn__dropout_ops = {
    .kind = BSNN_LAYER_DROPOUT,
    .name = "dropout",
    .data_size = sizeof(dropout),
    .settings = settings,
    .n_settings = sizeof settings / sizeof settings[0],
    .setup = drop_setup,
    .init = drop_init,
    .infer = drop_infer,
    .forward = drop_forward,
    .backward = drop_backward,
    .changed = drop_changed,
    .get_rng = drop_get_rng,
    .set_rng = drop_set_rng,
};

bsnn_layer *bsnn_layer_dropout(double rate)
{
    BSNN_ENTER();
    BSNN_FAIL_NULL_IF(!(rate >= 0.0 && rate < 1.0), BSNN_E_ARG, "rate %g is not in [0, 1)", rate);
    bsnn_layer *l = bsnn__layer_new(&bsnn__dropout_ops);
    if (l == NULL) return NULL;
    ((dropout *)l->data)->rate = rate;
    reseed(l);
    return l;
}
