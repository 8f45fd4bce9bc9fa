/*
 * optimizer.c - the update rules over the model's flat parameter arena, as
 * torch.optim (PyTorch 1.13) computes them, with the form of Ruder's survey
 * ("An overview of gradient descent optimization algorithms", 2016) as a
 * setting (BSNN_OPT_VARIANT); and the hyperparameter setter/getter/bounds
 * that bindings validate against. docs/optimizers.md gives each formula, the
 * PyTorch one and the survey's side by side; tests/golden/ holds PyTorch's
 * own trajectories that test_golden.c replays.
 *
 * State vectors (moments, accumulators) are allocated once when the
 * optimizer is bound to a model; a step allocates nothing. Each rule is one
 * elementwise loop over the arena with no branches but the rule's own max();
 * where the two forms differ, they differ only in coefficients chosen before
 * the loop (an eps inside or outside a root, lr inside or outside a
 * velocity), and a coefficient of exactly 0 or 1 changes nothing, so the same
 * loop computes either form exactly. The compiler vectorises the loops;
 * elementwise work keeps results bit-identical whatever the vector width.
 */
#include "train/train.h"

#include <stdatomic.h>
#include <stddef.h>

/* Source of optimizer ids (atomic: optimizers may be made on any thread). */
static _Atomic uint64_t last_optimizer_id;

/* Which hyperparameters a rule takes, its defaults and state vectors. */
typedef struct rule_info {
    const char *name;
    unsigned params;   /* bit (1u << bsnn_opt_param) per applicable one */
    int n_vectors;     /* state vectors of n floats                     */
    double lr, momentum, beta1, beta2, eps, rho, weight_decay, momentum_decay;
} rule_info;

#define P(x) (1u << (x))
#define ADAM_PARAMS (P(BSNN_OPT_LR) | P(BSNN_OPT_BETA1) | P(BSNN_OPT_BETA2) | P(BSNN_OPT_EPS))
#define VARIANT P(BSNN_OPT_VARIANT)

/* PyTorch 1.13's defaults (torch.optim), except where PyTorch has none:
 * SGD's lr is required there (0.01 here, common practice), and momentum 0.9
 * for MOMENTUM and NESTEROV (PyTorch's SGD defaults to no momentum; 0.9 is
 * Qian's and Ruder's value). Index = kind. */
static const rule_info rules[] = {
    [BSNN_SGD] = {.name = "sgd", .params = P(BSNN_OPT_LR), .lr = 0.01},
    [BSNN_MOMENTUM] = {.name = "momentum", .params = P(BSNN_OPT_LR) | P(BSNN_OPT_MOMENTUM) | VARIANT,
                       .n_vectors = 1, .lr = 0.01, .momentum = 0.9},
    [BSNN_NESTEROV] = {.name = "nesterov", .params = P(BSNN_OPT_LR) | P(BSNN_OPT_MOMENTUM) | VARIANT,
                       .n_vectors = 1, .lr = 0.01, .momentum = 0.9},
    [BSNN_ADAGRAD] = {.name = "adagrad", .params = P(BSNN_OPT_LR) | P(BSNN_OPT_EPS) | VARIANT,
                      .n_vectors = 1, .lr = 0.01, .eps = 1e-10},
    [BSNN_ADADELTA] = {.name = "adadelta",
                       .params = P(BSNN_OPT_LR) | P(BSNN_OPT_RHO) | P(BSNN_OPT_EPS),
                       .n_vectors = 2, .lr = 1.0, .eps = 1e-6, .rho = 0.9},
    [BSNN_RMSPROP] = {.name = "rmsprop",
                      .params = P(BSNN_OPT_LR) | P(BSNN_OPT_RHO) | P(BSNN_OPT_EPS) | VARIANT,
                      .n_vectors = 1, .lr = 0.01, .eps = 1e-8, .rho = 0.99},
    [BSNN_ADAM] = {.name = "adam", .params = ADAM_PARAMS, .n_vectors = 2, .lr = 0.001,
                   .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8},
    [BSNN_ADAMAX] = {.name = "adamax", .params = ADAM_PARAMS | VARIANT, .n_vectors = 2,
                     .lr = 0.002, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8},
    [BSNN_NADAM] = {.name = "nadam", .params = ADAM_PARAMS | VARIANT | P(BSNN_OPT_MOMENTUM_DECAY),
                    .n_vectors = 2, .lr = 0.002, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                    .momentum_decay = 0.004},
    [BSNN_AMSGRAD] = {.name = "amsgrad", .params = ADAM_PARAMS | VARIANT, .n_vectors = 3,
                      .lr = 0.001, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8},
    [BSNN_ADAMW] = {.name = "adamw",
                    .params = ADAM_PARAMS | P(BSNN_OPT_WEIGHT_DECAY) | P(BSNN_OPT_DECAY_SCOPE),
                    .n_vectors = 2, .lr = 0.001, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                    .weight_decay = 0.01},
};

#define N_RULES ((int)(sizeof rules / sizeof rules[0]))

/* Every hyperparameter, its range (the same for every rule that takes it)
 * and field: the one table that set, get, bounds and checkpoints use. The
 * defaults are each rule's (rules[] above); the variant and decay scope
 * are enum values. */
