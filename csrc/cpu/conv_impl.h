/* Template body for conv_kernels.h: expects T and SFX (see elementwise_impl.h), after
 * gemm_impl.h. */

/* im2col and col2im run on the calling thread: the convolutions below call them inside their own
 * parallel regions, each thread on its own chunk of images (a parallel region per call, many per
 * convolution, cost more than the copy: measured when the products were NumPy's, a conv2d
 * forward of 128x64x32x32, 3x3 took 899 ms with a 2-thread im2col and 82 ms with a serial one).
 *
 * One row per (channel, tap), written front to back. Inside a row, the valid output range of
 * each input line is copied (memcpy when the stride is 1) and the rest zero-filled, so there is
 * no per-element bounds test. im2col_row writes row r = (channel c, tap (i, j)): Ho * Wo values
 * into out. */
MC_INLINE void MC_NAME(im2col_row)(const T *x, int64_t r, const mc_geometry *g, T *out) {
    const int64_t H = g->H, W = g->W, kh = g->kh, kw = g->kw, sh = g->sh, sw = g->sw;
    const int64_t ph = g->ph, pw = g->pw, dh = g->dh, dw = g->dw, Ho = g->Ho, Wo = g->Wo;
    const int64_t j = r % kw, i = (r / kw) % kh, c = r / (kw * kh);
    const int64_t off = j * dw - pw;
    int64_t lo, hi;
    mc_valid_range(off, sw, W, Wo, &lo, &hi);
    for (int64_t oh = 0; oh < Ho; oh++) {
        const int64_t ih = oh * sh - ph + i * dh;
        T *o = out + oh * Wo;
        if (ih < 0 || ih >= H) {
            memset(o, 0, (size_t)Wo * sizeof(T));
            continue;
        }
        const T *xr = x + (c * H + ih) * W;
        for (int64_t ow = 0; ow < lo; ow++) o[ow] = 0;
        if (sw == 1) {
            if (hi > lo) memcpy(o + lo, xr + lo + off, (size_t)(hi - lo) * sizeof(T));
        } else {
            for (int64_t ow = lo; ow < hi; ow++) o[ow] = xr[ow * sw + off];
        }
        for (int64_t ow = hi; ow < Wo; ow++) o[ow] = 0;
    }
}

void MC_NAME(im2col)(const T *x, int64_t C, const mc_geometry *g, T *cols, int64_t ld) {
    const int64_t rows = C * g->kh * g->kw;
    for (int64_t r = 0; r < rows; r++) MC_NAME(im2col_row)(x, r, g, cols + r * ld);
}

/* The adjoint of im2col (serial, as im2col): every tap's column adds into the pixel it read. */
void MC_NAME(col2im)(const T *cols, int64_t ld, int64_t C, const mc_geometry *g, T *x) {
    const int64_t H = g->H, W = g->W, kh = g->kh, kw = g->kw, sh = g->sh, sw = g->sw;
    const int64_t ph = g->ph, pw = g->pw, dh = g->dh, dw = g->dw, Ho = g->Ho, Wo = g->Wo;
    for (int64_t c = 0; c < C; c++) {
        for (int64_t i = 0; i < kh; i++) {
            for (int64_t j = 0; j < kw; j++) {
                const int64_t off = j * dw - pw;
                int64_t lo, hi;
                mc_valid_range(off, sw, W, Wo, &lo, &hi);
                const T *in = cols + ((c * kh + i) * kw + j) * ld;
                for (int64_t oh = 0; oh < Ho; oh++) {
                    const int64_t ih = oh * sh - ph + i * dh;
                    if (ih < 0 || ih >= H) continue;
                    T *xr = x + (c * H + ih) * W;
                    const T *g = in + oh * Wo;
                    for (int64_t ow = lo; ow < hi; ow++) xr[ow * sw + off] += g[ow];
                }
            }
        }
    }
}

/* Depthwise convolution, directly: output channel k = c * M + m reads input channel c only.
 * Each (image, output channel) plane is accumulated tap by tap over its valid output range, an
 * inner loop over ow that vectorizes when the stride is 1. Parallel over planes. */
/* Stride 1 takes a faster path. Each input plane is copied into a zero-padded plane xp of width
 * Wp = W + 2 pw (in the thread's slice of ws). Output position (oh, ow) then sits at index
 * oh * Wp + ow of a "wide" output row-major in Wp, and tap (i, j) adds w[i, j] times xp shifted by
 * i dh Wp + j dw. Each tap is one long vectorizable loop over Ho * Wp elements instead of Ho
 * short ones. The wide output is cropped to Wo columns at the end. xp has (kw - 1) dw zeros of
 * slack at the end, because the last wide row reads past the padded plane. */
MC_INLINE void MC_NAME(pad_plane)(const T *x, int64_t H, int64_t W, int64_t ph, int64_t pw,
                                  int64_t Wp, int64_t size, T *xp) {
    /* plain loops, not memset/memcpy: the rows are short (a call per row cost more than the copy)
     */
    for (int64_t t = 0; t < size; t++) xp[t] = 0;
    for (int64_t h = 0; h < H; h++) {
        T *dst = xp + (h + ph) * Wp + pw;
        const T *src = x + h * W;
        for (int64_t v = 0; v < W; v++) dst[v] = src[v];
    }
}

/* dst (rows x cols, row stride ld_dst) = src (row stride ld_src), for short rows. */
MC_INLINE void MC_NAME(copy_rows)(const T *src, int64_t ld_src, T *dst, int64_t ld_dst,
                                  int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t v = 0; v < cols; v++) dst[r * ld_dst + v] = src[r * ld_src + v];
}

/* The loop over the wide output below for the common 3x3 kernel (dilation 1): with constant
 * taps the compiler unrolls them and keeps the nine broadcast weights in registers for the
 * whole plane, instead of a broadcast, a loop step and a weight load per tap and vector pair
 * (MobileNetV2's depthwise layers ran about 1.6x PyTorch channels_last's time). Same sums in
 * the same order as the general loop. */
MC_INLINE void MC_NAME(depthwise_wide_3x3)(const T *xp, int64_t Wp, int64_t span, const T *wk,
                                           T *acc) {
    VT wv[9];
    for (int q = 0; q < 9; q++) wv[q] = (VT){0} + wk[q];
    for (int64_t t = 0; t < span; t += 2 * VL) {
        VT a0 = (VT){0}, a1 = (VT){0};
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                const T *src = xp + i * Wp + j + t;
                a0 += wv[i * 3 + j] * MC_NAME(vload)(src);
                a1 += wv[i * 3 + j] * MC_NAME(vload)(src + VL);
            }
        MC_NAME(vstore)(acc + t, a0);
        MC_NAME(vstore)(acc + t + VL, a1);
    }
}

