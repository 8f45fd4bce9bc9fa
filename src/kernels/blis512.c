/*
 * blis512.c - bsnn's AVX-512F micro-kernel for BLIS, in a private copy of
 * BLIS's context.
 *
 * Debian's BLIS 0.9.0 cannot tell how many FMA units a Xeon has and falls
 * back to its AVX2 ('haswell') configuration; its AVX-512 kernels are
 * hidden symbols, and every context query returns the one detected. BLIS's
 * own way to add kernels is a context: bsnn copies the queried context into
 * its own memory, installs this file's 32x12 kernel and blocksizes through
 * BLIS's exported setters, and passes it to bli_sgemm_ex. BLIS's global
 * context, its packing pools and the environment are never written.
 *
 * The layout of cntx_t and the setters' arguments are those of BLIS 0.9.0
 * (BLIS 1.x keeps the soname libblis.so.4 but changes both), so the route
 * is compiled only against a 0.9-style header (BLIS_NUM_PACKM_KERS exists
 * there alone) and used only when the library at run time says "0.9.0".
 *
 * The kernel (one file of ~150 lines, reviewed against the packed formats
 * BLIS 0.9.0 hands it, frame/1m/packm and frame/3/gemm/bli_gemm_ker_var2.c):
 *  - C tile 32 x 12 (MR x NR), column-preferring: bsnn's C is row-major,
 *    so BLIS computes C^T = B^T A^T and the 32 lanes run along bsnn's n.
 *  - 24 zmm accumulators, 2 zmm for the 32 floats of the A panel per k
 *    step, 1 broadcast of B: 27 of 32 registers, one k step per iteration
 *    (GCC 12 spills when the loop is unrolled: 20% slower).
 *  - packed A: element (i,p) at a[32 p + i]; packed B: (p,j) at b[12 p + j];
 *    both zero-padded to 32 and 12, so the whole tile is computed and only
 *    the real m x n part is stored (BLIS 0.9 leaves edges to the kernel).
 *  - C = alpha * AB + beta * C with the product rounded once per element
 *    (alpha * acc, then fma with beta * C); beta == 0 never reads C.
 */
#include "kernels/kernels.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <blis.h>
#endif

#if defined(__GNUC__) && defined(__x86_64__) && defined(BLIS_NUM_PACKM_KERS)
#define BSNN_BLIS512 1
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>

#define AVX512_INLINE static inline __attribute__((always_inline, target("avx512f")))
#define AVX512 __attribute__((target("avx512f")))

#define MR 32 /* lanes: 2 zmm along bsnn's n */
#define NR 12 /* broadcasts: along bsnn's m  */
/* k steps ahead to prefetch the A micro-panel (it streams from L2; the B
 * micro-panel stays in L1). Measured: the wrong operand costs 10%. */
#define PREFETCH_STEPS 16

/* One of the 12 broadcast rows of the tile: lanes [0, lanes) of C's row
 * at c (stride inc between lanes). */
AVX512_INLINE void store_row(__m512 acc0, __m512 acc1, float *c, inc_t inc, dim_t lanes,
                             float alpha, float beta)
{
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    __m512 r[2] = {_mm512_mul_ps(va, acc0), _mm512_mul_ps(va, acc1)};
    if (inc == 1) {
        for (int v = 0; v < 2; v++) {
            dim_t left = lanes - 16 * v;
            if (left <= 0) break;
            __mmask16 mk = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            float *p = c + 16 * v;
            __m512 out = r[v];
            if (beta != 0.0f) out = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mk, p), out);
            _mm512_mask_storeu_ps(p, mk, out);
        }
        return;
    }
    /* Any other stride: element by element, rounded as the vector path. */
    float tmp[MR];
    _mm512_storeu_ps(tmp, r[0]);
    _mm512_storeu_ps(tmp + 16, r[1]);
    for (dim_t l = 0; l < lanes; l++) {
        float *p = c + l * inc;
        *p = beta != 0.0f ? __builtin_fmaf(beta, *p, tmp[l]) : tmp[l];
    }
}

