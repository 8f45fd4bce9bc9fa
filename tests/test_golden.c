/*
 * test_golden.c - bsnn against PyTorch itself. the files in tests/golden/ hold
 * trajectories that tests/golden/make_torch_golden.py recorded with
 * torch.optim in float64 (every rule at PyTorch's defaults and with other
 * hyperparameters; three nets; batch sizes 1, 3 and 16; 25 steps; the data,
 * initial parameters and batches are in the files). Each is replayed here in
 * float through the public API: every step's loss must agree within 1e-4
 * relative, and the final parameters within 1e-4 relative to the larger of
 * 1 and their largest magnitude. The paper forms (BSNN_VARIANT_RUDER), the
 * weights-only AdamW decay and bsnn's 1/2-sum MSE must NOT agree: that shows
 * the files can tell the forms apart. The script's docstring describes the
 * format. No torch is needed to run this test.
 */
#include "testutil.h"

#include <stdio.h>

#define GOLDEN_TOL 1e-4
#define MAX_LAYERS 8
#define MAX_KEYS 12
#define MAX_RUNS 512

static const char *const net_files[] = {"tests/golden/sigmoid_mse.txt",
                                        "tests/golden/tanh_mse.txt", "tests/golden/relu_ce.txt"};

typedef struct golden_run {
    char rule[16];
    size_t batch;
    int n_keys;
    char key[MAX_KEYS][24];
    char value[MAX_KEYS][24];
    double *loss;  /* [steps] */
    double *final; /* [n_params] */
} golden_run;

typedef struct golden_batches {
    size_t batch, steps, *rows; /* rows [steps][batch] */
} golden_batches;

typedef struct golden_net {
    char name[32];
    size_t n_in, n_layers, n, tw, n_params, n_orders, n_runs;
    int layer_dense[MAX_LAYERS];
    size_t layer_units[MAX_LAYERS];
    int layer_act[MAX_LAYERS];
    bsnn_loss loss;
    float *x, *y, *init;
    golden_batches orders[4];
    golden_run runs[MAX_RUNS];
    char *text;
} golden_net;

/* ---- reading a file --------------------------------------------------------- */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s is missing (make_torch_golden.py writes it)", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    cr_assert_gt(size, 0);
    rewind(f);
    char *text = malloc((size_t)size + 1);
    cr_assert_eq(fread(text, 1, (size_t)size, f), (size_t)size);
    text[size] = '\0';
    fclose(f);
    return text;
}

/* count numbers from the rest of the line (strtok state) into out. */
static void read_numbers(double *out, size_t count, char **save, const char *what)
{
    for (size_t i = 0; i < count; i++) {
        char *tok = strtok_r(NULL, " ", save), *end = NULL;
        cr_assert_not_null(tok, "%s: %zu numbers, expected %zu", what, i, count);
        out[i] = strtod(tok, &end);
        cr_assert(end != tok && *end == '\0', "%s: '%s' is not a number", what, tok);
    }
    cr_assert_null(strtok_r(NULL, " ", save), "%s: more than %zu numbers", what, count);
}

static void read_floats(float *out, size_t count, char **save, const char *what)
{
    double *tmp = malloc(count * sizeof *tmp);
    read_numbers(tmp, count, save, what);
    for (size_t i = 0; i < count; i++) out[i] = (float)tmp[i];
    free(tmp);
}

static size_t read_size(char **save, const char *what)
{
    char *tok = strtok_r(NULL, " ", save), *end = NULL;
    cr_assert_not_null(tok, "%s: missing count", what);
    unsigned long v = strtoul(tok, &end, 10);
    cr_assert(end != tok && *end == '\0', "%s: '%s' is not a count", what, tok);
    return (size_t)v;
}

