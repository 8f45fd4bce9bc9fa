/*
 * train.h - tier 5 (src/train/): what training is made of: the update
 * rules (optimizer.c), the step engine (engine.c), the step's public entry
 * and checks (step.c), the loop (loop.c), evaluation (evaluate.c), the
 * batch scheduler (scheduler.c), memory estimates (memory.c) and histories
 * (history.c). Above data/ and nn/.
 */
#ifndef BSNN_TRAIN_H
#define BSNN_TRAIN_H

#include "data/data.h"
#include "nn/nn.h"

/* ---- optimizers (optimizer.c) --------------------------------------------- */

/* The step plan (engine.c): what a training step of one model with one
 * optimizer at one number of rows per pass does, chosen once and reused
 * until its key changes. */
typedef struct bsnn__plan {
    /* the key */
    uint64_t generation;     /* bsnn__plan_generation() when it was made   */
    uint64_t model_id, layout;
    size_t rows;             /* rows per pass                               */
    int single;              /* the batch is one pass                       */
    /* what was chosen */
    int valid;
    uint64_t stamp;          /* serial number: whose flags a model holds    */
    int can_fuse;            /* the rule is linear (plain SGD), one pass, no
                                hook, no statistics                       */
    int fused;               /* ... and some layer folds the update into its
                                backward pass (l->fused)                  */
    int hook, stats;         /* the hook runs; statistics are measured      */
    size_t n_fused;          /* layers with l->fused                        */
    int penalties;           /* some layer has an L1/L2 penalty             */
    int commits;             /* some layer keeps something once accepted    */
    int sample_complete;     /* every layer with parameters is dense        */
    size_t snapshot_floats;  /* what a snapshot copies: parameters and the
                                rule's state vectors                      */
} bsnn__plan;

struct bsnn_optimizer {
    bsnn_optimizer_kind kind;
    uint64_t id;                /* unique per process (plans remember it)  */
    double lr, momentum, beta1, beta2, eps, rho, weight_decay;
    int variant, decay_scope;   /* bsnn_opt_variant, bsnn_decay_scope      */
    double momentum_decay;
    double mu_product;          /* Nadam: prod of mu_1..mu_{mu_t}, a cache
                                   that the update rebuilds from t whenever
                                   t moved otherwise (load, reset, undo)   */
    uint64_t mu_t;
    uint64_t t;                 /* updates applied since bind/reset        */
    uint64_t bound;             /* id of the model whose arena the state
                                   belongs to (0: unbound); an id, not an
                                   address, since a freed model's address
                                   can come back for a new model           */
    size_t n;                   /* floats per state vector                 */
    float *state;               /* kind-specific: up to 3 vectors of n     */
    size_t n_state_vectors;
    float tracked_max;          /* largest |value| of the state vector the
                                   safety bound needs, after the last
                                   update (bsnn__optimizer_tracks)         */
    int tracked_valid;          /* 0: unknown (loaded): scanned before use  */
    float *snap;                /* the engine's snapshot: parameters, then
                                   state, allocated the first time a step
                                   cannot prove itself safe               */
    size_t snap_cap;            /* floats of snap                          */
    bsnn__plan plan;
};

/* One update's coefficients (already in float, bias corrections folded in)
 * and arrays, for the rule's elementwise apply. */
typedef struct bsnn__update bsnn__update;
struct bsnn__update {
    float *p, *s0, *s1, *s2;     /* parameters, state vectors              */
    const float *g, *mask;       /* gradient; AdamW's decay mask (or NULL)  */
    float lr, mu, b1, b2, eps, rho, c1, c2;
    float k, a, e_in, e_out;     /* each form's placement of lr and eps    */
    float cm, cg, keep, e_u, e_d; /* Adam-family coefficients; AdamW's 1 - lr wd */
    void (*apply)(const bsnn__update *u, size_t lo, size_t hi, uint32_t *tracked,
                  uint32_t *all);
};

/* The scalars an update changes besides the vectors, to put back when it
 * is rejected. */
typedef struct bsnn__opt_scalars {
    uint64_t t, mu_t;
    double mu_product;
    float tracked_max;
    int tracked_valid;
} bsnn__opt_scalars;

/* The bodies of the public functions of the same names, arguments checked
 * (a valid kind, pointers not NULL); _set validates the value as the public
 * one does. _kind_valid: 1 for a bsnn_optimizer_kind this build knows. */
int bsnn__optimizer_kind_valid(int kind);
bsnn_optimizer *bsnn__optimizer_create(bsnn_optimizer_kind kind);
void bsnn__optimizer_free(bsnn_optimizer *opt);
void bsnn__optimizer_reset(bsnn_optimizer *opt);
bsnn_status bsnn__optimizer_set(bsnn_optimizer *opt, bsnn_opt_param param, double value);
bsnn_status bsnn__optimizer_get(double *out, const bsnn_optimizer *opt, bsnn_opt_param param);
/* Checkpoints (docs/format.md, OPTM): the optimizer writes its kind,
 * settings (from its descriptor table), binding, step count and state
 * vectors; _load builds one bound to m from such a payload (BSNN_E_FORMAT
 * on anything that does not fit m). */
