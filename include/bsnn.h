/*
 * bsnn.h - the one public header of bsnn, a small C library that trains and
 * evaluates multilayer perceptrons with any batch size the host chooses.
 *
 * This header is the manual. Conventions, once, for every declaration below:
 *  - Objects are opaque handles made by bsnn_<object>_create (or a named
 *    constructor) and released by bsnn_<object>_free; free(NULL) is a no-op.
 *    Objects may be freed in any order.
 *  - Functions that can fail return bsnn_status: 0 (BSNN_OK) or a negative
 *    code. Constructors return NULL on failure.
 *  - Errors: after a failure, bsnn_last_error() gives a message naming the
 *    function the host called, the argument and the offending value. The
 *    message is per thread and stays unchanged until a later bsnn call on
 *    the same thread fails: successful calls never change it. The pointer
 *    stays valid for the life of the thread.
 *  - Growth: values of enums (status codes, kinds, settings, columns) are
 *    explicit and never renumbered or reused, but later versions ADD values
 *    and flag bits. A host must handle codes and values it does not know
 *    (bsnn_status_string gives "unknown status" for an unknown code).
 *  - Output arguments are named out / out_*, come first among the arguments,
 *    and are left unchanged when the call fails. `**out` means the caller
 *    owns what is returned there.
 *  - A callback is followed by its `void *user` argument.
 *  - Settings: each object with numeric settings has bsnn_X_set, bsnn_X_get
 *    (a double through an enum id) and bsnn_X_bounds, one shape for all:
 *    (double *out_lo, double *out_hi, unsigned *out_open, kind or object,
 *    param). A valid value v satisfies lo <= v <= hi, with an end excluded
 *    when *out_open has BSNN_BOUND_LO_OPEN or BSNN_BOUND_HI_OPEN set; counts,
 *    flags, enum values, seeds and byte counts must also be whole numbers.
 *  - Seeds are uint64_t and byte counts size_t. Where one is also a double
 *    setting (BSNN_*_SEED, BSNN_*_MEMORY_BUDGET), the typed twin
 *    (bsnn_X_set_seed / _get_seed, bsnn_X_set_memory_budget / _get_...)
 *    reaches every value; the double form is exact up to 2^53: setting a
 *    larger or fractional value is refused, and so is reading one (never a
 *    rounded value).
 *  - Flags are unsigned bit sets (OR of an enum's values).
 *  - Thread safety: distinct objects may be used from distinct threads at
 *    the same time; one object must not be used by two threads at once,
 *    with one exception: several threads may run inference on ONE model at
 *    once through bsnn_model_forward_ws / bsnn_model_evaluate_ws, each with
 *    its own bsnn_workspace, while nothing changes that model. The global
 *    setters (allocator, thread count, subnormals, kernels) are not
 *    thread-safe, and a host allocator must be thread-safe when bsnn runs
 *    on several threads.
 *  - Nothing in bsnn aborts, exits or prints on the caller's behalf.
 *
 * Compiles as C99, C11 and C++.
 */
#ifndef BSNN_H
#define BSNN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(BSNN_BUILDING) && defined(__GNUC__)
#define BSNN_API __attribute__((visibility("default")))
#else
#define BSNN_API
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                  */
/* ------------------------------------------------------------------------ */

/* Compile-time version; the Makefile reads the library version from here. */
#define BSNN_VERSION_MAJOR 0
#define BSNN_VERSION_MINOR 3
#define BSNN_VERSION_PATCH 0
#define BSNN_VERSION_NUMBER \
    (BSNN_VERSION_MAJOR * 10000 + BSNN_VERSION_MINOR * 100 + BSNN_VERSION_PATCH)

/* Run-time version of the linked library, as BSNN_VERSION_NUMBER. Compare it
 * with the macro to detect a header/library mismatch. Never fails. */
BSNN_API unsigned bsnn_version(void);

/* The same as a static string, "MAJOR.MINOR.PATCH". Never fails. */
BSNN_API const char *bsnn_version_string(void);

/* ------------------------------------------------------------------------ */
/* Status codes and errors                                                  */
/* ------------------------------------------------------------------------ */

/* Every fallible call returns one of these. Values are stable: never
 * renumbered, never reused; new codes may be added (see the conventions). */
typedef enum bsnn_status {
    BSNN_OK = 0,
    BSNN_E_NULL = -1,      /* a required pointer or handle was NULL          */
    BSNN_E_ARG = -2,       /* an argument is out of range or not finite      */
    BSNN_E_SHAPE = -3,     /* shapes or sizes do not agree                   */
    BSNN_E_NOMEM = -4,     /* allocation failed; every object is still valid */
    BSNN_E_STATE = -5,     /* call not allowed in the object's current state */
    BSNN_E_IO = -6,        /* a file could not be read or written            */
    BSNN_E_FORMAT = -7,    /* a file or buffer is malformed or unsupported   */
    BSNN_E_DIVERGED = -8,  /* loss or gradient became NaN or infinite        */
    BSNN_E_UNSUPPORTED = -9, /* the operation is not available in this build */
    BSNN_E_CALLBACK = -10   /* a host hook asked to abandon the step         */
} bsnn_status;

/* A short static English description of a status ("out of memory").
 * Unknown values give "unknown status". Never fails. */
BSNN_API const char *bsnn_status_string(bsnn_status status);

/* The message of the last failure on the calling thread (its lifetime: see
 * the conventions above). Never NULL; "" before any failure. */
BSNN_API const char *bsnn_last_error(void);

/* ------------------------------------------------------------------------ */
/* Objects and bounds                                                       */
/* ------------------------------------------------------------------------ */

typedef struct bsnn_tensor bsnn_tensor;       /* a float32 array, rank 1-4        */
typedef struct bsnn_layer bsnn_layer;         /* one stage of a model             */
typedef struct bsnn_optimizer bsnn_optimizer; /* an update rule and its state     */
typedef struct bsnn_dataset bsnn_dataset;     /* rows of inputs and targets       */
typedef struct bsnn_scheduler bsnn_scheduler; /* which rows form each batch       */
typedef struct bsnn_history bsnn_history;     /* per-epoch training records       */
typedef struct bsnn_model bsnn_model;         /* a stack of layers, its parameters */
typedef struct bsnn_workspace bsnn_workspace; /* buffers of one inference thread  */
typedef struct bsnn_search bsnn_search;       /* the batch-size search            */

/* Bits of *out_open from every bsnn_X_bounds: which end is excluded. */
typedef enum bsnn_bound_flag {
    BSNN_BOUND_LO_OPEN = 1,   /* value must be > lo (not >=)                   */
    BSNN_BOUND_HI_OPEN = 2    /* value must be < hi (not <=)                   */
} bsnn_bound_flag;

/* ------------------------------------------------------------------------ */
/* Global settings                                                          */
/* ------------------------------------------------------------------------ */

/* Allocator hooks. alloc(user, size) returns memory aligned to at least 16
 * bytes or NULL; free(user, ptr, size) releases it, getting back the size
 * requested. bsnn adds its own 64-byte alignment on top. Both must be
 * thread-safe when bsnn is used from several threads. */
typedef void *(*bsnn_alloc_fn)(void *user, size_t size);
typedef void (*bsnn_free_fn)(void *user, void *ptr, size_t size);

/* Replace the process-wide allocator used for every bsnn allocation. Call it
 * only when no bsnn object exists. Passing NULL for both restores malloc/free.
 * Errors: BSNN_E_ARG if exactly one of alloc/free is NULL; BSNN_E_STATE if
 * bsnn objects are alive. Not thread-safe. */
BSNN_API bsnn_status bsnn_set_allocator(bsnn_alloc_fn alloc, bsnn_free_fn free_fn,
                                        void *user);

/* Number of threads bsnn computes on (1..256), the calling thread included:
 * bsnn's own n - 1 worker threads, started at first use and joined when the
 * count changes and at exit (BLIS runs single-threaded inside them; the
 * host's OpenMP threads are never used). Results are bit-identical for
 * every count. If the system refuses a thread, bsnn runs on fewer (same
 * results). Errors: BSNN_E_ARG when n is out of range. Process-wide; call
 * it while no other thread is inside a bsnn call. */
BSNN_API bsnn_status bsnn_set_num_threads(int n);

/* The current thread count set by bsnn_set_num_threads (default 1). */
BSNN_API int bsnn_get_num_threads(void);

/* Subnormal numbers (magnitudes below 2^-126) flushed to zero in bsnn's
 * arithmetic: on = 1 (the default) or 0 (IEEE gradual underflow). Every
 * function that computes (train, forward, evaluate, search) runs, on the
 * calling thread and bsnn's workers, with round-to-nearest, all exceptions
 * masked and this flushing, then restores the calling thread's
 * floating-point control state (MXCSR on x86-64, sticky flags included)
 * exactly; callbacks run with the host's state. On other CPUs the host's
 * state is used as it is. Errors: BSNN_E_ARG unless on is 0 or 1.
 * Process-wide; call it while no other thread is inside a bsnn call. */
BSNN_API bsnn_status bsnn_set_flush_subnormals(int on);

/* The flushing setting (1 or 0). */
BSNN_API int bsnn_get_flush_subnormals(void);

/* Which matrix-product kernels bsnn uses. AUTO (the default) picks from the
 * CPU's features alone, never from timings: AVX512 when the CPU (and the
 * OS) has AVX-512F and bsnn runs with the BLIS it was built for, PORTABLE
 * otherwise. PORTABLE: BLIS's own kernels for its detected configuration
 * and bsnn's AVX2 small-batch kernels. AVX512: bsnn's 512-bit kernels, in
 * BLIS for large products (a private context: BLIS's own state and the
 * environment are untouched) and for small batches. The two give results
 * that differ in rounding; each is deterministic. */
typedef enum bsnn_gemm_kernel {
    BSNN_GEMM_AUTO = 0,     /* choose from the CPU (setting only)             */
    BSNN_GEMM_PORTABLE = 1, /* BLIS as detected + bsnn's AVX2 small kernels    */
    BSNN_GEMM_AVX512 = 2    /* bsnn's AVX-512F kernels                        */
} bsnn_gemm_kernel;

/* Choose the kernels. Errors: BSNN_E_ARG for an unknown value;
 * BSNN_E_UNSUPPORTED for BSNN_GEMM_AVX512 when the CPU or OS lacks
 * AVX-512F or the BLIS in use is not the version bsnn was built against
 * (the message says which); the setting is then unchanged. Process-wide;
 * call it while no other thread is inside a bsnn call. */
BSNN_API bsnn_status bsnn_set_gemm_kernel(bsnn_gemm_kernel kernel);

/* The kernels in use now: BSNN_GEMM_PORTABLE or BSNN_GEMM_AVX512, never
 * AUTO. Never fails. */
BSNN_API bsnn_gemm_kernel bsnn_get_gemm_kernel(void);

/* A static description of the kernels in use, e.g. "avx512: 32x12 in a
 * private BLIS 0.9.0 context (BLIS detected haswell)". Never NULL. */
BSNN_API const char *bsnn_gemm_kernel_string(void);

/* ------------------------------------------------------------------------ */
/* Tensors                                                                  */
/* ------------------------------------------------------------------------ */

/* bsnn_tensor: float32, rank 1 to 4, row-major; dimension 0 is the batch. */
#define BSNN_MAX_RANK 4

/* A new zero-filled tensor owning 64-byte aligned storage. shape holds rank
 * dimensions, each >= 1. Returns NULL on bad arguments or out of memory. */
BSNN_API bsnn_tensor *bsnn_tensor_create(int rank, const size_t *shape);

/* A tensor that borrows the caller's array `data` (no copy) for FFI hosts.
 * The caller keeps ownership and must keep data alive while the tensor is
 * used. Returns NULL on bad arguments or out of memory. */
BSNN_API bsnn_tensor *bsnn_tensor_wrap(float *data, int rank, const size_t *shape);

/* Release a tensor (and its storage when owned). NULL is a no-op. */
BSNN_API void bsnn_tensor_free(bsnn_tensor *t);

/* Rank of t (1..4), or 0 when t is NULL. */
BSNN_API int bsnn_tensor_rank(const bsnn_tensor *t);

