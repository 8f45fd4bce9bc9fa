/*
 * test_fpstate.c - the floating-point state bsnn computes with (x86-64's
 * MXCSR; elsewhere every test here is skipped with a printed reason):
 *  - every compute function restores the calling thread's register exactly
 *    (sticky flags included), also when a callback changes it, and runs
 *    callbacks and the gradient hook with the host's state, not bsnn's;
 *  - results do not depend on the host's rounding mode, and a host with an
 *    exception unmasked gets a status, not a signal;
 *  - subnormals: flushed by default (a forward whose every product is
 *    subnormal gives exactly 0, training leaves no subnormal behind), kept
 *    with the setting off (the product in double, subnormal results), and
 *    2 threads give the bits of 1 either way;
 *  - the host's own OpenMP threads keep their registers.
 * Built with -fopenmp (Makefile).
 */
#include "testutil.h"

#include <float.h>
#include <stdio.h>

#if defined(__x86_64__)
#include <xmmintrin.h>
#define HAVE_MXCSR 1
static unsigned mxcsr(void) { return _mm_getcsr(); }
static void set_mxcsr(unsigned v) { _mm_setcsr(v); }
#else
#define HAVE_MXCSR 0
static unsigned mxcsr(void) { return 0; }
static void set_mxcsr(unsigned v) { (void)v; }
#endif
#ifdef _OPENMP
#include <omp.h>
#include <pthread.h>
#endif

#define DEFAULT_STATE 0x1F80u
/* A host state bsnn never uses: round toward zero, the inexact flag set. */
#define HOST_STATE (0x1F80u | 0x6000u | 0x0020u)
/* What a callback switches to: round up, no flags. */
#define CALLBACK_STATE (0x1F80u | 0x4000u)
#define FTZ_DAZ 0x8040u

static int skip(const char *test)
{
    if (HAVE_MXCSR) return 0;
    fprintf(stderr, "%s: skipped: no MXCSR on this CPU (bsnn leaves the state alone here)\n", test);
    return 1;
}

static int is_subnormal(float v) { return v != 0.0f && fabsf(v) < 0x1p-126f; }

/* ---- the host's register around every compute function ------------------------ */

typedef struct cb_log {
    int calls, bad;
    unsigned seen, switch_to;
} cb_log;

/* Records the state the callback runs in, then leaves another one. */
static int recording_callback(void *user, bsnn_event ev, size_t epoch, size_t step, size_t batch,
                              double loss)
{
    (void)ev, (void)epoch, (void)step, (void)batch, (void)loss;
    cb_log *log = user;
    unsigned now = mxcsr();
    if (log->calls++ == 0) log->seen = now;
    if (now != log->seen) log->bad++;
    if (log->switch_to) set_mxcsr(log->switch_to);
    return 0;
}

static bsnn_dataset *data(size_t rows, size_t n_in, size_t n_out, float scale)
{
    float *x = malloc(rows * n_in * sizeof(float)), *y = malloc(rows * n_out * sizeof(float));
    for (size_t i = 0; i < rows * n_in; i++) x[i] = scale * (float)sin(0.37 * (double)i + 1.0);
    for (size_t i = 0; i < rows * n_out; i++) y[i] = (float)cos(0.11 * (double)i);
    bsnn_dataset *ds = bsnn_dataset_create(x, y, rows, n_in, n_out);
    cr_assert_not_null(ds, "%s", bsnn_last_error());
    free(x), free(y);
    return ds;
}

/* Call every compute function with the host's register at state; after
 * each, the register must hold state exactly. */
