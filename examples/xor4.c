/*
 * xor4 - 4-input XOR (parity of 4 bits, all 16 samples) with a 4-8-1 sigmoid
 * net and mean squared error, trained three ways from the same initial
 * weights: full-batch gradient descent, stochastic (batch 1) and minibatch 4.
 * Prints the loss every `report` updates (GD's plateaus show as long runs of
 * nearly equal losses) and the updates and epochs each needed to fit all 16
 * samples (every output on the right side of 0.5).
 *
 * usage: xor4 [seed] [learning-rate] [max-epochs]
 */
#include <bsnn.h>

#include <stdio.h>
#include <stdlib.h>

typedef struct run_state {
    bsnn_model *model;
    const bsnn_dataset *data;
    size_t report;        /* print every this many updates            */
    size_t fitted_epoch;  /* first epoch after which all 16 are right */
    size_t fitted_step;
} run_state;

static int all_right(bsnn_model *m, const bsnn_dataset *ds)
{
    double acc = 0.0;
    bsnn_model_evaluate(NULL, &acc, m, ds, bsnn_dataset_size(ds));
    return acc == 1.0;
}

static int on_event(void *user, bsnn_event event, size_t epoch, size_t step, size_t batch,
                    double loss)
{
    run_state *rs = user;
    (void)batch;
    if (event == BSNN_EVENT_STEP && step % rs->report == 0)
        printf("    update %7zu  epoch %6zu  batch loss %.6f\n", step, epoch + 1, loss);
    if (event == BSNN_EVENT_EPOCH && all_right(rs->model, rs->data)) {
        rs->fitted_epoch = epoch + 1;
        rs->fitted_step = step;
        return 1; /* stop: fitted */
    }
    return 0;
}

static bsnn_model *make_net(uint64_t seed)
{
    bsnn_model *m = bsnn_model_create(4);
    bsnn_model_add(m, bsnn_layer_dense(8));
    bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_SIGMOID));
    bsnn_model_add(m, bsnn_layer_dense(1));
    bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_SIGMOID));
    bsnn_model_set_loss(m, BSNN_LOSS_MSE); /* NULL m: run() reports the failure */
    bsnn_model_init_params(m, seed);
    return m;
}

static int run(const char *name, size_t batch, uint64_t seed, double lr, size_t max_epochs,
               const bsnn_dataset *ds)
{
    bsnn_model *m = make_net(seed);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    bsnn_scheduler *s = bsnn_scheduler_create(bsnn_dataset_size(ds));
    if (!m || !opt || !s) {
        fprintf(stderr, "xor4: %s\n", bsnn_last_error());
        return 1;
    }
    bsnn_optimizer_set(opt, BSNN_OPT_LR, lr);
    bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, (double)batch);
    bsnn_scheduler_set_seed(s, seed);
    size_t updates_per_epoch = (bsnn_dataset_size(ds) + batch - 1) / batch;
    run_state rs = {m, ds, 2000 * updates_per_epoch / 16 * 4, 0, 0};
    if (rs.report == 0) rs.report = 1;
    printf("%s (batch %zu, lr %g):\n", name, batch, lr);
    size_t steps = 0;
    bsnn_status st = bsnn_model_train(&steps, m, opt, s, ds, max_epochs, on_event, &rs);
    if (st != BSNN_OK) fprintf(stderr, "xor4: %s\n", bsnn_last_error());
    if (rs.fitted_epoch)
        printf("  -> fitted all 16 after %zu updates (%zu epochs)\n\n", rs.fitted_step,
               rs.fitted_epoch);
    else
        printf("  -> not fitted within %zu epochs (%zu updates)\n\n", max_epochs, steps);
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    return st != BSNN_OK || rs.fitted_epoch == 0;
}

int main(int argc, char **argv)
{
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
    double lr = argc > 2 ? atof(argv[2]) : 2.0;
    size_t max_epochs = argc > 3 ? strtoul(argv[3], NULL, 10) : 100000;
    bsnn_dataset *ds = bsnn_dataset_parity(4);
    if (ds == NULL) {
        fprintf(stderr, "xor4: %s\n", bsnn_last_error());
        return 1;
    }
    printf("bsnn %s: 4-bit parity, 4-8-1 sigmoid net, MSE, plain SGD, seed %llu\n\n",
           bsnn_version_string(), (unsigned long long)seed);
    int failures = 0;
    failures += run("full-batch gradient descent", 16, seed, lr, max_epochs, ds);
    failures += run("stochastic gradient descent", 1, seed, lr, max_epochs, ds);
    failures += run("minibatch gradient descent", 4, seed, lr, max_epochs, ds);
    bsnn_dataset_free(ds);
    return failures ? 1 : 0;
}
