//! Raw declarations of libbsnn's C API (`include/bsnn.h`), nothing more.
//!
//! The header is the manual: every item here mirrors one there, name for
//! name, in the header's order. Enums are integer type aliases with one
//! constant per value, not Rust enums, because the library may return values
//! this crate does not know yet (the header's "Growth" convention) and an
//! unknown value in a Rust enum is undefined behaviour. Objects are opaque
//! types used only behind raw pointers. `tests/header.rs` checks that the
//! functions, their parameter and return types, the typedefs and every enum
//! value agree with the header.
//!
//! The safe interface is the `bsnn` crate; use this one directly only to
//! reach something it does not wrap.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_uint, c_void};

/// Declares an opaque C object: only ever used behind a raw pointer, never
/// constructed, neither `Send`, `Sync` nor `Unpin` by itself.
macro_rules! opaque {
    ($name:ident) => {
        #[repr(C)]
        pub struct $name {
            _data: [u8; 0],
            _marker: std::marker::PhantomData<(*mut u8, std::marker::PhantomPinned)>,
        }
    };
}

// ---- Version ---------------------------------------------------------------
pub const BSNN_VERSION_MAJOR: c_uint = 0;
pub const BSNN_VERSION_MINOR: c_uint = 3;
pub const BSNN_VERSION_PATCH: c_uint = 0;
pub const BSNN_VERSION_NUMBER: c_uint =
    BSNN_VERSION_MAJOR * 10000 + BSNN_VERSION_MINOR * 100 + BSNN_VERSION_PATCH;
extern "C" {
    pub fn bsnn_version() -> c_uint;
    pub fn bsnn_version_string() -> *const c_char;
}

// ---- Status codes and errors -----------------------------------------------
pub type bsnn_status = c_int;
pub const BSNN_OK: bsnn_status = 0;
pub const BSNN_E_NULL: bsnn_status = -1;
pub const BSNN_E_ARG: bsnn_status = -2;
pub const BSNN_E_SHAPE: bsnn_status = -3;
pub const BSNN_E_NOMEM: bsnn_status = -4;
pub const BSNN_E_STATE: bsnn_status = -5;
pub const BSNN_E_IO: bsnn_status = -6;
pub const BSNN_E_FORMAT: bsnn_status = -7;
pub const BSNN_E_DIVERGED: bsnn_status = -8;
pub const BSNN_E_UNSUPPORTED: bsnn_status = -9;
pub const BSNN_E_CALLBACK: bsnn_status = -10;
extern "C" {
    pub fn bsnn_status_string(status: bsnn_status) -> *const c_char;
    pub fn bsnn_last_error() -> *const c_char;
}

// ---- Objects and bounds ----------------------------------------------------
opaque!(bsnn_tensor);
opaque!(bsnn_layer);
opaque!(bsnn_optimizer);
opaque!(bsnn_dataset);
opaque!(bsnn_scheduler);
opaque!(bsnn_history);
opaque!(bsnn_model);
opaque!(bsnn_workspace);
opaque!(bsnn_search);
pub type bsnn_bound_flag = c_uint;
pub const BSNN_BOUND_LO_OPEN: bsnn_bound_flag = 1;
pub const BSNN_BOUND_HI_OPEN: bsnn_bound_flag = 2;

// ---- Global settings -------------------------------------------------------
pub type bsnn_alloc_fn = Option<unsafe extern "C" fn(user: *mut c_void, size: usize) -> *mut c_void>;
pub type bsnn_free_fn = Option<unsafe extern "C" fn(user: *mut c_void, ptr: *mut c_void, size: usize)>;
extern "C" {
    pub fn bsnn_set_allocator(alloc: bsnn_alloc_fn, free_fn: bsnn_free_fn, user: *mut c_void) -> bsnn_status;
    pub fn bsnn_set_num_threads(n: c_int) -> bsnn_status;
    pub fn bsnn_get_num_threads() -> c_int;
    pub fn bsnn_set_flush_subnormals(on: c_int) -> bsnn_status;
    pub fn bsnn_get_flush_subnormals() -> c_int;
}
pub type bsnn_gemm_kernel = c_uint;
pub const BSNN_GEMM_AUTO: bsnn_gemm_kernel = 0;
pub const BSNN_GEMM_PORTABLE: bsnn_gemm_kernel = 1;
pub const BSNN_GEMM_AVX512: bsnn_gemm_kernel = 2;
extern "C" {
    pub fn bsnn_set_gemm_kernel(kernel: bsnn_gemm_kernel) -> bsnn_status;
    pub fn bsnn_get_gemm_kernel() -> bsnn_gemm_kernel;
    pub fn bsnn_gemm_kernel_string() -> *const c_char;
}

// ---- Tensors ---------------------------------------------------------------
pub const BSNN_MAX_RANK: c_int = 4;
extern "C" {
    pub fn bsnn_tensor_create(rank: c_int, shape: *const usize) -> *mut bsnn_tensor;
    pub fn bsnn_tensor_wrap(data: *mut f32, rank: c_int, shape: *const usize) -> *mut bsnn_tensor;
    pub fn bsnn_tensor_free(t: *mut bsnn_tensor);
    pub fn bsnn_tensor_rank(t: *const bsnn_tensor) -> c_int;
    pub fn bsnn_tensor_dim(t: *const bsnn_tensor, dim: c_int) -> usize;
    pub fn bsnn_tensor_size(t: *const bsnn_tensor) -> usize;
    pub fn bsnn_tensor_data(t: *mut bsnn_tensor) -> *mut f32;
    pub fn bsnn_tensor_copy_in(t: *mut bsnn_tensor, src: *const f32, count: usize) -> bsnn_status;
    pub fn bsnn_tensor_copy_out(out: *mut f32, count: usize, t: *const bsnn_tensor) -> bsnn_status;
    pub fn bsnn_tensor_fill(t: *mut bsnn_tensor, value: f32) -> bsnn_status;
}

