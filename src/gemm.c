/*
 * gemm.c - the one place bsnn multiplies matrices. Large products go to
 * BLIS's typed API with explicit strides (no transposed copies); tiny ones,
 * where BLIS's packing and dispatch cost more than the arithmetic, run a
 * plain loop. The choice depends on the shape only, never on the thread
 * count, so results are bit-identical for every thread count.
 */
#include "internal.h"

#include <blis.h>

static int num_threads = 1;

/* Below this many multiply-adds a plain loop beats BLIS's ~1 us call cost. */
#define BSNN_GEMM_LOOP_FLOPS 4096
/* Below this many multiply-adds a second thread costs more than it saves. */
#define BSNN_GEMM_THREAD_FLOPS (1u << 21)

bsnn_status bsnn_set_num_threads(int n)
{
    if (n < 1 || n > 256)
        return bsnn__fail(BSNN_E_ARG, "bsnn_set_num_threads: n = %d is not in 1..256", n);
    num_threads = n;
    return BSNN_OK;
}

int bsnn_get_num_threads(void) { return num_threads; }

static void gemm_loop(size_t m, size_t n, size_t k, float alpha, const float *a, ptrdiff_t rsa,
                      ptrdiff_t csa, const float *b, ptrdiff_t rsb, ptrdiff_t csb, float beta,
                      float *c, ptrdiff_t rsc, ptrdiff_t csc)
{
    for (size_t i = 0; i < m; i++) {
        float *ci = c + (ptrdiff_t)i * rsc;
        for (size_t j = 0; j < n; j++) ci[(ptrdiff_t)j * csc] = beta == 0.0f ? 0.0f : beta * ci[(ptrdiff_t)j * csc];
        for (size_t p = 0; p < k; p++) {
            float aip = alpha * a[(ptrdiff_t)i * rsa + (ptrdiff_t)p * csa];
            const float *bp = b + (ptrdiff_t)p * rsb;
            for (size_t j = 0; j < n; j++) ci[(ptrdiff_t)j * csc] += aip * bp[(ptrdiff_t)j * csb];
        }
    }
}

void bsnn__sgemm(size_t m, size_t n, size_t k, float alpha, const float *a, ptrdiff_t rsa,
                 ptrdiff_t csa, const float *b, ptrdiff_t rsb, ptrdiff_t csb, float beta,
                 float *c, ptrdiff_t rsc, ptrdiff_t csc)
{
    double flops = (double)m * (double)n * (double)k;
    if (flops < BSNN_GEMM_LOOP_FLOPS) {
        gemm_loop(m, n, k, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc);
        return;
    }
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads(flops < BSNN_GEMM_THREAD_FLOPS ? 1 : num_threads, &rntm);
    /* BLIS's typed API takes non-const pointers but does not write a or b. */
    bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)m, (dim_t)n, (dim_t)k, &alpha,
                 (float *)a, rsa, csa, (float *)b, rsb, csb, &beta, c, rsc, csc, NULL, &rntm);
}
