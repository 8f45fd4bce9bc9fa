"""bsnn's enums and version, generated from include/bsnn.h by
examples/python/gen_enums.py (make python-enums). Do not edit: the
package's tests fail when this file and the header disagree."""
from enum import IntEnum, IntFlag

# The header this package was generated from (and written for).
HEADER_VERSION = (0, 3, 0)
MAX_RANK = 4


class Status(IntEnum):
    """bsnn_status (include/bsnn.h)."""

    OK = 0
    E_NULL = -1  # a required pointer or handle was NULL
    E_ARG = -2  # an argument is out of range or not finite
    E_SHAPE = -3  # shapes or sizes do not agree
    E_NOMEM = -4  # allocation failed; every object is still valid
    E_STATE = -5  # call not allowed in the object's current state
    E_IO = -6  # a file could not be read or written
    E_FORMAT = -7  # a file or buffer is malformed or unsupported
    E_DIVERGED = -8  # loss or gradient became NaN or infinite
    E_UNSUPPORTED = -9  # the operation is not available in this build
    E_CALLBACK = -10  # a host hook asked to abandon the step


class BoundFlag(IntFlag):
    """bsnn_bound_flag (include/bsnn.h)."""

    LO_OPEN = 1  # value must be > lo (not >=)
    HI_OPEN = 2  # value must be < hi (not <=)


class GemmKernel(IntEnum):
    """bsnn_gemm_kernel (include/bsnn.h)."""

    AUTO = 0  # choose from the CPU (setting only)
    PORTABLE = 1  # BLIS as detected + bsnn's AVX2 small kernels
    AVX512 = 2  # bsnn's AVX-512F kernels


class LayerKind(IntEnum):
    """bsnn_layer_kind (include/bsnn.h)."""

    NONE = 0  # no layer (bsnn_layer_kind_of(NULL))
    DENSE = 1
    ACTIVATION = 2
    BATCHNORM = 3
    DROPOUT = 4
    LAYERNORM = 5
    STANDARDIZE = 6


class ActivationKind(IntEnum):
    """bsnn_activation (include/bsnn.h)."""

    LINEAR = 0
    SIGMOID = 1
    TANH = 2
    RELU = 3
    LEAKY_RELU = 4
    ELU = 5
    SOFTMAX = 6


class Init(IntEnum):
    """bsnn_init (include/bsnn.h)."""

    DEFAULT = 0  # the model's default (uniform Glorot)
    ZEROS = 1
    GLOROT_UNIFORM = 2  # U(-a,a), a = sqrt(6/(fan_in+fan_out))
    GLOROT_NORMAL = 3  # N(0, 2/(fan_in+fan_out))
    HE_UNIFORM = 4  # U(-a,a), a = sqrt(6/fan_in)
    HE_NORMAL = 5  # N(0, 2/fan_in)
    LECUN_UNIFORM = 6  # U(-a,a), a = sqrt(3/fan_in)
    LECUN_NORMAL = 7  # N(0, 1/fan_in)
    UNIFORM = 8  # U(lo,hi) from BSNN_LAYER_INIT_LO/HI


class LayerParam(IntEnum):
    """bsnn_layer_param (include/bsnn.h)."""

    INIT = 1  # dense: a bsnn_init value
    INIT_LO = 2  # dense, BSNN_INIT_UNIFORM: lower bound
    INIT_HI = 3  # dense, BSNN_INIT_UNIFORM: upper bound
    BIAS_INIT = 4  # dense: initial value of every bias
    SLOPE = 5  # leaky relu: negative slope (0.01); elu: alpha (1)
    MOMENTUM = 6  # batch norm: running-average momentum
    EPS = 7  # batch norm, layer norm: variance epsilon (1e-5)
    RATE = 8  # dropout: probability of dropping [0,1)
    SEED = 9  # dropout: mask generator seed (0; typed: bsnn_layer_set_seed)
    L1 = 10  # dense: L1 penalty on weights (0)
    L2 = 11  # dense: L2 penalty on weights (0)