// ---- Layers ----------------------------------------------------------------
pub type bsnn_layer_kind = c_uint;
pub const BSNN_LAYER_NONE: bsnn_layer_kind = 0;
pub const BSNN_LAYER_DENSE: bsnn_layer_kind = 1;
pub const BSNN_LAYER_ACTIVATION: bsnn_layer_kind = 2;
pub const BSNN_LAYER_BATCHNORM: bsnn_layer_kind = 3;
pub const BSNN_LAYER_DROPOUT: bsnn_layer_kind = 4;
pub const BSNN_LAYER_LAYERNORM: bsnn_layer_kind = 5;
pub const BSNN_LAYER_STANDARDIZE: bsnn_layer_kind = 6;
pub type bsnn_activation = c_uint;
pub const BSNN_ACT_LINEAR: bsnn_activation = 0;
pub const BSNN_ACT_SIGMOID: bsnn_activation = 1;
pub const BSNN_ACT_TANH: bsnn_activation = 2;
pub const BSNN_ACT_RELU: bsnn_activation = 3;
pub const BSNN_ACT_LEAKY_RELU: bsnn_activation = 4;
pub const BSNN_ACT_ELU: bsnn_activation = 5;
pub const BSNN_ACT_SOFTMAX: bsnn_activation = 6;
pub type bsnn_init = c_uint;
pub const BSNN_INIT_DEFAULT: bsnn_init = 0;
pub const BSNN_INIT_ZEROS: bsnn_init = 1;
pub const BSNN_INIT_GLOROT_UNIFORM: bsnn_init = 2;
pub const BSNN_INIT_GLOROT_NORMAL: bsnn_init = 3;
pub const BSNN_INIT_HE_UNIFORM: bsnn_init = 4;
pub const BSNN_INIT_HE_NORMAL: bsnn_init = 5;
pub const BSNN_INIT_LECUN_UNIFORM: bsnn_init = 6;
pub const BSNN_INIT_LECUN_NORMAL: bsnn_init = 7;
pub const BSNN_INIT_UNIFORM: bsnn_init = 8;
pub type bsnn_layer_param = c_uint;
pub const BSNN_LAYER_INIT: bsnn_layer_param = 1;
pub const BSNN_LAYER_INIT_LO: bsnn_layer_param = 2;
pub const BSNN_LAYER_INIT_HI: bsnn_layer_param = 3;
pub const BSNN_LAYER_BIAS_INIT: bsnn_layer_param = 4;
pub const BSNN_LAYER_SLOPE: bsnn_layer_param = 5;
pub const BSNN_LAYER_MOMENTUM: bsnn_layer_param = 6;
pub const BSNN_LAYER_EPS: bsnn_layer_param = 7;
pub const BSNN_LAYER_RATE: bsnn_layer_param = 8;
pub const BSNN_LAYER_SEED: bsnn_layer_param = 9;
pub const BSNN_LAYER_L1: bsnn_layer_param = 10;
pub const BSNN_LAYER_L2: bsnn_layer_param = 11;
extern "C" {
    pub fn bsnn_layer_dense(n_outputs: usize) -> *mut bsnn_layer;
    pub fn bsnn_layer_activation(kind: bsnn_activation) -> *mut bsnn_layer;
    pub fn bsnn_layer_batchnorm() -> *mut bsnn_layer;
    pub fn bsnn_layer_dropout(rate: f64) -> *mut bsnn_layer;
    pub fn bsnn_layer_layernorm() -> *mut bsnn_layer;
    pub fn bsnn_layer_standardize(mean: *const f32, std: *const f32, count: usize) -> *mut bsnn_layer;
    pub fn bsnn_layer_free(layer: *mut bsnn_layer);
    pub fn bsnn_layer_kind_of(layer: *const bsnn_layer) -> bsnn_layer_kind;
    pub fn bsnn_layer_set(layer: *mut bsnn_layer, param: bsnn_layer_param, value: f64) -> bsnn_status;
    pub fn bsnn_layer_get(out: *mut f64, layer: *const bsnn_layer, param: bsnn_layer_param) -> bsnn_status;
    pub fn bsnn_layer_bounds(
        out_lo: *mut f64,
        out_hi: *mut f64,
        out_open: *mut c_uint,
        kind: bsnn_layer_kind,
        param: bsnn_layer_param,
    ) -> bsnn_status;
    pub fn bsnn_layer_set_seed(layer: *mut bsnn_layer, seed: u64) -> bsnn_status;
    pub fn bsnn_layer_get_seed(out: *mut u64, layer: *const bsnn_layer) -> bsnn_status;
}

