/*
 * test_gemm.c - bsnn__sgemm against a product recomputed in double, on both
 * sets of kernels (portable; AVX-512 whenever the CPU has AVX-512F, with a
 * printed reason when it is skipped), for the stride patterns dense layers
 * use (X W, X^T dY, dY W^T) and the fourth (both transposed), over shapes
 * that reach every kernel: the plain loop, bsnn's tiled kernels (row
 * remainders, column tails with masks), BLIS's sup and native paths with
 * edge tiles of the 32x12 kernel. Also: results bit-identical for 1-4
 * threads; the setting and the query; and BLIS's own state untouched.
 * One assertion per product, and no Criterion timeouts: its runner leaks a
 * timeout record when two timed tests end together under --jobs 2.
 */
#include "testutil.h"

#include "kernels/kernels.h"

#include <blis.h>
#include <float.h>
#include <stdio.h>

extern char **environ;

static float val(size_t i) { return (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f; }

/* 1 if the AVX-512 kernels can run here; otherwise prints why (once per
 * test) and returns 0. */
static int have_avx512(const char *test)
{
    const char *why = NULL;
    if (bsnn__blis512_context(&why)) return 1;
    fprintf(stderr, "%s: AVX-512 part skipped: %s\n", test, why);
    return 0;
}

/* The kernel sets to run a test with: portable, and AVX-512 when present. */
static int kernel_sets(bsnn_gemm_kernel *out, const char *test)
{
    out[0] = BSNN_GEMM_PORTABLE;
    if (!have_avx512(test)) return 1;
    out[1] = BSNN_GEMM_AVX512;
    return 2;
}

static void use(bsnn_gemm_kernel k)
{
    cr_assert_eq(bsnn_set_gemm_kernel(k), BSNN_OK, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_get_gemm_kernel(), k);
}

/* Layouts: bit 0 set: A stored as its transpose ([k][m]); bit 1: B stored
 * as its transpose ([n][k]). C is row-major. */
typedef struct operands {
    size_t m, n, k;
    ptrdiff_t rsa, csa, rsb, csb;
    float *a, *b, *c0, *c;
} operands;

static operands make(size_t m, size_t n, size_t k, int layout, unsigned seed, int nan_c)
{
    operands o = {m, n, k, layout & 1 ? 1 : (ptrdiff_t)k, layout & 1 ? (ptrdiff_t)m : 1,
                  layout & 2 ? 1 : (ptrdiff_t)n, layout & 2 ? (ptrdiff_t)k : 1,
                  malloc(m * k * sizeof(float)), malloc(k * n * sizeof(float)),
                  malloc(m * n * sizeof(float)), malloc(m * n * sizeof(float))};
    for (size_t i = 0; i < m * k; i++) o.a[i] = val(i * 3 + seed);
    for (size_t i = 0; i < k * n; i++) o.b[i] = val(i * 7 + 2 * seed + 1);
    for (size_t i = 0; i < m * n; i++) o.c0[i] = nan_c ? NAN : val(i * 5 + seed + 2);
    memcpy(o.c, o.c0, m * n * sizeof(float));
    return o;
}

static void release(operands *o) { free(o->a), free(o->b), free(o->c0), free(o->c); }

static void run(operands *o, float alpha, float beta)
{
    memcpy(o->c, o->c0, o->m * o->n * sizeof(float));
    bsnn__sgemm(o->m, o->n, o->k, alpha, o->a, o->rsa, o->csa, o->b, o->rsb, o->csb, beta, o->c,
                (ptrdiff_t)o->n, 1);
}

/* Every element against the product in double: within (k + 4) float
 * epsilons of |alpha| sum |a b| + |beta c| (the bound for k accumulated
 * products and the scaling; a wrong element, tile or stride misses it by
 * far). beta 0 must ignore C entirely (it may hold NaN). */
static void check_against_double(const operands *o, float alpha, float beta, const char *what)
{
    /* the first element out of bound, asserted once per product */
    size_t bi = 0, bj = 0;
    double got = 0.0, want = 0.0;
    int bad = 0;
    for (size_t i = 0; i < o->m && !bad; i++)
        for (size_t j = 0; j < o->n && !bad; j++) {
            double s = 0.0, mag = 0.0;
            for (size_t p = 0; p < o->k; p++) {
                double t = (double)o->a[(ptrdiff_t)i * o->rsa + (ptrdiff_t)p * o->csa] *
                           o->b[(ptrdiff_t)p * o->rsb + (ptrdiff_t)j * o->csb];
                s += t;
                mag += fabs(t);
            }
            double cv = beta == 0.0f ? 0.0 : (double)beta * o->c0[i * o->n + j];
            double ref = alpha * s + cv, bound = fabs(alpha) * mag + fabs(cv);
            double c = o->c[i * o->n + j];
            if (!(fabs(c - ref) <= (double)(o->k + 4) * FLT_EPSILON * bound + 1e-30))
                bad = 1, bi = i, bj = j, got = c, want = ref;
        }
    cr_assert(!bad,
              "%s: m=%zu n=%zu k=%zu (a %s, b %s) alpha %g beta %g: C[%zu][%zu] = %.9g, "
              "expected %.9g",
              what, o->m, o->n, o->k, o->rsa == 1 ? "transposed" : "row-major",
              o->rsb == 1 ? "transposed" : "row-major", alpha, beta, bi, bj, got, want);
}

/* ---- accuracy ---------------------------------------------------------------- */

static void small_shapes_on(bsnn_gemm_kernel kernel)
{
    use(kernel);
    const size_t ms[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 40};
    const size_t ns[] = {1, 3, 8, 10, 17, 33, 49, 64, 70};
    const size_t ks[] = {1, 2, 3, 7, 8, 9, 17, 33};
    const char *name = kernel == BSNN_GEMM_AVX512 ? "avx512" : "portable";
    for (size_t a = 0; a < sizeof ms / sizeof *ms; a++)
        for (size_t b = 0; b < sizeof ns / sizeof *ns; b++)
            for (size_t d = 0; d < sizeof ks / sizeof *ks; d++)
                for (int layout = 0; layout < 4; layout++) {
                    operands o = make(ms[a], ns[b], ks[d], layout, (unsigned)(a + b + d), 0);
                    run(&o, 1.0f, 1.0f);
                    check_against_double(&o, 1.0f, 1.0f, name);
                    release(&o);
                    o = make(ms[a], ns[b], ks[d], layout, (unsigned)(a * b + d), 1);
                    run(&o, 1.0f, 0.0f);
                    check_against_double(&o, 1.0f, 0.0f, name);
                    release(&o);
                }
}

Test(gemm, every_small_kernel_and_stride_pattern_matches_the_double_product)
{
    bsnn_gemm_kernel sets[2];
    int n = kernel_sets(sets, "every_small_kernel");
    for (int i = 0; i < n; i++) small_shapes_on(sets[i]);
}

/* Random shapes around every tile edge (the 32 x 12 kernel, haswell's 6 x
 * 16, the small kernels' 8 rows and 48/16 columns), k = 1, 3, 17 and
 * beyond BLIS's k blocks, all four layouts, beta 0 over NaN, alpha and beta
 * away from 1: each set of kernels against the double product (so within
 * twice the bound of each other). */
Test(gemm, random_edge_shapes_match_the_double_product_on_both_kernel_sets)
{
    static const size_t dims[] = {1, 2, 3, 11, 12, 13, 31, 32, 33, 47, 48, 49, 63, 65, 95, 97, 100, 255, 257};
    static const size_t ks[] = {1, 3, 17, 64, 255, 385, 481};
    static const float alphas[] = {1.0f, -2.0f}, betas[] = {0.0f, 1.0f, -0.5f};
    bsnn_gemm_kernel sets[2];
    int nsets = kernel_sets(sets, "random_edge_shapes");
    uint64_t r = 12345;
    int done = 0;
    while (done < 120) {
        r = r * 6364136223846793005u + 1442695040888963407u;
        size_t m = dims[(r >> 20) % 19], n = dims[(r >> 30) % 19], k = ks[(r >> 40) % 7];
        if (m * n * k > (size_t)3 << 20) continue; /* keep the double reference quick */
        int layout = (int)((r >> 50) % 4);
        float alpha = alphas[(r >> 53) % 2], beta = betas[(r >> 55) % 3];
        operands o = make(m, n, k, layout, (unsigned)done, beta == 0.0f);
        for (int s = 0; s < nsets; s++) {
            use(sets[s]);
            run(&o, alpha, beta);
            check_against_double(&o, alpha, beta, s ? "avx512" : "portable");
        }
        release(&o);
        done++;
    }
}

Test(gemm, wide_net_shapes_match_the_double_product)
{
    /* batch 8 and 64 of 784-1024-10: X W, X^T dY, dY W^T */
    static const size_t shapes[][4] = {{8, 1024, 784, 0}, {784, 1024, 8, 1}, {8, 784, 1024, 2},
                                       {64, 1024, 784, 0}, {1024, 10, 64, 1}, {64, 1024, 10, 2}};
    bsnn_gemm_kernel sets[2];
    int nsets = kernel_sets(sets, "wide_net_shapes");
    for (int s = 0; s < nsets; s++) {
        use(sets[s]);
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
            operands o = make(shapes[i][0], shapes[i][1], shapes[i][2], (int)shapes[i][3], 3, 0);
            float beta = shapes[i][3] == 2 ? 0.0f : 1.0f;
            run(&o, 1.0f, beta);
            check_against_double(&o, 1.0f, beta, s ? "avx512" : "portable");
            release(&o);
        }
    }
}

