/* Template body for norm.c: expects T (float or double) and SFX (f32 or f64) to be defined.
 *
 * Batch normalization (Ioffe & Szegedy 2015, "Batch Normalization: Accelerating Deep Network
 * Training by Reducing Internal Covariate Shift", Algorithm 1 and section 3) on an array viewed
 * as (N, C, S), S = prod(spatial): channel c holds the M = N * S values x[n, c, s], stored as
 * N rows of S contiguous values, C * S apart.
 *
 * Memory order matters more than anything here: walking one channel at a time (row n = 0, 1,
 * ... of channel c, each row a separate short stream C * S apart) ran 4-7x slower on the target
 * machine than walking the array in memory order, so every pass walks rows in memory order:
 *   - per-channel sums: each thread owns a contiguous chunk of channels and, for n = 0 .. N-1,
 *     reads the rows of its chunk (one contiguous run of chunk * S values) and adds each row's
 *     sums into its channels' double accumulators (caller's workspace). A channel is summed by
 *     one thread in a fixed order, so results do not depend on the thread count;
 *   - elementwise passes: the N * C rows split evenly over the threads, in memory order.
 * Row sums are taken in blocks of MC_NORM_BLOCK values in T (a vectorized reduction in a few
 * independent lanes) and each block's sum is added in double: as fast as the memory, and the
 * error of a block sum is that of adding MC_NORM_BLOCK / lanes numbers. */

#ifdef _OPENMP
#define MC_SIMD _Pragma("omp simd")
#define MC_SIMD_SUM_A12 _Pragma("omp simd reduction(+ : a1, a2)") /* the block sums below */
#else
#define MC_SIMD
#define MC_SIMD_SUM_A12
#endif

/* Sums of d = x - shift and of d * d over one row of S values. */
static void MC_NAME(norm_row_moments)(const T *row, int64_t S, T shift, double *sum_d,
                                      double *sum_dd) {
    double t1 = 0.0, t2 = 0.0;
    for (int64_t b = 0; b < S; b += MC_NORM_BLOCK) {
        const int64_t e = b + MC_NORM_BLOCK < S ? b + MC_NORM_BLOCK : S;
        T a1 = 0, a2 = 0;
        MC_SIMD_SUM_A12
        for (int64_t s = b; s < e; s++) {
            T d = row[s] - shift;
            a1 += d;
            a2 += d * d;
        }
        t1 += (double)a1;
        t2 += (double)a2;
    }
    *sum_d += t1;
    *sum_dd += t2;
}

/* Sums of g and of g * (x - shift) over one block of n <= MC_NORM_BLOCK values, in T. */
MC_INLINE void MC_NAME(norm_block_grad_sums)(const T *g, const T *x, int64_t n, T shift, T *s1,
                                             T *s2) {
    T a1 = 0, a2 = 0;
    MC_SIMD_SUM_A12
    for (int64_t s = 0; s < n; s++) {
        a1 += g[s];
        a2 += g[s] * (x[s] - shift);
    }
    *s1 = a1;
    *s2 = a2;
}

/* Sums of g and of g * (x - shift) over one row of S values. */
static void MC_NAME(norm_row_grad_sums)(const T *grow, const T *xrow, int64_t S, T shift,
                                        double *sum_g, double *sum_gd) {
    double t1 = 0.0, t2 = 0.0;
    for (int64_t b = 0; b < S; b += MC_NORM_BLOCK) {
        const int64_t e = b + MC_NORM_BLOCK < S ? b + MC_NORM_BLOCK : S;
        T a1, a2;
        MC_NAME(norm_block_grad_sums)(grow + b, xrow + b, e - b, shift, &a1, &a2);
        t1 += (double)a1;
        t2 += (double)a2;
    }
    *sum_g += t1;
    *sum_gd += t2;
}

/* The gradient g of act(z) taken back to z, from y = act(z): ReLU passes it where y > 0 or y
 * is NaN (relu_backward, PyTorch's threshold_backward); ReLU6 only where 0 < y < 6, so not at
 * NaN (PyTorch's vectorized hardtanh_backward): a fused backward equals the unfused one. */
