/*
 * test_idx.c - bsnn_dataset_load_idx: a small hand-built IDX pair, other
 * element types, and bad files (bad magic, truncated, huge declared sizes,
 * count mismatch), whose errors name the file and byte offset.
 */
#include "testutil.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *tmp_path(const char *tag)
{
    static char path[2][64];
    static int k;
    char *p = path[k % 2];
    snprintf(p, 64, "/tmp/bsnn_test_idx_%d_%d_%s", (int)getpid(), k++, tag);
    return p;
}

static void write_bytes(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fwrite(b, 1, n, f);
    fclose(f);
}

/* 3 images of 2x2 unsigned bytes and 3 labels. */
static const unsigned char images[] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2,
                                       0, 255, 51, 102, 1, 2, 3, 4, 10, 20, 30, 40};
static const unsigned char labels[] = {0, 0, 8, 1, 0, 0, 0, 3, 7, 0, 9};

static bsnn_dataset *load(const unsigned char *im, size_t nim, const unsigned char *lb,
                          size_t nlb, size_t max_rows)
{
    const char *a = tmp_path("img"), *b = tmp_path("lab");
    write_bytes(a, im, nim);
    write_bytes(b, lb, nlb);
    bsnn_dataset *ds = bsnn_dataset_load_idx(a, b, max_rows);
    remove(a);
    remove(b);
    return ds;
}

Test(idx, unsigned_bytes_are_scaled_to_unit_range_and_labels_kept)
{
    bsnn_dataset *ds = load(images, sizeof images, labels, sizeof labels, 0);
    cr_assert_not_null(ds, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_dataset_size(ds), 3);
    cr_assert_eq(bsnn_dataset_n_inputs(ds), 4);
    const float *x = bsnn_dataset_inputs(ds);
    cr_assert_eq(x[0], 0.0f);
    cr_assert_float_eq(x[1], 1.0f, 1e-7);
    cr_assert_float_eq(x[2], 0.2f, 1e-7);
    cr_assert_float_eq(x[11], 40.0f / 255.0f, 1e-7);
    float want_y[3] = {7, 0, 9};
    cr_assert_arr_eq(bsnn_dataset_targets(ds), want_y, sizeof want_y);
    bsnn_dataset_free(ds);
}

Test(idx, max_rows_keeps_the_first_items)
{
    bsnn_dataset *ds = load(images, sizeof images, labels, sizeof labels, 2);
    cr_assert_eq(bsnn_dataset_size(ds), 2);
    cr_assert_eq(bsnn_dataset_targets(ds)[1], 0.0f);
    bsnn_dataset_free(ds);
}

Test(idx, float_and_int16_elements_are_read_big_endian)
{
    /* 2 items of one float: 1.5 = 3FC00000, -2 = C0000000. */
    unsigned char im[] = {0, 0, 0x0D, 1, 0, 0, 0, 2, 0x3F, 0xC0, 0, 0, 0xC0, 0, 0, 0};
    /* labels as int16: 1 and 258 */
    unsigned char lb[] = {0, 0, 0x0B, 1, 0, 0, 0, 2, 0, 1, 1, 2};
    bsnn_dataset *ds = load(im, sizeof im, lb, sizeof lb, 0);
    cr_assert_not_null(ds, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_dataset_inputs(ds)[0], 1.5f);
    cr_assert_eq(bsnn_dataset_inputs(ds)[1], -2.0f);
    cr_assert_eq(bsnn_dataset_targets(ds)[1], 258.0f);
    bsnn_dataset_free(ds);
}

static void expect_error(const unsigned char *im, size_t nim, const unsigned char *lb, size_t nlb,
                         const char *what)
{
    bsnn_dataset *ds = load(im, nim, lb, nlb, 0);
    cr_assert_null(ds);
    cr_assert(strstr(bsnn_last_error(), what) != NULL, "message '%s' lacks '%s'",
              bsnn_last_error(), what);
}

