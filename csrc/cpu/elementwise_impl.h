/* Template body for elementwise.c: expects T (float or double), SFX (f32 or f64) and MC_EXP (the
 * vectorizable exp of mc_math.h for T) to be defined, and <tgmath.h> included so tanh/erf/fabs
 * pick the precision of T.
 * Formulas follow PyTorch's documentation for each activation (torch.nn.ReLU, GELU, SiLU ...). */

/* for (i = 0; i < n; i++) { BODY }, vectorized, and over the thread team only with enough work
 * and more than one thread. Not one `parallel for simd if(...)`: OpenMP applies an unprefixed
 * `if` to every construct of the combined one, simd included, so below the threshold the loop ran
 * scalar (GCC: a relu on 4096 floats took 3.3 us instead of 0.4), and even a team of one costs a
 * call into the OpenMP runtime. */
// clang-format off
#ifdef _OPENMP
#define MC_ELEMENTWISE(n, ...)                                                                     \
    do {                                                                                           \
        if ((n) >= MC_PARALLEL_MIN && mc_get_num_threads() > 1) {                                  \
            _Pragma("omp parallel for simd num_threads(mc_get_num_threads())")                     \
            for (int64_t i = 0; i < (n); i++) { __VA_ARGS__ }                                      \
        } else {                                                                                   \
            _Pragma("omp simd")                                                                    \
            for (int64_t i = 0; i < (n); i++) { __VA_ARGS__ }                                      \
        }                                                                                          \
    } while (0)
#else
#define MC_ELEMENTWISE(n, ...) for (int64_t i = 0; i < (n); i++) { __VA_ARGS__ }
#endif
// clang-format on

/* The kernels below marked MC_CLONES (ReLU and the bias passes: compares and adds, nothing an
 * FMA could contract, so every clone gives the same bits) run 8 or 16 floats per instruction
 * where the CPU has AVX2 or AVX-512, instead of SSE2's 4: on one image's activations (256 KiB,
 * in cache) the instruction count, not memory, is what bounds them. */

/* relu(x) = max(x, 0), NaN kept (as torch); gradient 0 where the output is <= 0 (so 0 at x == 0)
 * and passed elsewhere, NaN included (torch's threshold_backward). */
MC_CLONES void MC_NAME(relu)(const T *x, T *y, int64_t n) {
    MC_ELEMENTWISE(n, { y[i] = x[i] < 0 ? (T)0 : x[i]; });
}

/* Backward kernels load gy[i] unconditionally so the compiler can turn the branch into a
 * vector blend; a load inside the ?: would stop vectorization (it might not be safe to read). */
MC_CLONES void MC_NAME(relu_backward)(const T *gy, const T *y, T *gx, int64_t n) {
    MC_ELEMENTWISE(n, {
        T g = gy[i];
        gx[i] = y[i] <= 0 ? (T)0 : g;
    });
}

/* leaky_relu(x) = x if x > 0 else slope * x. */
void MC_NAME(leaky_relu)(const T *x, T *y, int64_t n, T slope) {
    MC_ELEMENTWISE(n, { y[i] = x[i] > 0 ? x[i] : slope * x[i]; });
}

void MC_NAME(leaky_relu_backward)(const T *gy, const T *x, T *gx, int64_t n, T slope) {
    MC_ELEMENTWISE(n, {
        T g = gy[i];
        gx[i] = x[i] > 0 ? g : slope * g;
    });
}

/* sigmoid(x) = 1 / (1 + exp(-x)), from e = exp(-|x|) <= 1 so nothing overflows: 1 / (1 + e) for
 * x >= 0, e / (1 + e) below. Written without a branch, and with mc_math.h's exp instead of
 * libm's, so that the loops vectorize; NaN stays NaN. sigmoid' = y (1 - y). */