MC_INLINE T MC_NAME(act_grad)(T g, T y, int act) {
    const int off = act == MC_ACT_RELU6 ? !((y > 0) & (y < (T)6)) : y <= 0; /* vectorizes */
    return off ? (T)0 : g;
}

/* Sums of g' = act_grad(g, y) and of g' * (x - shift) over one row of S values: g' is
 * written block by block to a buffer and summed by the same code as norm_row_grad_sums, so the
 * sums round exactly as those of the unfused activation backward's output. */
static void MC_NAME(norm_row_act_grad_sums)(const T *grow, const T *yrow, const T *xrow, int64_t S,
                                            T shift, int act, double *sum_g, double *sum_gd) {
    double t1 = 0.0, t2 = 0.0;
    T gm[MC_NORM_BLOCK];
    for (int64_t b = 0; b < S; b += MC_NORM_BLOCK) {
        const int64_t e = b + MC_NORM_BLOCK < S ? b + MC_NORM_BLOCK : S;
        MC_SIMD
        for (int64_t s = b; s < e; s++) gm[s - b] = MC_NAME(act_grad)(grow[s], yrow[s], act);
        T a1, a2;
        MC_NAME(norm_block_grad_sums)(gm, xrow + b, e - b, shift, &a1, &a2);
        t1 += (double)a1;
        t2 += (double)a2;
    }
    *sum_g += t1;
    *sum_gd += t2;
}

/* out[s] = act(EXPR) for s in [0, S), one loop per activation so that each vectorizes. */
#define MC_ACT_ROW(act, S, out, EXPR)                                                              \
    do {                                                                                           \
        if ((act) == MC_ACT_RELU6) {                                                               \
            MC_SIMD                                                                                \
            for (int64_t s = 0; s < (S); s++) {                                                    \
                T v_ = (EXPR);                                                                     \
                v_ = v_ < 0 ? (T)0 : v_;                                                           \
                (out)[s] = v_ > (T)6 ? (T)6 : v_;                                                  \
            }                                                                                      \
        } else if ((act) == MC_ACT_RELU) {                                                         \
            MC_SIMD                                                                                \
            for (int64_t s = 0; s < (S); s++) {                                                    \
                T v_ = (EXPR);                                                                     \
                (out)[s] = v_ < 0 ? (T)0 : v_;                                                     \
            }                                                                                      \
        } else {                                                                                   \
            MC_SIMD                                                                                \
            for (int64_t s = 0; s < (S); s++) (out)[s] = (EXPR);                                   \
        }                                                                                          \
    } while (0)

/* Training forward. Per channel, one pass of shifted sums (blocks in T, totals in double):
 * with K the mean of the channel's first row (a cheap estimate of the mean) and d = x - K,
 * mean = K + sum(d) / M and var = sum(d^2) / M - (sum(d) / M)^2 (biased). Shifting by an
 * estimate of the mean avoids the catastrophic cancellation of the textbook E[x^2] - E[x]^2
 * when |mean| >> std (Chan, Golub & LeVeque 1983, "Algorithms for computing the sample
 * variance: analysis and recommendations", section 3): the relative error of var grows only
 * with (mean - K)^2 / var, about 1 / S when the rows are alike (it would be mean^2 / var with
 * K = 0). invstd = 1 / sqrt(var + eps).
 * Then y = ((x - m_hi) - m_lo) * (weight * invstd) + bias, the mean split into its nearest T
 * (m_hi) and the rest (m_lo): for |mean| >> std, x - m_hi is exact (Sterbenz's lemma: the two are
 * within a factor 2) and m_lo restores the digits that rounding the mean to T lost, so y is as
 * accurate as with the mean subtracted in double (x * scale + shift, PyTorch's form, loses them).
 * weight and bias may be NULL (1 and 0). act (MC_ACT_*) applies ReLU or ReLU6 to y in the same
 * pass. work: 3 * C doubles. M == 0 gives mean 0, var 0. */
