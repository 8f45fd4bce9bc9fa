/*
 * standardize.c - fixed per-feature standardisation, y = (x - mean) / std,
 * with statistics the host computed on its training set
 * (bsnn_dataset_input_stats). They are the layer's state, not parameters:
 * no gradient reaches them, bsnn_model_init_params leaves them alone, and
 * the model file stores them, so a model trained on standardised rows
 * predicts right on raw rows. The division matches bsnn_dataset_standardize
 * operation for operation, so the layer on raw rows gives bit for bit what
 * the dataset function feeds the next layer.
 *
 * State: mean [n] then std [n]. The constructor's copy of them waits in the
 * kind's struct until the layer joins a model (attach), then lives only in
 * the model's state arena.
 */
#include "nn/nn.h"

typedef struct standardize {
    size_t count; /* width the statistics were given for; 0: loaded     */
    float *stats; /* mean [count] then std [count] until attached       */
} standardize;

static bsnn_status st_setup(bsnn_layer *l, size_t n_in)
{
    const standardize *d = l->data;
    BSNN_FAIL_IF(d->count && n_in != d->count, BSNN_E_SHAPE,
                 "the standardize layer holds statistics of %zu features, its input here has %zu",
                 d->count, n_in);
    BSNN_FAIL_IF(n_in > SIZE_MAX / 4 / sizeof(float), BSNN_E_ARG,
                 "standardize over %zu features is too large", n_in);
    l->n_in = l->n_out = n_in;
    l->n_state = 2 * n_in;
    l->n_weights = 0;
    return BSNN_OK;
}

static void st_attach(bsnn_layer *l, float *state)
{
    standardize *d = l->data;
    if (d->stats == NULL) return; /* a loaded layer: the file's state follows */
    memcpy(state, d->stats, 2 * d->count * sizeof(float));
    bsnn__free(d->stats);
    d->stats = NULL;
}

typedef struct st_pass {
    const float *mean, *std, *in;
    float *out;
    size_t w;
} st_pass;

static void infer_chunk(void *ctx, size_t lo, size_t hi, size_t chunk)
{
    (void)chunk;
    const st_pass *p = ctx;
    for (size_t r = lo; r < hi; r++)
        for (size_t j = 0; j < p->w; j++)
            p->out[r * p->w + j] = (p->in[r * p->w + j] - p->mean[j]) / p->std[j];
}

static void backward_chunk(void *ctx, size_t lo, size_t hi, size_t chunk)
{
    (void)chunk;
    const st_pass *p = ctx;
    for (size_t r = lo; r < hi; r++)
        for (size_t j = 0; j < p->w; j++) p->out[r * p->w + j] = p->in[r * p->w + j] / p->std[j];
}

static void st_infer(const bsnn_layer *l, const float *params, const float *state,
                     float *scratch, const float *x, float *y, size_t n)
{
    (void)params, (void)scratch;
    size_t w = l->n_in;
    st_pass p = {state, state + w, x, y, w};
    bsnn__parallel_range(n, bsnn__row_grain(w), infer_chunk, &p);
}

static void st_backward(const bsnn_layer *l, const bsnn__pass *pass, const float *params,
                        const float *state, float *grads, int accumulate, float *scratch,
                        const float *x, const float *y, float *dy, float *dx, size_t n)
{
    (void)pass, (void)params, (void)grads, (void)accumulate, (void)scratch, (void)x, (void)y;
    if (dx == NULL) return; /* no parameters: only the input gradient */
    size_t w = l->n_in;
    st_pass p = {state, state + w, dy, dx, w};
    bsnn__parallel_range(n, bsnn__row_grain(w), backward_chunk, &p);
}

static bsnn_status bad_stats(const float *mean, const float *std, size_t count, size_t *out_j)
{
    for (size_t j = 0; j < count; j++)
        if (!isfinite(mean[j]) || !isfinite(std[j]) || !(std[j] > 0.0f)) {
            *out_j = j;
            return BSNN_E_ARG;
        }
    return BSNN_OK;
}

static bsnn_status st_check_state(const bsnn_layer *l, const float *state)
{
    size_t j = 0;
    BSNN_FAIL_IF(bad_stats(state, state + l->n_in, l->n_in, &j) != BSNN_OK, BSNN_E_FORMAT,
                 "standardize feature %zu has mean %g and std %g (a std must be finite and > 0)",
                 j, (double)state[j], (double)state[l->n_in + j]);
    return BSNN_OK;
}

static void st_destroy(bsnn_layer *l) { bsnn__free(((standardize *)l->data)->stats); }

const bsnn_layer_ops bsnn__standardize_ops = {
    .kind = BSNN_LAYER_STANDARDIZE,
    .name = "standardize",
    .data_size = sizeof(standardize),
    .setup = st_setup,
    .attach = st_attach,
    .infer = st_infer,
    .backward = st_backward,
    .check_state = st_check_state,
    .destroy = st_destroy,
};

bsnn_layer *bsnn_layer_standardize(const float *mean, const float *std, size_t count)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL_CTOR(mean);
    BSNN_CHECK_NULL_CTOR(std);
    BSNN_FAIL_NULL_IF(count == 0, BSNN_E_ARG, "count is 0");
    size_t j = 0;
    BSNN_FAIL_NULL_IF(bad_stats(mean, std, count, &j) != BSNN_OK, BSNN_E_ARG,
                      "feature %zu has mean %g and std %g (a std must be finite and > 0)", j,
                      (double)mean[j], (double)std[j]);
    BSNN_FAIL_NULL_IF(count > SIZE_MAX / 2 / sizeof(float), BSNN_E_ARG, "count %zu overflows",
                      count);
    bsnn_layer *l = bsnn__layer_new(&bsnn__standardize_ops);
    if (l == NULL) return NULL;
    standardize *d = l->data;
    d->stats = bsnn__calloc(2 * count, sizeof(float));
    if (d->stats == NULL) {
        bsnn__layer_destroy(l);
        return NULL;
    }
    memcpy(d->stats, mean, count * sizeof(float));
    memcpy(d->stats + count, std, count * sizeof(float));
    d->count = count;
    return l;
}