#define LO_OPEN BSNN_BOUND_LO_OPEN
#define HI_OPEN BSNN_BOUND_HI_OPEN
#define FIELD(f) offsetof(bsnn_optimizer, f)
static const bsnn__setting settings[] = {
    {BSNN_OPT_LR, "lr", BSNN__SET_DOUBLE, LO_OPEN, 0.0, 1e6, 0.01, FIELD(lr), NULL},
    {BSNN_OPT_MOMENTUM, "momentum", BSNN__SET_DOUBLE, HI_OPEN, 0.0, 1.0, 0.9, FIELD(momentum), NULL},
    {BSNN_OPT_BETA1, "beta1", BSNN__SET_DOUBLE, HI_OPEN, 0.0, 1.0, 0.9, FIELD(beta1), NULL},
    {BSNN_OPT_BETA2, "beta2", BSNN__SET_DOUBLE, HI_OPEN, 0.0, 1.0, 0.999, FIELD(beta2), NULL},
    {BSNN_OPT_EPS, "eps", BSNN__SET_DOUBLE, LO_OPEN, 0.0, 1.0, 1e-8, FIELD(eps), NULL},
    {BSNN_OPT_RHO, "rho", BSNN__SET_DOUBLE, HI_OPEN, 0.0, 1.0, 0.9, FIELD(rho), NULL},
    {BSNN_OPT_WEIGHT_DECAY, "weight_decay", BSNN__SET_DOUBLE, 0, 0.0, 1e6, 0.01,
     FIELD(weight_decay), NULL},
    {BSNN_OPT_VARIANT, "variant", BSNN__SET_INT, 0, BSNN_VARIANT_PYTORCH, BSNN_VARIANT_RUDER,
     BSNN_VARIANT_PYTORCH, FIELD(variant), NULL},
    {BSNN_OPT_DECAY_SCOPE, "decay_scope", BSNN__SET_INT, 0, BSNN_DECAY_ALL, BSNN_DECAY_WEIGHTS,
     BSNN_DECAY_ALL, FIELD(decay_scope), NULL},
    {BSNN_OPT_MOMENTUM_DECAY, "momentum_decay", BSNN__SET_DOUBLE, 0, 0.0, 1e6, 0.004,
     FIELD(momentum_decay), NULL},
};
#define N_SETTINGS (sizeof settings / sizeof settings[0])

static int kind_valid(int kind) { return kind >= 1 && kind < N_RULES && rules[kind].name; }

static const char *kind_name(int kind) { return kind_valid(kind) ? rules[kind].name : "unknown"; }

static const bsnn__setting *setting_of(int param)
{
    return bsnn__setting_find(settings, N_SETTINGS, param);
}

static int applies(int kind, int param)
{
    return kind_valid(kind) && setting_of(param) && param < 32 && (rules[kind].params & P(param));
}

static int applies_to(const void *opt, int param)
{
    return applies((int)((const bsnn_optimizer *)opt)->kind, param);
}

static bsnn_status not_applicable(int kind, int param)
{
    BSNN_FAIL_IF(!kind_valid(kind), BSNN_E_ARG, "unknown optimizer kind %d", kind);
    const bsnn__setting *d = setting_of(param);
    return bsnn__fail(BSNN_E_ARG, "parameter %d (%s) does not apply to %s", param,
                      d ? d->name : "unknown", kind_name(kind));
}

int bsnn__optimizer_kind_valid(int kind) { return kind_valid(kind); }

bsnn_optimizer *bsnn__optimizer_create(bsnn_optimizer_kind kind)
{
    bsnn_optimizer *opt = bsnn__calloc(1, sizeof *opt);
    if (opt == NULL) return NULL;
    const rule_info *r = &rules[kind];
    opt->kind = kind;
    opt->id = ++last_optimizer_id;
    opt->lr = r->lr;
    opt->momentum = r->momentum;
    opt->beta1 = r->beta1;
    opt->beta2 = r->beta2;
    opt->eps = r->eps;
    opt->rho = r->rho;
    opt->weight_decay = r->weight_decay;
    opt->momentum_decay = r->momentum_decay;
    opt->variant = BSNN_VARIANT_PYTORCH;
    opt->decay_scope = BSNN_DECAY_ALL;
    opt->mu_product = 1.0;
    opt->n_state_vectors = (size_t)r->n_vectors;
    opt->tracked_valid = 1; /* no state yet: every vector is zeros */
    return opt;
}

bsnn_optimizer *bsnn_optimizer_create(bsnn_optimizer_kind kind)
{
    BSNN_ENTER();
    BSNN_FAIL_NULL_IF(!kind_valid((int)kind), BSNN_E_ARG,
                      "unknown optimizer kind %d (expected 1..%d)", (int)kind, N_RULES - 1);
    return bsnn__optimizer_create(kind);
}

void bsnn__optimizer_free(bsnn_optimizer *opt)
{
    if (opt == NULL) return;
    bsnn__free(opt->state);
    bsnn__free(opt->snap);
    bsnn__free(opt);
}

void bsnn_optimizer_free(bsnn_optimizer *opt) { bsnn__optimizer_free(opt); }

bsnn_optimizer_kind bsnn_optimizer_kind_of(const bsnn_optimizer *opt)
{
    return opt ? opt->kind : BSNN_OPTIMIZER_NONE;
}

bsnn_status bsnn_optimizer_bounds(double *out_lo, double *out_hi, unsigned *out_open,
                                  bsnn_optimizer_kind kind, bsnn_opt_param param)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out_lo);
    BSNN_CHECK_NULL(out_hi);
    BSNN_CHECK_NULL(out_open);
    if (!applies((int)kind, (int)param)) return not_applicable((int)kind, (int)param);
    const bsnn__setting *d = setting_of((int)param);
    *out_lo = d->lo;
    *out_hi = d->hi;
    *out_open = d->open;
    return BSNN_OK;
}