void MC_NAME(batch_norm_forward_train)(const T *x, const T *weight, const T *bias, T *y, T *mean,
                                       T *var, T *invstd, int64_t N, int64_t C, int64_t S,
                                       double eps, int act, double *work) {
    const int64_t M = N * S;
    double *sum_d = work, *sum_dd = work + C, *shift = work + 2 * C;
#ifdef _OPENMP
#pragma omp parallel if (M * C >= MC_PARALLEL_MIN) num_threads(mc_get_num_threads())
#endif
    {
        int64_t c0, c1;
        mc_norm_chunk(C, &c0, &c1);
        for (int64_t c = c0; c < c1; c++) {
            double s0 = 0.0, unused = 0.0;
            if (N > 0 && S > 0) MC_NAME(norm_row_moments)(x + c * S, S, (T)0, &s0, &unused);
            shift[c] = S > 0 ? s0 / (double)S : 0.0;
            sum_d[c] = 0.0;
            sum_dd[c] = 0.0;
        }
        for (int64_t n = 0; n < N; n++)
            for (int64_t c = c0; c < c1; c++)
                MC_NAME(norm_row_moments)(x + (n * C + c) * S, S, (T)shift[c], &sum_d[c],
                                          &sum_dd[c]);
        for (int64_t c = c0; c < c1; c++) {
            double mu = 0.0, v = 0.0;
            if (M > 0) {
                const double dm = sum_d[c] / (double)M;
                mu = (double)(T)shift[c] + dm;
                v = sum_dd[c] / (double)M - dm * dm;
                if (v < 0.0) v = 0.0;
            }
            const double is = 1.0 / sqrt(v + eps);
            mean[c] = (T)mu;
            var[c] = (T)v;
            invstd[c] = (T)is;
            sum_d[c] = mu; /* reused below: the mean in double, and the scale */
            sum_dd[c] = (weight ? (double)weight[c] : 1.0) * is;
        }
#ifdef _OPENMP
#pragma omp barrier
#pragma omp for schedule(static)
#endif
        for (int64_t r = 0; r < N * C; r++) {
            const int64_t c = r % C;
            const T m_hi = (T)sum_d[c];
            const T m_lo = (T)(sum_d[c] - (double)m_hi);
            const T k = (T)sum_dd[c];
            const T b = bias ? bias[c] : (T)0;
            const T *xr = x + r * S;
            T *yr = y + r * S;
            MC_ACT_ROW(act, S, yr, ((xr[s] - m_hi) - m_lo) * k + b);
        }
    }
}

/* Eval forward with the running statistics: y = (x - running_mean) * scale + bias with
 * scale = weight / sqrt(running_var + eps) (PyTorch folds this into x * scale + shift; the
 * subtraction first costs the same and keeps large means accurate). act as in the training
 * forward. Rows in parallel. */
MC_CLONES void MC_NAME(batch_norm_forward_eval)(const T *x, const T *running_mean,
                                                const T *running_var, const T *weight,
                                                const T *bias, T *y, int64_t N, int64_t C,
                                                int64_t S, double eps, int act) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (N * C * S >= MC_PARALLEL_MIN)                        \
    num_threads(mc_get_num_threads())
#endif
    for (int64_t r = 0; r < N * C; r++) {
        const int64_t c = r % C;
        const double w = weight ? (double)weight[c] : 1.0;
        const T k = (T)(w / sqrt((double)running_var[c] + eps));
        const T m = running_mean[c];
        const T b = bias ? bias[c] : (T)0;
        const T *xr = x + r * S;
        T *yr = y + r * S;
        MC_ACT_ROW(act, S, yr, (xr[s] - m) * k + b);
    }
}

/* Backward (Ioffe & Szegedy 2015, section 3; the form of PyTorch's batch_norm_backward).
 * With xhat = (x - mean) * invstd, sum_g = sum(g) and sum_gx = sum(g * xhat) over the channel:
 *   train: gx = (weight * invstd / M) * (M * g - sum_g - xhat * sum_gx),
 *   eval:  gx = weight * invstd * g (the statistics are constants),
 *   gw = sum_gx, gb = sum_g.
 * One pass for both sums (skipped when only an eval gx is wanted), one pass writing gx as
 * a * (g - gbar) + b * (x - mean) with per-channel a = weight * invstd, gbar = sum_g / M,
 * b = -a * invstd^2 * sum(g * (x - mean)) / M. Subtracting gbar from g before scaling (rather
 * than adding a folded constant) keeps gx exact where it should vanish: a constant g (the
 * gradient of y.sum()) or a single value per channel give 0, not rounding noise times invstd.
 * gx, gw, gb may each be NULL (not wanted); weight may be NULL. With act (MC_ACT_*), the
 * forward applied ReLU or ReLU6 and y is its output: g is first taken back through the
 * activation (act_grad), in the same passes. work: 3 * C doubles. */
