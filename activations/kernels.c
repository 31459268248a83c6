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
#define AI __attribute__((always_inline))
typedef float vf __attribute__((vector_size(32)));
typedef int32_t vi __attribute__((vector_size(32)));
#define LANES 8

static inline AI vf vsel(vi m, vf a, vf b) { return (vf)(((vi)a & m) | ((vi)b & ~m)); }
static inline AI vf vsplat(float v) { return (vf){v, v, v, v, v, v, v, v}; }

#if defined(__AVX__)
static inline AI vf vfloor(vf x) { return __builtin_ia32_roundps256(x, 0x09); /* floor */ }
#else
static inline AI vf vfloor(vf x) {
    /* truncate, step down for negatives; |x| >= 2^23 is already an integer in float32 */
    vf t = __builtin_convertvector(__builtin_convertvector(x, vi), vf);
    vf f = t - vsel(x < t, vsplat(1.0f), vsplat(0.0f));
    vf ax = vsel(x < vsplat(0.0f), -x, x);
    return vsel(ax < vsplat(8388608.0f), f, x);
}
#endif

/* e^x; exactly 0 below -87 (where float32's e^x leaves the normal range: a clamped e^-87
 * would turn x e^x at x = -3e38 into -4.9 instead of 0, and -inf e^x into -inf instead of the
 * formula's NaN), clamped at e^88 above (callers divide by it: inf / inf would be NaN). */
static inline AI vf vexp(vf x) {
    vi under = x < vsplat(-87.0f);
    x = vsel(under, vsplat(-87.0f), x);
    x = vsel(x > vsplat(88.0f), vsplat(88.0f), x);
    vf n = vfloor(x * 1.44269504f + 0.5f);
    vf r = x - n * 0.693145751953125f - n * 1.428606765330187e-06f;
    vf p = 1.0f + r * (1.0f + r * (0.5f + r * (0.16666667f + r * (0.041666668f
           + r * (0.008333334f + r * 0.0013888889f)))));
    vi e = (__builtin_convertvector(n, vi) + 127) << 23;
    return vsel(under, vsplat(0.0f), p * (vf)e);
}

