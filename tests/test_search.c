/*
 * test_search.c - the batch-size search: on a problem where the answer is
 * forced (one epoch of noise-free linear regression: every extra update
 * helps, so the smallest batch wins) the heuristic visits the documented
 * sizes in order, never leaves [1, N], returns 1, and is deterministic; the
 * sweep picks the best listed size; bad input is refused.
 */
#include "testutil.h"

#include <stdio.h>
#include <unistd.h>

/* y = 2 x0 - x1 + 0.5 on n points from a fixed LCG (independent of bsnn). */
static bsnn_dataset *linear_set(size_t n, unsigned seed)
{
    float *x = malloc(n * 2 * sizeof(float)), *y = malloc(n * sizeof(float));
    unsigned st = seed;
    for (size_t i = 0; i < n; i++) {
        for (int j = 0; j < 2; j++) {
            st = st * 1103515245u + 12345u;
            x[i * 2 + j] = (float)((st >> 8) % 2001) / 1000.0f - 1.0f;
        }
        y[i] = 2.0f * x[i * 2] - x[i * 2 + 1] + 0.5f;
    }
    bsnn_dataset *ds = bsnn_dataset_create(x, y, n, 2, 1);
    free(x);
    free(y);
    cr_assert_not_null(ds);
    return ds;
}

static bsnn_model *linear_model(void)
{
    bsnn_model *m = bsnn_model_create(2);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(1)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_MSE), BSNN_OK);
    cr_assert_eq(bsnn_model_init_params(m, 3), BSNN_OK);
    return m;
}

static double col(const bsnn_search *se, size_t row, bsnn_search_col c)
{
    double v;
    cr_assert_eq(bsnn_search_result(&v, se, row, c), BSNN_OK, "%s", bsnn_last_error());
    return v;
}

Test(search, heuristic_visits_documented_order_and_finds_forced_smallest_batch)
{
    bsnn_dataset *tr = linear_set(256, 1), *va = linear_set(64, 2);
    bsnn_model *m = linear_model();
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    bsnn_optimizer_set(opt, BSNN_OPT_LR, 0.05);
    bsnn_search *se = bsnn_search_create();
    cr_assert_eq(bsnn_search_set(se, BSNN_SEARCH_BUDGET, 1), BSNN_OK);
    float before[3], after[3];
    bsnn_model_get_params(before, 3, m);
    size_t best = 0;
    cr_assert_eq(bsnn_search_run(&best, se, m, opt, tr, va, NULL), BSNN_OK, "%s", bsnn_last_error());
    const size_t want[] = {128, 64, 256, 32, 16, 8, 4, 2, 1};
    size_t nw = sizeof want / sizeof want[0];
    cr_assert_eq(bsnn_search_count(se), nw);
    for (size_t i = 0; i < nw; i++) {
        double b = col(se, i, BSNN_SEARCH_COL_BATCH);
        cr_assert(b >= 1 && b <= 256);
        cr_assert_eq((size_t)b, want[i], "row %zu: batch %g, expected %zu", i, b, want[i]);
        /* one epoch: updates = ceil(N / B), epochs = 1 */
        cr_assert_eq((size_t)col(se, i, BSNN_SEARCH_COL_UPDATES), (256 + want[i] - 1) / want[i]);
        cr_assert_float_eq(col(se, i, BSNN_SEARCH_COL_EPOCHS), 1.0, 1e-12);
        cr_assert_eq(col(se, i, BSNN_SEARCH_COL_ACCUMULATED), 0.0);
    }
    cr_assert_eq(best, 1);
    cr_assert_eq(bsnn_search_best(se), 1);
    /* the model is back at its starting point */
    bsnn_model_get_params(after, 3, m);
    cr_assert_arr_eq(before, after, sizeof before);
    bsnn_search_free(se);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(tr);
    bsnn_dataset_free(va);
}

