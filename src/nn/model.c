/*
 * model.c - bsnn_model: the layer stack, its flat parameter / gradient /
 * state arenas, its own workspace (workspace.c), inference, and the
 * gradient a fused update leaves to be written on demand.
 */
#include "nn/nn.h"

#include <float.h>
#include <stdatomic.h>

/* Source of model ids; atomic because models may be created on any thread. */
static _Atomic uint64_t last_model_id;

bsnn_model *bsnn__model_create(size_t n_inputs)
{
    bsnn_model *m = bsnn__calloc(1, sizeof *m);
    if (m == NULL) return NULL;
    m->id = ++last_model_id;
    m->n_in = n_inputs;
    m->loss = BSNN_LOSS_NONE; /* chosen by the host: bsnn_model_set_loss */
    m->init_default = BSNN_INIT_GLOROT_UNIFORM;
    m->seed = 1;
    bsnn__rng_seed(&m->rng, m->seed);
    m->threshold = 0.5;
    m->training = 1;
    m->max_width = n_inputs;
    m->ws.model_id = m->id;
    m->ws.training = 1;
    bsnn__noise_clear(&m->noise, BSNN__NOISE_DECAY_DEFAULT);
    return m;
}

bsnn_model *bsnn_model_create(size_t n_inputs)
{
    BSNN_ENTER();
    BSNN_FAIL_NULL_IF(n_inputs == 0, BSNN_E_ARG, "n_inputs is 0");
    return bsnn__model_create(n_inputs);
}

static void free_workspace(bsnn_model *m)
{
    m->pending_rows = 0; /* its x and dy go with the workspace */
    bsnn__workspace_release(&m->ws);
}

void bsnn__model_free(bsnn_model *m)
{
    if (m == NULL) return;
    free_workspace(m);
    for (size_t i = 0; i < m->n_layers; i++) bsnn__layer_destroy(m->layers[i]);
    bsnn__free(m->layers);
    bsnn__free(m->params);
    bsnn__free(m->grads);
    bsnn__free(m->decay_mask);
    bsnn__free(m->state);
    bsnn__free(m->stat_grads);
    bsnn__free(m);
}

void bsnn_model_free(bsnn_model *m) { bsnn__model_free(m); }

/* Bytes of everything bsnn_model_free releases except the workspace: keep
 * in step with it (bsnn_model_memory counts with this; tests/test_memory.c
 * compares it with the bytes actually allocated). */
size_t bsnn__model_fixed_bytes(const bsnn_model *m)
{
    size_t p = m->n_params * sizeof(float), st = m->n_state * sizeof(float);
    size_t bytes = bsnn__alloc_cost(sizeof *m);
    bytes += bsnn__alloc_cost(m->cap_layers * sizeof(bsnn_layer *));
    for (size_t i = 0; i < m->n_layers; i++)
        bytes += bsnn__alloc_cost(bsnn__layer_bytes(m->layers[i]->ops));
    bytes += 3 * bsnn__alloc_cost(p) + bsnn__alloc_cost(st); /* params, grads, mask, state */
    if (m->stat_grads) bytes += bsnn__alloc_cost(p);           /* micro-batch statistics */
    return bytes;
}

size_t bsnn_model_n_layers(const bsnn_model *m) { return m ? m->n_layers : 0; }
size_t bsnn_model_n_inputs(const bsnn_model *m) { return m ? m->n_in : 0; }
size_t bsnn_model_param_count(const bsnn_model *m) { return m ? m->n_params : 0; }

size_t bsnn__model_n_outputs(const bsnn_model *m)
{
    return m->n_layers ? m->layers[m->n_layers - 1]->n_out : m->n_in;
}

size_t bsnn_model_n_outputs(const bsnn_model *m) { return m ? bsnn__model_n_outputs(m) : 0; }

bsnn_layer *bsnn_model_layer(bsnn_model *m, size_t i)
{
    return (m && i < m->n_layers) ? m->layers[i] : NULL;
}

/* Grow an arena from old_n to new_n floats, keeping its contents; the old
 * block is released only once the new one exists. */
