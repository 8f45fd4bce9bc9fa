/*
 * layer.c - what every layer kind shares: allocation, the public setters
 * with their bounds, and release. Each kind's maths lives in its own file
 * (dense.c, activation.c, ...) behind a bsnn_layer_ops table.
 */
#include "nn/nn.h"

typedef struct layer_bound {
    bsnn_layer_kind kind;
    bsnn_layer_param param;
    double lo, hi;
    unsigned open; /* BSNN_BOUND_LO_OPEN / _HI_OPEN */
} layer_bound;

#define BSNN_MAX_EXACT 9007199254740992.0 /* 2^53: integers exact in double */

static const layer_bound bounds[] = {
    {BSNN_LAYER_DENSE, BSNN_LAYER_INIT, BSNN_INIT_DEFAULT, BSNN_INIT_UNIFORM, 0},
    {BSNN_LAYER_DENSE, BSNN_LAYER_INIT_LO, -1e6, 1e6, 0},
    {BSNN_LAYER_DENSE, BSNN_LAYER_INIT_HI, -1e6, 1e6, 0},
    {BSNN_LAYER_DENSE, BSNN_LAYER_BIAS_INIT, -1e6, 1e6, 0},
    {BSNN_LAYER_DENSE, BSNN_LAYER_L1, 0.0, 1e6, 0},
    {BSNN_LAYER_DENSE, BSNN_LAYER_L2, 0.0, 1e6, 0},
    {BSNN_LAYER_ACTIVATION, BSNN_LAYER_SLOPE, 0.0, 1e6, 0},
    {BSNN_LAYER_BATCHNORM, BSNN_LAYER_MOMENTUM, 0.0, 1.0, 0},
    {BSNN_LAYER_BATCHNORM, BSNN_LAYER_EPS, 1e-12, 1.0, 0},
    {BSNN_LAYER_DROPOUT, BSNN_LAYER_RATE, 0.0, 1.0, BSNN_BOUND_HI_OPEN},
    {BSNN_LAYER_DROPOUT, BSNN_LAYER_SEED, 0.0, BSNN_MAX_EXACT, 0},
};

static int in_bounds(const layer_bound *b, double v)
{
    return ((b->open & BSNN_BOUND_LO_OPEN) ? v > b->lo : v >= b->lo) &&
           ((b->open & BSNN_BOUND_HI_OPEN) ? v < b->hi : v <= b->hi);
}

static const layer_bound *find_bound(int kind, int param)
{
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++)
        if ((int)bounds[i].kind == kind && (int)bounds[i].param == param) return &bounds[i];
    return NULL;
}

/* Every layer kind, so a loader can rebuild a layer from its saved kind.
 * A new kind adds its ops here. */
static const bsnn_layer_ops *const kinds[] = {
    &bsnn__dense_ops,
    &bsnn__activation_ops,
    &bsnn__batchnorm_ops,
    &bsnn__dropout_ops,
};

const bsnn_layer_ops *bsnn__layer_ops_of(int kind)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if ((int)kinds[i]->kind == kind) return kinds[i];
    return NULL;
}

bsnn_layer *bsnn__layer_new(const bsnn_layer_ops *ops)
{
    bsnn_layer *l = bsnn__calloc(1, sizeof *l);
    if (l == NULL) return NULL;
    l->ops = ops;
    l->init = BSNN_INIT_DEFAULT;
    l->init_lo = -0.5;
    l->init_hi = 0.5;
    l->slope = 0.01;
    l->momentum = 0.1;
    l->eps = 1e-5;
    return l;
}

void bsnn__layer_destroy(bsnn_layer *layer)
{
    if (layer == NULL) return;
    if (layer->ops->destroy) layer->ops->destroy(layer);
    bsnn__free(layer);
}