static int activation_of(const char *name)
{
    if (strcmp(name, "sigmoid") == 0) return BSNN_ACT_SIGMOID;
    if (strcmp(name, "tanh") == 0) return BSNN_ACT_TANH;
    cr_assert_str_eq(name, "relu", "unknown activation '%s'", name);
    return BSNN_ACT_RELU;
}

static void read_run(golden_net *g, char **save, size_t *steps_seen)
{
    cr_assert_lt(g->n_runs, MAX_RUNS);
    golden_run *r = &g->runs[g->n_runs++];
    memset(r, 0, sizeof *r);
    for (char *tok; (tok = strtok_r(NULL, " ", save)) != NULL;) {
        char *eq = strchr(tok, '=');
        cr_assert_not_null(eq, "run field '%s' is not key=value", tok);
        *eq = '\0';
        if (strcmp(tok, "rule") == 0) {
            snprintf(r->rule, sizeof r->rule, "%s", eq + 1);
        } else if (strcmp(tok, "batch") == 0) {
            r->batch = (size_t)strtoul(eq + 1, NULL, 10);
        } else {
            cr_assert_lt(r->n_keys, MAX_KEYS);
            snprintf(r->key[r->n_keys], sizeof r->key[0], "%s", tok);
            snprintf(r->value[r->n_keys], sizeof r->value[0], "%s", eq + 1);
            r->n_keys++;
        }
    }
    *steps_seen = 0;
}

/* Parse one golden file (format version 1). */
static void golden_load(golden_net *g, const char *path)
{
    memset(g, 0, sizeof *g);
    g->text = slurp(path);
    char *save_line = NULL, *save = NULL;
    size_t xs = 0, ys = 0, steps = 0;
    golden_batches *order = NULL;
    for (char *line = strtok_r(g->text, "\n", &save_line); line;
         line = strtok_r(NULL, "\n", &save_line)) {
        if (line[0] == '#') continue;
        char *kw = strtok_r(line, " ", &save);
        if (kw == NULL) continue;
        if (strcmp(kw, "bsnn-golden") == 0) {
            cr_assert_eq(read_size(&save, path), 1, "%s: unknown format version", path);
        } else if (strcmp(kw, "net") == 0) {
            snprintf(g->name, sizeof g->name, "%s", strtok_r(NULL, " ", &save));
        } else if (strcmp(kw, "inputs") == 0) {
            g->n_in = read_size(&save, path);
        } else if (strcmp(kw, "layer") == 0) {
            cr_assert_lt(g->n_layers, MAX_LAYERS);
            char *kind = strtok_r(NULL, " ", &save), *arg = strtok_r(NULL, " ", &save);
            cr_assert(kind && arg, "%s: layer needs a kind and an argument", path);
            g->layer_dense[g->n_layers] = strcmp(kind, "dense") == 0;
            if (g->layer_dense[g->n_layers])
                g->layer_units[g->n_layers] = (size_t)strtoul(arg, NULL, 10);
            else
                g->layer_act[g->n_layers] = activation_of(arg);
            g->n_layers++;
        } else if (strcmp(kw, "loss") == 0 && g->n_runs == 0) {
            char *name = strtok_r(NULL, " ", &save);
            cr_assert_not_null(name);
            g->loss = strcmp(name, "softmax_ce") == 0 ? BSNN_LOSS_SOFTMAX_CE : BSNN_LOSS_MSE_MEAN;
            cr_assert(strcmp(name, "softmax_ce") == 0 || strcmp(name, "mse_mean") == 0,
                      "%s: unknown loss '%s'", path, name);
        } else if (strcmp(kw, "samples") == 0) {
            g->n = read_size(&save, path);
            g->tw = read_size(&save, path);
            g->x = malloc(g->n * g->n_in * sizeof(float));
            g->y = malloc(g->n * g->tw * sizeof(float));
        } else if (strcmp(kw, "x") == 0) {
            cr_assert_lt(xs, g->n);
            read_floats(g->x + xs++ * g->n_in, g->n_in, &save, "x");
        } else if (strcmp(kw, "y") == 0) {
            cr_assert_lt(ys, g->n);
            read_floats(g->y + ys++ * g->tw, g->tw, &save, "y");
        } else if (strcmp(kw, "params") == 0) {
            g->n_params = read_size(&save, path);
            g->init = malloc(g->n_params * sizeof(float));
            read_floats(g->init, g->n_params, &save, "params");
        } else if (strcmp(kw, "batches") == 0) {
            cr_assert_lt(g->n_orders, 4);
            order = &g->orders[g->n_orders++];
            order->batch = read_size(&save, path);
            order->steps = read_size(&save, path);
            order->rows = malloc(order->batch * order->steps * sizeof(size_t));
            steps = 0;
        } else if (strcmp(kw, "b") == 0) {
            cr_assert(order && steps < order->steps, "%s: stray batch line", path);
            for (size_t i = 0; i < order->batch; i++) {
                size_t row = read_size(&save, "b");
                cr_assert_lt(row, g->n, "%s: row %zu out of range", path, row);
                order->rows[steps * order->batch + i] = row;
            }
            steps++;
        } else if (strcmp(kw, "run") == 0) {
            read_run(g, &save, &steps);
        } else if (strcmp(kw, "loss") == 0) {
            golden_run *r = &g->runs[g->n_runs - 1];
            r->loss = malloc(g->orders[0].steps * sizeof(double));
            read_numbers(r->loss, g->orders[0].steps, &save, "loss");
        } else if (strcmp(kw, "final") == 0) {
            golden_run *r = &g->runs[g->n_runs - 1];
            cr_assert_eq(read_size(&save, path), g->n_params);
            r->final = malloc(g->n_params * sizeof(double));
            read_numbers(r->final, g->n_params, &save, "final");
        } else {
            cr_assert_fail("%s: unknown record '%s'", path, kw);
        }
    }
    cr_assert(xs == g->n && ys == g->n && g->n_params > 0 && g->n_runs > 0,
              "%s: incomplete file", path);
    for (size_t i = 0; i < g->n_runs; i++)
        cr_assert(g->runs[i].loss && g->runs[i].final, "%s: run %zu incomplete", path, i);
}

