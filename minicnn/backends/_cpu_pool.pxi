# C kernels for pooling: max/avg pooling with saved argmax indices, adaptive pooling: included by
# _cpu.pyx.
#
# Same names and signatures as minicnn/backends/reference/pool.py (whose docstrings give the
# math); csrc/cpu/mc_pool.h documents the C side. Every size, parameter and output size is checked
# here (with the reference's checks), so the C code never sees an invalid one.

cdef extern from "minicnn.h" nogil:
    void mc_max_pool2d_f32(const float *x, float *y, int64_t *ind, const mc_geometry *g)
    void mc_max_pool2d_f64(const double *x, double *y, int64_t *ind, const mc_geometry *g)
    void mc_max_pool2d_backward_f32(const float *gy, const int64_t *ind, float *gx,
                                    const mc_geometry *g)
    void mc_max_pool2d_backward_f64(const double *gy, const int64_t *ind, double *gx,
                                    const mc_geometry *g)
    void mc_avg_pool2d_f32(const float *x, float *y, const mc_geometry *g, int count_include_pad,
                           int64_t divisor_override)
    void mc_avg_pool2d_f64(const double *x, double *y, const mc_geometry *g,
                           int count_include_pad, int64_t divisor_override)
    void mc_avg_pool2d_backward_f32(const float *gy, float *gx, const mc_geometry *g,
                                    int count_include_pad, int64_t divisor_override)
    void mc_avg_pool2d_backward_f64(const double *gy, double *gx, const mc_geometry *g,
                                    int count_include_pad, int64_t divisor_override)
    void mc_adaptive_avg_pool2d_f32(const float *x, float *y, const mc_geometry *g)
    void mc_adaptive_avg_pool2d_f64(const double *x, double *y, const mc_geometry *g)
    void mc_adaptive_avg_pool2d_backward_f32(const float *gy, float *gx, const mc_geometry *g)
    void mc_adaptive_avg_pool2d_backward_f64(const double *gy, double *gx, const mc_geometry *g)
    void mc_adaptive_max_pool2d_f32(const float *x, float *y, int64_t *ind, const mc_geometry *g)
    void mc_adaptive_max_pool2d_f64(const double *x, double *y, int64_t *ind,
                                    const mc_geometry *g)


cdef mc_geometry _pool_geometry(int64_t N, int64_t C, int64_t H, int64_t W, int64_t Ho,
                                int64_t Wo, int64_t kh=0, int64_t kw=0, int64_t sh=1,
                                int64_t sw=1, int64_t ph=0, int64_t pw=0, int64_t dh=1,
                                int64_t dw=1):
    """The sizes as the C kernels take them (minicnn.h's mc_geometry; the adaptive pools need no
    window)."""
    return mc_geometry(N=N, C=C, H=H, W=W, K=C, kh=kh, kw=kw, sh=sh, sw=sw, ph=ph, pw=pw, dh=dh,
                       dw=dw, groups=1, Ho=Ho, Wo=Wo)


# ---------------------------------------------------------------- pooling: validation

# The window and output-size checks are reference.pool.check_pool_args (minicnn/geometry.py):
# one set of rules and messages for every device.


cdef bint _pool_input(str fn, str name, object a) except -1:
    """A C-contiguous float32/float64 (N, C, H, W) array; True for float64."""
    cdef bint f64 = _is_f64(fn, name, a)
    if a.ndim != 4:
        raise ValueError(f"{fn}: {name} must have shape (N, C, H, W), got {a.shape}")
    return f64


cdef int64_t _divisor(str fn, object divisor_override) except? -1:
    """None -> 0 (no override) for the C kernels; 0 is refused as PyTorch does."""
    if divisor_override is None:
        return 0
    if divisor_override == 0:
        raise ValueError(f"{fn}: divisor_override must be non-zero, got 0")
    return divisor_override


cdef int64_t _int_arg(str fn, str name, object v) except? -1:
    return integer(v, name, fn)


# ---------------------------------------------------------------- pooling: kernels

def max_pool2d(x, kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode, return_indices=True):
    """x (N, C, H, W) -> (y, int64 indices) (N, C, Ho, Wo); indices None with
    return_indices=False. See reference.pool.max_pool2d."""
    cdef str fn = "max_pool2d"
    cdef bint f64 = _pool_input(fn, "x", x)
    cdef int64_t Ho, Wo
    Ho, Wo = check_pool_args(fn, x.shape, kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode)
    cdef int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef int64_t ckh = kh, ckw = kw, csh = sh, csw = sw, cph = ph, cpw = pw, cdh = dh, cdw = dw
    y = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    ind = np.empty((N, C, Ho, Wo), dtype=np.int64) if return_indices else None
    cdef void *px = _ptr(x)
    cdef void *py = _ptr(y)
    cdef int64_t *pi = <int64_t*>_ptr(ind) if return_indices else NULL
    cdef mc_geometry c = _pool_geometry(N, C, H, W, Ho, Wo, ckh, ckw, csh, csw, cph, cpw, cdh,
                                        cdw)
    with nogil:
        if f64:
            mc_max_pool2d_f64(<double*>px, <double*>py, pi, &c)
        else:
            mc_max_pool2d_f32(<float*>px, <float*>py, pi, &c)
    return y, ind