Test(search, same_seed_gives_identical_rows)
{
    bsnn_dataset *tr = linear_set(100, 4), *va = linear_set(30, 5);
    double rows[2][8][6];
    size_t count[2];
    for (int run = 0; run < 2; run++) {
        bsnn_model *m = linear_model();
        bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
        bsnn_search *se = bsnn_search_create();
        bsnn_search_set(se, BSNN_SEARCH_START, 16);
        bsnn_search_set(se, BSNN_SEARCH_BUDGET_KIND, BSNN_BUDGET_SAMPLES);
        bsnn_search_set(se, BSNN_SEARCH_BUDGET, 150);
        bsnn_search_set(se, BSNN_SEARCH_SEED, 9);
        size_t best;
        cr_assert_eq(bsnn_search_run(&best, se, m, opt, tr, va, NULL), BSNN_OK, "%s",
                     bsnn_last_error());
        count[run] = bsnn_search_count(se);
        cr_assert(count[run] >= 2 && count[run] <= 8);
        for (size_t i = 0; i < count[run]; i++)
            for (int c = 0; c < 6; c++) rows[run][i][c] = col(se, i, (bsnn_search_col)(c + 1));
        /* a samples budget: the last update reaches >= 150 samples */
        for (size_t i = 0; i < count[run]; i++) {
            double b = rows[run][i][0], seen = rows[run][i][1] * 100.0;
            cr_assert(seen >= 150 && seen < 150 + b, "batch %g saw %g samples", b, seen);
        }
        bsnn_search_free(se);
        bsnn_optimizer_free(opt);
        bsnn_model_free(m);
    }
    cr_assert_eq(count[0], count[1]);
    for (size_t i = 0; i < count[0]; i++)
        for (int c = 0; c < 6; c++) cr_assert_eq(rows[0][i][c], rows[1][i][c]);
    bsnn_dataset_free(tr);
    bsnn_dataset_free(va);
}

Test(search, heuristic_clamps_start_to_n_and_stays_within_range)
{
    bsnn_dataset *tr = linear_set(40, 6), *va = linear_set(10, 7);
    bsnn_model *m = linear_model();
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    bsnn_search *se = bsnn_search_create(); /* start 128 > N = 40 */
    size_t best;
    cr_assert_eq(bsnn_search_run(&best, se, m, opt, tr, va, NULL), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq((size_t)col(se, 0, BSNN_SEARCH_COL_BATCH), 40);
    cr_assert_eq((size_t)col(se, 1, BSNN_SEARCH_COL_BATCH), 20); /* 2 x 40 is N again: skipped */
    for (size_t i = 0; i < bsnn_search_count(se); i++) {
        double b = col(se, i, BSNN_SEARCH_COL_BATCH);
        cr_assert(b >= 1 && b <= 40);
    }
    cr_assert(best >= 1 && best <= 40);
    bsnn_search_free(se);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(tr);
    bsnn_dataset_free(va);
}

Test(search, sweep_tries_sizes_in_order_and_picks_best)
{
    bsnn_dataset *tr = linear_set(128, 8), *va = linear_set(32, 9);
    bsnn_model *m = linear_model();
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    bsnn_optimizer_set(opt, BSNN_OPT_LR, 0.05);
    bsnn_search *se = bsnn_search_create();
    bsnn_search_set(se, BSNN_SEARCH_BUDGET, 2);
    const size_t sizes[] = {64, 4, 128, 16};
    size_t best;
    cr_assert_eq(bsnn_search_sweep(&best, se, m, opt, tr, va, NULL, sizes, 4), BSNN_OK, "%s",
                 bsnn_last_error());
    cr_assert_eq(bsnn_search_count(se), 4);
    size_t argmin = 0;
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq((size_t)col(se, i, BSNN_SEARCH_COL_BATCH), sizes[i]);
        if (col(se, i, BSNN_SEARCH_COL_VAL_LOSS) < col(se, argmin, BSNN_SEARCH_COL_VAL_LOSS))
            argmin = i;
    }
    cr_assert_eq(best, sizes[argmin]);
    cr_assert_eq(best, 4); /* forced: most updates in 2 epochs */
    bsnn_search_free(se);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(tr);
    bsnn_dataset_free(va);
}

Test(search, memory_budget_runs_large_candidates_with_accumulation)
{
    bsnn_dataset *tr = linear_set(64, 10), *va = linear_set(16, 11);
    bsnn_model *m = tu_mlp(2, 8, BSNN_ACT_TANH, 1, BSNN_ACT_LINEAR, 2);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    size_t need16;
    cr_assert_eq(bsnn_model_memory(&need16, m, opt, 16), BSNN_OK);
    bsnn_search *se = bsnn_search_create();
    bsnn_search_set(se, BSNN_SEARCH_MEMORY_BUDGET, (double)need16);
    bsnn_search_set(se, BSNN_SEARCH_BUDGET, 1);
    const size_t sizes[] = {8, 16, 64};
    size_t best;
    cr_assert_eq(bsnn_search_sweep(&best, se, m, opt, tr, va, NULL, sizes, 3), BSNN_OK, "%s",
                 bsnn_last_error());
    cr_assert_eq(col(se, 0, BSNN_SEARCH_COL_ACCUMULATED), 0.0);
    cr_assert_eq(col(se, 1, BSNN_SEARCH_COL_ACCUMULATED), 0.0);
    cr_assert_eq(col(se, 2, BSNN_SEARCH_COL_ACCUMULATED), 1.0);
    cr_assert_eq(col(se, 2, BSNN_SEARCH_COL_MICRO_BATCH), 16.0);
    cr_assert(col(se, 2, BSNN_SEARCH_COL_PEAK_BYTES) <= (double)need16);
    cr_assert_eq(col(se, 2, BSNN_SEARCH_COL_UPDATES), 1.0);
    bsnn_search_free(se);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(tr);
    bsnn_dataset_free(va);
}