// ---- Optimizers (update rules) ---------------------------------------------
pub type bsnn_optimizer_kind = c_uint;
pub const BSNN_OPTIMIZER_NONE: bsnn_optimizer_kind = 0;
pub const BSNN_SGD: bsnn_optimizer_kind = 1;
pub const BSNN_MOMENTUM: bsnn_optimizer_kind = 2;
pub const BSNN_NESTEROV: bsnn_optimizer_kind = 3;
pub const BSNN_ADAGRAD: bsnn_optimizer_kind = 4;
pub const BSNN_ADADELTA: bsnn_optimizer_kind = 5;
pub const BSNN_RMSPROP: bsnn_optimizer_kind = 6;
pub const BSNN_ADAM: bsnn_optimizer_kind = 7;
pub const BSNN_ADAMAX: bsnn_optimizer_kind = 8;
pub const BSNN_NADAM: bsnn_optimizer_kind = 9;
pub const BSNN_AMSGRAD: bsnn_optimizer_kind = 10;
pub const BSNN_ADAMW: bsnn_optimizer_kind = 11;
pub type bsnn_opt_param = c_uint;
pub const BSNN_OPT_LR: bsnn_opt_param = 1;
pub const BSNN_OPT_MOMENTUM: bsnn_opt_param = 2;
pub const BSNN_OPT_BETA1: bsnn_opt_param = 3;
pub const BSNN_OPT_BETA2: bsnn_opt_param = 4;
pub const BSNN_OPT_EPS: bsnn_opt_param = 5;
pub const BSNN_OPT_RHO: bsnn_opt_param = 6;
pub const BSNN_OPT_WEIGHT_DECAY: bsnn_opt_param = 7;
pub const BSNN_OPT_VARIANT: bsnn_opt_param = 8;
pub const BSNN_OPT_DECAY_SCOPE: bsnn_opt_param = 9;
pub const BSNN_OPT_MOMENTUM_DECAY: bsnn_opt_param = 10;
pub type bsnn_opt_variant = c_uint;
pub const BSNN_VARIANT_PYTORCH: bsnn_opt_variant = 0;
pub const BSNN_VARIANT_RUDER: bsnn_opt_variant = 1;
pub type bsnn_decay_scope = c_uint;
pub const BSNN_DECAY_ALL: bsnn_decay_scope = 0;
pub const BSNN_DECAY_WEIGHTS: bsnn_decay_scope = 1;
extern "C" {
    pub fn bsnn_optimizer_create(kind: bsnn_optimizer_kind) -> *mut bsnn_optimizer;
    pub fn bsnn_optimizer_free(opt: *mut bsnn_optimizer);
    pub fn bsnn_optimizer_kind_of(opt: *const bsnn_optimizer) -> bsnn_optimizer_kind;
    pub fn bsnn_optimizer_set(opt: *mut bsnn_optimizer, param: bsnn_opt_param, value: f64) -> bsnn_status;
    pub fn bsnn_optimizer_get(
        out: *mut f64,
        opt: *const bsnn_optimizer,
        param: bsnn_opt_param,
    ) -> bsnn_status;
    pub fn bsnn_optimizer_bounds(
        out_lo: *mut f64,
        out_hi: *mut f64,
        out_open: *mut c_uint,
        kind: bsnn_optimizer_kind,
        param: bsnn_opt_param,
    ) -> bsnn_status;
    pub fn bsnn_optimizer_reset(opt: *mut bsnn_optimizer) -> bsnn_status;
}

// ---- Datasets --------------------------------------------------------------
extern "C" {
    pub fn bsnn_dataset_create(
        x: *const f32,
        y: *const f32,
        n: usize,
        n_inputs: usize,
        n_targets: usize,
    ) -> *mut bsnn_dataset;
    pub fn bsnn_dataset_wrap(
        x: *const f32,
        y: *const f32,
        n: usize,
        n_inputs: usize,
        n_targets: usize,
    ) -> *mut bsnn_dataset;
    pub fn bsnn_dataset_parity(bits: c_int) -> *mut bsnn_dataset;
    pub fn bsnn_dataset_free(ds: *mut bsnn_dataset);
    pub fn bsnn_dataset_size(ds: *const bsnn_dataset) -> usize;
    pub fn bsnn_dataset_n_inputs(ds: *const bsnn_dataset) -> usize;
    pub fn bsnn_dataset_n_targets(ds: *const bsnn_dataset) -> usize;
    pub fn bsnn_dataset_inputs(ds: *const bsnn_dataset) -> *const f32;
    pub fn bsnn_dataset_targets(ds: *const bsnn_dataset) -> *const f32;
    pub fn bsnn_dataset_split(
        out_first: *mut *mut bsnn_dataset,
        out_second: *mut *mut bsnn_dataset,
        ds: *const bsnn_dataset,
        fraction: f64,
        seed: u64,
    ) -> bsnn_status;
}
pub type bsnn_playground = c_uint;
pub const BSNN_PG_CIRCLE: bsnn_playground = 1;
pub const BSNN_PG_XOR: bsnn_playground = 2;
pub const BSNN_PG_GAUSS: bsnn_playground = 3;
pub const BSNN_PG_SPIRAL: bsnn_playground = 4;
pub const BSNN_PG_PLANE: bsnn_playground = 5;
pub const BSNN_PG_MULTI_GAUSS: bsnn_playground = 6;
pub type bsnn_pg_flag = c_uint;
pub const BSNN_PG_LABELS_01: bsnn_pg_flag = 1;
extern "C" {
    pub fn bsnn_dataset_playground(
        set: bsnn_playground,
        n: usize,
        noise: f64,
        seed: u64,
        flags: c_uint,
    ) -> *mut bsnn_dataset;
}
pub type bsnn_feature = c_uint;
pub const BSNN_FEAT_X1: bsnn_feature = 1;
pub const BSNN_FEAT_X2: bsnn_feature = 2;
pub const BSNN_FEAT_X1_SQ: bsnn_feature = 4;
pub const BSNN_FEAT_X2_SQ: bsnn_feature = 8;
pub const BSNN_FEAT_X1_X2: bsnn_feature = 16;
pub const BSNN_FEAT_SIN_X1: bsnn_feature = 32;
pub const BSNN_FEAT_SIN_X2: bsnn_feature = 64;
extern "C" {
    pub fn bsnn_dataset_features(ds: *const bsnn_dataset, mask: c_uint) -> *mut bsnn_dataset;
    pub fn bsnn_dataset_toy1d(
        out_train: *mut *mut bsnn_dataset,
        out_test: *mut *mut bsnn_dataset,
    ) -> bsnn_status;
    pub fn bsnn_dataset_input_stats(
        out_mean: *mut f32,
        out_std: *mut f32,
        count: usize,
        ds: *const bsnn_dataset,
    ) -> bsnn_status;
    pub fn bsnn_dataset_standardize(
        ds: *mut bsnn_dataset,
        mean: *const f32,
        std: *const f32,
        count: usize,
    ) -> bsnn_status;
    pub fn bsnn_dataset_one_hot(ds: *const bsnn_dataset, n_classes: usize) -> *mut bsnn_dataset;
    pub fn bsnn_dataset_load_csv(
        path: *const c_char,
        header: c_int,
        target_cols: *const usize,
        n_targets: usize,
    ) -> *mut bsnn_dataset;
    pub fn bsnn_dataset_load_idx(
        images_path: *const c_char,
        labels_path: *const c_char,
        max_rows: usize,
    ) -> *mut bsnn_dataset;
}

