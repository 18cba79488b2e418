/* Template body for conv_kernels.h: expects T, SFX, VT (a GCC vector of 64 bytes of T) and VL
 * (its lane count). The matrix products of the convolutions and linear layers, written here
 * rather than taken from NumPy's BLAS: BLAS runs its own thread pool, whose threads keep
 * spinning for about 0.1 s after each product, on the cores that minicnn's OpenMP threads need
 * next (measured: a Winograd conv2d ran at half speed for 0.1 s after a 512x512 NumPy matmul).
 * One pool, ours, for everything. */

MC_INLINE VT MC_NAME(vload)(const T *p) {
    VT v;
    memcpy(&v, p, sizeof v); /* an unaligned vector load */
    return v;
}

MC_INLINE void MC_NAME(vstore)(T *p, VT v) { memcpy(p, &v, sizeof v); }

/* The register-blocked matrix product every phase runs: for i < MR and j < NV * VL,
 *     c[i * ldc + j] (= or +=) sum over p < depth of a[i * a_row + p * a_depth] * b[p * ldb + j].
 * MR x NV accumulator vectors stay in registers for the whole depth; each step loads NV vectors
 * of b and broadcasts MR scalars of a. MR and NV are compile-time constants at every call. */
MC_INLINE void MC_NAME(ukernel)(const int MR, const int NV, int64_t depth, const T *a,
                                int64_t a_row, int64_t a_depth, const T *b, int64_t ldb, T *c,
                                int64_t ldc, int accumulate) {
    VT acc[12][4];
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[i][v] = (VT){0};
    for (int64_t p = 0; p < depth; p++) {
        VT bv[4];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) bv[v] = MC_NAME(vload)(b + p * ldb + v * VL);
        const T *ap = a + p * a_depth;
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++) {
            const T ai = ap[i * a_row];
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[i][v] += ai * bv[v];
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            T *ci = c + i * ldc + v * VL;
            MC_NAME(vstore)(ci, accumulate ? MC_NAME(vload)(ci) + acc[i][v] : acc[i][v]);
        }
}

/* The register blocking of a product with M rows and N columns: NV vectors (NR = NV * VL
 * columns) by MR rows. With 64-byte vectors (32 registers, AVX-512), up to 24 accumulators:
 * narrow products (a few output channels) take narrow panels; wide ones 6 x 4 vectors, or 8 x 3
 * when M is a multiple of 8 but not of 6 (16, 32, 64 ... channels: no partial block of rows);
 * on a CPU without AVX-512 that runs this build (the baseline clone), always 6 x 1 (see
 * mc_wide_vectors). With 32-byte vectors (16 registers, AVX2), 12 accumulators: 6 x 2, or
 * 12 x 1 for a narrow product. */
#if MC_VBYTES == 64
MC_INLINE int MC_NAME(gemm_nv)(int64_t M, int64_t N) {
    if (N <= VL || !mc_wide_vectors()) return 1;
    if (N <= 2 * VL) return 2;
    return M % 6 != 0 && M % 8 == 0 ? 3 : 4;
}
#define MC_GEMM_MR(nv) ((nv) == 4 ? 6 : (nv) == 3 ? 8 : (nv) == 2 || mc_wide_vectors() ? 12 : 6)
#else
MC_INLINE int MC_NAME(gemm_nv)(int64_t M, int64_t N) {
    (void)M;
    return N <= VL ? 1 : 2;
}
#define MC_GEMM_MR(nv) ((nv) == 2 ? 6 : 12)
#endif

/* The columns of a panel of B in a product of M rows and N columns (see gemm). */
MC_INLINE int64_t MC_NAME(gemm_panel)(int64_t M, int64_t N) { return MC_NAME(gemm_nv)(M, N) * VL; }

/* C (M x N) (= or +=) A (M x depth) @ B (depth x N) on the calling thread. A's element (i, p) is
 * a[i * a_row + p * a_depth] (any layout), C is row-major with row stride ldc. B is row-major with
 * row stride ldb when panel is 0; else it is packed in panels of panel = NR columns (a
 * gemm_panel(M, N) value): columns j0 .. j0 + NR - 1 at b + j0 * depth, row-major with row stride
 * NR, the last panel zero-padded (ldb unused). A packed panel is contiguous: a strided one whose
 * row stride is a multiple of 256 floats (1 KiB) maps its rows onto few cache sets and falls out
 * of cache before the next block of rows reads it. Blocks of MR x NR go through the micro-kernel.
 * At the edges the partial panel of B or block of A is first copied, zero-padded, into scratch
 * (MC_GEMM_SCRATCH(depth) elements) and the result goes through a tile there: nothing outside the
 * matrices is read or written. */
#define MC_GEMM_SCRATCH(depth) ((depth) * (4 * VL + 12) + 12 * 4 * VL)
/* Its own set of clones, never inlined: inlined at each call site, its five micro-kernels were
 * compiled 3 clones x 2 types x 12 times (conv.c took 220 s to compile); a call per block row or
 * column costs nothing. */
