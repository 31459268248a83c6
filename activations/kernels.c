/* Fused CPU kernels for the learnable activations: one pass forward, one pass backward.
 *
 * Plain C on raw pointers (no torch headers), so a machine builds it in about a second;
 * activations/native.py compiles and loads it, and falls back to PyTorch ops without it.
 *
 * Layout: the input is viewed as (outer, C, inner), contiguous. Per-channel parameters are
 * indexed by c; scalar ones have stride 0 (pstride = 0). Parameter gradients come back as
 * per-(outer, c) partial sums that the caller reduces, so results do not depend on the
 * number of threads. kernels_impl.h holds the bodies, instantiated for float and double.
 */
#include <math.h>
#include <stdint.h>

#define BLOCK 256
#define MAX_DEGREE 15 /* the Python side refuses higher degrees */

/* exp for float32 that vectorises (no libm call): x = n ln2 + r with |r| <= ln2/2, e^r by a
 * degree-6 polynomial (relative error about 2e-7), 2^n from the exponent bits. Inputs are
 * clamped to [-87, 88], where float32's e^x is finite and normal. */
static inline float fast_expf(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float n = __builtin_floorf(x * 1.44269504f + 0.5f);
    float r = x - n * 0.693145751953125f - n * 1.428606765330187e-06f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.16666667f + r * (0.041666668f
              + r * (0.008333334f + r * 0.0013888889f)))));
    union { float f; int32_t i; } u;
    u.i = ((int32_t)n + 127) << 23;
    return p * u.f;
}

/* tanh for float32 without exp: the odd 13/6 rational minimax approximation used by Eigen
 * and XLA (error about 1 ulp), clamped at +-7.9053, where float32's tanh is +-1. */
#define TANH_CLAMP 7.90531110763549805f
#define TANH_RATIONAL(x, x2)                                                                \
    ((x) * ((((((-2.76076847742355e-16f * (x2) + 2.00018790482477e-13f) * (x2)          \
    + -8.60467152213735e-11f) * (x2) + 5.12229709037114e-08f) * (x2)                    \
    + 1.48572235717979e-05f) * (x2) + 6.37261928875436e-04f) * (x2)                     \
    + 4.89352455891786e-03f)                                                                 \
    / (((1.19825839466702e-06f * (x2) + 1.18534705686654e-04f) * (x2)                    \
    + 2.26843463243900e-03f) * (x2) + 4.89352518554385e-03f))

static inline float fast_tanhf(float x) {
    x = x < -TANH_CLAMP ? -TANH_CLAMP : (x > TANH_CLAMP ? TANH_CLAMP : x);
    float x2 = x * x;
    return TANH_RATIONAL(x, x2);
}

/* float32: the vectorisable exp/tanh above */
#define T float
#define FN(name) name##_f32
#define EXP fast_expf
#define TANH fast_tanhf
#define FLOOR __builtin_floorf
#include "kernels_impl.h"
#undef T
#undef FN
#undef EXP
#undef TANH
#undef FLOOR

/* float64 (gradcheck, tests): libm, exact */
#define T double
#define FN(name) name##_f64
#define EXP exp
#define TANH tanh
#define FLOOR floor
#include "kernels_impl.h"
#undef T
#undef FN
#undef EXP
#undef TANH
#undef FLOOR

/* GAAF in float32, 8 lanes at a time with GCC vector extensions (auto-vectorisation gives up
 * on the exponent-bit trick of exp). Same formulas as gaaf_value in kernels_impl.h; the tail
 * of fewer than 8 elements goes through that scalar version. */
/* Fused multiply-adds are allowed here only: the exp polynomial and the sigmoid are not
 * compared bit-for-bit with PyTorch (the tests allow 2e-6), while the rest of the file keeps
 * -ffp-contract=off so the two-slope and polynomial kernels round as PyTorch does. */
#pragma GCC push_options
#pragma GCC optimize("fp-contract=fast")
typedef float vf __attribute__((vector_size(32)));
typedef int32_t vi __attribute__((vector_size(32)));
#define LANES 8

static inline vf vsel(vi m, vf a, vf b) { return (vf)(((vi)a & m) | ((vi)b & ~m)); }
static inline vf vsplat(float v) { return (vf){v, v, v, v, v, v, v, v}; }