Test(search, bad_input_is_refused_with_a_message)
{
    bsnn_dataset *tr = linear_set(16, 1), *va = linear_set(4, 2);
    bsnn_model *m = linear_model();
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    bsnn_search *se = bsnn_search_create();
    size_t best = 77, zero = 0, big = 17;
    double v;
    cr_assert_eq(bsnn_search_set(NULL, BSNN_SEARCH_START, 1), BSNN_E_NULL);
    cr_assert_eq(bsnn_search_set(se, BSNN_SEARCH_START, 0), BSNN_E_ARG);
    cr_assert_eq(bsnn_search_set(se, BSNN_SEARCH_BUDGET, 0), BSNN_E_ARG);
    cr_assert_eq(bsnn_search_set(se, BSNN_SEARCH_BUDGET_KIND, 4), BSNN_E_ARG);
    cr_assert_eq(bsnn_search_set(se, BSNN_SEARCH_METRIC, 0), BSNN_E_ARG);
    cr_assert_eq(bsnn_search_set(se, BSNN_SEARCH_MEMORY_BUDGET, -1), BSNN_E_ARG);
    cr_assert_eq(bsnn_search_set(se, (bsnn_search_param)99, 1), BSNN_E_ARG);
    cr_assert_eq(bsnn_search_get(&v, se, (bsnn_search_param)99), BSNN_E_ARG);
    cr_assert_eq(bsnn_search_get(&v, se, BSNN_SEARCH_START), BSNN_OK);
    cr_assert_eq(v, 128.0);
    cr_assert_eq(bsnn_search_run(&best, se, NULL, opt, tr, va, NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_search_run(&best, se, m, opt, tr, NULL, NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_search_sweep(&best, se, m, opt, tr, va, NULL, &zero, 1), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "sizes[0]") != NULL, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_search_sweep(&best, se, m, opt, tr, va, NULL, &big, 1), BSNN_E_ARG);
    cr_assert_eq(bsnn_search_sweep(&best, se, m, opt, tr, va, NULL, &big, 0), BSNN_E_ARG);
    cr_assert_eq(best, 77);
    bsnn_search_set(se, BSNN_SEARCH_MEMORY_BUDGET, 100);
    cr_assert_eq(bsnn_search_run(&best, se, m, opt, tr, va, NULL), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "budget") != NULL, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_search_result(&v, se, 0, BSNN_SEARCH_COL_BATCH), BSNN_E_ARG);
    cr_assert_eq(bsnn_search_result(&v, NULL, 0, BSNN_SEARCH_COL_BATCH), BSNN_E_NULL);
    cr_assert_eq(bsnn_search_count(NULL), 0);
    cr_assert_eq(bsnn_search_best(NULL), 0);
    cr_assert_eq(bsnn_search_write_csv(se, NULL), BSNN_E_NULL);
    cr_assert_eq(bsnn_search_write_csv(se, "/nonexistent-dir/x.csv"), BSNN_E_IO);
    bsnn_search_free(NULL);
    bsnn_search_free(se);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(tr);
    bsnn_dataset_free(va);
}

Test(search, csv_has_a_header_and_one_line_per_candidate)
{
    bsnn_dataset *tr = linear_set(32, 1), *va = linear_set(8, 2);
    bsnn_model *m = linear_model();
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    bsnn_search *se = bsnn_search_create();
    bsnn_search_set(se, BSNN_SEARCH_BUDGET, 1);
    const size_t sizes[] = {4, 32};
    size_t best;
    cr_assert_eq(bsnn_search_sweep(&best, se, m, opt, tr, va, NULL, sizes, 2), BSNN_OK);
    char path[] = "/tmp/bsnn-search-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    cr_assert_eq(bsnn_search_write_csv(se, path), BSNN_OK, "%s", bsnn_last_error());
    FILE *f = fopen(path, "r");
    char line[512];
    int lines = 0;
    cr_assert_not_null(fgets(line, sizeof line, f));
    cr_assert(strncmp(line, "batch,epochs,updates", 20) == 0);
    while (fgets(line, sizeof line, f)) lines++;
    fclose(f);
    remove(path);
    cr_assert_eq(lines, 2);
    bsnn_search_free(se);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(tr);
    bsnn_dataset_free(va);
}

/* 2 -> 4 -> batch norm -> relu -> 1: a model with layer state (running
 * statistics), the second snapshot the search takes. */
static bsnn_model *batchnorm_model(void)
{
    bsnn_model *m = bsnn_model_create(2);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(4)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_batchnorm()), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_RELU)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(1)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_MSE), BSNN_OK);
    cr_assert_eq(bsnn_model_init_params(m, 3), BSNN_OK);
    return m;
}

