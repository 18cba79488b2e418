/* Template body for loss.c: expects T (float or double) and SFX (f32 or f64) to be defined,
 * MC_EXP(v) to be an exp for arguments v <= 0 (or NaN) in the precision of T, and loss.c's
 * MC_INLINE (forced inlining) and MC_CLONES (one compiled copy per instruction set).
 *
 * Cross entropy (torch.nn.functional.cross_entropy with class-index targets, including class
 * weights, ignore_index and label smoothing; PyTorch's formula, aten/src/ATen/native/LossNLL.cpp,
 * cross_entropy_loss_label_smoothing), fused: per row one pass for the max, one for the sum of
 * exponentials, no (N, C) intermediate. See mc_loss.h for the formulas.
 *
 * A row is the C logits x[c * cs], c = 0 .. C-1: cs = 1 for (N, C) logits (the loops vectorize),
 * cs = S for (N, C, d1, ...) logits. The row helpers are inlined with the literal stride. */

#ifdef _OPENMP
#define MC_SIMD_MAX _Pragma("omp simd reduction(max : m)")
#define MC_SIMD_SUM _Pragma("omp simd reduction(+ : acc)")
#define MC_SIMD _Pragma("omp simd")
#else
#define MC_SIMD_MAX
#define MC_SIMD_SUM
#define MC_SIMD
#endif

/* m = max_c x_c. A NaN anywhere reaches the loss through the sum of exponentials below. */
MC_INLINE T MC_NAME(ce_row_max)(const T *x, int64_t C, int64_t cs) {
    T m = x[0];
    MC_SIMD_MAX
    for (int64_t c = 0; c < C; c++) m = x[c * cs] > m ? x[c * cs] : m;
    return m;
}

/* sum_c exp(x_c - m): every exponent <= 0, so nothing overflows and the sum is >= 1. */
MC_INLINE T MC_NAME(ce_row_sumexp)(const T *x, int64_t C, int64_t cs, T m) {
    T acc = 0;
    MC_SIMD_SUM
    for (int64_t c = 0; c < C; c++) acc += MC_EXP(x[c * cs] - m);
    return acc;
}

/* sum_c w_c (x_c - m) (w NULL: every w_c = 1), for the label-smoothing term. */
MC_INLINE T MC_NAME(ce_row_wsum)(const T *x, const T *w, int64_t C, int64_t cs, T m) {
    T acc = 0;
    if (w) {
        MC_SIMD_SUM
        for (int64_t c = 0; c < C; c++) acc += w[c] * (x[c * cs] - m);
    } else {
        MC_SIMD_SUM
        for (int64_t c = 0; c < C; c++) acc += x[c * cs] - m;
    }
    return acc;
}

/* One row of the forward: returns the loss, stores m and L = log sum exp(x - m). */
MC_INLINE T MC_NAME(ce_row_forward)(const T *x, int64_t t, const T *w, T wtotal, int64_t C,
                                    int64_t cs, T eps, T *m_out, T *l_out) {
    const T m = MC_NAME(ce_row_max)(x, C, cs);
    const T L = log(MC_NAME(ce_row_sumexp)(x, C, cs, m));
    const T wt = w ? w[t] : (T)1;
    T loss = wt * (L - (x[t * cs] - m)); /* -w_t log softmax(x)_t */
    if (eps != 0) {
        const T smooth = wtotal * L - MC_NAME(ce_row_wsum)(x, w, C, cs, m);
        loss = ((T)1 - eps) * loss + eps / (T)C * smooth;
    }
    *m_out = m;
    *l_out = L;
    return loss;
}

/* One row of the backward: gx_c = g (a p_c - b w_c) - [c == t] g (1 - eps) w_t. */
MC_INLINE void MC_NAME(ce_row_backward)(const T *x, int64_t t, const T *w, T wtotal, int64_t C,
                                        int64_t cs, T eps, T m, T L, T g, T *gx) {
    const T wt = w ? w[t] : (T)1;
    const T a = g * (((T)1 - eps) * wt + eps / (T)C * wtotal);
    const T b = g * (eps / (T)C);
    if (w) {
        MC_SIMD
        for (int64_t c = 0; c < C; c++) gx[c * cs] = a * MC_EXP((x[c * cs] - m) - L) - b * w[c];
    } else {
        MC_SIMD
        for (int64_t c = 0; c < C; c++) gx[c * cs] = a * MC_EXP((x[c * cs] - m) - L) - b;
    }
    gx[t * cs] -= g * ((T)1 - eps) * wt;
}

