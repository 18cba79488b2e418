/* Elementwise kernels, activations, the channel bias, reductions and softmax.
 *
 * The activations use the formulas of minicnn/backends/reference/elementwise.py (PyTorch's),
 * written so that NaN propagates as it does there (comparisons, not fmaxf, which drops NaN).
 * One thread per element, grid-stride loops; reductions accumulate in double.
 */
#include <math.h>

#include "common.cuh"

__device__ __forceinline__ float mc_sigmoid(float x) {
    float e = expf(-fabsf(x)); /* never overflows */
    return x >= 0.f ? 1.f / (1.f + e) : e / (1.f + e);
}

#define MC_SQRT_2_OVER_PI 0.7978845608028654f
#define MC_INV_SQRT_2 0.7071067811865476f
#define MC_INV_SQRT_2PI 0.3989422804014327f

__device__ __forceinline__ float mc_unary(int op, float x, float a, float b) {
    switch (op) {
    case MC_RELU:
        return x < 0.f ? 0.f : x;
    case MC_LEAKY_RELU:
        return x > 0.f ? x : x * a;
    case MC_SIGMOID:
        return mc_sigmoid(x);
    case MC_TANH:
        return tanhf(x);
    case MC_SILU:
        return x * mc_sigmoid(x);
    case MC_HARDSWISH: {
        float t = x + 3.f;
        t = t < 0.f ? 0.f : (t > 6.f ? 6.f : t);
        return x * t / 6.f;
    }
    case MC_GELU:
        return 0.5f * x * (1.f + erff(x * MC_INV_SQRT_2));
    case MC_GELU_TANH:
        return 0.5f * x * (1.f + tanhf(MC_SQRT_2_OVER_PI * (x + 0.044715f * x * x * x)));
    case MC_EXP:
        return expf(x);
    case MC_LOG:
        return logf(x);
    case MC_SQRT:
        return sqrtf(x);
    case MC_ABS:
        return fabsf(x);
    case MC_NEG:
        return -x;
    case MC_AFFINE:
        return a * x + b;
    case MC_POW:
        return powf(x, a);
    case MC_SIGN:
        return x > 0.f ? 1.f : (x < 0.f ? -1.f : 0.f);
    }
    return NAN;
}

/* d op / d x times g, from s: the output (relu, sigmoid, tanh, exp, sqrt) or the input (the rest)
 */
__device__ __forceinline__ float mc_unary_grad(int op, float g, float s, float a) {
    switch (op) {
    case MC_RELU:
        return s <= 0.f ? 0.f : g;
    case MC_LEAKY_RELU:
        return s > 0.f ? g : g * a;
    case MC_SIGMOID:
        return g * s * (1.f - s);
    case MC_TANH:
        return g * (1.f - s * s);
    case MC_SILU: {
        float sg = mc_sigmoid(s);
        return g * sg * (1.f + s * (1.f - sg));
    }
    case MC_HARDSWISH:
        return s <= -3.f ? 0.f : (s >= 3.f ? g : g * (s / 3.f + 0.5f));
    case MC_GELU: {
        float cdf = 0.5f * (1.f + erff(s * MC_INV_SQRT_2));
        return g * (cdf + s * expf(-0.5f * s * s) * MC_INV_SQRT_2PI);
    }
    case MC_GELU_TANH: {
        float t = tanhf(MC_SQRT_2_OVER_PI * (s + 0.044715f * s * s * s));
        float dinner = MC_SQRT_2_OVER_PI * (1.f + 3.f * 0.044715f * s * s);
        return g * (0.5f * (1.f + t) + 0.5f * s * (1.f - t * t) * dinner);
    }
    case MC_EXP:
        return g * s;
    case MC_LOG:
        return g / s;
    case MC_SQRT:
        return g / (2.f * s);
    case MC_ABS:
        return s > 0.f ? g : (s < 0.f ? -g : 0.f);
    case MC_NEG:
        return -g;
    case MC_AFFINE:
        return g * a;
    case MC_POW:
        return a == 0.f ? 0.f : g * a * powf(s, a - 1.f);
    case MC_SIGN:
        return 0.f;
    }
    return NAN;
}

