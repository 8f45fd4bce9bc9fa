/*
 * make_corpus.c - writes the seed corpus of the fuzz harnesses into
 * DIR/<name>/ (default tests/fuzz/corpus): models holding every layer kind
 * and activation with non-default settings under every loss, checkpoints
 * of every update rule under every scheduler setting, stopped between
 * epochs and in the middle of one, CSV files and IDX pairs. The seeds are
 * made through the public API, so they stay valid when the format evolves:
 * `make fuzz` regenerates them before each run, `make fuzz-corpus` refreshes
 * the copy in tests/fuzz/corpus that `make test` replays.
 */
#include <bsnn.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *out_dir = "tests/fuzz/corpus";

static void put(const char *dir, const char *name, const void *data, size_t size)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", out_dir, dir);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, size, f) != size) {
        perror(path);
        exit(1);
    }
    fclose(f);
}

/* A seed that cannot be made is a bug here, not a seed to skip. */
static void ok(bsnn_status st, const char *what)
{
    if (st != BSNN_OK) {
        fprintf(stderr, "make_corpus: %s: %s\n", what, bsnn_last_error());
        exit(1);
    }
}

static void add(bsnn_model *m, bsnn_layer *l) { ok(bsnn_model_add(m, l), "add"); }

static bsnn_layer *act(bsnn_activation kind)
{
    bsnn_layer *a = bsnn_layer_activation(kind);
    if (kind == BSNN_ACT_LEAKY_RELU) ok(bsnn_layer_set(a, BSNN_LAYER_SLOPE, 0.1), "slope");
    if (kind == BSNN_ACT_ELU) ok(bsnn_layer_set(a, BSNN_LAYER_SLOPE, 0.7), "alpha");
    return a;
}

/* A dense layer with initialiser `init` and, for odd ones, penalties. */
static bsnn_layer *dense(size_t width, int init)
{
    bsnn_layer *l = bsnn_layer_dense(width);
    ok(bsnn_layer_set(l, BSNN_LAYER_INIT, init), "init");
    if (init == BSNN_INIT_UNIFORM) {
        ok(bsnn_layer_set(l, BSNN_LAYER_INIT_LO, -0.3), "lo");
        ok(bsnn_layer_set(l, BSNN_LAYER_INIT_HI, 0.4), "hi");
        ok(bsnn_layer_set(l, BSNN_LAYER_BIAS_INIT, 0.1), "bias");
    }
    if (init % 2) {
        ok(bsnn_layer_set(l, BSNN_LAYER_L1, 1e-4), "l1");
        ok(bsnn_layer_set(l, BSNN_LAYER_L2, 1e-3), "l2");
    }
    return l;
}

/* Network shape `shape` (0..3) on 3 inputs with hidden activation a and
 * `outputs` outputs; the odd input width is the one whose (inputs + 1) *
 * outputs product a forged output width can wrap. */
static bsnn_model *network(int shape, bsnn_activation a, size_t outputs, int init)
{
    bsnn_model *m = bsnn_model_create(3);
    ok(bsnn_model_set(m, BSNN_MODEL_SEED, 7 + shape), "seed");
    add(m, dense(4 + (size_t)shape, init));
    if (shape == 1 || shape == 3) {
        bsnn_layer *bn = bsnn_layer_batchnorm();
        ok(bsnn_layer_set(bn, BSNN_LAYER_MOMENTUM, 0.2), "momentum");
        ok(bsnn_layer_set(bn, BSNN_LAYER_EPS, 1e-4), "eps");
        add(m, bn);
    }
    add(m, act(a));
    if (shape >= 2) {
        bsnn_layer *d = bsnn_layer_dropout(0.25);
        ok(bsnn_layer_set(d, BSNN_LAYER_SEED, 11), "dropout seed");
        add(m, d);
        add(m, dense(3, init));
        add(m, act(BSNN_ACT_TANH));
    }
    add(m, dense(outputs, init));
    return m;
}

/* Parity-3 targets for the loss: 0/1 (MSE, BCE), one-hot pairs or class
 * indices (softmax cross-entropy). */
static bsnn_dataset *targets_for(bsnn_loss loss, int indices)
{
    bsnn_dataset *par = bsnn_dataset_parity(3);
    if (loss != BSNN_LOSS_SOFTMAX_CE || indices) return par;
    bsnn_dataset *hot = bsnn_dataset_one_hot(par, 2);
    bsnn_dataset_free(par);
    return hot;
}