MC_INLINE T MC_NAME(sigmoid_of)(T v) {
    const T e = MC_EXP(-fabs(v));
    const T m = (T)(v >= 0);
    return (m + ((T)1 - m) * e) / ((T)1 + e);
}

void MC_NAME(sigmoid)(const T *x, T *y, int64_t n) {
    MC_ELEMENTWISE(n, { y[i] = MC_NAME(sigmoid_of)(x[i]); });
}

void MC_NAME(sigmoid_backward)(const T *gy, const T *y, T *gx, int64_t n) {
    MC_ELEMENTWISE(n, { gx[i] = gy[i] * y[i] * ((T)1 - y[i]); });
}

/* tanh' = 1 - y^2. */
void MC_NAME(tanh)(const T *x, T *y, int64_t n) {
    MC_ELEMENTWISE(n, { y[i] = tanh(x[i]); });
}

void MC_NAME(tanh_backward)(const T *gy, const T *y, T *gx, int64_t n) {
    MC_ELEMENTWISE(n, { gx[i] = gy[i] * ((T)1 - y[i] * y[i]); });
}

/* silu(x) = x * sigmoid(x) (Elfwing et al. 2018); silu' = s (1 + x (1 - s)). */
void MC_NAME(silu)(const T *x, T *y, int64_t n) {
    MC_ELEMENTWISE(n, { y[i] = x[i] * MC_NAME(sigmoid_of)(x[i]); });
}

void MC_NAME(silu_backward)(const T *gy, const T *x, T *gx, int64_t n) {
    MC_ELEMENTWISE(n, {
        const T s = MC_NAME(sigmoid_of)(x[i]);
        gx[i] = gy[i] * s * ((T)1 + x[i] * ((T)1 - s));
    });
}

/* hardswish(x) = x * min(max(x + 3, 0), 6) / 6 (Howard et al. 2019, "Searching for MobileNetV3";
 * torch.nn.Hardswish), evaluated in PyTorch's order. Gradient as PyTorch's hardswish_backward:
 * 0 for x <= -3, gy for x >= 3, gy (x / 3 + 1/2) between (so 0 at -3 and gy at 3); NaN stays NaN.
 */
void MC_NAME(hardswish)(const T *x, T *y, int64_t n) {
    MC_ELEMENTWISE(n, {
        T r = x[i] + (T)3;
        r = r < 0 ? (T)0 : r;
        r = r > 6 ? (T)6 : r;
        y[i] = x[i] * r / (T)6;
    });
}

void MC_NAME(hardswish_backward)(const T *gy, const T *x, T *gx, int64_t n) {
    MC_ELEMENTWISE(n, {
        /* store, then overwrite: a ?: whose arm divides is kept as a branch (the division
         * might trap), conditional stores after an unconditional one vectorize */
        T g = gy[i];
        T v = x[i];
        gx[i] = g * (v / (T)3 + (T)0.5);
        if (v <= (T)-3) gx[i] = 0;
        if (v >= (T)3) gx[i] = g;
    });
}

/* gelu (Hendrycks & Gimpel 2016): exact x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), or the tanh
 * approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as torch.nn.GELU(approximate). */
void MC_NAME(gelu)(const T *x, T *y, int64_t n, int tanh_approx) {
    const T k = (T)0.7978845608028654; /* sqrt(2 / pi) */
    const T r = (T)0.7071067811865476; /* 1 / sqrt(2) */
    if (tanh_approx) {
        MC_ELEMENTWISE(n, {
            T v = x[i];
            y[i] = (T)0.5 * v * ((T)1 + tanh(k * (v + (T)0.044715 * v * v * v)));
        });
    } else {
        MC_ELEMENTWISE(n, { y[i] = (T)0.5 * x[i] * ((T)1 + erf(x[i] * r)); });
    }
}

