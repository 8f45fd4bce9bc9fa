/*
 * test_optimizer.c - every update rule against its formula, recomputed here
 * in double on a small linear least-squares problem whose gradient the test
 * derives itself: PyTorch's form (torch.optim 1.13, read from its source)
 * and, for each rule that has one, the form of Ruder's survey
 * (BSNN_VARIANT_RUDER), both at the defaults, with other hyperparameters and
 * under a changing learning rate; defaults, bounds and bad values; binding,
 * reset, no allocation per step, Nadam's resumed schedule; every rule fits
 * 4-bit parity; Adam and RMSprop beat plain full-batch GD there.
 * (test_golden.c replays trajectories recorded by PyTorch itself.)
 */
#include "testutil.h"

#include "train/train.h"

/* ---- the fixed problem: y = x W + b, W 3x2, b 2, MSE over 5 rows ---------- */

enum { NI = 3, NO = 2, NR = 5, NP = NI * NO + NO };

static const float X[NR][NI] = {
    {0.5f, -1.0f, 0.25f}, {1.5f, 0.5f, -0.75f}, {-0.5f, 2.0f, 1.0f},
    {0.0f, -0.5f, -1.5f}, {1.0f, 1.0f, 0.5f}};
static const float T[NR][NO] = {{1.0f, -0.5f}, {0.0f, 2.0f}, {-1.0f, 0.5f},
                                {0.5f, 0.0f}, {2.0f, -1.0f}};
static const float P0[NP] = {0.3f, -0.6f, 0.8f, 0.45f, -0.35f, 0.7f, 0.25f, -0.4f};

/* Gradient of mean_r 1/2 |x_r W + b - t_r|^2 at p, in double. */
static void lsq_grad(double *g, const double *p)
{
    memset(g, 0, NP * sizeof *g);
    for (int r = 0; r < NR; r++)
        for (int j = 0; j < NO; j++) {
            double o = p[NI * NO + j];
            for (int i = 0; i < NI; i++) o += X[r][i] * p[i * NO + j];
            double d = (o - T[r][j]) / NR;
            for (int i = 0; i < NI; i++) g[i * NO + j] += X[r][i] * d;
            g[NI * NO + j] += d;
        }
}

static int is_weight(int i) { return i < NI * NO; }

/* Hyperparameters of one reference run; gamma: the rate of step t is
 * lr gamma^(t-1) (1: constant). */
typedef struct hp {
    double lr, mu, b1, b2, eps, rho, wd, psi, gamma;
    int variant, weights_only;
} hp;

/* Reference state: the formulas, literally, in double. */
typedef struct ref {
    double theta[NP], s1[NP], s2[NP], s3[NP];
    double mu_product; /* Nadam: prod mu_1..mu_t */
    int t;
} ref;

/* torch.optim 1.13, single-tensor code read line by line (lr = the step's
 * rate; PyTorch's state names in the comments). */
static void torch_step(ref *r, int kind, hp h, double lr, const double *g)
{
    double t = r->t, bc1 = 1.0 - pow(h.b1, t), bc2 = 1.0 - pow(h.b2, t);
    /* NAdam: Dozat's schedule, with PyTorch 2.0's (and 1.13 foreach's)
     * mu_product_next = mu_product * mu_next. */
    double mu = h.b1 * (1.0 - 0.5 * pow(0.96, t * h.psi));
    double mu_next = h.b1 * (1.0 - 0.5 * pow(0.96, (t + 1) * h.psi));
    if (kind == BSNN_NADAM) r->mu_product *= mu;
    for (int i = 0; i < NP; i++) {
        double *p = &r->theta[i], *a = &r->s1[i], *b = &r->s2[i], *c = &r->s3[i], gi = g[i];
        switch (kind) {
        case BSNN_SGD: *p -= lr * gi; break;
        case BSNN_MOMENTUM: /* buf = buf * momentum + d_p; p -= lr buf */
            *a = h.mu * *a + gi;
            *p -= lr * *a;
            break;
        case BSNN_NESTEROV: /* d_p = d_p + momentum buf */
            *a = h.mu * *a + gi;
            *p -= lr * (gi + h.mu * *a);
            break;
        case BSNN_ADAGRAD: /* std = state_sum.sqrt() + eps */
            *a += gi * gi;
            *p -= lr * gi / (sqrt(*a) + h.eps);
            break;
        case BSNN_ADADELTA: {
            *a = h.rho * *a + (1 - h.rho) * gi * gi;
            double delta = sqrt(*b + h.eps) / sqrt(*a + h.eps) * gi;
            *b = h.rho * *b + (1 - h.rho) * delta * delta;
            *p -= lr * delta;
            break;
        }
        case BSNN_RMSPROP: /* avg = square_avg.sqrt() + eps */
            *a = h.rho * *a + (1 - h.rho) * gi * gi;
            *p -= lr * gi / (sqrt(*a) + h.eps);
            break;
        case BSNN_ADAMW: /* param.mul_(1 - lr * weight_decay) first */
            if (!h.weights_only || is_weight(i)) *p *= 1.0 - lr * h.wd;
            /* fall through */
        case BSNN_ADAM:
            *a = h.b1 * *a + (1 - h.b1) * gi;
            *b = h.b2 * *b + (1 - h.b2) * gi * gi;
            *p -= lr / bc1 * *a / (sqrt(*b) / sqrt(bc2) + h.eps);
            break;
        case BSNN_ADAMAX: /* exp_inf = max(exp_inf * beta2, |g| + eps) */
            *a = h.b1 * *a + (1 - h.b1) * gi;
            *b = fmax(h.b2 * *b, fabs(gi) + h.eps);
            *p -= lr / bc1 * *a / *b;
            break;
        case BSNN_NADAM: {
            *a = h.b1 * *a + (1 - h.b1) * gi;
            *b = h.b2 * *b + (1 - h.b2) * gi * gi;
            double denom = sqrt(*b / bc2) + h.eps;
            *p -= lr * (1 - mu) / (1 - r->mu_product) * gi / denom;
            *p -= lr * mu_next / (1 - r->mu_product * mu_next) * *a / denom;
            break;
        }
        case BSNN_AMSGRAD: /* Adam(amsgrad=True) */
            *a = h.b1 * *a + (1 - h.b1) * gi;
            *b = h.b2 * *b + (1 - h.b2) * gi * gi;
            *c = fmax(*c, *b);
            *p -= lr / bc1 * *a / (sqrt(*c) / sqrt(bc2) + h.eps);
            break;
        }
    }
}