/* Size of dimension `dim`, or 0 when t is NULL or dim is out of range. */
BSNN_API size_t bsnn_tensor_dim(const bsnn_tensor *t, int dim);

/* Number of elements (product of the shape), or 0 when t is NULL. */
BSNN_API size_t bsnn_tensor_size(const bsnn_tensor *t);

/* Pointer to the elements (row-major), or NULL when t is NULL. Valid until
 * the tensor is freed. */
BSNN_API float *bsnn_tensor_data(bsnn_tensor *t);

/* Copy `count` floats from src into t. Errors: BSNN_E_NULL, BSNN_E_SHAPE when
 * count differs from bsnn_tensor_size(t). */
BSNN_API bsnn_status bsnn_tensor_copy_in(bsnn_tensor *t, const float *src, size_t count);

/* Copy the elements of t into out, which holds `count` floats. Errors:
 * BSNN_E_NULL, BSNN_E_SHAPE when count differs from bsnn_tensor_size(t). */
BSNN_API bsnn_status bsnn_tensor_copy_out(float *out, size_t count, const bsnn_tensor *t);

/* Set every element of t to value. Errors: BSNN_E_NULL. */
BSNN_API bsnn_status bsnn_tensor_fill(bsnn_tensor *t, float value);

/* ------------------------------------------------------------------------ */
/* Layers                                                                   */
/* ------------------------------------------------------------------------ */

/* A bsnn_layer is made by a constructor below, then handed to
 * bsnn_model_add, which takes ownership. */

/* Layer kinds, as reported by bsnn_layer_kind_of. */
typedef enum bsnn_layer_kind {
    BSNN_LAYER_NONE = 0,          /* no layer (bsnn_layer_kind_of(NULL))     */
    BSNN_LAYER_DENSE = 1,
    BSNN_LAYER_ACTIVATION = 2,
    BSNN_LAYER_BATCHNORM = 3,
    BSNN_LAYER_DROPOUT = 4,
    BSNN_LAYER_LAYERNORM = 5,
    BSNN_LAYER_STANDARDIZE = 6
} bsnn_layer_kind;

/* Elementwise (or row-wise, for softmax) nonlinearities. */
typedef enum bsnn_activation {
    BSNN_ACT_LINEAR = 0,
    BSNN_ACT_SIGMOID = 1,
    BSNN_ACT_TANH = 2,
    BSNN_ACT_RELU = 3,
    BSNN_ACT_LEAKY_RELU = 4,
    BSNN_ACT_ELU = 5,
    BSNN_ACT_SOFTMAX = 6
} bsnn_activation;

/* Weight initialisers of a dense layer (biases start at the layer's
 * BSNN_LAYER_BIAS_INIT value, 0 by default). fan_in/fan_out are the layer's
 * input and output widths. */
typedef enum bsnn_init {
    BSNN_INIT_DEFAULT = 0,        /* the model's default (uniform Glorot)    */
    BSNN_INIT_ZEROS = 1,
    BSNN_INIT_GLOROT_UNIFORM = 2, /* U(-a,a), a = sqrt(6/(fan_in+fan_out))   */
    BSNN_INIT_GLOROT_NORMAL = 3,  /* N(0, 2/(fan_in+fan_out))                */
    BSNN_INIT_HE_UNIFORM = 4,     /* U(-a,a), a = sqrt(6/fan_in)             */
    BSNN_INIT_HE_NORMAL = 5,      /* N(0, 2/fan_in)                          */
    BSNN_INIT_LECUN_UNIFORM = 6,  /* U(-a,a), a = sqrt(3/fan_in)             */
    BSNN_INIT_LECUN_NORMAL = 7,   /* N(0, 1/fan_in)                          */
    BSNN_INIT_UNIFORM = 8         /* U(lo,hi) from BSNN_LAYER_INIT_LO/HI     */
} bsnn_init;

/* Numeric settings of a layer, for bsnn_layer_set / _get / _bounds. */
typedef enum bsnn_layer_param {
    BSNN_LAYER_INIT = 1,          /* dense: a bsnn_init value                */
    BSNN_LAYER_INIT_LO = 2,       /* dense, BSNN_INIT_UNIFORM: lower bound   */
    BSNN_LAYER_INIT_HI = 3,       /* dense, BSNN_INIT_UNIFORM: upper bound   */
    BSNN_LAYER_BIAS_INIT = 4,     /* dense: initial value of every bias      */
    BSNN_LAYER_SLOPE = 5,         /* leaky relu: negative slope (0.01); elu: alpha (1) */
    BSNN_LAYER_MOMENTUM = 6,      /* batch norm: running-average momentum    */
    BSNN_LAYER_EPS = 7,           /* batch norm, layer norm: variance epsilon (1e-5) */
    BSNN_LAYER_RATE = 8,          /* dropout: probability of dropping [0,1)  */
    BSNN_LAYER_SEED = 9,          /* dropout: mask generator seed (0; typed:
                                     bsnn_layer_set_seed)                    */
    BSNN_LAYER_L1 = 10,           /* dense: L1 penalty on weights (0)        */
    BSNN_LAYER_L2 = 11            /* dense: L2 penalty on weights (0)        */
} bsnn_layer_param;

/* A fully connected layer with n_outputs units: y = x W + b. The input width
 * is taken from the model when the layer is added. W is stored [in][out]
 * row-major followed by b [out]. NULL if n_outputs is 0 or out of memory. */
BSNN_API bsnn_layer *bsnn_layer_dense(size_t n_outputs);

/* An activation layer (width unchanged). NULL for an unknown kind. */
BSNN_API bsnn_layer *bsnn_layer_activation(bsnn_activation kind);

/* Batch normalization per feature (Ioffe & Szegedy 2015), width unchanged:
 * y = gamma (x - mean) / sqrt(var + eps) + beta, gamma 1 and beta 0 at start
 * (parameters gamma [n] then beta [n], never weight-decayed). Training mode
 * uses the batch's mean and biased variance and updates running averages,
 * running = (1 - momentum) running + momentum batch (BSNN_LAYER_MOMENTUM,
 * default 0.1; variance entered unbiased), kept only when the update is
 * accepted (a rejected step leaves them); evaluation mode uses the running
 * averages (initially 0 and 1) and changes nothing. A training-mode step on
 * ONE row is an error (BSNN_E_ARG: no variance), including a scheduler's
 * partial last batch of 1 row (avoid it with BSNN_SCHED_DROP_LAST); partial
 * batches of 2 or more rows, and each micro-batch when gradients are
 * accumulated, are normalised with their own statistics. NULL on out of
 * memory. */
BSNN_API bsnn_layer *bsnn_layer_batchnorm(void);

/* Inverted dropout, width unchanged: in training mode each element is zeroed
 * with probability rate and the kept ones are scaled by 1 / (1 - rate); in
 * evaluation mode the identity. A mask is a hash of the layer's seed
 * (BSNN_LAYER_SEED, default 0), its index in the model, the number of
 * accepted updates it has taken part in, and the row's index in the
 * update's batch: the same for every thread count and micro-batch split,
 * and not moved by a rejected step. The count restarts with
 * bsnn_model_init_params and when the seed is set. NULL when rate is not
 * in [0, 1) or out of memory. */
BSNN_API bsnn_layer *bsnn_layer_dropout(double rate);

/* Layer normalization over the features of each row (Ba, Kiros & Hinton
 * 2016), width unchanged: y = gamma (x - mean_row) / sqrt(var_row + eps) +
 * beta with the row's mean and biased variance, eps BSNN_LAYER_EPS (1e-5);
 * parameters gamma [n] (1 at start) then beta [n] (0), never weight-decayed
 * under BSNN_DECAY_WEIGHTS. The same in training and evaluation mode, and
 * independent of the batch: any batch size, one row included, gives each
 * row the same output. NULL on out of memory. */
BSNN_API bsnn_layer *bsnn_layer_layernorm(void);

/* Fixed per-feature standardisation, width count: y = (x - mean) / std, with
 * mean[count] and std[count] copied into the layer (finite, std > 0). No
 * trainable parameters: the statistics are state, saved with the model, left
 * alone by bsnn_model_init_params and training, so a model trained on
 * standardised rows predicts right on raw rows (bsnn_dataset_input_stats
 * computes them). Adding it to a model whose width is not count fails with
 * BSNN_E_SHAPE. NULL on NULL arrays, count 0, a bad value (named in the
 * message) or out of memory. */
BSNN_API bsnn_layer *bsnn_layer_standardize(const float *mean, const float *std, size_t count);

/* Release a layer that was NOT handed to bsnn_model_add. NULL is a no-op.
 * A layer a model owns is left alone (the model frees it): the call records
 * a message (bsnn_last_error) and frees nothing. A layer whose
 * bsnn_model_add failed is already freed: do not call this on it. */
BSNN_API void bsnn_layer_free(bsnn_layer *layer);

/* The kind of a layer, or BSNN_LAYER_NONE when layer is NULL. */
BSNN_API bsnn_layer_kind bsnn_layer_kind_of(const bsnn_layer *layer);

/* Set a numeric setting. Errors: BSNN_E_NULL; BSNN_E_ARG when the setting
 * does not apply to this kind or the value is out of bounds (see
 * bsnn_layer_bounds); the old value is kept then. */
BSNN_API bsnn_status bsnn_layer_set(bsnn_layer *layer, bsnn_layer_param param, double value);

/* Read a numeric setting into *out. Errors: BSNN_E_NULL, BSNN_E_ARG (also a
 * seed beyond 2^53: read it with bsnn_layer_get_seed). */
BSNN_API bsnn_status bsnn_layer_get(double *out, const bsnn_layer *layer, bsnn_layer_param param);

/* The valid range of a setting for a layer kind, as every bsnn_X_bounds (see
 * the conventions). Errors: BSNN_E_NULL, BSNN_E_ARG when the setting does
 * not apply to the kind. */
BSNN_API bsnn_status bsnn_layer_bounds(double *out_lo, double *out_hi, unsigned *out_open,
                                       bsnn_layer_kind kind, bsnn_layer_param param);

/* The seed of a layer that has one (dropout: BSNN_LAYER_SEED), every
 * uint64_t value. Setting it restarts the layer's generator. Errors:
 * BSNN_E_NULL, BSNN_E_ARG when the kind has no seed. */
BSNN_API bsnn_status bsnn_layer_set_seed(bsnn_layer *layer, uint64_t seed);
BSNN_API bsnn_status bsnn_layer_get_seed(uint64_t *out, const bsnn_layer *layer);

/* ------------------------------------------------------------------------ */
/* Optimizers (update rules)                                                */
/* ------------------------------------------------------------------------ */

/* Update rules. Each computes what torch.optim (PyTorch 1.13) computes, with
 * PyTorch's defaults; BSNN_OPT_VARIANT selects the form of Ruder's survey
 * instead where the two differ (docs/optimizers.md: every formula, side by
 * side). g is the batch-mean gradient (plus L1/L2 penalty gradients), t counts
 * updates since bind/reset, bc1 = 1 - b1^t, bc2 = 1 - b2^t; the Adam family
 * keeps m = b1 m + (1-b1) g and v = b2 v + (1-b2) g^2.
 *  SGD       theta -= lr g                                   lr 0.01
 *  MOMENTUM  b = mu b + g; theta -= lr b                     lr 0.01, mu 0.9
 *  NESTEROV  b = mu b + g; theta -= lr (g + mu b)            lr 0.01, mu 0.9
 *            (torch's nesterov=True: g is taken at the stored parameters)
 *  ADAGRAD   G += g^2; theta -= lr g / (sqrt(G) + eps)       lr 0.01, eps 1e-10
 *  ADADELTA  Zeiler's rule, lr a plain multiplier            lr 1, rho 0.9, eps 1e-6
 *  RMSPROP   E = rho E + (1-rho) g^2; theta -= lr g / (sqrt(E) + eps)
 *                                                            lr 0.01, rho 0.99, eps 1e-8
 *  ADAM      theta -= lr/bc1 m / (sqrt(v/bc2) + eps)         lr 0.001, b1 0.9, b2 0.999, eps 1e-8
 *  ADAMAX    u = max(b2 u, |g| + eps); theta -= lr/bc1 m / u lr 0.002, b1 0.9, b2 0.999, eps 1e-8
 *  NADAM     Dozat's momentum schedule (torch.optim.NAdam)   lr 0.002, b1 0.9, b2 0.999, eps 1e-8,
 *                                                            momentum_decay 0.004
 *  AMSGRAD   Adam with vmax = max(vmax, v) in place of v     as ADAM
 *  ADAMW     theta *= 1 - lr wd, then ADAM; every parameter (BSNN_OPT_DECAY_SCOPE
 *            can exclude biases and batch-norm gamma/beta)  as ADAM, wd 0.01 */
