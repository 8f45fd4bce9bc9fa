/*
 * bench_machine.c - what the benchmark runs on: the CPU's vector features, the
 * FMA peak of one core, the BLIS build and the configuration BLIS selected in
 * this process, and one 1024^3 product through BLIS and through bsnn.
 *
 *   bench_machine [--peak]
 *
 * Prints one JSON object. run.py runs it as installed, and again with
 * BLIS_ARCH_TYPE set to check that the forced configuration takes effect
 * (BLIS reads the variable once, at its initialisation). --peak also
 * measures the FMA peak: independent FMAs on one core, 512-bit where the CPU
 * has AVX-512F, 256-bit otherwise, median of PEAK_RUNS runs.
 */
#include <bsnn.h>
#include <blis.h>
#include <immintrin.h>

#include "bench_common.h"

enum { PEAK_RUNS = 11, TIMED_CALLS = 5, GEMM_N = 1024 };
/* Independent accumulators: more than FMA latency (4) x FMA ports (2). */
#define PEAK_ITERS (1L << 22)
#define PEAK_CHAINS 12

/* The loop body of both widths: PEAK_CHAINS dependency chains of FMAs whose
 * values converge (x -> 0.999 x + 1e-7), so nothing overflows or turns
 * subnormal. Distinct starting values keep the compiler from merging the
 * chains; the sum is returned so the loop is not removed. */
#define PEAK_LOOP(V, SET1, FMADD, ADD, OUT)                                                  \
    do {                                                                                     \
        V a = SET1(0.999f), b = SET1(1e-7f), r0 = SET1(1.0f), r1 = SET1(1.1f);              \
        V r2 = SET1(1.2f), r3 = SET1(1.3f), r4 = SET1(1.4f), r5 = SET1(1.5f);                \
        V r6 = SET1(1.6f), r7 = SET1(1.7f), r8 = SET1(1.8f), r9 = SET1(1.9f);                \
        V r10 = SET1(2.0f), r11 = SET1(2.1f);                                                \
        for (long i = 0; i < PEAK_ITERS; i++) {                                              \
            r0 = FMADD(r0, a, b), r1 = FMADD(r1, a, b), r2 = FMADD(r2, a, b);               \
            r3 = FMADD(r3, a, b), r4 = FMADD(r4, a, b), r5 = FMADD(r5, a, b);               \
            r6 = FMADD(r6, a, b), r7 = FMADD(r7, a, b), r8 = FMADD(r8, a, b);               \
            r9 = FMADD(r9, a, b), r10 = FMADD(r10, a, b), r11 = FMADD(r11, a, b);           \
        }                                                                                    \
        r0 = ADD(ADD(ADD(r0, r1), ADD(r2, r3)), ADD(ADD(r4, r5), ADD(r6, r7)));             \
        OUT = ADD(r0, ADD(ADD(r8, r9), ADD(r10, r11)));                                     \
    } while (0)

