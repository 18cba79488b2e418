# Convolution kernels: included by _cpu.pyx. Twins of minicnn/backends/reference/conv.py.
#
# conv2d runs, per image and group, the C im2col into one reused workspace and a matrix product
# through NumPy's BLAS written straight into the output (so the workspace is bounded by one
# image's columns, never N * Ho * Wo of them). A 1x1 stride-1 unpadded convolution skips im2col
# (the image already is its column matrix), and a depthwise convolution (groups == C_in) runs a
# direct C kernel. OpenMP (im2col/col2im) and the BLAS threads run one after the other, never
# nested.

cdef extern from "minicnn.h" nogil:
    void mc_im2col_f32(const float *x, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw,
                       int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                       int64_t Ho, int64_t Wo, float *cols)
    void mc_im2col_f64(const double *x, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw,
                       int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                       int64_t Ho, int64_t Wo, double *cols)
    void mc_col2im_f32(const float *cols, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw,
                       int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                       int64_t Ho, int64_t Wo, float *x)
    void mc_col2im_f64(const double *cols, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw,
                       int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                       int64_t Ho, int64_t Wo, double *x)
    void mc_depthwise_conv2d_f32(const float *x, const float *w, float *y, int64_t N, int64_t C,
                                 int64_t H, int64_t W, int64_t M, int64_t kh, int64_t kw,
                                 int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                                 int64_t dw, int64_t Ho, int64_t Wo)
    void mc_depthwise_conv2d_f64(const double *x, const double *w, double *y, int64_t N, int64_t C,
                                 int64_t H, int64_t W, int64_t M, int64_t kh, int64_t kw,
                                 int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                                 int64_t dw, int64_t Ho, int64_t Wo)
    void mc_depthwise_conv2d_backward_input_f32(const float *gy, const float *w, float *gx,
                                                int64_t N, int64_t C, int64_t H, int64_t W,
                                                int64_t M, int64_t kh, int64_t kw, int64_t sh,
                                                int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                                                int64_t dw, int64_t Ho, int64_t Wo)
    void mc_depthwise_conv2d_backward_input_f64(const double *gy, const double *w, double *gx,
                                                int64_t N, int64_t C, int64_t H, int64_t W,
                                                int64_t M, int64_t kh, int64_t kw, int64_t sh,
                                                int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                                                int64_t dw, int64_t Ho, int64_t Wo)
    void mc_depthwise_conv2d_backward_weight_f32(const float *gy, const float *x, float *gw,
                                                 int64_t N, int64_t C, int64_t H, int64_t W,
                                                 int64_t M, int64_t kh, int64_t kw, int64_t sh,
                                                 int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                                                 int64_t dw, int64_t Ho, int64_t Wo)
    void mc_depthwise_conv2d_backward_weight_f64(const double *gy, const double *x, double *gw,
                                                 int64_t N, int64_t C, int64_t H, int64_t W,
                                                 int64_t M, int64_t kh, int64_t kw, int64_t sh,
                                                 int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                                                 int64_t dw, int64_t Ho, int64_t Wo)


cdef class _ConvGeometry:
    """Validated sizes of one convolution; every C call reads them from here."""
    cdef public int64_t N, C, H, W, K, kh, kw, sh, sw, ph, pw, dh, dw, groups, Ho, Wo
    cdef public bint f64

    cdef bint depthwise(self):
        return self.groups == self.C and self.groups > 1 and self.K % self.C == 0

    cdef bint pointwise(self):
        return (self.kh == 1 and self.kw == 1 and self.sh == 1 and self.sw == 1
                and self.ph == 0 and self.pw == 0)


