/*
 * engine.c - the step engine: every training update of every entry point
 * (bsnn_model_train_step, the loop, the search) runs here.
 *
 * A plan, chosen once per (model, optimizer, rows per pass) and kept in the
 * optimizer until its key changes, says what a step does: which layers
 * fold plain SGD into their backward pass (kinds that declare the fused
 * capability, when the rule declares itself linear, one pass, no hook, no
 * statistics, no penalty on the layer), what a snapshot would copy, which
 * passes a step needs at all (penalties, commits). An update is then:
 *   1. per pass (micro-batch): forward in training mode, the loss and its
 *      gradient, ONE backward loop (fused layers compute dx only and keep
 *      dy; the others write or add their parameter gradient);
 *   2. the gradient hook on the complete batch-mean gradient (it may change
 *      the gradient, rows and loss: an allreduce), the L1/L2 penalties;
 *   3. one pass taking the gradient's largest magnitude (which also tells
 *      whether it is finite), and the rule's safety bound on the update
 *      from it (optimizer.c): when the bound proves that no parameter or
 *      state can overflow, nothing is copied; only when it fails are the
 *      parameters and the rule's state copied first (the snapshot);
 *   4. the rule's elementwise update in chunks (or, for fused layers, one
 *      product W -= lr x^T dy that never stores the gradient), keeping the
 *      largest magnitudes the next bound needs;
 *   5. once accepted, the layers' commits (batch norm's running averages,
 *      dropout's counter). A rejected update (non-finite loss or gradient,
 *      an update that overflowed, the hook's refusal, no memory for a
 *      snapshot) changes nothing: the layers never committed, the
 *      optimizer's scalars are put back, and the vectors were either never
 *      written or are restored from the snapshot.
 * Every elementwise pass runs through bsnn__parallel in chunks that depend
 * on sizes only, so results are bit-identical for every thread count.
 */
#include "train/train.h"

#include <stdatomic.h>

/* ---- passes over the arena, in fixed chunks ------------------------------ */

typedef struct arena_pass {
    float *dst;
    const float *src;
    double *parts;   /* 4 per chunk                                      */
    size_t base;     /* the pass's range starts here in the arena         */
    const bsnn__update *u;
} arena_pass;

static void max_chunk(void *ctx, size_t lo, size_t hi, size_t chunk)
{
    const arena_pass *p = ctx;
    p->parts[4 * chunk] = (double)bsnn__max_abs_bits(p->src + lo, hi - lo);
}

/* Largest magnitude (as bits) of v[0..n): NaN or infinity shows. */
static uint32_t max_bits(const float *v, size_t n, double *parts)
{
    arena_pass p = {NULL, v, parts, 0, NULL};
    bsnn__parallel_range(n, BSNN_PARALLEL_CHUNK, max_chunk, &p);
    uint32_t mx = 0;
    for (size_t c = 0, k = bsnn__chunks(n); c < k; c++)
        if ((uint32_t)parts[4 * c] > mx) mx = (uint32_t)parts[4 * c];
    return mx;
}

static void sumsq_chunk(void *ctx, size_t lo, size_t hi, size_t chunk)
{
    const arena_pass *p = ctx;
    p->parts[4 * chunk] = p->dst ? bsnn__add_sumsq_f32(p->dst + lo, p->src + lo, hi - lo)
                                 : bsnn__sumsq_f32(p->src + lo, hi - lo);
}

/* Both scans of one chunk in one read: the gradient's largest magnitude
 * for the checks and its squared norm for the statistics. */
static void max_sumsq_chunk(void *ctx, size_t lo, size_t hi, size_t chunk)
{
    const arena_pass *p = ctx;
    uint32_t bits;
    p->parts[4 * chunk] = bsnn__sumsq_max_f32(p->src + lo, hi - lo, &bits);
    p->parts[4 * chunk + 1] = (double)bits;
}

/* max_bits and sumsq of v[0..n) in one pass over the arena: the same
 * chunks, the same sums in the same order, so the same bits as the two. */
