/* Fused log-softmax + negative log-likelihood (cross entropy), and the plain NLL loss.
 *
 * The contract of minicnn/backends/reference/loss.py: input (N, C, S) logits (or log-probabilities
 * for NLL), target (N, S) int64, per-element losses, and the two sums the reductions need
 * (loss sum, and the weight sum that "mean" divides by). With m = max_c x_c and
 * L = log sum_c exp(x_c - m), -log softmax(x)_c = L - (x_c - m), and with eps = label_smoothing:
 *   loss = (1 - eps) w_t (L - x_t + m) + eps / C sum_c w_c (L - x_c + m)
 *   dloss/dx_c = g ((1 - eps) w_t + eps / C W) p_c - g eps / C w_c - [c == t] g (1 - eps) w_t
 * with p = exp(x - m - L) rebuilt from the saved (m, L) and W = sum_c w_c. One thread per
 * (n, s) row walks the C classes (enough for classification heads of up to a few thousand
 * classes). Targets outside [0, C) that are not ignore_index are counted in sums[2] (one of them
 * in sums[3]) so that the caller raises after the forward.
 */
#include <math.h>

#include "common.cuh"

__device__ __forceinline__ void mc_bad_target(double *sums, int64_t t) {
    atomicAdd(sums + 2, 1.0);
    sums[3] = (double)t; /* any one of them: the message names one */
}

__global__ void cross_entropy_kernel(const float *x, const int64_t *target, const float *weight,
                                     float *loss, float *stats, double *sums, int N, int C, int S,
                                     int64_t ignore_index, float eps) {
    int64_t R = (int64_t)N * S;
    MC_GRID_STRIDE(r, R) {
        int64_t t = target[r];
        bool valid = t != ignore_index;
        if (valid && (t < 0 || t >= C)) mc_bad_target(sums, t);
        if (!valid || t < 0 || t >= C) {
            loss[r] = 0.f, stats[r] = 0.f, stats[R + r] = 0.f;
            continue;
        }
        const float *xr = x + (r / S) * (int64_t)C * S + r % S; /* class c at xr[c S] */
        float m = -INFINITY;
        for (int c = 0; c < C; ++c) m = fmaxf(m, xr[(int64_t)c * S]);
        float s = 0.f;
        for (int c = 0; c < C; ++c) s += expf(xr[(int64_t)c * S] - m);
        float L = logf(s);
        float w_t = weight ? weight[t] : 1.f;
        float l = w_t * (L - (xr[t * S] - m));
        if (eps > 0.f) {
            float smooth = 0.f;
            for (int c = 0; c < C; ++c)
                smooth += (weight ? weight[c] : 1.f) * (L - (xr[(int64_t)c * S] - m));
            l = (1.f - eps) * l + eps / C * smooth;
        }
        loss[r] = l, stats[r] = m, stats[R + r] = L;
        atomicAdd(sums, (double)l);
        atomicAdd(sums + 1, (double)w_t);
    }
}

__global__ void cross_entropy_backward_kernel(const float *g, int g_scalar, const float *x,
                                              const int64_t *target, const float *weight,
                                              const float *stats, float *gx, int N, int C, int S,
                                              int64_t ignore_index, float eps, float scale) {
    int64_t R = (int64_t)N * S;
    MC_GRID_STRIDE(r, R) {
        int64_t t = target[r];
        int64_t base = (r / S) * (int64_t)C * S + r % S;
        if (t == ignore_index || t < 0 || t >= C) {
            for (int c = 0; c < C; ++c) gx[base + (int64_t)c * S] = 0.f;
            continue;
        }
        float gr = (g_scalar ? g[0] : g[r]) * scale;
        float w_t = weight ? weight[t] : 1.f, W = (float)C;
        if (weight && eps > 0.f) {
            W = 0.f;
            for (int c = 0; c < C; ++c) W += weight[c];
        }
        float a = gr * ((1.f - eps) * w_t + eps / C * W), b = gr * (eps / C);
        float m = stats[r], L = stats[R + r];
        for (int c = 0; c < C; ++c) {
            int64_t i = base + (int64_t)c * S;
            float v = a * expf(x[i] - m - L) - b * (weight ? weight[c] : 1.f);
            if (c == t) v -= (1.f - eps) * gr * w_t;
            gx[i] = v;
        }
    }
}

