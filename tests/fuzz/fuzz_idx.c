/*
 * fuzz_idx.c - libFuzzer harness: bsnn_dataset_load_idx on an arbitrary
 * images file and labels file, both cut from one input.
 */
#include <bsnn.h>

#include <stdint.h>

#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    /* Bytes 0-3: little-endian length of the images part; then images,
     * then labels. */
    size_t split = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 |
                   (size_t)data[3] << 24;
    size -= 4;
    data += 4;
    if (split > size) split = size;
    const char *images = fuzz_file("a.idx", data, split);
    const char *labels = fuzz_file("b.idx", data + split, size - split);
    bsnn_dataset *ds = bsnn_dataset_load_idx(images, labels, 1000);
    if (ds == NULL && bsnn_last_error()[0] == '\0') abort();
    bsnn_dataset_free(ds);
    return 0;
}