// ---- Batch scheduler -------------------------------------------------------
pub type bsnn_sched_param = c_uint;
pub const BSNN_SCHED_BATCH_SIZE: bsnn_sched_param = 1;
pub const BSNN_SCHED_FULL_BATCH: bsnn_sched_param = 2;
pub const BSNN_SCHED_SHUFFLE: bsnn_sched_param = 3;
pub const BSNN_SCHED_SEED: bsnn_sched_param = 4;
pub const BSNN_SCHED_DROP_LAST: bsnn_sched_param = 5;
pub const BSNN_SCHED_CARRY_OVER: bsnn_sched_param = 6;
pub const BSNN_SCHED_BATCH_SCHEDULE: bsnn_sched_param = 7;
pub const BSNN_SCHED_GROWTH_FACTOR: bsnn_sched_param = 8;
pub const BSNN_SCHED_GROWTH_EVERY: bsnn_sched_param = 9;
pub const BSNN_SCHED_BATCH_CAP: bsnn_sched_param = 10;
pub const BSNN_SCHED_LR_SCHEDULE: bsnn_sched_param = 11;
pub const BSNN_SCHED_LR_DECAY: bsnn_sched_param = 12;
pub const BSNN_SCHED_LR_STEP_EPOCHS: bsnn_sched_param = 13;
pub const BSNN_SCHED_LR_MIN_FACTOR: bsnn_sched_param = 14;
pub const BSNN_SCHED_WARMUP_STEPS: bsnn_sched_param = 15;
pub const BSNN_SCHED_LR_SCALING: bsnn_sched_param = 16;
pub const BSNN_SCHED_BASE_BATCH: bsnn_sched_param = 17;
pub const BSNN_SCHED_MICRO_BATCH: bsnn_sched_param = 18;
pub const BSNN_SCHED_MEMORY_BUDGET: bsnn_sched_param = 19;
pub const BSNN_SCHED_BATCH_MIN: bsnn_sched_param = 20;
pub const BSNN_SCHED_BATCH_POW2: bsnn_sched_param = 21;
pub const BSNN_SCHED_NOISE_TARGET: bsnn_sched_param = 22;
pub type bsnn_batch_schedule = c_uint;
pub const BSNN_BATCH_CONSTANT: bsnn_batch_schedule = 0;
pub const BSNN_BATCH_STEPS: bsnn_batch_schedule = 1;
pub const BSNN_BATCH_GEOMETRIC: bsnn_batch_schedule = 2;
pub const BSNN_BATCH_ADAPTIVE: bsnn_batch_schedule = 3;
pub type bsnn_lr_schedule = c_uint;
pub const BSNN_LR_CONSTANT: bsnn_lr_schedule = 0;
pub const BSNN_LR_STEP: bsnn_lr_schedule = 1;
pub const BSNN_LR_EXPONENTIAL: bsnn_lr_schedule = 2;
pub const BSNN_LR_COSINE: bsnn_lr_schedule = 3;
pub type bsnn_lr_scaling = c_uint;
pub const BSNN_SCALE_NONE: bsnn_lr_scaling = 0;
pub const BSNN_SCALE_LINEAR: bsnn_lr_scaling = 1;
pub const BSNN_SCALE_SQRT: bsnn_lr_scaling = 2;
pub const BSNN_SCALE_ADASCALE: bsnn_lr_scaling = 3;
extern "C" {
    pub fn bsnn_scheduler_create(n_samples: usize) -> *mut bsnn_scheduler;
    pub fn bsnn_scheduler_free(s: *mut bsnn_scheduler);
    pub fn bsnn_scheduler_set(s: *mut bsnn_scheduler, param: bsnn_sched_param, value: f64) -> bsnn_status;
    pub fn bsnn_scheduler_get(
        out: *mut f64,
        s: *const bsnn_scheduler,
        param: bsnn_sched_param,
    ) -> bsnn_status;
    pub fn bsnn_scheduler_bounds(
        out_lo: *mut f64,
        out_hi: *mut f64,
        out_open: *mut c_uint,
        s: *const bsnn_scheduler,
        param: bsnn_sched_param,
    ) -> bsnn_status;
    pub fn bsnn_scheduler_set_seed(s: *mut bsnn_scheduler, seed: u64) -> bsnn_status;
    pub fn bsnn_scheduler_get_seed(out: *mut u64, s: *const bsnn_scheduler) -> bsnn_status;
    pub fn bsnn_scheduler_set_memory_budget(s: *mut bsnn_scheduler, bytes: usize) -> bsnn_status;
    pub fn bsnn_scheduler_get_memory_budget(out: *mut usize, s: *const bsnn_scheduler) -> bsnn_status;
    pub fn bsnn_scheduler_next(
        out_indices: *mut *const usize,
        out_count: *mut usize,
        out_epoch_end: *mut c_int,
        s: *mut bsnn_scheduler,
    ) -> bsnn_status;
    pub fn bsnn_scheduler_reset(s: *mut bsnn_scheduler) -> bsnn_status;
    pub fn bsnn_scheduler_observe_noise(s: *mut bsnn_scheduler, m: *const bsnn_model) -> bsnn_status;
    pub fn bsnn_scheduler_epoch(s: *const bsnn_scheduler) -> usize;
    pub fn bsnn_scheduler_step(s: *const bsnn_scheduler) -> usize;
    pub fn bsnn_scheduler_batch_size(s: *const bsnn_scheduler) -> usize;
    pub fn bsnn_scheduler_n_samples(s: *const bsnn_scheduler) -> usize;
    pub fn bsnn_scheduler_set_batch_steps(
        s: *mut bsnn_scheduler,
        epochs: *const usize,
        sizes: *const usize,
        count: usize,
    ) -> bsnn_status;
    pub fn bsnn_scheduler_batch_size_at(s: *const bsnn_scheduler, epoch: usize) -> usize;
    pub fn bsnn_scheduler_lr(out: *mut f64, s: *const bsnn_scheduler, base_lr: f64) -> bsnn_status;
    pub fn bsnn_scheduler_total_steps(s: *const bsnn_scheduler) -> usize;
    pub fn bsnn_scheduler_seek(s: *mut bsnn_scheduler, epoch: usize, step: usize) -> bsnn_status;
    pub fn bsnn_scheduler_set_shard(
        s: *mut bsnn_scheduler,
        rank: usize,
        world_size: usize,
    ) -> bsnn_status;
    pub fn bsnn_scheduler_get_shard(
        out_rank: *mut usize,
        out_world_size: *mut usize,
        s: *const bsnn_scheduler,
    ) -> bsnn_status;
}

