/* Convolution: im2col / col2im, conv2d as im2col + GEMM, and a direct depthwise convolution.
 *
 * Layouts and index rules are those of minicnn/backends/reference/conv.py: input (N, C, H, W),
 * weight (K, C / groups, kh, kw), output (N, K, Ho, Wo); output (oh, ow) of tap (i, j) reads input
 * row oh sh - ph + i dh and column ow sw - pw + j dw, and the padding reads 0. Columns: one row
 * per (channel, tap) = (c kh + i) kw + j, one column per output position oh Wo + ow.
 *
 * conv2d per chunk B of nb images and group g (Chellapilla et al. 2006), with the columns of
 * the chunk's images side by side so that each pass is one GEMM per chunk, not one per image (a
 * launch-bound loop on a GPU):
 *   Y[B, g]        = W[g] (Kg, Cg kh kw) @ im2col(x[B, g]) (Cg kh kw, nb Ho Wo)
 *   grad cols      = W[g]^T @ gy[B, g], folded back by col2im
 *   grad W[g]     += gy[B, g] @ im2col(x[B, g])^T
 * where Y and gy[B, g] are (Kg, nb Ho Wo) matrices, copied from/to the (nb, K, Ho, Wo) tensors.
 * col2im gathers (one thread per input pixel adds the taps that read it), so it needs no atomics
 * and is deterministic (Caffe's col2im_gpu does the same).
 */
#include "common.cuh"

static inline int mc_out_size(int n, int k, int s, int p, int d) {
    return (n + 2 * p - d * (k - 1) - 1) / s + 1;
}

/* Columns of a chunk of nb images, side by side: row (c kh + i) kw + j, column n Ho Wo + oh Wo + ow
 * (one (R, nb P) matrix, so that one GEMM serves the whole chunk). Image n starts at x + n xs.
 * One thread per (c, n, oh, ow), writing the kh kw entries of that position: neighbouring threads
 * write neighbouring columns. */
__global__ void im2col_kernel(int64_t total, const float *x, int64_t xs, int nb, int H, int W,
                              int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw,
                              int Ho, int Wo, float *cols) {
    int64_t P = (int64_t)Ho * Wo, ld = nb * P;
    MC_GRID_STRIDE(t, total) {
        int64_t p = t % P, n = (t / P) % nb, c = t / (P * nb);
        int ow = (int)(p % Wo), oh = (int)(p / Wo);
        const float *xc = x + n * xs + c * H * W;
        float *col = cols + c * kh * kw * ld + n * P + p;
        for (int i = 0; i < kh; ++i) {
            int h = oh * sh - ph + i * dh;
            for (int j = 0; j < kw; ++j) {
                int w = ow * sw - pw + j * dw;
                *col = (h >= 0 && h < H && w >= 0 && w < W) ? xc[h * W + w] : 0.f;
                col += ld;
            }
        }
    }
}

/* The adjoint: one thread per input pixel (c, n, h, w) of the chunk sums the column entries of
 * every tap that reads it, and writes x + n xs + (c H + h) W + w */
__global__ void col2im_kernel(int64_t total, const float *cols, int nb, int H, int W, int kh,
                              int kw, int sh, int sw, int ph, int pw, int dh, int dw, int Ho,
                              int Wo, float *x, int64_t xs) {
    int64_t P = (int64_t)Ho * Wo, ld = nb * P, HW = (int64_t)H * W;
    MC_GRID_STRIDE(t, total) {
        int64_t q = t % HW, n = (t / HW) % nb, c = t / (HW * nb);
        int w = (int)(q % W), h = (int)(q / W);
        float s = 0.f;
        for (int i = 0; i < kh; ++i) {
            int r = h + ph - i * dh; /* = oh sh */
            if (r < 0 || r % sh) continue;
            int oh = r / sh;
            if (oh >= Ho) continue;
            for (int j = 0; j < kw; ++j) {
                int v = w + pw - j * dw;
                if (v < 0 || v % sw) continue;
                int ow = v / sw;
                if (ow >= Wo) continue;
                s += cols[((c * kh + i) * kw + j) * ld + n * P + (int64_t)oh * Wo + ow];
            }
        }
        x[n * xs + c * HW + q] = s;
    }
}

