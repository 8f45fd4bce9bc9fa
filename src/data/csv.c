/*
 * csv.c - bsnn_dataset_load_csv: a CSV file of numbers into a dataset.
 * The file is read twice through stdio's buffer: the first pass checks
 * every field and counts the rows, the second fills arrays allocated to the
 * exact size. So a large file costs its floats, never a copy of its text,
 * and every error names the file, line and column before anything is built.
 * The file is opened without blocking, must be a regular file, and is read
 * up to the size it had when opened (a file growing meanwhile, or an endless
 * device, cannot keep the loader reading).
 */
#include "data/data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define CSV_TOKEN 80 /* longest field accepted as a number, in characters */

typedef struct csv {
    FILE *f;
    size_t size, consumed; /* bytes the file had when opened, bytes read */
    const char *path;
    size_t line, col;      /* position of the next character, 1-based   */
    size_t n_cols;         /* fields per row, fixed by the first data row */
    int has_header;
    ptrdiff_t *role;       /* per column: target index t >= 0, or -1 - input index */
    float *x, *y;          /* second pass: where values go; NULL before  */
    size_t n_in, n_out;
    size_t rows;           /* data rows read so far in this pass         */
} csv;

typedef struct csv_field {
    char text[CSV_TOKEN + 1];
    size_t len;            /* characters kept (text is cut at CSV_TOKEN) */
    int too_long;
    size_t line, col;      /* where the field starts                     */
    int term;              /* ',', '\n' or EOF                           */
} csv_field;

static int next_char(csv *c)
{
    if (c->consumed == c->size) return EOF;
    int ch = getc_unlocked(c->f);
    if (ch != EOF) c->consumed++;
    if (ch == '\n') {
        c->line++;
        c->col = 1;
    } else if (ch != EOF) {
        c->col++;
    }
    return ch;
}

static int is_blank(int ch) { return ch == ' ' || ch == '\t' || ch == '\r'; }

/* One field: leading and trailing blanks dropped, up to ',' / newline / EOF. */
static void read_field(csv *c, csv_field *fl)
{
    int ch;
    fl->len = 0;
    fl->too_long = 0;
    do {
        fl->line = c->line;
        fl->col = c->col;
        ch = next_char(c);
    } while (is_blank(ch));
    size_t kept_nonblank = 0;
    while (ch != ',' && ch != '\n' && ch != EOF) {
        if (fl->len < CSV_TOKEN)
            fl->text[fl->len++] = (char)ch;
        else
            fl->too_long = 1;
        if (!is_blank(ch)) kept_nonblank = fl->len;
        ch = next_char(c);
    }
    fl->len = kept_nonblank; /* trailing blanks */
    fl->text[fl->len] = '\0';
    fl->term = ch;
}

/* What a field holds: a number a float can store, a number it cannot
 * (nan, inf, or beyond +-FLT_MAX such as 1e39, which would become an
 * infinite float), or text. */
enum { FIELD_NUMBER, FIELD_NOT_FINITE, FIELD_TEXT };

/* The kind of the field, and *out when it is FIELD_NUMBER. */
static int parse_number(const csv_field *fl, double *out)
{
    if (fl->len == 0 || fl->too_long) return FIELD_TEXT;
    char *end = NULL;
    errno = 0;
    double v = strtod(fl->text, &end);
    if (end != fl->text + fl->len) return FIELD_TEXT;
    if (!isfinite(v) || !isfinite((float)v)) return FIELD_NOT_FINITE;
    *out = v;
    return FIELD_NUMBER;
}

static bsnn_status field_error(const csv *c, const csv_field *fl)
{
    double v = 0.0;
    BSNN_FAIL_IF(fl->len == 0, BSNN_E_FORMAT, "%s:%zu:%zu: empty field", c->path, fl->line,
                 fl->col);
    BSNN_FAIL_IF(parse_number(fl, &v) == FIELD_NOT_FINITE, BSNN_E_FORMAT,
                 "%s:%zu:%zu: '%s' is not a finite float (NaN, infinite, or beyond "
                 "+-3.4028235e38)",
                 c->path, fl->line, fl->col, fl->text);
    return bsnn__fail(BSNN_E_FORMAT, "%s:%zu:%zu: '%s%s' is not a finite number", c->path, fl->line,
                      fl->col, fl->text, fl->too_long ? "..." : "");
}

