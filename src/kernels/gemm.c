/*
 * gemm.c - the one place bsnn multiplies matrices. Large products go to
 * BLIS's typed API with explicit strides (no transposed copies). Products
 * with a small batch dimension (a thin X, or a weight gradient summed over
 * few rows) run bsnn's own AVX2/FMA register-tiled kernels: BLIS packs both
 * operands on every call (a full extra pass over a 4 MB weight matrix at
 * batch 1) and costs about a microsecond even for tiny shapes. Without
 * AVX2, tiny products run a plain loop. The choice depends on the shape and
 * the CPU only, never on the thread count, so results are bit-identical for
 * every thread count.
 */
#include "kernels/kernels.h"

#include <blis.h>

static int num_threads = 1;

/* Below this many multiply-adds a plain loop beats BLIS's ~1 us call cost. */
#define BSNN_GEMM_LOOP_FLOPS 4096
/* Below this many multiply-adds a second thread costs more than it saves. */
#define BSNN_GEMM_THREAD_FLOPS (1u << 21)
/* Up to these batch dimensions bsnn's own kernels beat BLIS on the wide
 * net's 1024 x 1024 shapes (min of 40 interleaved calls each, EPYC Zen 3):
 * X W at batch 1-2 (174 vs 384 us at 1), X^T dY with 1-4 rows (309 vs 971
 * us at 1), dY W^T at batch 1-4 (209 vs 326 us at 4). */
#define BSNN_GEMM_SMALL_NN 2
#define BSNN_GEMM_SMALL_TN 4
#define BSNN_GEMM_SMALL_NT 4

bsnn_status bsnn_set_num_threads(int n)
{
    BSNN_ENTER();
    BSNN_FAIL_IF(n < 1 || n > 256, BSNN_E_ARG, "n = %d is not in 1..256", n);
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

#if defined(__GNUC__) && defined(__x86_64__)
#define BSNN_X86_KERNELS 1
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))
#define AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma")))

/* Lane masks: mask_tab + 8 - t selects the first t lanes. */
static const int32_t mask_tab[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

AVX2_INLINE __m256i lane_mask(size_t t)
{
    return _mm256_loadu_si256((const __m256i *)(mask_tab + 8 - (t < 8 ? t : 8)));
}

AVX2_INLINE __m256 load8(const float *p, __m256i mask, int masked)
{
    return masked ? _mm256_maskload_ps(p, mask) : _mm256_loadu_ps(p);
}

/* c = alpha * acc + beta * c for 8 (or the masked) lanes of one row. */
AVX2_INLINE void store8(float *p, __m256 acc, float alpha, float beta, __m256i mask, int masked)
{
    __m256 old = beta == 0.0f ? _mm256_setzero_ps() : _mm256_mul_ps(_mm256_set1_ps(beta), load8(p, mask, masked));
    __m256 r = _mm256_fmadd_ps(_mm256_set1_ps(alpha), acc, old);
    if (masked)
        _mm256_maskstore_ps(p, mask, r);
    else
        _mm256_storeu_ps(p, r);
}

/* One R x 8V tile of C = alpha A B + beta C with B and C row-major (unit
 * column stride) and A at any strides: A's elements are broadcast, a row
 * slice of B is loaded per step of k, the tile stays in registers. Only the
 * last vector of the tile may be masked. With upd set (alpha 1, beta 0),
 * the tile is instead the SGD step of W, laid out like C: W -= step * AB,
 * and C is not written. */
AVX2_INLINE void nn_tile(const int R, const int V, size_t k, const float *a, ptrdiff_t rsa,
                         ptrdiff_t csa, const float *b, ptrdiff_t rsb, float *c, ptrdiff_t rsc,
                         float alpha, float beta, __m256i mask, const int masked, const int upd,
                         float *w, float step)
{
    __m256 acc[4][8];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int v = 0; v < V; v++) acc[r][v] = _mm256_setzero_ps();
    for (size_t p = 0; p < k; p++) {
        const float *bp = b + (ptrdiff_t)p * rsb;
        const float *ap = a + (ptrdiff_t)p * csa;
        /* B's rows are far apart (a 4 KB stride for a 1024-wide layer), where
         * hardware prefetchers stop at page boundaries: fetch ahead by hand. */
#pragma GCC unroll 4
        for (int v = 0; v < V; v += 2) _mm_prefetch((const char *)(bp + 24 * rsb + 8 * v), _MM_HINT_T0);
        __m256 bv[8];
#pragma GCC unroll 8
        for (int v = 0; v < V; v++) bv[v] = load8(bp + 8 * v, mask, masked && v == V - 1);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            __m256 av = _mm256_broadcast_ss(ap + r * rsa);
#pragma GCC unroll 8
            for (int v = 0; v < V; v++) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int v = 0; v < V; v++) {
            int mk = masked && v == V - 1;
            if (!upd) {
                store8(c + r * rsc + 8 * v, acc[r][v], alpha, beta, mask, mk);
                continue;
            }
            /* Plain multiply then subtract: the rounding of params -= lr * g. */
            float *wp = w + r * rsc + 8 * v;
            __m256 nw = _mm256_sub_ps(load8(wp, mask, mk), _mm256_mul_ps(_mm256_set1_ps(step), acc[r][v]));
            if (mk)
                _mm256_maskstore_ps(wp, mask, nw);
            else
                _mm256_storeu_ps(wp, nw);
        }
}

