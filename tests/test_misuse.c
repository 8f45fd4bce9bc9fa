/*
 * test_misuse.c - the API misuse table: every public function called with
 * NULL handles and pointers, wrong shapes, wrong modes (states), and
 * out-of-range enums and values. Each row is its own test: the call must
 * return the listed status (constructors: NULL) and leave a message that
 * starts with the function's name, once. Use after free is out of scope
 * (undetectable in C).
 */
#include "testutil.h"
#include "common/common.h"

#include <criterion/parameterized.h>
#include <stdio.h>

/* Fixture objects, rebuilt for every row (each runs in its own process). */
static bsnn_model *M;      /* 4 -> dense 3 -> tanh -> dense 1 */
static bsnn_model *E;      /* 4 inputs, no layers */
static bsnn_model *M2;     /* another model, to bind O2 to */
static bsnn_dataset *D;    /* 4-bit parity: 16 rows, 4 inputs, 1 target */
static bsnn_dataset *D3;   /* 3-bit parity: 8 rows, 3 inputs */
static bsnn_optimizer *O;  /* SGD */
static bsnn_optimizer *O2; /* Adam, bound to M2 */
static bsnn_scheduler *S;  /* 16 samples */
static bsnn_scheduler *S8; /* 8 samples */
static bsnn_model *MB;     /* 4 -> dense 3 -> batch norm -> dense 1 */
static bsnn_model *NL;     /* 4 -> dense 1, no loss chosen */
static bsnn_layer *BNL;    /* a batch-norm layer not in a model */
static bsnn_layer *DOL;    /* a dropout layer not in a model */
static bsnn_layer *LNL;    /* a layer-norm layer not in a model */
static bsnn_workspace *W, *W2; /* workspaces of M and M2 */
static bsnn_tensor *X, *Y, *XW, *OUT, *OUTW, *OUTR, *X1, *Y1;
static bsnn_history *H;
static bsnn_search *Q;
static float xs[16 * 4], ys[16], params[64];
static size_t sizes[2] = {4, 8}, steps_e[2] = {0, 3};

static bsnn_tensor *tensor(size_t rows, size_t cols)
{
    size_t shape[2] = {rows, cols};
    bsnn_tensor *t = bsnn_tensor_create(2, shape);
    cr_assert_not_null(t);
    return t;
}

