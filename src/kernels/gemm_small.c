/*
 * gemm_small.c - bsnn's own register-tiled GEMM kernels, for products with
 * a small batch dimension: a thin X (X W, dY W^T) or a weight gradient
 * summed over few rows (X^T dY). BLIS packs both operands on every call (a
 * full extra pass over a 4 MB weight matrix at batch 1) and costs about a
 * microsecond even for tiny shapes; these read the operands in place.
 *
 * Two forms, each in an AVX2/FMA and an AVX-512F version:
 *  - nn: C = alpha A B + beta C with B and C row-major and A at any
 *    strides: A's elements are broadcast, a row slice of B is loaded per
 *    step of k, the tile stays in registers.
 *  - nt: C = alpha A B^T + beta C where A's rows and B^T's rows are
 *    contiguous: each element is a dot product over k in vector lanes,
 *    summed across lanes at the end.
 * Every element of C is computed by its own chain of operations, the same
 * wherever it sits in a tile or a block of columns, so a product split
 * into column blocks (threads) gives the same bits. The two nn versions
 * are also bit-identical to each other (same chain, same final rounding);
 * the nt versions differ (8 or 16 partial sums per dot product).
 */
#include "kernels/kernels.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

/* ==== AVX2 / FMA =========================================================== */

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
 * last vector of the tile may be masked. */
AVX2_INLINE void nn_tile(const int R, const int V, size_t k, const float *a, ptrdiff_t rsa,
                         ptrdiff_t csa, const float *b, ptrdiff_t rsb, float *c, ptrdiff_t rsc,
                         float alpha, float beta, __m256i mask, const int masked)
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
        for (int v = 0; v < V; v++)
            store8(c + r * rsc + 8 * v, acc[r][v], alpha, beta, mask, masked && v == V - 1);
}

/* R rows of C: full tiles of 8V columns, then 8-column (last one masked). */
#define NN_ROWS(name, R, V)                                                                \
    AVX2 static void name(size_t n, size_t k, const float *a, ptrdiff_t rsa, ptrdiff_t csa, \
                          const float *b, ptrdiff_t rsb, float *c, ptrdiff_t rsc,          \
                          float alpha, float beta)                                         \
    {                                                                                      \
        __m256i none = _mm256_setzero_si256();                                             \
        size_t j = 0;                                                                      \
        for (; j + 8 * V <= n; j += 8 * V)                                                 \
            nn_tile(R, V, k, a, rsa, csa, b + j, rsb, c + j, rsc, alpha, beta, none, 0);   \
        for (; j + 8 <= n; j += 8)                                                         \
            nn_tile(R, 1, k, a, rsa, csa, b + j, rsb, c + j, rsc, alpha, beta, none, 0);   \
        if (j < n)                                                                         \
            nn_tile(R, 1, k, a, rsa, csa, b + j, rsb, c + j, rsc, alpha, beta,             \
                    lane_mask(n - j), 1);                                                  \
    }
NN_ROWS(nn_rows1, 1, 8)
NN_ROWS(nn_rows2, 2, 4)
NN_ROWS(nn_rows3, 3, 2)
NN_ROWS(nn_rows4, 4, 2)

typedef void (*rows_fn)(size_t, size_t, const float *, ptrdiff_t, ptrdiff_t, const float *,
                        ptrdiff_t, float *, ptrdiff_t, float, float);