void bsnn__optimizer_save(bsnn__writer *w, const bsnn_optimizer *opt);
bsnn_status bsnn__optimizer_load(bsnn_optimizer **out, bsnn__section *sec, const bsnn_model *m);
/* Bind opt to model m with n parameters (allocating state on first use).
 * BSNN_E_STATE if already bound to another model. */
bsnn_status bsnn__optimizer_bind(bsnn_optimizer *opt, const bsnn_model *m, size_t n);
/* One update, in pieces the engine runs: _prepare counts the step (t) and
 * computes its coefficients into u (Nadam's schedule product moves: save
 * the scalars first); _apply runs the rule over [lo, hi) of the arena,
 * giving the largest magnitudes (as bits) of the tracked state vector and
 * of everything written; _safe says whether the bound proves that no
 * parameter or state can overflow for a gradient of largest magnitude G;
 * _tracks: the index of the state vector the bound needs (-1: none);
 * _linear: 1 when the rule is p -= lr g (fusable into a product).
 * decay_mask[i] is 1 for weights and 0 for biases (decoupled weight
 * decay); NULL decays every parameter. _update: all of it at once. */
void bsnn__optimizer_prepare(bsnn__update *u, bsnn_optimizer *opt, float *params,
                             const float *grads, const float *decay_mask, double lr);
void bsnn__optimizer_apply(const bsnn__update *u, size_t lo, size_t hi, uint32_t *tracked,
                           uint32_t *all);
int bsnn__optimizer_safe(const bsnn_optimizer *opt, const bsnn__update *u, double G);
int bsnn__optimizer_tracks(const bsnn_optimizer *opt);
int bsnn__optimizer_linear(const bsnn_optimizer *opt);
void bsnn__optimizer_update(bsnn_optimizer *opt, float *params, const float *grads,
                            const float *decay_mask, size_t n, double lr);
void bsnn__optimizer_save_scalars(bsnn__opt_scalars *out, const bsnn_optimizer *opt);
void bsnn__optimizer_restore_scalars(bsnn_optimizer *opt, const bsnn__opt_scalars *in);

/* ---- scheduler (scheduler.c) ---------------------------------------------- */

struct bsnn_scheduler {
    size_t n;                /* samples                                     */
    size_t batch;            /* requested batch size                        */
    int full_batch, shuffle, drop_last, carry_over;
    uint64_t seed;
    bsnn_rng rng;
    size_t *order;           /* this epoch's sample order (n)               */
    size_t *spare;           /* the previous epoch's order (n): a new order
                                is drawn here and swapped in, so a rejected
                                first batch of an epoch can swap it back */
    size_t *batch_buf;       /* indices of a carry-over batch (2n)          */
    size_t epoch, step;      /* completed epochs, batches in this epoch      */
    size_t pos;              /* next position in order                      */
    size_t cur_batch;        /* batch size of the current epoch             */
    int in_epoch;            /* an epoch's order has been drawn             */
    size_t carried;          /* leftovers waiting in batch_buf (carry-over) */
    /* batch-size schedule (issue 4) */
    int batch_schedule;      /* bsnn_batch_schedule                         */
    double growth;           /* geometric factor f > 1                      */
    size_t growth_every;     /* k epochs                                    */
    size_t batch_cap;        /* geometric cap, 0: N                         */
    size_t *step_epochs, *step_sizes, n_steps; /* BSNN_BATCH_STEPS list      */
    /* learning rate */
    int lr_schedule;         /* bsnn_lr_schedule                            */
    double lr_decay;         /* gamma                                       */
    size_t lr_step_epochs;   /* step period s, cosine period T              */
    double lr_min_factor;    /* cosine floor / base                         */
    size_t warmup;           /* W updates                                   */
    int lr_scaling;          /* bsnn_lr_scaling                             */
    size_t base_batch;       /* B0                                          */
    /* accumulation and memory */
    size_t micro;            /* rows per pass, 0: whole batch               */
    size_t budget;           /* bytes, 0: none                              */
    /* position of the lr clock */
    size_t total_steps;      /* batches handed out since reset              */
    int have_last;           /* a batch was handed out since reset/seek     */
    size_t last_epoch, last_batch, last_update; /* that batch's lr inputs   */
    /* data-parallel sharding: a property of the process, not of the run,
     * so neither saved nor reset (bsnn_scheduler_set_shard) */
    size_t rank, world;      /* this process's share of every batch (1: off) */
    size_t last_global;      /* samples in the last global batch            */
    size_t last_offset;      /* where this rank's share starts in it        */
    /* the adaptive batch size and AdaScale (issue 15) */
    size_t batch_min;        /* ADAPTIVE: smallest batch                    */
    int pow2;                /* ADAPTIVE: round to powers of two            */
    double noise_target;     /* ADAPTIVE: aim at this x B_simple            */
    size_t adapt_batch;      /* ADAPTIVE: the batch of the current (or last)
                                epoch, 0 before the first                  */
    int noise_have;          /* an estimate was observed since reset        */
    double noise_grad_sq, noise_trace; /* the last observed estimate        */
};

