/*
 * gemm.c - the one place bsnn multiplies matrices: which kernels run a
 * product, and how it is split over bsnn's threads.
 *
 * Kernels (bsnn_set_gemm_kernel), chosen from the CPU's features alone:
 *  - PORTABLE: BLIS with the context it detected, and bsnn's AVX2/FMA
 *    small-batch kernels (gemm_small.c) where they beat it;
 *  - AVX512: BLIS with bsnn's private AVX-512 context (blis512.c) and
 *    bsnn's AVX-512 small-batch kernels.
 * Within a set of kernels the choice depends on the shape and strides
 * only; without AVX2, tiny products run a plain loop.
 *
 * Threads: BLIS always runs single-threaded (its OpenMP threads would be
 * the host's; see common/pool.c). A product of 2^19 multiply-adds or more
 * is cut into blocks of C's rows or columns, one bsnn__parallel chunk
 * each, and the bits never depend on the thread count:
 *  - BLIS's native path and bsnn's own kernels compute every element of C
 *    by the same chain of operations wherever it sits (k is never split,
 *    BLIS's k blocks depend on k only, edge tiles round as full ones), so
 *    they are cut into one block per thread; a native product's blocks are
 *    kept native (sup off in their rntm: a narrower block could fall below
 *    the sup thresholds). BLIS's haswell kernel rounds an edge tile with
 *    beta as two operations, so on the portable path a product whose beta
 *    is not 0 or 1 (never bsnn's own) runs whole.
 *  - BLIS's sup kernels are not invariant under cuts (an element's bits
 *    depend on where its block starts): a sup product is cut by its shape
 *    alone, for every thread count including 1.
 */
#include "kernels/kernels.h"

#include <blis.h>
#include <stdatomic.h>

/* Below this many multiply-adds a plain loop beats BLIS's ~1 us call cost. */
#define BSNN_GEMM_LOOP_FLOPS 4096
/* Below this many multiply-adds a second thread costs more than it saves
 * (a parallel call costs a few microseconds). */
#define BSNN_GEMM_THREAD_FLOPS (1u << 19)
/* Portable: up to these batch dimensions bsnn's AVX2 kernels beat BLIS on
 * the wide net's 1024 x 1024 shapes (min of 40 interleaved calls each, EPYC
 * Zen 3): X W at batch 1-2 (174 vs 384 us at 1), X^T dY with 1-4 rows (309
 * vs 971 us at 1), dY W^T at batch 1-4 (209 vs 326 us at 4). */
#define BSNN_GEMM_SMALL_NN 2
#define BSNN_GEMM_SMALL_TN 4
#define BSNN_GEMM_SMALL_NT 4
/* AVX-512: bsnn's AVX-512 kernels against BLIS in the AVX-512 context
 * (sup below 48 rows or 16 columns, native above; medians of 40
 * interleaved calls, Xeon, 1 thread, GFLOP/s, docs/performance.md):
 *  - X W (nn) up to batch 32: 81 vs 75 at 8 (W streams from memory once),
 *    100 vs 89 at 16, 98 vs 95 at 32; and any batch with fewer than 16 outputs: 68 vs 53
 *    for 256 x 1024 x 10 (BLIS's sup tile wastes most of its lanes);
 *  - X^T dY (nn, k = batch) up to 16 rows: 76 vs 55 at 8, 102 vs 92 at
 *    16; equal at 32; for 10 columns BLIS's sup wins (34 vs 15 at 8);
 *  - dY W^T (nt) up to batch 32: 79 vs 59 at 8, 99 vs 81 at 32. */
#define BSNN_GEMM512_SMALL_NN 32
#define BSNN_GEMM512_SMALL_NN_COLS 16
#define BSNN_GEMM512_SMALL_TN 16
#define BSNN_GEMM512_SMALL_NT 32
/* Blocks of a product on BLIS's sup path (fixed by its shape, see
 * plan_blocks): 512 columns (narrower ones cost BLIS's sup kernels more
 * on a thin X: at 1 thread, 32 x 1024 x 784 runs 5% slower in blocks of
 * 512 columns than whole, 13% in blocks of 192), or rows in blocks of
 * about 2^20 multiply-adds (10-20 us) for a narrow C. */
#define BSNN_GEMM_SUP_COLS 512
#define BSNN_GEMM_SUP_BLOCK ((double)(1u << 20))
/* A B of at most this many bytes counts as small for the nn kernels: it
 * stays in L2 while C streams (gemm_small.c walks C by rows then). */