static int im2col_chunk(const float *x, int64_t xs, int nb, int C, int H, int W, int kh, int kw,
                        int sh, int sw, int ph, int pw, int dh, int dw, float *cols) {
    int Ho = mc_out_size(H, kh, sh, ph, dh), Wo = mc_out_size(W, kw, sw, pw, dw);
    int64_t total = (int64_t)C * nb * Ho * Wo;
    if (Ho <= 0 || Wo <= 0 || total <= 0) return 0;
    im2col_kernel<<<mc_blocks(total), MC_THREADS>>>(total, x, xs, nb, H, W, kh, kw, sh, sw, ph, pw,
                                                    dh, dw, Ho, Wo, cols);
    MC_CHECK_LAUNCH();
    return 0;
}

static int col2im_chunk(const float *cols, int nb, int C, int H, int W, int kh, int kw, int sh,
                        int sw, int ph, int pw, int dh, int dw, float *x, int64_t xs) {
    int Ho = mc_out_size(H, kh, sh, ph, dh), Wo = mc_out_size(W, kw, sw, pw, dw);
    int64_t total = (int64_t)C * nb * H * W;
    if (total <= 0) return 0;
    col2im_kernel<<<mc_blocks(total), MC_THREADS>>>(total, cols, nb, H, W, kh, kw, sh, sw, ph, pw,
                                                    dh, dw, Ho, Wo, x, xs);
    MC_CHECK_LAUNCH();
    return 0;
}

/* Between the layouts of a chunk's group slice: (nb, Kg, P) at stride K P per image in y or gy,
 * and the GEMM's (Kg, nb P). to_gemm = 1 copies y -> t, 0 copies t -> y. */
static int chunk_transpose(int to_gemm, float *y, const float *t, int nb, int Kg, int K,
                           int64_t P) {
    int64_t shape[3] = {nb, Kg, P};
    int64_t y_strides[3] = {(int64_t)K * P, P, 1};
    int64_t t_strides[3] = {P, (int64_t)nb * P, 1};
    if (to_gemm) return mc_cuda_strided_copy(3, shape, y_strides, 0, y, t_strides, 0, (void *)t, 4);
    return mc_cuda_strided_copy(3, shape, t_strides, 0, t, y_strides, 0, y, 4);
}

