/*
 * optimizers - every update rule on 4-bit parity (the 4-8-1 sigmoid net of
 * examples/xor4.c, MSE) at batch sizes 1, 4 and 16 (full batch), from the
 * same initial weights for every rule (seeds 1..S). Prints a Markdown table
 * of updates-to-fit (median over the seeds that fit all 16 rows within the
 * cap, and how many did); `make docs-optimizers` pastes it into
 * docs/optimizers.md.
 *
 * Rates: each adaptive rule at its defaults (PyTorch's); plain SGD at 2.0
 * (xor4's rate: the sigmoid/MSE gradients here are small), momentum and
 * Nesterov at 0.5 with mu 0.9 (their default 0.01 does not fit in the cap).
 *
 * usage: optimizers [seeds] [max-updates]
 */
#include <bsnn.h>

#include <stdio.h>
#include <stdlib.h>

typedef struct fit_state {
    bsnn_model *m;
    const bsnn_dataset *ds;
    size_t fitted_at;
} fit_state;

static int on_event(void *user, bsnn_event ev, size_t epoch, size_t step, size_t batch,
                    double loss)
{
    (void)epoch, (void)batch, (void)loss;
    fit_state *fs = user;
    double acc = 0.0;
    if (ev != BSNN_EVENT_EPOCH) return 0;
    bsnn_model_evaluate(NULL, &acc, fs->m, fs->ds, bsnn_dataset_size(fs->ds));
    if (acc == 1.0) fs->fitted_at = step;
    return acc == 1.0;
}

/* Updates to fit, 0 when not fitted within max_updates; -1 on error. */
static long updates_to_fit(bsnn_optimizer_kind kind, double lr, size_t batch, uint64_t seed,
                           size_t max_updates, const bsnn_dataset *ds)
{
    bsnn_model *m = bsnn_model_create(4);
    bsnn_optimizer *o = bsnn_optimizer_create(kind);
    bsnn_scheduler *s = bsnn_scheduler_create(bsnn_dataset_size(ds));
    long result = -1;
    if (m && o && s && bsnn_model_add(m, bsnn_layer_dense(8)) == BSNN_OK &&
        bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_SIGMOID)) == BSNN_OK &&
        bsnn_model_add(m, bsnn_layer_dense(1)) == BSNN_OK &&
        bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_SIGMOID)) == BSNN_OK &&
        bsnn_model_set_loss(m, BSNN_LOSS_MSE) == BSNN_OK &&
        bsnn_model_init_params(m, seed) == BSNN_OK &&
        (lr <= 0.0 || bsnn_optimizer_set(o, BSNN_OPT_LR, lr) == BSNN_OK) &&
        bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, (double)batch) == BSNN_OK &&
        bsnn_scheduler_set_seed(s, seed) == BSNN_OK) {
        size_t per_epoch = (bsnn_dataset_size(ds) + batch - 1) / batch;
        fit_state fs = {m, ds, 0};
        if (bsnn_model_train(NULL, m, o, s, ds, max_updates / per_epoch, on_event, &fs) == BSNN_OK)
            result = (long)fs.fitted_at;
    }
    if (result < 0) fprintf(stderr, "optimizers: %s\n", bsnn_last_error());
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(o);
    bsnn_model_free(m);
    return result;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

typedef struct rule {
    bsnn_optimizer_kind kind;
    const char *name;
    double lr; /* 0: the rule's default */
} rule;

static const rule rules[] = {
    {BSNN_SGD, "SGD", 2.0},           {BSNN_MOMENTUM, "Momentum", 0.5},
    {BSNN_NESTEROV, "Nesterov", 0.5}, {BSNN_ADAGRAD, "Adagrad", 0},
    {BSNN_ADADELTA, "Adadelta", 0},   {BSNN_RMSPROP, "RMSprop", 0},
    {BSNN_ADAM, "Adam", 0},           {BSNN_ADAMAX, "AdaMax", 0},
    {BSNN_NADAM, "Nadam", 0},         {BSNN_AMSGRAD, "AMSGrad", 0},
    {BSNN_ADAMW, "AdamW", 0},
};

enum { MAX_SEEDS = 64 };

int main(int argc, char **argv)
{
    int seeds = argc > 1 ? atoi(argv[1]) : 5;
    long max_updates = argc > 2 ? atol(argv[2]) : 100000;
    if (seeds < 1 || seeds > MAX_SEEDS || max_updates < 16) {
        fprintf(stderr, "usage: optimizers [seeds 1..%d] [max-updates >= 16]\n", MAX_SEEDS);
        return 2;
    }
    bsnn_dataset *ds = bsnn_dataset_parity(4);
    if (ds == NULL) {
        fprintf(stderr, "optimizers: %s\n", bsnn_last_error());
        return 1;
    }
    const size_t batches[3] = {1, 4, 16};
    printf("| rule | lr | batch 1 | batch 4 | batch 16 (GD) |\n");
    printf("|---|---|---|---|---|\n");
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
        double lr = rules[r].lr;
        if (lr <= 0.0) {
            bsnn_optimizer *o = bsnn_optimizer_create(rules[r].kind);
            bsnn_optimizer_get(&lr, o, BSNN_OPT_LR);
            bsnn_optimizer_free(o);
        }
        printf("| %s | %g%s |", rules[r].name, lr, rules[r].lr > 0 ? "" : " (default)");
        for (int b = 0; b < 3; b++) {
            long fits[MAX_SEEDS];
            int n_fit = 0;
            for (int sd = 1; sd <= seeds; sd++) {
                long u = updates_to_fit(rules[r].kind, rules[r].lr, batches[b], (uint64_t)sd,
                                        (size_t)max_updates, ds);
                if (u < 0) return 1;
                if (u > 0) fits[n_fit++] = u;
            }
            qsort(fits, (size_t)n_fit, sizeof fits[0], cmp_long);
            if (n_fit)
                printf(" %ld (%d/%d) |", fits[(n_fit - 1) / 2], n_fit, seeds);
            else
                printf(" - (0/%d) |", seeds);
        }
        printf("\n");
        fflush(stdout);
    }
    printf("\nMedian updates until all 16 rows are classified (checked after each epoch) "
           "over the seeds that fit within %ld updates; (fitted/seeds). Seeds 1..%d set the "
           "initial weights and the shuffling.\n",
           max_updates, seeds);
    bsnn_dataset_free(ds);
    return 0;
}