// ---- Histories -------------------------------------------------------------
pub type bsnn_hist_field = c_uint;
pub const BSNN_HIST_EPOCH: bsnn_hist_field = 1;
pub const BSNN_HIST_BATCH_SIZE: bsnn_hist_field = 2;
pub const BSNN_HIST_LR: bsnn_hist_field = 3;
pub const BSNN_HIST_TRAIN_LOSS: bsnn_hist_field = 4;
pub const BSNN_HIST_VAL_LOSS: bsnn_hist_field = 5;
pub const BSNN_HIST_VAL_ACCURACY: bsnn_hist_field = 6;
pub const BSNN_HIST_WALL_SECONDS: bsnn_hist_field = 7;
pub const BSNN_HIST_SAMPLES: bsnn_hist_field = 8;
pub const BSNN_HIST_UPDATES: bsnn_hist_field = 9;
pub const BSNN_HIST_NOISE_GRAD_SQ: bsnn_hist_field = 10;
pub const BSNN_HIST_NOISE_TRACE: bsnn_hist_field = 11;
pub const BSNN_HIST_B_SIMPLE: bsnn_hist_field = 12;
extern "C" {
    pub fn bsnn_history_create() -> *mut bsnn_history;
    pub fn bsnn_history_free(h: *mut bsnn_history);
    pub fn bsnn_history_size(h: *const bsnn_history) -> usize;
    pub fn bsnn_history_clear(h: *mut bsnn_history) -> bsnn_status;
    pub fn bsnn_history_get(
        out: *mut f64,
        h: *const bsnn_history,
        row: usize,
        field: bsnn_hist_field,
    ) -> bsnn_status;
    pub fn bsnn_history_write_csv(h: *const bsnn_history, path: *const c_char) -> bsnn_status;
}

