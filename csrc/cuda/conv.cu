/* Convolution: im2col / col2im, conv2d as im2col + GEMM, and a direct depthwise convolution.
 *
 * Layouts and index rules are those of minicnn/backends/reference/conv.py: input (N, C, H, W),
 * weight (K, C / groups, kh, kw), output (N, K, Ho, Wo); output (oh, ow) of tap (i, j) reads input
 * row oh sh - ph + i dh and column ow sw - pw + j dw, and the padding reads 0. Columns: one row
 * per (channel, tap) = (c kh + i) kw + j, one column per output position oh Wo + ow.
 *
 * conv2d per image n and group g (Chellapilla et al. 2006):
 *   y[n, g]        = W[g] (Kg, Cg kh kw) @ im2col(x[n, g]) (Cg kh kw, Ho Wo)
 *   grad cols      = W[g]^T @ gy[n, g], folded back by col2im
 *   grad W[g]     += gy[n, g] @ im2col(x[n, g])^T
 * col2im gathers (one thread per input pixel adds the taps that read it), so it needs no atomics
 * and is deterministic (Caffe's col2im_gpu does the same).
 */
#include "common.cuh"

static inline int mc_out_size(int n, int k, int s, int p, int d) {
    return (n + 2 * p - d * (k - 1) - 1) / s + 1;
}

/* one thread per (c, oh, ow), writing the kh kw column entries of that position */
__global__ void im2col_kernel(int64_t total, const float *x, int H, int W, int kh, int kw, int sh,
                              int sw, int ph, int pw, int dh, int dw, int Ho, int Wo, float *cols) {
    MC_GRID_STRIDE(t, total) {
        int ow = t % Wo, oh = (t / Wo) % Ho;
        int64_t c = t / ((int64_t)Wo * Ho);
        const float *xc = x + c * H * W;
        float *col = cols + c * kh * kw * (int64_t)Ho * Wo + (int64_t)oh * Wo + ow;
        for (int i = 0; i < kh; ++i) {
            int h = oh * sh - ph + i * dh;
            for (int j = 0; j < kw; ++j) {
                int w = ow * sw - pw + j * dw;
                *col = (h >= 0 && h < H && w >= 0 && w < W) ? xc[h * W + w] : 0.f;
                col += (int64_t)Ho * Wo;
            }
        }
    }
}

/* one thread per input pixel (c, h, w): sum the column entries of every tap that reads it */
__global__ void col2im_kernel(int64_t total, const float *cols, int H, int W, int kh, int kw,
                              int sh, int sw, int ph, int pw, int dh, int dw, int Ho, int Wo,
                              float *x) {
    MC_GRID_STRIDE(t, total) {
        int w = t % W, h = (t / W) % H;
        int64_t c = t / ((int64_t)W * H);
        float s = 0.f;
        for (int i = 0; i < kh; ++i) {
            int r = h + ph - i * dh; /* = oh sh */
            if (r < 0 || r % sh) continue;
            int oh = r / sh;
            if (oh >= Ho) continue;
            for (int j = 0; j < kw; ++j) {
                int q = w + pw - j * dw;
                if (q < 0 || q % sw) continue;
                int ow = q / sw;
                if (ow >= Wo) continue;
                s += cols[((c * kh + i) * kw + j) * (int64_t)Ho * Wo + (int64_t)oh * Wo + ow];
            }
        }
        x[t] = s;
    }
}

