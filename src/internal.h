/*
 * internal.h - private structures and helpers shared by bsnn's source files.
 * Nothing here is part of the ABI; every name is static, bsnn__*, or a
 * struct tag completing a public opaque handle.
 */
#ifndef BSNN_INTERNAL_H
#define BSNN_INTERNAL_H

#include "bsnn.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define BSNN_ALIGN 64

/* ---- errors (error.c) ---------------------------------------------------- */

/* Messages name the function the HOST called. Every public function that
 * can fail starts with BSNN_ENTER(), which records its own name (__func__:
 * no hand-written strings) in a thread-local; the fail functions prefix
 * every message with it. Public functions never call each other inside the
 * library, so the name recorded is the host's call; the one place host code
 * runs inside a bsnn call (a training callback) is wrapped in
 * BSNN_CALL_HOST, which puts the name back afterwards. */
extern _Thread_local const char *bsnn__entry;
#define BSNN_ENTER() (bsnn__entry = __func__)
#define BSNN_CALL_HOST(var, call)                                                    \
    do {                                                                             \
        const char *bsnn__saved_entry = bsnn__entry;                                 \
        (var) = (call);                                                              \
        bsnn__entry = bsnn__saved_entry;                                             \
    } while (0)

/* Record "<entry>: <formatted message>" for bsnn_last_error(); return status. */
bsnn_status bsnn__fail(bsnn_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Put context in front of the message a failed inner call recorded:
 * "<entry>: <context>: <inner detail>"; returns status. The inner message is
 * copied before the new one is formatted (never formatted into itself). */
bsnn_status bsnn__context(bsnn_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* One-line error paths (zstd's RETURN_ERROR_IF / FORWARD_IF_ERROR). */
#define BSNN_FAIL_IF(cond, status, ...)                                               \
    do {                                                                             \
        if (cond) return bsnn__fail((status), __VA_ARGS__);                          \
    } while (0)
/* The same in a constructor, which returns NULL. */
#define BSNN_FAIL_NULL_IF(cond, status, ...)                                          \
    do {                                                                             \
        if (cond) {                                                                  \
            bsnn__fail((status), __VA_ARGS__);                                       \
            return NULL;                                                             \
        }                                                                            \
    } while (0)
/* Forward a failing status, its message kept as it is. */
#define BSNN_TRY(expr)                                                                \
    do {                                                                             \
        bsnn_status bsnn__st = (expr);                                               \
        if (bsnn__st != BSNN_OK) return bsnn__st;                                    \
    } while (0)
/* Forward a failing status with context in front of its message. */
#define BSNN_FORWARD_IF_ERROR(expr, ...)                                              \
    do {                                                                             \
        bsnn_status bsnn__st = (expr);                                               \
        if (bsnn__st != BSNN_OK) return bsnn__context(bsnn__st, __VA_ARGS__);        \
    } while (0)
/* The same, reporting `status` instead, except that running out of memory
 * stays BSNN_E_NOMEM (a loader turns a refused value into BSNN_E_FORMAT). */
#define BSNN_FORWARD_AS_IF_ERROR(expr, status, ...)                                   \
    do {                                                                             \
        bsnn_status bsnn__st = (expr);                                               \
        if (bsnn__st != BSNN_OK)                                                     \
            return bsnn__context(bsnn__st == BSNN_E_NOMEM ? bsnn__st : (status),     \
                                 __VA_ARGS__);                                       \
    } while (0)

/* Fail with BSNN_E_NULL naming the argument. */
#define BSNN_CHECK_NULL(arg) BSNN_FAIL_IF((arg) == NULL, BSNN_E_NULL, "argument '%s' is NULL", #arg)
/* The same in a constructor. */
#define BSNN_CHECK_NULL_CTOR(arg)                                                  \
    BSNN_FAIL_NULL_IF((arg) == NULL, BSNN_E_NULL, "argument '%s' is NULL", #arg)

/* Keep the message across an internal failure that a successful public
 * call swallows (successful calls never change bsnn_last_error()). */
#define BSNN__ERROR_CAP 512
void bsnn__error_save(char *out, size_t cap);
void bsnn__error_restore(const char *saved);

/* ---- memory (alloc.c) ---------------------------------------------------- */

/* 64-byte aligned allocation through the host's allocator; records a
 * BSNN_E_NOMEM message on failure. Sizes of 0 return NULL. */
void *bsnn__alloc(size_t size);
/* Same, zero-filled. */
void *bsnn__calloc(size_t count, size_t size);
/* Release memory from bsnn__alloc. NULL is a no-op. */
void bsnn__free(void *ptr);
/* Live allocations, for bsnn_set_allocator's "no object alive" rule. */
size_t bsnn__live_allocations(void);
/* Overflow-checked count*size; 0 on overflow. */
size_t bsnn__mul_size(size_t count, size_t size);
/* Overflow-checked a+b; 0 on overflow (callers whose operands may both be
 * 0 must tell the two apart). Every size computed from a caller's or a
 * file's numbers goes through these two before it is compared or used. */
size_t bsnn__add_size(size_t a, size_t b);

/* ---- random numbers (rng.c) ---------------------------------------------- */

/* xoshiro256** state: small, fast, splittable with a seed expander. */
typedef struct bsnn_rng {
    uint64_t s[4];
} bsnn_rng;

void bsnn__rng_seed(bsnn_rng *rng, uint64_t seed);
uint64_t bsnn__rng_next(bsnn_rng *rng);
/* Uniform double in [0, 1) with 53 random bits. */
double bsnn__rng_uniform(bsnn_rng *rng);
/* Uniform integer in [0, bound), bound >= 1, without modulo bias. */
uint64_t bsnn__rng_below(bsnn_rng *rng, uint64_t bound);
/* Standard normal draw (Marsaglia polar method). */
double bsnn__rng_normal(bsnn_rng *rng);
/* Fisher-Yates shuffle of v[0..n) in place. */
void bsnn__shuffle(size_t *v, size_t n, bsnn_rng *rng);

/* ---- tensors (tensor.c) -------------------------------------------------- */

struct bsnn_tensor {
    float *data;
    size_t shape[BSNN_MAX_RANK];
    int rank;
    int owned;
};

/* Elements of a tensor (the product of its shape). */
size_t bsnn__tensor_size(const bsnn_tensor *t);
/* Rows (dim 0) and columns (product of the other dims) of a tensor. */
size_t bsnn__tensor_rows(const bsnn_tensor *t);
size_t bsnn__tensor_cols(const bsnn_tensor *t);

/* ---- layers (layer.c and one file per kind) ------------------------------- */

/* What a layer kind does. Each kind lives in its own file and exposes one
 * const bsnn_layer_ops; adding a kind means adding such a file plus its
 * public constructor. Pointers passed to hooks:
 *   params / grads  this layer's slice of the model's flat arenas
 *   state           this layer's persistent non-trainable floats (running
 *                   statistics); n_state floats
 *   scratch         per-step workspace: scratch_per_row * n + scratch_fixed
 *                   floats, valid from forward to the matching backward
 * x is the layer input [n][n_in], y its output [n][n_out]. */
typedef struct bsnn_layer_ops {
    bsnn_layer_kind kind;
    const char *name;
    /* Fix n_out, n_params, n_state, scratch sizes for input width n_in. */
    bsnn_status (*setup)(bsnn_layer *l, size_t n_in);
    /* Initialise params and state (called on add and by init_params). */
    void (*init)(bsnn_layer *l, float *params, float *state, bsnn_rng *rng);
    /* y = f(x) in evaluation mode. Reads the layer, its parameters and
     * state and writes only scratch and y, so several threads may run it
     * on one model at once, each with its own workspace. Whatever backward
     * needs goes to scratch (a train step may run in evaluation mode). */
    void (*infer)(const bsnn_layer *l, const float *params, const float *state, float *scratch,
                  const float *x, float *y, size_t n);
    /* y = f(x) in training mode (batch statistics, dropout masks: may
     * change the layer and its state); NULL when it is infer. */
    void (*forward)(bsnn_layer *l, const float *params, float *state, float *scratch,
                    const float *x, float *y, size_t n);
    /* Given dy = dL/dy, ADD dL/dparams into grads and write dx = dL/dx
     * (dx may be NULL for the first layer: skip it). dy may be overwritten. */
    void (*backward)(bsnn_layer *l, const float *params, float *grads, float *scratch,
                     const float *x, const float *y, float *dy, float *dx, size_t n);
    /* ADD penalty gradients (L1/L2) once per update; NULL when none. */
    void (*regularize)(const bsnn_layer *l, const float *params, float *grads);
    /* Settings through bsnn_layer_set/get; NULL when the kind has none. */
    bsnn_status (*set)(bsnn_layer *l, bsnn_layer_param p, double v);
    bsnn_status (*get)(const bsnn_layer *l, bsnn_layer_param p, double *out);
    /* Set the kind's seed (bsnn_layer_set_seed); NULL when it has none. */
    void (*set_seed)(bsnn_layer *l, uint64_t seed);
    /* Release kind-specific memory in l->impl; may be NULL. */
    void (*destroy)(bsnn_layer *l);
    /* Fewest rows a training-mode step accepts (batch norm: 2, a single row
     * has no variance); 0 means any. Checked by bsnn__model_check_batch. */
    size_t min_train_rows;
} bsnn_layer_ops;

struct bsnn_layer {
    const bsnn_layer_ops *ops;
    size_t n_in, n_out;
    size_t n_params;        /* floats in the model's parameter arena       */
    size_t n_state;         /* persistent non-trainable floats             */
    size_t scratch_per_row; /* floats of per-step workspace per batch row   */
    size_t scratch_fixed;   /* floats of per-step workspace independent of n */
    size_t param_off;       /* offsets into the model's arenas             */
    size_t state_off;
    int act;                /* activation: bsnn_activation                  */
    int init;               /* dense: bsnn_init                             */
    int model_init;         /* the model's default, used for BSNN_INIT_DEFAULT */
    double init_lo, init_hi, bias_init;
    double slope;           /* leaky relu slope, elu alpha                  */
    double l1, l2;          /* dense: penalties on weights                  */
    double momentum, eps;   /* batch norm                                   */
    double rate;            /* dropout                                      */
    uint64_t seed;          /* dropout                                      */
    bsnn_rng rng;           /* dropout mask generator                       */
    int owned_by_model;
    void *impl;             /* kind-specific extra data                     */
};

/* Allocate a layer of the given kind with default settings. */
bsnn_layer *bsnn__layer_new(const bsnn_layer_ops *ops);
/* bsnn_layer_set / _get without the NULL checks (the value validated). */
bsnn_status bsnn__layer_set(bsnn_layer *layer, bsnn_layer_param param, double value);
bsnn_status bsnn__layer_get(double *out, const bsnn_layer *layer, bsnn_layer_param param);
/* Release a layer whoever owns it (bsnn_model_free; bsnn_layer_free refuses
 * a layer a model owns). NULL is a no-op. */
void bsnn__layer_destroy(bsnn_layer *layer);

extern const bsnn_layer_ops bsnn__dense_ops;
extern const bsnn_layer_ops bsnn__activation_ops;

/* Dense initialisation helper: fill weights for (fan_in, fan_out). */
void bsnn__init_weights(float *w, size_t fan_in, size_t fan_out, int init, double lo,
                        double hi, bsnn_rng *rng);

/* ---- GEMM (gemm.c) ------------------------------------------------------- */

/* C[m][n] = alpha * op(A) op(B) + beta * C with explicit strides: element
 * (i,p) of A is A[i*rsa + p*csa]; likewise for B (p,j) and C (i,j). Chooses
 * BLIS or a plain loop by shape. */
void bsnn__sgemm(size_t m, size_t n, size_t k, float alpha, const float *a, ptrdiff_t rsa,
                 ptrdiff_t csa, const float *b, ptrdiff_t rsb, ptrdiff_t csb, float beta,
                 float *c, ptrdiff_t rsc, ptrdiff_t csc);

/* ---- losses (loss.c) ----------------------------------------------------- */

/* Sum over the n rows of the per-sample loss (in double), and, when grad is
 * not NULL, grad = scale * dL_sample/dout for each row (scale = 1/batch).
 * target rows are `width` wide, or 1 wide holding a class index (softmax
 * cross-entropy only: see bsnn__loss_target_width_ok). */
double bsnn__loss(bsnn_loss kind, const float *out, const float *target, size_t n,
                  size_t width, size_t target_width, float *grad, float scale);
int bsnn__loss_valid(int kind);
/* 1 if targets of target_width suit a model with `width` outputs. */
int bsnn__loss_target_width_ok(bsnn_loss kind, size_t width, size_t target_width);
/* 1 if a target value is acceptable (class indices must be whole, in range). */
int bsnn__loss_targets_ok(bsnn_loss kind, const float *target, size_t n, size_t width,
                          size_t target_width);

/* ---- optimizers (optimizer.c) --------------------------------------------- */

struct bsnn_optimizer {
    bsnn_optimizer_kind kind;
    double lr, momentum, beta1, beta2, eps, rho, weight_decay;
    double variant, decay_scope, momentum_decay; /* whole numbers but the last */
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
};

/* The bodies of the public functions of the same names, arguments checked
 * (a valid kind, pointers not NULL); _set validates the value as the public
 * one does. _kind_valid: 1 for a bsnn_optimizer_kind this build knows. */
int bsnn__optimizer_kind_valid(int kind);
bsnn_optimizer *bsnn__optimizer_create(bsnn_optimizer_kind kind);
void bsnn__optimizer_free(bsnn_optimizer *opt);
void bsnn__optimizer_reset(bsnn_optimizer *opt);
bsnn_status bsnn__optimizer_set(bsnn_optimizer *opt, bsnn_opt_param param, double value);
bsnn_status bsnn__optimizer_get(double *out, const bsnn_optimizer *opt, bsnn_opt_param param);
/* Bind opt to model m with n parameters (allocating state on first use).
 * BSNN_E_STATE if already bound to another model. */
bsnn_status bsnn__optimizer_bind(bsnn_optimizer *opt, const bsnn_model *m, size_t n);
/* One update of params from grads with learning rate lr. decay_mask[i] is
 * 1 for weights and 0 for biases (for decoupled weight decay); NULL decays
 * every parameter. */
void bsnn__optimizer_update(bsnn_optimizer *opt, float *params, const float *grads,
                            const float *decay_mask, size_t n, double lr);

/* ---- datasets (dataset.c) ------------------------------------------------- */

struct bsnn_dataset {
    float *x, *y;
    size_t n, n_in, n_out;
};

/* Release a dataset (bsnn_dataset_free's body). NULL is a no-op. */
void bsnn__dataset_free(bsnn_dataset *ds);
/* A dataset taking ownership of already allocated x and y. */
bsnn_dataset *bsnn__dataset_adopt(float *x, float *y, size_t n, size_t n_in, size_t n_out);

/* ---- scheduler (scheduler.c) ---------------------------------------------- */

struct bsnn_scheduler {
    size_t n;                /* samples                                     */
    size_t batch;            /* requested batch size                        */
    int full_batch, shuffle, drop_last, carry_over;
    uint64_t seed;
    bsnn_rng rng;
    size_t *order;           /* this epoch's sample order (n)               */
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
};

/* ---- workspaces (model.c) ------------------------------------------------- */

/* The buffers of forward passes (and, for the model's own workspace, of
 * training) for up to `rows` rows, laid out for one model. The model embeds
 * one (bsnn_model_forward, training); a host makes more with
 * bsnn_workspace_create, one per inference thread. */
struct bsnn_workspace {
    uint64_t model_id;       /* the model it serves (bsnn_model.id)         */
    uint64_t layout;         /* the model's layout stamp it was sized for    */
    int training;            /* also holds the training buffers below        */
    size_t rows;             /* rows it holds (0: nothing allocated)         */
    size_t n_acts;           /* entries of acts                             */
    float **acts;            /* acts[i] = output of layer i, [rows][width]   */
    float *scratch;          /* all layers' scratch, laid end to end        */
    float *delta[2];         /* training: ping-pong dL/d(activation) buffers */
    float *xbuf, *ybuf;      /* training: gathered batch of scheduler runs   */
};

/* ---- models (model.c, train.c) -------------------------------------------- */

struct bsnn_model {
    uint64_t id;             /* unique per process, never 0: what an
                                optimizer binds to                         */
    size_t n_in;
    bsnn_layer **layers;
    size_t n_layers, cap_layers;
    bsnn_loss loss;
    int init_default;
    uint64_t seed;
    bsnn_rng rng;            /* initialisation stream                       */
    double threshold;
    int training;            /* mode for train steps                        */
    int started;             /* a train step has happened                   */
    float *params, *grads, *decay_mask, *state;
    size_t n_params, n_state;
    float *undo;             /* params then state as a step began: a step
                                that diverges puts them back (issue 7)    */
    uint64_t layout;         /* changes whenever a layer is added, so
                                workspaces sized before know to re-lay out */
    bsnn_workspace ws;       /* the model's own (training) workspace        */
    size_t max_width;
    size_t fused_rows;       /* issue 6: rows of the last fused step whose
                                weight gradients are still to be written
                                (fused.c), else 0                         */
};

/* The bodies of bsnn_model_create (n_inputs >= 1), bsnn_model_free,
 * bsnn_model_n_outputs and bsnn_model_add (m and layer not NULL; the layer
 * is consumed on failure unless another model owns it). */
bsnn_model *bsnn__model_create(size_t n_inputs);
void bsnn__model_free(bsnn_model *m);
size_t bsnn__model_n_outputs(const bsnn_model *m);
bsnn_status bsnn__model_add(bsnn_model *m, bsnn_layer *layer);
/* Make the model's own workspace hold at least rows rows (allocates only
 * when growing). */
bsnn_status bsnn__model_reserve(bsnn_model *m, size_t rows);
/* The same for a host's workspace ws of m: BSNN_E_NULL without one,
 * BSNN_E_ARG when it was made for another model. */
bsnn_status bsnn__workspace_reserve(bsnn_workspace *ws, const bsnn_model *m, size_t rows);
/* Forward n rows of x through every layer in training mode (training
 * nonzero) or evaluation mode; returns the output buffer. */
const float *bsnn__model_forward_rows(bsnn_model *m, const float *x, size_t n, int training);
/* Evaluation-mode forward on any workspace of m, reserved for n rows: reads
 * m only (the thread-safe inference path). */
const float *bsnn__model_infer_rows(const bsnn_model *m, bsnn_workspace *ws, const float *x,
                                    size_t n);
/* One train step on row-major arrays already validated and reserved:
 * zero grads, accumulate with scale 1/n, apply. */
bsnn_status bsnn__model_step_rows(double *out_loss, bsnn_model *m, bsnn_optimizer *opt,
                                  const float *x, const float *y, size_t n, size_t target_width,
                                  double lr);
/* The pieces of a step, for gradient accumulation over micro-batches:
 * zero the gradient arena; forward+backward n rows ADDING scale * the sum
 * of per-sample gradients (returns the summed loss); then add penalties,
 * check for divergence and apply one optimizer update with rate lr. */
void bsnn__model_zero_grads(bsnn_model *m);
double bsnn__model_accumulate(bsnn_model *m, const float *x, const float *y, size_t n,
                              size_t target_width, float scale);
bsnn_status bsnn__model_apply(bsnn_model *m, bsnn_optimizer *opt, double lr, double loss);
/* The bodies of bsnn_model_train(_ex) and bsnn_model_evaluate (pointers
 * that must be set are not NULL; everything else is checked here). */
bsnn_status bsnn__model_train(size_t *out_steps, bsnn_model *m, bsnn_optimizer *opt,
                              bsnn_scheduler *s, const bsnn_dataset *ds, const bsnn_dataset *val,
                              bsnn_history *history, size_t epochs, bsnn_callback cb, void *user);
bsnn_status bsnn__model_evaluate(double *out_loss, double *out_accuracy, bsnn_model *m,
                                 const bsnn_dataset *ds, size_t batch_size);
/* Layer `layer`'s scratch inside workspace ws of m. */
float *bsnn__layer_scratch(const bsnn_model *m, const bsnn_workspace *ws, size_t layer);

/* 1 if all count floats are finite. */
int bsnn__all_finite(const float *v, size_t count);

/* ---- issue 3: update rules, batch norm, dropout ---------------------------- */

extern const bsnn_layer_ops bsnn__batchnorm_ops;
extern const bsnn_layer_ops bsnn__dropout_ops;

/* Loss checks (model.c). _conflict: fail with `status` when `loss` cannot
 * work with m's current last layer (softmax cross-entropy over one output;
 * a softmax before SOFTMAX_CE or a sigmoid before BCE_LOGITS, which apply
 * it themselves); OK while m has no layers. _check_loss: BSNN_E_STATE when
 * no loss was chosen or the chosen one conflicts; every entry point that
 * needs a loss (training, the search, evaluate's loss) calls it first. */
bsnn_status bsnn__loss_conflict(const bsnn_model *m, bsnn_loss loss, bsnn_status status);
bsnn_status bsnn__model_check_loss(const bsnn_model *m);

/* BSNN_E_ARG naming the layer when a training-mode step of n rows is too
 * small for one of m's layers (batch norm needs 2); OK in evaluation mode.
 * Every training entry point calls it before changing anything. */
bsnn_status bsnn__model_check_batch(const bsnn_model *m, size_t n);

/* ---- issue 4: schedules, accumulation, memory, search, history -------------- */

/* Scheduler (scheduler.c): the bodies of the public functions of the same
 * names, arguments already checked (n_samples >= 1, pointers not NULL);
 * _set and _set_batch_steps validate values as the public ones do. */
bsnn_scheduler *bsnn__scheduler_create(size_t n_samples);
void bsnn__scheduler_free(bsnn_scheduler *s);
void bsnn__scheduler_reset(bsnn_scheduler *s);
bsnn_status bsnn__scheduler_set(bsnn_scheduler *s, bsnn_sched_param param, double value);
bsnn_status bsnn__scheduler_get(double *out, const bsnn_scheduler *s, bsnn_sched_param param);
void bsnn__scheduler_set_seed(bsnn_scheduler *s, uint64_t seed);
bsnn_status bsnn__scheduler_set_batch_steps(bsnn_scheduler *s, const size_t *epochs,
                                            const size_t *sizes, size_t count);
void bsnn__scheduler_next(const size_t **out_indices, size_t *out_count, int *out_epoch_end,
                          bsnn_scheduler *s);
size_t bsnn__scheduler_batch_size(const bsnn_scheduler *s);
/* Scheduler (scheduler.c). The batch size the schedule gives an epoch. */
size_t bsnn__scheduler_batch_at(const bsnn_scheduler *s, size_t epoch);
/* The lr for an update: base * schedule(epoch) * scaling(batch) * warmup(update). */
double bsnn__scheduler_lr_for(const bsnn_scheduler *s, double base, size_t epoch, size_t batch,
                              size_t update);
/* Rows per forward pass for a batch of n under the micro-batch setting
 * and a budget-derived cap (0: none): min(n, micro, cap). */
size_t bsnn__scheduler_rows(const bsnn_scheduler *s, size_t n, size_t cap);
/* Copy every setting (not the position) of src into dst, both for the same
 * number of samples or not (batch sizes are clamped to dst's N). */
bsnn_status bsnn__scheduler_copy_settings(bsnn_scheduler *dst, const bsnn_scheduler *src);
/* Checkpoint support: the scheduler's position and RNG as a flat array of
 * uint64 words (settings are not included: the host sets them again).
 * _state_words gives the count for the current position; _save writes that
 * many; _load validates (returns BSNN_E_FORMAT on a bad array, leaving s
 * unchanged) and restores, so the remaining sequence is bit-identical. */
size_t bsnn__scheduler_state_words(const bsnn_scheduler *s);
void bsnn__scheduler_save(const bsnn_scheduler *s, uint64_t *out);
bsnn_status bsnn__scheduler_load(bsnn_scheduler *s, const uint64_t *in, size_t count);

/* The bodies of bsnn_model_memory and bsnn_model_max_batch (m has layers,
 * pointers not NULL). */
bsnn_status bsnn__model_memory(size_t *out_bytes, const bsnn_model *m, const bsnn_optimizer *opt,
                               size_t batch);
bsnn_status bsnn__model_max_batch(size_t *out, const bsnn_model *m, const bsnn_optimizer *opt,
                                  size_t budget_bytes, size_t max_rows);
/* Memory (memory.c, model.c). Bytes an allocation of size bytes costs,
 * counting the allocator's alignment header as bsnn__alloc requests it. */
size_t bsnn__alloc_cost(size_t size);
/* Bytes of the workspace bsnn__model_reserve(m, rows) allocates; model.c
 * keeps it next to reserve, in step with it (test_memory checks). */
size_t bsnn__model_workspace_bytes(const bsnn_model *m, size_t rows);
/* Bytes of the model's structures and arenas (all but the workspace),
 * kept next to bsnn_model_free in model.c. */
size_t bsnn__model_fixed_bytes(const bsnn_model *m);

/* History (history.c): append one row of BSNN_HIST_* values 1..9. */
bsnn_status bsnn__history_append(bsnn_history *h, const double *row);
#define BSNN__HIST_COLS 9
/* Append a row of cols doubles to a growing row table (history, search). */
bsnn_status bsnn__rows_append(double **rows, size_t *n, size_t *cap, size_t cols,
                              const double *row);
/* Write a text file through write(f, obj) to path.tmp, then rename it over
 * path; f is a FILE * (void * here to keep stdio out of this header). */
bsnn_status bsnn__write_csv_file(const char *path,
                                 int (*write)(void *f, const void *obj), const void *obj);

/* Wall clock in seconds (monotonic), for histories and the search. */
double bsnn__now(void);

/* ---- issue 5: generators, loaders ------------------------------------------ */

/* Allocate a zero-filled n-row dataset (dataset.c); NULL, with a message
 * on overflow or out of memory. */
bsnn_dataset *bsnn__dataset_alloc(size_t n, size_t n_in, size_t n_out);

/* ---- issue 6: performance --------------------------------------------------- */

/* The weight gradient of a dense layer over n rows, g = x^T dy ([in][out],
 * x is [n][in], dy is [n][out]), on bsnn's own kernel: written to g when w
 * is NULL, else applied as the plain SGD step w -= step * g (g unused),
 * each product rounded as the general step rounds it. */
void bsnn__sgemm_tn_sgd(size_t in, size_t out, size_t n, const float *x, const float *dy,
                        float *g, float *w, float step);

/* 1 when the CPU runs AVX2 and FMA: bsnn's own kernels (gemm.c, fused.c,
 * activation.c) are compiled for it and chosen at run time. */
int bsnn__cpu_avx2(void);

/* The small-batch plain-SGD step with the update folded into backward
 * (fused.c): _ok says whether it applies (batch <= BSNN_FUSED_MAX_BATCH,
 * SGD, dense/activation layers, no penalties); _step then stands in for
 * bsnn__model_step_rows (bit for bit at batch 1-4). */
#define BSNN_FUSED_MAX_BATCH 32
int bsnn__fused_step_ok(const bsnn_model *m, const bsnn_optimizer *opt, size_t n);
bsnn_status bsnn__fused_step(double *out_loss, bsnn_model *m, bsnn_optimizer *opt,
                             const float *x, const float *y, size_t n, size_t tw, double lr);
/* After a fused step the weight gradients are not in m->grads yet:
 * m->fused_rows > 0 says so. _grads writes them into a copy of the arena;
 * _settle writes them into m->grads (before the workspace that holds the
 * inputs and deltas goes away, or a general step starts). */
void bsnn__fused_grads(const bsnn_model *m, float *grads);
void bsnn__fused_settle(bsnn_model *m);

/* The general step (zero, accumulate, apply) that bsnn__model_step_rows
 * runs when the fused one does not apply. */
bsnn_status bsnn__model_step_general(double *out_loss, bsnn_model *m, bsnn_optimizer *opt,
                                     const float *x, const float *y, size_t n,
                                     size_t target_width, double lr);

/* ---- issue 7: persistence, robustness --------------------------------------- */

/* base + off, or NULL for an arena that was never allocated (a model with
 * no parameters or no state): arithmetic on NULL is undefined behaviour. */
static inline float *bsnn__at(float *base, size_t off) { return base ? base + off : NULL; }

/* Open path for reading without ever blocking (a FIFO with no writer would
 * block open() forever) and accept only a regular file: *out_fd and its
 * size in bytes, which bounds every read loop of the caller (a file that
 * grows meanwhile is read up to that size). BSNN_E_IO naming the path
 * otherwise; nothing stays open then. (io.c) */
bsnn_status bsnn__open_regular(int *out_fd, size_t *out_size, const char *path);

/* Tests only: nonzero makes saves skip the unnamed temporary file (Linux
 * O_TMPFILE) and take the named-file route other systems use. (io.c) */
extern int bsnn__io_named_temp_only;

/* CRC-32 (IEEE, as zlib) of n bytes, continuing from crc (0 to start). */
uint32_t bsnn__crc32(uint32_t crc, const void *data, size_t n);
/* The ops of a layer kind, for loaders; NULL for an unknown kind. Every
 * kind must be listed in layer.c's table. */
const bsnn_layer_ops *bsnn__layer_ops_of(int kind);

#endif /* BSNN_INTERNAL_H */
