# Convolution kernels: included by _cpu.pyx. Twins of minicnn/backends/reference/conv.py.
#
# Three paths, all C (csrc/cpu): im2col + GEMM per image (conv_impl.h, gemm_impl.h; images split
# among the threads, one column matrix per thread, never N * Ho * Wo columns at once); a direct
# kernel for depthwise convolutions (groups == C_in); and Winograd (below). No NumPy matmul: its
# BLAS threads would spin on the cores our OpenMP threads need (see gemm_impl.h).
#
# 3x3 stride-1 convolutions with enough channels (see _ConvGeometry.winograd) take Winograd's
# F(2x2, 3x3) instead (reference/winograd.py has the math, csrc/cpu/winograd_impl.h the kernels):
# 2.25 times fewer multiply-adds, all three passes. The weight transforms (tiny) are NumPy here.

cdef extern from "minicnn.h" nogil:
    void mc_im2col_f32(const float *x, int64_t C, const mc_geometry *g, float *cols, int64_t ld)
    void mc_im2col_f64(const double *x, int64_t C, const mc_geometry *g, double *cols, int64_t ld)
    void mc_col2im_f32(const float *cols, int64_t ld, int64_t C, const mc_geometry *g, float *x)
    void mc_col2im_f64(const double *cols, int64_t ld, int64_t C, const mc_geometry *g, double *x)
    int64_t mc_depthwise_workspace(const mc_geometry *g)
    void mc_depthwise_conv2d_f32(const float *x, const float *w, float *y, const mc_geometry *g,
                                 float *ws)
    void mc_depthwise_conv2d_f64(const double *x, const double *w, double *y,
                                 const mc_geometry *g, double *ws)
    void mc_depthwise_conv2d_backward_input_f32(const float *gy, const float *w, float *gx,
                                                const mc_geometry *g, float *ws)
    void mc_depthwise_conv2d_backward_input_f64(const double *gy, const double *w, double *gx,
                                                const mc_geometry *g, double *ws)
    void mc_depthwise_conv2d_backward_weight_f32(const float *gy, const float *x, float *gw,
                                                 const mc_geometry *g, float *ws)
    void mc_depthwise_conv2d_backward_weight_f64(const double *gy, const double *x, double *gw,
                                                 const mc_geometry *g, double *ws)
    int64_t mc_direct3x3_workspace(const mc_geometry *g)
    void mc_direct3x3_conv2d_f32(const float *x, const float *w, float *y, const mc_geometry *g,
                                 float *ws)
    void mc_direct3x3_conv2d_f64(const double *x, const double *w, double *y,
                                 const mc_geometry *g, double *ws)
    int64_t mc_conv2d_gemm_workspace_f32(int pass_, const mc_geometry *g)
    int64_t mc_conv2d_gemm_workspace_f64(int pass_, const mc_geometry *g)
    void mc_conv2d_gemm_f32(const float *x, const float *w, float *y, const mc_geometry *g,
                            float *ws)
    void mc_conv2d_gemm_f64(const double *x, const double *w, double *y, const mc_geometry *g,
                            double *ws)
    void mc_conv2d_gemm_backward_input_f32(const float *gy, const float *w, float *gx,
                                           const mc_geometry *g, float *ws)
    void mc_conv2d_gemm_backward_input_f64(const double *gy, const double *w, double *gx,
                                           const mc_geometry *g, double *ws)
    void mc_conv2d_gemm_backward_weight_f32(const float *gy, const float *x, float *gw,
                                            const mc_geometry *g, float *ws)
    void mc_conv2d_gemm_backward_weight_f64(const double *gy, const double *x, double *gw,
                                            const mc_geometry *g, double *ws)
    int64_t mc_winograd_scratch_f32(int64_t Cp, int64_t Kp)
    int64_t mc_winograd_scratch_f64(int64_t Cp, int64_t Kp)
    void mc_winograd_conv2d_f32(const float *x, const float *U, float *y, const mc_geometry *g,
                                int64_t n_chunk, float *xh, float *scratch)
    void mc_winograd_conv2d_f64(const double *x, const double *U, double *y,
                                const mc_geometry *g, int64_t n_chunk, double *xh, double *scratch)
    void mc_winograd_conv2d_backward_weight_f32(const float *gy, const float *x,
                                                const mc_geometry *g, int64_t n_chunk, float *xh,
                                                float *gh, float *vbuf, float *gbuf, float *zero,
                                                float *dU)
    void mc_winograd_conv2d_backward_weight_f64(const double *gy, const double *x,
                                                const mc_geometry *g, int64_t n_chunk, double *xh,
                                                double *gh, double *vbuf, double *gbuf,
                                                double *zero, double *dU)
    void mc_winograd_weight_f32(const float *w, int64_t K, int64_t C, float *U)
    void mc_winograd_weight_f64(const double *w, int64_t K, int64_t C, double *U)
    void mc_winograd_weight_grad_f32(const float *dU, int64_t K, int64_t C, float *gw)
    void mc_winograd_weight_grad_f64(const double *dU, int64_t K, int64_t C, double *gw)