/* sum_c w_c, or C without weights: the label-smoothing term's total weight. */
static T MC_NAME(ce_weight_total)(const T *w, int64_t C) {
    if (!w) return (T)C;
    double acc = 0.0;
    for (int64_t c = 0; c < C; c++) acc += w[c];
    return (T)acc;
}

/* Few classes (C = 10): a row is shorter than a vector register, so the row loops above would
 * run scalar. Instead take MC_BLOCK rows at once, transposed into a stack buffer, and vectorize
 * across the rows: lane l of every loop below is row r + l. Same formulas as ce_row_forward. */
#define MC_BLOCK 16
#define MC_BLOCK_MAX_C 32

MC_INLINE void MC_NAME(ce_block_forward)(const T *x, const int64_t *target, const T *w, T wtotal,
                                         T *loss, T *mx, T *lse, int64_t C, int64_t ignore_index,
                                         T eps) {
    T buf[MC_BLOCK_MAX_C][MC_BLOCK], m[MC_BLOCK], acc[MC_BLOCK], d[MC_BLOCK];
    for (int l = 0; l < MC_BLOCK; l++)
        for (int64_t c = 0; c < C; c++) buf[c][l] = x[l * C + c];
    for (int l = 0; l < MC_BLOCK; l++) m[l] = buf[0][l];
    for (int64_t c = 1; c < C; c++)
        for (int l = 0; l < MC_BLOCK; l++) m[l] = buf[c][l] > m[l] ? buf[c][l] : m[l];
    for (int l = 0; l < MC_BLOCK; l++) acc[l] = 0;
    for (int64_t c = 0; c < C; c++)
        for (int l = 0; l < MC_BLOCK; l++) acc[l] += MC_EXP(buf[c][l] - m[l]);
    if (eps != 0) {
        for (int l = 0; l < MC_BLOCK; l++) d[l] = 0;
        for (int64_t c = 0; c < C; c++) {
            const T wc = w ? w[c] : (T)1;
            for (int l = 0; l < MC_BLOCK; l++) d[l] += wc * (buf[c][l] - m[l]);
        }
    }
    for (int l = 0; l < MC_BLOCK; l++) {
        const int64_t t = target[l];
        if (t == ignore_index) {
            loss[l] = mx[l] = lse[l] = 0;
            continue;
        }
        const T L = log(acc[l]);
        const T wt = w ? w[t] : (T)1;
        T v = wt * (L - (buf[t][l] - m[l]));
        if (eps != 0) v = ((T)1 - eps) * v + eps / (T)C * (wtotal * L - d[l]);
        loss[l] = v;
        mx[l] = m[l];
        lse[l] = L;
    }
}

/* Rows [r0, r1) of the forward; compiled once per instruction set (MC_CLONES, mc_internal.h). */
static MC_CLONES void MC_NAME(ce_forward_rows)(const T *x, const int64_t *target, const T *weight,
                                               T wtotal, T *loss, T *mx, T *lse, int64_t C,
                                               int64_t S, int64_t ignore_index, T label_smoothing,
                                               int64_t r0, int64_t r1) {
    int64_t r = r0;
    if (S == 1 && C <= MC_BLOCK_MAX_C)
        for (; r + MC_BLOCK <= r1; r += MC_BLOCK)
            MC_NAME(ce_block_forward)(x + r * C, target + r, weight, wtotal, loss + r, mx + r,
                                      lse + r, C, ignore_index, label_smoothing);
    for (; r < r1; r++) {
        const int64_t t = target[r];
        if (t == ignore_index) {
            loss[r] = 0;
            mx[r] = 0;
            lse[r] = 0;
        } else if (S == 1) {
            loss[r] = MC_NAME(ce_row_forward)(x + r * C, t, weight, wtotal, C, 1, label_smoothing,
                                              mx + r, lse + r);
        } else {
            const int64_t n = r / S, s = r % S;
            loss[r] = MC_NAME(ce_row_forward)(x + n * C * S + s, t, weight, wtotal, C, S,
                                              label_smoothing, mx + r, lse + r);
        }
    }
}

