/*
 * optimizer.c - the update rules of Ruder's survey ("An overview of gradient
 * descent optimization algorithms", 2016) over the model's flat parameter
 * arena, and the hyperparameter setter/getter/bounds that bindings validate
 * against. docs/optimizers.md gives each formula with its source.
 *
 * State vectors (moments, accumulators) are allocated once when the
 * optimizer is bound to a model; a step allocates nothing. Each rule is one
 * loop over the arena with no branches but the rule's own max(), so the
 * compiler vectorises it; elementwise work keeps results bit-identical
 * whatever the vector width.
 */
#include "internal.h"

/* Which hyperparameters a rule takes, its defaults and state vectors. */
typedef struct rule_info {
    const char *name;
    unsigned params;   /* bit (1u << bsnn_opt_param) per applicable one */
    int n_vectors;     /* state vectors of n floats                     */
    double lr, momentum, beta1, beta2, eps, rho, weight_decay;
} rule_info;

#define P(x) (1u << (x))
#define ADAM_PARAMS (P(BSNN_OPT_LR) | P(BSNN_OPT_BETA1) | P(BSNN_OPT_BETA2) | P(BSNN_OPT_EPS))

/* Defaults as published: momentum 0.9 (Qian 1999 / Ruder); Adagrad lr 0.01
 * (Ruder); Adadelta rho 0.95, eps 1e-6 (Zeiler 2012, sec. 4), lr 1 as a
 * plain multiplier; RMSprop lr 0.001, decay 0.9 (Hinton, lecture 6e); Adam
 * and AMSGrad lr 0.001, 0.9, 0.999, 1e-8 (Kingma & Ba 2015; Reddi et al.
 * 2018); AdaMax and Nadam lr 0.002 (Kingma & Ba sec. 7; Dozat 2016); AdamW
 * weight decay 0.01 (the PyTorch/Keras default for Loshchilov & Hutter). SGD
 * has no published default; 0.01 is common practice. Index = kind. */
static const rule_info rules[] = {
    [BSNN_SGD] = {"sgd", P(BSNN_OPT_LR), 0, 0.01, 0, 0, 0, 0, 0, 0},
    [BSNN_MOMENTUM] = {"momentum", P(BSNN_OPT_LR) | P(BSNN_OPT_MOMENTUM), 1, 0.01, 0.9, 0, 0, 0,
                       0, 0},
    [BSNN_NESTEROV] = {"nesterov", P(BSNN_OPT_LR) | P(BSNN_OPT_MOMENTUM), 1, 0.01, 0.9, 0, 0, 0,
                       0, 0},
    [BSNN_ADAGRAD] = {"adagrad", P(BSNN_OPT_LR) | P(BSNN_OPT_EPS), 1, 0.01, 0, 0, 0, 1e-8, 0, 0},
    [BSNN_ADADELTA] = {"adadelta", P(BSNN_OPT_LR) | P(BSNN_OPT_RHO) | P(BSNN_OPT_EPS), 2, 1.0, 0,
                       0, 0, 1e-6, 0.95, 0},
    [BSNN_RMSPROP] = {"rmsprop", P(BSNN_OPT_LR) | P(BSNN_OPT_RHO) | P(BSNN_OPT_EPS), 1, 0.001, 0,
                      0, 0, 1e-8, 0.9, 0},
    [BSNN_ADAM] = {"adam", ADAM_PARAMS, 2, 0.001, 0, 0.9, 0.999, 1e-8, 0, 0},
    [BSNN_ADAMAX] = {"adamax", ADAM_PARAMS, 2, 0.002, 0, 0.9, 0.999, 1e-8, 0, 0},
    [BSNN_NADAM] = {"nadam", ADAM_PARAMS, 2, 0.002, 0, 0.9, 0.999, 1e-8, 0, 0},
    [BSNN_AMSGRAD] = {"amsgrad", ADAM_PARAMS, 3, 0.001, 0, 0.9, 0.999, 1e-8, 0, 0},
    [BSNN_ADAMW] = {"adamw", ADAM_PARAMS | P(BSNN_OPT_WEIGHT_DECAY), 2, 0.001, 0, 0.9, 0.999,
                    1e-8, 0, 0.01},
};