static uint32_t max_bits_sumsq(double *out_sq, const float *v, size_t n, double *parts)
{
    arena_pass p = {NULL, v, parts, 0, NULL};
    bsnn__parallel_range(n, BSNN_PARALLEL_CHUNK, max_sumsq_chunk, &p);
    uint32_t mx = 0;
    double s = 0.0;
    for (size_t c = 0, k = bsnn__chunks(n); c < k; c++) {
        s += parts[4 * c];
        if ((uint32_t)parts[4 * c + 1] > mx) mx = (uint32_t)parts[4 * c + 1];
    }
    *out_sq = s;
    return mx;
}

/* sum of v^2 over v[0..n) (in chunk order); with dst, also dst += v. */
static double sumsq(float *dst, const float *v, size_t n, double *parts)
{
    arena_pass p = {dst, v, parts, 0, NULL};
    bsnn__parallel_range(n, BSNN_PARALLEL_CHUNK, sumsq_chunk, &p);
    double s = 0.0;
    for (size_t c = 0, k = bsnn__chunks(n); c < k; c++) s += parts[4 * c];
    return s;
}

static void apply_chunk(void *ctx, size_t lo, size_t hi, size_t chunk)
{
    const arena_pass *p = ctx;
    uint32_t tracked, all;
    bsnn__optimizer_apply(p->u, p->base + lo, p->base + hi, &tracked, &all);
    p->parts[4 * chunk] = (double)tracked;
    p->parts[4 * chunk + 1] = (double)all;
}

/* The rule over arena[base, base + n): the largest tracked and written
 * magnitudes into *tracked and *all (max with what they hold). */
static void apply_range(const bsnn__update *u, size_t base, size_t n, double *parts,
                        uint32_t *tracked, uint32_t *all)
{
    arena_pass p = {NULL, NULL, parts, base, u};
    bsnn__parallel_range(n, BSNN_PARALLEL_CHUNK, apply_chunk, &p);
    for (size_t c = 0, k = bsnn__chunks(n); c < k; c++) {
        if ((uint32_t)parts[4 * c] > *tracked) *tracked = (uint32_t)parts[4 * c];
        if ((uint32_t)parts[4 * c + 1] > *all) *all = (uint32_t)parts[4 * c + 1];
    }
}

/* ---- the plan --------------------------------------------------------------- */

/* Which layers fold the update into their backward pass. */
static size_t mark_fused(bsnn_model *m, int can_fuse)
{
    size_t count = 0;
    for (size_t i = 0; i < m->n_layers; i++) {
        bsnn_layer *l = m->layers[i];
        int penalty = l->ops->penalty_active && l->ops->penalty_active(l);
        l->fused = can_fuse && l->ops->apply_linear != NULL && l->n_params && !penalty;
        count += (size_t)l->fused;
    }
    return count;
}

/* Plans get a serial number, so a model knows whose layer flags it holds
 * (atomic: threads may train distinct models at once). */
static _Atomic uint64_t last_stamp;

/* The plan for rows per pass (one pass when single), made when the key
 * moved; the model's layer flags set from it when another plan set them. */
static const bsnn__plan *plan_for(bsnn_model *m, bsnn_optimizer *opt, size_t rows, int single)
{
    bsnn__plan *p = &opt->plan;
    uint64_t gen = bsnn__plan_generation();
    if (!(p->valid && p->generation == gen && p->model_id == m->id && p->layout == m->layout &&
          p->rows == rows && p->single == single)) {
        p->generation = gen;
        p->model_id = m->id;
        p->layout = m->layout;
        p->rows = rows;
        p->single = single;
        p->hook = m->grad_hook != NULL;
        p->stats = m->stats.flags != 0;
        p->can_fuse = single && bsnn__optimizer_linear(opt) && !p->hook && !p->stats;
        p->n_fused = mark_fused(m, p->can_fuse);
        p->fused = p->n_fused > 0;
        p->penalties = p->commits = 0;
        p->sample_complete = 1;
        for (size_t i = 0; i < m->n_layers; i++) {
            const bsnn_layer *l = m->layers[i];
            p->penalties |= l->ops->penalty_active && l->ops->penalty_active(l);
            p->commits |= l->ops->commit != NULL;
            if (l->n_params && !l->ops->sample_norms) p->sample_complete = 0;
        }
        p->snapshot_floats = m->n_params + opt->n * opt->n_state_vectors;
        p->stamp = ++last_stamp;
        p->valid = 1;
        m->fused_stamp = p->stamp;
    } else if (m->fused_stamp != p->stamp) {
        mark_fused(m, p->can_fuse);
        m->fused_stamp = p->stamp;
    }
    return p;
}

