/* Max and average pooling, fixed and adaptive windows, forward and backward.
 *
 * The window rules are those of minicnn/backends/reference/pool.py (PyTorch's CPU kernels):
 *   max: taps oh sh - ph + i dh (i < kh); first maximum wins, a NaN always wins; when nothing
 *        beats -inf the index is the window's first in-range position; indices are flat h W + w;
 *   avg: [oh sh - ph, oh sh - ph + kh) clipped to [-ph, H + ph) for count_include_pad's divisor,
 *        then to [0, H) for the sum; an empty window gives 0; divisor_override wins when nonzero;
 *   adaptive: [floor(o H / Ho), ceil((o + 1) H / Ho)), divisor = window size.
 * One thread per output; the backward passes scatter with atomicAdd (overlapping windows add up;
 * the order of the additions, and so the last bits of a sum, may vary between runs).
 */
#include <math.h>

#include "common.cuh"

struct Range {
    int start, end;
};

__device__ __forceinline__ Range adaptive_range(int o, int out, int n) {
    return {(o * n) / out, ((o + 1) * n + out - 1) / out};
}

/* average pooling's window along one axis and its divisor factor (count_include_pad's length) */
__device__ __forceinline__ Range avg_range(int o, int n, int k, int s, int p, int *padded) {
    int start = o * s - p, end = min(start + k, n + p);
    *padded = end - start;
    return {max(start, 0), min(end, n)};
}

__device__ __forceinline__ float avg_divisor(Range r, Range c, int hp, int wp,
                                             int count_include_pad, int divisor_override) {
    if (divisor_override) return (float)divisor_override;
    return count_include_pad ? (float)(hp * wp) : (float)((r.end - r.start) * (c.end - c.start));
}

__global__ void max_pool_kernel(int64_t total, const float *x, float *y, int64_t *indices, int H,
                                int W, int Ho, int Wo, int kh, int kw, int sh, int sw, int ph,
                                int pw, int dh, int dw, int adaptive) {
    MC_GRID_STRIDE(t, total) {
        int ow = t % Wo, oh = (t / Wo) % Ho;
        const float *xp = x + (t / ((int64_t)Wo * Ho)) * H * W;
        int h0, nh, stepH, w0, nw, stepW;
        if (adaptive) {
            Range r = adaptive_range(oh, Ho, H), c = adaptive_range(ow, Wo, W);
            h0 = r.start, nh = r.end - r.start, stepH = 1;
            w0 = c.start, nw = c.end - c.start, stepW = 1;
        } else {
            h0 = oh * sh - ph, nh = kh, stepH = dh;
            w0 = ow * sw - pw, nw = kw, stepW = dw;
        }
        float best = -INFINITY;
        int64_t idx = -1;
        for (int i = 0; i < nh; ++i) {
            int h = h0 + i * stepH;
            if (h < 0 || h >= H) continue;
            for (int j = 0; j < nw; ++j) {
                int w = w0 + j * stepW;
                if (w < 0 || w >= W) continue;
                float v = xp[h * W + w];
                if (idx < 0) idx = (int64_t)h * W + w; /* first in-range position */
                if (v > best || isnan(v)) best = v, idx = (int64_t)h * W + w;
            }
        }
        y[t] = best;
        if (indices) indices[t] = idx;
    }
}

__global__ void max_pool_backward_kernel(int64_t total, const float *gy, const int64_t *indices,
                                         float *gx, int64_t HW, int64_t HoWo) {
    MC_GRID_STRIDE(t, total) {
        int64_t idx = indices[t];
        if (idx >= 0 && idx < HW) atomicAdd(gx + (t / HoWo) * HW + idx, gy[t]);
    }
}