static void save_model(const bsnn_model *m, const char *name)
{
    void *buf;
    size_t size;
    ok(bsnn_model_save_alloc(&buf, &size, m), "save model");
    put("model", name, buf, size);
    bsnn_buffer_free(buf);
}

static void save_checkpoint(const bsnn_model *m, const bsnn_optimizer *opt,
                            const bsnn_scheduler *s, const char *name)
{
    void *buf;
    size_t size;
    ok(bsnn_checkpoint_save_alloc(&buf, &size, m, opt, s), "save checkpoint");
    put("checkpoint", name, buf, size);
    bsnn_buffer_free(buf);
}

/* Every activation and layer kind, each loss, every initialiser, a model
 * that never trained, and both training and evaluation mode. */
static void models(void)
{
    static const bsnn_activation acts[] = {BSNN_ACT_LINEAR, BSNN_ACT_SIGMOID, BSNN_ACT_TANH,
                                           BSNN_ACT_RELU,   BSNN_ACT_LEAKY_RELU, BSNN_ACT_ELU,
                                           BSNN_ACT_SOFTMAX};
    static const bsnn_loss losses[] = {BSNN_LOSS_MSE, BSNN_LOSS_BCE_LOGITS, BSNN_LOSS_SOFTMAX_CE};
    for (int i = 0; i < 7; i++) {
        bsnn_loss loss = losses[i % 3];
        size_t outputs = loss == BSNN_LOSS_SOFTMAX_CE ? 2 : 1;
        bsnn_model *m = network(i % 4, acts[i], outputs, 1 + i % 8);
        ok(bsnn_model_set_loss(m, loss), "loss");
        ok(bsnn_model_set(m, BSNN_MODEL_THRESHOLD, 0.25 + 0.1 * i), "threshold");
        bsnn_dataset *ds = targets_for(loss, i % 2);
        bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_ADAM);
        bsnn_scheduler *s = bsnn_scheduler_create(8);
        ok(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 4), "batch");
        ok(bsnn_model_train(NULL, m, opt, s, ds, 2, NULL, NULL), "train");
        if (i == 6) ok(bsnn_model_set_training(m, 0), "eval mode");
        char name[48];
        snprintf(name, sizeof name, "seed-model-%d.bsnn", i);
        save_model(m, name);
        bsnn_optimizer_free(opt);
        bsnn_scheduler_free(s);
        bsnn_dataset_free(ds);
        bsnn_model_free(m);
    }
    bsnn_model *fresh = network(3, BSNN_ACT_RELU, 1, BSNN_INIT_UNIFORM);
    ok(bsnn_model_set_loss(fresh, BSNN_LOSS_MSE), "loss");
    save_model(fresh, "seed-model-untrained.bsnn");
    bsnn_model_free(fresh);

    /* The normalization kinds: standardize (statistics as state) in front,
     * layer norm (gamma and beta) between dense layers. */
    static const float mean[3] = {0.5f, 0.25f, -0.5f}, sd[3] = {0.5f, 2.0f, 0.75f};
    bsnn_model *norm = bsnn_model_create(3);
    ok(bsnn_model_set(norm, BSNN_MODEL_SEED, 5), "seed");
    add(norm, bsnn_layer_standardize(mean, sd, 3));
    add(norm, dense(5, BSNN_INIT_HE_NORMAL));
    bsnn_layer *ln = bsnn_layer_layernorm();
    ok(bsnn_layer_set(ln, BSNN_LAYER_EPS, 1e-3), "eps");
    add(norm, ln);
    add(norm, act(BSNN_ACT_RELU));
    add(norm, dense(1, BSNN_INIT_GLOROT_UNIFORM));
    ok(bsnn_model_set_loss(norm, BSNN_LOSS_BCE_LOGITS), "loss");
    bsnn_dataset *ds = bsnn_dataset_parity(3);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_ADAMW);
    bsnn_scheduler *s = bsnn_scheduler_create(8);
    ok(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 4), "batch");
    ok(bsnn_model_train(NULL, norm, opt, s, ds, 2, NULL, NULL), "train");
    save_model(norm, "seed-model-norm.bsnn");
    save_checkpoint(norm, opt, s, "seed-ckpt-norm.bsnn");
    bsnn_optimizer_free(opt);
    bsnn_scheduler_free(s);
    bsnn_dataset_free(ds);
    bsnn_model_free(norm);
}

/* Scheduler settings, one set per checkpoint: (setting, value) pairs. */
typedef struct sched_cfg {
    int n;
    struct { bsnn_sched_param p; double v; } set[6];
    int steps; /* BSNN_BATCH_STEPS with a step list */
} sched_cfg;