/* Store field j of the current data row (second pass only). */
static void store(csv *c, size_t j, double v)
{
    if (c->x == NULL) return;
    ptrdiff_t r = c->role[j];
    if (r >= 0)
        c->y[c->rows * c->n_out + (size_t)r] = (float)v;
    else
        c->x[c->rows * c->n_in + (size_t)(-1 - r)] = (float)v;
}

/* Read one non-blank line. numeric: every field must be a number (else
 * error); otherwise *out_bad counts the fields that are not. header_line:
 * the line is a declared header, whose fields may be anything. *out_n is
 * the field count, 0 at end of file. */
static bsnn_status read_row(csv *c, int numeric, int header_line, size_t *out_n, size_t *out_bad,
                            csv_field *first_bad)
{
    csv_field fl;
    size_t n, bad;
    do {
        n = bad = 0;
        for (;;) {
            read_field(c, &fl);
            int blank_line = n == 0 && fl.len == 0 && fl.term != ',';
            if (blank_line) break;
            double v = 0.0;
            int kind = parse_number(&fl, &v);
            /* A non-finite number is an error even in a line that may be a
             * header: `nan` in the first row must not turn it into one. */
            if (kind == FIELD_NOT_FINITE && !header_line) return field_error(c, &fl);
            if (kind != FIELD_NUMBER) {
                if (numeric) return field_error(c, &fl);
                if (bad++ == 0 && first_bad) *first_bad = fl;
            }
            BSNN_FAIL_IF(numeric && c->n_cols && n >= c->n_cols, BSNN_E_FORMAT,
                         "%s:%zu:%zu: row has more than %zu fields", c->path, fl.line, fl.col,
                         c->n_cols);
            if (numeric && c->n_cols) store(c, n, v);
            n++;
            if (fl.term != ',') break;
        }
    } while (n == 0 && fl.term != EOF);
    BSNN_FAIL_IF(ferror(c->f), BSNN_E_IO, "%s:%zu: read error", c->path, c->line);
    *out_n = n;
    if (out_bad) *out_bad = bad;
    BSNN_FAIL_IF(n && numeric && c->n_cols && n != c->n_cols, BSNN_E_FORMAT,
                 "%s:%zu:%zu: row has %zu fields, expected %zu", c->path, fl.line, fl.col, n,
                 c->n_cols);
    return BSNN_OK;
}

/* First non-blank line: a header or the first data row, per `header`. */
static bsnn_status read_first(csv *c, int header, size_t *out_n, int *out_is_header)
{
    csv_field bad_field;
    size_t n = 0, bad = 0;
    size_t line = c->line;
    BSNN_TRY(read_row(c, 0, header == 1, &n, &bad, &bad_field));
    BSNN_FAIL_IF(n == 0, BSNN_E_FORMAT, "%s:%zu: the file holds no rows", c->path, line);
    int is_header = header == 1 || (header == -1 && bad > 0);
    if (!is_header && bad > 0) return field_error(c, &bad_field);
    *out_n = n;
    *out_is_header = is_header;
    return BSNN_OK;
}

/* Pass one: field count, row count, every value checked. */
static bsnn_status count_rows(csv *c, int header)
{
    size_t n = 0;
    int is_header = 0;
    BSNN_TRY(read_first(c, header, &n, &is_header));
    if (is_header) {
        c->has_header = 1;
    } else {
        c->n_cols = n;
        c->rows = 1;
    }
    for (;;) {
        size_t before = c->n_cols;
        BSNN_TRY(read_row(c, 1, 0, &n, NULL, NULL));
        if (n == 0) break;
        if (before == 0) c->n_cols = n;
        c->rows++;
    }
    BSNN_FAIL_IF(c->rows == 0, BSNN_E_FORMAT, "%s: no data rows", c->path);
    return BSNN_OK;
}

