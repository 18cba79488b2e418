# Convolution kernels: included by _cpu.pyx. Twins of minicnn/backends/reference/conv.py.
#
# conv2d works on chunks of images: the C im2col writes the columns of a few images side by side
# into one reused workspace (row stride ld = images * Ho * Wo), and one matrix product through
# NumPy's BLAS covers them all. The chunk holds enough columns for an efficient GEMM
# (_GEMM_COLUMNS) within a bounded workspace (_WORKSPACE_BYTES), never N * Ho * Wo columns at
# once. A 1x1 stride-1 unpadded convolution on large images skips im2col (each image already is
# its column matrix), and a depthwise convolution (groups == C_in) runs a direct C kernel.
# OpenMP (im2col/col2im) and the BLAS threads run one after the other, never nested.
#
# 3x3 stride-1 convolutions with at least 16 input and output channels take Winograd's F(2x2, 3x3)
# instead (reference/winograd.py has the math, csrc/cpu/winograd_impl.h the kernels): 2.25 times
# fewer multiply-adds, all three passes. The weight transforms (tiny) are NumPy here.

cdef extern from "minicnn.h" nogil:
    void mc_im2col_f32(const float *x, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw,
                       int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                       int64_t Ho, int64_t Wo, float *cols, int64_t ld)
    void mc_im2col_f64(const double *x, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw,
                       int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                       int64_t Ho, int64_t Wo, double *cols, int64_t ld)
    void mc_col2im_f32(const float *cols, int64_t ld, int64_t C, int64_t H, int64_t W, int64_t kh,
                       int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                       int64_t dw, int64_t Ho, int64_t Wo, float *x)
    void mc_col2im_f64(const double *cols, int64_t ld, int64_t C, int64_t H, int64_t W, int64_t kh,
                       int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                       int64_t dw, int64_t Ho, int64_t Wo, double *x)
    int64_t mc_depthwise_workspace(int64_t H, int64_t W, int64_t kw, int64_t sh, int64_t sw,
                                   int64_t ph, int64_t pw, int64_t dw, int64_t Ho)
    void mc_depthwise_conv2d_f32(const float *x, const float *w, float *y, int64_t N, int64_t C,
                                 int64_t H, int64_t W, int64_t M, int64_t kh, int64_t kw,
                                 int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                                 int64_t dw, int64_t Ho, int64_t Wo, float *ws)
    void mc_depthwise_conv2d_f64(const double *x, const double *w, double *y, int64_t N, int64_t C,
                                 int64_t H, int64_t W, int64_t M, int64_t kh, int64_t kw,
                                 int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                                 int64_t dw, int64_t Ho, int64_t Wo, double *ws)
    void mc_depthwise_conv2d_backward_input_f32(const float *gy, const float *w, float *gx,
                                                int64_t N, int64_t C, int64_t H, int64_t W,
                                                int64_t M, int64_t kh, int64_t kw, int64_t sh,
                                                int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                                                int64_t dw, int64_t Ho, int64_t Wo, float *ws)
    void mc_depthwise_conv2d_backward_input_f64(const double *gy, const double *w, double *gx,
                                                int64_t N, int64_t C, int64_t H, int64_t W,
                                                int64_t M, int64_t kh, int64_t kw, int64_t sh,
                                                int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                                                int64_t dw, int64_t Ho, int64_t Wo, double *ws)
    void mc_depthwise_conv2d_backward_weight_f32(const float *gy, const float *x, float *gw,
                                                 int64_t N, int64_t C, int64_t H, int64_t W,
                                                 int64_t M, int64_t kh, int64_t kw, int64_t sh,
                                                 int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                                                 int64_t dw, int64_t Ho, int64_t Wo, float *ws)
    void mc_depthwise_conv2d_backward_weight_f64(const double *gy, const double *x, double *gw,
                                                 int64_t N, int64_t C, int64_t H, int64_t W,
                                                 int64_t M, int64_t kh, int64_t kw, int64_t sh,
                                                 int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                                                 int64_t dw, int64_t Ho, int64_t Wo, double *ws)
    int64_t mc_winograd_scratch_f32(int64_t Cp, int64_t Kp)
    int64_t mc_winograd_scratch_f64(int64_t Cp, int64_t Kp)
    void mc_winograd_conv2d_f32(const float *x, int64_t N, int64_t C, int64_t H, int64_t W,
                                const float *U, int64_t K, int64_t ph, int64_t pw, float *y,
                                int64_t Ho, int64_t Wo, int64_t n_chunk, float *xh, float *scratch)
    void mc_winograd_conv2d_f64(const double *x, int64_t N, int64_t C, int64_t H, int64_t W,
                                const double *U, int64_t K, int64_t ph, int64_t pw, double *y,
                                int64_t Ho, int64_t Wo, int64_t n_chunk, double *xh,
                                double *scratch)
    void mc_winograd_conv2d_backward_weight_f32(const float *gy, const float *x, int64_t N,
                                                int64_t C, int64_t H, int64_t W, int64_t K,
                                                int64_t ph, int64_t pw, int64_t Ho, int64_t Wo,
                                                int64_t n_chunk, float *xh, float *gh, float *vbuf,
                                                float *gbuf, float *zero, float *dU)
    void mc_winograd_conv2d_backward_weight_f64(const double *gy, const double *x, int64_t N,
                                                int64_t C, int64_t H, int64_t W, int64_t K,
                                                int64_t ph, int64_t pw, int64_t Ho, int64_t Wo,
                                                int64_t n_chunk, double *xh, double *gh,
                                                double *vbuf, double *gbuf, double *zero,
                                                double *dU)