/* The survey's forms (Ruder 2016, equations as printed; for Nesterov,
 * theta is the published point and s1 the velocity v). */
static void ruder_step(ref *r, int kind, hp h, double lr, const double *g)
{
    double t = r->t, c1 = 1.0 / (1.0 - pow(h.b1, t)), c2 = 1.0 / (1.0 - pow(h.b2, t));
    for (int i = 0; i < NP; i++) {
        double *p = &r->theta[i], *a = &r->s1[i], *b = &r->s2[i], *c = &r->s3[i], gi = g[i];
        switch (kind) {
        case BSNN_MOMENTUM: /* eq. 4 */
        case BSNN_NESTEROV: /* eq. 5, g taken at theta - mu v by the caller */
            *a = h.mu * *a + lr * gi;
            *p -= *a;
            break;
        case BSNN_ADAGRAD: /* eq. 8 */
            *a += gi * gi;
            *p -= lr / sqrt(*a + h.eps) * gi;
            break;
        case BSNN_RMSPROP: /* RMSprop section */
            *a = h.rho * *a + (1 - h.rho) * gi * gi;
            *p -= lr / sqrt(*a + h.eps) * gi;
            break;
        case BSNN_ADAMAX: /* AdaMax section, eps added to u (bsnn 0.2, as Keras) */
            *a = h.b1 * *a + (1 - h.b1) * gi;
            *b = fmax(h.b2 * *b, fabs(gi));
            *p -= lr * c1 * *a / (*b + h.eps);
            break;
        case BSNN_NADAM: /* Nadam section, its last equation */
            *a = h.b1 * *a + (1 - h.b1) * gi;
            *b = h.b2 * *b + (1 - h.b2) * gi * gi;
            *p -= lr / (sqrt(*b * c2) + h.eps) * (h.b1 * *a * c1 + (1 - h.b1) * gi * c1);
            break;
        case BSNN_AMSGRAD: /* AMSGrad section, no bias correction */
            *a = h.b1 * *a + (1 - h.b1) * gi;
            *b = h.b2 * *b + (1 - h.b2) * gi * gi;
            *c = fmax(*c, *b);
            *p -= lr * *a / (sqrt(*c) + h.eps);
            break;
        }
    }
}

static void ref_step(ref *r, int kind, hp h)
{
    double g[NP], look[NP];
    r->t++;
    double lr = h.lr * pow(h.gamma, r->t - 1);
    if (kind == BSNN_NESTEROV && h.variant == BSNN_VARIANT_RUDER) {
        for (int i = 0; i < NP; i++) look[i] = r->theta[i] - h.mu * r->s1[i];
        lsq_grad(g, look);
    } else {
        lsq_grad(g, r->theta);
    }
    if (h.variant == BSNN_VARIANT_RUDER) ruder_step(r, kind, h, lr, g);
    else torch_step(r, kind, h, lr, g);
}

/* The point bsnn's arena holds: Ruder's Nesterov stores theta - mu v. */
static double ref_stored(const ref *r, int kind, hp h, int i)
{
    if (kind == BSNN_NESTEROV && h.variant == BSNN_VARIANT_RUDER)
        return r->theta[i] - h.mu * r->s1[i];
    return r->theta[i];
}

static bsnn_model *linear_model(void)
{
    bsnn_model *m = bsnn_model_create(NI);
    cr_assert_not_null(m);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(NO)), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_MSE), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_model_set_params(m, P0, NP), BSNN_OK, "%s", bsnn_last_error());
    return m;
}

static int set_if_applies(bsnn_optimizer *o, bsnn_opt_param p, double v)
{
    double lo, hi;
    unsigned open;
    if (bsnn_optimizer_bounds(&lo, &hi, &open, (bsnn_optimizer_kind)bsnn_optimizer_kind_of(o), p) !=
        BSNN_OK)
        return 0;
    cr_assert_eq(bsnn_optimizer_set(o, p, v), BSNN_OK, "%s", bsnn_last_error());
    return 1;
}

static void get_or(double *out, const bsnn_optimizer *o, bsnn_opt_param p, double fallback)
{
    if (bsnn_optimizer_get(out, o, p) != BSNN_OK) *out = fallback;
}

/* Read every hyperparameter back from bsnn, so the reference uses what the
 * optimizer holds (its defaults when nothing was set). */
static hp read_hp(const bsnn_optimizer *o, double gamma)
{
    hp h;
    double variant, scope;
    get_or(&h.lr, o, BSNN_OPT_LR, 0);
    get_or(&h.mu, o, BSNN_OPT_MOMENTUM, 0);
    get_or(&h.b1, o, BSNN_OPT_BETA1, 0);
    get_or(&h.b2, o, BSNN_OPT_BETA2, 0);
    get_or(&h.eps, o, BSNN_OPT_EPS, 0);
    get_or(&h.rho, o, BSNN_OPT_RHO, 0);
    get_or(&h.wd, o, BSNN_OPT_WEIGHT_DECAY, 0);
    get_or(&h.psi, o, BSNN_OPT_MOMENTUM_DECAY, 0);
    get_or(&variant, o, BSNN_OPT_VARIANT, BSNN_VARIANT_PYTORCH);
    get_or(&scope, o, BSNN_OPT_DECAY_SCOPE, BSNN_DECAY_ALL);
    h.variant = (int)variant;
    h.weights_only = scope == BSNN_DECAY_WEIGHTS;
    h.gamma = gamma;
    return h;
}

/* Run `steps` updates of bsnn and of the reference from the same start and
 * compare every parameter after every step to 1e-5 relative (floor 0.05:
 * the parameters of this problem stay of order 0.1..1). custom: hyper-
 * parameters to set (NULL: the defaults); variant, scope: settings to make
 * (-1: leave); gamma: the rate's decay per step, set between steps. */