extern "C" {

int mc_cuda_im2col(const float *x, int C, int H, int W, int kh, int kw, int sh, int sw, int ph,
                   int pw, int dh, int dw, float *cols) {
    int Ho = mc_out_size(H, kh, sh, ph, dh), Wo = mc_out_size(W, kw, sw, pw, dw);
    int64_t total = (int64_t)C * Ho * Wo;
    if (total <= 0) return 0;
    im2col_kernel<<<mc_blocks(total), MC_THREADS>>>(total, x, H, W, kh, kw, sh, sw, ph, pw, dh, dw,
                                                    Ho, Wo, cols);
    MC_CHECK_LAUNCH();
    return 0;
}

int mc_cuda_col2im(const float *cols, int C, int H, int W, int kh, int kw, int sh, int sw, int ph,
                   int pw, int dh, int dw, float *x) {
    int Ho = mc_out_size(H, kh, sh, ph, dh), Wo = mc_out_size(W, kw, sw, pw, dw);
    int64_t total = (int64_t)C * H * W;
    if (total <= 0) return 0;
    col2im_kernel<<<mc_blocks(total), MC_THREADS>>>(total, cols, H, W, kh, kw, sh, sw, ph, pw, dh,
                                                    dw, Ho, Wo, x);
    MC_CHECK_LAUNCH();
    return 0;
}

int mc_cuda_conv2d(const float *x, const float *w, const float *bias, float *y, float *cols, int N,
                   int C, int H, int W, int K, int kh, int kw, int sh, int sw, int ph, int pw,
                   int dh, int dw, int groups) {
    int Ho = mc_out_size(H, kh, sh, ph, dh), Wo = mc_out_size(W, kw, sw, pw, dw);
    int Cg = C / groups, Kg = K / groups, R = Cg * kh * kw, P = Ho * Wo;
    for (int n = 0; n < N; ++n)
        for (int g = 0; g < groups; ++g) {
            const float *xg = x + ((int64_t)n * C + (int64_t)g * Cg) * H * W;
            float *yg = y + ((int64_t)n * K + (int64_t)g * Kg) * P;
            if (kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0) {
                /* a 1x1 convolution's columns are the image itself */
                MC_TRY(mc_cuda_sgemm(0, 0, Kg, P, R, 1.f, w + (int64_t)g * Kg * R, R, xg, P, 0.f,
                                     yg, P));
                continue;
            }
            MC_TRY(mc_cuda_im2col(xg, Cg, H, W, kh, kw, sh, sw, ph, pw, dh, dw, cols));
            MC_TRY(mc_cuda_sgemm(0, 0, Kg, P, R, 1.f, w + (int64_t)g * Kg * R, R, cols, P, 0.f, yg,
                                 P));
        }
    if (bias) MC_TRY(mc_cuda_bias_add(N, K, P, y, bias, y));
    return 0;
}

int mc_cuda_conv2d_backward_input(const float *gy, const float *w, float *gx, float *cols, int N,
                                  int C, int H, int W, int K, int kh, int kw, int sh, int sw,
                                  int ph, int pw, int dh, int dw, int groups) {
    int Ho = mc_out_size(H, kh, sh, ph, dh), Wo = mc_out_size(W, kw, sw, pw, dw);
    int Cg = C / groups, Kg = K / groups, R = Cg * kh * kw, P = Ho * Wo;
    for (int n = 0; n < N; ++n)
        for (int g = 0; g < groups; ++g) {
            const float *gyg = gy + ((int64_t)n * K + (int64_t)g * Kg) * P;
            float *gxg = gx + ((int64_t)n * C + (int64_t)g * Cg) * H * W;
            MC_TRY(mc_cuda_sgemm(1, 0, R, P, Kg, 1.f, w + (int64_t)g * Kg * R, R, gyg, P, 0.f, cols,
                                 P));
            MC_TRY(mc_cuda_col2im(cols, Cg, H, W, kh, kw, sh, sw, ph, pw, dh, dw, gxg));
        }
    return 0;
}

int mc_cuda_conv2d_backward_weight(const float *gy, const float *x, float *gw, float *cols, int N,
                                   int C, int H, int W, int K, int kh, int kw, int sh, int sw,
                                   int ph, int pw, int dh, int dw, int groups) {
    int Ho = mc_out_size(H, kh, sh, ph, dh), Wo = mc_out_size(W, kw, sw, pw, dw);
    int Cg = C / groups, Kg = K / groups, R = Cg * kh * kw, P = Ho * Wo;
    for (int n = 0; n < N; ++n)
        for (int g = 0; g < groups; ++g) {
            const float *gyg = gy + ((int64_t)n * K + (int64_t)g * Kg) * P;
            const float *xg = x + ((int64_t)n * C + (int64_t)g * Cg) * H * W;
            MC_TRY(mc_cuda_im2col(xg, Cg, H, W, kh, kw, sh, sw, ph, pw, dh, dw, cols));
            /* the first image writes (beta 0), the others accumulate */
            MC_TRY(mc_cuda_sgemm(0, 1, Kg, R, P, 1.f, gyg, P, cols, P, n == 0 ? 0.f : 1.f,
                                 gw + (int64_t)g * Kg * R, R));
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
                                                 int C, int H, int W, int K, int kh, int kw,
                                                 int sh, int sw, int ph, int pw, int dh, int dw,
                                                 int Ho, int Wo) {
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
    depthwise_forward_kernel<<<mc_blocks(total), MC_THREADS>>>(total, x, w, bias, y, C, H, W, K,
                                                               kh, kw, sh, sw, ph, pw, dh, dw, Ho,
                                                               Wo);
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