#define BSNN_GEMM_SMALL_B_BYTES (256.0 * 1024)
/* Blocks of C for threads: multiples of every kernel's tile (32 and 12
 * for bsnn's AVX-512 kernel, 6 and 16 for BLIS haswell's, 48 columns and 8
 * rows for the small kernels), so only the last block has edge tiles. */
#define BSNN_GEMM_BLOCK_ALIGN 96

static _Atomic int kernel_setting = BSNN_GEMM_AUTO;

/* The kernels in use: the setting, with AUTO resolved from the CPU. */
static bsnn_gemm_kernel kernel_in_use(void)
{
    int k = atomic_load_explicit(&kernel_setting, memory_order_relaxed);
    if (k != BSNN_GEMM_AUTO) return (bsnn_gemm_kernel)k;
    return bsnn__blis512_context(NULL) ? BSNN_GEMM_AVX512 : BSNN_GEMM_PORTABLE;
}

bsnn_status bsnn_set_gemm_kernel(bsnn_gemm_kernel kernel)
{
    BSNN_ENTER();
    BSNN_FAIL_IF(kernel != BSNN_GEMM_AUTO && kernel != BSNN_GEMM_PORTABLE &&
                     kernel != BSNN_GEMM_AVX512,
                 BSNN_E_ARG, "kernel = %d is not a bsnn_gemm_kernel", (int)kernel);
    const char *why = NULL;
    BSNN_FAIL_IF(kernel == BSNN_GEMM_AVX512 && !bsnn__blis512_context(&why), BSNN_E_UNSUPPORTED,
                 "BSNN_GEMM_AVX512 is not available: %s", why);
    atomic_store_explicit(&kernel_setting, (int)kernel, memory_order_relaxed);
    return BSNN_OK;
}

bsnn_gemm_kernel bsnn_get_gemm_kernel(void) { return kernel_in_use(); }

const char *bsnn_gemm_kernel_string(void)
{
    if (kernel_in_use() == BSNN_GEMM_AVX512) return bsnn__blis512_description();
    if (bsnn__cpu_avx2()) return "portable: BLIS with the configuration it detected, bsnn's AVX2 small-batch kernels";
    return "portable: BLIS with the configuration it detected, plain loops for tiny products";
}

/* ---- one product ---------------------------------------------------------- */

typedef struct product {
    size_t m, n, k;
    float alpha, beta;
    const float *a, *b;
    float *c;
    ptrdiff_t rsa, csa, rsb, csb, rsc, csc;
} product;

typedef enum route { ROUTE_LOOP, ROUTE_NN, ROUTE_NT, ROUTE_BLIS } route;

/* A route and its kernels, fixed for the whole product. */
typedef struct plan {
    route route;
    int avx512;
    struct cntx_s *cntx; /* BLIS: NULL = BLIS's own */
    int native;          /* BLIS: the whole product would not take sup */
} plan;

static void gemm_loop(const product *p)
{
    for (size_t i = 0; i < p->m; i++) {
        float *ci = p->c + (ptrdiff_t)i * p->rsc;
        for (size_t j = 0; j < p->n; j++) {
            float *cij = ci + (ptrdiff_t)j * p->csc;
            *cij = p->beta == 0.0f ? 0.0f : p->beta * *cij;
        }
        for (size_t q = 0; q < p->k; q++) {
            float aiq = p->alpha * p->a[(ptrdiff_t)i * p->rsa + (ptrdiff_t)q * p->csa];
            const float *bq = p->b + (ptrdiff_t)q * p->rsb;
            for (size_t j = 0; j < p->n; j++)
                ci[(ptrdiff_t)j * p->csc] += aiq * bq[(ptrdiff_t)j * p->csb];
        }
    }
}

/* Would BLIS run this product on its sup path? Its test, as 0.9.0's
 * bli_gemmsup applies it: a dimension below its threshold, with m and n
 * swapped when the micro-kernel dislikes C's storage (BLIS then computes
 * C^T: a column-preferring kernel and bsnn's row-major C). */
static int blis_takes_sup(const product *p, struct cntx_s *cntx)
{
    cntx_t *cx = cntx ? cntx : bli_gks_query_cntx();
    dim_t m = (dim_t)p->m, n = (dim_t)p->n;
    int rows = bli_cntx_l3_vir_ukr_prefers_rows_dt(BLIS_FLOAT, BLIS_GEMM_UKR, cx);
    int likes = (p->csc == 1 || p->csc == -1) ? rows : 0;
    if (!likes && (p->rsc == 1 || p->rsc == -1)) likes = !rows;
    if (!likes) {
        dim_t t = m;
        m = n, n = t;
    }
    return m < bli_cntx_get_l3_sup_thresh_dt(BLIS_FLOAT, BLIS_MT, cx) ||
           n < bli_cntx_get_l3_sup_thresh_dt(BLIS_FLOAT, BLIS_NT, cx) ||
           (dim_t)p->k < bli_cntx_get_l3_sup_thresh_dt(BLIS_FLOAT, BLIS_KT, cx);
}

