/*
 * nn.h - tier 3 (src/nn/): the layer framework (layer.c), one file per
 * layer kind, the losses and the model (its arenas, its workspace, forward
 * passes). Above kernels/ and common/; knows no dataset, optimizer or
 * training loop.
 */
#ifndef BSNN_NN_H
#define BSNN_NN_H

#include "kernels/kernels.h"

/* ---- layers (layer.c and one file per kind) ------------------------------- */

/* What the model tells a kind's init hook. */
typedef struct bsnn__init_ctx {
    bsnn_rng *rng;       /* the model's initialisation stream             */
    int default_init;    /* the model's default bsnn_init (dense layers)  */
} bsnn__init_ctx;

/* What the step engine tells a layer about the training pass it runs (one
 * pass per micro-batch of an update). */
typedef struct bsnn__pass {
    size_t layer;        /* the layer's index in the model                */
    uint64_t row0;       /* index of the pass's first row within the
                            update's GLOBAL batch (a data-parallel rank's
                            offset included): dropout keys its masks by it */
    int first;           /* 1 for the update's first pass                 */
    double *sample_sq;   /* per-sample gradient statistics (NULL: off): a
                            kind with ops->sample_norms ADDS, in backward,
                            sum_r |g_r|^2 over its rows' own parameter
                            gradients in the scale of dy (dense:
                            (|x_r|^2 + 1) |dy_r|^2)                      */
} bsnn__pass;

/* A layer kind: one file (dense.c, batchnorm.c, ...) defines one of these
 * and its public constructor; layer.c's kinds table lists it (one line).
 * The kind keeps its own settings and data in a struct of data_size bytes
 * at l->data, described for set, get, bounds and save/load by its settings
 * table. Pointers passed to hooks:
 *   params / grads  this layer's slice of the model's flat arenas
 *   state           this layer's persistent non-trainable floats (running
 *                   statistics, fixed statistics); n_state floats
 *   scratch         per-step workspace: scratch_per_row * n + scratch_fixed
 *                   floats, valid from forward to the matching backward and
 *                   commit
 * x is the layer input [n][n_in], y its output [n][n_out]. Nothing a step
 * runs before the update is accepted changes the layer or its state (so a
 * rejected step leaves them as they were); commit does, once accepted.
 * Optional hooks may be NULL. */
