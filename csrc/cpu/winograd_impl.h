/* Template body for conv_kernels.h (after gemm_impl.h): expects T, SFX, VT and VL. The math is
 * minicnn/backends/reference/winograd.py; this file is about doing it fast. Channels are padded to
 * Cp / Kp, multiples of VL, so every channel loop is whole vectors; the pad channels are zeros in
 * every buffer (and in the weights), so they add nothing. */

/* x (n images of C planes H x W) -> xh (n, H, W, Cp): channels last, pad channels zero, so that a
 * pixel's channels are one contiguous run of vectors. Threads take runs of up to 256 pixels of
 * one image, and copy them one channel at a time: long contiguous reads (reading 16 channels of
 * one pixel at a time would touch 16 lines H * W apart, which collide in the L1 cache), writes
 * to lines that stay in L1 until all their channels are in. Call from inside a parallel region.
 * Not inlined: plain scalar copies gain nothing from the vector clones, and a small function of
 * its own keeps its loop variables in registers. */
static __attribute__((noinline)) void MC_NAME(to_nhwc)(const T *x, int64_t n, int64_t C, int64_t H,
                                                       int64_t W, int64_t Cp, T *xh) {
    const int64_t HW = H * W, run = 256, runs = (HW + run - 1) / run;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (int64_t q = 0; q < n * runs; q++) {
        const int64_t img = q / runs, p0 = q % runs * run, np = HW - p0 < run ? HW - p0 : run;
        const T *src = x + img * C * HW + p0;
        T *dst = xh + (img * HW + p0) * Cp;
        for (int64_t c = 0; c < C; c++)
            for (int64_t p = 0; p < np; p++) dst[p * Cp + c] = src[c * HW + p];
        for (int64_t p = 0; p < np; p++)
            for (int64_t c = C; c < Cp; c++) dst[p * Cp + c] = 0;
    }
}

/* The 16 pixels (channel runs) of the 4x4 input tile of output tile (a, b): pointers into xh
 * (n, H, W, Cp), or to `zero` where the tile hangs over the border (the padding). */
MC_INLINE void MC_NAME(tile_pixels)(const T *xh_img, int64_t H, int64_t W, int64_t Cp, int64_t row0,
                                    int64_t col0, const T *zero, const T *src[16]) {
    for (int r = 0; r < 4; r++) {
        const int64_t ih = row0 + r;
        for (int s = 0; s < 4; s++) {
            const int64_t iw = col0 + s;
            src[r * 4 + s] =
                (ih >= 0 && ih < H && iw >= 0 && iw < W) ? xh_img + (ih * W + iw) * Cp : zero;
        }
    }
}

/* V[xi] = (B^T d B)[xi] for one tile, vectorised over channels: V[xi][c] at v + xi * xi_stride. */
MC_INLINE void MC_NAME(input_transform)(const T *const src[16], int64_t Cp, T *v,
                                        int64_t xi_stride) {
    for (int64_t c = 0; c < Cp; c += VL) {
        VT d[16], m[16];
        for (int q = 0; q < 16; q++) d[q] = MC_NAME(vload)(src[q] + c);
        for (int s = 0; s < 4; s++) { /* B^T applied to each column */
            m[0 * 4 + s] = d[0 * 4 + s] - d[2 * 4 + s];
            m[1 * 4 + s] = d[1 * 4 + s] + d[2 * 4 + s];
            m[2 * 4 + s] = d[2 * 4 + s] - d[1 * 4 + s];
            m[3 * 4 + s] = d[1 * 4 + s] - d[3 * 4 + s];
        }
        for (int r = 0; r < 4; r++) { /* then B to each row */
            T *o = v + r * 4 * xi_stride + c;
            MC_NAME(vstore)(o, m[r * 4 + 0] - m[r * 4 + 2]);
            MC_NAME(vstore)(o + xi_stride, m[r * 4 + 1] + m[r * 4 + 2]);
            MC_NAME(vstore)(o + 2 * xi_stride, m[r * 4 + 2] - m[r * 4 + 1]);
            MC_NAME(vstore)(o + 3 * xi_stride, m[r * 4 + 1] - m[r * 4 + 3]);
        }
    }
}

/* The register blocking of the forward product M[xi] (tiles, Kp) = V[xi] (tiles, Cp) @ U[xi]:
 * NV vectors of output channels (as many as divide Kp, up to 4) by MR tiles. */
