/* Template body for pool.c: expects T (float or double) and SFX (f32 or f64) to be defined.
 * The window rules (and the order of every sum and comparison, so float results match) follow
 * PyTorch's CPU kernels, aten/src/ATen/native/cpu/MaxPoolKernel.cpp, AvgPoolKernel.cpp,
 * AdaptiveAvgPoolKernel.cpp and AdaptiveMaxPoolKernel.cpp; see mc_pool.h for the conventions.
 *
 * The 2x2 window with stride 2, no padding and no dilation (nearly every CNN's pooling layer)
 * has fast paths: windows do not overlap and tile the input, so a forward reads two input rows
 * once and a backward writes each grad_input element once, without zeroing or scattering. */

/* ---------------------------------------------------------------- max pooling */

/* One max window: rows h0 + i*dh clipped to [0, H), columns alike. The first maximum wins; a NaN
 * always replaces the current maximum (so the last NaN is kept), and when every element is -inf
 * (or the clipped window is empty) the index is that of the window's first in-range position,
 * exactly as PyTorch's cpu_max_pool. */
static inline void MC_NAME(max_window)(const T *xp, int64_t W, int64_t h0, int64_t h1, int64_t dh,
                                       int64_t w0, int64_t w1, int64_t dw, T *y, int64_t *ind) {
    int64_t best = h0 * W + w0;
    T m = -(T)INFINITY;
    for (int64_t ih = h0; ih < h1; ih += dh) {
        for (int64_t iw = w0; iw < w1; iw += dw) {
            const T v = xp[ih * W + iw];
            if (v > m || v != v) {
                m = v;
                best = ih * W + iw;
            }
        }
    }
    *y = m;
    *ind = best;
}

/* First in-range position of a dilated window that starts at s (PyTorch: while (s < 0) s += d). */
static inline int64_t MC_NAME(first_inside)(int64_t s, int64_t d) {
    return s < 0 ? s + ((-s + d - 1) / d) * d : s;
}

/* Full 2x2 windows of one output row: inputs r0 = row 2*oh and r1 = row 2*oh + 1; base is the
 * flat index of r0[0]. The comparisons are PyTorch's, in its order (a, b, c, d), written as
 * selects so the loop vectorizes; the offset of the winner (0, 1, W or W + 1; W < 2^30) is kept
 * in 32 bits next to the float lanes (SSE2 has no 64-bit compare or select). */
static inline void MC_NAME(max_row_2x2)(const T *restrict r0, const T *restrict r1, T *restrict y,
                                        int64_t *restrict ind, int64_t n, int64_t base, int64_t W) {
    const int32_t w0 = (int32_t)W, w1 = (int32_t)W + 1;
    for (int64_t j = 0; j < n; j++) {
        const T a = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1];
        T m = a;
        int32_t k = 0;
        const int32_t tb = (b > m) | (b != b);
        m = tb ? b : m;
        k = tb ? 1 : k;
        const int32_t tc = (c > m) | (c != c);
        m = tc ? c : m;
        k = tc ? w0 : k;
        const int32_t td = (d > m) | (d != d);
        m = td ? d : m;
        k = td ? w1 : k;
        y[j] = m;
        ind[j] = base + 2 * j + (int64_t)k;
    }
}

/* Values only (no indices wanted): the same selects without the offset. */
static inline void MC_NAME(max_row_2x2_values)(const T *restrict r0, const T *restrict r1,
                                               T *restrict y, int64_t n) {
    for (int64_t j = 0; j < n; j++) {
        const T a = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1];
        T m = a;
        m = (b > m) | (b != b) ? b : m;
        m = (c > m) | (c != c) ? c : m;
        m = (d > m) | (d != d) ? d : m;
        y[j] = m;
    }
}

/* The interior outputs [o0, o1) of one output row of plane xp, tap by tap (PyTorch's order
 * within each window) over chunks of outputs, so the compare-and-select runs across outputs and
 * vectorizes. The windows start at row hs = oh * sh - ph; only the row taps i in [i0, i1)
 * (those inside the input; i0 < i1) are read, and every column tap of an interior output is
 * inside. Indices are built in 32 bits (the caller checks H * W < 2^31); ir may be NULL (values
 * only). */