__global__ void avg_pool_kernel(int64_t total, const float *x, const float *gy, float *out, int H,
                                int W, int Ho, int Wo, int kh, int kw, int sh, int sw, int ph,
                                int pw, int count_include_pad, int divisor_override, int adaptive) {
    /* forward (gy == NULL): out = y; backward: out = gx, scattered into */
    MC_GRID_STRIDE(t, total) {
        int ow = t % Wo, oh = (t / Wo) % Ho;
        int64_t plane = (t / ((int64_t)Wo * Ho)) * H * W;
        Range r, c;
        float div;
        if (adaptive) {
            r = adaptive_range(oh, Ho, H), c = adaptive_range(ow, Wo, W);
            div = (float)((r.end - r.start) * (c.end - c.start));
        } else {
            int hp, wp;
            r = avg_range(oh, H, kh, sh, ph, &hp), c = avg_range(ow, W, kw, sw, pw, &wp);
            div = avg_divisor(r, c, hp, wp, count_include_pad, divisor_override);
        }
        bool empty = r.end <= r.start || c.end <= c.start;
        if (!gy) {
            float s = 0.f;
            for (int h = r.start; h < r.end; ++h)
                for (int w = c.start; w < c.end; ++w) s += x[plane + h * W + w];
            out[t] = empty ? 0.f : s / div;
        } else if (!empty) {
            float d = gy[t] / div;
            for (int h = r.start; h < r.end; ++h)
                for (int w = c.start; w < c.end; ++w) atomicAdd(out + plane + h * W + w, d);
        }
    }
}

extern "C" {

int mc_cuda_max_pool2d(const float *x, float *y, int64_t *indices, int P, int H, int W, int Ho,
                       int Wo, int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw,
                       int adaptive) {
    int64_t total = (int64_t)P * Ho * Wo;
    if (total <= 0) return 0;
    max_pool_kernel<<<mc_blocks(total), MC_THREADS>>>(total, x, y, indices, H, W, Ho, Wo, kh, kw,
                                                      sh, sw, ph, pw, dh, dw, adaptive);
    MC_CHECK_LAUNCH();
    return 0;
}

int mc_cuda_max_pool2d_backward(const float *gy, const int64_t *indices, float *gx, int P, int H,
                                int W, int Ho, int Wo) {
    MC_CHECK(cudaMemset(gx, 0, sizeof(float) * (size_t)P * H * W));
    int64_t total = (int64_t)P * Ho * Wo;
    if (total <= 0) return 0;
    max_pool_backward_kernel<<<mc_blocks(total), MC_THREADS>>>(total, gy, indices, gx,
                                                               (int64_t)H * W, (int64_t)Ho * Wo);
    MC_CHECK_LAUNCH();
    return 0;
}

int mc_cuda_avg_pool2d(const float *x, float *y, int P, int H, int W, int Ho, int Wo, int kh,
                       int kw, int sh, int sw, int ph, int pw, int count_include_pad,
                       int divisor_override, int adaptive) {
    int64_t total = (int64_t)P * Ho * Wo;
    if (total <= 0) return 0;
    avg_pool_kernel<<<mc_blocks(total), MC_THREADS>>>(total, x, NULL, y, H, W, Ho, Wo, kh, kw, sh,
                                                      sw, ph, pw, count_include_pad,
                                                      divisor_override, adaptive);
    MC_CHECK_LAUNCH();
    return 0;
}

int mc_cuda_avg_pool2d_backward(const float *gy, float *gx, int P, int H, int W, int Ho, int Wo,
                                int kh, int kw, int sh, int sw, int ph, int pw,
                                int count_include_pad, int divisor_override, int adaptive) {
    MC_CHECK(cudaMemset(gx, 0, sizeof(float) * (size_t)P * H * W));
    int64_t total = (int64_t)P * Ho * Wo;
    if (total <= 0) return 0;
    avg_pool_kernel<<<mc_blocks(total), MC_THREADS>>>(total, NULL, gy, gx, H, W, Ho, Wo, kh, kw, sh,
                                                      sw, ph, pw, count_include_pad,
                                                      divisor_override, adaptive);
    MC_CHECK_LAUNCH();
    return 0;
}
}