// ---- Models ----------------------------------------------------------------
pub type bsnn_loss = c_uint;
pub const BSNN_LOSS_NONE: bsnn_loss = 0;
pub const BSNN_LOSS_MSE: bsnn_loss = 1;
pub const BSNN_LOSS_BCE_LOGITS: bsnn_loss = 2;
pub const BSNN_LOSS_SOFTMAX_CE: bsnn_loss = 3;
pub const BSNN_LOSS_MSE_MEAN: bsnn_loss = 4;
pub type bsnn_model_param = c_uint;
pub const BSNN_MODEL_SEED: bsnn_model_param = 1;
pub const BSNN_MODEL_THRESHOLD: bsnn_model_param = 2;
pub const BSNN_MODEL_INIT: bsnn_model_param = 3;
pub const BSNN_MODEL_TRAINING: bsnn_model_param = 4;
pub const BSNN_MODEL_LOSS: bsnn_model_param = 5;
pub const BSNN_MODEL_NOISE_ROUTE: bsnn_model_param = 6;
pub const BSNN_MODEL_NOISE_DECAY: bsnn_model_param = 7;
extern "C" {
    pub fn bsnn_model_create(n_inputs: usize) -> *mut bsnn_model;
    pub fn bsnn_model_free(m: *mut bsnn_model);
    pub fn bsnn_model_add(m: *mut bsnn_model, layer: *mut bsnn_layer) -> bsnn_status;
    pub fn bsnn_model_layer(m: *mut bsnn_model, i: usize) -> *mut bsnn_layer;
    pub fn bsnn_model_n_layers(m: *const bsnn_model) -> usize;
    pub fn bsnn_model_n_inputs(m: *const bsnn_model) -> usize;
    pub fn bsnn_model_n_outputs(m: *const bsnn_model) -> usize;
    pub fn bsnn_model_set_loss(m: *mut bsnn_model, loss: bsnn_loss) -> bsnn_status;
    pub fn bsnn_model_set_training(m: *mut bsnn_model, training: c_int) -> bsnn_status;
    pub fn bsnn_model_set(m: *mut bsnn_model, param: bsnn_model_param, value: f64) -> bsnn_status;
    pub fn bsnn_model_get(out: *mut f64, m: *const bsnn_model, param: bsnn_model_param) -> bsnn_status;
    pub fn bsnn_model_bounds(
        out_lo: *mut f64,
        out_hi: *mut f64,
        out_open: *mut c_uint,
        m: *const bsnn_model,
        param: bsnn_model_param,
    ) -> bsnn_status;
    pub fn bsnn_model_set_seed(m: *mut bsnn_model, seed: u64) -> bsnn_status;
    pub fn bsnn_model_get_seed(out: *mut u64, m: *const bsnn_model) -> bsnn_status;
    pub fn bsnn_model_init_params(m: *mut bsnn_model, seed: u64) -> bsnn_status;
    pub fn bsnn_model_param_count(m: *const bsnn_model) -> usize;
    pub fn bsnn_model_get_params(out: *mut f32, count: usize, m: *const bsnn_model) -> bsnn_status;
    pub fn bsnn_model_set_params(m: *mut bsnn_model, src: *const f32, count: usize) -> bsnn_status;
    pub fn bsnn_model_get_grads(out: *mut f32, count: usize, m: *const bsnn_model) -> bsnn_status;
    pub fn bsnn_model_forward(
        out: *mut bsnn_tensor,
        m: *mut bsnn_model,
        x: *const bsnn_tensor,
    ) -> bsnn_status;
    pub fn bsnn_model_evaluate(
        out_loss: *mut f64,
        out_accuracy: *mut f64,
        m: *mut bsnn_model,
        ds: *const bsnn_dataset,
        batch_size: usize,
    ) -> bsnn_status;
    pub fn bsnn_workspace_create(m: *const bsnn_model) -> *mut bsnn_workspace;
    pub fn bsnn_workspace_free(ws: *mut bsnn_workspace);
    pub fn bsnn_model_forward_ws(
        out: *mut bsnn_tensor,
        m: *const bsnn_model,
        ws: *mut bsnn_workspace,
        x: *const bsnn_tensor,
    ) -> bsnn_status;
    pub fn bsnn_model_evaluate_ws(
        out_loss: *mut f64,
        out_accuracy: *mut f64,
        m: *const bsnn_model,
        ws: *mut bsnn_workspace,
        ds: *const bsnn_dataset,
        batch_size: usize,
    ) -> bsnn_status;
    pub fn bsnn_model_train_step(
        out_loss: *mut f64,
        m: *mut bsnn_model,
        opt: *mut bsnn_optimizer,
        x: *const bsnn_tensor,
        y: *const bsnn_tensor,
    ) -> bsnn_status;
}
pub type bsnn_grad_hook = Option<
    unsafe extern "C" fn(
        user: *mut c_void,
        grads: *mut f32,
        count: usize,
        rows: *mut usize,
        loss_sum: *mut f64,
    ) -> c_int,
>;
extern "C" {
    pub fn bsnn_model_set_grad_hook(
        m: *mut bsnn_model,
        fn_: bsnn_grad_hook,
        user: *mut c_void,
    ) -> bsnn_status;
}
pub type bsnn_stat = c_uint;
pub const BSNN_STAT_SNAPSHOT_BYTES: bsnn_stat = 1;
pub const BSNN_STAT_SNAPSHOT_BYTES_TOTAL: bsnn_stat = 2;
pub const BSNN_STAT_UPDATES: bsnn_stat = 3;
pub const BSNN_STAT_REJECTED: bsnn_stat = 4;
pub const BSNN_STAT_SNAPSHOTS: bsnn_stat = 5;
extern "C" {
    pub fn bsnn_model_stat(out: *mut u64, m: *const bsnn_model, stat: bsnn_stat) -> bsnn_status;
}
pub type bsnn_event = c_uint;
pub const BSNN_EVENT_STEP: bsnn_event = 1;
pub const BSNN_EVENT_EPOCH: bsnn_event = 2;
pub type bsnn_callback = Option<
    unsafe extern "C" fn(
        user: *mut c_void,
        event: bsnn_event,
        epoch: usize,
        step: usize,
        batch_size: usize,
        loss: f64,
    ) -> c_int,