bsnn_status bsnn__optimizer_set(bsnn_optimizer *opt, bsnn_opt_param param, double value)
{
    if (!applies((int)opt->kind, (int)param)) return not_applicable((int)opt->kind, (int)param);
    const bsnn__setting *d = setting_of((int)param);
    BSNN_FORWARD_IF_ERROR(bsnn__setting_check(d, value), "%s", kind_name((int)opt->kind));
    /* Decoupled decay multiplies weights by (1 - lr * weight_decay) each
     * step: at 1 or more it zeroes or flips them. */
    double lr = param == BSNN_OPT_LR ? value : opt->lr;
    double wd = param == BSNN_OPT_WEIGHT_DECAY ? value : opt->weight_decay;
    BSNN_FAIL_IF(opt->kind == BSNN_ADAMW && lr * wd >= 1.0, BSNN_E_ARG,
                 "lr * weight_decay = %g * %g must be below 1 for adamw", lr, wd);
    bsnn__setting_store(d, opt, value);
    bsnn__plan_changed();
    return BSNN_OK;
}

bsnn_status bsnn_optimizer_set(bsnn_optimizer *opt, bsnn_opt_param param, double value)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(opt);
    return bsnn__optimizer_set(opt, param, value);
}

bsnn_status bsnn__optimizer_get(double *out, const bsnn_optimizer *opt, bsnn_opt_param param)
{
    if (!applies((int)opt->kind, (int)param)) return not_applicable((int)opt->kind, (int)param);
    return bsnn__setting_load(setting_of((int)param), opt, out);
}

bsnn_status bsnn_optimizer_get(double *out, const bsnn_optimizer *opt, bsnn_opt_param param)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(out);
    BSNN_CHECK_NULL(opt);
    return bsnn__optimizer_get(out, opt, param);
}

void bsnn__optimizer_reset(bsnn_optimizer *opt)
{
    bsnn__free(opt->state);
    opt->state = NULL;
    opt->n = 0;
    opt->t = 0;
    opt->bound = 0;
    opt->mu_t = 0;
    opt->mu_product = 1.0;
    opt->tracked_max = 0.0f;
    opt->tracked_valid = 1;
    opt->plan.valid = 0;
}

bsnn_status bsnn_optimizer_reset(bsnn_optimizer *opt)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL(opt);
    bsnn__optimizer_reset(opt);
    return BSNN_OK;
}

bsnn_status bsnn__optimizer_bind(bsnn_optimizer *opt, const bsnn_model *m, size_t n)
{
    if (opt->bound == m->id && opt->n == n) return BSNN_OK;
    /* The same model may still change size (a layer added after a failed
     * first step): rebinding is safe while no update has used the state. */
    BSNN_FAIL_IF(opt->bound != 0 && !(opt->bound == m->id && opt->t == 0), BSNN_E_STATE,
                 "optimizer (%s) is bound to another model "
                 "(call bsnn_optimizer_reset to reuse it)",
                 kind_name((int)opt->kind));
    float *state = NULL;
    if (opt->n_state_vectors) {
        size_t count = bsnn__mul_size(opt->n_state_vectors, n);
        BSNN_FAIL_IF(count == 0, BSNN_E_NOMEM, "optimizer state overflows");
        state = bsnn__calloc(count, sizeof(float));
        if (state == NULL) return BSNN_E_NOMEM;
    }
    bsnn__free(opt->state);
    opt->state = state;
    opt->bound = m->id;
    opt->n = n;
    opt->t = 0;
    opt->tracked_max = 0.0f; /* fresh zeros */
    opt->tracked_valid = 1;
    opt->plan.valid = 0;
    return BSNN_OK;
}

/* ---- checkpoints: the optimizer writes and reads its own state ----------- */

void bsnn__optimizer_save(bsnn__writer *w, const bsnn_optimizer *opt)
{
    size_t count = opt->bound && opt->state ? opt->n * opt->n_state_vectors : 0;
    bsnn__put_u32(w, (uint32_t)opt->kind);
    bsnn__put_settings(w, settings, N_SETTINGS, opt, applies_to, opt);
    bsnn__put_u32(w, opt->bound != 0);
    bsnn__put_u64(w, opt->t);
    bsnn__put_u64(w, opt->n);
    bsnn__put_u64(w, opt->n_state_vectors);
    bsnn__put_u64(w, count);
    bsnn__put_floats(w, opt->state, count);
}

static bsnn_status set_any(void *opt, int id, double v)
{
    return bsnn__optimizer_set(opt, (bsnn_opt_param)id, v);
}