static const sched_cfg sched_cfgs[] = {
    {2, {{BSNN_SCHED_BATCH_SIZE, 3}, {BSNN_SCHED_SEED, 5}}, 0},
    {2, {{BSNN_SCHED_BATCH_SIZE, 3}, {BSNN_SCHED_CARRY_OVER, 1}}, 0},
    {2, {{BSNN_SCHED_BATCH_SIZE, 3}, {BSNN_SCHED_DROP_LAST, 1}}, 0},
    {1, {{BSNN_SCHED_FULL_BATCH, 1}}, 0},
    {2, {{BSNN_SCHED_SHUFFLE, 0}, {BSNN_SCHED_BATCH_SIZE, 2}}, 0},
    {4, {{BSNN_SCHED_BATCH_SIZE, 2}, {BSNN_SCHED_BATCH_SCHEDULE, BSNN_BATCH_GEOMETRIC},
         {BSNN_SCHED_GROWTH_FACTOR, 1.5}, {BSNN_SCHED_BATCH_CAP, 6}}, 0},
    {3, {{BSNN_SCHED_BATCH_SIZE, 2}, {BSNN_SCHED_BATCH_SCHEDULE, BSNN_BATCH_GEOMETRIC},
         {BSNN_SCHED_GROWTH_EVERY, 2}}, 0},
    {1, {{BSNN_SCHED_BATCH_SCHEDULE, BSNN_BATCH_STEPS}}, 1},
    {3, {{BSNN_SCHED_BATCH_SIZE, 4}, {BSNN_SCHED_LR_SCHEDULE, BSNN_LR_STEP},
         {BSNN_SCHED_LR_STEP_EPOCHS, 2}}, 0},
    {3, {{BSNN_SCHED_BATCH_SIZE, 4}, {BSNN_SCHED_LR_SCHEDULE, BSNN_LR_EXPONENTIAL},
         {BSNN_SCHED_LR_DECAY, 0.5}}, 0},
    {4, {{BSNN_SCHED_BATCH_SIZE, 4}, {BSNN_SCHED_LR_SCHEDULE, BSNN_LR_COSINE},
         {BSNN_SCHED_LR_STEP_EPOCHS, 3}, {BSNN_SCHED_LR_MIN_FACTOR, 0.1}}, 0},
    {4, {{BSNN_SCHED_BATCH_SIZE, 4}, {BSNN_SCHED_WARMUP_STEPS, 5},
         {BSNN_SCHED_LR_SCALING, BSNN_SCALE_LINEAR}, {BSNN_SCHED_BASE_BATCH, 2}}, 0},
    {3, {{BSNN_SCHED_BATCH_SIZE, 4}, {BSNN_SCHED_LR_SCALING, BSNN_SCALE_SQRT},
         {BSNN_SCHED_MICRO_BATCH, 2}}, 0},
    {2, {{BSNN_SCHED_BATCH_SIZE, 8}, {BSNN_SCHED_MEMORY_BUDGET, 40000}}, 0},
};
#define N_SCHED (sizeof sched_cfgs / sizeof sched_cfgs[0])

static bsnn_scheduler *scheduler(const sched_cfg *c)
{
    bsnn_scheduler *s = bsnn_scheduler_create(8);
    for (int i = 0; i < c->n; i++) ok(bsnn_scheduler_set(s, c->set[i].p, c->set[i].v), "sched");
    if (c->steps) {
        const size_t epochs[2] = {1, 3}, sizes[2] = {3, 5};
        ok(bsnn_scheduler_set_batch_steps(s, epochs, sizes, 2), "steps");
    }
    return s;
}

/* Each setting the rule takes, nudged off its default (hyperparameters,
 * AdamW's decay scope, Nadam's momentum decay), and the variant chosen:
 * 0 PyTorch's forms, 1 the survey's. Settings added later are probed by id. */
static void nudge(bsnn_optimizer *opt, int variant)
{
    static const double values[] = {0, 0.02, 0.8, 0.85, 0.99, 1e-7, 0.9, 0.02, 0, 1, 0.005};
    double v;
    for (int p = BSNN_OPT_LR; p < (int)(sizeof values / sizeof values[0]); p++)
        if (bsnn_optimizer_get(&v, opt, (bsnn_opt_param)p) == BSNN_OK)
            ok(bsnn_optimizer_set(opt, (bsnn_opt_param)p, p == 8 ? variant : values[p]),
               "optimizer setting");
}