/* ---- one pass: forward, loss, the backward loop ---------------------------- */

static void gather(bsnn_model *m, const bsnn__batch *b, size_t off, size_t k)
{
    const bsnn_dataset *ds = b->ds;
    for (size_t r = 0; r < k; r++) {
        size_t i = b->idx[off + r];
        memcpy(m->ws.xbuf + r * ds->n_in, ds->x + i * ds->n_in, ds->n_in * sizeof(float));
        memcpy(m->ws.ybuf + r * ds->n_out, ds->y + i * ds->n_out, ds->n_out * sizeof(float));
    }
}

/* The rows [off, off + k) of the batch: *x and *y. Fused layers read their
 * x after the pass (and for the gradient on demand), so a host's input is
 * copied into the workspace when the first layer is fused. */
static void pass_rows(const float **x, const float **y, bsnn_model *m, const bsnn__batch *b,
                      size_t off, size_t k)
{
    if (b->ds) {
        gather(m, b, off, k);
        *x = m->ws.xbuf;
        *y = m->ws.ybuf;
        return;
    }
    *x = b->x + off * m->n_in;
    *y = b->y + off * b->target_width;
    if (m->layers[0]->fused) {
        memcpy(m->ws.xbuf, *x, k * m->n_in * sizeof(float));
        *x = m->ws.xbuf;
    }
}

static const float *forward(bsnn_model *m, bsnn__pass *pass, const float *x, size_t n)
{
    const float *in = x;
    for (size_t i = 0; i < m->n_layers; i++) {
        const bsnn_layer *l = m->layers[i];
        const float *params = bsnn__at(m->params, l->param_off);
        const float *state = bsnn__at(m->state, l->state_off);
        float *scratch = m->ws.scratch[i];
        pass->layer = i;
        if (m->training && l->ops->forward)
            l->ops->forward(l, pass, params, state, scratch, in, m->ws.acts[i], n);
        else
            l->ops->infer(l, params, state, scratch, in, m->ws.acts[i], n);
        in = m->ws.acts[i];
    }
    return in;
}

/* The one backward loop: each layer from the last, its dy in delta[i], its
 * dx into delta[i - 1] (none for the first layer). Fused layers only pass
 * dx on; the others write (accumulate 0) or add their gradient into
 * grads. */
static void backward(bsnn_model *m, bsnn__pass *pass, const float *x, float *grads,
                     int accumulate, size_t n)
{
    for (size_t i = m->n_layers; i-- > 0;) {
        const bsnn_layer *l = m->layers[i];
        const float *params = bsnn__at(m->params, l->param_off);
        const float *in = i ? m->ws.acts[i - 1] : x;
        float *dx = i ? m->ws.delta[i - 1] : NULL;
        pass->layer = i;
        if (l->fused)
            l->ops->backward_input(l, params, m->ws.delta[i], dx, n);
        else
            l->ops->backward(l, pass, params, bsnn__at(m->state, l->state_off),
                             bsnn__at(grads, l->param_off), accumulate, m->ws.scratch[i], in,
                             m->ws.acts[i], m->ws.delta[i], dx, n);
    }
}

/* Forward, loss and backward over every pass of the batch, the gradient
 * (the batch mean) into m->grads; the summed loss. Statistics on: each
 * pass's own gradient is measured. */
