/*
 * noise_measure.c - bsnn_model_noise_measure: the gradient noise scale at
 * the current parameters over a dataset, without an update. The rows are
 * taken in groups of `batch`; pass 1 computes each group's mean gradient
 * g_j (its squared norm, and for the per-sample route its rows' squared
 * norms) and their total V; pass 2 recomputes each g_j to take g_j . V,
 * which the delete-one-group jackknife needs (|V - b_j g_j|^2 from
 * scalars). Each gradient is the step engine's (bsnn__engine_gradient:
 * no update, no commit), its per-sample norms the engine's statistics.
 * Everything the passes change (layer state, generators, the gradient
 * arena pointer, the per-update statistics) is put back.
 */
#include "train/train.h"

/* What the passes produce, per group j and in total. */
typedef struct measure {
    size_t k, rows;             /* groups, rows measured                    */
    double *b, *sq, *per, *dot; /* per group: rows, |g_j|^2, sum |g_i|^2, b_j g_j . V */
    double *v;                  /* V = sum_j b_j g_j, n_params doubles       */
    float *g;                   /* one group's gradient                     */
    size_t *order;              /* rows in measuring order (NULL: 0..N-1)   */
    unsigned flags;             /* the engine's statistics for the route     */
    float *state;               /* layer state before                        */
    bsnn_rng *rngs;             /* layer generators before                   */
} measure;

static void measure_free(measure *r)
{
    bsnn__free(r->b);
    bsnn__free(r->v);
    bsnn__free(r->g);
    bsnn__free(r->order);
    bsnn__free(r->state);
    bsnn__free(r->rngs);
}

static bsnn_status measure_alloc(measure *r, const bsnn_model *m, size_t n, int shuffled)
{
    r->b = bsnn__calloc(r->k, 4 * sizeof(double));
    r->v = bsnn__calloc(m->n_params, sizeof(double));
    r->g = bsnn__calloc(m->n_params, sizeof(float));
    r->order = shuffled ? bsnn__calloc(n, sizeof(size_t)) : NULL;
    r->state = m->n_state ? bsnn__calloc(m->n_state, sizeof(float)) : NULL;
    r->rngs = bsnn__calloc(m->n_layers, sizeof(bsnn_rng));
    if (!r->b || !r->v || !r->g || (shuffled && !r->order) || (m->n_state && !r->state) ||
        !r->rngs)
        return BSNN_E_NOMEM;
    r->sq = r->b + r->k;
    r->per = r->sq + r->k;
    r->dot = r->per + r->k;
    return BSNN_OK;
}

/* Save (put 0) or restore (put 1) what a pass changes besides the
 * workspace: layer state and generators. */
static void keep_layers(bsnn_model *m, measure *r, int put)
{
    if (m->n_state) {
        if (put)
            memcpy(m->state, r->state, m->n_state * sizeof(float));
        else
            memcpy(r->state, m->state, m->n_state * sizeof(float));
    }
    for (size_t i = 0; i < m->n_layers; i++) {
        bsnn_layer *l = m->layers[i];
        if (put && l->ops->set_rng) l->ops->set_rng(l, &r->rngs[i]);
        if (!put && l->ops->get_rng) l->ops->get_rng(l, &r->rngs[i]);
    }
}

/* Group j's mean gradient into r->g; returns its rows' per-sample squared
 * norms (per-sample route) through *out_per. */
static void group_gradient(double *out_per, bsnn_model *m, const measure *r,
                           const bsnn_dataset *ds, size_t j, size_t batch)
{
    size_t first = j * batch, rows = (size_t)r->b[j];
    for (size_t i = 0; i < rows; i++) {
        size_t row = r->order ? r->order[first + i] : first + i;
        memcpy(m->ws.xbuf + i * ds->n_in, ds->x + row * ds->n_in, ds->n_in * sizeof(float));
        memcpy(m->ws.ybuf + i * ds->n_out, ds->y + row * ds->n_out, ds->n_out * sizeof(float));
    }
    /* The engine's gradient of the group (into r->g, which m->grads points
     * at), with the per-sample statistics when the route asks. */
    m->stats = (bsnn__grad_stats){.flags = r->flags};
    bsnn__engine_gradient(m, m->ws.xbuf, m->ws.ybuf, rows, ds->n_out);
    *out_per = m->stats.sample_sq_sum;
}