typedef enum bsnn_optimizer_kind {
    BSNN_OPTIMIZER_NONE = 0, /* no optimizer (bsnn_optimizer_kind_of(NULL)) */
    BSNN_SGD = 1,
    BSNN_MOMENTUM = 2,
    BSNN_NESTEROV = 3,
    BSNN_ADAGRAD = 4,
    BSNN_ADADELTA = 5,
    BSNN_RMSPROP = 6,
    BSNN_ADAM = 7,
    BSNN_ADAMAX = 8,
    BSNN_NADAM = 9,
    BSNN_AMSGRAD = 10,
    BSNN_ADAMW = 11
} bsnn_optimizer_kind;

/* Hyperparameters, for bsnn_optimizer_set / _get / _bounds. Setting or
 * reading one that the rule does not use is an error (BSNN_E_ARG). */
typedef enum bsnn_opt_param {
    BSNN_OPT_LR = 1,            /* learning rate, every rule (0, 1e6]         */
    BSNN_OPT_MOMENTUM = 2,      /* momentum, Nesterov: mu in [0,1)            */
    BSNN_OPT_BETA1 = 3,         /* Adam family: first-moment decay [0,1)      */
    BSNN_OPT_BETA2 = 4,         /* Adam family: second-moment decay [0,1)     */
    BSNN_OPT_EPS = 5,           /* Adagrad, Adadelta, RMSprop, Adam family:
                                   denominators' epsilon (0, 1]               */
    BSNN_OPT_RHO = 6,           /* Adadelta / RMSprop decay [0,1) (RMSprop:
                                   torch's alpha)                             */
    BSNN_OPT_WEIGHT_DECAY = 7,  /* AdamW: decoupled decay [0, 1e6], with
                                   lr * weight_decay < 1                      */
    BSNN_OPT_VARIANT = 8,       /* momentum, Nesterov, Adagrad, RMSprop,
                                   AdaMax, Nadam, AMSGrad: a bsnn_opt_variant
                                   (default BSNN_VARIANT_PYTORCH)             */
    BSNN_OPT_DECAY_SCOPE = 9,   /* AdamW: a bsnn_decay_scope (default ALL)    */
    BSNN_OPT_MOMENTUM_DECAY = 10 /* Nadam: psi of mu_t = b1 (1 - 0.96^(t psi)
                                   / 2), [0, 1e6], default 0.004              */
} bsnn_opt_param;

/* Values of BSNN_OPT_VARIANT: which formula a rule computes. */
typedef enum bsnn_opt_variant {
    BSNN_VARIANT_PYTORCH = 0,   /* torch.optim's update (the default)         */
    BSNN_VARIANT_RUDER = 1      /* the form in Ruder's survey (arXiv:1609.04747),
                                   as bsnn 0.2 computed it: lr inside the
                                   velocity (momentum, Nesterov), eps inside
                                   the root (Adagrad, RMSprop), eps added to
                                   u (AdaMax), constant b1 (Nadam), no bias
                                   correction (AMSGrad)                       */
} bsnn_opt_variant;

/* Values of BSNN_OPT_DECAY_SCOPE: which parameters AdamW decays. */
typedef enum bsnn_decay_scope {
    BSNN_DECAY_ALL = 0,         /* every parameter, as torch.optim.AdamW      */
    BSNN_DECAY_WEIGHTS = 1      /* dense-layer weights only (not biases, not
                                   batch-norm gamma/beta), as bsnn 0.2 did    */
} bsnn_decay_scope;

/* A new optimizer of the given kind with PyTorch's defaults (PyTorch's form;
 * AdamW decays every parameter). Its state (moments, accumulators: 0 to 3
 * floats per parameter) is allocated when it is first used with a model and
 * bound to that model until bsnn_optimizer_reset, even after that model is
 * freed (training another model with it is BSNN_E_STATE); a training step
 * then allocates nothing. NULL on unknown kind or out of memory. */
BSNN_API bsnn_optimizer *bsnn_optimizer_create(bsnn_optimizer_kind kind);

/* Release an optimizer. NULL is a no-op. */
BSNN_API void bsnn_optimizer_free(bsnn_optimizer *opt);

/* The kind an optimizer was created with, or BSNN_OPTIMIZER_NONE when opt
 * is NULL. */
BSNN_API bsnn_optimizer_kind bsnn_optimizer_kind_of(const bsnn_optimizer *opt);

/* Set a hyperparameter; takes effect at the next update. Errors:
 * BSNN_E_NULL; BSNN_E_ARG when the parameter does not apply to this rule, the
 * value is non-finite or outside bsnn_optimizer_bounds (beta1 >= 1, eps <= 0,
 * lr <= 0, ...), not a whole number for an enum-valued setting (VARIANT,
 * DECAY_SCOPE), or it makes lr * weight_decay >= 1 for AdamW. A failed call
 * leaves the optimizer unchanged. */
BSNN_API bsnn_status bsnn_optimizer_set(bsnn_optimizer *opt, bsnn_opt_param param, double value);

/* Read a hyperparameter into *out. Errors: BSNN_E_NULL, BSNN_E_ARG. */
BSNN_API bsnn_status bsnn_optimizer_get(double *out, const bsnn_optimizer *opt,
                                        bsnn_opt_param param);

/* The valid range of a hyperparameter for a rule, as every bsnn_X_bounds
 * (e.g. lr: (0, 1e6], *out_open == BSNN_BOUND_LO_OPEN). Errors: BSNN_E_NULL,
 * BSNN_E_ARG (unknown kind, or a parameter the rule does not use). */
BSNN_API bsnn_status bsnn_optimizer_bounds(double *out_lo, double *out_hi, unsigned *out_open,
                                           bsnn_optimizer_kind kind, bsnn_opt_param param);

/* Forget the accumulated state (moments, step count) and the binding to a
 * model, keeping the hyperparameters. Errors: BSNN_E_NULL. */
BSNN_API bsnn_status bsnn_optimizer_reset(bsnn_optimizer *opt);

/* ------------------------------------------------------------------------ */
/* Datasets                                                                 */
/* ------------------------------------------------------------------------ */

/* bsnn_dataset: rows of inputs with their targets, stored as two row-major
 * float arrays; made from arrays, generators or files. */

/* A dataset holding copies of n rows: inputs x [n][n_inputs] and targets
 * y [n][n_targets]. NULL on NULL arrays, zero sizes, non-finite values or out
 * of memory. */
BSNN_API bsnn_dataset *bsnn_dataset_create(const float *x, const float *y, size_t n,
                                           size_t n_inputs, size_t n_targets);

/* The same without a copy: the dataset borrows x and y (zero-copy FFI), which
 * the caller keeps alive and unchanged (finite) while the dataset is used;
 * bsnn never writes or frees them (bsnn_dataset_standardize refuses it with
 * BSNN_E_STATE). Checked for finiteness once, here. NULL as above. */
BSNN_API bsnn_dataset *bsnn_dataset_wrap(const float *x, const float *y, size_t n,
                                         size_t n_inputs, size_t n_targets);

/* The n-bit parity set: all 2^bits rows of 0/1 inputs, target 1 when an odd
 * number of bits is set, else 0, in counting order. bits in 1..20. */
BSNN_API bsnn_dataset *bsnn_dataset_parity(int bits);

/* Release a dataset. NULL is a no-op. */
BSNN_API void bsnn_dataset_free(bsnn_dataset *ds);

/* Number of rows, inputs per row, targets per row (0 when ds is NULL). */
BSNN_API size_t bsnn_dataset_size(const bsnn_dataset *ds);
BSNN_API size_t bsnn_dataset_n_inputs(const bsnn_dataset *ds);
BSNN_API size_t bsnn_dataset_n_targets(const bsnn_dataset *ds);

/* Read-only views of the row-major input and target arrays (NULL when ds is
 * NULL); valid until the dataset is freed. */
BSNN_API const float *bsnn_dataset_inputs(const bsnn_dataset *ds);
BSNN_API const float *bsnn_dataset_targets(const bsnn_dataset *ds);

/* Split ds into two new datasets: a random `fraction` (0 < fraction < 1) of
 * the rows, chosen by a Fisher-Yates shuffle from `seed`, goes to *out_first,
 * the rest to *out_second, both keeping the shuffled order. Each part gets at
 * least one row. Errors: BSNN_E_NULL, BSNN_E_ARG, BSNN_E_NOMEM. */
BSNN_API bsnn_status bsnn_dataset_split(bsnn_dataset **out_first, bsnn_dataset **out_second,
                                        const bsnn_dataset *ds, double fraction,
                                        uint64_t seed);

/* --- Generators and loaders --- */

/* The TensorFlow Playground's data sets (tensorflow/playground, dataset.ts),
 * generated with bsnn's own seeded generator. The formulas and the order of
 * the random draws are the Playground's, but its ARC4 (seedrandom) stream is
 * not reproduced, so a seed gives other points than the web page does. */
typedef enum bsnn_playground {
    BSNN_PG_CIRCLE = 1,      /* class: +1 inside radius 2.5, -1 on the ring 3.5..5 */
    BSNN_PG_XOR = 2,         /* class: +1 when x1*x2 >= 0                          */
    BSNN_PG_GAUSS = 3,       /* class: +1 around (2,2), -1 around (-2,-2)          */
    BSNN_PG_SPIRAL = 4,      /* class: two arms turning 1.75 times, +1 and -1      */
    BSNN_PG_PLANE = 5,       /* regression: (x1 + x2) / 10                         */
    BSNN_PG_MULTI_GAUSS = 6  /* regression: six signed bumps in [-1, 1]            */
} bsnn_playground;

/* Flags of bsnn_dataset_playground. */
typedef enum bsnn_pg_flag {
    BSNN_PG_LABELS_01 = 1    /* classification targets 1/0 instead of +1/-1 */
} bsnn_pg_flag;

/* n points of a Playground set: inputs (x1, x2) in [-6, 6]-ish, one target.
 * Classification sets hold n/2 points of each class (first +1, then -1, in
 * generation order: split with bsnn_dataset_split to shuffle) and need an
 * even n >= 2; regression sets any n >= 1. noise in [0, 1] is the value the
 * Playground's generator sees (its slider / 100, so 0..0.5). The Playground
 * uses n = 500 for classification and 1200 for regression. flags: OR of
 * bsnn_pg_flag. NULL on an unknown set, bad n or noise, unknown flag bits,
 * or out of memory. */
BSNN_API bsnn_dataset *bsnn_dataset_playground(bsnn_playground set, size_t n, double noise,
                                               uint64_t seed, unsigned flags);

/* Input features of the Playground, as bits of a mask; the columns come out
 * in this order. */
typedef enum bsnn_feature {
    BSNN_FEAT_X1 = 1,
    BSNN_FEAT_X2 = 2,
    BSNN_FEAT_X1_SQ = 4,     /* x1^2      */
    BSNN_FEAT_X2_SQ = 8,     /* x2^2      */
    BSNN_FEAT_X1_X2 = 16,    /* x1 * x2   */
    BSNN_FEAT_SIN_X1 = 32,   /* sin(x1)   */
    BSNN_FEAT_SIN_X2 = 64    /* sin(x2)   */
} bsnn_feature;

/* A new dataset whose inputs are the features in `mask` (OR of bsnn_feature,
 * nonzero) computed from a 2-input dataset, targets copied. NULL when ds is
 * NULL, does not have 2 inputs, the mask is 0 or has unknown bits, or out of
 * memory. */
