/*
 * pool.c - bsnn's own worker threads and the one way work is split over
 * them, bsnn__parallel. BLIS always runs single-threaded inside it (its
 * OpenMP threads would be the host's OpenMP threads, whose floating-point
 * state bsnn may not change, and which ThreadSanitizer cannot follow).
 *
 * bsnn_set_num_threads(n) sizes the pool at n - 1 workers plus the caller.
 * Workers start at the first parallel call that needs them, are joined
 * when the count changes and at exit, and cost nothing per call beyond
 * waking: no allocation, the job lives in static storage. A call from a
 * second host thread while the pool is busy (distinct objects on distinct
 * threads) runs its chunks on that thread alone: results never depend on
 * which thread runs a chunk, so the fallback changes only the speed.
 *
 * Hand-off, without a lock in the common case: the job is published by an
 * even generation number. To replace it, the caller first makes the
 * generation odd and waits until no worker is inside the old job (a
 * worker announces itself in `inside`, then re-reads the generation and
 * backs off if it moved), so a late worker never reads a half-written job.
 * The caller takes chunks too, and waits only for chunks that have been
 * taken, never for a worker that is slow to wake. Idle workers spin for a
 * short time (steps issue passes back to back), then sleep on a condition
 * variable.
 */
#include "common/common.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#define MAX_WORKERS 255
/* How long idle workers and a waiting caller spin before they sleep. */
#define SPIN_SECONDS 100e-6

static _Atomic int num_threads = 1;

static struct {
    pthread_mutex_t lock; /* guards sleeping and waking, and the worker set */
    pthread_cond_t wake;  /* idle workers wait here for a new generation    */
    pthread_cond_t done;  /* the caller waits here for the last chunk       */
    _Atomic unsigned long generation; /* even: job stable; odd: being replaced */
    _Atomic int inside;   /* workers reading or running the current job     */
    _Atomic int sleepers; /* workers waiting on `wake`                      */
    _Atomic int caller_waiting;
    _Atomic int busy;     /* 1 while one caller owns the pool               */
    _Atomic int stop;     /* workers return                                 */
    /* the job */
    bsnn__task_fn fn;
    void *ctx;
    size_t n_chunks;
    unsigned fp;
    _Atomic size_t next, finished;
    /* the workers */
    int n_workers;   /* running */
    int target;      /* the count they were started for (n - 1); -1: none */
    pthread_t threads[MAX_WORKERS];
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER,
          .wake = PTHREAD_COND_INITIALIZER,
          .done = PTHREAD_COND_INITIALIZER,
          .target = -1};

/* Tests only: thread creation fails once this many more have succeeded
 * (-1: never), as when the system is out of threads or memory. */
static _Atomic int creation_budget = -1;

int bsnn__num_threads(void) { return atomic_load_explicit(&num_threads, memory_order_relaxed); }

int bsnn_get_num_threads(void) { return bsnn__num_threads(); }

static void pause_briefly(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Take every chunk left in the current job; count the ones completed. */
static void run_chunks(void)
{
    size_t n = pool.n_chunks;
    for (;;) {
        size_t c = atomic_fetch_add_explicit(&pool.next, 1, memory_order_relaxed);
        if (c >= n) return;
        pool.fn(pool.ctx, c);
        size_t done = atomic_fetch_add(&pool.finished, 1) + 1;
        if (done == n && atomic_load(&pool.caller_waiting)) {
            pthread_mutex_lock(&pool.lock);
            pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.lock);
        }
    }
}

/* Wait until the generation differs from seen and is even; returns it, or
 * 0 when the pool stops. Spins first, then sleeps. */
static unsigned long next_generation(unsigned long seen)
{
    double until = bsnn__now() + SPIN_SECONDS;
    for (unsigned spins = 0;; spins++) {
        if (atomic_load(&pool.stop)) return 0;
        unsigned long g = atomic_load_explicit(&pool.generation, memory_order_acquire);
        if (g != seen && g % 2 == 0) return g;
        if (spins % 64 == 63 && bsnn__now() > until) break;
        pause_briefly();
    }
    pthread_mutex_lock(&pool.lock);
    atomic_fetch_add(&pool.sleepers, 1);
    unsigned long g = atomic_load(&pool.generation);
    while (!atomic_load(&pool.stop) && (g == seen || g % 2 == 1)) {
        pthread_cond_wait(&pool.wake, &pool.lock);
        g = atomic_load(&pool.generation);
    }
    atomic_fetch_sub(&pool.sleepers, 1);
    pthread_mutex_unlock(&pool.lock);
    return atomic_load(&pool.stop) ? 0 : g;
}

static void *worker_main(void *arg)
{
    unsigned long seen = (unsigned long)(uintptr_t)arg;
    for (;;) {
        unsigned long g = next_generation(seen);
        if (g == 0) return NULL;
        seen = g;
        atomic_fetch_add(&pool.inside, 1);
        if (atomic_load(&pool.generation) == g) {
            bsnn__fp_set(pool.fp);
            run_chunks();
        }
        atomic_fetch_sub_explicit(&pool.inside, 1, memory_order_release);
    }
}