static bsnn_status assign_roles(csv *c, const size_t *target_cols, size_t n_targets)
{
    BSNN_FAIL_IF(n_targets >= c->n_cols, BSNN_E_ARG,
                 "%s: %zu target columns leave no input among %zu columns", c->path, n_targets,
                 c->n_cols);
    c->role = bsnn__calloc(c->n_cols, sizeof *c->role);
    if (c->role == NULL) return BSNN_E_NOMEM;
    for (size_t j = 0; j < c->n_cols; j++) c->role[j] = -1;
    for (size_t t = 0; t < n_targets; t++) {
        size_t j = target_cols[t];
        BSNN_FAIL_IF(j >= c->n_cols || c->role[j] >= 0, BSNN_E_ARG,
                     "%s: target column %zu is %s (the file has %zu "
                     "columns, numbered from 0)",
                     c->path, j, j >= c->n_cols ? "out of range" : "repeated", c->n_cols);
        c->role[j] = (ptrdiff_t)t;
    }
    size_t in = 0;
    for (size_t j = 0; j < c->n_cols; j++)
        if (c->role[j] < 0) c->role[j] = -1 - (ptrdiff_t)in++;
    c->n_out = n_targets;
    c->n_in = in;
    return BSNN_OK;
}

/* A UTF-8 byte-order mark (what some spreadsheets write first) is not part
 * of the first field: skip it, so it can neither spoil a number nor make
 * the first data row look like a header. */
static void skip_bom(csv *c)
{
    static const unsigned char bom[3] = {0xef, 0xbb, 0xbf};
    int k = 0;
    while (k < 3 && c->consumed < c->size) {
        int ch = getc_unlocked(c->f);
        if (ch != bom[k]) {
            if (ch != EOF) ungetc(ch, c->f);
            break;
        }
        c->consumed++;
        k++;
    }
    if (k > 0 && k < 3) { /* a partial mark: put the file back as it was */
        rewind(c->f);
        c->consumed = 0;
    }
}

/* Pass two: fill the arrays; the file must not have changed meanwhile. */
static bsnn_status fill_rows(csv *c, size_t expected)
{
    rewind(c->f);
    c->consumed = 0;
    skip_bom(c);
    c->line = c->col = 1;
    c->rows = 0;
    size_t n = 0;
    if (c->has_header) BSNN_TRY(read_row(c, 0, 1, &n, NULL, NULL));
    for (;;) {
        if (c->rows == expected) {
            /* A row beyond the count would overflow the arrays. */
            BSNN_TRY(read_row(c, 0, 1, &n, NULL, NULL));
            if (n != 0) break;
            return BSNN_OK;
        }
        BSNN_TRY(read_row(c, 1, 0, &n, NULL, NULL));
        if (n == 0) break;
        c->rows++;
    }
    return bsnn__fail(BSNN_E_IO, "%s: the file changed while it was read", c->path);
}

static bsnn_dataset *load(csv *c, int header, const size_t *target_cols, size_t n_targets)
{
    if (count_rows(c, header) != BSNN_OK) return NULL;
    if (assign_roles(c, target_cols, n_targets) != BSNN_OK) return NULL;
    size_t rows = c->rows;
    bsnn_dataset *ds = bsnn__dataset_alloc(rows, c->n_in, c->n_out);
    if (ds == NULL) return NULL;
    c->x = ds->x;
    c->y = ds->y;
    if (fill_rows(c, rows) != BSNN_OK) {
        bsnn__dataset_free(ds);
        return NULL;
    }
    return ds;
}

bsnn_dataset *bsnn_dataset_load_csv(const char *path, int header, const size_t *target_cols,
                                    size_t n_targets)
{
    BSNN_ENTER();
    BSNN_CHECK_NULL_CTOR(path);
    BSNN_FAIL_NULL_IF(target_cols == NULL && n_targets > 0, BSNN_E_NULL,
                      "argument 'target_cols' is NULL");
    BSNN_FAIL_NULL_IF(n_targets == 0 || header < -1 || header > 1, BSNN_E_ARG,
                      "n_targets %zu (>= 1 needed), header %d (-1, 0 or 1)", n_targets, header);
    csv c = {0};
    c.path = path;
    c.line = c.col = 1;
    int fd = -1;
    if (bsnn__open_regular(&fd, &c.size, path) != BSNN_OK) return NULL;
    c.f = fdopen(fd, "rb");
    if (c.f == NULL) {
        bsnn__fail(BSNN_E_IO, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    skip_bom(&c);
    bsnn_dataset *ds = load(&c, header, target_cols, n_targets);
    bsnn__free(c.role);
    fclose(c.f);
    return ds;
}