void MC_NAME(batch_norm_backward)(const T *gy, const T *x, const T *mean, const T *invstd,
                                  const T *weight, T *gx, T *gw, T *gb, int64_t N, int64_t C,
                                  int64_t S, int train, const T *y, int act, double *work) {
    const int64_t M = N * S;
    const int sums = gw || gb || (gx && train);
    double *k1 = work, *k2 = work + C, *k3 = work + 2 * C; /* sums, then a, b, gbar */
#ifdef _OPENMP
#pragma omp parallel if (M * C >= MC_PARALLEL_MIN) num_threads(mc_get_num_threads())
#endif
    {
        int64_t c0, c1;
        mc_norm_chunk(C, &c0, &c1);
        for (int64_t c = c0; c < c1; c++) k1[c] = k2[c] = 0.0;
        if (sums)
            for (int64_t n = 0; n < N; n++)
                for (int64_t c = c0; c < c1; c++) {
                    const int64_t off = (n * C + c) * S;
                    if (act)
                        MC_NAME(norm_row_act_grad_sums)(gy + off, y + off, x + off, S, mean[c], act,
                                                        &k1[c], &k2[c]);
                    else
                        MC_NAME(norm_row_grad_sums)(gy + off, x + off, S, mean[c], &k1[c], &k2[c]);
                }
        for (int64_t c = c0; c < c1; c++) {
            const double sg = k1[c], sgd = k2[c];
            const double is = (double)invstd[c];
            const double a = (weight ? (double)weight[c] : 1.0) * is;
            if (gw) gw[c] = (T)(sgd * is);
            if (gb) gb[c] = (T)sg;
            k1[c] = a;
            k2[c] = (train && M > 0) ? -a * is * is * sgd / (double)M : 0.0;
            k3[c] = (train && M > 0) ? sg / (double)M : 0.0;
        }
        if (gx) {
#ifdef _OPENMP
#pragma omp barrier
#pragma omp for schedule(static)
#endif
            for (int64_t r = 0; r < N * C; r++) {
                const int64_t c = r % C;
                const T a = (T)k1[c], b = (T)k2[c], gbar = (T)k3[c], m = mean[c];
                const T *gr = gy + r * S;
                const T *xr = x + r * S;
                T *out = gx + r * S;
                if (act) {
                    const T *yr = y + r * S;
                    if (train) {
                        MC_SIMD
                        for (int64_t s = 0; s < S; s++)
                            out[s] =
                                a * (MC_NAME(act_grad)(gr[s], yr[s], act) - gbar) + b * (xr[s] - m);
                    } else {
                        MC_SIMD
                        for (int64_t s = 0; s < S; s++)
                            out[s] = a * MC_NAME(act_grad)(gr[s], yr[s], act);
                    }
                } else if (train) {
                    MC_SIMD
                    for (int64_t s = 0; s < S; s++) out[s] = a * (gr[s] - gbar) + b * (xr[s] - m);
                } else {
                    MC_SIMD
                    for (int64_t s = 0; s < S; s++) out[s] = a * gr[s];
                }
            }
        }
    }
}

/* ---------------------------------------------------------------- group norm (and layer norm)
 * Group norm (Wu & He 2018, "Group Normalization"): x (N, C, S) with C split into G groups of
 * K = C / G channels; the K * S values of sample n, group g form one contiguous row, normalized
 * with its own mean and variance, then weight[c] and bias[c] apply per channel. Layer norm (Ba,
 * Kiros & Hinton 2016) of an (M, D) array is the case N = M, C = D, S = 1, G = 1.
 * A row is short enough to stay in cache, so its statistics take the exact two-pass route: the
 * mean, then the sums of d = x - mean and d^2 (the corrected two-pass algorithm of Chan, Golub &
 * LeVeque 1983: mean += sum(d) / L, var = sum(d^2) / L - (sum(d) / L)^2). Rows in parallel. */