typedef struct bsnn_layer_ops {
    bsnn_layer_kind kind;
    const char *name;
    size_t data_size;                  /* bytes of the kind's struct       */
    const bsnn__setting *settings;     /* offsets into the kind's struct   */
    size_t n_settings;
    /* Fix n_out, n_params, n_weights, n_state and the scratch sizes for
     * input width n_in (BSNN_E_ARG on overflow, BSNN_E_SHAPE on a width the
     * layer cannot take). */
    bsnn_status (*setup)(bsnn_layer *l, size_t n_in);
    /* Once, when the layer joins a model: state the constructor was given
     * (standardize's statistics). Optional. */
    void (*attach)(bsnn_layer *l, float *state);
    /* Initialise params and resettable state (on add, and by
     * bsnn_model_init_params). Optional. */
    void (*init)(bsnn_layer *l, float *params, float *state, const bsnn__init_ctx *ctx);
    /* y = f(x) in evaluation mode. Reads the layer, its parameters and
     * state and writes only scratch and y, so several threads may run it
     * on one model at once, each with its own workspace. Whatever backward
     * needs goes to scratch (a train step may run in evaluation mode). */
    void (*infer)(const bsnn_layer *l, const float *params, const float *state, float *scratch,
                  const float *x, float *y, size_t n);
    /* y = f(x) in training mode (batch statistics, dropout masks), for the
     * pass p: writes only scratch and y; what the layer or its state will
     * keep (running statistics) waits in scratch for commit. Optional:
     * infer when NULL. */
    void (*forward)(const bsnn_layer *l, const bsnn__pass *p, const float *params,
                    const float *state, float *scratch, const float *x, float *y, size_t n);
    /* Given dy = dL/dy, write (accumulate 0) or ADD (accumulate 1)
     * dL/dparams into grads, and write dx = dL/dx (dx may be NULL for the
     * first layer: skip it). dy may be overwritten. */
    void (*backward)(const bsnn_layer *l, const bsnn__pass *p, const float *params,
                     const float *state, float *grads, int accumulate, float *scratch,
                     const float *x, const float *y, float *dy, float *dx, size_t n);
    /* After an update is accepted: keep what its passes left in scratch
     * (batch norm's running statistics; dropout moves to the next update's
     * masks). training: the update ran in training mode; rows: the rows it
     * ran through the layer (0 for a data-parallel rank with an empty share
     * of the global batch, which still takes part in the update). Never
     * called for a rejected step. Optional. */
    void (*commit)(bsnn_layer *l, float *state, const float *scratch, int training,
                   size_t rows);
    /* The fused backward-and-apply capability, for kinds whose parameter
     * gradient is linear in dy (dense: g = [x^T dy; colsum dy]); all four or
     * none. backward_input: dx only, dy left intact. grad_bound: an upper
     * bound on every |g| element, rounding included (+inf: none known).
     * apply_linear: params -= c * g without storing g (one product).
     * write_grads: g into grads (the gradient on demand). */
    void (*backward_input)(const bsnn_layer *l, const float *params, const float *dy, float *dx,
                           size_t n);
    double (*grad_bound)(const bsnn_layer *l, const float *x, const float *dy, size_t n);
    void (*apply_linear)(const bsnn_layer *l, float *params, const float *x, const float *dy,
                         size_t n, float c);
    void (*write_grads)(const bsnn_layer *l, float *grads, const float *x, const float *dy,
                        size_t n);
    /* 1 when backward adds its rows' per-sample gradient squared norms to
     * p->sample_sq (the per-sample noise route); 0 for a kind with
     * parameters whose rows' gradients mix (batch norm): that route is then
     * refused (BSNN_E_UNSUPPORTED). */
    int sample_norms;
    /* ADD penalty gradients (L1/L2) once per update; _active says whether
     * any penalty is set (a fused update needs none). Optional. */
    void (*regularize)(const bsnn_layer *l, const float *params, float *grads);
    int (*penalty_active)(const bsnn_layer *l);
    /* 0 when setting id of the table does not apply to this layer (slope:
     * leaky relu and elu only). Optional: every setting applies. */
    int (*applies)(const bsnn_layer *l, int id);
    /* After setting id changed (dropout: the seed restarts the masks). */
    void (*changed)(bsnn_layer *l, int id);
    /* The bsnn_activation this layer applies to its output, or -1 (the loss
     * checks: a softmax before SOFTMAX_CE, a sigmoid before BCE_LOGITS). */
    int (*final_activation)(const bsnn_layer *l);
    /* The two fields of a LAYR section that are not settings (docs/format.md).
     * A variant (the activation of an activation layer; 0 when NULL), set
     * on a new layer before its settings and setup (BSNN_E_FORMAT on one
     * the kind does not know). A generator state (dropout's mask counter;
     * zeros when NULL), put back once the layer has joined the model. */
    uint32_t (*variant)(const bsnn_layer *l);
    bsnn_status (*set_variant)(bsnn_layer *l, uint32_t variant);
    void (*get_rng)(const bsnn_layer *l, bsnn_rng *out);
    void (*set_rng)(bsnn_layer *l, const bsnn_rng *rng);
    /* BSNN_E_FORMAT when loaded state is not one this kind can hold
     * (standardize: a std that is not > 0). */
    bsnn_status (*check_state)(const bsnn_layer *l, const float *state);
    /* Release memory the kind's struct owns. */
    void (*destroy)(bsnn_layer *l);
    /* Fewest rows a training-mode step accepts (batch norm: 2, a single row
     * has no variance); 0 means any. Checked by bsnn__model_check_batch. */
    size_t min_train_rows;
} bsnn_layer_ops;