/* Rows [r0, r1) of the backward. */
static MC_CLONES void MC_NAME(ce_backward_rows)(const T *gy, int64_t gy_stride, const T *x,
                                                const int64_t *target, const T *weight, T wtotal,
                                                const T *mx, const T *lse, T *gx, int64_t C,
                                                int64_t S, int64_t ignore_index, T label_smoothing,
                                                T scale, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
        const int64_t t = target[r];
        const int64_t n = r / S, s = r % S;
        T *g_row = gx + n * C * S + s;
        if (t == ignore_index) {
            for (int64_t c = 0; c < C; c++) g_row[c * S] = 0;
        } else if (S == 1) {
            MC_NAME(ce_row_backward)(x + r * C, t, weight, wtotal, C, 1, label_smoothing, mx[r],
                                     lse[r], gy[r * gy_stride] * scale, g_row);
        } else {
            MC_NAME(ce_row_backward)(x + n * C * S + s, t, weight, wtotal, C, S, label_smoothing,
                                     mx[r], lse[r], gy[r * gy_stride] * scale, g_row);
        }
    }
}

/* The rows are split into one contiguous range per thread (static partition: each row costs
 * the same), cut at multiples of MC_BLOCK: a row is computed by the same code (blocked or not),
 * so its result does not depend on the thread count. */
void MC_NAME(cross_entropy)(const T *x, const int64_t *target, const T *weight, T *loss, T *stats,
                            int64_t N, int64_t C, int64_t S, int64_t ignore_index,
                            T label_smoothing, double *sums) {
    const int64_t rows = N * S;
    const T wtotal = MC_NAME(ce_weight_total)(weight, C);
#ifdef _OPENMP
    if (rows * C >= MC_PARALLEL_MIN && mc_get_num_threads() > 1) {
#pragma omp parallel num_threads(mc_get_num_threads())
        {
            const int64_t k = omp_get_thread_num(), nk = omp_get_num_threads();
            const int64_t blocks = (rows + MC_BLOCK - 1) / MC_BLOCK;
            const int64_t r0 = blocks * k / nk * MC_BLOCK, r1 = blocks * (k + 1) / nk * MC_BLOCK;
            MC_NAME(ce_forward_rows)(x, target, weight, wtotal, loss, stats, stats + rows, C, S,
                                     ignore_index, label_smoothing, r0, r1 < rows ? r1 : rows);
        }
    } else
#endif
    {
        /* serial: no parallel region at all (entering one, even with if(0), costs ~1 us) */
        MC_NAME(ce_forward_rows)(x, target, weight, wtotal, loss, stats, stats + rows, C, S,
                                 ignore_index, label_smoothing, 0, rows);
    }
    /* serial, in row order: the same sums whatever the thread count */
    double lsum = 0.0, wsum = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        lsum += loss[r];
        if (target[r] != ignore_index) wsum += weight ? (double)weight[target[r]] : 1.0;
    }
    sums[0] = lsum;
    sums[1] = wsum;
}

void MC_NAME(cross_entropy_backward)(const T *gy, int64_t gy_stride, const T *x,
                                     const int64_t *target, const T *weight, const T *stats, T *gx,
                                     int64_t N, int64_t C, int64_t S, int64_t ignore_index,
                                     T label_smoothing, T scale) {
    const int64_t rows = N * S;
    const T wtotal = MC_NAME(ce_weight_total)(weight, C);
#ifdef _OPENMP
    if (rows * C >= MC_PARALLEL_MIN && mc_get_num_threads() > 1) {
#pragma omp parallel num_threads(mc_get_num_threads())
        {
            const int64_t k = omp_get_thread_num(), nk = omp_get_num_threads();
            MC_NAME(ce_backward_rows)(gy, gy_stride, x, target, weight, wtotal, stats, stats + rows,
                                      gx, C, S, ignore_index, label_smoothing, scale, rows * k / nk,
                                      rows * (k + 1) / nk);
        }
    } else
#endif
    {
        MC_NAME(ce_backward_rows)(gy, gy_stride, x, target, weight, wtotal, stats, stats + rows, gx,
                                  C, S, ignore_index, label_smoothing, scale, 0, rows);
    }
}

#undef MC_SIMD_MAX
#undef MC_SIMD_SUM
#undef MC_SIMD
#undef MC_BLOCK
#undef MC_BLOCK_MAX_C