static bsnn_status grow_arena(float **arena, size_t old_n, size_t new_n)
{
    if (new_n == old_n) return BSNN_OK;
    float *fresh = bsnn__calloc(new_n, sizeof(float));
    if (fresh == NULL) return BSNN_E_NOMEM;
    if (old_n) memcpy(fresh, *arena, old_n * sizeof(float));
    bsnn__free(*arena);
    *arena = fresh;
    return BSNN_OK;
}

static void init_layer(bsnn_model *m, bsnn_layer *l)
{
    bsnn__init_ctx ctx = {&m->rng, m->init_default};
    if (l->ops->init)
        l->ops->init(l, bsnn__at(m->params, l->param_off), bsnn__at(m->state, l->state_off),
                     &ctx);
}

/* The parameters that decoupled weight decay applies to under
 * BSNN_DECAY_WEIGHTS: each layer's leading n_weights (a dense layer's W,
 * not its biases; no normalisation scale or shift). */
static void mark_decay(bsnn_model *m, const bsnn_layer *l)
{
    float *mask = bsnn__at(m->decay_mask, l->param_off); /* NULL while no params */
    for (size_t i = 0; i < l->n_params; i++) mask[i] = i < l->n_weights ? 1.0f : 0.0f;
}

static bsnn_status add_layer(bsnn_model *m, bsnn_layer *l)
{
    BSNN_FAIL_IF(m->started, BSNN_E_STATE, "cannot add a layer after training has started");
    BSNN_FAIL_IF(l->owned_by_model, BSNN_E_STATE, "layer already belongs to a model");
    BSNN_TRY(l->ops->setup(l, bsnn__model_n_outputs(m)));
    if (m->n_layers == m->cap_layers) {
        size_t cap = m->cap_layers ? 2 * m->cap_layers : 8;
        bsnn_layer **grown = bsnn__calloc(cap, sizeof *grown);
        if (grown == NULL) return BSNN_E_NOMEM;
        if (m->n_layers) memcpy(grown, m->layers, m->n_layers * sizeof *grown);
        bsnn__free(m->layers);
        m->layers = grown;
        m->cap_layers = cap;
    }
    size_t np = m->n_params + l->n_params, ns = m->n_state + l->n_state;
    BSNN_FAIL_IF(np < m->n_params || ns < m->n_state, BSNN_E_ARG, "parameter count overflows");
    /* Grow every arena before committing any, so a failure changes nothing
     * visible: grown arenas keep their old contents and old counts. */
    BSNN_TRY(grow_arena(&m->params, m->n_params, np));
    BSNN_TRY(grow_arena(&m->grads, m->n_params, np));
    BSNN_TRY(grow_arena(&m->decay_mask, m->n_params, np));
    BSNN_TRY(grow_arena(&m->state, m->n_state, ns));
    if (m->stats.flags & BSNN__STATS_MICRO) BSNN_TRY(grow_arena(&m->stat_grads, m->n_params, np));
    free_workspace(m); /* the new layer changes its shape */
    m->layout++;       /* and that of every workspace made for m */
    l->param_off = m->n_params;
    l->state_off = m->n_state;
    m->n_params = np;
    m->n_state = ns;
    m->layers[m->n_layers++] = l;
    l->owned_by_model = 1;
    if (l->n_out > m->max_width) m->max_width = l->n_out;
    if (l->ops->attach) l->ops->attach(l, bsnn__at(m->state, l->state_off));
    init_layer(m, l);
    mark_decay(m, l);
    return BSNN_OK;
}

bsnn_status bsnn__model_add(bsnn_model *m, bsnn_layer *layer)
{
    bsnn_status st = add_layer(m, layer);
    /* Ownership passed even on failure, except a layer owned elsewhere. */
    if (st != BSNN_OK && !layer->owned_by_model) bsnn__layer_destroy(layer);
    return st;
}

bsnn_status bsnn_model_add(bsnn_model *m, bsnn_layer *layer)
{
    BSNN_ENTER();
    if (m == NULL) {
        if (layer && !layer->owned_by_model) bsnn__layer_destroy(layer); /* consumed */
        return bsnn__fail(BSNN_E_NULL, "argument 'm' is NULL");
    }
    BSNN_CHECK_NULL(layer);
    return bsnn__model_add(m, layer);
}