static void check_rule(int kind, const hp *custom, int variant, int scope, double gamma, int steps)
{
    bsnn_model *m = linear_model();
    bsnn_optimizer *o = bsnn_optimizer_create((bsnn_optimizer_kind)kind);
    cr_assert_not_null(o, "%s", bsnn_last_error());
    if (custom) {
        set_if_applies(o, BSNN_OPT_LR, custom->lr);
        set_if_applies(o, BSNN_OPT_MOMENTUM, custom->mu);
        set_if_applies(o, BSNN_OPT_BETA1, custom->b1);
        set_if_applies(o, BSNN_OPT_BETA2, custom->b2);
        set_if_applies(o, BSNN_OPT_EPS, custom->eps);
        set_if_applies(o, BSNN_OPT_RHO, custom->rho);
        set_if_applies(o, BSNN_OPT_WEIGHT_DECAY, custom->wd);
        set_if_applies(o, BSNN_OPT_MOMENTUM_DECAY, custom->psi);
    }
    if (variant >= 0)
        cr_assert(set_if_applies(o, BSNN_OPT_VARIANT, variant), "kind %d has no variant", kind);
    if (scope >= 0)
        cr_assert(set_if_applies(o, BSNN_OPT_DECAY_SCOPE, scope), "kind %d has no scope", kind);
    hp h = read_hp(o, gamma);
    ref r;
    memset(&r, 0, sizeof r);
    r.mu_product = 1.0;
    for (int i = 0; i < NP; i++) r.theta[i] = P0[i];
    float x[NR * NI], y[NR * NO], got[NP];
    memcpy(x, X, sizeof x);
    memcpy(y, T, sizeof y);
    bsnn_tensor *tx = tu_wrap(x, NR, NI), *ty = tu_wrap(y, NR, NO);
    for (int s = 1; s <= steps; s++) {
        cr_assert_eq(bsnn_optimizer_set(o, BSNN_OPT_LR, h.lr * pow(gamma, s - 1)), BSNN_OK);
        cr_assert_eq(bsnn_model_train_step(NULL, m, o, tx, ty), BSNN_OK, "%s", bsnn_last_error());
        ref_step(&r, kind, h);
        cr_assert_eq(bsnn_model_get_params(got, NP, m), BSNN_OK);
        for (int i = 0; i < NP; i++) {
            double want = ref_stored(&r, kind, h, i);
            cr_assert_leq(tu_rel(got[i], want, 0.05), 1e-5,
                          "kind %d variant %d step %d param %d: bsnn %.9g, formula %.9g", kind,
                          h.variant, s, i, got[i], want);
        }
    }
    bsnn_tensor_free(tx);
    bsnn_tensor_free(ty);
    bsnn_optimizer_free(o);
    bsnn_model_free(m);
}

/* Large enough rates that a wrong formula moves parameters by far more than
 * 1e-5; non-default betas, eps and decays so each is seen to be used. */
static const hp custom_hp = {0.05, 0.7, 0.8, 0.99, 1e-3, 0.8, 0.5, 0.05, 1, 0, 0};

/* A rate that changes every step tells apart the forms that put lr inside
 * the velocity from those that put it outside. */
#define DECAYING 0.8