class OptimizerKind(IntEnum):
    """bsnn_optimizer_kind (include/bsnn.h)."""

    OPTIMIZER_NONE = 0  # no optimizer (bsnn_optimizer_kind_of(NULL))
    SGD = 1
    MOMENTUM = 2
    NESTEROV = 3
    ADAGRAD = 4
    ADADELTA = 5
    RMSPROP = 6
    ADAM = 7
    ADAMAX = 8
    NADAM = 9
    AMSGRAD = 10
    ADAMW = 11


class OptParam(IntEnum):
    """bsnn_opt_param (include/bsnn.h)."""

    LR = 1  # learning rate, every rule (0, 1e6]
    MOMENTUM = 2  # momentum, Nesterov: mu in [0,1)
    BETA1 = 3  # Adam family: first-moment decay [0,1)
    BETA2 = 4  # Adam family: second-moment decay [0,1)
    EPS = 5  # Adagrad, Adadelta, RMSprop, Adam family: denominators' epsilon (0, 1]
    RHO = 6  # Adadelta / RMSprop decay [0,1) (RMSprop: torch's alpha)
    WEIGHT_DECAY = 7  # AdamW: decoupled decay [0, 1e6], with lr * weight_decay < 1
    VARIANT = 8  # momentum, Nesterov, Adagrad, RMSprop, AdaMax, Nadam, AMSGrad: a bsnn_opt_variant (default BSNN_VARIANT_PYTORCH)
    DECAY_SCOPE = 9  # AdamW: a bsnn_decay_scope (default ALL)
    MOMENTUM_DECAY = 10  # Nadam: psi of mu_t = b1 (1 - 0.96^(t psi) / 2), [0, 1e6], default 0.004


class OptVariant(IntEnum):
    """bsnn_opt_variant (include/bsnn.h)."""

    PYTORCH = 0  # torch.optim's update (the default)
    RUDER = 1  # the form in Ruder's survey (arXiv:1609.04747), as bsnn 0.2 computed it: lr inside the velocity (momentum, Nesterov), eps inside the root (Adagrad, RMSprop), eps added to u (AdaMax), constant b1 (Nadam), no bias correction (AMSGrad)


class DecayScope(IntEnum):
    """bsnn_decay_scope (include/bsnn.h)."""

    ALL = 0  # every parameter, as torch.optim.AdamW
    WEIGHTS = 1  # dense-layer weights only (not biases, not batch-norm gamma/beta), as bsnn 0.2 did


class Playground(IntEnum):
    """bsnn_playground (include/bsnn.h)."""

    CIRCLE = 1  # class: +1 inside radius 2.5, -1 on the ring 3.5..5
    XOR = 2  # class: +1 when x1*x2 >= 0
    GAUSS = 3  # class: +1 around (2,2), -1 around (-2,-2)
    SPIRAL = 4  # class: two arms turning 1.75 times, +1 and -1
    PLANE = 5  # regression: (x1 + x2) / 10
    MULTI_GAUSS = 6  # regression: six signed bumps in [-1, 1]


class PlaygroundFlag(IntFlag):
    """bsnn_pg_flag (include/bsnn.h)."""

    LABELS_01 = 1  # classification targets 1/0 instead of +1/-1


class Feature(IntFlag):
    """bsnn_feature (include/bsnn.h)."""

    X1 = 1
    X2 = 2
    X1_SQ = 4  # x1^2
    X2_SQ = 8  # x2^2
    X1_X2 = 16  # x1 * x2
    SIN_X1 = 32  # sin(x1)
    SIN_X2 = 64  # sin(x2)