Test(idx, bad_magic_and_empty_files_are_format_errors)
{
    unsigned char bad[sizeof images];
    memcpy(bad, images, sizeof images);
    bad[0] = 0x1f; /* a gzip file starts 1f 8b */
    expect_error(bad, sizeof bad, labels, sizeof labels, "offset 0: bad magic");
    bad[0] = 0;
    bad[2] = 0x07;
    expect_error(bad, sizeof bad, labels, sizeof labels, "bad magic");
    expect_error(images, 0, labels, sizeof labels, "offset 0:");
    unsigned char nodims[] = {0, 0, 8, 0};
    expect_error(nodims, 4, labels, sizeof labels, "offset 3: 0 dimensions");
}

Test(idx, truncated_data_and_huge_declared_sizes_are_rejected_before_allocating)
{
    expect_error(images, sizeof images - 1, labels, sizeof labels, "offset 16: header declares 3");
    expect_error(images, 10, labels, sizeof labels, "offset 4: truncated header");
    unsigned char huge[] = {0, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                            0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3};
    tu_count_allocations(0);
    expect_error(huge, sizeof huge, labels, sizeof labels, "header declares 4294967295 items");
    cr_assert(tu_stats.peak_bytes < 1024);
    tu_restore_allocator();
}

Test(idx, label_count_rank_and_values_must_fit)
{
    unsigned char two[] = {0, 0, 8, 1, 0, 0, 0, 2, 1, 2};
    expect_error(images, sizeof images, two, sizeof two, "holds 3 items but");
    unsigned char rank2[] = {0, 0, 8, 2, 0, 0, 0, 3, 0, 0, 0, 1, 1, 2, 3};
    expect_error(images, sizeof images, rank2, sizeof rank2, "labels have 2 dimensions");
    unsigned char neg[] = {0, 0, 9, 1, 0, 0, 0, 3, 1, 0xFF, 2};
    expect_error(images, sizeof images, neg, sizeof neg, "offset 9: value -1 is not a class");
}

Test(idx, null_and_missing_paths_are_errors)
{
    cr_assert_null(bsnn_dataset_load_idx(NULL, "x", 0));
    cr_assert_null(bsnn_dataset_load_idx("x", NULL, 0));
    cr_assert_null(bsnn_dataset_load_idx("/nonexistent/i", "/nonexistent/l", 0));
    cr_assert(strstr(bsnn_last_error(), "/nonexistent/i: cannot open") != NULL);
}

/* Issue 10, item 3: a FIFO with no writer blocked fopen forever. Refused at
 * once, as images or as labels. (A hang fails through the timeout.) */
Test(idx, fifo_is_refused_without_blocking, .timeout = 10)
{
    char dir[] = "/tmp/bsnn-fifo-XXXXXX", fifo[64], good[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(fifo, sizeof fifo, "%s/pipe", dir);
    snprintf(good, sizeof good, "%s/labels", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    write_bytes(good, labels, sizeof labels);
    cr_assert_null(bsnn_dataset_load_idx(fifo, good, 0));
    cr_assert(strstr(bsnn_last_error(), "not a regular file (a FIFO)") != NULL, "%s",
              bsnn_last_error());
    cr_assert_null(bsnn_dataset_load_idx(good, fifo, 0));
    cr_assert(strstr(bsnn_last_error(), fifo) != NULL, "%s", bsnn_last_error());
    unlink(fifo);
    unlink(good);
    rmdir(dir);
}

/* A gzip file (the form MNIST is distributed in) is named as such, with
 * how to decompress it, instead of "bad magic". */
Test(idx, gzip_file_is_named_as_gzip_with_the_fix)
{
    static const unsigned char gz[] = {0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4};
    expect_error(gz, sizeof gz, labels, sizeof labels, "gzip-compressed");
    cr_assert(strstr(bsnn_last_error(), "gunzip") != NULL, "%s", bsnn_last_error());
    expect_error(images, sizeof images, gz, sizeof gz, "gzip-compressed");
}