static void every_call_restores(unsigned state)
{
    bsnn_model *m = tu_mlp(6, 16, BSNN_ACT_TANH, 2, BSNN_ACT_LINEAR, 3);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_ADAM);
    bsnn_dataset *ds = data(64, 6, 2, 1.0f);
    bsnn_scheduler *s = bsnn_scheduler_create(64);
    bsnn_workspace *ws = bsnn_workspace_create(m);
    bsnn_search *se = bsnn_search_create();
    cr_assert(opt && s && ws && se);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 8), BSNN_OK);
    float x[6 * 4], y[2 * 4], out[2 * 4], grads[16 * 6 + 16 + 2 * 16 + 2];
    for (int i = 0; i < 24; i++) x[i] = (float)i / 24.0f;
    for (int i = 0; i < 8; i++) y[i] = 0.5f;
    bsnn_tensor *tx = tu_wrap(x, 4, 6), *ty = tu_wrap(y, 4, 2), *to = tu_wrap(out, 4, 2);
    double loss, acc;
    size_t steps, best, sizes[2] = {4, 16};
    cb_log log = {0};
    unsigned after[11];
    bsnn_status st[11];
    set_mxcsr(state);
    st[0] = bsnn_model_train_step(&loss, m, opt, tx, ty), after[0] = mxcsr();
    set_mxcsr(state);
    st[1] = bsnn_model_train(&steps, m, opt, s, ds, 1, recording_callback, &log), after[1] = mxcsr();
    set_mxcsr(state);
    st[2] = bsnn_model_train_ex(&steps, m, opt, s, ds, ds, NULL, 1, NULL, NULL), after[2] = mxcsr();
    set_mxcsr(state);
    st[3] = bsnn_model_forward(to, m, tx), after[3] = mxcsr();
    set_mxcsr(state);
    st[4] = bsnn_model_forward_ws(to, m, ws, tx), after[4] = mxcsr();
    set_mxcsr(state);
    st[5] = bsnn_model_evaluate(&loss, &acc, m, ds, 16), after[5] = mxcsr();
    set_mxcsr(state);
    st[6] = bsnn_model_evaluate_ws(&loss, &acc, m, ws, ds, 16), after[6] = mxcsr();
    set_mxcsr(state);
    st[7] = bsnn_search_sweep(&best, se, m, opt, ds, ds, NULL, sizes, 2), after[7] = mxcsr();
    set_mxcsr(state);
    st[8] = bsnn_search_run(&best, se, m, opt, ds, ds, NULL), after[8] = mxcsr();
    set_mxcsr(state);
    st[9] = bsnn_model_get_grads(grads, bsnn_model_param_count(m), m), after[9] = mxcsr();
    set_mxcsr(state);
    st[10] = bsnn_model_train_step(&loss, NULL, opt, tx, ty), after[10] = mxcsr(); /* fails early */
    set_mxcsr(DEFAULT_STATE);
    static const char *const names[] = {"train_step", "train", "train_ex", "forward",
                                        "forward_ws", "evaluate", "evaluate_ws", "search_sweep",
                                        "search_run", "get_grads", "train_step(NULL)"};
    for (int i = 0; i < 11; i++) {
        cr_assert_eq(st[i], i == 10 ? BSNN_E_NULL : BSNN_OK, "%s: %s", names[i], bsnn_last_error());
        cr_assert_eq(after[i], state, "%s: MXCSR %#x after the call, %#x before", names[i],
                     after[i], state);
    }
    cr_assert_gt(log.calls, 0);
    cr_assert_eq(log.seen, state, "the callback ran with %#x, the host's is %#x", log.seen, state);
    cr_assert_eq(log.bad, 0);
    bsnn_tensor_free(tx), bsnn_tensor_free(ty), bsnn_tensor_free(to);
    bsnn_search_free(se);
    bsnn_workspace_free(ws);
    bsnn_scheduler_free(s);
    bsnn_dataset_free(ds);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
}

Test(fpstate, every_compute_function_restores_the_callers_exact_register)
{
    if (skip("every_compute_function_restores")) return;
    every_call_restores(HOST_STATE);
    every_call_restores(DEFAULT_STATE);
    every_call_restores(DEFAULT_STATE | FTZ_DAZ);
    cr_assert_eq(bsnn_set_flush_subnormals(0), BSNN_OK);
    every_call_restores(HOST_STATE);
    cr_assert_eq(bsnn_set_num_threads(2), BSNN_OK);
    cr_assert_eq(bsnn_set_flush_subnormals(1), BSNN_OK);
    every_call_restores(HOST_STATE);
}

/* Params after 20 updates with a callback that leaves its own state (or
 * not), the host's register at host. */