class SchedParam(IntEnum):
    """bsnn_sched_param (include/bsnn.h)."""

    BATCH_SIZE = 1  # samples per batch, 1..N (default 32, clamped to N)
    FULL_BATCH = 2  # 1: every batch is all N samples (GD)
    SHUFFLE = 3  # 1: new random order each epoch (default 1)
    SEED = 4  # shuffle seed (default 0; typed: bsnn_scheduler_set_seed)
    DROP_LAST = 5  # 1: skip the partial last batch (default 0)
    CARRY_OVER = 6  # 1: Playground batching: the partial last batch joins the next epoch's first batch
    BATCH_SCHEDULE = 7  # a bsnn_batch_schedule (default CONSTANT)
    GROWTH_FACTOR = 8  # GEOMETRIC: factor f > 1 (default 2); ADAPTIVE: largest change per epoch
    GROWTH_EVERY = 9  # GEOMETRIC: every k >= 1 epochs (default 1)
    BATCH_CAP = 10  # GEOMETRIC, ADAPTIVE: largest batch, BATCH_SIZE..N (default 0: N)
    LR_SCHEDULE = 11  # a bsnn_lr_schedule (default CONSTANT)
    LR_DECAY = 12  # STEP / EXPONENTIAL: factor gamma in (0,1] (default 0.1)
    LR_STEP_EPOCHS = 13  # STEP: decay every s >= 1 epochs (10); COSINE: period T >= 1 epochs
    LR_MIN_FACTOR = 14  # COSINE: floor as a fraction of base [0,1] (0)
    WARMUP_STEPS = 15  # linear warmup over W >= 0 updates (0: off)
    LR_SCALING = 16  # a bsnn_lr_scaling (default NONE)
    BASE_BATCH = 17  # B0 >= 1 of the scaling rule (default 32)
    MICRO_BATCH = 18  # process each batch m >= 1 rows at a time, one update per batch (default 0: off)
    MEMORY_BUDGET = 19  # bytes bsnn_model_train may use for model, optimizer and workspace; batches that do not fit are split (default 0: none; typed: bsnn_scheduler_set_memory_budget)
    BATCH_MIN = 20  # ADAPTIVE: smallest batch, 1..N (default 1)
    BATCH_POW2 = 21  # ADAPTIVE: 1 rounds to powers of two (0)
    NOISE_TARGET = 22  # ADAPTIVE: the batch aims at this multiple of the measured B_simple, (0, 1e6] (1)


class BatchSchedule(IntEnum):
    """bsnn_batch_schedule (include/bsnn.h)."""

    CONSTANT = 0  # BATCH_SIZE every epoch
    STEPS = 1  # list from bsnn_scheduler_set_batch_steps
    GEOMETRIC = 2  # min(cap, floor(B * f^floor(e/k))) (Smith et al. 2017, "Don't decay the learning rate, increase the batch size")
    ADAPTIVE = 3  # epoch 0: BATCH_SIZE; then the last epoch's batch moved toward NOISE_TARGET x the model's B_simple (bsnn_scheduler_observe_noise; kept while none), by at most a factor GROWTH_FACTOR, within [BATCH_MIN, cap]


class LrSchedule(IntEnum):
    """bsnn_lr_schedule (include/bsnn.h)."""

    CONSTANT = 0  # 1
    STEP = 1  # gamma^floor(e/s)
    EXPONENTIAL = 2  # gamma^e
    COSINE = 3  # mn + (1-mn)(1+cos(pi min(e,T)/T))/2 (Loshchilov and Hutter 2017, without restarts)


class LrScaling(IntEnum):
    """bsnn_lr_scaling (include/bsnn.h)."""

    NONE = 0  # 1
    LINEAR = 1  # B / B0 (Goyal et al. 2017)
    SQRT = 2  # sqrt(B / B0) (Krizhevsky 2014; Hoffer et al. 2017)
    ADASCALE = 3  # AdaScale's gain (Johnson et al. 2020) (var + sqr) / (var / s + sqr), s = B / B0, sqr the |G|^2 and var the tr(Sigma) / B0 last observed: (1 + Bs/B0) / (1 + Bs/B) with Bs = B_simple, between 1 and s; 1 before any observation


class HistField(IntEnum):
    """bsnn_hist_field (include/bsnn.h)."""

    EPOCH = 1  # 0-based epoch index
    BATCH_SIZE = 2  # the epoch's scheduled batch size
    LR = 3  # lr of the epoch's last update
    TRAIN_LOSS = 4  # mean training loss over the epoch's samples
    VAL_LOSS = 5  # validation loss after the epoch (NaN: none)
    VAL_ACCURACY = 6  # validation accuracy (NaN: none)
    WALL_SECONDS = 7  # seconds since this training call began
    SAMPLES = 8  # samples seen since this training call began
    UPDATES = 9  # updates since this training call began
    NOISE_GRAD_SQ = 10  # the model's noise-scale estimates after the epoch (bsnn_model_noise; NaN: none): |G|^2
    NOISE_TRACE = 11  # tr(Sigma)
    B_SIMPLE = 12  # B_simple = tr(Sigma) / |G|^2