extern "C" {

int mc_cuda_im2col(const float *x, int C, int H, int W, int kh, int kw, int sh, int sw, int ph,
                   int pw, int dh, int dw, float *cols) {
    return im2col_chunk(x, 0, 1, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, cols);
}

int mc_cuda_col2im(const float *cols, int C, int H, int W, int kh, int kw, int sh, int sw, int ph,
                   int pw, int dh, int dw, float *x) {
    return col2im_chunk(cols, 1, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, x, 0);
}

/* The three passes walk the batch in chunks of nb images and, within a chunk, the groups; per
 * (chunk, group) one im2col or col2im, one GEMM and one layout copy (work: the columns, then
 * the (Kg, nb P) GEMM operand). */
#define MC_CONV_GEOMETRY                                                                           \
    int Ho = mc_out_size(H, kh, sh, ph, dh), Wo = mc_out_size(W, kw, sw, pw, dw);                  \
    int Cg = C / groups, Kg = K / groups, R = Cg * kh * kw;                                        \
    int64_t P = (int64_t)Ho * Wo, xs = (int64_t)C * H * W;                                         \
    if (nb < 1) return mc_fail((int)cudaErrorInvalidValue, "conv2d: nb < 1", __FILE__, __LINE__)

int mc_cuda_conv2d(const float *x, const float *w, const float *bias, float *y, float *work, int N,
                   int C, int H, int W, int K, int kh, int kw, int sh, int sw, int ph, int pw,
                   int dh, int dw, int groups, int nb) {
    MC_CONV_GEOMETRY;
    for (int n0 = 0; n0 < N; n0 += nb) {
        int m = N - n0 < nb ? N - n0 : nb;
        float *cols = work, *t = work + (int64_t)R * m * P;
        for (int g = 0; g < groups; ++g) {
            MC_TRY(im2col_chunk(x + n0 * xs + (int64_t)g * Cg * H * W, xs, m, Cg, H, W, kh, kw, sh,
                                sw, ph, pw, dh, dw, cols));
            MC_TRY(mc_cuda_sgemm(0, 0, Kg, (int)(m * P), R, 1.f, w + (int64_t)g * Kg * R, R, cols,
                                 (int)(m * P), 0.f, t, (int)(m * P)));
            MC_TRY(chunk_transpose(0, y + ((int64_t)n0 * K + (int64_t)g * Kg) * P, t, m, Kg, K, P));
        }
    }
    if (bias) MC_TRY(mc_cuda_bias_add(N, K, P, y, bias, y));
    return 0;
}

int mc_cuda_conv2d_backward_input(const float *gy, const float *w, float *gx, float *work, int N,
                                  int C, int H, int W, int K, int kh, int kw, int sh, int sw,
                                  int ph, int pw, int dh, int dw, int groups, int nb) {
    MC_CONV_GEOMETRY;
    for (int n0 = 0; n0 < N; n0 += nb) {
        int m = N - n0 < nb ? N - n0 : nb;
        float *cols = work, *t = work + (int64_t)R * m * P;
        for (int g = 0; g < groups; ++g) {
            MC_TRY(chunk_transpose(1, (float *)gy + ((int64_t)n0 * K + (int64_t)g * Kg) * P, t, m,
                                   Kg, K, P));
            MC_TRY(mc_cuda_sgemm(1, 0, R, (int)(m * P), Kg, 1.f, w + (int64_t)g * Kg * R, R, t,
                                 (int)(m * P), 0.f, cols, (int)(m * P)));
            MC_TRY(col2im_chunk(cols, m, Cg, H, W, kh, kw, sh, sw, ph, pw, dh, dw,
                                gx + n0 * xs + (int64_t)g * Cg * H * W, xs));
        }
    }
    return 0;
}

int mc_cuda_conv2d_backward_weight(const float *gy, const float *x, float *gw, float *work, int N,
                                   int C, int H, int W, int K, int kh, int kw, int sh, int sw,
                                   int ph, int pw, int dh, int dw, int groups, int nb) {
    MC_CONV_GEOMETRY;
    for (int n0 = 0; n0 < N; n0 += nb) {
        int m = N - n0 < nb ? N - n0 : nb;
        float *cols = work, *t = work + (int64_t)R * m * P;
        for (int g = 0; g < groups; ++g) {
            MC_TRY(chunk_transpose(1, (float *)gy + ((int64_t)n0 * K + (int64_t)g * Kg) * P, t, m,
                                   Kg, K, P));
            MC_TRY(im2col_chunk(x + n0 * xs + (int64_t)g * Cg * H * W, xs, m, Cg, H, W, kh, kw, sh,
                                sw, ph, pw, dh, dw, cols));
            /* the first chunk writes (beta 0), the others accumulate */
            MC_TRY(mc_cuda_sgemm(0, 1, Kg, R, (int)(m * P), 1.f, t, (int)(m * P), cols,
                                 (int)(m * P), n0 == 0 ? 0.f : 1.f, gw + (int64_t)g * Kg * R, R));
        }
    }
    if (N == 0) MC_CHECK(cudaMemset(gw, 0, sizeof(float) * (size_t)K * R));
    return 0;
}
}

/* ---- direct depthwise convolution (groups == C, K = C m): output channel k reads channel k / m */

__global__ void depthwise_forward_kernel(int64_t total, const float *x, const float *w,
                                         const float *bias, float *y, int C, int H, int W, int K,
                                         int kh, int kw, int sh, int sw, int ph, int pw, int dh,
                                         int dw, int Ho, int Wo) {
    MC_GRID_STRIDE(t, total) {
        int ow = t % Wo, oh = (t / Wo) % Ho;
        int k = (t / ((int64_t)Wo * Ho)) % K;
        int64_t n = t / ((int64_t)Wo * Ho * K);
        const float *xc = x + (n * C + k / (K / C)) * (int64_t)H * W;
        const float *wk = w + (int64_t)k * kh * kw;
        float s = bias ? bias[k] : 0.f;
        for (int i = 0; i < kh; ++i) {
            int h = oh * sh - ph + i * dh;
            if (h < 0 || h >= H) continue;
            for (int j = 0; j < kw; ++j) {
                int q = ow * sw - pw + j * dw;
                if (q >= 0 && q < W) s += wk[i * kw + j] * xc[h * W + q];
            }
        }
        y[t] = s;
    }
}

