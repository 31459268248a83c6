/* Body of the fused kernels for one dtype; kernels.c includes it once per dtype with
 * T (the element type), FN(name) (adds the dtype suffix), EXP, TANH and FLOOR defined. */

/* two-slope: y = (x >= 0 ? a : b) * x + m ; a and m optional (has_a, has_m) */
void FN(two_slope_fwd)(const T *x, T *y, const T *a, const T *b, const T *m, int64_t outer,
                       int64_t C, int64_t inner, int64_t pstride, int has_a, int has_m,
                       int nthreads) {
    #pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t q = 0; q < outer * C; q++) {
        int64_t c = (q % C) * pstride;
        T av = has_a ? a[c] : (T)1, bv = b[c], mv = has_m ? m[c] : (T)0;
        const T *xp = x + q * inner;
        T *yp = y + q * inner;
        #pragma omp simd
        for (int64_t j = 0; j < inner; j++) {
            T v = xp[j];
            yp[j] = (v >= 0 ? av : bv) * v + mv;
        }
    }
}

/* part[q*3 + {0,1,2}] = plane sums of g*x [x >= 0], g*x [x < 0], g */
void FN(two_slope_bwd)(const T *g, const T *x, T *gx, double *part, const T *a, const T *b,
                       int64_t outer, int64_t C, int64_t inner, int64_t pstride, int has_a,
                       int nthreads) {
    #pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t q = 0; q < outer * C; q++) {
        int64_t c = (q % C) * pstride;
        T av = has_a ? a[c] : (T)1, bv = b[c];
        const T *xp = x + q * inner, *gp = g + q * inner;
        T *op = gx + q * inner;
        /* Sums in T vectorise; blocks keep them short and the totals are kept in double. */
        double sp = 0, sn = 0, sg = 0;
        for (int64_t j0 = 0; j0 < inner; j0 += BLOCK) {
            int64_t j1 = j0 + BLOCK < inner ? j0 + BLOCK : inner;
            T bp = 0, bn = 0, bg = 0;
            #pragma omp simd reduction(+:bp, bn, bg)
            for (int64_t j = j0; j < j1; j++) {
                T v = xp[j], gv = gp[j];
                T pos = v >= 0 ? (T)1 : (T)0; /* branch-free so the loop vectorises */
                T gxv = gv * v, gpos = gxv * pos;
                op[j] = gv * (bv + (av - bv) * pos);
                bp += gpos;
                bn += gxv - gpos;
                bg += gv;
            }
            sp += bp; sn += bn; sg += bg;
        }
        part[q * 3] = sp; part[q * 3 + 1] = sn; part[q * 3 + 2] = sg;
    }
}

/* polynomial: y = sum_{k=0..deg} coef[c*(deg+1) + k] x^k by Horner. The degree loop runs
 * outside a block of BLOCK elements (in L1) so the element loop vectorises. */
void FN(poly_fwd)(const T *x, T *y, const T *coef, int64_t outer, int64_t C, int64_t inner,
                  int64_t pstride, int deg, int nthreads) {
    #pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t q = 0; q < outer * C; q++) {
        const T *cp = coef + (q % C) * pstride * (deg + 1);
        for (int64_t j0 = 0; j0 < inner; j0 += BLOCK) {
            int64_t n = inner - j0 < BLOCK ? inner - j0 : BLOCK;
            const T *xp = x + q * inner + j0;
            T *yp = y + q * inner + j0;
            T acc[BLOCK];
            for (int64_t j = 0; j < n; j++) acc[j] = cp[deg];
            for (int k = deg - 1; k >= 0; k--) {
                T ck = cp[k];
                #pragma omp simd
                for (int64_t j = 0; j < n; j++) acc[j] = acc[j] * xp[j] + ck;
            }
            for (int64_t j = 0; j < n; j++) yp[j] = acc[j];
        }
    }
}