/* 1 when the last layer is an activation layer of kind act. */
static int ends_with(const bsnn_model *m, bsnn_activation act)
{
    const bsnn_layer *l = m->n_layers ? m->layers[m->n_layers - 1] : NULL;
    return l && l->ops->final_activation && l->ops->final_activation(l) == (int)act;
}

bsnn_status bsnn__loss_conflict(const bsnn_model *m, bsnn_loss loss, bsnn_status status)
{
    if (m->n_layers == 0) return BSNN_OK;
    BSNN_FAIL_IF(loss == BSNN_LOSS_SOFTMAX_CE && bsnn__model_n_outputs(m) == 1, status,
                 "BSNN_LOSS_SOFTMAX_CE over one output is always 0 (the softmax of "
                 "a single logit is 1), so nothing would be learned: give the last layer "
                 "one output per class, or use BSNN_LOSS_BCE_LOGITS for one yes/no output");
    BSNN_FAIL_IF(loss == BSNN_LOSS_SOFTMAX_CE && ends_with(m, BSNN_ACT_SOFTMAX), status,
                 "the last layer is a softmax activation, and BSNN_LOSS_SOFTMAX_CE "
                 "applies the softmax itself (it takes logits): remove that layer");
    BSNN_FAIL_IF(loss == BSNN_LOSS_BCE_LOGITS && ends_with(m, BSNN_ACT_SIGMOID), status,
                 "the last layer is a sigmoid activation, and BSNN_LOSS_BCE_LOGITS "
                 "applies the sigmoid itself (it takes logits): remove that layer");
    return BSNN_OK;
}

bsnn_status bsnn__model_check_loss(const bsnn_model *m)
{
    BSNN_FAIL_IF(m->loss == BSNN_LOSS_NONE, BSNN_E_STATE,
                 "no loss chosen: call bsnn_model_set_loss (BSNN_LOSS_MSE, "
                 "BSNN_LOSS_BCE_LOGITS or BSNN_LOSS_SOFTMAX_CE) first");
    return bsnn__loss_conflict(m, m->loss, BSNN_E_STATE);
}

bsnn_status bsnn_model_set_loss(bsnn_model *m, bsnn_loss loss)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(m);
    BSNN_FAIL_IF(!bsnn__loss_valid((int)loss), BSNN_E_ARG,
                 "%d is not a loss (BSNN_LOSS_NONE is only the state of "
                 "a model that has none yet)",
                 (int)loss);
    BSNN_TRY(bsnn__loss_conflict(m, loss, BSNN_E_ARG)); /* the old loss stays */
    m->loss = loss;
    return BSNN_OK;
}

/* Seed the initialisation stream and reinitialise the layers present. */
static void set_seed(bsnn_model *m, uint64_t seed)
{
    m->seed = seed;
    bsnn__rng_seed(&m->rng, seed);
    for (size_t i = 0; i < m->n_layers; i++) init_layer(m, m->layers[i]);
}

void bsnn__model_reinit(bsnn_model *m, uint64_t seed)
{
    uint64_t keep_seed = m->seed;
    bsnn_rng keep_rng = m->rng;
    set_seed(m, seed);
    m->seed = keep_seed;
    m->rng = keep_rng;
}

bsnn_status bsnn_model_init_params(bsnn_model *m, uint64_t seed)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(m);
    BSNN_FAIL_IF(m->n_layers == 0, BSNN_E_STATE, "the model has no layers");
    set_seed(m, seed);
    return BSNN_OK;
}

#define BSNN_MAX_EXACT 9007199254740992.0 /* 2^53: integers exact in double */

/* The settable model settings and their ranges (the read-only ones,
 * TRAINING and LOSS, have setters of their own). */