/* The rest of the section after the settings: binding, step count, state. */
static bsnn_status load_state(bsnn_optimizer *opt, bsnn__section *sec, const bsnn_model *m)
{
    bsnn__reader *b = &sec->body;
    uint32_t bound = bsnn__get_u32(b);
    uint64_t t = bsnn__get_u64(b);
    size_t n = bsnn__get_size(b), vectors = bsnn__get_size(b), count = bsnn__get_size(b);
    BSNN_TRY(bsnn__body_ok(sec));
    BSNN_FAIL_IF(bound > 1 || (bound && n != m->n_params) || (!bound && count != 0), BSNN_E_FORMAT,
                 "optimizer state (bound %u, %zu values per vector) does not match the model's "
                 "%zu parameters",
                 bound, n, m->n_params);
    if (!bound) return BSNN_OK;
    BSNN_TRY(bsnn__optimizer_bind(opt, m, n));
    BSNN_FAIL_IF(vectors != opt->n_state_vectors || count != bsnn__mul_size(n, vectors),
                 BSNN_E_FORMAT, "optimizer holds %zu state vectors (%zu values), its kind has %zu",
                 vectors, count, opt->n_state_vectors);
    BSNN_TRY(bsnn__get_rest_floats(opt->state, count, sec));
    opt->t = t;
    opt->tracked_valid = 0; /* the engine scans the loaded state once */
    return BSNN_OK;
}

bsnn_status bsnn__optimizer_load(bsnn_optimizer **out, bsnn__section *sec, const bsnn_model *m)
{
    uint32_t kind = bsnn__get_u32(&sec->body);
    BSNN_FAIL_IF(!kind_valid((int)kind), BSNN_E_FORMAT, "unknown optimizer kind %u", kind);
    bsnn_optimizer *opt = bsnn__optimizer_create((bsnn_optimizer_kind)kind);
    if (opt == NULL) return BSNN_E_NOMEM;
    bsnn_status st = bsnn__get_settings(&sec->body, opt, "optimizer", set_any, NULL);
    if (st == BSNN_OK) st = load_state(opt, sec, m);
    if (st != BSNN_OK) {
        bsnn__optimizer_free(opt);
        return st;
    }
    *out = opt;
    return BSNN_OK;
}

/* ---- the rules: each one loop over a range of the arena ------------------- */

/* The rules run over [lo, hi) of the arena (the engine cuts the arena into
 * fixed chunks and runs them on its threads), each keeping two maxima of
 * what it writes, as magnitude bits: `tracked`, of the state vector its
 * safety bound needs (rule_info.tracked), and `all`, of every parameter and
 * state it wrote (a NaN or infinity shows there). */
#define KEEP(mx, v)                                                                  \
    do {                                                                             \
        uint32_t b_ = bsnn__mag_bits(v);                                             \
        mx = b_ > mx ? b_ : mx;                                                      \
    } while (0)

typedef void (*apply_fn)(const bsnn__update *u, size_t lo, size_t hi, uint32_t *tracked,
                         uint32_t *all);

/* Each rule is written once and compiled twice: for the baseline (SSE) and
 * for AVX2, chosen at run time (the loops are memory-bound; AVX2 halves
 * the instructions of the max tracking). ISO C mode never contracts a
 * multiply and an add into an FMA, and sqrt and division are correctly
 * rounded, so both give the same bits. */
#define BODY static inline __attribute__((always_inline))

/* theta -= lr g */
BODY void rule_sgd(const bsnn__update *u, size_t lo, size_t hi, uint32_t *tracked,
                     uint32_t *all)
{
    float *restrict p = u->p;
    const float *restrict g = u->g;
    float lr = u->lr;
    uint32_t al = 0;
    for (size_t i = lo; i < hi; i++) {
        p[i] -= lr * g[i];
        KEEP(al, p[i]);
    }
    *tracked = 0;
    *all = al;
}

/* b = mu b + k g; theta -= a b. PyTorch (SGD with momentum, dampening 0):
 * k = 1, a = lr, so b is a sum of gradients and a rate set between steps
 * applies to all of it. Ruder eq. 4 (Qian 1999): k = lr, a = 1, the velocity
 * v holds the rates of the steps that built it. Equal under a constant lr. */
BODY void rule_momentum(const bsnn__update *u, size_t lo, size_t hi, uint32_t *tracked,
                          uint32_t *all)
{
    float *restrict p = u->p, *restrict b = u->s0;
    const float *restrict g = u->g;
    float mu = u->mu, k = u->k, a = u->a;
    uint32_t tr = 0, al = 0;
    for (size_t i = lo; i < hi; i++) {
        b[i] = mu * b[i] + k * g[i];
        p[i] -= a * b[i];
        KEEP(tr, b[i]);
        KEEP(al, p[i]);
    }
    *tracked = tr;
    *all = al > tr ? al : tr;
}

/* Nesterov, with the gradient taken at the parameters the arena holds:
 * b = mu b + k g; theta -= a (k g + mu b) with (k, a) as rule_momentum.
 * PyTorch's nesterov=True is (1, lr). Ruder eq. 5 takes g at theta - mu v;
 * storing phi = theta - mu v instead (Bengio, Boulanger-Lewandowski & Pascanu
 * 2013) makes that the gradient the model computes, and the update in phi
 * reads v = mu v + lr g; phi -= mu v + lr g: (k, a) = (lr, 1). PyTorch's
 * parameters are that same phi (b = v / lr): the two agree under a constant
 * lr, and both store the point where the gradient is evaluated. */
BODY void rule_nesterov(const bsnn__update *u, size_t lo, size_t hi, uint32_t *tracked,
                          uint32_t *all)
{
    float *restrict p = u->p, *restrict b = u->s0;
    const float *restrict g = u->g;
    float mu = u->mu, k = u->k, a = u->a;
    uint32_t tr = 0, al = 0;
    for (size_t i = lo; i < hi; i++) {
        b[i] = mu * b[i] + k * g[i];
        p[i] -= a * (k * g[i] + mu * b[i]);
        KEEP(tr, b[i]);
        KEEP(al, p[i]);
    }
    *tracked = tr;
    *all = al > tr ? al : tr;
}

