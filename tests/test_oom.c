/*
 * test_oom.c - out-of-memory injection, the way SQLite tests: run a whole
 * scenario (build a model, train with every update rule, checkpoint and resume,
 * run the batch-size search, evaluate, save and load through files and
 * buffers, the search over a batch-norm model too, a standardize and
 * layer-norm model with inference on a host workspace, the gradient noise
 * scale's routes, measurement, adaptive schedule and repeated search) with the k-th allocation
 * failing, for k = 1, 2, ... until the scenario completes without reaching
 * k, in two modes as SQLite's fault simulator has them: one-shot (only the
 * k-th allocation fails) and persistent (every allocation from the k-th on
 * fails until the public call that met it returns, so error paths that
 * allocate are exercised too). Every failure must be BSNN_E_NOMEM with a
 * message; the failed call repeated with the fault over must succeed (the
 * objects stayed usable); and after freeing everything no byte may be live.
 */
#include "testutil.h"

#include <stdio.h>
#include <unistd.h>

#define MAX_SITES 128

/* Distinct functions that reported an injected failure (per mode). */
static char sites[MAX_SITES][64];
static size_t n_sites;

/* The public call returned: a persistent fault ends with it. */
#define FAULT_OVER() (tu_stats.failing = 0)

static void note_site(const char *msg)
{
    char name[64];
    size_t len = strcspn(msg, ":");
    if (len >= sizeof name) len = sizeof name - 1;
    memcpy(name, msg, len);
    name[len] = '\0';
    for (size_t i = 0; i < n_sites; i++)
        if (strcmp(sites[i], name) == 0) return;
    if (n_sites < MAX_SITES) snprintf(sites[n_sites++], sizeof sites[0], "%s", name);
}

/* A failed call must report NOMEM and say so in its message. */
static void check_failure(bsnn_status st, const char *call)
{
    const char *msg = bsnn_last_error();
    cr_assert_eq(st, BSNN_E_NOMEM, "k=%zu: %s returned %d: %s", tu_stats.fail_at, call, st, msg);
    cr_assert(strstr(msg, "memory") || strstr(msg, "allocate"), "k=%zu: %s: message '%s'",
              tu_stats.fail_at, call, msg);
    note_site(msg);
}

/* Run a status call; on failure check it, then repeat it: the one-shot
 * failure is spent, so the object must now do what was asked. */
