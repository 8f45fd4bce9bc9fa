/*
 * test_thread.c - thread safety as documented: distinct objects used from
 * distinct threads at the same time, and inference on ONE shared model from
 * several threads at once, each with its own bsnn_workspace. Several
 * pthreads each build, train, checkpoint and reload their own model; others
 * share one trained model for forward and evaluate; every thread's result
 * must equal the same work done alone, and each thread's last-error message
 * is its own; and a training run whose every pass is cut into several
 * chunks, on bsnn's own threads, equals the one-thread run bit for bit.
 * Run under ThreadSanitizer with `make test SANITIZE=thread`.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>

#define N_THREADS 4

typedef struct job {
    int id;
    bsnn_optimizer_kind kind;
    float params[64];
    size_t n_params;
    int ok;
    char error[160];
    pthread_barrier_t *barrier;
} job;

/* Everything a host thread might do with its own objects; no Criterion
 * assertions here (they are not meant for other threads): failures are
 * reported through job->ok. */
static void run_job(job *j)
{
    j->ok = 0;
    bsnn_dataset *ds = bsnn_dataset_parity(4);
    bsnn_model *m = bsnn_model_create(4), *back = NULL;
    bsnn_model_set_loss(m, BSNN_LOSS_MSE);
    bsnn_optimizer *opt = bsnn_optimizer_create(j->kind);
    bsnn_scheduler *s = bsnn_scheduler_create(16);
    void *buf = NULL;
    size_t size = 0;
    if (!ds || !m || !opt || !s) goto done;
    if (bsnn_model_add(m, bsnn_layer_dense(6)) || bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH)) ||
        bsnn_model_add(m, bsnn_layer_dense(1)) || bsnn_model_init_params(m, 100 + (uint64_t)j->id) ||
        bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 1 + j->id) ||
        bsnn_scheduler_set(s, BSNN_SCHED_SEED, j->id))
        goto done;
    if (bsnn_model_train(NULL, m, opt, s, ds, 30, NULL, NULL)) goto done;
    if (bsnn_checkpoint_save_alloc(&buf, &size, m, opt, s)) goto done;
    if (bsnn_model_load_buffer(&back, buf, size)) goto done;
    double loss;
    if (bsnn_model_evaluate(&loss, NULL, back, ds, 16)) goto done;
    j->n_params = bsnn_model_param_count(back);
    if (j->n_params > 64 || bsnn_model_get_params(j->params, j->n_params, back)) goto done;
    j->ok = 1;
done:
    bsnn_buffer_free(buf);
    bsnn_model_free(back);
    bsnn_model_free(m);
    bsnn_optimizer_free(opt);
    bsnn_scheduler_free(s);
    bsnn_dataset_free(ds);
}

static void *thread_main(void *arg)
{
    job *j = arg;
    pthread_barrier_wait(j->barrier); /* start together for maximum overlap */
    run_job(j);
    /* Provoke a thread-specific error, wait until every thread has done so,
     * then read it back: the message must still be this thread's. */
    bsnn_model_create(0);
    bsnn_scheduler_create(0);
    bsnn_layer_dense(0);
    char mine[64];
    snprintf(mine, sizeof mine, "unknown activation %d", 100 + j->id);
    bsnn_layer_activation((bsnn_activation)(100 + j->id));
    pthread_barrier_wait(j->barrier);
    snprintf(j->error, sizeof j->error, "%s", bsnn_last_error());
    if (strstr(j->error, mine) == NULL) j->ok = 0;
    return NULL;
}

/* Run the jobs alone, then together; 1 if every thread succeeded and
 * matched its lone run, else 0 with the reason in why. */
static int check_threads(char *why, size_t cap)
{
    static const bsnn_optimizer_kind kinds[N_THREADS] = {BSNN_ADAM, BSNN_SGD, BSNN_RMSPROP,
                                                         BSNN_NESTEROV};
    job alone[N_THREADS], together[N_THREADS];
    pthread_barrier_t barrier;
    pthread_t th[N_THREADS];
    pthread_barrier_init(&barrier, NULL, N_THREADS);
    for (int i = 0; i < N_THREADS; i++) {
        alone[i] = (job){.id = i, .kind = kinds[i]};
        run_job(&alone[i]);
        if (!alone[i].ok) return snprintf(why, cap, "job %d alone: %s", i, bsnn_last_error()), 0;
        together[i] = (job){.id = i, .kind = kinds[i], .barrier = &barrier};
    }
    for (int i = 0; i < N_THREADS; i++) pthread_create(&th[i], NULL, thread_main, &together[i]);
    for (int i = 0; i < N_THREADS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&barrier);
    for (int i = 0; i < N_THREADS; i++) {
        if (!together[i].ok)
            return snprintf(why, cap, "thread %d: last error '%s'", i, together[i].error), 0;
        if (together[i].n_params != alone[i].n_params ||
            memcmp(together[i].params, alone[i].params, alone[i].n_params * sizeof(float)) != 0)
            return snprintf(why, cap, "thread %d: parameters differ from a lone run", i), 0;
    }
    return 1;
}