static void golden_free(golden_net *g)
{
    for (size_t i = 0; i < g->n_runs; i++) {
        free(g->runs[i].loss);
        free(g->runs[i].final);
    }
    for (size_t i = 0; i < g->n_orders; i++) free(g->orders[i].rows);
    free(g->x);
    free(g->y);
    free(g->init);
    free(g->text);
}

/* ---- replaying a run ---------------------------------------------------------- */

static const struct {
    const char *name;
    bsnn_optimizer_kind kind;
} rule_names[] = {{"sgd", BSNN_SGD},         {"momentum", BSNN_MOMENTUM},
                  {"nesterov", BSNN_NESTEROV}, {"adagrad", BSNN_ADAGRAD},
                  {"adadelta", BSNN_ADADELTA}, {"rmsprop", BSNN_RMSPROP},
                  {"adam", BSNN_ADAM},         {"adamax", BSNN_ADAMAX},
                  {"nadam", BSNN_NADAM},       {"amsgrad", BSNN_AMSGRAD},
                  {"adamw", BSNN_ADAMW}};

static const struct {
    const char *name;
    bsnn_opt_param param;
} param_names[] = {{"lr", BSNN_OPT_LR},
                   {"momentum", BSNN_OPT_MOMENTUM},
                   {"beta1", BSNN_OPT_BETA1},
                   {"beta2", BSNN_OPT_BETA2},
                   {"eps", BSNN_OPT_EPS},
                   {"rho", BSNN_OPT_RHO},
                   {"weight_decay", BSNN_OPT_WEIGHT_DECAY},
                   {"momentum_decay", BSNN_OPT_MOMENTUM_DECAY}};