/* Scheduler (scheduler.c): the bodies of the public functions of the same
 * names, arguments already checked (n_samples >= 1, pointers not NULL);
 * _set and _set_batch_steps validate values as the public ones do. */
bsnn_scheduler *bsnn__scheduler_create(size_t n_samples);
void bsnn__scheduler_free(bsnn_scheduler *s);
void bsnn__scheduler_reset(bsnn_scheduler *s);
bsnn_status bsnn__scheduler_set(bsnn_scheduler *s, bsnn_sched_param param, double value);
bsnn_status bsnn__scheduler_get(double *out, const bsnn_scheduler *s, bsnn_sched_param param);
void bsnn__scheduler_set_seed(bsnn_scheduler *s, uint64_t seed);
/* Every setting at its default (the batch size clamped to N). */
void bsnn__scheduler_defaults(bsnn_scheduler *s);
bsnn_status bsnn__scheduler_set_batch_steps(bsnn_scheduler *s, const size_t *epochs,
                                            const size_t *sizes, size_t count);
void bsnn__scheduler_next(const size_t **out_indices, size_t *out_count, int *out_epoch_end,
                          bsnn_scheduler *s);
/* A scheduler's position before a _next, so a rejected update can put it
 * back exactly (_undo: the order, carried samples, RNG and lr clock as at
 * the mark; no copy of the order: a new epoch's order is drawn into a spare
 * buffer, and undoing swaps the buffers back). */
typedef struct bsnn__sched_mark {
    size_t epoch, step, pos, cur_batch, carried, total_steps;
    size_t last_epoch, last_batch, last_update;
    int in_epoch, have_last;
    bsnn_rng rng;
    size_t *order;
} bsnn__sched_mark;
void bsnn__scheduler_mark(bsnn__sched_mark *out, const bsnn_scheduler *s);
void bsnn__scheduler_undo(bsnn_scheduler *s, const bsnn__sched_mark *mark);
size_t bsnn__scheduler_batch_size(const bsnn_scheduler *s);
/* The batch size the schedule gives an epoch. */
size_t bsnn__scheduler_batch_at(const bsnn_scheduler *s, size_t epoch);
/* The lr for an update: base * schedule(epoch) * scaling(batch) * warmup(update). */
double bsnn__scheduler_lr_for(const bsnn_scheduler *s, double base, size_t epoch, size_t batch,
                              size_t update);
/* Take m's noise-scale estimate (bsnn_scheduler_observe_noise). */
void bsnn__scheduler_observe_noise(bsnn_scheduler *s, const bsnn_model *m);
/* Rows per forward pass for a batch of n under the micro-batch setting
 * and a budget-derived cap (0: none): min(n, micro, cap). */
size_t bsnn__scheduler_rows(const bsnn_scheduler *s, size_t n, size_t cap);
/* Copy every setting (not the position) of src into dst, both for the same
 * number of samples or not (batch sizes are clamped to dst's N). */
bsnn_status bsnn__scheduler_copy_settings(bsnn_scheduler *dst, const bsnn_scheduler *src);
/* Checkpoints (docs/format.md, SCHD): the scheduler writes its sample
 * count, settings (from its descriptor table), batch-step list and position
 * (epoch, step, the epoch's order, carried samples, RNG); _load builds one
 * from such a payload, every field checked (BSNN_E_FORMAT), so training
 * resumed from it is bit-identical to the saved run. */
void bsnn__scheduler_save(bsnn__writer *w, const bsnn_scheduler *s);
bsnn_status bsnn__scheduler_load(bsnn_scheduler **out, bsnn__reader *b, size_t file_size);

/* ---- the step engine (engine.c) ------------------------------------------ */

/* Where an update's rows come from: n contiguous rows of x and y (the
 * host's batch), or, with ds set, rows idx[0..n) of ds gathered a pass at a
 * time into the workspace. */
typedef struct bsnn__batch {
    const float *x, *y;
    const bsnn_dataset *ds;
    const size_t *idx;
    size_t n, target_width;
} bsnn__batch;