#if MC_VBYTES == 64
MC_INLINE int MC_NAME(fwd_nv)(int64_t Kp) {
    return (Kp / VL) % 4 == 0 ? 4 : (Kp / VL) % 2 == 0 ? 2 : 1;
}
#define MC_FWD_MR(nv) ((nv) == 4 ? 6 : 12)
#define MC_BWD_NV(Kp) ((Kp / VL) % 2 == 0 ? 2 : 1)
#else /* 16 registers: 6 x 2 or 12 x 1 vectors; 8 x 1 for the weight gradient */
MC_INLINE int MC_NAME(fwd_nv)(int64_t Kp) { return (Kp / VL) % 2 == 0 ? 2 : 1; }
#define MC_FWD_MR(nv) ((nv) == 2 ? 6 : 12)
#define MC_BWD_NV(Kp) 1
#endif

/* Tiles per block of the forward: enough rows to reuse each loaded weight vector many times,
 * few enough that the block's V (16 x Tb x Cp) stays in the core's L2 cache. */
MC_INLINE int64_t MC_NAME(fwd_block)(int64_t Cp, int MR) {
    int64_t tb = (int64_t)(512 * 1024) / (16 * Cp * (int64_t)sizeof(T));
    tb = tb / MR * MR;
    if (tb < 4 * MR) tb = 4 * MR;
    if (tb > 16 * MR) tb = 16 * MR;
    return tb;
}

int64_t MC_NAME(winograd_scratch)(int64_t Cp, int64_t Kp) {
    MC_ROUTE(winograd_scratch, Cp, Kp);
    const int nv = MC_NAME(fwd_nv)(Kp), MR = MC_FWD_MR(nv);
    const int64_t tb = MC_NAME(fwd_block)(Cp, MR);
    return Cp + (int64_t)mc_get_num_threads() * tb * (16 * Cp + 16 * nv * VL + 4 * VL);
}

/* y (N, K, Ho, Wo) = 3x3 stride-1 conv2d of x (N, C, H, W) with padding (ph, pw), given
 * U (16, Cp, Kp) = G g G^T of the weight (channels padded with zeros). xh: n_chunk * H * W * Cp
 * elements; scratch: winograd_scratch(Cp, Kp) elements.
 *
 * Images go n_chunk at a time: convert them to channels-last (xh), then each thread takes blocks
 * of Tb tiles and does everything for them while they are in its cache: the input transform into
 * V (16, Tb, Cp), then per panel of output channels the 16 products M[xi] = V[xi] @ U[xi] and
 * the output transform, written straight into y. No thread waits on another inside a chunk. */