static void train_with(float *out, size_t count, unsigned host, unsigned callback_state,
                       unsigned *after)
{
    bsnn_model *m = tu_mlp(8, 32, BSNN_ACT_SIGMOID, 3, BSNN_ACT_LINEAR, 5);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_ADAM);
    bsnn_dataset *ds = data(80, 8, 3, 2.0f);
    bsnn_scheduler *s = bsnn_scheduler_create(80);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 16), BSNN_OK);
    cb_log log = {.switch_to = callback_state};
    set_mxcsr(host);
    bsnn_status st = bsnn_model_train(NULL, m, opt, s, ds, 4, recording_callback, &log);
    *after = mxcsr();
    set_mxcsr(DEFAULT_STATE);
    cr_assert_eq(st, BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(log.calls, 24); /* 20 steps, 4 epochs */
    cr_assert_eq(log.seen, host, "first callback ran with %#x", log.seen);
    cr_assert_eq(bsnn_model_param_count(m), count);
    bsnn_model_get_params(out, count, m);
    bsnn_scheduler_free(s);
    bsnn_dataset_free(ds);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
}

/* The library's own state is fixed: a host rounding toward zero, or a
 * callback that switches rounding mode between steps, changes no bit of
 * the result, and the host's register is back as it was afterwards. */
Test(fpstate, results_ignore_the_hosts_and_the_callbacks_rounding_mode)
{
    if (skip("results_ignore_the_hosts_rounding")) return;
    size_t count = 8 * 32 + 32 + 32 * 3 + 3;
    float *ref = malloc(count * sizeof(float)), *got = malloc(count * sizeof(float));
    unsigned after;
    train_with(ref, count, DEFAULT_STATE, 0, &after);
    cr_assert_eq(after, DEFAULT_STATE);
    train_with(got, count, HOST_STATE, 0, &after);
    cr_assert_eq(after, HOST_STATE);
    cr_assert(memcmp(ref, got, count * sizeof(float)) == 0, "a host rounding toward zero changed the result");
    train_with(got, count, HOST_STATE, CALLBACK_STATE, &after);
    cr_assert_eq(after, HOST_STATE, "MXCSR %#x after a callback left %#x", after, CALLBACK_STATE);
    cr_assert(memcmp(ref, got, count * sizeof(float)) == 0, "a callback's rounding mode leaked into bsnn");
    free(ref), free(got);
}

/* The gradient hook is host code too: it runs with the host's register as
 * it was at entry, and a state it leaves behind changes neither the update
 * nor the register the host finds on return. */
static int recording_hook(void *user, float *grads, size_t count, size_t *rows, double *loss_sum)
{
    (void)grads, (void)count, (void)rows, (void)loss_sum;
    return recording_callback(user, BSNN_EVENT_STEP, 0, 0, 0, 0.0);
}

Test(fpstate, the_gradient_hook_runs_with_the_hosts_register)
{
    if (skip("the_gradient_hook")) return;
    float p[2][8 * 32 + 32 + 32 * 3 + 3];
    for (int leave = 0; leave < 2; leave++) {
        bsnn_model *m = tu_mlp(8, 32, BSNN_ACT_SIGMOID, 3, BSNN_ACT_LINEAR, 5);
        bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_ADAM);
        cb_log log = {.switch_to = leave ? CALLBACK_STATE : 0};
        cr_assert_eq(bsnn_model_set_grad_hook(m, recording_hook, &log), BSNN_OK);
        float x[16 * 8], y[16 * 3];
        for (int i = 0; i < 16 * 8; i++) x[i] = (float)sin(i);
        for (int i = 0; i < 16 * 3; i++) y[i] = (float)cos(i);
        bsnn_tensor *tx = tu_wrap(x, 16, 8), *ty = tu_wrap(y, 16, 3);
        unsigned after[3];
        bsnn_status st[3];
        for (int k = 0; k < 3; k++) {
            set_mxcsr(HOST_STATE);
            st[k] = bsnn_model_train_step(NULL, m, opt, tx, ty);
            after[k] = mxcsr();
        }
        set_mxcsr(DEFAULT_STATE);
        for (int k = 0; k < 3; k++) {
            cr_assert_eq(st[k], BSNN_OK, "%s", bsnn_last_error());
            cr_assert_eq(after[k], HOST_STATE, "step %d: %#x after the call", k, after[k]);
        }
        cr_assert_eq(log.calls, 3);
        cr_assert_eq(log.seen, HOST_STATE, "the hook ran with %#x", log.seen);
        cr_assert_eq(log.bad, 0);
        bsnn_model_get_params(p[leave], sizeof p[0] / sizeof(float), m);
        bsnn_tensor_free(tx), bsnn_tensor_free(ty);
        bsnn_optimizer_free(opt);
        bsnn_model_free(m);
    }
    cr_assert(memcmp(p[0], p[1], sizeof p[0]) == 0, "the hook's rounding mode leaked into the update");
}