/* G += g^2; theta -= lr g / (sqrt(G + e_in) + e_out): PyTorch puts eps
 * outside the root (e_in 0, e_out eps), Ruder eq. 8 inside (eps, 0). */
BODY void rule_adagrad(const bsnn__update *u, size_t lo, size_t hi, uint32_t *tracked,
                         uint32_t *all)
{
    float *restrict p = u->p, *restrict G = u->s0;
    const float *restrict g = u->g;
    float lr = u->lr, e_in = u->e_in, e_out = u->e_out;
    uint32_t al = 0;
    for (size_t i = lo; i < hi; i++) {
        G[i] += g[i] * g[i];
        p[i] -= lr * g[i] / (sqrtf(G[i] + e_in) + e_out);
        KEEP(al, G[i]);
        KEEP(al, p[i]);
    }
    *tracked = 0;
    *all = al;
}

/* Zeiler 2012, Algorithm 1, as PyTorch: Eg = rho Eg + (1-rho) g^2;
 * d = sqrt(Ed + eps) / sqrt(Eg + eps) g; Ed = rho Ed + (1-rho) d^2;
 * theta -= lr d (lr = 1 is the published rule). */
BODY void rule_adadelta(const bsnn__update *u, size_t lo, size_t hi, uint32_t *tracked,
                          uint32_t *all)
{
    float *restrict p = u->p, *restrict Eg = u->s0, *restrict Ed = u->s1;
    const float *restrict g = u->g;
    float rho = u->rho, keep = 1.0f - u->rho, eps = u->eps, lr = u->lr;
    uint32_t tr = 0, al = 0;
    for (size_t i = lo; i < hi; i++) {
        Eg[i] = rho * Eg[i] + keep * g[i] * g[i];
        float d = sqrtf(Ed[i] + eps) / sqrtf(Eg[i] + eps) * g[i];
        Ed[i] = rho * Ed[i] + keep * d * d;
        p[i] -= lr * d;
        KEEP(tr, Ed[i]);
        KEEP(al, Eg[i]);
        KEEP(al, p[i]);
    }
    *tracked = tr;
    *all = al > tr ? al : tr;
}

/* E = rho E + (1-rho) g^2; theta -= lr g / (sqrt(E + e_in) + e_out), eps
 * placed as in rule_adagrad (PyTorch outside, Ruder's eq. inside). */
BODY void rule_rmsprop(const bsnn__update *u, size_t lo, size_t hi, uint32_t *tracked,
                         uint32_t *all)
{
    float *restrict p = u->p, *restrict E = u->s0;
    const float *restrict g = u->g;
    float lr = u->lr, rho = u->rho, keep = 1.0f - u->rho, e_in = u->e_in, e_out = u->e_out;
    uint32_t al = 0;
    for (size_t i = lo; i < hi; i++) {
        E[i] = rho * E[i] + keep * g[i] * g[i];
        p[i] -= lr * g[i] / (sqrtf(E[i] + e_in) + e_out);
        KEEP(al, E[i]);
        KEEP(al, p[i]);
    }
    *tracked = 0;
    *all = al;
}

/* m, v moving averages; theta -= a (cm m + cg g) / (sqrt(v) c2 + eps).
 * Adam (Kingma & Ba, as PyTorch): (a, cm, cg) = (lr c1, 1, 0). Nadam's two
 * forms differ only in (a, cm, cg): see nadam_coefficients. AdamW first
 * multiplies theta by `keep` (1 - lr wd; PyTorch's order: the Adam part
 * does not read theta), where the mask is 1 (mask NULL: everywhere, as
 * PyTorch; else dense weights only). mask is 0 or 1, so mask keep +
 * (1 - mask) is exactly keep or 1; keep 1 (Adam, Nadam) changes nothing. */
/* One form of the loop: decay 0 (none), 1 (every parameter), 2 (masked);
 * a constant in each caller, so each loop vectorises without a branch. */
static inline __attribute__((always_inline)) void adam_loop(const bsnn__update *u, size_t lo,
                                                            size_t hi, uint32_t *tracked,
                                                            uint32_t *all, const int decay)
{
    float *restrict p = u->p, *restrict m = u->s0, *restrict v = u->s1;
    const float *restrict g = u->g, *restrict mask = u->mask;
    float b1 = u->b1, b2 = u->b2, k1 = 1.0f - u->b1, k2 = 1.0f - u->b2, c2 = u->c2, eps = u->eps;
    float a = u->a, cm = u->cm, cg = u->cg, keep = u->keep;
    uint32_t tr = 0, al = 0;
    for (size_t i = lo; i < hi; i++) {
        if (decay == 1) p[i] *= keep;
        if (decay == 2) p[i] *= mask[i] * keep + (1.0f - mask[i]);
        m[i] = b1 * m[i] + k1 * g[i];
        v[i] = b2 * v[i] + k2 * g[i] * g[i];
        p[i] -= a * (cm * m[i] + cg * g[i]) / (sqrtf(v[i]) * c2 + eps);
        KEEP(tr, m[i]);
        KEEP(al, v[i]);
        KEEP(al, p[i]);
    }
    *tracked = tr;
    *all = al > tr ? al : tr;
}

