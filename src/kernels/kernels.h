/*
 * kernels.h - tier 2 (src/kernels/): the numeric kernels, on flat float
 * arrays with explicit strides; they know no layer or model. Above common/.
 */
#ifndef BSNN_KERNELS_H
#define BSNN_KERNELS_H

#include "common/common.h"

/* ---- GEMM (gemm.c) ------------------------------------------------------- */

/* C[m][n] = alpha * op(A) op(B) + beta * C with explicit strides: element
 * (i,p) of A is A[i*rsa + p*csa]; likewise for B (p,j) and C (i,j). The
 * kernels: from bsnn_set_gemm_kernel, the CPU, the shape and the strides;
 * large products are split over bsnn__parallel with the same bits for
 * every thread count. Runs in the caller's floating-point state. */
void bsnn__sgemm(size_t m, size_t n, size_t k, float alpha, const float *a, ptrdiff_t rsa,
                 ptrdiff_t csa, const float *b, ptrdiff_t rsb, ptrdiff_t csb, float beta,
                 float *c, ptrdiff_t rsc, ptrdiff_t csc);

/* ---- bsnn's own small-batch kernels (gemm_small.c; x86-64 only) --------- */

/* nn: C = alpha A B + beta C, B and C row-major (unit column stride), A at
 * any strides (the fused SGD update is such a product: W += -lr x^T dy).
 * The AVX2 version needs AVX2/FMA, the AVX-512 one AVX-512F; both give the
 * same bits. */
void bsnn__gemm_nn_avx2(size_t m, size_t n, size_t k, float alpha, const float *a,
                        ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t rsb, float beta,
                        float *c, ptrdiff_t rsc);
void bsnn__gemm_nn_avx512(size_t m, size_t n, size_t k, float alpha, const float *a,
                          ptrdiff_t rsa, ptrdiff_t csa, const float *b, ptrdiff_t rsb, float beta,
                          float *c, ptrdiff_t rsc);
/* nt: C = alpha A B^T + beta C with A's rows and bt's rows (B's columns)
 * contiguous, C row-major: dot products over k. */
void bsnn__gemm_nt_avx2(size_t m, size_t n, size_t k, float alpha, const float *a,
                        ptrdiff_t rsa, const float *bt, ptrdiff_t rsbt, float beta, float *c,
                        ptrdiff_t rsc);
void bsnn__gemm_nt_avx512(size_t m, size_t n, size_t k, float alpha, const float *a,
                          ptrdiff_t rsa, const float *bt, ptrdiff_t rsbt, float beta, float *c,
                          ptrdiff_t rsc);

/* ---- bsnn's AVX-512 context for BLIS (blis512.c) -------------------------- */

/* BLIS 0.9.0's cntx_t, by its struct tag (BLIS's header stays out of the
 * tiers above). */
struct cntx_s;
/* The private context carrying bsnn's 32x12 AVX-512F micro-kernel, built
 * on the first call; NULL when it cannot be used, with the reason (a
 * static string) in *out_why (may be NULL). Read-only once built: shared
 * by every call and thread. */
struct cntx_s *bsnn__blis512_context(const char **out_why);
/* "avx512: ..." for bsnn_gemm_kernel_string (static). */
const char *bsnn__blis512_description(void);
/* The context's sup thresholds on bsnn's row-major products: BLIS's AVX2
 * sup kernels for n < 16 or m < 48 (measured crossovers), native else. */
#define BSNN_BLIS512_SUP_N 16
#define BSNN_BLIS512_SUP_M 48

/* ---- vector elementwise functions (simd.c) -------------------------------- */

/* y = tanh(x) and y = 1 / (1 + e^-x) over count floats (AVX2 when the CPU
 * has it, about 1 ulp; libm otherwise). */
void bsnn__tanh_f32(const float *x, float *y, size_t count);
void bsnn__sigmoid_f32(const float *x, float *y, size_t count);

/* ---- squared norms (sumsq.c) ---------------------------------------------- */

/* sum x_i^2 over count floats, accumulated in float lanes and double
 * blocks (deterministic). _add_ also does acc += x in the same pass. */
double bsnn__sumsq_f32(const float *x, size_t count);
double bsnn__add_sumsq_f32(float *acc, const float *x, size_t count);
/* bsnn__sumsq_f32's sum (the same bits) and, into *max_bits, the largest
 * magnitude as bsnn__max_abs_bits gives it, in one pass over x. */
double bsnn__sumsq_max_f32(const float *x, size_t count, uint32_t *max_bits);

#endif /* BSNN_KERNELS_H */