/* Fail the k-th allocation of the search for k = 1, 2, ... until the run
 * succeeds: every failure is BSNN_E_NOMEM, leaks nothing and leaves the
 * model's parameters unchanged. */
static void search_survives_every_allocation_failure(bsnn_model *(*make)(void))
{
    int done = 0;
    for (size_t k = 1; !done && k < 500; k++) {
        tu_count_allocations(0);
        bsnn_dataset *tr = linear_set(24, 1), *va = linear_set(8, 2);
        bsnn_model *m = make();
        size_t np = bsnn_model_param_count(m);
        bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_ADAM);
        bsnn_scheduler *tmpl = bsnn_scheduler_create(5);
        const size_t ep[] = {1}, sz[] = {5};
        cr_assert_eq(bsnn_scheduler_set_batch_steps(tmpl, ep, sz, 1), BSNN_OK);
        bsnn_search *se = bsnn_search_create();
        bsnn_history *h = bsnn_history_create();
        bsnn_search_set(se, BSNN_SEARCH_BUDGET, 2);
        bsnn_search_set(se, BSNN_SEARCH_START, 8);
        float before[32], after[32];
        cr_assert_leq(np, 32);
        bsnn_model_get_params(before, np, m);
        tu_stats.fail_at = tu_stats.allocs + k;
        size_t best = 0;
        bsnn_status st = bsnn_search_run(&best, se, m, opt, tr, va, tmpl);
        if (st == BSNN_OK) {
            bsnn_scheduler *s = bsnn_scheduler_create(24);
            st = s ? bsnn_model_train_ex(NULL, m, opt, s, tr, va, h, 2, NULL, NULL) : BSNN_E_NOMEM;
            bsnn_scheduler_free(s);
            done = st == BSNN_OK;
        } else {
            bsnn_model_get_params(after, np, m);
            cr_assert_arr_eq(before, after, np * sizeof(float), "k = %zu", k);
        }
        cr_assert(st == BSNN_OK || st == BSNN_E_NOMEM, "k = %zu: %d %s", k, st, bsnn_last_error());
        tu_stats.fail_at = 0;
        bsnn_history_free(h);
        bsnn_search_free(se);
        bsnn_scheduler_free(tmpl);
        bsnn_optimizer_free(opt);
        bsnn_model_free(m);
        bsnn_dataset_free(tr);
        bsnn_dataset_free(va);
        cr_assert_eq(tu_stats.live_bytes, 0, "k = %zu: %zu bytes leaked", k, tu_stats.live_bytes);
        tu_restore_allocator();
    }
    cr_assert(done);
}

Test(search, out_of_memory_at_any_allocation_leaks_nothing)
{
    search_survives_every_allocation_failure(linear_model);
}

/* Issue 10, item 2: with layer state, a failed second snapshot (state0)
 * made the cleanup copy from NULL (SIGSEGV instead of BSNN_E_NOMEM). */
Test(search, out_of_memory_with_batch_norm_state_is_nomem_not_a_crash)
{
    search_survives_every_allocation_failure(batchnorm_model);
}

Test(search, diverging_candidates_are_recorded_as_worst_not_errors)
{
    bsnn_dataset *tr = linear_set(64, 1), *va = linear_set(16, 2);
    bsnn_model *m = linear_model();
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    bsnn_optimizer_set(opt, BSNN_OPT_LR, 1e5); /* every size blows up */
    bsnn_search *se = bsnn_search_create();
    bsnn_search_set(se, BSNN_SEARCH_BUDGET, 40);
    const size_t sizes[] = {2, 64};
    size_t best = 0;
    cr_assert_null(bsnn_layer_dense(0)); /* a message the successful sweep must keep */
    char before[256];
    snprintf(before, sizeof before, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_search_sweep(&best, se, m, opt, tr, va, NULL, sizes, 2), BSNN_OK, "%s",
                 bsnn_last_error());
    cr_assert_str_eq(bsnn_last_error(), before, "a successful call changed the error message");
    for (size_t i = 0; i < 2; i++) {
        cr_assert(isinf(col(se, i, BSNN_SEARCH_COL_VAL_LOSS)));
        cr_assert_eq(col(se, i, BSNN_SEARCH_COL_VAL_ACCURACY), 0.0);
    }
    cr_assert_eq(best, 2); /* all equal: the earlier */
    bsnn_search_free(se);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(tr);
    bsnn_dataset_free(va);
}