static inline void MC_NAME(max_row_taps)(const T *xp, T *yr, int64_t *ir, int64_t W, int64_t hs,
                                         int64_t i0, int64_t i1, int64_t o0, int64_t o1, int64_t kw,
                                         int64_t sw, int64_t pw, int64_t dh, int64_t dw) {
    T m[MC_POOL_CHUNK];
    int32_t k[MC_POOL_CHUNK];
    const int32_t s32 = (int32_t)sw;
    for (int64_t c0 = o0; c0 < o1; c0 += MC_POOL_CHUNK) {
        const int32_t n = (int32_t)(o1 - c0 < MC_POOL_CHUNK ? o1 - c0 : MC_POOL_CHUNK);
        const int64_t col0 = c0 * sw - pw; /* first column of the chunk's first window */
        for (int64_t i = i0; i < i1; i++) {
            const int64_t ih = hs + i * dh;
            for (int64_t j = 0; j < kw; j++) {
                const T *restrict src = xp + ih * W + col0 + j * dw;
                const int32_t pos = (int32_t)(ih * W + col0 + j * dw);
                if (i == i0 && j == 0) {
                    for (int32_t c = 0; c < n; c++) {
                        m[c] = src[c * sw];
                        k[c] = pos + c * s32;
                    }
                } else if (ir == NULL) {
                    /* constant strides let the compiler vectorize the common cases */
#define MC_MAX_TAP_VALUES(S)                                                                       \
    for (int32_t c = 0; c < n; c++) {                                                              \
        const T v = src[c * (S)];                                                                  \
        m[c] = (v > m[c]) | (v != v) ? v : m[c];                                                   \
    }
                    if (sw == 1) {
                        MC_MAX_TAP_VALUES(1)
                    } else if (sw == 2) {
                        MC_MAX_TAP_VALUES(2)
                    } else {
                        MC_MAX_TAP_VALUES(sw)
                    }
#undef MC_MAX_TAP_VALUES
                } else {
#define MC_MAX_TAP(S)                                                                              \
    for (int32_t c = 0; c < n; c++) {                                                              \
        const T v = src[c * (S)];                                                                  \
        const int32_t t = (v > m[c]) | (v != v);                                                   \
        m[c] = t ? v : m[c];                                                                       \
        k[c] = t ? pos + c * (int32_t)(S) : k[c];                                                  \
    }
                    if (sw == 1) {
                        MC_MAX_TAP(1)
                    } else if (sw == 2) {
                        MC_MAX_TAP(2)
                    } else {
                        MC_MAX_TAP(s32)
                    }
#undef MC_MAX_TAP
                }
            }
        }
        for (int32_t c = 0; c < n; c++) yr[c0 + c] = m[c];
        if (ir != NULL)
            for (int32_t c = 0; c < n; c++) ir[c0 + c] = (int64_t)k[c];
    }
}

void MC_NAME(max_pool2d)(const T *x, T *y, int64_t *ind, const mc_geometry *g) {
    const int64_t P = g->N * g->C, H = g->H, W = g->W, Ho = g->Ho, Wo = g->Wo;
    const int64_t kh = g->kh, kw = g->kw, sh = g->sh, sw = g->sw, ph = g->ph, pw = g->pw;
    const int64_t dh = g->dh, dw = g->dw;
    const int64_t rows = P * Ho;
    const int fast = kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && dh == 1 &&
                     dw == 1 && W < ((int64_t)1 << 30);
    const int taps = H * W < ((int64_t)1 << 31); /* plane offsets fit the 32-bit index lanes */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (P * H * W >= MC_PARALLEL_MIN)                        \
    num_threads(mc_get_num_threads())
#endif
    for (int64_t r = 0; r < rows; r++) {
        const int64_t p = r / Ho, oh = r - p * Ho;
        const T *xp = x + p * H * W;
        T *yr = y + r * Wo;
        int64_t *ir = ind != NULL ? ind + r * Wo : NULL;
        int64_t ow = 0, unused;
        if (fast && 2 * oh + 1 < H) {
            const int64_t n = Wo < W / 2 ? Wo : W / 2;
            if (ir != NULL)
                MC_NAME(max_row_2x2)(xp + 2 * oh * W, xp + (2 * oh + 1) * W, yr, ir, n, 2 * oh * W,
                                     W);
            else
                MC_NAME(max_row_2x2_values)(xp + 2 * oh * W, xp + (2 * oh + 1) * W, yr, n);
            ow = n;
        }
        const int64_t hs = oh * sh - ph;
        const int64_t h1 = hs + (kh - 1) * dh + 1 < H ? hs + (kh - 1) * dh + 1 : H;
        const int64_t h0 = MC_NAME(first_inside)(hs, dh);
        int64_t i0, i1, o0 = Wo, o1 = Wo;
        mc_pool_taps(hs, dh, kh, H, &i0, &i1);
        if (taps && i0 < i1) mc_pool_interior(W, Wo, kw, sw, pw, dw, &o0, &o1);
        if (o0 < ow) o0 = ow;
        if (o1 < o0) o1 = o0;
        for (; ow < Wo; ow++) {
            if (ow == o0 && o0 < o1) {
                MC_NAME(max_row_taps)(xp, yr, ir, W, hs, i0, i1, o0, o1, kw, sw, pw, dh, dw);
                ow = o1 - 1;
                continue;
            }
            const int64_t ws = ow * sw - pw;
            const int64_t w1 = ws + (kw - 1) * dw + 1 < W ? ws + (kw - 1) * dw + 1 : W;
            MC_NAME(max_window)(xp, W, h0, h1, dh, MC_NAME(first_inside)(ws, dw), w1, dw, yr + ow,
                                ir != NULL ? ir + ow : &unused);
        }
    }
}

