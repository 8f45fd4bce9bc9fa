/*
 * simd.c - elementwise kernels with hand-written AVX2/FMA code: tanh and
 * the logistic sigmoid over a float array, chosen at run time when the CPU
 * has AVX2 and FMA (common/cpu.c), libm otherwise. Every lane runs the same
 * arithmetic, so an element's result does not depend on its position or on
 * the array's length (a row's output does not depend on the batch).
 */
#include "kernels/kernels.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma")))

/* e^y for y in [-87, 18]: y = n ln2 + r (two-part ln2), e^r by its Taylor
 * series to r^7 (|r| <= ln2/2: relative error under 1e-8), times 2^n. */
AVX2_INLINE __m256 exp8(__m256 y)
{
    __m256 n = _mm256_round_ps(_mm256_mul_ps(y, _mm256_set1_ps(1.44269504f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), y);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* tanh to about 1 ulp: an odd polynomial (least-squares fit of degree 4 in
 * x^2) below 0.625, 1 - 2/(e^2|x| + 1) above, the sign copied back. NaN
 * stays NaN (min/max keep their second operand when it is NaN). */
AVX2_INLINE __m256 tanh8(__m256 x)
{
    __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 a = _mm256_andnot_ps(sign, x), z = _mm256_mul_ps(a, a);
    __m256 q = _mm256_set1_ps(-0.005731123499572277f);
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(0.02066466398537159f));
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(-0.05374842509627342f));
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(0.13331560790538788f));
    q = _mm256_fmadd_ps(q, z, _mm256_set1_ps(-0.3333328664302826f));
    __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(a, z), q, a);
    __m256 e = exp8(_mm256_add_ps(_mm256_min_ps(_mm256_set1_ps(9.0f), a), _mm256_min_ps(_mm256_set1_ps(9.0f), a)));
    __m256 one = _mm256_set1_ps(1.0f);
    __m256 large = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
    __m256 t = _mm256_blendv_ps(large, small, _mm256_cmp_ps(a, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
    return _mm256_or_ps(t, _mm256_and_ps(sign, x));
}

/* 1/(1+e^-x) as 1/(1+e) for x >= 0 and e/(1+e) below, e = e^-|x|: no
 * cancellation either side. Below -87 the result is e^-87 (< 2e-38). */
AVX2_INLINE __m256 sigmoid8(__m256 x)
{
    __m256 na = _mm256_or_ps(x, _mm256_set1_ps(-0.0f));
    __m256 e = exp8(_mm256_max_ps(_mm256_set1_ps(-87.0f), na));
    __m256 d = _mm256_add_ps(_mm256_set1_ps(1.0f), e);
    __m256 pos = _mm256_div_ps(_mm256_set1_ps(1.0f), d), neg = _mm256_div_ps(e, d);
    return _mm256_blendv_ps(neg, pos, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ));
}

#define ACT_LOOP(name, fn)                                                                 \
    __attribute__((target("avx2,fma"))) static void name(const float *x, float *y,        \
                                                         size_t count)                     \
    {                                                                                      \
        size_t i = 0;                                                                      \
        for (; i + 8 <= count; i += 8) _mm256_storeu_ps(y + i, fn(_mm256_loadu_ps(x + i))); \
        if (i < count) {                                                                   \
            static const int32_t tab[16] = {-1, -1, -1, -1, -1, -1, -1, -1};               \
            __m256i mask = _mm256_loadu_si256((const __m256i *)(tab + 8 - (count - i)));   \
            _mm256_maskstore_ps(y + i, mask, fn(_mm256_maskload_ps(x + i, mask)));         \
        }                                                                                  \
    }
ACT_LOOP(tanh_avx2, tanh8)
ACT_LOOP(sigmoid_avx2, sigmoid8)
#define HAVE_ACT_AVX2 1
#endif

/* Vector tanh and sigmoid where the CPU has AVX2 (the same arithmetic for
 * every lane, so a row's result does not depend on the batch), libm else. */
void bsnn__tanh_f32(const float *x, float *y, size_t count)
{
#ifdef HAVE_ACT_AVX2
    if (bsnn__cpu_avx2()) {
        tanh_avx2(x, y, count);
        return;
    }
#endif
    for (size_t i = 0; i < count; i++) y[i] = tanhf(x[i]);
}

void bsnn__sigmoid_f32(const float *x, float *y, size_t count)
{
#ifdef HAVE_ACT_AVX2
    if (bsnn__cpu_avx2()) {
        sigmoid_avx2(x, y, count);
        return;
    }
#endif
    for (size_t i = 0; i < count; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
}
