/*
 * bench_fashion.c - the real run: full Fashion-MNIST trained by bsnn.
 *
 *   bench_fashion DATADIR EPOCHS SEED MODE     MODE: default | host-ftz | no-flush
 *
 * 784-256-128-10 with ReLU, He uniform weights (U(+-sqrt(6/fan_in)), the
 * initialiser torch.nn.init.kaiming_uniform_(nonlinearity="relu") draws)
 * and zero biases, softmax cross-entropy on class indices, Adam (lr 1e-3),
 * batches of 64 with the partial last batch kept, a new random order each
 * epoch, one thread; bsnn_model_train over the 60,000 training images, then
 * bsnn_model_evaluate over the 10,000 test images. DATADIR holds the four
 * uncompressed IDX files (the Makefile decompresses Debian's copies).
 * host-ftz sets FTZ and DAZ in the calling thread (MXCSR) around training;
 * no-flush turns bsnn's own flushing off. Prints one JSON object: training
 * wall time, test accuracy and loss, heap allocations during training
 * (bsnn_set_allocator), peak RSS.
 */
#include <bsnn.h>
#include <xmmintrin.h>

#include "bench_common.h"

/* The no-flush variant: bsnn's own subnormal flushing turned off, to show
 * what it is worth on a real run. */
static int apply_no_flush(void) { return bsnn_set_flush_subnormals(0) == BSNN_OK; }

static long long n_allocs;

static void *count_alloc(void *user, size_t size)
{
    (void)user;
    n_allocs++;
    return malloc(size);
}

static void count_free(void *user, void *ptr, size_t size)
{
    (void)user, (void)size;
    free(ptr);
}

static bsnn_dataset *load(const char *dir, const char *images, const char *labels)
{
    char ip[1024], lp[1024];
    snprintf(ip, sizeof ip, "%s/%s", dir, images);
    snprintf(lp, sizeof lp, "%s/%s", dir, labels);
    return bsnn_dataset_load_idx(ip, lp, 0);
}

static bsnn_model *make_model(uint64_t seed)
{
    static const size_t widths[3] = {256, 128, 10};
    bsnn_model *m = bsnn_model_create(784);
    bsnn_model_set(m, BSNN_MODEL_INIT, BSNN_INIT_HE_UNIFORM);
    for (int i = 0; i < 3; i++) {
        bsnn_model_add(m, bsnn_layer_dense(widths[i]));
        if (i < 2) bsnn_model_add(m, bsnn_layer_activation(BSNN_ACT_RELU));
    }
    bsnn_model_set_loss(m, BSNN_LOSS_SOFTMAX_CE);
    if (bsnn_model_init_params(m, seed) != BSNN_OK) {
        bsnn_model_free(m);
        return NULL;
    }
    return m;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s DATADIR EPOCHS SEED default|host-ftz|no-flush\n", argv[0]);
        return 2;
    }
    const char *mode = argv[4];
    int host_ftz = strcmp(mode, "host-ftz") == 0, no_flush = strcmp(mode, "no-flush") == 0;
    if (no_flush && !apply_no_flush()) {
        fprintf(stderr, "bench_fashion: %s\n", bsnn_last_error());
        return 1;
    }
    if (bsnn_set_allocator(count_alloc, count_free, NULL) != BSNN_OK || bsnn_set_num_threads(1))
        return 1;
    size_t epochs = (size_t)atoi(argv[2]);
    uint64_t seed = (uint64_t)atoll(argv[3]);
    bsnn_dataset *train = load(argv[1], "train-images-idx3-ubyte", "train-labels-idx1-ubyte");
    bsnn_dataset *test = load(argv[1], "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte");
    bsnn_model *m = make_model(seed);
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_ADAM);
    bsnn_scheduler *s = train ? bsnn_scheduler_create(bsnn_dataset_size(train)) : NULL;
    if (!test || !m || !opt || !s || bsnn_scheduler_set(s, BSNN_SCHED_BATCH_SIZE, 64) ||
        bsnn_scheduler_set(s, BSNN_SCHED_SEED, (double)seed)) {
        fprintf(stderr, "bench_fashion: %s\n", bsnn_last_error());
        return 1;
    }
    bench_reset_peak_rss();
    unsigned csr = _mm_getcsr();
    if (host_ftz) _mm_setcsr(csr | 0x8040); /* FTZ (bit 15) and DAZ (bit 6) */
    long long a0 = n_allocs;
    size_t steps = 0;
    double t0 = bench_now();
    bsnn_status st = bsnn_model_train(&steps, m, opt, s, train, epochs, NULL, NULL);
    double sec = bench_now() - t0;
    long long allocs = n_allocs - a0;
    _mm_setcsr(csr);
    double loss = 0.0, acc = 0.0;
    if (st != BSNN_OK || bsnn_model_evaluate(&loss, &acc, m, test, 1000) != BSNN_OK) {
        fprintf(stderr, "bench_fashion: %s\n", bsnn_last_error());
        return 1;
    }
    printf("{\"impl\":\"%s\",\"net\":\"fashion\",\"threads\":1,\"epochs\":%zu,"
           "\"train_seconds\":%.4f,\"steps\":%zu,\"test_accuracy\":%.6f,\"test_loss\":%.6f,"
           "\"allocs_in_training\":%lld,\"peak_rss_bytes\":%lld}\n",
           host_ftz ? "bsnn-host-ftz" : no_flush ? "bsnn-no-flush" : "bsnn", epochs, sec, steps,
           acc, loss, allocs, bench_peak_rss());
    bsnn_scheduler_free(s);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    bsnn_dataset_free(train);
    bsnn_dataset_free(test);
    return 0;
}