/* A host debugging with the invalid-operation exception unmasked: a
 * diverging step (inf - inf inside bsnn) is a status, not SIGFPE. */
Test(fpstate, a_host_with_an_unmasked_exception_gets_a_status_not_a_signal)
{
    if (skip("unmasked_exception")) return;
    bsnn_model *m = tu_mlp(2, 4, BSNN_ACT_LINEAR, 1, BSNN_ACT_LINEAR, 1);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    float x[2] = {3e38f, -3e38f}, y[1] = {0.0f};
    bsnn_tensor *tx = tu_wrap(x, 1, 2), *ty = tu_wrap(y, 1, 1);
    unsigned host = DEFAULT_STATE & ~0x0080u; /* invalid operation unmasked */
    set_mxcsr(host);
    bsnn_status st = bsnn_model_train_step(NULL, m, opt, tx, ty);
    unsigned after = mxcsr();
    set_mxcsr(DEFAULT_STATE);
    cr_assert_eq(st, BSNN_E_DIVERGED, "%s", bsnn_last_error());
    cr_assert_eq(after, host);
    bsnn_tensor_free(tx), bsnn_tensor_free(ty);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
}

/* ---- subnormals ---------------------------------------------------------------- */

/* A dense layer in -> out, bias 0, its weights and inputs powers of two
 * times [0.5, 1], so that every product x w is 2^-130 .. 2^-128: a
 * subnormal. rows x in inputs, forwarded with t threads. */
static void forward_tiny(float *out, size_t rows, size_t in, size_t out_w, int threads)
{
    bsnn_model *m = bsnn_model_create(in);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(out_w)), BSNN_OK);
    size_t np = bsnn_model_param_count(m);
    float *p = malloc(np * sizeof(float)), *x = malloc(rows * in * sizeof(float));
    for (size_t i = 0; i < in * out_w; i++) p[i] = 0x1p-60f * (0.5f + (float)(i % 7) / 14.0f);
    for (size_t i = in * out_w; i < np; i++) p[i] = 0.0f;
    for (size_t i = 0; i < rows * in; i++) x[i] = 0x1p-70f * (0.5f + (float)(i % 5) / 10.0f);
    cr_assert_eq(bsnn_model_set_params(m, p, np), BSNN_OK);
    cr_assert_eq(bsnn_set_num_threads(threads), BSNN_OK);
    bsnn_tensor *tx = tu_wrap(x, rows, in), *to = tu_wrap(out, rows, out_w);
    cr_assert_eq(bsnn_model_forward(to, m, tx), BSNN_OK, "%s", bsnn_last_error());
    bsnn_tensor_free(tx), bsnn_tensor_free(to);
    free(p), free(x);
    bsnn_model_free(m);
}

static double tiny_reference(size_t r, size_t j, size_t in, size_t out_w)
{
    double s = 0.0;
    for (size_t i = 0; i < in; i++)
        s += (double)(0x1p-70f * (0.5f + (float)((r * in + i) % 5) / 10.0f)) *
             (double)(0x1p-60f * (0.5f + (float)((i * out_w + j) % 7) / 14.0f));
    return s;
}