Test(search, template_settings_apply_and_accumulation_keeps_the_result)
{
    bsnn_dataset *tr = linear_set(48, 3), *va = linear_set(16, 4);
    const size_t sizes[] = {6, 16};
    double loss[2][2];
    for (int k = 0; k < 2; k++) {
        bsnn_model *m = linear_model();
        bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
        bsnn_scheduler *tmpl = bsnn_scheduler_create(10); /* another N: settings only */
        bsnn_scheduler_set(tmpl, BSNN_SCHED_WARMUP_STEPS, 5);
        bsnn_scheduler_set(tmpl, BSNN_SCHED_MICRO_BATCH, k ? 4 : 0);
        bsnn_search *se = bsnn_search_create();
        bsnn_search_set(se, BSNN_SEARCH_BUDGET, 2);
        size_t best;
        cr_assert_eq(bsnn_search_sweep(&best, se, m, opt, tr, va, tmpl, sizes, 2), BSNN_OK, "%s",
                     bsnn_last_error());
        for (int i = 0; i < 2; i++) {
            loss[k][i] = col(se, (size_t)i, BSNN_SEARCH_COL_VAL_LOSS);
            cr_assert_eq(col(se, (size_t)i, BSNN_SEARCH_COL_ACCUMULATED), (double)k);
            cr_assert_eq(col(se, (size_t)i, BSNN_SEARCH_COL_MICRO_BATCH), k ? 4.0 : (double)sizes[i]);
        }
        bsnn_search_free(se);
        bsnn_scheduler_free(tmpl);
        bsnn_optimizer_free(opt);
        bsnn_model_free(m);
    }
    for (int i = 0; i < 2; i++)
        cr_assert_lt(tu_rel(loss[0][i], loss[1][i], 1e-9), 1e-5, "%g vs %g", loss[0][i], loss[1][i]);
    bsnn_dataset_free(tr);
    bsnn_dataset_free(va);
}

/* Every setting's bounds agree with the setter (ends accepted unless open,
 * just outside refused); seeds and budgets have typed forms that reach
 * every value, and the double form refuses what it cannot hold exactly. */
Test(search, bounds_agree_with_the_setter_and_typed_forms_reach_every_value)
{
    bsnn_search *se = bsnn_search_create();
    for (int p = BSNN_SEARCH_START; p <= BSNN_SEARCH_MEMORY_BUDGET; p++) {
        double lo, hi, v;
        unsigned open;
        cr_assert_eq(bsnn_search_bounds(&lo, &hi, &open, se, (bsnn_search_param)p), BSNN_OK);
        cr_assert_leq(lo, hi);
        double below = (open & BSNN_BOUND_LO_OPEN) ? lo : lo - 1.0;
        double above = (open & BSNN_BOUND_HI_OPEN) ? hi : hi * 2.0 + 1.0;
        cr_assert_eq(bsnn_search_set(se, (bsnn_search_param)p, below), BSNN_E_ARG, "%d", p);
        cr_assert_eq(bsnn_search_set(se, (bsnn_search_param)p, above), BSNN_E_ARG, "%d", p);
        double ends[2] = {(open & BSNN_BOUND_LO_OPEN) ? lo + 1.0 : lo,
                          (open & BSNN_BOUND_HI_OPEN) ? hi - 1.0 : hi};
        for (int e = 0; e < 2; e++) {
            cr_assert_eq(bsnn_search_set(se, (bsnn_search_param)p, ends[e]), BSNN_OK, "%d %g: %s",
                         p, ends[e], bsnn_last_error());
            cr_assert_eq(bsnn_search_get(&v, se, (bsnn_search_param)p), BSNN_OK);
            cr_assert_eq(v, ends[e]);
        }
    }
    uint64_t seed = 0;
    cr_assert_eq(bsnn_search_set_seed(se, UINT64_MAX), BSNN_OK);
    cr_assert_eq(bsnn_search_get_seed(&seed, se), BSNN_OK);
    cr_assert_eq(seed, UINT64_MAX);
    double v;
    cr_assert_eq(bsnn_search_get(&v, se, BSNN_SEARCH_SEED), BSNN_E_ARG);
    size_t bytes = 0;
    cr_assert_eq(bsnn_search_set_memory_budget(se, SIZE_MAX - 1), BSNN_OK);
    cr_assert_eq(bsnn_search_get_memory_budget(&bytes, se), BSNN_OK);
    cr_assert_eq(bytes, SIZE_MAX - 1);
    cr_assert_eq(bsnn_search_get(&v, se, BSNN_SEARCH_MEMORY_BUDGET), BSNN_E_ARG);
    cr_assert_eq(bsnn_search_set(se, BSNN_SEARCH_MEMORY_BUDGET, 10.5), BSNN_E_ARG);
    bsnn_search_free(se);
}

