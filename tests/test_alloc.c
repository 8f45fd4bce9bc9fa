/*
 * test_alloc.c - the allocator hook: bsnn_set_allocator's rules, every
 * allocation going through it (64-byte aligned), and allocation failure in
 * each constructor and growing call of the core: fail the k-th allocation for
 * k = 1, 2, ... until the call succeeds; each failure must be BSNN_E_NOMEM
 * (NULL for constructors) with a message, leave every object usable, and
 * leak nothing (live bytes back to 0). Whole-scenario injection across every
 * feature is in test_oom.c.
 */
#include "testutil.h"

#include <stdint.h>

Test(alloc, set_allocator_rules)
{
    cr_assert_eq(bsnn_set_allocator(tu_alloc, NULL, NULL), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "bsnn_set_allocator") != NULL);
    cr_assert_eq(bsnn_set_allocator(NULL, tu_free, NULL), BSNN_E_ARG);
    bsnn_model *m = bsnn_model_create(2);
    cr_assert_eq(bsnn_set_allocator(tu_alloc, tu_free, NULL), BSNN_E_STATE, "objects are alive");
    cr_assert(strstr(bsnn_last_error(), "alive") != NULL, "%s", bsnn_last_error());
    bsnn_model_free(m);
    tu_count_allocations(0);
    bsnn_model *m2 = bsnn_model_create(2);
    cr_assert_gt(tu_stats.allocs, 0, "allocations go through the hook");
    cr_assert_eq((uintptr_t)m2 % 64, 0);
    cr_assert_eq(bsnn_set_allocator(NULL, NULL, NULL), BSNN_E_STATE);
    bsnn_model_free(m2);
    cr_assert_eq(tu_stats.live_bytes, 0);
    cr_assert_eq(tu_stats.frees, tu_stats.allocs);
    tu_restore_allocator(); /* NULL, NULL restores malloc/free */
}

static void *user_seen;
static void *user_alloc(void *user, size_t size) { user_seen = user; return malloc(size); }
static void user_free(void *user, void *p, size_t size) { (void)size; user_seen = user; free(p); }

Test(alloc, user_pointer_is_passed_through)
{
    int token;
    cr_assert_eq(bsnn_set_allocator(user_alloc, user_free, &token), BSNN_OK);
    bsnn_tensor_free(bsnn_tensor_create(1, (size_t[]){4}));
    cr_assert_eq(user_seen, &token);
    cr_assert_eq(bsnn_set_allocator(NULL, NULL, NULL), BSNN_OK);
}

Test(alloc, owned_tensors_and_model_arenas_are_aligned)
{
    size_t shape[2] = {3, 7};
    for (int i = 0; i < 5; i++) {
        bsnn_tensor *t = bsnn_tensor_create(2, shape);
        cr_assert_eq((uintptr_t)bsnn_tensor_data(t) % 64, 0);
        bsnn_tensor_free(t);
        shape[1]++;
    }
}

/* ---- failure injection ------------------------------------------------------ */

typedef int (*scenario)(void); /* returns 1 if the injected failure was seen */

/* Run s with the k-th allocation failing, k = 1.. until it completes without
 * reaching k; live bytes must return to 0 every time. */
static void sweep(const char *name, scenario s)
{
    size_t k;
    for (k = 1; k < 10000; k++) {
        tu_count_allocations(k);
        int hit = s();
        cr_assert_eq(tu_stats.live_bytes, 0, "%s, k = %zu: %zu bytes leaked", name, k,
                     tu_stats.live_bytes);
        size_t failed = tu_stats.failed;
        tu_restore_allocator(); /* also fails if bsnn still counts a live block */
        cr_assert_eq(hit, failed > 0, "%s, k = %zu: failure seen %d, injected %zu", name, k, hit,
                     failed);
        if (!failed) break;
    }
    cr_assert_gt(k, 1, "%s allocates", name);
}

/* A constructor's result: NULL exactly when the injection hit, with an
 * out-of-memory message. */
static int null_on_failure(void *p)
{
    if (p != NULL) return 0;
    cr_assert_gt(tu_stats.failed, 0, "NULL without an injected failure: %s", bsnn_last_error());
    cr_assert(strstr(bsnn_last_error(), "memory") != NULL || strstr(bsnn_last_error(), "allocat"),
              "message: %s", bsnn_last_error());
    return 1;
}