/* The two versions of the nn kernel compute each element by the same chain:
 * identical bits (the fused SGD step relies on one kernel's rounding). */
Test(gemm, avx2_and_avx512_nn_kernels_give_identical_bits)
{
    if (!have_avx512("avx2_and_avx512_nn_kernels")) return;
    const size_t ms[] = {1, 3, 8, 9, 20}, ns[] = {5, 16, 47, 48, 100}, ks[] = {1, 4, 17};
    for (size_t a = 0; a < 5; a++)
        for (size_t b = 0; b < 5; b++)
            for (size_t d = 0; d < 3; d++) {
                operands o = make(ms[a], ns[b], ks[d], (int)(a % 2), 9, 0);
                float *c2 = malloc(ms[a] * ns[b] * sizeof(float));
                memcpy(c2, o.c0, ms[a] * ns[b] * sizeof(float));
                bsnn__gemm_nn_avx2(o.m, o.n, o.k, -2.0f, o.a, o.rsa, o.csa, o.b, o.rsb, 0.5f, o.c,
                                   (ptrdiff_t)o.n);
                bsnn__gemm_nn_avx512(o.m, o.n, o.k, -2.0f, o.a, o.rsa, o.csa, o.b, o.rsb, 0.5f, c2,
                                     (ptrdiff_t)o.n);
                cr_assert(memcmp(o.c, c2, o.m * o.n * sizeof(float)) == 0, "m=%zu n=%zu k=%zu",
                          o.m, o.n, o.k);
                free(c2);
                release(&o);
            }
}