static double run_passes(bsnn_model *m, const bsnn__batch *b, size_t rows, const float **first_x)
{
    size_t n = b->n, last = m->n_layers - 1, width = m->layers[last]->n_out;
    float scale = 1.0f / (float)n;
    unsigned flags = m->stats.flags;
    double loss = 0.0, sample_sq = 0.0;
    bsnn__pass pass = {0, 0, 1, (flags & BSNN__STATS_SAMPLE) ? &sample_sq : NULL};
    for (size_t off = 0; off < n; off += rows) {
        size_t k = n - off < rows ? n - off : rows;
        const float *x, *y;
        pass_rows(&x, &y, m, b, off, k);
        if (off == 0) *first_x = x;
        pass.first = off == 0;
        pass.row0 = m->row_offset + off;
        const float *out = forward(m, &pass, x, k);
        loss += bsnn__loss_grad(m->loss, out, y, k, width, b->target_width, m->ws.delta[last],
                                scale, m->ws.parts);
        /* MICRO statistics: every pass after the first into its own buffer,
         * measured, then added. */
        int apart = (flags & BSNN__STATS_MICRO) && off > 0;
        backward(m, &pass, x, apart ? m->stat_grads : m->grads, off > 0 && !apart, k);
        if (flags & BSNN__STATS_MICRO) {
            const float *g = off ? m->stat_grads : m->grads;
            double sq = sumsq(off ? m->grads : NULL, g, m->n_params, m->ws.parts);
            double mean_sq = sq * ((double)n / (double)k) * ((double)n / (double)k);
            m->stats.micro_sq_sum += mean_sq;
            m->stats.micro_sq_wsum += (double)k * mean_sq;
            m->stats.micro_inv_rows += 1.0 / (double)k;
        }
        if (flags) m->stats.passes++;
    }
    if (flags) m->stats.sample_sq_sum = sample_sq * (double)n * (double)n;
    return loss;
}

/* ---- the update --------------------------------------------------------------- */

/* fn over each run of adjacent unfused layers' slices of the arena (the
 * whole arena in one call when nothing is fused). */
static void each_unfused_run(const bsnn_model *m, void (*fn)(void *ctx, size_t start, size_t n),
                             void *ctx)
{
    size_t run_start = 0, run_len = 0;
    for (size_t i = 0; i <= m->n_layers; i++) {
        const bsnn_layer *l = i < m->n_layers ? m->layers[i] : NULL;
        if (l && !l->fused) {
            if (run_len == 0) run_start = l->param_off;
            run_len += l->n_params;
            continue;
        }
        if (run_len) fn(ctx, run_start, run_len);
        run_len = 0;
    }
}

typedef struct unfused_scan {
    const bsnn_model *m;
    const bsnn__update *u;
    double *parts;
    uint32_t mx, *tracked, *all;
} unfused_scan;

static void max_run(void *ctx, size_t start, size_t n)
{
    unfused_scan *c = ctx;
    uint32_t b = max_bits(c->m->grads + start, n, c->parts);
    c->mx = b > c->mx ? b : c->mx;
}

/* Largest |g| over the parameters of layers whose gradient is in the arena
 * (all, unless fused), as bits. */
static uint32_t gradient_max(const bsnn_model *m, double *parts)
{
    unfused_scan c = {m, NULL, parts, 0, NULL, NULL};
    each_unfused_run(m, max_run, &c);
    return c.mx;
}

static void apply_run(void *ctx, size_t start, size_t n)
{
    unfused_scan *c = ctx;
    apply_range(c->u, start, n, c->parts, c->tracked, c->all);
}

/* The rule over every unfused slice of the arena. */
static void apply_unfused(const bsnn_model *m, const bsnn__update *u, double *parts,
                          uint32_t *tracked, uint32_t *all)
{
    unfused_scan c = {m, u, parts, 0, tracked, all};
    each_unfused_run(m, apply_run, &c);
}

