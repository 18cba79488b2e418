/* Shared by the .cu files: error recording, checked calls and launches, launch geometry. */
#ifndef MINICNN_CUDA_COMMON_CUH
#define MINICNN_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <stdint.h>

#include "minicnn_cuda.h"

/* Record `code` with a message for mc_cuda_last_error() and return it (runtime.cu). */
int mc_fail(int code, const char *what, const char *file, int line);

/* Every CUDA runtime call goes through MC_CHECK; every launch is followed by MC_CHECK_LAUNCH. */
#define MC_CHECK(call)                                                                             \
    do {                                                                                           \
        cudaError_t mc_err_ = (call);                                                              \
        if (mc_err_ != cudaSuccess) return mc_fail((int)mc_err_, #call, __FILE__, __LINE__);       \
    } while (0)
#define MC_CHECK_LAUNCH() MC_CHECK(cudaGetLastError())
/* propagate the code of a helper that already recorded its error */
#define MC_TRY(call)                                                                               \
    do {                                                                                           \
        int mc_rc_ = (call);                                                                       \
        if (mc_rc_ != 0) return mc_rc_;                                                            \
    } while (0)

#define MC_THREADS 256

/* Blocks for n elements with one thread each (grid-stride loops cover what the cap leaves out). */
static inline unsigned mc_blocks(int64_t n) {
    int64_t b = (n + MC_THREADS - 1) / MC_THREADS;
    if (b < 1) b = 1;
    return (unsigned)(b > 65535 * 16 ? 65535 * 16 : b);
}

#define MC_GRID_STRIDE(i, n)                                                                       \
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n);                      \
         i += (int64_t)blockDim.x * gridDim.x)

/* Sum of a double over the block (blockDim.x == MC_THREADS); the result is valid in thread 0. */
__device__ __forceinline__ double mc_block_sum(double v, double *shared /* MC_THREADS */) {
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    v = threadIdx.x < MC_THREADS / 32 ? shared[threadIdx.x] : 0.0;
    if (warp == 0)
        for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
    __syncthreads(); /* `shared` may be reused right after */
    return v;
}

/* The geometry of a strided kernel, passed by value: an iteration shape and, per operand, the
 * element strides with which it is read or written (0 along broadcast dimensions). */
struct mc_layout {
    int ndim;
    int64_t shape[MC_MAX_DIMS];
    int64_t a_strides[MC_MAX_DIMS];
    int64_t b_strides[MC_MAX_DIMS];
};

/* The offsets in a and b of the element with linear index i of L.shape (last dimension fastest). */
__device__ __forceinline__ void mc_offsets(const mc_layout &L, int64_t i, int64_t *a, int64_t *b) {
    int64_t oa = 0, ob = 0;
    for (int k = L.ndim - 1; k >= 0; --k) {
        int64_t c = i % L.shape[k];
        i /= L.shape[k];
        oa += c * L.a_strides[k];
        ob += c * L.b_strides[k];
    }
    *a = oa;
    *b = ob;
}

/* Fill a layout from host arrays; returns the element count, or -1 when ndim is out of range. */
static inline int64_t mc_make_layout(mc_layout *L, int ndim, const int64_t *shape,
                                     const int64_t *a_strides, const int64_t *b_strides) {
    if (ndim < 0 || ndim > MC_MAX_DIMS) return -1;
    L->ndim = ndim;
    int64_t n = 1;
    for (int k = 0; k < ndim; ++k) {
        L->shape[k] = shape[k];
        L->a_strides[k] = a_strides[k];
        L->b_strides[k] = b_strides[k];
        n *= shape[k];
    }
    return n;
}

#endif