/* General scatter of one plane: gx = 0, then gx[ind] += gy (windows may overlap and pick the same
 * element, so it accumulates). Indices outside the plane (PyTorch's index of an empty window)
 * are skipped. */
static inline void MC_NAME(max_scatter_plane)(const T *gy, const int64_t *ind, T *gx, int64_t HW,
                                              int64_t HoWo) {
    for (int64_t i = 0; i < HW; i++) gx[i] = 0;
    for (int64_t o = 0; o < HoWo; o++) {
        const int64_t k = ind[o];
        if (k >= 0 && k < HW) gx[k] += gy[o];
    }
}

/* Fast backward of one plane whose outputs are the non-overlapping 2x2 blocks (Ho = H/2,
 * Wo = W/2, W < 2^30): each block gets gy where the index points and 0 elsewhere; an odd last row
 * or column is zeroed. Returns 0 when some index lies outside its block (the indices came from
 * another kind of window), and the caller then redoes the plane with the general scatter. The
 * offset inside the block is compared in 32 bits (its high half must be 0) so the loop
 * vectorizes with SSE2. */
static inline int MC_NAME(max_blocks_plane)(const T *restrict gy, const int64_t *restrict ind,
                                            T *restrict gx, int64_t H, int64_t W, int64_t Ho,
                                            int64_t Wo) {
    const int32_t w0 = (int32_t)W, w1 = (int32_t)W + 1;
    int32_t bad = 0;
    for (int64_t oh = 0; oh < Ho; oh++) {
        T *restrict r0 = gx + 2 * oh * W;
        T *restrict r1 = r0 + W;
        const T *restrict g = gy + oh * Wo;
        const int64_t *restrict ir = ind + oh * Wo;
        const int64_t base = 2 * oh * W;
        for (int64_t j = 0; j < Wo; j++) {
            const int64_t d = ir[j] - base - 2 * j;
            const int32_t k = (int32_t)d, hi = (int32_t)(d >> 32);
            const T v = g[j];
            r0[2 * j] = k == 0 ? v : (T)0;
            r0[2 * j + 1] = k == 1 ? v : (T)0;
            r1[2 * j] = k == w0 ? v : (T)0;
            r1[2 * j + 1] = k == w1 ? v : (T)0;
            bad |= hi | ((k != 0) & (k != 1) & (k != w0) & (k != w1));
        }
        if (W & 1) r0[W - 1] = r1[W - 1] = 0;
    }
    if (H & 1)
        for (int64_t iw = 0; iw < W; iw++) gx[(H - 1) * W + iw] = 0;
    return !bad;
}