#define RULE_TESTS(name, kind)                                                                  \
    Test(optimizer_formula, name##_with_defaults_matches_pytorch)                              \
    {                                                                                          \
        check_rule(kind, NULL, -1, -1, 1.0, 8);                                                \
    }                                                                                          \
    Test(optimizer_formula, name##_with_set_hyperparameters_matches_pytorch)                   \
    {                                                                                          \
        check_rule(kind, &custom_hp, -1, -1, 1.0, 8);                                          \
    }                                                                                          \
    Test(optimizer_formula, name##_with_a_changing_rate_matches_pytorch)                       \
    {                                                                                          \
        check_rule(kind, &custom_hp, -1, -1, DECAYING, 8);                                     \
    }

RULE_TESTS(sgd, BSNN_SGD)
RULE_TESTS(momentum, BSNN_MOMENTUM)
RULE_TESTS(nesterov, BSNN_NESTEROV)
RULE_TESTS(adagrad, BSNN_ADAGRAD)
RULE_TESTS(adadelta, BSNN_ADADELTA)
RULE_TESTS(rmsprop, BSNN_RMSPROP)
RULE_TESTS(adam, BSNN_ADAM)
RULE_TESTS(adamax, BSNN_ADAMAX)
RULE_TESTS(nadam, BSNN_NADAM)
RULE_TESTS(amsgrad, BSNN_AMSGRAD)
RULE_TESTS(adamw, BSNN_ADAMW)

#define RUDER_TESTS(name, kind)                                                                 \
    Test(optimizer_formula, name##_ruder_form_with_defaults_matches_the_survey)                \
    {                                                                                          \
        check_rule(kind, NULL, BSNN_VARIANT_RUDER, -1, 1.0, 8);                                \
    }                                                                                          \
    Test(optimizer_formula, name##_ruder_form_with_set_hyperparameters_matches_the_survey)     \
    {                                                                                          \
        check_rule(kind, &custom_hp, BSNN_VARIANT_RUDER, -1, 1.0, 8);                          \
    }                                                                                          \
    Test(optimizer_formula, name##_ruder_form_with_a_changing_rate_matches_the_survey)         \
    {                                                                                          \
        check_rule(kind, &custom_hp, BSNN_VARIANT_RUDER, -1, DECAYING, 8);                     \
    }

RUDER_TESTS(momentum, BSNN_MOMENTUM)
RUDER_TESTS(nesterov, BSNN_NESTEROV)
RUDER_TESTS(adagrad, BSNN_ADAGRAD)
RUDER_TESTS(rmsprop, BSNN_RMSPROP)
RUDER_TESTS(adamax, BSNN_ADAMAX)
RUDER_TESTS(nadam, BSNN_NADAM)
RUDER_TESTS(amsgrad, BSNN_AMSGRAD)

Test(optimizer_formula, adamw_weights_only_scope_matches_pytorch_with_bias_groups_undecayed)
{
    check_rule(BSNN_ADAMW, NULL, -1, BSNN_DECAY_WEIGHTS, 1.0, 8);
    check_rule(BSNN_ADAMW, &custom_hp, -1, BSNN_DECAY_WEIGHTS, DECAYING, 8);
}

/* The forms differ where the tests above say they do, by more than their
 * 1e-5 tolerance (10x over): with a changing rate for momentum and Nesterov,
 * always for the others (at eps 1e-3, eps's place is visible here). */
Test(optimizer_formula, pytorch_and_ruder_forms_are_told_apart_by_these_checks)
{
    const int kinds[] = {BSNN_MOMENTUM, BSNN_NESTEROV, BSNN_ADAGRAD, BSNN_RMSPROP,
                         BSNN_ADAMAX,   BSNN_NADAM,    BSNN_AMSGRAD};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        hp h = custom_hp;
        h.gamma = DECAYING;
        ref a, b;
        memset(&a, 0, sizeof a);
        for (int i = 0; i < NP; i++) a.theta[i] = P0[i];
        a.mu_product = 1.0;
        b = a;
        double worst = 0.0;
        for (int s = 0; s < 8; s++) {
            h.variant = BSNN_VARIANT_PYTORCH;
            ref_step(&a, kinds[k], h);
            h.variant = BSNN_VARIANT_RUDER;
            ref_step(&b, kinds[k], h);
            for (int i = 0; i < NP; i++)
                worst = fmax(worst, tu_rel(ref_stored(&a, kinds[k], (hp){.variant = 0}, i),
                                           ref_stored(&b, kinds[k], h, i), 0.05));
        }
        cr_assert_gt(worst, 1e-4, "kind %d: the two forms differ by only %g (10x the checks' "
                     "tolerance needed)", kinds[k], worst);
    }
}

/* ---- defaults, bounds, bad values ---------------------------------------- */

/* torch.optim 1.13's defaults (-1: the rule does not take the parameter).
 * Where PyTorch has none: SGD's lr is required there (0.01 here), its
 * momentum defaults to 0 where bsnn's MOMENTUM and NESTEROV use 0.9. The
 * variant (0) and decay scope (0) default to PyTorch's form. */
typedef struct published {
    int kind;
    double lr, mu, b1, b2, eps, rho, wd, variant, scope, psi;
} published;

static const published defaults[] = {
    {BSNN_SGD, 0.01, -1, -1, -1, -1, -1, -1, -1, -1, -1},
    {BSNN_MOMENTUM, 0.01, 0.9, -1, -1, -1, -1, -1, 0, -1, -1},
    {BSNN_NESTEROV, 0.01, 0.9, -1, -1, -1, -1, -1, 0, -1, -1},
    {BSNN_ADAGRAD, 0.01, -1, -1, -1, 1e-10, -1, -1, 0, -1, -1},
    {BSNN_ADADELTA, 1.0, -1, -1, -1, 1e-6, 0.9, -1, -1, -1, -1},
    {BSNN_RMSPROP, 0.01, -1, -1, -1, 1e-8, 0.99, -1, 0, -1, -1},
    {BSNN_ADAM, 0.001, -1, 0.9, 0.999, 1e-8, -1, -1, -1, -1, -1},
    {BSNN_ADAMAX, 0.002, -1, 0.9, 0.999, 1e-8, -1, -1, 0, -1, -1},
    {BSNN_NADAM, 0.002, -1, 0.9, 0.999, 1e-8, -1, -1, 0, -1, 0.004},
    {BSNN_AMSGRAD, 0.001, -1, 0.9, 0.999, 1e-8, -1, -1, 0, -1, -1},
    {BSNN_ADAMW, 0.001, -1, 0.9, 0.999, 1e-8, -1, 0.01, -1, 0, -1},
};

#define N_OPT_PARAMS 10

Test(optimizer_params, defaults_are_pytorchs_and_only_applicable_params_exist)
{
    for (size_t k = 0; k < sizeof defaults / sizeof defaults[0]; k++) {
        const published *d = &defaults[k];
        bsnn_optimizer *o = bsnn_optimizer_create((bsnn_optimizer_kind)d->kind);
        cr_assert_not_null(o);
        cr_assert_eq(bsnn_optimizer_kind_of(o), d->kind);
        double want[N_OPT_PARAMS + 1] = {0,      d->lr,      d->mu,    d->b1,
                                         d->b2,  d->eps,     d->rho,   d->wd,
                                         d->variant, d->scope, d->psi};
        for (int p = 1; p <= N_OPT_PARAMS + 1; p++) {
            double v = -7, lo, hi;
            unsigned open;
            bsnn_status st = bsnn_optimizer_get(&v, o, (bsnn_opt_param)p);
            bsnn_status sb = bsnn_optimizer_bounds(&lo, &hi, &open, (bsnn_optimizer_kind)d->kind,
                                                   (bsnn_opt_param)p);
            if (p > N_OPT_PARAMS || want[p] < 0) {
                cr_assert_eq(st, BSNN_E_ARG, "kind %d param %d should not apply", d->kind, p);
                cr_assert_eq(sb, BSNN_E_ARG);
                cr_assert_eq(bsnn_optimizer_set(o, (bsnn_opt_param)p, 0.5), BSNN_E_ARG);
                if (p <= N_OPT_PARAMS)
                    cr_assert(strstr(bsnn_last_error(), "does not apply") != NULL, "%s",
                              bsnn_last_error());
            } else {
                cr_assert_eq(st, BSNN_OK, "kind %d param %d: %s", d->kind, p, bsnn_last_error());
                cr_assert_eq(v, want[p], "kind %d param %d: %g, PyTorch's %g", d->kind, p, v,
                             want[p]);
                cr_assert_eq(sb, BSNN_OK);
                /* the default lies inside its own bounds */
                cr_assert((open & 1) ? v > lo : v >= lo);
                cr_assert((open & 2) ? v < hi : v <= hi);
            }
        }
        bsnn_optimizer_free(o);
    }
}

Test(optimizer_params, variant_and_decay_scope_take_their_enum_values_only)
{
    double lo, hi;
    unsigned open;
    cr_assert_eq(bsnn_optimizer_bounds(&lo, &hi, &open, BSNN_NADAM, BSNN_OPT_VARIANT), BSNN_OK);
    cr_assert(lo == BSNN_VARIANT_PYTORCH && hi == BSNN_VARIANT_RUDER && open == 0);
    cr_assert_eq(bsnn_optimizer_bounds(&lo, &hi, &open, BSNN_ADAMW, BSNN_OPT_DECAY_SCOPE),
                 BSNN_OK);
    cr_assert(lo == BSNN_DECAY_ALL && hi == BSNN_DECAY_WEIGHTS && open == 0);
    bsnn_optimizer *o = bsnn_optimizer_create(BSNN_RMSPROP);
    double v = -1;
    cr_assert_eq(bsnn_optimizer_set(o, BSNN_OPT_VARIANT, BSNN_VARIANT_RUDER), BSNN_OK);
    cr_assert_eq(bsnn_optimizer_get(&v, o, BSNN_OPT_VARIANT), BSNN_OK);
    cr_assert_eq(v, BSNN_VARIANT_RUDER);
    cr_assert_eq(bsnn_optimizer_set(o, BSNN_OPT_VARIANT, 0.5), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "variant 0.5 is not a whole number") != NULL, "%s",
              bsnn_last_error());
    cr_assert_eq(bsnn_optimizer_get(&v, o, BSNN_OPT_VARIANT), BSNN_OK);
    cr_assert_eq(v, BSNN_VARIANT_RUDER, "a refused set changed the variant");
    bsnn_optimizer_free(o);
}

Test(optimizer_params, bounds_are_reported_per_parameter)
{
    double lo, hi;
    unsigned open;
    cr_assert_eq(bsnn_optimizer_bounds(&lo, &hi, &open, BSNN_ADAM, BSNN_OPT_BETA1), BSNN_OK);
    cr_assert(lo == 0.0 && hi == 1.0 && open == 2, "beta1 in [0,1)");
    cr_assert_eq(bsnn_optimizer_bounds(&lo, &hi, &open, BSNN_ADAM, BSNN_OPT_EPS), BSNN_OK);
    cr_assert(lo == 0.0 && (open & 1), "eps > 0");
    cr_assert_eq(bsnn_optimizer_bounds(&lo, &hi, &open, BSNN_SGD, BSNN_OPT_LR), BSNN_OK);
    cr_assert(lo == 0.0 && (open & 1), "lr > 0");
    cr_assert_eq(bsnn_optimizer_bounds(&lo, &hi, &open, BSNN_ADAMW, BSNN_OPT_WEIGHT_DECAY),
                 BSNN_OK);
    cr_assert(lo == 0.0 && open == 0, "weight decay >= 0");
    cr_assert_eq(bsnn_optimizer_bounds(&lo, &hi, &open, BSNN_SGD, BSNN_OPT_MOMENTUM), BSNN_E_ARG);
    cr_assert_eq(bsnn_optimizer_bounds(&lo, &hi, &open, (bsnn_optimizer_kind)0, BSNN_OPT_LR),
                 BSNN_E_ARG);
    cr_assert_eq(bsnn_optimizer_bounds(&lo, &hi, &open, BSNN_ADAM, (bsnn_opt_param)99), BSNN_E_ARG);
    cr_assert_eq(bsnn_optimizer_bounds(NULL, &hi, &open, BSNN_ADAM, BSNN_OPT_LR), BSNN_E_NULL);
    cr_assert_eq(bsnn_optimizer_bounds(&lo, NULL, &open, BSNN_ADAM, BSNN_OPT_LR), BSNN_E_NULL);
    cr_assert_eq(bsnn_optimizer_bounds(&lo, &hi, NULL, BSNN_ADAM, BSNN_OPT_LR), BSNN_E_NULL);
}

typedef struct bad_case {
    int kind, param;
    double value;
} bad_case;

Test(optimizer_params, every_nonsense_value_is_an_error_and_leaves_the_value)
{
    const bad_case bad[] = {
        {BSNN_SGD, BSNN_OPT_LR, -0.1},        {BSNN_SGD, BSNN_OPT_LR, 0.0},
        {BSNN_SGD, BSNN_OPT_LR, NAN},         {BSNN_SGD, BSNN_OPT_LR, INFINITY},
        {BSNN_MOMENTUM, BSNN_OPT_MOMENTUM, 1.0}, {BSNN_MOMENTUM, BSNN_OPT_MOMENTUM, -0.1},
        {BSNN_NESTEROV, BSNN_OPT_MOMENTUM, NAN}, {BSNN_ADAGRAD, BSNN_OPT_EPS, 0.0},
        {BSNN_ADAGRAD, BSNN_OPT_EPS, -1e-8},  {BSNN_ADADELTA, BSNN_OPT_RHO, 1.0},
        {BSNN_ADADELTA, BSNN_OPT_RHO, -0.5},  {BSNN_RMSPROP, BSNN_OPT_RHO, 1.5},
        {BSNN_ADAM, BSNN_OPT_BETA1, 1.0},     {BSNN_ADAM, BSNN_OPT_BETA1, -0.1},
        {BSNN_ADAM, BSNN_OPT_BETA2, 1.0},     {BSNN_ADAM, BSNN_OPT_EPS, 0.0},
        {BSNN_ADAMAX, BSNN_OPT_BETA1, 2.0},   {BSNN_NADAM, BSNN_OPT_BETA2, NAN},
        {BSNN_AMSGRAD, BSNN_OPT_EPS, -INFINITY}, {BSNN_ADAMW, BSNN_OPT_WEIGHT_DECAY, -0.01},
        {BSNN_ADAMW, BSNN_OPT_WEIGHT_DECAY, NAN}, {BSNN_ADAMW, BSNN_OPT_WEIGHT_DECAY, 1000.0},
        {BSNN_SGD, BSNN_OPT_BETA1, 0.9},      {BSNN_ADAM, BSNN_OPT_MOMENTUM, 0.9},
        {BSNN_ADAM, BSNN_OPT_RHO, 0.9},       {BSNN_ADAM, BSNN_OPT_WEIGHT_DECAY, 0.1},
        {BSNN_ADADELTA, BSNN_OPT_BETA2, 0.9}, {BSNN_RMSPROP, BSNN_OPT_MOMENTUM, 0.9},
        {BSNN_SGD, 0, 0.1},                   {BSNN_SGD, 99, 0.1},
        {BSNN_RMSPROP, BSNN_OPT_VARIANT, 2},  {BSNN_ADAGRAD, BSNN_OPT_VARIANT, -1},
        {BSNN_NADAM, BSNN_OPT_VARIANT, 0.5},  {BSNN_AMSGRAD, BSNN_OPT_VARIANT, NAN},
        {BSNN_SGD, BSNN_OPT_VARIANT, 1},      {BSNN_ADAM, BSNN_OPT_VARIANT, 1},
        {BSNN_ADADELTA, BSNN_OPT_VARIANT, 0}, {BSNN_ADAMW, BSNN_OPT_VARIANT, 1},
        {BSNN_ADAMW, BSNN_OPT_DECAY_SCOPE, 2}, {BSNN_ADAMW, BSNN_OPT_DECAY_SCOPE, 0.25},
        {BSNN_ADAM, BSNN_OPT_DECAY_SCOPE, 1}, {BSNN_NADAM, BSNN_OPT_MOMENTUM_DECAY, -0.1},
        {BSNN_NADAM, BSNN_OPT_MOMENTUM_DECAY, INFINITY}, {BSNN_ADAM, BSNN_OPT_MOMENTUM_DECAY, 0.004},
        {BSNN_MOMENTUM, 11, 0.0},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        bsnn_optimizer *o = bsnn_optimizer_create((bsnn_optimizer_kind)bad[k].kind);
        double before = -1, after = -1;
        bsnn_optimizer_get(&before, o, (bsnn_opt_param)bad[k].param);
        cr_assert_eq(bsnn_optimizer_set(o, (bsnn_opt_param)bad[k].param, bad[k].value), BSNN_E_ARG,
                     "case %zu: kind %d param %d value %g accepted", k, bad[k].kind, bad[k].param,
                     bad[k].value);
        cr_assert(strlen(bsnn_last_error()) > 20, "case %zu: message '%s'", k, bsnn_last_error());
        cr_assert(strstr(bsnn_last_error(), "bsnn_optimizer_set") != NULL);
        bsnn_optimizer_get(&after, o, (bsnn_opt_param)bad[k].param);
        cr_assert_eq(before, after, "case %zu: value changed by a failed set", k);
        bsnn_optimizer_free(o);
    }
}

Test(optimizer_params, adamw_rejects_lr_times_decay_of_one_or_more)
{
    bsnn_optimizer *o = bsnn_optimizer_create(BSNN_ADAMW);
    cr_assert_eq(bsnn_optimizer_set(o, BSNN_OPT_WEIGHT_DECAY, 100.0), BSNN_OK); /* 0.001*100 */
    cr_assert_eq(bsnn_optimizer_set(o, BSNN_OPT_LR, 0.01), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "weight_decay") != NULL, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_optimizer_set(o, BSNN_OPT_LR, 0.005), BSNN_OK);
    bsnn_optimizer_free(o);
}

Test(optimizer_params, null_and_unknown_arguments_are_errors)
{
    cr_assert_null(bsnn_optimizer_create((bsnn_optimizer_kind)0));
    cr_assert_null(bsnn_optimizer_create((bsnn_optimizer_kind)12));
    cr_assert(strstr(bsnn_last_error(), "unknown optimizer kind") != NULL);
    double v;
    cr_assert_eq(bsnn_optimizer_set(NULL, BSNN_OPT_LR, 0.1), BSNN_E_NULL);
    cr_assert_eq(bsnn_optimizer_get(&v, NULL, BSNN_OPT_LR), BSNN_E_NULL);
    bsnn_optimizer *o = bsnn_optimizer_create(BSNN_ADAM);
    cr_assert_eq(bsnn_optimizer_get(NULL, o, BSNN_OPT_LR), BSNN_E_NULL);
    cr_assert_eq(bsnn_optimizer_reset(NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_optimizer_kind_of(NULL), 0);
    bsnn_optimizer_free(o);
    bsnn_optimizer_free(NULL);
}

/* ---- binding, reset, allocation ------------------------------------------ */

static bsnn_status one_step(bsnn_model *m, bsnn_optimizer *o)
{
    float x[NR * NI], y[NR * NO];
    memcpy(x, X, sizeof x);
    memcpy(y, T, sizeof y);
    bsnn_tensor *tx = tu_wrap(x, NR, NI), *ty = tu_wrap(y, NR, NO);
    bsnn_status st = bsnn_model_train_step(NULL, m, o, tx, ty);
    bsnn_tensor_free(tx);
    bsnn_tensor_free(ty);
    return st;
}

Test(optimizer_state, binding_to_a_second_model_is_an_error_until_reset)
{
    bsnn_model *a = linear_model(), *b = linear_model();
    bsnn_optimizer *o = bsnn_optimizer_create(BSNN_ADAM);
    cr_assert_eq(one_step(a, o), BSNN_OK, "%s", bsnn_last_error());
    float pb[NP], pb2[NP];
    bsnn_model_get_params(pb, NP, b);
    cr_assert_eq(one_step(b, o), BSNN_E_STATE);
    cr_assert(strstr(bsnn_last_error(), "another model") != NULL, "%s", bsnn_last_error());
    bsnn_model_get_params(pb2, NP, b);
    cr_assert_arr_eq(pb, pb2, sizeof pb, "a refused step changed the model");
    cr_assert_eq(bsnn_optimizer_reset(o), BSNN_OK);
    cr_assert_eq(one_step(b, o), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(one_step(a, o), BSNN_E_STATE);
    bsnn_optimizer_free(o);
    bsnn_model_free(a);
    bsnn_model_free(b);
}

Test(optimizer_state, a_new_model_at_a_freed_models_address_is_still_another_model)
{
    bsnn_optimizer *o = bsnn_optimizer_create(BSNN_MOMENTUM);
    bsnn_model *a = linear_model();
    cr_assert_eq(one_step(a, o), BSNN_OK);
    bsnn_model_free(a);
    /* the allocator may well hand the same address to b */
    bsnn_model *b = linear_model();
    cr_assert_eq(one_step(b, o), BSNN_E_STATE, "stale momentum would be applied to b");
    cr_assert_eq(bsnn_optimizer_reset(o), BSNN_OK);
    cr_assert_eq(one_step(b, o), BSNN_OK, "%s", bsnn_last_error());
    bsnn_model_free(b);
    bsnn_optimizer_free(o);
}

Test(optimizer_state, reset_clears_moments_and_step_count)
{
    /* After reset, a run from the same start repeats a fresh optimizer's
     * trajectory bit for bit. */
    for (int kind = BSNN_SGD; kind <= BSNN_ADAMW; kind++) {
        bsnn_model *m = linear_model();
        bsnn_optimizer *o = bsnn_optimizer_create((bsnn_optimizer_kind)kind);
        float first[NP], second[NP];
        for (int s = 0; s < 4; s++) cr_assert_eq(one_step(m, o), BSNN_OK);
        bsnn_model_get_params(first, NP, m);
        cr_assert_eq(bsnn_optimizer_reset(o), BSNN_OK);
        cr_assert_eq(bsnn_model_set_params(m, P0, NP), BSNN_OK);
        for (int s = 0; s < 4; s++) cr_assert_eq(one_step(m, o), BSNN_OK);
        bsnn_model_get_params(second, NP, m);
        cr_assert_arr_eq(first, second, sizeof first, "kind %d differs after reset", kind);
        bsnn_optimizer_free(o);
        bsnn_model_free(m);
    }
}

Test(optimizer_state, steady_state_steps_allocate_nothing)
{
    tu_count_allocations(0);
    for (int kind = BSNN_SGD; kind <= BSNN_ADAMW; kind++) {
        bsnn_model *m = linear_model();
        bsnn_optimizer *o = bsnn_optimizer_create((bsnn_optimizer_kind)kind);
        cr_assert_eq(one_step(m, o), BSNN_OK);
        size_t before = tu_stats.allocs;
        for (int s = 0; s < 5; s++) cr_assert_eq(one_step(m, o), BSNN_OK);
        /* one_step wraps two tensors (2 allocations each step) */
        cr_assert_eq(tu_stats.allocs - before, 5 * 2, "kind %d allocated during steps", kind);
        bsnn_optimizer_free(o);
        bsnn_model_free(m);
    }
    cr_assert_eq(tu_stats.live_bytes, 0);
    tu_restore_allocator();
}

Test(optimizer_state, failed_state_allocation_is_nomem_and_leaves_the_model)
{
    float x[NR * NI], y[NR * NO];
    memcpy(x, X, sizeof x);
    memcpy(y, T, sizeof y);
    for (size_t fail = 1; fail < 40; fail++) {
        tu_count_allocations(0);
        bsnn_model *m = linear_model();
        bsnn_optimizer *o = bsnn_optimizer_create(BSNN_AMSGRAD);
        bsnn_tensor *tx = tu_wrap(x, NR, NI), *ty = tu_wrap(y, NR, NO);
        tu_stats.fail_at = tu_stats.allocs + fail;
        bsnn_status st = bsnn_model_train_step(NULL, m, o, tx, ty);
        size_t failed = tu_stats.failed;
        tu_stats.fail_at = 0;
        if (st != BSNN_OK) {
            cr_assert_eq(st, BSNN_E_NOMEM, "fail %zu: status %d", fail, st);
            float p[NP];
            bsnn_model_get_params(p, NP, m);
            cr_assert_arr_eq(p, P0, sizeof p, "fail %zu: model changed", fail);
            cr_assert_eq(bsnn_model_train_step(NULL, m, o, tx, ty), BSNN_OK,
                         "fail %zu: no recovery: %s", fail, bsnn_last_error());
        }
        bsnn_tensor_free(tx);
        bsnn_tensor_free(ty);
        bsnn_optimizer_free(o);
        bsnn_model_free(m);
        cr_assert_eq(tu_stats.live_bytes, 0, "fail %zu leaked", fail);
        tu_restore_allocator();
        if (st == BSNN_OK && failed == 0) break; /* every allocation was tried */
    }
}

/* ---- fitting 4-bit parity ------------------------------------------------- */

typedef struct fit_state {
    bsnn_model *m;
    const bsnn_dataset *ds;
    size_t fitted_at;
} fit_state;

static int fit_cb(void *user, bsnn_event ev, size_t epoch, size_t step, size_t batch, double loss)
{
    (void)epoch, (void)batch, (void)loss;
    fit_state *fs = user;
    double acc = 0;
    if (ev != BSNN_EVENT_EPOCH) return 0;
    bsnn_model_evaluate(NULL, &acc, fs->m, fs->ds, 16);
    if (acc == 1.0) fs->fitted_at = step;
    return acc == 1.0;
}

/* Full-batch updates the xor4 net (4-8-1 sigmoid, MSE, seed 1) needs to
 * classify all 16 parity rows; 0 if not within max_updates. lr <= 0 keeps
 * the rule's default. */
static size_t parity_updates(int kind, double lr, size_t max_updates)
{
    bsnn_dataset *ds = bsnn_dataset_parity(4);
    bsnn_model *m = bsnn_model_create(4);
    bsnn_model_add(m, bsnn_layer_dense(8));
    bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_SIGMOID));
    bsnn_model_add(m, bsnn_layer_dense(1));
    bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_SIGMOID));
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_MSE), BSNN_OK);
    bsnn_model_init_params(m, 1);
    bsnn_optimizer *o = bsnn_optimizer_create((bsnn_optimizer_kind)kind);
    if (lr > 0) cr_assert_eq(bsnn_optimizer_set(o, BSNN_OPT_LR, lr), BSNN_OK);
    bsnn_scheduler *s = bsnn_scheduler_create(16);
    bsnn_scheduler_set(s, BSNN_SCHED_FULL_BATCH, 1);
    fit_state fs = {m, ds, 0};
    cr_assert_eq(bsnn_model_train(NULL, m, o, s, ds, max_updates, fit_cb, &fs), BSNN_OK, "%s",
                 bsnn_last_error());
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(o);
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
    return fs.fitted_at;
}