class Loss(IntEnum):
    """bsnn_loss (include/bsnn.h)."""

    NONE = 0  # none chosen yet (a new model)
    MSE = 1
    BCE_LOGITS = 2
    SOFTMAX_CE = 3
    MSE_MEAN = 4


class ModelParam(IntEnum):
    """bsnn_model_param (include/bsnn.h)."""

    SEED = 1  # seed of weight initialisation (default 1; typed: bsnn_model_set_seed)
    THRESHOLD = 2  # one-output accuracy: class = output > this (after a sigmoid for BCE_LOGITS); 0.5
    INIT = 3  # default bsnn_init of dense layers (1..8)
    TRAINING = 4  # read-only: 1 training mode, 0 evaluation (set with bsnn_model_set_training)
    LOSS = 5  # read-only: the bsnn_loss (0: none yet; set with bsnn_model_set_loss)
    NOISE_ROUTE = 6  # gradient statistics of every update: a bsnn_noise_route (default OFF)
    NOISE_DECAY = 7  # weight of the past in the noise-scale averages, [0, 1] (default 0.99)


class Stat(IntEnum):
    """bsnn_stat (include/bsnn.h)."""

    SNAPSHOT_BYTES = 1  # bytes copied so the last update could be undone: 0 unless its safety bound failed
    SNAPSHOT_BYTES_TOTAL = 2  # the same, summed over updates
    UPDATES = 3  # updates applied
    REJECTED = 4  # updates rejected and undone
    SNAPSHOTS = 5  # updates that needed a snapshot


class Event(IntEnum):
    """bsnn_event (include/bsnn.h)."""

    STEP = 1  # after each update: loss is the batch's mean loss
    EPOCH = 2  # after each epoch: loss is the epoch's mean training loss over the samples it used


class NoiseRoute(IntEnum):
    """bsnn_noise_route (include/bsnn.h)."""

    OFF = 0  # no statistics (free)
    MICRO_BATCH = 1  # b: the micro-batches of an accumulated update (BSNN_SCHED_MICRO_BATCH or a memory budget), mean of their |g_j|^2 with 1/b the mean of their 1/b_j; B: the whole batch. An update made in one pass records nothing. Costs O(params) per micro-batch and a gradient-sized buffer, made when the route is set (BSNN_E_NOMEM then)
    PER_SAMPLE = 2  # b = 1: each row's own gradient norm, for a dense layer |a_i|^2 (|delta_i|^2) plus |delta_i|^2 for the bias, O(rows x width); B: the batch (>= 2 rows). Batch norm mixes the rows' gradients: BSNN_E_UNSUPPORTED


class NoiseField(IntEnum):
    """bsnn_noise_field (include/bsnn.h)."""

    GRAD_SQ = 1  # the |G|^2 estimate
    TRACE = 2  # the tr(Sigma) estimate
    B_SIMPLE = 3  # TRACE / GRAD_SQ; +inf when GRAD_SQ <= 0
    GRAD_SQ_SE = 4  # standard errors (NaN from one observation)
    TRACE_SE = 5
    B_SIMPLE_SE = 6  # by the delta method, NaN when GRAD_SQ <= 0
    COUNT = 7  # observations (updates, or groups measured)
    RANGE = 8  # 0: B_simple within [b, B]; -1 below b, +1 above B (or GRAD_SQ <= 0): outside, the estimate is mostly noise (see the SE)
    SMALL_ROWS = 9  # b and B (averaged like the estimates)
    BIG_ROWS = 10
    SMALL_SQ = 11  # the last observation's |g_b|^2 and |g_B|^2
    BIG_SQ = 12