/* R rows of C: full tiles of 8V columns, then 8-column (last one masked). */
#define NN_ROWS(name, R, V, UPD)                                                           \
    AVX2 static void name(size_t n, size_t k, const float *a, ptrdiff_t rsa, ptrdiff_t csa, \
                          const float *b, ptrdiff_t rsb, float *c, ptrdiff_t rsc,          \
                          float alpha, float beta, float *w, float step)                   \
    {                                                                                      \
        __m256i none = _mm256_setzero_si256();                                             \
        size_t j = 0;                                                                      \
        for (; j + 8 * V <= n; j += 8 * V)                                                 \
            nn_tile(R, V, k, a, rsa, csa, b + j, rsb, UPD ? c : c + j, rsc, alpha, beta,    \
                    none, 0, UPD, UPD ? w + j : w, step);                                                     \
        for (; j + 8 <= n; j += 8)                                                         \
            nn_tile(R, 1, k, a, rsa, csa, b + j, rsb, UPD ? c : c + j, rsc, alpha, beta,    \
                    none, 0, UPD, UPD ? w + j : w, step);                                                     \
        if (j < n)                                                                         \
            nn_tile(R, 1, k, a, rsa, csa, b + j, rsb, UPD ? c : c + j, rsc, alpha, beta,    \
                    lane_mask(n - j), 1, UPD, UPD ? w + j : w, step);                                \
    }
NN_ROWS(nn_rows1, 1, 8, 0)
NN_ROWS(nn_rows2, 2, 4, 0)
NN_ROWS(nn_rows3, 3, 2, 0)
NN_ROWS(nn_rows4, 4, 2, 0)
NN_ROWS(upd_rows1, 1, 8, 1)
NN_ROWS(upd_rows2, 2, 4, 1)
NN_ROWS(upd_rows3, 3, 2, 1)
NN_ROWS(upd_rows4, 4, 2, 1)

typedef void (*rows_fn)(size_t, size_t, const float *, ptrdiff_t, ptrdiff_t, const float *,
                        ptrdiff_t, float *, ptrdiff_t, float, float, float *, float);

/* Rows of C in groups of 4 (then 3, 2, 1); w (may be NULL) moves with C. */
AVX2 static void gemm_nn_avx2(size_t m, size_t n, size_t k, float alpha, const float *a,
                              ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t rsb,
                              float beta, float *c, ptrdiff_t rsc, float *w, float step)
{
    static const rows_fn plain[5] = {NULL, nn_rows1, nn_rows2, nn_rows3, nn_rows4};
    static const rows_fn upd[5] = {NULL, upd_rows1, upd_rows2, upd_rows3, upd_rows4};
    const rows_fn *fn = w ? upd : plain;
    for (size_t i = 0; i < m;) {
        size_t r = m - i < 4 ? m - i : 4;
        fn[r](n, k, a + (ptrdiff_t)i * rsa, rsa, csa, b, rsb, c ? c + (ptrdiff_t)i * rsc : NULL,
              rsc, alpha, beta, w ? w + (ptrdiff_t)i * rsc : NULL, step);
        i += r;
    }
}

AVX2_INLINE float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* One R x Q tile of C = alpha A B^T + beta C where A's rows and B^T's rows
 * (B's columns) are contiguous: each C element is a dot product over k, run
 * in 8-lane chunks (the last one masked) and summed across lanes at the end. */
AVX2_INLINE void nt_tile(const int R, const int Q, size_t k, const float *a, ptrdiff_t rsa,
                         const float *bt, ptrdiff_t rsbt, float *c, ptrdiff_t rsc, float alpha,
                         float beta)
{
    __m256 acc[4][8];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int q = 0; q < Q; q++) acc[r][q] = _mm256_setzero_ps();
    size_t p = 0;
    __m256i all = _mm256_set1_epi32(-1);
    for (; p < k; p += 8) {
        int tail = k - p < 8;
        __m256i mask = tail ? lane_mask(k - p) : all;
        __m256 av[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) av[r] = _mm256_maskload_ps(a + r * rsa + p, mask);
#pragma GCC unroll 8
        for (int q = 0; q < Q; q++) {
            __m256 bv = _mm256_maskload_ps(bt + q * rsbt + p, mask);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) acc[r][q] = _mm256_fmadd_ps(av[r], bv, acc[r][q]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int q = 0; q < Q; q++) {
            float *cp = c + r * rsc + q;
            float old = beta == 0.0f ? 0.0f : beta * *cp;
            *cp = alpha * hsum8(acc[r][q]) + old;
        }
}

#define NT_ROWS(R, Q)                                                                      \
    AVX2 static void nt_rows##R(size_t n, size_t k, const float *a, ptrdiff_t rsa,         \
                                const float *bt, ptrdiff_t rsbt, float *c, ptrdiff_t rsc,  \
                                float alpha, float beta)                                   \
    {                                                                                      \
        size_t j = 0;                                                                      \
        for (; j + Q <= n; j += Q)                                                         \
            nt_tile(R, Q, k, a, rsa, bt + (ptrdiff_t)j * rsbt, rsbt, c + j, rsc, alpha,    \
                    beta);                                                                 \
        for (; j < n; j++)                                                                 \
            nt_tile(R, 1, k, a, rsa, bt + (ptrdiff_t)j * rsbt, rsbt, c + j, rsc, alpha,    \
                    beta);                                                                 \
    }