#define N_RULES ((int)(sizeof rules / sizeof rules[0]))

/* Ranges shared by every rule that takes the parameter. open: bit 1 lo
 * excluded, bit 2 hi excluded. */
typedef struct param_range {
    const char *name;
    double lo, hi;
    int open;
} param_range;

static const param_range ranges[] = {
    [BSNN_OPT_LR] = {"lr", 0.0, 1e6, 1},
    [BSNN_OPT_MOMENTUM] = {"momentum", 0.0, 1.0, 2},
    [BSNN_OPT_BETA1] = {"beta1", 0.0, 1.0, 2},
    [BSNN_OPT_BETA2] = {"beta2", 0.0, 1.0, 2},
    [BSNN_OPT_EPS] = {"eps", 0.0, 1.0, 1},
    [BSNN_OPT_RHO] = {"rho", 0.0, 1.0, 2},
    [BSNN_OPT_WEIGHT_DECAY] = {"weight_decay", 0.0, 1e6, 0},
};

#define N_PARAMS ((int)(sizeof ranges / sizeof ranges[0]))

static int kind_valid(int kind) { return kind >= 1 && kind < N_RULES && rules[kind].name; }

static const char *kind_name(int kind) { return kind_valid(kind) ? rules[kind].name : "unknown"; }

static int applies(int kind, int param)
{
    return kind_valid(kind) && param >= 1 && param < N_PARAMS && (rules[kind].params & P(param));
}

static const char *param_name(int param)
{
    return param >= 1 && param < N_PARAMS ? ranges[param].name : "unknown";
}

static bsnn_status not_applicable(const char *who, int kind, int param)
{
    if (!kind_valid(kind))
        return bsnn__fail(BSNN_E_ARG, "%s: unknown optimizer kind %d", who, kind);
    return bsnn__fail(BSNN_E_ARG, "%s: parameter %d (%s) does not apply to %s", who, param,
                      param_name(param), kind_name(kind));
}

/* The field holding a hyperparameter (param already checked). */
static double *field(bsnn_optimizer *opt, int param)
{
    switch (param) {
    case BSNN_OPT_MOMENTUM: return &opt->momentum;
    case BSNN_OPT_BETA1: return &opt->beta1;
    case BSNN_OPT_BETA2: return &opt->beta2;
    case BSNN_OPT_EPS: return &opt->eps;
    case BSNN_OPT_RHO: return &opt->rho;
    case BSNN_OPT_WEIGHT_DECAY: return &opt->weight_decay;
    default: return &opt->lr;
    }
}

bsnn_optimizer *bsnn_optimizer_create(bsnn_optimizer_kind kind)
{
    if (!kind_valid((int)kind)) {
        bsnn__fail(BSNN_E_ARG, "bsnn_optimizer_create: unknown optimizer kind %d (expected 1..%d)",
                   (int)kind, N_RULES - 1);
        return NULL;
    }
    bsnn_optimizer *opt = bsnn__calloc(1, sizeof *opt, "bsnn_optimizer_create");
    if (opt == NULL) return NULL;
    const rule_info *r = &rules[kind];
    opt->kind = kind;
    opt->lr = r->lr;
    opt->momentum = r->momentum;
    opt->beta1 = r->beta1;
    opt->beta2 = r->beta2;
    opt->eps = r->eps;
    opt->rho = r->rho;
    opt->weight_decay = r->weight_decay;
    opt->n_state_vectors = (size_t)r->n_vectors;
    return opt;
}

void bsnn_optimizer_free(bsnn_optimizer *opt)
{
    if (opt == NULL) return;
    bsnn__free(opt->state);
    bsnn__free(opt);
}

int bsnn_optimizer_kind_of(const bsnn_optimizer *opt) { return opt ? (int)opt->kind : 0; }

bsnn_status bsnn_optimizer_bounds(double *out_lo, double *out_hi, int *out_open,
                                  bsnn_optimizer_kind kind, bsnn_opt_param param)
{
    const char *who = "bsnn_optimizer_bounds";
    BSNN_CHECK_NULL(who, out_lo);
    BSNN_CHECK_NULL(who, out_hi);
    BSNN_CHECK_NULL(who, out_open);
    if (!applies((int)kind, (int)param)) return not_applicable(who, (int)kind, (int)param);
    *out_lo = ranges[param].lo;
    *out_hi = ranges[param].hi;
    *out_open = ranges[param].open;
    return BSNN_OK;
}

