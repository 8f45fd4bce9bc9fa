/*
 * bsnn-train - train, evaluate and search batch sizes from the shell.
 *
 *   bsnn-train --dataset spiral --layers 4,8,8,1 --features x1,x2,sinx1,sinx2 \
 *              --activation tanh --output tanh --batch 1 --epochs 150 --lr 0.01
 *   bsnn-train --images train-images-idx3-ubyte.gz --labels train-labels-idx1-ubyte.gz \
 *              --layers 784,128,10 --activation relu --loss softmax --search
 *   bsnn-train --csv data.csv --target 4 --layers 4,16,3 --loss softmax --batch 32
 *
 * `bsnn-train --help` documents every flag. Exit status: 0 success, 1 a
 * failure while running (file, training), 2 a bad flag or value.
 */
#include <bsnn.h>

#include "exutil.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LAYERS 16

static const char *const help_text =
    "usage: bsnn-train DATA NETWORK [TRAINING] [options]\n"
    "\n"
    "Data (exactly one source):\n"
    "  --dataset NAME       generated set: circle, xor, gauss, spiral (classification,\n"
    "                       labels +1/-1, or 0/1 with --loss bce/softmax), plane,\n"
    "                       multigauss (regression), parityN (N-bit parity, e.g. parity4)\n"
    "  --points N           points to generate (default 500; 1200 for regression sets)\n"
    "  --noise X            Playground noise in [0,1] (slider/100; default 0)\n"
    "  --features LIST      generated sets: inputs among x1,x2,x1sq,x2sq,x1x2,sinx1,sinx2\n"
    "                       (default x1,x2)\n"
    "  --csv FILE           CSV file of numbers\n"
    "  --target LIST        CSV: 0-based target column(s), comma-separated (default: last)\n"
    "  --header MODE        CSV: yes, no or auto (default auto)\n"
    "  --images FILE        IDX images (MNIST format, .gz decompressed via gzip)\n"
    "  --labels FILE        IDX labels matching --images\n"
    "  --max-rows N         IDX: read only the first N items (default all)\n"
    "  --val-fraction F     share held out for validation, 0 to 0.9 (default 0.2)\n"
    "  --standardize        scale inputs to mean 0, std 1 (fitted on the training part) by\n"
    "                       a first layer holding the statistics, so a saved model takes\n"
    "                       raw rows\n"
    "\n"
    "Network:\n"
    "  --layers LIST        widths, inputs first: 784,256,10 (required; first must match data)\n"
    "  --activation NAME    hidden units: relu, tanh, sigmoid, leaky_relu, elu, linear\n"
    "                       (default relu)\n"
    "  --output NAME        activation after the last layer: linear, tanh, sigmoid\n"
    "                       (default linear)\n"
    "  --init NAME          weights: default, glorot, he, lecun, playground (U(-0.5,0.5),\n"
    "                       biases 0.1)\n"
    "  --loss NAME          mse (1/2 (o-t)^2), bce (from logits), softmax (cross-entropy\n"
    "                       from logits, class index targets) (default mse)\n"
    "\n"
    "Training:\n"
    "  --optimizer NAME     sgd, momentum, nesterov, adagrad, adadelta, rmsprop, adam,\n"
    "                       adamax, nadam, amsgrad, adamw (default sgd)\n"
    "  --lr X               learning rate (default: the rule's published default)\n"
    "  --momentum X         momentum / nesterov: mu\n"
    "  --beta1 X, --beta2 X Adam family moment decays\n"
    "  --eps X              denominator epsilon\n"
    "  --rho X              Adadelta / RMSprop decay\n"
    "  --weight-decay X     AdamW decoupled weight decay\n"
    "  --batch N            samples per update (default 32, clamped to the training size)\n"
    "  --full-batch         every update uses the whole training set (gradient descent)\n"
    "  --playground         Playground batching: stored order, leftovers carried over\n"
    "  --search             choose the batch size first: start at 128, halve or double\n"
    "                       while validation accuracy (classification) or loss improves\n"
    "  --search-epochs N    epochs per search candidate (default 2)\n"
    "  --epochs N           passes over the training set (default 10)\n"
    "  --seed N             seed of initialisation, split and shuffling (default 1)\n"
    "  --threads N          GEMM threads, 1..256 (default 1; results do not change)\n"
    "  --save FILE          write the trained model (bsnn_model_save format)\n"
    "  --quiet              print only the final result line\n"
    "  --help               this text\n";