NT_ROWS(1, 8)
NT_ROWS(2, 4)
NT_ROWS(3, 2)
NT_ROWS(4, 2)

AVX2 static void gemm_nt_avx2(size_t m, size_t n, size_t k, float alpha, const float *a,
                              ptrdiff_t rsa, const float *bt, ptrdiff_t rsbt, float beta,
                              float *c, ptrdiff_t rsc)
{
    for (size_t i = 0; i < m;) {
        size_t left = m - i;
        const float *ai = a + (ptrdiff_t)i * rsa;
        float *ci = c + (ptrdiff_t)i * rsc;
        if (left >= 4) {
            nt_rows4(n, k, ai, rsa, bt, rsbt, ci, rsc, alpha, beta);
            i += 4;
        } else if (left == 3) {
            nt_rows3(n, k, ai, rsa, bt, rsbt, ci, rsc, alpha, beta);
            i += 3;
        } else if (left == 2) {
            nt_rows2(n, k, ai, rsa, bt, rsbt, ci, rsc, alpha, beta);
            i += 2;
        } else {
            nt_rows1(n, k, ai, rsa, bt, rsbt, ci, rsc, alpha, beta);
            i += 1;
        }
    }
}


/* Run the product on bsnn's own kernels when the shape suits them; 0 if not. */
static int gemm_small(size_t m, size_t n, size_t k, float alpha, const float *a, ptrdiff_t rsa,
                      ptrdiff_t csa, const float *b, ptrdiff_t rsb, ptrdiff_t csb, float beta,
                      float *c, ptrdiff_t rsc, ptrdiff_t csc, double flops)
{
    if (csc != 1 || !bsnn__cpu_avx2()) return 0;
    int tiny = flops < BSNN_GEMM_LOOP_FLOPS;
    if (csb == 1 && (tiny || m <= BSNN_GEMM_SMALL_NN || k <= BSNN_GEMM_SMALL_TN)) {
        gemm_nn_avx2(m, n, k, alpha, a, rsa, csa, b, rsb, beta, c, rsc, NULL, 0.0f);
        return 1;
    }
    if (rsb == 1 && csa == 1 && (tiny || m <= BSNN_GEMM_SMALL_NT)) {
        gemm_nt_avx2(m, n, k, alpha, a, rsa, b, csb, beta, c, rsc);
        return 1;
    }
    return 0;
}
#else
static int gemm_small(size_t m, size_t n, size_t k, float alpha, const float *a, ptrdiff_t rsa,
                      ptrdiff_t csa, const float *b, ptrdiff_t rsb, ptrdiff_t csb, float beta,
                      float *c, ptrdiff_t rsc, ptrdiff_t csc, double flops)
{
    (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)rsa, (void)csa, (void)b, (void)rsb;
    (void)csb, (void)beta, (void)c, (void)rsc, (void)csc, (void)flops;
    return 0;
}
#endif

void bsnn__sgemm_tn_sgd(size_t in, size_t out, size_t n, const float *x, const float *dy,
                        float *g, float *w, float step)
{
#ifdef BSNN_X86_KERNELS
    if (bsnn__cpu_avx2()) {
        gemm_nn_avx2(in, out, n, 1.0f, x, 1, (ptrdiff_t)in, dy, (ptrdiff_t)out, 0.0f, g,
                     (ptrdiff_t)out, w, step);
        return;
    }
#endif
    for (size_t i = 0; i < in; i++)
        for (size_t j = 0; j < out; j++) {
            float acc = 0.0f;
            for (size_t p = 0; p < n; p++) acc += x[p * in + i] * dy[p * out + j];
            if (g) g[i * out + j] = acc;
            if (w) w[i * out + j] -= step * acc;
        }
}

void bsnn__sgemm(size_t m, size_t n, size_t k, float alpha, const float *a, ptrdiff_t rsa,
                 ptrdiff_t csa, const float *b, ptrdiff_t rsb, ptrdiff_t csb, float beta,
                 float *c, ptrdiff_t rsc, ptrdiff_t csc)
{
    double flops = (double)m * (double)n * (double)k;
    if (gemm_small(m, n, k, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc, flops)) return;
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