static inline AI vf gaaf_lanes(vf v, float K, float shift, int base, int variant, int grad) {
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

/* ---- Stateless activations in float32, one pass forward and one backward ----
 *
 * PyTorch runs a formula such as x * tanh(softplus(x)) as one pass over memory per operation,
 * forward and again (recomputed, or from saved intermediates) backward. Here each is one pass
 * that keeps only the input: forward y = f(x), backward gx = g * f'(x) from x. Float32 only
 * (float64 and every other case uses the PyTorch formula, which the tests compare with). The
 * order of EW_* is activations/fused.py's KINDS. */
enum {
    EW_TANH, EW_SOFTPLUS, EW_SELU, EW_LOGSIGMOID, EW_SOFTSIGN, EW_TANHSHRINK, EW_MISH,
    EW_BETA_MISH, EW_MILA, EW_ELISH, EW_HARD_ELISH, EW_SQNL, EW_SINE_RELU, EW_ISRU, EW_ISRLU,
    EW_ARIA2, EW_SOFT_CLIPPING, EW_FTSWISH, EW_BENT_IDENTITY, EW_LISHT, EW_LECUN_TANH,
    EW_E_SWISH, EW_GENERAL_RELU,
};

static inline AI int vany(vi m) {
    int32_t r = 0;
    for (int l = 0; l < LANES; l++) r |= m[l];
    return r != 0;
}

static inline AI vf vabs(vf x) { return vsel(x < vsplat(0.0f), -x, x); }
static inline AI vf vmax0(vf x) { return vsel(x > vsplat(0.0f), x, vsplat(0.0f)); }
/* sigmoid from e^{-|x|}: exactly 0 and 1 far out (1 / (1 + e^88) would leave 6e-39, which
 * x sigmoid(x) at x = -3e38 turns into -1.8 instead of the formula's 0) */
static inline AI vf vsigmoid(vf x) {
    vf q = vexp(-vabs(x));
    return vsel(x >= vsplat(0.0f), vsplat(1.0f), q) / (1.0f + q);
}

/* e^x - 1, by its Taylor series near 0 where e^x - 1 would cancel (|x| < 0.5: relative error
 * under 2e-7), so small inputs keep their precision; ex is e^x */
static inline AI vf vexpm1(vf x, vf ex) {
    vf p = x * (1.0f + x * (0.5f + x * (1.0f / 6 + x * (1.0f / 24 + x * (1.0f / 120
           + x * (1.0f / 720 + x * (1.0f / 5040)))))));
    return vsel(vabs(x) < vsplat(0.5f), p, ex - 1.0f);
}

/* tanh(x) = m / (m + 2) with m = e^{2|x|} - 1, the sign put back: one exp and one divide,
 * exactly +-1 where float32's tanh is (a clamped rational stops 2.4e-7 short, an error
 * that x tanh(x)'s derivative multiplies by x) */
static inline AI vf vtanh(vf x) {
    vf w = 2.0f * vabs(x);
    vf m = vexpm1(w, vexp(w));
    vf t = m / (m + 2.0f);
    return vsel(x < vsplat(0.0f), -t, t);
}

static inline AI vf vsqrt(vf x) {
#if defined(__AVX__)
    return __builtin_ia32_sqrtps256(x);
#else
    vf out;
    for (int i = 0; i < LANES; i++) out[i] = __builtin_sqrtf(x[i]);
    return out;
#endif
}

/* log(1 + q) for 0 <= q <= 1 (every caller passes e^{-|z|}): 2 atanh(s), s = q / (2 + q) in
 * [0, 1/3], by its odd series to s^15 (relative error about 1e-8, small q included). */
static inline AI vf vlog1p01(vf q) {
    vf s = q / (2.0f + q), s2 = s * s;
    vf p = vsplat(1.0f / 15);
    p = p * s2 + 1.0f / 13; p = p * s2 + 1.0f / 11; p = p * s2 + 1.0f / 9;
    p = p * s2 + 1.0f / 7; p = p * s2 + 1.0f / 5; p = p * s2 + 1.0f / 3;
    return 2.0f * s * (p * s2 + 1.0f);
}

/* softplus(z) = log(1 + e^z) without overflow, and sigmoid(z), from one exp */
static inline AI vf vsoftplus_sigmoid(vf z, vf *sig) {
    vf q = vexp(-vabs(z));
    *sig = vsel(z >= vsplat(0.0f), vsplat(1.0f), q) / (1.0f + q);
    return vmax0(z) + vlog1p01(q);
}

static inline AI vf vsoftplus(vf z) { return vmax0(z) + vlog1p01(vexp(-vabs(z))); }

/* sin and cos (Cephes' sinf/cosf): reduced by multiples of pi/4 in three parts, accurate
 * to a few ulp for |x| up to about 8192, which activations do not leave in practice. */
static inline AI void vsincos(vf x, vf *sn, vf *cs) {
    vf ax = vabs(x);
    vi j = __builtin_convertvector(ax * 1.27323954473516f, vi);
    j = (j + 1) & ~1;
    vf y = __builtin_convertvector(j, vf);
    vf r = ((ax - y * 0.78515625f) - y * 2.4187564849853515625e-4f) - y * 3.77489497744594108e-8f;
    vf z = r * r;
    vf ps = r + r * z * ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f);
    vf pc = 1.0f - 0.5f * z + z * z * ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z
                                       + 4.166664568298827e-2f);
    vi q = (j >> 1) & 3;
    vi swap = (q == 1) | (q == 3);
    vf s = vsel(swap, pc, ps), c = vsel(swap, ps, pc);
    s = vsel(q >= 2, -s, s);
    c = vsel((q == 1) | (q == 2), -c, c);
    *sn = vsel(x < vsplat(0.0f), -s, s);
    *cs = c;
}