static bsnn_status model_range(double *lo, double *hi, unsigned *open, int param)
{
    *open = 0;
    switch (param) {
    case BSNN_MODEL_SEED: *lo = 0.0, *hi = BSNN_MAX_EXACT; return BSNN_OK;
    case BSNN_MODEL_THRESHOLD: *lo = -DBL_MAX, *hi = DBL_MAX; return BSNN_OK; /* finite */
    case BSNN_MODEL_INIT: *lo = BSNN_INIT_ZEROS, *hi = BSNN_INIT_UNIFORM; return BSNN_OK;
    case BSNN_MODEL_NOISE_ROUTE: *lo = BSNN_NOISE_OFF, *hi = BSNN_NOISE_PER_SAMPLE; return BSNN_OK;
    case BSNN_MODEL_NOISE_DECAY: *lo = 0.0, *hi = 1.0; return BSNN_OK;
    default: return BSNN_E_ARG;
    }
}

/* A new route starts a new estimate and sets what the step engine measures
 * (the micro-batch route's gradient buffer is made here, so no training
 * step allocates, and bsnn_model_memory counts it from now on). */
bsnn_status bsnn__model_set_noise_route(bsnn_model *m, int route)
{
    unsigned flags = route == BSNN_NOISE_MICRO_BATCH  ? BSNN__STATS_MICRO
                     : route == BSNN_NOISE_PER_SAMPLE ? BSNN__STATS_SAMPLE
                                                      : 0u;
    BSNN_FAIL_IF(bsnn__model_set_stats(m, flags) != BSNN_OK, BSNN_E_NOMEM,
                 "no memory for the micro-batch route's %zu-byte gradient buffer",
                 m->n_params * sizeof(float));
    m->noise_route = route;
    bsnn__noise_clear(&m->noise, m->noise.decay);
    return BSNN_OK;
}

bsnn_status bsnn__model_noise_check(const bsnn_model *m, int route)
{
    BSNN_FAIL_IF(route < BSNN_NOISE_OFF || route > BSNN_NOISE_PER_SAMPLE, BSNN_E_ARG,
                 "noise route %d is not a bsnn_noise_route", route);
    if (route != BSNN_NOISE_PER_SAMPLE) return BSNN_OK;
    for (size_t i = 0; i < m->n_layers; i++) {
        const bsnn_layer *l = m->layers[i];
        BSNN_FAIL_IF(l->n_params && !l->ops->sample_norms, BSNN_E_UNSUPPORTED,
                     "the per-sample noise route cannot run on %s layer %zu: it mixes the "
                     "rows' gradients (use BSNN_NOISE_MICRO_BATCH)",
                     l->ops->name, i);
    }
    return BSNN_OK;
}

static bsnn_status not_settable(int param)
{
    BSNN_FAIL_IF(param == BSNN_MODEL_TRAINING, BSNN_E_ARG,
                 "BSNN_MODEL_TRAINING is read-only here: set the mode "
                 "with bsnn_model_set_training");
    BSNN_FAIL_IF(param == BSNN_MODEL_LOSS, BSNN_E_ARG,
                 "BSNN_MODEL_LOSS is read-only here: choose the loss "
                 "with bsnn_model_set_loss");
    return bsnn__fail(BSNN_E_ARG, "unknown setting %d", param);
}

bsnn_status bsnn_model_set(bsnn_model *m, bsnn_model_param param, double value)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(m);
    double lo, hi;
    unsigned open;
    if (model_range(&lo, &hi, &open, (int)param) != BSNN_OK) return not_settable((int)param);
    switch (param) {
    case BSNN_MODEL_SEED:
        BSNN_FAIL_IF(!(value >= lo && value <= hi && value == floor(value)), BSNN_E_ARG,
                     "seed %g is not an integer in 0..2^53 (larger "
                     "seeds: bsnn_model_set_seed)",
                     value);
        set_seed(m, (uint64_t)value);
        return BSNN_OK;
    case BSNN_MODEL_THRESHOLD:
        BSNN_FAIL_IF(!isfinite(value), BSNN_E_ARG, "threshold %g is not finite", value);
        m->threshold = value;
        return BSNN_OK;
    case BSNN_MODEL_NOISE_ROUTE:
        BSNN_FAIL_IF(!(value >= lo && value <= hi && value == floor(value)), BSNN_E_ARG,
                     "noise route %g is not a bsnn_noise_route (0..%d)", value,
                     BSNN_NOISE_PER_SAMPLE);
        BSNN_TRY(bsnn__model_noise_check(m, (int)value));
        return bsnn__model_set_noise_route(m, (int)value);
    case BSNN_MODEL_NOISE_DECAY:
        BSNN_FAIL_IF(!(value >= lo && value <= hi), BSNN_E_ARG, "noise decay %g is not in [0, 1]",
                     value);
        bsnn__noise_clear(&m->noise, value);
        return BSNN_OK;
    default: /* BSNN_MODEL_INIT */
        BSNN_FAIL_IF(!(value >= lo && value <= hi && value == floor(value)), BSNN_E_ARG,
                     "initialiser %g is not in 1..%d", value, BSNN_INIT_UNIFORM);
        m->init_default = (int)value;
        return BSNN_OK;
    }
}

