/*
 * idx.c - bsnn_dataset_load_idx: MNIST-style IDX files (an images file and a
 * labels file, uncompressed) into a dataset. Declared sizes are checked
 * against the real file size before anything is allocated, so a hostile
 * header cannot ask for absurd memory; data is converted in fixed chunks.
 */
#include "data/data.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#define IDX_MAX_DIMS 8
#define IDX_CHUNK 65536

typedef struct idx_file {
    FILE *f;
    const char *path;
    int type;                  /* IDX element type code                 */
    size_t elem;               /* bytes per element                     */
    size_t ndims, dims[IDX_MAX_DIMS];
    size_t count, item;        /* items (dims[0]) and elements per item */
    long data_off;             /* byte offset of the first element      */
    size_t size;               /* bytes of the file when it was opened   */
} idx_file;

static size_t elem_size(int type)
{
    switch (type) {
    case 0x08: case 0x09: return 1;
    case 0x0B: return 2;
    case 0x0C: case 0x0D: return 4;
    case 0x0E: return 8;
    default: return 0;
    }
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Element i of a big-endian buffer as a double. */
static double element(const unsigned char *p, int type)
{
    uint64_t u = 0;
    size_t n = elem_size(type);
    for (size_t k = 0; k < n; k++) u = u << 8 | p[k];
    switch (type) {
    case 0x08: return (double)(unsigned char)u;
    case 0x09: return (double)(signed char)(unsigned char)u;
    case 0x0B: return (double)(int16_t)(uint16_t)u;
    case 0x0C: return (double)(int32_t)(uint32_t)u;
    case 0x0D: {
        uint32_t w = (uint32_t)u;
        float f;
        memcpy(&f, &w, sizeof f);
        return (double)f;
    }
    default: {
        double d;
        memcpy(&d, &u, sizeof d);
        return d;
    }
    }
}

/* Parse and check the header: magic, type, dimensions against file size. */
static bsnn_status read_header(idx_file *x)
{
    BSNN_FAIL_IF(x->size > (size_t)LONG_MAX, BSNN_E_IO,
                 "%s: file of %zu bytes is too large to seek in", x->path, x->size);
    long size = (long)x->size;
    unsigned char h[4 + 4 * IDX_MAX_DIMS];
    BSNN_FAIL_IF(size < 4 || fread(h, 1, 4, x->f) != 4, BSNN_E_FORMAT,
                 "%s: offset 0: file of %ld bytes has no 4-byte IDX "
                 "header",
                 x->path, size);
    BSNN_FAIL_IF(h[0] == 0x1f && h[1] == 0x8b, BSNN_E_FORMAT,
                 "%s: offset 0: the file is gzip-compressed (magic 1f 8b); bsnn reads "
                 "uncompressed IDX only: decompress it first, e.g. gunzip -k '%s'",
                 x->path, x->path);
    x->type = h[2];
    x->elem = elem_size(h[2]);
    x->ndims = h[3];
    BSNN_FAIL_IF(h[0] != 0 || h[1] != 0 || x->elem == 0, BSNN_E_FORMAT,
                 "%s: offset 0: bad magic %02x %02x %02x (expected 00 "
                 "00 and a type 08, 09, 0B, 0C, 0D or 0E)",
                 x->path, h[0], h[1], h[2]);
    BSNN_FAIL_IF(x->ndims < 1 || x->ndims > IDX_MAX_DIMS, BSNN_E_FORMAT,
                 "%s: offset 3: %zu dimensions, expected 1..%d", x->path, x->ndims, IDX_MAX_DIMS);
    size_t hb = 4 * x->ndims;
    BSNN_FAIL_IF((long)(4 + hb) > size || fread(h + 4, 1, hb, x->f) != hb, BSNN_E_FORMAT,
                 "%s: offset 4: truncated header (%zu dimensions "
                 "declared, file has %ld bytes)",
                 x->path, x->ndims, size);
    x->item = 1;
    for (size_t d = 0; d < x->ndims; d++) {
        x->dims[d] = be32(h + 4 + 4 * d);
        if (d > 0) x->item = bsnn__mul_size(x->item, x->dims[d]);
    }
    x->count = x->dims[0];
    x->data_off = (long)(4 + hb);
    /* Compare in double: the product of four 32-bit sizes can overflow. */
    double need = (double)x->count * (double)x->item * (double)x->elem;
    double have = (double)(size - x->data_off);
    BSNN_FAIL_IF(x->count == 0 || x->item == 0 || need > have, BSNN_E_FORMAT,
                 "%s: offset %ld: header declares %zu items of %zu "
                 "elements (%.0f bytes), the file holds %.0f bytes of data",
                 x->path, x->data_off, x->count, x->item, need, have);
    return BSNN_OK;
}

/* Convert rows*item elements into dst (scaled), reading in chunks. */
static bsnn_status read_values(idx_file *x, float *dst, size_t rows, double scale, int whole)
{
    unsigned char *buf = bsnn__alloc(IDX_CHUNK);
    if (buf == NULL) return BSNN_E_NOMEM;
    size_t total = rows * x->item, per = IDX_CHUNK / x->elem, done = 0;
    bsnn_status st = BSNN_OK;
    fseek(x->f, x->data_off, SEEK_SET);
    while (done < total && st == BSNN_OK) {
        size_t n = total - done < per ? total - done : per;
        long off = x->data_off + (long)(done * x->elem);
        if (fread(buf, x->elem, n, x->f) != n) {
            st = bsnn__fail(BSNN_E_FORMAT, "%s: offset %ld: file ends early", x->path,
                            off);
            break;
        }
        for (size_t i = 0; i < n && st == BSNN_OK; i++) {
            double v = element(buf + i * x->elem, x->type) * scale;
            if (!isfinite(v) || !isfinite((float)v) || (whole && (v != floor(v) || v < 0)))
                st = bsnn__fail(BSNN_E_FORMAT, "%s: offset %ld: value %g is not %s",
                                x->path, off + (long)(i * x->elem), v,
                                whole ? "a class index (a whole number >= 0)" : "finite");
            dst[done + i] = (float)v;
        }
        done += n;
    }
    bsnn__free(buf);
    return st;
}

static bsnn_status open_idx(idx_file *x, const char *path)
{
    x->path = path;
    int fd = -1;
    BSNN_TRY(bsnn__open_regular(&fd, &x->size, path));
    x->f = fdopen(fd, "rb");
    if (x->f == NULL) {
        close(fd);
        return bsnn__fail(BSNN_E_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    return read_header(x);
}

static bsnn_dataset *load(idx_file *im, idx_file *lb, size_t max_rows)
{
    BSNN_FAIL_NULL_IF(lb->ndims != 1, BSNN_E_FORMAT,
                      "%s: offset 3: labels have %zu dimensions, expected 1", lb->path, lb->ndims);
    BSNN_FAIL_NULL_IF(im->count != lb->count, BSNN_E_SHAPE,
                      "%s holds %zu items but %s holds %zu labels", im->path, im->count, lb->path,
                      lb->count);
    size_t rows = max_rows && max_rows < im->count ? max_rows : im->count;
    bsnn_dataset *ds = bsnn__dataset_alloc(rows, im->item, 1);
    if (ds == NULL) return NULL;
    double scale = im->type == 0x08 ? 1.0 / 255.0 : 1.0;
    if (read_values(im, ds->x, rows, scale, 0) != BSNN_OK ||
        read_values(lb, ds->y, rows, 1.0, 1) != BSNN_OK) {
        bsnn__dataset_free(ds);
        return NULL;
    }
    return ds;
}

bsnn_dataset *bsnn_dataset_load_idx(const char *images_path, const char *labels_path,
                                    size_t max_rows)
{
    BSNN_ENTER();
    BSNN_FAIL_NULL_IF(images_path == NULL || labels_path == NULL, BSNN_E_NULL,
                      "argument '%s' is NULL", images_path ? "labels_path" : "images_path");
    idx_file im = {0}, lb = {0};
    bsnn_dataset *ds = NULL;
    if (open_idx(&im, images_path) == BSNN_OK && open_idx(&lb, labels_path) == BSNN_OK)
        ds = load(&im, &lb, max_rows);
    if (im.f) fclose(im.f);
    if (lb.f) fclose(lb.f);
    return ds;
}
