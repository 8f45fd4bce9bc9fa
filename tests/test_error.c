/*
 * test_error.c - status strings, the thread-local last-error message naming
 * function, argument and value (and, for failures deep inside a call, the
 * function the host called: out of memory in training and the search, a
 * loader's refused setting, a failure after a callback that called bsnn),
 * the version, and the thread-count setting.
 */
#include "testutil.h"

#include "common/common.h"

#include <pthread.h>
#include <stdio.h>

Test(error, every_status_has_a_distinct_string)
{
    bsnn_status all[11] = {BSNN_OK,      BSNN_E_NULL,   BSNN_E_ARG,    BSNN_E_SHAPE,
                           BSNN_E_NOMEM, BSNN_E_STATE,  BSNN_E_IO,     BSNN_E_FORMAT,
                           BSNN_E_DIVERGED, BSNN_E_UNSUPPORTED, BSNN_E_CALLBACK};
    for (int i = 0; i < 11; i++) {
        const char *s = bsnn_status_string(all[i]);
        cr_assert_not_null(s);
        cr_assert_neq(strcmp(s, "unknown status"), 0, "status %d", all[i]);
        for (int j = 0; j < i; j++) cr_assert_neq(strcmp(s, bsnn_status_string(all[j])), 0);
    }
    cr_assert_str_eq(bsnn_status_string(BSNN_E_NOMEM), "out of memory");
    cr_assert_str_eq(bsnn_status_string((bsnn_status)-100), "unknown status");
    cr_assert_str_eq(bsnn_status_string((bsnn_status)5), "unknown status");
}

Test(error, status_values_are_stable)
{
    cr_assert_eq(BSNN_OK, 0);
    cr_assert_eq(BSNN_E_NULL, -1);
    cr_assert_eq(BSNN_E_ARG, -2);
    cr_assert_eq(BSNN_E_SHAPE, -3);
    cr_assert_eq(BSNN_E_NOMEM, -4);
    cr_assert_eq(BSNN_E_STATE, -5);
    cr_assert_eq(BSNN_E_IO, -6);
    cr_assert_eq(BSNN_E_FORMAT, -7);
    cr_assert_eq(BSNN_E_DIVERGED, -8);
    cr_assert_eq(BSNN_E_UNSUPPORTED, -9);
    cr_assert_eq(BSNN_E_CALLBACK, -10);
}

Test(error, last_error_is_empty_before_any_failure)
{
    cr_assert_not_null(bsnn_last_error());
    cr_assert_str_eq(bsnn_last_error(), "");
}

Test(error, last_error_names_function_argument_and_value)
{
    bsnn_scheduler *s = bsnn_scheduler_create(10);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 11), BSNN_E_ARG);
    const char *msg = bsnn_last_error();
    cr_assert(strstr(msg, "bsnn_scheduler_set") != NULL, "%s", msg);
    cr_assert(strstr(msg, "batch size") != NULL, "%s", msg);
    cr_assert(strstr(msg, "11") != NULL, "%s", msg);
    cr_assert(strstr(msg, "10") != NULL, "names the valid range: %s", msg);

    bsnn_model *m = bsnn_model_create(4);
    bsnn_model_add(m, bsnn_layer_dense(1));
    float xv[3] = {0}, out[1];
    bsnn_tensor *x = tu_wrap(xv, 1, 3), *o = tu_wrap(out, 1, 1);
    cr_assert_eq(bsnn_model_forward(o, m, x), BSNN_E_SHAPE);
    msg = bsnn_last_error();
    cr_assert(strstr(msg, "bsnn_model_forward") != NULL, "%s", msg);
    cr_assert(strstr(msg, "x has 3 columns") != NULL, "%s", msg);
    cr_assert(strstr(msg, "4") != NULL, "%s", msg);

    cr_assert_eq(bsnn_model_forward(NULL, m, x), BSNN_E_NULL);
    cr_assert_str_eq(bsnn_last_error(), "bsnn_model_forward: argument 'out' is NULL");
    bsnn_tensor_free(x);
    bsnn_tensor_free(o);
    bsnn_model_free(m);
    bsnn_scheduler_free(s);
}