/* One row's mean (in double) and invstd. */
static void MC_NAME(gn_row_stats)(const T *row, int64_t L, double eps, double *mean, double *is) {
    double mu = 0.0, v = 0.0;
    if (L > 0) {
        double s0 = 0.0, unused = 0.0;
        MC_NAME(norm_row_moments)(row, L, (T)0, &s0, &unused);
        const T shift = (T)(s0 / (double)L);
        double sd = 0.0, sdd = 0.0;
        MC_NAME(norm_row_moments)(row, L, shift, &sd, &sdd);
        const double dm = sd / (double)L;
        mu = (double)shift + dm;
        v = sdd / (double)L - dm * dm;
        if (v < 0.0) v = 0.0;
    }
    *mean = mu;
    *is = 1.0 / sqrt(v + eps);
}

/* mean, invstd: (N, G); y = ((x - m_hi) - m_lo) * (weight[c] * invstd) + bias[c] (the mean split
 * as in batch_norm_forward_train). weight and bias may be NULL. */
void MC_NAME(group_norm_forward)(const T *x, const T *weight, const T *bias, T *y, T *mean,
                                 T *invstd, int64_t N, int64_t C, int64_t S, int64_t G,
                                 double eps) {
    const int64_t K = C / G, L = K * S;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (N * C * S >= MC_PARALLEL_MIN)                        \
    num_threads(mc_get_num_threads())
#endif
    for (int64_t r = 0; r < N * G; r++) {
        const T *xr = x + r * L;
        T *yr = y + r * L;
        double mu, is;
        MC_NAME(gn_row_stats)(xr, L, eps, &mu, &is);
        mean[r] = (T)mu;
        invstd[r] = (T)is;
        const T m_hi = (T)mu, m_lo = (T)(mu - (double)m_hi), ist = (T)is;
        const int64_t c0 = (r % G) * K;
        if (S == 1) { /* layer norm: weight and bias run along the row */
            const T *w = weight ? weight + c0 : NULL, *b = bias ? bias + c0 : NULL;
            if (w && b) {
                MC_SIMD
                for (int64_t k = 0; k < K; k++) yr[k] = ((xr[k] - m_hi) - m_lo) * ist * w[k] + b[k];
            } else if (w) {
                MC_SIMD
                for (int64_t k = 0; k < K; k++) yr[k] = ((xr[k] - m_hi) - m_lo) * ist * w[k];
            } else if (b) {
                MC_SIMD
                for (int64_t k = 0; k < K; k++) yr[k] = ((xr[k] - m_hi) - m_lo) * ist + b[k];
            } else {
                MC_SIMD
                for (int64_t k = 0; k < K; k++) yr[k] = ((xr[k] - m_hi) - m_lo) * ist;
            }
            continue;
        }
        for (int64_t k = 0; k < K; k++) {
            const T sc = (T)((weight ? (double)weight[c0 + k] : 1.0) * is);
            const T b = bias ? bias[c0 + k] : (T)0;
            const T *xs = xr + k * S;
            T *ys = yr + k * S;
            MC_SIMD
            for (int64_t s = 0; s < S; s++) ys[s] = ((xs[s] - m_hi) - m_lo) * sc + b;
        }
    }
}

/* Backward. Per row, with h = g * weight[c], d = x - mean, L = K * S:
 *   gx = invstd * (h - mean(h) - xhat * mean(h * xhat)) = invstd * (h - hbar) + k2 * d,
 *   hbar = sum(h) / L, k2 = -invstd^3 sum(h d) / L (h - hbar first: see batch_norm_backward)
 * (rows in parallel; the row is still in cache for the second pass). Then per channel, over the
 * batch: gw[c] = sum(g * xhat), gb[c] = sum(g) (each thread owns a chunk of channels and walks
 * the rows in memory order, as batch norm's sums). gx, gw, gb may each be NULL.
 * work: 2 * C doubles. */