/* What every layer has; the kind's own settings and data are at data. */
struct bsnn_layer {
    const bsnn_layer_ops *ops;
    size_t n_in, n_out;
    size_t n_params;        /* floats in the model's parameter arena       */
    size_t n_weights;       /* the leading n_weights of them are weights:
                               decayed by AdamW's BSNN_DECAY_WEIGHTS       */
    size_t n_state;         /* persistent non-trainable floats             */
    size_t scratch_per_row; /* floats of per-step workspace per batch row   */
    size_t scratch_fixed;   /* floats of per-step workspace independent of n */
    size_t param_off;       /* offsets into the model's arenas             */
    size_t state_off;
    int owned_by_model;
    int fused;              /* the step plan folds this layer's update into
                               its backward (set by the engine)            */
    void *data;             /* the kind's struct (ops->data_size bytes)    */
};

/* A layer of the given kind with every setting at its default, the
 * kind's struct zeroed first (one allocation). */
bsnn_layer *bsnn__layer_new(const bsnn_layer_ops *ops);
/* bsnn_layer_set / _get without the NULL checks (the value validated). */
bsnn_status bsnn__layer_set(bsnn_layer *layer, bsnn_layer_param param, double value);
bsnn_status bsnn__layer_get(double *out, const bsnn_layer *layer, bsnn_layer_param param);
/* 1 when setting id is in the kind's table and applies to this layer. */
int bsnn__layer_has(const bsnn_layer *layer, int id);
/* Release a layer whoever owns it (bsnn_model_free; bsnn_layer_free refuses
 * a layer a model owns). NULL is a no-op. */
void bsnn__layer_destroy(bsnn_layer *layer);
/* Bytes bsnn__layer_new allocates for a layer of this kind. */
size_t bsnn__layer_bytes(const bsnn_layer_ops *ops);

/* Persistence (docs/format.md, LAYR): a layer writes its kind, variant,
 * widths, parameter and state counts, generator and settings (from its
 * kind's table); _load builds one from such a payload for n_in inputs
 * (not yet in a model), every field checked (BSNN_E_FORMAT), and returns in
 * *f what the file declared: the model loader holds the counts to its
 * header and puts the generator back (ops->set_rng) once the layer is in. */
typedef struct bsnn__layer_file {
    size_t n_in, n_params, n_state;
    bsnn_rng rng;
} bsnn__layer_file;
void bsnn__layer_save(bsnn__writer *w, const bsnn_layer *l);
bsnn_status bsnn__layer_load(bsnn_layer **out, bsnn__layer_file *f, bsnn__reader *b, size_t n_in);

/* The ops of a layer kind, for loaders and bounds; NULL for an unknown
 * kind. Every kind is listed in layer.c's table. */
const bsnn_layer_ops *bsnn__layer_ops_of(int kind);

/* ---- losses (loss.c) ----------------------------------------------------- */

/* Sum over the n rows of the per-sample loss (in double), and, when grad is
 * not NULL, grad = scale * dL_sample/dout for each row (scale = 1/batch).
 * target rows are `width` wide, or 1 wide holding a class index (softmax
 * cross-entropy only: see bsnn__loss_target_width_ok). */
double bsnn__loss(bsnn_loss kind, const float *out, const float *target, size_t n,
                  size_t width, size_t target_width, float *grad, float scale);
/* The same with the gradient, over chunks of rows run through
 * bsnn__parallel: each chunk's sum goes to parts[chunk], summed in chunk
 * order (the same for every thread count); parts holds
 * bsnn__loss_chunks(n, width) doubles. */
double bsnn__loss_grad(bsnn_loss kind, const float *out, const float *target, size_t n,
                       size_t width, size_t target_width, float *grad, float scale,
                       double *parts);
size_t bsnn__loss_chunks(size_t n, size_t width);
int bsnn__loss_valid(int kind);
/* 1 if targets of target_width suit a model with `width` outputs. */
int bsnn__loss_target_width_ok(bsnn_loss kind, size_t width, size_t target_width);
/* 1 if a target value is acceptable (class indices must be whole, in range). */
int bsnn__loss_targets_ok(bsnn_loss kind, const float *target, size_t n, size_t width,
                          size_t target_width);

/* ---- workspaces (workspace.c) --------------------------------------------- */

/* The buffers of forward passes (and, for the model's own workspace, of
 * training) for up to `rows` rows, laid out for one model in ONE block by
 * bsnn__workspace_layout. The model embeds one (bsnn_model_forward,
 * training); a host makes more with bsnn_workspace_create, one per
 * inference thread. */