MC_CLONES void MC_NAME(depthwise_conv2d)(const T *x, const T *w, T *y, const mc_geometry *g,
                                         T *ws) {
    MC_ROUTE_VOID(depthwise_conv2d, x, w, y, g, ws);
    const int64_t N = g->N, C = g->C, H = g->H, W = g->W, M = g->K / g->C, kh = g->kh, kw = g->kw;
    const int64_t sh = g->sh, sw = g->sw, ph = g->ph, pw = g->pw, dh = g->dh, dw = g->dw;
    const int64_t Ho = g->Ho, Wo = g->Wo;
    const int64_t K = C * M, planes = N * K;
    if (mc_depthwise_interleaved(g)) {
        /* 3x3 stride 1 on small planes: VL planes at a time, interleaved into one zero-padded
         * tile of Hp x Wp pixels of VL lanes (plane by plane), so that each output pixel of the
         * VL planes is one vector: nine multiply-adds of whole vectors, the sums in the order of
         * the wide path below; then the pixels' lanes are dealt back to their planes. (Per plane,
         * a 4x4 output is one short wide row, where loop and copy overheads dominate: paired, 960
         * channels at 4x4 0.72-0.79 of the time, 2x2 0.45-0.54; from 8x8 on the scalar dealing
         * costs more, 1.7-1.9.) */
        const int64_t Hp = H + 2 * ph, Wp = W + 2 * pw, blocks = (planes + VL - 1) / VL;
#ifdef _OPENMP
#pragma omp parallel for if (planes * Ho * Wo * 9 >= MC_PARALLEL_MIN)                              \
    num_threads(mc_get_num_threads())
#endif
        for (int64_t b = 0; b < blocks; b++) {
            T *xt = ws + (int64_t)mc_thread_id() * (Hp * Wp + Ho * Wo) * VL,
              *yt = xt + Hp * Wp * VL;
            const int64_t p0 = b * VL, lanes = planes - p0 < VL ? planes - p0 : VL;
            VT wv[9];
            for (int64_t q = 0; q < Hp * Wp; q++) MC_NAME(vstore)(xt + q * VL, (VT){0});
            for (int64_t l = 0; l < VL; l++) {
                const int64_t p = p0 + (l < lanes ? l : 0), n = p / K, k = p % K;
                const T *xc = x + (n * C + k / M) * H * W;
                for (int q = 0; q < 9; q++) wv[q][l] = l < lanes ? w[k * 9 + q] : 0;
                for (int64_t h = 0; h < H; h++)
                    for (int64_t v = 0; v < W; v++)
                        xt[((h + ph) * Wp + v + pw) * VL + l] = l < lanes ? xc[h * W + v] : 0;
            }
            for (int64_t oh = 0; oh < Ho; oh++)
                for (int64_t ow = 0; ow < Wo; ow++) {
                    VT a = (VT){0};
                    for (int i = 0; i < 3; i++)
                        for (int j = 0; j < 3; j++)
                            a += wv[i * 3 + j] * MC_NAME(vload)(xt + ((oh + i) * Wp + ow + j) * VL);
                    MC_NAME(vstore)(yt + (oh * Wo + ow) * VL, a);
                }
            for (int64_t l = 0; l < lanes; l++) {
                T *yp = y + (p0 + l) * Ho * Wo;
                for (int64_t q = 0; q < Ho * Wo; q++) yp[q] = yt[q * VL + l];
            }
        }
        return;
    }
    if (sh == 1 && sw == 1) {
        const int64_t Wp = W + 2 * pw, span = Ho * Wp;
        const int64_t xsize = (H + 2 * ph) * Wp + (kw - 1) * dw;
#ifdef _OPENMP
#pragma omp parallel for if (planes * Ho * Wo * kh * kw >= MC_PARALLEL_MIN)                        \
    num_threads(mc_get_num_threads())
#endif
        for (int64_t p = 0; p < planes; p++) {
            const int64_t n = p / K, k = p % K, c = k / M;
            T *xp = ws + (int64_t)mc_thread_id() * (xsize + span + MC_DW_SLACK), *acc = xp + xsize;
            const T *wk = w + k * kh * kw;
            MC_NAME(pad_plane)(x + (n * C + c) * H * W, H, W, ph, pw, Wp, xsize, xp);
            /* two vectors of the wide output at a time, kept in registers over all the taps (an
             * accumulator in memory cost a load and a store per tap); the last pair may run
             * past span into the slack, whose lanes are dropped */
            if (kh == 3 && kw == 3 && dh == 1 && dw == 1)
                MC_NAME(depthwise_wide_3x3)(xp, Wp, span, wk, acc);
            else
                for (int64_t t = 0; t < span; t += 2 * VL) {
                    VT a0 = (VT){0}, a1 = (VT){0};
                    for (int64_t i = 0; i < kh; i++)
                        for (int64_t j = 0; j < kw; j++) {
                            const T wv = wk[i * kw + j], *src = xp + i * dh * Wp + j * dw + t;
                            a0 += wv * MC_NAME(vload)(src);
                            a1 += wv * MC_NAME(vload)(src + VL);
                        }
                    MC_NAME(vstore)(acc + t, a0);
                    MC_NAME(vstore)(acc + t + VL, a1);
                }
            T *yp = y + p * Ho * Wo;
            MC_NAME(copy_rows)(acc, Wp, yp, Wo, Ho, Wo);
        }
        return;
    }
    if (sh == 2 && sw == 2 && kh == 3 && kw == 3 && dh == 1 && dw == 1) {
        /* 3x3 stride 2 (MobileNet's downsampling): the plane zero-padded once, then each
         * output's nine taps unrolled, with no range checks (the loop below checks each tap's
         * valid range per row, which costs more than the taps on small maps) */
        const int64_t Wp = W + 2 * pw, xsize = (H + 2 * ph) * Wp + (kw - 1) * dw;
#ifdef _OPENMP
#pragma omp parallel for if (planes * Ho * Wo * 9 >= MC_PARALLEL_MIN)                              \
    num_threads(mc_get_num_threads())
#endif
        for (int64_t p = 0; p < planes; p++) {
            const int64_t n = p / K, k = p % K, c = k / M;
            T *xp = ws + (int64_t)mc_thread_id() * (xsize + Ho * Wp + MC_DW_SLACK);
            const T *wk = w + k * 9;
            MC_NAME(pad_plane)(x + (n * C + c) * H * W, H, W, ph, pw, Wp, xsize, xp);
            T *yp = y + p * Ho * Wo;
            for (int64_t oh = 0; oh < Ho; oh++) {
                const T *r0 = xp + 2 * oh * Wp, *r1 = r0 + Wp, *r2 = r1 + Wp;
                for (int64_t ow = 0; ow < Wo; ow++) {
                    const int64_t u = 2 * ow;
                    T a = wk[0] * r0[u]; /* the taps in the order of the loop below */
                    a += wk[1] * r0[u + 1];
                    a += wk[2] * r0[u + 2];
                    a += wk[3] * r1[u];
                    a += wk[4] * r1[u + 1];
                    a += wk[5] * r1[u + 2];
                    a += wk[6] * r2[u];
                    a += wk[7] * r2[u + 1];
                    a += wk[8] * r2[u + 2];
                    yp[oh * Wo + ow] = a;
                }
            }
        }
        return;
    }
#ifdef _OPENMP
#pragma omp parallel for if (planes * Ho * Wo * kh * kw >= MC_PARALLEL_MIN)                        \
    num_threads(mc_get_num_threads())
#endif
    for (int64_t p = 0; p < planes; p++) {
        const int64_t n = p / K, k = p % K, c = k / M;
        const T *xc = x + (n * C + c) * H * W;
        const T *wk = w + k * kh * kw;
        T *yp = y + p * Ho * Wo;
        memset(yp, 0, (size_t)(Ho * Wo) * sizeof(T));
        for (int64_t i = 0; i < kh; i++) {
            for (int64_t j = 0; j < kw; j++) {
                const T wv = wk[i * kw + j];
                const int64_t off = j * dw - pw;
                int64_t lo, hi;
                mc_valid_range(off, sw, W, Wo, &lo, &hi);
                for (int64_t oh = 0; oh < Ho; oh++) {
                    const int64_t ih = oh * sh - ph + i * dh;
                    if (ih < 0 || ih >= H) continue;
                    const T *xr = xc + ih * W;
                    T *yr = yp + oh * Wo;
                    for (int64_t ow = lo; ow < hi; ow++) yr[ow] += wv * xr[ow * sw + off];
                }
            }
        }
    }
}