/* ---- threads ------------------------------------------------------------------ */

/* Products large enough to be split (small kernels, sup, native, both
 * kernel sets): identical bits for 1, 2, 3 and 4 threads. */
Test(gemm, products_are_bit_identical_for_1_to_4_threads)
{
    static const size_t shapes[][4] = {
        {8, 1024, 784, 0},  {784, 1024, 8, 1},  {8, 784, 1024, 2},   /* small kernels */
        {40, 1024, 784, 0}, {256, 10, 1024, 0}, {1024, 10, 256, 1}, /* sup */
        {256, 1024, 784, 0}, {784, 1024, 256, 1}, {256, 784, 1024, 2}, /* native */
        {300, 257, 385, 3}, {97, 1001, 300, 1}, {1000, 65, 200, 2},
    };
    bsnn_gemm_kernel sets[2];
    int nsets = kernel_sets(sets, "products_are_bit_identical");
    for (int s = 0; s < nsets; s++) {
        use(sets[s]);
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
            operands o = make(shapes[i][0], shapes[i][1], shapes[i][2], (int)shapes[i][3], 5, 0);
            size_t bytes = o.m * o.n * sizeof(float);
            float *one = malloc(bytes);
            for (int t = 1; t <= 4; t++) {
                cr_assert_eq(bsnn_set_num_threads(t), BSNN_OK);
                for (int pass = 0; pass < 2; pass++) {
                    float beta = pass ? 1.0f : 0.0f;
                    run(&o, 1.0f, beta);
                    if (t == 1 && pass == 1) memcpy(one, o.c, bytes);
                    if (t > 1 && pass == 1)
                        cr_assert(memcmp(one, o.c, bytes) == 0,
                                  "%s m=%zu n=%zu k=%zu: %d threads differ from 1",
                                  s ? "avx512" : "portable", o.m, o.n, o.k, t);
                }
            }
            free(one);
            release(&o);
            cr_assert_eq(bsnn_set_num_threads(1), BSNN_OK);
        }
    }
}

