/*
 * test_checkpoint.c - checkpoints: training resumed from a checkpoint (model,
 * optimizer state, scheduler settings and position, RNG states) gives
 * parameters bit-identical to a run that never stopped, whether it stopped
 * at an epoch boundary or mid-epoch; hostile checkpoints are rejected.
 */
#include "testutil.h"
#include "format_ref.h" /* ref_crc, rd, wr */

#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct config {
    bsnn_optimizer_kind kind;
    double batch;
    int carry_over, warmup_cosine, geometric;
    int bn_dropout; /* batch norm (running statistics) and dropout (its RNG) */
    int noise;      /* 1: per-sample noise route, adaptive batch, AdaScale lr;
                       2: micro-batch route (micro-batches of 2), adaptive in
                       powers of two, linear lr scaling */
} config;

static const config configs[] = {
    {BSNN_ADAM, 5, 1, 0, 0, 0, 0},
    {BSNN_NESTEROV, 3, 0, 1, 0, 0, 0},
    {BSNN_ADADELTA, 4, 0, 0, 1, 0, 0},
    {BSNN_AMSGRAD, 1, 0, 1, 0, 0, 0},
    {BSNN_RMSPROP, 6, 1, 0, 0, 0, 0},
    {BSNN_SGD, 16, 0, 0, 0, 0, 0},
    {BSNN_ADAM, 4, 0, 0, 0, 1, 0},
    {BSNN_MOMENTUM, 8, 0, 1, 0, 1, 0},
    {BSNN_ADAM, 4, 0, 0, 0, 0, 1},
    {BSNN_SGD, 3, 0, 0, 0, 0, 1},
    {BSNN_MOMENTUM, 4, 0, 1, 0, 1, 2},
};

/* 4 -> dense 7 -> batch norm -> tanh -> dropout 0.3 -> dense 1 -> sigmoid. */
static bsnn_model *bn_dropout_model(void)
{
    bsnn_model *m = bsnn_model_create(4);
    bsnn_model_set_loss(m, BSNN_LOSS_MSE);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(7)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_batchnorm()), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH)), BSNN_OK);
    bsnn_layer *drop = bsnn_layer_dropout(0.3);
    cr_assert_eq(bsnn_layer_set(drop, BSNN_LAYER_SEED, 5), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, drop), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(1)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_SIGMOID)), BSNN_OK);
    cr_assert_eq(bsnn_model_init_params(m, 11), BSNN_OK);
    return m;
}

static void setup(bsnn_model **m, bsnn_optimizer **opt, bsnn_scheduler **s, const config *c)
{
    *m = c->bn_dropout ? bn_dropout_model() : tu_mlp(4, 7, BSNN_ACT_TANH, 1, BSNN_ACT_SIGMOID, 11);
    *opt = bsnn_optimizer_create(c->kind);
    cr_assert_not_null(*opt);
    *s = bsnn_scheduler_create(16);
    cr_assert_eq(bsnn_scheduler_set(*s, BSNN_SCHED_SEED, 99), BSNN_OK);
    cr_assert_eq(bsnn_scheduler_set(*s, BSNN_SCHED_BATCH_SIZE, c->batch), BSNN_OK);
    if (c->carry_over) cr_assert_eq(bsnn_scheduler_set(*s, BSNN_SCHED_CARRY_OVER, 1), BSNN_OK);
    if (c->warmup_cosine) {
        cr_assert_eq(bsnn_scheduler_set(*s, BSNN_SCHED_WARMUP_STEPS, 7), BSNN_OK);
        cr_assert_eq(bsnn_scheduler_set(*s, BSNN_SCHED_LR_SCHEDULE, BSNN_LR_COSINE), BSNN_OK,
                     "%s", bsnn_last_error());
    }
    if (c->noise) {
        /* the batch follows B_simple from the model's estimate, which the
         * checkpoint keeps (NOIS) with the scheduler's copy (SCHD v2) */
        cr_assert_eq(bsnn_model_set(*m, BSNN_MODEL_NOISE_ROUTE,
                                    c->noise == 1 ? BSNN_NOISE_PER_SAMPLE : BSNN_NOISE_MICRO_BATCH),
                     BSNN_OK, "%s", bsnn_last_error());
        cr_assert_eq(bsnn_model_set(*m, BSNN_MODEL_NOISE_DECAY, 0.8), BSNN_OK);
        cr_assert_eq(bsnn_scheduler_set(*s, BSNN_SCHED_BATCH_SCHEDULE, BSNN_BATCH_ADAPTIVE),
                     BSNN_OK);
        cr_assert_eq(bsnn_scheduler_set(*s, BSNN_SCHED_BATCH_MIN, 2), BSNN_OK);
        cr_assert_eq(bsnn_scheduler_set(*s, BSNN_SCHED_LR_SCALING,
                                        c->noise == 1 ? BSNN_SCALE_ADASCALE : BSNN_SCALE_LINEAR),
                     BSNN_OK);
        cr_assert_eq(bsnn_scheduler_set(*s, BSNN_SCHED_BASE_BATCH, 4), BSNN_OK);
        if (c->noise == 2) {
            cr_assert_eq(bsnn_scheduler_set(*s, BSNN_SCHED_BATCH_POW2, 1), BSNN_OK);
            cr_assert_eq(bsnn_scheduler_set(*s, BSNN_SCHED_MICRO_BATCH, 2), BSNN_OK);
        }
    }
    if (c->geometric) {
        cr_assert_eq(bsnn_scheduler_set(*s, BSNN_SCHED_BATCH_SCHEDULE, BSNN_BATCH_GEOMETRIC),
                     BSNN_OK, "%s", bsnn_last_error());
        size_t epochs[2] = {2, 4}, sizes[2] = {3, 8};
        cr_assert_eq(bsnn_scheduler_set_batch_steps(*s, epochs, sizes, 2), BSNN_OK);
    }
}

