/*
 * test_pool.c - bsnn's worker threads (src/common/pool.c): bsnn__parallel
 * runs every chunk exactly once on up to bsnn_get_num_threads() threads
 * (really concurrently), results of a fixed chunking are bit-identical
 * for every thread count, the pool resizes while idle and joins its
 * workers when the count drops, falls back to fewer threads when the
 * system refuses one, serves two host threads at once and a nested call,
 * gives workers the caller's floating-point state and no signals, and
 * allocates nothing through bsnn. Products split over the pool and whole
 * training runs on 2 threads from several host threads at once close it.
 *
 * Like test_thread.c, a plain program under ThreadSanitizer (Criterion
 * cannot start there), printing a Criterion-style synthesis line; `make
 * test SANITIZE=thread` runs it: everything here is bsnn's own threads
 * and BLIS single-threaded inside them (no OpenMP thread is ever used).
 */
#include "testutil.h"

#include "kernels/kernels.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#define FAIL(...) return snprintf(why, cap, __VA_ARGS__), 0

/* ---- every chunk exactly once --------------------------------------------------- */

#define MAX_CHUNKS 2000

typedef struct count_job {
    _Atomic int hits[MAX_CHUNKS];
} count_job;

static void count_chunk(void *ctx, size_t chunk)
{
    count_job *j = ctx;
    atomic_fetch_add(&j->hits[chunk], 1);
}

static int every_chunk_once(char *why, size_t cap)
{
    static const size_t counts[] = {0, 1, 2, 3, 7, 64, 1000, MAX_CHUNKS};
    static count_job job;
    for (int t = 1; t <= 4; t++) {
        if (bsnn_set_num_threads(t) != BSNN_OK) FAIL("set_num_threads(%d)", t);
        for (size_t i = 0; i < sizeof counts / sizeof *counts; i++)
            for (int rep = 0; rep < 20; rep++) {
                for (size_t c = 0; c < MAX_CHUNKS; c++) atomic_store(&job.hits[c], 0);
                bsnn__parallel(counts[i], count_chunk, &job);
                for (size_t c = 0; c < MAX_CHUNKS; c++) {
                    int want = c < counts[i], got = atomic_load(&job.hits[c]);
                    if (got != want)
                        FAIL("%d threads, %zu chunks: chunk %zu ran %d times", t, counts[i], c, got);
                }
            }
    }
    return 1;
}

/* ---- a fixed chunking gives the same bits for every count ------------------------ */

#define SUM_N (BSNN_PARALLEL_CHUNK * 37 + 123)

typedef struct sum_job {
    const float *v;
    size_t n;
    float partial[64];
} sum_job;

/* A float sum per chunk (order-sensitive rounding), combined in chunk
 * order afterwards: the pattern every threaded reduction in bsnn uses. */
static void sum_chunk(void *ctx, size_t chunk)
{
    sum_job *j = ctx;
    size_t from = chunk * BSNN_PARALLEL_CHUNK, to = from + BSNN_PARALLEL_CHUNK;
    if (to > j->n) to = j->n;
    float s = 0.0f;
    for (size_t i = from; i < to; i++) s += j->v[i] * j->v[i];
    j->partial[chunk] = s;
}

static float chunked_sum(const float *v, size_t n)
{
    static sum_job job;
    job.v = v, job.n = n;
    size_t chunks = bsnn__chunks(n);
    bsnn__parallel(chunks, sum_chunk, &job);
    float s = 0.0f;
    for (size_t c = 0; c < chunks; c++) s += job.partial[c];
    return s;
}