/* ---- direct 3x3 convolution, stride 1, padding 1, dilation 1, one group, for up to 64 channels
 * where Winograd is not taken (ResNet-20's 16-channel stage, first layers on 1-3 channels:
 * im2col + GEMM there has few output rows or a shallow depth and spends its time writing and
 * reading a column matrix 9 times the input's size; Winograd's transforms cost more than they
 * save at 16 channels). Per (image, block of MC_DK output channels): the image's C
 * planes zero-padded to (H + 2) x Wp, Wp = W + 2, in the thread's buffer; the outputs computed
 * "wide" (row stride Wp, as the depthwise kernel) two vectors at a time, each input vector
 * loaded once for the block's MC_DK output channels (2 * MC_DK accumulators in registers); the
 * wide rows cropped into y. The input gradient is this convolution of grad_output with the
 * flipped, transposed weight (the caller makes it). ws: mc_direct3x3_workspace elements. */
#define MC_DK 4

MC_INLINE void MC_NAME(direct3x3_block)(const T *xp, int64_t C, int64_t plane, int64_t Wp,
                                        int64_t span, const T *w, int64_t kb, T *wide) {
    for (int64_t t = 0; t < span; t += 2 * VL) {
        VT a[MC_DK][2];
        for (int q = 0; q < MC_DK; q++) a[q][0] = a[q][1] = (VT){0};
        for (int64_t c = 0; c < C; c++)
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) {
                    const T *src = xp + c * plane + i * Wp + j + t;
                    const VT x0 = MC_NAME(vload)(src), x1 = MC_NAME(vload)(src + VL);
                    for (int q = 0; q < MC_DK; q++) {
                        if (q >= kb) break;
                        const T wv = w[(q * C + c) * 9 + i * 3 + j];
                        a[q][0] += wv * x0;
                        a[q][1] += wv * x1;
                    }
                }
        for (int q = 0; q < MC_DK && q < kb; q++) {
            MC_NAME(vstore)(wide + q * (span + 2 * VL) + t, a[q][0]);
            MC_NAME(vstore)(wide + q * (span + 2 * VL) + t + VL, a[q][1]);
        }
    }
}

MC_CLONES void MC_NAME(direct3x3_conv2d)(const T *x, const T *w, T *y, const mc_geometry *g,
                                         T *ws) {
    MC_ROUTE_VOID(direct3x3_conv2d, x, w, y, g, ws);
    const int64_t N = g->N, C = g->C, H = g->H, W = g->W, K = g->K;
    const int64_t Wp = W + 2, plane = (H + 2) * Wp, span = H * Wp;
    const int64_t per = mc_direct3x3_workspace_per_thread(C, H, W, VL);
    const int64_t blocks = (K + MC_DK - 1) / MC_DK, items = N * blocks;
#ifdef _OPENMP
#pragma omp parallel num_threads(mc_get_num_threads()) if (N * K * H * W * C * 9 >=                \
                                                               mc_parallel_min_macs())
#endif
    {
        T *xp = ws + (int64_t)mc_thread_id() * per, *wide = xp + C * plane + 2 * VL + 2;
        int64_t padded = -1; /* the image now in xp */
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (int64_t item = 0; item < items; item++) {
            const int64_t n = item / blocks, k0 = item % blocks * MC_DK;
            const int64_t kb = K - k0 < MC_DK ? K - k0 : MC_DK;
            if (padded != n) {
                for (int64_t c = 0; c < C; c++)
                    MC_NAME(pad_plane)(x + (n * C + c) * H * W, H, W, 1, 1, Wp, plane,
                                       xp + c * plane);
                for (int64_t t = C * plane; t < C * plane + 2 * VL + 2; t++) xp[t] = 0;
                padded = n;
            }
            MC_NAME(direct3x3_block)(xp, C, plane, Wp, span, w + k0 * C * 9, kb, wide);
            for (int64_t q = 0; q < kb; q++)
                MC_NAME(copy_rows)(wide + q * (span + 2 * VL), Wp, y + (n * K + k0 + q) * H * W, W,
                                   H, W);
        }
    }
}

/* grad_input: each thread owns whole input planes (n, c) and gathers from the M output channels
 * of c, so the scatter-add has no races. */
/* Stride 1, as the forward in reverse: the wide gradient row (gy with zero columns up to Wp) is
 * added, shifted per tap, into a padded gradient plane, whose interior is gx. */