/* 2 -> dense 8 -> tanh -> dropout 0.3 -> dense 1. */
static bsnn_model *dropout_model(void)
{
    bsnn_model *m = bsnn_model_create(2);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(8)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dropout(0.3)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(1)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_MSE), BSNN_OK);
    cr_assert_eq(bsnn_model_init_params(m, 4), BSNN_OK);
    return m;
}

/* Every candidate starts from the same dropout masks (the layer's count of
 * updates is part of the starting point): the same size twice gives the
 * same row; and the model leaves the search as it came, so training it
 * afterwards equals training a twin that never searched. */
Test(search, candidates_share_the_starting_dropout_masks_and_the_model_is_restored)
{
    bsnn_dataset *train = linear_set(24, 5), *val = linear_set(12, 6);
    bsnn_model *m = dropout_model(), *twin = dropout_model();
    bsnn_optimizer *o = bsnn_optimizer_create(BSNN_ADAM), *ot = bsnn_optimizer_create(BSNN_ADAM);
    bsnn_scheduler *s = bsnn_scheduler_create(24), *st = bsnn_scheduler_create(24);
    cr_assert_eq(bsnn_model_train(NULL, m, o, s, train, 1, NULL, NULL), BSNN_OK);
    cr_assert_eq(bsnn_model_train(NULL, twin, ot, st, train, 1, NULL, NULL), BSNN_OK);
    bsnn_search *se = bsnn_search_create();
    cr_assert_eq(bsnn_search_set(se, BSNN_SEARCH_BUDGET, 2), BSNN_OK);
    size_t sizes[2] = {4, 4}, best = 0;
    cr_assert_eq(bsnn_search_sweep(&best, se, m, o, train, val, NULL, sizes, 2), BSNN_OK, "%s",
                 bsnn_last_error());
    cr_assert_eq(col(se, 0, BSNN_SEARCH_COL_VAL_LOSS), col(se, 1, BSNN_SEARCH_COL_VAL_LOSS),
                 "the second candidate drew other masks");
    bsnn_optimizer_free(o);
    o = bsnn_optimizer_create(BSNN_ADAM); /* the search reset it; give both fresh ones */
    bsnn_optimizer_free(ot);
    ot = bsnn_optimizer_create(BSNN_ADAM);
    cr_assert_eq(bsnn_model_train(NULL, m, o, s, train, 2, NULL, NULL), BSNN_OK);
    cr_assert_eq(bsnn_model_train(NULL, twin, ot, st, train, 2, NULL, NULL), BSNN_OK);
    size_t np = bsnn_model_param_count(m);
    float a[64], b[64];
    bsnn_model_get_params(a, np, m), bsnn_model_get_params(b, np, twin);
    cr_assert(memcmp(a, b, np * sizeof(float)) == 0, "the search left the model changed");
    bsnn_search_free(se);
    bsnn_scheduler_free(s), bsnn_scheduler_free(st);
    bsnn_optimizer_free(o), bsnn_optimizer_free(ot);
    bsnn_model_free(m), bsnn_model_free(twin);
    bsnn_dataset_free(train), bsnn_dataset_free(val);
}

/* ---- repeats and the choice rule (issue 15) ------------------------------- */

static double trial(const bsnn_search *se, size_t row, size_t rep, bsnn_search_col c)
{
    double v;
    cr_assert_eq(bsnn_search_trial(&v, se, row, rep, c), BSNN_OK, "%s", bsnn_last_error());
    return v;
}