void MC_NAME(group_norm_backward)(const T *gy, const T *x, const T *mean, const T *invstd,
                                  const T *weight, T *gx, T *gw, T *gb, int64_t N, int64_t C,
                                  int64_t S, int64_t G, double *work) {
    const int64_t K = C / G, L = K * S;
    if (gx) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (N * C * S >= MC_PARALLEL_MIN)                        \
    num_threads(mc_get_num_threads())
#endif
        for (int64_t r = 0; r < N * G; r++) {
            const int64_t c0 = (r % G) * K;
            const T *gr = gy + r * L, *xr = x + r * L;
            T *out = gx + r * L;
            const T m = mean[r];
            const double is = (double)invstd[r];
            double sh = 0.0, shd = 0.0;
            if (S == 1) {
                for (int64_t b = 0; b < K; b += MC_NORM_BLOCK) {
                    const int64_t e = b + MC_NORM_BLOCK < K ? b + MC_NORM_BLOCK : K;
                    T a1 = 0, a2 = 0;
                    MC_SIMD_SUM_A12
                    for (int64_t k = b; k < e; k++) {
                        T h = weight ? gr[k] * weight[c0 + k] : gr[k];
                        a1 += h;
                        a2 += h * (xr[k] - m);
                    }
                    sh += (double)a1;
                    shd += (double)a2;
                }
            } else {
                for (int64_t k = 0; k < K; k++) {
                    double sg = 0.0, sgd = 0.0;
                    MC_NAME(norm_row_grad_sums)(gr + k * S, xr + k * S, S, m, &sg, &sgd);
                    const double w = weight ? (double)weight[c0 + k] : 1.0;
                    sh += w * sg;
                    shd += w * sgd;
                }
            }
            const T k2 = L > 0 ? (T)(-is * is * is * shd / (double)L) : (T)0;
            const T hbar = L > 0 ? (T)(sh / (double)L) : (T)0;
            const T ist = (T)is;
            if (S == 1) {
                if (weight) {
                    const T *w = weight + c0;
                    MC_SIMD
                    for (int64_t k = 0; k < K; k++)
                        out[k] = ist * (gr[k] * w[k] - hbar) + k2 * (xr[k] - m);
                } else {
                    MC_SIMD
                    for (int64_t k = 0; k < K; k++)
                        out[k] = ist * (gr[k] - hbar) + k2 * (xr[k] - m);
                }
            } else {
                for (int64_t k = 0; k < K; k++) {
                    const T wk = weight ? weight[c0 + k] : (T)1;
                    const T *gs = gr + k * S, *xs = xr + k * S;
                    T *os = out + k * S;
                    MC_SIMD
                    for (int64_t s = 0; s < S; s++)
                        os[s] = ist * (gs[s] * wk - hbar) + k2 * (xs[s] - m);
                }
            }
        }
    }
    if (!gw && !gb) return;
    double *acc_w = work, *acc_b = work + C;
#ifdef _OPENMP
#pragma omp parallel if (N * C * S >= MC_PARALLEL_MIN) num_threads(mc_get_num_threads())
#endif
    {
        int64_t c0, c1;
        mc_norm_chunk(C, &c0, &c1);
        for (int64_t c = c0; c < c1; c++) acc_w[c] = acc_b[c] = 0.0;
        for (int64_t n = 0; n < N; n++) {
            if (S == 1) { /* layer norm: one value per (n, c); vectorize along the channels */
                const T *gr = gy + n * C, *xr = x + n * C;
                for (int64_t cs = c0; cs < c1;) {
                    const int64_t grp = cs / K, ce = (grp + 1) * K < c1 ? (grp + 1) * K : c1;
                    const T m = mean[n * G + grp], is = invstd[n * G + grp];
                    MC_SIMD
                    for (int64_t c = cs; c < ce; c++) {
                        const T g = gr[c];
                        acc_b[c] += (double)g;
                        acc_w[c] += (double)(g * ((xr[c] - m) * is));
                    }
                    cs = ce;
                }
            } else {
                for (int64_t c = c0; c < c1; c++) {
                    const int64_t q = n * G + c / K, off = (n * C + c) * S;
                    double sg = 0.0, sgd = 0.0;
                    MC_NAME(norm_row_grad_sums)(gy + off, x + off, S, mean[q], &sg, &sgd);
                    acc_b[c] += sg;
                    acc_w[c] += sgd * (double)invstd[q];
                }
            }
        }
        for (int64_t c = c0; c < c1; c++) {
            if (gw) gw[c] = (T)acc_w[c];
            if (gb) gb[c] = (T)acc_b[c];
        }
    }
}

#undef MC_SIMD
#undef MC_SIMD_SUM_A12