MC_CLONES void MC_NAME(depthwise_conv2d_backward_input)(const T *gy, const T *w, T *gx,
                                                        const mc_geometry *g, T *ws) {
    MC_ROUTE_VOID(depthwise_conv2d_backward_input, gy, w, gx, g, ws);
    const int64_t N = g->N, C = g->C, H = g->H, W = g->W, M = g->K / g->C, kh = g->kh, kw = g->kw;
    const int64_t sh = g->sh, sw = g->sw, ph = g->ph, pw = g->pw, dh = g->dh, dw = g->dw;
    const int64_t Ho = g->Ho, Wo = g->Wo;
    const int64_t K = C * M, planes = N * C;
    if (sh == 1 && sw == 1) {
        const int64_t Wp = W + 2 * pw, span = Ho * Wp;
        const int64_t xsize = (H + 2 * ph) * Wp + (kw - 1) * dw;
#ifdef _OPENMP
#pragma omp parallel for if (N * K * Ho * Wo * kh * kw >= MC_PARALLEL_MIN)                         \
    num_threads(mc_get_num_threads())
#endif
        for (int64_t p = 0; p < planes; p++) {
            const int64_t n = p / C, c = p % C;
            T *gxp = ws + (int64_t)mc_thread_id() * (xsize + span + MC_DW_SLACK),
              *gyw = gxp + xsize;
            if (M == 1 && kh == 3 && kw == 3 && dh == 1 && dw == 1 && ph == 1 && pw == 1) {
                /* 3x3 "same": gx is the forward's correlation of gy (padded by 1) with the
                 * flipped kernel, a gather that keeps its sums in registers, where the loop
                 * below adds each tap into the plane in memory (Ho = H, Wo = W here, so the
                 * buffers have the forward's sizes) */
                const T *wk = w + c * 9;
                T flipped[9];
                for (int q = 0; q < 9; q++) flipped[q] = wk[8 - q];
                MC_NAME(pad_plane)(gy + p * Ho * Wo, Ho, Wo, 1, 1, Wp, xsize, gxp);
                MC_NAME(depthwise_wide_3x3)(gxp, Wp, span, flipped, gyw);
                MC_NAME(copy_rows)(gyw, Wp, gx + p * H * W, W, H, W);
                continue;
            }
            for (int64_t t = 0; t < xsize; t++) gxp[t] = 0;
            for (int64_t t = 0; t < span; t++) gyw[t] = 0;
            for (int64_t m = 0; m < M; m++) {
                const int64_t k = c * M + m;
                const T *gyp = gy + (n * K + k) * Ho * Wo;
                const T *wk = w + k * kh * kw;
                MC_NAME(copy_rows)(gyp, Wo, gyw, Wp, Ho, Wo);
                for (int64_t i = 0; i < kh; i++) {
                    for (int64_t j = 0; j < kw; j++) {
                        const T wv = wk[i * kw + j];
                        T *dst = gxp + i * dh * Wp + j * dw;
                        for (int64_t t = 0; t < span; t++) dst[t] += wv * gyw[t];
                    }
                }
            }
            T *gxc = gx + p * H * W;
            MC_NAME(copy_rows)(gxp + ph * Wp + pw, Wp, gxc, W, H, W);
        }
        return;
    }
#ifdef _OPENMP
#pragma omp parallel for if (N * K * Ho * Wo * kh * kw >= MC_PARALLEL_MIN)                         \
    num_threads(mc_get_num_threads())
#endif
    for (int64_t p = 0; p < planes; p++) {
        const int64_t n = p / C, c = p % C;
        T *gxp = gx + p * H * W;
        memset(gxp, 0, (size_t)(H * W) * sizeof(T));
        for (int64_t m = 0; m < M; m++) {
            const int64_t k = c * M + m;
            const T *gyp = gy + (n * K + k) * Ho * Wo;
            const T *wk = w + k * kh * kw;
            for (int64_t i = 0; i < kh; i++) {
                for (int64_t j = 0; j < kw; j++) {
                    const T wv = wk[i * kw + j];
                    const int64_t off = j * dw - pw;
                    int64_t lo, hi;
                    mc_valid_range(off, sw, W, Wo, &lo, &hi);
                    for (int64_t oh = 0; oh < Ho; oh++) {
                        const int64_t ih = oh * sh - ph + i * dh;
                        if (ih < 0 || ih >= H) continue;
                        T *xr = gxp + ih * W;
                        const T *g = gyp + oh * Wo;
                        for (int64_t ow = lo; ow < hi; ow++) xr[ow * sw + off] += wv * g[ow];
                    }
                }
            }
        }
    }
}

/* The nine dot products of the weight gradient's loop below for a 3x3 kernel (dilation 1) in
 * one pass: each vector of the wide gradient row is loaded once for all nine taps (nine
 * accumulators in registers), where the loop reads it nine times, once per tap. Adds one
 * image's sums (in T) to gk[0..8]. */
MC_INLINE void MC_NAME(depthwise_wgrad_3x3)(const T *xp, const T *gyw, int64_t Wp, int64_t span,
                                            T *gk) {
    VT a[9];
    for (int q = 0; q < 9; q++) a[q] = (VT){0};
    int64_t t = 0;
    for (; t + VL <= span; t += VL) {
        const VT g = MC_NAME(vload)(gyw + t);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) a[i * 3 + j] += g * MC_NAME(vload)(xp + i * Wp + j + t);
    }
    for (int q = 0; q < 9; q++) {
        T sum = 0;
        for (int64_t l = 0; l < VL; l++) sum += a[q][l];
        for (int64_t u = t; u < span; u++) sum += gyw[u] * xp[q / 3 * Wp + q % 3 + u];
        gk[q] += sum;
    }
}

/* grad_weight: one thread per output channel k sums over the batch (double accumulators). */
/* Stride 1: per image, tap (i, j) is one dot product of the wide gradient row with the padded
 * input plane shifted by i dh Wp + j dw (the wide row's extra columns are zero). */