#if defined(__AVX__)
static inline vf vfloor(vf x) { return __builtin_ia32_roundps256(x, 0x09); /* floor, no exc */ }
#else
static inline vf vfloor(vf x) {
    /* truncate, step down for negatives; |x| >= 2^23 is already an integer in float32 */
    vf t = __builtin_convertvector(__builtin_convertvector(x, vi), vf);
    vf f = t - vsel(x < t, vsplat(1.0f), vsplat(0.0f));
    vf ax = vsel(x < vsplat(0.0f), -x, x);
    return vsel(ax < vsplat(8388608.0f), f, x);
}
#endif

static inline vf vexp(vf x) {
    x = vsel(x < vsplat(-87.0f), vsplat(-87.0f), x);
    x = vsel(x > vsplat(88.0f), vsplat(88.0f), x);
    vf n = vfloor(x * 1.44269504f + 0.5f);
    vf r = x - n * 0.693145751953125f - n * 1.428606765330187e-06f;
    vf p = 1.0f + r * (1.0f + r * (0.5f + r * (0.16666667f + r * (0.041666668f
           + r * (0.008333334f + r * 0.0013888889f)))));
    vi e = (__builtin_convertvector(n, vi) + 127) << 23;
    return p * (vf)e;
}

static inline vf gaaf_lanes(vf v, float K, float shift, int base, int variant, int grad) {
    vf one = vsplat(1.0f), zero = vsplat(0.0f), half = vsplat(0.5f);
    float inv_k = 1.0f / K; /* one divide per call instead of one per lane */
    vf t = v * K;
    /* Round t to float here, as PyTorch does: a fused v*K + 0.5 below would move the
     * sawtooth's jumps by an ulp. */
    __asm__("" : "+x"(t));
    vf gv, dg;
    if (variant == 0) {
        gv = (t - vfloor(t) - half) * inv_k;
        dg = one;
    } else {
        vf r = t - vfloor(t + half);
        gv = (vsel(r < zero, -r, r) - half) * inv_k;
        dg = vsel(r > zero, one, vsel(r < zero, -one, zero)); /* sign(r), 0 at 0 */
    }
    vf phi, dphi, s, ds;
    if (base == 0) {
        phi = vsel(v > zero, v, zero);
        dphi = vsel(v > zero, one, zero);
        s = one / (one + vexp(-(v + shift)));
        ds = s * (one - s);
    } else {
        vf c = vsel(v > vsplat(TANH_CLAMP), vsplat(TANH_CLAMP), v);
        c = vsel(c < vsplat(-TANH_CLAMP), vsplat(-TANH_CLAMP), c);
        vf c2 = c * c;
        phi = TANH_RATIONAL(c, c2);
        dphi = one - phi * phi;
        s = vexp(-v * v / 3.0f);
        ds = s * (-2.0f * v / 3.0f);
    }
    vf out = grad ? dphi + dg * s + gv * ds : phi + gv * s;
    return vsel(v != v, v, out);
}

static void gaaf_vec_f32(const float *g, const float *x, float *y, int64_t n, float K,
                         float shift, int base, int variant, int grad, int nthreads) {
    int64_t whole = n / LANES;
    #pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t b = 0; b < whole; b++) {
        vf v, gv;
        __builtin_memcpy(&v, x + b * LANES, sizeof v);
        vf out = gaaf_lanes(v, K, shift, base, variant, grad);
        if (grad) {
            __builtin_memcpy(&gv, g + b * LANES, sizeof gv);
            out = out * gv;
        }
        __builtin_memcpy(y + b * LANES, &out, sizeof out);
    }
    for (int64_t i = whole * LANES; i < n; i++) {
        float d = gaaf_value_f32(x[i], K, shift, base, variant, grad);
        y[i] = grad ? g[i] * d : d;
    }
}

void gaaf_vec_fwd_f32(const float *x, float *y, int64_t n, float K, float shift, int base,
                      int variant, int nthreads) {
    gaaf_vec_f32(0, x, y, n, K, shift, base, variant, 0, nthreads);
}

void gaaf_vec_bwd_f32(const float *g, const float *x, float *gx, int64_t n, float K,
                      float shift, int base, int variant, int nthreads) {
    gaaf_vec_f32(g, x, gx, n, K, shift, base, variant, 1, nthreads);
}

#pragma GCC pop_options
