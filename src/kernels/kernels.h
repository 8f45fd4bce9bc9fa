/*
 * kernels.h - tier 2 (src/kernels/): the numeric kernels, on flat float
 * arrays with explicit strides; they know no layer or model. Above common/.
 */
#ifndef BSNN_KERNELS_H
#define BSNN_KERNELS_H

#include "common/common.h"

/* ---- GEMM (gemm.c) ------------------------------------------------------- */

/* C[m][n] = alpha * op(A) op(B) + beta * C with explicit strides: element
 * (i,p) of A is A[i*rsa + p*csa]; likewise for B (p,j) and C (i,j). Chooses
 * BLIS or a plain loop by shape. */
void bsnn__sgemm(size_t m, size_t n, size_t k, float alpha, const float *a, ptrdiff_t rsa,
                 ptrdiff_t csa, const float *b, ptrdiff_t rsb, ptrdiff_t csb, float beta,
                 float *c, ptrdiff_t rsc, ptrdiff_t csc);

/* The weight gradient of a dense layer over n rows, g = x^T dy ([in][out],
 * x is [n][in], dy is [n][out]), on bsnn's own kernel: written to g when w
 * is NULL, else applied as the plain SGD step w -= step * g (g unused),
 * each product rounded as the general step rounds it. */
void bsnn__sgemm_tn_sgd(size_t in, size_t out, size_t n, const float *x, const float *dy,
                        float *g, float *w, float step);

/* ---- vector elementwise functions (simd.c) -------------------------------- */

/* y = tanh(x) and y = 1 / (1 + e^-x) over count floats (AVX2 when the CPU
 * has it, about 1 ulp; libm otherwise). */
void bsnn__tanh_f32(const float *x, float *y, size_t count);
void bsnn__sigmoid_f32(const float *x, float *y, size_t count);

#endif /* BSNN_KERNELS_H */
