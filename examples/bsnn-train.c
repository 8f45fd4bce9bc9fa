/*
 * bsnn-train - train, evaluate and search batch sizes from the shell, and
 * use the models it saves.
 *
 *   bsnn-train --dataset spiral --layers 4,8,8,1 --features x1,x2,sinx1,sinx2 \
 *              --activation tanh --output tanh --batch 1 --epochs 150 --lr 0.01
 *   bsnn-train --images train-images-idx3-ubyte.gz --labels train-labels-idx1-ubyte.gz \
 *              --test t10k-images-idx3-ubyte.gz --test-labels t10k-labels-idx1-ubyte.gz \
 *              --layers 784,128,10 --activation relu --search --save fashion.bsnn
 *   bsnn-train --csv data.csv --target 4 --layers 4,16,3 --batch 32 --save m.bsnn
 *   bsnn-train predict --model m.bsnn --csv new.csv --out predictions.csv
 *   bsnn-train evaluate --model m.bsnn --csv test.csv --target 4
 *   mpirun -np 2 lib/mpi/bsnn-train --mpi --dataset spiral --layers 2,16,1 --batch 64
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
#include <sys/stat.h>
#include <unistd.h>

#ifdef BSNN_TRAIN_MPI /* the build `make mpi` makes (lib/mpi/bsnn-train) */
#include <bsnn_mpi.h>
#endif

#define MAX_LAYERS 16
#define MAX_SEEN 128
#define CHUNK_ROWS 4096 /* rows per forward/evaluate call */

/* Split in parts: C11 promises string literals of 4095 characters only. */
static const char *const help_text[] = {
    "usage: bsnn-train [train] DATA NETWORK [TRAINING] [options]\n"
    "       bsnn-train predict --model FILE DATA [--out FILE]\n"
    "       bsnn-train evaluate --model FILE DATA\n"
    "\n"
    "Data (exactly one source):\n"
    "  --dataset NAME       generated set: circle, xor, gauss, spiral (classification,\n"
    "                       labels +1/-1 under mse, else 0/1), plane, multigauss\n"
    "                       (regression), parityN (N-bit parity, e.g. parity4)\n"
    "  --points N           points to generate (default 500; 1200 for regression sets)\n"
    "  --noise X            Playground noise in [0,1] (slider/100; default 0)\n"
    "  --features LIST      generated sets: inputs among x1,x2,x1sq,x2sq,x1x2,sinx1,sinx2\n"
    "                       (default x1,x2)\n"
    "  --csv FILE           CSV file of numbers\n"
    "  --target LIST        CSV: 0-based target column(s), comma-separated (default: the\n"
    "                       last; evaluate: the columns after the model's inputs; predict:\n"
    "                       none, or these columns are skipped)\n"
    "  --header MODE        CSV: yes, no or auto (default auto)\n"
    "  --images FILE        IDX images (MNIST format, .gz decompressed via gzip)\n"
    "  --labels FILE        IDX labels matching --images (predict: not needed)\n"
    "  --max-rows N         IDX: read only the first N items (default all)\n"
    "  --val-fraction F     share of the training data held out for validation, 0 to 0.9\n"
    "                       (default 0.2): the search and the epoch lines use it\n"
    "  --test FILE          test data of the same kind as --csv or --images (with\n"
    "                       --test-labels): the final figures are measured on it\n"
    "  --test-labels FILE   IDX labels of --test\n"
    "  --test-fraction F    hold out this share as test data instead, 0 to 0.9 (default 0)\n"
    "  --standardize        scale inputs to mean 0, std 1 (fitted on the training part) by\n"
    "                       a first layer holding the statistics, so a saved model takes\n"
    "                       raw rows\n"
    "\n",
    "Network:\n"
    "  --layers LIST        widths, inputs first: 784,256,10 (required; first must match data)\n"
    "  --activation NAME    hidden units: relu, tanh, sigmoid, leaky_relu, elu, linear\n"
    "                       (default relu)\n"
    "  --output NAME        activation after the last layer: linear, tanh, sigmoid\n"
    "                       (default linear)\n"
    "  --init NAME          weights: default, glorot, he, lecun, playground (U(-0.5,0.5),\n"
    "                       biases 0.1)\n"
    "  --loss NAME          mse (1/2 (o-t)^2), mse_mean (PyTorch's MSELoss), bce (from\n"
    "                       logits), softmax (cross-entropy from logits, class-index or\n"
    "                       one-hot targets). Default: chosen from the task and printed:\n"
    "                       softmax for several outputs with class targets, bce for one\n"
    "                       linear output with 0/1 targets, else mse\n"
    "\n",
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
    "  --search             choose the batch size first on the validation part: start at\n"
    "                       128, halve or double while validation accuracy\n"
    "                       (classification) or loss improves\n"
    "  --search-epochs N    epochs per search candidate (default 2)\n"
    "  --search-budget K:X  per candidate: epochs:N, samples:N or seconds:X (default\n"
    "                       epochs:2, the same as --search-epochs 2)\n"
    "  --search-metric M    accuracy or loss on the validation part (default accuracy\n"
    "                       for classification, else loss)\n"
    "  --search-start N     first batch size of the search (default 128)\n"
    "  --repeats N          train each search candidate with N seeds (data order and\n"
    "                       initialisation) and compare the means (default 1)\n"
    "  --search-rule R      best (the best mean) or one-se (the largest batch within one\n"
    "                       standard error of the best mean; default best)\n"
    "  --search-csv FILE    write the search's candidates as CSV\n"
    "  --noise-scale ROUTE  measure the gradient noise scale B_simple every update:\n"
    "                       per-sample (no batch norm) or micro (needs --micro-batch);\n"
    "                       shown on the epoch lines and in --history (default off)\n"
    "  --micro-batch N      process each batch N rows at a time (gradient accumulation)\n"
    "  --adaptive           let the batch follow B_simple each epoch (from --batch, at\n"
    "                       most x2 per epoch, powers of two, lr scaled by AdaScale's\n"
    "                       gain from --batch; needs --noise-scale)\n"
    "  --epochs N           passes over the training set (default 10; with --resume the\n"
    "                       total, counting the epochs already done)\n"
    "  --seed N             seed of initialisation, splits and shuffling (default 1)\n"
    "  --threads N          GEMM threads, 1..256 (default 1; results do not change)\n"
    "  --history FILE       write one CSV row per epoch (losses, accuracy, lr, time)\n"
    "  --checkpoint FILE    write a checkpoint (model, optimizer, scheduler) every epoch\n"
    "  --resume FILE        continue from a checkpoint: network, loss, optimizer and\n"
    "                       batches come from it; pass the same data flags and --seed\n"
    "  --save FILE          write the trained model (bsnn_model_save format)\n"
    "  --quiet              print only the final result line\n"
    "  --mpi                one rank of a data-parallel run under mpirun (the MPI build:\n"
    "                       make mpi): --batch is the global batch, each rank trains its\n"
    "                       share; rank 0 prints and writes the files (docs/mpi.md)\n"
    "\n",
    "Using a saved model:\n"
    "  --model FILE         the model for predict and evaluate\n"
    "  --out FILE           predict: write the lines there instead of standard output\n"
    "  predict prints one line per row: the outputs (logits under bce and softmax),\n"
    "  then, for models trained with bce or softmax, the class. evaluate prints the\n"
    "  loss and accuracy and, for those classifiers, the confusion matrix.\n"
    "  --help               this text\n",
    NULL};

typedef enum mode { MODE_TRAIN, MODE_PREDICT, MODE_EVALUATE } mode;