static int same_bits_for_every_count(char *why, size_t cap)
{
    float *v = malloc(SUM_N * sizeof(float));
    for (size_t i = 0; i < SUM_N; i++) v[i] = (float)sin(0.001 * (double)i) * 3.0f;
    if (bsnn__chunks(SUM_N) != 38 || bsnn__chunks(0) != 0 || bsnn__chunks(1) != 1)
        FAIL("bsnn__chunks: %zu chunks for %zu floats", bsnn__chunks(SUM_N), (size_t)SUM_N);
    bsnn_set_num_threads(1);
    float serial = chunked_sum(v, SUM_N);
    for (int t = 2; t <= 4; t++) {
        bsnn_set_num_threads(t);
        for (int rep = 0; rep < 50; rep++) {
            float got = chunked_sum(v, SUM_N);
            if (memcmp(&got, &serial, sizeof got) != 0) {
                free(v);
                FAIL("%d threads: sum %a, serial %a", t, got, serial);
            }
        }
    }
    free(v);
    return 1;
}

/* ---- really concurrent, on the caller and the workers --------------------------- */

typedef struct meet_job {
    _Atomic int arrived;
    pthread_t who[2];
    int met[2];
    unsigned fp[2];
    int signals_blocked[2];
} meet_job;

static unsigned fp_control(void)
{
#if defined(__x86_64__)
    return _mm_getcsr() & ~0x3Fu;
#else
    return 0;
#endif
}

/* Two chunks that wait for each other: they can only both finish if two
 * threads run them at the same time (bounded wait: a loaded machine may
 * deschedule a worker for a while). */
static void meet_chunk(void *ctx, size_t chunk)
{
    meet_job *j = ctx;
    j->who[chunk] = pthread_self();
    j->fp[chunk] = fp_control();
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, NULL, &mask);
    j->signals_blocked[chunk] = sigismember(&mask, SIGINT) && sigismember(&mask, SIGTERM);
    atomic_fetch_add(&j->arrived, 1);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        clock_gettime(CLOCK_MONOTONIC, &t);
    while (atomic_load(&j->arrived) < 2 && t.tv_sec - t0.tv_sec < 10);
    j->met[chunk] = atomic_load(&j->arrived) == 2;
}

static int chunks_run_concurrently_with_the_callers_state(char *why, size_t cap)
{
    bsnn_set_num_threads(2);
#if defined(__x86_64__)
    unsigned saved = _mm_getcsr();
    _mm_setcsr(0x1F80u | 0x8040u | 0x2000u); /* FTZ+DAZ, round down */
#endif
    meet_job j = {0};
    bsnn__parallel(2, meet_chunk, &j);
    unsigned caller = fp_control();
#if defined(__x86_64__)
    _mm_setcsr(saved);
#endif
    if (!j.met[0] || !j.met[1]) FAIL("the two chunks never ran at the same time");
    if (pthread_equal(j.who[0], j.who[1])) FAIL("both chunks ran on one thread");
    for (int c = 0; c < 2; c++) {
        if (j.fp[c] != caller) FAIL("chunk %d ran with state %#x, the caller's is %#x", c, j.fp[c], caller);
        int on_worker = !pthread_equal(j.who[c], pthread_self());
        if (on_worker && !j.signals_blocked[c]) FAIL("a worker takes signals");
    }
    return 1;
}

/* ---- sizing: lazily, resized while idle, joined when the count drops ------------ */

static void nop_chunk(void *ctx, size_t chunk) { (void)ctx, (void)chunk; }

static int resizes_while_idle(char *why, size_t cap)
{
    static const int counts[] = {2, 4, 3, 1, 4, 4, 2};
    bsnn_set_num_threads(1);
    for (size_t i = 0; i < sizeof counts / sizeof *counts; i++) {
        int t = counts[i];
        bsnn_set_num_threads(t);
        if (bsnn_get_num_threads() != t) FAIL("get_num_threads %d after setting %d", bsnn_get_num_threads(), t);
        /* A changed count joins the old workers at once; new ones start at
         * the first parallel call. */
        if (bsnn__pool_workers() != 0 && !(i > 0 && counts[i - 1] == t))
            FAIL("%d workers alive after setting %d threads", bsnn__pool_workers(), t);
        bsnn__parallel(8, nop_chunk, NULL);
        if (bsnn__pool_workers() != t - 1) FAIL("%d threads: %d workers", t, bsnn__pool_workers());
        static count_job job;
        for (size_t c = 0; c < 100; c++) atomic_store(&job.hits[c], 0);
        bsnn__parallel(100, count_chunk, &job);
        for (size_t c = 0; c < 100; c++)
            if (atomic_load(&job.hits[c]) != 1) FAIL("%d threads after a resize: chunk %zu", t, c);
    }
    bsnn_set_num_threads(1);
    if (bsnn__pool_workers() != 0) FAIL("workers alive at 1 thread");
    bsnn__parallel(8, nop_chunk, NULL);
    if (bsnn__pool_workers() != 0) FAIL("a 1-thread call started workers");
    return 1;
}

