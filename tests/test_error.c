/*
 * test_error.c - status strings, the thread-local last-error message naming
 * function, argument and value, the version, and the thread-count setting.
 */
#include "testutil.h"

#include "internal.h"

#include <pthread.h>
#include <stdio.h>

Test(error, every_status_has_a_distinct_string)
{
    bsnn_status all[10] = {BSNN_OK,      BSNN_E_NULL,   BSNN_E_ARG,    BSNN_E_SHAPE,
                           BSNN_E_NOMEM, BSNN_E_STATE,  BSNN_E_IO,     BSNN_E_FORMAT,
                           BSNN_E_DIVERGED, BSNN_E_UNSUPPORTED};
    for (int i = 0; i < 10; i++) {
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