static plan choose(const product *p)
{
    plan pl = {ROUTE_BLIS, kernel_in_use() == BSNN_GEMM_AVX512, NULL, 0};
    double flops = (double)p->m * (double)p->n * (double)p->k;
    int tiny = flops < BSNN_GEMM_LOOP_FLOPS;
    if (p->csc == 1 && bsnn__cpu_avx2()) {
        size_t nn = pl.avx512 ? BSNN_GEMM512_SMALL_NN : BSNN_GEMM_SMALL_NN;
        size_t tn = pl.avx512 ? BSNN_GEMM512_SMALL_TN : BSNN_GEMM_SMALL_TN;
        size_t nt = pl.avx512 ? BSNN_GEMM512_SMALL_NT : BSNN_GEMM_SMALL_NT;
        /* AVX-512: a narrow C (the output layer) over a long k; and X^T dY
         * only when C is wide (BLIS's sup is faster for 10 columns). */
        int narrow = pl.avx512 && p->n < BSNN_GEMM512_SMALL_NN_COLS && p->k > 2 * tn;
        int few_rows = p->k <= tn && (!pl.avx512 || p->n >= BSNN_GEMM512_SMALL_NN_COLS);
        if (p->csb == 1 && (tiny || p->m <= nn || few_rows || narrow))
            return pl.route = ROUTE_NN, pl;
        /* AVX-512's nt tile reduces 16 lanes per element: not for a short
         * k (dY W^T of the 10-wide output layer: 9 vs 17 GFLOP/s) */
        int long_k = !pl.avx512 || p->k >= 64;
        if (p->rsb == 1 && p->csa == 1 && (tiny || (p->m <= nt && long_k)))
            return pl.route = ROUTE_NT, pl;
    }
    if (tiny) return pl.route = ROUTE_LOOP, pl;
    pl.cntx = pl.avx512 ? bsnn__blis512_context(NULL) : NULL;
    pl.native = !blis_takes_sup(p, pl.cntx);
    return pl;
}

/* Run one block (or the whole product) on the plan's kernels. */
static void run(const plan *pl, const product *p)
{
    switch (pl->route) {
    case ROUTE_LOOP: gemm_loop(p); return;
#if defined(__GNUC__) && defined(__x86_64__)
    case ROUTE_NN:
        (pl->avx512 ? bsnn__gemm_nn_avx512 : bsnn__gemm_nn_avx2)(
            p->m, p->n, p->k, p->alpha, p->a, p->rsa, p->csa, p->b, p->rsb, p->beta, p->c,
            p->rsc);
        return;
    case ROUTE_NT:
        (pl->avx512 ? bsnn__gemm_nt_avx512 : bsnn__gemm_nt_avx2)(
            p->m, p->n, p->k, p->alpha, p->a, p->rsa, p->b, p->csb, p->beta, p->c, p->rsc);
        return;
#else
    case ROUTE_NN:
    case ROUTE_NT: gemm_loop(p); return;
#endif
    case ROUTE_BLIS: break;
    }
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads(1, &rntm);
    if (pl->native) bli_rntm_disable_l3_sup(&rntm);
    float alpha = p->alpha, beta = p->beta;
    /* BLIS's typed API takes non-const pointers but does not write a or b. */
    bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)p->m, (dim_t)p->n, (dim_t)p->k,
                 &alpha, (float *)p->a, p->rsa, p->csa, (float *)p->b, p->rsb, p->csb, &beta,
                 p->c, p->rsc, p->csc, pl->cntx, &rntm);
}

/* ---- blocks over threads ------------------------------------------------- */

typedef struct split {
    const plan *pl;
    const product *p;
    int by_rows;  /* blocks of C's rows (else of its columns) */
    size_t width; /* rows or columns per block */
} split;

static void run_block(void *ctx, size_t chunk)
{
    const split *s = ctx;
    product q = *s->p;
    size_t from = chunk * s->width, total = s->by_rows ? q.m : q.n;
    size_t count = total - from < s->width ? total - from : s->width;
    if (s->by_rows) {
        q.m = count;
        q.a += (ptrdiff_t)from * q.rsa;
        q.c += (ptrdiff_t)from * q.rsc;
    } else {
        q.n = count;
        q.b += (ptrdiff_t)from * q.csb;
        q.c += (ptrdiff_t)from * q.csc;
    }
    run(s->pl, &q);
}