/* The plain-GD learning rate of examples/xor4.c; momentum and Nesterov use
 * 0.5 (their default 0.01 is far too small for this sigmoid/MSE net). */
#define GD_LR 2.0

Test(optimizer_fit, every_rule_fits_4bit_parity_from_seed_1, .timeout = 60)
{
    const struct {
        int kind;
        double lr;
    } runs[] = {{BSNN_SGD, GD_LR},  {BSNN_MOMENTUM, 0.5}, {BSNN_NESTEROV, 0.5}, {BSNN_ADAGRAD, 0},
                {BSNN_ADADELTA, 0}, {BSNN_RMSPROP, 0},    {BSNN_ADAM, 0},       {BSNN_ADAMAX, 0},
                {BSNN_NADAM, 0},    {BSNN_AMSGRAD, 0},    {BSNN_ADAMW, 0}};
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        size_t u = parity_updates(runs[k].kind, runs[k].lr, 60000);
        cr_assert_gt(u, 0, "kind %d (lr %g) did not fit 4-bit parity in 60000 updates",
                     runs[k].kind, runs[k].lr);
    }
}

Test(optimizer_fit, adam_and_rmsprop_defaults_fit_parity_in_fewer_updates_than_gd, .timeout = 60)
{
    size_t gd = parity_updates(BSNN_SGD, GD_LR, 60000);
    size_t adam = parity_updates(BSNN_ADAM, 0, 60000);
    size_t rms = parity_updates(BSNN_RMSPROP, 0, 60000);
    cr_assert_gt(gd, 0);
    cr_assert(adam > 0 && adam < gd, "adam %zu updates, GD (lr %g) %zu", adam, GD_LR, gd);
    cr_assert(rms > 0 && rms < gd, "rmsprop %zu updates, GD (lr %g) %zu", rms, GD_LR, gd);
}