void MC_NAME(max_pool2d_backward)(const T *gy, const int64_t *ind, T *gx, const mc_geometry *g) {
    const int64_t P = g->N * g->C, H = g->H, W = g->W, Ho = g->Ho, Wo = g->Wo;
    const int64_t HW = H * W, HoWo = Ho * Wo;
    const int blocks = Ho == H / 2 && Wo == W / 2 && Ho > 0 && Wo > 0 && W < ((int64_t)1 << 30);
#ifdef _OPENMP
#pragma omp parallel if (P * HW >= MC_PARALLEL_MIN) num_threads(mc_get_num_threads())
#endif
    {
        int try_blocks = blocks; /* per thread: stop trying after the first plane that fails */
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (int64_t p = 0; p < P; p++) {
            const T *g = gy + p * HoWo;
            const int64_t *ip = ind + p * HoWo;
            T *gp = gx + p * HW;
            if (try_blocks && MC_NAME(max_blocks_plane)(g, ip, gp, H, W, Ho, Wo)) continue;
            try_blocks = 0;
            MC_NAME(max_scatter_plane)(g, ip, gp, HW, HoWo);
        }
    }
}

/* ---------------------------------------------------------------- average pooling */

/* Window of output (oh, ow) along one axis: [s, e) clipped first to the padded input [-pad,
 * n + pad) (its length counts for count_include_pad), then to [0, n). */
static inline void MC_NAME(avg_range)(int64_t o, int64_t n, int64_t k, int64_t s, int64_t pad,
                                      int64_t *lo, int64_t *hi, int64_t *padded) {
    int64_t a = o * s - pad, b = a + k < n + pad ? a + k : n + pad;
    *padded = b - a;
    *lo = a > 0 ? a : 0;
    *hi = b < n ? b : n;
}

static inline int64_t MC_NAME(avg_divisor)(int64_t padded, int64_t clipped, int cip,
                                           int64_t divisor_override) {
    return divisor_override != 0 ? divisor_override : (cip ? padded : clipped);
}

/* Full 2x2 windows of one output row: (((a + b) + c) + d) / divisor, PyTorch's summation order. */
static inline void MC_NAME(avg_row_2x2)(const T *restrict r0, const T *restrict r1, T *restrict y,
                                        int64_t n, T div) {
    for (int64_t j = 0; j < n; j++) {
        T s = r0[2 * j] + r0[2 * j + 1];
        s += r1[2 * j];
        s += r1[2 * j + 1];
        y[j] = s / div;
    }
}

/* Interior outputs [o0, o1) of one row (every column tap inside, rows i0 <= i < i1 inside):
 * sums built tap by tap across a chunk of outputs, in PyTorch's order within each window. */
static inline void MC_NAME(avg_row_taps)(const T *xp, T *yr, int64_t W, int64_t hs, int64_t i0,
                                         int64_t i1, int64_t o0, int64_t o1, int64_t kw, int64_t sw,
                                         int64_t pw, T div) {
    T s[MC_POOL_CHUNK];
    for (int64_t c0 = o0; c0 < o1; c0 += MC_POOL_CHUNK) {
        const int64_t n = o1 - c0 < MC_POOL_CHUNK ? o1 - c0 : MC_POOL_CHUNK;
        const int64_t col0 = c0 * sw - pw;
        for (int64_t c = 0; c < n; c++) s[c] = 0;
        for (int64_t i = i0; i < i1; i++)
            for (int64_t j = 0; j < kw; j++) {
                const T *restrict src = xp + (hs + i) * W + col0 + j;
                for (int64_t c = 0; c < n; c++) s[c] += src[c * sw];
            }
        for (int64_t c = 0; c < n; c++) yr[c0 + c] = s[c] / div;
    }
}