/* gx = g * P'(x); part[q*(deg+1) + k] = plane sum of g * x^k */
void FN(poly_bwd)(const T *g, const T *x, T *gx, double *part, const T *coef, int64_t outer,
                  int64_t C, int64_t inner, int64_t pstride, int deg, int nthreads) {
    #pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t q = 0; q < outer * C; q++) {
        const T *cp = coef + (q % C) * pstride * (deg + 1);
        double s[MAX_DEGREE + 1] = {0};
        for (int64_t j0 = 0; j0 < inner; j0 += BLOCK) {
            int64_t n = inner - j0 < BLOCK ? inner - j0 : BLOCK;
            const T *xp = x + q * inner + j0, *gp = g + q * inner + j0;
            T *op = gx + q * inner + j0;
            T d[BLOCK], pw[BLOCK];
            T top = deg * cp[deg];
            for (int64_t j = 0; j < n; j++) d[j] = top;
            for (int k = deg - 1; k >= 1; k--) {
                T kc = k * cp[k];
                #pragma omp simd
                for (int64_t j = 0; j < n; j++) d[j] = d[j] * xp[j] + kc;
            }
            #pragma omp simd
            for (int64_t j = 0; j < n; j++) { op[j] = gp[j] * d[j]; pw[j] = gp[j]; }
            for (int k = 0; k <= deg; k++) {
                T acc = 0;
                #pragma omp simd reduction(+:acc)
                for (int64_t j = 0; j < n; j++) { acc += pw[j]; pw[j] *= xp[j]; }
                s[k] += acc;
            }
        }
        for (int k = 0; k <= deg; k++) part[q * (deg + 1) + k] = s[k];
    }
}

/* GAAF: y = phi(x) + g(x) s(x). B (base) 0: phi = relu, s = sigmoid(x + shift);
 * 1: phi = tanh, s = exp(-x^2/3). V (variant) 0: g = (xK - floor(xK) - 1/2)/K, g' = 1;
 * 1: g = (|xK - round(xK)| - 1/2)/K, g' = +-1. B and V are compile-time constants below,
 * so every loop is branch-free and vectorises. NaN in gives NaN out (divergence checks). */
static inline __attribute__((always_inline)) T FN(gaaf_value)(T v, T K, T shift, int B,
                                                              int V, int grad) {
    T t = v * K;
    T r = t - FLOOR(t + (T)0.5);
    T gv = V ? ((r < 0 ? -r : r) - (T)0.5) / K : (t - FLOOR(t) - (T)0.5) / K;
    /* d|r| = sign(r), 0 at r = 0 as in PyTorch's abs */
    T dg = V ? (r > 0 ? (T)1 : (r < 0 ? (T)-1 : (T)0)) : (T)1;
    T phi, dphi, s, ds;
    if (B == 0) {
        phi = v > 0 ? v : (T)0;
        dphi = v > 0 ? (T)1 : (T)0;
        s = (T)1 / ((T)1 + EXP(-(v + shift)));
        ds = s * ((T)1 - s);
    } else {
        phi = TANH(v);
        dphi = (T)1 - phi * phi;
        s = EXP(-v * v / (T)3);
        ds = s * (-(T)2 * v / (T)3);
    }
    T out = grad ? dphi + dg * s + gv * ds : phi + gv * s;
    return v != v ? v : out;
}

#define GAAF_CASE(B, V, STMT)                                                                  \
    _Pragma("omp parallel for simd num_threads(nthreads) schedule(static)")                    \
    for (int64_t i = 0; i < n; i++) { STMT; }

void FN(gaaf_fwd)(const T *x, T *y, int64_t n, T K, T shift, int base, int variant,
                  int nthreads) {
    switch (base * 2 + variant) {
    case 0: GAAF_CASE(0, 0, y[i] = FN(gaaf_value)(x[i], K, shift, 0, 0, 0)) break;
    case 1: GAAF_CASE(0, 1, y[i] = FN(gaaf_value)(x[i], K, shift, 0, 1, 0)) break;
    case 2: GAAF_CASE(1, 0, y[i] = FN(gaaf_value)(x[i], K, shift, 1, 0, 0)) break;
    default: GAAF_CASE(1, 1, y[i] = FN(gaaf_value)(x[i], K, shift, 1, 1, 0)) break;
    }
}

void FN(gaaf_bwd)(const T *g, const T *x, T *gx, int64_t n, T K, T shift, int base,
                  int variant, int nthreads) {
    switch (base * 2 + variant) {
    case 0: GAAF_CASE(0, 0, gx[i] = g[i] * FN(gaaf_value)(x[i], K, shift, 0, 0, 1)) break;
    case 1: GAAF_CASE(0, 1, gx[i] = g[i] * FN(gaaf_value)(x[i], K, shift, 0, 1, 1)) break;
    case 2: GAAF_CASE(1, 0, gx[i] = g[i] * FN(gaaf_value)(x[i], K, shift, 1, 0, 1)) break;
    default: GAAF_CASE(1, 1, gx[i] = g[i] * FN(gaaf_value)(x[i], K, shift, 1, 1, 1)) break;
    }
}

#undef GAAF_CASE