static float *params_of(const bsnn_model *m)
{
    size_t n = bsnn_model_param_count(m);
    float *p = malloc(n * sizeof *p);
    cr_assert_eq(bsnn_model_get_params(p, n, m), BSNN_OK);
    return p;
}

typedef struct stopper {
    size_t stop_after;
} stopper;

static int stop_at(void *user, bsnn_event event, size_t epoch, size_t step, size_t batch_size,
                   double loss)
{
    (void)epoch, (void)batch_size, (void)loss;
    const stopper *st = user;
    return event == BSNN_EVENT_STEP && step == st->stop_after;
}

/* Train `total` epochs straight; then again stopping after `stop_steps`
 * updates (0: after `total/2` epochs), checkpoint through a file, free
 * everything, load, and finish: the parameters must match bit for bit. */
static void check_resume(const config *c, size_t total, size_t stop_steps, const char *path)
{
    bsnn_dataset *ds = bsnn_dataset_parity(4);
    bsnn_model *m;
    bsnn_optimizer *opt;
    bsnn_scheduler *s;
    setup(&m, &opt, &s, c);
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, total, NULL, NULL), BSNN_OK, "%s",
                 bsnn_last_error());
    float *straight = params_of(m);
    size_t n = bsnn_model_param_count(m);
    size_t end_epoch = bsnn_scheduler_epoch(s);
    bsnn_model_free(m);
    bsnn_optimizer_free(opt);
    bsnn_scheduler_free(s);

    setup(&m, &opt, &s, c);
    stopper st = {stop_steps};
    if (stop_steps)
        cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, total, stop_at, &st), BSNN_OK);
    else
        cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, total / 2, NULL, NULL), BSNN_OK);
    cr_assert_eq(bsnn_checkpoint_save(m, opt, s, path), BSNN_OK, "%s", bsnn_last_error());
    bsnn_model_free(m);
    bsnn_optimizer_free(opt);
    bsnn_scheduler_free(s);
    m = NULL, opt = NULL, s = NULL;

    cr_assert_eq(bsnn_checkpoint_load(&m, &opt, &s, path), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_not_null(opt);
    cr_assert_not_null(s);
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, end_epoch - bsnn_scheduler_epoch(s), NULL,
                                  NULL),
                 BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_scheduler_epoch(s), end_epoch);
    float *resumed = params_of(m);
    cr_assert(memcmp(straight, resumed, n * sizeof(float)) == 0,
              "rule %d, batch %g, stop %zu: resumed parameters differ", (int)c->kind, c->batch,
              stop_steps);
    free(straight);
    free(resumed);
    bsnn_model_free(m);
    bsnn_optimizer_free(opt);
    bsnn_scheduler_free(s);
    bsnn_dataset_free(ds);
}

static char dir[32], path[96];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/bsnn-ckpt-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/run.ckpt", dir);
}

static void remove_dir(void)
{
    unlink(path);
    rmdir(dir);
}

