/*
 * bench_common.h - timing, peak-RSS and JSON helpers shared by the C
 * benchmark programs (bsnn and FANN). Not part of the library.
 */
#ifndef BSNN_BENCH_COMMON_H
#define BSNN_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Reset the kernel's resident-set high-water mark (Linux >= 4.0), so the
 * peak read afterwards belongs to the run that follows. */
static inline void bench_reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

/* VmHWM of this process in bytes (0 if unknown). */
static inline long long bench_peak_rss(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kb = 0;
    if (!f) return 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kb = atoll(line + 6);
    fclose(f);
    return kb * 1024;
}

/* A small deterministic generator so every program draws the same kind of
 * data without depending on a library's RNG. */
static uint64_t bench_rng = 0x9E3779B97F4A7C15ull;
static inline float bench_uniform(void)
{
    bench_rng ^= bench_rng << 13;
    bench_rng ^= bench_rng >> 7;
    bench_rng ^= bench_rng << 17;
    return (float)((bench_rng >> 40) * (1.0 / 16777216.0));
}

/* Parse "wide" / "tiny" into layer widths; returns the number of widths. */
static inline int bench_net(const char *name, int widths[4])
{
    if (strcmp(name, "wide") == 0) {
        widths[0] = 784, widths[1] = 1024, widths[2] = 1024, widths[3] = 10;
        return 4;
    }
    widths[0] = 2, widths[1] = 8, widths[2] = 8, widths[3] = 1;
    return 4;
}

/* The command line every bench program takes: NET THREADS MIN_TIME BATCH...
 * Fills the net's widths; returns 0, or 2 after printing the usage. */
typedef struct bench_args {
    const char *net;
    int threads, w[4];
    double min_time;
} bench_args;

static inline int bench_parse(bench_args *a, int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s wide|tiny THREADS MIN_TIME BATCH...\n", argv[0]);
        return 2;
    }
    a->net = argv[1];
    a->threads = atoi(argv[2]);
    a->min_time = atof(argv[3]);
    bench_net(a->net, a->w);
    return 0;
}

/* Run step(ctx) until min_time seconds have passed (after `warm` warm-up
 * steps); returns seconds per step and the step count in *out_steps. */
static inline double bench_time(void (*step)(void *), void *ctx, double min_time, int warm,
                         long *out_steps)
{
    for (int i = 0; i < warm; i++) step(ctx);
    long steps = 0, chunk = 1;
    double t0 = bench_now(), el = 0.0;
    for (;;) {
        for (long i = 0; i < chunk; i++) step(ctx);
        steps += chunk;
        el = bench_now() - t0;
        if (el >= min_time) break;
        /* Grow the chunk so the clock is read rarely on tiny steps. */
        if (el < min_time / 8) chunk *= 2;
    }
    *out_steps = steps;
    return el / (double)steps;
}

#endif