struct bsnn_workspace {
    uint64_t model_id;       /* the model it serves (bsnn_model.id)         */
    uint64_t layout;         /* the model's layout stamp it was sized for    */
    int training;            /* also holds the training buffers below        */
    size_t rows;             /* rows it holds (0: nothing allocated)         */
    size_t n_layers;         /* entries of acts, scratch and delta           */
    void *block;             /* the one allocation                          */
    float **acts;            /* acts[i] = output of layer i, [rows][width]   */
    float **scratch;         /* scratch[i] = layer i's scratch              */
    float **delta;           /* training: delta[i] = dL/d acts[i], kept for
                                the whole backward pass (fused layers read
                                theirs after it)                          */
    float *xbuf, *ybuf;      /* training: the batch's inputs and targets     */
    double *parts;           /* training: per-chunk partial results          */
    size_t n_parts;
};

/* Bytes of the one block of a workspace of m for `rows` rows (training:
 * with the training buffers), 0 when a size overflows a size_t. With fill
 * (its block allocated with that many bytes), point its arrays into the
 * block. The allocator and bsnn_model_memory both use this: one layout. */
size_t bsnn__workspace_layout(const bsnn_model *m, size_t rows, int training,
                              bsnn_workspace *fill);
/* Bytes the workspace costs through the allocator (0 on overflow). */
size_t bsnn__model_workspace_bytes(const bsnn_model *m, size_t rows);
/* Release a workspace's block, leaving it empty. */
void bsnn__workspace_release(bsnn_workspace *ws);
/* Make ws hold at least rows rows of m's current layout (allocates only
 * when the batch or the layout grew). */
bsnn_status bsnn__workspace_grow(bsnn_workspace *ws, const bsnn_model *m, size_t rows);

/* ---- models (model.c) -------------------------------------------- */

/* Per-update gradient statistics for the gradient noise scale (issue 15):
 * measured only when flags ask (off: no work at all, and the fields stay
 * 0). Of the last update the engine ran (also a rejected one). */
#define BSNN__STATS_MICRO 1u  /* squared norms per micro-batch and batch   */
#define BSNN__STATS_SAMPLE 2u /* per-sample squared norms (ops->sample_norms) */
typedef struct bsnn__grad_stats {
    unsigned flags;          /* what to measure: BSNN__STATS_*             */
    size_t rows;             /* B, the update's rows before the hook       */
    size_t passes;           /* k, its micro-batches                       */
    double micro_sq_sum;     /* sum_j |g_j|^2 of the micro-batch MEAN
                                gradients (MICRO)                         */
    double micro_sq_wsum;    /* sum_j b_j |g_j|^2, b_j rows of micro-batch j */
    double micro_inv_rows;   /* sum_j 1 / b_j (MICRO)                       */
    double batch_sq;         /* |g_B|^2 of the batch mean before the hook  */
    double global_sq;        /* |g|^2 after the hook (global under an
                                allreduce), before penalties              */
    double sample_sq_sum;    /* sum_i |g_i|^2 over the B per-sample
                                gradients (SAMPLE)                        */
    int sample_complete;     /* 1 when every layer with parameters has
                                ops->sample_norms (else sample_sq_sum
                                misses some)                              */
} bsnn__grad_stats;

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
    uint64_t layout;         /* changes whenever a layer is added, so
                                workspaces sized before know to re-lay out */
    bsnn_workspace ws;       /* the model's own (training) workspace        */
    size_t max_width;
    size_t pending_rows;     /* rows of the last update whose gradient of
                                fused layers (l->fused) is still to be
                                written from the x and dy the workspace
                                keeps, else 0                            */
    const float *pending_x;  /* that update's input rows (ws.xbuf)          */
    uint64_t fused_stamp;    /* the step plan whose fused flags the layers
                                hold (train/engine.c), 0: none            */
    bsnn_grad_hook grad_hook; /* the host's gradient hook (NULL: none)     */
    void *grad_hook_user;
    int in_hook;             /* the hook is running: training m is refused */
    uint64_t row_offset;     /* data parallelism: this process's first row
                                in every global batch (dropout's masks)    */
    bsnn__grad_stats stats;  /* issue 15's measurements                     */
    float *stat_grads;       /* one micro-batch's gradient (MICRO stats)    */
    uint64_t counts[6];      /* bsnn_stat values, indexed by bsnn_stat       */
    /* the gradient noise scale (train/gradstats.c): the route sets the
     * statistics' flags (stats above) */
    int noise_route;         /* bsnn_noise_route                            */
    bsnn__noise noise;       /* the running estimate                        */
};