/* f(x) (grad = 0) or f'(x) (grad = 1) for 8 lanes; a, b, c are the fixed parameters. */
static inline AI vf ew_lanes(int kind, int grad, vf x, float a,
                                                         float b, float c) {
    vf one = vsplat(1.0f), zero = vsplat(0.0f);
    vi pos = x >= zero;
    vf y, d;
    switch (kind) {
    case EW_TANH: {
        vf t = vtanh(x);
        y = t; d = one - t * t;
        break;
    }
    case EW_SOFTPLUS: { /* a = beta, b = threshold: linear above beta x > threshold */
        vf z = x * a;
        vi lin = z > vsplat(b);
        y = vsel(lin, x, vsoftplus(z) / a);
        d = vsel(lin, one, vsigmoid(z));
        break;
    }
    case EW_SELU: {
        const float l = 1.0507009873554804934193349852946f, al = 1.6732632423543772848170429916717f;
        vf e = vexp(x);
        vi p = x > zero;
        y = vsel(p, x * l, vexpm1(x, e) * (l * al));
        d = vsel(p, vsplat(l), e * (l * al));
        break;
    }
    case EW_LOGSIGMOID: {
        vf ez = vexp(-vabs(x));
        y = vsel(x < zero, x, zero) - vlog1p01(ez);
        d = vsel(x < zero, one, ez) / (1.0f + ez); /* sigmoid(-x) */
        break;
    }
    case EW_SOFTSIGN: {
        vf q = 1.0f / (1.0f + vabs(x));
        y = x * q; d = q * q;
        break;
    }
    case EW_TANHSHRINK: {
        vf t = vtanh(x);
        y = x - t; d = t * t;
        break;
    }
    case EW_MISH: case EW_MILA: { /* x tanh(softplus(x + a)); tanh(log(1+n)) = w / (w + 2) */
        vf u = kind == EW_MILA ? x + a : x;
        vf n = vexp(u), w = n * (n + 2.0f);
        vf t = vsel(u > vsplat(20.0f), one, w / (w + 2.0f));
        y = x * t;
        d = t + x * (one - t * t) * (n / (1.0f + n)); /* sigmoid(u) */
        break;
    }
    case EW_BETA_MISH: { /* x tanh(a softplus(x)) */
        vf sig, w = 2.0f * a * vsoftplus_sigmoid(x, &sig); /* w >= 0 */
        vf m = vexpm1(w, vexp(w)), t = m / (m + 2.0f);        /* tanh(w / 2) */
        y = x * t;
        d = t + x * (one - t * t) * (a * sig);
        break;
    }
    case EW_ELISH: {
        vf e = vexp(x), s = e / (1.0f + e); /* sigmoid(x) */
        vf g = vsel(pos, x, vexpm1(x, e)), dg = vsel(pos, one, e);
        y = g * s; d = dg * s + g * s * (one - s);
        break;
    }
    case EW_HARD_ELISH: {
        vf h = (x + 1.0f) * 0.5f;
        vi inside = (h >= zero) & (h <= one);
        h = vsel(h < zero, zero, vsel(h > one, one, h));
        vf e = vexp(x);
        vf g = vsel(pos, x, vexpm1(x, e)), dg = vsel(pos, one, e);
        y = g * h; d = dg * h + g * vsel(inside, vsplat(0.5f), zero);
        break;
    }
    case EW_SQNL: {
        vf q = x * x * 0.25f, half = x * 0.5f;
        y = vsel(pos, x - q, x + q);
        d = vsel(pos, one - half, one + half);
        vi hi = x > vsplat(2.0f), lo = x < vsplat(-2.0f);
        y = vsel(hi, one, vsel(lo, -one, y));
        d = vsel(hi | lo, zero, d);
        break;
    }
    case EW_SINE_RELU: { /* a = epsilon */
        vf sn, cs;
        vsincos(x, &sn, &cs);
        vi far = vabs(x) > vsplat(8192.0f);
        if (vany(far)) { /* beyond Cephes' reduction: libm's, exact for every float */
            for (int l = 0; l < LANES; l++) {
                if (far[l]) { sn[l] = sinf(x[l]); cs[l] = cosf(x[l]); }
            }
        }
        vi p = x > zero;
        y = vsel(p, x, a * (sn - cs));
        d = vsel(p, one, a * (cs + sn));
        break;
    }
    case EW_ISRU: case EW_ISRLU: { /* a = alpha */
        vf s = 1.0f / vsqrt(1.0f + a * x * x);
        y = x * s; d = s * s * s;
        if (kind == EW_ISRLU) { y = vsel(pos, x, y); d = vsel(pos, one, d); }
        break;
    }
    case EW_ARIA2: { /* x (1 + e^{-b x})^{-a} */
        vf sig, s = vexp(-a * vsoftplus_sigmoid(-b * x, &sig)); /* (1 + e^{-bx})^{-a} */
        y = x * s; d = s + (a * b) * (x * (s * sig)); /* (a b) x overflows at -3e38 */
        break;
    }
    case EW_SOFT_CLIPPING: { /* a = alpha */
        vf s1, s2;
        vf p1 = vsoftplus_sigmoid(x * a, &s1), p2 = vsoftplus_sigmoid((x - 1.0f) * a, &s2);
        y = (p1 - p2) / a;
        d = s1 - s2;
        break;
    }
    case EW_FTSWISH: { /* a = T */
        vf s = vsigmoid(x);
        y = vsel(pos, x * s + a, vsplat(a));
        d = vsel(pos, s * (one + x * (one - s)), zero);
        break;
    }
    case EW_BENT_IDENTITY: {
        vf r = vsqrt(x * x + 1.0f);
        y = (r - 1.0f) * 0.5f + x; d = x / (2.0f * r) + 1.0f;
        break;
    }
    case EW_LISHT: {
        vf t = vtanh(x);
        y = x * t; d = t + x * (one - t * t);
        break;
    }
    case EW_LECUN_TANH: {
        vf t = vtanh(x * 2.0f / 3.0f);
        y = 1.7159f * t; d = (1.7159f * 2.0f / 3.0f) * (one - t * t);
        break;
    }
    case EW_E_SWISH: { /* a = beta; beta (x s): beta x overflows at x = -3e38 */
        vf s = vsigmoid(x);
        y = a * (x * s); d = a * s * (one + x * (one - s));
        break;
    }
    default: { /* EW_GENERAL_RELU: a = leak, b = sub, c = maxv */
        vi p = x > zero;
        vf z = vsel(p, x, x * a) - b;
        vi under = z <= vsplat(c);
        y = vsel(under, z, vsplat(c));
        d = vsel(under, vsel(p, one, vsplat(a)), zero);
        break;
    }
    }
    return vsel(x != x, x, grad ? d : y); /* NaN in, NaN out */
}

