/*
 * layer.c - what every layer kind shares, served from the kinds' own
 * tables: allocation with defaults, the public setters, getters and bounds
 * (each kind's settings table holds the id, range, type and field of every
 * setting), seeds, and release. Each kind's maths and data live in its own
 * file (dense.c, activation.c, ...) behind a bsnn_layer_ops; adding a kind
 * is that file, its public constructor and one line of BSNN_LAYER_KINDS.
 */
#include "nn/nn.h"

/* Every layer kind, so loaders and bounds queries find one by its id. */
#define BSNN_LAYER_KINDS(X) X(dense) X(activation) X(batchnorm) X(dropout) X(layernorm) X(standardize)

#define DECLARE(name) extern const bsnn_layer_ops bsnn__##name##_ops;
BSNN_LAYER_KINDS(DECLARE)
#undef DECLARE

#define LIST(name) &bsnn__##name##_ops,
static const bsnn_layer_ops *const kinds[] = {BSNN_LAYER_KINDS(LIST)};
#undef LIST

const bsnn_layer_ops *bsnn__layer_ops_of(int kind)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if ((int)kinds[i]->kind == kind) return kinds[i];
    return NULL;
}


/* The kind's struct follows the layer's in one block, 16-byte aligned. */
static size_t data_offset(void) { return (sizeof(bsnn_layer) + 15) & ~(size_t)15; }

size_t bsnn__layer_bytes(const bsnn_layer_ops *ops) { return data_offset() + ops->data_size; }

bsnn_layer *bsnn__layer_new(const bsnn_layer_ops *ops)
{
    bsnn_layer *l = bsnn__calloc(1, bsnn__layer_bytes(ops));
    if (l == NULL) return NULL;
    l->ops = ops;
    l->data = (char *)l + data_offset();
    bsnn__settings_defaults(ops->settings, ops->n_settings, l->data);
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
                   "this %s layer belongs to a model (bsnn_model_add took it); nothing was "
                   "freed: bsnn_model_free releases it",
                   layer->ops->name);
        return;
    }
    bsnn__layer_destroy(layer);
}

bsnn_layer_kind bsnn_layer_kind_of(const bsnn_layer *layer)
{
    return layer ? layer->ops->kind : BSNN_LAYER_NONE;
}

static const bsnn__setting *find(const bsnn_layer_ops *ops, int id)
{
    return bsnn__setting_find(ops->settings, ops->n_settings, id);
}

int bsnn__layer_has(const bsnn_layer *layer, int id)
{
    return find(layer->ops, id) && (layer->ops->applies == NULL || layer->ops->applies(layer, id));
}

/* The descriptor of setting id of this layer, or BSNN_E_ARG saying it does
 * not apply. */
static bsnn_status setting_of(const bsnn__setting **out, const bsnn_layer *layer, int id)
{
    BSNN_FAIL_IF(!bsnn__layer_has(layer, id), BSNN_E_ARG,
                 "setting %d does not apply to a %s layer", id, layer->ops->name);
    *out = find(layer->ops, id);
    return BSNN_OK;
}

bsnn_status bsnn_layer_bounds(double *out_lo, double *out_hi, unsigned *out_open,
                              bsnn_layer_kind kind, bsnn_layer_param param)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out_lo);
    BSNN_CHECK_NULL(out_hi);
    BSNN_CHECK_NULL(out_open);
    const bsnn_layer_ops *ops = bsnn__layer_ops_of((int)kind);
    const bsnn__setting *d = ops ? find(ops, (int)param) : NULL;
    BSNN_FAIL_IF(d == NULL, BSNN_E_ARG, "setting %d does not apply to layer kind %d", (int)param,
                 (int)kind);
    *out_lo = d->lo;
    *out_hi = bsnn__setting_hi(d);
    *out_open = d->open;
    return BSNN_OK;
}

bsnn_status bsnn__layer_set(bsnn_layer *layer, bsnn_layer_param param, double value)
{
    const bsnn__setting *d;
    BSNN_TRY(setting_of(&d, layer, (int)param));
    BSNN_TRY(bsnn__setting_check(d, value));
    bsnn__setting_store(d, layer->data, value);
    if (layer->ops->changed) layer->ops->changed(layer, (int)param);
    bsnn__plan_changed(); /* a penalty decides whether an update can fuse */
    return BSNN_OK;
}

bsnn_status bsnn_layer_set(bsnn_layer *layer, bsnn_layer_param param, double value)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(layer);
    return bsnn__layer_set(layer, param, value);
}

bsnn_status bsnn__layer_get(double *out, const bsnn_layer *layer, bsnn_layer_param param)
{
    const bsnn__setting *d;
    BSNN_TRY(setting_of(&d, layer, (int)param));
    return bsnn__setting_load(d, layer->data, out);
}

bsnn_status bsnn_layer_get(double *out, const bsnn_layer *layer, bsnn_layer_param param)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(layer);
    return bsnn__layer_get(out, layer, param);
}