Test(checkpoint, resume_at_epoch_boundary_is_bit_identical)
{
    make_dir();
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++)
        check_resume(&configs[i], 6, 0, path);
    remove_dir();
}

Test(checkpoint, resume_mid_epoch_is_bit_identical)
{
    make_dir();
    size_t stops[] = {1, 5, 9};
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++)
        for (size_t k = 0; k < 3; k++) check_resume(&configs[i], 6, stops[k], path);
    remove_dir();
}

Test(checkpoint, optimizer_and_scheduler_are_optional)
{
    bsnn_model *m = tu_mlp(4, 3, BSNN_ACT_RELU, 1, BSNN_ACT_LINEAR, 2), *back = NULL;
    void *buf = NULL;
    size_t size = 0;
    cr_assert_eq(bsnn_checkpoint_save_alloc(&buf, &size, m, NULL, NULL), BSNN_OK);
    bsnn_optimizer *opt = (bsnn_optimizer *)&size; /* must be overwritten with NULL */
    bsnn_scheduler *s = (bsnn_scheduler *)&size;
    cr_assert_eq(bsnn_checkpoint_load_buffer(&back, &opt, &s, buf, size), BSNN_OK, "%s",
                 bsnn_last_error());
    cr_assert_null(opt);
    cr_assert_null(s);
    cr_assert_eq(bsnn_model_param_count(back), bsnn_model_param_count(m));
    bsnn_model_free(back);
    back = NULL;
    /* A checkpoint's model loads with bsnn_model_load_buffer. */
    cr_assert_eq(bsnn_model_load_buffer(&back, buf, size), BSNN_OK, "%s", bsnn_last_error());
    bsnn_model_free(back);
    bsnn_buffer_free(buf);
    /* A model file is not a checkpoint. */
    cr_assert_eq(bsnn_model_save_alloc(&buf, &size, m), BSNN_OK);
    back = NULL;
    cr_assert_eq(bsnn_checkpoint_load_buffer(&back, NULL, NULL, buf, size), BSNN_E_FORMAT);
    cr_assert(strstr(bsnn_last_error(), "not a checkpoint"), "%s", bsnn_last_error());
    cr_assert_null(back);
    bsnn_buffer_free(buf);
    bsnn_model_free(m);
}

/* A checkpoint of a trained model, optimizer and mid-epoch scheduler. */
static unsigned char *trained_checkpoint_of(size_t *out_size, const config *c);

static unsigned char *trained_checkpoint(size_t *out_size)
{
    return trained_checkpoint_of(out_size, &configs[0]);
}

static unsigned char *trained_checkpoint_of(size_t *out_size, const config *c)
{
    bsnn_dataset *ds = bsnn_dataset_parity(4);
    bsnn_model *m;
    bsnn_optimizer *opt;
    bsnn_scheduler *s;
    setup(&m, &opt, &s, c);
    stopper st = {5};
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, 3, stop_at, &st), BSNN_OK);
    void *buf = NULL;
    cr_assert_eq(bsnn_checkpoint_save_alloc(&buf, out_size, m, opt, s), BSNN_OK);
    unsigned char *copy = malloc(*out_size);
    memcpy(copy, buf, *out_size);
    bsnn_buffer_free(buf);
    bsnn_model_free(m);
    bsnn_optimizer_free(opt);
    bsnn_scheduler_free(s);
    bsnn_dataset_free(ds);
    return copy;
}

static void assert_rejected(const unsigned char *b, size_t size, const char *what)
{
    bsnn_model *m = NULL;
    bsnn_optimizer *opt = NULL;
    bsnn_scheduler *s = NULL;
    bsnn_status st = bsnn_checkpoint_load_buffer(&m, &opt, &s, b, size);
    cr_assert_eq(st, BSNN_E_FORMAT, "%s: status %d (%s)", what, st, bsnn_last_error());
    cr_assert(m == NULL && opt == NULL && s == NULL, "%s: outputs written on failure", what);
}

Test(checkpoint, truncated_and_bit_flipped_checkpoints_are_rejected)
{
    size_t size;
    unsigned char *b = trained_checkpoint(&size);
    tu_count_allocations(0);
    for (size_t cut = 0; cut < size; cut += 1 + cut / 64) {
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu of %zu", cut, size);
        assert_rejected(b, cut, what);
    }
    for (size_t i = 0; i < size; i++) {
        b[i] ^= 0x10;
        char what[64];
        snprintf(what, sizeof what, "byte %zu flipped", i);
        assert_rejected(b, size, what);
        b[i] ^= 0x10;
    }
    cr_assert_eq(tu_stats.live_bytes, 0, "leaked");
    tu_restore_allocator();
    free(b);
}


