/* Template body for conv_kernels.h (after gemm_impl.h): expects T, SFX, VT and VL. The linear
 * layers on minicnn's GEMM: y = x W^T (+ b) and its gradients, for x (M, in), W (out, in). */

int64_t MC_NAME(linear_workspace)(int64_t M, int64_t in, int64_t out) {
    int64_t depth = in > out ? in : out;
    if (M > depth) depth = M;
    return in * out + (int64_t)mc_get_num_threads() * MC_GEMM_SCRATCH(depth);
}

/* y (M, out) = x W^T + b (b may be NULL). W^T is copied into ws first (the GEMM reads B along
 * rows), then the product. */
MC_CLONES void MC_NAME(linear)(const T *x, const T *w, const T *bias, T *y, int64_t M, int64_t in,
                               int64_t out, T *ws) {
    T *wt = ws;
    for (int64_t i = 0; i < in; i++)
        for (int64_t o = 0; o < out; o++) wt[i * out + o] = w[o * in + i];
    const int nt = MC_NAME(gemm_threads)(M, out, in);
    MC_GEMM_PARALLEL(nt)
    MC_NAME(gemm_share)(mc_thread_id(), nt, M, out, in, x, in, 1, wt, out, y, out, 0,
                        ws + in * out + mc_thread_id() * MC_GEMM_SCRATCH(in));
    if (bias)
        for (int64_t m = 0; m < M; m++)
            for (int64_t o = 0; o < out; o++) y[m * out + o] += bias[o];
}

/* gx (M, in) = g W for g (M, out). */
MC_CLONES void MC_NAME(linear_backward_input)(const T *g, const T *w, T *gx, int64_t M, int64_t in,
                                              int64_t out, T *ws) {
    const int nt = MC_NAME(gemm_threads)(M, in, out);
    MC_GEMM_PARALLEL(nt)
    MC_NAME(gemm_share)(mc_thread_id(), nt, M, in, out, g, out, 1, w, in, gx, in, 0,
                        ws + in * out + mc_thread_id() * MC_GEMM_SCRATCH(out));
}

/* gw (out, in) = g^T x: A = g^T is read in place (element (o, m) at g[m * out + o]). */
MC_CLONES void MC_NAME(linear_backward_weight)(const T *g, const T *x, T *gw, int64_t M, int64_t in,
                                               int64_t out, T *ws) {
    const int nt = MC_NAME(gemm_threads)(out, in, M);
    MC_GEMM_PARALLEL(nt)
    MC_NAME(gemm_share)(mc_thread_id(), nt, out, in, M, g, 1, out, x, in, gw, in, 0,
                        ws + in * out + mc_thread_id() * MC_GEMM_SCRATCH(M));
}
