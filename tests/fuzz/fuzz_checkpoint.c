/*
 * fuzz_checkpoint.c - libFuzzer harness: bsnn_checkpoint_load_buffer on
 * arbitrary bytes; a loaded checkpoint must save again to bytes that load.
 */
#include <bsnn.h>

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bsnn_model *m = NULL;
    bsnn_optimizer *opt = NULL;
    bsnn_scheduler *s = NULL;
    if (bsnn_checkpoint_load_buffer(&m, &opt, &s, data, size) != BSNN_OK) {
        if (m || opt || s || bsnn_last_error()[0] == '\0') abort();
        return 0;
    }
    /* Walk the scheduler a few batches: its restored position must be safe. */
    for (int i = 0; s && i < 8; i++) {
        const size_t *idx;
        size_t count;
        int end;
        if (bsnn_scheduler_next(&idx, &count, &end, s) != BSNN_OK) break;
        for (size_t j = 0; j < count; j++)
            if (idx[j] >= bsnn_scheduler_n_samples(s)) abort();
    }
    void *buf = NULL;
    size_t n = 0;
    if (bsnn_checkpoint_save_alloc(&buf, &n, m, opt, s) == BSNN_OK) {
        bsnn_model *m2 = NULL;
        bsnn_optimizer *o2 = NULL;
        bsnn_scheduler *s2 = NULL;
        if (bsnn_checkpoint_load_buffer(&m2, &o2, &s2, buf, n) != BSNN_OK) abort();
        bsnn_model_free(m2);
        bsnn_optimizer_free(o2);
        bsnn_scheduler_free(s2);
        bsnn_buffer_free(buf);
    }
    bsnn_model_free(m);
    bsnn_optimizer_free(opt);
    bsnn_scheduler_free(s);
    return 0;
}