Test(search, repeats_keep_the_documented_order_and_rows_hold_means_and_sds_of_their_runs)
{
    bsnn_dataset *tr = linear_set(256, 1), *va = linear_set(64, 2);
    bsnn_model *m = linear_model();
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    bsnn_optimizer_set(opt, BSNN_OPT_LR, 0.05);
    bsnn_search *se = bsnn_search_create();
    cr_assert_eq(bsnn_search_set(se, BSNN_SEARCH_BUDGET, 1), BSNN_OK);
    cr_assert_eq(bsnn_search_set(se, BSNN_SEARCH_REPEATS, 3), BSNN_OK);
    cr_assert_eq(bsnn_search_set_seed(se, 10), BSNN_OK);
    size_t best = 0;
    cr_assert_eq(bsnn_search_run(&best, se, m, opt, tr, va, NULL), BSNN_OK, "%s", bsnn_last_error());
    const size_t want[] = {128, 64, 256, 32, 16, 8, 4, 2, 1};
    cr_assert_eq(bsnn_search_count(se), 9);
    for (size_t i = 0; i < 9; i++) {
        cr_assert_eq(col(se, i, BSNN_SEARCH_COL_BATCH), (double)want[i], "row %zu", i);
        cr_assert_eq(col(se, i, BSNN_SEARCH_COL_N), 3);
        /* hand computation over the row's three runs */
        double l[3], a[3], ml = 0, ma = 0, sl = 0, sa = 0;
        for (size_t r = 0; r < 3; r++) {
            l[r] = trial(se, i, r, BSNN_SEARCH_COL_VAL_LOSS);
            a[r] = trial(se, i, r, BSNN_SEARCH_COL_VAL_ACCURACY);
            cr_assert_eq(trial(se, i, r, BSNN_SEARCH_COL_BATCH), (double)want[i]);
            ml += l[r] / 3, ma += a[r] / 3;
        }
        for (size_t r = 0; r < 3; r++) sl += (l[r] - ml) * (l[r] - ml) / 2, sa += (a[r] - ma) * (a[r] - ma) / 2;
        cr_assert(fabs(col(se, i, BSNN_SEARCH_COL_VAL_LOSS) - ml) <= 1e-12 * ml);
        cr_assert(fabs(col(se, i, BSNN_SEARCH_COL_VAL_LOSS_SD) - sqrt(sl)) <= 1e-9 * sqrt(sl) + 1e-300);
        cr_assert(fabs(col(se, i, BSNN_SEARCH_COL_VAL_ACCURACY) - ma) <= 1e-12);
        cr_assert(fabs(col(se, i, BSNN_SEARCH_COL_VAL_ACCURACY_SD) - sqrt(sa)) <= 1e-9);
        cr_assert(sl > 0.0, "row %zu: the repeats' data orders differ, so do their losses", i);
    }
    cr_assert_eq(best, 1);
    /* repeat r is the run of a one-repeat search with seed 10 + r */
    bsnn_search *one = bsnn_search_create();
    cr_assert_eq(bsnn_search_set(one, BSNN_SEARCH_BUDGET, 1), BSNN_OK);
    const size_t sizes[] = {64};
    for (uint64_t r = 0; r < 3; r++) {
        cr_assert_eq(bsnn_search_set_seed(one, 10 + r), BSNN_OK);
        cr_assert_eq(bsnn_search_sweep(&best, one, m, opt, tr, va, NULL, sizes, 1), BSNN_OK);
        cr_assert_eq(col(one, 0, BSNN_SEARCH_COL_VAL_LOSS), trial(se, 1, r, BSNN_SEARCH_COL_VAL_LOSS));
        cr_assert(isnan(col(one, 0, BSNN_SEARCH_COL_VAL_LOSS_SD)), "one run has no sd");
        cr_assert_eq(col(one, 0, BSNN_SEARCH_COL_N), 1);
    }
    double v;
    cr_assert_eq(bsnn_search_trial(&v, se, 9, 0, BSNN_SEARCH_COL_BATCH), BSNN_E_ARG);
    cr_assert_eq(bsnn_search_trial(&v, se, 0, 3, BSNN_SEARCH_COL_BATCH), BSNN_E_ARG);
    cr_assert_eq(bsnn_search_trial(&v, se, 0, 0, BSNN_SEARCH_COL_N), BSNN_E_ARG);
    cr_assert_eq(bsnn_search_trial(NULL, se, 0, 0, BSNN_SEARCH_COL_BATCH), BSNN_E_NULL);
    cr_assert_eq(bsnn_search_trial(&v, NULL, 0, 0, BSNN_SEARCH_COL_BATCH), BSNN_E_NULL);
    bsnn_search_free(one);
    bsnn_search_free(se);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(tr);
    bsnn_dataset_free(va);
}

/* y = sign of a noisy linear score: classes overlap, so runs differ by seed. */
static bsnn_dataset *noisy_labels(size_t n, unsigned seed)
{
    float *x = malloc(n * 2 * sizeof(float)), *y = malloc(n * sizeof(float));
    unsigned st = seed;
    for (size_t i = 0; i < n; i++) {
        double noise;
        for (int j = 0; j < 2; j++) {
            st = st * 1103515245u + 12345u;
            x[i * 2 + j] = (float)((st >> 8) % 2001) / 1000.0f - 1.0f;
        }
        st = st * 1103515245u + 12345u;
        noise = (double)((st >> 8) % 2001) / 1000.0 - 1.0;
        y[i] = x[i * 2] - 0.5f * x[i * 2 + 1] + (float)noise > 0.0f ? 1.0f : 0.0f;
    }
    bsnn_dataset *ds = bsnn_dataset_create(x, y, n, 2, 1);
    free(x);
    free(y);
    return ds;
}