#define STEP(call)                                                                 \
    do {                                                                           \
        bsnn_status st_ = (call);                                                  \
        FAULT_OVER();                                                              \
        if (st_ != BSNN_OK) {                                                      \
            check_failure(st_, #call);                                             \
            st_ = (call);                                                          \
            cr_assert_eq(st_, BSNN_OK, "retry of %s: %s", #call, bsnn_last_error()); \
        }                                                                          \
    } while (0)

/* The same for a constructor returning NULL. */
#define MAKE(var, ctor)                                                            \
    do {                                                                           \
        (var) = (ctor);                                                            \
        FAULT_OVER();                                                              \
        if ((var) == NULL) {                                                       \
            check_failure(BSNN_E_NOMEM, #ctor);                                    \
            (var) = (ctor);                                                        \
            cr_assert_not_null((var), "retry of %s: %s", #ctor, bsnn_last_error()); \
        }                                                                          \
    } while (0)

typedef struct objects {
    bsnn_model *m, *from_buf, *from_file;
    bsnn_dataset *ds, *train, *test, *wrapped;
    bsnn_scheduler *s;
    bsnn_optimizer *opt;
    bsnn_tensor *x, *out;
    void *buf, *ckpt;
    bsnn_model *ck_m;
    bsnn_optimizer *ck_opt;
    bsnn_scheduler *ck_s;
    bsnn_search *search, *bn_search;
    bsnn_model *bn, *bn_back; /* batch norm + dropout */
    bsnn_optimizer *bn_opt;
    void *bn_buf;
    bsnn_model *norm, *norm_back; /* standardize + layer norm */
    bsnn_optimizer *norm_opt;
    bsnn_workspace *ws;
    void *norm_buf;
    bsnn_model *nz, *nz_back; /* the noise scale: routes, measurement, adaptive */
    bsnn_optimizer *nz_opt, *nz_opt_back;
    bsnn_scheduler *nz_s, *nz_s_back;
    bsnn_search *nz_search;
    void *nz_buf;
} objects;

static void free_all(objects *o)
{
    bsnn_model_free(o->nz);
    bsnn_model_free(o->nz_back);
    bsnn_optimizer_free(o->nz_opt);
    bsnn_optimizer_free(o->nz_opt_back);
    bsnn_scheduler_free(o->nz_s);
    bsnn_scheduler_free(o->nz_s_back);
    bsnn_search_free(o->nz_search);
    bsnn_buffer_free(o->nz_buf);
    bsnn_model_free(o->m);
    bsnn_model_free(o->from_buf);
    bsnn_model_free(o->from_file);
    bsnn_dataset_free(o->ds);
    bsnn_dataset_free(o->train);
    bsnn_dataset_free(o->test);
    bsnn_dataset_free(o->wrapped);
    bsnn_scheduler_free(o->s);
    bsnn_optimizer_free(o->opt);
    bsnn_tensor_free(o->x);
    bsnn_tensor_free(o->out);
    bsnn_buffer_free(o->buf);
    bsnn_buffer_free(o->ckpt);
    bsnn_model_free(o->ck_m);
    bsnn_optimizer_free(o->ck_opt);
    bsnn_scheduler_free(o->ck_s);
    bsnn_search_free(o->search);
    bsnn_search_free(o->bn_search);
    bsnn_model_free(o->bn);
    bsnn_model_free(o->bn_back);
    bsnn_optimizer_free(o->bn_opt);
    bsnn_buffer_free(o->bn_buf);
    bsnn_model_free(o->norm);
    bsnn_model_free(o->norm_back);
    bsnn_optimizer_free(o->norm_opt);
    bsnn_workspace_free(o->ws);
    bsnn_buffer_free(o->norm_buf);
    memset(o, 0, sizeof *o);
}

/* bsnn_model_add frees the layer when it fails, so a retry needs a new one. */
static void add_dense(bsnn_model *m, size_t width)
{
    bsnn_layer *l;
    MAKE(l, bsnn_layer_dense(width));
    bsnn_status st = bsnn_model_add(m, l);
    FAULT_OVER();
    if (st != BSNN_OK) {
        check_failure(st, "bsnn_model_add(dense)");
        MAKE(l, bsnn_layer_dense(width));
        cr_assert_eq(bsnn_model_add(m, l), BSNN_OK, "%s", bsnn_last_error());
    }
}

static void add_activation(bsnn_model *m, bsnn_activation act)
{
    bsnn_layer *l;
    MAKE(l, bsnn_layer_activation(act));
    bsnn_status st = bsnn_model_add(m, l);
    FAULT_OVER();
    if (st != BSNN_OK) {
        check_failure(st, "bsnn_model_add(activation)");
        MAKE(l, bsnn_layer_activation(act));
        cr_assert_eq(bsnn_model_add(m, l), BSNN_OK, "%s", bsnn_last_error());
    }
}

static void add_batchnorm(bsnn_model *m)
{
    bsnn_layer *l;
    MAKE(l, bsnn_layer_batchnorm());
    bsnn_status st = bsnn_model_add(m, l);
    FAULT_OVER();
    if (st != BSNN_OK) {
        check_failure(st, "bsnn_model_add(batchnorm)");
        MAKE(l, bsnn_layer_batchnorm());
        cr_assert_eq(bsnn_model_add(m, l), BSNN_OK, "%s", bsnn_last_error());
    }
}

static void add_dropout(bsnn_model *m, double rate)
{
    bsnn_layer *l;
    MAKE(l, bsnn_layer_dropout(rate));
    bsnn_status st = bsnn_model_add(m, l);
    FAULT_OVER();
    if (st != BSNN_OK) {
        check_failure(st, "bsnn_model_add(dropout)");
        MAKE(l, bsnn_layer_dropout(rate));
        cr_assert_eq(bsnn_model_add(m, l), BSNN_OK, "%s", bsnn_last_error());
    }
}

/* Batch norm and dropout: build, train, round-trip through memory. */
static void bn_dropout_part(objects *o)
{
    MAKE(o->bn, bsnn_model_create(4));
    STEP(bsnn_model_set_loss(o->bn, BSNN_LOSS_MSE));
    add_dense(o->bn, 5);
    add_batchnorm(o->bn);
    add_activation(o->bn, BSNN_ACT_RELU);
    add_dropout(o->bn, 0.25);
    add_dense(o->bn, 1);
    MAKE(o->bn_opt, bsnn_optimizer_create(BSNN_ADAM));
    STEP(bsnn_model_train(NULL, o->bn, o->bn_opt, o->s, o->train, 2, NULL, NULL));
    /* The search snapshots parameters AND batch-norm statistics (issue 10:
     * a failed second snapshot crashed it). */
    const size_t sizes[2] = {2, 4};
    size_t best = 0;
    MAKE(o->bn_search, bsnn_search_create());
    STEP(bsnn_search_set(o->bn_search, BSNN_SEARCH_BUDGET, 1));
    STEP(bsnn_search_sweep(&best, o->bn_search, o->bn, o->bn_opt, o->train, o->test, o->s, sizes,
                           2));
    size_t size = 0;
    STEP(bsnn_model_save_alloc(&o->bn_buf, &size, o->bn));
    STEP(bsnn_model_load_buffer(&o->bn_back, o->bn_buf, size));
}

/* Add the layer ctor makes (a constructor call), retried with a new one
 * when the add fails: bsnn_model_add consumes the layer either way. */
#define ADD(m, ctor)                                                               \
    do {                                                                           \
        bsnn_layer *l_;                                                            \
        MAKE(l_, ctor);                                                            \
        bsnn_status st_ = bsnn_model_add((m), l_);                                 \
        FAULT_OVER();                                                              \
        if (st_ != BSNN_OK) {                                                      \
            check_failure(st_, "bsnn_model_add(" #ctor ")");                       \
            MAKE(l_, ctor);                                                        \
            cr_assert_eq(bsnn_model_add((m), l_), BSNN_OK, "%s", bsnn_last_error()); \
        }                                                                          \
    } while (0)

/* Standardize and layer norm: build, train, infer on a host workspace,
 * round-trip through memory. */
static void norm_part(objects *o)
{
    static const float mean[4] = {0.5f, 0.5f, 0.5f, 0.5f}, std[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    MAKE(o->norm, bsnn_model_create(4));
    STEP(bsnn_model_set_loss(o->norm, BSNN_LOSS_MSE));
    ADD(o->norm, bsnn_layer_standardize(mean, std, 4));
    ADD(o->norm, bsnn_layer_dense(5));
    ADD(o->norm, bsnn_layer_layernorm());
    ADD(o->norm, bsnn_layer_activation(BSNN_ACT_TANH));
    ADD(o->norm, bsnn_layer_dense(1));
    MAKE(o->norm_opt, bsnn_optimizer_create(BSNN_ADAM));
    STEP(bsnn_model_train(NULL, o->norm, o->norm_opt, o->s, o->train, 2, NULL, NULL));
    MAKE(o->ws, bsnn_workspace_create(o->norm));
    double loss, acc;
    STEP(bsnn_model_evaluate_ws(&loss, &acc, o->norm, o->ws, o->test, 3));
    size_t size = 0;
    STEP(bsnn_model_save_alloc(&o->norm_buf, &size, o->norm));
    STEP(bsnn_model_load_buffer(&o->norm_back, o->norm_buf, size));
}

/* The gradient noise scale: the micro-batch route (its buffer), the
 * adaptive schedule, a checkpoint with both, the measurement on both
 * routes, a search with repeats. */
static void noise_part(objects *o)
{
    MAKE(o->nz, bsnn_model_create(4));
    STEP(bsnn_model_set_loss(o->nz, BSNN_LOSS_MSE));
    ADD(o->nz, bsnn_layer_dense(5));
    ADD(o->nz, bsnn_layer_activation(BSNN_ACT_TANH));
    ADD(o->nz, bsnn_layer_dense(1));
    STEP(bsnn_model_set(o->nz, BSNN_MODEL_NOISE_ROUTE, BSNN_NOISE_MICRO_BATCH));
    MAKE(o->nz_opt, bsnn_optimizer_create(BSNN_ADAM));
    MAKE(o->nz_s, bsnn_scheduler_create(bsnn_dataset_size(o->train)));
    STEP(bsnn_scheduler_set(o->nz_s, BSNN_SCHED_BATCH_SIZE, 6));
    STEP(bsnn_scheduler_set(o->nz_s, BSNN_SCHED_MICRO_BATCH, 2));
    STEP(bsnn_scheduler_set(o->nz_s, BSNN_SCHED_BATCH_SCHEDULE, BSNN_BATCH_ADAPTIVE));
    STEP(bsnn_model_train(NULL, o->nz, o->nz_opt, o->nz_s, o->train, 2, NULL, NULL));
    size_t size = 0;
    STEP(bsnn_checkpoint_save_alloc(&o->nz_buf, &size, o->nz, o->nz_opt, o->nz_s));
    STEP(bsnn_checkpoint_load_buffer(&o->nz_back, &o->nz_opt_back, &o->nz_s_back, o->nz_buf, size));
    double v[12];
    STEP(bsnn_model_noise_measure(v, 12, o->nz, o->train, BSNN_NOISE_PER_SAMPLE, 3, 0, 0));
    STEP(bsnn_model_noise_measure(v, 12, o->nz, o->train, BSNN_NOISE_MICRO_BATCH, 2, 4, 1));
    const size_t sizes[2] = {2, 4};
    size_t best = 0;
    MAKE(o->nz_search, bsnn_search_create());
    STEP(bsnn_search_set(o->nz_search, BSNN_SEARCH_REPEATS, 2));
    STEP(bsnn_search_set(o->nz_search, BSNN_SEARCH_BUDGET, 1));
    STEP(bsnn_search_sweep(&best, o->nz_search, o->nz, o->nz_opt, o->train, o->test, NULL, sizes, 2));
}

static char path[128];

static void scenario(objects *o)
{
    MAKE(o->ds, bsnn_dataset_parity(4));
    STEP(bsnn_dataset_split(&o->train, &o->test, o->ds, 0.75, 3));
    MAKE(o->wrapped, bsnn_dataset_wrap(bsnn_dataset_inputs(o->test), bsnn_dataset_targets(o->test),
                                       bsnn_dataset_size(o->test), 4, 1));
    MAKE(o->m, bsnn_model_create(4));
    STEP(bsnn_model_set_loss(o->m, BSNN_LOSS_MSE));
    add_dense(o->m, 6);
    add_activation(o->m, BSNN_ACT_TANH);
    add_dense(o->m, 1);
    add_activation(o->m, BSNN_ACT_SIGMOID);
    MAKE(o->s, bsnn_scheduler_create(bsnn_dataset_size(o->train)));
    STEP(bsnn_scheduler_set(o->s, BSNN_SCHED_BATCH_SIZE, 4));
    for (int kind = BSNN_SGD; kind <= BSNN_ADAMW; kind++) {
        MAKE(o->opt, bsnn_optimizer_create((bsnn_optimizer_kind)kind));
        STEP(bsnn_model_train(NULL, o->m, o->opt, o->s, o->train, 2, NULL, NULL));
        if (kind < BSNN_ADAMW) {
            bsnn_optimizer_free(o->opt);
            o->opt = NULL;
        }
    }
    /* Checkpoint through memory and a file, then train on from it. */
    size_t ck_size = 0;
    STEP(bsnn_checkpoint_save_alloc(&o->ckpt, &ck_size, o->m, o->opt, o->s));
    STEP(bsnn_checkpoint_load_buffer(&o->ck_m, &o->ck_opt, &o->ck_s, o->ckpt, ck_size));
    STEP(bsnn_checkpoint_save(o->m, o->opt, o->s, path));
    bsnn_model_free(o->ck_m);
    bsnn_optimizer_free(o->ck_opt);
    bsnn_scheduler_free(o->ck_s);
    o->ck_m = NULL, o->ck_opt = NULL, o->ck_s = NULL;
    STEP(bsnn_checkpoint_load(&o->ck_m, &o->ck_opt, &o->ck_s, path));
    STEP(bsnn_model_train(NULL, o->ck_m, o->ck_opt, o->ck_s, o->train, 1, NULL, NULL));
    /* The batch-size search over the same model. */
    size_t best = 0;
    MAKE(o->search, bsnn_search_create());
    STEP(bsnn_search_set(o->search, BSNN_SEARCH_START, 4));
    STEP(bsnn_search_set(o->search, BSNN_SEARCH_BUDGET, 1));
    STEP(bsnn_search_run(&best, o->search, o->m, o->opt, o->train, o->test, o->s));
    bn_dropout_part(o);
    norm_part(o);
    noise_part(o);
    double loss, acc;
    STEP(bsnn_model_evaluate(&loss, &acc, o->m, o->test, 2));
    STEP(bsnn_model_evaluate(&loss, &acc, o->m, o->wrapped, 3));
    size_t shape[2] = {5, 4}, oshape[2] = {5, 1};
    MAKE(o->x, bsnn_tensor_create(2, shape));
    MAKE(o->out, bsnn_tensor_create(2, oshape));
    STEP(bsnn_model_forward(o->out, o->m, o->x));
    size_t size = 0;
    STEP(bsnn_model_save_alloc(&o->buf, &size, o->m));
    STEP(bsnn_model_load_buffer(&o->from_buf, o->buf, size));
    STEP(bsnn_model_save(o->m, path));
    STEP(bsnn_model_load(&o->from_file, path));
    STEP(bsnn_model_evaluate(&loss, &acc, o->from_file, o->test, 4));
}

/* Run the scenario with the k-th allocation failing for k = 1, 2, ...
 * until it completes untouched; returns the number of failure points
 * (k - 1) and, in *out_allocs, the allocations of a clean run. */
static size_t every_failure_point(int persistent, size_t *out_allocs)
{
    char dir[] = "/tmp/bsnn-oom-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/model.bsnn", dir);
    n_sites = 0;
    size_t k = 1;
    for (;; k++) {
        objects o = {0};
        tu_count_allocations(k);
        tu_stats.persistent = persistent;
        scenario(&o);
        free_all(&o);
        cr_assert_eq(tu_stats.live_bytes, 0, "k=%zu: %zu bytes leaked", k, tu_stats.live_bytes);
        cr_assert_eq(tu_stats.allocs - tu_stats.failed, tu_stats.frees, "k=%zu: blocks leaked", k);
        int done = tu_stats.failed == 0;
        *out_allocs = tu_stats.allocs;
        tu_restore_allocator();
        if (done) break;
    }
    unlink(path);
    rmdir(dir);
    return k - 1;
}

static void report(const char *mode, size_t points, size_t allocs)
{
    fprintf(stderr,
            "oom (%s): failed allocations 1..%zu (%zu allocations in the scenario), %zu distinct "
            "functions reported NOMEM; every failure recovered, 0 bytes leaked\n",
            mode, points, allocs, n_sites);
    for (size_t i = 0; i < n_sites; i++) fprintf(stderr, "oom:   %s\n", sites[i]);
}

Test(oom, every_allocation_failure_is_nomem_recoverable_and_leak_free, .timeout = 300)
{
    size_t allocs = 0, points = every_failure_point(0, &allocs);
    report("one-shot", points, allocs);
    cr_assert_gt(points, 20, "the scenario allocates");
}

/* Persistent faults: the failing call's own cleanup and retries inside it
 * meet failures too; still NOMEM, recoverable and leak-free. */
Test(oom, persistent_allocation_failure_is_nomem_recoverable_and_leak_free, .timeout = 300)
{
    size_t allocs = 0, points = every_failure_point(1, &allocs);
    report("persistent", points, allocs);
    cr_assert_gt(points, 20, "the scenario allocates");
}