bsnn_status bsnn_model_get(double *out, const bsnn_model *m, bsnn_model_param param)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(m);
    switch (param) {
    case BSNN_MODEL_SEED:
        BSNN_FAIL_IF(m->seed > (1ull << 53), BSNN_E_ARG,
                     "the seed %llu is beyond 2^53, where a double is "
                     "not exact: read it with bsnn_model_get_seed",
                     (unsigned long long)m->seed);
        *out = (double)m->seed;
        break;
    case BSNN_MODEL_THRESHOLD: *out = m->threshold; break;
    case BSNN_MODEL_INIT: *out = m->init_default; break;
    case BSNN_MODEL_TRAINING: *out = m->training; break;
    case BSNN_MODEL_LOSS: *out = m->loss; break;
    case BSNN_MODEL_NOISE_ROUTE: *out = m->noise_route; break;
    case BSNN_MODEL_NOISE_DECAY: *out = m->noise.decay; break;
    default: return bsnn__fail(BSNN_E_ARG, "unknown setting %d", (int)param);
    }
    return BSNN_OK;
}

bsnn_status bsnn_model_bounds(double *out_lo, double *out_hi, unsigned *out_open,
                              const bsnn_model *m, bsnn_model_param param)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out_lo);
    BSNN_CHECK_NULL(out_hi);
    BSNN_CHECK_NULL(out_open);
    BSNN_CHECK_NULL(m);
    double lo, hi;
    unsigned open;
    if (model_range(&lo, &hi, &open, (int)param) != BSNN_OK) return not_settable((int)param);
    *out_lo = lo;
    *out_hi = hi;
    *out_open = open;
    return BSNN_OK;
}

bsnn_status bsnn_model_set_seed(bsnn_model *m, uint64_t seed)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(m);
    set_seed(m, seed);
    return BSNN_OK;
}

bsnn_status bsnn_model_get_seed(uint64_t *out, const bsnn_model *m)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(m);
    *out = m->seed;
    return BSNN_OK;
}

bsnn_status bsnn_model_set_training(bsnn_model *m, int training)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(m);
    m->training = training != 0;
    bsnn__plan_changed();
    return BSNN_OK;
}

bsnn_status bsnn_model_set_grad_hook(bsnn_model *m, bsnn_grad_hook fn, void *user)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(m);
    BSNN_FAIL_IF(m->in_hook, BSNN_E_STATE, "called from inside the model's gradient hook");
    m->grad_hook = fn;
    m->grad_hook_user = fn ? user : NULL;
    bsnn__plan_changed();
    return BSNN_OK;
}

bsnn_status bsnn_model_stat(uint64_t *out, const bsnn_model *m, bsnn_stat stat)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(m);
    BSNN_FAIL_IF(stat < BSNN_STAT_SNAPSHOT_BYTES || stat > BSNN_STAT_SNAPSHOTS, BSNN_E_ARG,
                 "unknown counter %d (expected %d..%d)", (int)stat, BSNN_STAT_SNAPSHOT_BYTES,
                 BSNN_STAT_SNAPSHOTS);
    *out = m->counts[stat];
    return BSNN_OK;
}