typedef struct opts {
    const char *dataset, *csv, *images, *labels, *save, *features;
    const char *target, *header, *activation, *output, *init, *loss, *optimizer;
    size_t points, max_rows, batch, epochs, search_epochs;
    double noise, val_fraction;
    double hyper[8];   /* by bsnn_opt_param; NAN = default */
    size_t layers[MAX_LAYERS];
    size_t n_layers;
    int standardize, full_batch, playground, search, quiet, threads;
    uint64_t seed;
} opts;

static void usage_error(const char *flag, const char *value, const char *why)
{
    if (value)
        fprintf(stderr, "bsnn-train: %s: '%s' %s (see --help)\n", flag, value, why);
    else
        fprintf(stderr, "bsnn-train: %s %s (see --help)\n", flag, why);
    exit(2);
}

static double parse_double(const char *flag, const char *v)
{
    char *end = NULL;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end != '\0' || errno != 0 || !isfinite(x))
        usage_error(flag, v, "is not a finite number");
    return x;
}

static size_t parse_size(const char *flag, const char *v, size_t lo, size_t hi)
{
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (end == v || *end != '\0' || errno != 0 || v[0] == '-' || x < lo || x > hi) {
        char why[96];
        snprintf(why, sizeof why, "is not a whole number in %zu..%zu", lo, hi);
        usage_error(flag, v, why);
    }
    return (size_t)x;
}

/* Index of v in the NULL-terminated list, or exit 2 naming the flag. */
static int pick(const char *flag, const char *v, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(v, names[i]) == 0) return i;
    usage_error(flag, v, "is not one of the accepted names");
    return -1;
}

/* Split v at commas into buf's tokens (toks[cap]); an empty entry ("2,,1",
 * a leading or trailing comma) is an error, not silently dropped. */
static size_t split_list(char **toks, size_t cap, char *buf, size_t bufsize, const char *flag,
                         const char *v)
{
    if (strlen(v) >= bufsize) usage_error(flag, v, "is too long");
    snprintf(buf, bufsize, "%s", v);
    if (buf[0] == '\0') usage_error(flag, v, "is empty");
    size_t n = 0;
    for (char *tok = buf;;) {
        char *comma = strchr(tok, ',');
        if (comma) *comma = '\0';
        if (*tok == '\0') usage_error(flag, v, "has an empty entry");
        if (n == cap) usage_error(flag, v, "has too many entries");
        toks[n++] = tok;
        if (!comma) break;
        tok = comma + 1;
    }
    return n;
}

static size_t parse_list(size_t *out, size_t cap, const char *flag, const char *v, size_t lo)
{
    char buf[512], *toks[64];
    size_t n = split_list(toks, cap < 64 ? cap : 64, buf, sizeof buf, flag, v);
    for (size_t i = 0; i < n; i++) out[i] = parse_size(flag, toks[i], lo, 1u << 24);
    return n;
}