/* Rows of C in groups of 4 (then 3, 2, 1). */
AVX2 void bsnn__gemm_nn_avx2(size_t m, size_t n, size_t k, float alpha, const float *a,
                             ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t rsb,
                             float beta, float *c, ptrdiff_t rsc)
{
    static const rows_fn fn[5] = {NULL, nn_rows1, nn_rows2, nn_rows3, nn_rows4};
    for (size_t i = 0; i < m;) {
        size_t r = m - i < 4 ? m - i : 4;
        fn[r](n, k, a + (ptrdiff_t)i * rsa, rsa, csa, b, rsb, c + (ptrdiff_t)i * rsc, rsc, alpha,
              beta);
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

AVX2 void bsnn__gemm_nt_avx2(size_t m, size_t n, size_t k, float alpha, const float *a,
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

/* ==== AVX-512F ============================================================= */

#define AVX512 __attribute__((target("avx512f")))
#define AVX512_INLINE static inline __attribute__((always_inline, target("avx512f")))

/* The first t lanes (t in 1..16). */
AVX512_INLINE __mmask16 lanes16(size_t t) { return (__mmask16)(t >= 16 ? 0xFFFFu : (1u << t) - 1u); }

/* One R x 16V tile of the nn form (R <= 8, V <= 3: 24 accumulators, 3 row
 * slices of B and a broadcast, 28 of 32 registers); the last vector holds
 * the lanes in `last`. Rounded as the AVX2 tile: alpha * acc + beta * c
 * (beta * c rounded first). */
AVX512_INLINE void nn_tile512(const int R, const int V, size_t k, const float *a, ptrdiff_t rsa,
                              ptrdiff_t csa, const float *b, ptrdiff_t rsb, float *c,
                              ptrdiff_t rsc, float alpha, float beta, __mmask16 last)
{
    __m512 acc[8][3];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 3
        for (int v = 0; v < V; v++) acc[r][v] = _mm512_setzero_ps();
    for (size_t p = 0; p < k; p++) {
        const float *bp = b + (ptrdiff_t)p * rsb, *ap = a + (ptrdiff_t)p * csa;
        /* B's rows are far apart (4 KB for a 1024-wide layer), where the
         * hardware prefetchers stop at page boundaries: fetch ahead, into
         * L2 (rows 4 KB apart share an L1 set: 24 rows ahead in L1 would
         * evict each other before use; 20% slower measured). */
#pragma GCC unroll 3
        for (int v = 0; v < V; v++) _mm_prefetch((const char *)(bp + 24 * rsb + 16 * v), _MM_HINT_T1);
        __m512 bv[3];
#pragma GCC unroll 3
        for (int v = 0; v < V; v++)
            bv[v] = v == V - 1 ? _mm512_maskz_loadu_ps(last, bp + 16 * v) : _mm512_loadu_ps(bp + 16 * v);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            __m512 av = _mm512_set1_ps(ap[r * rsa]);
#pragma GCC unroll 3
            for (int v = 0; v < V; v++) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 3
        for (int v = 0; v < V; v++) {
            __mmask16 mk = v == V - 1 ? last : (__mmask16)0xFFFFu;
            float *cp = c + r * rsc + 16 * v;
            __m512 old = beta == 0.0f ? _mm512_setzero_ps()
                                      : _mm512_mul_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(mk, cp));
            _mm512_mask_storeu_ps(cp, mk, _mm512_fmadd_ps(_mm512_set1_ps(alpha), acc[r][v], old));
        }
}

typedef void (*nn512_fn)(size_t, const float *, ptrdiff_t, ptrdiff_t, const float *, ptrdiff_t,
                         float *, ptrdiff_t, float, float, __mmask16);

#define NN512(R, V)                                                                          \
    AVX512 static void nn512_##R##x##V(size_t k, const float *a, ptrdiff_t rsa, ptrdiff_t csa, \
                                       const float *b, ptrdiff_t rsb, float *c, ptrdiff_t rsc, \
                                       float alpha, float beta, __mmask16 last)               \
    {                                                                                        \
        nn_tile512(R, V, k, a, rsa, csa, b, rsb, c, rsc, alpha, beta, last);                 \
    }
#define NN512_ROWS(R) NN512(R, 1) NN512(R, 2) NN512(R, 3)
NN512_ROWS(1) NN512_ROWS(2) NN512_ROWS(3) NN512_ROWS(4)
NN512_ROWS(5) NN512_ROWS(6) NN512_ROWS(7) NN512_ROWS(8)
#define NN512_ENTRY(R) {NULL, nn512_##R##x1, nn512_##R##x2, nn512_##R##x3}
static const nn512_fn nn512[9][4] = {{NULL}, NN512_ENTRY(1), NN512_ENTRY(2), NN512_ENTRY(3),
                                     NN512_ENTRY(4), NN512_ENTRY(5), NN512_ENTRY(6),
                                     NN512_ENTRY(7), NN512_ENTRY(8)};

/* One R x 48 (or narrower) tile of C at row i, column j. */
AVX512_INLINE void nn512_at(size_t i, size_t j, size_t m, size_t n, size_t k, float alpha,
                            const float *a, ptrdiff_t rsa, ptrdiff_t csa, const float *b,
                            ptrdiff_t rsb, float beta, float *c, ptrdiff_t rsc)
{
    size_t r = m - i < 8 ? m - i : 8, width = n - j < 48 ? n - j : 48;
    int v = (int)((width + 15) / 16);
    ptrdiff_t off = (ptrdiff_t)i * rsc + (ptrdiff_t)j;
    nn512[r][v](k, a + (ptrdiff_t)i * rsa, rsa, csa, b + j, rsb, c + off, rsc, alpha, beta,
                lanes16(width - 16 * (size_t)(v - 1)));
}

/* Tiles of 8 rows x 48 columns. When B is large (X W: a weight matrix),
 * panels of 48 columns outside and row groups inside: the panel (k x 48)
 * stays in L2 while every row group reads it, so B streams from memory
 * once even for 32 rows. When B is small (X^T dY: a few rows of dY), rows
 * outside: C, the big operand, is then written in order (twice as fast at
 * 8-16 rows as by panels, measured). */
AVX512 void bsnn__gemm_nn_avx512(size_t m, size_t n, size_t k, float alpha, const float *a,
                                 ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t rsb,
                                 float beta, float *c, ptrdiff_t rsc)
{
    /* the same bound as BSNN_GEMM_SMALL_B_BYTES (gemm.c cuts such
     * products into row blocks for threads) */
    if ((double)k * (double)n * sizeof(float) <= 256.0 * 1024) {
        for (size_t i = 0; i < m; i += 8)
            for (size_t j = 0; j < n; j += 48)
                nn512_at(i, j, m, n, k, alpha, a, rsa, csa, b, rsb, beta, c, rsc);
        return;
    }
    for (size_t j = 0; j < n; j += 48)
        for (size_t i = 0; i < m; i += 8)
            nn512_at(i, j, m, n, k, alpha, a, rsa, csa, b, rsb, beta, c, rsc);
}

/* One R x Q tile of the nt form (R <= 4, Q <= 8; 4 x 6 = 24 accumulators
 * plus 4 rows of A and one of B^T), 16 lanes of k at a time, the tail of k
 * masked; each sum reduced across lanes at the end, then alpha * sum +
 * beta * c rounded as the AVX2 tile. */
AVX512_INLINE void nt_tile512(const int R, const int Q, size_t k, const float *a, ptrdiff_t rsa,
                              const float *bt, ptrdiff_t rsbt, float *c, ptrdiff_t rsc,
                              float alpha, float beta)
{
    __m512 acc[4][8];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int q = 0; q < Q; q++) acc[r][q] = _mm512_setzero_ps();
    for (size_t p = 0; p < k; p += 16) {
        __mmask16 mk = lanes16(k - p);
        __m512 av[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) av[r] = _mm512_maskz_loadu_ps(mk, a + r * rsa + p);
#pragma GCC unroll 8
        for (int q = 0; q < Q; q++) {
            __m512 bv = _mm512_maskz_loadu_ps(mk, bt + q * rsbt + p);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) acc[r][q] = _mm512_fmadd_ps(av[r], bv, acc[r][q]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int q = 0; q < Q; q++) {
            float *cp = c + r * rsc + q;
            float old = beta == 0.0f ? 0.0f : beta * *cp;
            *cp = alpha * _mm512_reduce_add_ps(acc[r][q]) + old;
        }
}

typedef void (*nt512_fn)(size_t, const float *, ptrdiff_t, const float *, ptrdiff_t, float *,
                         ptrdiff_t, float, float);

#define NT512(R, Q)                                                                          \
    AVX512 static void nt512_##R##x##Q(size_t k, const float *a, ptrdiff_t rsa,               \
                                       const float *bt, ptrdiff_t rsbt, float *c,             \
                                       ptrdiff_t rsc, float alpha, float beta)                \
    {                                                                                        \
        nt_tile512(R, Q, k, a, rsa, bt, rsbt, c, rsc, alpha, beta);                          \
    }
NT512(1, 8) NT512(1, 6) NT512(1, 1) NT512(2, 6) NT512(2, 1) NT512(3, 6) NT512(3, 1)
NT512(4, 6) NT512(4, 1)
/* [rows][0]: a group of 6 columns, [rows][1]: one column. */
static const nt512_fn nt512[5][2] = {{NULL, NULL}, {nt512_1x6, nt512_1x1}, {nt512_2x6, nt512_2x1},
                                     {nt512_3x6, nt512_3x1}, {nt512_4x6, nt512_4x1}};

/* Groups of columns (rows of B^T, 6 x k floats, in L1) outside, groups of
 * 4 rows of A inside; a single row of A takes 8 columns at a time. */
AVX512 void bsnn__gemm_nt_avx512(size_t m, size_t n, size_t k, float alpha, const float *a,
                                 ptrdiff_t rsa, const float *bt, ptrdiff_t rsbt, float beta,
                                 float *c, ptrdiff_t rsc)
{
    size_t q = m == 1 ? 8 : 6;
    for (size_t j = 0; j < n;) {
        int one = n - j < q;
        for (size_t i = 0; i < m;) {
            size_t r = m - i < 4 ? m - i : 4;
            nt512_fn fn = q == 8 && !one ? nt512_1x8 : nt512[r][one];
            fn(k, a + (ptrdiff_t)i * rsa, rsa, bt + (ptrdiff_t)j * rsbt, rsbt,
               c + (ptrdiff_t)i * rsc + (ptrdiff_t)j, rsc, alpha, beta);
            i += r;
        }
        j += one ? 1 : q;
    }
}
#endif