/* ---- inference on one shared model --------------------------------------- */

#define N_ROWS 48
#define N_PASSES 20

typedef struct infer_job {
    const bsnn_model *m;
    const bsnn_dataset *ds;
    float x[N_ROWS * 4];
    float out[N_ROWS * 2];
    double loss, accuracy;
    int ok;
    pthread_barrier_t *barrier;
} infer_job;

/* Forward the job's rows at several batch sizes (the workspace grows and
 * shrinks back) and evaluate the shared dataset, all on a const model. */
static void run_inference(infer_job *j)
{
    j->ok = 0;
    bsnn_workspace *ws = bsnn_workspace_create(j->m);
    if (ws == NULL) return;
    size_t shape[2] = {N_ROWS, 4}, oshape[2] = {N_ROWS, 2};
    bsnn_tensor *x = bsnn_tensor_wrap(j->x, 2, shape), *out = bsnn_tensor_wrap(j->out, 2, oshape);
    int ok = x && out;
    for (int pass = 0; ok && pass < N_PASSES; pass++) {
        size_t rows = pass % 3 == 0 ? 1 : N_ROWS; /* small and large batches */
        size_t s1[2] = {rows, 4}, s2[2] = {rows, 2};
        bsnn_tensor *xs = bsnn_tensor_wrap(j->x, 2, s1), *os = bsnn_tensor_wrap(j->out, 2, s2);
        ok = xs && os && bsnn_model_forward_ws(os, j->m, ws, xs) == BSNN_OK;
        bsnn_tensor_free(xs), bsnn_tensor_free(os);
    }
    ok = ok && bsnn_model_forward_ws(out, j->m, ws, x) == BSNN_OK;
    ok = ok && bsnn_model_evaluate_ws(&j->loss, &j->accuracy, j->m, ws, j->ds, 7) == BSNN_OK;
    bsnn_tensor_free(x), bsnn_tensor_free(out);
    bsnn_workspace_free(ws);
    j->ok = ok;
}

static void *infer_main(void *arg)
{
    infer_job *j = arg;
    pthread_barrier_wait(j->barrier);
    run_inference(j);
    return NULL;
}

/* A 4 -> 6 (batch norm, tanh, dropout) -> 2 model trained a little, shared
 * read-only by every thread. */
static bsnn_model *shared_model(bsnn_dataset *ds)
{
    bsnn_model *m = bsnn_model_create(4);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_ADAM);
    bsnn_scheduler *s = bsnn_scheduler_create(bsnn_dataset_size(ds));
    int ok = m && opt && s && !bsnn_model_add(m, bsnn_layer_dense(6)) &&
             !bsnn_model_add(m, bsnn_layer_batchnorm()) &&
             !bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH)) &&
             !bsnn_model_add(m, bsnn_layer_dropout(0.2)) && !bsnn_model_add(m, bsnn_layer_dense(2)) &&
             !bsnn_model_set_loss(m, BSNN_LOSS_SOFTMAX_CE) &&
             !bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 4) &&
             !bsnn_model_train(NULL, m, opt, s, ds, 5, NULL, NULL);
    bsnn_optimizer_free(opt);
    bsnn_scheduler_free(s);
    if (!ok) {
        bsnn_model_free(m);
        return NULL;
    }
    return m;
}

/* Every thread's outputs, loss and accuracy must equal a lone run's, bit
 * for bit; 1 if so, else 0 with the reason in why. */
static int check_shared_inference(char *why, size_t cap)
{
    bsnn_dataset *ds = bsnn_dataset_parity(4);
    bsnn_model *m = ds ? shared_model(ds) : NULL;
    if (m == NULL) {
        snprintf(why, cap, "setup: %s", bsnn_last_error());
        bsnn_dataset_free(ds);
        return 0;
    }
    static infer_job alone[N_THREADS], together[N_THREADS];
    pthread_barrier_t barrier;
    pthread_t th[N_THREADS];
    pthread_barrier_init(&barrier, NULL, N_THREADS);
    for (int i = 0; i < N_THREADS; i++) {
        alone[i] = (infer_job){.m = m, .ds = ds, .barrier = &barrier};
        for (int k = 0; k < N_ROWS * 4; k++) alone[i].x[k] = (float)sin(0.3 * k + i);
        together[i] = alone[i];
        run_inference(&alone[i]);
    }
    for (int i = 0; i < N_THREADS; i++) pthread_create(&th[i], NULL, infer_main, &together[i]);
    for (int i = 0; i < N_THREADS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&barrier);
    int ok = 1;
    for (int i = 0; ok && i < N_THREADS; i++) {
        if (!alone[i].ok || !together[i].ok)
            ok = 0, snprintf(why, cap, "inference thread %d failed: %s", i, bsnn_last_error());
        else if (memcmp(alone[i].out, together[i].out, sizeof alone[i].out) != 0 ||
                 alone[i].loss != together[i].loss || alone[i].accuracy != together[i].accuracy)
            ok = 0, snprintf(why, cap, "inference thread %d differs from a lone run", i);
    }
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
    return ok;
}