static int status_on_failure(bsnn_status st)
{
    if (st == BSNN_OK) return 0;
    cr_assert_eq(st, BSNN_E_NOMEM, "status %d: %s", st, bsnn_last_error());
    cr_assert_gt(tu_stats.failed, 0);
    return 1;
}

static int sc_tensor(void)
{
    size_t shape[2] = {4, 5};
    bsnn_tensor *t = bsnn_tensor_create(2, shape);
    float buf[20];
    bsnn_tensor *w = t ? bsnn_tensor_wrap(buf, 2, shape) : NULL;
    int hit = null_on_failure(t) || null_on_failure(w);
    bsnn_tensor_free(t);
    bsnn_tensor_free(w);
    return hit;
}

static int sc_layers(void)
{
    bsnn_layer *d = bsnn_layer_dense(3);
    bsnn_layer *a = d ? bsnn_layer_activation(BSNN_ACT_TANH) : NULL;
    int hit = null_on_failure(d) || null_on_failure(a);
    bsnn_layer_free(d);
    bsnn_layer_free(a);
    return hit;
}

static int sc_optimizer_scheduler(void)
{
    bsnn_optimizer *o = bsnn_optimizer_create(BSNN_SGD);
    bsnn_scheduler *s = o ? bsnn_scheduler_create(100) : NULL;
    int hit = null_on_failure(o) || null_on_failure(s);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(o);
    return hit;
}

static int sc_datasets(void)
{
    float x[6] = {1, 2, 3, 4, 5, 6}, y[3] = {0, 1, 0};
    bsnn_dataset *d = bsnn_dataset_create(x, y, 3, 2, 1);
    if (null_on_failure(d)) return 1;
    bsnn_dataset *p = bsnn_dataset_parity(3);
    if (null_on_failure(p)) {
        bsnn_dataset_free(d);
        return 1;
    }
    bsnn_dataset *a = (bsnn_dataset *)1, *b = (bsnn_dataset *)1;
    int hit = status_on_failure(bsnn_dataset_split(&a, &b, p, 0.5, 1));
    if (hit) cr_assert(a == (bsnn_dataset *)1 && b == (bsnn_dataset *)1, "outputs untouched");
    else bsnn_dataset_free(a), bsnn_dataset_free(b);
    bsnn_dataset_free(p);
    bsnn_dataset_free(d);
    return hit;
}

/* Build 3 -> dense(4) -> tanh -> dense(2); on an add failure the model must
 * be unchanged and still accept the layer afterwards. */
static int sc_model_build(void)
{
    bsnn_model *m = bsnn_model_create(3);
    if (null_on_failure(m)) return 1;
    int hit = 0;
    size_t widths[3] = {4, 0, 2};
    for (int i = 0; i < 3; i++) {
        bsnn_layer *l = widths[i] ? bsnn_layer_dense(widths[i]) : bsnn_layer_activation(BSNN_ACT_TANH);
        if (null_on_failure(l)) {
            hit = 1;
            l = widths[i] ? bsnn_layer_dense(widths[i]) : bsnn_layer_activation(BSNN_ACT_TANH);
        }
        size_t layers = bsnn_model_n_layers(m), params = bsnn_model_param_count(m);
        bsnn_status st = bsnn_model_add(m, l);
        if (status_on_failure(st)) {
            hit = 1;
            cr_assert_eq(bsnn_model_n_layers(m), layers, "a failed add changes nothing");
            cr_assert_eq(bsnn_model_param_count(m), params);
            l = widths[i] ? bsnn_layer_dense(widths[i]) : bsnn_layer_activation(BSNN_ACT_TANH);
            cr_assert_eq(bsnn_model_add(m, l), BSNN_OK, "the model is still usable");
        }
    }
    cr_assert_eq(bsnn_model_param_count(m), 3 * 4 + 4 + 4 * 2 + 2);
    bsnn_model_free(m);
    return hit;
}

/* Forward, train step, train and evaluate on a built model (built without
 * injection); each call that fails must succeed when repeated. */