MC_CLONES void MC_NAME(depthwise_conv2d_backward_weight)(const T *gy, const T *x, T *gw,
                                                         const mc_geometry *g, T *ws) {
    MC_ROUTE_VOID(depthwise_conv2d_backward_weight, gy, x, gw, g, ws);
    const int64_t N = g->N, C = g->C, H = g->H, W = g->W, M = g->K / g->C, kh = g->kh, kw = g->kw;
    const int64_t sh = g->sh, sw = g->sw, ph = g->ph, pw = g->pw, dh = g->dh, dw = g->dw;
    const int64_t Ho = g->Ho, Wo = g->Wo;
    const int64_t K = C * M;
    if (sh == 1 && sw == 1) {
        const int64_t Wp = W + 2 * pw, span = Ho * Wp;
        const int64_t xsize = (H + 2 * ph) * Wp + (kw - 1) * dw;
#ifdef _OPENMP
#pragma omp parallel for if (N * K * Ho * Wo * kh * kw >= MC_PARALLEL_MIN)                         \
    num_threads(mc_get_num_threads())
#endif
        for (int64_t k = 0; k < K; k++) {
            const int64_t c = k / M;
            T *xp = ws + (int64_t)mc_thread_id() * (xsize + span + MC_DW_SLACK), *gyw = xp + xsize;
            T *gk = gw + k * kh * kw;
            for (int64_t t = 0; t < kh * kw; t++) gk[t] = 0;
            for (int64_t t = 0; t < span; t++) gyw[t] = 0;
            for (int64_t n = 0; n < N; n++) {
                MC_NAME(pad_plane)(x + (n * C + c) * H * W, H, W, ph, pw, Wp, xsize, xp);
                const T *gyp = gy + (n * K + k) * Ho * Wo;
                MC_NAME(copy_rows)(gyp, Wo, gyw, Wp, Ho, Wo);
                if (kh == 3 && kw == 3 && dh == 1 && dw == 1) {
                    MC_NAME(depthwise_wgrad_3x3)(xp, gyw, Wp, span, gk);
                    continue;
                }
                for (int64_t i = 0; i < kh; i++) {
                    for (int64_t j = 0; j < kw; j++) {
                        const T *src = xp + i * dh * Wp + j * dw;
                        T acc = 0; /* one image's dot product (Ho * Wp terms) in T, vectorized */
#ifdef _OPENMP
#pragma omp simd reduction(+ : acc)
#endif
                        for (int64_t t = 0; t < span; t++) acc += gyw[t] * src[t];
                        gk[i * kw + j] += acc;
                    }
                }
            }
        }
        return;
    }
#ifdef _OPENMP
#pragma omp parallel for if (N * K * Ho * Wo * kh * kw >= MC_PARALLEL_MIN)                         \
    num_threads(mc_get_num_threads())
#endif
    for (int64_t k = 0; k < K; k++) {
        const int64_t c = k / M;
        for (int64_t i = 0; i < kh; i++) {
            for (int64_t j = 0; j < kw; j++) {
                const int64_t off = j * dw - pw;
                int64_t lo, hi;
                mc_valid_range(off, sw, W, Wo, &lo, &hi);
                double acc = 0.0;
                for (int64_t n = 0; n < N; n++) {
                    const T *xc = x + (n * C + c) * H * W;
                    const T *gyp = gy + (n * K + k) * Ho * Wo;
                    for (int64_t oh = 0; oh < Ho; oh++) {
                        const int64_t ih = oh * sh - ph + i * dh;
                        if (ih < 0 || ih >= H) continue;
                        const T *xr = xc + ih * W;
                        const T *g = gyp + oh * Wo;
#ifdef _OPENMP
#pragma omp simd reduction(+ : acc)
#endif
                        for (int64_t ow = lo; ow < hi; ow++)
                            acc += (double)g[ow] * xr[ow * sw + off];
                    }
                }
                gw[(k * kh + i) * kw + j] = (T)acc;
            }
        }
    }
}

/* ---- im2col + GEMM convolution, any geometry and groups (the paths Winograd and depthwise do
 * not take). The threads take chunks of B images (B * Ho * Wo >= MC_GEMM_COLUMNS columns, so that
 * small late-stage images still fill the micro-kernel's 64-column panels); each runs im2col of
 * its chunk into its own column matrix (images side by side; the forward's packed in the GEMM's
 * panels) and the GEMMs, so the threads never wait on each other inside a call. A 1x1 stride-1
 * unpadded convolution with B = 1 may skip im2col: the image already is its column matrix (the
 * input gradient always, the forward for few output channels, see in_place_1x1).
 * ws: mc_conv2d_gemm_workspace(...) elements. */

#define MC_GEMM_COLUMNS 256
#define MC_SLAB 256 /* pixels of depth per weight-gradient GEMM: bounds the scratch */
#define MC_TT 16    /* side of the tiles of the weight gradient's final transpose */
#define MC_PARTS                                                                                   \
    8 /* image ranges of the weight gradient, at most (thread-count independent sums) */

