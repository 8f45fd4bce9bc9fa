/*
 * data.h - tier 4 (src/data/): datasets and where they come from (arrays,
 * CSV and IDX files, the Playground and toy generators). Uses common/ only
 * (no layer or model); the training tier above reads datasets.
 */
#ifndef BSNN_DATA_H
#define BSNN_DATA_H

#include "common/common.h"

/* ---- datasets (dataset.c) ------------------------------------------------- */

struct bsnn_dataset {
    float *x, *y;
    size_t n, n_in, n_out;
    int borrowed; /* x and y are the host's (bsnn_dataset_wrap): never freed or written */
};

/* Release a dataset (bsnn_dataset_free's body). NULL is a no-op. */
void bsnn__dataset_free(bsnn_dataset *ds);
/* A dataset taking ownership of already allocated x and y. */
bsnn_dataset *bsnn__dataset_adopt(float *x, float *y, size_t n, size_t n_in, size_t n_out);

/* Allocate a zero-filled n-row dataset (dataset.c); NULL, with a message,
 * on overflow or out of memory. */
bsnn_dataset *bsnn__dataset_alloc(size_t n, size_t n_in, size_t n_out);

#endif /* BSNN_DATA_H */