/* The fused SGD update is the product W += (-lr) x^T dy (beta 1 on W): for
 * few and many rows, on both kernel sets, the same bits for every thread
 * count, and within the rounding of one product of the update computed in
 * double. */
Test(gemm, the_fused_sgd_update_product_is_exact_and_thread_count_independent)
{
    bsnn_gemm_kernel sets[2];
    int nsets = kernel_sets(sets, "fused_sgd_update");
    const size_t in = 300, out = 1030, rows[2] = {4, 64};
    float *x = malloc(64 * in * sizeof(float)), *dy = malloc(64 * out * sizeof(float));
    float *w1 = malloc(in * out * sizeof(float)), *w = malloc(in * out * sizeof(float));
    for (size_t i = 0; i < 64 * in; i++) x[i] = val(i);
    for (size_t i = 0; i < 64 * out; i++) dy[i] = val(3 * i + 1);
    for (int s = 0; s < nsets; s++)
        for (int r = 0; r < 2; r++) {
            use(sets[s]);
            size_t n = rows[r];
            for (int t = 1; t <= 3; t++) {
                cr_assert_eq(bsnn_set_num_threads(t), BSNN_OK);
                for (size_t i = 0; i < in * out; i++) w[i] = val(i + 11);
                bsnn__sgemm(in, out, n, -0.25f, x, 1, (ptrdiff_t)in, dy, (ptrdiff_t)out, 1, 1.0f,
                            w, (ptrdiff_t)out, 1);
                if (t == 1) memcpy(w1, w, in * out * sizeof(float));
                cr_assert(memcmp(w, w1, in * out * sizeof(float)) == 0, "%zu rows, %d threads", n, t);
            }
            size_t bad = in * out; /* one assertion for the array */
            for (size_t i = 0; i < in && bad == in * out; i++)
                for (size_t j = 0; j < out && bad == in * out; j++) {
                    double g = 0.0, mag = 0.0;
                    for (size_t p = 0; p < n; p++) {
                        g += (double)x[p * in + i] * dy[p * out + j];
                        mag += fabs((double)x[p * in + i] * dy[p * out + j]);
                    }
                    double want = val(i * out + j + 11) - 0.25 * g;
                    if (fabs(w1[i * out + j] - want) > 1e-6 * (fabs(want) + 0.25 * mag))
                        bad = i * out + j;
                }
            cr_assert_eq(bad, in * out, "%zu rows: element %zu", n, bad);
            cr_assert_eq(bsnn_set_num_threads(1), BSNN_OK);
        }
    free(x), free(dy), free(w1), free(w);
}

/* ---- the setting and the query --------------------------------------------------- */

Test(gemm, auto_picks_avx512_exactly_when_the_cpu_has_it)
{
    const char *why = NULL;
    int avx512 = bsnn__blis512_context(&why) != NULL;
    cr_assert_eq(bsnn_get_gemm_kernel(), avx512 ? BSNN_GEMM_AVX512 : BSNN_GEMM_PORTABLE);
    /* The context needs the CPU's AVX-512F (and BLIS 0.9.0) and nothing else. */
    if (!bsnn__cpu_avx512f()) cr_assert(!avx512);
    if (bsnn__cpu_avx512f() && strcmp(bli_info_get_version_str(), "0.9.0") == 0)
        cr_assert(avx512, "AVX-512F present but the context failed: %s", why);
    const char *desc = bsnn_gemm_kernel_string();
    cr_assert_not_null(desc);
    cr_assert(strncmp(desc, avx512 ? "avx512" : "portable", avx512 ? 6 : 8) == 0, "%s", desc);
    fprintf(stderr, "gemm kernels here: %s\n", desc);
}

