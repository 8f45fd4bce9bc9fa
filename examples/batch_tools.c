/*
 * batch_tools.c - the batch-size tools on the Playground spiral: a batch
 * that doubles every 40 epochs with the learning rate scaled along
 * (Smith et al. 2017; Goyal et al. 2017) and warmed up, a memory budget that
 * splits the large batches into micro-batches, a per-epoch history (written
 * as CSV when a path is given), then the batch-size search from 128.
 *
 *     batch_tools [history.csv]
 */
#include <bsnn.h>
#include <stdio.h>

static int check(bsnn_status st, const char *what)
{
    if (st != BSNN_OK) fprintf(stderr, "batch_tools: %s: %s\n", what, bsnn_last_error());
    return st != BSNN_OK;
}

static bsnn_model *spiral_net(void)
{
    bsnn_model *m = bsnn_model_create(2);
    bsnn_model_add(m, bsnn_layer_dense(16));
    bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH));
    bsnn_model_add(m, bsnn_layer_dense(16));
    bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_TANH));
    bsnn_model_add(m, bsnn_layer_dense(1));
    bsnn_model_set_loss(m, BSNN_LOSS_BCE_LOGITS);
    return m;
}

int main(int argc, char **argv)
{
    bsnn_dataset *all = bsnn_dataset_playground(BSNN_PG_SPIRAL, 500, 0.0, 7, BSNN_PG_LABELS_01);
    bsnn_dataset *train = NULL, *val = NULL;
    if (all == NULL || check(bsnn_dataset_split(&train, &val, all, 0.8, 1), "split")) return 1;
    bsnn_model *net = spiral_net();
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_ADAM);
    bsnn_optimizer_set(opt, BSNN_OPT_LR, 0.01);
    bsnn_scheduler *s = bsnn_scheduler_create(bsnn_dataset_size(train));
    bsnn_scheduler_set(s, BSNN_SCHED_SEED, 3);
    bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 8);
    bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SCHEDULE, BSNN_BATCH_GEOMETRIC);
    bsnn_scheduler_set(s, BSNN_SCHED_GROWTH_EVERY, 40);
    bsnn_scheduler_set(s, BSNN_SCHED_BATCH_CAP, 128);
    bsnn_scheduler_set(s, BSNN_SCHED_LR_SCALING, BSNN_SCALE_SQRT);
    bsnn_scheduler_set(s, BSNN_SCHED_BASE_BATCH, 8);
    bsnn_scheduler_set(s, BSNN_SCHED_WARMUP_STEPS, 100);
    size_t need32 = 0, need128 = 0;
    bsnn_model_memory(&need32, net, opt, 32);
    bsnn_model_memory(&need128, net, opt, 128);
    printf("memory to train: %zu bytes at batch 32, %zu at batch 128; budget %zu\n", need32,
           need128, need32);
    bsnn_scheduler_set(s, BSNN_SCHED_MEMORY_BUDGET, (double)need32); /* 64, 128 get split */
    bsnn_history *h = bsnn_history_create();
    if (check(bsnn_model_train_ex(NULL, net, opt, s, train, val, h, 200, NULL, NULL), "train"))
        return 1;
    printf("epoch  batch  lr        train loss  val loss  val acc\n");
    for (size_t r = 0; r < bsnn_history_size(h); r += 20) {
        double v[6];
        for (int c = 0; c < 6; c++) bsnn_history_get(&v[c], h, r, (bsnn_hist_field)(c + 1));
        printf("%5.0f  %5.0f  %.6f  %10.4f  %8.4f  %7.3f\n", v[0], v[1], v[2], v[3], v[4], v[5]);
    }
    if (argc > 1 && check(bsnn_history_write_csv(h, argv[1]), "history csv")) return 1;

    bsnn_search *se = bsnn_search_create();
    bsnn_search_set(se, BSNN_SEARCH_BUDGET_KIND, BSNN_BUDGET_SAMPLES);
    bsnn_search_set(se, BSNN_SEARCH_BUDGET, 400.0 * 60); /* 60 epochs' worth for everyone */
    bsnn_search_set(se, BSNN_SEARCH_SEED, 5);
    bsnn_model *fresh = spiral_net();
    bsnn_optimizer_reset(opt);
    size_t best = 0;
    if (check(bsnn_search_run(&best, se, fresh, opt, train, val, NULL), "search")) return 1;
    printf("search: batch  updates  val loss  val acc  seconds\n");
    for (size_t r = 0; r < bsnn_search_count(se); r++) {
        double b, u, l, a, t;
        bsnn_search_result(&b, se, r, BSNN_SEARCH_COL_BATCH);
        bsnn_search_result(&u, se, r, BSNN_SEARCH_COL_UPDATES);
        bsnn_search_result(&l, se, r, BSNN_SEARCH_COL_VAL_LOSS);
        bsnn_search_result(&a, se, r, BSNN_SEARCH_COL_VAL_ACCURACY);
        bsnn_search_result(&t, se, r, BSNN_SEARCH_COL_SECONDS);
        printf("        %5.0f  %7.0f  %8.4f  %7.3f  %7.3f\n", b, u, l, a, t);
    }
    printf("search: chose batch %zu\n", best);
    bsnn_search_free(se);
    bsnn_history_free(h);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_model_free(fresh);
    bsnn_model_free(net);
    bsnn_dataset_free(train);
    bsnn_dataset_free(val);
    bsnn_dataset_free(all);
    return 0;
}