/* 96 -> dense 256 -> layer norm -> relu -> dropout -> dense 256 -> batch
 * norm -> tanh -> dense 4, Adam, 128 rows in batches of 128 (micro-batches
 * of 64): each elementwise pass over 64 x 256 floats is 2 chunks, the
 * arena (91k parameters) 6, so the engine splits all of them. */
static int train_mixed(float *out, size_t cap, size_t *out_n, int threads)
{
    if (bsnn_set_num_threads(threads)) return 0;
    enum { N = 128, IN = 96 };
    static float x[N * IN], y[N];
    for (int i = 0; i < N * IN; i++) x[i] = (float)((i * 37) % 23) / 11.0f - 1.0f;
    for (int i = 0; i < N; i++) y[i] = (float)(i % 4);
    bsnn_dataset *ds = bsnn_dataset_create(x, y, N, IN, 1);
    bsnn_model *m = bsnn_model_create(IN);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_ADAM);
    bsnn_scheduler *s = bsnn_scheduler_create(N);
    int ok = ds && m && opt && s && !bsnn_model_add(m, bsnn_layer_dense(256)) &&
             !bsnn_model_add(m, bsnn_layer_layernorm()) &&
             !bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_RELU)) &&
             !bsnn_model_add(m, bsnn_layer_dropout(0.2)) && !bsnn_model_add(m, bsnn_layer_dense(256)) &&
             !bsnn_model_add(m, bsnn_layer_batchnorm()) &&
             !bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH)) &&
             !bsnn_model_add(m, bsnn_layer_dense(4)) &&
             !bsnn_model_set_loss(m, BSNN_LOSS_SOFTMAX_CE) &&
             !bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, N) &&
             !bsnn_scheduler_set(s, BSNN_SCHED_MICRO_BATCH, 64) &&
             !bsnn_model_train(NULL, m, opt, s, ds, 3, NULL, NULL);
    *out_n = bsnn_model_param_count(m);
    ok = ok && *out_n <= cap && !bsnn_model_get_params(out, *out_n, m);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(ds);
    bsnn_set_num_threads(1);
    return ok;
}

static int check_engine_threads(char *why, size_t cap)
{
    static float one[100000], two[100000];
    size_t n1 = 0, n2 = 0;
    if (!train_mixed(one, 100000, &n1, 1) || !train_mixed(two, 100000, &n2, 2)) {
        snprintf(why, cap, "training failed: %s", bsnn_last_error());
        return 0;
    }
    if (n1 != n2 || memcmp(one, two, n1 * sizeof(float)) != 0) {
        snprintf(why, cap, "2 threads trained other parameters than 1");
        return 0;
    }
    return 1;
}

#if defined(__SANITIZE_THREAD__)
/* Criterion cannot start under ThreadSanitizer (its inheritable arena
 * collides with TSan's address layout: Snaipe/Criterion issue 274), so the
 * SANITIZE=thread build runs this file as a plain program and prints a
 * Criterion-style synthesis line for tests/run-tests.sh. */
int main(void)
{
    char why[256] = "", why2[256] = "";
    int ok = check_threads(why, sizeof why);
    if (!ok) fprintf(stderr, "thread: FAILED: %s\n", why);
    int ok2 = check_shared_inference(why2, sizeof why2);
    if (!ok2) fprintf(stderr, "thread: FAILED: %s\n", why2);
    char why3[256] = "";
    int ok3 = check_engine_threads(why3, sizeof why3);
    if (!ok3) fprintf(stderr, "thread: FAILED: %s\n", why3);
    printf("[====] Synthesis: Tested: 3 | Passing: %d | Failing: %d | Crashing: 0\n",
           ok + ok2 + ok3, 3 - ok - ok2 - ok3);
    return ok && ok2 && ok3 ? 0 : 1;
}
#else
Test(thread, distinct_objects_train_concurrently_and_match_a_lone_run, .timeout = 120)
{
    char why[256] = "";
    cr_assert(check_threads(why, sizeof why), "%s", why);
}

Test(thread, one_model_serves_inference_to_several_threads_at_once, .timeout = 120)
{
    char why[256] = "";
    cr_assert(check_shared_inference(why, sizeof why), "%s", why);
}

Test(thread, the_engines_passes_on_bsnns_threads_match_one_thread, .timeout = 120)
{
    char why[256] = "";
    cr_assert(check_engine_threads(why, sizeof why), "%s", why);
}
#endif