static void add_penalties(bsnn_model *m, const bsnn__plan *p)
{
    if (!p->penalties) return;
    for (size_t i = 0; i < m->n_layers; i++) {
        const bsnn_layer *l = m->layers[i];
        if (l->ops->regularize && l->ops->penalty_active(l))
            l->ops->regularize(l, bsnn__at(m->params, l->param_off),
                               bsnn__at(m->grads, l->param_off));
    }
}

/* The host's gradient hook on the complete gradient: it may change the
 * gradient, *rows and *loss_sum (an allreduce), and run bsnn functions,
 * but not train m (in_hook refuses that). */
static bsnn_status run_hook(bsnn_model *m, size_t *rows, double *loss_sum)
{
    int rc;
    m->in_hook = 1;
    BSNN_CALL_HOST(rc, m->grad_hook(m->grad_hook_user, m->grads, m->n_params, rows, loss_sum));
    m->in_hook = 0;
    BSNN_FAIL_IF(rc != 0, BSNN_E_CALLBACK,
                 "the gradient hook returned %d: the step was abandoned, the model and "
                 "optimizer left as before it",
                 rc);
    BSNN_FAIL_IF(*rows == 0, BSNN_E_CALLBACK,
                 "the gradient hook left rows = 0 (an update covers at least one row): the "
                 "step was abandoned, the model and optimizer left as before it");
    return BSNN_OK;
}

/* The largest |value| of the tracked state vector, when not known (after a
 * checkpoint was loaded): one scan. */
static void know_tracked(bsnn_optimizer *opt, double *parts)
{
    int v = bsnn__optimizer_tracks(opt);
    if (opt->tracked_valid || v < 0 || opt->state == NULL) {
        opt->tracked_valid = 1;
        return;
    }
    opt->tracked_max = bsnn__bits_float(max_bits(opt->state + (size_t)v * opt->n, opt->n, parts));
    opt->tracked_valid = 1;
}

/* Copy what the rule's update writes (parameters and state vectors) so a
 * failed update can be undone; BSNN_E_NOMEM when the buffer cannot be had
 * (nothing changed then). */
static bsnn_status take_snapshot(bsnn_model *m, bsnn_optimizer *opt, const bsnn__plan *p)
{
    size_t need = p->snapshot_floats, state = need - m->n_params;
    if (opt->snap_cap < need) {
        float *snap = bsnn__alloc(need * sizeof(float));
        BSNN_FAIL_IF(snap == NULL, BSNN_E_NOMEM,
                     "no memory for the %zu-byte snapshot this update needs (its safety bound "
                     "failed); the model and optimizer are unchanged",
                     need * sizeof(float));
        bsnn__free(opt->snap);
        opt->snap = snap;
        opt->snap_cap = need;
    }
    memcpy(opt->snap, m->params, m->n_params * sizeof(float));
    if (state) memcpy(opt->snap + m->n_params, opt->state, state * sizeof(float));
    m->counts[BSNN_STAT_SNAPSHOT_BYTES] = need * sizeof(float);
    m->counts[BSNN_STAT_SNAPSHOT_BYTES_TOTAL] += need * sizeof(float);
    m->counts[BSNN_STAT_SNAPSHOTS]++;
    return BSNN_OK;
}

static void restore_snapshot(bsnn_model *m, bsnn_optimizer *opt, const bsnn__plan *p)
{
    size_t state = p->snapshot_floats - m->n_params;
    memcpy(m->params, opt->snap, m->n_params * sizeof(float));
    if (state) memcpy(opt->state, opt->snap + m->n_params, state * sizeof(float));
}

/* The fused update: proven safe from the layers' own bounds (max|x|,
 * max|dy|) and the unfused slices' gradients, then W -= lr x^T dy per fused
 * layer and the rule over the rest. 0 (nothing changed) when not proven:
 * the fused layers' gradients are then written out for the general path. */