__global__ void unary_kernel(int op, int64_t n, const float *x, float *y, float a, float b) {
    MC_GRID_STRIDE(i, n) y[i] = mc_unary(op, x[i], a, b);
}

__global__ void unary_backward_kernel(int op, int64_t n, const float *g, const float *s, float *gx,
                                      float a) {
    MC_GRID_STRIDE(i, n) gx[i] = mc_unary_grad(op, g[i], s[i], a);
}

__device__ __forceinline__ float mc_binary(int op, float u, float v) {
    return op == MC_ADD ? u + v : op == MC_SUB ? u - v : op == MC_MUL ? u * v : u / v;
}

__global__ void binary_kernel(int op, int64_t n, const float *a, const float *b, float *y) {
    MC_GRID_STRIDE(i, n) y[i] = mc_binary(op, a[i], b[i]);
}

__global__ void binary_broadcast_kernel(int op, mc_layout L, int64_t n, const float *a,
                                        const float *b, float *y) {
    MC_GRID_STRIDE(i, n) {
        int64_t ia, ib;
        mc_offsets(L, i, &ia, &ib);
        y[i] = mc_binary(op, a[ia], b[ib]);
    }
}

__global__ void fill_kernel(int64_t n, float *y, float value) { MC_GRID_STRIDE(i, n) y[i] = value; }

__global__ void bias_add_kernel(int64_t total, int64_t C, int64_t S, const float *x,
                                const float *bias, float *y) {
    MC_GRID_STRIDE(i, total) y[i] = x[i] + bias[(i / S) % C];
}

/* one thread per output (o, i), walking the reduced axis: consecutive threads read consecutive i */
__global__ void sum_axis_kernel(int64_t outer, int64_t n, int64_t inner, const float *x, float *y) {
    MC_GRID_STRIDE(t, outer * inner) {
        int64_t o = t / inner, i = t % inner;
        const float *p = x + o * n * inner + i;
        double s = 0.0;
        for (int64_t k = 0; k < n; ++k) s += p[k * inner];
        y[t] = (float)s;
    }
}

/* one block per kept index b, its threads striding over (a, c) */
__global__ void sum_keep_axis_kernel(int64_t A, int64_t B, int64_t C, const float *x, float *y) {
    __shared__ double shared[MC_THREADS];
    int64_t b = blockIdx.x;
    double s = 0.0;
    for (int64_t t = threadIdx.x; t < A * C; t += blockDim.x) {
        int64_t a = t / C, c = t % C;
        s += x[(a * B + b) * C + c];
    }
    s = mc_block_sum(s, shared);
    if (threadIdx.x == 0) y[b] = (float)s;
}

/* softmax along the middle axis: one thread per (o, i); two passes (max, then sum of exp) */
__global__ void softmax_kernel(int log, int64_t outer, int64_t n, int64_t inner, const float *x,
                               float *y) {
    MC_GRID_STRIDE(t, outer * inner) {
        int64_t o = t / inner, i = t % inner;
        const float *p = x + o * n * inner + i;
        float *q = y + o * n * inner + i;
        float m = -INFINITY;
        for (int64_t k = 0; k < n; ++k) m = fmaxf(m, p[k * inner]);
        float s = 0.f;
        for (int64_t k = 0; k < n; ++k) s += expf(p[k * inner] - m);
        float logs = logf(s);
        for (int64_t k = 0; k < n; ++k)
            q[k * inner] = log ? p[k * inner] - m - logs : expf(p[k * inner] - m) / s;
    }
}

/* softmax: gx = y (g - sum(g y)); log_softmax: gx = g - exp(y) sum(g) */
__global__ void softmax_backward_kernel(int log, int64_t outer, int64_t n, int64_t inner,
                                        const float *g, const float *y, float *gx) {
    MC_GRID_STRIDE(t, outer * inner) {
        int64_t base = (t / inner) * n * inner + t % inner;
        float s = 0.f;
        for (int64_t k = 0; k < n; ++k) {
            int64_t j = base + k * inner;
            s += log ? g[j] : g[j] * y[j];
        }
        for (int64_t k = 0; k < n; ++k) {
            int64_t j = base + k * inner;
            gx[j] = log ? g[j] - expf(y[j]) * s : y[j] * (g[j] - s);
        }
    }
}