void MC_NAME(gelu_backward)(const T *gy, const T *x, T *gx, int64_t n, int tanh_approx) {
    const T k = (T)0.7978845608028654; /* sqrt(2 / pi) */
    const T r = (T)0.7071067811865476; /* 1 / sqrt(2) */
    const T p = (T)0.3989422804014327; /* 1 / sqrt(2 pi): the normal density's constant */
    if (tanh_approx) {
        MC_ELEMENTWISE(n, {
            T v = x[i];
            T t = tanh(k * (v + (T)0.044715 * v * v * v));
            T dinner = k * ((T)1 + (T)3 * (T)0.044715 * v * v);
            gx[i] = gy[i] * ((T)0.5 * ((T)1 + t) + (T)0.5 * v * ((T)1 - t * t) * dinner);
        });
    } else {
        MC_ELEMENTWISE(n, {
            T v = x[i];
            gx[i] = gy[i] * ((T)0.5 * ((T)1 + erf(v * r)) + v * p * exp((T)-0.5 * v * v));
        });
    }
}

/* Bias over the channel axis of an (N, C, S) array: the bias of a convolution (S = H * W) or a
 * linear layer (S = 1). Parallel over the N * C rows. */
MC_CLONES void MC_NAME(bias_add)(const T *x, const T *b, T *y, int64_t N, int64_t C, int64_t S) {
    const int64_t rows = N * C;
#ifdef _OPENMP
#pragma omp parallel for if (rows * S >= MC_PARALLEL_MIN) num_threads(mc_get_num_threads())
#endif
    for (int64_t r = 0; r < rows; r++) {
        const T bc = b[r % C];
        const T *xr = x + r * S;
        T *yr = y + r * S;
        for (int64_t s = 0; s < S; s++) yr[s] = xr[s] + bc;
    }
}

/* A convolution's epilogue in one pass, in place over (N, C, S): y = act(y + b[c]), the same
 * operations in the same order as bias_add followed by relu (or relu6's clip), so the results
 * are the same. b may be NULL (act alone). Parallel over the N * C rows. */
MC_CLONES void MC_NAME(bias_act)(T *y, const T *b, int64_t N, int64_t C, int64_t S, int act) {
    const int64_t rows = N * C;
#ifdef _OPENMP
#pragma omp parallel for if (rows * S >= MC_PARALLEL_MIN) num_threads(mc_get_num_threads())
#endif
    for (int64_t r = 0; r < rows; r++) {
        const T bc = b ? b[r % C] : (T)0;
        T *yr = y + r * S;
        if (act == MC_ACT_RELU6)
            for (int64_t s = 0; s < S; s++) {
                T v = b ? yr[s] + bc : yr[s];
                v = v < 0 ? (T)0 : v;
                yr[s] = v > (T)6 ? (T)6 : v;
            }
        else if (act == MC_ACT_RELU)
            for (int64_t s = 0; s < S; s++) {
                const T v = b ? yr[s] + bc : yr[s];
                yr[s] = v < 0 ? (T)0 : v;
            }
        else
            for (int64_t s = 0; s < S; s++) yr[s] = b ? yr[s] + bc : yr[s];
    }
}

/* Sum over N and S per channel; accumulates in double so float32 sums of large batches stay
 * accurate. Parallel over channels: each thread owns whole channels, so no reduction races. */
void MC_NAME(bias_add_backward)(const T *gy, T *gb, int64_t N, int64_t C, int64_t S) {
#ifdef _OPENMP
#pragma omp parallel for if (N * C * S >= MC_PARALLEL_MIN) num_threads(mc_get_num_threads())
#endif
    for (int64_t c = 0; c < C; c++) {
        double acc = 0.0;
        for (int64_t n = 0; n < N; n++) {
            const T *row = gy + (n * C + c) * S;
#ifdef _OPENMP
#pragma omp simd reduction(+ : acc)
#endif
            for (int64_t s = 0; s < S; s++) acc += row[s];
        }
        gb[c] = (T)acc;
    }
}

#undef MC_ELEMENTWISE