Test(gemm, forcing_a_kernel_set_is_checked_and_reported)
{
    cr_assert_eq(bsnn_set_gemm_kernel(BSNN_GEMM_PORTABLE), BSNN_OK);
    cr_assert_eq(bsnn_get_gemm_kernel(), BSNN_GEMM_PORTABLE);
    cr_assert(strncmp(bsnn_gemm_kernel_string(), "portable", 8) == 0);
    bsnn_status st = bsnn_set_gemm_kernel(BSNN_GEMM_AVX512);
    if (bsnn__blis512_context(NULL)) {
        cr_assert_eq(st, BSNN_OK);
        cr_assert_eq(bsnn_get_gemm_kernel(), BSNN_GEMM_AVX512);
    } else {
        /* never SIGILL: refused, the setting unchanged */
        cr_assert_eq(st, BSNN_E_UNSUPPORTED);
        cr_assert(strstr(bsnn_last_error(), "bsnn_set_gemm_kernel") != NULL);
        cr_assert_eq(bsnn_get_gemm_kernel(), BSNN_GEMM_PORTABLE);
    }
    cr_assert_eq(bsnn_set_gemm_kernel((bsnn_gemm_kernel)3), BSNN_E_ARG);
    cr_assert(strstr(bsnn_last_error(), "kernel = 3") != NULL, "%s", bsnn_last_error());
    cr_assert_eq(bsnn_set_gemm_kernel((bsnn_gemm_kernel)-1), BSNN_E_ARG);
    cr_assert_eq(bsnn_set_gemm_kernel(BSNN_GEMM_AUTO), BSNN_OK);
}

/* ---- BLIS's own state ------------------------------------------------------------- */

static size_t env_hash(void)
{
    size_t h = 5381;
    for (char **e = environ; *e; e++)
        for (const char *c = *e; *c; c++) h = h * 33 + (unsigned char)*c;
    return h;
}

/* Another BLIS user in the process sees no change: BLIS's global context
 * byte for byte, its default kernel and pool sizes, a plain bli_sgemm's
 * bits, and the environment. bsnn's own context is read-only in use. */
Test(gemm, blis_global_state_and_environment_are_untouched)
{
    const size_t m = 300, n = 256, k = 257; /* all >= 201: BLIS's native path */
    size_t env_before = env_hash();
    float one = 1.0f, zero = 0.0f;
    float *a = malloc(m * k * sizeof(float)), *b = malloc(k * n * sizeof(float));
    float *before = malloc(m * n * sizeof(float)), *after = malloc(m * n * sizeof(float));
    float *mine = malloc(m * n * sizeof(float));
    for (size_t i = 0; i < m * k; i++) a[i] = val(i);
    for (size_t i = 0; i < k * n; i++) b[i] = val(5 * i + 3);
    bli_init();
    bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)m, (dim_t)n, (dim_t)k, &one, a,
              (inc_t)k, 1, b, (inc_t)n, 1, &zero, before, (inc_t)n, 1);
    cntx_t global = *bli_gks_query_cntx();
    pba_t *pba = bli_pba_query();
    siz_t pool_a = bli_pool_block_size(bli_pba_pool(0, pba));
    siz_t pool_b = bli_pool_block_size(bli_pba_pool(1, pba));
    cntx_t *ours = (cntx_t *)bsnn__blis512_context(NULL);
    cntx_t ours_copy;
    if (ours) ours_copy = *ours;
    for (int t = 1; t <= 2; t++) {
        cr_assert_eq(bsnn_set_num_threads(t), BSNN_OK);
        bsnn__sgemm(m, n, k, 1.0f, a, (ptrdiff_t)k, 1, b, (ptrdiff_t)n, 1, 0.0f, mine,
                    (ptrdiff_t)n, 1);
        operands o = make(256, 1024, 784, 0, 1, 0); /* the wide net's first layer */
        run(&o, 1.0f, 1.0f);
        release(&o);
    }
    bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)m, (dim_t)n, (dim_t)k, &one, a,
              (inc_t)k, 1, b, (inc_t)n, 1, &zero, after, (inc_t)n, 1);
    cr_assert(memcmp(&global, bli_gks_query_cntx(), sizeof global) == 0,
              "BLIS's global context changed");
    cr_assert_eq(bli_pool_block_size(bli_pba_pool(0, pba)), pool_a);
    cr_assert_eq(bli_pool_block_size(bli_pba_pool(1, pba)), pool_b);
    cr_assert(memcmp(before, after, m * n * sizeof(float)) == 0, "a plain bli_sgemm changed");
    if (ours) {
        cr_assert(memcmp(&ours_copy, ours, sizeof ours_copy) == 0, "bsnn's context was written");
        /* and ours really is another kernel: different rounding */
        cr_assert(memcmp(before, mine, m * n * sizeof(float)) != 0);
    }
    cr_assert_eq(env_hash(), env_before, "the environment changed");
    free(a), free(b), free(before), free(after), free(mine);
}