/* One loop per (kind, value or derivative), so that each is straight-line vector code: the
 * switch in ew_lanes folds away once kind and grad are constants. */
#define EW_RANGE(K, G)                                                                      \
    for (int64_t i = lo; i < hi; i++) {                                                     \
        vf v, r;                                                                            \
        __builtin_memcpy(&v, x + i * LANES, sizeof v);                                      \
        r = ew_lanes(K, G, v, a, b, c);                                                     \
        if (G) {                                                                            \
            vf gv;                                                                          \
            __builtin_memcpy(&gv, g + i * LANES, sizeof gv);                                \
            r = r * gv;                                                                     \
        }                                                                                   \
        __builtin_memcpy(out + i * LANES, &r, sizeof r);                                    \
    }
#define EW_CASE(K) case K: if (grad) { EW_RANGE(K, 1) } else { EW_RANGE(K, 0) } break;

/* vectors lo..hi-1 (of LANES elements each) */
static void ew_range(const float *g, const float *x, float *out, int64_t lo, int64_t hi,
                     int kind, float a, float b, float c, int grad) {
    switch (kind) {
    EW_CASE(EW_TANH) EW_CASE(EW_SOFTPLUS) EW_CASE(EW_SELU) EW_CASE(EW_LOGSIGMOID)
    EW_CASE(EW_SOFTSIGN) EW_CASE(EW_TANHSHRINK) EW_CASE(EW_MISH) EW_CASE(EW_BETA_MISH)
    EW_CASE(EW_MILA) EW_CASE(EW_ELISH) EW_CASE(EW_HARD_ELISH) EW_CASE(EW_SQNL)
    EW_CASE(EW_SINE_RELU) EW_CASE(EW_ISRU) EW_CASE(EW_ISRLU) EW_CASE(EW_ARIA2)
    EW_CASE(EW_SOFT_CLIPPING) EW_CASE(EW_FTSWISH) EW_CASE(EW_BENT_IDENTITY) EW_CASE(EW_LISHT)
    EW_CASE(EW_LECUN_TANH) EW_CASE(EW_E_SWISH)
    default: if (grad) { EW_RANGE(EW_GENERAL_RELU, 1) } else { EW_RANGE(EW_GENERAL_RELU, 0) }
    }
}

#define EW_CHUNK 2048 /* vectors per task: 64 KiB of input */

static void ew_f32(const float *g, const float *x, float *out, int64_t n, int kind, float a,
                   float b, float c, int grad, int nthreads) {
    int64_t whole = n / LANES, chunks = (whole + EW_CHUNK - 1) / EW_CHUNK;
    #pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t k = 0; k < chunks; k++) {
        int64_t hi = (k + 1) * EW_CHUNK < whole ? (k + 1) * EW_CHUNK : whole;
        ew_range(g, x, out, k * EW_CHUNK, hi, kind, a, b, c, grad);
    }
    int64_t rest = n - whole * LANES;
    if (rest > 0) { /* the last < 8 elements, through a zero-padded vector */
        float xt[LANES] = {0}, gt[LANES] = {0}, ot[LANES];
        __builtin_memcpy(xt, x + whole * LANES, rest * sizeof(float));
        if (grad) __builtin_memcpy(gt, g + whole * LANES, rest * sizeof(float));
        ew_range(gt, xt, ot, 0, 1, kind, a, b, c, grad);
        __builtin_memcpy(out + whole * LANES, ot, rest * sizeof(float));
    }
}

void ew_fwd_f32(const float *x, float *y, int64_t n, int kind, float a, float b, float c,
                int nthreads) {
    ew_f32(0, x, y, n, kind, a, b, c, 0, nthreads);
}

void ew_bwd_f32(const float *g, const float *x, float *gx, int64_t n, int kind, float a,
                float b, float c, int nthreads) {
    ew_f32(g, x, gx, n, kind, a, b, c, 1, nthreads);
}