static size_t find_section(const unsigned char *b, size_t size, const char *tag)
{
    for (size_t pos = 20; pos + 20 <= size; pos += 20 + (size_t)rd(b + pos + 8, 8))
        if (memcmp(b + pos, tag, 4) == 0) return pos;
    cr_assert_fail("no section %s", tag);
    return 0;
}

static void fix_crc(unsigned char *b, size_t pos)
{
    size_t len = (size_t)rd(b + pos + 8, 8);
    wr(b + pos + 16 + len, ref_crc(b + pos, 16 + len), 4);
}

Test(checkpoint, forged_scheduler_and_optimizer_fields_are_rejected)
{
    size_t size;
    unsigned char *b = trained_checkpoint(&size);
    size_t sch = find_section(b, size, "SCHD"), opt = find_section(b, size, "OPTM");
    /* SCHD: n @0, settings count @8 then 12 bytes each, steps count, words
     * count, words: version, n, epoch, step, pos, cur_batch, in_epoch, ... */
    size_t settings = (size_t)rd(b + sch + 16 + 8, 4);
    size_t words = sch + 16 + 12 + 12 * settings + 8 + 8;
    struct {
        size_t at;
        uint64_t v;
        int bytes;
        const char *what;
    } cases[] = {
        {sch + 16, UINT64_C(1) << 50, 8, "scheduler of 2^50 samples"},
        {sch + 16, 17, 8, "scheduler for 17 samples, position for 16"},
        {words + 8 * 4, 99, 8, "position beyond the samples"},
        {words + 8 * 5, 0, 8, "batch of 0"},
        {words + 8 * 14, 16, 8, "sample index 16 of 16"},
        {sch + 16 + 12 + 12 * settings, UINT64_C(1) << 40, 8, "2^40 batch steps"},
        {opt + 16, 77, 4, "unknown optimizer kind"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        unsigned char *t = malloc(size);
        memcpy(t, b, size);
        wr(t + cases[k].at, cases[k].v, cases[k].bytes);
        fix_crc(t, cases[k].at > sch ? sch : opt);
        tu_count_allocations(0);
        assert_rejected(t, size, cases[k].what);
        cr_assert_leq(tu_stats.peak_bytes, 64 * size + 65536, "%s: peak %zu", cases[k].what,
                      tu_stats.peak_bytes);
        cr_assert_eq(tu_stats.live_bytes, 0, "%s: leaked", cases[k].what);
        tu_restore_allocator();
        free(t);
    }
    free(b);
}

Test(checkpoint, bad_arguments_report_errors)
{
    bsnn_model *m = tu_mlp(2, 2, BSNN_ACT_RELU, 1, BSNN_ACT_LINEAR, 1), *other = NULL;
    bsnn_model *m2 = tu_mlp(2, 2, BSNN_ACT_RELU, 1, BSNN_ACT_LINEAR, 1);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_ADAM);
    float x[2] = {1, 2}, y[1] = {1};
    bsnn_tensor *tx = tu_wrap(x, 1, 2), *ty = tu_wrap(y, 1, 1);
    cr_assert_eq(bsnn_model_train_step(NULL, m2, opt, tx, ty), BSNN_OK);
    void *buf = NULL;
    size_t size = 0;
    unsigned char byte = 0;
    cr_assert_eq(bsnn_checkpoint_save(NULL, NULL, NULL, "/tmp/x"), BSNN_E_NULL);
    cr_assert_eq(bsnn_checkpoint_save(m, NULL, NULL, NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_checkpoint_save(m, opt, NULL, "/tmp/x"), BSNN_E_STATE,
                 "optimizer bound to m2");
    cr_assert_eq(bsnn_checkpoint_save(m, NULL, NULL, "/nonexistent-dir/x"), BSNN_E_IO);
    cr_assert_eq(bsnn_checkpoint_save_alloc(NULL, &size, m, NULL, NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_checkpoint_save_alloc(&buf, NULL, m, NULL, NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_checkpoint_save_alloc(&buf, &size, NULL, NULL, NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_checkpoint_load(NULL, NULL, NULL, "/tmp/x"), BSNN_E_NULL);
    cr_assert_eq(bsnn_checkpoint_load(&other, NULL, NULL, NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_checkpoint_load(&other, NULL, NULL, "/nonexistent-dir/x"), BSNN_E_IO);
    cr_assert_eq(bsnn_checkpoint_load_buffer(NULL, NULL, NULL, &byte, 1), BSNN_E_NULL);
    cr_assert_eq(bsnn_checkpoint_load_buffer(&other, NULL, NULL, NULL, 1), BSNN_E_NULL);
    cr_assert_eq(bsnn_checkpoint_load_buffer(&other, NULL, NULL, &byte, 1), BSNN_E_FORMAT);
    cr_assert_null(other);
    bsnn_tensor_free(tx);
    bsnn_tensor_free(ty);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_model_free(m2);
}

/* Issue 10, item 3: bsnn_checkpoint_load on a FIFO with no writer blocked
 * in open() forever. Refused at once. (A hang fails through the timeout.) */
Test(checkpoint, fifo_is_refused_without_blocking, .timeout = 10)
{
    char dir[] = "/tmp/bsnn-ckfifo-XXXXXX", fifo[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(fifo, sizeof fifo, "%s/pipe.ckpt", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    bsnn_model *m = NULL;
    bsnn_optimizer *opt = NULL;
    bsnn_scheduler *s = NULL;
    cr_assert_eq(bsnn_checkpoint_load(&m, &opt, &s, fifo), BSNN_E_IO);
    cr_assert(strstr(bsnn_last_error(), "not a regular file (a FIFO)") != NULL, "%s",
              bsnn_last_error());
    cr_assert(m == NULL && opt == NULL && s == NULL);
    unlink(fifo);
    rmdir(dir);
}

/* Seeds and byte counts beyond 2^53 (set through the typed setters) come
 * back exact from a checkpoint, and the run resumed from it is the run
 * that never stopped: the dropout seed, the scheduler's seed and memory
 * budget. (bsnn 0.2 wrote settings as doubles and could not.) */
Test(checkpoint, seeds_and_budgets_beyond_2_to_53_round_trip_exactly)
{
    const uint64_t dseed = ((uint64_t)1 << 60) + 1, sseed = ((uint64_t)1 << 62) + 3;
    const size_t budget = SIZE_MAX - 7;
    bsnn_dataset *ds = bsnn_dataset_parity(4);
    bsnn_model *runs[2];
    float *params[2];
    for (int k = 0; k < 2; k++) {
        bsnn_model *m = bn_dropout_model();
        cr_assert_eq(bsnn_layer_set_seed(bsnn_model_layer(m, 3), dseed), BSNN_OK);
        bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_ADAM);
        bsnn_scheduler *s = bsnn_scheduler_create(16);
        cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 4), BSNN_OK);
        cr_assert_eq(bsnn_scheduler_set_seed(s, sseed), BSNN_OK);
        cr_assert_eq(bsnn_scheduler_set_memory_budget(s, budget), BSNN_OK);
        cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, 2, NULL, NULL), BSNN_OK, "%s",
                     bsnn_last_error());
        if (k == 1) { /* through a checkpoint in the middle */
            void *buf = NULL;
            size_t size = 0;
            cr_assert_eq(bsnn_checkpoint_save_alloc(&buf, &size, m, opt, s), BSNN_OK);
            bsnn_model_free(m), bsnn_optimizer_free(opt), bsnn_scheduler_free(s);
            m = NULL, opt = NULL, s = NULL;
            cr_assert_eq(bsnn_checkpoint_load_buffer(&m, &opt, &s, buf, size), BSNN_OK, "%s",
                         bsnn_last_error());
            bsnn_buffer_free(buf);
            uint64_t got = 0;
            size_t gotb = 0;
            cr_assert_eq(bsnn_layer_get_seed(&got, bsnn_model_layer(m, 3)), BSNN_OK);
            cr_assert_eq(got, dseed);
            cr_assert_eq(bsnn_scheduler_get_seed(&got, s), BSNN_OK);
            cr_assert_eq(got, sseed);
            cr_assert_eq(bsnn_scheduler_get_memory_budget(&gotb, s), BSNN_OK);
            cr_assert_eq(gotb, budget);
        }
        cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, 2, NULL, NULL), BSNN_OK);
        runs[k] = m;
        params[k] = params_of(m);
        bsnn_optimizer_free(opt), bsnn_scheduler_free(s);
    }
    size_t n = bsnn_model_param_count(runs[0]);
    cr_assert(memcmp(params[0], params[1], n * sizeof(float)) == 0, "resumed run differs");
    for (int k = 0; k < 2; k++) free(params[k]), bsnn_model_free(runs[k]);
    bsnn_dataset_free(ds);
}