BSNN_API bsnn_dataset *bsnn_dataset_features(const bsnn_dataset *ds, unsigned mask);

/* The 1-D toy of the batch-size study: 6 training and 2 test points (x, y)
 * on x in [-1, 1] from y = 0.8 sin(3x) with small offsets; the test points
 * (x = -0.5 and 0.7) are the curve's extremes between training points,
 * where GD, small batches and SGD learn different functions (docs/guide.md).
 * Errors: BSNN_E_NULL, BSNN_E_NOMEM. */
BSNN_API bsnn_status bsnn_dataset_toy1d(bsnn_dataset **out_train, bsnn_dataset **out_test);

/* Per-input-column mean and standard deviation (population, computed in
 * double) of ds, written to out_mean[count] and out_std[count] with count =
 * bsnn_dataset_n_inputs(ds); a constant column gets std 1. Fit it on the
 * training set only. Errors: BSNN_E_NULL, BSNN_E_SHAPE. */
BSNN_API bsnn_status bsnn_dataset_input_stats(float *out_mean, float *out_std, size_t count,
                                              const bsnn_dataset *ds);

/* Standardise the inputs of ds in place: x = (x - mean) / std per column,
 * with count = bsnn_dataset_n_inputs(ds). Errors: BSNN_E_NULL, BSNN_E_SHAPE,
 * BSNN_E_ARG when a std is not finite and > 0 or a mean is not finite. */
BSNN_API bsnn_status bsnn_dataset_standardize(bsnn_dataset *ds, const float *mean,
                                              const float *std, size_t count);

/* A new dataset with the same inputs and one-hot targets: ds must have one
 * target column of whole numbers in 0..n_classes-1 (class k becomes row
 * e_k of width n_classes). NULL when ds is NULL, has several target
 * columns, n_classes < 2, a label is out of range, or out of memory. */
BSNN_API bsnn_dataset *bsnn_dataset_one_hot(const bsnn_dataset *ds, size_t n_classes);

/* Read a CSV file of numbers: fields separated by ',', optional spaces,
 * LF or CRLF line ends, blank lines skipped. header: 1 the first line is a
 * header, 0 it is data, -1 detect it (a header when any of its fields is not
 * a number; a UTF-8 byte-order mark is skipped, and nan / inf are errors,
 * not header signals). target_cols[n_targets] are 0-based column indices
 * that become the targets (in that order); every other column is an input.
 * The file is read twice (count, then fill) so memory is the float arrays
 * only; it must be a regular file (a FIFO, device or directory is refused at
 * once, without blocking). NULL on failure; the message names the file, line
 * and column (a ragged row, a field that is not a number a float can hold:
 * nan, inf, beyond +-3.4028235e38; an empty file, a target index out of
 * range). */
BSNN_API bsnn_dataset *bsnn_dataset_load_csv(const char *path, int header,
                                             const size_t *target_cols, size_t n_targets);

/* Read an MNIST-style pair of uncompressed IDX files: images (any item shape,
 * flattened row-major into the inputs; unsigned bytes are scaled to [0, 1],
 * other element types kept as stored) and labels (a rank-1 IDX of whole
 * numbers, one target column holding the class index: see
 * bsnn_dataset_one_hot). max_rows > 0 keeps only the first max_rows items.
 * Gzipped files must be decompressed by the caller (bsnn does not link
 * zlib; a gzip file is named as such). Both must be regular files (refused
 * at once otherwise). NULL on failure; the message names the file and byte
 * offset (bad magic, truncated data, declared sizes larger than the file,
 * counts that differ, non-finite values). */
BSNN_API bsnn_dataset *bsnn_dataset_load_idx(const char *images_path, const char *labels_path,
                                             size_t max_rows);

/* ------------------------------------------------------------------------ */
/* Batch scheduler                                                          */
/* ------------------------------------------------------------------------ */

/* bsnn_scheduler decides which samples form each batch of an epoch and how
 * the batch size evolves. Iterate it by hand with bsnn_scheduler_next, or
 * hand it to bsnn_model_train. */

/* Settings, for bsnn_scheduler_set / _get / _bounds. */
typedef enum bsnn_sched_param {
    BSNN_SCHED_BATCH_SIZE = 1,  /* samples per batch, 1..N (default 32, clamped to N) */
    BSNN_SCHED_FULL_BATCH = 2,  /* 1: every batch is all N samples (GD)      */
    BSNN_SCHED_SHUFFLE = 3,     /* 1: new random order each epoch (default 1) */
    BSNN_SCHED_SEED = 4,        /* shuffle seed (default 0; typed:
                                   bsnn_scheduler_set_seed)                  */
    BSNN_SCHED_DROP_LAST = 5,   /* 1: skip the partial last batch (default 0) */
    BSNN_SCHED_CARRY_OVER = 6,  /* 1: Playground batching: the partial last
                                   batch joins the next epoch's first batch  */
    /* Batch-size schedule (docs/scheduler.md has every formula). */
    BSNN_SCHED_BATCH_SCHEDULE = 7, /* a bsnn_batch_schedule (default CONSTANT) */
    BSNN_SCHED_GROWTH_FACTOR = 8,  /* GEOMETRIC: factor f > 1 (default 2);
                                      ADAPTIVE: largest change per epoch    */
    BSNN_SCHED_GROWTH_EVERY = 9,   /* GEOMETRIC: every k >= 1 epochs (default 1) */
    BSNN_SCHED_BATCH_CAP = 10,     /* GEOMETRIC, ADAPTIVE: largest batch,
                                      BATCH_SIZE..N (default 0: N)           */
    /* Learning-rate schedule, scaling and warmup: the lr of each update is
     * base * schedule(epoch) * scaling(B) * warmup(update). */
    BSNN_SCHED_LR_SCHEDULE = 11,   /* a bsnn_lr_schedule (default CONSTANT)    */
    BSNN_SCHED_LR_DECAY = 12,      /* STEP / EXPONENTIAL: factor gamma in (0,1]
                                      (default 0.1)                          */
    BSNN_SCHED_LR_STEP_EPOCHS = 13, /* STEP: decay every s >= 1 epochs (10);
                                      COSINE: period T >= 1 epochs           */
    BSNN_SCHED_LR_MIN_FACTOR = 14, /* COSINE: floor as a fraction of base [0,1] (0) */
    BSNN_SCHED_WARMUP_STEPS = 15,  /* linear warmup over W >= 0 updates (0: off) */
    BSNN_SCHED_LR_SCALING = 16,    /* a bsnn_lr_scaling (default NONE)          */
    BSNN_SCHED_BASE_BATCH = 17,    /* B0 >= 1 of the scaling rule (default 32)  */
    /* Gradient accumulation and memory. */
    BSNN_SCHED_MICRO_BATCH = 18,   /* process each batch m >= 1 rows at a time,
                                      one update per batch (default 0: off)  */
    BSNN_SCHED_MEMORY_BUDGET = 19, /* bytes bsnn_model_train may use for model,
                                      optimizer and workspace; batches that do
                                      not fit are split (default 0: none;
                                      typed: bsnn_scheduler_set_memory_budget) */
    /* The adaptive batch size (BSNN_BATCH_ADAPTIVE; also GROWTH_FACTOR, the
     * largest change per epoch, and BATCH_CAP, the largest batch). */
    BSNN_SCHED_BATCH_MIN = 20,     /* ADAPTIVE: smallest batch, 1..N (default 1) */
    BSNN_SCHED_BATCH_POW2 = 21,    /* ADAPTIVE: 1 rounds to powers of two (0) */
    BSNN_SCHED_NOISE_TARGET = 22   /* ADAPTIVE: the batch aims at this multiple
                                      of the measured B_simple, (0, 1e6] (1) */
} bsnn_sched_param;

/* Batch-size schedules (BSNN_SCHED_BATCH_SCHEDULE). */
typedef enum bsnn_batch_schedule {
    BSNN_BATCH_CONSTANT = 0,  /* BATCH_SIZE every epoch                        */
    BSNN_BATCH_STEPS = 1,     /* list from bsnn_scheduler_set_batch_steps      */
    BSNN_BATCH_GEOMETRIC = 2, /* min(cap, floor(B * f^floor(e/k))) (Smith et al.
                                 2017, "Don't decay the learning rate, increase
                                 the batch size")                          */
    BSNN_BATCH_ADAPTIVE = 3   /* epoch 0: BATCH_SIZE; then the last epoch's
                                 batch moved toward NOISE_TARGET x the model's
                                 B_simple (bsnn_scheduler_observe_noise; kept
                                 while none), by at most a factor
                                 GROWTH_FACTOR, within [BATCH_MIN, cap]    */
} bsnn_batch_schedule;

/* Learning-rate schedules (BSNN_SCHED_LR_SCHEDULE); e is the epoch (0-based). */
typedef enum bsnn_lr_schedule {
    BSNN_LR_CONSTANT = 0,     /* 1                                             */
    BSNN_LR_STEP = 1,         /* gamma^floor(e/s)                              */
    BSNN_LR_EXPONENTIAL = 2,  /* gamma^e                                       */
    BSNN_LR_COSINE = 3        /* mn + (1-mn)(1+cos(pi min(e,T)/T))/2 (Loshchilov
                                 and Hutter 2017, without restarts)        */
} bsnn_lr_schedule;

/* Scaling of the lr with the epoch's batch size B (BSNN_SCHED_LR_SCALING). */
typedef enum bsnn_lr_scaling {
    BSNN_SCALE_NONE = 0,      /* 1                                             */
    BSNN_SCALE_LINEAR = 1,    /* B / B0 (Goyal et al. 2017)                    */
    BSNN_SCALE_SQRT = 2,      /* sqrt(B / B0) (Krizhevsky 2014; Hoffer et al. 2017) */
    BSNN_SCALE_ADASCALE = 3   /* AdaScale's gain (Johnson et al. 2020)
                                 (var + sqr) / (var / s + sqr), s = B / B0,
                                 sqr the |G|^2 and var the tr(Sigma) / B0
                                 last observed: (1 + Bs/B0) / (1 + Bs/B)
                                 with Bs = B_simple, between 1 and s; 1
                                 before any observation                    */
} bsnn_lr_scaling;

/* A scheduler over n_samples samples (>= 1) with the defaults above. NULL on
 * n_samples == 0 or out of memory. */
BSNN_API bsnn_scheduler *bsnn_scheduler_create(size_t n_samples);

/* Release a scheduler. NULL is a no-op. */
BSNN_API void bsnn_scheduler_free(bsnn_scheduler *s);

/* Change a setting. Batch settings take effect at the start of the next
 * epoch (the current epoch's order and batch size are kept); lr, micro-batch
 * and budget settings at the next update. Errors: BSNN_E_NULL; BSNN_E_ARG for
 * an unknown setting or a value out of bounds (see bsnn_scheduler_bounds;
 * e.g. a batch size of 0 or > N, a growth factor <= 1, a negative warmup);
 * the old value is kept then. */
BSNN_API bsnn_status bsnn_scheduler_set(bsnn_scheduler *s, bsnn_sched_param param, double value);

/* Read a setting into *out. Errors: BSNN_E_NULL, BSNN_E_ARG (also a seed or
 * budget beyond 2^53: read those with the typed getters below). */
BSNN_API bsnn_status bsnn_scheduler_get(double *out, const bsnn_scheduler *s,
                                        bsnn_sched_param param);

/* The valid range of a setting for this scheduler (some depend on N and the
 * batch size), as every bsnn_X_bounds; a batch cap is 0 or in the range.
 * Errors: BSNN_E_NULL, BSNN_E_ARG. */
BSNN_API bsnn_status bsnn_scheduler_bounds(double *out_lo, double *out_hi, unsigned *out_open,
                                           const bsnn_scheduler *s, bsnn_sched_param param);

/* The shuffle seed (BSNN_SCHED_SEED), every uint64_t value; setting it
 * restarts the generator as BSNN_SCHED_SEED does. Errors: BSNN_E_NULL. */
BSNN_API bsnn_status bsnn_scheduler_set_seed(bsnn_scheduler *s, uint64_t seed);
BSNN_API bsnn_status bsnn_scheduler_get_seed(uint64_t *out, const bsnn_scheduler *s);