static void tiny_forward_on(bsnn_gemm_kernel kernel, size_t rows, size_t in, size_t out_w)
{
    cr_assert_eq(bsnn_set_gemm_kernel(kernel), BSNN_OK);
    size_t n = rows * out_w;
    float *one = malloc(n * sizeof(float)), *two = malloc(n * sizeof(float));
    /* Flushing (the default): each product's result is subnormal, flushed
     * to 0 at once, so every output is exactly 0. */
    cr_assert_eq(bsnn_get_flush_subnormals(), 1);
    forward_tiny(one, rows, in, out_w, 1);
    forward_tiny(two, rows, in, out_w, 2);
    for (size_t i = 0; i < n; i++) cr_assert_eq(one[i], 0.0f, "output %zu = %a with flushing", i, one[i]);
    cr_assert(memcmp(one, two, n * sizeof(float)) == 0);
    /* IEEE: the sums, in double, to a few units of the subnormal spacing;
     * with few inputs they are subnormal themselves. */
    cr_assert_eq(bsnn_set_flush_subnormals(0), BSNN_OK);
    forward_tiny(one, rows, in, out_w, 1);
    forward_tiny(two, rows, in, out_w, 2);
    cr_assert(memcmp(one, two, n * sizeof(float)) == 0, "2 threads differ from 1 without flushing");
    size_t subnormal = 0;
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < out_w; j++) {
            double want = tiny_reference(r, j, in, out_w), got = one[r * out_w + j];
            /* k accumulated roundings of a sum of positive terms, plus
             * the subnormal spacing once per term */
            cr_assert(fabs(got - want) <= (double)(in + 4) * 0x1p-23 * want + (double)in * 0x1p-149,
                      "output [%zu][%zu] = %a, the double product %a", r, j, got, want);
            subnormal += is_subnormal(one[r * out_w + j]);
        }
    if (in <= 4) cr_assert_eq(subnormal, n, "only %zu of %zu outputs are subnormal", subnormal, n);
    cr_assert_eq(bsnn_set_flush_subnormals(1), BSNN_OK);
    free(one), free(two);
}

Test(fpstate, subnormal_products_flush_to_zero_by_default_and_not_when_off)
{
    if (skip("subnormal_products")) return;
    static const size_t shapes[][3] = {{3, 4, 5}, {256, 4, 1024}, {256, 300, 1024}, {64, 256, 10}};
    bsnn_gemm_kernel sets[2] = {BSNN_GEMM_PORTABLE, BSNN_GEMM_AVX512};
    int nsets = bsnn_set_gemm_kernel(BSNN_GEMM_AVX512) == BSNN_OK ? 2 : 1;
    if (nsets == 1) fprintf(stderr, "subnormal_products: AVX-512 part skipped: %s\n", bsnn_last_error());
    for (int s = 0; s < nsets; s++)
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
            tiny_forward_on(sets[s], shapes[i][0], shapes[i][1], shapes[i][2]);
}

/* Training where the weight gradients reach the subnormal range (inputs
 * and targets near 2^-64, so x^T dy is near 2^-128): with flushing no arithmetic result is
 * subnormal, so none is left in the parameters or gradients; without it
 * some are. Either way 2 threads give the bits of 1 (the big products are
 * split over the workers, which must flush exactly when the caller does). */
static void train_tiny(float *params, float *grads, size_t count, int threads)
{
    cr_assert_eq(bsnn_set_num_threads(threads), BSNN_OK);
    bsnn_model *m = tu_mlp(256, 512, BSNN_ACT_RELU, 16, BSNN_ACT_LINEAR, 21);
    cr_assert_eq(bsnn_model_param_count(m), count);
    /* plain SGD keeps the weights at their scale (Adam's first steps move
     * them by lr whatever the gradient), batch 64: the general step */
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    float *x = malloc(64 * 256 * sizeof(float)), *y = malloc(64 * 16 * sizeof(float));
    for (size_t i = 0; i < 64 * 256; i++) x[i] = 0x1p-64f * (float)sin(0.3 * (double)i);
    for (size_t i = 0; i < 64 * 16; i++) y[i] = 0x1p-64f * (float)cos(0.7 * (double)i);
    bsnn_tensor *tx = tu_wrap(x, 64, 256), *ty = tu_wrap(y, 64, 16);
    for (int step = 0; step < 3; step++)
        cr_assert_eq(bsnn_model_train_step(NULL, m, opt, tx, ty), BSNN_OK, "%s", bsnn_last_error());
    bsnn_model_get_params(params, count, m);
    bsnn_model_get_grads(grads, count, m);
    bsnn_tensor_free(tx), bsnn_tensor_free(ty);
    free(x), free(y);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
}

static size_t count_subnormal(const float *v, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += is_subnormal(v[i]);
    return c;
}

