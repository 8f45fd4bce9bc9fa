/*
 * test_gemm.c - bsnn__sgemm against a product recomputed in double, for the
 * three stride patterns dense layers use (X W, X^T dY, dY W^T) over batch
 * sizes that reach every kernel: the plain loop, bsnn's tiled kernels (row
 * remainders 1-4, column tails with masks) and BLIS.
 */
#include "testutil.h"

#include "kernels/kernels.h"

static float val(size_t i) { return (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f; }

/* C = A B (+ C0 when beta = 1) in double, with the same strides. */
static void check(size_t m, size_t n, size_t k, int pattern, float beta)
{
    /* pattern 0: A [m][k], B [k][n]; 1: A stored [k][m]; 2: B stored [n][k]. */
    float *a = malloc(m * k * sizeof(float)), *b = malloc(k * n * sizeof(float));
    float *c = malloc(m * n * sizeof(float)), *c0 = malloc(m * n * sizeof(float));
    for (size_t i = 0; i < m * k; i++) a[i] = val(i + 7);
    for (size_t i = 0; i < k * n; i++) b[i] = val(3 * i + 1);
    for (size_t i = 0; i < m * n; i++) c[i] = c0[i] = val(5 * i + 2);
    ptrdiff_t rsa = pattern == 1 ? 1 : (ptrdiff_t)k, csa = pattern == 1 ? (ptrdiff_t)m : 1;
    ptrdiff_t rsb = pattern == 2 ? 1 : (ptrdiff_t)n, csb = pattern == 2 ? (ptrdiff_t)k : 1;
    bsnn__sgemm(m, n, k, 1.0f, a, rsa, csa, b, rsb, csb, beta, c, (ptrdiff_t)n, 1);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = beta * (double)c0[i * n + j], mag = fabs(s);
            for (size_t p = 0; p < k; p++) {
                double t = (double)a[i * rsa + p * csa] * b[p * rsb + j * csb];
                s += t;
                mag += fabs(t);
            }
            double err = fabs(c[i * n + j] - s);
            cr_assert(err <= 1e-6 * mag + 1e-30, "m=%zu n=%zu k=%zu pattern %d beta %g: C[%zu][%zu] = %.9g, expected %.9g",
                      m, n, k, pattern, beta, i, j, c[i * n + j], s);
        }
    free(a), free(b), free(c), free(c0);
}

Test(gemm, matches_double_product_for_every_kernel_and_stride_pattern)
{
    const size_t ms[] = {1, 2, 3, 4, 5, 7, 8, 16, 17, 40};
    const size_t ns[] = {1, 3, 8, 10, 17, 64, 70};
    const size_t ks[] = {1, 2, 7, 8, 9, 33};
    for (size_t a = 0; a < sizeof ms / sizeof *ms; a++)
        for (size_t b = 0; b < sizeof ns / sizeof *ns; b++)
            for (size_t d = 0; d < sizeof ks / sizeof *ks; d++)
                for (int pattern = 0; pattern < 3; pattern++) {
                    check(ms[a], ns[b], ks[d], pattern, 0.0f);
                    check(ms[a], ns[b], ks[d], pattern, 1.0f);
                }
}

Test(gemm, large_products_through_blis_match_double_product)
{
    for (int pattern = 0; pattern < 3; pattern++) {
        check(64, 96, 80, pattern, 1.0f);
        check(100, 33, 300, pattern, 0.0f);
    }
}