/* m, v moving averages; theta -= a (cm m + cg g) / (sqrt(v) c2 + eps).
 * Adam (Kingma & Ba, as PyTorch): (a, cm, cg) = (lr c1, 1, 0). Nadam's two
 * forms differ only in (a, cm, cg): see nadam_coefficients. AdamW first
 * multiplies theta by `keep` (1 - lr wd; PyTorch's order: the Adam part
 * does not read theta), where the mask is 1 (mask NULL: everywhere, as
 * PyTorch; else dense weights only). mask is 0 or 1, so mask keep +
 * (1 - mask) is exactly keep or 1; keep 1 (Adam, Nadam) changes nothing. */
BODY void rule_adam(const bsnn__update *u, size_t lo, size_t hi, uint32_t *tracked,
                      uint32_t *all)
{
    if (u->keep == 1.0f)
        adam_loop(u, lo, hi, tracked, all, 0);
    else if (u->mask == NULL)
        adam_loop(u, lo, hi, tracked, all, 1);
    else
        adam_loop(u, lo, hi, tracked, all, 2);
}

/* Kingma & Ba sec. 7.1: u = max(b2 u, |g| + e_u); theta -= lr c1 m / (u + e_d).
 * PyTorch adds eps to |g| (e_u eps, e_d 0); bsnn 0.2 added it to the
 * denominator, as Keras (0, eps); the survey's form has none, which is 0/0
 * for a parameter whose gradient was always 0. */
BODY void rule_adamax(const bsnn__update *u, size_t lo, size_t hi, uint32_t *tracked,
                        uint32_t *all)
{
    float *restrict p = u->p, *restrict m = u->s0, *restrict un = u->s1;
    const float *restrict g = u->g;
    float b1 = u->b1, b2 = u->b2, k1 = 1.0f - u->b1, a = u->a, e_u = u->e_u, e_d = u->e_d;
    uint32_t tr = 0, al = 0;
    for (size_t i = lo; i < hi; i++) {
        m[i] = b1 * m[i] + k1 * g[i];
        float b = b2 * un[i], ag = fabsf(g[i]) + e_u;
        un[i] = b > ag ? b : ag;
        p[i] -= a * m[i] / (un[i] + e_d);
        KEEP(tr, m[i]);
        KEEP(al, un[i]);
        KEEP(al, p[i]);
    }
    *tracked = tr;
    *all = al > tr ? al : tr;
}

/* Reddi et al. 2018: vmax = max(vmax, v); theta -= lr c1 m / (sqrt(vmax) c2 +
 * eps). PyTorch (Adam, amsgrad=True) bias-corrects; the survey's form does
 * not (c1 = c2 = 1, set by coefficients()). */
BODY void rule_amsgrad(const bsnn__update *u, size_t lo, size_t hi, uint32_t *tracked,
                         uint32_t *all)
{
    float *restrict p = u->p, *restrict m = u->s0, *restrict v = u->s1, *restrict vmax = u->s2;
    const float *restrict g = u->g;
    float b1 = u->b1, b2 = u->b2, k1 = 1.0f - u->b1, k2 = 1.0f - u->b2, a = u->a, c2 = u->c2;
    float eps = u->eps;
    uint32_t tr = 0, al = 0;
    for (size_t i = lo; i < hi; i++) {
        m[i] = b1 * m[i] + k1 * g[i];
        v[i] = b2 * v[i] + k2 * g[i] * g[i];
        vmax[i] = vmax[i] > v[i] ? vmax[i] : v[i];
        p[i] -= a * m[i] / (sqrtf(vmax[i]) * c2 + eps);
        KEEP(tr, m[i]);
        KEEP(al, vmax[i]);
        KEEP(al, p[i]);
    }
    *tracked = tr;
    *all = al > tr ? al : tr;
}

static int ruder(const bsnn_optimizer *opt) { return opt->variant == BSNN_VARIANT_RUDER; }

/* The bias corrections c1 = 1/(1-b1^t), c2 = 1/sqrt(1-b2^t) of step t. */
static void corrections(bsnn__update *u, const bsnn_optimizer *opt)
{
    double t = (double)opt->t;
    u->c1 = u->c2 = 1.0f;
    int corrected = opt->beta1 > 0.0 || opt->beta2 > 0.0;
    if (opt->kind == BSNN_AMSGRAD && ruder(opt)) corrected = 0;
    if (corrected) {
        u->c1 = (float)(1.0 / (1.0 - pow(opt->beta1, t)));
        u->c2 = (float)(1.0 / sqrt(1.0 - pow(opt->beta2, t)));
    }
}

/* Dozat's momentum schedule as torch.optim.NAdam: mu_t = b1 (1 - 0.96^(t psi) / 2). */
static double nadam_mu(const bsnn_optimizer *opt, uint64_t t)
{
    return opt->beta1 * (1.0 - 0.5 * pow(0.96, (double)t * opt->momentum_decay));
}

/* prod_{i<=t} mu_i for the step t being applied. Extended by one factor per
 * step; rebuilt from 1 when t moved otherwise (reset, a checkpoint's t, a
 * rejected step's undo), by the same multiplications in the same order, so
 * a resumed run is bit-exact. */
static double nadam_mu_product(bsnn_optimizer *opt)
{
    if (opt->mu_t + 1 != opt->t) {
        opt->mu_product = 1.0;
        for (uint64_t i = 1; i < opt->t; i++) opt->mu_product *= nadam_mu(opt, i);
    }
    opt->mu_product *= nadam_mu(opt, opt->t);
    opt->mu_t = opt->t;
    return opt->mu_product;
}