static bsnn_model *built;
static bsnn_optimizer *built_opt;
static bsnn_dataset *built_ds;
static bsnn_scheduler *built_s;

/* Run call; if the injected failure hit it, repeating it must succeed. */
#define RETRY(hit, call)                                                         \
    do {                                                                         \
        if (status_on_failure(call)) {                                           \
            (hit) = 1;                                                           \
            cr_assert_eq((call), BSNN_OK, "repeating succeeds: %s", bsnn_last_error()); \
        }                                                                        \
    } while (0)

static int sc_model_use(void)
{
    /* The objects are made under the counting allocator too, so the sweep
     * covers them; an early failure ends this run. */
    built = bsnn_model_create(3);
    if (null_on_failure(built)) return 1;
    bsnn_model_set_loss(built, BSNN_LOSS_MSE);
    int hit = 0;
    bsnn_layer *l1 = bsnn_layer_dense(8), *l2 = l1 ? bsnn_layer_activation(BSNN_ACT_TANH) : NULL,
               *l3 = l2 ? bsnn_layer_dense(1) : NULL;
    if (!l3) {
        bsnn_layer_free(l1), bsnn_layer_free(l2);
        bsnn_model_free(built);
        return null_on_failure(NULL);
    }
    if (status_on_failure(bsnn_model_add(built, l1)) ||
        status_on_failure(bsnn_model_add(built, l2)) ||
        status_on_failure(bsnn_model_add(built, l3))) {
        /* add freed the failing layer; free the ones never handed over */
        if (bsnn_model_n_layers(built) < 1) bsnn_layer_free(l2), bsnn_layer_free(l3);
        else if (bsnn_model_n_layers(built) < 2) bsnn_layer_free(l3);
        bsnn_model_free(built);
        return 1;
    }
    built_opt = bsnn_optimizer_create(BSNN_SGD);
    built_ds = built_opt ? bsnn_dataset_parity(3) : NULL;
    built_s = built_ds ? bsnn_scheduler_create(8) : NULL;
    if (!built_s) {
        hit = null_on_failure(NULL);
        goto done;
    }
    bsnn_scheduler_set(built_s, BSNN_SCHED_BATCH_SIZE, 3);
    float x[8 * 3] = {0}, y[8] = {0}, o[8];
    size_t xs[2] = {8, 3}, ys[2] = {8, 1};
    bsnn_tensor *tx = bsnn_tensor_wrap(x, 2, xs), *ty = tx ? bsnn_tensor_wrap(y, 2, ys) : NULL,
                *to = ty ? bsnn_tensor_wrap(o, 2, ys) : NULL;
    if (!to) {
        hit = null_on_failure(NULL);
    } else {
        RETRY(hit, bsnn_model_forward(to, built, tx));
        RETRY(hit, bsnn_model_train_step(NULL, built, built_opt, tx, ty));
        RETRY(hit, bsnn_model_train(NULL, built, built_opt, built_s, built_ds, 2, NULL, NULL));
        RETRY(hit, bsnn_model_evaluate(NULL, NULL, built, built_ds, 8));
    }
    bsnn_tensor_free(tx), bsnn_tensor_free(ty), bsnn_tensor_free(to);
done:
    bsnn_scheduler_free(built_s);
    bsnn_dataset_free(built_ds);
    bsnn_optimizer_free(built_opt);
    bsnn_model_free(built);
    built_s = NULL, built_ds = NULL, built_opt = NULL, built = NULL;
    return hit;
}

Test(alloc, tensor_create_and_wrap_fail_cleanly) { sweep("tensor", sc_tensor); }
Test(alloc, layer_constructors_fail_cleanly) { sweep("layers", sc_layers); }
Test(alloc, optimizer_and_scheduler_create_fail_cleanly)
{
    sweep("optimizer/scheduler", sc_optimizer_scheduler);
}
Test(alloc, dataset_create_parity_and_split_fail_cleanly) { sweep("datasets", sc_datasets); }
Test(alloc, model_create_and_add_fail_cleanly) { sweep("model build", sc_model_build); }
Test(alloc, forward_step_train_evaluate_fail_cleanly_and_recover)
{
    sweep("model use", sc_model_use);
}