/* The memory budget in bytes (BSNN_SCHED_MEMORY_BUDGET, 0: none), every
 * size_t value; takes effect at the next update. Errors: BSNN_E_NULL. */
BSNN_API bsnn_status bsnn_scheduler_set_memory_budget(bsnn_scheduler *s, size_t bytes);
BSNN_API bsnn_status bsnn_scheduler_get_memory_budget(size_t *out, const bsnn_scheduler *s);

/* The next batch: *out_indices points at *out_count sample indices (owned by
 * the scheduler, valid until the next call), and *out_epoch_end is 1 when this
 * batch is the last of its epoch. Errors: BSNN_E_NULL. */
BSNN_API bsnn_status bsnn_scheduler_next(const size_t **out_indices, size_t *out_count,
                                         int *out_epoch_end, bsnn_scheduler *s);

/* Restart at epoch 0, step 0 with the original seed, forgetting the
 * observed noise scale. Errors: BSNN_E_NULL. */
BSNN_API bsnn_status bsnn_scheduler_reset(bsnn_scheduler *s);

/* Hand m's current noise-scale estimate (bsnn_model_noise: |G|^2 and
 * tr(Sigma)) to s, for BSNN_BATCH_ADAPTIVE and BSNN_SCALE_ADASCALE: the
 * next lr and the next epoch's batch use it. bsnn_model_train does this
 * after every update; a host iterating by hand calls it after each
 * bsnn_model_train_step. A model without observations leaves s as it was.
 * Errors: BSNN_E_NULL. */
BSNN_API bsnn_status bsnn_scheduler_observe_noise(bsnn_scheduler *s, const bsnn_model *m);

/* Completed epochs, and batches handed out in the current epoch. */
BSNN_API size_t bsnn_scheduler_epoch(const bsnn_scheduler *s);
BSNN_API size_t bsnn_scheduler_step(const bsnn_scheduler *s);

/* The batch size the current (or, between epochs, next) epoch uses. */
BSNN_API size_t bsnn_scheduler_batch_size(const bsnn_scheduler *s);

/* Number of samples the scheduler was made for. */
BSNN_API size_t bsnn_scheduler_n_samples(const bsnn_scheduler *s);

/* Batch-size steps for BSNN_BATCH_STEPS: from epoch epochs[i] on, batches
 * hold sizes[i] samples; before epochs[0], BATCH_SIZE. epochs must be
 * strictly increasing, sizes in 1..N; the lists are copied. count 0 clears
 * them. Errors: BSNN_E_NULL, BSNN_E_ARG, BSNN_E_NOMEM (old list kept). */
BSNN_API bsnn_status bsnn_scheduler_set_batch_steps(bsnn_scheduler *s, const size_t *epochs,
                                                    const size_t *sizes, size_t count);

/* The batch size the schedule gives epoch `epoch` (0-based), ignoring the
 * memory budget (which splits batches, never changes them). ADAPTIVE, whose
 * future depends on the measurements: the current epoch's batch whatever
 * the epoch asked (between epochs, the one the next would take now). 0 if
 * s is NULL. */
BSNN_API size_t bsnn_scheduler_batch_size_at(const bsnn_scheduler *s, size_t epoch);

/* The learning rate of the update for the batch last returned by
 * bsnn_scheduler_next (before the first call: of the first batch), given the
 * optimizer's base rate base_lr > 0: base_lr * schedule * scaling * warmup.
 * bsnn_model_train uses exactly this. Errors: BSNN_E_NULL, BSNN_E_ARG. */
BSNN_API bsnn_status bsnn_scheduler_lr(double *out, const bsnn_scheduler *s, double base_lr);

/* Updates (batches) handed out since the start (or reset): the warmup clock. */
BSNN_API size_t bsnn_scheduler_total_steps(const bsnn_scheduler *s);

/* Move to the start of batch `step` of epoch `epoch`, as if reset and
 * iterated there, so the remaining batches, sizes and lrs are those of an
 * uninterrupted run with the current settings (the observed noise scale is
 * forgotten, as by a reset). Errors: BSNN_E_NULL; BSNN_E_STATE under
 * BSNN_BATCH_ADAPTIVE, whose sizes a replay cannot know (use a checkpoint);
 * BSNN_E_ARG when step is beyond the epoch's batches (the scheduler is then
 * reset to epoch 0), or when (epoch + 1) * N exceeds 2^28 samples (nothing
 * changes then: resume long runs from a checkpoint). Cost: one shuffle per
 * skipped epoch, at most about 2 s. */
BSNN_API bsnn_status bsnn_scheduler_seek(bsnn_scheduler *s, size_t epoch, size_t step);

/* Data-parallel sharding (docs/scheduler.md): with world_size W > 1, next
 * draws the same GLOBAL batch as one process and returns rank's contiguous
 * share of its c samples (c/W, one more for the first c mod W ranks; empty
 * when c < W); the lr uses the global batch; training needs a gradient hook
 * to combine the ranks. Not saved in checkpoints. (0, 1), the default, is
 * off. Errors: BSNN_E_NULL, BSNN_E_ARG (world_size 0, rank >= world_size). */
BSNN_API bsnn_status bsnn_scheduler_set_shard(bsnn_scheduler *s, size_t rank, size_t world_size);
BSNN_API bsnn_status bsnn_scheduler_get_shard(size_t *out_rank, size_t *out_world_size,
                                              const bsnn_scheduler *s);

/* ------------------------------------------------------------------------ */
/* Histories                                                                */
/* ------------------------------------------------------------------------ */

/* bsnn_history: per-epoch training records, filled by bsnn_model_train_ex. */

/* Columns of a history row, for bsnn_history_get. */
typedef enum bsnn_hist_field {
    BSNN_HIST_EPOCH = 1,        /* 0-based epoch index                         */
    BSNN_HIST_BATCH_SIZE = 2,   /* the epoch's scheduled batch size            */
    BSNN_HIST_LR = 3,           /* lr of the epoch's last update               */
    BSNN_HIST_TRAIN_LOSS = 4,   /* mean training loss over the epoch's samples */
    BSNN_HIST_VAL_LOSS = 5,     /* validation loss after the epoch (NaN: none) */
    BSNN_HIST_VAL_ACCURACY = 6, /* validation accuracy (NaN: none)             */
    BSNN_HIST_WALL_SECONDS = 7, /* seconds since this training call began      */
    BSNN_HIST_SAMPLES = 8,      /* samples seen since this training call began */
    BSNN_HIST_UPDATES = 9,      /* updates since this training call began      */
    BSNN_HIST_NOISE_GRAD_SQ = 10, /* the model's noise-scale estimates after the
                                     epoch (bsnn_model_noise; NaN: none): |G|^2 */
    BSNN_HIST_NOISE_TRACE = 11, /* tr(Sigma)                                   */
    BSNN_HIST_B_SIMPLE = 12     /* B_simple = tr(Sigma) / |G|^2                */
} bsnn_hist_field;

/* An empty history. NULL on out of memory. */
BSNN_API bsnn_history *bsnn_history_create(void);

/* Release a history. NULL is a no-op. */
BSNN_API void bsnn_history_free(bsnn_history *h);

/* Number of rows (0 when h is NULL). */
BSNN_API size_t bsnn_history_size(const bsnn_history *h);

/* Forget every row (keeps the memory). Errors: BSNN_E_NULL. */
BSNN_API bsnn_status bsnn_history_clear(bsnn_history *h);

/* Read column `field` of row `row` into *out. Errors: BSNN_E_NULL,
 * BSNN_E_ARG (row out of range or unknown field). */
BSNN_API bsnn_status bsnn_history_get(double *out, const bsnn_history *h, size_t row,
                                      bsnn_hist_field field);

/* Write the history as CSV to path (a header line, then one line per row;
 * missing validation values are written as nan), atomically as
 * bsnn_model_save writes (temporary file, fsync, rename). Errors:
 * BSNN_E_NULL, BSNN_E_IO, BSNN_E_NOMEM. */
BSNN_API bsnn_status bsnn_history_write_csv(const bsnn_history *h, const char *path);

/* ------------------------------------------------------------------------ */
/* Models                                                                   */
/* ------------------------------------------------------------------------ */

/* bsnn_model: an ordered stack of layers, its parameters, gradients, and its
 * own workspace (grown to the largest batch it has seen). */

/* Objectives. Per-sample losses are averaged over the batch. A new model has
 * NONE: training needs a loss chosen with bsnn_model_set_loss.
 *  MSE: 1/2 * sum_j (o_j - t_j)^2 per sample (the classic backprop and
 *       Playground convention; the gradient is o - t).
 *  BCE_LOGITS: binary cross-entropy computed from the LAST LAYER'S RAW
 *       OUTPUT z (logits: no sigmoid layer, refused), targets in [0,1],
 *       summed over outputs: max(z,0) - z t + log(1 + exp(-|z|)).
 *  SOFTMAX_CE: softmax cross-entropy from logits (no softmax layer, refused;
 *       2 or more outputs) via log-sum-exp. Targets: one-hot (or probability)
 *       rows of n_outputs columns, OR one column of class indices
 *       0..n_outputs-1, whole numbers (PyTorch's CrossEntropyLoss with integer
 *       labels; n_outputs times less memory than one-hot).
 *  MSE_MEAN: 1/n_outputs * sum_j (o_j - t_j)^2 per sample, so the batch's
 *       value is the mean over rows AND outputs without the 1/2: PyTorch's
 *       MSELoss, Keras's 'mse' (a PyTorch learning rate means the same). */
typedef enum bsnn_loss {
    BSNN_LOSS_NONE = 0,      /* none chosen yet (a new model)              */
    BSNN_LOSS_MSE = 1,
    BSNN_LOSS_BCE_LOGITS = 2,
    BSNN_LOSS_SOFTMAX_CE = 3,
    BSNN_LOSS_MSE_MEAN = 4
} bsnn_loss;

/* Numeric settings of a model, for bsnn_model_set / _get / _bounds. The last
 * two are read-only here: each has one setter of its own. */
typedef enum bsnn_model_param {
    BSNN_MODEL_SEED = 1,          /* seed of weight initialisation (default 1;
                                     typed: bsnn_model_set_seed)             */
    BSNN_MODEL_THRESHOLD = 2,     /* one-output accuracy: class = output > this
                                     (after a sigmoid for BCE_LOGITS); 0.5   */
    BSNN_MODEL_INIT = 3,          /* default bsnn_init of dense layers (1..8) */
    BSNN_MODEL_TRAINING = 4,      /* read-only: 1 training mode, 0 evaluation
                                     (set with bsnn_model_set_training)      */
    BSNN_MODEL_LOSS = 5,          /* read-only: the bsnn_loss (0: none yet;
                                     set with bsnn_model_set_loss)           */
    BSNN_MODEL_NOISE_ROUTE = 6,   /* gradient statistics of every update: a
                                     bsnn_noise_route (default OFF)          */
    BSNN_MODEL_NOISE_DECAY = 7    /* weight of the past in the noise-scale
                                     averages, [0, 1] (default 0.99)         */
} bsnn_model_param;

/* A model for rows of n_inputs features, with no loss yet (BSNN_LOSS_NONE):
 * forward works at once; training needs bsnn_model_set_loss first. NULL
 * when n_inputs is 0 or out of memory. */
BSNN_API bsnn_model *bsnn_model_create(size_t n_inputs);

/* Release a model and every layer it owns. NULL is a no-op. */
BSNN_API void bsnn_model_free(bsnn_model *m);

/* Append a layer. The layer is CONSUMED whatever the status: on success the
 * model owns it, on failure it is freed (even when m is NULL), so the caller
 * never frees it and bindings must drop their reference after this call.
 * The one exception is a layer that already belongs to a model (BSNN_E_STATE):
 * it stays with that model. New parameters are initialised from the model's
 * seed. Errors: BSNN_E_NULL, BSNN_E_ARG (sizes overflow), BSNN_E_SHAPE (a
 * layer made for another width: standardize), BSNN_E_STATE once training has
 * started, BSNN_E_NOMEM. */
BSNN_API bsnn_status bsnn_model_add(bsnn_model *m, bsnn_layer *layer);

