/* Template body for conv_kernels.h (after gemm_impl.h): expects T, SFX, VT and VL. The linear
 * layers on minicnn's GEMM: y = x W^T (+ b) and its gradients, for x (M, in), W (out, in). */

/* A batch of at most MC_LINEAR_FEW rows (batch-1 inference) runs as dot products, W read once
 * along its rows; the GEMM needs W^T copied, and reading W's rows six at a time instead, they
 * collide in the cache when their length is a multiple of 4 KiB (40x slower at batch 1). */
#ifndef MC_LINEAR_FEW
#define MC_LINEAR_FEW 8
#endif

int64_t MC_NAME(linear_workspace)(int64_t M, int64_t in, int64_t out) {
    MC_ROUTE(linear_workspace, M, in, out);
    int64_t depth = in > out ? in : out;
    if (M > depth) depth = M;
    const int64_t wt = M <= MC_LINEAR_FEW ? 0 : in * out;
    return wt + (int64_t)mc_get_num_threads() * MC_GEMM_SCRATCH(depth);
}

/* a . b over n elements: four vector accumulators (independent chains), then the tail. */
MC_INLINE T MC_NAME(dot)(const T *a, const T *b, int64_t n) {
    VT s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    int64_t p = 0;
    for (; p + 4 * VL <= n; p += 4 * VL) {
        s0 += MC_NAME(vload)(a + p) * MC_NAME(vload)(b + p);
        s1 += MC_NAME(vload)(a + p + VL) * MC_NAME(vload)(b + p + VL);
        s2 += MC_NAME(vload)(a + p + 2 * VL) * MC_NAME(vload)(b + p + 2 * VL);
        s3 += MC_NAME(vload)(a + p + 3 * VL) * MC_NAME(vload)(b + p + 3 * VL);
    }
    for (; p + VL <= n; p += VL) s0 += MC_NAME(vload)(a + p) * MC_NAME(vload)(b + p);
    const VT s = (s0 + s1) + (s2 + s3);
    T sum = 0;
    for (int v = 0; v < VL; v++) sum += s[v];
    for (; p < n; p++) sum += a[p] * b[p];
    return sum;
}

/* y[m, o] = x[m] . w[o] + b[o] for the outputs o0 <= o < o1 (a thread's share; its own clones:
 * the parallel region's outlined body has none). Row w[o] stays in cache for the M dots. */
static MC_CLONES __attribute__((noinline)) void MC_NAME(linear_dots)(const T *x, const T *w,
                                                                     const T *bias, T *y, int64_t M,
                                                                     int64_t in, int64_t out,
                                                                     int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; o++)
        for (int64_t m = 0; m < M; m++) {
            const T sum = MC_NAME(dot)(x + m * in, w + o * in, in);
            y[m * out + o] = bias ? sum + bias[o] : sum;
        }
}

/* y (M, out) = x W^T + b (b may be NULL). For a larger batch, W^T is copied into ws first (the
 * GEMM reads B along rows), then the product. */
MC_CLONES void MC_NAME(linear)(const T *x, const T *w, const T *bias, T *y, int64_t M, int64_t in,
                               int64_t out, T *ws) {
    MC_ROUTE_VOID(linear, x, w, bias, y, M, in, out, ws);
    if (M <= MC_LINEAR_FEW) {
        const int nt = M * in * out < mc_parallel_min_macs() ? 1 : mc_get_num_threads();
        MC_GEMM_PARALLEL(nt) {
            const int t = mc_thread_id();
            MC_NAME(linear_dots)(x, w, bias, y, M, in, out, out * t / nt, out * (t + 1) / nt);
        }
        return;
    }
    T *wt = ws;
    for (int64_t i = 0; i < in; i++)
        for (int64_t o = 0; o < out; o++) wt[i * out + o] = w[o * in + i];
    const int nt = MC_NAME(gemm_threads)(M, out, in);
    MC_GEMM_PARALLEL(nt)
    MC_NAME(gemm_share)(mc_thread_id(), nt, M, out, in, x, in, 1, wt, out, 0, y, out, 0,
                        ws + in * out + mc_thread_id() * MC_GEMM_SCRATCH(in));
    if (bias)
        for (int64_t m = 0; m < M; m++)
            for (int64_t o = 0; o < out; o++) y[m * out + o] += bias[o];
}

/* gx (M, in) = g W for g (M, out). */
MC_CLONES void MC_NAME(linear_backward_input)(const T *g, const T *w, T *gx, int64_t M, int64_t in,
                                              int64_t out, T *ws) {
    MC_ROUTE_VOID(linear_backward_input, g, w, gx, M, in, out, ws);
    const int nt = MC_NAME(gemm_threads)(M, in, out);
    MC_GEMM_PARALLEL(nt)
    MC_NAME(gemm_share)(mc_thread_id(), nt, M, in, out, g, out, 1, w, in, 0, gx, in, 0,
                        ws + mc_thread_id() * MC_GEMM_SCRATCH(out));
}

/* gw (out, in) = g^T x: A = g^T is read in place (element (o, m) at g[m * out + o]). */
MC_CLONES void MC_NAME(linear_backward_weight)(const T *g, const T *x, T *gw, int64_t M, int64_t in,
                                               int64_t out, T *ws) {
    MC_ROUTE_VOID(linear_backward_weight, g, x, gw, M, in, out, ws);
    const int nt = MC_NAME(gemm_threads)(out, in, M);
    MC_GEMM_PARALLEL(nt)
    MC_NAME(gemm_share)(mc_thread_id(), nt, out, in, M, g, 1, out, x, in, 0, gw, in, 0,
                        ws + mc_thread_id() * MC_GEMM_SCRATCH(M));
}
