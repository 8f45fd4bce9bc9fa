//! The header's enums as Rust enums. Values come from `bsnn_sys`'s
//! constants (checked against the header by its tests); `raw()` gives the C
//! value and `from_raw()` reads one back (`None` for a value of a newer
//! library). Every enum converts into `f64`, so enum-valued settings take
//! them directly: `scheduler.set(SchedParam::LrSchedule, LrSchedule::Cosine)`.

use crate::sys;

macro_rules! c_enum {
    ($(#[$meta:meta])* $name:ident: $raw:ty {
        $($(#[$vmeta:meta])* $variant:ident = $value:path,)*
    }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// The C value.
            pub fn raw(self) -> $raw {
                match self {
                    $($name::$variant => $value,)*
                }
            }

            /// The variant for a C value; `None` when this crate does not know it.
            pub fn from_raw(value: $raw) -> Option<$name> {
                $(if value == $value {
                    return Some($name::$variant);
                })*
                None
            }
        }

        impl From<$name> for f64 {
            fn from(v: $name) -> f64 {
                v.raw() as f64
            }
        }
    };
}

c_enum! {
    /// Kinds of layers (`bsnn_layer_kind`).
    LayerKind: sys::bsnn_layer_kind {
        Dense = sys::BSNN_LAYER_DENSE,
        Activation = sys::BSNN_LAYER_ACTIVATION,
        BatchNorm = sys::BSNN_LAYER_BATCHNORM,
        Dropout = sys::BSNN_LAYER_DROPOUT,
        LayerNorm = sys::BSNN_LAYER_LAYERNORM,
        Standardize = sys::BSNN_LAYER_STANDARDIZE,
    }
}

c_enum! {
    /// Nonlinearities of an activation layer (`bsnn_activation`).
    Activation: sys::bsnn_activation {
        Linear = sys::BSNN_ACT_LINEAR,
        Sigmoid = sys::BSNN_ACT_SIGMOID,
        Tanh = sys::BSNN_ACT_TANH,
        Relu = sys::BSNN_ACT_RELU,
        LeakyRelu = sys::BSNN_ACT_LEAKY_RELU,
        Elu = sys::BSNN_ACT_ELU,
        Softmax = sys::BSNN_ACT_SOFTMAX,
    }
}

c_enum! {
    /// Weight initialisers of dense layers (`bsnn_init`).
    Init: sys::bsnn_init {
        Default = sys::BSNN_INIT_DEFAULT,
        Zeros = sys::BSNN_INIT_ZEROS,
        GlorotUniform = sys::BSNN_INIT_GLOROT_UNIFORM,
        GlorotNormal = sys::BSNN_INIT_GLOROT_NORMAL,
        HeUniform = sys::BSNN_INIT_HE_UNIFORM,
        HeNormal = sys::BSNN_INIT_HE_NORMAL,
        LecunUniform = sys::BSNN_INIT_LECUN_UNIFORM,
        LecunNormal = sys::BSNN_INIT_LECUN_NORMAL,
        Uniform = sys::BSNN_INIT_UNIFORM,
    }
}

c_enum! {
    /// Numeric settings of a layer (`bsnn_layer_param`).
    LayerParam: sys::bsnn_layer_param {
        Init = sys::BSNN_LAYER_INIT,
        InitLo = sys::BSNN_LAYER_INIT_LO,
        InitHi = sys::BSNN_LAYER_INIT_HI,
        BiasInit = sys::BSNN_LAYER_BIAS_INIT,
        Slope = sys::BSNN_LAYER_SLOPE,
        Momentum = sys::BSNN_LAYER_MOMENTUM,
        Eps = sys::BSNN_LAYER_EPS,
        Rate = sys::BSNN_LAYER_RATE,
        Seed = sys::BSNN_LAYER_SEED,
        L1 = sys::BSNN_LAYER_L1,
        L2 = sys::BSNN_LAYER_L2,
    }
}

c_enum! {
    /// Update rules (`bsnn_optimizer_kind`); formulas in include/bsnn.h.
    OptimizerKind: sys::bsnn_optimizer_kind {
        Sgd = sys::BSNN_SGD,
        Momentum = sys::BSNN_MOMENTUM,
        Nesterov = sys::BSNN_NESTEROV,
        Adagrad = sys::BSNN_ADAGRAD,
        Adadelta = sys::BSNN_ADADELTA,
        RmsProp = sys::BSNN_RMSPROP,
        Adam = sys::BSNN_ADAM,
        Adamax = sys::BSNN_ADAMAX,
        Nadam = sys::BSNN_NADAM,
        AmsGrad = sys::BSNN_AMSGRAD,
        AdamW = sys::BSNN_ADAMW,
    }
}

c_enum! {
    /// Hyperparameters of an update rule (`bsnn_opt_param`).
    OptParam: sys::bsnn_opt_param {
        Lr = sys::BSNN_OPT_LR,
        Momentum = sys::BSNN_OPT_MOMENTUM,
        Beta1 = sys::BSNN_OPT_BETA1,
        Beta2 = sys::BSNN_OPT_BETA2,
        Eps = sys::BSNN_OPT_EPS,
        Rho = sys::BSNN_OPT_RHO,
        WeightDecay = sys::BSNN_OPT_WEIGHT_DECAY,
        Variant = sys::BSNN_OPT_VARIANT,
        DecayScope = sys::BSNN_OPT_DECAY_SCOPE,
        MomentumDecay = sys::BSNN_OPT_MOMENTUM_DECAY,
    }
}

c_enum! {
    /// Values of `OptParam::Variant`.
    OptVariant: sys::bsnn_opt_variant {
        PyTorch = sys::BSNN_VARIANT_PYTORCH,
        Ruder = sys::BSNN_VARIANT_RUDER,
    }
}

c_enum! {
    /// Values of `OptParam::DecayScope`.
    DecayScope: sys::bsnn_decay_scope {
        All = sys::BSNN_DECAY_ALL,
        Weights = sys::BSNN_DECAY_WEIGHTS,
    }
}

c_enum! {
    /// The TensorFlow Playground's data sets (`bsnn_playground`).
    Playground: sys::bsnn_playground {
        Circle = sys::BSNN_PG_CIRCLE,
        Xor = sys::BSNN_PG_XOR,
        Gauss = sys::BSNN_PG_GAUSS,
        Spiral = sys::BSNN_PG_SPIRAL,
        Plane = sys::BSNN_PG_PLANE,
        MultiGauss = sys::BSNN_PG_MULTI_GAUSS,
    }
}

c_enum! {
    /// Scheduler settings (`bsnn_sched_param`).
    SchedParam: sys::bsnn_sched_param {
        BatchSize = sys::BSNN_SCHED_BATCH_SIZE,
        FullBatch = sys::BSNN_SCHED_FULL_BATCH,
        Shuffle = sys::BSNN_SCHED_SHUFFLE,
        Seed = sys::BSNN_SCHED_SEED,
        DropLast = sys::BSNN_SCHED_DROP_LAST,
        CarryOver = sys::BSNN_SCHED_CARRY_OVER,
        BatchSchedule = sys::BSNN_SCHED_BATCH_SCHEDULE,
        GrowthFactor = sys::BSNN_SCHED_GROWTH_FACTOR,
        GrowthEvery = sys::BSNN_SCHED_GROWTH_EVERY,
        BatchCap = sys::BSNN_SCHED_BATCH_CAP,
        LrSchedule = sys::BSNN_SCHED_LR_SCHEDULE,
        LrDecay = sys::BSNN_SCHED_LR_DECAY,
        LrStepEpochs = sys::BSNN_SCHED_LR_STEP_EPOCHS,
        LrMinFactor = sys::BSNN_SCHED_LR_MIN_FACTOR,
        WarmupSteps = sys::BSNN_SCHED_WARMUP_STEPS,
        LrScaling = sys::BSNN_SCHED_LR_SCALING,
        BaseBatch = sys::BSNN_SCHED_BASE_BATCH,
        MicroBatch = sys::BSNN_SCHED_MICRO_BATCH,
        MemoryBudget = sys::BSNN_SCHED_MEMORY_BUDGET,
    }
}

c_enum! {
    /// Batch-size schedules (`SchedParam::BatchSchedule`).
    BatchSchedule: sys::bsnn_batch_schedule {
        Constant = sys::BSNN_BATCH_CONSTANT,
        Steps = sys::BSNN_BATCH_STEPS,
        Geometric = sys::BSNN_BATCH_GEOMETRIC,
    }
}

c_enum! {
    /// Learning-rate schedules (`SchedParam::LrSchedule`).
    LrSchedule: sys::bsnn_lr_schedule {
        Constant = sys::BSNN_LR_CONSTANT,
        Step = sys::BSNN_LR_STEP,
        Exponential = sys::BSNN_LR_EXPONENTIAL,
        Cosine = sys::BSNN_LR_COSINE,
    }
}

c_enum! {
    /// Scaling of the learning rate with the batch size (`SchedParam::LrScaling`).
    LrScaling: sys::bsnn_lr_scaling {
        Off = sys::BSNN_SCALE_NONE,
        Linear = sys::BSNN_SCALE_LINEAR,
        Sqrt = sys::BSNN_SCALE_SQRT,
    }
}

c_enum! {
    /// Columns of a history row (`bsnn_hist_field`).
    HistField: sys::bsnn_hist_field {
        Epoch = sys::BSNN_HIST_EPOCH,
        BatchSize = sys::BSNN_HIST_BATCH_SIZE,
        Lr = sys::BSNN_HIST_LR,
        TrainLoss = sys::BSNN_HIST_TRAIN_LOSS,
        ValLoss = sys::BSNN_HIST_VAL_LOSS,
        ValAccuracy = sys::BSNN_HIST_VAL_ACCURACY,
        WallSeconds = sys::BSNN_HIST_WALL_SECONDS,
        Samples = sys::BSNN_HIST_SAMPLES,
        Updates = sys::BSNN_HIST_UPDATES,
    }
}

c_enum! {
    /// Objectives (`bsnn_loss`); a new model has none.
    Loss: sys::bsnn_loss {
        Mse = sys::BSNN_LOSS_MSE,
        BceLogits = sys::BSNN_LOSS_BCE_LOGITS,
        SoftmaxCe = sys::BSNN_LOSS_SOFTMAX_CE,
        MseMean = sys::BSNN_LOSS_MSE_MEAN,
    }
}

c_enum! {
    /// Numeric model settings (`bsnn_model_param`); the last two are read-only.
    ModelParam: sys::bsnn_model_param {
        Seed = sys::BSNN_MODEL_SEED,
        Threshold = sys::BSNN_MODEL_THRESHOLD,
        Init = sys::BSNN_MODEL_INIT,
        Training = sys::BSNN_MODEL_TRAINING,
        Loss = sys::BSNN_MODEL_LOSS,
    }
}

c_enum! {
    /// What a training callback is told about (`bsnn_event`).
    EventKind: sys::bsnn_event {
        /// After each update: the loss is the batch's mean loss.
        Step = sys::BSNN_EVENT_STEP,
        /// After each epoch: the loss is the epoch's mean training loss.
        Epoch = sys::BSNN_EVENT_EPOCH,
    }
}

c_enum! {
    /// Settings of the batch-size search (`bsnn_search_param`).
    SearchParam: sys::bsnn_search_param {
        Start = sys::BSNN_SEARCH_START,
        BudgetKind = sys::BSNN_SEARCH_BUDGET_KIND,
        Budget = sys::BSNN_SEARCH_BUDGET,
        Metric = sys::BSNN_SEARCH_METRIC,
        Seed = sys::BSNN_SEARCH_SEED,
        MemoryBudget = sys::BSNN_SEARCH_MEMORY_BUDGET,
    }
}

c_enum! {
    /// What each search candidate may spend (`SearchParam::BudgetKind`).
    SearchBudget: sys::bsnn_search_budget {
        Epochs = sys::BSNN_BUDGET_EPOCHS,
        Samples = sys::BSNN_BUDGET_SAMPLES,
        Seconds = sys::BSNN_BUDGET_SECONDS,
    }
}

c_enum! {
    /// The search's comparison (`SearchParam::Metric`).
    SearchMetric: sys::bsnn_search_metric {
        ValLoss = sys::BSNN_METRIC_VAL_LOSS,
        ValAccuracy = sys::BSNN_METRIC_VAL_ACCURACY,
    }
}

c_enum! {
    /// Columns of a search result row (`bsnn_search_col`).
    SearchCol: sys::bsnn_search_col {
        Batch = sys::BSNN_SEARCH_COL_BATCH,
        Epochs = sys::BSNN_SEARCH_COL_EPOCHS,
        Updates = sys::BSNN_SEARCH_COL_UPDATES,
        TrainLoss = sys::BSNN_SEARCH_COL_TRAIN_LOSS,
        ValLoss = sys::BSNN_SEARCH_COL_VAL_LOSS,
        ValAccuracy = sys::BSNN_SEARCH_COL_VAL_ACCURACY,
        Seconds = sys::BSNN_SEARCH_COL_SECONDS,
        PeakBytes = sys::BSNN_SEARCH_COL_PEAK_BYTES,
        Accumulated = sys::BSNN_SEARCH_COL_ACCUMULATED,
        MicroBatch = sys::BSNN_SEARCH_COL_MICRO_BATCH,
    }
}

/// Input features of the Playground (`bsnn_feature`), OR-ed into a mask:
/// `Features::X1 | Features::X1_SQ`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Features(pub u32);

impl Features {
    pub const X1: Features = Features(sys::BSNN_FEAT_X1);
    pub const X2: Features = Features(sys::BSNN_FEAT_X2);
    pub const X1_SQ: Features = Features(sys::BSNN_FEAT_X1_SQ);
    pub const X2_SQ: Features = Features(sys::BSNN_FEAT_X2_SQ);
    pub const X1_X2: Features = Features(sys::BSNN_FEAT_X1_X2);
    pub const SIN_X1: Features = Features(sys::BSNN_FEAT_SIN_X1);
    pub const SIN_X2: Features = Features(sys::BSNN_FEAT_SIN_X2);
}

impl std::ops::BitOr for Features {
    type Output = Features;
    fn bitor(self, other: Features) -> Features {
        Features(self.0 | other.0)
    }
}
