/*
 * bench_fann.c - the FANN 2.2 (floatfann) peer of bench_bsnn.c.
 *
 *   bench_fann NET THREADS MIN_TIME BATCH...
 *
 * Batch 1 is FANN's incremental training (fann_train: one plain SGD update
 * per sample); batch b > 1 is one FANN_TRAIN_BATCH epoch over b samples (one
 * update with the batch-mean gradient). FANN has no ReLU and no softmax: the
 * wide net uses FANN_LINEAR_PIECE (max(0, min(1, x)), the closest bounded
 * ReLU) in its hidden layers and a linear output with mean squared error.
 * The tiny net uses FANN_SIGMOID_SYMMETRIC with steepness 1 (= tanh) and a
 * linear output, as bsnn does. FANN is single-threaded: THREADS is only
 * reported. Momentum is 0, so updates are plain SGD.
 */
#include <floatfann.h>

#include "bench_common.h"

typedef struct run {
    struct fann *ann;
    struct fann_train_data *data;
    int batch;
} run;

static void fann_step(void *ctx)
{
    run *r = ctx;
    if (r->batch == 1)
        fann_train(r->ann, r->data->input[0], r->data->output[0]);
    else
        fann_train_epoch(r->ann, r->data);
}

int main(int argc, char **argv)
{
    bench_args a;
    if (bench_parse(&a, argc, argv)) return 2;
    const char *net = a.net;
    int threads = a.threads, *w = a.w;
    double min_time = a.min_time;
    int wide = strcmp(net, "wide") == 0;
    for (int i = 4; i < argc; i++) {
        int batch = atoi(argv[i]);
        bench_reset_peak_rss();
        run r = {fann_create_standard(4, w[0], w[1], w[2], w[3]), NULL, batch};
        fann_set_activation_function_hidden(r.ann, wide ? FANN_LINEAR_PIECE : FANN_SIGMOID_SYMMETRIC);
        fann_set_activation_steepness_hidden(r.ann, 1.0f);
        fann_set_activation_function_output(r.ann, FANN_LINEAR);
        fann_set_learning_rate(r.ann, 0.01f);
        fann_set_learning_momentum(r.ann, 0.0f);
        fann_set_training_algorithm(r.ann, batch == 1 ? FANN_TRAIN_INCREMENTAL : FANN_TRAIN_BATCH);
        fann_set_train_error_function(r.ann, FANN_ERRORFUNC_LINEAR);
        r.data = fann_create_train((unsigned)batch, (unsigned)w[0], (unsigned)w[3]);
        for (int s = 0; s < batch; s++) {
            for (int j = 0; j < w[0]; j++) r.data->input[s][j] = bench_uniform();
            int cls = (int)(bench_uniform() * 10.0f);
            for (int j = 0; j < w[3]; j++)
                r.data->output[s][j] = wide ? (float)(j == cls) : bench_uniform() * 2.0f - 1.0f;
        }
        long steps;
        double sec = bench_time(fann_step, &r, min_time, 2, &steps);
        long long rss = bench_peak_rss();
        printf("{\"impl\":\"fann\",\"net\":\"%s\",\"batch\":%d,\"threads\":%d,\"us_per_step\":%.4f,"
               "\"steps\":%ld,\"allocs_per_step\":null,\"peak_rss_bytes\":%lld,\"mode\":\"%s\","
               "\"mse\":%.6g}\n",
               net, batch, threads, sec * 1e6, steps, rss,
               batch == 1 ? "incremental" : "batch", (double)fann_get_MSE(r.ann));
        fflush(stdout);
        fann_destroy_train(r.data);
        fann_destroy(r.ann);
    }
    return 0;
}