void MC_NAME(avg_pool2d)(const T *x, T *y, const mc_geometry *g, int count_include_pad,
                         int64_t divisor_override) {
    const int64_t P = g->N * g->C, H = g->H, W = g->W, Ho = g->Ho, Wo = g->Wo;
    const int64_t kh = g->kh, kw = g->kw, sh = g->sh, sw = g->sw, ph = g->ph, pw = g->pw;
    const int64_t rows = P * Ho;
    const int fast = kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0;
    const T div2x2 = (T)(divisor_override != 0 ? divisor_override : 4);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (P * H * W >= MC_PARALLEL_MIN)                        \
    num_threads(mc_get_num_threads())
#endif
    for (int64_t r = 0; r < rows; r++) {
        const int64_t p = r / Ho, oh = r - p * Ho;
        const T *xp = x + p * H * W;
        T *yr = y + r * Wo;
        int64_t ow = 0;
        if (fast && 2 * oh + 1 < H) {
            const int64_t n = Wo < W / 2 ? Wo : W / 2;
            MC_NAME(avg_row_2x2)(xp + 2 * oh * W, xp + (2 * oh + 1) * W, yr, n, div2x2);
            ow = n;
        }
        int64_t h0, h1, hp, o0 = Wo, o1 = Wo;
        MC_NAME(avg_range)(oh, H, kh, sh, ph, &h0, &h1, &hp);
        if (h0 < h1) mc_pool_interior(W, Wo, kw, sw, pw, 1, &o0, &o1);
        if (o0 < ow) o0 = ow;
        if (o1 < o0) o1 = o0;
        for (; ow < Wo; ow++) {
            if (ow == o0 && o0 < o1) { /* interior: the column window is whole, kw wide */
                const int64_t div = MC_NAME(avg_divisor)(hp * kw, (h1 - h0) * kw, count_include_pad,
                                                         divisor_override);
                MC_NAME(avg_row_taps)(xp, yr, W, oh * sh - ph, h0 - (oh * sh - ph),
                                      h1 - (oh * sh - ph), o0, o1, kw, sw, pw, (T)div);
                ow = o1 - 1;
                continue;
            }
            int64_t w0, w1, wp;
            MC_NAME(avg_range)(ow, W, kw, sw, pw, &w0, &w1, &wp);
            if (h0 >= h1 || w0 >= w1) {
                yr[ow] = 0;
                continue;
            }
            T s = 0;
            for (int64_t ih = h0; ih < h1; ih++)
                for (int64_t iw = w0; iw < w1; iw++) s += xp[ih * W + iw];
            yr[ow] = s / (T)MC_NAME(avg_divisor)(hp * wp, (h1 - h0) * (w1 - w0), count_include_pad,
                                                 divisor_override);
        }
    }
}

/* gx += gy[oh, ow] / divisor over the window of every output (oh, ow) of one plane with
 * oh >= oh0 or ow >= ow0 (the outputs the 2x2 fast path did not write; 0, 0 for all of them).
 * Interior outputs go tap by tap across a chunk (each tap's targets are distinct, so the adds
 * vectorize); border outputs one window at a time. */
static inline void MC_NAME(avg_scatter)(const T *gy, T *gx, int64_t H, int64_t W, int64_t Ho,
                                        int64_t Wo, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                                        int64_t ph, int64_t pw, int cip, int64_t divisor_override,
                                        int64_t oh0, int64_t ow0) {
    T delta[MC_POOL_CHUNK];
    for (int64_t oh = 0; oh < Ho; oh++) {
        int64_t h0, h1, hp, o0 = Wo, o1 = Wo;
        MC_NAME(avg_range)(oh, H, kh, sh, ph, &h0, &h1, &hp);
        if (h0 >= h1) continue;
        const int64_t first = oh < oh0 ? ow0 : 0;
        const T *g = gy + oh * Wo;
        mc_pool_interior(W, Wo, kw, sw, pw, 1, &o0, &o1);
        if (o0 < first) o0 = first;
        if (o1 < o0) o1 = o0;
        const T div = (T)MC_NAME(avg_divisor)(hp * kw, (h1 - h0) * kw, cip, divisor_override);
        for (int64_t c0 = o0; c0 < o1; c0 += MC_POOL_CHUNK) {
            const int64_t n = o1 - c0 < MC_POOL_CHUNK ? o1 - c0 : MC_POOL_CHUNK;
            const int64_t col0 = c0 * sw - pw;
            for (int64_t c = 0; c < n; c++) delta[c] = g[c0 + c] / div;
            /* rows inside the column loop: consecutive passes write different rows, so a pass
             * never reloads (one element shifted) what the previous one has just stored, which
             * would stall on store-to-load forwarding */
            for (int64_t j = 0; j < kw; j++)
                for (int64_t ih = h0; ih < h1; ih++) {
                    T *restrict dst = gx + ih * W + col0 + j;
                    for (int64_t c = 0; c < n; c++) dst[c * sw] += delta[c];
                }
        }
        for (int64_t ow = first; ow < Wo; ow++) {
            if (ow == o0 && o0 < o1) {
                ow = o1 - 1;
                continue;
            }
            int64_t w0, w1, wp;
            MC_NAME(avg_range)(ow, W, kw, sw, pw, &w0, &w1, &wp);
            if (w0 >= w1) continue;
            const T d = g[ow] / (T)MC_NAME(avg_divisor)(hp * wp, (h1 - h0) * (w1 - w0), cip,
                                                        divisor_override);
            for (int64_t ih = h0; ih < h1; ih++)
                for (int64_t iw = w0; iw < w1; iw++) gx[ih * W + iw] += d;
        }
    }
}

