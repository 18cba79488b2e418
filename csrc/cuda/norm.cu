/* Batch normalization (Ioffe & Szegedy 2015), training and eval, forward and backward.
 *
 * x (N, C, S), S = prod(spatial); statistics per channel over M = N S values, computed as in
 * minicnn/backends/reference/norm.py: in double, two passes (the mean, then the squared
 * deviations from it), biased variance, invstd = 1 / sqrt(var + eps). One block per channel
 * reduces; the normalization itself is elementwise. Backward, with xhat = (x - mean) invstd and
 * sums over a channel's M values:
 *   train: gx = weight invstd / M (M g - sum(g) - xhat sum(g xhat));  eval: gx = weight invstd g;
 *   gw = sum(g xhat); gb = sum(g).
 */
#include <math.h>

#include "common.cuh"

/* the flat index of the t-th of channel c's N S values */
__device__ __forceinline__ int64_t bn_index(int64_t t, int c, int C, int S) {
    return ((t / S) * C + c) * S + t % S;
}

__global__ void bn_stats_kernel(const float *x, float *mean, float *var, float *invstd, int N,
                                int C, int S, float eps) {
    __shared__ double shared[MC_THREADS];
    int c = blockIdx.x;
    double M = (double)N * S, s = 0.0;
    for (int64_t t = threadIdx.x; t < (int64_t)N * S; t += blockDim.x) s += x[bn_index(t, c, C, S)];
    s = mc_block_sum(s, shared);
    __shared__ double mu;
    if (threadIdx.x == 0) mu = M > 0 ? s / M : 0.0;
    __syncthreads();
    double q = 0.0;
    for (int64_t t = threadIdx.x; t < (int64_t)N * S; t += blockDim.x) {
        double d = x[bn_index(t, c, C, S)] - mu;
        q += d * d;
    }
    q = mc_block_sum(q, shared);
    if (threadIdx.x == 0) {
        double v = M > 0 ? q / M : 0.0;
        mean[c] = (float)mu;
        var[c] = (float)v;
        invstd[c] = (float)(1.0 / sqrt(v + eps));
    }
}

/* y = (x - mean) * invstd * weight + bias; scale is invstd, or (scale_is_var, eval) running_var */
__global__ void bn_apply_kernel(int64_t total, const float *x, const float *mean,
                                const float *scale, int scale_is_var, float eps,
                                const float *weight, const float *bias, float *y, int C, int S) {
    MC_GRID_STRIDE(t, total) {
        int c = (t / S) % C;
        double inv = scale_is_var ? 1.0 / sqrt((double)scale[c] + eps) : (double)scale[c];
        double v = ((double)x[t] - mean[c]) * inv;
        if (weight) v *= weight[c];
        if (bias) v += bias[c];
        y[t] = (float)v;
    }
}

/* per channel: sum(g), sum(g xhat) -> sums[2 c], sums[2 c + 1] */
__global__ void bn_backward_sums_kernel(const float *gy, const float *x, const float *mean,
                                        const float *invstd, double *sums, int N, int C, int S) {
    __shared__ double shared[MC_THREADS];
    int c = blockIdx.x;
    double mu = mean[c], inv = invstd[c], sg = 0.0, sgx = 0.0;
    for (int64_t t = threadIdx.x; t < (int64_t)N * S; t += blockDim.x) {
        int64_t idx = bn_index(t, c, C, S);
        double g = gy[idx];
        sg += g;
        sgx += g * (x[idx] - mu) * inv;
    }
    sg = mc_block_sum(sg, shared);
    sgx = mc_block_sum(sgx, shared);
    if (threadIdx.x == 0) sums[2 * c] = sg, sums[2 * c + 1] = sgx;
}

__global__ void bn_backward_input_kernel(int64_t total, const float *gy, const float *x,
                                         const float *mean, const float *invstd,
                                         const float *weight, const double *sums, float *gx, int N,
                                         int C, int S, int train) {
    MC_GRID_STRIDE(t, total) {
        int c = (t / S) % C;
        double inv = invstd[c], k = inv * (weight ? weight[c] : 1.0), g = gy[t];
        double M = (double)N * S;
        if (train && M > 0) {
            double xhat = ((double)x[t] - mean[c]) * inv;
            gx[t] = (float)(k / M * (M * g - sums[2 * c] - xhat * sums[2 * c + 1]));
        } else {
            gx[t] = (float)(k * g);
        }
    }
}

__global__ void bn_param_grads_kernel(const double *sums, float *gw, float *gb, int C) {
    MC_GRID_STRIDE(c, C) {
        if (gw) gw[c] = (float)sums[2 * c + 1];
        if (gb) gb[c] = (float)sums[2 * c];
    }
}

extern "C" {

int mc_cuda_batch_norm_forward_train(const float *x, const float *weight, const float *bias,
                                     float *y, float *mean, float *var, float *invstd, int N, int C,
                                     int S, float eps) {
    if (C == 0) return 0;
    bn_stats_kernel<<<C, MC_THREADS>>>(x, mean, var, invstd, N, C, S, eps);
    MC_CHECK_LAUNCH();
    int64_t total = (int64_t)N * C * S;
    if (total == 0) return 0;
    bn_apply_kernel<<<mc_blocks(total), MC_THREADS>>>(total, x, mean, invstd, 0, eps, weight, bias,
                                                      y, C, S);
    MC_CHECK_LAUNCH();
    return 0;
}

int mc_cuda_batch_norm_forward_eval(const float *x, const float *running_mean,
                                    const float *running_var, const float *weight,
                                    const float *bias, float *y, int N, int C, int S, float eps) {
    int64_t total = (int64_t)N * C * S;
    if (total == 0) return 0;
    bn_apply_kernel<<<mc_blocks(total), MC_THREADS>>>(total, x, running_mean, running_var, 1, eps,
                                                      weight, bias, y, C, S);
    MC_CHECK_LAUNCH();
    return 0;
}

int mc_cuda_batch_norm_backward(const float *gy, const float *x, const float *mean,
                                const float *invstd, const float *weight, float *gx, float *gw,
                                float *gb, double *work, int N, int C, int S, int train) {
    if (C == 0) return 0;
    bn_backward_sums_kernel<<<C, MC_THREADS>>>(gy, x, mean, invstd, work, N, C, S);
    MC_CHECK_LAUNCH();
    int64_t total = (int64_t)N * C * S;
    if (gx && total > 0) {
        bn_backward_input_kernel<<<mc_blocks(total), MC_THREADS>>>(
            total, gy, x, mean, invstd, weight, work, gx, N, C, S, train);
        MC_CHECK_LAUNCH();
    }
    if (gw || gb) {
        bn_param_grads_kernel<<<mc_blocks(C), MC_THREADS>>>(work, gw, gb, C);
        MC_CHECK_LAUNCH();
    }
    return 0;
}
}