static bsnn_optimizer_kind kind_of(const char *rule)
{
    for (size_t i = 0; i < sizeof rule_names / sizeof rule_names[0]; i++)
        if (strcmp(rule, rule_names[i].name) == 0) return rule_names[i].kind;
    cr_assert_fail("unknown rule '%s'", rule);
    return BSNN_SGD;
}

/* What to change from the file's recipe (to show that it matters). */
typedef struct twist {
    double variant;      /* -1: leave the default */
    double decay_scope;  /* -1: leave the default */
    int half_mse;        /* replay MSE_MEAN nets with bsnn's 1/2-sum MSE */
} twist;

static const twist as_recorded = {-1, -1, 0};

/* Worst errors of one replay: final parameters (max |a-b| / max(1, max|b|))
 * and per-step loss (|a-b| / |b|). */
typedef struct replay_error {
    double params, loss;
} replay_error;

static bsnn_model *golden_model(const golden_net *g, bsnn_loss loss)
{
    bsnn_model *m = bsnn_model_create(g->n_in);
    cr_assert_not_null(m, "%s", bsnn_last_error());
    for (size_t i = 0; i < g->n_layers; i++) {
        bsnn_layer *l = g->layer_dense[i] ? bsnn_layer_dense(g->layer_units[i])
                                          : bsnn_layer_activation((bsnn_activation)g->layer_act[i]);
        cr_assert_eq(bsnn_model_add(m, l), BSNN_OK, "%s", bsnn_last_error());
    }
    cr_assert_eq(bsnn_model_set_loss(m, loss), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_model_param_count(m), g->n_params, "%s: parameter count", g->name);
    cr_assert_eq(bsnn_model_set_params(m, g->init, g->n_params), BSNN_OK, "%s", bsnn_last_error());
    return m;
}

/* Apply a run's keys; returns lr_gamma (1 when absent). */
static double apply_keys(const golden_run *r, bsnn_model *m, bsnn_optimizer *o)
{
    double gamma = 1.0;
    for (int k = 0; k < r->n_keys; k++) {
        const char *key = r->key[k], *val = r->value[k];
        if (strcmp(key, "lr_gamma") == 0) {
            gamma = strtod(val, NULL);
        } else if (strcmp(key, "l2") == 0) {
            for (size_t i = 0; i < bsnn_model_n_layers(m); i++) {
                bsnn_layer *l = bsnn_model_layer(m, i);
                if (bsnn_layer_kind_of(l) == BSNN_LAYER_DENSE)
                    cr_assert_eq(bsnn_layer_set(l, BSNN_LAYER_L2, strtod(val, NULL)), BSNN_OK,
                                 "%s", bsnn_last_error());
            }
        } else if (strcmp(key, "decay_scope") == 0) {
            double scope = strcmp(val, "weights") == 0 ? BSNN_DECAY_WEIGHTS : BSNN_DECAY_ALL;
            cr_assert_eq(bsnn_optimizer_set(o, BSNN_OPT_DECAY_SCOPE, scope), BSNN_OK, "%s",
                         bsnn_last_error());
        } else {
            size_t p = 0, n = sizeof param_names / sizeof param_names[0];
            while (p < n && strcmp(key, param_names[p].name) != 0) p++;
            cr_assert_lt(p, n, "unknown run key '%s'", key);
            cr_assert_eq(bsnn_optimizer_set(o, param_names[p].param, strtod(val, NULL)), BSNN_OK,
                         "%s=%s: %s", key, val, bsnn_last_error());
        }
    }
    return gamma;
}

static const golden_batches *order_for(const golden_net *g, size_t batch)
{
    for (size_t i = 0; i < g->n_orders; i++)
        if (g->orders[i].batch == batch) return &g->orders[i];
    cr_assert_fail("%s: no batches of %zu rows", g->name, batch);
    return NULL;
}