/* The i-th layer (0-based), still owned by the model; NULL if out of range. */
BSNN_API bsnn_layer *bsnn_model_layer(bsnn_model *m, size_t i);

/* Number of layers, inputs and outputs (width of the last layer). */
BSNN_API size_t bsnn_model_n_layers(const bsnn_model *m);
BSNN_API size_t bsnn_model_n_inputs(const bsnn_model *m);
BSNN_API size_t bsnn_model_n_outputs(const bsnn_model *m);

/* Choose the objective; required before training. Errors: BSNN_E_NULL;
 * BSNN_E_ARG for an unknown kind or NONE, and for a loss that cannot work
 * with the current last layer (SOFTMAX_CE over one output, SOFTMAX_CE after
 * a softmax layer, BCE_LOGITS after a sigmoid layer): the message says why
 * and the old loss is kept. Layers added later are checked when training. */
BSNN_API bsnn_status bsnn_model_set_loss(bsnn_model *m, bsnn_loss loss);

/* Switch between training mode (1: dropout active, batch norm uses batch
 * statistics) and evaluation mode (0); the one way to set it (read it as
 * BSNN_MODEL_TRAINING). Forward and evaluate always run in evaluation mode;
 * this affects train steps only. Errors: BSNN_E_NULL. */
BSNN_API bsnn_status bsnn_model_set_training(bsnn_model *m, int training);

/* Set / read a numeric model setting. Setting the seed reinitialises the
 * parameters of the layers present, as bsnn_model_init_params. Errors:
 * BSNN_E_NULL, BSNN_E_ARG (also setting a read-only one, and reading a seed
 * beyond 2^53: use bsnn_model_get_seed); the noise route: BSNN_E_UNSUPPORTED
 * (per-sample with batch norm), BSNN_E_NOMEM (the micro-batch buffer). */
BSNN_API bsnn_status bsnn_model_set(bsnn_model *m, bsnn_model_param param, double value);
BSNN_API bsnn_status bsnn_model_get(double *out, const bsnn_model *m, bsnn_model_param param);

/* The valid range of a settable model setting, as every bsnn_X_bounds.
 * Errors: BSNN_E_NULL, BSNN_E_ARG (unknown or read-only setting). */
BSNN_API bsnn_status bsnn_model_bounds(double *out_lo, double *out_hi, unsigned *out_open,
                                       const bsnn_model *m, bsnn_model_param param);

/* The initialisation seed (BSNN_MODEL_SEED), every uint64_t value. Setting
 * it on a model with layers reinitialises them, as bsnn_model_init_params;
 * without layers it seeds the layers added later. Errors: BSNN_E_NULL. */
BSNN_API bsnn_status bsnn_model_set_seed(bsnn_model *m, uint64_t seed);
BSNN_API bsnn_status bsnn_model_get_seed(uint64_t *out, const bsnn_model *m);

/* Reinitialise every parameter from `seed` (each layer's initialiser) and
 * reset batch-norm statistics (standardize statistics are kept). Errors:
 * BSNN_E_NULL, BSNN_E_STATE (no layers). */
BSNN_API bsnn_status bsnn_model_init_params(bsnn_model *m, uint64_t seed);

/* Total number of trainable parameters (0 when m is NULL). */
BSNN_API size_t bsnn_model_param_count(const bsnn_model *m);

/* Copy all parameters, as one flat array of count floats, into out. Order:
 * layer by layer; a dense layer stores W [in][out] row-major then b [out]; a
 * batch-norm or layer-norm layer gamma [n] then beta [n]. Errors:
 * BSNN_E_NULL, BSNN_E_SHAPE when count != bsnn_model_param_count(m). */
BSNN_API bsnn_status bsnn_model_get_params(float *out, size_t count, const bsnn_model *m);

/* Overwrite all parameters from src (same order). Errors: BSNN_E_NULL,
 * BSNN_E_SHAPE, BSNN_E_ARG on non-finite values (nothing is changed then). */
BSNN_API bsnn_status bsnn_model_set_params(bsnn_model *m, const float *src, size_t count);

/* Copy the gradient of the last train step (mean over its batch, before the
 * update) in the parameter order. Errors: BSNN_E_NULL, BSNN_E_SHAPE. */
BSNN_API bsnn_status bsnn_model_get_grads(float *out, size_t count, const bsnn_model *m);

/* --- Inference ---
 * Inference on any number of rows, always in evaluation mode: x is
 * [n][n_inputs] (a rank-2 tensor, or rank >2 flattened after dim 0), out is
 * [n][n_outputs]. Never changes parameters or statistics. Uses the model's
 * own workspace, so it is NOT thread-safe: one thread at a time per model
 * (for several, bsnn_model_forward_ws). Errors: BSNN_E_NULL, BSNN_E_SHAPE,
 * BSNN_E_ARG (non-finite x), BSNN_E_STATE (no layers; inside m's gradient
 * hook), BSNN_E_NOMEM when the workspace must grow. */
BSNN_API bsnn_status bsnn_model_forward(bsnn_tensor *out, bsnn_model *m, const bsnn_tensor *x);

/* Mean loss and accuracy over ds in evaluation mode, processed batch_size
 * rows at a time (1..N; it changes the result only by float rounding:
 * products of different row counts may run different kernels). Accuracy: with one
 * output, or under BCE_LOGITS (multi-label), each output and target is
 * thresholded at BSNN_MODEL_THRESHOLD (outputs after a sigmoid for
 * BCE_LOGITS) and a row is right when all agree; otherwise argmax agreement.
 * out_loss and out_accuracy may be NULL; the loss needs one chosen (else
 * BSNN_E_STATE, as training), the accuracy alone does not. Uses the model's
 * own workspace (not thread-safe; see bsnn_model_evaluate_ws). Errors:
 * BSNN_E_NULL, BSNN_E_SHAPE, BSNN_E_ARG, BSNN_E_STATE (also inside m's
 * gradient hook), BSNN_E_NOMEM. */
BSNN_API bsnn_status bsnn_model_evaluate(double *out_loss, double *out_accuracy,
                                         bsnn_model *m, const bsnn_dataset *ds,
                                         size_t batch_size);

/* A workspace for inference on m from one thread: the activations and
 * scratch of a forward pass, grown to the largest batch it has served (a
 * call at or below that size allocates nothing). It serves only m (another
 * model is BSNN_E_ARG), adapts when layers are added to m, and may outlive
 * it (then it serves nothing). NULL when m is NULL or out of memory. */
BSNN_API bsnn_workspace *bsnn_workspace_create(const bsnn_model *m);

/* Release a workspace. NULL is a no-op. */
BSNN_API void bsnn_workspace_free(bsnn_workspace *ws);

/* bsnn_model_forward and bsnn_model_evaluate with the caller's workspace and
 * a const model: several threads may call these on ONE model at once, each
 * with its own workspace, while nothing changes the model (no training,
 * setters, set_params, init_params or added layers meanwhile, and no
 * bsnn_model_forward / bsnn_model_evaluate, which use the model's own
 * workspace). Results are bit-identical to the plain functions. Errors: as
 * those, plus BSNN_E_NULL for ws and BSNN_E_ARG for a workspace of another
 * model. */
BSNN_API bsnn_status bsnn_model_forward_ws(bsnn_tensor *out, const bsnn_model *m,
                                           bsnn_workspace *ws, const bsnn_tensor *x);
BSNN_API bsnn_status bsnn_model_evaluate_ws(double *out_loss, double *out_accuracy,
                                            const bsnn_model *m, bsnn_workspace *ws,
                                            const bsnn_dataset *ds, size_t batch_size);

/* --- Training --- */

/* The training primitive: one forward, backward and ONE optimizer update on
 * the batch the host hands in (x [n][n_inputs], y [n][n_outputs] or, for
 * SOFTMAX_CE, [n][1] class indices; any n >= 1), with the gradient averaged
 * over the batch. *out_loss (may be NULL) receives the batch's mean loss
 * before the update. Errors: BSNN_E_NULL, BSNN_E_SHAPE, BSNN_E_ARG
 * (non-finite input, bad class index: the message names the row),
 * BSNN_E_STATE (no loss chosen, a loss that conflicts with the last layer,
 * optimizer bound to another model, or called from m's gradient hook),
 * BSNN_E_DIVERGED (a non-finite loss or gradient, or an update that made a
 * parameter or the optimizer's state overflow), BSNN_E_CALLBACK (m's
 * gradient hook abandoned the step), BSNN_E_NOMEM; a rejected step leaves
 * the parameters, layer state (batch-norm statistics, dropout's count) and
 * the optimizer (state, step count) bit-identical to before it. */
BSNN_API bsnn_status bsnn_model_train_step(double *out_loss, bsnn_model *m,
                                           bsnn_optimizer *opt, const bsnn_tensor *x,
                                           const bsnn_tensor *y);

/* A gradient hook (bsnn_model_set_grad_hook), called once per update of the
 * model, whichever function makes it (train_step, train, train_ex, the
 * search), after the update's gradient is complete (every micro-batch
 * accumulated) and before anything checks or uses it. grads: the model's
 * gradient, count = bsnn_model_param_count floats in the order of
 * bsnn_model_get_grads, holding the MEAN over the update's *rows rows of the
 * per-sample loss gradients (L1/L2 penalties are added after the hook);
 * *loss_sum: the SUM of those rows' losses. The hook may change all three in
 * place. The update then uses grads exactly as left (so it must leave a
 * mean), checked for finiteness after the hook (a non-finite value is
 * BSNN_E_DIVERGED), and everything reported about the update (the mean loss
 * *loss_sum / *rows in out_loss, callbacks and histories, the batch size
 * given to callbacks, the samples counted) uses *rows (>= 1, else
 * BSNN_E_CALLBACK) and *loss_sum as left. A data-parallel allreduce turns
 * the local mean into the global one (sum rows x grads over processes and
 * divide by the summed rows), and leaves the global rows and the summed
 * loss: every process then applies the same update and reaches the same
 * verdict. Return 0 to go on; non-zero abandons the step with
 * BSNN_E_CALLBACK, everything as before it (as any rejected update: see
 * bsnn_model_train_step and bsnn_model_train). Runs on the calling thread
 * with the host's floating-point state; it must not change m or its
 * optimizer: training m, setting its hook, and bsnn_model_forward /
 * bsnn_model_evaluate on m (they use the workspace the step is using; the
 * _ws forms work) are BSNN_E_STATE from inside it. */
typedef int (*bsnn_grad_hook)(void *user, float *grads, size_t count, size_t *rows,
                              double *loss_sum);

/* Install (fn not NULL) or remove (fn NULL) m's gradient hook and the user
 * pointer passed to it; one per model, replacing the previous one. Errors:
 * BSNN_E_NULL (m), BSNN_E_STATE (called from inside m's hook). */
BSNN_API bsnn_status bsnn_model_set_grad_hook(bsnn_model *m, bsnn_grad_hook fn, void *user);

/* Counters of a model's training updates, for bsnn_model_stat. A rejected
 * update (diverged, abandoned by the hook, out of memory) changes nothing
 * but these. */
typedef enum bsnn_stat {
    BSNN_STAT_SNAPSHOT_BYTES = 1,       /* bytes copied so the last update
                                           could be undone: 0 unless its
                                           safety bound failed            */
    BSNN_STAT_SNAPSHOT_BYTES_TOTAL = 2, /* the same, summed over updates   */
    BSNN_STAT_UPDATES = 3,              /* updates applied                 */
    BSNN_STAT_REJECTED = 4,             /* updates rejected and undone     */
    BSNN_STAT_SNAPSHOTS = 5             /* updates that needed a snapshot  */
} bsnn_stat;

/* Read counter `stat` of m (since it was created or loaded) into *out.
 * Errors: BSNN_E_NULL, BSNN_E_ARG for an unknown counter. */
BSNN_API bsnn_status bsnn_model_stat(uint64_t *out, const bsnn_model *m, bsnn_stat stat);

/* Events passed to a training callback. */
typedef enum bsnn_event {
    BSNN_EVENT_STEP = 1,  /* after each update: loss is the batch's mean loss */
    BSNN_EVENT_EPOCH = 2  /* after each epoch: loss is the epoch's mean
                             training loss over the samples it used        */
} bsnn_event;