/* When the system refuses threads (out of memory or of threads), the pool
 * runs with those it got, and every chunk still runs once; setting the
 * count again retries. */
static int falls_back_when_threads_are_refused(char *why, size_t cap)
{
    static const int allowed[] = {0, 1, 2};
    static count_job job;
    for (size_t i = 0; i < 3; i++) {
        bsnn_set_num_threads(1);
        bsnn__pool_fail_thread_creation(allowed[i]);
        bsnn_set_num_threads(4);
        for (size_t c = 0; c < 500; c++) atomic_store(&job.hits[c], 0);
        bsnn__parallel(500, count_chunk, &job);
        for (size_t c = 0; c < 500; c++)
            if (atomic_load(&job.hits[c]) != 1) FAIL("%d threads allowed: chunk %zu", allowed[i], c);
        if (bsnn__pool_workers() != allowed[i])
            FAIL("%d threads allowed, %d workers", allowed[i], bsnn__pool_workers());
        bsnn__parallel(500, count_chunk, &job); /* no retry per call */
        if (bsnn__pool_workers() != allowed[i]) FAIL("retried on a plain call");
    }
    bsnn__pool_fail_thread_creation(-1);
    bsnn_set_num_threads(4); /* the same count: retried, as it is short */
    bsnn__parallel(8, nop_chunk, NULL);
    if (bsnn__pool_workers() != 3) FAIL("after the failure: %d workers", bsnn__pool_workers());
    bsnn_set_num_threads(1);
    return 1;
}

/* ---- several callers, nesting ------------------------------------------------------ */

typedef struct caller {
    float result;
    const float *v;
    pthread_barrier_t *barrier;
} caller;

static void *caller_main(void *arg)
{
    caller *c = arg;
    pthread_barrier_wait(c->barrier);
    float first = 0.0f;
    for (int rep = 0; rep < 30; rep++) {
        /* each caller its own job: chunked_sum's static one is shared */
        sum_job job = {c->v, SUM_N, {0}};
        size_t chunks = bsnn__chunks(SUM_N);
        bsnn__parallel(chunks, sum_chunk, &job);
        float s = 0.0f;
        for (size_t k = 0; k < chunks; k++) s += job.partial[k];
        if (rep == 0) first = s;
        if (memcmp(&s, &first, sizeof s) != 0) first = NAN;
    }
    c->result = first;
    return NULL;
}

/* Two host threads at once: one gets the pool, the other runs its chunks
 * alone; both must finish with the serial bits. */
static int serves_two_callers_at_once(char *why, size_t cap)
{
    float *v = malloc(SUM_N * sizeof(float));
    for (size_t i = 0; i < SUM_N; i++) v[i] = (float)cos(0.002 * (double)i);
    bsnn_set_num_threads(1);
    float serial = chunked_sum(v, SUM_N);
    bsnn_set_num_threads(3);
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 2);
    caller c[2] = {{0.0f, v, &barrier}, {0.0f, v, &barrier}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, caller_main, &c[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&barrier);
    free(v);
    for (int i = 0; i < 2; i++)
        if (memcmp(&c[i].result, &serial, sizeof serial) != 0)
            FAIL("caller %d: %a, serial %a", i, c[i].result, serial);
    bsnn_set_num_threads(1);
    return 1;
}