/* ---- Learnable activations in float32: one pass forward, one backward ----
 *
 * The parameters come packed as P rows of C floats (row k: parameter k of every channel; a
 * scalar parameter repeated). Backward returns gx and, per (outer, c) plane, the sums of
 * g * df/dp_k in part[(o * C + c) * P + k], which the caller reduces over o (and over c for
 * a scalar parameter). A plane's elements are vectorised along inner; when inner is 1
 * (a (N, C) input) the lanes run along the channels instead. Order of EWP_*: KINDS_LEARNABLE
 * in activations/fused.py. */
enum { EWP_SWISH, EWP_PELU, EWP_SOFT_EXPONENTIAL, EWP_SRELU, EWP_APL, EWP_PAU,
       EWP_SLOPE_SHIFT_ELU, EWP_FLEXIBLE_RELU };
#define MAXP 16

/* log for normal x > 0 and +inf: Cephes' logf (mantissa in [sqrt(1/2), sqrt(2)), degree-9
 * polynomial, relative error about 1e-7) */
static inline AI vf vlog(vf x) {
    vi bits = (vi)x;
    vf e = __builtin_convertvector(((bits >> 23) & 0xff) - 126, vf);
    vf m = (vf)((bits & 0x007fffff) | 0x3f000000); /* [0.5, 1) */
    vi small = m < vsplat(0.707106781186547524f);
    e = vsel(small, e - 1.0f, e);
    m = vsel(small, m + m - 1.0f, m - 1.0f);
    vf z = m * m;
    vf y = ((((((((7.0376836292e-2f * m - 1.1514610310e-1f) * m + 1.1676998740e-1f) * m
           - 1.2420140846e-1f) * m + 1.4249322787e-1f) * m - 1.6668057665e-1f) * m
           + 2.0000714765e-1f) * m - 2.4999993993e-1f) * m + 3.3333331174e-1f) * m * z;
    y = y - 2.12194440e-4f * e - 0.5f * z;
    return vsel(x == vsplat(INFINITY), x, m + y + 0.693359375f * e);
}

static inline AI vf vsign(vf x) {
    return vsel(x > vsplat(0.0f), vsplat(1.0f), vsel(x < vsplat(0.0f), vsplat(-1.0f),
                                                     vsplat(0.0f)));
}

/* f(x) for 8 lanes with parameter vectors p; when grad, also df/dx and df/dp_k. Where the
 * PyTorch formula clamps a parameter or takes |q|, the derivative is masked the same way. */