typedef struct opts {
    mode mode;
    const char *dataset, *csv, *images, *labels, *save, *features;
    const char *target, *header, *activation, *output, *init, *loss, *optimizer;
    const char *model, *out, *test, *test_labels, *history, *search_csv, *checkpoint, *resume;
    size_t points, max_rows, batch, epochs, search_epochs, search_start, repeats, micro_batch;
    const char *search_budget, *search_metric, *search_rule, *noise_scale;
    int adaptive;
    double noise, val_fraction, test_fraction;
    double hyper[8]; /* by bsnn_opt_param; NAN = default */
    size_t layers[MAX_LAYERS];
    size_t n_layers;
    int standardize, full_batch, playground, search, quiet, threads, mpi;
    uint64_t seed;
    const char *seen[MAX_SEEN]; /* flags given, for the per-mode check */
    size_t n_seen;
} opts;

/* ---- flags ----------------------------------------------------------------- */

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

static double parse_fraction(const char *flag, const char *v)
{
    double x = parse_double(flag, v);
    if (x < 0 || x > 0.9) usage_error(flag, v, "is not in [0, 0.9]");
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

static const char *const act_names[] = {"linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", NULL};
static const char *const loss_names[] = {"", "mse", "bce", "softmax", "mse_mean", NULL};
static const char *const opt_names[] = {"",        "sgd",      "momentum", "nesterov",
                                        "adagrad", "adadelta", "rmsprop",  "adam",
                                        "adamax",  "nadam",    "amsgrad",  "adamw", NULL};

/* Flags predict and evaluate take (everything else belongs to training). */
static const char *const use_flags[] = {"--model",  "--out",   "--dataset",  "--points",
                                        "--noise",  "--features", "--csv",   "--target",
                                        "--header", "--images", "--labels",  "--max-rows",
                                        "--seed",   "--threads", "--quiet",  NULL};

static void check_mode_flags(const opts *o)
{
    const char *name = o->mode == MODE_PREDICT ? "predict" : "evaluate";
    for (size_t i = 0; i < o->n_seen; i++) {
        int ok = 0;
        for (int k = 0; use_flags[k]; k++) ok |= strcmp(o->seen[i], use_flags[k]) == 0;
        if (o->mode == MODE_EVALUATE && strcmp(o->seen[i], "--out") == 0) ok = 0;
        if (!ok) {
            char why[64];
            snprintf(why, sizeof why, "is not used by bsnn-train %s", name);
            usage_error(o->seen[i], NULL, why);
        }
    }
    if (o->model == NULL) usage_error("--model", NULL, "is required");
    if (o->labels && !o->images) usage_error("--labels", NULL, "goes with --images");
    if (o->mode == MODE_EVALUATE && o->images && !o->labels)
        usage_error("--images", NULL, "needs --labels to evaluate");
}

static void check_train_flags(const opts *o)
{
    if (o->model || o->out) usage_error(o->model ? "--model" : "--out", NULL, "is for predict and evaluate");
    if ((o->images != NULL) != (o->labels != NULL)) usage_error("--images/--labels", NULL, "go together");
    if (o->resume == NULL && o->n_layers == 0) usage_error("--layers", NULL, "is required");
    if (o->test && o->test_fraction > 0) usage_error("--test", NULL, "and --test-fraction exclude each other");
    if (o->test && o->dataset) usage_error("--test", NULL, "needs --csv or --images data (use --test-fraction)");
    if ((o->test_labels != NULL) != (o->test && o->images))
        usage_error("--test-labels", NULL, "goes with --test when the data is --images");
    if (o->search_csv && !o->search) usage_error("--search-csv", NULL, "needs --search");
    if (o->resume && o->search) usage_error("--search", NULL, "cannot be used with --resume");
    const char *search_only[] = {"--search-budget", "--search-metric", "--search-start",
                                 "--repeats", "--search-rule"};
    const int given[] = {o->search_budget != NULL, o->search_metric != NULL, o->search_start != 0,
                         o->repeats != 0, o->search_rule != NULL};
    for (int k = 0; k < 5; k++)
        if (given[k] && !o->search) usage_error(search_only[k], NULL, "needs --search");
    if (o->adaptive && !o->noise_scale)
        usage_error("--adaptive", NULL, "needs --noise-scale (it follows the measured B_simple)");
    if (o->adaptive && o->full_batch) usage_error("--adaptive", NULL, "and --full-batch exclude each other");
    if (o->noise_scale && strcmp(o->noise_scale, "micro") == 0 && o->micro_batch == 0)
        usage_error("--noise-scale", "micro", "needs --micro-batch N (the micro-batches are its small batches)");
    if (o->val_fraction + o->test_fraction > 0.9)
        usage_error("--val-fraction/--test-fraction", NULL, "leave less than 10% for training");
}

/* --search-budget KIND:AMOUNT into a bsnn_search_budget and its amount
 * (whole epochs or samples, seconds > 0). */
static void search_budget_of(const char *v, int *out_kind, double *out_amount)
{
    static const char *const kinds[] = {"epochs", "samples", "seconds", NULL};
    const char *colon = strchr(v, ':');
    char kind[16];
    size_t len = colon ? (size_t)(colon - v) : strlen(v);
    if (colon == NULL || len >= sizeof kind) usage_error("--search-budget", v, "is not KIND:AMOUNT");
    memcpy(kind, v, len);
    kind[len] = '\0';
    int k = pick("--search-budget", kind, kinds);
    double x = k == 2 ? parse_double("--search-budget", colon + 1)
                      : (double)parse_size("--search-budget", colon + 1, 1, (size_t)1 << 53);
    if (!(x > 0)) usage_error("--search-budget", v, "needs an amount above 0");
    if (out_kind) *out_kind = k == 0 ? BSNN_BUDGET_EPOCHS : k == 1 ? BSNN_BUDGET_SAMPLES : BSNN_BUDGET_SECONDS;
    if (out_amount) *out_amount = x;
}

static void parse_args(opts *o, int argc, char **argv)
{
    for (int i = 0; i < 8; i++) o->hyper[i] = NAN;
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
    o->optimizer = "sgd";
    o->features = "x1,x2";
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "predict") == 0) o->mode = MODE_PREDICT, first = 2;
    else if (argc > 1 && strcmp(argv[1], "evaluate") == 0) o->mode = MODE_EVALUATE, first = 2;
    else if (argc > 1 && strcmp(argv[1], "train") == 0) first = 2;
    static const char *const hyper_flags[8] = {NULL,     "--lr",  "--momentum", "--beta1",
                                               "--beta2", "--eps", "--rho",      "--weight-decay"};
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            for (int k = 0; help_text[k]; k++) fputs(help_text[k], stdout);
            exit(0);
        }
        if (strncmp(a, "--", 2) != 0) usage_error(a, NULL, "is not a flag");
        if (o->n_seen < MAX_SEEN) o->seen[o->n_seen++] = a;
        const char *flags0[] = {"--standardize", "--full-batch", "--playground", "--search",
                                "--quiet", "--mpi", "--adaptive", NULL};
        int *targets0[] = {&o->standardize, &o->full_batch, &o->playground, &o->search, &o->quiet,
                           &o->mpi, &o->adaptive};
        int matched = 0;
        for (int k = 0; flags0[k]; k++)
            if (strcmp(a, flags0[k]) == 0) *targets0[k] = 1, matched = 1;
        if (matched) continue;
        if (i + 1 >= argc) usage_error(a, NULL, "needs a value (or is unknown)");
        const char *v = argv[++i];
        for (int k = 1; k < 8; k++)
            if (strcmp(a, hyper_flags[k]) == 0) o->hyper[k] = parse_double(a, v), matched = 1;
        if (matched) continue;
        const char *names[] = {"--dataset", "--csv", "--images", "--labels", "--save",
                               "--features", "--target", "--header", "--activation", "--output",
                               "--init", "--loss", "--optimizer", "--model", "--out", "--test",
                               "--test-labels", "--history", "--search-csv", "--checkpoint",
                               "--resume", "--search-budget", "--search-metric", "--search-rule",
                               "--noise-scale", NULL};
        const char **slots[] = {&o->dataset, &o->csv, &o->images, &o->labels, &o->save,
                                &o->features, &o->target, &o->header, &o->activation,
                                &o->output, &o->init, &o->loss, &o->optimizer, &o->model,
                                &o->out, &o->test, &o->test_labels, &o->history, &o->search_csv,
                                &o->checkpoint, &o->resume, &o->search_budget, &o->search_metric,
                                &o->search_rule, &o->noise_scale};
        for (int k = 0; names[k]; k++)
            if (strcmp(a, names[k]) == 0) *slots[k] = v, matched = 1;
        if (matched) continue;
        if (strcmp(a, "--points") == 0) o->points = parse_size(a, v, 2, 100000000);
        else if (strcmp(a, "--max-rows") == 0) o->max_rows = parse_size(a, v, 1, SIZE_MAX >> 8);
        else if (strcmp(a, "--batch") == 0) o->batch = parse_size(a, v, 1, SIZE_MAX >> 8);
        else if (strcmp(a, "--epochs") == 0) o->epochs = parse_size(a, v, 1, 100000000);
        else if (strcmp(a, "--search-epochs") == 0) o->search_epochs = parse_size(a, v, 1, 100000);
        else if (strcmp(a, "--search-start") == 0) o->search_start = parse_size(a, v, 1, SIZE_MAX >> 8);
        else if (strcmp(a, "--repeats") == 0) o->repeats = parse_size(a, v, 1, 10000);
        else if (strcmp(a, "--micro-batch") == 0) o->micro_batch = parse_size(a, v, 1, SIZE_MAX >> 8);
        else if (strcmp(a, "--seed") == 0) o->seed = parse_size(a, v, 0, SIZE_MAX);
        else if (strcmp(a, "--threads") == 0) o->threads = (int)parse_size(a, v, 1, 256);
        else if (strcmp(a, "--noise") == 0) {
            o->noise = parse_double(a, v);
            if (o->noise < 0 || o->noise > 1) usage_error(a, v, "is not in [0, 1]");
        } else if (strcmp(a, "--val-fraction") == 0) o->val_fraction = parse_fraction(a, v);
        else if (strcmp(a, "--test-fraction") == 0) o->test_fraction = parse_fraction(a, v);
        else if (strcmp(a, "--layers") == 0) {
            o->n_layers = parse_list(o->layers, MAX_LAYERS, a, v, 1);
            if (o->n_layers < 2) usage_error(a, v, "needs at least inputs and outputs");
        } else {
            usage_error(a, NULL, "is not a known flag");
        }
    }
    int sources = !!o->dataset + !!o->csv + !!(o->images || o->labels);
    if (sources != 1) usage_error("--dataset/--csv/--images", NULL, "exactly one data source is needed");
    if (o->mode == MODE_TRAIN) check_train_flags(o);
    else check_mode_flags(o);
    pick("--activation", o->activation, act_names);
    static const char *const outs[] = {"linear", "sigmoid", "tanh", NULL};
    pick("--output", o->output, outs);
    if (o->loss && pick("--loss", o->loss, loss_names) == 0) usage_error("--loss", o->loss, "is not a loss");
    static const char *const inits[] = {"default", "glorot", "he", "lecun", "playground", NULL};
    pick("--init", o->init, inits);
    static const char *const headers[] = {"no", "yes", "auto", NULL};
    pick("--header", o->header, headers);
    static const char *const metrics[] = {"accuracy", "loss", NULL};
    static const char *const rules[] = {"best", "one-se", NULL};
    static const char *const routes[] = {"off", "micro", "per-sample", NULL};
    if (o->search_metric) pick("--search-metric", o->search_metric, metrics);
    if (o->search_rule) pick("--search-rule", o->search_rule, rules);
    if (o->noise_scale && pick("--noise-scale", o->noise_scale, routes) == 0) o->noise_scale = NULL;
    if (o->search_budget) search_budget_of(o->search_budget, NULL, NULL);
}