typedef struct nest_job {
    count_job inner[4];
} nest_job;

static void outer_chunk(void *ctx, size_t chunk)
{
    nest_job *j = ctx;
    bsnn__parallel(50, count_chunk, &j->inner[chunk]); /* runs on this thread */
}

static int a_nested_call_runs_inline(char *why, size_t cap)
{
    static nest_job job;
    bsnn_set_num_threads(2);
    bsnn__parallel(4, outer_chunk, &job);
    for (int o = 0; o < 4; o++)
        for (size_t c = 0; c < 50; c++)
            if (atomic_load(&job.inner[o].hits[c]) != 1) FAIL("nested %d: chunk %zu", o, c);
    bsnn_set_num_threads(1);
    return 1;
}

/* ---- nothing allocated through bsnn ------------------------------------------------ */

static size_t allocations;
static void *counting_alloc(void *user, size_t size) { (void)user, allocations++; return malloc(size); }
static void counting_free(void *user, void *p, size_t size) { (void)user, (void)size; free(p); }

/* Workers and jobs live in static storage: no bsnn allocation per call or
 * for starting workers, so the allocator can still be replaced after
 * threads ran (no allocation stays alive). */
static int allocates_nothing(char *why, size_t cap)
{
    bsnn_set_num_threads(3);
    bsnn__parallel(8, nop_chunk, NULL);
    if (bsnn_set_allocator(counting_alloc, counting_free, NULL) != BSNN_OK)
        FAIL("set_allocator with workers alive: %s", bsnn_last_error());
    allocations = 0;
    bsnn_set_num_threads(2);
    for (int i = 0; i < 1000; i++) bsnn__parallel(5, nop_chunk, NULL);
    size_t got = allocations;
    bsnn_set_allocator(NULL, NULL, NULL);
    bsnn_set_num_threads(1);
    if (got != 0) FAIL("%zu allocations", got);
    return 1;
}

/* ---- products and training on 2 threads -------------------------------------------- */

/* A native, a sup and a small-kernel product split over the workers (BLIS
 * single-threaded inside them): the bits of 1 thread. */
static int split_products_match_one_thread(char *why, size_t cap)
{
    static const size_t shapes[][3] = {{256, 1024, 300}, {40, 1024, 300}, {8, 1024, 784}};
    for (size_t s = 0; s < 3; s++) {
        size_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *a = malloc(m * k * sizeof(float)), *b = malloc(k * n * sizeof(float));
        float *c1 = malloc(m * n * sizeof(float)), *c2 = malloc(m * n * sizeof(float));
        for (size_t i = 0; i < m * k; i++) a[i] = (float)sin((double)i);
        for (size_t i = 0; i < k * n; i++) b[i] = (float)cos((double)i);
        bsnn_set_num_threads(1);
        bsnn__sgemm(m, n, k, 1.0f, a, (ptrdiff_t)k, 1, b, (ptrdiff_t)n, 1, 0.0f, c1, (ptrdiff_t)n, 1);
        bsnn_set_num_threads(2);
        bsnn__sgemm(m, n, k, 1.0f, a, (ptrdiff_t)k, 1, b, (ptrdiff_t)n, 1, 0.0f, c2, (ptrdiff_t)n, 1);
        int same = memcmp(c1, c2, m * n * sizeof(float)) == 0;
        free(a), free(b), free(c1), free(c2);
        if (!same) FAIL("%zu x %zu x %zu: 2 threads differ from 1", m, n, k);
    }
    bsnn_set_num_threads(1);
    return 1;
}

#define TRAINERS 3

typedef struct trainer {
    int id;
    float params[64 * 96 + 96 + 96 * 4 + 4];
    int ok;
    pthread_barrier_t *barrier;
} trainer;