def max_pool2d_backward(grad_output, indices, H, W):
    """grad_output and indices (N, C, Ho, Wo) -> grad_input (N, C, H, W) by scatter-add through
    the indices. See reference.pool.max_pool2d_backward."""
    cdef str fn = "max_pool2d_backward"
    cdef bint f64 = _pool_input(fn, "grad_output", grad_output)
    _array(fn, "indices", indices)
    if indices.dtype != np.int64:
        raise TypeError(f"{fn}: indices must have dtype int64, got {indices.dtype}")
    if not indices.flags.c_contiguous:
        raise ValueError(f"{fn}: indices must be C-contiguous (shape {indices.shape})")
    if indices.shape != grad_output.shape:
        raise ValueError(f"{fn}: indices has shape {indices.shape} but grad_output has shape "
                         f"{grad_output.shape}")
    cdef int64_t cH = _int_arg(fn, "H", H), cW = _int_arg(fn, "W", W)
    if cH < 1 or cW < 1:
        raise ValueError(f"{fn}: the input size (H, W) must be positive, got ({H}, {W})")
    cdef int64_t N = grad_output.shape[0], C = grad_output.shape[1]
    cdef int64_t Ho = grad_output.shape[2], Wo = grad_output.shape[3]
    gx = np.empty((N, C, cH, cW), dtype=grad_output.dtype)
    cdef void *pg = _ptr(grad_output)
    cdef const int64_t *pi = <const int64_t*>_ptr(indices)
    cdef void *pgx = _ptr(gx)
    cdef mc_geometry c = _pool_geometry(N, C, cH, cW, Ho, Wo)
    with nogil:
        if f64:
            mc_max_pool2d_backward_f64(<double*>pg, pi, <double*>pgx, &c)
        else:
            mc_max_pool2d_backward_f32(<float*>pg, pi, <float*>pgx, &c)
    return gx


def avg_pool2d(x, kh, kw, sh, sw, ph, pw, ceil_mode, count_include_pad, divisor_override):
    """x (N, C, H, W) -> y (N, C, Ho, Wo). See reference.pool.avg_pool2d."""
    cdef str fn = "avg_pool2d"
    cdef bint f64 = _pool_input(fn, "x", x)
    cdef int64_t Ho, Wo
    Ho, Wo = check_pool_args(fn, x.shape, kh, kw, sh, sw, ph, pw, 1, 1, ceil_mode)
    cdef int64_t div = _divisor(fn, divisor_override)
    cdef int cip = 1 if count_include_pad else 0
    cdef int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef int64_t ckh = kh, ckw = kw, csh = sh, csw = sw, cph = ph, cpw = pw
    y = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    cdef void *px = _ptr(x)
    cdef void *py = _ptr(y)
    cdef mc_geometry c = _pool_geometry(N, C, H, W, Ho, Wo, ckh, ckw, csh, csw, cph, cpw)
    with nogil:
        if f64:
            mc_avg_pool2d_f64(<double*>px, <double*>py, &c, cip, div)
        else:
            mc_avg_pool2d_f32(<float*>px, <float*>py, &c, cip, div)
    return y