Test(error, successful_calls_keep_the_last_message)
{
    cr_assert_null(bsnn_layer_dense(0));
    char keep[256];
    snprintf(keep, sizeof keep, "%s", bsnn_last_error());
    bsnn_layer *l = bsnn_layer_dense(2);
    cr_assert_str_eq(bsnn_last_error(), keep);
    bsnn_layer_free(l);
}

static void *fail_in_thread(void *arg)
{
    (void)arg;
    bsnn_scheduler_create(0);
    return (void *)bsnn_last_error();
}

Test(error, last_error_is_thread_local)
{
    cr_assert_null(bsnn_layer_dense(0));
    char mine[256];
    snprintf(mine, sizeof mine, "%s", bsnn_last_error());
    pthread_t th;
    void *theirs = NULL;
    cr_assert_eq(pthread_create(&th, NULL, fail_in_thread, NULL), 0);
    pthread_join(th, &theirs);
    cr_assert_str_eq(bsnn_last_error(), mine, "another thread's failure left ours alone");
    cr_assert(strstr(mine, "bsnn_layer_dense") != NULL);
}

Test(error, long_messages_are_truncated_not_overflowed)
{
    /* A huge rank value prints within the message buffer. */
    size_t shape[1] = {1};
    cr_assert_null(bsnn_tensor_create(-2147483647 - 1, shape));
    cr_assert(strlen(bsnn_last_error()) < 512);
}

Test(error, version_matches_header)
{
    cr_assert_eq(bsnn_version(), BSNN_VERSION_NUMBER);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", BSNN_VERSION_MAJOR, BSNN_VERSION_MINOR,
             BSNN_VERSION_PATCH);
    cr_assert_str_eq(bsnn_version_string(), want);
}

Test(error, num_threads_setting_and_bounds)
{
    cr_assert_eq(bsnn_get_num_threads(), 1, "default is 1");
    cr_assert_eq(bsnn_set_num_threads(2), BSNN_OK);
    cr_assert_eq(bsnn_get_num_threads(), 2);
    cr_assert_eq(bsnn_set_num_threads(0), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "bsnn_set_num_threads") != NULL);
    cr_assert(strstr(bsnn_last_error(), "0") != NULL);
    cr_assert_eq(bsnn_set_num_threads(257), BSNN_E_ARG);
    cr_assert_eq(bsnn_set_num_threads(-1), BSNN_E_ARG);
    cr_assert_eq(bsnn_get_num_threads(), 2, "a rejected value changes nothing");
    cr_assert_eq(bsnn_set_num_threads(256), BSNN_OK);
    cr_assert_eq(bsnn_set_num_threads(1), BSNN_OK);
}

Test(error, all_finite_finds_nan_and_infinities_anywhere)
{
    /* The internal check behind every "non-finite input" error. */
    float v[67];
    float poison[4] = {NAN, -NAN, INFINITY, -INFINITY};
    for (size_t n = 0; n <= 67; n++) {
        for (size_t i = 0; i < n; i++) v[i] = (float)i - 30.0f;
        if (n) v[n / 2] = 3.4e38f, v[0] = -0.0f, v[n - 1] = 1e-45f; /* extremes are finite */
        cr_assert(bsnn__all_finite(v, n), "n %zu", n);
        for (size_t at = 0; at < n; at++)
            for (int p = 0; p < 4; p++) {
                float keep = v[at];
                v[at] = poison[p];
                cr_assert(!bsnn__all_finite(v, n), "n %zu, %g at %zu", n, poison[p], at);
                v[at] = keep;
            }
    }
    cr_assert(bsnn__all_finite(NULL, 0));
}

/* ---- messages of nested failures name the function the host called ------- */

/* Run call with the k-th allocation failing for k = 1, 2, ... until it
 * succeeds; every failure's message must start with `fn: ` (never the name
 * of an inner function) and mention memory. Returns the failures seen. */