static void train_one(trainer *t)
{
    t->ok = 0;
    bsnn_model *m = bsnn_model_create(64);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_ADAM);
    float *x = malloc(256 * 64 * sizeof(float)), *y = malloc(256 * 4 * sizeof(float));
    for (size_t i = 0; i < 256 * 64; i++) x[i] = (float)sin(0.1 * (double)i + t->id);
    for (size_t i = 0; i < 256 * 4; i++) y[i] = (float)cos(0.3 * (double)i);
    bsnn_dataset *ds = bsnn_dataset_create(x, y, 256, 64, 4);
    bsnn_scheduler *s = bsnn_scheduler_create(256);
    free(x), free(y);
    if (m && opt && ds && s && !bsnn_model_add(m, bsnn_layer_dense(96)) &&
        !bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH)) &&
        !bsnn_model_add(m, bsnn_layer_dense(4)) && !bsnn_model_set_loss(m, BSNN_LOSS_MSE) &&
        !bsnn_model_init_params(m, 7 + (uint64_t)t->id) &&
        !bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 128) &&
        !bsnn_model_train(NULL, m, opt, s, ds, 6, NULL, NULL) &&
        !bsnn_model_get_params(t->params, sizeof t->params / sizeof(float), m))
        t->ok = 1;
    bsnn_scheduler_free(s);
    bsnn_dataset_free(ds);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
}

static void *trainer_main(void *arg)
{
    trainer *t = arg;
    pthread_barrier_wait(t->barrier);
    train_one(t);
    return NULL;
}

/* Host threads training their own models while bsnn runs on 2 threads:
 * they share one pool; each must get its lone 1-thread result. */
static int concurrent_training_on_two_threads(char *why, size_t cap)
{
    static trainer alone[TRAINERS], together[TRAINERS];
    bsnn_set_num_threads(1);
    for (int i = 0; i < TRAINERS; i++) {
        alone[i].id = together[i].id = i;
        train_one(&alone[i]);
        if (!alone[i].ok) FAIL("trainer %d alone: %s", i, bsnn_last_error());
    }
    bsnn_set_num_threads(2);
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, TRAINERS);
    pthread_t th[TRAINERS];
    for (int i = 0; i < TRAINERS; i++) {
        together[i].barrier = &barrier;
        pthread_create(&th[i], NULL, trainer_main, &together[i]);
    }
    for (int i = 0; i < TRAINERS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&barrier);
    bsnn_set_num_threads(1);
    for (int i = 0; i < TRAINERS; i++) {
        if (!together[i].ok) FAIL("trainer %d failed", i);
        if (memcmp(alone[i].params, together[i].params, sizeof alone[i].params) != 0)
            FAIL("trainer %d: 2 threads shared with others differ from 1 thread alone", i);
    }
    return 1;
}

/* ---- the runner ------------------------------------------------------------------- */

typedef int (*pool_test)(char *why, size_t cap);

#define POOL_TESTS(X)                                                      \
    X(every_chunk_once)                                                    \
    X(same_bits_for_every_count)                                           \
    X(chunks_run_concurrently_with_the_callers_state)                      \
    X(resizes_while_idle)                                                  \
    X(falls_back_when_threads_are_refused)                                 \
    X(serves_two_callers_at_once)                                          \
    X(a_nested_call_runs_inline)                                           \
    X(allocates_nothing)                                                   \
    X(split_products_match_one_thread)                                     \
    X(concurrent_training_on_two_threads)

#if defined(__SANITIZE_THREAD__)
int main(void)
{
    int passed = 0, total = 0;
#define RUN(name)                                                          \
    {                                                                      \
        char why[256] = "";                                                \
        int ok = name(why, sizeof why);                                    \
        total++, passed += ok;                                             \
        if (!ok) fprintf(stderr, "pool: %s FAILED: %s\n", #name, why);     \
    }
    POOL_TESTS(RUN)
    printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: 0\n", total,
           passed, total - passed);
    return passed == total ? 0 : 1;
}
#else
#define CRITERION(name)                                                    \
    Test(pool, name)                                                       \
    {                                                                      \
        char why[256] = "";                                                \
        cr_assert(name(why, sizeof why), "%s", why);                       \
    }
POOL_TESTS(CRITERION)
#endif