/* Training callback: return 0 to go on, non-zero to stop training early.
 * step counts updates since training began. */
typedef int (*bsnn_callback)(void *user, bsnn_event event, size_t epoch, size_t step,
                             size_t batch_size, double loss);

/* Train for `epochs` epochs over ds, batches drawn from the scheduler (made
 * for bsnn_dataset_size(ds) samples), calling cb (may be NULL) after each step
 * and epoch. *out_steps (may be NULL) receives the number of updates done.
 * Errors: as bsnn_model_train_step, plus BSNN_E_SHAPE when the scheduler's
 * size differs from the dataset's, BSNN_E_ARG when the scheduler's memory
 * budget cannot hold one row. A stop requested by cb is not an error. When
 * an update is rejected (BSNN_E_DIVERGED, BSNN_E_CALLBACK, ...), training
 * stops with the model, the optimizer AND the scheduler (order, position,
 * generator, lr clock) as before that batch was drawn: the next call draws
 * it again. */
BSNN_API bsnn_status bsnn_model_train(size_t *out_steps, bsnn_model *m, bsnn_optimizer *opt,
                                      bsnn_scheduler *s, const bsnn_dataset *ds,
                                      size_t epochs, bsnn_callback cb, void *user);

/* bsnn_model_train plus a validation set and a history: after each epoch,
 * when val is not NULL, evaluates it (evaluation mode) and appends a row to
 * history (when not NULL; rows are appended to existing ones). Either may be
 * NULL; with both NULL this is bsnn_model_train. Errors: as
 * bsnn_model_train, plus BSNN_E_SHAPE when val does not suit the model. */
BSNN_API bsnn_status bsnn_model_train_ex(size_t *out_steps, bsnn_model *m, bsnn_optimizer *opt,
                                         bsnn_scheduler *s, const bsnn_dataset *ds,
                                         const bsnn_dataset *val, bsnn_history *history,
                                         size_t epochs, bsnn_callback cb, void *user);

/* --- The gradient noise scale (docs/scheduler.md, "The gradient noise scale") ---
 * G is the mean gradient over all the data at the current parameters and
 * Sigma the covariance of the per-sample gradients. From the squared norms
 * of two mean gradients at the same parameters, |g_b|^2 over b rows and
 * |g_B|^2 over B > b rows (E |g_b|^2 = |G|^2 + tr(Sigma) / b), each update
 * gives the unbiased estimates |G|^2 ~ (B |g_B|^2 - b |g_b|^2) / (B - b) and
 * tr(Sigma) ~ (|g_b|^2 - |g_B|^2) / (1/b - 1/B). The model keeps a
 * debiased exponential average of each (decay BSNN_MODEL_NOISE_DECAY, all
 * observations weighted alike at 1) and divides them: the simple noise
 * scale B_simple = tr(Sigma) / |G|^2 (McCandlish et al. 2018), which
 * approximates the critical batch size. */

/* Where the two batch sizes of each update come from
 * (BSNN_MODEL_NOISE_ROUTE). Statistics are taken after the gradient hook
 * (its rows and gradient, before L1/L2 penalties) and recorded only for
 * an update that is applied. */
typedef enum bsnn_noise_route {
    BSNN_NOISE_OFF = 0,          /* no statistics (free)                     */
    BSNN_NOISE_MICRO_BATCH = 1,  /* b: the micro-batches of an accumulated
                                    update (BSNN_SCHED_MICRO_BATCH or a
                                    memory budget), mean of their |g_j|^2 with
                                    1/b the mean of their 1/b_j; B: the whole
                                    batch. An update made in one pass records
                                    nothing. Costs O(params) per micro-batch
                                    and a gradient-sized buffer, made when
                                    the route is set (BSNN_E_NOMEM then)    */
    BSNN_NOISE_PER_SAMPLE = 2    /* b = 1: each row's own gradient norm, for
                                    a dense layer |a_i|^2 (|delta_i|^2) plus
                                    |delta_i|^2 for the bias, O(rows x width);
                                    B: the batch (>= 2 rows). Batch norm mixes
                                    the rows' gradients: BSNN_E_UNSUPPORTED */
} bsnn_noise_route;

/* What bsnn_model_noise and bsnn_model_noise_measure report. Before any
 * observation every value is NaN but COUNT (0). */
typedef enum bsnn_noise_field {
    BSNN_NOISE_GRAD_SQ = 1,      /* the |G|^2 estimate                       */
    BSNN_NOISE_TRACE = 2,        /* the tr(Sigma) estimate                   */
    BSNN_NOISE_B_SIMPLE = 3,     /* TRACE / GRAD_SQ; +inf when GRAD_SQ <= 0  */
    BSNN_NOISE_GRAD_SQ_SE = 4,   /* standard errors (NaN from one observation) */
    BSNN_NOISE_TRACE_SE = 5,
    BSNN_NOISE_B_SIMPLE_SE = 6,  /* by the delta method, NaN when GRAD_SQ <= 0 */
    BSNN_NOISE_COUNT = 7,        /* observations (updates, or groups measured) */
    BSNN_NOISE_RANGE = 8,        /* 0: B_simple within [b, B]; -1 below b, +1
                                    above B (or GRAD_SQ <= 0): outside, the
                                    estimate is mostly noise (see the SE)   */
    BSNN_NOISE_SMALL_ROWS = 9,   /* b and B (averaged like the estimates)    */
    BSNN_NOISE_BIG_ROWS = 10,
    BSNN_NOISE_SMALL_SQ = 11,    /* the last observation's |g_b|^2 and |g_B|^2 */
    BSNN_NOISE_BIG_SQ = 12
} bsnn_noise_field;

/* Read m's running estimate (every update the route observes, and every
 * bsnn_model_noise_observe) into *out. Errors: BSNN_E_NULL, BSNN_E_ARG
 * (unknown field). */
BSNN_API bsnn_status bsnn_model_noise(double *out, const bsnn_model *m, bsnn_noise_field field);

/* Feed one observation into m's running estimate: the squared norm of a
 * mean gradient over small_rows rows and of one over big_rows rows, taken
 * at the same parameters (a data-parallel host: the local gradient and the
 * allreduced one). Allowed inside m's gradient hook. Errors: BSNN_E_NULL,
 * BSNN_E_ARG (a norm not finite or < 0, small_rows < 1, big_rows <=
 * small_rows, or not finite). */
BSNN_API bsnn_status bsnn_model_noise_observe(bsnn_model *m, double small_sq, double small_rows,
                                              double big_sq, double big_rows);

/* Forget m's running estimate (setting the route or the decay does too).
 * Errors: BSNN_E_NULL, BSNN_E_STATE (inside m's gradient hook). */
BSNN_API bsnn_status bsnn_model_noise_reset(bsnn_model *m);

/* Measure the noise scale at m's current parameters without training (no
 * update; parameters, layer state, generators and the running estimate are
 * left as they were), over every row of ds in order (batches 0) or over
 * `batches` batches of `batch` rows drawn without repetition by a shuffle
 * from seed, in m's mode (training: dropout, batch statistics). The rows
 * are processed `batch` at a time; route PER_SAMPLE: b = 1 and B = all the
 * rows measured; MICRO_BATCH: each batch of rows is one micro-batch, B all
 * of them. Standard errors: delete-one-batch jackknife (needs two or more
 * batches); they shrink as 1/sqrt(rows). out[i] receives field i + 1 for i
 * < count (count 1..12). Costs two forward and backward passes over the
 * rows. Errors: BSNN_E_NULL, BSNN_E_ARG (count, route, batch 0 or beyond
 * the rows, batches * batch > N, fewer than 2 rows), BSNN_E_SHAPE,
 * BSNN_E_STATE (as training: no loss, no parameters, inside the hook),
 * BSNN_E_UNSUPPORTED (PER_SAMPLE with batch norm), BSNN_E_NOMEM. */
BSNN_API bsnn_status bsnn_model_noise_measure(double *out, size_t count, bsnn_model *m,
                                              const bsnn_dataset *ds, bsnn_noise_route route,
                                              size_t batch, size_t batches, uint64_t seed);

/* --- Memory --- */

/* Bytes bsnn allocates to train m with opt at `batch` rows per forward pass
 * (the micro-batch size when accumulating): the model's parameters,
 * gradients, state and structures, the optimizer's state, activations and
 * workspace, including allocator alignment overhead. Datasets, schedulers,
 * histories and bsnn_workspace objects are not counted. Exact to the byte,
 * except that a step whose safety bound fails (a gradient beyond about
 * 1e15 for the rules that square it, an absurd learning rate) allocates, once, a copy buffer of the
 * parameters and optimizer state, counted from then on. Errors: BSNN_E_NULL,
 * BSNN_E_ARG (batch 0, or a size that overflows), BSNN_E_STATE (no layers). */
BSNN_API bsnn_status bsnn_model_memory(size_t *out_bytes, const bsnn_model *m,
                                       const bsnn_optimizer *opt, size_t batch);

/* The largest batch (rows per pass, capped at max_rows >= 1) whose
 * bsnn_model_memory fits in budget_bytes. Errors: BSNN_E_NULL, BSNN_E_STATE,
 * BSNN_E_ARG when even one row does not fit (the message gives the need). */
BSNN_API bsnn_status bsnn_model_max_batch(size_t *out, const bsnn_model *m,
                                          const bsnn_optimizer *opt, size_t budget_bytes,
                                          size_t max_rows);

/* --- Files and buffers ---
 * Files and buffers use the format of docs/format.md: versioned, little-endian
 * on every host, a CRC-32 per section. A model file holds the layers, their
 * settings, parameters and state (batch-norm and standardize statistics);
 * loading rebuilds the model exactly. Loaders treat input as hostile: damaged, truncated or forged data
 * gives BSNN_E_FORMAT (or BSNN_E_IO for file errors) with a message naming
 * what is wrong, and nothing larger than the input justifies is allocated. */

/* Write m to path atomically: a temporary file in the same directory is
 * written, fsync'ed and renamed over path (then the directory is synced), so
 * a crash leaves the old file or the new one, never a torn one. On Linux the
 * temporary file has no name until complete; temp files of killed saves of
 * path are removed by the next save (docs/format.md). Needs a transient
 * buffer of the file's size. Errors: BSNN_E_NULL, BSNN_E_IO, BSNN_E_NOMEM. */
BSNN_API bsnn_status bsnn_model_save(const bsnn_model *m, const char *path);

/* Read a model written by bsnn_model_save (the model part of a checkpoint
 * file is accepted too) into a new *out, which the caller frees. path must
 * be a regular file (a FIFO or device is BSNN_E_IO at once, never a wait).
 * Errors: BSNN_E_NULL, BSNN_E_IO, BSNN_E_FORMAT, BSNN_E_NOMEM. */
BSNN_API bsnn_status bsnn_model_load(bsnn_model **out, const char *path);

/* Bytes bsnn_model_save_buffer needs for m, into *out_size. Errors: BSNN_E_NULL. */
BSNN_API bsnn_status bsnn_model_save_size(size_t *out_size, const bsnn_model *m);

/* Serialise m into the caller's buffer out of `capacity` bytes; *out_size
 * receives the bytes written. Errors: BSNN_E_NULL, BSNN_E_SHAPE when capacity
 * is smaller than bsnn_model_save_size (nothing is written then). */
BSNN_API bsnn_status bsnn_model_save_buffer(void *out, size_t capacity, size_t *out_size,
                                            const bsnn_model *m);

/* Serialise m into a buffer bsnn allocates: *out (release it with
 * bsnn_buffer_free) of *out_size bytes. Errors: BSNN_E_NULL, BSNN_E_NOMEM. */
BSNN_API bsnn_status bsnn_model_save_alloc(void **out, size_t *out_size, const bsnn_model *m);

/* Release a buffer from a bsnn_*_save_alloc call. NULL is a no-op. */
BSNN_API void bsnn_buffer_free(void *buf);

/* Parse a model from size bytes at data (not retained) into a new *out,
 * which the caller frees. Errors: BSNN_E_NULL, BSNN_E_FORMAT, BSNN_E_NOMEM. */