/* A setting written in the 64-bit form takes the same checks as one written
 * as a double: the fuzzers found a checkpoint whose batch size, 2^62 in
 * that form, loaded, so the scheduler's next epoch drew a batch beyond its
 * samples and the checkpoint saved from it no longer loaded. */
Test(checkpoint, a_64_bit_setting_gets_the_setters_checks)
{
    size_t size;
    unsigned char *b = trained_checkpoint(&size);
    size_t sch = find_section(b, size, "SCHD");
    size_t count = (size_t)rd(b + sch + 16 + 8, 4), at = 0;
    for (size_t i = 0; i < count && at == 0; i++) {
        size_t e = sch + 16 + 12 + 12 * i;
        if (rd(b + e, 4) == BSNN_SCHED_BATCH_SIZE) at = e;
    }
    cr_assert_neq(at, 0, "no batch-size entry in SCHD");
    const struct {
        uint64_t v;
        bsnn_status want;
    } cases[] = {{UINT64_C(1) << 62, BSNN_E_FORMAT}, {(UINT64_C(1) << 53) + 2, BSNN_E_FORMAT},
                 {17, BSNN_E_FORMAT}, {0, BSNN_E_FORMAT}, {5, BSNN_OK}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        unsigned char *t = malloc(size);
        memcpy(t, b, size);
        wr(t + at, (uint64_t)BSNN_SCHED_BATCH_SIZE | 0x80000000u, 4); /* the 64-bit form */
        wr(t + at + 4, cases[k].v, 8);
        fix_crc(t, sch);
        bsnn_model *m = NULL;
        bsnn_optimizer *opt = NULL;
        bsnn_scheduler *s = NULL;
        bsnn_status st = bsnn_checkpoint_load_buffer(&m, &opt, &s, t, size);
        cr_assert_eq(st, cases[k].want, "batch %llu: status %d (%s)",
                     (unsigned long long)cases[k].v, st, bsnn_last_error());
        if (st == BSNN_OK) {
            double got = 0;
            cr_assert_eq(bsnn_scheduler_get(&got, s, BSNN_SCHED_BATCH_SIZE), BSNN_OK);
            cr_assert_eq(got, (double)cases[k].v);
        } else {
            cr_assert(strstr(bsnn_last_error(), "batch size"), "%s", bsnn_last_error());
        }
        bsnn_model_free(m), bsnn_optimizer_free(opt), bsnn_scheduler_free(s);
        free(t);
    }
}