#define EVERY_OOM(fn, setup, call, teardown)                                                  \
    do {                                                                                     \
        size_t fails_ = 0;                                                                   \
        for (size_t k = 1;; k++) {                                                           \
            setup;                                                                           \
            tu_stats.fail_at = tu_stats.allocs + k;                                          \
            bsnn_status st_ = (call);                                                        \
            tu_stats.fail_at = 0;                                                            \
            const char *msg_ = bsnn_last_error();                                            \
            if (st_ == BSNN_OK) {                                                            \
                teardown;                                                                    \
                break;                                                                       \
            }                                                                                \
            fails_++;                                                                        \
            cr_assert_eq(st_, BSNN_E_NOMEM, "k=%zu: %s", k, msg_);                          \
            cr_assert(strncmp(msg_, fn ": ", strlen(fn) + 2) == 0, "k=%zu: '%s' does not "  \
                      "start with " fn, k, msg_);                                            \
            cr_assert(strstr(msg_, "memory") || strstr(msg_, "allocate"), "k=%zu: %s", k,    \
                      msg_);                                                                 \
            teardown;                                                                        \
        }                                                                                    \
        cr_assert_gt(fails_, 0, "no allocation to fail in " fn);                             \
    } while (0)

Test(error, out_of_memory_inside_training_names_the_host_call)
{
    tu_count_allocations(0);
    bsnn_dataset *ds = bsnn_dataset_parity(3);
    bsnn_dataset *val = bsnn_dataset_parity(3);
    bsnn_history *h = bsnn_history_create();
    bsnn_model *m = NULL;
    bsnn_optimizer *opt = NULL;
    bsnn_scheduler *s = NULL;
    EVERY_OOM("bsnn_model_train_ex",
              (m = tu_mlp(3, 4, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 1),
               opt = bsnn_optimizer_create(BSNN_ADAM), s = bsnn_scheduler_create(8)),
              bsnn_model_train_ex(NULL, m, opt, s, ds, val, h, 2, NULL, NULL),
              (bsnn_model_free(m), bsnn_optimizer_free(opt), bsnn_scheduler_free(s)));
    bsnn_history_free(h);
    bsnn_dataset_free(ds), bsnn_dataset_free(val);
    cr_assert_eq(tu_stats.live_bytes, 0);
    tu_restore_allocator();
}

Test(error, out_of_memory_inside_the_search_names_the_search)
{
    tu_count_allocations(0);
    bsnn_dataset *ds = bsnn_dataset_parity(3);
    bsnn_search *se = bsnn_search_create();
    cr_assert_eq(bsnn_search_set(se, BSNN_SEARCH_BUDGET, 1), BSNN_OK);
    cr_assert_eq(bsnn_search_set(se, BSNN_SEARCH_START, 4), BSNN_OK);
    bsnn_model *m = NULL;
    bsnn_optimizer *opt = NULL;
    size_t best = 0;
    EVERY_OOM("bsnn_search_run",
              (m = tu_mlp(3, 4, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 1),
               opt = bsnn_optimizer_create(BSNN_SGD)),
              bsnn_search_run(&best, se, m, opt, ds, ds, NULL),
              (bsnn_model_free(m), bsnn_optimizer_free(opt)));
    bsnn_search_free(se);
    bsnn_dataset_free(ds);
    cr_assert_eq(tu_stats.live_bytes, 0);
    tu_restore_allocator();
}

/* A loader's inner refusal (a setting the scheduler refuses) names the
 * loader, says where, and keeps the setter's reason. */