static void parse_args(opts *o, int argc, char **argv)
{
    for (int i = 0; i < 8; i++) o->hyper[i] = NAN;
    o->points = 0;
    o->batch = 32;
    o->epochs = 10;
    o->search_epochs = 2;
    o->val_fraction = 0.2;
    o->seed = 1;
    o->threads = 1;
    o->header = "auto";
    o->activation = "relu";
    o->output = "linear";
    o->init = "default";
    o->loss = "mse";
    o->optimizer = "sgd";
    o->features = "x1,x2";
    static const char *const hyper_flags[8] = {NULL,     "--lr",  "--momentum", "--beta1",
                                               "--beta2", "--eps", "--rho",      "--weight-decay"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(help_text, stdout);
            exit(0);
        }
        const char *flags0[] = {"--standardize", "--full-batch", "--playground", "--search",
                                "--quiet", NULL};
        int *targets0[] = {&o->standardize, &o->full_batch, &o->playground, &o->search, &o->quiet};
        int matched = 0;
        for (int k = 0; flags0[k]; k++)
            if (strcmp(a, flags0[k]) == 0) *targets0[k] = 1, matched = 1;
        if (matched) continue;
        if (strncmp(a, "--", 2) != 0) usage_error(a, NULL, "is not a flag");
        if (i + 1 >= argc) usage_error(a, NULL, "needs a value (or is unknown)");
        const char *v = argv[++i];
        for (int k = 1; k < 8; k++)
            if (strcmp(a, hyper_flags[k]) == 0) o->hyper[k] = parse_double(a, v), matched = 1;
        if (matched) continue;
        if (strcmp(a, "--dataset") == 0) o->dataset = v;
        else if (strcmp(a, "--csv") == 0) o->csv = v;
        else if (strcmp(a, "--images") == 0) o->images = v;
        else if (strcmp(a, "--labels") == 0) o->labels = v;
        else if (strcmp(a, "--save") == 0) o->save = v;
        else if (strcmp(a, "--features") == 0) o->features = v;
        else if (strcmp(a, "--target") == 0) o->target = v;
        else if (strcmp(a, "--header") == 0) o->header = v;
        else if (strcmp(a, "--activation") == 0) o->activation = v;
        else if (strcmp(a, "--output") == 0) o->output = v;
        else if (strcmp(a, "--init") == 0) o->init = v;
        else if (strcmp(a, "--loss") == 0) o->loss = v;
        else if (strcmp(a, "--optimizer") == 0) o->optimizer = v;
        else if (strcmp(a, "--points") == 0) o->points = parse_size(a, v, 2, 100000000);
        else if (strcmp(a, "--max-rows") == 0) o->max_rows = parse_size(a, v, 1, SIZE_MAX >> 8);
        else if (strcmp(a, "--batch") == 0) o->batch = parse_size(a, v, 1, SIZE_MAX >> 8);
        else if (strcmp(a, "--epochs") == 0) o->epochs = parse_size(a, v, 1, 100000000);
        else if (strcmp(a, "--search-epochs") == 0) o->search_epochs = parse_size(a, v, 1, 100000);
        else if (strcmp(a, "--seed") == 0) o->seed = parse_size(a, v, 0, SIZE_MAX);
        else if (strcmp(a, "--threads") == 0) o->threads = (int)parse_size(a, v, 1, 256);
        else if (strcmp(a, "--noise") == 0) {
            o->noise = parse_double(a, v);
            if (o->noise < 0 || o->noise > 1) usage_error(a, v, "is not in [0, 1]");
        } else if (strcmp(a, "--val-fraction") == 0) {
            o->val_fraction = parse_double(a, v);
            if (o->val_fraction < 0 || o->val_fraction > 0.9) usage_error(a, v, "is not in [0, 0.9]");
        } else if (strcmp(a, "--layers") == 0) {
            o->n_layers = parse_list(o->layers, MAX_LAYERS, a, v, 1);
            if (o->n_layers < 2) usage_error(a, v, "needs at least inputs and outputs");
        } else {
            usage_error(a, NULL, "is not a known flag");
        }
    }
    int sources = !!o->dataset + !!o->csv + !!(o->images || o->labels);
    if (sources != 1) usage_error("--dataset/--csv/--images", NULL, "exactly one data source is needed");
    if ((o->images != NULL) != (o->labels != NULL)) usage_error("--images/--labels", NULL, "go together");
    if (o->n_layers == 0) usage_error("--layers", NULL, "is required");
    static const char *const acts[] = {"linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", NULL};
    pick("--activation", o->activation, acts);
    static const char *const outs[] = {"linear", "sigmoid", "tanh", NULL};
    pick("--output", o->output, outs);
    static const char *const losses[] = {"mse", "bce", "softmax", NULL};
    pick("--loss", o->loss, losses);
    static const char *const inits[] = {"default", "glorot", "he", "lecun", "playground", NULL};
    pick("--init", o->init, inits);
    static const char *const headers[] = {"no", "yes", "auto", NULL};
    pick("--header", o->header, headers);
}

