/*
 * test_csv.c - bsnn_dataset_load_csv: good files (header or not, targets in
 * any column, CRLF, blank lines, spaces) and bad ones, whose errors must
 * name the file, line and column.
 */
#include "testutil.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* Write text to a fresh temporary file; returns its path (static buffer). */
static const char *write_tmp(const char *text)
{
    static char path[64];
    static int k;
    snprintf(path, sizeof path, "/tmp/bsnn_test_csv_%d_%d.csv", (int)getpid(), k++);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static bsnn_dataset *load(const char *text, int header, size_t target)
{
    const char *p = write_tmp(text);
    bsnn_dataset *ds = bsnn_dataset_load_csv(p, header, &target, 1);
    remove(p);
    return ds;
}

/* The load fails and the message holds `where` (e.g. ":3:5:"). */
static void expect_error(const char *text, int header, const char *where)
{
    bsnn_dataset *ds = load(text, header, 0);
    cr_assert_null(ds, "loaded a bad file: %s", text);
    cr_assert(strstr(bsnn_last_error(), where) != NULL, "message '%s' lacks '%s'",
              bsnn_last_error(), where);
}

Test(csv, header_row_is_skipped_and_target_column_split_off)
{
    bsnn_dataset *ds = load("a,label,b\n1,0,2\n3,1,4.5\n-1e2,0,0x10\n", 1, 1);
    cr_assert_not_null(ds, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_dataset_size(ds), 3);
    cr_assert_eq(bsnn_dataset_n_inputs(ds), 2);
    float want_x[6] = {1, 2, 3, 4.5f, -100, 16}, want_y[3] = {0, 1, 0};
    cr_assert_arr_eq(bsnn_dataset_inputs(ds), want_x, sizeof want_x);
    cr_assert_arr_eq(bsnn_dataset_targets(ds), want_y, sizeof want_y);
    bsnn_dataset_free(ds);
}

Test(csv, header_is_detected_when_asked_and_absent_rows_are_data)
{
    bsnn_dataset *a = load("x,y\n1,2\n", -1, 1);
    cr_assert_not_null(a, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_dataset_size(a), 1);
    bsnn_dataset *b = load("5,6\n1,2\n", -1, 1);
    cr_assert_eq(bsnn_dataset_size(b), 2);
    bsnn_dataset *c = load("5,6\n1,2\n", 1, 1); /* forced header: first row dropped */
    cr_assert_eq(bsnn_dataset_size(c), 1);
    bsnn_dataset_free(a);
    bsnn_dataset_free(b);
    bsnn_dataset_free(c);
}

Test(csv, crlf_spaces_blank_lines_and_missing_final_newline_are_fine)
{
    bsnn_dataset *ds = load("\r\n 1 , 2 ,3\r\n\r\n  \n4,5, 6", 0, 2);
    cr_assert_not_null(ds, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_dataset_size(ds), 2);
    float want_x[4] = {1, 2, 4, 5}, want_y[2] = {3, 6};
    cr_assert_arr_eq(bsnn_dataset_inputs(ds), want_x, sizeof want_x);
    cr_assert_arr_eq(bsnn_dataset_targets(ds), want_y, sizeof want_y);
    bsnn_dataset_free(ds);
}

Test(csv, several_targets_keep_their_requested_order)
{
    const char *p = write_tmp("1,2,3,4\n5,6,7,8\n");
    size_t t[2] = {3, 0};
    bsnn_dataset *ds = bsnn_dataset_load_csv(p, 0, t, 2);
    remove(p);
    cr_assert_not_null(ds, "%s", bsnn_last_error());
    float want_y[4] = {4, 1, 8, 5}, want_x[4] = {2, 3, 6, 7};
    cr_assert_arr_eq(bsnn_dataset_targets(ds), want_y, sizeof want_y);
    cr_assert_arr_eq(bsnn_dataset_inputs(ds), want_x, sizeof want_x);
    bsnn_dataset_free(ds);
}

Test(csv, ragged_row_names_line_and_column)
{
    expect_error("1,2,3\n4,5,6\n7,8\n", 0, ":3:3: row has 2 fields, expected 3");
    expect_error("1,2\n3,4,5\n", 0, ":2:5: row has more than 2 fields");
}

Test(csv, non_numbers_and_empty_fields_name_line_and_column)
{
    expect_error("1,2\n3,abc\n", 0, ":2:3: 'abc' is not a finite number");
    expect_error("1,2\n3,nan\n", 0, ":2:3:");
    expect_error("1,2\n3,1e999\n", 0, ":2:3:");
    expect_error("1,2\n,4\n", 0, ":2:1: empty field");
    expect_error("1,2\n3,4,\n", 0, ":2:5: empty field");
    expect_error("a,b\n1,x\n", 1, ":2:3:");
    expect_error("a,b\n1,2\n", 0, ":1:1: 'a'");
}

Test(csv, empty_file_or_header_only_is_an_error)
{
    expect_error("", 0, "no rows");
    expect_error("\n\n  \n", -1, "no rows");
    expect_error("a,b\n", 1, "no data rows");
}

Test(csv, bad_arguments_are_rejected)
{
    size_t t = 0;
    cr_assert_null(bsnn_dataset_load_csv(NULL, 0, &t, 1));
    cr_assert_null(bsnn_dataset_load_csv("/nonexistent/x.csv", 0, &t, 1));
    cr_assert(strstr(bsnn_last_error(), "/nonexistent/x.csv") != NULL);
    cr_assert_null(bsnn_dataset_load_csv("x", 2, &t, 1));
    cr_assert_null(bsnn_dataset_load_csv("x", 0, &t, 0));
    bsnn_dataset *ds = load("1,2\n", 0, 2);
    cr_assert_null(ds);
    cr_assert(strstr(bsnn_last_error(), "target column 2 is out of range") != NULL, "%s",
              bsnn_last_error());
    const char *p = write_tmp("1,2\n");
    size_t two[2] = {0, 1}, rep[2] = {0, 0};
    cr_assert_null(bsnn_dataset_load_csv(p, 0, two, 2)); /* no input left */
    cr_assert_null(bsnn_dataset_load_csv(p, 0, rep, 2));
    remove(p);
}

Test(csv, long_file_loads_every_row_without_leaks)
{
    char *text = malloc(200000);
    size_t len = 0;
    for (int i = 0; i < 10000; i++) len += (size_t)sprintf(text + len, "%d,%d.5\n", i, i % 7);
    const char *p = write_tmp(text);
    free(text);
    tu_count_allocations(0);
    size_t t = 1;
    bsnn_dataset *ds = bsnn_dataset_load_csv(p, 0, &t, 1);
    cr_assert_not_null(ds, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_dataset_size(ds), 10000);
    cr_assert_eq(bsnn_dataset_inputs(ds)[9999], 9999.0f);
    cr_assert_eq(bsnn_dataset_targets(ds)[9999], 9999 % 7 + 0.5f);
    bsnn_dataset_free(ds);
    cr_assert_eq(tu_stats.live_bytes, 0);
    tu_restore_allocator();
    remove(p);
}

/* A FIFO with no writer in a fresh directory; *dir receives the directory. */
static const char *make_fifo(char *dir, size_t cap)
{
    static char path[96];
    snprintf(dir, cap, "/tmp/bsnn-fifo-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/pipe.csv", dir);
    cr_assert_eq(mkfifo(path, 0600), 0);
    return path;
}

/* Issue 10, item 3: a FIFO with no writer blocked fopen forever, and
 * /dev/zero (endless, no line end) spun forever. Both must fail at once,
 * naming the file and why. (A hang fails the test through the timeout.) */
Test(csv, fifo_and_endless_devices_are_refused_without_blocking, .timeout = 10)
{
    char dir[64];
    const char *fifo = make_fifo(dir, sizeof dir);
    size_t t = 0;
    cr_assert_null(bsnn_dataset_load_csv(fifo, 0, &t, 1));
    cr_assert(strstr(bsnn_last_error(), "not a regular file (a FIFO)") != NULL, "%s",
              bsnn_last_error());
    cr_assert(strstr(bsnn_last_error(), fifo) != NULL, "%s", bsnn_last_error());
    cr_assert_null(bsnn_dataset_load_csv("/dev/zero", 0, &t, 1));
    cr_assert(strstr(bsnn_last_error(), "not a regular file (a character device)") != NULL, "%s",
              bsnn_last_error());
    cr_assert_null(bsnn_dataset_load_csv("/tmp", 0, &t, 1));
    cr_assert(strstr(bsnn_last_error(), "directory") != NULL, "%s", bsnn_last_error());
    unlink(fifo);
    rmdir(dir);
}

/* Issue 10, item 4: 3.5e38, 1e39 and -1e300 are finite doubles but infinite
 * floats; they were stored as +-inf. Each is refused at its line:column,
 * in data rows and in a first row that header auto-detection reads. The
 * float limit itself (FLT_MAX, 3.4028235e38) still loads. */
Test(csv, numbers_beyond_the_float_range_are_refused_with_their_position)
{
    expect_error("1,2\n3.5e38,4\n", 0, ":2:1:");
    expect_error("1,2\n3, 1e39\n", 0, ":2:4:");
    expect_error("-1e300,2\n", 0, ":1:1:");
    expect_error("1,2\n5,-1e300\n", -1, ":2:3:");
    expect_error("1e39,2\n5,6\n", -1, ":1:1:");
    cr_assert(strstr(bsnn_last_error(), "not a finite float") != NULL, "%s", bsnn_last_error());
    bsnn_dataset *ds = load("3.4028235e38,-3.4028235e38\n", 0, 1);
    cr_assert_not_null(ds, "%s", bsnn_last_error());
    cr_assert(isfinite(bsnn_dataset_inputs(ds)[0]));
    cr_assert(isfinite(bsnn_dataset_targets(ds)[0]));
    bsnn_dataset_free(ds);
}

/* Issue 10, item 7: header = -1 took a first row with a UTF-8 byte-order
 * mark, or with `nan`, for a header and silently dropped it. The mark is
 * skipped; a non-finite number is an error, not a header signal; a real
 * header after a mark is still found, and a declared header may say nan. */
Test(csv, auto_header_keeps_rows_after_a_bom_and_refuses_nan)
{
    bsnn_dataset *ds = load("\xef\xbb\xbf" "1,2\n3,4\n", -1, 1);
    cr_assert_not_null(ds, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_dataset_size(ds), 2, "the first row is data");
    cr_assert_eq(bsnn_dataset_inputs(ds)[0], 1.0f);
    bsnn_dataset_free(ds);
    ds = load("\xef\xbb\xbf" "5,6\n", 0, 0);
    cr_assert_not_null(ds, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_dataset_targets(ds)[0], 5.0f, "the mark is not part of the field");
    bsnn_dataset_free(ds);
    ds = load("\xef\xbb\xbf" "x,y\n1,2\n", -1, 1);
    cr_assert_not_null(ds, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_dataset_size(ds), 1, "a real header after the mark");
    bsnn_dataset_free(ds);
    const char *firsts[] = {"nan,1\n2,3\n", "1,inf\n2,3\n", "-nan,1\n2,3\n", "1,-Infinity\n2,3\n"};
    for (size_t i = 0; i < 4; i++) {
        expect_error(firsts[i], -1, ":1:");
        cr_assert(strstr(bsnn_last_error(), "not a finite float") != NULL, "%s",
                  bsnn_last_error());
    }
    ds = load("nan,inf\n1,2\n", 1, 1);
    cr_assert_not_null(ds, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_dataset_size(ds), 1);
    bsnn_dataset_free(ds);
}