>;
extern "C" {
    pub fn bsnn_model_train(
        out_steps: *mut usize,
        m: *mut bsnn_model,
        opt: *mut bsnn_optimizer,
        s: *mut bsnn_scheduler,
        ds: *const bsnn_dataset,
        epochs: usize,
        cb: bsnn_callback,
        user: *mut c_void,
    ) -> bsnn_status;
    pub fn bsnn_model_train_ex(
        out_steps: *mut usize,
        m: *mut bsnn_model,
        opt: *mut bsnn_optimizer,
        s: *mut bsnn_scheduler,
        ds: *const bsnn_dataset,
        val: *const bsnn_dataset,
        history: *mut bsnn_history,
        epochs: usize,
        cb: bsnn_callback,
        user: *mut c_void,
    ) -> bsnn_status;
}
pub type bsnn_noise_route = c_uint;
pub const BSNN_NOISE_OFF: bsnn_noise_route = 0;
pub const BSNN_NOISE_MICRO_BATCH: bsnn_noise_route = 1;
pub const BSNN_NOISE_PER_SAMPLE: bsnn_noise_route = 2;
pub type bsnn_noise_field = c_uint;
pub const BSNN_NOISE_GRAD_SQ: bsnn_noise_field = 1;
pub const BSNN_NOISE_TRACE: bsnn_noise_field = 2;
pub const BSNN_NOISE_B_SIMPLE: bsnn_noise_field = 3;
pub const BSNN_NOISE_GRAD_SQ_SE: bsnn_noise_field = 4;
pub const BSNN_NOISE_TRACE_SE: bsnn_noise_field = 5;
pub const BSNN_NOISE_B_SIMPLE_SE: bsnn_noise_field = 6;
pub const BSNN_NOISE_COUNT: bsnn_noise_field = 7;
pub const BSNN_NOISE_RANGE: bsnn_noise_field = 8;
pub const BSNN_NOISE_SMALL_ROWS: bsnn_noise_field = 9;
pub const BSNN_NOISE_BIG_ROWS: bsnn_noise_field = 10;
pub const BSNN_NOISE_SMALL_SQ: bsnn_noise_field = 11;
pub const BSNN_NOISE_BIG_SQ: bsnn_noise_field = 12;
extern "C" {
    pub fn bsnn_model_noise(out: *mut f64, m: *const bsnn_model, field: bsnn_noise_field) -> bsnn_status;
    pub fn bsnn_model_noise_observe(
        m: *mut bsnn_model,
        small_sq: f64,
        small_rows: f64,
        big_sq: f64,
        big_rows: f64,
    ) -> bsnn_status;
    pub fn bsnn_model_noise_reset(m: *mut bsnn_model) -> bsnn_status;
    pub fn bsnn_model_noise_measure(
        out: *mut f64,
        count: usize,
        m: *mut bsnn_model,
        ds: *const bsnn_dataset,
        route: bsnn_noise_route,
        batch: usize,
        batches: usize,
        seed: u64,
    ) -> bsnn_status;
    pub fn bsnn_model_memory(
        out_bytes: *mut usize,
        m: *const bsnn_model,
        opt: *const bsnn_optimizer,
        batch: usize,
    ) -> bsnn_status;
    pub fn bsnn_model_max_batch(
        out: *mut usize,
        m: *const bsnn_model,
        opt: *const bsnn_optimizer,
        budget_bytes: usize,
        max_rows: usize,
    ) -> bsnn_status;
    pub fn bsnn_model_save(m: *const bsnn_model, path: *const c_char) -> bsnn_status;
    pub fn bsnn_model_load(out: *mut *mut bsnn_model, path: *const c_char) -> bsnn_status;
    pub fn bsnn_model_save_size(out_size: *mut usize, m: *const bsnn_model) -> bsnn_status;
    pub fn bsnn_model_save_buffer(
        out: *mut c_void,
        capacity: usize,
        out_size: *mut usize,
        m: *const bsnn_model,
    ) -> bsnn_status;
    pub fn bsnn_model_save_alloc(
        out: *mut *mut c_void,
        out_size: *mut usize,
        m: *const bsnn_model,
    ) -> bsnn_status;
    pub fn bsnn_buffer_free(buf: *mut c_void);
    pub fn bsnn_model_load_buffer(out: *mut *mut bsnn_model, data: *const c_void, size: usize)
        -> bsnn_status;
}