/* Every update rule and every scheduler setting, stopped at an epoch
 * boundary and mid-epoch (with carried leftovers where carry-over is on);
 * also an unbound optimizer and checkpoints without optimizer or scheduler. */
static void checkpoints(void)
{
    for (size_t i = 0; i < N_SCHED || i < BSNN_ADAMW; i++) {
        int kind = BSNN_SGD + (int)(i % BSNN_ADAMW);
        const sched_cfg *c = &sched_cfgs[i % N_SCHED];
        bsnn_model *m = network((int)(i % 4), BSNN_ACT_TANH, 1, BSNN_INIT_DEFAULT);
        ok(bsnn_model_set_loss(m, i % 2 ? BSNN_LOSS_BCE_LOGITS : BSNN_LOSS_MSE), "loss");
        bsnn_dataset *ds = bsnn_dataset_parity(3);
        bsnn_optimizer *opt = bsnn_optimizer_create((bsnn_optimizer_kind)kind);
        nudge(opt, (int)(i % 2));
        bsnn_scheduler *s = scheduler(c);
        ok(bsnn_model_train(NULL, m, opt, s, ds, 2, NULL, NULL), "train");
        char name[48];
        snprintf(name, sizeof name, "seed-ckpt-%zu-epoch.bsnn", i);
        save_checkpoint(m, opt, s, name);
        const size_t *idx;
        size_t n;
        int end;
        ok(bsnn_scheduler_next(&idx, &n, &end, s), "next"); /* stop mid-epoch */
        snprintf(name, sizeof name, "seed-ckpt-%zu-mid.bsnn", i);
        save_checkpoint(m, opt, s, name);
        bsnn_optimizer_free(opt);
        bsnn_scheduler_free(s);
        bsnn_dataset_free(ds);
        bsnn_model_free(m);
    }
    bsnn_model *m = network(1, BSNN_ACT_RELU, 1, BSNN_INIT_HE_NORMAL);
    ok(bsnn_model_set_loss(m, BSNN_LOSS_MSE), "loss");
    bsnn_optimizer *unbound = bsnn_optimizer_create(BSNN_RMSPROP);
    bsnn_scheduler *s = scheduler(&sched_cfgs[1]);
    save_checkpoint(m, unbound, s, "seed-ckpt-unbound.bsnn");
    save_checkpoint(m, NULL, s, "seed-ckpt-no-optimizer.bsnn");
    save_checkpoint(m, unbound, NULL, "seed-ckpt-no-scheduler.bsnn");
    bsnn_optimizer_free(unbound);
    bsnn_scheduler_free(s);
    bsnn_model_free(m);
}

static void csv_files(void)
{
    /* First byte: options (see fuzz_csv.c), then the file. */
    static const char *files[] = {
        "\x01" "x,y,label\n0.5,1,0\n-2e3,3.25,1\n",
        "\x00" "1,2,3\r\n4,5,6\r\n\r\n7,8,9\r\n",
        "\x02" "a, b\n 1 , 2\n3,4\n",
        "\x13" "0,0,1\n1,1e-7,0\n2,-0,1\n",
        "\x02" "\xef\xbb\xbf" "1,2\n3,4\n",
        "\x00" "1e38,-3.4e38,0x1p-3\n\t5 ,6,7\n",
    };
    for (int i = 0; i < 6; i++) {
        char name[24];
        snprintf(name, sizeof name, "seed%d.csv", i);
        put("csv", name, files[i], strlen(files[i] + 1) + 1);
    }
}

static void idx_pair(void)
{
    /* 3 images of 2x2 unsigned bytes, 3 labels, behind a 4-byte split. */
    unsigned char buf[4 + 16 + 12 + 8 + 3];
    size_t images = 16 + 12, p = 0;
    buf[p++] = (unsigned char)images, buf[p++] = 0, buf[p++] = 0, buf[p++] = 0;
    const unsigned char ih[16] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2};
    memcpy(buf + p, ih, 16), p += 16;
    for (int i = 0; i < 12; i++) buf[p++] = (unsigned char)(i * 21);
    const unsigned char lh[8] = {0, 0, 8, 1, 0, 0, 0, 3};
    memcpy(buf + p, lh, 8), p += 8;
    buf[p++] = 0, buf[p++] = 1, buf[p++] = 2;
    put("idx", "seed0.idx", buf, p);
}

int main(int argc, char **argv)
{
    if (argc > 1) out_dir = argv[1];
    mkdir(out_dir, 0777);
    models();
    checkpoints();
    csv_files();
    idx_pair();
    return 0;
}
