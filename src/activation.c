/*
 * activation.c - elementwise nonlinearities (and the row-wise softmax) as
 * layers of unchanged width. Backward passes use the saved output where the
 * derivative is cheapest in terms of it (sigmoid, tanh, elu, softmax).
 */
#include "internal.h"

static bsnn_status act_setup(bsnn_layer *l, size_t n_in)
{
    l->n_in = l->n_out = n_in;
    return BSNN_OK;
}

static void softmax_rows(const float *x, float *y, size_t n, size_t w)
{
    for (size_t r = 0; r < n; r++) {
        const float *xr = x + r * w;
        float *yr = y + r * w;
        float mx = xr[0];
        for (size_t j = 1; j < w; j++) mx = xr[j] > mx ? xr[j] : mx;
        double sum = 0.0;
        for (size_t j = 0; j < w; j++) sum += (yr[j] = expf(xr[j] - mx));
        float inv = (float)(1.0 / sum);
        for (size_t j = 0; j < w; j++) yr[j] *= inv;
    }
}

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
static void tanh_rows(const float *x, float *y, size_t count)
{
#ifdef HAVE_ACT_AVX2
    if (bsnn__cpu_avx2()) {
        tanh_avx2(x, y, count);
        return;
    }
#endif
    for (size_t i = 0; i < count; i++) y[i] = tanhf(x[i]);
}

static void sigmoid_rows(const float *x, float *y, size_t count)
{
#ifdef HAVE_ACT_AVX2
    if (bsnn__cpu_avx2()) {
        sigmoid_avx2(x, y, count);
        return;
    }
#endif
    for (size_t i = 0; i < count; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
}

static void act_infer(const bsnn_layer *l, const float *params, const float *state,
                      float *scratch, const float *x, float *y, size_t n)
{
    (void)params, (void)state, (void)scratch;
    size_t count = n * l->n_out;
    float a = (float)l->slope;
    switch (l->act) {
    case BSNN_ACT_SIGMOID: sigmoid_rows(x, y, count); break;
    case BSNN_ACT_TANH: tanh_rows(x, y, count); break;
    case BSNN_ACT_RELU:
        for (size_t i = 0; i < count; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case BSNN_ACT_LEAKY_RELU:
        for (size_t i = 0; i < count; i++) y[i] = x[i] > 0.0f ? x[i] : a * x[i];
        break;
    case BSNN_ACT_ELU:
        for (size_t i = 0; i < count; i++) y[i] = x[i] > 0.0f ? x[i] : a * expm1f(x[i]);
        break;
    case BSNN_ACT_SOFTMAX: softmax_rows(x, y, n, l->n_out); break;
    default: memcpy(y, x, count * sizeof(float)); break;
    }
}

static void softmax_backward(const float *y, const float *dy, float *dx, size_t n, size_t w)
{
    for (size_t r = 0; r < n; r++) {
        const float *yr = y + r * w, *dyr = dy + r * w;
        float *dxr = dx + r * w;
        double dot = 0.0;
        for (size_t j = 0; j < w; j++) dot += (double)dyr[j] * yr[j];
        for (size_t j = 0; j < w; j++) dxr[j] = yr[j] * (dyr[j] - (float)dot);
    }
}

static void act_backward(bsnn_layer *l, const float *params, float *grads, float *scratch,
                         const float *x, const float *y, float *dy, float *dx, size_t n)
{
    (void)params, (void)grads, (void)scratch;
    if (dx == NULL) return;
    size_t count = n * l->n_out;
    float a = (float)l->slope;
    switch (l->act) {
    case BSNN_ACT_SIGMOID:
        for (size_t i = 0; i < count; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
        break;
    case BSNN_ACT_TANH:
        for (size_t i = 0; i < count; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
        break;
    case BSNN_ACT_RELU:
        for (size_t i = 0; i < count; i++) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case BSNN_ACT_LEAKY_RELU:
        for (size_t i = 0; i < count; i++) dx[i] = x[i] > 0.0f ? dy[i] : a * dy[i];
        break;
    case BSNN_ACT_ELU:
        for (size_t i = 0; i < count; i++) dx[i] = x[i] > 0.0f ? dy[i] : dy[i] * (y[i] + a);
        break;
    case BSNN_ACT_SOFTMAX: softmax_backward(y, dy, dx, n, l->n_out); break;
    default: memcpy(dx, dy, count * sizeof(float)); break;
    }
}

static bsnn_status act_set(bsnn_layer *l, bsnn_layer_param p, double v)
{
    BSNN_FAIL_IF(p != BSNN_LAYER_SLOPE || (l->act != BSNN_ACT_LEAKY_RELU && l->act != BSNN_ACT_ELU),
                 BSNN_E_ARG, "setting %d applies only to leaky relu and elu", (int)p);
    l->slope = v;
    return BSNN_OK;
}

static bsnn_status act_get(const bsnn_layer *l, bsnn_layer_param p, double *out)
{
    BSNN_FAIL_IF(p != BSNN_LAYER_SLOPE || (l->act != BSNN_ACT_LEAKY_RELU && l->act != BSNN_ACT_ELU),
                 BSNN_E_ARG, "setting %d applies only to leaky relu and elu", (int)p);
    *out = l->slope;
    return BSNN_OK;
}

const bsnn_layer_ops bsnn__activation_ops = {
    .kind = BSNN_LAYER_ACTIVATION,
    .name = "activation",
    .setup = act_setup,
    .infer = act_infer,
    .backward = act_backward,
    .set = act_set,
    .get = act_get,
};

bsnn_layer *bsnn_layer_activation(bsnn_activation kind)
{
    BSNN_ENTER();
    BSNN_FAIL_NULL_IF((int)kind < BSNN_ACT_LINEAR || (int)kind > BSNN_ACT_SOFTMAX, BSNN_E_ARG,
                      "unknown activation %d", (int)kind);
    bsnn_layer *l = bsnn__layer_new(&bsnn__activation_ops);
    if (l == NULL) return NULL;
    l->act = (int)kind;
    l->slope = kind == BSNN_ACT_ELU ? 1.0 : 0.01;
    return l;
}