static const char *const opt_names[] = {"",        "sgd",     "momentum", "nesterov",
                                        "adagrad", "adadelta", "rmsprop", "adam",
                                        "adamax",  "nadam",   "amsgrad",  "adamw", NULL};

static unsigned parse_features(const char *v)
{
    static const char *const names[] = {"x1", "x2", "x1sq", "x2sq", "x1x2", "sinx1", "sinx2", NULL};
    char buf[256], *toks[16];
    unsigned mask = 0;
    size_t n = split_list(toks, 16, buf, sizeof buf, "--features", v);
    for (size_t i = 0; i < n; i++) mask |= 1u << pick("--features", toks[i], names);
    return mask;
}

static bsnn_dataset *make_generated(const opts *o)
{
    static const char *const sets[] = {"", "circle", "xor", "gauss", "spiral", "plane", "multigauss", NULL};
    if (strncmp(o->dataset, "parity", 6) == 0) {
        size_t bits = parse_size("--dataset", o->dataset + 6, 1, 20);
        return bsnn_dataset_parity((int)bits);
    }
    int set = pick("--dataset", o->dataset, sets);
    if (set == 0) usage_error("--dataset", o->dataset, "is not a data set name");
    size_t n = o->points ? o->points : set >= BSNN_PG_PLANE ? 1200 : 500;
    if (set <= BSNN_PG_SPIRAL && n % 2) {
        char value[32];
        snprintf(value, sizeof value, "%zu", n);
        usage_error("--points", value, "is odd: two classes need an even count");
    }
    int flags = strcmp(o->loss, "mse") != 0 ? BSNN_PG_LABELS_01 : 0;
    bsnn_dataset *raw = bsnn_dataset_playground((bsnn_playground)set, n, o->noise, o->seed, flags);
    if (raw == NULL) return NULL;
    unsigned mask = parse_features(o->features);
    bsnn_dataset *ds = bsnn_dataset_features(raw, mask);
    bsnn_dataset_free(raw);
    return ds;
}

static bsnn_dataset *make_csv(const opts *o)
{
    size_t cols[64], n = 0;
    if (o->target) n = parse_list(cols, 64, "--target", o->target, 0);
    int header = strcmp(o->header, "yes") == 0 ? 1 : strcmp(o->header, "no") == 0 ? 0 : -1;
    if (n == 0) {
        /* Default: the last column. Learn the width from a first load. */
        size_t probe = 0;
        bsnn_dataset *ds = bsnn_dataset_load_csv(o->csv, header, &probe, 1);
        if (ds == NULL) return NULL;
        cols[0] = bsnn_dataset_n_inputs(ds);
        n = 1;
        bsnn_dataset_free(ds);
    }
    return bsnn_dataset_load_csv(o->csv, header, cols, n);
}

static bsnn_dataset *make_idx(const opts *o)
{
    char pi[4096], pl[4096];
    int ti = 0, tl = 0;
    if (ex_plain_file(pi, sizeof pi, o->images, &ti) != 0 ||
        ex_plain_file(pl, sizeof pl, o->labels, &tl) != 0) {
        fprintf(stderr, "bsnn-train: cannot decompress %s or %s with gzip\n", o->images, o->labels);
        exit(1);
    }
    bsnn_dataset *ds = bsnn_dataset_load_idx(pi, pl, o->max_rows);
    if (ti) remove(pi);
    if (tl) remove(pl);
    return ds;
}