MC_CLONES void MC_NAME(winograd_conv2d)(const T *x, const T *U, T *y, const mc_geometry *g,
                                        int64_t n_chunk, T *xh, T *scratch) {
    MC_ROUTE_VOID(winograd_conv2d, x, U, y, g, n_chunk, xh, scratch);
    const int64_t N = g->N, C = g->C, H = g->H, W = g->W, K = g->K, ph = g->ph, pw = g->pw;
    const int64_t Ho = g->Ho, Wo = g->Wo;
    const int64_t Cp = (C + PL - 1) / PL * PL, Kp = (K + PL - 1) / PL * PL;
    const int nv = MC_NAME(fwd_nv)(Kp), MR = MC_FWD_MR(nv), NR = nv * VL;
    const int64_t Tb_max = MC_NAME(fwd_block)(Cp, MR);
    const int64_t TH = (Ho + 1) / 2, TW = (Wo + 1) / 2, P = TH * TW;
    T *zero = scratch;
    for (int64_t c = 0; c < Cp; c++) zero[c] = 0;
    for (int64_t n0 = 0; n0 < N; n0 += n_chunk) {
        const int64_t nc = N - n0 < n_chunk ? N - n0 : n_chunk, tiles = nc * P;
        /* smaller blocks when there are few tiles (a small batch), so every thread gets some */
        const int64_t per_thread =
            (tiles + 2 * mc_get_num_threads() - 1) / (2 * mc_get_num_threads());
        const int64_t fit = (per_thread + MR - 1) / MR * MR;
        const int64_t Tb = fit < Tb_max ? fit : Tb_max, blocks = (tiles + Tb - 1) / Tb;
#ifdef _OPENMP
#pragma omp parallel num_threads(mc_get_num_threads()) if (tiles * Cp * Kp * 16 >=                 \
                                                               mc_parallel_min_macs())
#endif
        {
            MC_NAME(to_nhwc)(x + n0 * C * H * W, nc, C, H, W, Cp, xh); /* ends in a barrier */
            T *V = scratch + Cp + (int64_t)mc_thread_id() * Tb_max * (16 * Cp + 16 * NR + 4 * VL);
            T *M = V + 16 * Tb * Cp, *Yb = M + 16 * Tb * NR;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
            for (int64_t blk = 0; blk < blocks; blk++) {
                const int64_t t0 = blk * Tb, nt = tiles - t0 < Tb ? tiles - t0 : Tb;
                const int64_t rows = (nt + MR - 1) / MR * MR;
                int64_t yoff[16 * 12]; /* each tile's 2x2 block: offset in y of its channel 0 */
                unsigned char edge[16 * 12]; /* bit 0: has a second column, bit 1: second row */
                for (int64_t i = 0; i < nt; i++) {
                    const int64_t t = t0 + i, img = t / P, a = (t % P) / TW, b = t % TW;
                    const T *src[16];
                    MC_NAME(tile_pixels)(xh + img * H * W * Cp, H, W, Cp, 2 * a - ph, 2 * b - pw,
                                         zero, src);
                    MC_NAME(input_transform)(src, Cp, V + i * Cp, Tb * Cp);
                    yoff[i] = ((n0 + img) * K * Ho + 2 * a) * Wo + 2 * b;
                    edge[i] = (unsigned char)((2 * b + 1 < Wo) | (2 * a + 1 < Ho) << 1);
                }
                for (int64_t i = nt; i < rows; i++) /* rows of the last, partial group */
                    for (int xi = 0; xi < 16; xi++)
                        memset(V + (xi * Tb + i) * Cp, 0, (size_t)Cp * sizeof(T));
                for (int64_t k0 = 0; k0 < Kp; k0 += NR) {
                    for (int xi = 0; xi < 16; xi++) {
                        const T *Vx = V + xi * Tb * Cp, *Ux = U + xi * Cp * Kp + k0;
                        T *Mx = M + xi * Tb * NR;
                        for (int64_t i = 0; i < rows; i += MR) {
#if MC_VBYTES == 64
                            if (nv == 4)
                                MC_NAME(ukernel)(6, 4, Cp, Vx + i * Cp, Cp, 1, Ux, Kp, Mx + i * NR,
                                                 NR, 0);
                            else
#endif
                                if (nv == 2)
                                MC_NAME(ukernel)(MC_FWD_MR(2), 2, Cp, Vx + i * Cp, Cp, 1, Ux, Kp,
                                                 Mx + i * NR, NR, 0);
                            else
                                MC_NAME(ukernel)(12, 1, Cp, Vx + i * Cp, Cp, 1, Ux, Kp, Mx + i * NR,
                                                 NR, 0);
                        }
                    }
                    /* Y = A^T M A per tile, vectorised over a vector of the panel's channels
                     * into Yb (4, Tb, VL); then channel by channel into y, tile after tile, so
                     * the stores walk along rows of y (one pixel's channels are H * W apart). */
                    for (int v = 0; v < nv; v++) {
                        for (int64_t i = 0; i < nt; i++) {
                            VT m[16], p[8];
                            for (int xi = 0; xi < 16; xi++)
                                m[xi] = MC_NAME(vload)(M + (xi * Tb + i) * NR + v * VL);
                            for (int s = 0; s < 4; s++) { /* A^T applied to each column */
                                p[s] = m[s] + m[4 + s] + m[8 + s];
                                p[4 + s] = m[4 + s] - m[8 + s] - m[12 + s];
                            }
                            for (int r = 0; r < 2; r++) { /* then A to each row */
                                MC_NAME(vstore)(Yb + ((2 * r) * Tb + i) * VL,
                                                p[4 * r] + p[4 * r + 1] + p[4 * r + 2]);
                                MC_NAME(vstore)(Yb + ((2 * r + 1) * Tb + i) * VL,
                                                p[4 * r + 1] - p[4 * r + 2] - p[4 * r + 3]);
                            }
                        }
                        const int64_t kv = k0 + v * VL, lanes = K - kv < VL ? K - kv : VL;
                        for (int64_t l = 0; l < lanes; l++) {
                            T *yk = y + (kv + l) * Ho * Wo;
                            for (int64_t i = 0; i < nt; i++) {
                                T *o = yk + yoff[i];
                                const T *yb = Yb + i * VL + l;
                                o[0] = yb[0];
                                if (edge[i] & 1) o[1] = yb[Tb * VL];
                                if (edge[i] & 2) {
                                    o[Wo] = yb[2 * Tb * VL];
                                    if (edge[i] & 1) o[Wo + 1] = yb[3 * Tb * VL];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/* dU (16, Cp, Kp) += sum over tiles of V[xi]^T @ (A dY A^T)[xi]: the weight gradient of
 * winograd_conv2d in the Winograd domain (the caller zeroes dU and applies G^T . G).
 * gy (N, K, Ho, Wo). xh: n_chunk * H * W * Cp elements, gh: n_chunk * Ho * Wo * Kp,
 * vbuf: 16 * n_chunk * P * Cp and gbuf: 16 * n_chunk * P * Kp (P tiles per image).
 *
 * Per chunk of images: channels-last copies of x and gy; then (threads over tiles) the input
 * transform into vbuf (16, tiles, Cp) and the gradient transform into gbuf (16, tiles, Kp); then
 * (threads over xi, so each dU[xi] has one writer) the 16 products, depth = the chunk's tiles. */
MC_CLONES void MC_NAME(winograd_conv2d_backward_weight)(const T *gy, const T *x,
                                                        const mc_geometry *g, int64_t n_chunk,
                                                        T *xh, T *gh, T *vbuf, T *gbuf, T *zero,
                                                        T *dU) {
    MC_ROUTE_VOID(winograd_conv2d_backward_weight, gy, x, g, n_chunk, xh, gh, vbuf, gbuf, zero, dU);
    const int64_t N = g->N, C = g->C, H = g->H, W = g->W, K = g->K, ph = g->ph, pw = g->pw;
    const int64_t Ho = g->Ho, Wo = g->Wo;
    const int64_t Cp = (C + PL - 1) / PL * PL, Kp = (K + PL - 1) / PL * PL;
    const int nv = MC_BWD_NV(Kp), NR = nv * VL;
    const int64_t TH = (Ho + 1) / 2, TW = (Wo + 1) / 2, P = TH * TW;
    const int64_t slab = 256; /* tiles of depth per product call: its panels stay in L1/L2 */
    for (int64_t c = 0; c < (Cp > Kp ? Cp : Kp); c++) zero[c] = 0;
    for (int64_t n0 = 0; n0 < N; n0 += n_chunk) {
        const int64_t nc = N - n0 < n_chunk ? N - n0 : n_chunk, tiles = nc * P;
#ifdef _OPENMP
#pragma omp parallel num_threads(mc_get_num_threads()) if (tiles * Cp * Kp * 16 >=                 \
                                                               mc_parallel_min_macs())
#endif
        {
            MC_NAME(to_nhwc)(x + n0 * C * H * W, nc, C, H, W, Cp, xh);
            MC_NAME(to_nhwc)(gy + n0 * K * Ho * Wo, nc, K, Ho, Wo, Kp, gh);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (int64_t t = 0; t < tiles; t++) {
                const int64_t img = t / P, a = (t % P) / TW, b = t % TW;
                const T *src[16];
                MC_NAME(tile_pixels)(xh + img * H * W * Cp, H, W, Cp, 2 * a - ph, 2 * b - pw, zero,
                                     src);
                MC_NAME(input_transform)(src, Cp, vbuf + t * Cp, tiles * Cp);
                /* the output gradient's 2x2 block (zero past odd edges) -> A e A^T */
                const T *e[16];
                MC_NAME(tile_pixels)(gh + img * Ho * Wo * Kp, Ho, Wo, Kp, 2 * a, 2 * b, zero, e);
                T *g = gbuf + t * Kp;
                const int64_t xs = tiles * Kp;
                for (int64_t k = 0; k < Kp; k += VL) {
                    VT e00 = MC_NAME(vload)(e[0] + k), e01 = MC_NAME(vload)(e[1] + k);
                    VT e10 = MC_NAME(vload)(e[4] + k), e11 = MC_NAME(vload)(e[5] + k);
                    /* A applied to the columns: rows (e0, e0 + e1, e0 - e1, -e1) */
                    VT f[4][2] = {
                        {e00, e01}, {e00 + e10, e01 + e11}, {e00 - e10, e01 - e11}, {-e10, -e11}};
                    for (int r = 0; r < 4; r++) { /* and to the rows */
                        T *o = g + r * 4 * xs + k;
                        MC_NAME(vstore)(o, f[r][0]);
                        MC_NAME(vstore)(o + xs, f[r][0] + f[r][1]);
                        MC_NAME(vstore)(o + 2 * xs, f[r][0] - f[r][1]);
                        MC_NAME(vstore)(o + 3 * xs, -f[r][1]);
                    }
                }
            }
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (int xi = 0; xi < 16; xi++) {
                const T *Vx = vbuf + xi * tiles * Cp, *Gx = gbuf + xi * tiles * Kp;
                T *D = dU + xi * Cp * Kp;
                for (int64_t t0 = 0; t0 < tiles; t0 += slab) {
                    const int64_t depth = tiles - t0 < slab ? tiles - t0 : slab;
                    for (int64_t k0 = 0; k0 < Kp; k0 += NR)
                        for (int64_t c0 = 0; c0 < Cp; c0 += 8) {
                            if (nv == 2)
                                MC_NAME(ukernel)(8, 2, depth, Vx + t0 * Cp + c0, 1, Cp,
                                                 Gx + t0 * Kp + k0, Kp, D + c0 * Kp + k0, Kp, 1);
                            else
                                MC_NAME(ukernel)(8, 1, depth, Vx + t0 * Cp + c0, 1, Cp,
                                                 Gx + t0 * Kp + k0, Kp, D + c0 * Kp + k0, Kp, 1);
                        }
                }
            }
        }
    }
}

/* U (16, Cp, Kp) = G g G^T for every (k, c) of a weight w (K, C, 3, 3); pad entries zero.
 * In C rather than NumPy: NumPy would hand these small products to its BLAS threads, which then
 * spin on the cores that the convolution's own threads need next. */
MC_CLONES void MC_NAME(winograd_weight)(const T *w, int64_t K, int64_t C, T *U) {
    MC_ROUTE_VOID(winograd_weight, w, K, C, U);
    const int64_t Cp = (C + PL - 1) / PL * PL, Kp = (K + PL - 1) / PL * PL;
#ifdef _OPENMP
#pragma omp parallel for num_threads(mc_get_num_threads()) if (K * C >= 4096)
#endif
    for (int64_t c = 0; c < Cp; c++) {
        for (int64_t k = 0; k < Kp; k++) {
            T u[16] = {0};
            if (c < C && k < K) {
                const T *g = w + (k * C + c) * 9;
                T t[4][3]; /* G g: rows (g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2) */
                for (int j = 0; j < 3; j++) {
                    t[0][j] = g[j];
                    t[1][j] = (T)0.5 * (g[j] + g[3 + j] + g[6 + j]);
                    t[2][j] = (T)0.5 * (g[j] - g[3 + j] + g[6 + j]);
                    t[3][j] = g[6 + j];
                }
                for (int a = 0; a < 4; a++) { /* (G g) G^T, the same on the columns */
                    u[a * 4 + 0] = t[a][0];
                    u[a * 4 + 1] = (T)0.5 * (t[a][0] + t[a][1] + t[a][2]);
                    u[a * 4 + 2] = (T)0.5 * (t[a][0] - t[a][1] + t[a][2]);
                    u[a * 4 + 3] = t[a][2];
                }
            }
            for (int xi = 0; xi < 16; xi++) U[(xi * Cp + c) * Kp + k] = u[xi];
        }
    }
}

/* gw (K, C, 3, 3) = G^T dU G for every (k, c): the weight gradient from its Winograd-domain
 * form dU (16, Cp, Kp), as winograd_conv2d_backward_weight leaves it. */
MC_CLONES void MC_NAME(winograd_weight_grad)(const T *dU, int64_t K, int64_t C, T *gw) {
    MC_ROUTE_VOID(winograd_weight_grad, dU, K, C, gw);
    const int64_t Cp = (C + PL - 1) / PL * PL, Kp = (K + PL - 1) / PL * PL;
#ifdef _OPENMP
#pragma omp parallel for num_threads(mc_get_num_threads()) if (K * C >= 4096)
#endif
    for (int64_t k = 0; k < K; k++) {
        for (int64_t c = 0; c < C; c++) {
            T d[16], t[3][4];
            for (int xi = 0; xi < 16; xi++) d[xi] = dU[(xi * Cp + c) * Kp + k];
            for (int b = 0; b < 4;
                 b++) { /* G^T dU: rows (d0 + (d1 + d2) / 2, (d1 - d2) / 2, (d1 + d2) / 2 + d3) */
                t[0][b] = d[b] + (T)0.5 * (d[4 + b] + d[8 + b]);
                t[1][b] = (T)0.5 * (d[4 + b] - d[8 + b]);
                t[2][b] = (T)0.5 * (d[4 + b] + d[8 + b]) + d[12 + b];
            }
            T *g = gw + (k * C + c) * 9;
            for (int i = 0; i < 3; i++) { /* (G^T dU) G, the same on the columns */
                g[i * 3 + 0] = t[i][0] + (T)0.5 * (t[i][1] + t[i][2]);
                g[i * 3 + 1] = (T)0.5 * (t[i][1] - t[i][2]);
                g[i * 3 + 2] = (T)0.5 * (t[i][1] + t[i][2]) + t[i][3];
            }
        }
    }
}