__global__ void nll_loss_kernel(const float *x, const int64_t *target, const float *weight,
                                float *loss, double *sums, int N, int C, int S,
                                int64_t ignore_index) {
    MC_GRID_STRIDE(r, (int64_t)N * S) {
        int64_t t = target[r];
        bool valid = t != ignore_index;
        if (valid && (t < 0 || t >= C)) mc_bad_target(sums, t);
        if (!valid || t < 0 || t >= C) {
            loss[r] = 0.f;
            continue;
        }
        float w_t = weight ? weight[t] : 1.f;
        float l = -w_t * x[((r / S) * C + t) * S + r % S];
        loss[r] = l;
        atomicAdd(sums, (double)l);
        atomicAdd(sums + 1, (double)w_t);
    }
}

__global__ void nll_loss_backward_kernel(const float *g, int g_scalar, const int64_t *target,
                                         const float *weight, float *gx, int N, int C, int S,
                                         int64_t ignore_index, float scale) {
    MC_GRID_STRIDE(r, (int64_t)N * S) {
        int64_t t = target[r];
        int64_t base = (r / S) * (int64_t)C * S + r % S;
        bool valid = t != ignore_index && t >= 0 && t < C;
        float v = valid ? -((g_scalar ? g[0] : g[r]) * scale) * (weight ? weight[t] : 1.f) : 0.f;
        for (int c = 0; c < C; ++c) gx[base + (int64_t)c * S] = c == t ? v : 0.f;
    }
}

extern "C" {

int mc_cuda_cross_entropy(const float *x, const int64_t *target, const float *weight, float *loss,
                          float *stats, double *sums, int N, int C, int S, int64_t ignore_index,
                          float label_smoothing) {
    int64_t R = (int64_t)N * S;
    if (R == 0) return 0;
    cross_entropy_kernel<<<mc_blocks(R), MC_THREADS>>>(x, target, weight, loss, stats, sums, N, C,
                                                       S, ignore_index, label_smoothing);
    MC_CHECK_LAUNCH();
    return 0;
}

int mc_cuda_cross_entropy_backward(const float *g, int g_scalar, const float *x,
                                   const int64_t *target, const float *weight, const float *stats,
                                   float *gx, int N, int C, int S, int64_t ignore_index,
                                   float label_smoothing, float scale) {
    int64_t R = (int64_t)N * S;
    if (R == 0) return 0;
    cross_entropy_backward_kernel<<<mc_blocks(R), MC_THREADS>>>(
        g, g_scalar, x, target, weight, stats, gx, N, C, S, ignore_index, label_smoothing, scale);
    MC_CHECK_LAUNCH();
    return 0;
}

int mc_cuda_nll_loss(const float *x, const int64_t *target, const float *weight, float *loss,
                     double *sums, int N, int C, int S, int64_t ignore_index) {
    int64_t R = (int64_t)N * S;
    if (R == 0) return 0;
    nll_loss_kernel<<<mc_blocks(R), MC_THREADS>>>(x, target, weight, loss, sums, N, C, S,
                                                  ignore_index);
    MC_CHECK_LAUNCH();
    return 0;
}

int mc_cuda_nll_loss_backward(const float *g, int g_scalar, const int64_t *target,
                              const float *weight, float *gx, int N, int C, int S,
                              int64_t ignore_index, float scale) {
    int64_t R = (int64_t)N * S;
    if (R == 0) return 0;
    nll_loss_backward_kernel<<<mc_blocks(R), MC_THREADS>>>(g, g_scalar, target, weight, gx, N, C, S,
                                                           ignore_index, scale);
    MC_CHECK_LAUNCH();
    return 0;
}
}