/* ---- data ------------------------------------------------------------------- */

/* ---- --mpi: one rank of a data-parallel run (docs/mpi.md) --------------------------
 * Every rank loads the same data and builds (or resumes) the same model;
 * rank 0's objects are then broadcast, each rank trains its share of every
 * global batch, the final figures are evaluated over the ranks, and only
 * rank 0 prints and writes files. A failing rank ends the whole job. */
#ifdef BSNN_TRAIN_MPI
static bsnn_mpi *mpi;

static void mpi_start(const opts *o, int *argc, char ***argv)
{
    if (!o->mpi) return;
    MPI_Init(argc, argv);
    mpi = bsnn_mpi_create(MPI_COMM_WORLD);
    if (mpi == NULL) {
        fprintf(stderr, "bsnn-train: --mpi: %s\n", bsnn_mpi_last_error());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (bsnn_mpi_rank(mpi) != 0 && freopen("/dev/null", "w", stdout) == NULL) exit(1);
}

static void mpi_share(bsnn_model **m, bsnn_optimizer **opt, bsnn_scheduler **s)
{
    if (mpi && (bsnn_mpi_broadcast(mpi, m, opt, s) != BSNN_OK ||
                bsnn_mpi_attach(mpi, *m, *s) != BSNN_OK))
        bsnn_mpi_abort(mpi, 1, bsnn_mpi_last_error());
}

static int is_rank0(void) { return mpi == NULL || bsnn_mpi_rank(mpi) == 0; }

static bsnn_status evaluate_all(double *loss, double *acc, bsnn_model *m, const bsnn_dataset *ds,
                                size_t rows)
{
    if (mpi == NULL) return bsnn_model_evaluate(loss, acc, m, ds, rows);
    bsnn_status st = bsnn_mpi_evaluate(loss, acc, mpi, m, ds, rows);
    if (st != BSNN_OK) bsnn_mpi_abort(mpi, 1, bsnn_mpi_last_error());
    return st;
}

static void mpi_end(void)
{
    if (mpi == NULL) return;
    bsnn_mpi_free(mpi);
    MPI_Finalize();
}

static void end_job(const char *message)
{
    if (mpi) bsnn_mpi_abort(mpi, 1, message);
}
#else
static void mpi_start(const opts *o, int *argc, char ***argv)
{
    (void)argc, (void)argv;
    if (o->mpi)
        usage_error("--mpi", NULL, "needs the MPI build of bsnn-train (make mpi: lib/mpi/bsnn-train, "
                    "which make install then installs)");
}
static void mpi_share(bsnn_model **m, bsnn_optimizer **opt, bsnn_scheduler **s) { (void)m, (void)opt, (void)s; }
static int is_rank0(void) { return 1; }
static bsnn_status evaluate_all(double *loss, double *acc, bsnn_model *m, const bsnn_dataset *ds,
                                size_t rows)
{
    return bsnn_model_evaluate(loss, acc, m, ds, rows);
}
static void mpi_end(void) {}
static void end_job(const char *message) { (void)message; }
#endif

static void fail(const char *what)
{
    char message[640];
    snprintf(message, sizeof message, "bsnn-train: %s: %s", what, bsnn_last_error());
    end_job(message); /* --mpi: the other ranks must not wait for this one */
    fprintf(stderr, "%s\n", message);
    exit(1);
}

static unsigned parse_features(const char *v)
{
    static const char *const names[] = {"x1", "x2", "x1sq", "x2sq", "x1x2", "sinx1", "sinx2", NULL};
    char buf[256], *toks[16];
    unsigned mask = 0;
    size_t n = split_list(toks, 16, buf, sizeof buf, "--features", v);
    for (size_t i = 0; i < n; i++) mask |= 1u << pick("--features", toks[i], names);
    return mask;
}

/* What a generated set's name is: 1 a Playground classification set, 2
 * parity (0/1 targets), 3 a regression set (an unknown name is refused
 * when the set is made). File data is kind 0 where a kind is passed. */
static int generated_kind(const char *name)
{
    if (strncmp(name, "parity", 6) == 0) return 2;
    static const char *const cls[] = {"circle", "xor", "gauss", "spiral", NULL};
    for (int i = 0; cls[i]; i++)
        if (strcmp(name, cls[i]) == 0) return 1;
    return 3;
}

/* A generated set; classification labels are 0/1 unless labels_pm1 (+1/-1,
 * the Playground's own convention, for mse on a tanh or linear output). */
static bsnn_dataset *make_generated(const opts *o, int labels_pm1)
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
    unsigned flags = labels_pm1 ? 0 : BSNN_PG_LABELS_01;
    bsnn_dataset *raw = bsnn_dataset_playground((bsnn_playground)set, n, o->noise, o->seed, flags);
    if (raw == NULL) return NULL;
    unsigned mask = parse_features(o->features);
    bsnn_dataset *ds = bsnn_dataset_features(raw, mask);
    bsnn_dataset_free(raw);
    return ds;
}