void MC_NAME(avg_pool2d_backward)(const T *gy, T *gx, const mc_geometry *g, int count_include_pad,
                                  int64_t divisor_override) {
    const int64_t P = g->N * g->C, H = g->H, W = g->W, Ho = g->Ho, Wo = g->Wo;
    const int64_t kh = g->kh, kw = g->kw, sh = g->sh, sw = g->sw, ph = g->ph, pw = g->pw;
    const int64_t HW = H * W, HoWo = Ho * Wo;
    const int fast = kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0;
    const T div2x2 = (T)(divisor_override != 0 ? divisor_override : 4);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (P * HW >= MC_PARALLEL_MIN)                           \
    num_threads(mc_get_num_threads())
#endif
    for (int64_t p = 0; p < P; p++) {
        const T *g = gy + p * HoWo;
        T *gp = gx + p * HW;
        if (!fast) {
            for (int64_t i = 0; i < HW; i++) gp[i] = 0;
            MC_NAME(avg_scatter)(g, gp, H, W, Ho, Wo, kh, kw, sh, sw, ph, pw, count_include_pad,
                                 divisor_override, 0, 0);
            continue;
        }
        /* Full blocks written directly; the odd last row/column (if any) zeroed, then the partial
         * windows of ceil_mode (which touch only that row/column) added. */
        const int64_t fh = Ho < H / 2 ? Ho : H / 2, fw = Wo < W / 2 ? Wo : W / 2;
        for (int64_t oh = 0; oh < fh; oh++) {
            T *restrict r0 = gp + 2 * oh * W;
            T *restrict r1 = r0 + W;
            const T *restrict gr = g + oh * Wo;
            for (int64_t j = 0; j < fw; j++) {
                const T v = gr[j] / div2x2;
                r0[2 * j] = v;
                r0[2 * j + 1] = v;
                r1[2 * j] = v;
                r1[2 * j + 1] = v;
            }
            for (int64_t iw = 2 * fw; iw < W; iw++) r0[iw] = r1[iw] = 0;
        }
        for (int64_t i = 2 * fh * W; i < HW; i++) gp[i] = 0;
        if (fh < Ho || fw < Wo)
            MC_NAME(avg_scatter)(g, gp, H, W, Ho, Wo, kh, kw, sh, sw, ph, pw, count_include_pad,
                                 divisor_override, fh, fw);
    }
}

/* ---------------------------------------------------------------- adaptive pooling */

/* PyTorch's adaptive windows: [floor(o * n / m), ceil((o + 1) * n / m)). */
static inline int64_t MC_NAME(ad_start)(int64_t o, int64_t m, int64_t n) { return (o * n) / m; }
static inline int64_t MC_NAME(ad_end)(int64_t o, int64_t m, int64_t n) {
    return ((o + 1) * n + m - 1) / m;
}

/* Sum of a[0..n): 16 running partial sums (independent vector chains, so a long run is not
 * bound by the add latency), then a sequential tail; below 16 elements a plain left-to-right
 * sum. Deterministic: the same with or without OpenMP and for any thread count. */