static inline AI vf ewp_lanes(int kind, int grad, vf x, const vf *p, int P, vf *dx, vf *dp) {
    vf one = vsplat(1.0f), zero = vsplat(0.0f), y;
    switch (kind) {
    case EWP_SWISH: { /* x sigmoid(beta x) */
        vf s = vsigmoid(p[0] * x);
        y = x * s;
        if (grad) { /* ds first: it is exactly 0 far out, where beta x or x x overflow */
            vf ds = s * (one - s);
            *dx = s + x * (p[0] * ds);
            dp[0] = x * (x * ds);
        }
        break;
    }
    case EWP_PELU: { /* a, b clamped below at 0.1 */
        vf lo = vsplat(0.1f);
        vi ga = p[0] >= lo, gb = p[1] >= lo;
        vf a = vsel(ga, p[0], lo), b = vsel(gb, p[1], lo);
        vf ib = one / b;
        vi pos = x >= zero;
        vf z = vsel(pos, zero, x) * ib, e = vexp(z);
        y = vsel(pos, a * ib * x, a * vexpm1(z, e));
        if (grad) {
            *dx = vsel(pos, a * ib, a * e * ib);
            vf da = vsel(pos, x * ib, vexpm1(z, e));
            vf db = vsel(pos, -a * x * ib * ib, -a * e * z * ib);
            dp[0] = vsel(ga, da, zero);
            dp[1] = vsel(gb, db, zero);
        }
        break;
    }
    case EWP_SOFT_EXPONENTIAL: { /* alpha < 0: log branch (argument clamped at 1e-6); 0: x;
                                  * > 0: exp branch */
        vf a = p[0];
        vi isz = a == zero, neg = a < zero;
        vf sa = vsel(isz, one, a), ia = one / sa;
        vf u = one - sa * (x + sa);
        vi inside = u >= vsplat(1e-6f);
        vf uc = vsel(inside, u, vsplat(1e-6f));
        /* alpha is one value per plane (all lanes but in the (N, C) layout): compute
         * only the branch that some lane takes */
        vf lu = vany(neg) ? vlog(uc) : zero;
        vi posl = ~(neg | isz);
        vf ex = vany(posl) ? vexp(sa * x) : one;
        ex = vsel(sa * x > vsplat(88.72284f), vsplat(INFINITY), ex); /* e^x overflows there */
        vf em = vany(posl) ? vexpm1(sa * x, ex) : zero;
        vf yneg = -lu * ia, ypos = em * ia + sa;
        y = vsel(isz, x, vsel(neg, yneg, ypos));
        if (grad) {
            vf mask = vsel(inside, one, zero);
            vf dxn = mask / uc, dan = lu * ia * ia + mask * (x + 2.0f * sa) / (uc * sa);
            vf dxp = ex, dap = x * ex * ia - em * ia * ia + one;
            *dx = vsel(isz, one, vsel(neg, dxn, dxp));
            dp[0] = vsel(isz, zero, vsel(neg, dan, dap));
        }
        break;
    }
    case EWP_SRELU: { /* t_l, a_l, t_r, a_r */
        vi right = x >= p[2], left = (x <= p[0]) & ~right;
        y = vsel(right, p[2] + p[3] * (x - p[2]), vsel(left, p[0] + p[1] * (x - p[0]), x));
        if (grad) {
            *dx = vsel(right, p[3], vsel(left, p[1], one));
            dp[0] = vsel(left, one - p[1], zero);
            dp[1] = vsel(left, x - p[0], zero);
            dp[2] = vsel(right, one - p[3], zero);
            dp[3] = vsel(right, x - p[2], zero);
        }
        break;
    }
    case EWP_APL: { /* relu(x) + sum_s a_s relu(b_s - x); p = a1, b1, a2, b2, ... */
        y = vmax0(x);
        vf d = vsel(x > zero, one, zero);
        for (int k = 0; k + 1 < P; k += 2) {
            vf h = p[k + 1] - x;
            vi on = h > zero;
            y = y + p[k] * vmax0(h);
            if (grad) {
                d = d - vsel(on, p[k], zero);
                dp[k] = vmax0(h);
                dp[k + 1] = vsel(on, p[k], zero);
            }
        }
        if (grad) *dx = d;
        break;
    }
    case EWP_PAU: { /* (p0 + ... + p5 x^5) / (1 + |q1||x| + ... + |q4||x|^4): p0..p5, q1..q4 */
        vf num = p[5], dnum = 5.0f * p[5];
        for (int k = 4; k >= 0; k--) {
            num = num * x + p[k];
            if (k >= 1) dnum = dnum * x + (float)k * p[k];
        }
        vf ax = vabs(x), den = zero, dden = zero;
        for (int k = 9; k >= 6; k--) {
            vf q = vabs(p[k]);
            den = (den + q) * ax;
        }
        for (int k = 9; k >= 7; k--) dden = (dden + (float)(k - 5) * vabs(p[k])) * ax;
        dden = dden + vabs(p[6]);
        vf iD = one / (one + den);
        y = num * iD;
        if (grad) {
            *dx = (dnum - y * dden * vsign(x)) * iD;
            vf xk = iD;
            for (int k = 0; k <= 5; k++) { dp[k] = xk; xk = xk * x; }
            vf axk = -y * iD * ax;
            for (int k = 6; k <= 9; k++) { dp[k] = axk * vsign(p[k]); axk = axk * ax; }
        }
        break;
    }
    case EWP_FLEXIBLE_RELU: { /* relu(x) + b */
        y = vmax0(x) + p[0];
        if (grad) {
            *dx = vsel(x > zero, one, zero);
            dp[0] = one;
        }
        break;
    }
    default: { /* EWP_SLOPE_SHIFT_ELU: a x + m for x > 0, e^x - 1 + m elsewhere */
        vi pos = x > zero;
        vf e = vexp(vsel(pos, zero, x));
        y = vsel(pos, p[0] * x, vexpm1(vsel(pos, zero, x), e)) + p[1];
        if (grad) {
            *dx = vsel(pos, p[0], e);
            dp[0] = vsel(pos, x, zero);
            dp[1] = one;
        }
        break;
    }
    }
    if (grad) *dx = vsel(x != x, x, *dx);
    return vsel(x != x, x, y);
}

/* n (< LANES) floats of src into a zero-padded vector, and back */
static inline AI vf vload_part(const float *src, int64_t n) {
    vf v = vsplat(0.0f);
    __builtin_memcpy(&v, src, n * sizeof(float));
    return v;
}

static inline AI vf vload_n(const float *src, int64_t n) {
    vf v;
    if (n == LANES) __builtin_memcpy(&v, src, sizeof v);
    else v = vload_part(src, n);
    return v;
}

static inline AI void vstore_n(float *dst, vf v, int64_t n) {
    __builtin_memcpy(dst, &v, n * sizeof(float));
}

