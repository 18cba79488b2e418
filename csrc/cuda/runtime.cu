/* Errors, device queries and raw device memory: what the Python caching allocator builds on. */
#include <stdio.h>
#include <string.h>

#include "common.cuh"

/* one message per host thread, as cudaGetLastError is per thread */
static thread_local char mc_message[512] = "no error";

int mc_fail(int code, const char *what, const char *file, int line) {
    if (code == MC_CUBLAS_ERROR) {
        snprintf(mc_message, sizeof mc_message, "%s (%s:%d)", what, file, line);
    } else {
        cudaError_t e = (cudaError_t)code;
        snprintf(mc_message, sizeof mc_message, "%s: %s (%s at %s:%d)", cudaGetErrorName(e),
                 cudaGetErrorString(e), what, file, line);
        /* clear a sticky-free error so the next call does not report it again */
        cudaGetLastError();
    }
    return code;
}

extern "C" {

const char *mc_cuda_last_error(void) { return mc_message; }

int mc_cuda_runtime_version(int *version) {
    MC_CHECK(cudaRuntimeGetVersion(version));
    return 0;
}

int mc_cuda_device_count(int *count) {
    *count = 0;
    MC_CHECK(cudaGetDeviceCount(count));
    return 0;
}

int mc_cuda_device_name(int device, char *name, int len) {
    cudaDeviceProp prop;
    MC_CHECK(cudaGetDeviceProperties(&prop, device));
    snprintf(name, (size_t)len, "%s (sm_%d%d)", prop.name, prop.major, prop.minor);
    return 0;
}

int mc_cuda_device_capability(int device, int *major, int *minor) {
    *major = *minor = 0;
    MC_CHECK(cudaDeviceGetAttribute(major, cudaDevAttrComputeCapabilityMajor, device));
    MC_CHECK(cudaDeviceGetAttribute(minor, cudaDevAttrComputeCapabilityMinor, device));
    return 0;
}

/* The device code this library carries, from the build's -DMC_CUDA_ARCHS="sm_75 sm_80 sm_90
 * compute_90" (SASS per sm_XY, PTX per compute_XY; spaces, as nvcc splits -D values at commas).
 * nvcc's own __CUDA_ARCH_LIST__ cannot stand in: it lists the virtual architectures only
 * (750,800,900), neither the real ones compiled from them nor whether PTX was kept. */
#define MC_STRINGIFY_(...) #__VA_ARGS__
#define MC_STRINGIFY(...) MC_STRINGIFY_(__VA_ARGS__)
int mc_cuda_built_archs(char *archs, int len) {
#ifdef MC_CUDA_ARCHS
    snprintf(archs, (size_t)len, "%s", MC_STRINGIFY(MC_CUDA_ARCHS));
#else
    snprintf(archs, (size_t)len, "%s", ""); /* not said: unknown */
#endif
    return 0;
}

int mc_cuda_mem_info(size_t *free_bytes, size_t *total_bytes) {
    MC_CHECK(cudaMemGetInfo(free_bytes, total_bytes));
    return 0;
}

int mc_cuda_synchronize(void) {
    MC_CHECK(cudaDeviceSynchronize());
    return 0;
}

int mc_cuda_malloc(void **ptr, size_t nbytes) {
    *ptr = NULL;
    MC_CHECK(cudaMalloc(ptr, nbytes));
    return 0;
}

int mc_cuda_free(void *ptr) {
    MC_CHECK(cudaFree(ptr));
    return 0;
}

int mc_cuda_memcpy_htod(void *dst, const void *src, size_t nbytes) {
    MC_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyHostToDevice));
    return 0;
}

int mc_cuda_memcpy_dtoh(void *dst, const void *src, size_t nbytes) {
    MC_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToHost));
    return 0;
}

int mc_cuda_memcpy_dtod(void *dst, const void *src, size_t nbytes) {
    MC_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToDevice));
    return 0;
}

int mc_cuda_memset(void *ptr, int value, size_t nbytes) {
    MC_CHECK(cudaMemset(ptr, value, nbytes));
    return 0;
}
}