static int try_fused(bsnn_model *m, bsnn_optimizer *opt, const bsnn__plan *p, const float *x,
                     size_t n, double lr, double loss_sum)
{
    add_penalties(m, p); /* of unfused layers: a penalised layer never fuses */
    double G = bsnn__bits_float(gradient_max(m, m->ws.parts));
    for (size_t i = 0; i < m->n_layers; i++) {
        const bsnn_layer *l = m->layers[i];
        if (!l->fused) continue;
        double b = l->ops->grad_bound(l, i ? m->ws.acts[i - 1] : x, m->ws.delta[i], n);
        G = b > G ? b : G;
    }
    bsnn__update u;
    bsnn__optimizer_prepare(&u, opt, m->params, m->grads, m->decay_mask, lr);
    if (!isfinite(loss_sum) || !bsnn__optimizer_safe(opt, &u, G)) {
        opt->t--; /* prepare counted the step; SGD has no other scalar */
        for (size_t i = 0; i < m->n_layers; i++) {
            const bsnn_layer *l = m->layers[i];
            if (l->fused)
                l->ops->write_grads(l, m->grads + l->param_off, i ? m->ws.acts[i - 1] : x,
                                    m->ws.delta[i], n);
        }
        return 0;
    }
    for (size_t i = 0; i < m->n_layers; i++) {
        bsnn_layer *l = m->layers[i];
        if (l->fused)
            l->ops->apply_linear(l, m->params + l->param_off, i ? m->ws.acts[i - 1] : x,
                                 m->ws.delta[i], n, u.lr);
    }
    uint32_t tracked = 0, all = 0;
    apply_unfused(m, &u, m->ws.parts, &tracked, &all);
    m->pending_rows = n;
    m->pending_x = x;
    return 1;
}

/* Everything the update changed in the optimizer's scalars, put back. */
static bsnn_status reject(bsnn_model *m, bsnn_optimizer *opt, const bsnn__opt_scalars *saved,
                          bsnn_status st)
{
    bsnn__optimizer_restore_scalars(opt, saved);
    m->counts[BSNN_STAT_REJECTED]++;
    return st;
}

/* The general update: hook, penalties (unless a declined fused update
 * added them: it runs only without a hook), checks, snapshot if unproven,
 * the rule. */
static bsnn_status general_update(bsnn_model *m, bsnn_optimizer *opt, const bsnn__plan *p,
                                  double lr, double *loss_sum, size_t *rows,
                                  const bsnn__opt_scalars *saved, int penalized)
{
    double *parts = m->ws.parts;
    /* Without a hook and with no penalty still to add, the gradient the
     * statistics read is the one the checks scan: one pass for both. */
    int one_scan = m->stats.flags && !m->grad_hook && (penalized || !p->penalties);
    if (m->stats.flags && !one_scan)
        m->stats.batch_sq = sumsq(NULL, m->grads, m->n_params, parts);
    if (m->grad_hook) {
        bsnn_status st = run_hook(m, rows, loss_sum);
        if (st != BSNN_OK) return reject(m, opt, saved, st);
    }
    if (m->stats.flags && !one_scan) /* without a hook the gradient is the same */
        m->stats.global_sq =
            m->grad_hook ? sumsq(NULL, m->grads, m->n_params, parts) : m->stats.batch_sq;
    if (!penalized) add_penalties(m, p);
    uint32_t gbits;
    if (one_scan) {
        gbits = max_bits_sumsq(&m->stats.batch_sq, m->grads, m->n_params, parts);
        m->stats.global_sq = m->stats.batch_sq;
    } else {
        gbits = max_bits(m->grads, m->n_params, parts);
    }
    double loss = *loss_sum / (double)*rows;
    if (!isfinite(loss) || !bsnn__bits_finite(gbits))
        return reject(m, opt, saved,
                      bsnn__fail(BSNN_E_DIVERGED,
                                 "loss %g or its gradient is not finite; parameters left "
                                 "unchanged",
                                 loss));
    know_tracked(opt, parts);
    bsnn__update u;
    bsnn__optimizer_prepare(&u, opt, m->params, m->grads, m->decay_mask, lr);
    int safe = bsnn__optimizer_safe(opt, &u, bsnn__bits_float(gbits));
    if (!safe) {
        bsnn_status st = take_snapshot(m, opt, p);
        if (st != BSNN_OK) return reject(m, opt, saved, st);
    }
    uint32_t tracked = 0, all = 0;
    apply_range(&u, 0, m->n_params, parts, &tracked, &all);
    if (!bsnn__bits_finite(all)) {
        if (!safe) restore_snapshot(m, opt, p);
        return reject(m, opt, saved,
                      bsnn__fail(BSNN_E_DIVERGED,
                                 "the update (learning rate %g) made a parameter or the "
                                 "optimizer's state NaN or infinite; %s",
                                 lr,
                                 safe ? "the safety bound failed to see it: parameters NOT "
                                        "restored (a bug, please report)"
                                      : "parameters and state restored to their values before "
                                        "it"));
    }
    opt->tracked_max = bsnn__bits_float(tracked);
    return BSNN_OK;
}