/* one (outer, c) plane of `inner` elements, parameters broadcast */
static inline AI void ewp_plane(int kind, int grad, const float *g, const float *x, float *out,
                                double *part, const float *pv, int P, int64_t inner) {
    vf p[MAXP], dp[MAXP], acc[MAXP], dx;
    double tot[MAXP];
    for (int k = 0; k < P; k++) {
        p[k] = vsplat(pv[k]); dp[k] = acc[k] = vsplat(0.0f); tot[k] = 0;
    }
    int64_t steps = 0;
    for (int64_t j = 0; j < inner; j += LANES) {
        int64_t n = inner - j < LANES ? inner - j : LANES;
        vf v = vload_n(x + j, n);
        vf y = ewp_lanes(kind, grad, v, p, P, &dx, dp);
        if (!grad) { vstore_n(out + j, y, n); continue; }
        vf gv = vload_n(g + j, n); /* zero on padded lanes: they add nothing */
        vstore_n(out + j, gv * dx, n);
        for (int k = 0; k < P; k++) acc[k] += gv * dp[k];
        if (++steps == BLOCK / LANES) { /* float sums stay short; totals in double */
            for (int k = 0; k < P; k++) {
                for (int l = 0; l < LANES; l++) tot[k] += acc[k][l];
                acc[k] = vsplat(0.0f);
            }
            steps = 0;
        }
    }
    if (grad)
        for (int k = 0; k < P; k++) {
            for (int l = 0; l < LANES; l++) tot[k] += acc[k][l];
            part[k] = tot[k];
        }
}

/* one row of C channels (inner == 1), the lanes along the channels */
static inline AI void ewp_row(int kind, int grad, const float *g, const float *x, float *out,
                              double *part, const float *params, int P, int64_t C) {
    vf p[MAXP], dp[MAXP], dx;
    for (int k = 0; k < P; k++) dp[k] = vsplat(0.0f);
    for (int64_t c = 0; c < C; c += LANES) {
        int64_t n = C - c < LANES ? C - c : LANES;
        for (int k = 0; k < P; k++) p[k] = vload_n(params + k * C + c, n);
        vf v = vload_n(x + c, n);
        vf y = ewp_lanes(kind, grad, v, p, P, &dx, dp);
        if (!grad) { vstore_n(out + c, y, n); continue; }
        vf gv = vload_n(g + c, n);
        vstore_n(out + c, gv * dx, n);
        for (int k = 0; k < P; k++) {
            vf t = gv * dp[k];
            for (int64_t l = 0; l < n; l++) part[(c + l) * P + k] = t[l];
        }
    }
}

#define EWP_BODY(K, G)                                                                      \
    if (inner > 1) {                                                                        \
        _Pragma("omp parallel for num_threads(nthreads) schedule(static)")                  \
        for (int64_t q = 0; q < outer * C; q++) {                                           \
            float pv[MAXP];                                                                 \
            for (int k = 0; k < P; k++) pv[k] = params[k * C + q % C];                      \
            ewp_plane(K, G, g ? g + q * inner : 0, x + q * inner, out + q * inner,          \
                      part ? part + q * P : 0, pv, P, inner);                               \
        }                                                                                   \
    } else {                                                                                \
        _Pragma("omp parallel for num_threads(nthreads) schedule(static)")                  \
        for (int64_t o = 0; o < outer; o++)                                                 \
            ewp_row(K, G, g ? g + o * C : 0, x + o * C, out + o * C,                        \
                    part ? part + o * C * P : 0, params, P, C);                             \
    }
#define EWP_CASE(K) case K: if (grad) { EWP_BODY(K, 1) } else { EWP_BODY(K, 0) } break;

static void ewp_f32(const float *g, const float *x, float *out, double *part,
                    const float *params, int64_t outer, int64_t C, int64_t inner, int kind,
                    int P, int grad, int nthreads) {
    switch (kind) {
    EWP_CASE(EWP_SWISH) EWP_CASE(EWP_PELU) EWP_CASE(EWP_SOFT_EXPONENTIAL) EWP_CASE(EWP_SRELU)
    EWP_CASE(EWP_APL) EWP_CASE(EWP_PAU) EWP_CASE(EWP_FLEXIBLE_RELU)
    default:
        if (grad) { EWP_BODY(EWP_SLOPE_SHIFT_ELU, 1) } else { EWP_BODY(EWP_SLOPE_SHIFT_ELU, 0) }
    }
}

void ewp_fwd_f32(const float *x, float *y, const float *params, int64_t outer, int64_t C,
                 int64_t inner, int kind, int P, int nthreads) {
    ewp_f32(0, x, y, 0, params, outer, C, inner, kind, P, 0, nthreads);
}