extern "C" {

int mc_cuda_unary(int op, int64_t n, const float *x, float *y, float alpha, float beta) {
    if (n == 0) return 0;
    unary_kernel<<<mc_blocks(n), MC_THREADS>>>(op, n, x, y, alpha, beta);
    MC_CHECK_LAUNCH();
    return 0;
}

int mc_cuda_unary_backward(int op, int64_t n, const float *g, const float *saved, float *gx,
                           float alpha) {
    if (n == 0) return 0;
    unary_backward_kernel<<<mc_blocks(n), MC_THREADS>>>(op, n, g, saved, gx, alpha);
    MC_CHECK_LAUNCH();
    return 0;
}

int mc_cuda_binary(int op, int64_t n, const float *a, const float *b, float *y) {
    if (n == 0) return 0;
    binary_kernel<<<mc_blocks(n), MC_THREADS>>>(op, n, a, b, y);
    MC_CHECK_LAUNCH();
    return 0;
}

int mc_cuda_binary_broadcast(int op, int ndim, const int64_t *shape, const int64_t *a_strides,
                             const float *a, const int64_t *b_strides, const float *b, float *y) {
    mc_layout L;
    int64_t n = mc_make_layout(&L, ndim, shape, a_strides, b_strides);
    if (n < 0)
        return mc_fail((int)cudaErrorInvalidValue, "mc_cuda_binary_broadcast: ndim > MC_MAX_DIMS",
                       __FILE__, __LINE__);
    if (n == 0) return 0;
    binary_broadcast_kernel<<<mc_blocks(n), MC_THREADS>>>(op, L, n, a, b, y);
    MC_CHECK_LAUNCH();
    return 0;
}

int mc_cuda_fill(int64_t n, float *y, float value) {
    if (n == 0) return 0;
    fill_kernel<<<mc_blocks(n), MC_THREADS>>>(n, y, value);
    MC_CHECK_LAUNCH();
    return 0;
}

int mc_cuda_bias_add(int64_t N, int64_t C, int64_t S, const float *x, const float *bias, float *y) {
    int64_t total = N * C * S;
    if (total == 0) return 0;
    bias_add_kernel<<<mc_blocks(total), MC_THREADS>>>(total, C, S, x, bias, y);
    MC_CHECK_LAUNCH();
    return 0;
}

int mc_cuda_sum_axis(int64_t outer, int64_t n, int64_t inner, const float *x, float *y) {
    if (outer * inner == 0) return 0;
    sum_axis_kernel<<<mc_blocks(outer * inner), MC_THREADS>>>(outer, n, inner, x, y);
    MC_CHECK_LAUNCH();
    return 0;
}

int mc_cuda_sum_keep_axis(int64_t A, int64_t B, int64_t C, const float *x, float *y) {
    if (B == 0) return 0;
    sum_keep_axis_kernel<<<(unsigned)B, MC_THREADS>>>(A, B, C, x, y);
    MC_CHECK_LAUNCH();
    return 0;
}

int mc_cuda_softmax(int log, int64_t outer, int64_t n, int64_t inner, const float *x, float *y) {
    if (outer * inner * n == 0) return 0;
    softmax_kernel<<<mc_blocks(outer * inner), MC_THREADS>>>(log, outer, n, inner, x, y);
    MC_CHECK_LAUNCH();
    return 0;
}

int mc_cuda_softmax_backward(int log, int64_t outer, int64_t n, int64_t inner, const float *g,
                             const float *y, float *gx) {
    if (outer * inner * n == 0) return 0;
    softmax_backward_kernel<<<mc_blocks(outer * inner), MC_THREADS>>>(log, outer, n, inner, g, y,
                                                                      gx);
    MC_CHECK_LAUNCH();
    return 0;
}
}