/* Reinitialise every layer's parameters and resettable state from seed
 * as bsnn_model_init_params does, leaving the model's own seed and
 * initialisation stream as they were (the search's repeats). */
void bsnn__model_reinit(bsnn_model *m, uint64_t seed);

/* Gradient noise scale: BSNN_E_UNSUPPORTED naming the layer when `route`
 * cannot run on m (the per-sample route and a kind with parameters but no
 * ops->sample_norms: batch norm); BSNN_E_ARG for an unknown route. */
bsnn_status bsnn__model_noise_check(const bsnn_model *m, int route);
/* Set the route (checked), clearing the estimate and setting the engine's
 * statistics to match; BSNN_E_NOMEM (nothing changed) without memory for
 * the micro-batch route's buffer. Also what a checkpoint's NOIS calls. */
bsnn_status bsnn__model_set_noise_route(bsnn_model *m, int route);

/* The bodies of bsnn_model_create (n_inputs >= 1), bsnn_model_free,
 * bsnn_model_n_outputs and bsnn_model_add (m and layer not NULL; the layer
 * is consumed on failure unless another model owns it). */
bsnn_model *bsnn__model_create(size_t n_inputs);
void bsnn__model_free(bsnn_model *m);
size_t bsnn__model_n_outputs(const bsnn_model *m);
bsnn_status bsnn__model_add(bsnn_model *m, bsnn_layer *layer);
/* Make the model's own workspace hold at least rows rows (allocates only
 * when growing; a pending gradient is written out first). */
bsnn_status bsnn__model_reserve(bsnn_model *m, size_t rows);
/* The same for a host's workspace ws of m: BSNN_E_NULL without one,
 * BSNN_E_ARG when it was made for another model. */
bsnn_status bsnn__workspace_reserve(bsnn_workspace *ws, const bsnn_model *m, size_t rows);
/* Evaluation-mode forward on any workspace of m, reserved for n rows: reads
 * m only (the thread-safe inference path); returns the output buffer. */
const float *bsnn__model_infer_rows(const bsnn_model *m, bsnn_workspace *ws, const float *x,
                                    size_t n);
/* Layer `layer`'s scratch inside workspace ws of m. */
float *bsnn__layer_scratch(const bsnn_model *m, const bsnn_workspace *ws, size_t layer);
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

/* After a fused update (train/engine.c) the gradient of its fused layers
 * is not in m->grads: m->pending_rows > 0 says so, and the workspace keeps
 * each such layer's x and dy. _grads writes it into a copy of the arena
 * (the rest of which the caller took from m->grads); _settle writes it into
 * m->grads, before anything overwrites the workspace (a forward pass, a
 * larger reserve). A new update simply drops it. */
void bsnn__model_pending_grads(const bsnn_model *m, float *grads);
void bsnn__model_settle_grads(bsnn_model *m);

/* Data parallelism (issue 16): the index of this process's first row
 * within every global batch, so dropout draws, for each global row, the
 * mask one process training the whole batch would draw. libbsnn_mpi sets
 * it before each update to the rows of the ranks before it. */
void bsnn__model_set_row_offset(bsnn_model *m, uint64_t offset);
/* Gradient statistics (issue 15): what to measure (BSNN__STATS_* flags, 0:
 * off), and the last update's measurements. BSNN_E_NOMEM when the MICRO
 * statistics' gradient buffer cannot be allocated (nothing changed). */
bsnn_status bsnn__model_set_stats(bsnn_model *m, unsigned flags);
const bsnn__grad_stats *bsnn__model_stats(const bsnn_model *m);

#endif /* BSNN_NN_H */