void ewp_bwd_f32(const float *g, const float *x, float *gx, double *part, const float *params,
                 int64_t outer, int64_t C, int64_t inner, int kind, int P, int nthreads) {
    ewp_f32(g, x, gx, part, params, outer, C, inner, kind, P, 1, nthreads);
}

/* ---- RReLU in training: slopes drawn per element, recomputed in backward ----
 *
 * The slope of element i is lower + (upper - lower) u(seed, i), u a counter-based hash (a
 * 32-bit integer finaliser) of the element's index: backward recomputes the same slopes from
 * the seed instead of keeping a tensor of them, and the result does not depend on the number
 * of threads. The seed comes from torch's generator, so a seeded run draws the same slopes. */
typedef uint32_t vu __attribute__((vector_size(sizeof(vf))));

static inline AI vf vuniform(vu idx, uint32_t seed) {
    vu h = idx * 0x9E3779B9u + seed;
    h ^= h >> 16; h *= 0x7feb352du; h ^= h >> 15; h *= 0x846ca68bu; h ^= h >> 16;
    return __builtin_convertvector(h >> 8, vf) * (1.0f / 16777216.0f); /* [0, 1) */
}

static inline AI vf rrelu_lanes(vf x, int64_t first, float lower, float width, uint32_t seed,
                                int grad) {
    vu idx;
    for (int l = 0; l < LANES; l++) idx[l] = (uint32_t)(first + l);
    /* the high bits of a > 4G-element tensor's index go into the seed */
    vf slope = lower + width * vuniform(idx, seed ^ (uint32_t)(first >> 32) * 0x85ebca6bu);
    vi pos = ~(x <= vsplat(0.0f)); /* NaN counts as positive, as in PyTorch's rrelu */
    return grad ? vsel(pos, vsplat(1.0f), slope) : vsel(pos, x, x * slope);
}

static void rrelu_f32(const float *g, const float *x, float *out, int64_t n, float lower,
                      float upper, uint32_t seed, int grad, int nthreads) {
    int64_t whole = n / LANES;
    float width = upper - lower;
    #pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t i = 0; i < whole; i++) {
        vf v, r;
        __builtin_memcpy(&v, x + i * LANES, sizeof v);
        r = rrelu_lanes(v, i * LANES, lower, width, seed, grad);
        if (grad) {
            vf gv;
            __builtin_memcpy(&gv, g + i * LANES, sizeof gv);
            r = r * gv;
        }
        __builtin_memcpy(out + i * LANES, &r, sizeof r);
    }
    int64_t rest = n - whole * LANES;
    if (rest > 0) {
        vf v = vload_part(x + whole * LANES, rest), r;
        r = rrelu_lanes(v, whole * LANES, lower, width, seed, grad);
        if (grad) r = r * vload_part(g + whole * LANES, rest);
        vstore_n(out + whole * LANES, r, rest);
    }
}

void rrelu_fwd_f32(const float *x, float *y, int64_t n, float lower, float upper,
                   uint32_t seed, int nthreads) {
    rrelu_f32(0, x, y, n, lower, upper, seed, 0, nthreads);
}

void rrelu_bwd_f32(const float *g, const float *x, float *gx, int64_t n, float lower,
                   float upper, uint32_t seed, int nthreads) {
    rrelu_f32(g, x, gx, n, lower, upper, seed, 1, nthreads);
}

/* ---- InverseActivation of ReLU: [relu(x), relu(-x)] on dim 1, in one pass ---- */
void inverse_relu_fwd_f32(const float *x, float *y, int64_t outer, int64_t C, int64_t inner,
                          int nthreads) {
    #pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t q = 0; q < outer * C; q++) {
        int64_t o = q / C, c = q % C;
        const float *xp = x + q * inner;
        float *pos = y + (o * 2 * C + c) * inner, *neg = pos + C * inner;
        #pragma omp simd
        for (int64_t j = 0; j < inner; j++) {
            float v = xp[j];
            pos[j] = v <= 0.0f ? 0.0f : v; /* NaN stays NaN, as in relu */
            neg[j] = v >= 0.0f ? 0.0f : -v;
        }
    }
}

void inverse_relu_bwd_f32(const float *g, const float *x, float *gx, int64_t outer, int64_t C,
                          int64_t inner, int nthreads) {
    #pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t q = 0; q < outer * C; q++) {
        int64_t o = q / C, c = q % C;
        const float *xp = x + q * inner;
        const float *gp = g + (o * 2 * C + c) * inner, *gn = gp + C * inner;
        float *out = gx + q * inner;
        #pragma omp simd
        for (int64_t j = 0; j < inner; j++) {
            float v = xp[j];
            out[j] = (v <= 0.0f ? 0.0f : gp[j]) - (v >= 0.0f ? 0.0f : gn[j]);
        }
    }
}

#pragma GCC pop_options