/* Stop and join every worker; the caller owns the pool (busy). */
static void join_workers(void)
{
    if (pool.n_workers == 0) return;
    pthread_mutex_lock(&pool.lock);
    atomic_store(&pool.stop, 1);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    for (int i = 0; i < pool.n_workers; i++) pthread_join(pool.threads[i], NULL);
    pool.n_workers = 0;
    atomic_store(&pool.stop, 0);
}

static int create_thread(pthread_t *t, void *arg)
{
    int budget = atomic_load(&creation_budget);
    if (budget == 0) return EAGAIN;
    if (budget > 0) atomic_store(&creation_budget, budget - 1);
    /* Workers take no signals: a host's handler runs in a host thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(t, NULL, worker_main, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return err;
}

/* Have want workers running, started for that count; when the system
 * refuses a thread, run with the ones started (results are the same, only
 * slower) and do not retry until the count changes. */
static void size_workers(int want)
{
    if (pool.target == want) return;
    join_workers();
    pool.target = want;
    unsigned long g = atomic_load(&pool.generation);
    while (pool.n_workers < want &&
           create_thread(&pool.threads[pool.n_workers], (void *)(uintptr_t)g) == 0)
        pool.n_workers++;
}

static int acquire(void)
{
    int free_ = 0;
    return atomic_compare_exchange_strong(&pool.busy, &free_, 1);
}

static void release(void) { atomic_store_explicit(&pool.busy, 0, memory_order_release); }

/* Replace the job (no worker reads it meanwhile) and publish it. */
static void post(size_t n_chunks, bsnn__task_fn fn, void *ctx)
{
    unsigned long g = atomic_load(&pool.generation);
    atomic_store(&pool.generation, g + 1);
    /* seq_cst on both sides (this load after the store above; the worker's
     * increment before its re-read): one of the two sees the other. */
    while (atomic_load(&pool.inside) != 0) pause_briefly();
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n_chunks = n_chunks;
    pool.fp = bsnn__fp_current();
    atomic_store_explicit(&pool.next, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.finished, 0, memory_order_relaxed);
    /* 0 means "stopped" to the workers: skip it when the counter wraps. */
    atomic_store(&pool.generation, g + 2 == 0 ? 2 : g + 2);
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
    }
}

static void wait_finished(size_t n_chunks)
{
    double until = bsnn__now() + SPIN_SECONDS;
    for (unsigned spins = 0;; spins++) {
        if (atomic_load_explicit(&pool.finished, memory_order_acquire) == n_chunks) return;
        if (spins % 64 == 63 && bsnn__now() > until) break;
        pause_briefly();
    }
    pthread_mutex_lock(&pool.lock);
    atomic_store(&pool.caller_waiting, 1);
    while (atomic_load(&pool.finished) != n_chunks)
        pthread_cond_wait(&pool.done, &pool.lock);
    atomic_store(&pool.caller_waiting, 0);
    pthread_mutex_unlock(&pool.lock);
}

void bsnn__parallel(size_t n_chunks, bsnn__task_fn fn, void *ctx)
{
    int threads = bsnn__num_threads();
    if (n_chunks > 1 && threads > 1 && acquire()) {
        size_workers(threads - 1);
        if (pool.n_workers > 0) {
            post(n_chunks, fn, ctx);
            run_chunks();
            wait_finished(n_chunks);
            release();
            return;
        }
        release();
    }
    for (size_t c = 0; c < n_chunks; c++) fn(ctx, c);
}

bsnn_status bsnn_set_num_threads(int n)
{
    BSNN_ENTER();
    BSNN_FAIL_IF(n < 1 || n > MAX_WORKERS + 1, BSNN_E_ARG, "n = %d is not in 1..%d", n,
                 MAX_WORKERS + 1);
    atomic_store(&num_threads, n);
    /* Join the workers now if the count changed, so none outlives its
     * setting; a computation still running on another thread (a misuse:
     * the setting is not thread-safe) is waited for. */
    while (!acquire()) pause_briefly();
    if (pool.target != n - 1 || pool.n_workers < n - 1) {
        join_workers();
        pool.target = -1;
    }
    release();
    return BSNN_OK;
}

int bsnn__pool_workers(void) { return pool.n_workers; }

void bsnn__pool_fail_thread_creation(int after) { atomic_store(&creation_budget, after); }

/* At exit (and when a shared libbsnn is unloaded): join idle workers. A
 * pool still busy on another thread is left to the exiting process. */
__attribute__((destructor)) static void pool_shutdown(void)
{
    if (!acquire()) return;
    join_workers();
    pool.target = -1;
    release();
}

/* A forked child has the calling thread only: forget the parent's workers
 * (and an owner that does not exist there). */
static void pool_after_fork_child(void)
{
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pthread_cond_init(&pool.done, NULL);
    pool.n_workers = 0;
    pool.target = -1;
    atomic_store(&pool.inside, 0);
    atomic_store(&pool.sleepers, 0);
    atomic_store(&pool.caller_waiting, 0);
    atomic_store(&pool.stop, 0);
    atomic_store(&pool.busy, 0);
    /* a fork in the middle of post() leaves the generation odd */
    unsigned long g = atomic_load(&pool.generation);
    atomic_store(&pool.generation, g % 2 ? g + 1 : g);
}

__attribute__((constructor)) static void pool_register_fork(void)
{
    pthread_atfork(NULL, NULL, pool_after_fork_child);
}