static void fail(const char *what)
{
    fprintf(stderr, "bsnn-train: %s: %s\n", what, bsnn_last_error());
    exit(1);
}

/* The model of --layers; with stats (mean then std of each input), a
 * standardize layer first, so the statistics travel with the model. */
static bsnn_model *make_model(const opts *o, const float *stats)
{
    static const int inits[] = {BSNN_INIT_DEFAULT, BSNN_INIT_GLOROT_UNIFORM, BSNN_INIT_HE_UNIFORM,
                                BSNN_INIT_LECUN_UNIFORM, BSNN_INIT_UNIFORM};
    static const char *const init_names[] = {"default", "glorot", "he", "lecun", "playground", NULL};
    static const char *const acts[] = {"linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", NULL};
    int init = inits[pick("--init", o->init, init_names)];
    int hidden = pick("--activation", o->activation, acts), out = pick("--output", o->output, acts);
    bsnn_model *m = bsnn_model_create(o->layers[0]);
    if (m == NULL) fail("model");
    if (stats && bsnn_model_add(m, bsnn_layer_standardize(stats, stats + o->layers[0],
                                                          o->layers[0])) != BSNN_OK)
        fail("--standardize");
    for (size_t i = 1; i < o->n_layers; i++) {
        bsnn_layer *l = bsnn_layer_dense(o->layers[i]);
        if (l == NULL) fail("layer");
        bsnn_layer_set(l, BSNN_LAYER_INIT, init);
        if (init == BSNN_INIT_UNIFORM) {
            bsnn_layer_set(l, BSNN_LAYER_INIT_LO, -0.5);
            bsnn_layer_set(l, BSNN_LAYER_INIT_HI, 0.5);
            bsnn_layer_set(l, BSNN_LAYER_BIAS_INIT, 0.1);
        }
        if (bsnn_model_add(m, l) != BSNN_OK) fail("add layer");
        int act = i + 1 < o->n_layers ? hidden : out;
        if (act != BSNN_ACT_LINEAR && bsnn_model_add(m, bsnn_layer_activation((bsnn_activation)act)) != BSNN_OK)
            fail("add activation");
    }
    static const char *const losses[] = {"", "mse", "bce", "softmax", NULL};
    /* The library refuses a loss that cannot work with the network (softmax
     * cross-entropy over one output, BCE after a sigmoid): a bad flag. */
    if (bsnn_model_set_loss(m, (bsnn_loss)pick("--loss", o->loss, losses)) != BSNN_OK) {
        fprintf(stderr, "bsnn-train: --loss %s: %s (see --help)\n", o->loss, bsnn_last_error());
        exit(2);
    }
    if (strcmp(o->output, "tanh") == 0 && strcmp(o->loss, "mse") == 0)
        bsnn_model_set(m, BSNN_MODEL_THRESHOLD, 0.0); /* +1/-1 labels */
    if (bsnn_model_init_params(m, o->seed) != BSNN_OK) fail("init");
    return m;
}

static bsnn_optimizer *make_optimizer(const opts *o)
{
    int kind = pick("--optimizer", o->optimizer, opt_names);
    if (kind == 0) usage_error("--optimizer", o->optimizer, "is not an update rule");
    bsnn_optimizer *opt = bsnn_optimizer_create((bsnn_optimizer_kind)kind);
    if (opt == NULL) fail("optimizer");
    static const char *const flag[8] = {NULL,     "--lr",  "--momentum", "--beta1",
                                        "--beta2", "--eps", "--rho",      "--weight-decay"};
    for (int p = 1; p < 8; p++)
        if (!isnan(o->hyper[p]) && bsnn_optimizer_set(opt, (bsnn_opt_param)p, o->hyper[p]) != BSNN_OK) {
            fprintf(stderr, "bsnn-train: %s: %s\n", flag[p], bsnn_last_error());
            exit(2);
        }
    return opt;
}

