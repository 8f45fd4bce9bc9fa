/*
 * exutil.h - helpers shared by the example programs (demo, bsnn-train):
 * wall-clock time, gzip decompression OUTSIDE the library (libbsnn links no
 * zlib: a .gz file is piped through `gzip -dc` into a temporary file), and
 * small statistics. Header-only.
 */
#ifndef BSNN_EXUTIL_H
#define BSNN_EXUTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline double ex_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int ex_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Decompress `path` (a .gz file) into `dest` through `gzip -dc`. 0 on success. */
static inline int ex_gunzip(const char *path, const char *dest)
{
    if (strchr(path, '\'') != NULL) return -1; /* keeps the shell quoting simple */
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "gzip -dc -- '%s'", path);
    FILE *in = popen(cmd, "r");
    if (in == NULL) return -1;
    FILE *out = fopen(dest, "wb");
    if (out == NULL) {
        pclose(in);
        return -1;
    }
    char buf[1 << 16];
    size_t n;
    int bad = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) bad = 1;
    bad |= fclose(out) != 0;
    bad |= pclose(in) != 0;
    if (bad) remove(dest);
    return bad ? -1 : 0;
}

/* A plain (uncompressed) path for `path`: itself, or for a .gz file a
 * temporary decompressed copy (then *out_temp = 1: remove it after use). */
static inline int ex_plain_file(char *out, size_t cap, const char *path, int *out_temp)
{
    *out_temp = 0;
    if (!ex_ends_with(path, ".gz")) {
        snprintf(out, cap, "%s", path);
        return 0;
    }
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(out, cap, "%s/bsnn-XXXXXX", dir);
    int fd = mkstemp(out);
    if (fd < 0) return -1;
    close(fd);
    if (ex_gunzip(path, out) != 0) return -1;
    *out_temp = 1;
    return 0;
}

static inline int ex_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Quantile q in [0,1] of v[0..n) (linear interpolation; v is reordered). */
static inline double ex_quantile(double *v, size_t n, double q)
{
    if (n == 0) return 0.0;
    qsort(v, n, sizeof *v, ex_cmp_double);
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    double frac = pos - (double)i;
    if (frac == 0.0 || i + 1 >= n) return v[i];
    if (isinf(v[i + 1])) return v[i + 1]; /* "never" (INFINITY) stays never */
    return v[i] * (1 - frac) + v[i + 1] * frac;
}

#endif