static bsnn_status check_count(const bsnn_model *m, size_t count)
{
    BSNN_FAIL_IF(count != m->n_params, BSNN_E_SHAPE, "count is %zu, the model has %zu parameters",
                 count, m->n_params);
    return BSNN_OK;
}

bsnn_status bsnn_model_get_params(float *out, size_t count, const bsnn_model *m)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(m);
    BSNN_TRY(check_count(m, count));
    if (count) memcpy(out, m->params, count * sizeof(float));
    return BSNN_OK;
}

bsnn_status bsnn_model_set_params(bsnn_model *m, const float *src, size_t count)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(m);
    BSNN_CHECK_NULL(src);
    BSNN_TRY(check_count(m, count));
    BSNN_FAIL_IF(!bsnn__all_finite(src, count), BSNN_E_ARG, "src holds a NaN or infinite value");
    if (count) memcpy(m->params, src, count * sizeof(float));
    return BSNN_OK;
}

bsnn_status bsnn_model_get_grads(float *out, size_t count, const bsnn_model *m)
{
    BSNN_ENTER_COMPUTE();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(m);
    BSNN_TRY(check_count(m, count));
    if (count) memcpy(out, m->grads, count * sizeof(float));
    if (m->pending_rows) bsnn__model_pending_grads(m, out);
    return BSNN_OK;
}

float *bsnn__layer_scratch(const bsnn_model *m, const bsnn_workspace *ws, size_t layer)
{
    (void)m;
    return ws->scratch ? ws->scratch[layer] : NULL;
}

bsnn_status bsnn__model_reserve(bsnn_model *m, size_t rows)
{
    if (rows <= m->ws.rows && m->ws.layout == m->layout) return BSNN_OK;
    bsnn__model_settle_grads(m); /* its x and dy live in the workspace */
    return bsnn__workspace_grow(&m->ws, m, rows);
}

const float *bsnn__model_infer_rows(const bsnn_model *m, bsnn_workspace *ws, const float *x,
                                    size_t n)
{
    const float *in = x;
    for (size_t i = 0; i < m->n_layers; i++) {
        const bsnn_layer *l = m->layers[i];
        l->ops->infer(l, bsnn__at(m->params, l->param_off), bsnn__at(m->state, l->state_off),
                      bsnn__layer_scratch(m, ws, i), in, ws->acts[i], n);
        in = ws->acts[i];
    }
    return in;
}

/* Validate a rank>=1 tensor as [rows][cols]. */
static bsnn_status check_rows(const char *name, const bsnn_tensor *t, size_t cols)
{
    BSNN_FAIL_IF(bsnn__tensor_cols(t) != cols, BSNN_E_SHAPE,
                 "%s has %zu columns, model expects %zu", name, bsnn__tensor_cols(t), cols);
    return BSNN_OK;
}

/* The checks of a forward call, shared by both entry points. */
static bsnn_status check_forward(const bsnn_tensor *out, const bsnn_model *m,
                                 const bsnn_tensor *x)
{
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(m);
    BSNN_CHECK_NULL(x);
    BSNN_FAIL_IF(m->n_layers == 0, BSNN_E_STATE, "the model has no layers");
    size_t n = bsnn__tensor_rows(x);
    BSNN_TRY(check_rows("x", x, m->n_in));
    BSNN_TRY(check_rows("out", out, bsnn__model_n_outputs(m)));
    BSNN_FAIL_IF(bsnn__tensor_rows(out) != n, BSNN_E_SHAPE, "out has %zu rows, x has %zu",
                 bsnn__tensor_rows(out), n);
    BSNN_FAIL_IF(!bsnn__all_finite(x->data, n * m->n_in), BSNN_E_ARG,
                 "x holds a NaN or infinite value");
    return BSNN_OK;
}