/* BLIS's sgemm_ukr_ft. The kernel's (m, n) are BLIS's tile after the swap:
 * m <= 32 lanes (stride rs_c), n <= 12 broadcasts (stride cs_c). */
AVX512 static void sgemm_32x12(dim_t m, dim_t n, dim_t k, float *restrict alpha,
                               float *restrict a, float *restrict b, float *restrict beta,
                               float *restrict c, inc_t rs_c, inc_t cs_c,
                               auxinfo_t *restrict data, cntx_t *restrict cntx)
{
    (void)data, (void)cntx;
    __m512 acc[NR][2];
#pragma GCC unroll 12
    for (int j = 0; j < NR; j++) acc[j][0] = acc[j][1] = _mm512_setzero_ps();
    /* Touch the C tile early: its lines arrive while the k loop runs. */
#pragma GCC unroll 12
    for (int j = 0; j < NR; j++)
        if (j < n) {
            _mm_prefetch((const char *)(c + j * cs_c), _MM_HINT_T0);
            if (rs_c == 1) _mm_prefetch((const char *)(c + j * cs_c + MR - 1), _MM_HINT_T0);
        }
#pragma GCC unroll 1
    for (dim_t p = 0; p < k; p++) {
        const float *ap = a + p * MR, *bp = b + p * NR;
        _mm_prefetch((const char *)(ap + PREFETCH_STEPS * MR), _MM_HINT_T0);
        _mm_prefetch((const char *)(ap + PREFETCH_STEPS * MR + 16), _MM_HINT_T0);
        __m512 a0 = _mm512_loadu_ps(ap), a1 = _mm512_loadu_ps(ap + 16);
#pragma GCC unroll 12
        for (int j = 0; j < NR; j++) {
            __m512 bj = _mm512_set1_ps(bp[j]);
            acc[j][0] = _mm512_fmadd_ps(bj, a0, acc[j][0]);
            acc[j][1] = _mm512_fmadd_ps(bj, a1, acc[j][1]);
        }
    }
#pragma GCC unroll 12
    for (int j = 0; j < NR; j++)
        if (j < n) store_row(acc[j][0], acc[j][1], c + j * cs_c, rs_c, m, *alpha, *beta);
}

/* Cache blocking: the 384 x 12 B micro-panel in L1, the MC x KC block of
 * A in L2, KC x NC of B in L3. KC's maximum lets a last k block of up to
 * 480 merge into the one before (k = 784 runs 384 + 400, not 384 + 384 +
 * 16). MC 352 rather than BLIS skx's 480 so the A block fits the pool
 * BLIS sized at start-up (a larger request would make BLIS re-initialise
 * its shared pool: harmless, but a global change); clamped at run time,
 * since the pools depend on the configuration BLIS detected. */
#define KC 384
#define KC_MAX 480
#define MC 352
#define NC 3072
/* sup ("small/unpacked") thresholds: the copied context sends products
 * with a dimension below 201 to BLIS's AVX2 sup kernels before its native
 * path. Measured crossovers on the wide net's shapes: a 10-wide output
 * (bsnn's n < 16: a 32-lane tile wastes most lanes) and a thin batch
 * (bsnn's m < 48: packing all of W costs more than the kernel saves) stay
 * there; k goes native at any size. 1 turns a test off (the setters skip
 * non-positive values, and a dimension is never below 1). */
#define SUP_N BSNN_BLIS512_SUP_N
#define SUP_M BSNN_BLIS512_SUP_M

static cntx_t context;
static const char *unavailable = "not initialised";
static char description[160];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* MC and NC clamped so that BLIS's existing pool blocks hold ours. */
static int fit_pools(dim_t *mc, dim_t *nc)
{
    pba_t *pba = bli_pba_query();
    siz_t pool_a = bli_pool_block_size(bli_pba_pool(0, pba));
    siz_t pool_b = bli_pool_block_size(bli_pba_pool(1, pba));
    siz_t row = (siz_t)(KC_MAX + MR) * sizeof(float);
    dim_t mc_fit = (dim_t)(pool_a / row) - MR, nc_fit = (dim_t)(pool_b / row) - MR;
    if (*mc > mc_fit) *mc = mc_fit;
    if (*nc > nc_fit) *nc = nc_fit;
    *mc -= *mc % MR;
    *nc -= *nc % NR;
    return *mc >= MR && *nc >= NR;
}