static replay_error replay(const golden_net *g, const golden_run *r, twist tw)
{
    bsnn_loss loss = tw.half_mse && g->loss == BSNN_LOSS_MSE_MEAN ? BSNN_LOSS_MSE : g->loss;
    bsnn_model *m = golden_model(g, loss);
    bsnn_optimizer *o = bsnn_optimizer_create(kind_of(r->rule));
    cr_assert_not_null(o, "%s", bsnn_last_error());
    double gamma = apply_keys(r, m, o), lr0;
    if (tw.variant >= 0)
        cr_assert_eq(bsnn_optimizer_set(o, BSNN_OPT_VARIANT, tw.variant), BSNN_OK, "%s",
                     bsnn_last_error());
    if (tw.decay_scope >= 0)
        cr_assert_eq(bsnn_optimizer_set(o, BSNN_OPT_DECAY_SCOPE, tw.decay_scope), BSNN_OK, "%s",
                     bsnn_last_error());
    cr_assert_eq(bsnn_optimizer_get(&lr0, o, BSNN_OPT_LR), BSNN_OK);
    const golden_batches *order = order_for(g, r->batch);
    size_t b = r->batch;
    float *x = malloc(b * g->n_in * sizeof(float)), *y = malloc(b * g->tw * sizeof(float));
    float *got = malloc(g->n_params * sizeof(float));
    bsnn_tensor *tx = tu_wrap(x, b, g->n_in), *ty = tu_wrap(y, b, g->tw);
    replay_error err = {0, 0};
    for (size_t t = 1; t <= order->steps; t++) {
        for (size_t i = 0; i < b; i++) {
            size_t row = order->rows[(t - 1) * b + i];
            memcpy(x + i * g->n_in, g->x + row * g->n_in, g->n_in * sizeof(float));
            memcpy(y + i * g->tw, g->y + row * g->tw, g->tw * sizeof(float));
        }
        if (gamma != 1.0)
            cr_assert_eq(bsnn_optimizer_set(o, BSNN_OPT_LR, lr0 * pow(gamma, (double)(t - 1))),
                         BSNN_OK, "%s", bsnn_last_error());
        double l = NAN;
        cr_assert_eq(bsnn_model_train_step(&l, m, o, tx, ty), BSNN_OK, "%s %s step %zu: %s",
                     g->name, r->rule, t, bsnn_last_error());
        err.loss = fmax(err.loss, fabs(l - r->loss[t - 1]) / fabs(r->loss[t - 1]));
    }
    cr_assert_eq(bsnn_model_get_params(got, g->n_params, m), BSNN_OK);
    double diff = 0.0, scale = 1.0;
    for (size_t i = 0; i < g->n_params; i++) {
        diff = fmax(diff, fabs(got[i] - r->final[i]));
        scale = fmax(scale, fabs(r->final[i]));
    }
    err.params = diff / scale;
    bsnn_tensor_free(tx);
    bsnn_tensor_free(ty);
    free(x);
    free(y);
    free(got);
    bsnn_optimizer_free(o);
    bsnn_model_free(m);
    return err;
}

static void describe(char *buf, size_t size, const golden_net *g, const golden_run *r)
{
    int len = snprintf(buf, size, "%s %s batch %zu", g->name, r->rule, r->batch);
    for (int k = 0; k < r->n_keys && len > 0 && (size_t)len < size; k++)
        len += snprintf(buf + len, size - (size_t)len, " %s=%s", r->key[k], r->value[k]);
}