Test(fpstate, training_on_subnormal_data_is_thread_count_independent)
{
    if (skip("training_on_subnormal_data")) return;
    size_t count = 256 * 512 + 512 + 512 * 16 + 16;
    float *p[2], *g[2], *p2 = malloc(count * sizeof(float)), *g2 = malloc(count * sizeof(float));
    for (int flush = 1; flush >= 0; flush--) {
        p[flush] = malloc(count * sizeof(float)), g[flush] = malloc(count * sizeof(float));
        cr_assert_eq(bsnn_set_flush_subnormals(flush), BSNN_OK);
        train_tiny(p[flush], g[flush], count, 1);
        size_t sub = count_subnormal(p[flush], count) + count_subnormal(g[flush], count);
        fprintf(stderr, "flush %d: %zu subnormal gradients and parameters\n", flush, sub);
        if (flush)
            cr_assert_eq(sub, 0, "%zu subnormal values with flushing on", sub);
        else
            cr_assert_gt(sub, 0, "no subnormal value without flushing: the data does not reach them");
    }
    /* The same workers through both settings (started while flushing):
     * each job must carry the caller's state, not the one they began with. */
    for (int flush = 1; flush >= 0; flush--) {
        cr_assert_eq(bsnn_set_flush_subnormals(flush), BSNN_OK);
        train_tiny(p2, g2, count, 2);
        cr_assert(memcmp(p[flush], p2, count * sizeof(float)) == 0, "flush %d: parameters differ", flush);
        cr_assert(memcmp(g[flush], g2, count * sizeof(float)) == 0, "flush %d: gradients differ", flush);
        free(p[flush]), free(g[flush]);
    }
    free(p2), free(g2);
}

/* ---- the host's own threads and the setting ------------------------------------- */

#ifdef _OPENMP
#define OMP_THREADS 2
/* Each OpenMP thread sets its own register (a different rounding mode per
 * thread), bsnn trains on 2 threads, and a second parallel region finds
 * every thread's register as it was: bsnn never computes on (or changes)
 * the host's OpenMP threads. */
Test(fpstate, the_hosts_openmp_threads_keep_their_registers)
{
    if (skip("the_hosts_openmp_threads")) return;
    static const unsigned states[OMP_THREADS] = {0x1F80u | 0x6000u, 0x1F80u | 0x2000u};
    pthread_t who[OMP_THREADS];
    unsigned seen[OMP_THREADS] = {0};
    int same[OMP_THREADS] = {0};
#pragma omp parallel num_threads(OMP_THREADS)
    {
        int t = omp_get_thread_num();
        who[t] = pthread_self();
        set_mxcsr(states[t]);
    }
    cr_assert_eq(bsnn_set_num_threads(2), BSNN_OK);
    /* control bits only: the test's own arithmetic sets sticky flags */
    unsigned host = mxcsr() & ~0x3Fu; /* the master thread is thread 0 */
    size_t count = 256 * 512 + 512 + 512 * 16 + 16;
    float *p = malloc(count * sizeof(float)), *g = malloc(count * sizeof(float));
    train_tiny(p, g, count, 2);
    cr_assert_eq(mxcsr() & ~0x3Fu, host);
#pragma omp parallel num_threads(OMP_THREADS)
    {
        int t = omp_get_thread_num();
        same[t] = pthread_equal(who[t], pthread_self());
        seen[t] = mxcsr() & ~0x3Fu;
    }
    for (int t = 0; t < OMP_THREADS; t++) {
        if (!same[t]) continue; /* a new thread: nothing to compare */
        cr_assert_eq(seen[t], states[t], "OpenMP thread %d: MXCSR %#x, it set %#x", t, seen[t],
                     states[t]);
    }
    set_mxcsr(DEFAULT_STATE);
    free(p), free(g);
}
#endif

Test(fpstate, the_flush_setting_takes_0_or_1)
{
    cr_assert_eq(bsnn_get_flush_subnormals(), 1);
    cr_assert_eq(bsnn_set_flush_subnormals(0), BSNN_OK);
    cr_assert_eq(bsnn_get_flush_subnormals(), 0);
    cr_assert_eq(bsnn_set_flush_subnormals(2), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "bsnn_set_flush_subnormals: on = 2") != NULL, "%s",
              bsnn_last_error());
    cr_assert_eq(bsnn_set_flush_subnormals(-1), BSNN_E_ARG);
    cr_assert_eq(bsnn_get_flush_subnormals(), 0);
    cr_assert_eq(bsnn_set_flush_subnormals(1), BSNN_OK);
}