MC_INLINE int MC_NAME(pointwise)(const mc_geometry *g) {
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

/* Images per column matrix for S = Ho * Wo output pixels. */
MC_INLINE int64_t MC_NAME(chunk)(int64_t S, int64_t N) {
    int64_t b = S >= MC_GEMM_COLUMNS ? 1 : (MC_GEMM_COLUMNS + S - 1) / S;
    return b < N ? b : (N > 0 ? N : 1);
}

/* Elements of a matrix of rows x L packed in panels (at most 4 vectors wide), and the row buffer
 * after it (see deal_row), which panel_rowbuf finds. */
MC_INLINE int64_t MC_NAME(panel_cols)(int64_t rows, int64_t L) {
    return rows * (L + 4 * VL) + L + 4 * VL;
}

MC_INLINE T *MC_NAME(panel_rowbuf)(T *panels, int64_t rows, int64_t L) {
    return panels + rows * (L + 4 * VL);
}

/* Whether the forward of a 1x1 stride-1 unpadded convolution (point) with chunks of B images reads
 * each image in place as its column matrix. With B = 1 it could, but rows S = Ho * Wo apart (1 KiB,
 * 4 KiB at 16x16, 32x32 pixels) share few cache sets: the packed copy pays where each column is
 * used by many output channels (measured at batch 128: 16 -> 96 at 32x32 0.58 of the time, 24 ->
 * 144 0.74, 64 -> 128 at 16x16 0.86) and not for a few (192 -> 32: 1.25, 144 -> 24: 1.07). */
MC_INLINE int MC_NAME(in_place_1x1)(int point, int64_t B, int64_t Kg) {
    return point && B == 1 && Kg < 64;
}

/* Whether the input gradient packs the output gradient in the GEMM's panels: always for chunks of
 * images (it copies them side by side anyway), and for one image where each column feeds many
 * rows (as in_place_1x1; paired, batch 1 or 32: 3x3 0.80-0.98 of the time, 1x1 96 -> 24 and
 * 144 -> 24 at 32x32 0.59-0.93, 64 -> 128 at 16x16, 64 rows, 1.11). */
MC_INLINE int MC_NAME(pack_grad)(int64_t B, int64_t rows) { return B > 1 || rows >= 96; }

/* Workspace per thread for pass 0 (forward), 1 (input gradient), 2 (weight gradient): the column
 * matrix (rows x L, L = B * S; none for a 1x1 convolution with B = 1), the output or output
 * gradient of a chunk side by side (Kg x L, when B > 1), the GEMM scratch for the pass's depth,
 * and for pass 2 a slab of the transposed output gradient (MC_SLAB x Kgp, in panels). */
MC_INLINE int64_t MC_NAME(gemm_ws_per_thread)(int pass, int64_t N, int64_t C, int64_t K, int64_t kh,
                                              int64_t kw, int64_t groups, int64_t S, int point) {
    const int64_t rows = C / groups * kh * kw, Kg = K / groups, Kgp = (Kg + VL - 1) / VL * VL;
    const int64_t B = MC_NAME(chunk)(S, N), L = B * S;
    const int64_t cols = point && B == 1 ? 0 : rows * L, side = B > 1 ? Kg * L : 0;
    if (pass == 0)
        return (MC_NAME(in_place_1x1)(point, B, Kg) ? 0 : MC_NAME(panel_cols)(rows, L)) + side +
               MC_GEMM_SCRATCH(rows);
    if (pass == 1)
        return cols + (MC_NAME(pack_grad)(B, rows) ? MC_NAME(panel_cols)(Kg, L) : 0) +
               MC_GEMM_SCRATCH(Kg);
    return cols + MC_SLAB * (Kgp + 4 * VL) + MC_GEMM_SCRATCH(MC_SLAB);
}

/* The weight gradient of one image (see one_image_backward_weight): its transposed column matrix
 * in panels, and each thread's row buffer (S) and GEMM scratch for a depth of S pixels. */
MC_INLINE int64_t MC_NAME(one_image_wgrad_ws)(const mc_geometry *g) {
    const int64_t rows = g->C / g->groups * g->kh * g->kw, S = g->Ho * g->Wo;
    return (rows + 4 * VL) * S + (int64_t)mc_get_num_threads() * (MC_GEMM_SCRATCH(S) + S);
}

int64_t MC_NAME(conv2d_gemm_workspace)(int pass, const mc_geometry *g) {
    MC_ROUTE(conv2d_gemm_workspace, pass, g);
    const int64_t N = g->N, C = g->C, K = g->K, kh = g->kh, kw = g->kw, groups = g->groups;
    const int64_t Kg = K / groups, Kgp = (Kg + VL - 1) / VL * VL;
    if (pass == 2 && N == 1) return MC_NAME(one_image_wgrad_ws)(g);
    return (int64_t)mc_get_num_threads() * MC_NAME(gemm_ws_per_thread)(pass, N, C, K, kh, kw,
                                                                       groups, g->Ho * g->Wo,
                                                                       MC_NAME(pointwise)(g)) +
           (pass == 2 ? (N < MC_PARTS ? (N > 0 ? N : 1) : MC_PARTS) * C * kh * kw * Kgp : 0);
}

#ifdef _OPENMP
#define MC_OVER_CHUNKS _Pragma("omp for schedule(dynamic, 1)")
#define MC_BARRIER(nt)                                                                             \
    if ((nt) > 1) {                                                                                \
        _Pragma("omp barrier")                                                                     \
    }
#else
#define MC_OVER_CHUNKS
#define MC_BARRIER(nt)
#endif

/* Row r (L values in rowbuf, which has NR elements of slack) of a matrix of `rows` rows packed in
 * panels of NR columns (see gemm): zero-padded to whole panels, dealt out NR at a time. */
MC_INLINE void MC_NAME(deal_row)(T *rowbuf, int64_t L, int64_t NR, int64_t rows, int64_t r,
                                 T *panels) {
    const int64_t np = (L + NR - 1) / NR, nv = NR / VL;
    for (int64_t j = L; j < np * NR; j++) rowbuf[j] = 0;
    for (int64_t p = 0; p < np; p++)
        for (int64_t v = 0; v < nv; v++)
            MC_NAME(vstore)(panels + (p * rows + r) * NR + v * VL,
                            MC_NAME(vload)(rowbuf + p * NR + v * VL));
}

/* Rows r0 .. r1 - 1 of the forward's column matrix of images n0 .. n0 + nb - 1, group grp, side
 * by side (L = nb * S columns), packed in panels of NR columns for gemm (see there): each row is
 * built in rowbuf (L + NR elements), zero-padded to whole panels and dealt out NR at a time. */
MC_INLINE void MC_NAME(chunk_im2col_panels)(const T *x, int64_t n0, int64_t nb, int64_t grp,
                                            int64_t Cg, const mc_geometry *g, T *cols, int64_t NR,
                                            int64_t r0, int64_t r1, T *rowbuf) {
    const int64_t S = g->Ho * g->Wo, L = nb * S, rows = Cg * g->kh * g->kw;
    for (int64_t r = r0; r < r1; r++) {
        for (int64_t i = 0; i < nb; i++)
            MC_NAME(im2col_row)(x + ((n0 + i) * g->C + grp * Cg) * g->H * g->W, r, g,
                                rowbuf + i * S);
        MC_NAME(deal_row)(rowbuf, L, NR, rows, r, cols);
    }
}

/* The column matrix of images n0 .. n0 + nb - 1, group grp, side by side (row stride L). */
MC_INLINE void MC_NAME(chunk_im2col)(const T *x, int64_t n0, int64_t nb, int64_t grp, int64_t Cg,
                                     const mc_geometry *g, T *cols, int64_t L) {
    for (int64_t i = 0; i < nb; i++)
        MC_NAME(im2col)(x + ((n0 + i) * g->C + grp * Cg) * g->H * g->W, Cg, g,
                        cols + i * g->Ho * g->Wo, L);
}

MC_CLONES void MC_NAME(conv2d_gemm)(const T *x, const T *w, T *y, const mc_geometry *g, T *ws) {
    MC_ROUTE_VOID(conv2d_gemm, x, w, y, g, ws);
    const int64_t N = g->N, C = g->C, H = g->H, W = g->W, K = g->K, kh = g->kh, kw = g->kw;
    const int64_t groups = g->groups, Ho = g->Ho, Wo = g->Wo;
    const int64_t Cg = C / groups, Kg = K / groups, rows = Cg * kh * kw, S = Ho * Wo;
    const int point = MC_NAME(pointwise)(g);
    const int64_t B = MC_NAME(chunk)(S, N), L = B * S, chunks = (N + B - 1) / B;
    const int direct = MC_NAME(in_place_1x1)(point, B, Kg);
    const int64_t per = MC_NAME(gemm_ws_per_thread)(0, N, C, K, kh, kw, groups, S, point);
    const int64_t scr_at = (direct ? 0 : MC_NAME(panel_cols)(rows, L)) + (B > 1 ? Kg * L : 0);
    const int few = chunks < mc_get_num_threads();
#ifdef _OPENMP
#pragma omp parallel num_threads(mc_get_num_threads()) if (!few)
#endif
    {
        /* a batch of at least one chunk per thread: chunks split among the threads; a smaller
         * one: chunk after chunk on thread 0, each GEMM split among the threads */
        T *cols = ws + (few ? 0 : mc_thread_id() * per);
        T *side = cols + (direct ? 0 : MC_NAME(panel_cols)(rows, L));
        MC_OVER_CHUNKS
        for (int64_t c = 0; c < chunks; c++) {
            const int64_t n0 = c * B, nb = N - n0 < B ? N - n0 : B;
            for (int64_t grp = 0; grp < groups; grp++) {
                const T *xg = x + (n0 * C + grp * Cg) * H * W;
                const int64_t NR = direct ? 0 : MC_NAME(gemm_panel)(Kg, nb * S);
                T *yg = y + (n0 * K + grp * Kg) * S;
                const int nt = few ? MC_NAME(gemm_threads)(Kg, nb * S, rows) : 1;
                MC_GEMM_PARALLEL(nt) {
                    /* a shared GEMM's threads build the column matrix together, row ranges */
                    const int t = mc_thread_id();
                    T *own = few ? ws + t * per : cols;
                    if (!direct)
                        MC_NAME(chunk_im2col_panels)(x, n0, nb, grp, Cg, g, cols, NR, rows * t / nt,
                                                     rows * (t + 1) / nt,
                                                     MC_NAME(panel_rowbuf)(own, rows, L));
                    MC_BARRIER(nt);
                    MC_NAME(gemm_share)(t, nt, Kg, nb * S, rows, w + grp * Kg * rows, rows, 1,
                                        direct ? xg : cols, S, NR, B > 1 ? side : yg, B > 1 ? L : S,
                                        0, own + scr_at);
                }
                if (B > 1) /* the chunk's outputs, side by side, back to their images */
                    for (int64_t k = 0; k < Kg; k++)
                        for (int64_t i = 0; i < nb; i++)
                            memcpy(yg + (i * K + k) * S, side + k * L + i * S,
                                   (size_t)S * sizeof(T));
            }
        }
    }
}

/* grad_input: per chunk and group, columns = W^T @ grad_output, then col2im (the adjoint of
 * im2col) adds them onto each image. */
MC_CLONES void MC_NAME(conv2d_gemm_backward_input)(const T *gy, const T *w, T *gx,
                                                   const mc_geometry *g, T *ws) {
    MC_ROUTE_VOID(conv2d_gemm_backward_input, gy, w, gx, g, ws);
    const int64_t N = g->N, C = g->C, H = g->H, W = g->W, K = g->K, kh = g->kh, kw = g->kw;
    const int64_t groups = g->groups, Ho = g->Ho, Wo = g->Wo;
    const int64_t Cg = C / groups, Kg = K / groups, rows = Cg * kh * kw, S = Ho * Wo;
    const int point = MC_NAME(pointwise)(g);
    const int64_t B = MC_NAME(chunk)(S, N), L = B * S, chunks = (N + B - 1) / B;
    const int direct = point && B == 1, few = chunks < mc_get_num_threads();
    const int pack = MC_NAME(pack_grad)(B, rows);
    const int64_t per = MC_NAME(gemm_ws_per_thread)(1, N, C, K, kh, kw, groups, S, point);
    const int64_t side_at = direct ? 0 : rows * L;
    const int64_t scr_at = side_at + (pack ? MC_NAME(panel_cols)(Kg, L) : 0);
#ifdef _OPENMP
#pragma omp parallel num_threads(mc_get_num_threads()) if (!few)
#endif
    {
        /* threads over chunks, or over each GEMM for a small batch, as in conv2d_gemm */
        T *cols = ws + (few ? 0 : mc_thread_id() * per), *side = cols + side_at;
        MC_OVER_CHUNKS
        for (int64_t c = 0; c < chunks; c++) {
            const int64_t n0 = c * B, nb = N - n0 < B ? N - n0 : B, Lc = nb * S;
            for (int64_t grp = 0; grp < groups; grp++) {
                const T *gyg = gy + (n0 * K + grp * Kg) * S;
                T *gxg = gx + (n0 * C + grp * Cg) * H * W;
                /* W^T: element (r, k) of the group's (Kg, rows) weight is w[k * rows + r] */
                T *out = direct ? gxg : cols;
                const int64_t ldo = direct ? S : L, NR = pack ? MC_NAME(gemm_panel)(rows, Lc) : 0;
                const int nt = few ? MC_NAME(gemm_threads)(rows, Lc, Kg) : 1;
                MC_GEMM_PARALLEL(nt) {
                    const int t = mc_thread_id();
                    T *own = few ? ws + t * per : cols;
                    /* the chunk's output gradients side by side, packed, by all the threads */
                    T *rowbuf = MC_NAME(panel_rowbuf)(own + side_at, Kg, L);
                    for (int64_t k = Kg * t / nt; pack && k < Kg * (t + 1) / nt; k++) {
                        for (int64_t i = 0; i < nb; i++)
                            memcpy(rowbuf + i * S, gyg + (i * K + k) * S, (size_t)S * sizeof(T));
                        MC_NAME(deal_row)(rowbuf, Lc, NR, Kg, k, side);
                    }
                    MC_BARRIER(pack ? nt : 1);
                    MC_NAME(gemm_share)(t, nt, rows, Lc, Kg, w + grp * Kg * rows, 1, rows,
                                        pack ? side : gyg, S, NR, out, ldo, 0, own + scr_at);
                    MC_BARRIER(nt);
                    /* a shared GEMM's threads run col2im together, channel ranges */
                    const int64_t c0 = Cg * t / nt, c1 = Cg * (t + 1) / nt;
                    if (!direct && c1 > c0)
                        for (int64_t i = 0; i < nb; i++) {
                            T *gxi = gxg + i * C * H * W + c0 * H * W;
                            memset(gxi, 0, (size_t)((c1 - c0) * H * W) * sizeof(T));
                            MC_NAME(col2im)(cols + i * S + c0 * kh * kw * L, L, c1 - c0, g, gxi);
                        }
                }
            }
        }
    }
}

/* grad_weight of one image, group by group: gw (Kg, rows) = grad_output (Kg, S) @ columns^T
 * (S, rows) by one GEMM over the whole depth of S pixels, written in place. Its B, columns^T, is
 * built packed in panels of NR columns (see gemm): row r of the column matrix (S values, built
 * in the thread's row buffer, or the input plane itself for a 1x1 convolution) becomes column
 * r % NR of panel r / NR. The threads build panel ranges, then share the GEMM. */
MC_INLINE void MC_NAME(one_image_backward_weight)(const T *gy, const T *x, T *gw,
                                                  const mc_geometry *g, T *ws) {
    const int64_t C = g->C, K = g->K, kh = g->kh, kw = g->kw, groups = g->groups;
    const int64_t Cg = C / groups, Kg = K / groups, rows = Cg * kh * kw, S = g->Ho * g->Wo;
    const int point = MC_NAME(pointwise)(g);
    const int64_t NR = MC_NAME(gemm_panel)(Kg, rows), np = (rows + NR - 1) / NR;
    T *colsT = ws, *own = colsT + (rows + 4 * VL) * S;
    for (int64_t grp = 0; grp < groups; grp++) {
        const T *src = x + grp * Cg * g->H * g->W;
        const int nt = MC_NAME(gemm_threads)(Kg, rows, S);
        MC_GEMM_PARALLEL(nt) {
            const int t = mc_thread_id();
            T *rowbuf = own + t * (MC_GEMM_SCRATCH(S) + S);
            for (int64_t p = np * t / nt; p < np * (t + 1) / nt; p++) {
                T *panel = colsT + p * S * NR;
                for (int64_t j = 0; j < NR; j++) {
                    const int64_t r = p * NR + j;
                    const T *row = rowbuf;
                    if (r >= rows) {
                        for (int64_t q = 0; q < S; q++) panel[q * NR + j] = 0;
                        continue;
                    }
                    if (point)
                        row = src + r * S;
                    else
                        MC_NAME(im2col_row)(src, r, g, rowbuf);
                    for (int64_t q = 0; q < S; q++) panel[q * NR + j] = row[q];
                }
            }
            MC_BARRIER(nt);
            MC_NAME(gemm_share)(t, nt, Kg, rows, S, gy + grp * Kg * S, S, 1, colsT, 0, NR,
                                gw + grp * Kg * rows, rows, 0, rowbuf + S);
        }
    }
}

/* grad_weight (K, Cg * kh * kw) = sum over images of grad_output @ columns^T, computed transposed
 * as columns @ grad_output^T (rows x Kg) so that both GEMM operands are read along rows. The
 * images are cut into min(N, MC_PARTS) fixed ranges, each summed (chunk by chunk) into its own
 * accumulator, and the accumulators are added in a fixed order: the result does not depend on
 * the thread count. */
MC_CLONES void MC_NAME(conv2d_gemm_backward_weight)(const T *gy, const T *x, T *gw,
                                                    const mc_geometry *g, T *ws) {
    MC_ROUTE_VOID(conv2d_gemm_backward_weight, gy, x, gw, g, ws);
    if (g->N == 1) {
        MC_NAME(one_image_backward_weight)(gy, x, gw, g, ws);
        return;
    }
    const int64_t N = g->N, C = g->C, H = g->H, W = g->W, K = g->K, kh = g->kh, kw = g->kw;
    const int64_t groups = g->groups, Ho = g->Ho, Wo = g->Wo;
    const int64_t Cg = C / groups, Kg = K / groups, rows = Cg * kh * kw, S = Ho * Wo;
    const int64_t Kgp = (Kg + VL - 1) / VL * VL, part_size = groups * rows * Kgp;
    const int point = MC_NAME(pointwise)(g);
    const int64_t B = MC_NAME(chunk)(S, N), L = B * S;
    const int direct = point && B == 1;
    const int64_t per = MC_NAME(gemm_ws_per_thread)(2, N, C, K, kh, kw, groups, S, point);
    T *parts = ws + (int64_t)mc_get_num_threads() * per;
    const int P = N < MC_PARTS ? (N > 0 ? (int)N : 1) : MC_PARTS;
    const int few = N < mc_get_num_threads(); /* a small batch: GEMMs shared, not image ranges */
    const int64_t scr_at = (direct ? 0 : rows * L) + MC_SLAB * (Kgp + 4 * VL);
#ifdef _OPENMP
#pragma omp parallel num_threads(mc_get_num_threads()) if (!few)
#endif
    {
        T *cols = ws + (few ? 0 : mc_thread_id() * per), *gyT = cols + (direct ? 0 : rows * L);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (int part = 0; part < P; part++) {
            T *acc = parts + part * part_size;
            memset(acc, 0, (size_t)part_size * sizeof(T));
            const int64_t end = N * (part + 1) / P;
            for (int64_t n0 = N * part / P; n0 < end; n0 += B) {
                const int64_t nb = end - n0 < B ? end - n0 : B, np_all = nb * S;
                for (int64_t grp = 0; grp < groups; grp++) {
                    const T *src = x + (n0 * C + grp * Cg) * H * W;
                    if (!direct) MC_NAME(chunk_im2col)(x, n0, nb, grp, Cg, g, cols, L);
                    for (int64_t p0 = 0; p0 < np_all; p0 += MC_SLAB) {
                        const int64_t np = np_all - p0 < MC_SLAB ? np_all - p0 : MC_SLAB;
                        /* grad_output^T packed in the GEMM's panels (pad columns zero), one
                         * image's run of pixels at a time, channel by channel: contiguous reads
                         * (one pixel's channels lie S apart and collide in the L1 cache) */
                        const int64_t NR = MC_NAME(gemm_panel)(rows, Kgp);
                        for (int64_t q = 0; q < np;) {
                            const int64_t i = (p0 + q) / S, s = (p0 + q) % S;
                            const int64_t run = np - q < S - s ? np - q : S - s;
                            const T *g = gy + ((n0 + i) * K + grp * Kg) * S + s;
                            for (int64_t k = 0; k < (Kgp + NR - 1) / NR * NR; k++) {
                                T *col = gyT + k / NR * np * NR + k % NR + q * NR;
                                for (int64_t r = 0; r < run; r++)
                                    col[r * NR] = k < Kg ? g[k * S + r] : 0;
                            }
                            q += run;
                        }
                        const int nt = few ? MC_NAME(gemm_threads)(rows, Kgp, np) : 1;
                        MC_GEMM_PARALLEL(nt)
                        MC_NAME(gemm_share)(
                            mc_thread_id(), nt, rows, Kgp, np, (direct ? src : cols) + p0,
                            direct ? S : L, 1, gyT, Kgp, NR, acc + grp * rows * Kgp, Kgp, 1,
                            few ? ws + mc_thread_id() * per + scr_at : cols + scr_at);
                    }
                }
            }
        }
    }
    /* gw[grp * Kg + k][r] = sum of the parts' (grp, r, k): a transpose, taken in MC_TT x MC_TT
     * tiles so that the reads (Kgp apart) and the writes (rows apart) both stay in cache (read
     * element by element it cost more than the GEMM at batch 1); its own team, as the GEMMs of a
     * small batch ran on one. */
    const int64_t rt = (rows + MC_TT - 1) / MC_TT, kt = (Kg + MC_TT - 1) / MC_TT;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (K * rows >= MC_PARALLEL_MIN)                         \
    num_threads(mc_get_num_threads())
#endif
    for (int64_t tile = 0; tile < groups * rt * kt; tile++) {
        const int64_t grp = tile / (rt * kt), r0 = tile / kt % rt * MC_TT, k0 = tile % kt * MC_TT;
        const int64_t r1 = r0 + MC_TT < rows ? r0 + MC_TT : rows;
        const int64_t k1 = k0 + MC_TT < Kg ? k0 + MC_TT : Kg;
        for (int64_t k = k0; k < k1; k++)
            for (int64_t r = r0; r < r1; r++) {
                T s = 0;
                for (int part = 0; part < P; part++)
                    s += parts[part * part_size + (grp * rows + r) * Kgp + k];
                gw[(grp * Kg + k) * rows + r] = s;
            }
    }
}