/* Every run of `rule` in every file, as recorded: all must match PyTorch. */
static void check_rule_matches_pytorch(const char *rule)
{
    static golden_net g;
    size_t runs = 0;
    replay_error worst = {0, 0};
    for (size_t f = 0; f < sizeof net_files / sizeof net_files[0]; f++) {
        golden_load(&g, net_files[f]);
        for (size_t i = 0; i < g.n_runs; i++) {
            const golden_run *r = &g.runs[i];
            if (strcmp(r->rule, rule) != 0) continue;
            replay_error e = replay(&g, r, as_recorded);
            char what[256];
            describe(what, sizeof what, &g, r);
            cr_expect_leq(e.params, GOLDEN_TOL, "%s: final parameters differ by %.3g (relative)",
                          what, e.params);
            cr_expect_leq(e.loss, GOLDEN_TOL, "%s: a step's loss differs by %.3g (relative)", what,
                          e.loss);
            worst.params = fmax(worst.params, e.params);
            worst.loss = fmax(worst.loss, e.loss);
            runs++;
        }
        golden_free(&g);
    }
    cr_assert_geq(runs, 9, "%s: only %zu golden runs (expected >= 9)", rule, runs);
    cr_log_info("golden %s: %zu runs, worst final-parameter error %.2e, worst loss error %.2e",
                rule, runs, worst.params, worst.loss);
}

#define GOLDEN_TEST(rule)                                                                      \
    Test(golden, rule##_matches_pytorch_trajectories)                          \
    {                                                                                          \
        check_rule_matches_pytorch(#rule);                                                     \
    }

GOLDEN_TEST(sgd)
GOLDEN_TEST(momentum)
GOLDEN_TEST(nesterov)
GOLDEN_TEST(adagrad)
GOLDEN_TEST(adadelta)
GOLDEN_TEST(rmsprop)
GOLDEN_TEST(adam)
GOLDEN_TEST(adamax)
GOLDEN_TEST(nadam)
GOLDEN_TEST(amsgrad)
GOLDEN_TEST(adamw)

/* The largest disagreement over a rule's runs under a twist. */
static double worst_with(const char *rule, twist tw)
{
    static golden_net g;
    double worst = 0.0;
    for (size_t f = 0; f < sizeof net_files / sizeof net_files[0]; f++) {
        golden_load(&g, net_files[f]);
        for (size_t i = 0; i < g.n_runs; i++)
            if (strcmp(g.runs[i].rule, rule) == 0) {
                replay_error e = replay(&g, &g.runs[i], tw);
                worst = fmax(worst, fmax(e.params, e.loss));
            }
        golden_free(&g);
    }
    return worst;
}

/* If the files could not tell two forms apart, passing them would prove
 * nothing: each survey form misses PyTorch by at least 10x the tolerance
 * on some run of its rule. */
Test(golden, every_ruder_form_misses_the_pytorch_trajectories)
{
    const char *rules[] = {"momentum", "nesterov", "adagrad", "rmsprop",
                           "adamax",   "nadam",    "amsgrad"};
    for (size_t k = 0; k < sizeof rules / sizeof rules[0]; k++) {
        twist tw = {BSNN_VARIANT_RUDER, -1, 0};
        double worst = worst_with(rules[k], tw);
        cr_log_info("golden %s with BSNN_VARIANT_RUDER: worst error %.2e", rules[k], worst);
        cr_expect_gt(worst, 10 * GOLDEN_TOL, "%s: the Ruder form agrees with PyTorch (%.2e)",
                     rules[k], worst);
    }
}

Test(golden, adamw_weights_only_decay_and_half_mse_miss_the_pytorch_trajectories)
{
    twist weights = {-1, BSNN_DECAY_WEIGHTS, 0}, half = {-1, -1, 1};
    double w = worst_with("adamw", weights), h = worst_with("adam", half);
    cr_log_info("golden adamw with BSNN_DECAY_WEIGHTS: %.2e; adam with 1/2-sum MSE: %.2e", w, h);
    cr_expect_gt(w, 10 * GOLDEN_TOL, "weights-only decay agrees with PyTorch's AdamW (%.2e)", w);
    cr_expect_gt(h, 10 * GOLDEN_TOL, "bsnn's 1/2-sum MSE agrees with PyTorch's MSELoss (%.2e)", h);
}