typedef struct progress {
    int tty, quiet;
    size_t epochs, n, steps_per_epoch;
    double t0, t_epoch;
    bsnn_model *m;
    const bsnn_dataset *val;
} progress;

static int on_event(void *user, bsnn_event ev, size_t epoch, size_t step, size_t batch, double loss)
{
    progress *p = user;
    (void)batch;
    if (p->quiet) return 0;
    if (ev == BSNN_EVENT_STEP && p->tty && step % 16 == 0) {
        double done = p->steps_per_epoch ? (double)(step % p->steps_per_epoch) / p->steps_per_epoch : 0;
        int w = (int)(done * 30);
        double rate = done * (double)p->n / (ex_now() - p->t_epoch + 1e-9);
        fprintf(stderr, "\r  epoch %zu/%zu [%.*s%*s] loss %.5f  %.0f samples/s ", epoch + 1,
                p->epochs, w, "##############################", 30 - w, "", loss, rate);
        fflush(stderr);
    }
    if (ev == BSNN_EVENT_EPOCH) {
        double now = ex_now(), rate = (double)p->n / (now - p->t_epoch);
        p->t_epoch = now;
        double vl = NAN, va = NAN;
        if (p->val) bsnn_model_evaluate(&vl, &va, p->m, p->val, bsnn_dataset_size(p->val) < 4096 ? bsnn_dataset_size(p->val) : 4096);
        if (p->tty) fputs("\r\033[K", stderr);
        printf("epoch %zu/%zu  loss %.6f  val loss %.6f  val acc %.4f  %.0f samples/s  %zu updates\n",
               epoch + 1, p->epochs, loss, vl, va, rate, step);
        fflush(stdout);
    }
    return 0;
}

static void split(const opts *o, bsnn_dataset *all, bsnn_dataset **tr, bsnn_dataset **val)
{
    if (o->val_fraction <= 0) {
        *tr = all;
        *val = NULL;
        return;
    }
    if (bsnn_dataset_split(tr, val, all, 1.0 - o->val_fraction, o->seed) != BSNN_OK) fail("split");
    bsnn_dataset_free(all);
}

/* Per-input mean then std of the training part (the caller frees). The
 * data stays raw: the model's standardize layer applies them. */
static float *input_stats(const bsnn_dataset *tr)
{
    size_t k = bsnn_dataset_n_inputs(tr);
    float *stats = malloc(2 * k * sizeof(float));
    if (!stats || bsnn_dataset_input_stats(stats, stats + k, k, tr) != BSNN_OK) fail("standardize");
    return stats;
}

static size_t search_batch(const opts *o, bsnn_model *m, bsnn_optimizer *opt, const bsnn_dataset *tr,
                           const bsnn_dataset *val)
{
    if (val == NULL) usage_error("--search", NULL, "needs a validation part (--val-fraction > 0)");
    bsnn_search *se = bsnn_search_create();
    if (se == NULL) fail("search");
    int classify = strcmp(o->loss, "mse") != 0 || strcmp(o->output, "tanh") == 0;
    bsnn_search_set(se, BSNN_SEARCH_BUDGET_KIND, BSNN_BUDGET_EPOCHS);
    bsnn_search_set(se, BSNN_SEARCH_BUDGET, (double)o->search_epochs);
    bsnn_search_set(se, BSNN_SEARCH_METRIC, classify ? BSNN_METRIC_VAL_ACCURACY : BSNN_METRIC_VAL_LOSS);
    bsnn_search_set_seed(se, o->seed);
    size_t best = 0;
    if (bsnn_search_run(&best, se, m, opt, tr, val, NULL) != BSNN_OK) fail("search");
    for (size_t i = 0; i < bsnn_search_count(se) && !o->quiet; i++) {
        double b, l, a, s;
        bsnn_search_result(&b, se, i, BSNN_SEARCH_COL_BATCH);
        bsnn_search_result(&l, se, i, BSNN_SEARCH_COL_VAL_LOSS);
        bsnn_search_result(&a, se, i, BSNN_SEARCH_COL_VAL_ACCURACY);
        bsnn_search_result(&s, se, i, BSNN_SEARCH_COL_SECONDS);
        printf("search: batch %6.0f  val loss %.6f  val acc %.4f  %.2f s\n", b, l, a, s);
    }
    if (!o->quiet) printf("search: chose batch %zu\n", best);
    bsnn_search_free(se);
    bsnn_optimizer_reset(opt);
    return best;
}