static uint64_t f64_word(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

Test(checkpoint, forged_noise_scale_sections_are_rejected)
{
    size_t size;
    unsigned char *b = trained_checkpoint_of(&size, &configs[8]);
    size_t nois = find_section(b, size, "NOIS") + 16;
    /* NOIS: u32 version, u32 route, f64 decay, w, w2, |G|^2, tr, b, B,
     * m2 |G|^2, m2 tr, co-deviation, last |g_b|^2, last |g_B|^2, u64 count */
    struct {
        size_t at;
        uint64_t v;
        int bytes;
        const char *what;
    } cases[] = {
        {nois, 2, 4, "noise section version 2"},
        {nois + 4, 7, 4, "route 7"},
        {nois + 8, f64_word(2.0), 8, "decay 2"},
        {nois + 16, f64_word(-1.0), 8, "negative weight"},
        {nois + 32, f64_word(NAN), 8, "NaN |G|^2"},
        {nois + 104, 0, 8, "count 0 with weights"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        unsigned char *t = malloc(size);
        memcpy(t, b, size);
        wr(t + cases[k].at, cases[k].v, cases[k].bytes);
        fix_crc(t, nois - 16);
        assert_rejected(t, size, cases[k].what);
        free(t);
    }
    /* the section is optional: a reader may skip it, and the model part
     * of the checkpoint loads as a model */
    bsnn_model *m = NULL;
    cr_assert_eq(bsnn_model_load_buffer(&m, b, size), BSNN_OK, "%s", bsnn_last_error());
    double route = -1;
    cr_assert_eq(bsnn_model_get(&route, m, BSNN_MODEL_NOISE_ROUTE), BSNN_OK);
    cr_assert_eq(route, BSNN_NOISE_OFF, "a model file keeps no training state");
    bsnn_model_free(m);
    free(b);
}