cdef class _ConvGeometry:
    """Validated sizes of one convolution; every C call reads them from here."""
    cdef public int64_t N, C, H, W, K, kh, kw, sh, sw, ph, pw, dh, dw, groups, Ho, Wo
    cdef public bint f64

    cdef bint depthwise(self):
        return self.groups == self.C and self.groups > 1 and self.K % self.C == 0

    cdef bint winograd(self):
        """3x3, stride 1, no dilation, one group, >= 16 channels in and out: Winograd F(2x2, 3x3)."""
        return (self.kh == 3 and self.kw == 3 and self.sh == 1 and self.sw == 1 and self.dh == 1
                and self.dw == 1 and self.groups == 1 and self.C >= 16 and self.K >= 16)

    cdef bint pointwise(self):
        return (self.kh == 1 and self.kw == 1 and self.sh == 1 and self.sw == 1
                and self.ph == 0 and self.pw == 0)


cdef _ConvGeometry _geometry(str fn, tuple x_shape, tuple w_shape, object dtype, int64_t sh,
                             int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                             int64_t groups):
    """Check a convolution's sizes (input (N, C, H, W), weight (K, C / groups, kh, kw))."""
    if len(x_shape) != 4:
        raise ValueError(f"{fn}: x must be 4-D (N, C, H, W), got shape {x_shape}")
    if len(w_shape) != 4:
        raise ValueError(f"{fn}: weight must be 4-D (K, C / groups, kh, kw), got shape {w_shape}")
    if groups < 1 or sh < 1 or sw < 1 or dh < 1 or dw < 1 or ph < 0 or pw < 0:
        raise ValueError(f"{fn}: need groups, stride, dilation >= 1 and padding >= 0, got groups="
                         f"{groups} stride=({sh}, {sw}) padding=({ph}, {pw}) dilation=({dh}, {dw})")
    cdef _ConvGeometry g = _ConvGeometry()
    g.N, g.C, g.H, g.W = x_shape
    g.K, _, g.kh, g.kw = w_shape
    g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.groups = sh, sw, ph, pw, dh, dw, groups
    if g.C % groups or g.K % groups or w_shape[1] * groups != g.C:
        raise ValueError(f"{fn}: x has {g.C} channels and weight shape {w_shape} with groups="
                         f"{groups}: need C divisible by groups and weight.shape[1] == C / groups")
    if g.kh < 1 or g.kw < 1:
        raise ValueError(f"{fn}: kernel size must be >= 1, got weight shape {w_shape}")
    g.Ho = (g.H + 2 * ph - dh * (g.kh - 1) - 1) // sh + 1
    g.Wo = (g.W + 2 * pw - dw * (g.kw - 1) - 1) // sw + 1
    if g.Ho < 1 or g.Wo < 1:
        raise ValueError(f"{fn}: kernel ({g.kh}, {g.kw}) with dilation ({dh}, {dw}) is larger than "
                         f"the padded input ({g.H + 2 * ph}, {g.W + 2 * pw})")
    g.f64 = dtype == np.float64
    return g


