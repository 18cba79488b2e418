/* Copies between layouts and dtypes: what NumPy does with views and astype, done on the device.
 *
 * minicnn's device arrays are always contiguous; a permute, a slice, a broadcast (expand) or a
 * scatter into a slice is one strided copy: each thread takes a linear index of the iteration
 * shape, splits it into coordinates (last dimension fastest, so neighbouring threads write
 * neighbouring destination elements when the destination is contiguous), and maps them through
 * the source and destination strides.
 */
#include "common.cuh"

template <typename T>
__global__ void strided_copy_kernel(mc_layout L, int64_t n, const T *src, T *dst) {
    MC_GRID_STRIDE(i, n) {
        int64_t s, d; /* a: the source, b: the destination */
        mc_offsets(L, i, &s, &d);
        dst[d] = src[s];
    }
}

__global__ void add_int64_kernel(int64_t n, int64_t *x, int64_t value) {
    MC_GRID_STRIDE(i, n) x[i] += value;
}

template <typename S, typename D> __global__ void cast_kernel(int64_t n, const S *src, D *dst) {
    MC_GRID_STRIDE(i, n) dst[i] = (D)src[i];
}

template <typename S>
__global__ void cast_to_bool_kernel(int64_t n, const S *src, unsigned char *dst) {
    MC_GRID_STRIDE(i, n) dst[i] = src[i] != (S)0;
}

template <typename S> static int cast_from(int64_t n, const S *src, void *dst, int dst_type) {
    switch (dst_type) {
    case MC_FLOAT32:
        cast_kernel<<<mc_blocks(n), MC_THREADS>>>(n, src, (float *)dst);
        break;
    case MC_FLOAT64:
        cast_kernel<<<mc_blocks(n), MC_THREADS>>>(n, src, (double *)dst);
        break;
    case MC_INT64:
        cast_kernel<<<mc_blocks(n), MC_THREADS>>>(n, src, (int64_t *)dst);
        break;
    case MC_BOOL:
        cast_to_bool_kernel<<<mc_blocks(n), MC_THREADS>>>(n, src, (unsigned char *)dst);
        break;
    default:
        return mc_fail((int)cudaErrorInvalidValue, "mc_cuda_cast: unknown dst_type", __FILE__,
                       __LINE__);
    }
    MC_CHECK_LAUNCH();
    return 0;
}

extern "C" {

int mc_cuda_strided_copy(int ndim, const int64_t *shape, const int64_t *src_strides,
                         int64_t src_offset, const void *src, const int64_t *dst_strides,
                         int64_t dst_offset, void *dst, int itemsize) {
    mc_layout L;
    int64_t n = mc_make_layout(&L, ndim, shape, src_strides, dst_strides);
    if (n < 0)
        return mc_fail((int)cudaErrorInvalidValue, "mc_cuda_strided_copy: ndim > MC_MAX_DIMS",
                       __FILE__, __LINE__);
    if (n == 0) return 0;
    switch (itemsize) {
    case 1:
        strided_copy_kernel<<<mc_blocks(n), MC_THREADS>>>(
            L, n, (const unsigned char *)src + src_offset, (unsigned char *)dst + dst_offset);
        break;
    case 4:
        strided_copy_kernel<<<mc_blocks(n), MC_THREADS>>>(L, n, (const float *)src + src_offset,
                                                          (float *)dst + dst_offset);
        break;
    case 8:
        strided_copy_kernel<<<mc_blocks(n), MC_THREADS>>>(L, n, (const double *)src + src_offset,
                                                          (double *)dst + dst_offset);
        break;
    default:
        return mc_fail((int)cudaErrorInvalidValue, "mc_cuda_strided_copy: itemsize not 1, 4 or 8",
                       __FILE__, __LINE__);
    }
    MC_CHECK_LAUNCH();
    return 0;
}

int mc_cuda_cast(int64_t n, const void *src, int src_type, void *dst, int dst_type) {
    if (n == 0) return 0;
    switch (src_type) {
    case MC_FLOAT32:
        return cast_from(n, (const float *)src, dst, dst_type);
    case MC_FLOAT64:
        return cast_from(n, (const double *)src, dst, dst_type);
    case MC_INT64:
        return cast_from(n, (const int64_t *)src, dst, dst_type);
    case MC_BOOL:
        return cast_from(n, (const unsigned char *)src, dst, dst_type);
    }
    return mc_fail((int)cudaErrorInvalidValue, "mc_cuda_cast: unknown src_type", __FILE__,
                   __LINE__);
}

int mc_cuda_add_int64(int64_t n, int64_t *x, int64_t value) {
    if (n == 0) return 0;
    add_int64_kernel<<<mc_blocks(n), MC_THREADS>>>(n, x, value);
    MC_CHECK_LAUNCH();
    return 0;
}

} // extern "C"