Test(search, the_one_standard_error_rule_picks_the_largest_size_near_the_best_mean)
{
    bsnn_dataset *tr = noisy_labels(256, 3), *va = noisy_labels(128, 4);
    bsnn_model *m = bsnn_model_create(2);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(4)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH)), BSNN_OK);
    cr_assert_eq(bsnn_model_add(m, bsnn_layer_dense(1)), BSNN_OK);
    cr_assert_eq(bsnn_model_set_loss(m, BSNN_LOSS_BCE_LOGITS), BSNN_OK);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_ADAM);
    bsnn_optimizer_set(opt, BSNN_OPT_LR, 0.02);
    const size_t sizes[] = {4, 8, 16, 32, 64, 128};
    size_t pick[2];
    bsnn_search *se[2];
    for (int rule = 0; rule < 2; rule++) {
        se[rule] = bsnn_search_create();
        cr_assert_eq(bsnn_search_set(se[rule], BSNN_SEARCH_BUDGET, 6), BSNN_OK);
        cr_assert_eq(bsnn_search_set(se[rule], BSNN_SEARCH_REPEATS, 5), BSNN_OK);
        cr_assert_eq(bsnn_search_set(se[rule], BSNN_SEARCH_REINIT, 1), BSNN_OK);
        cr_assert_eq(bsnn_search_set(se[rule], BSNN_SEARCH_RULE,
                                     rule ? BSNN_RULE_ONE_SE : BSNN_RULE_BEST_MEAN),
                     BSNN_OK);
        cr_assert_eq(bsnn_search_sweep(&pick[rule], se[rule], m, opt, tr, va, NULL, sizes, 6),
                     BSNN_OK, "%s", bsnn_last_error());
    }
    /* the same runs under both rules (evaluated in batches of the grown
     * workspace: equal to rounding) */
    for (size_t i = 0; i < 6; i++)
        cr_assert(fabs(col(se[0], i, BSNN_SEARCH_COL_VAL_LOSS) -
                       col(se[1], i, BSNN_SEARCH_COL_VAL_LOSS)) <= 1e-9);
    /* hand: the best mean, its standard error, the largest size within it */
    size_t b = 0;
    for (size_t i = 1; i < 6; i++)
        if (col(se[1], i, BSNN_SEARCH_COL_VAL_LOSS) < col(se[1], b, BSNN_SEARCH_COL_VAL_LOSS)) b = i;
    cr_assert_eq(pick[0], sizes[b], "best mean");
    double lim = col(se[1], b, BSNN_SEARCH_COL_VAL_LOSS) +
                 col(se[1], b, BSNN_SEARCH_COL_VAL_LOSS_SD) / sqrt(5.0);
    size_t want = sizes[b];
    for (size_t i = 0; i < 6; i++)
        if (col(se[1], i, BSNN_SEARCH_COL_VAL_LOSS) <= lim && sizes[i] > want) want = sizes[i];
    for (size_t i = 0; i < 6; i++)
        printf("batch %3zu: val loss %.4f +- %.4f\n", sizes[i], col(se[1], i, BSNN_SEARCH_COL_VAL_LOSS),
               col(se[1], i, BSNN_SEARCH_COL_VAL_LOSS_SD) / sqrt(5.0));
    cr_assert_eq(pick[1], want);
    cr_assert_eq(bsnn_search_best(se[1]), want);
    cr_assert_gt(pick[1], pick[0], "this problem's one-SE pick is larger than the best mean's");
    bsnn_search_free(se[0]);
    bsnn_search_free(se[1]);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(tr);
    bsnn_dataset_free(va);
}

Test(search, repeat_settings_have_bounds_and_refuse_bad_values)
{
    bsnn_search *se = bsnn_search_create();
    double v, lo, hi;
    unsigned open;
    cr_assert_eq(bsnn_search_get(&v, se, BSNN_SEARCH_REPEATS), BSNN_OK);
    cr_assert_eq(v, 1);
    cr_assert_eq(bsnn_search_get(&v, se, BSNN_SEARCH_RULE), BSNN_OK);
    cr_assert_eq(v, BSNN_RULE_BEST_MEAN);
    cr_assert_eq(bsnn_search_get(&v, se, BSNN_SEARCH_REINIT), BSNN_OK);
    cr_assert_eq(v, 0);
    cr_assert_eq(bsnn_search_bounds(&lo, &hi, &open, se, BSNN_SEARCH_REPEATS), BSNN_OK);
    cr_assert(lo == 1 && hi == 10000 && open == 0);
    cr_assert_eq(bsnn_search_set(se, BSNN_SEARCH_REPEATS, 0), BSNN_E_ARG);
    cr_assert_eq(bsnn_search_set(se, BSNN_SEARCH_REPEATS, 2.5), BSNN_E_ARG);
    cr_assert_eq(bsnn_search_set(se, BSNN_SEARCH_RULE, 3), BSNN_E_ARG);
    cr_assert_eq(bsnn_search_set(se, BSNN_SEARCH_RULE, 0), BSNN_E_ARG);
    cr_assert_eq(bsnn_search_set(se, BSNN_SEARCH_REINIT, 2), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "reinit flag 2") != NULL, "%s", bsnn_last_error());
    bsnn_search_free(se);
}