/* Nadam's (a, cm, cg) for rule_adam. PyTorch (Dozat 2016, Algorithm 2):
 * a = 1, cm = lr mu_{t+1} / (1 - prod_{i<=t+1} mu_i),
 * cg = lr (1 - mu_t) / (1 - prod_{i<=t} mu_i). Ruder's survey (constant b1):
 * theta -= lr / (sqrt(vh) + eps) (b1 mh + (1-b1) g c1) with mh = m c1:
 * a = lr c1, cm = b1, cg = 1 - b1 (bsnn 0.2's loop, to the bit). */
static void nadam_coefficients(bsnn__update *u, bsnn_optimizer *opt)
{
    if (ruder(opt)) {
        u->a = u->lr * u->c1;
        u->cm = u->b1;
        u->cg = 1.0f - u->b1;
        return;
    }
    double lr = u->lr, mu = nadam_mu(opt, opt->t), mu_next = nadam_mu(opt, opt->t + 1);
    double product = nadam_mu_product(opt);
    u->a = 1.0f;
    u->cm = (float)(lr * mu_next / (1.0 - product * mu_next));
    u->cg = (float)(lr * (1.0 - mu) / (1.0 - product));
}

#if defined(__GNUC__) && defined(__x86_64__)
#define AVX2_CLONE(name)                                                               \
    __attribute__((target("avx2"))) static void name##_avx2(                           \
        const bsnn__update *u, size_t lo, size_t hi, uint32_t *tracked, uint32_t *all) \
    {                                                                                  \
        name(u, lo, hi, tracked, all);                                                 \
    }
#else
#define AVX2_CLONE(name)                                                               \
    static void name##_avx2(const bsnn__update *u, size_t lo, size_t hi,               \
                            uint32_t *tracked, uint32_t *all)                          \
    {                                                                                  \
        name(u, lo, hi, tracked, all);                                                 \
    }
#endif
#define BASE_CLONE(name)                                                               \
    static void name##_base(const bsnn__update *u, size_t lo, size_t hi,               \
                            uint32_t *tracked, uint32_t *all)                          \
    {                                                                                  \
        name(u, lo, hi, tracked, all);                                                 \
    }
#define CLONES(name) AVX2_CLONE(name) BASE_CLONE(name)
CLONES(rule_sgd)
CLONES(rule_momentum)
CLONES(rule_nesterov)
CLONES(rule_adagrad)
CLONES(rule_adadelta)
CLONES(rule_rmsprop)
CLONES(rule_adam)
CLONES(rule_adamax)
CLONES(rule_amsgrad)

#define RULES(v)                                                                           \
    {                                                                                      \
        [BSNN_SGD] = rule_sgd_##v, [BSNN_MOMENTUM] = rule_momentum_##v,                    \
        [BSNN_NESTEROV] = rule_nesterov_##v, [BSNN_ADAGRAD] = rule_adagrad_##v,            \
        [BSNN_ADADELTA] = rule_adadelta_##v, [BSNN_RMSPROP] = rule_rmsprop_##v,            \
        [BSNN_ADAM] = rule_adam_##v, [BSNN_ADAMAX] = rule_adamax_##v,                      \
        [BSNN_NADAM] = rule_adam_##v, [BSNN_AMSGRAD] = rule_amsgrad_##v,                   \
        [BSNN_ADAMW] = rule_adam_##v,                                                      \
    }
static const apply_fn applies_base[] = RULES(base), applies_avx2[] = RULES(avx2);

void bsnn__optimizer_prepare(bsnn__update *u, bsnn_optimizer *opt, float *params,
                             const float *grads, const float *decay_mask, double lr)
{
    opt->t++;
    float *s = opt->state;
    size_t n = opt->n;
    *u = (bsnn__update){0};
    u->p = params;
    u->g = grads;
    u->s0 = s;
    u->s1 = s && opt->n_state_vectors > 1 ? s + n : NULL;
    u->s2 = s && opt->n_state_vectors > 2 ? s + 2 * n : NULL;
    u->lr = (float)lr;
    u->mu = (float)opt->momentum;
    u->b1 = (float)opt->beta1;
    u->b2 = (float)opt->beta2;
    u->eps = (float)opt->eps;
    u->rho = (float)opt->rho;
    u->keep = 1.0f;
    corrections(u, opt);
    /* Where eps goes (inside or outside a root) and where lr goes (inside
     * or outside the velocity), per form: see each rule. */
    int r = ruder(opt);
    u->e_in = r ? u->eps : 0.0f;
    u->e_out = r ? 0.0f : u->eps;
    u->k = r ? u->lr : 1.0f;
    u->a = r ? 1.0f : u->lr;
    u->apply = (bsnn__cpu_avx2() ? applies_avx2 : applies_base)[opt->kind];
    switch (opt->kind) {
    case BSNN_ADAMW:
        u->keep = (float)(1.0 - lr * opt->weight_decay);
        u->mask = opt->decay_scope == BSNN_DECAY_WEIGHTS ? decay_mask : NULL;
        /* then the Adam part */
        /* fall through */
    case BSNN_ADAM:
    case BSNN_AMSGRAD:
        u->a = u->lr * u->c1;
        u->cm = 1.0f;
        u->cg = 0.0f;
        break;
    case BSNN_ADAMAX: /* PyTorch: eps on |g|; bsnn 0.2: eps on the denominator */
        u->a = u->lr * u->c1;
        u->e_u = r ? 0.0f : u->eps;
        u->e_d = r ? u->eps : 0.0f;
        break;
    case BSNN_NADAM: nadam_coefficients(u, opt); break;
    default: break;
    }
}