static void run_passes(bsnn_model *m, measure *r, const bsnn_dataset *ds, size_t batch)
{
    size_t n = m->n_params;
    for (size_t j = 0; j < r->k; j++) {
        group_gradient(&r->per[j], m, r, ds, j, batch);
        r->sq[j] = bsnn__sumsq_f32(r->g, n);
        for (size_t i = 0; i < n; i++) r->v[i] += r->b[j] * (double)r->g[i];
    }
    keep_layers(m, r, 1); /* pass 2 sees the same masks and statistics */
    for (size_t j = 0; j < r->k; j++) {
        double unused, dot = 0.0;
        group_gradient(&unused, m, r, ds, j, batch);
        for (size_t i = 0; i < n; i++) dot += (double)r->g[i] * r->v[i];
        r->dot[j] = r->b[j] * dot;
    }
}

/* The estimates from the groups except `skip` (SIZE_MAX: all of them):
 * the two batch sizes of the route and their squared norms. */
typedef struct sums {
    double vv, per, sq, inv; /* |V|^2, sum of per-sample norms, of |g_j|^2, of 1/b_j */
} sums;

static void estimate(double *est, const measure *r, const sums *all, int route, size_t skip)
{
    double rows = (double)r->rows, vv = all->vv, per = all->per, sq = all->sq, inv = all->inv;
    double k = (double)r->k;
    if (skip != SIZE_MAX) {
        double bj = r->b[skip];
        rows -= bj;
        vv += -2.0 * r->dot[skip] + bj * bj * r->sq[skip];
        per -= r->per[skip];
        sq -= r->sq[skip];
        inv -= 1.0 / bj;
        k -= 1.0;
    }
    double big = vv / (rows * rows), small, b;
    if (route == BSNN_NOISE_PER_SAMPLE)
        small = per / rows, b = 1.0;
    else
        small = sq / k, b = k / inv;
    bsnn__noise_two_batch(&est[0], &est[1], small, b, big, rows);
    est[2] = est[0] > 0.0 ? est[1] / est[0] : INFINITY;
    est[3] = small, est[4] = b, est[5] = big;
}

/* sqrt((k-1)/k sum (x_j - mean)^2), NaN when a value is not finite. */
static double jackknife(const double *x, size_t k)
{
    double mean = 0.0, ss = 0.0;
    for (size_t j = 0; j < k; j++) mean += x[j] / (double)k;
    for (size_t j = 0; j < k; j++) ss += (x[j] - mean) * (x[j] - mean);
    double se = sqrt(ss * (double)(k - 1) / (double)k);
    return isfinite(se) ? se : NAN;
}

static bsnn_status results(double *fields, const measure *r, int route)
{
    sums all = {0, 0, 0, 0};
    for (size_t j = 0; j < r->k; j++) {
        all.vv += r->dot[j];
        all.per += r->per[j];
        all.sq += r->sq[j];
        all.inv += 1.0 / r->b[j];
    }
    BSNN_FAIL_IF(!isfinite(all.vv) || !isfinite(all.per) || !isfinite(all.sq), BSNN_E_DIVERGED,
                 "the gradient at these parameters is not finite");
    double est[6], se[3] = {NAN, NAN, NAN};
    estimate(est, r, &all, route, SIZE_MAX);
    /* delete-one jackknife: the micro-batch route needs 2 groups left */
    size_t need = route == BSNN_NOISE_PER_SAMPLE ? 2 : 3;
    if (r->k >= need) {
        double *del = bsnn__calloc(3 * r->k, sizeof(double));
        if (del == NULL) return BSNN_E_NOMEM;
        for (size_t j = 0; j < r->k; j++) {
            double e[6];
            estimate(e, r, &all, route, j);
            del[j] = e[0], del[r->k + j] = e[1], del[2 * r->k + j] = e[2];
        }
        for (int f = 0; f < 3; f++) se[f] = jackknife(del + (size_t)f * r->k, r->k);
        bsnn__free(del);
    }
    double v[BSNN__NOISE_FIELDS] = {est[0], est[1], est[2], se[0], se[1], se[2], (double)r->k,
                                    bsnn__noise_range(est[2], est[4], (double)r->rows),
                                    est[4], (double)r->rows, est[3], est[5]};
    memcpy(fields, v, sizeof v);
    return BSNN_OK;
}