static MC_CLONES __attribute__((noinline)) void
MC_NAME(gemm)(int64_t M, int64_t N, int64_t depth, const T *a, int64_t a_row, int64_t a_depth,
              const T *b, int64_t ldb, int64_t panel, T *c, int64_t ldc, int accumulate,
              T *scratch) {
    const int nv = panel ? (int)(panel / VL) : MC_NAME(gemm_nv)(M, N), MR = MC_GEMM_MR(nv);
    const int NR = nv * VL;
    T *bedge = scratch, *aedge = bedge + depth * NR, *tile = aedge + depth * MR;
    for (int64_t j0 = 0; j0 < N; j0 += NR) {
        const int64_t nj = N - j0 < NR ? N - j0 : NR;
        const T *bp = panel ? b + j0 * depth : b + j0;
        int64_t ldp = panel ? NR : ldb;
        if (nj < NR && !panel) {
            for (int64_t p = 0; p < depth; p++)
                for (int64_t j = 0; j < NR; j++)
                    bedge[p * NR + j] = j < nj ? b[p * ldb + j0 + j] : 0;
            bp = bedge;
            ldp = NR;
        }
        for (int64_t i0 = 0; i0 < M; i0 += MR) {
            const int64_t mi = M - i0 < MR ? M - i0 : MR;
            const T *ap = a + i0 * a_row;
            int64_t ar = a_row, ad = a_depth;
            if (mi < MR) {
                for (int64_t i = 0; i < MR; i++)
                    for (int64_t p = 0; p < depth; p++)
                        aedge[p * MR + i] = i < mi ? ap[i * a_row + p * a_depth] : 0;
                ap = aedge;
                ar = 1;
                ad = MR;
            }
            const int full = mi == MR && nj == NR;
            T *cp = full ? c + i0 * ldc + j0 : tile;
            const int64_t ldt = full ? ldc : NR;
            const int acc = full && accumulate;
#if MC_VBYTES == 64
            if (nv == 4)
                MC_NAME(ukernel)(6, 4, depth, ap, ar, ad, bp, ldp, cp, ldt, acc);
            else if (nv == 3)
                MC_NAME(ukernel)(8, 3, depth, ap, ar, ad, bp, ldp, cp, ldt, acc);
            else if (nv == 2)
                MC_NAME(ukernel)(12, 2, depth, ap, ar, ad, bp, ldp, cp, ldt, acc);
#else
            if (nv == 2) MC_NAME(ukernel)(6, 2, depth, ap, ar, ad, bp, ldp, cp, ldt, acc);
#endif
            else if (MR == 12)
                MC_NAME(ukernel)(12, 1, depth, ap, ar, ad, bp, ldp, cp, ldt, acc);
            else
                MC_NAME(ukernel)(6, 1, depth, ap, ar, ad, bp, ldp, cp, ldt, acc);
            if (full) continue;
            for (int64_t i = 0; i < mi; i++)
                for (int64_t j = 0; j < nj; j++) {
                    T *cij = c + (i0 + i) * ldc + j0 + j;
                    *cij = accumulate ? *cij + tile[i * NR + j] : tile[i * NR + j];
                }
        }
    }
}

/* Threads for a shared C (M x N) = A @ B of this depth: one per block of the larger side, at most
 * all, and one when the product is too small to share. */
MC_INLINE int MC_NAME(gemm_threads)(int64_t M, int64_t N, int64_t depth) {
    const int nv = MC_NAME(gemm_nv)(M, N), MR = MC_GEMM_MR(nv), NR = nv * VL;
    const int64_t mb = (M + MR - 1) / MR, nb = (N + NR - 1) / NR;
    const int64_t blocks = mb >= nb ? mb : nb;
    int nt = mc_get_num_threads();
    if (nt > blocks) nt = (int)blocks;
    return M * N * depth < mc_parallel_min_macs() ? 1 : nt;
}

/* Thread t's share of C (= or +=) A @ B when nt threads split the larger side of C into contiguous
 * ranges of whole micro-blocks. Called inside the caller's parallel region (a parallel region
 * in this inlined helper would be outlined without the caller's vector clones). scr: this
 * thread's MC_GEMM_SCRATCH(depth) elements. */
MC_INLINE void MC_NAME(gemm_share)(int t, int nt, int64_t M, int64_t N, int64_t depth, const T *a,
                                   int64_t a_row, int64_t a_depth, const T *b, int64_t ldb,
                                   int64_t panel, T *c, int64_t ldc, int accumulate, T *scr) {
    const int nv = panel ? (int)(panel / VL) : MC_NAME(gemm_nv)(M, N);
    const int64_t MR = MC_GEMM_MR(nv), NR = nv * VL, mb = (M + MR - 1) / MR, nb = (N + NR - 1) / NR;
    const int split_rows = mb >= nb;
    const int64_t blocks = split_rows ? mb : nb;
    const int64_t lo = blocks * t / nt, hi = blocks * (t + 1) / nt;
    if (split_rows) {
        const int64_t i0 = lo * MR, i1 = hi * MR < M ? hi * MR : M;
        if (i1 > i0)
            MC_NAME(gemm)(i1 - i0, N, depth, a + i0 * a_row, a_row, a_depth, b, ldb, panel,
                          c + i0 * ldc, ldc, accumulate, scr);
    } else {
        const int64_t j0 = lo * NR, j1 = hi * NR < N ? hi * NR : N;
        if (j1 > j0)
            MC_NAME(gemm)(M, j1 - j0, depth, a, a_row, a_depth, panel ? b + j0 * depth : b + j0,
                          ldb, panel, c + j0, ldc, accumulate, scr);
    }
}

#ifdef _OPENMP
#define MC_GEMM_PARALLEL(nt) _Pragma("omp parallel num_threads(nt)")
#else
#define MC_GEMM_PARALLEL(nt)
#endif