static void build(void)
{
    if (!bsnn__cpu_avx512f()) {
        unavailable = "the CPU (or the OS) has no AVX-512F";
        return;
    }
    const char *version = bli_info_get_version_str();
    if (strcmp(version, "0.9.0") != 0) {
        static char msg[96];
        snprintf(msg, sizeof msg, "BLIS is %s at run time, the AVX-512 context needs 0.9.0",
                 version);
        unavailable = msg;
        return;
    }
    bli_init();
    /* A plain struct of blocksizes, function pointers and flags (no
     * pointer into BLIS-owned memory), so the copy is complete. */
    context = *bli_gks_query_cntx();
    dim_t mc = MC, nc = NC;
    if (!fit_pools(&mc, &nc)) {
        unavailable = "BLIS's packing pools are too small for the AVX-512 blocksizes";
        return;
    }
    blksz_t bmr, bnr, bmc, bkc, bnc, tm, tn, tk;
    /* -1 leaves the double and complex entries as BLIS had them. */
    bli_blksz_init_easy(&bmr, MR, -1, -1, -1);
    bli_blksz_init_easy(&bnr, NR, -1, -1, -1);
    bli_blksz_init_easy(&bmc, mc, -1, -1, -1);
    bli_blksz_init(&bkc, KC, -1, -1, -1, KC_MAX, -1, -1, -1);
    bli_blksz_init_easy(&bnc, nc, -1, -1, -1);
    /* The setters allocate (and BLIS aborts if that fails): once, here. */
    bli_cntx_set_blkszs(BLIS_NAT, 5, BLIS_NC, &bnc, BLIS_NR, BLIS_KC, &bkc, BLIS_KR, BLIS_MC,
                        &bmc, BLIS_MR, BLIS_NR, &bnr, BLIS_NR, BLIS_MR, &bmr, BLIS_MR, &context);
    /* void_fp is an object pointer in 0.9.0: go through an integer (ISO C
     * has no direct function-to-object pointer conversion). */
    bli_cntx_set_l3_nat_ukrs(1, BLIS_GEMM_UKR, BLIS_FLOAT, (void_fp)(uintptr_t)sgemm_32x12,
                             FALSE, &context);
    /* BLIS applies the thresholds after the preference swap: MT limits
     * bsnn's n, NT bsnn's m. */
    bli_blksz_init_easy(&tm, SUP_N, -1, -1, -1);
    bli_blksz_init_easy(&tn, SUP_M, -1, -1, -1);
    bli_blksz_init_easy(&tk, 1, -1, -1, -1);
    bli_cntx_set_l3_sup_thresh(3, BLIS_MT, &tm, BLIS_NT, &tn, BLIS_KT, &tk, &context);
    snprintf(description, sizeof description,
             "avx512: 32x12 micro-kernel in a private BLIS %s context (BLIS detected %s), "
             "bsnn's AVX-512 small-batch kernels",
             version, bli_arch_string(bli_arch_query_id()));
    unavailable = NULL;
}

struct cntx_s *bsnn__blis512_context(const char **out_why)
{
    pthread_once(&once, build);
    if (out_why) *out_why = unavailable;
    return unavailable ? NULL : &context;
}

const char *bsnn__blis512_description(void)
{
    pthread_once(&once, build);
    return description;
}
#else
struct cntx_s *bsnn__blis512_context(const char **out_why)
{
    if (out_why) *out_why = "this build has no AVX-512 route (not x86-64, or a BLIS header other "
                            "than 0.9's)";
    return NULL;
}

const char *bsnn__blis512_description(void) { return ""; }
#endif