int main(int argc, char **argv)
{
    opts o = {0};
    parse_args(&o, argc, argv);
    if (bsnn_set_num_threads(o.threads) != BSNN_OK) fail("--threads");
    bsnn_dataset *all = o.dataset ? make_generated(&o) : o.csv ? make_csv(&o) : make_idx(&o);
    if (all == NULL) fail("data");
    if (bsnn_dataset_n_inputs(all) != o.layers[0]) {
        fprintf(stderr, "bsnn-train: --layers: the data has %zu inputs but the first width is %zu\n",
                bsnn_dataset_n_inputs(all), o.layers[0]);
        bsnn_dataset_free(all);
        return 2;
    }
    bsnn_dataset *tr, *val;
    split(&o, all, &tr, &val);
    float *stats = o.standardize ? input_stats(tr) : NULL;
    bsnn_model *m = make_model(&o, stats);
    free(stats);
    bsnn_optimizer *opt = make_optimizer(&o);
    size_t n = bsnn_dataset_size(tr);
    size_t batch = o.search ? search_batch(&o, m, opt, tr, val) : o.batch > n ? n : o.batch;
    bsnn_scheduler *s = bsnn_scheduler_create(n);
    if (s == NULL) fail("scheduler");
    if (o.full_batch) bsnn_scheduler_set(s, BSNN_SCHED_FULL_BATCH, 1);
    else bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, (double)batch);
    bsnn_scheduler_set_seed(s, o.seed);
    if (o.playground) {
        bsnn_scheduler_set(s, BSNN_SCHED_SHUFFLE, 0);
        bsnn_scheduler_set(s, BSNN_SCHED_CARRY_OVER, 1);
    }
    progress p = {isatty(STDERR_FILENO), o.quiet, o.epochs, n, 0, ex_now(), ex_now(), m, val};
    p.steps_per_epoch = o.full_batch ? 1 : (n + batch - 1) / batch;
    if (!o.quiet)
        printf("bsnn-train: %zu training rows, %zu validation rows, batch %zu, %zu epochs\n", n,
               val ? bsnn_dataset_size(val) : 0, o.full_batch ? n : batch, o.epochs);
    size_t steps = 0;
    if (bsnn_model_train(&steps, m, opt, s, tr, o.epochs, on_event, &p) != BSNN_OK) fail("train");
    double tl = 0, ta = 0, vl = NAN, va = NAN;
    bsnn_model_evaluate(&tl, &ta, m, tr, n < 4096 ? n : 4096);
    if (val) bsnn_model_evaluate(&vl, &va, m, val, bsnn_dataset_size(val) < 4096 ? bsnn_dataset_size(val) : 4096);
    printf("result: batch %zu  updates %zu  train loss %.6f  train acc %.4f  val loss %.6f  "
           "val acc %.4f  %.2f s\n", o.full_batch ? n : batch, steps, tl, ta, vl, va, ex_now() - p.t0);
    if (o.save && bsnn_model_save(m, o.save) != BSNN_OK) fail("--save");
    if (o.save && !o.quiet) printf("saved %s\n", o.save);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(tr);
    bsnn_dataset_free(val);
    return 0;
}