/* A layer's seed is its BSNN_LAYER_SEED setting, typed. */
static bsnn_status seed_of(const bsnn__setting **out, const bsnn_layer *layer)
{
    BSNN_FAIL_IF(!bsnn__layer_has(layer, BSNN_LAYER_SEED), BSNN_E_ARG, "a %s layer has no seed",
                 layer->ops->name);
    *out = find(layer->ops, BSNN_LAYER_SEED);
    return BSNN_OK;
}

bsnn_status bsnn_layer_set_seed(bsnn_layer *layer, uint64_t seed)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(layer);
    const bsnn__setting *d;
    BSNN_TRY(seed_of(&d, layer));
    bsnn__setting_store_u64(d, layer->data, seed);
    if (layer->ops->changed) layer->ops->changed(layer, BSNN_LAYER_SEED);
    return BSNN_OK;
}

bsnn_status bsnn_layer_get_seed(uint64_t *out, const bsnn_layer *layer)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(layer);
    const bsnn__setting *d;
    BSNN_TRY(seed_of(&d, layer));
    *out = bsnn__setting_load_u64(d, layer->data);
    return BSNN_OK;
}

/* ---- persistence: a layer writes and reads its own LAYR payload ---------- */

static int layer_applies(const void *l, int id) { return bsnn__layer_has(l, id); }

void bsnn__layer_save(bsnn__writer *w, const bsnn_layer *l)
{
    bsnn_rng rng = {{0, 0, 0, 0}};
    if (l->ops->get_rng) l->ops->get_rng(l, &rng);
    bsnn__put_u32(w, (uint32_t)l->ops->kind);
    bsnn__put_u32(w, l->ops->variant ? l->ops->variant(l) : 0);
    bsnn__put_u64(w, l->n_in);
    bsnn__put_u64(w, l->n_out);
    bsnn__put_u64(w, l->n_params);
    bsnn__put_u64(w, l->n_state);
    bsnn__put_rng(w, &rng);
    bsnn__put_settings(w, l->ops->settings, l->ops->n_settings, l->data, layer_applies, l);
}

static bsnn_status set_any(void *l, int id, double v)
{
    return bsnn__layer_set(l, (bsnn_layer_param)id, v);
}

/* A value beyond 2^53 (the codec gives smaller ones to set_any): only
 * 64-bit settings (seeds) take one. */
static bsnn_status set_wide(void *obj, int id, uint64_t v)
{
    bsnn_layer *l = obj;
    const bsnn__setting *d;
    BSNN_TRY(setting_of(&d, l, id));
    BSNN_FAIL_IF(d->type != BSNN__SET_U64, BSNN_E_ARG, "%s %llu is out of range", d->name,
                 (unsigned long long)v);
    BSNN_TRY(bsnn__setting_check_u64(d, v));
    bsnn__setting_store_u64(d, l->data, v);
    if (l->ops->changed) l->ops->changed(l, id);
    return BSNN_OK;
}

/* Kind, variant and settings of a new layer; its setup for n_in inputs. */
static bsnn_status load_into(bsnn_layer *l, bsnn__reader *b, uint32_t variant, size_t n_in)
{
    if (l->ops->set_variant) BSNN_TRY(l->ops->set_variant(l, variant));
    BSNN_FAIL_IF(variant != 0 && l->ops->set_variant == NULL, BSNN_E_FORMAT,
                 "%s layer has variant %u, expected 0", l->ops->name, variant);
    BSNN_TRY(bsnn__get_settings(b, l, l->ops->name, set_any, set_wide));
    return l->ops->setup(l, n_in);
}

bsnn_status bsnn__layer_load(bsnn_layer **out, bsnn__layer_file *f, bsnn__reader *b, size_t n_in)
{
    uint32_t kind = bsnn__get_u32(b), variant = bsnn__get_u32(b);
    f->n_in = bsnn__get_size(b);
    size_t n_out = bsnn__get_size(b);
    f->n_params = bsnn__get_size(b);
    f->n_state = bsnn__get_size(b);
    bsnn__get_rng(b, &f->rng);
    BSNN_FAIL_IF(b->bad, BSNN_E_FORMAT, "layer section is shorter than its fields");
    const bsnn_layer_ops *ops = bsnn__layer_ops_of((int)kind);
    BSNN_FAIL_IF(ops == NULL, BSNN_E_FORMAT, "unknown layer kind %u", kind);
    bsnn_layer *l = bsnn__layer_new(ops);
    if (l == NULL) return BSNN_E_NOMEM;
    l->n_out = n_out; /* a dense layer's width; every other kind's follows its input */
    bsnn_status st = load_into(l, b, variant, n_in);
    if (st == BSNN_E_ARG || st == BSNN_E_SHAPE) st = bsnn__context(BSNN_E_FORMAT, "%s", ops->name);
    if (st == BSNN_OK && (l->n_in != f->n_in || l->n_out != n_out || l->n_params != f->n_params ||
                          l->n_state != f->n_state))
        st = bsnn__fail(BSNN_E_FORMAT,
                        "%s layer (%zu -> %zu, %zu parameters, %zu state) does not fit the model "
                        "(input width %zu)",
                        ops->name, f->n_in, n_out, f->n_params, f->n_state, n_in);
    if (st != BSNN_OK) {
        bsnn__layer_destroy(l);
        return st;
    }
    *out = l;
    return BSNN_OK;
}