cdef class _ConvGeometry:
    """Validated sizes of one convolution; every C call reads them from here."""
    cdef public int64_t N, C, H, W, K, kh, kw, sh, sw, ph, pw, dh, dw, groups, Ho, Wo
    cdef public bint f64

    cdef mc_geometry c(self):
        """The sizes as the C kernels take them (minicnn.h's mc_geometry)."""
        return mc_geometry(N=self.N, C=self.C, H=self.H, W=self.W, K=self.K, kh=self.kh,
                           kw=self.kw, sh=self.sh, sw=self.sw, ph=self.ph, pw=self.pw, dh=self.dh,
                           dw=self.dw, groups=self.groups, Ho=self.Ho, Wo=self.Wo)

    cdef bint depthwise(self):
        return self.groups == self.C and self.groups > 1 and self.K % self.C == 0

    cdef bint winograd(self):
        """3x3, stride 1, no dilation, one group, and enough channels for Winograd F(2x2, 3x3) to
        beat im2col + GEMM: its transforms cost per tile and channel, its savings grow with
        C * K. Measured (2-core EPYC, batch 128, fwd + both gradients): 16 -> 16 at 32x32 took
        13.6 ms by GEMM and 19.9 ms by Winograd, 32 -> 32 at 32x32 30.6 against 41.9, but
        32 -> 32 at 16x16 10.3 against 8.7 and 48 -> 48 at 16x16 18.2 against 13.0. The weight
        transform (16 C K values) is paid per call: a batch needs at least 128 output tiles (one
        32x32 image; 2 of 16x16, 8 of 8x8) to win it back."""
        cdef int64_t channels = min(self.C, self.K)
        return (self.kh == 3 and self.kw == 3 and self.sh == 1 and self.sw == 1 and self.dh == 1
                and self.dw == 1 and self.groups == 1
                and self.N * ((self.Ho + 1) // 2) * ((self.Wo + 1) // 2) >= 128
                and (channels >= 64 or (channels >= 32 and self.Ho * self.Wo <= 256)))

    cdef bint direct3x3(self):
        """3x3, stride 1, padding 1, no dilation, one group, at most 64 channels in and out, where
        Winograd is not taken: the direct kernel (conv_impl.h), which builds no column matrix.
        Measured forwards (2-core AVX2 EPYC, 2 threads), im2col + GEMM -> direct, PyTorch
        channels_last: 16 -> 16 at 32x32, batch 128, 10.5 -> 4.5 ms (3.7); 3 -> 64 at 32x32,
        batch 128, 8.0 -> 4.0 (4.1-4.6); at batch 1, 0.24 -> 0.05 ms (0.06); 32 -> 64 at 16x16,
        batch 1, 0.26 -> 0.09 (0.08-0.09)."""
        return (self.kh == 3 and self.kw == 3 and self.sh == 1 and self.sw == 1 and self.ph == 1
                and self.pw == 1 and self.dh == 1 and self.dw == 1 and self.groups == 1
                and self.C <= 64 and self.K <= 64 and not self.winograd())


cdef object _direct3x3(_ConvGeometry g, object x, object weight, object y):
    """y = the direct 3x3 convolution of x with weight (g's geometry; y allocated by the
    caller); returns y."""
    cdef mc_geometry c = g.c()
    ws = np.empty(max(1, mc_direct3x3_workspace(&c)), dtype=x.dtype)
    cdef void *px = _ptr(x)
    cdef void *pw_ = _ptr(weight)
    cdef void *py = _ptr(y)
    cdef void *pws = _ptr(ws)
    with nogil:
        if g.f64:
            mc_direct3x3_conv2d_f64(<double*>px, <double*>pw_, <double*>py, &c, <double*>pws)
        else:
            mc_direct3x3_conv2d_f32(<float*>px, <float*>pw_, <float*>py, &c, <float*>pws)
    return y


cdef _ConvGeometry _geometry(str fn, tuple x_shape, tuple w_shape, object dtype, int64_t sh,
                             int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                             int64_t groups):
    """Check a convolution's sizes (input (N, C, H, W), weight (K, C / groups, kh, kw))."""
    if len(x_shape) != 4:
        raise ValueError(f"{fn}: x must be 4-D (N, C, H, W), got shape {x_shape}")
    if len(w_shape) != 4:
        raise ValueError(f"{fn}: weight must be 4-D (K, C / groups, kh, kw), got shape {w_shape}")
    integer(groups, "groups", fn, 1)
    pair((sh, sw), "stride", fn, 1)
    pair((ph, pw), "padding", fn, 0)
    pair((dh, dw), "dilation", fn, 1)
    cdef _ConvGeometry g = _ConvGeometry()
    g.N, g.C, g.H, g.W = x_shape
    g.K, _, g.kh, g.kw = w_shape
    g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.groups = sh, sw, ph, pw, dh, dw, groups
    if g.C % groups or g.K % groups or w_shape[1] * groups != g.C:
        raise ValueError(f"{fn}: x has {g.C} channels and weight shape {w_shape} with groups="
                         f"{groups}: need C divisible by groups and weight.shape[1] == C / groups")
    if g.kh < 1 or g.kw < 1:
        raise ValueError(f"{fn}: kernel size must be >= 1, got weight shape {w_shape}")
    g.Ho, g.Wo = output_size(fn, (g.H, g.W), (g.kh, g.kw), (sh, sw), (ph, pw), (dh, dw))
    g.f64 = dtype == np.float64
    return g


def conv2d_algorithm(tuple x_shape, tuple w_shape, int64_t sh, int64_t sw, int64_t ph,
                     int64_t pw, int64_t dh, int64_t dw, int64_t groups):
    """Which algorithm conv2d and its two gradients run for input (N, C, H, W) and weight
    (K, C / groups, kh, kw): "winograd" (F(2x2, 3x3): 16 multiplications per 2x2 output tile
    and channel pair instead of 36), "depthwise" (the direct depthwise kernels), "direct" (the
    direct 3x3 kernel of up to 64 channels: forward and, from 3 input channels, input gradient;
    the weight gradient is im2col + GEMM) or "gemm" (im2col + GEMM). Not a kernel: the
    benchmarks use it to count the multiplications that ran. Raises ValueError as conv2d for
    sizes that do not fit."""
    cdef _ConvGeometry g = _geometry("conv2d_algorithm", x_shape, w_shape, np.float32, sh, sw,
                                     ph, pw, dh, dw, groups)
    return ("depthwise" if g.depthwise() else "winograd" if g.winograd() else
            "direct" if g.direct3x3() else "gemm")


cdef object _depthwise_workspace(_ConvGeometry g, object dtype):
    """The per-thread scratch planes of the depthwise kernels (stride 1), allocated here."""
    cdef mc_geometry c = g.c()
    return np.empty(max(1, mc_depthwise_workspace(&c)), dtype=dtype)


cdef void _im2col(_ConvGeometry g, object x, int64_t C, object cols, int64_t offset, int64_t ld):
    """im2col of one image x (C, H, W) into columns offset .. offset + Ho * Wo of cols."""
    cdef void *px = _ptr(x)
    cdef char *pc = <char*>_ptr(cols)
    cdef mc_geometry c = g.c()
    with nogil:
        if g.f64:
            mc_im2col_f64(<double*>px, C, &c, <double*>pc + offset, ld)
        else:
            mc_im2col_f32(<float*>px, C, &c, <float*>pc + offset, ld)


cdef void _col2im(_ConvGeometry g, object cols, int64_t offset, int64_t ld, int64_t C, object x):
    """x (C, H, W, zeroed by the caller) += col2im(columns offset .. offset + Ho * Wo of cols)."""
    cdef char *pc = <char*>_ptr(cols)
    cdef void *px = _ptr(x)
    cdef mc_geometry c = g.c()
    with nogil:
        if g.f64:
            mc_col2im_f64(<double*>pc + offset, ld, C, &c, <double*>px)
        else:
            mc_col2im_f32(<float*>pc + offset, ld, C, &c, <float*>px)


def im2col(x, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
           int64_t dh, int64_t dw):
    _is_f64("im2col", "x", x)
    if x.ndim != 3:
        raise ValueError(f"im2col: x must be one image (C, H, W), got shape {x.shape}")
    cdef _ConvGeometry g = _geometry("im2col", (1,) + x.shape, (1, x.shape[0], kh, kw), x.dtype,
                                     sh, sw, ph, pw, dh, dw, 1)
    cols = np.empty((g.C * kh * kw, g.Ho * g.Wo), dtype=x.dtype)
    _im2col(g, x, g.C, cols, 0, g.Ho * g.Wo)
    return cols


def col2im(cols, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
           int64_t ph, int64_t pw, int64_t dh, int64_t dw):
    _is_f64("col2im", "cols", cols)
    cdef _ConvGeometry g = _geometry("col2im", (1, C, H, W), (1, C, kh, kw), cols.dtype,
                                     sh, sw, ph, pw, dh, dw, 1)
    if cols.shape != (C * kh * kw, g.Ho * g.Wo):
        raise ValueError(f"col2im: cols must have shape {(C * kh * kw, g.Ho * g.Wo)}, "
                         f"got {cols.shape}")
    x = np.zeros((C, H, W), dtype=cols.dtype)
    _col2im(g, cols, 0, g.Ho * g.Wo, C, x)
    return x


ctypedef void (*gemm_pass_f32)(const float *a, const float *b, float *out, const mc_geometry *g,
                               float *ws) noexcept nogil
ctypedef void (*gemm_pass_f64)(const double *a, const double *b, double *out,
                               const mc_geometry *g, double *ws) noexcept nogil


cdef void _gemm_pass(_ConvGeometry g, int pass_, object a, object b, object out,
                     gemm_pass_f32 k32, gemm_pass_f64 k64):
    """Pass 0 (forward), 1 (input gradient) or 2 (weight gradient) of the im2col + GEMM
    convolution, in C."""
    cdef mc_geometry c = g.c()
    ws = np.empty(max(1, mc_conv2d_gemm_workspace_f64(pass_, &c) if g.f64 else
                      mc_conv2d_gemm_workspace_f32(pass_, &c)), dtype=out.dtype)
    cdef void *pa = _ptr(a)
    cdef void *pb = _ptr(b)
    cdef void *po = _ptr(out)
    cdef void *pws = _ptr(ws)
    with nogil:
        if g.f64:
            k64(<double*>pa, <double*>pb, <double*>po, &c, <double*>pws)
        else:
            k32(<float*>pa, <float*>pb, <float*>po, &c, <float*>pws)


_WINOGRAD_CHUNK_BYTES = 4 << 20  # channels-last images per chunk: about this much (L3-resident)


cdef int64_t _padded(int64_t n, object dtype):
    """n rounded up to a whole number of 64-byte vectors of dtype (the C kernels' Cp, Kp)."""
    cdef int64_t lanes = 64 // dtype.itemsize
    return (n + lanes - 1) // lanes * lanes


cdef object _winograd_weight(object w):
    """U (16, Cp, Kp) = G g G^T for a weight (K, C, 3, 3), channel axes swapped and padded."""
    cdef int64_t K = w.shape[0], C = w.shape[1]
    U = np.empty((16, _padded(C, w.dtype), _padded(K, w.dtype)), dtype=w.dtype)
    cdef void *pw = _ptr(w)
    cdef void *pu = _ptr(U)
    cdef bint f64 = w.dtype == np.float64
    with nogil:
        if f64:
            mc_winograd_weight_f64(<double*>pw, K, C, <double*>pu)
        else:
            mc_winograd_weight_f32(<float*>pw, K, C, <float*>pu)
    return U


cdef object _winograd_conv2d(object x, object w, int64_t ph, int64_t pw, object y):
    """y (N, K, Ho, Wo) = 3x3 stride-1 conv2d of x (N, C, H, W) by Winograd F(2x2, 3x3)."""
    cdef int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3], K = w.shape[0]
    cdef int64_t Ho = y.shape[2], Wo = y.shape[3]
    cdef int64_t Cp = _padded(C, x.dtype), Kp = _padded(K, x.dtype)
    cdef int64_t n_chunk = max(1, min(N, _WINOGRAD_CHUNK_BYTES // max(1, H * W * Cp * x.itemsize)))
    cdef bint f64 = x.dtype == np.float64
    U = _winograd_weight(w)
    xh = np.empty(n_chunk * H * W * Cp, dtype=x.dtype)
    scratch = np.empty(mc_winograd_scratch_f64(Cp, Kp) if f64 else mc_winograd_scratch_f32(Cp, Kp),
                       dtype=x.dtype)
    cdef void *px = _ptr(x)
    cdef void *pu = _ptr(U)
    cdef void *py = _ptr(y)
    cdef void *pxh = _ptr(xh)
    cdef void *ps = _ptr(scratch)
    cdef mc_geometry c = mc_geometry(N=N, C=C, H=H, W=W, K=K, kh=3, kw=3, sh=1, sw=1, ph=ph, pw=pw,
                                     dh=1, dw=1, groups=1, Ho=Ho, Wo=Wo)
    with nogil:
        if f64:
            mc_winograd_conv2d_f64(<double*>px, <double*>pu, <double*>py, &c, n_chunk,
                                   <double*>pxh, <double*>ps)
        else:
            mc_winograd_conv2d_f32(<float*>px, <float*>pu, <float*>py, &c, n_chunk,
                                   <float*>pxh, <float*>ps)
    return y


cdef object _winograd_backward_weight(object gy, object x, int64_t ph, int64_t pw):
    """The weight gradient (K, C, 3, 3) of a Winograd conv2d: dU in the Winograd domain, then
    G^T dU G."""
    cdef int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef int64_t K = gy.shape[1], Ho = gy.shape[2], Wo = gy.shape[3]
    cdef int64_t Cp = _padded(C, x.dtype), Kp = _padded(K, x.dtype)
    cdef int64_t P = ((Ho + 1) // 2) * ((Wo + 1) // 2)
    cdef int64_t per_image = (H * W * Cp + Ho * Wo * Kp + 16 * P * (Cp + Kp)) * x.itemsize
    cdef int64_t n_chunk = max(1, min(N, 3 * _WINOGRAD_CHUNK_BYTES // per_image))
    cdef bint f64 = x.dtype == np.float64
    xh = np.empty(n_chunk * H * W * Cp, dtype=x.dtype)
    gh = np.empty(n_chunk * Ho * Wo * Kp, dtype=x.dtype)
    vbuf = np.empty(16 * n_chunk * P * Cp, dtype=x.dtype)
    gbuf = np.empty(16 * n_chunk * P * Kp, dtype=x.dtype)
    zero = np.empty(max(Cp, Kp), dtype=x.dtype)
    dU = np.zeros((16, Cp, Kp), dtype=x.dtype)
    cdef void *pg = _ptr(gy)
    cdef void *px = _ptr(x)
    cdef void *pxh = _ptr(xh)
    cdef void *pgh = _ptr(gh)
    cdef void *pv = _ptr(vbuf)
    cdef void *pgb = _ptr(gbuf)
    cdef void *pz = _ptr(zero)
    cdef void *pd = _ptr(dU)
    cdef mc_geometry c = mc_geometry(N=N, C=C, H=H, W=W, K=K, kh=3, kw=3, sh=1, sw=1, ph=ph, pw=pw,
                                     dh=1, dw=1, groups=1, Ho=Ho, Wo=Wo)
    with nogil:
        if f64:
            mc_winograd_conv2d_backward_weight_f64(<double*>pg, <double*>px, &c, n_chunk,
                                                   <double*>pxh, <double*>pgh, <double*>pv,
                                                   <double*>pgb, <double*>pz, <double*>pd)
        else:
            mc_winograd_conv2d_backward_weight_f32(<float*>pg, <float*>px, &c, n_chunk,
                                                   <float*>pxh, <float*>pgh, <float*>pv,
                                                   <float*>pgb, <float*>pz, <float*>pd)
    gw = np.empty((K, C, 3, 3), dtype=x.dtype)
    cdef void *pgw = _ptr(gw)
    with nogil:
        if f64:
            mc_winograd_weight_grad_f64(<double*>pd, K, C, <double*>pgw)
        else:
            mc_winograd_weight_grad_f32(<float*>pd, K, C, <float*>pgw)
    return gw


cdef void _epilogue(object y, object bias, bint f64, int act):
    """y = act(y + bias) in place, one pass (bias may be None)."""
    cdef void *py = _ptr(y)
    cdef void *pb = NULL if bias is None else _ptr(bias)
    cdef int64_t N = y.shape[0], C = y.shape[1], S = y.shape[2] * y.shape[3]
    with nogil:
        if f64:
            mc_bias_act_f64(<double*>py, <double*>pb, N, C, S, act)
        else:
            mc_bias_act_f32(<float*>py, <float*>pb, N, C, S, act)


def conv2d(x, weight, bias, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,
           int64_t dw, int64_t groups, activation=None):
    cdef int act = _activation_code("conv2d", activation)
    _is_f64("conv2d", "x", x)
    _is_f64("conv2d", "weight", weight)
    if weight.dtype != x.dtype:
        raise TypeError(f"conv2d: weight has dtype {weight.dtype} but x has dtype {x.dtype}")
    cdef _ConvGeometry g = _geometry("conv2d", x.shape, weight.shape, x.dtype, sh, sw, ph, pw,
                                     dh, dw, groups)
    if bias is not None:
        _is_f64("conv2d", "bias", bias)
        if bias.dtype != x.dtype or bias.shape != (g.K,):
            raise ValueError(f"conv2d: bias must be ({g.K},) {x.dtype}, got {bias.shape} "
                             f"{bias.dtype}")
    y = np.empty((g.N, g.K, g.Ho, g.Wo), dtype=x.dtype)
    cdef void *px = _ptr(x)
    cdef void *pw_ = _ptr(weight)
    cdef void *py = _ptr(y)
    cdef int64_t n, grp, Cg = g.C // groups, Kg = g.K // groups
    cdef void *pws
    cdef mc_geometry c
    if g.depthwise():
        ws = _depthwise_workspace(g, x.dtype)
        pws = _ptr(ws)
        c = g.c()
        with nogil:
            if g.f64:
                mc_depthwise_conv2d_f64(<double*>px, <double*>pw_, <double*>py, &c, <double*>pws)
            else:
                mc_depthwise_conv2d_f32(<float*>px, <float*>pw_, <float*>py, &c, <float*>pws)
    elif g.winograd():
        _winograd_conv2d(x, weight, ph, pw, y)
    elif g.direct3x3():
        _direct3x3(g, x, weight, y)
    else:
        _gemm_pass(g, 0, x, weight, y, mc_conv2d_gemm_f32, mc_conv2d_gemm_f64)
    if bias is not None or act:
        _epilogue(y, bias, g.f64, act)
    return y


def conv2d_backward_input(grad_output, weight, int64_t H, int64_t W, int64_t sh, int64_t sw,
                          int64_t ph, int64_t pw, int64_t dh, int64_t dw, int64_t groups):
    _is_f64("conv2d_backward_input", "grad_output", grad_output)
    _is_f64("conv2d_backward_input", "weight", weight)
    if weight.dtype != grad_output.dtype:
        raise TypeError(f"conv2d_backward_input: weight has dtype {weight.dtype} but grad_output "
                        f"has dtype {grad_output.dtype}")
    if grad_output.ndim != 4 or weight.ndim != 4:
        raise ValueError(f"conv2d_backward_input: grad_output and weight must be 4-D, got "
                         f"{grad_output.shape} and {weight.shape}")
    C = weight.shape[1] * groups
    cdef _ConvGeometry g = _geometry("conv2d_backward_input", (grad_output.shape[0], C, H, W),
                                     weight.shape, weight.dtype, sh, sw, ph, pw, dh, dw, groups)
    if grad_output.shape != (g.N, g.K, g.Ho, g.Wo):
        raise ValueError(f"conv2d_backward_input: grad_output must have shape "
                         f"{(g.N, g.K, g.Ho, g.Wo)}, got {grad_output.shape}")
    cdef void *pg = _ptr(grad_output)
    cdef void *pw_ = _ptr(weight)
    cdef int64_t n, grp, Cg = g.C // groups, Kg = g.K // groups
    cdef void *pgx
    cdef void *pws
    cdef mc_geometry c
    # Winograd, or the direct kernel, convolving grad_output with the flipped kernel (C, K, 3, 3);
    # the direct one not for one or two input channels: its blocks of 4 output channels run
    # mostly empty (1 -> 64 at 28x28: GEMM 2.9 ms, direct 3.7)
    cdef bint wino = g.winograd() and ph <= 2 and pw <= 2
    cdef _ConvGeometry gt
    if wino or (g.direct3x3() and g.C >= 3):
        flipped = np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        gx = np.empty((g.N, g.C, H, W), dtype=weight.dtype)
        if wino:  # padded 2 - p
            return _winograd_conv2d(grad_output, flipped, 2 - ph, 2 - pw, gx)
        gt = _geometry("conv2d_backward_input", grad_output.shape, flipped.shape, weight.dtype,
                       1, 1, 1, 1, 1, 1, 1)
        return _direct3x3(gt, grad_output, flipped, gx)
    if g.depthwise():
        gx = np.empty((g.N, g.C, H, W), dtype=weight.dtype)
        pgx = _ptr(gx)
        ws = _depthwise_workspace(g, weight.dtype)
        pws = _ptr(ws)
        c = g.c()
        with nogil:
            if g.f64:
                mc_depthwise_conv2d_backward_input_f64(<double*>pg, <double*>pw_, <double*>pgx,
                                                       &c, <double*>pws)
            else:
                mc_depthwise_conv2d_backward_input_f32(<float*>pg, <float*>pw_, <float*>pgx, &c,
                                                       <float*>pws)
        return gx
    gx = np.empty((g.N, g.C, H, W), dtype=weight.dtype)
    _gemm_pass(g, 1, grad_output, weight, gx, mc_conv2d_gemm_backward_input_f32,
               mc_conv2d_gemm_backward_input_f64)
    return gx


def conv2d_backward_weight(grad_output, x, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                           int64_t ph, int64_t pw, int64_t dh, int64_t dw, int64_t groups):
    _is_f64("conv2d_backward_weight", "grad_output", grad_output)
    _is_f64("conv2d_backward_weight", "x", x)
    if x.dtype != grad_output.dtype:
        raise TypeError(f"conv2d_backward_weight: x has dtype {x.dtype} but grad_output has "
                        f"dtype {grad_output.dtype}")
    if x.ndim != 4 or grad_output.ndim != 4:
        raise ValueError(f"conv2d_backward_weight: x and grad_output must be 4-D, got "
                         f"{x.shape} and {grad_output.shape}")
    K = grad_output.shape[1]
    cdef _ConvGeometry g = _geometry("conv2d_backward_weight", x.shape,
                                     (K, x.shape[1] // groups if groups > 0 else 0, kh, kw),
                                     x.dtype, sh, sw, ph, pw, dh, dw, groups)
    if grad_output.shape != (g.N, g.K, g.Ho, g.Wo):
        raise ValueError(f"conv2d_backward_weight: grad_output must have shape "
                         f"{(g.N, g.K, g.Ho, g.Wo)}, got {grad_output.shape}")
    if g.winograd():
        return _winograd_backward_weight(grad_output, x, ph, pw)
    cdef int64_t n, grp, Cg = g.C // groups, Kg = g.K // groups
    gw = np.empty((g.K, Cg * kh * kw), dtype=x.dtype)
    cdef void *pg = _ptr(grad_output)
    cdef void *px = _ptr(x)
    cdef void *pgw = _ptr(gw)
    cdef void *pws
    cdef mc_geometry c
    if g.depthwise():
        ws = _depthwise_workspace(g, x.dtype)
        pws = _ptr(ws)
        c = g.c()
        with nogil:
            if g.f64:
                mc_depthwise_conv2d_backward_weight_f64(<double*>pg, <double*>px, <double*>pgw,
                                                        &c, <double*>pws)
            else:
                mc_depthwise_conv2d_backward_weight_f32(<float*>pg, <float*>px, <float*>pgw, &c,
                                                        <float*>pws)
        return gw.reshape(g.K, Cg, kh, kw)
    _gemm_pass(g, 2, grad_output, x, gw, mc_conv2d_gemm_backward_weight_f32,
               mc_conv2d_gemm_backward_weight_f64)
    return gw.reshape(g.K, Cg, kh, kw)