static int csv_header_mode(const opts *o)
{
    return strcmp(o->header, "yes") == 0 ? 1 : strcmp(o->header, "no") == 0 ? 0 : -1;
}

/* Whether path is a regular file: opening a FIFO here would block, where
 * the library refuses it at once with a message. */
static int is_regular(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Fields on the first non-blank line of a CSV file (0 when unreadable), to
 * tell input columns from the rest before the library reads the file. */
static size_t csv_columns(const char *path)
{
    FILE *f = is_regular(path) ? fopen(path, "r") : NULL;
    if (f == NULL) return 0;
    size_t commas = 0;
    int c, blank = 1;
    while ((c = getc(f)) != EOF) {
        if (c == '\n') {
            if (!blank) break;
            commas = 0;
        } else if (c == ',') {
            commas++, blank = 0;
        } else if (c != ' ' && c != '\t' && c != '\r') {
            blank = 0;
        }
    }
    fclose(f);
    return blank ? 0 : commas + 1;
}

/* Read `path` with targets `cols[n]`, or the last column when n is 0. */
static bsnn_dataset *load_csv(const opts *o, const char *path, const size_t *cols, size_t n)
{
    size_t last[1];
    if (n == 0) { /* (an unreadable or one-column file: the library says why) */
        size_t width = csv_columns(path);
        last[0] = width ? width - 1 : 0;
        cols = last;
        n = 1;
    }
    return bsnn_dataset_load_csv(path, csv_header_mode(o), cols, n);
}

static bsnn_dataset *load_idx(const opts *o, const char *images, const char *labels)
{
    char pi[4096], pl[4096];
    int ti = 0, tl = 0;
    if (ex_plain_file(pi, sizeof pi, images, &ti) != 0 ||
        ex_plain_file(pl, sizeof pl, labels, &tl) != 0) {
        fprintf(stderr, "bsnn-train: cannot decompress %s or %s with gzip\n", images, labels);
        exit(1);
    }
    bsnn_dataset *ds = bsnn_dataset_load_idx(pi, pl, o->max_rows);
    if (ti) remove(pi);
    if (tl) remove(pl);
    return ds;
}

/* The training or test data of --csv / --images named by path (and labels). */
static bsnn_dataset *load_file_data(const opts *o, const char *path, const char *labels)
{
    if (o->images) return load_idx(o, path, labels);
    size_t cols[64], n = 0;
    if (o->target) n = parse_list(cols, 64, "--target", o->target, 0);
    return load_csv(o, path, cols, n);
}

/* A temporary copy of a CSV file with a 0 column appended to every line,
 * so a file of inputs only can be read by bsnn_dataset_load_csv (which
 * needs a target column). 0 on success. */
static int csv_with_dummy_target(char *out, size_t cap, const char *path)
{
    FILE *in = fopen(path, "r");
    if (in == NULL) return -1;
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(out, cap, "%s/bsnn-XXXXXX", dir);
    int fd = mkstemp(out);
    FILE *w = fd < 0 ? NULL : fdopen(fd, "w");
    if (w == NULL) {
        fclose(in);
        return -1;
    }
    static char line[1 << 20];
    int bad = 0;
    while (fgets(line, sizeof line, in)) {
        size_t len = strcspn(line, "\r\n");
        if (line[len] == '\0' && !feof(in)) bad = 1; /* a line longer than the buffer */
        line[len] = '\0';
        if (strspn(line, " \t") == len) fputs("\n", w);
        else fprintf(w, "%s,0\n", line);
    }
    bad |= ferror(in) != 0;
    bad |= fclose(w) != 0;
    fclose(in);
    if (bad) remove(out);
    return bad ? -1 : 0;
}

/* A temporary IDX label file of `count` zero labels. 0 on success. */
static int idx_dummy_labels(char *out, size_t cap, size_t count)
{
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(out, cap, "%s/bsnn-XXXXXX", dir);
    int fd = mkstemp(out);
    FILE *w = fd < 0 ? NULL : fdopen(fd, "wb");
    if (w == NULL) return -1;
    unsigned char head[8] = {0, 0, 8, 1, (unsigned char)(count >> 24), (unsigned char)(count >> 16),
                             (unsigned char)(count >> 8), (unsigned char)count};
    int bad = fwrite(head, 1, 8, w) != 8;
    for (size_t i = 0; i < count && !bad; i++) bad = fputc(0, w) == EOF;
    bad |= fclose(w) != 0;
    if (bad) remove(out);
    return bad ? -1 : 0;
}

/* Items in an IDX file (its first dimension), 0 when unreadable. */
static size_t idx_items(const char *path)
{
    unsigned char head[8];
    FILE *f = is_regular(path) ? fopen(path, "rb") : NULL;
    if (f == NULL) return 0;
    size_t got = fread(head, 1, 8, f);
    fclose(f);
    if (got != 8 || head[0] || head[1] || head[3] == 0) return 0;
    return (size_t)head[4] << 24 | (size_t)head[5] << 16 | (size_t)head[6] << 8 | head[7];
}

/* ---- the loss ------------------------------------------------------------------- */

/* Whether every target is a whole number in [0, k). */
static int class_targets(const bsnn_dataset *ds, size_t k)
{
    const float *y = bsnn_dataset_targets(ds);
    for (size_t i = 0; i < bsnn_dataset_size(ds); i++)
        if (y[i] < 0 || y[i] >= (float)k || y[i] != floorf(y[i])) return 0;
    return 1;
}

/* Whether every target row is one-hot (0s and exactly one 1). */
static int one_hot_targets(const bsnn_dataset *ds)
{
    const float *y = bsnn_dataset_targets(ds);
    size_t t = bsnn_dataset_n_targets(ds);
    for (size_t i = 0; i < bsnn_dataset_size(ds); i++) {
        size_t ones = 0;
        for (size_t j = 0; j < t; j++) {
            float v = y[i * t + j];
            if (v != 0 && v != 1) return 0;
            ones += v == 1;
        }
        if (ones != 1) return 0;
    }
    return 1;
}

/* The loss for --loss NAME, or, without it, the one the task calls for,
 * with the reason in `why`. The network's outputs and the data's targets
 * decide; a multi-class task is never trained with mse by default. */
static bsnn_loss choose_loss(const opts *o, const bsnn_dataset *ds, int gen_kind, char *why, size_t cap)
{
    size_t k = o->layers[o->n_layers - 1];
    int linear_out = strcmp(o->output, "linear") == 0;
    if (o->loss) {
        snprintf(why, cap, "--loss %s", o->loss);
        return (bsnn_loss)pick("--loss", o->loss, loss_names);
    }
    if (gen_kind == 1 || gen_kind == 2) { /* classification sets: labels follow the loss */
        if (k >= 2) return snprintf(why, cap, "chosen: %zu outputs, class targets", k), BSNN_LOSS_SOFTMAX_CE;
        if (linear_out) return snprintf(why, cap, "chosen: one linear output, 0/1 targets"), BSNN_LOSS_BCE_LOGITS;
        snprintf(why, cap, "chosen: one %s output (%s targets)", o->output,
                 gen_kind == 1 && strcmp(o->output, "tanh") == 0 ? "+1/-1" : "0/1");
        return BSNN_LOSS_MSE;
    }
    if (gen_kind == 3) return snprintf(why, cap, "chosen: regression set"), BSNN_LOSS_MSE;
    size_t t = bsnn_dataset_n_targets(ds);
    if (k >= 2 && t == 1 && class_targets(ds, k)) {
        snprintf(why, cap, "chosen: %zu outputs, class-index targets 0..%zu", k, k - 1);
        return BSNN_LOSS_SOFTMAX_CE;
    }
    if (k >= 2 && t == k && one_hot_targets(ds)) {
        snprintf(why, cap, "chosen: %zu outputs, one-hot targets", k);
        return BSNN_LOSS_SOFTMAX_CE;
    }
    if (k >= 2 && t == 1) {
        char value[32];
        snprintf(value, sizeof value, "%zu outputs", k);
        usage_error("--layers", value,
                    "but one target column that is not class indices: choose --loss");
    }
    if (k == 1 && t == 1 && linear_out && class_targets(ds, 2)) {
        snprintf(why, cap, "chosen: one linear output, 0/1 targets");
        return BSNN_LOSS_BCE_LOGITS;
    }
    snprintf(why, cap, "chosen: numeric targets");
    return BSNN_LOSS_MSE;
}

/* Targets the loss needs, checked before training: a mismatch is a flag
 * problem (exit 2), e.g. --loss mse on class-index targets of 10 outputs. */
static void check_targets(const opts *o, bsnn_loss loss, const bsnn_dataset *ds)
{
    size_t k = o->layers[o->n_layers - 1], t = bsnn_dataset_n_targets(ds);
    if (t == k || (loss == BSNN_LOSS_SOFTMAX_CE && t == 1)) return;
    fprintf(stderr,
            "bsnn-train: --loss %s: the network has %zu outputs but the data %zu target "
            "column%s%s (see --help)\n",
            loss_names[loss], k, t, t == 1 ? "" : "s",
            t == 1 && class_targets(ds, k) ? " of class indices: use --loss softmax" : "");
    exit(2);
}

/* ---- network and optimizer -------------------------------------------------------- */

/* The model of --layers; with stats (mean then std of each input), a
 * standardize layer first, so the statistics travel with the model. */
static bsnn_model *make_model(const opts *o, const float *stats, bsnn_loss loss, int pm1)
{
    static const int inits[] = {BSNN_INIT_DEFAULT, BSNN_INIT_GLOROT_UNIFORM, BSNN_INIT_HE_UNIFORM,
                                BSNN_INIT_LECUN_UNIFORM, BSNN_INIT_UNIFORM};
    static const char *const init_names[] = {"default", "glorot", "he", "lecun", "playground", NULL};
    int init = inits[pick("--init", o->init, init_names)];
    int hidden = pick("--activation", o->activation, act_names), out = pick("--output", o->output, act_names);
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
    /* The library refuses a loss that cannot work with the network (softmax
     * cross-entropy over one output, BCE after a sigmoid): a bad flag. */
    if (bsnn_model_set_loss(m, loss) != BSNN_OK) {
        fprintf(stderr, "bsnn-train: --loss %s: %s (see --help)\n", loss_names[loss], bsnn_last_error());
        exit(2);
    }
    if (pm1) bsnn_model_set(m, BSNN_MODEL_THRESHOLD, 0.0); /* +1/-1 labels: class = output > 0 */
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

static bsnn_loss model_loss(const bsnn_model *m)
{
    double v = 0;
    bsnn_model_get(&v, m, BSNN_MODEL_LOSS);
    return (bsnn_loss)v;
}

static double model_threshold(const bsnn_model *m)
{
    double v = 0.5;
    bsnn_model_get(&v, m, BSNN_MODEL_THRESHOLD);
    return v;
}

/* Whether a generated classification set gets +1/-1 labels: under mse on a
 * tanh or linear output for a new model, and for a saved one when it was
 * trained so (threshold 0, which training sets for those labels). */
static int pm1_labels(const opts *o, bsnn_loss loss, const bsnn_model *saved)
{
    if (!o->dataset || generated_kind(o->dataset) != 1) return 0;
    if (loss != BSNN_LOSS_MSE && loss != BSNN_LOSS_MSE_MEAN) return 0;
    return saved ? model_threshold(saved) == 0.0 : strcmp(o->output, "sigmoid") != 0;
}

/* ---- training ----------------------------------------------------------------------- */
/* Errors exit() at once, as fail() does: the process ends and the objects
 * with it (still reachable, so LeakSanitizer stays quiet under SANITIZE=1). */

typedef struct progress {
    int tty, quiet;
    size_t epochs, n, steps_per_epoch;
    double t0, t_epoch;
    bsnn_model *m;
    bsnn_optimizer *opt;
    bsnn_scheduler *s;
    const bsnn_history *h; /* holds the validation figures of each epoch */
    const char *checkpoint;
    char error[512]; /* why the callback stopped training, "" if it did not */
} progress;

static int on_event(void *user, bsnn_event ev, size_t epoch, size_t step, size_t batch, double loss)
{
    progress *p = user;
    (void)batch;
    if (ev == BSNN_EVENT_EPOCH && p->checkpoint && is_rank0() &&
        bsnn_checkpoint_save(p->m, p->opt, p->s, p->checkpoint) != BSNN_OK) {
        snprintf(p->error, sizeof p->error, "--checkpoint: %s", bsnn_last_error());
        return 1;
    }
    if (p->quiet) return 0;
    if (ev == BSNN_EVENT_STEP && p->tty && step % 16 == 0) {
        double done = p->steps_per_epoch ? (double)(step % p->steps_per_epoch) / p->steps_per_epoch : 0;
        int w = (int)(done * 30);
        double rate = done * (double)p->n / (ex_now() - p->t_epoch + 1e-9);
        double bs = NAN;
        bsnn_model_noise(&bs, p->m, BSNN_NOISE_B_SIMPLE);
        fprintf(stderr, "\r  epoch %zu/%zu [%.*s%*s] loss %.5f  %.0f samples/s ", epoch + 1,
                p->epochs, w, "##############################", 30 - w, "", loss, rate);
        if (isfinite(bs)) fprintf(stderr, " B_simple %.0f ", bs);
        fflush(stderr);
    }
    if (ev == BSNN_EVENT_EPOCH) {
        double now = ex_now(), rate = (double)p->n / (now - p->t_epoch);
        p->t_epoch = now;
        double vl = NAN, va = NAN;
        size_t rows = bsnn_history_size(p->h);
        if (rows) {
            bsnn_history_get(&vl, p->h, rows - 1, BSNN_HIST_VAL_LOSS);
            bsnn_history_get(&va, p->h, rows - 1, BSNN_HIST_VAL_ACCURACY);
        }
        if (p->tty) fputs("\r\033[K", stderr);
        printf("epoch %zu/%zu  loss %.6f  val loss %.6f  val acc %.4f  %.0f samples/s  %zu updates",
               epoch + 1, p->epochs, loss, vl, va, rate, step);
        double route = 0, bs = NAN, se = NAN;
        bsnn_model_get(&route, p->m, BSNN_MODEL_NOISE_ROUTE);
        if (route != 0) {
            bsnn_model_noise(&bs, p->m, BSNN_NOISE_B_SIMPLE);
            bsnn_model_noise(&se, p->m, BSNN_NOISE_B_SIMPLE_SE);
            printf("  B_simple %.1f +- %.1f", bs, se);
            double sched = 0;
            bsnn_scheduler_get(&sched, p->s, BSNN_SCHED_BATCH_SCHEDULE);
            if (sched == BSNN_BATCH_ADAPTIVE)
                printf("  next batch %zu", bsnn_scheduler_batch_size(p->s));
        }
        putchar('\n');
        fflush(stdout);
    }
    return 0;
}

/* all -> (first, rest) with `fraction` of the rows in rest; fraction 0
 * keeps everything in first. */
static void split_off(const opts *o, bsnn_dataset *all, double fraction, bsnn_dataset **first,
                      bsnn_dataset **rest)
{
    if (fraction <= 0) {
        *first = all;
        *rest = NULL;
        return;
    }
    if (bsnn_dataset_split(first, rest, all, 1.0 - fraction, o->seed) != BSNN_OK) fail("split");
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

static int is_classifier_task(const opts *o, bsnn_loss loss)
{
    return loss == BSNN_LOSS_BCE_LOGITS || loss == BSNN_LOSS_SOFTMAX_CE ||
           strcmp(o->output, "tanh") == 0;
}

static size_t search_batch(const opts *o, bsnn_model *m, bsnn_optimizer *opt, const bsnn_dataset *tr,
                           const bsnn_dataset *val, bsnn_loss loss)
{
    if (val == NULL) usage_error("--search", NULL, "needs a validation part (--val-fraction > 0)");
    bsnn_search *se = bsnn_search_create();
    if (se == NULL) fail("search");
    int kind = BSNN_BUDGET_EPOCHS;
    double amount = (double)o->search_epochs;
    if (o->search_budget) search_budget_of(o->search_budget, &kind, &amount);
    bsnn_search_set(se, BSNN_SEARCH_BUDGET_KIND, kind);
    bsnn_search_set(se, BSNN_SEARCH_BUDGET, amount);
    int acc = o->search_metric ? strcmp(o->search_metric, "accuracy") == 0 : is_classifier_task(o, loss);
    bsnn_search_set(se, BSNN_SEARCH_METRIC, acc ? BSNN_METRIC_VAL_ACCURACY : BSNN_METRIC_VAL_LOSS);
    if (o->search_start) bsnn_search_set(se, BSNN_SEARCH_START, (double)o->search_start);
    if (o->repeats) bsnn_search_set(se, BSNN_SEARCH_REPEATS, (double)o->repeats);
    if (o->repeats > 1) bsnn_search_set(se, BSNN_SEARCH_REINIT, 1);
    if (o->search_rule && strcmp(o->search_rule, "one-se") == 0)
        bsnn_search_set(se, BSNN_SEARCH_RULE, BSNN_RULE_ONE_SE);
    bsnn_search_set_seed(se, o->seed);
    size_t best = 0;
    if (bsnn_search_run(&best, se, m, opt, tr, val, NULL) != BSNN_OK) fail("search");
    for (size_t i = 0; i < bsnn_search_count(se) && !o->quiet; i++) {
        double b, l, a, s, n, lsd, asd;
        bsnn_search_result(&b, se, i, BSNN_SEARCH_COL_BATCH);
        bsnn_search_result(&l, se, i, BSNN_SEARCH_COL_VAL_LOSS);
        bsnn_search_result(&a, se, i, BSNN_SEARCH_COL_VAL_ACCURACY);
        bsnn_search_result(&s, se, i, BSNN_SEARCH_COL_SECONDS);
        bsnn_search_result(&n, se, i, BSNN_SEARCH_COL_N);
        bsnn_search_result(&lsd, se, i, BSNN_SEARCH_COL_VAL_LOSS_SD);
        bsnn_search_result(&asd, se, i, BSNN_SEARCH_COL_VAL_ACCURACY_SD);
        if (n > 1)
            printf("search: batch %6.0f  val loss %.6f +- %.6f  val acc %.4f +- %.4f  (mean, sd of "
                   "%g runs)  %.2f s\n", b, l, lsd, a, asd, n, s);
        else
            printf("search: batch %6.0f  val loss %.6f  val acc %.4f  %.2f s\n", b, l, a, s);
    }
    if (!o->quiet)
        printf("search: chose batch %zu (on the validation part%s)\n", best,
               o->search_rule && strcmp(o->search_rule, "one-se") == 0
                   ? "; the largest within one standard error of the best mean"
                   : "");
    if (o->search_csv && is_rank0() && bsnn_search_write_csv(se, o->search_csv) != BSNN_OK)
        fail("--search-csv");
    bsnn_search_free(se);
    bsnn_optimizer_reset(opt);
    return best;
}

/* --noise-scale, --micro-batch and --adaptive on a new run's model and
 * scheduler. */
static void set_noise_scale(const opts *o, bsnn_model *m, bsnn_scheduler *s, size_t batch)
{
    if (o->micro_batch && bsnn_scheduler_set(s, BSNN_SCHED_MICRO_BATCH, (double)o->micro_batch) != BSNN_OK)
        fail("--micro-batch");
    if (o->noise_scale) {
        int route = strcmp(o->noise_scale, "micro") == 0 ? BSNN_NOISE_MICRO_BATCH : BSNN_NOISE_PER_SAMPLE;
        if (bsnn_model_set(m, BSNN_MODEL_NOISE_ROUTE, route) != BSNN_OK) fail("--noise-scale");
    }
    if (o->adaptive) {
        bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SCHEDULE, BSNN_BATCH_ADAPTIVE);
        bsnn_scheduler_set(s, BSNN_SCHED_BATCH_POW2, 1);
        bsnn_scheduler_set(s, BSNN_SCHED_LR_SCALING, BSNN_SCALE_ADASCALE);
        bsnn_scheduler_set(s, BSNN_SCHED_BASE_BATCH, (double)batch);
    }
}

static size_t eval_rows(const bsnn_dataset *ds)
{
    return bsnn_dataset_size(ds) < CHUNK_ROWS ? bsnn_dataset_size(ds) : CHUNK_ROWS;
}

/* Loss and accuracy of m on ds (NAN when ds is NULL). */
static void measure(double *loss, double *acc, bsnn_model *m, const bsnn_dataset *ds)
{
    *loss = *acc = NAN;
    if (ds && evaluate_all(loss, acc, m, ds, eval_rows(ds)) != BSNN_OK) fail("evaluate");
}

/* The data of a training run: training, validation and test parts. */
typedef struct parts {
    bsnn_dataset *tr, *val, *test;
} parts;

static parts load_parts(const opts *o, int pm1)
{
    parts p = {NULL, NULL, NULL};
    bsnn_dataset *all = o->dataset ? make_generated(o, pm1)
                                   : load_file_data(o, o->csv ? o->csv : o->images, o->labels);
    if (all == NULL) fail("data");
    if (o->test) {
        p.test = load_file_data(o, o->test, o->test_labels);
        if (p.test == NULL) fail("--test");
        if (bsnn_dataset_n_inputs(p.test) != bsnn_dataset_n_inputs(all) ||
            bsnn_dataset_n_targets(p.test) != bsnn_dataset_n_targets(all)) {
            fprintf(stderr, "bsnn-train: --test: %zu inputs and %zu targets, the training data "
                    "%zu and %zu\n", bsnn_dataset_n_inputs(p.test), bsnn_dataset_n_targets(p.test),
                    bsnn_dataset_n_inputs(all), bsnn_dataset_n_targets(all));
            exit(2);
        }
    }
    bsnn_dataset *rest = all;
    if (!o->test) split_off(o, all, o->test_fraction, &rest, &p.test);
    split_off(o, rest, o->val_fraction, &p.tr, &p.val);
    return p;
}

/* The loss a generated set's labels follow (read from the checkpoint when
 * resuming): +1/-1 under mse, 0/1 otherwise. */
static bsnn_loss generated_loss(const opts *o, const bsnn_model *resumed)
{
    if (resumed) return model_loss(resumed);
    if (!o->dataset) return BSNN_LOSS_NONE;
    char why[128];
    return choose_loss(o, NULL, generated_kind(o->dataset), why, sizeof why);
}

static void resume_from(const opts *o, bsnn_model **m, bsnn_optimizer **opt, bsnn_scheduler **s)
{
    if (bsnn_checkpoint_load(m, opt, s, o->resume) != BSNN_OK) {
        fprintf(stderr, "bsnn-train: --resume %s: %s\n", o->resume, bsnn_last_error());
        exit(1);
    }
    if (*opt == NULL || *s == NULL) {
        fprintf(stderr, "bsnn-train: --resume: %s holds no optimizer or scheduler (a model file?)\n",
                o->resume);
        exit(1);
    }
}

static int run_train(const opts *o)
{
    bsnn_model *m = NULL;
    bsnn_optimizer *opt = NULL;
    bsnn_scheduler *s = NULL;
    if (o->resume) resume_from(o, &m, &opt, &s);
    bsnn_loss gen_loss = generated_loss(o, m);
    int pm1 = pm1_labels(o, gen_loss, m);
    parts d = load_parts(o, pm1);
    size_t n_in = bsnn_dataset_n_inputs(d.tr), n = bsnn_dataset_size(d.tr);
    size_t want_in = m ? bsnn_model_n_inputs(m) : o->layers[0];
    if (n_in != want_in) {
        fprintf(stderr, "bsnn-train: %s: the data has %zu inputs but the %s %zu\n",
                m ? "--resume" : "--layers", n_in, m ? "checkpoint's model takes" : "first width is",
                want_in);
        exit(2);
    }
    char why[160] = "from the checkpoint";
    bsnn_loss loss;
    size_t batch;
    if (m) {
        loss = model_loss(m);
        if (bsnn_scheduler_n_samples(s) != n) {
            fprintf(stderr, "bsnn-train: --resume: the checkpoint's scheduler is for %zu rows, the "
                    "training part has %zu: pass the data flags and --seed of the run that wrote it\n",
                    bsnn_scheduler_n_samples(s), n);
            exit(2);
        }
        batch = bsnn_scheduler_batch_size(s);
    } else {
        loss = choose_loss(o, d.tr, o->dataset ? generated_kind(o->dataset) : 0, why, sizeof why);
        check_targets(o, loss, d.tr);
        float *stats = o->standardize ? input_stats(d.tr) : NULL;
        m = make_model(o, stats, loss, pm1);
        free(stats);
        opt = make_optimizer(o);
        batch = o->search ? search_batch(o, m, opt, d.tr, d.val, loss) : o->batch > n ? n : o->batch;
        s = bsnn_scheduler_create(n);
        if (s == NULL) fail("scheduler");
        if (o->full_batch) bsnn_scheduler_set(s, BSNN_SCHED_FULL_BATCH, 1);
        else bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, (double)batch);
        bsnn_scheduler_set_seed(s, o->seed);
        if (o->playground) {
            bsnn_scheduler_set(s, BSNN_SCHED_SHUFFLE, 0);
            bsnn_scheduler_set(s, BSNN_SCHED_CARRY_OVER, 1);
        }
        set_noise_scale(o, m, s, batch);
    }
    mpi_share(&m, &opt, &s);
    double full = 0;
    bsnn_scheduler_get(&full, s, BSNN_SCHED_FULL_BATCH);
    if (full != 0) batch = n;
    size_t done = bsnn_scheduler_epoch(s), todo = o->epochs > done ? o->epochs - done : 0;
    bsnn_history *h = bsnn_history_create();
    if (h == NULL) fail("history");
    progress p = {isatty(STDERR_FILENO) && is_rank0(), o->quiet || !is_rank0(), o->epochs, n, 0, ex_now(), ex_now(), m, opt, s, h,
                  o->checkpoint, ""};
    p.steps_per_epoch = (n + batch - 1) / batch;
    if (!o->quiet) {
        printf("bsnn-train: %zu training rows, %zu validation rows, %zu test rows, batch %zu, %zu "
               "epochs\n", n, d.val ? bsnn_dataset_size(d.val) : 0,
               d.test ? bsnn_dataset_size(d.test) : 0, batch, o->epochs);
        printf("bsnn-train: loss %s (%s)\n", loss_names[loss], why);
        if (o->resume) printf("bsnn-train: resumed from %s after epoch %zu\n", o->resume, done);
    }
    size_t steps = 0;
    bsnn_status st = bsnn_model_train_ex(&steps, m, opt, s, d.tr, d.val, h, todo, on_event, &p);
    if (p.error[0]) {
        end_job(p.error);
        fprintf(stderr, "bsnn-train: %s\n", p.error);
        exit(1);
    }
    if (st != BSNN_OK) fail("train");
    if (o->history && is_rank0() && bsnn_history_write_csv(h, o->history) != BSNN_OK)
        fail("--history");
    double tl, ta, vl, va, xl, xa;
    measure(&tl, &ta, m, d.tr);
    measure(&vl, &va, m, d.val);
    measure(&xl, &xa, m, d.test);
    printf("result: batch %zu  updates %zu  train loss %.6f  train acc %.4f  val loss %.6f  "
           "val acc %.4f  ", batch, steps, tl, ta, vl, va);
    if (d.test) printf("test loss %.6f  test acc %.4f  ", xl, xa);
    printf("%.2f s  loss %s\n", ex_now() - p.t0, loss_names[loss]);
    if (o->save && is_rank0() && bsnn_model_save(m, o->save) != BSNN_OK) fail("--save");
    if (o->save && !o->quiet) printf("saved %s\n", o->save);
    bsnn_history_free(h);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(d.tr);
    bsnn_dataset_free(d.val);
    bsnn_dataset_free(d.test);
    return 0;
}

/* ---- using a saved model ---------------------------------------------------------------- */

/* The data predict or evaluate reads; with_targets: evaluate (the targets
 * are needed), else predict (inputs only, targets ignored). */
static bsnn_dataset *load_use_data(const opts *o, const bsnn_model *m, int with_targets)
{
    size_t n_in = bsnn_model_n_inputs(m);
    if (o->dataset) return make_generated(o, pm1_labels(o, model_loss(m), m));
    if (o->images) {
        if (o->labels) return load_idx(o, o->images, o->labels);
        char plain[4096], labels[4096];
        int temp = 0;
        if (ex_plain_file(plain, sizeof plain, o->images, &temp) != 0) {
            fprintf(stderr, "bsnn-train: cannot decompress %s with gzip\n", o->images);
            exit(1);
        }
        size_t items = idx_items(plain); /* all of them: --max-rows applies to both files */
        bsnn_dataset *ds = NULL;
        if (idx_dummy_labels(labels, sizeof labels, items) == 0) {
            ds = bsnn_dataset_load_idx(plain, labels, o->max_rows);
            remove(labels);
        } else {
            fprintf(stderr, "bsnn-train: cannot write a temporary file for %s\n", o->images);
            exit(1);
        }
        if (temp) remove(plain);
        return ds;
    }
    size_t cols[64], n = 0, width = csv_columns(o->csv);
    if (o->target) n = parse_list(cols, 64, "--target", o->target, 0);
    if (n == 0 && with_targets) { /* the columns after the model's inputs */
        if (width <= n_in) {
            fprintf(stderr, "bsnn-train: evaluate: %s has %zu columns, the model takes %zu inputs: "
                    "no target column\n", o->csv, width, n_in);
            exit(2);
        }
        for (size_t c = n_in; c < width && n < 64; c++) cols[n++] = c;
    }
    if (n > 0) return bsnn_dataset_load_csv(o->csv, csv_header_mode(o), cols, n);
    if (width != n_in) {
        cols[0] = 0; /* an unreadable file: the library says why */
        if (width == 0) return bsnn_dataset_load_csv(o->csv, csv_header_mode(o), cols, 1);
        fprintf(stderr, "bsnn-train: predict: %s has %zu columns, the model takes %zu inputs: name "
                "the other columns with --target\n", o->csv, width, n_in);
        exit(2);
    }
    char temp[4096];
    if (csv_with_dummy_target(temp, sizeof temp, o->csv) != 0) {
        fprintf(stderr, "bsnn-train: cannot copy %s to a temporary file\n", o->csv);
        exit(1);
    }
    size_t last[1] = {width};
    bsnn_dataset *ds = bsnn_dataset_load_csv(temp, csv_header_mode(o), last, 1);
    remove(temp);
    return ds;
}

/* Outputs of m for rows [r0, r0 + rows) of ds, into out[rows][n_outputs]. */
static void forward_rows(float *out, bsnn_model *m, const bsnn_dataset *ds, size_t r0, size_t rows)
{
    size_t n_in = bsnn_dataset_n_inputs(ds), n_out = bsnn_model_n_outputs(m);
    size_t xs[2] = {rows, n_in}, ys[2] = {rows, n_out};
    /* The input tensor is only read (bsnn_model_forward takes it const). */
    bsnn_tensor *x = bsnn_tensor_wrap((float *)bsnn_dataset_inputs(ds) + r0 * n_in, 2, xs);
    bsnn_tensor *y = bsnn_tensor_wrap(out, 2, ys);
    if (x == NULL || y == NULL || bsnn_model_forward(y, m, x) != BSNN_OK) fail("forward");
    bsnn_tensor_free(x);
    bsnn_tensor_free(y);
}

/* The class of one output row: argmax, or for one output, output (after a
 * sigmoid under bce) above the model's threshold. */
static size_t class_of(const float *o, size_t k, bsnn_loss loss, double threshold)
{
    if (k == 1) {
        double v = loss == BSNN_LOSS_BCE_LOGITS ? 1.0 / (1.0 + exp(-(double)o[0])) : o[0];
        return v > threshold;
    }
    size_t best = 0;
    for (size_t j = 1; j < k; j++)
        if (o[j] > o[best]) best = j;
    return best;
}

/* The true class of target row t (t_cols wide) for k outputs. */
static size_t true_class(const float *t, size_t t_cols, size_t k, double threshold)
{
    if (k == 1) return t[0] > threshold;
    if (t_cols == 1) return (size_t)t[0];
    size_t best = 0;
    for (size_t j = 1; j < t_cols; j++)
        if (t[j] > t[best]) best = j;
    return best;
}

static int is_classifier(const bsnn_model *m)
{
    bsnn_loss loss = model_loss(m);
    return loss == BSNN_LOSS_BCE_LOGITS || loss == BSNN_LOSS_SOFTMAX_CE;
}

static bsnn_model *load_model(const opts *o)
{
    bsnn_model *m = NULL;
    if (bsnn_model_load(&m, o->model) != BSNN_OK) {
        fprintf(stderr, "bsnn-train: --model %s: %s\n", o->model, bsnn_last_error());
        exit(1);
    }
    return m;
}

static bsnn_dataset *checked_use_data(const opts *o, const bsnn_model *m, int with_targets)
{
    bsnn_dataset *ds = load_use_data(o, m, with_targets);
    if (ds == NULL) fail("data");
    if (bsnn_dataset_n_inputs(ds) != bsnn_model_n_inputs(m)) {
        fprintf(stderr, "bsnn-train: the data has %zu inputs, the model %s takes %zu\n",
                bsnn_dataset_n_inputs(ds), o->model, bsnn_model_n_inputs(m));
        exit(2);
    }
    return ds;
}

static int run_predict(const opts *o)
{
    bsnn_model *m = load_model(o);
    bsnn_dataset *ds = checked_use_data(o, m, 0);
    FILE *out = o->out ? fopen(o->out, "w") : stdout;
    if (out == NULL) {
        fprintf(stderr, "bsnn-train: --out: cannot write %s\n", o->out);
        exit(1);
    }
    size_t n = bsnn_dataset_size(ds), k = bsnn_model_n_outputs(m);
    int cls = is_classifier(m);
    bsnn_loss loss = model_loss(m);
    double threshold = model_threshold(m);
    float *buf = malloc(CHUNK_ROWS * k * sizeof(float));
    if (buf == NULL) fail("predict");
    for (size_t r0 = 0; r0 < n; r0 += CHUNK_ROWS) {
        size_t rows = n - r0 < CHUNK_ROWS ? n - r0 : CHUNK_ROWS;
        forward_rows(buf, m, ds, r0, rows);
        for (size_t r = 0; r < rows; r++) {
            const float *o_r = buf + r * k;
            for (size_t j = 0; j < k; j++) fprintf(out, j ? ",%.9g" : "%.9g", o_r[j]);
            if (cls) fprintf(out, ",%zu", class_of(o_r, k, loss, threshold));
            fputc('\n', out);
        }
    }
    int bad = ferror(out) != 0;
    if (o->out) bad |= fclose(out) != 0;
    if (bad) {
        fprintf(stderr, "bsnn-train: --out: writing %s failed\n", o->out ? o->out : "standard output");
        exit(1);
    }
    free(buf);
    bsnn_dataset_free(ds);
    bsnn_model_free(m);
    return 0;
}

/* confusion[true * classes + predicted] over ds. */
static size_t *confusion(bsnn_model *m, const bsnn_dataset *ds, size_t classes)
{
    size_t n = bsnn_dataset_size(ds), k = bsnn_model_n_outputs(m), tc = bsnn_dataset_n_targets(ds);
    double threshold = model_threshold(m);
    bsnn_loss loss = model_loss(m);
    size_t *cm = calloc(classes * classes, sizeof *cm);
    float *buf = malloc(CHUNK_ROWS * k * sizeof(float));
    if (cm == NULL || buf == NULL) fail("evaluate");
    const float *y = bsnn_dataset_targets(ds);
    for (size_t r0 = 0; r0 < n; r0 += CHUNK_ROWS) {
        size_t rows = n - r0 < CHUNK_ROWS ? n - r0 : CHUNK_ROWS;
        forward_rows(buf, m, ds, r0, rows);
        for (size_t r = 0; r < rows; r++) {
            size_t t = true_class(y + (r0 + r) * tc, tc, k, threshold);
            size_t p = class_of(buf + r * k, k, loss, threshold);
            if (t < classes) cm[t * classes + p]++;
        }
    }
    free(buf);
    return cm;
}

static int run_evaluate(const opts *o)
{
    bsnn_model *m = load_model(o);
    bsnn_dataset *ds = checked_use_data(o, m, 1);
    size_t n = bsnn_dataset_size(ds), k = bsnn_model_n_outputs(m);
    double loss = NAN, acc = NAN;
    bsnn_loss kind = model_loss(m);
    bsnn_status st = bsnn_model_evaluate(kind == BSNN_LOSS_NONE ? NULL : &loss, &acc, m, ds, eval_rows(ds));
    if (st != BSNN_OK) fail("evaluate");
    printf("evaluate: %zu rows  loss %.6f  accuracy %.4f  (loss %s)\n", n, loss, acc,
           kind == BSNN_LOSS_NONE ? "none" : loss_names[kind]);
    if (is_classifier(m)) {
        size_t classes = k == 1 ? 2 : k;
        size_t *cm = confusion(m, ds, classes);
        printf("confusion matrix (rows: true class, columns: predicted class):\n      ");
        for (size_t c = 0; c < classes; c++) printf(" %7zu", c);
        putchar('\n');
        for (size_t t = 0; t < classes; t++) {
            printf("%6zu", t);
            for (size_t c = 0; c < classes; c++) printf(" %7zu", cm[t * classes + c]);
            putchar('\n');
        }
        free(cm);
    }
    bsnn_dataset_free(ds);
    bsnn_model_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    opts o = {0};
    parse_args(&o, argc, argv);
    if (bsnn_set_num_threads(o.threads) != BSNN_OK) fail("--threads");
    switch (o.mode) {
    case MODE_PREDICT: return run_predict(&o);
    case MODE_EVALUATE: return run_evaluate(&o);
    case MODE_TRAIN: break;
    }
    mpi_start(&o, &argc, &argv);
    int rc = run_train(&o);
    mpi_end();
    return rc;
}
