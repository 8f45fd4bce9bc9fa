/*
 * nn.h - tier 3 (src/nn/): the layer framework (layer.c), one file per
 * layer kind, the losses and the model (its arenas, its workspace, forward
 * passes). Above kernels/ and common/; knows no dataset, optimizer or
 * training loop.
 */
#ifndef BSNN_NN_H
#define BSNN_NN_H

#include "kernels/kernels.h"

/* Rows of x and dy a dense layer keeps in its scratch for the small-batch
 * fused SGD step (train/fused.c), which writes the weight gradient later. */
#define BSNN_FUSED_MAX_BATCH 32

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

extern const bsnn_layer_ops bsnn__batchnorm_ops;
extern const bsnn_layer_ops bsnn__dropout_ops;
/* The ops of a layer kind, for loaders; NULL for an unknown kind. Every
 * kind must be listed in layer.c's table. */
const bsnn_layer_ops *bsnn__layer_ops_of(int kind);

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

/* ---- models (model.c) -------------------------------------------- */

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
/* Layer `layer`'s scratch inside workspace ws of m. */
float *bsnn__layer_scratch(const bsnn_model *m, const bsnn_workspace *ws, size_t layer);
/* Bytes of the workspace bsnn__model_reserve(m, rows) allocates, kept next
 * to reserve, in step with it (test_memory checks); 0 when it would
 * overflow a size_t. */
size_t bsnn__model_workspace_bytes(const bsnn_model *m, size_t rows);
/* Bytes of the model's structures and arenas (all but the workspace),
 * kept next to bsnn_model_free. */
size_t bsnn__model_fixed_bytes(const bsnn_model *m);

/* Loss checks. _conflict: fail with `status` when `loss` cannot work with
 * m's current last layer (softmax cross-entropy over one output; a softmax
 * before SOFTMAX_CE or a sigmoid before BCE_LOGITS, which apply it
 * themselves); OK while m has no layers. _check_loss: BSNN_E_STATE when no
 * loss was chosen or the chosen one conflicts; every entry point that needs
 * a loss (training, the search, evaluate's loss) calls it first. */
bsnn_status bsnn__loss_conflict(const bsnn_model *m, bsnn_loss loss, bsnn_status status);
bsnn_status bsnn__model_check_loss(const bsnn_model *m);

/* After a fused SGD step (train/fused.c) the weight gradients of dense
 * layers are not in m->grads yet: m->fused_rows > 0 says so, and each dense
 * layer's scratch holds the step's x and dy. _grads writes them into a copy
 * of the arena; _settle writes them into m->grads (before the workspace
 * that holds x and dy goes away, or a general step starts). */
void bsnn__fused_grads(const bsnn_model *m, float *grads);
void bsnn__fused_settle(bsnn_model *m);

#endif /* BSNN_NN_H */