/* one thread per input pixel, gathering over the m output channels of its input channel */
__global__ void depthwise_backward_input_kernel(int64_t total, const float *gy, const float *w,
                                                float *gx, int C, int H, int W, int K, int kh,
                                                int kw, int sh, int sw, int ph, int pw, int dh,
                                                int dw, int Ho, int Wo) {
    MC_GRID_STRIDE(t, total) {
        int q = t % W, h = (t / W) % H;
        int c = (t / ((int64_t)W * H)) % C;
        int64_t n = t / ((int64_t)W * H * C);
        int m = K / C;
        float s = 0.f;
        for (int k = c * m; k < (c + 1) * m; ++k) {
            const float *gyk = gy + (n * K + k) * (int64_t)Ho * Wo;
            for (int i = 0; i < kh; ++i) {
                int r = h + ph - i * dh;
                if (r < 0 || r % sh || r / sh >= Ho) continue;
                for (int j = 0; j < kw; ++j) {
                    int u = q + pw - j * dw;
                    if (u < 0 || u % sw || u / sw >= Wo) continue;
                    s += w[((int64_t)k * kh + i) * kw + j] * gyk[(r / sh) * Wo + u / sw];
                }
            }
        }
        gx[t] = s;
    }
}

/* one block per weight (k, i, j), its threads striding over the N Ho Wo products */
__global__ void depthwise_backward_weight_kernel(const float *gy, const float *x, float *gw, int N,
                                                 int C, int H, int W, int K, int kh, int kw, int sh,
                                                 int sw, int ph, int pw, int dh, int dw, int Ho,
                                                 int Wo) {
    __shared__ double shared[MC_THREADS];
    int tap = blockIdx.x % (kh * kw), k = blockIdx.x / (kh * kw);
    int i = tap / kw, j = tap % kw, c = k / (K / C);
    double s = 0.0;
    int64_t count = (int64_t)N * Ho * Wo;
    for (int64_t t = threadIdx.x; t < count; t += blockDim.x) {
        int ow = t % Wo, oh = (t / Wo) % Ho;
        int64_t n = t / ((int64_t)Wo * Ho);
        int h = oh * sh - ph + i * dh, q = ow * sw - pw + j * dw;
        if (h >= 0 && h < H && q >= 0 && q < W)
            s += (double)gy[((n * K + k) * Ho + oh) * Wo + ow] * x[((n * C + c) * H + h) * W + q];
    }
    s = mc_block_sum(s, shared);
    if (threadIdx.x == 0) gw[blockIdx.x] = (float)s;
}

extern "C" {

int mc_cuda_depthwise_conv2d(const float *x, const float *w, const float *bias, float *y, int N,
                             int C, int H, int W, int K, int kh, int kw, int sh, int sw, int ph,
                             int pw, int dh, int dw) {
    int Ho = mc_out_size(H, kh, sh, ph, dh), Wo = mc_out_size(W, kw, sw, pw, dw);
    int64_t total = (int64_t)N * K * Ho * Wo;
    if (total <= 0) return 0;
    depthwise_forward_kernel<<<mc_blocks(total), MC_THREADS>>>(total, x, w, bias, y, C, H, W, K, kh,
                                                               kw, sh, sw, ph, pw, dh, dw, Ho, Wo);
    MC_CHECK_LAUNCH();
    return 0;
}

int mc_cuda_depthwise_conv2d_backward_input(const float *gy, const float *w, float *gx, int N,
                                            int C, int H, int W, int K, int kh, int kw, int sh,
                                            int sw, int ph, int pw, int dh, int dw) {
    int Ho = mc_out_size(H, kh, sh, ph, dh), Wo = mc_out_size(W, kw, sw, pw, dw);
    int64_t total = (int64_t)N * C * H * W;
    if (total <= 0) return 0;
    depthwise_backward_input_kernel<<<mc_blocks(total), MC_THREADS>>>(
        total, gy, w, gx, C, H, W, K, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo);
    MC_CHECK_LAUNCH();
    return 0;
}

int mc_cuda_depthwise_conv2d_backward_weight(const float *gy, const float *x, float *gw, int N,
                                             int C, int H, int W, int K, int kh, int kw, int sh,
                                             int sw, int ph, int pw, int dh, int dw) {
    int Ho = mc_out_size(H, kh, sh, ph, dh), Wo = mc_out_size(W, kw, sw, pw, dw);
    if (K * kh * kw == 0) return 0;
    depthwise_backward_weight_kernel<<<K * kh * kw, MC_THREADS>>>(gy, x, gw, N, C, H, W, K, kh, kw,
                                                                  sh, sw, ph, pw, dh, dw, Ho, Wo);
    MC_CHECK_LAUNCH();
    return 0;
}
}