void bsnn_layer_free(bsnn_layer *layer)
{
    BSNN_ENTER();
    /* A layer a model took is the model's: freeing it here would make
     * bsnn_model_free free it again. */
    if (layer && layer->owned_by_model) {
        bsnn__fail(BSNN_E_STATE,
                   "this %s layer belongs to a model (bsnn_model_add took it); "
                   "nothing was freed: bsnn_model_free releases it",
                   layer->ops->name);
        return;
    }
    bsnn__layer_destroy(layer);
}

bsnn_layer_kind bsnn_layer_kind_of(const bsnn_layer *layer)
{
    return layer ? layer->ops->kind : BSNN_LAYER_NONE;
}

bsnn_status bsnn_layer_bounds(double *out_lo, double *out_hi, unsigned *out_open,
                              bsnn_layer_kind kind, bsnn_layer_param param)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out_lo);
    BSNN_CHECK_NULL(out_hi);
    BSNN_CHECK_NULL(out_open);
    const layer_bound *b = find_bound((int)kind, (int)param);
    BSNN_FAIL_IF(b == NULL, BSNN_E_ARG, "setting %d does not apply to layer kind %d", (int)param,
                 (int)kind);
    *out_lo = b->lo;
    *out_hi = b->hi;
    *out_open = b->open;
    return BSNN_OK;
}

bsnn_status bsnn__layer_set(bsnn_layer *layer, bsnn_layer_param param, double value)
{
    const layer_bound *b = find_bound((int)layer->ops->kind, (int)param);
    BSNN_FAIL_IF(b == NULL || layer->ops->set == NULL, BSNN_E_ARG,
                 "setting %d does not apply to a %s layer", (int)param, layer->ops->name);
    BSNN_FAIL_IF(!in_bounds(b, value), BSNN_E_ARG, "value %g of setting %d is not in %c%g, %g%c",
                 value, (int)param, (b->open & BSNN_BOUND_LO_OPEN) ? '(' : '[', b->lo, b->hi,
                 (b->open & BSNN_BOUND_HI_OPEN) ? ')' : ']');
    return layer->ops->set(layer, param, value);
}

bsnn_status bsnn_layer_set(bsnn_layer *layer, bsnn_layer_param param, double value)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(layer);
    return bsnn__layer_set(layer, param, value);
}

bsnn_status bsnn__layer_get(double *out, const bsnn_layer *layer, bsnn_layer_param param)
{
    BSNN_FAIL_IF(find_bound((int)layer->ops->kind, (int)param) == NULL || layer->ops->get == NULL,
                 BSNN_E_ARG, "setting %d does not apply to a %s layer", (int)param,
                 layer->ops->name);
    return layer->ops->get(layer, param, out);
}

bsnn_status bsnn_layer_get(double *out, const bsnn_layer *layer, bsnn_layer_param param)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(layer);
    return bsnn__layer_get(out, layer, param);
}

bsnn_status bsnn_layer_set_seed(bsnn_layer *layer, uint64_t seed)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(layer);
    BSNN_FAIL_IF(layer->ops->set_seed == NULL, BSNN_E_ARG, "a %s layer has no seed",
                 layer->ops->name);
    layer->ops->set_seed(layer, seed);
    return BSNN_OK;
}

bsnn_status bsnn_layer_get_seed(uint64_t *out, const bsnn_layer *layer)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(layer);
    BSNN_FAIL_IF(layer->ops->set_seed == NULL, BSNN_E_ARG, "a %s layer has no seed",
                 layer->ops->name);
    *out = layer->seed;
    return BSNN_OK;
}

/* Declared for 0.3; built by the layer-kind work that follows. */
bsnn_layer *bsnn_layer_layernorm(void)
{
    BSNN_ENTER();
    bsnn__fail(BSNN_E_UNSUPPORTED, "not built yet in this snapshot");
    return NULL;
}

bsnn_layer *bsnn_layer_standardize(const float *mean, const float *std, size_t count)
{
    BSNN_ENTER();
    (void)mean, (void)std, (void)count;
    bsnn__fail(BSNN_E_UNSUPPORTED, "not built yet in this snapshot");
    return NULL;
}