class SearchParam(IntEnum):
    """bsnn_search_param (include/bsnn.h)."""

    START = 1  # first batch size of the heuristic (128)
    BUDGET_KIND = 2  # a bsnn_search_budget (default EPOCHS)
    BUDGET = 3  # per-candidate amount: epochs, samples or seconds, > 0 (default 5)
    METRIC = 4  # a bsnn_search_metric (default VAL_LOSS)
    SEED = 5  # data-order (shuffle) seed (default 0; typed: bsnn_search_set_seed)
    MEMORY_BUDGET = 6  # bytes per candidate (0: none); larger batches run with accumulation, flagged (typed: bsnn_search_set_memory_budget)
    REPEATS = 7  # training runs per candidate, 1..10000 (default 1: one run, as before)
    RULE = 8  # a bsnn_search_rule (default BEST_MEAN)
    REINIT = 9  # 1: repeat r starts from parameters initialised from the model's seed + r (0, default: from m's parameters)


class SearchRule(IntEnum):
    """bsnn_search_rule (include/bsnn.h)."""

    BEST_MEAN = 1  # the best mean (ties: the heuristic's or the sweep's earlier)
    ONE_SE = 2  # the largest batch whose mean is within one standard error of the best mean (Breiman et al.'s one-SE rule: the fastest size that the noise cannot tell from the best)


class SearchBudget(IntEnum):
    """bsnn_search_budget (include/bsnn.h)."""

    EPOCHS = 1  # whole epochs
    SAMPLES = 2  # stop after the update that reaches this many samples seen
    SECONDS = 3  # stop after the update that reaches this wall time (not deterministic)


class SearchMetric(IntEnum):
    """bsnn_search_metric (include/bsnn.h)."""

    VAL_LOSS = 1  # lower is better
    VAL_ACCURACY = 2  # higher is better; ties: lower val loss


class SearchCol(IntEnum):
    """bsnn_search_col (include/bsnn.h)."""

    BATCH = 1  # batch size (samples per update)
    EPOCHS = 2  # epochs (fractional when cut short)
    UPDATES = 3  # optimizer updates
    TRAIN_LOSS = 4  # mean loss of the last epoch's (or last partial epoch's) updates
    VAL_LOSS = 5  # +inf when training diverged
    VAL_ACCURACY = 6  # 0 when training diverged
    SECONDS = 7  # wall seconds of training
    PEAK_BYTES = 8  # bsnn_model_memory at the rows per pass
    ACCUMULATED = 9  # 1: split into micro-batches
    MICRO_BATCH = 10  # rows per pass (== batch unless split)
    N = 11  # repeats (runs averaged in the row)
    VAL_LOSS_SD = 12  # sample sd over the repeats (NaN with one, or when one diverged)
    VAL_ACCURACY_SD = 13


# C enum name -> Python class, for tools and tests.
C_NAMES = {
    'bsnn_status': Status,
    'bsnn_bound_flag': BoundFlag,
    'bsnn_gemm_kernel': GemmKernel,
    'bsnn_layer_kind': LayerKind,
    'bsnn_activation': ActivationKind,
    'bsnn_init': Init,
    'bsnn_layer_param': LayerParam,
    'bsnn_optimizer_kind': OptimizerKind,
    'bsnn_opt_param': OptParam,
    'bsnn_opt_variant': OptVariant,
    'bsnn_decay_scope': DecayScope,
    'bsnn_playground': Playground,
    'bsnn_pg_flag': PlaygroundFlag,
    'bsnn_feature': Feature,
    'bsnn_sched_param': SchedParam,
    'bsnn_batch_schedule': BatchSchedule,
    'bsnn_lr_schedule': LrSchedule,
    'bsnn_lr_scaling': LrScaling,
    'bsnn_hist_field': HistField,
    'bsnn_loss': Loss,
    'bsnn_model_param': ModelParam,
    'bsnn_stat': Stat,
    'bsnn_event': Event,
    'bsnn_noise_route': NoiseRoute,
    'bsnn_noise_field': NoiseField,
    'bsnn_search_param': SearchParam,
    'bsnn_search_rule': SearchRule,
    'bsnn_search_budget': SearchBudget,
    'bsnn_search_metric': SearchMetric,
    'bsnn_search_col': SearchCol,
}