static bsnn_status check_args(size_t *out_rows, size_t count, bsnn_model *m,
                              const bsnn_dataset *ds, bsnn_noise_route route, size_t batch,
                              size_t batches)
{
    BSNN_FAIL_IF(count == 0 || count > BSNN__NOISE_FIELDS, BSNN_E_ARG,
                 "count %zu is not in 1..%d", count, BSNN__NOISE_FIELDS);
    BSNN_FAIL_IF(route != BSNN_NOISE_MICRO_BATCH && route != BSNN_NOISE_PER_SAMPLE, BSNN_E_ARG,
                 "route %d is not BSNN_NOISE_MICRO_BATCH or BSNN_NOISE_PER_SAMPLE", (int)route);
    BSNN_TRY(bsnn__model_check_trainable(m));
    BSNN_TRY(bsnn__model_check_dataset(m, ds));
    BSNN_TRY(bsnn__model_noise_check(m, (int)route));
    BSNN_FAIL_IF(batch == 0 || batch > ds->n, BSNN_E_ARG, "batch %zu is not in 1..%zu", batch,
                 ds->n);
    size_t rows = ds->n;
    if (batches) {
        BSNN_FAIL_IF(batches > ds->n / batch, BSNN_E_ARG,
                     "%zu batches of %zu rows exceed the dataset's %zu rows", batches, batch,
                     ds->n);
        rows = batches * batch;
    }
    size_t k = (rows + batch - 1) / batch, last = rows - (k - 1) * batch;
    BSNN_FAIL_IF(rows < 2, BSNN_E_ARG, "one row has no gradient noise to measure");
    BSNN_FAIL_IF(route == BSNN_NOISE_MICRO_BATCH && k < 2, BSNN_E_ARG,
                 "the micro-batch route needs 2 or more batches (%zu rows in batches of %zu)",
                 rows, batch);
    BSNN_TRY(bsnn__model_check_batch(m, last < batch ? last : batch));
    *out_rows = rows;
    return BSNN_OK;
}

bsnn_status bsnn_model_noise_measure(double *out, size_t count, bsnn_model *m,
                                     const bsnn_dataset *ds, bsnn_noise_route route, size_t batch,
                                     size_t batches, uint64_t seed)
{
    BSNN_ENTER_COMPUTE();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(m);
    BSNN_CHECK_NULL(ds);
    size_t rows = 0;
    BSNN_TRY(check_args(&rows, count, m, ds, route, batch, batches));
    BSNN_TRY(bsnn__model_reserve(m, batch));
    measure r = {0};
    r.rows = rows;
    r.k = (rows + batch - 1) / batch;
    bsnn_status st = measure_alloc(&r, m, ds->n, batches > 0);
    if (st != BSNN_OK) {
        measure_free(&r);
        return st;
    }
    for (size_t j = 0; j < r.k; j++) r.b[j] = (double)(j + 1 < r.k ? batch : rows - j * batch);
    if (r.order) {
        bsnn_rng rng;
        bsnn__rng_seed(&rng, seed);
        for (size_t i = 0; i < ds->n; i++) r.order[i] = i;
        bsnn__shuffle(r.order, ds->n, &rng);
    }
    /* The passes borrow the gradient arena pointer and the per-update
     * statistics; the running estimate is never touched. */
    float *grads = m->grads;
    bsnn__grad_stats saved_stats = m->stats;
    r.flags = route == BSNN_NOISE_PER_SAMPLE ? BSNN__STATS_SAMPLE : 0u;
    keep_layers(m, &r, 0);
    m->grads = r.g;
    run_passes(m, &r, ds, batch);
    m->grads = grads;
    m->stats = saved_stats;
    keep_layers(m, &r, 1);
    double fields[BSNN__NOISE_FIELDS];
    st = results(fields, &r, route);
    measure_free(&r);
    if (st == BSNN_OK) memcpy(out, fields, count * sizeof(double));
    return st;
}
