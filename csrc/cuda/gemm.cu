/* Single-precision GEMM: a tiled shared-memory kernel, and cuBLAS when it can be loaded.
 *
 * Row-major C (M, N) = alpha op(A) (M, K) op(B) (K, N) + beta C, op = transpose or not, with
 * leading dimensions as in BLAS (lda: elements between rows of A as stored).
 *
 * The tiled kernel (the classic blocking of Volkov & Demmel 2008, "Benchmarking GPUs to tune
 * dense linear algebra"; the CUDA Programming Guide's shared-memory matrix multiply):
 *   - a block of 16 x 16 threads computes a 64 x 64 tile of C, each thread a 4 x 4 micro-tile
 *     (rows ty + 16 i, columns tx + 16 j: strided, so that a warp's shared-memory reads and its
 *     global writes touch consecutive addresses);
 *   - K is walked in steps of 16: the block stages a 64 x 16 slab of op(A) and a 16 x 64 slab of
 *     op(B) in shared memory (each element loaded once from global memory, then read 64 times
 *     from shared memory), synchronizes, and every thread does 16 rank-1 updates of its 4 x 4
 *     accumulators in registers;
 *   - edges are zero-filled, so any M, N, K works.
 * It reaches a fraction of cuBLAS (no double buffering, no vector loads, no tensor cores): it is
 * here to be read, and as the fallback when libcublas is absent.
 *
 * cuBLAS is column-major: a row-major X is a column-major X^T, so C^T = op(B)^T op(A)^T is one
 * cublasSgemm with the operands swapped. libcublas is opened with dlopen at the first GEMM, so
 * the library builds and loads without it (nvcc's toolkit may not ship its headers either: the
 * three entry points are declared here with their documented C signatures).
 */
#include <dlfcn.h>
#include <stdio.h>

#include "common.cuh"

#define BM 64
#define BN 64
#define BK 16
#define TM 4 /* BM / 16 */
#define TN 4 /* BN / 16 */

__global__ void __launch_bounds__(256)
    sgemm_tiled_kernel(int ta, int tb, int M, int N, int K, float alpha,
                       const float *__restrict__ A, int lda, const float *__restrict__ B, int ldb,
                       float beta, float *C, int ldc) {
    __shared__ float As[BK][BM]; /* As[k][m] = op(A)[m0 + m, k0 + k] */
    __shared__ float Bs[BK][BN]; /* Bs[k][n] = op(B)[k0 + k, n0 + n] */
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    float acc[TM][TN] = {{0.f}};

    for (int k0 = 0; k0 < K; k0 += BK) {
        /* 1024 elements per slab, 4 per thread; the fastest-varying index follows the stored
         * layout so that neighbouring threads read neighbouring addresses */
        for (int r = 0; r < 4; ++r) {
            int e = threadIdx.x + 256 * r;
            int m = ta ? e % BM : e / BK, k = ta ? e / BM : e % BK;
            int gm = m0 + m, gk = k0 + k;
            As[k][m] = (gm < M && gk < K)
                           ? (ta ? A[(size_t)gk * lda + gm] : A[(size_t)gm * lda + gk])
                           : 0.f;
            int n = tb ? e / BK : e % BN;
            k = tb ? e % BK : e / BN;
            int gn = n0 + n;
            gk = k0 + k;
            Bs[k][n] = (gn < N && gk < K)
                           ? (tb ? B[(size_t)gn * ldb + gk] : B[(size_t)gk * ldb + gn])
                           : 0.f;
        }
        __syncthreads();
#pragma unroll
        for (int k = 0; k < BK; ++k) {
            float a[TM], b[TN];
#pragma unroll
            for (int i = 0; i < TM; ++i) a[i] = As[k][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < TN; ++j) b[j] = Bs[k][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] += a[i] * b[j];
        }
        __syncthreads(); /* the slabs are overwritten by the next step */
    }
    for (int i = 0; i < TM; ++i) {
        int m = m0 + ty + 16 * i;
        if (m >= M) continue;
        for (int j = 0; j < TN; ++j) {
            int n = n0 + tx + 16 * j;
            if (n >= N) continue;
            float *c = C + (size_t)m * ldc + n;
            /* beta == 0 must not read C: it may hold garbage, NaN included (BLAS semantics) */
            *c = beta == 0.f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * *c;
        }
    }
}

/* ---- cuBLAS through dlopen */
typedef int (*cublas_create_t)(void **handle);
typedef int (*cublas_sgemm_t)(void *handle, int transa, int transb, int m, int n, int k,
                              const float *alpha, const float *A, int lda, const float *B, int ldb,
                              const float *beta, float *C, int ldc);

static struct {
    int tried, use;
    void *handle;
    cublas_sgemm_t sgemm;
} mc_cublas = {0, 1, NULL, NULL};

static void mc_cublas_load(void) {
    static const char *names[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so.11",
                                  "libcublas.so"};
    mc_cublas.tried = 1;
    for (unsigned i = 0; i < sizeof names / sizeof *names; ++i) {
        void *lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (!lib) continue;
        cublas_create_t create = (cublas_create_t)dlsym(lib, "cublasCreate_v2");
        cublas_sgemm_t sgemm = (cublas_sgemm_t)dlsym(lib, "cublasSgemm_v2");
        void *handle = NULL;
        if (create && sgemm && create(&handle) == 0) {
            mc_cublas.handle = handle;
            mc_cublas.sgemm = sgemm;
            return; /* the library stays loaded for the life of the process */
        }
        dlclose(lib);
    }
}

extern "C" {

int mc_cuda_cublas_available(void) {
    if (!mc_cublas.tried) mc_cublas_load();
    return mc_cublas.sgemm != NULL;
}

void mc_cuda_use_cublas(int use) { mc_cublas.use = use; }

int mc_cuda_sgemm_tiled(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                        int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (M == 0 || N == 0) return 0;
    dim3 grid((N + BN - 1) / BN, (M + BM - 1) / BM);
    sgemm_tiled_kernel<<<grid, 256>>>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C,
                                      ldc);
    MC_CHECK_LAUNCH();
    return 0;
}

int mc_cuda_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (M == 0 || N == 0) return 0;
    if (mc_cublas.use && mc_cuda_cublas_available()) {
        /* CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 */
        int status = mc_cublas.sgemm(mc_cublas.handle, trans_b, trans_a, N, M, K, &alpha, B, ldb, A,
                                     lda, &beta, C, ldc);
        if (status != 0) {
            char what[64];
            snprintf(what, sizeof what, "cublasSgemm_v2 failed with cublasStatus_t %d", status);
            return mc_fail(MC_CUBLAS_ERROR, what, __FILE__, __LINE__);
        }
        return 0;
    }
    return mc_cuda_sgemm_tiled(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
}