Test(error, a_loader_refusal_names_the_loader_and_keeps_the_reason)
{
    bsnn_model *m = tu_mlp(2, 3, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 1);
    bsnn_scheduler *s = bsnn_scheduler_create(10);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 7), BSNN_OK);
    void *buf = NULL;
    size_t size = 0;
    cr_assert_eq(bsnn_checkpoint_save_alloc(&buf, &size, m, NULL, s), BSNN_OK);
    /* Forge the batch size (setting 1, stored as an f64 7.0) to 0, then
     * reseal the section's CRC so the parser reaches the setter. */
    unsigned char *p = buf;
    double seven = 7.0, zero = 0.0;
    unsigned char pat[12] = {1, 0, 0, 0};
    memcpy(pat + 4, &seven, 8);
    size_t at = 0;
    for (size_t i = 0; i + 12 <= size; i++)
        if (memcmp(p + i, pat, 12) == 0) at = i;
    cr_assert_gt(at, 0, "stored batch size not found");
    memcpy(p + at + 4, &zero, 8);
    size_t sec = at;
    while (memcmp(p + sec, "SCHD", 4) != 0) sec--;
    uint64_t len = 0;
    for (int b = 0; b < 8; b++) len |= (uint64_t)p[sec + 8 + b] << (8 * b);
    uint32_t crc = bsnn__crc32(0, p + sec, 16 + len);
    for (int b = 0; b < 4; b++) p[sec + 16 + len + b] = (unsigned char)(crc >> (8 * b));
    bsnn_model *mb = NULL;
    bsnn_scheduler *sb = NULL;
    cr_assert_eq(bsnn_checkpoint_load_buffer(&mb, NULL, &sb, buf, size), BSNN_E_FORMAT);
    const char *msg = bsnn_last_error();
    cr_assert(strncmp(msg, "bsnn_checkpoint_load_buffer: ", 29) == 0, "%s", msg);
    cr_assert(strstr(msg, "rejected") && strstr(msg, "batch size 0"), "%s", msg);
    cr_assert(strstr(msg, "bsnn_scheduler_set") == NULL, "names an inner function: %s", msg);
    bsnn_buffer_free(buf);
    bsnn_scheduler_free(s);
    bsnn_model_free(m);
}

/* A callback may call bsnn itself; a failure of training after that still
 * names the training call, not the callback's. */
static int call_bsnn_in_callback(void *user, bsnn_event ev, size_t epoch, size_t step,
                                 size_t batch, double loss)
{
    (void)ev, (void)epoch, (void)step, (void)batch, (void)loss;
    int *calls = user;
    (*calls)++;
    bsnn_model_create(0); /* fails, naming bsnn_model_create */
    return 0;
}

Test(error, a_failure_after_a_callback_still_names_the_training_call)
{
    bsnn_model *m = tu_mlp(2, 4, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 3);
    float x[16 * 2], y[16];
    for (int i = 0; i < 32; i++) x[i] = 1e3f * (float)(i % 5);
    for (int i = 0; i < 16; i++) y[i] = 1e3f;
    bsnn_dataset *ds = bsnn_dataset_create(x, y, 16, 2, 1);
    bsnn_scheduler *s = bsnn_scheduler_create(16);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    cr_assert_eq(bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 4), BSNN_OK);
    cr_assert_eq(bsnn_optimizer_set(opt, BSNN_OPT_LR, 1e6), BSNN_OK); /* diverges soon */
    int calls = 0;
    cr_assert_eq(bsnn_model_train(NULL, m, opt, s, ds, 50, call_bsnn_in_callback, &calls),
                 BSNN_E_DIVERGED);
    cr_assert_gt(calls, 0, "the divergence came before any callback");
    cr_assert(strncmp(bsnn_last_error(), "bsnn_model_train: ", 18) == 0, "%s", bsnn_last_error());
    bsnn_optimizer_free(opt);
    bsnn_scheduler_free(s);
    bsnn_dataset_free(ds);
    bsnn_model_free(m);
}

/* Context in front of a message is built from a copy (the old code
 * formatted bsnn_last_error() into its own buffer): a near-full inner
 * message comes back cut, terminated, with the context first. */
Test(error, context_is_put_in_front_of_a_full_message_without_overlap)
{
    BSNN_ENTER();
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    bsnn__fail(BSNN_E_ARG, "%s", big);
    cr_assert_eq(bsnn__context(BSNN_E_FORMAT, "layer %d", 7), BSNN_E_FORMAT);
    const char *msg = bsnn_last_error();
    size_t n = strlen(msg);
    cr_assert_lt(n, BSNN__ERROR_CAP);
    const char *want = __func__;
    cr_assert(strncmp(msg, want, strlen(want)) == 0, "%s", msg);
    cr_assert(strstr(msg, ": layer 7: xxxx") != NULL, "%.80s", msg);
    cr_assert_eq(msg[n - 1], 'x');
}