/* AdamW's decoupled decay: with a zero gradient the Adam part is 0, so a
 * decayed parameter shrinks by exactly (1 - lr wd) and any other stays put.
 * BSNN_DECAY_ALL (the default, as torch.optim.AdamW) decays every parameter;
 * BSNN_DECAY_WEIGHTS only dense weights, not biases or batch-norm gamma/beta. */
Test(optimizer_state, adamw_decays_every_parameter_or_with_weights_scope_dense_weights_only)
{
    for (int scope = BSNN_DECAY_ALL; scope <= BSNN_DECAY_WEIGHTS; scope++) {
        bsnn_model *m = bsnn_model_create(3);
        bsnn_model_add(m, bsnn_layer_dense(4));
        bsnn_model_add(m, bsnn_layer_batchnorm());
        bsnn_model_add(m, bsnn_layer_dense(2));
        cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_MSE), BSNN_OK);
        size_t np = bsnn_model_param_count(m); /* 12 + 4 | 4 + 4 | 8 + 2 */
        cr_assert_eq(np, 34);
        float p[34], after[34], zeros[34] = {0};
        for (size_t i = 0; i < np; i++) p[i] = 0.5f + 0.01f * (float)i;
        bsnn_model_set_params(m, p, np);
        bsnn_optimizer *o = bsnn_optimizer_create(BSNN_ADAMW);
        cr_assert_eq(bsnn_optimizer_set(o, BSNN_OPT_LR, 0.1), BSNN_OK);
        cr_assert_eq(bsnn_optimizer_set(o, BSNN_OPT_WEIGHT_DECAY, 2.0), BSNN_OK);
        if (scope == BSNN_DECAY_WEIGHTS)
            cr_assert_eq(bsnn_optimizer_set(o, BSNN_OPT_DECAY_SCOPE, scope), BSNN_OK);
        cr_assert_eq(bsnn__optimizer_bind(o, m, np), BSNN_OK);
        bsnn__optimizer_update(o, m->params, zeros, m->decay_mask, np, 0.1);
        bsnn_model_get_params(after, np, m);
        for (size_t i = 0; i < np; i++) {
            int weight = i < 12 || (i >= 24 && i < 32);
            int decayed = scope == BSNN_DECAY_ALL || weight;
            double want = decayed ? p[i] * (1.0 - 0.1 * 2.0) : p[i];
            cr_assert_leq(tu_rel(after[i], want, 1e-3), 1e-6, "scope %d param %zu (%s): %g, want %g",
                          scope, i, weight ? "weight" : "bias/gamma/beta", after[i], want);
        }
        bsnn_optimizer_free(o);
        bsnn_model_free(m);
    }
}