static size_t align_up(size_t v, size_t to) { return (v + to - 1) / to * to; }

/* The blocks of a product. Native BLIS and bsnn's small kernels compute
 * every element the same way whatever the cut, so they are cut into t
 * blocks (none below the threading size). BLIS's sup kernels are not (an
 * element's rounding depends on where the block starts): a sup product is
 * cut into blocks fixed by its shape alone, for every thread count
 * including 1. Blocks run along the longer of C's dimensions (the other
 * operand, packed again by each block, is then the smaller one), aligned
 * to every kernel's tile. */
static size_t plan_blocks(split *s, const plan *pl, const product *p, int t)
{
    double flops = (double)p->m * (double)p->n * (double)p->k;
    if (pl->route == ROUTE_LOOP) return 1;
    /* The small nn kernel with a small B (X^T dY: k is the batch) writes C
     * row by row: blocks of rows keep each thread's stores in one region
     * (measured at batch 8: 2 threads were slower than 1 by columns). */
    if (pl->route == ROUTE_NN)
        s->by_rows = (double)p->k * (double)p->n * sizeof(float) <= BSNN_GEMM_SMALL_B_BYTES;
    else /* the same for BLIS with a short k (C's traffic dominates): X^T dY
          * at batch 32 on 2 threads, 222 GFLOP/s by rows, 152 by columns */
        s->by_rows = p->m > p->n || (pl->route == ROUTE_BLIS && pl->native && p->k <= 64);
    size_t total = s->by_rows ? p->m : p->n, blocks;
    if (pl->route == ROUTE_BLIS && !pl->native) {
        if (!s->by_rows) {
            s->width = BSNN_GEMM_SUP_COLS;
            return (total + s->width - 1) / s->width;
        }
        blocks = (size_t)(flops / BSNN_GEMM_SUP_BLOCK);
        size_t most = total / BSNN_GEMM_BLOCK_ALIGN;
        if (blocks > most) blocks = most;
    } else {
        if (pl->route == ROUTE_BLIS && !pl->avx512 && p->beta != 0.0f && p->beta != 1.0f) return 1;
        blocks = flops < BSNN_GEMM_THREAD_FLOPS ? 1 : (size_t)t;
    }
    if (blocks <= 1) return 1;
    s->width = align_up((total + blocks - 1) / blocks, BSNN_GEMM_BLOCK_ALIGN);
    return (total + s->width - 1) / s->width;
}

/* A product below BSNN_GEMM_LOOP_FLOPS (a tiny net's layers) costs more to
 * dispatch than to compute: its route straight from the strides, as
 * choose() would pick it for such a shape (the small nn kernel, whose two
 * versions give the same bits; the nt kernel of the set in use; else the
 * loop), on one thread as plan_blocks() would. 1 when it ran. */
static int tiny_product(const product *p)
{
    if ((p->m | p->n | p->k) >= 4096 || p->m * p->n * p->k >= BSNN_GEMM_LOOP_FLOPS) return 0;
#if defined(__GNUC__) && defined(__x86_64__)
    if (p->csc == 1 && bsnn__cpu_avx2()) {
        if (p->csb == 1) {
            bsnn__gemm_nn_avx2(p->m, p->n, p->k, p->alpha, p->a, p->rsa, p->csa, p->b, p->rsb,
                               p->beta, p->c, p->rsc);
            return 1;
        }
        if (p->rsb == 1 && p->csa == 1) {
            (kernel_in_use() == BSNN_GEMM_AVX512 ? bsnn__gemm_nt_avx512 : bsnn__gemm_nt_avx2)(
                p->m, p->n, p->k, p->alpha, p->a, p->rsa, p->b, p->csb, p->beta, p->c, p->rsc);
            return 1;
        }
    }
#endif
    gemm_loop(p);
    return 1;
}

void bsnn__sgemm(size_t m, size_t n, size_t k, float alpha, const float *a, ptrdiff_t rsa,
                 ptrdiff_t csa, const float *b, ptrdiff_t rsb, ptrdiff_t csb, float beta,
                 float *c, ptrdiff_t rsc, ptrdiff_t csc)
{
    product p = {m, n, k, alpha, beta, a, b, c, rsa, csa, rsb, csb, rsc, csc};
    if (tiny_product(&p)) return;
    plan pl = choose(&p);
    split s = {&pl, &p, 0, 0};
    size_t blocks = plan_blocks(&s, &pl, &p, bsnn__num_threads());
    if (blocks <= 1)
        run(&pl, &p);
    else
        bsnn__parallel(blocks, run_block, &s);
}