cdef _ConvGeometry _geometry(str fn, tuple x_shape, tuple w_shape, object dtype, int64_t sh,
                             int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                             int64_t groups):
    """Check a convolution's sizes (input (N, C, H, W), weight (K, C / groups, kh, kw))."""
    if len(x_shape) != 4:
        raise ValueError(f"{fn}: input must be 4-D (N, C, H, W), got shape {x_shape}")
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
        raise ValueError(f"{fn}: input has {g.C} channels and weight shape {w_shape} with groups="
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


cdef void _im2col(_ConvGeometry g, object x, int64_t C, object cols):
    """im2col of one image x (C, H, W) into the preallocated cols."""
    cdef void *px = _ptr(x)
    cdef void *pc = _ptr(cols)
    with nogil:
        if g.f64:
            mc_im2col_f64(<double*>px, C, g.H, g.W, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw,
                          g.Ho, g.Wo, <double*>pc)
        else:
            mc_im2col_f32(<float*>px, C, g.H, g.W, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw,
                          g.Ho, g.Wo, <float*>pc)


cdef void _col2im(_ConvGeometry g, object cols, int64_t C, object x):
    """x (C, H, W, zeroed by the caller) += col2im(cols)."""
    cdef void *pc = _ptr(cols)
    cdef void *px = _ptr(x)
    with nogil:
        if g.f64:
            mc_col2im_f64(<double*>pc, C, g.H, g.W, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw,
                          g.Ho, g.Wo, <double*>px)
        else:
            mc_col2im_f32(<float*>pc, C, g.H, g.W, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw,
                          g.Ho, g.Wo, <float*>px)


def im2col(x, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
           int64_t dh, int64_t dw):
    _is_f64("im2col", "x", x)
    if x.ndim != 3:
        raise ValueError(f"im2col: x must be one image (C, H, W), got shape {x.shape}")
    cdef _ConvGeometry g = _geometry("im2col", (1,) + x.shape, (1, x.shape[0], kh, kw), x.dtype,
                                     sh, sw, ph, pw, dh, dw, 1)
    cols = np.empty((g.C * kh * kw, g.Ho * g.Wo), dtype=x.dtype)
    _im2col(g, x, g.C, cols)
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
    _col2im(g, cols, C, x)
    return x


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
    if g.depthwise():
        with nogil:
            if g.f64:
                mc_depthwise_conv2d_f64(<double*>px, <double*>pw_, <double*>py, g.N, g.C, g.H, g.W,
                                        g.K // g.C, g.kh, g.kw, sh, sw, ph, pw, dh, dw, g.Ho, g.Wo)
            else:
                mc_depthwise_conv2d_f32(<float*>px, <float*>pw_, <float*>py, g.N, g.C, g.H, g.W,
                                        g.K // g.C, g.kh, g.kw, sh, sw, ph, pw, dh, dw, g.Ho, g.Wo)
    else:
        w2 = [weight[grp * Kg:(grp + 1) * Kg].reshape(Kg, -1) for grp in range(groups)]
        cols = None if g.pointwise() else np.empty((Cg * g.kh * g.kw, g.Ho * g.Wo), x.dtype)
        for n in range(g.N):
            for grp in range(groups):
                xg = x[n, grp * Cg:(grp + 1) * Cg]
                if cols is None:
                    src = xg.reshape(Cg, g.H * g.W)
                else:
                    _im2col(g, xg, Cg, cols)
                    src = cols
                np.matmul(w2[grp], src, out=y[n, grp * Kg:(grp + 1) * Kg].reshape(Kg, g.Ho * g.Wo))
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
    if grad_output.ndim != 4:
        raise ValueError(f"conv2d_backward_input: grad_output must be 4-D, got {grad_output.shape}")
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
    if g.depthwise():
        gx = np.empty((g.N, g.C, H, W), dtype=weight.dtype)
        pgx = _ptr(gx)
        with nogil:
            if g.f64:
                mc_depthwise_conv2d_backward_input_f64(<double*>pg, <double*>pw_, <double*>pgx, g.N,
                                                       g.C, H, W, g.K // g.C, g.kh, g.kw, sh, sw,
                                                       ph, pw, dh, dw, g.Ho, g.Wo)
            else:
                mc_depthwise_conv2d_backward_input_f32(<float*>pg, <float*>pw_, <float*>pgx, g.N,
                                                       g.C, H, W, g.K // g.C, g.kh, g.kw, sh, sw,
                                                       ph, pw, dh, dw, g.Ho, g.Wo)
        return gx
    wT = [weight[grp * Kg:(grp + 1) * Kg].reshape(Kg, -1).T for grp in range(groups)]
    if g.pointwise():
        gx = np.empty((g.N, g.C, H, W), dtype=weight.dtype)
        for n in range(g.N):
            for grp in range(groups):
                np.matmul(wT[grp], grad_output[n, grp * Kg:(grp + 1) * Kg].reshape(Kg, H * W),
                          out=gx[n, grp * Cg:(grp + 1) * Cg].reshape(Cg, H * W))
        return gx
    gx = np.zeros((g.N, g.C, H, W), dtype=weight.dtype)
    cols = np.empty((Cg * g.kh * g.kw, g.Ho * g.Wo), weight.dtype)
    for n in range(g.N):
        for grp in range(groups):
            np.matmul(wT[grp], grad_output[n, grp * Kg:(grp + 1) * Kg].reshape(Kg, g.Ho * g.Wo),
                      out=cols)
            _col2im(g, cols, Cg, gx[n, grp * Cg:(grp + 1) * Cg])
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
    cdef int64_t n, grp, Cg = g.C // groups, Kg = g.K // groups
    gw = np.zeros((g.K, Cg * kh * kw), dtype=x.dtype)
    cdef void *pg = _ptr(grad_output)
    cdef void *px = _ptr(x)
    cdef void *pgw = _ptr(gw)
    if g.depthwise():
        with nogil:
            if g.f64:
                mc_depthwise_conv2d_backward_weight_f64(<double*>pg, <double*>px, <double*>pgw, g.N,
                                                        g.C, g.H, g.W, g.K // g.C, kh, kw, sh, sw,
                                                        ph, pw, dh, dw, g.Ho, g.Wo)
            else:
                mc_depthwise_conv2d_backward_weight_f32(<float*>pg, <float*>px, <float*>pgw, g.N,
                                                        g.C, g.H, g.W, g.K // g.C, kh, kw, sh, sw,
                                                        ph, pw, dh, dw, g.Ho, g.Wo)
        return gw.reshape(g.K, Cg, kh, kw)
    cols = None if g.pointwise() else np.empty((Cg * kh * kw, g.Ho * g.Wo), x.dtype)
    partial = np.empty((Kg, Cg * kh * kw), dtype=x.dtype)
    for n in range(g.N):
        for grp in range(groups):
            xg = x[n, grp * Cg:(grp + 1) * Cg]
            if cols is None:
                src = xg.reshape(Cg, g.H * g.W)
            else:
                _im2col(g, xg, Cg, cols)
                src = cols
            np.matmul(grad_output[n, grp * Kg:(grp + 1) * Kg].reshape(Kg, g.Ho * g.Wo), src.T,
                      out=partial)
            gw[grp * Kg:(grp + 1) * Kg] += partial
    return gw.reshape(g.K, Cg, kh, kw)