__attribute__((target("avx512f"))) static float fma_chains_512(void)
{
    __m512 s;
    PEAK_LOOP(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, s);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float fma_chains_256(void)
{
    __m256 s;
    PEAK_LOOP(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, s);
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    return lanes[0] + lanes[7];
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median, min and max of n values (sorts v). */
static void stats(double out[3], double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    out[0] = v[n / 2], out[1] = v[0], out[2] = v[n - 1];
}

/* GFLOP/s of the chains: median, min, max over PEAK_RUNS after one warm-up
 * run (the core may need time to reach its wide-vector frequency). */
static void fma_peak(double out[3], int width)
{
    double g[PEAK_RUNS], lanes = width / 32, sink = 0.0;
    for (int r = -1; r < PEAK_RUNS; r++) {
        double t0 = bench_now();
        sink += width == 512 ? fma_chains_512() : fma_chains_256();
        double sec = bench_now() - t0;
        if (r >= 0) g[r] = 2.0 * lanes * PEAK_CHAINS * (double)PEAK_ITERS / sec * 1e-9;
    }
    stats(out, g, PEAK_RUNS);
    if (sink == 0.0) out[0] = 0.0; /* never: keeps the sums alive */
}

/* Median GFLOP/s of C = A B (1024^3, row-major) through bli_sgemm_ex on one
 * thread with the context BLIS selected (cntx NULL), no global settings. */
static double blis_gflops(float *a, float *b, float *c)
{
    double g[TIMED_CALLS], st[3];
    float one = 1.0f, zero = 0.0f;
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads(1, &rntm);
    for (int r = -1; r < TIMED_CALLS; r++) {
        double t0 = bench_now();
        bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, GEMM_N, GEMM_N, GEMM_N, &one, a, GEMM_N,
                     1, b, GEMM_N, 1, &zero, c, GEMM_N, 1, NULL, &rntm);
        double sec = bench_now() - t0;
        if (r >= 0) g[r] = 2.0 * GEMM_N * GEMM_N * (double)GEMM_N / sec * 1e-9;
    }
    stats(st, g, TIMED_CALLS);
    return st[0];
}

/* The same product through bsnn's public API: one 1024 -> 1024 dense layer
 * (no activation) applied to 1024 rows by bsnn_model_forward, one thread;
 * the bias add is 1/1024 of the work and is not counted. */
static double bsnn_gflops(const float *x)
{
    size_t shape[2] = {GEMM_N, GEMM_N};
    bsnn_model *m = bsnn_model_create(GEMM_N);
    bsnn_tensor *in = bsnn_tensor_create(2, shape), *out = bsnn_tensor_create(2, shape);
    double g[TIMED_CALLS], st[3] = {0};
    if (m && in && out && bsnn_model_add(m, bsnn_layer_dense(GEMM_N)) == BSNN_OK &&
        bsnn_tensor_copy_in(in, x, (size_t)GEMM_N * GEMM_N) == BSNN_OK) {
        for (int r = -1; r < TIMED_CALLS; r++) {
            double t0 = bench_now();
            if (bsnn_model_forward(out, m, in) != BSNN_OK) break;
            double sec = bench_now() - t0;
            if (r >= 0) g[r] = 2.0 * GEMM_N * GEMM_N * (double)GEMM_N / sec * 1e-9;
            if (r == TIMED_CALLS - 1) stats(st, g, TIMED_CALLS);
        }
    }
    bsnn_tensor_free(in);
    bsnn_tensor_free(out);
    bsnn_model_free(m);
    return st[0];
}

/* The id of BLIS's skx (AVX-512) configuration in this build's arch_t
 * numbering, the value BLIS_ARCH_TYPE takes; -1 when the build has none. */
static int skx_id(void)
{
    for (int i = 0; i < BLIS_NUM_ARCHS; i++)
        if (strcmp(bli_arch_string((arch_t)i), "skx") == 0) return i;
    return -1;
}

static void print_blis(void)
{
    /* Read-only queries of the global context (never written through). */
    cntx_t *cx = (cntx_t *)bli_gks_query_cntx();
    arch_t id = bli_arch_query_id();
    printf("\"blis_version\":\"%s\",\"blis_openmp\":%d,\"blis_pthreads\":%d,\"blis_arch\":\"%s\","
           "\"blis_arch_id\":%d,\"blis_skx_id\":%d,\"blis_sgemm_ukr\":\"%s\",",
           bli_info_get_version_str(), (int)bli_info_get_enable_openmp(),
           (int)bli_info_get_enable_pthreads(), bli_arch_string(id), (int)id, skx_id(),
           bli_gks_l3_ukr_impl_string(BLIS_GEMM_UKR, BLIS_NAT, BLIS_FLOAT));
    printf("\"blis_sgemm_blocks\":{\"MR\":%ld,\"NR\":%ld,\"KC\":%ld,\"MC\":%ld,\"NC\":%ld},"
           "\"blis_sup_thresh\":{\"MT\":%ld,\"NT\":%ld,\"KT\":%ld},",
           (long)bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_MR, cx),
           (long)bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_NR, cx),
           (long)bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_KC, cx),
           (long)bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_MC, cx),
           (long)bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_NC, cx),
           (long)bli_cntx_get_l3_sup_thresh_dt(BLIS_FLOAT, BLIS_MT, cx),
           (long)bli_cntx_get_l3_sup_thresh_dt(BLIS_FLOAT, BLIS_NT, cx),
           (long)bli_cntx_get_l3_sup_thresh_dt(BLIS_FLOAT, BLIS_KT, cx));
}

int main(int argc, char **argv)
{
    int peak = argc > 1 && strcmp(argv[1], "--peak") == 0;
    int avx512 = !!__builtin_cpu_supports("avx512f"), avx2 = !!__builtin_cpu_supports("avx2");
    int fma = !!__builtin_cpu_supports("fma");
    bli_init(); /* BLIS selects its configuration here (BLIS_ARCH_TYPE honoured) */
    printf("{\"meta\":\"machine\",\"avx2\":%d,\"fma\":%d,\"avx512f\":%d,", avx2, fma, avx512);
    if (peak && (avx512 || (avx2 && fma))) {
        double p[3];
        fma_peak(p, avx512 ? 512 : 256);
        printf("\"fma_width\":%d,\"fma_peak_gflops\":%.2f,\"fma_peak_min\":%.2f,"
               "\"fma_peak_max\":%.2f,\"fma_peak_runs\":%d,",
               avx512 ? 512 : 256, p[0], p[1], p[2], PEAK_RUNS);
    }
    print_blis();
    size_t n = (size_t)GEMM_N * GEMM_N;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
    if (!a || !b || !c || bsnn_set_num_threads(1) != BSNN_OK) return 1;
    for (size_t i = 0; i < n; i++) a[i] = bench_uniform(), b[i] = bench_uniform();
    printf("\"blis_sgemm_1024_gflops\":%.2f,", blis_gflops(a, b, c));
    printf("\"bsnn_forward_1024_gflops\":%.2f,", bsnn_gflops(a));
    /* What bsnn's products run on (its kernel query; a plain ASCII string
     * without quotes or backslashes, so it needs no JSON escaping). */
    printf("\"bsnn_gemm_kernel\":\"%s\",\"bsnn_version\":\"%s\"}\n", bsnn_gemm_kernel_string(),
           bsnn_version_string());
    free(a), free(b), free(c);
    return 0;
}