cdef object _depthwise_workspace(_ConvGeometry g, object dtype):
    """The per-thread scratch planes of the depthwise kernels (stride 1), allocated here."""
    return np.empty(max(1, mc_depthwise_workspace(g.H, g.W, g.kw, g.sh, g.sw, g.ph, g.pw, g.dw,
                                                  g.Ho)), dtype=dtype)


cdef int64_t _GEMM_COLUMNS = 2048          # aim for at least this many GEMM columns per chunk
cdef int64_t _WORKSPACE_BYTES = 16 << 20   # and at most this much column workspace


cdef int64_t _chunk(_ConvGeometry g, int64_t rows, int64_t itemsize):
    """Images per column matrix (see the comment at the top of this file)."""
    cdef int64_t per_image = g.Ho * g.Wo
    cdef int64_t b = max(1, _GEMM_COLUMNS // per_image)
    b = min(b, max(1, _WORKSPACE_BYTES // max(1, rows * per_image * itemsize)))  # rows may be 0
    return max(1, min(b, g.N))  # at least 1, also for an empty batch


cdef void _im2col(_ConvGeometry g, object x, int64_t C, object cols, int64_t offset, int64_t ld):
    """im2col of one image x (C, H, W) into columns offset .. offset + Ho * Wo of cols."""
    cdef void *px = _ptr(x)
    cdef char *pc = <char*>_ptr(cols)
    with nogil:
        if g.f64:
            mc_im2col_f64(<double*>px, C, g.H, g.W, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw,
                          g.Ho, g.Wo, <double*>pc + offset, ld)
        else:
            mc_im2col_f32(<float*>px, C, g.H, g.W, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw,
                          g.Ho, g.Wo, <float*>pc + offset, ld)


cdef void _col2im(_ConvGeometry g, object cols, int64_t offset, int64_t ld, int64_t C, object x):
    """x (C, H, W, zeroed by the caller) += col2im(columns offset .. offset + Ho * Wo of cols)."""
    cdef char *pc = <char*>_ptr(cols)
    cdef void *px = _ptr(x)
    with nogil:
        if g.f64:
            mc_col2im_f64(<double*>pc + offset, ld, C, g.H, g.W, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw,
                          g.dh, g.dw, g.Ho, g.Wo, <double*>px)
        else:
            mc_col2im_f32(<float*>pc + offset, ld, C, g.H, g.W, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw,
                          g.dh, g.dw, g.Ho, g.Wo, <float*>px)


cdef object _gather_columns(object grad_output, int64_t n0, int64_t b, int64_t k0, int64_t Kg,
                            object buf):
    """grad_output[n0:n0+b, k0:k0+Kg] as one (Kg, b * Ho * Wo) matrix, images side by side."""
    cdef int64_t per_image = grad_output.shape[2] * grad_output.shape[3]
    block = grad_output[n0:n0 + b, k0:k0 + Kg].reshape(b, Kg, per_image)
    if b == 1:
        return block[0]
    out = buf[:Kg * b * per_image].reshape(Kg, b, per_image)
    np.copyto(out, block.transpose(1, 0, 2))
    return out.reshape(Kg, b * per_image)


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


cdef _conv2d_gemm(_ConvGeometry g, object x, object weight, object y):
    """y = conv2d(x, weight) by im2col + one GEMM per chunk of images and group."""
    cdef int64_t n0, b, i, grp, Cg = g.C // g.groups, Kg = g.K // g.groups
    cdef int64_t per_image = g.Ho * g.Wo, rows = Cg * g.kh * g.kw
    cdef int64_t B = _chunk(g, rows, x.itemsize)
    w2 = [weight[grp * Kg:(grp + 1) * Kg].reshape(Kg, rows) for grp in range(g.groups)]
    if g.pointwise() and B == 1:  # large 1x1 images: each image is its own column matrix
        for n0 in range(g.N):
            for grp in range(g.groups):
                np.matmul(w2[grp], x[n0, grp * Cg:(grp + 1) * Cg].reshape(Cg, per_image),
                          out=y[n0, grp * Kg:(grp + 1) * Kg].reshape(Kg, per_image))
        return
    buf = np.empty(rows * B * per_image, dtype=x.dtype)
    out = np.empty(Kg * B * per_image, dtype=x.dtype)
    for n0 in range(0, g.N, B):
        b = min(B, g.N - n0)
        cols = buf[:rows * b * per_image].reshape(rows, b * per_image)
        for grp in range(g.groups):
            for i in range(b):
                _im2col(g, x[n0 + i, grp * Cg:(grp + 1) * Cg], Cg, cols, i * per_image, b * per_image)
            if b == 1:
                np.matmul(w2[grp], cols, out=y[n0, grp * Kg:(grp + 1) * Kg].reshape(Kg, per_image))
            else:
                res = out[:Kg * b * per_image].reshape(Kg, b * per_image)
                np.matmul(w2[grp], cols, out=res)
                y[n0:n0 + b, grp * Kg:(grp + 1) * Kg] = (
                    res.reshape(Kg, b, g.Ho, g.Wo).transpose(1, 0, 2, 3))


_WINOGRAD_CHUNK_BYTES = 4 << 20  # channels-last images per chunk: about this much (L3-resident)
_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])


cdef int64_t _padded(int64_t n, object dtype):
    """n rounded up to a whole number of 64-byte vectors of dtype (the C kernels' Cp, Kp)."""
    cdef int64_t lanes = 64 // dtype.itemsize
    return (n + lanes - 1) // lanes * lanes


cdef object _winograd_weight(object w):
    """U (16, Cp, Kp) = G g G^T for a weight (K, C, 3, 3), channel axes swapped and padded."""
    K, C = w.shape[0], w.shape[1]
    G = _G.astype(w.dtype)
    u = np.tensordot(np.tensordot(w, G, axes=([3], [1])), G, axes=([2], [1]))  # (K, C, b, a)
    U = np.zeros((16, _padded(C, w.dtype), _padded(K, w.dtype)), dtype=w.dtype)
    U[:, :C, :K] = u.transpose(3, 2, 1, 0).reshape(16, C, K)
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
    with nogil:
        if f64:
            mc_winograd_conv2d_f64(<double*>px, N, C, H, W, <double*>pu, K, ph, pw, <double*>py,
                                   Ho, Wo, n_chunk, <double*>pxh, <double*>ps)
        else:
            mc_winograd_conv2d_f32(<float*>px, N, C, H, W, <float*>pu, K, ph, pw, <float*>py,
                                   Ho, Wo, n_chunk, <float*>pxh, <float*>ps)
    return y


cdef object _winograd_backward_weight(object gy, object x, int64_t ph, int64_t pw):
    """The weight gradient (K, C, 3, 3) of a Winograd conv2d: dU in the Winograd domain (C),
    then G^T dU G (NumPy)."""
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
    with nogil:
        if f64:
            mc_winograd_conv2d_backward_weight_f64(<double*>pg, <double*>px, N, C, H, W, K, ph, pw,
                                                   Ho, Wo, n_chunk, <double*>pxh, <double*>pgh,
                                                   <double*>pv, <double*>pgb, <double*>pz,
                                                   <double*>pd)
        else:
            mc_winograd_conv2d_backward_weight_f32(<float*>pg, <float*>px, N, C, H, W, K, ph, pw,
                                                   Ho, Wo, n_chunk, <float*>pxh, <float*>pgh,
                                                   <float*>pv, <float*>pgb, <float*>pz,
                                                   <float*>pd)
    G = _G.astype(x.dtype)
    du = dU[:, :C, :K].reshape(4, 4, C, K)
    # G^T dU G: sum over a of G[a, i] (-> (b, C, K, i)), then over b of G[b, j] (-> (C, K, i, j))
    gw = np.tensordot(np.tensordot(du, G, axes=([0], [0])), G, axes=([0], [0]))
    return np.ascontiguousarray(gw.transpose(1, 0, 2, 3))


cdef void _bias_add_inplace(object y, object bias, bint f64):
    cdef void *py = _ptr(y)
    cdef void *pb = _ptr(bias)
    cdef int64_t N = y.shape[0], C = y.shape[1], S = y.shape[2] * y.shape[3]
    with nogil:
        if f64:
            mc_bias_add_f64(<double*>py, <double*>pb, <double*>py, N, C, S)
        else:
            mc_bias_add_f32(<float*>py, <float*>pb, <float*>py, N, C, S)


def conv2d(x, weight, bias, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,
           int64_t dw, int64_t groups):
    _is_f64("conv2d", "x", x)
    _is_f64("conv2d", "weight", weight)
    if weight.dtype != x.dtype:
        raise TypeError(f"conv2d: weight has dtype {weight.dtype} but x has dtype {x.dtype}")
    cdef _ConvGeometry g = _geometry("conv2d", x.shape, weight.shape, x.dtype, sh, sw, ph, pw,
                                     dh, dw, groups)
    if bias is not None:
        _is_f64("conv2d", "bias", bias)
        if bias.dtype != x.dtype or bias.shape != (g.K,):
            raise ValueError(f"conv2d: bias must be ({g.K},) {x.dtype}, got {bias.shape} {bias.dtype}")
    y = np.empty((g.N, g.K, g.Ho, g.Wo), dtype=x.dtype)
    cdef void *px = _ptr(x)
    cdef void *pw_ = _ptr(weight)
    cdef void *py = _ptr(y)
    cdef int64_t n, grp, Cg = g.C // groups, Kg = g.K // groups
    cdef void *pws
    if g.depthwise():
        ws = _depthwise_workspace(g, x.dtype)
        pws = _ptr(ws)
        with nogil:
            if g.f64:
                mc_depthwise_conv2d_f64(<double*>px, <double*>pw_, <double*>py, g.N, g.C, g.H, g.W,
                                        g.K // g.C, g.kh, g.kw, sh, sw, ph, pw, dh, dw, g.Ho, g.Wo,
                                        <double*>pws)
            else:
                mc_depthwise_conv2d_f32(<float*>px, <float*>pw_, <float*>py, g.N, g.C, g.H, g.W,
                                        g.K // g.C, g.kh, g.kw, sh, sw, ph, pw, dh, dw, g.Ho, g.Wo,
                                        <float*>pws)
    elif g.winograd():
        _winograd_conv2d(x, weight, ph, pw, y)
    else:
        _conv2d_gemm(g, x, weight, y)
    if bias is not None:
        _bias_add_inplace(y, bias, g.f64)
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
    if g.winograd() and ph <= 2 and pw <= 2:  # a Winograd convolution of grad_output, padded 2 - p
        flipped = np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        return _winograd_conv2d(grad_output, flipped, 2 - ph, 2 - pw,
                                np.empty((g.N, g.C, H, W), dtype=weight.dtype))
    if g.depthwise():
        gx = np.empty((g.N, g.C, H, W), dtype=weight.dtype)
        pgx = _ptr(gx)
        ws = _depthwise_workspace(g, weight.dtype)
        pws = _ptr(ws)
        with nogil:
            if g.f64:
                mc_depthwise_conv2d_backward_input_f64(<double*>pg, <double*>pw_, <double*>pgx, g.N,
                                                       g.C, H, W, g.K // g.C, g.kh, g.kw, sh, sw,
                                                       ph, pw, dh, dw, g.Ho, g.Wo,
                                        <double*>pws)
            else:
                mc_depthwise_conv2d_backward_input_f32(<float*>pg, <float*>pw_, <float*>pgx, g.N,
                                                       g.C, H, W, g.K // g.C, g.kh, g.kw, sh, sw,
                                                       ph, pw, dh, dw, g.Ho, g.Wo,
                                        <float*>pws)
        return gx
    wT = [weight[grp * Kg:(grp + 1) * Kg].reshape(Kg, -1).T for grp in range(groups)]
    cdef int64_t per_image = g.Ho * g.Wo, rows = Cg * g.kh * g.kw, n0, b, i
    cdef int64_t B = _chunk(g, rows, weight.itemsize)
    if g.pointwise() and B == 1:
        gx = np.empty((g.N, g.C, H, W), dtype=weight.dtype)
        for n0 in range(g.N):
            for grp in range(groups):
                np.matmul(wT[grp], grad_output[n0, grp * Kg:(grp + 1) * Kg].reshape(Kg, H * W),
                          out=gx[n0, grp * Cg:(grp + 1) * Cg].reshape(Cg, H * W))
        return gx
    gx = np.zeros((g.N, g.C, H, W), dtype=weight.dtype)
    buf = np.empty(rows * B * per_image, dtype=weight.dtype)
    gybuf = np.empty(Kg * B * per_image, dtype=weight.dtype)
    for n0 in range(0, g.N, B):
        b = min(B, g.N - n0)
        cols = buf[:rows * b * per_image].reshape(rows, b * per_image)
        for grp in range(groups):
            np.matmul(wT[grp], _gather_columns(grad_output, n0, b, grp * Kg, Kg, gybuf), out=cols)
            for i in range(b):
                _col2im(g, cols, i * per_image, b * per_image, Cg, gx[n0 + i, grp * Cg:(grp + 1) * Cg])
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
    gw = np.zeros((g.K, Cg * kh * kw), dtype=x.dtype)
    cdef void *pg = _ptr(grad_output)
    cdef void *px = _ptr(x)
    cdef void *pgw = _ptr(gw)
    cdef void *pws
    if g.depthwise():
        ws = _depthwise_workspace(g, x.dtype)
        pws = _ptr(ws)
        with nogil:
            if g.f64:
                mc_depthwise_conv2d_backward_weight_f64(<double*>pg, <double*>px, <double*>pgw, g.N,
                                                        g.C, g.H, g.W, g.K // g.C, kh, kw, sh, sw,
                                                        ph, pw, dh, dw, g.Ho, g.Wo,
                                        <double*>pws)
            else:
                mc_depthwise_conv2d_backward_weight_f32(<float*>pg, <float*>px, <float*>pgw, g.N,
                                                        g.C, g.H, g.W, g.K // g.C, kh, kw, sh, sw,
                                                        ph, pw, dh, dw, g.Ho, g.Wo,
                                        <float*>pws)
        return gw.reshape(g.K, Cg, kh, kw)
    cdef int64_t per_image = g.Ho * g.Wo, rows = Cg * kh * kw, n0, b, i
    cdef int64_t B = _chunk(g, rows, x.itemsize)
    partial = np.empty((Kg, rows), dtype=x.dtype)
    buf = None if g.pointwise() and B == 1 else np.empty(rows * B * per_image, dtype=x.dtype)
    gybuf = np.empty(Kg * B * per_image, dtype=x.dtype)
    for n0 in range(0, g.N, B):
        b = min(B, g.N - n0)
        for grp in range(groups):
            if buf is None:
                src = x[n0, grp * Cg:(grp + 1) * Cg].reshape(Cg, per_image)
            else:
                src = buf[:rows * b * per_image].reshape(rows, b * per_image)
                for i in range(b):
                    _im2col(g, x[n0 + i, grp * Cg:(grp + 1) * Cg], Cg, src, i * per_image,
                            b * per_image)
            np.matmul(_gather_columns(grad_output, n0, b, grp * Kg, Kg, gybuf), src.T, out=partial)
            gw[grp * Kg:(grp + 1) * Kg] += partial
    return gw.reshape(g.K, Cg, kh, kw)