BSNN_API bsnn_status bsnn_model_load_buffer(bsnn_model **out, const void *data, size_t size);

/* ------------------------------------------------------------------------ */
/* The batch-size search                                                    */
/* ------------------------------------------------------------------------ */

/* bsnn_search trains the same model from the same initial parameters and data order at
 * several batch sizes and compares a validation metric. The heuristic
 * (bsnn_search_run): start at START clamped to N; try B/2 then 2B (clamped
 * to [1,N], skipping repeats); if neither beats B, choose B; otherwise keep
 * halving (or doubling, whichever of the two was better; ties go to the
 * smaller) while the result improves, stopping at 1 or N. Rows are recorded
 * in the order candidates were tried. With REPEATS k > 1 each candidate is
 * trained k times (repeat r: data-order seed SEED + r, and with REINIT
 * parameters from the model's seed + r), its row holds the means over the
 * repeats with the metric's standard deviation and n, and every comparison
 * above is on the means; the RULE then chooses among all rows tried. */
/* Settings, for bsnn_search_set / _get / _bounds. */
typedef enum bsnn_search_param {
    BSNN_SEARCH_START = 1,         /* first batch size of the heuristic (128) */
    BSNN_SEARCH_BUDGET_KIND = 2,   /* a bsnn_search_budget (default EPOCHS)   */
    BSNN_SEARCH_BUDGET = 3,        /* per-candidate amount: epochs, samples or
                                      seconds, > 0 (default 5)              */
    BSNN_SEARCH_METRIC = 4,        /* a bsnn_search_metric (default VAL_LOSS) */
    BSNN_SEARCH_SEED = 5,          /* data-order (shuffle) seed (default 0;
                                      typed: bsnn_search_set_seed)          */
    BSNN_SEARCH_MEMORY_BUDGET = 6, /* bytes per candidate (0: none); larger
                                      batches run with accumulation, flagged
                                      (typed: bsnn_search_set_memory_budget) */
    BSNN_SEARCH_REPEATS = 7,       /* training runs per candidate, 1..10000
                                      (default 1: one run, as before)      */
    BSNN_SEARCH_RULE = 8,          /* a bsnn_search_rule (default BEST_MEAN) */
    BSNN_SEARCH_REINIT = 9         /* 1: repeat r starts from parameters
                                      initialised from the model's seed + r
                                      (0, default: from m's parameters)    */
} bsnn_search_param;

/* How the size is chosen from the rows (BSNN_SEARCH_RULE). The standard
 * error of a mean is its sd / sqrt(n), 0 with one repeat. */
typedef enum bsnn_search_rule {
    BSNN_RULE_BEST_MEAN = 1,  /* the best mean (ties: the heuristic's or the
                                 sweep's earlier)                           */
    BSNN_RULE_ONE_SE = 2      /* the largest batch whose mean is within one
                                 standard error of the best mean (Breiman et
                                 al.'s one-SE rule: the fastest size that
                                 the noise cannot tell from the best)      */
} bsnn_search_rule;

/* What each candidate may spend (BSNN_SEARCH_BUDGET_KIND). */
typedef enum bsnn_search_budget {
    BSNN_BUDGET_EPOCHS = 1,   /* whole epochs                                  */
    BSNN_BUDGET_SAMPLES = 2,  /* stop after the update that reaches this many
                                 samples seen                              */
    BSNN_BUDGET_SECONDS = 3   /* stop after the update that reaches this wall
                                 time (not deterministic)                  */
} bsnn_search_budget;

/* The comparison (BSNN_SEARCH_METRIC). */
typedef enum bsnn_search_metric {
    BSNN_METRIC_VAL_LOSS = 1,     /* lower is better                          */
    BSNN_METRIC_VAL_ACCURACY = 2  /* higher is better; ties: lower val loss   */
} bsnn_search_metric;

/* Columns of a result row, for bsnn_search_result. */
typedef enum bsnn_search_col {
    BSNN_SEARCH_COL_BATCH = 1,        /* batch size (samples per update)    */
    BSNN_SEARCH_COL_EPOCHS = 2,       /* epochs (fractional when cut short) */
    BSNN_SEARCH_COL_UPDATES = 3,      /* optimizer updates                  */
    BSNN_SEARCH_COL_TRAIN_LOSS = 4,   /* mean loss of the last epoch's (or
                                         last partial epoch's) updates      */
    BSNN_SEARCH_COL_VAL_LOSS = 5,     /* +inf when training diverged        */
    BSNN_SEARCH_COL_VAL_ACCURACY = 6, /* 0 when training diverged           */
    BSNN_SEARCH_COL_SECONDS = 7,      /* wall seconds of training           */
    BSNN_SEARCH_COL_PEAK_BYTES = 8,   /* bsnn_model_memory at the rows per pass */
    BSNN_SEARCH_COL_ACCUMULATED = 9,  /* 1: split into micro-batches        */
    BSNN_SEARCH_COL_MICRO_BATCH = 10, /* rows per pass (== batch unless split) */
    BSNN_SEARCH_COL_N = 11,           /* repeats (runs averaged in the row)  */
    BSNN_SEARCH_COL_VAL_LOSS_SD = 12, /* sample sd over the repeats (NaN
                                         with one, or when one diverged)    */
    BSNN_SEARCH_COL_VAL_ACCURACY_SD = 13
} bsnn_search_col;

/* A search with the defaults above and no results. NULL on out of memory. */
BSNN_API bsnn_search *bsnn_search_create(void);

/* Release a search and its results. NULL is a no-op. */
BSNN_API void bsnn_search_free(bsnn_search *search);

/* Change / read a setting. Errors: BSNN_E_NULL, BSNN_E_ARG (unknown setting
 * or value out of range; also reading a seed or budget beyond 2^53: use the
 * typed getters below). */
BSNN_API bsnn_status bsnn_search_set(bsnn_search *search, bsnn_search_param param, double value);
BSNN_API bsnn_status bsnn_search_get(double *out, const bsnn_search *search,
                                     bsnn_search_param param);

/* The valid range of a setting, as every bsnn_X_bounds. Errors: BSNN_E_NULL,
 * BSNN_E_ARG (unknown setting). */
BSNN_API bsnn_status bsnn_search_bounds(double *out_lo, double *out_hi, unsigned *out_open,
                                        const bsnn_search *search, bsnn_search_param param);

/* The data-order seed (BSNN_SEARCH_SEED), every uint64_t value. Errors:
 * BSNN_E_NULL. */
BSNN_API bsnn_status bsnn_search_set_seed(bsnn_search *search, uint64_t seed);
BSNN_API bsnn_status bsnn_search_get_seed(uint64_t *out, const bsnn_search *search);

/* The per-candidate memory budget in bytes (BSNN_SEARCH_MEMORY_BUDGET, 0:
 * none), every size_t value. Errors: BSNN_E_NULL. */
BSNN_API bsnn_status bsnn_search_set_memory_budget(bsnn_search *search, size_t bytes);
BSNN_API bsnn_status bsnn_search_get_memory_budget(size_t *out, const bsnn_search *search);

/* Run the heuristic on train (candidates) and val (comparison). Each
 * candidate starts from m's current parameters, state and dropout masks,
 * with opt reset (hyperparameters kept) and a scheduler over train that
 * copies `tmpl`'s settings (tmpl may be NULL: defaults, shuffled) except the
 * batch size, schedule (forced CONSTANT, no full batch), memory budget (the
 * search's) and seed (BSNN_SEARCH_SEED). m's parameters, state and dropout
 * mask counts are restored afterwards, also on failure. Previous results
 * are discarded. *out_best
 * gets the chosen size. Errors: BSNN_E_NULL, BSNN_E_SHAPE, BSNN_E_STATE (no
 * parameters, no loss chosen or a conflicting one), BSNN_E_ARG (memory budget below one row), BSNN_E_NOMEM, and
 * any training error other than divergence (recorded as the worst result). */
BSNN_API bsnn_status bsnn_search_run(size_t *out_best, bsnn_search *search, bsnn_model *m,
                                     bsnn_optimizer *opt, const bsnn_dataset *train,
                                     const bsnn_dataset *val, const bsnn_scheduler *tmpl);

/* The same for a plain sweep: every size in sizes[0..count) (each 1..N), in
 * that order; the RULE chooses (BEST_MEAN: ties go to the earlier). Errors:
 * as bsnn_search_run, plus BSNN_E_ARG for a size out of range or count 0. */
BSNN_API bsnn_status bsnn_search_sweep(size_t *out_best, bsnn_search *search, bsnn_model *m,
                                       bsnn_optimizer *opt, const bsnn_dataset *train,
                                       const bsnn_dataset *val, const bsnn_scheduler *tmpl,
                                       const size_t *sizes, size_t count);

/* Number of result rows (candidates tried), 0 when search is NULL. */
BSNN_API size_t bsnn_search_count(const bsnn_search *search);

/* The chosen batch size of the last run or sweep, 0 if none. */
BSNN_API size_t bsnn_search_best(const bsnn_search *search);

/* Read column `col` of result row `row` into *out: columns 1-10 are the
 * means over the row's repeats (VAL_LOSS +inf when one diverged). Errors:
 * BSNN_E_NULL, BSNN_E_ARG (row out of range or unknown column). */
BSNN_API bsnn_status bsnn_search_result(double *out, const bsnn_search *search, size_t row,
                                        bsnn_search_col col);

/* Column `col` (BATCH..MICRO_BATCH) of one training run: repeat `repeat`
 * (0..n-1) of result row `row`. Errors: BSNN_E_NULL, BSNN_E_ARG (row,
 * repeat or column out of range). */
BSNN_API bsnn_status bsnn_search_trial(double *out, const bsnn_search *search, size_t row,
                                       size_t repeat, bsnn_search_col col);

/* Write the result rows as CSV (header line first; the columns of
 * bsnn_search_col in order) to path, atomically as bsnn_model_save writes. Errors: BSNN_E_NULL, BSNN_E_IO, BSNN_E_NOMEM. */
BSNN_API bsnn_status bsnn_search_write_csv(const bsnn_search *search, const char *path);

/* ------------------------------------------------------------------------ */
/* Checkpoints                                                              */
/* ------------------------------------------------------------------------ */

/* A checkpoint: the model plus the optimizer's state (moments, step count,
 * hyperparameters) and the scheduler's settings and position (epoch, step,
 * the epoch's order, carried samples, every RNG state), so training resumed
 * from it gives parameters bit-identical to a run that never stopped.
 * opt and s may be NULL (not stored). Written atomically like
 * bsnn_model_save. Errors: BSNN_E_NULL, BSNN_E_STATE (opt bound to another
 * model), BSNN_E_IO, BSNN_E_NOMEM. */
BSNN_API bsnn_status bsnn_checkpoint_save(const bsnn_model *m, const bsnn_optimizer *opt,
                                          const bsnn_scheduler *s, const char *path);

/* The same into a buffer bsnn allocates (free it with bsnn_buffer_free). */
BSNN_API bsnn_status bsnn_checkpoint_save_alloc(void **out, size_t *out_size,
                                                const bsnn_model *m, const bsnn_optimizer *opt,
                                                const bsnn_scheduler *s);

/* Read a checkpoint into new objects the caller frees: *out_model always;
 * *out_opt and *out_sched (either pointer may be NULL to discard that part)
 * receive the stored optimizer (already bound to *out_model) and scheduler,
 * or NULL when the checkpoint holds none. Errors: BSNN_E_NULL, BSNN_E_IO,
 * BSNN_E_FORMAT (also for a model file), BSNN_E_NOMEM; nothing is returned
 * then. */
BSNN_API bsnn_status bsnn_checkpoint_load(bsnn_model **out_model, bsnn_optimizer **out_opt,
                                          bsnn_scheduler **out_sched, const char *path);

/* The same from size bytes at data (not retained). */
BSNN_API bsnn_status bsnn_checkpoint_load_buffer(bsnn_model **out_model,
                                                 bsnn_optimizer **out_opt,
                                                 bsnn_scheduler **out_sched, const void *data,
                                                 size_t size);

#ifdef __cplusplus
}
#endif

#endif /* BSNN_H */