bsnn_status bsnn__engine_step(double *out_loss, size_t *out_rows, bsnn_model *m,
                              bsnn_optimizer *opt, const bsnn__batch *b, size_t rows, double lr)
{
    /* A data-parallel rank whose share of a global batch is empty still takes
     * part in the update: a zero gradient over 0 rows, which its hook (the
     * allreduce) turns into the global one. */
    BSNN_FAIL_IF(b->n == 0 && m->grad_hook == NULL, BSNN_E_STATE,
                 "a batch of 0 rows needs a gradient hook to supply the update (a "
                 "data-parallel rank's empty share)");
    if (rows > b->n) rows = b->n;
    const bsnn__plan *p = plan_for(m, opt, rows, rows == b->n);
    m->pending_rows = 0; /* this update's gradient supersedes a pending one */
    m->counts[BSNN_STAT_SNAPSHOT_BYTES] = 0;
    bsnn__opt_scalars saved;
    bsnn__optimizer_save_scalars(&saved, opt);
    if (m->stats.flags)
        m->stats = (bsnn__grad_stats){.flags = m->stats.flags, .rows = b->n,
                                      .sample_complete = p->sample_complete};
    const float *x = NULL;
    double loss_sum = 0.0;
    if (b->n)
        loss_sum = run_passes(m, b, rows, &x);
    else if (m->n_params)
        memset(m->grads, 0, m->n_params * sizeof(float));
    size_t covered = b->n;
    int fused = p->fused && try_fused(m, opt, p, x, b->n, lr, loss_sum);
    if (p->fused && !fused) {
        mark_fused(m, 0); /* their gradients are in the arena now */
        m->fused_stamp = 0;
    }
    if (!fused) BSNN_TRY(general_update(m, opt, p, lr, &loss_sum, &covered, &saved, p->fused));
    for (size_t i = 0; p->commits && i < m->n_layers; i++) {
        bsnn_layer *l = m->layers[i];
        if (l->ops->commit)
            l->ops->commit(l, bsnn__at(m->state, l->state_off), m->ws.scratch[i], m->training,
                           b->n);
    }
    if (m->noise_route) bsnn__noise_record(m, covered); /* accepted updates only */
    m->started = 1;
    m->counts[BSNN_STAT_UPDATES]++;
    if (out_loss) *out_loss = loss_sum / (double)covered;
    if (out_rows) *out_rows = covered;
    return BSNN_OK;
}

/* ---- the pieces, for tests and gradient checks ------------------------------ */

const float *bsnn__engine_forward(bsnn_model *m, const float *x, size_t n, uint64_t row0)
{
    bsnn__pass pass = {0, row0, 1, NULL};
    return forward(m, &pass, x, n);
}

double bsnn__engine_gradient(bsnn_model *m, const float *x, const float *y, size_t n,
                             size_t target_width)
{
    bsnn__batch b = {x, y, NULL, NULL, n, target_width};
    for (size_t i = 0; i < m->n_layers; i++) m->layers[i]->fused = 0;
    m->pending_rows = 0;
    m->fused_stamp = 0;
    const float *first;
    return run_passes(m, &b, n, &first);
}
