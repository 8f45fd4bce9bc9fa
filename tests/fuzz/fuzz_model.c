/*
 * fuzz_model.c - libFuzzer harness: bsnn_model_load_buffer on arbitrary
 * bytes. A loaded model must be usable (forward one row) and must save
 * again to bytes that load; anything else must be a clean error.
 */
#include <bsnn.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bsnn_model *m = NULL;
    if (bsnn_model_load_buffer(&m, data, size) != BSNN_OK) {
        if (m != NULL || bsnn_last_error()[0] == '\0') abort();
        return 0;
    }
    size_t ni = bsnn_model_n_inputs(m), no = bsnn_model_n_outputs(m);
    if (bsnn_model_n_layers(m) > 0 && ni <= 4096 && no <= 4096) {
        size_t sx[2] = {1, ni}, so[2] = {1, no};
        bsnn_tensor *x = bsnn_tensor_create(2, sx), *out = bsnn_tensor_create(2, so);
        if (x && out) bsnn_model_forward(out, m, x);
        bsnn_tensor_free(x);
        bsnn_tensor_free(out);
    }
    void *buf = NULL;
    size_t n = 0;
    if (bsnn_model_save_alloc(&buf, &n, m) == BSNN_OK) {
        bsnn_model *again = NULL;
        if (bsnn_model_load_buffer(&again, buf, n) != BSNN_OK) abort(); /* saved must load */
        bsnn_model_free(again);
        bsnn_buffer_free(buf);
    }
    bsnn_model_free(m);
    return 0;
}