/* One update on the batch, `rows` rows per pass (micro-batches; the whole
 * batch when rows >= n), with rate lr: forward, loss and backward per pass
 * into the batch-mean gradient, the gradient hook, penalties, the checks,
 * the rule's update, and, once accepted, the layers' commits. Inputs are
 * validated and m's workspace reserved for min(rows, n). On any failure
 * (BSNN_E_DIVERGED, BSNN_E_CALLBACK, BSNN_E_NOMEM for a snapshot) the
 * parameters, the layers and their state, and the optimizer are exactly as
 * before. *out_loss (may be NULL): the mean loss; *out_rows (may be NULL):
 * the rows the update covers (n, or what the hook left). */
bsnn_status bsnn__engine_step(double *out_loss, size_t *out_rows, bsnn_model *m,
                              bsnn_optimizer *opt, const bsnn__batch *b, size_t rows, double lr);
/* Pieces for tests and gradient checks (workspace reserved for n): a
 * training-mode forward of n rows as pass rows row0.. of an update
 * (returns the output); the batch-mean gradient of n rows into m->grads
 * without an update or commit (returns the summed loss). */
const float *bsnn__engine_forward(bsnn_model *m, const float *x, size_t n, uint64_t row0);
double bsnn__engine_gradient(bsnn_model *m, const float *x, const float *y, size_t n,
                             size_t target_width);

/* ---- the step (step.c) --------------------------------------------------- */

/* The bodies of bsnn_model_train(_ex) and bsnn_model_evaluate (pointers
 * that must be set are not NULL; everything else is checked here). */
bsnn_status bsnn__model_train(size_t *out_steps, bsnn_model *m, bsnn_optimizer *opt,
                              bsnn_scheduler *s, const bsnn_dataset *ds, const bsnn_dataset *val,
                              bsnn_history *history, size_t epochs, bsnn_callback cb, void *user);
bsnn_status bsnn__model_evaluate(double *out_loss, double *out_accuracy, bsnn_model *m,
                                 const bsnn_dataset *ds, size_t batch_size);
/* BSNN_E_ARG naming the layer when a training-mode step of n rows is too
 * small for one of m's layers (batch norm needs 2); OK in evaluation mode.
 * Every training entry point calls it before changing anything. */
bsnn_status bsnn__model_check_batch(const bsnn_model *m, size_t n);
/* BSNN_E_STATE unless m has layers, trainable parameters and a loss that
 * works with its last layer. */
bsnn_status bsnn__model_check_trainable(const bsnn_model *m);
/* BSNN_E_SHAPE / BSNN_E_ARG unless ds's widths suit m and its targets are
 * finite (and class indices where the loss takes them); names the row. */
bsnn_status bsnn__model_check_dataset(const bsnn_model *m, const bsnn_dataset *ds);

/* ---- the gradient noise scale (gradstats.c, noise_measure.c) --------------- */

/* The route's statistics are the step engine's (m->stats, set from
 * BSNN_MODEL_NOISE_ROUTE): the engine clears them where a step starts, the
 * backward loop adds the per-sample norms, each pass of an accumulated
 * update its micro-batch norm, and |g_B|^2 is read after the gradient hook
 * and before penalties. Once the update is accepted (never for a rejected
 * one) the engine calls _record, which adds the observation of an update
 * of `rows` rows to the running estimate (nothing when the route has no
 * two batch sizes in it: one micro-batch, or one row). */
void bsnn__noise_record(bsnn_model *m, size_t rows);

/* Checkpoints (docs/format.md, NOIS): the model's route and running
 * estimate, written when there is anything to keep (_worth_saving); _load
 * checks every field (BSNN_E_FORMAT) and puts them into m. */
int bsnn__noise_worth_saving(const bsnn_model *m);
void bsnn__noise_save(bsnn__writer *w, const bsnn_model *m);
bsnn_status bsnn__noise_load(bsnn__section *sec, bsnn_model *m);


/* ---- memory and histories (memory.c, history.c) ---------------------------- */

/* The bodies of bsnn_model_memory and bsnn_model_max_batch (m has layers,
 * pointers not NULL). */
bsnn_status bsnn__model_memory(size_t *out_bytes, const bsnn_model *m, const bsnn_optimizer *opt,
                               size_t batch);
bsnn_status bsnn__model_max_batch(size_t *out, const bsnn_model *m, const bsnn_optimizer *opt,
                                  size_t budget_bytes, size_t max_rows);
/* History (history.c): append one row of BSNN_HIST_* values 1..12. */
bsnn_status bsnn__history_append(bsnn_history *h, const double *row);
#define BSNN__HIST_COLS 12
/* Append a row of cols doubles to a growing row table (history, search). */
bsnn_status bsnn__rows_append(double **rows, size_t *n, size_t *cap, size_t cols,
                              const double *row);

#endif /* BSNN_TRAIN_H */