static int in_range(const param_range *r, double v)
{
    return isfinite(v) && ((r->open & 1) ? v > r->lo : v >= r->lo) &&
           ((r->open & 2) ? v < r->hi : v <= r->hi);
}

bsnn_status bsnn_optimizer_set(bsnn_optimizer *opt, bsnn_opt_param param, double value)
{
    const char *who = "bsnn_optimizer_set";
    BSNN_CHECK_NULL(who, opt);
    if (!applies((int)opt->kind, (int)param)) return not_applicable(who, (int)opt->kind, (int)param);
    const param_range *r = &ranges[param];
    if (!in_range(r, value))
        return bsnn__fail(BSNN_E_ARG, "%s: %s %g is not in %c%g, %g%c for %s", who, r->name, value,
                          (r->open & 1) ? '(' : '[', r->lo, r->hi, (r->open & 2) ? ')' : ']',
                          kind_name((int)opt->kind));
    /* Decoupled decay multiplies weights by (1 - lr * weight_decay) each
     * step: at 1 or more it zeroes or flips them. */
    double lr = param == BSNN_OPT_LR ? value : opt->lr;
    double wd = param == BSNN_OPT_WEIGHT_DECAY ? value : opt->weight_decay;
    if (opt->kind == BSNN_ADAMW && lr * wd >= 1.0)
        return bsnn__fail(BSNN_E_ARG, "%s: lr * weight_decay = %g * %g must be below 1 for adamw",
                          who, lr, wd);
    *field(opt, (int)param) = value;
    return BSNN_OK;
}

bsnn_status bsnn_optimizer_get(double *out, const bsnn_optimizer *opt, bsnn_opt_param param)
{
    const char *who = "bsnn_optimizer_get";
    BSNN_CHECK_NULL(who, out);
    BSNN_CHECK_NULL(who, opt);
    if (!applies((int)opt->kind, (int)param)) return not_applicable(who, (int)opt->kind, (int)param);
    *out = *field((bsnn_optimizer *)opt, (int)param);
    return BSNN_OK;
}

bsnn_status bsnn_optimizer_reset(bsnn_optimizer *opt)
{
    BSNN_CHECK_NULL("bsnn_optimizer_reset", opt);
    bsnn__free(opt->state);
    opt->state = NULL;
    opt->n = 0;
    opt->t = 0;
    opt->bound = 0;
    return BSNN_OK;
}

bsnn_status bsnn__optimizer_bind(bsnn_optimizer *opt, const bsnn_model *m, size_t n,
                                  const char *who)
{
    if (opt->bound == m->id && opt->n == n) return BSNN_OK;
    /* The same model may still change size (a layer added after a failed
     * first step): rebinding is safe while no update has used the state. */
    if (opt->bound != 0 && !(opt->bound == m->id && opt->t == 0))
        return bsnn__fail(BSNN_E_STATE,
                          "%s: optimizer (%s) is bound to another model "
                          "(call bsnn_optimizer_reset to reuse it)",
                          who, kind_name((int)opt->kind));
    float *state = NULL;
    if (opt->n_state_vectors) {
        size_t count = bsnn__mul_size(opt->n_state_vectors, n);
        if (count == 0)
            return bsnn__fail(BSNN_E_NOMEM, "%s: optimizer state overflows", who);
        state = bsnn__calloc(count, sizeof(float), who);
        if (state == NULL) return BSNN_E_NOMEM;
    }
    bsnn__free(opt->state);
    opt->state = state;
    opt->bound = m->id;
    opt->n = n;
    opt->t = 0;
    return BSNN_OK;
}

/* ---- the rules: each one loop over the arena ------------------------------ */

/* Hyperparameters of one step, already in float and with the step's bias
 * corrections folded in. */
typedef struct step_coef {
    float lr, mu, b1, b2, eps, rho, c1, c2, wd;
} step_coef;

/* theta -= lr g */
static void rule_sgd(float *restrict p, const float *restrict g, size_t n, step_coef c)
{
    for (size_t i = 0; i < n; i++) p[i] -= c.lr * g[i];
}