static inline T MC_NAME(sum_run)(const T *a, int64_t n) {
    if (n < 16) {
        T s = 0;
        for (int64_t i = 0; i < n; i++) s += a[i];
        return s;
    }
    T acc[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += a[i + j];
    T s = 0;
    for (int j = 0; j < 16; j++) s += acc[j];
    for (; i < n; i++) s += a[i];
    return s;
}

void MC_NAME(adaptive_avg_pool2d)(const T *x, T *y, const mc_geometry *g) {
    const int64_t P = g->N * g->C, H = g->H, W = g->W, Ho = g->Ho, Wo = g->Wo;
    const int64_t rows = P * Ho;
    if (Ho == 1 && Wo == 1) { /* global average pool: one contiguous run per plane */
        const int64_t HW = H * W;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (P * HW >= MC_PARALLEL_MIN)                           \
    num_threads(mc_get_num_threads())
#endif
        for (int64_t p = 0; p < P; p++) y[p] = MC_NAME(sum_run)(x + p * HW, HW) / (T)H / (T)W;
        return;
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (P * H * W >= MC_PARALLEL_MIN)                        \
    num_threads(mc_get_num_threads())
#endif
    for (int64_t r = 0; r < rows; r++) {
        const int64_t p = r / Ho, oh = r - p * Ho;
        const T *xp = x + p * H * W;
        const int64_t h0 = MC_NAME(ad_start)(oh, Ho, H), h1 = MC_NAME(ad_end)(oh, Ho, H);
        for (int64_t ow = 0; ow < Wo; ow++) {
            const int64_t w0 = MC_NAME(ad_start)(ow, Wo, W), w1 = MC_NAME(ad_end)(ow, Wo, W);
            T s;
            if (w0 == 0 && w1 == W) { /* full-width window: its rows are one contiguous run */
                s = MC_NAME(sum_run)(xp + h0 * W, (h1 - h0) * W);
            } else {
                s = 0;
                for (int64_t ih = h0; ih < h1; ih++)
                    s += MC_NAME(sum_run)(xp + ih * W + w0, w1 - w0);
            }
            y[r * Wo + ow] = s / (T)(h1 - h0) / (T)(w1 - w0); /* PyTorch: sum / kh / kw */
        }
    }
}

void MC_NAME(adaptive_avg_pool2d_backward)(const T *gy, T *gx, const mc_geometry *g) {
    const int64_t P = g->N * g->C, H = g->H, W = g->W, Ho = g->Ho, Wo = g->Wo;
    const int64_t HW = H * W, HoWo = Ho * Wo;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (P * HW >= MC_PARALLEL_MIN)                           \
    num_threads(mc_get_num_threads())
#endif
    for (int64_t p = 0; p < P; p++) {
        const T *g = gy + p * HoWo;
        T *gp = gx + p * HW;
        if (Ho == 1 && Wo == 1) { /* global pool: every element gets the same share */
            const T delta = g[0] / (T)H / (T)W;
            for (int64_t i = 0; i < HW; i++) gp[i] = delta;
            continue;
        }
        for (int64_t i = 0; i < HW; i++) gp[i] = 0;
        for (int64_t oh = 0; oh < Ho; oh++) {
            const int64_t h0 = MC_NAME(ad_start)(oh, Ho, H), h1 = MC_NAME(ad_end)(oh, Ho, H);
            for (int64_t ow = 0; ow < Wo; ow++) {
                const int64_t w0 = MC_NAME(ad_start)(ow, Wo, W), w1 = MC_NAME(ad_end)(ow, Wo, W);
                const T delta = g[oh * Wo + ow] / (T)(h1 - h0) / (T)(w1 - w0);
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) gp[ih * W + iw] += delta;
            }
        }
    }
}

void MC_NAME(adaptive_max_pool2d)(const T *x, T *y, int64_t *ind, const mc_geometry *g) {
    const int64_t P = g->N * g->C, H = g->H, W = g->W, Ho = g->Ho, Wo = g->Wo;
    const int64_t rows = P * Ho;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (P * H * W >= MC_PARALLEL_MIN)                        \
    num_threads(mc_get_num_threads())
#endif
    for (int64_t r = 0; r < rows; r++) {
        const int64_t p = r / Ho, oh = r - p * Ho;
        const int64_t h0 = MC_NAME(ad_start)(oh, Ho, H), h1 = MC_NAME(ad_end)(oh, Ho, H);
        for (int64_t ow = 0; ow < Wo; ow++) {
            const int64_t w0 = MC_NAME(ad_start)(ow, Wo, W), w1 = MC_NAME(ad_end)(ow, Wo, W);
            MC_NAME(max_window)(x + p * H * W, W, h0, h1, 1, w0, w1, 1, y + r * Wo + ow,
                                ind + r * Wo + ow);
        }
    }
}
