/*
 * fuzz_csv.c - libFuzzer harness: bsnn_dataset_load_csv on arbitrary text,
 * with and without a header line, last column or first two as targets.
 */
#include <bsnn.h>

#include <stdint.h>

#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    /* The first byte picks the options; the rest is the file. */
    int header = (data[0] & 3) == 2 ? -1 : (data[0] & 1);
    size_t cols[2] = {data[0] >> 4 & 3, 1};
    size_t n_targets = (data[0] >> 1 & 1) + 1;
    const char *path = fuzz_file("a.csv", data + 1, size - 1);
    bsnn_dataset *ds = bsnn_dataset_load_csv(path, header, cols, n_targets);
    if (ds) {
        size_t n = bsnn_dataset_size(ds), ni = bsnn_dataset_n_inputs(ds);
        const float *x = bsnn_dataset_inputs(ds);
        volatile float sink = 0.0f;
        for (size_t i = 0; i < n * ni; i++) sink += x[i]; /* every value readable */
        (void)sink;
    } else if (bsnn_last_error()[0] == '\0') {
        abort();
    }
    bsnn_dataset_free(ds);
    return 0;
}