/* Nadam's schedule product is cached across steps; a checkpoint restores the
 * step count only, so the resumed run must rebuild the product and land on
 * exactly the parameters of a run that never stopped. */
Test(optimizer_state, nadam_resumed_from_a_checkpoint_is_bit_exact)
{
    for (int variant = BSNN_VARIANT_PYTORCH; variant <= BSNN_VARIANT_RUDER; variant++) {
        bsnn_model *a = linear_model();
        bsnn_optimizer *oa = bsnn_optimizer_create(BSNN_NADAM);
        cr_assert_eq(bsnn_optimizer_set(oa, BSNN_OPT_VARIANT, variant), BSNN_OK);
        cr_assert_eq(bsnn_optimizer_set(oa, BSNN_OPT_LR, 0.05), BSNN_OK);
        for (int s = 0; s < 5; s++) cr_assert_eq(one_step(a, oa), BSNN_OK);
        void *buf = NULL;
        size_t size = 0;
        cr_assert_eq(bsnn_checkpoint_save_alloc(&buf, &size, a, oa, NULL), BSNN_OK, "%s",
                     bsnn_last_error());
        bsnn_model *b = NULL;
        bsnn_optimizer *ob = NULL;
        cr_assert_eq(bsnn_checkpoint_load_buffer(&b, &ob, NULL, buf, size), BSNN_OK, "%s",
                     bsnn_last_error());
        bsnn_buffer_free(buf);
        double v = -1;
        cr_assert_eq(bsnn_optimizer_get(&v, ob, BSNN_OPT_VARIANT), BSNN_OK);
        cr_assert_eq(v, variant, "the checkpoint lost the variant");
        for (int s = 0; s < 5; s++) {
            cr_assert_eq(one_step(a, oa), BSNN_OK);
            cr_assert_eq(one_step(b, ob), BSNN_OK, "%s", bsnn_last_error());
        }
        float pa[NP], pb[NP];
        bsnn_model_get_params(pa, NP, a);
        bsnn_model_get_params(pb, NP, b);
        cr_assert_arr_eq(pa, pb, sizeof pa, "variant %d: resumed run differs", variant);
        bsnn_optimizer_free(oa);
        bsnn_optimizer_free(ob);
        bsnn_model_free(a);
        bsnn_model_free(b);
    }
}