bsnn_status bsnn_model_forward(bsnn_tensor *out, bsnn_model *m, const bsnn_tensor *x)
{
    BSNN_ENTER_COMPUTE();
    BSNN_TRY(check_forward(out, m, x));
    BSNN_FAIL_IF(m->in_hook, BSNN_E_STATE,
                 "called from inside the model's gradient hook, whose step uses the model's "
                 "workspace (bsnn_model_forward_ws works there)");
    size_t n = bsnn__tensor_rows(x);
    BSNN_TRY(bsnn__model_reserve(m, n));
    bsnn__model_settle_grads(m); /* the forward pass overwrites its x */
    const float *y = bsnn__model_infer_rows(m, &m->ws, x->data, n);
    memcpy(out->data, y, n * bsnn__model_n_outputs(m) * sizeof(float));
    return BSNN_OK;
}

/* ---- host workspaces: inference on one model from several threads -------- */

bsnn_workspace *bsnn_workspace_create(const bsnn_model *m)
{
    BSNN_ENTER();
    BSNN_FAIL_NULL_IF(m == NULL, BSNN_E_NULL, "argument 'm' is NULL");
    bsnn_workspace *ws = bsnn__calloc(1, sizeof *ws);
    if (ws == NULL) return NULL;
    ws->model_id = m->id;
    ws->layout = m->layout;
    return ws;
}

void bsnn_workspace_free(bsnn_workspace *ws)
{
    if (ws == NULL) return;
    bsnn__workspace_release(ws);
    bsnn__free(ws);
}

bsnn_status bsnn__workspace_reserve(bsnn_workspace *ws, const bsnn_model *m, size_t rows)
{
    BSNN_CHECK_NULL(ws);
    BSNN_FAIL_IF(ws->model_id != m->id, BSNN_E_ARG,
                 "the workspace was made for another model "
                 "(bsnn_workspace_create(m) makes one for this one)");
    return bsnn__workspace_grow(ws, m, rows);
}

bsnn_status bsnn_model_forward_ws(bsnn_tensor *out, const bsnn_model *m, bsnn_workspace *ws,
                                  const bsnn_tensor *x)
{
    BSNN_ENTER_COMPUTE();
    BSNN_TRY(check_forward(out, m, x));
    size_t n = bsnn__tensor_rows(x);
    BSNN_TRY(bsnn__workspace_reserve(ws, m, n));
    const float *y = bsnn__model_infer_rows(m, ws, x->data, n);
    memcpy(out->data, y, n * bsnn__model_n_outputs(m) * sizeof(float));
    return BSNN_OK;
}

/* ---- the gradient a fused update leaves unwritten --------------------- */

/* A fused update (train/engine.c) applies plain SGD inside the backward
 * pass of the layers that can (dense), without storing their gradient: the
 * workspace keeps each one's x and dy, and the kind's write_grads rebuilds
 * it on demand, with the product the update used. */
void bsnn__model_pending_grads(const bsnn_model *m, float *grads)
{
    size_t n = m->pending_rows;
    for (size_t i = 0; i < m->n_layers; i++) {
        const bsnn_layer *l = m->layers[i];
        if (!l->fused) continue;
        const float *x = i ? m->ws.acts[i - 1] : m->pending_x;
        l->ops->write_grads(l, grads + l->param_off, x, m->ws.delta[i], n);
    }
}

void bsnn__model_settle_grads(bsnn_model *m)
{
    if (m->pending_rows == 0) return;
    bsnn__model_pending_grads(m, m->grads);
    m->pending_rows = 0;
}

void bsnn__model_set_row_offset(bsnn_model *m, uint64_t offset) { m->row_offset = offset; }

bsnn_status bsnn__model_set_stats(bsnn_model *m, unsigned flags)
{
    if ((flags & BSNN__STATS_MICRO) && m->stat_grads == NULL && m->n_params) {
        m->stat_grads = bsnn__calloc(m->n_params, sizeof(float));
        if (m->stat_grads == NULL) return BSNN_E_NOMEM;
    }
    if (!(flags & BSNN__STATS_MICRO)) {
        bsnn__free(m->stat_grads);
        m->stat_grads = NULL;
    }
    m->stats = (bsnn__grad_stats){.flags = flags}; /* nothing measured yet */
    bsnn__plan_changed();
    return BSNN_OK;
}

const bsnn__grad_stats *bsnn__model_stats(const bsnn_model *m) { return &m->stats; }