static void setup(void)
{
    M = tu_mlp(4, 3, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 1);
    M2 = tu_mlp(4, 3, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 2);
    E = bsnn_model_create(4);
    D = bsnn_dataset_parity(4);
    D3 = bsnn_dataset_parity(3);
    O = bsnn_optimizer_create(BSNN_SGD);
    O2 = bsnn_optimizer_create(BSNN_ADAM);
    S = bsnn_scheduler_create(16);
    S8 = bsnn_scheduler_create(8);
    X = tensor(16, 4), Y = tensor(16, 1), XW = tensor(16, 3), OUT = tensor(16, 1);
    OUTW = tensor(16, 2), OUTR = tensor(15, 1), X1 = tensor(1, 4), Y1 = tensor(1, 1);
    MB = bsnn_model_create(4);
    BNL = bsnn_layer_batchnorm();
    DOL = bsnn_layer_dropout(0.5);
    LNL = bsnn_layer_layernorm();
    W = bsnn_workspace_create(M);
    W2 = bsnn_workspace_create(M2);
    cr_assert(MB && BNL && DOL && LNL && W && W2);
    cr_assert_eq(bsnn_model_add(MB, bsnn_layer_dense(3)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(MB, bsnn_layer_batchnorm()), BSNN_OK);
    cr_assert_eq(bsnn_model_add(MB, bsnn_layer_dense(1)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(MB, BSNN_LOSS_MSE), BSNN_OK);
    NL = bsnn_model_create(4);
    cr_assert(NL && bsnn_model_add(NL, bsnn_layer_dense(1)) == BSNN_OK);
    H = bsnn_history_create();
    Q = bsnn_search_create();
    cr_assert(E && D && D3 && O && O2 && S && S8 && H && Q);
    cr_assert_eq(bsnn_model_train_step(NULL, M2, O2, X, Y), BSNN_OK, "%s", bsnn_last_error());
    bsnn__error_restore(""); /* rows start with no message */
}

static void teardown(void)
{
    bsnn_model_free(M), bsnn_model_free(M2), bsnn_model_free(E);
    bsnn_dataset_free(D), bsnn_dataset_free(D3);
    bsnn_optimizer_free(O), bsnn_optimizer_free(O2);
    bsnn_scheduler_free(S), bsnn_scheduler_free(S8);
    bsnn_tensor_free(X), bsnn_tensor_free(Y), bsnn_tensor_free(XW), bsnn_tensor_free(OUT);
    bsnn_tensor_free(OUTW), bsnn_tensor_free(OUTR), bsnn_tensor_free(X1), bsnn_tensor_free(Y1);
    bsnn_model_free(MB);
    bsnn_model_free(NL);
    bsnn_layer_free(BNL);
    bsnn_layer_free(DOL);
    bsnn_layer_free(LNL);
    bsnn_workspace_free(W), bsnn_workspace_free(W2);
    bsnn_history_free(H);
    bsnn_search_free(Q);
}

/* Constructors report failure as NULL; rows expecting it use this. */
#define NIL 100
static int nil(const void *p) { return p == NULL ? NIL : 0; }

/* Scratch outputs. */
static double d;
static size_t z;
static int iv;
static unsigned uv;
static uint64_t u64;
static const size_t *ip;
static void *vp;
static bsnn_model *mp;
static bsnn_optimizer *op;
static bsnn_scheduler *sp;
static bsnn_dataset *dp, *dp2;
static unsigned char bytes[4096];

/* A row: what is called, the expected status, the call. */
typedef struct row {
    const char *fn;
    const char *misuse;
    int expect;
    int (*call)(void);
} row;

#define R(id, fn, misuse, expect, expr)                                                         \
    static int call_##id(void) { return (int)(expr); }
#include "misuse_rows.h"
#undef R
#define R(id, fn, misuse, expect, expr) {fn, misuse, expect, call_##id},
static const row rows[] = {
#include "misuse_rows.h"
};
#undef R

#define N_ROWS (sizeof rows / sizeof rows[0])

ParameterizedTestParameters(misuse, table)
{
    static size_t idx[N_ROWS];
    for (size_t i = 0; i < N_ROWS; i++) idx[i] = i;
    return cr_make_param_array(size_t, idx, N_ROWS);
}

ParameterizedTest(size_t *i, misuse, table, .init = setup, .fini = teardown)
{
    const row *r = &rows[*i];
    int got = r->call();
    cr_assert_eq(got, r->expect, "row %zu %s (%s): got %d, expected %d; message '%s'", *i, r->fn,
                 r->misuse, got, r->expect, bsnn_last_error());
    /* The message starts with the function the host called, once. */
    size_t len = strlen(r->fn);
    const char *msg = bsnn_last_error();
    cr_assert(strncmp(msg, r->fn, len) == 0 && strncmp(msg + len, ": ", 2) == 0,
              "row %zu %s (%s): message '%s' does not start with the function", *i, r->fn,
              r->misuse, msg);
    cr_assert(strstr(msg + len, r->fn) != msg + len + 2, "row %zu: '%s' names it twice", *i, msg);
}

/* Functions with no failure status: NULL handles give 0 / NULL / no-op. */
Test(misuse, accessors_and_free_accept_null)
{
    cr_assert_eq(bsnn_tensor_rank(NULL), 0);
    cr_assert_eq(bsnn_tensor_dim(NULL, 0), 0);
    cr_assert_eq(bsnn_tensor_size(NULL), 0);
    cr_assert_null(bsnn_tensor_data(NULL));
    cr_assert_eq(bsnn_layer_kind_of(NULL), BSNN_LAYER_NONE);
    cr_assert_eq(bsnn_optimizer_kind_of(NULL), BSNN_OPTIMIZER_NONE);
    cr_assert_eq(bsnn_dataset_size(NULL), 0);
    cr_assert_eq(bsnn_dataset_n_inputs(NULL), 0);
    cr_assert_eq(bsnn_dataset_n_targets(NULL), 0);
    cr_assert_null(bsnn_dataset_inputs(NULL));
    cr_assert_null(bsnn_dataset_targets(NULL));
    cr_assert_eq(bsnn_scheduler_epoch(NULL), 0);
    cr_assert_eq(bsnn_scheduler_step(NULL), 0);
    cr_assert_eq(bsnn_scheduler_batch_size(NULL), 0);
    cr_assert_eq(bsnn_scheduler_n_samples(NULL), 0);
    cr_assert_eq(bsnn_scheduler_total_steps(NULL), 0);
    cr_assert_eq(bsnn_scheduler_batch_size_at(NULL, 0), 0);
    cr_assert_null(bsnn_model_layer(NULL, 0));
    cr_assert_eq(bsnn_model_n_layers(NULL), 0);
    cr_assert_eq(bsnn_model_n_inputs(NULL), 0);
    cr_assert_eq(bsnn_model_n_outputs(NULL), 0);
    cr_assert_eq(bsnn_model_param_count(NULL), 0);
    cr_assert_eq(bsnn_history_size(NULL), 0);
    cr_assert_eq(bsnn_search_count(NULL), 0);
    cr_assert_str_eq(bsnn_status_string((bsnn_status)-999), "unknown status");
    cr_assert_not_null(bsnn_last_error());
    bsnn_tensor_free(NULL), bsnn_layer_free(NULL), bsnn_model_free(NULL);
    bsnn_optimizer_free(NULL), bsnn_scheduler_free(NULL), bsnn_dataset_free(NULL);
    bsnn_history_free(NULL), bsnn_search_free(NULL), bsnn_buffer_free(NULL);
    bsnn_workspace_free(NULL);
}

Test(misuse, the_table_covers_every_fallible_public_function)
{
    static const char *const fallible[] = {
        "bsnn_set_allocator", "bsnn_set_num_threads", "bsnn_set_flush_subnormals",
        "bsnn_set_gemm_kernel", "bsnn_tensor_create", "bsnn_tensor_wrap",
        "bsnn_tensor_copy_in", "bsnn_tensor_copy_out", "bsnn_tensor_fill", "bsnn_layer_dense",
        "bsnn_layer_activation", "bsnn_layer_dropout", "bsnn_layer_set", "bsnn_layer_get", "bsnn_layer_bounds",
        "bsnn_optimizer_create", "bsnn_optimizer_set", "bsnn_optimizer_get",
        "bsnn_optimizer_bounds", "bsnn_optimizer_reset", "bsnn_dataset_create",
        "bsnn_dataset_parity", "bsnn_dataset_split", "bsnn_scheduler_create",
        "bsnn_scheduler_set", "bsnn_scheduler_get", "bsnn_scheduler_next",
        "bsnn_scheduler_reset", "bsnn_scheduler_bounds", "bsnn_scheduler_set_batch_steps",
        "bsnn_scheduler_lr", "bsnn_scheduler_seek", "bsnn_model_create", "bsnn_model_add",
        "bsnn_model_set_loss", "bsnn_model_set", "bsnn_model_get", "bsnn_model_init_params",
        "bsnn_model_get_params", "bsnn_model_set_params", "bsnn_model_get_grads",
        "bsnn_model_set_training", "bsnn_model_forward", "bsnn_model_train_step",
        "bsnn_model_train", "bsnn_model_evaluate", "bsnn_model_memory", "bsnn_model_max_batch",
        "bsnn_history_clear", "bsnn_history_get", "bsnn_history_write_csv",
        "bsnn_model_train_ex", "bsnn_search_set", "bsnn_search_get", "bsnn_search_run",
        "bsnn_search_sweep", "bsnn_search_result", "bsnn_search_write_csv",
        "bsnn_dataset_playground", "bsnn_dataset_features", "bsnn_dataset_toy1d",
        "bsnn_dataset_input_stats", "bsnn_dataset_standardize", "bsnn_dataset_one_hot",
        "bsnn_dataset_load_csv", "bsnn_dataset_load_idx", "bsnn_model_save", "bsnn_model_load",
        "bsnn_model_save_size", "bsnn_model_save_buffer", "bsnn_model_save_alloc",
        "bsnn_model_load_buffer", "bsnn_checkpoint_save", "bsnn_checkpoint_save_alloc",
        "bsnn_checkpoint_load", "bsnn_checkpoint_load_buffer", "bsnn_layer_set_seed",
        "bsnn_layer_get_seed", "bsnn_model_bounds", "bsnn_model_set_seed", "bsnn_model_get_seed",
        "bsnn_workspace_create", "bsnn_model_forward_ws", "bsnn_model_evaluate_ws",
        "bsnn_scheduler_set_seed", "bsnn_scheduler_get_seed", "bsnn_scheduler_set_memory_budget",
        "bsnn_scheduler_get_memory_budget", "bsnn_search_bounds", "bsnn_search_set_seed",
        "bsnn_search_get_seed", "bsnn_search_set_memory_budget", "bsnn_search_get_memory_budget",
        "bsnn_layer_standardize", "bsnn_model_set_grad_hook", "bsnn_model_stat",
        "bsnn_model_noise", "bsnn_model_noise_observe", "bsnn_model_noise_reset",
        "bsnn_model_noise_measure", "bsnn_scheduler_observe_noise", "bsnn_search_trial",
    };
    size_t n = sizeof fallible / sizeof fallible[0];
    for (size_t f = 0; f < n; f++) {
        size_t found = 0;
        for (size_t i = 0; i < N_ROWS; i++) found += strcmp(rows[i].fn, fallible[f]) == 0;
        cr_expect_gt(found, 0, "no misuse row for %s", fallible[f]);
    }
    fprintf(stderr, "misuse: %zu rows over %zu fallible public functions\n", N_ROWS, n);
}