/* v = mu v + lr g; theta -= v (Qian 1999; Ruder eq. 4) */
static void rule_momentum(float *restrict p, const float *restrict g, float *restrict v, size_t n,
                          step_coef c)
{
    for (size_t i = 0; i < n; i++) {
        v[i] = c.mu * v[i] + c.lr * g[i];
        p[i] -= v[i];
    }
}

/* Nesterov (Ruder eq. 5) evaluates the gradient at theta - mu v. The arena
 * holds that look-ahead point phi = theta - mu v, so the gradient the model
 * computes is the one the rule needs; in phi the update reads
 * v = mu v + lr g; phi -= mu v + lr g (Bengio et al. 2013). */
static void rule_nesterov(float *restrict p, const float *restrict g, float *restrict v, size_t n,
                          step_coef c)
{
    for (size_t i = 0; i < n; i++) {
        v[i] = c.mu * v[i] + c.lr * g[i];
        p[i] -= c.mu * v[i] + c.lr * g[i];
    }
}

/* G += g^2; theta -= lr g / sqrt(G + eps) (Duchi et al. 2011; Ruder eq. 8) */
static void rule_adagrad(float *restrict p, const float *restrict g, float *restrict G, size_t n,
                         step_coef c)
{
    for (size_t i = 0; i < n; i++) {
        G[i] += g[i] * g[i];
        p[i] -= c.lr * g[i] / sqrtf(G[i] + c.eps);
    }
}

/* Zeiler 2012, Algorithm 1: Eg = rho Eg + (1-rho) g^2;
 * d = sqrt(Ed + eps) / sqrt(Eg + eps) g; Ed = rho Ed + (1-rho) d^2;
 * theta -= lr d (lr = 1 is the published rule). */
static void rule_adadelta(float *restrict p, const float *restrict g, float *restrict Eg,
                          float *restrict Ed, size_t n, step_coef c)
{
    float keep = 1.0f - c.rho;
    for (size_t i = 0; i < n; i++) {
        Eg[i] = c.rho * Eg[i] + keep * g[i] * g[i];
        float d = sqrtf(Ed[i] + c.eps) / sqrtf(Eg[i] + c.eps) * g[i];
        Ed[i] = c.rho * Ed[i] + keep * d * d;
        p[i] -= c.lr * d;
    }
}

/* Hinton, lecture 6e: Eg = rho Eg + (1-rho) g^2; theta -= lr g / sqrt(Eg + eps) */
static void rule_rmsprop(float *restrict p, const float *restrict g, float *restrict Eg, size_t n,
                         step_coef c)
{
    float keep = 1.0f - c.rho;
    for (size_t i = 0; i < n; i++) {
        Eg[i] = c.rho * Eg[i] + keep * g[i] * g[i];
        p[i] -= c.lr * g[i] / sqrtf(Eg[i] + c.eps);
    }
}

/* Kingma & Ba: m, v moving averages; theta -= lr mhat / (sqrt(vhat) + eps)
 * with mhat = m c1, vhat = v c2^2 (c1 = 1/(1-b1^t), c2 = 1/sqrt(1-b2^t)).
 * Nadam as in Ruder's survey (after Dozat 2016) replaces mhat by the
 * look-ahead b1 mhat + (1-b1) g c1: the same loop with (cm, cg) = (b1, 1-b1)
 * instead of Adam's exact (1, 0). */
static void rule_adam(float *restrict p, const float *restrict g, float *restrict m,
                      float *restrict v, size_t n, step_coef c, float cm, float cg)
{
    float k1 = 1.0f - c.b1, k2 = 1.0f - c.b2, a = c.lr * c.c1;
    for (size_t i = 0; i < n; i++) {
        m[i] = c.b1 * m[i] + k1 * g[i];
        v[i] = c.b2 * v[i] + k2 * g[i] * g[i];
        p[i] -= a * (cm * m[i] + cg * g[i]) / (sqrtf(v[i]) * c.c2 + c.eps);
    }
}