void bsnn__optimizer_apply(const bsnn__update *u, size_t lo, size_t hi, uint32_t *tracked,
                           uint32_t *all)
{
    u->apply(u, lo, hi, tracked, all);
}

/* ---- the safety bound: no parameter or state can overflow ---------------- */

/* Every rule writes each parameter and state as a contraction of its old
 * value (a factor in [0, 1]: momentum, a decay, keep) plus an increment,
 * or as a max of such values. Adding an increment below 2^103 to any finite
 * float rounds to a finite float (FLT_MAX's ulp is 2^104), so when every
 * increment is provably below that, nothing can become infinite or NaN and
 * the update needs no copy to be undone. The bounds below take the
 * gradient's largest magnitude G, the step's coefficients, and the largest
 * magnitude T of the state vector the rule tracks (the previous update's),
 * in double, with room for float rounding (2^100 and a factor 1 + 2^-10). */
#define INCREMENT_LIMIT 0x1p100

static int below(double v) { return v * (1.0 + 0x1p-10) < INCREMENT_LIMIT; } /* NaN: 0 */

/* An eps as the float arithmetic sees it: subnormals are flushed. */
static double eff(float e) { return e >= 0x1p-126f ? (double)e : 0.0; }

int bsnn__optimizer_safe(const bsnn_optimizer *opt, const bsnn__update *u, double G)
{
    double T = opt->tracked_valid ? (double)opt->tracked_max : INFINITY;
    double lr = fabs((double)u->lr), mnew, e;
    if (!below(G)) return 0;
    int squares = opt->kind != BSNN_SGD && opt->kind != BSNN_MOMENTUM &&
                  opt->kind != BSNN_NESTEROV && opt->kind != BSNN_ADAMAX;
    if (squares && !below(G * G)) return 0; /* g^2 enters a state */
    switch (opt->kind) {
    case BSNN_SGD: return below(lr * G);
    case BSNN_MOMENTUM:
    case BSNN_NESTEROV: {
        double k = fabs((double)u->k), a = fabs((double)u->a), mu = fabs((double)u->mu);
        double bn = mu * T + k * G;
        double dp = opt->kind == BSNN_MOMENTUM ? a * bn : a * (k * G + mu * bn);
        return below(k * G) && below(bn) && below(dp);
    }
    case BSNN_ADAGRAD:
    case BSNN_RMSPROP:
        e = eff(u->e_out) + sqrt(eff(u->e_in));
        return e > 0.0 && below(lr * G / e);
    case BSNN_ADADELTA: {
        e = eff(u->eps);
        if (!(e > 0.0)) return 0;
        double d = sqrt((T + e) / e) * G;
        return below(d) && below(d * d) && below(lr * d);
    }
    case BSNN_ADAMAX:
        e = eff(u->e_u) + eff(u->e_d);
        mnew = fabs((double)u->b1) * T + (1.0 - (double)u->b1) * G;
        return e > 0.0 && below(mnew) && below(fabs((double)u->a) * mnew / e);
    default: { /* Adam, AdamW, Nadam, AMSGrad: sqrt(v) c2 + eps >= eps */
        e = eff(u->eps);
        mnew = fabs((double)u->b1) * T + (1.0 - (double)u->b1) * G;
        double num = fabs((double)u->cm) * mnew + fabs((double)u->cg) * G;
        return e > 0.0 && below(mnew) && below(num) && below(fabs((double)u->a) * num / e) &&
               below((double)u->c2 * 0x1p64);
    }
    }
}

int bsnn__optimizer_tracks(const bsnn_optimizer *opt)
{
    switch (opt->kind) {
    case BSNN_MOMENTUM:
    case BSNN_NESTEROV:
    case BSNN_ADAM:
    case BSNN_ADAMW:
    case BSNN_NADAM:
    case BSNN_AMSGRAD:
    case BSNN_ADAMAX: return 0;
    case BSNN_ADADELTA: return 1;
    default: return -1;
    }
}

int bsnn__optimizer_linear(const bsnn_optimizer *opt) { return opt->kind == BSNN_SGD; }

void bsnn__optimizer_update(bsnn_optimizer *opt, float *params, const float *grads,
                            const float *decay_mask, size_t n, double lr)
{
    bsnn__update u;
    uint32_t tracked, all;
    bsnn__optimizer_prepare(&u, opt, params, grads, decay_mask, lr);
    bsnn__optimizer_apply(&u, 0, n, &tracked, &all);
    opt->tracked_max = bsnn__bits_float(tracked);
    opt->tracked_valid = bsnn__optimizer_tracks(opt) >= 0;
}

void bsnn__optimizer_save_scalars(bsnn__opt_scalars *out, const bsnn_optimizer *opt)
{
    *out = (bsnn__opt_scalars){opt->t, opt->mu_t, opt->mu_product, opt->tracked_max,
                               opt->tracked_valid};
}

void bsnn__optimizer_restore_scalars(bsnn_optimizer *opt, const bsnn__opt_scalars *in)
{
    opt->t = in->t;
    opt->mu_t = in->mu_t;
    opt->mu_product = in->mu_product;
    opt->tracked_max = in->tracked_max;
    opt->tracked_valid = in->tracked_valid;
}