def avg_pool2d_backward(grad_output, H, W, kh, kw, sh, sw, ph, pw, ceil_mode, count_include_pad,
                        divisor_override):
    """grad_output (N, C, Ho, Wo) -> grad_input (N, C, H, W). See
    reference.pool.avg_pool2d_backward."""
    cdef str fn = "avg_pool2d_backward"
    cdef bint f64 = _pool_input(fn, "grad_output", grad_output)
    cdef int64_t cH = _int_arg(fn, "H", H), cW = _int_arg(fn, "W", W)
    cdef int64_t N = grad_output.shape[0], C = grad_output.shape[1]
    cdef int64_t Ho, Wo
    Ho, Wo = check_pool_args(fn, (N, C, cH, cW), kh, kw, sh, sw, ph, pw, 1, 1, ceil_mode)
    if grad_output.shape[2] != Ho or grad_output.shape[3] != Wo:
        raise ValueError(f"{fn}: grad_output must have shape (N, C, {Ho}, {Wo}) for an input of "
                         f"size ({H}, {W}), got {grad_output.shape}")
    cdef int64_t div = _divisor(fn, divisor_override)
    cdef int cip = 1 if count_include_pad else 0
    cdef int64_t ckh = kh, ckw = kw, csh = sh, csw = sw, cph = ph, cpw = pw
    gx = np.empty((N, C, cH, cW), dtype=grad_output.dtype)
    cdef void *pg = _ptr(grad_output)
    cdef void *pgx = _ptr(gx)
    cdef mc_geometry c = _pool_geometry(N, C, cH, cW, Ho, Wo, ckh, ckw, csh, csw, cph, cpw)
    with nogil:
        if f64:
            mc_avg_pool2d_backward_f64(<double*>pg, <double*>pgx, &c, cip, div)
        else:
            mc_avg_pool2d_backward_f32(<float*>pg, <float*>pgx, &c, cip, div)
    return gx


cdef tuple _adaptive_check(str fn, object x, object oh, object ow):
    if x.ndim != 4:
        raise ValueError(f"{fn}: x must have shape (N, C, H, W), got {x.shape}")
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"{fn}: x must have non-zero H and W, got {x.shape}")
    cdef int64_t coh = _int_arg(fn, "oh", oh), cow = _int_arg(fn, "ow", ow)
    if coh < 0 or cow < 0:
        raise ValueError(f"{fn}: output size must be >= 0, got ({oh}, {ow})")
    return coh, cow


def adaptive_avg_pool2d(x, oh, ow):
    """x (N, C, H, W) -> y (N, C, oh, ow). See reference.pool.adaptive_avg_pool2d."""
    cdef str fn = "adaptive_avg_pool2d"
    cdef bint f64 = _is_f64(fn, "x", x)
    cdef int64_t Ho, Wo
    Ho, Wo = _adaptive_check(fn, x, oh, ow)
    cdef int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    y = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    cdef void *px = _ptr(x)
    cdef void *py = _ptr(y)
    cdef mc_geometry c = _pool_geometry(N, C, H, W, Ho, Wo)
    with nogil:
        if f64:
            mc_adaptive_avg_pool2d_f64(<double*>px, <double*>py, &c)
        else:
            mc_adaptive_avg_pool2d_f32(<float*>px, <float*>py, &c)
    return y


def adaptive_avg_pool2d_backward(grad_output, H, W):
    """grad_output (N, C, oh, ow) -> grad_input (N, C, H, W)."""
    cdef str fn = "adaptive_avg_pool2d_backward"
    cdef bint f64 = _pool_input(fn, "grad_output", grad_output)
    cdef int64_t cH = _int_arg(fn, "H", H), cW = _int_arg(fn, "W", W)
    if cH < 1 or cW < 1:
        raise ValueError(f"{fn}: the input size (H, W) must be positive, got ({H}, {W})")
    cdef int64_t N = grad_output.shape[0], C = grad_output.shape[1]
    cdef int64_t Ho = grad_output.shape[2], Wo = grad_output.shape[3]
    gx = np.empty((N, C, cH, cW), dtype=grad_output.dtype)
    cdef void *pg = _ptr(grad_output)
    cdef void *pgx = _ptr(gx)
    cdef mc_geometry c = _pool_geometry(N, C, cH, cW, Ho, Wo)
    with nogil:
        if f64:
            mc_adaptive_avg_pool2d_backward_f64(<double*>pg, <double*>pgx, &c)
        else:
            mc_adaptive_avg_pool2d_backward_f32(<float*>pg, <float*>pgx, &c)
    return gx


def adaptive_max_pool2d(x, oh, ow):
    """x (N, C, H, W) -> (y, int64 indices) (N, C, oh, ow); backward: max_pool2d_backward."""
    cdef str fn = "adaptive_max_pool2d"
    cdef bint f64 = _is_f64(fn, "x", x)
    cdef int64_t Ho, Wo
    Ho, Wo = _adaptive_check(fn, x, oh, ow)
    cdef int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    y = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    ind = np.empty((N, C, Ho, Wo), dtype=np.int64)
    cdef void *px = _ptr(x)
    cdef void *py = _ptr(y)
    cdef int64_t *pi = <int64_t*>_ptr(ind)
    cdef mc_geometry c = _pool_geometry(N, C, H, W, Ho, Wo)
    with nogil:
        if f64:
            mc_adaptive_max_pool2d_f64(<double*>px, <double*>py, pi, &c)
        else:
            mc_adaptive_max_pool2d_f32(<float*>px, <float*>py, pi, &c)
    return y, ind