// ---- The batch-size search -------------------------------------------------
pub type bsnn_search_param = c_uint;
pub const BSNN_SEARCH_START: bsnn_search_param = 1;
pub const BSNN_SEARCH_BUDGET_KIND: bsnn_search_param = 2;
pub const BSNN_SEARCH_BUDGET: bsnn_search_param = 3;
pub const BSNN_SEARCH_METRIC: bsnn_search_param = 4;
pub const BSNN_SEARCH_SEED: bsnn_search_param = 5;
pub const BSNN_SEARCH_MEMORY_BUDGET: bsnn_search_param = 6;
pub const BSNN_SEARCH_REPEATS: bsnn_search_param = 7;
pub const BSNN_SEARCH_RULE: bsnn_search_param = 8;
pub const BSNN_SEARCH_REINIT: bsnn_search_param = 9;
pub type bsnn_search_rule = c_uint;
pub const BSNN_RULE_BEST_MEAN: bsnn_search_rule = 1;
pub const BSNN_RULE_ONE_SE: bsnn_search_rule = 2;
pub type bsnn_search_budget = c_uint;
pub const BSNN_BUDGET_EPOCHS: bsnn_search_budget = 1;
pub const BSNN_BUDGET_SAMPLES: bsnn_search_budget = 2;
pub const BSNN_BUDGET_SECONDS: bsnn_search_budget = 3;
pub type bsnn_search_metric = c_uint;
pub const BSNN_METRIC_VAL_LOSS: bsnn_search_metric = 1;
pub const BSNN_METRIC_VAL_ACCURACY: bsnn_search_metric = 2;
pub type bsnn_search_col = c_uint;
pub const BSNN_SEARCH_COL_BATCH: bsnn_search_col = 1;
pub const BSNN_SEARCH_COL_EPOCHS: bsnn_search_col = 2;
pub const BSNN_SEARCH_COL_UPDATES: bsnn_search_col = 3;
pub const BSNN_SEARCH_COL_TRAIN_LOSS: bsnn_search_col = 4;
pub const BSNN_SEARCH_COL_VAL_LOSS: bsnn_search_col = 5;
pub const BSNN_SEARCH_COL_VAL_ACCURACY: bsnn_search_col = 6;
pub const BSNN_SEARCH_COL_SECONDS: bsnn_search_col = 7;
pub const BSNN_SEARCH_COL_PEAK_BYTES: bsnn_search_col = 8;
pub const BSNN_SEARCH_COL_ACCUMULATED: bsnn_search_col = 9;
pub const BSNN_SEARCH_COL_MICRO_BATCH: bsnn_search_col = 10;
pub const BSNN_SEARCH_COL_N: bsnn_search_col = 11;
pub const BSNN_SEARCH_COL_VAL_LOSS_SD: bsnn_search_col = 12;
pub const BSNN_SEARCH_COL_VAL_ACCURACY_SD: bsnn_search_col = 13;
extern "C" {
    pub fn bsnn_search_create() -> *mut bsnn_search;
    pub fn bsnn_search_free(search: *mut bsnn_search);
    pub fn bsnn_search_set(search: *mut bsnn_search, param: bsnn_search_param, value: f64) -> bsnn_status;
    pub fn bsnn_search_get(
        out: *mut f64,
        search: *const bsnn_search,
        param: bsnn_search_param,
    ) -> bsnn_status;
    pub fn bsnn_search_bounds(
        out_lo: *mut f64,
        out_hi: *mut f64,
        out_open: *mut c_uint,
        search: *const bsnn_search,
        param: bsnn_search_param,
    ) -> bsnn_status;
    pub fn bsnn_search_set_seed(search: *mut bsnn_search, seed: u64) -> bsnn_status;
    pub fn bsnn_search_get_seed(out: *mut u64, search: *const bsnn_search) -> bsnn_status;
    pub fn bsnn_search_set_memory_budget(search: *mut bsnn_search, bytes: usize) -> bsnn_status;
    pub fn bsnn_search_get_memory_budget(out: *mut usize, search: *const bsnn_search) -> bsnn_status;
    pub fn bsnn_search_run(
        out_best: *mut usize,
        search: *mut bsnn_search,
        m: *mut bsnn_model,
        opt: *mut bsnn_optimizer,
        train: *const bsnn_dataset,
        val: *const bsnn_dataset,
        tmpl: *const bsnn_scheduler,
    ) -> bsnn_status;
    pub fn bsnn_search_sweep(
        out_best: *mut usize,
        search: *mut bsnn_search,
        m: *mut bsnn_model,
        opt: *mut bsnn_optimizer,
        train: *const bsnn_dataset,
        val: *const bsnn_dataset,
        tmpl: *const bsnn_scheduler,
        sizes: *const usize,
        count: usize,
    ) -> bsnn_status;
    pub fn bsnn_search_count(search: *const bsnn_search) -> usize;
    pub fn bsnn_search_best(search: *const bsnn_search) -> usize;
    pub fn bsnn_search_result(
        out: *mut f64,
        search: *const bsnn_search,
        row: usize,
        col: bsnn_search_col,
    ) -> bsnn_status;
    pub fn bsnn_search_trial(
        out: *mut f64,
        search: *const bsnn_search,
        row: usize,
        repeat: usize,
        col: bsnn_search_col,
    ) -> bsnn_status;
    pub fn bsnn_search_write_csv(search: *const bsnn_search, path: *const c_char) -> bsnn_status;
}

// ---- Checkpoints -----------------------------------------------------------
extern "C" {
    pub fn bsnn_checkpoint_save(
        m: *const bsnn_model,
        opt: *const bsnn_optimizer,
        s: *const bsnn_scheduler,
        path: *const c_char,
    ) -> bsnn_status;
    pub fn bsnn_checkpoint_save_alloc(
        out: *mut *mut c_void,
        out_size: *mut usize,
        m: *const bsnn_model,
        opt: *const bsnn_optimizer,
        s: *const bsnn_scheduler,
    ) -> bsnn_status;
    pub fn bsnn_checkpoint_load(
        out_model: *mut *mut bsnn_model,
        out_opt: *mut *mut bsnn_optimizer,
        out_sched: *mut *mut bsnn_scheduler,
        path: *const c_char,
    ) -> bsnn_status;
    pub fn bsnn_checkpoint_load_buffer(
        out_model: *mut *mut bsnn_model,
        out_opt: *mut *mut bsnn_optimizer,
        out_sched: *mut *mut bsnn_scheduler,
        data: *const c_void,
        size: usize,
    ) -> bsnn_status;
}
