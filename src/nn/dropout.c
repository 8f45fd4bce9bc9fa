/*
 * dropout.c - inverted dropout (Srivastava et al. 2014, scaled at training
 * time): in training mode each element is kept with probability 1 - rate
 * and scaled by 1 / (1 - rate), so evaluation is the identity and the
 * expected activation is the same in both modes.
 *
 * Masks are counter-based: whether element j of a row is kept is a hash of
 * the layer's seed, its index in the model, the count of updates it has
 * taken part in, the row's index within the update's GLOBAL batch and j.
 * So a mask depends on no generator state: the same whatever the thread
 * count, the micro-batch split, or the split of a batch over data-parallel
 * processes (each passes its rows' global offset); a rejected step draws
 * nothing (the count moves only when an update is accepted, commit), and
 * backward recomputes the mask instead of storing it. The count restarts
 * when the model initialises its parameters and when the seed is set; the
 * model file keeps it in the layer's generator field (docs/format.md).
 * scratch: [mode][key, 2 floats][first row, 2 floats], for backward.
 */
#include "nn/nn.h"

#include <stddef.h>

typedef struct dropout {
    double rate;      /* probability of dropping, [0, 1)                  */
    uint64_t seed;    /* BSNN_LAYER_SEED                                  */
    uint64_t updates; /* accepted training updates: the masks' counter    */
} dropout;

static const bsnn__setting settings[] = {
    {BSNN_LAYER_RATE, "rate", BSNN__SET_DOUBLE, BSNN_BOUND_HI_OPEN, 0.0, 1.0, 0.0,
     offsetof(dropout, rate), NULL},
    {BSNN_LAYER_SEED, "seed", BSNN__SET_U64, 0, 0.0, BSNN__MAX_EXACT, 0.0, offsetof(dropout, seed),
     "bsnn_layer_get_seed"},
};

enum { SCRATCH_FIXED = 5 };

static bsnn_status drop_setup(bsnn_layer *l, size_t n_in)
{
    l->n_in = l->n_out = n_in;
    l->scratch_fixed = SCRATCH_FIXED;
    return BSNN_OK;
}

/* SplitMix64's finaliser (Steele, Lea & Flood 2014): a bijection that
 * mixes every input bit into every output bit. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* MurmurHash3's 32-bit finaliser (Appleby): vectorises (32-bit products). */
static uint32_t mix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    return h ^ (h >> 16);
}

/* The key of one update's masks in layer `index`. */
static uint64_t update_key(const dropout *d, size_t index)
{
    return mix64(d->seed ^ mix64(0x9e3779b97f4a7c15ULL * ((uint64_t)index + 1)) ^
                 mix64(d->updates + 0x632be59bd9b4e019ULL));
}

/* One row's mask applied: out[j] = in[j] * scale where kept, else 0. Kept
 * when a 32-bit hash of (row key, j) is at or above floor(rate 2^32). */
static void mask_row(float *out, const float *in, size_t w, uint64_t key, uint64_t row,
                     uint32_t threshold, float scale)
{
    uint64_t rk = mix64(key ^ mix64(row + 0xd1b54a32d192ed03ULL));
    uint32_t k1 = (uint32_t)rk, k2 = (uint32_t)(rk >> 32);
    for (size_t j = 0; j < w; j++) {
        uint32_t h = mix32(mix32(k1 + (uint32_t)j * 0x9e3779b9u) ^ k2);
        float kept = in[j] * scale; /* computed either way: the loop vectorises */
        out[j] = h >= threshold ? kept : 0.0f;
    }
}

typedef struct drop_pass {
    const float *in;
    float *out;
    size_t w;
    uint64_t key, row0;
    uint32_t threshold;
    float scale;
} drop_pass;

static void mask_chunk(void *ctx, size_t lo, size_t hi, size_t chunk)
{
    (void)chunk;
    const drop_pass *p = ctx;
    for (size_t r = lo; r < hi; r++)
        mask_row(p->out + r * p->w, p->in + r * p->w, p->w, p->key, p->row0 + r, p->threshold,
                 p->scale);
}

static void put_u64(float *at, uint64_t v) { memcpy(at, &v, sizeof v); }

static uint64_t get_u64(const float *at)
{
    uint64_t v;
    memcpy(&v, at, sizeof v);
    return v;
}

/* Apply the mask of (key, rows from row0) to n rows of in. */
static void apply_mask(const bsnn_layer *l, const float *in, float *out, size_t n, uint64_t key,
                       uint64_t row0)
{
    const dropout *d = l->data;
    drop_pass p = {in, out, l->n_in, key, row0, (uint32_t)ldexp(d->rate, 32),
                   (float)(1.0 / (1.0 - d->rate))};
    bsnn__parallel_range(n, bsnn__row_grain(l->n_in), mask_chunk, &p);
}

/* Evaluation mode: the identity. */
static void drop_infer(const bsnn_layer *l, const float *params, const float *state,
                       float *scratch, const float *x, float *y, size_t n)
{
    (void)params, (void)state;
    scratch[0] = 0.0f; /* backward: the identity too */
    memcpy(y, x, n * l->n_in * sizeof(float));
}

static void drop_forward(const bsnn_layer *l, const bsnn__pass *pass, const float *params,
                         const float *state, float *scratch, const float *x, float *y, size_t n)
{
    (void)params, (void)state;
    uint64_t key = update_key(l->data, pass->layer);
    scratch[0] = 1.0f;
    put_u64(scratch + 1, key);
    put_u64(scratch + 3, pass->row0);
    apply_mask(l, x, y, n, key, pass->row0);
}

static void drop_backward(const bsnn_layer *l, const bsnn__pass *pass, const float *params,
                          const float *state, float *grads, int accumulate, float *scratch,
                          const float *x, const float *y, float *dy, float *dx, size_t n)
{
    (void)pass, (void)params, (void)state, (void)grads, (void)accumulate, (void)x, (void)y;
    if (dx == NULL) return;
    if (scratch[0] == 0.0f)
        memcpy(dx, dy, n * l->n_in * sizeof(float));
    else
        apply_mask(l, dy, dx, n, get_u64(scratch + 1), get_u64(scratch + 3));
}

/* The update was accepted: the next one draws new masks. */
static void drop_commit(bsnn_layer *l, float *state, const float *scratch, int training,
                        size_t rows)
{
    (void)state, (void)scratch, (void)rows; /* an empty share counts too */
    if (training) ((dropout *)l->data)->updates++;
}

static void drop_init(bsnn_layer *l, float *params, float *state, const bsnn__init_ctx *ctx)
{
    (void)params, (void)state, (void)ctx;
    ((dropout *)l->data)->updates = 0;
}

static void drop_changed(bsnn_layer *l, int id)
{
    if (id == BSNN_LAYER_SEED) ((dropout *)l->data)->updates = 0;
}

/* The LAYR generator field holds the counter in its first word. */
static void drop_get_rng(const bsnn_layer *l, bsnn_rng *out)
{
    memset(out, 0, sizeof *out);
    out->s[0] = ((const dropout *)l->data)->updates;
}

static void drop_set_rng(bsnn_layer *l, const bsnn_rng *rng)
{
    ((dropout *)l->data)->updates = rng->s[0];
}

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
    .commit = drop_commit,
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
    return l;
}