/* AdamW's decoupled decay (Loshchilov & Hutter 2019): theta -= lr wd theta
 * where mask is 1 (dense weights; biases and batch-norm parameters are
 * excluded), every parameter when mask is NULL. Applied before the Adam
 * part, which does not read theta, so this equals the paper's single update
 * theta -= lr (mhat / (sqrt(vhat) + eps) + wd theta). */
static void decay_weights(float *restrict p, const float *restrict mask, size_t n, float decay)
{
    if (mask == NULL) {
        for (size_t i = 0; i < n; i++) p[i] -= decay * p[i];
        return;
    }
    for (size_t i = 0; i < n; i++) p[i] -= decay * mask[i] * p[i];
}

/* Kingma & Ba sec. 7.1: u = max(b2 u, |g|); theta -= lr mhat / u. eps is added
 * to u (as Keras does) so a parameter whose gradient was always 0 stays put
 * instead of becoming 0/0. */
static void rule_adamax(float *restrict p, const float *restrict g, float *restrict m,
                        float *restrict u, size_t n, step_coef c)
{
    float k1 = 1.0f - c.b1, a = c.lr * c.c1;
    for (size_t i = 0; i < n; i++) {
        m[i] = c.b1 * m[i] + k1 * g[i];
        float b = c.b2 * u[i], ag = fabsf(g[i]);
        u[i] = b > ag ? b : ag;
        p[i] -= a * m[i] / (u[i] + c.eps);
    }
}

/* Reddi et al. 2018 as in Ruder's survey (no bias correction):
 * vmax = max(vmax, v); theta -= lr m / (sqrt(vmax) + eps). */
static void rule_amsgrad(float *restrict p, const float *restrict g, float *restrict m,
                         float *restrict v, float *restrict vmax, size_t n, step_coef c)
{
    float k1 = 1.0f - c.b1, k2 = 1.0f - c.b2;
    for (size_t i = 0; i < n; i++) {
        m[i] = c.b1 * m[i] + k1 * g[i];
        v[i] = c.b2 * v[i] + k2 * g[i] * g[i];
        vmax[i] = vmax[i] > v[i] ? vmax[i] : v[i];
        p[i] -= c.lr * m[i] / (sqrtf(vmax[i]) + c.eps);
    }
}

static step_coef coefficients(const bsnn_optimizer *opt, double lr)
{
    double t = (double)opt->t;
    step_coef c = {(float)lr, (float)opt->momentum, (float)opt->beta1, (float)opt->beta2,
                   (float)opt->eps, (float)opt->rho, 1.0f, 1.0f, (float)opt->weight_decay};
    if (opt->beta1 > 0.0 || opt->beta2 > 0.0) {
        c.c1 = (float)(1.0 / (1.0 - pow(opt->beta1, t)));
        c.c2 = (float)(1.0 / sqrt(1.0 - pow(opt->beta2, t)));
    }
    return c;
}

void bsnn__optimizer_update(bsnn_optimizer *opt, float *params, const float *grads,
                            const float *decay_mask, size_t n, double lr)
{
    opt->t++;
    step_coef c = coefficients(opt, lr);
    float *s = opt->state;
    switch (opt->kind) {
    case BSNN_MOMENTUM: rule_momentum(params, grads, s, n, c); break;
    case BSNN_NESTEROV: rule_nesterov(params, grads, s, n, c); break;
    case BSNN_ADAGRAD: rule_adagrad(params, grads, s, n, c); break;
    case BSNN_ADADELTA: rule_adadelta(params, grads, s, s + n, n, c); break;
    case BSNN_RMSPROP: rule_rmsprop(params, grads, s, n, c); break;
    case BSNN_ADAMW:
        decay_weights(params, decay_mask, n, c.lr * c.wd);
        rule_adam(params, grads, s, s + n, n, c, 1.0f, 0.0f);
        break;
    case BSNN_ADAM: rule_adam(params, grads, s, s + n, n, c, 1.0f, 0.0f); break;
    case BSNN_ADAMAX: rule_adamax(params, grads, s, s + n, n, c); break;
    case BSNN_NADAM: rule_adam(params, grads, s, s + n, n, c, c.b1, 1.0f - c.b1); break;
    case BSNN_AMSGRAD: rule_amsgrad(params, grads, s, s + n, s + 2 * n, n, c); break;
    default: rule_sgd(params, grads, n, c); break;
    }
}
