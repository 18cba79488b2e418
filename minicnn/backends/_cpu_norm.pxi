# C kernels for normalization: batch norm (training and eval), layer, group and instance norm:
# included by _cpu.pyx.
#
# Twins of minicnn/backends/reference/norm.py (same names and signatures; the math is in the
# docstrings there and in csrc/cpu/norm_impl.h). Arrays are (N, C, *) viewed as (N, C, S);
# layer norm's (M, D) runs on the group-norm kernels as N = M, C = D, S = 1, one group.
# weight, bias may be None (no affine transform); every per-channel array must have shape (C,)
# and x's dtype. Outputs and the C kernels' workspace (3 * C doubles) are allocated here; the C
# code never sees an invalid size.

cdef extern from "minicnn.h" nogil:
    void mc_batch_norm_forward_train_f32(const float *x, const float *weight, const float *bias,
                                         float *y, float *mean, float *var, float *invstd,
                                         int64_t N, int64_t C, int64_t S, double eps, int act,
                                         double *work)
    void mc_batch_norm_forward_train_f64(const double *x, const double *weight,
                                         const double *bias, double *y, double *mean,
                                         double *var, double *invstd, int64_t N, int64_t C,
                                         int64_t S, double eps, int act, double *work)
    void mc_batch_norm_forward_eval_f32(const float *x, const float *running_mean,
                                        const float *running_var, const float *weight,
                                        const float *bias, float *y, int64_t N, int64_t C,
                                        int64_t S, double eps, int act)
    void mc_batch_norm_forward_eval_f64(const double *x, const double *running_mean,
                                        const double *running_var, const double *weight,
                                        const double *bias, double *y, int64_t N, int64_t C,
                                        int64_t S, double eps, int act)
    void mc_batch_norm_backward_f32(const float *gy, const float *x, const float *mean,
                                    const float *invstd, const float *weight, float *gx,
                                    float *gw, float *gb, int64_t N, int64_t C, int64_t S,
                                    int train, const float *y, int act, double *work)
    void mc_batch_norm_backward_f64(const double *gy, const double *x, const double *mean,
                                    const double *invstd, const double *weight, double *gx,
                                    double *gw, double *gb, int64_t N, int64_t C, int64_t S,
                                    int train, const double *y, int act, double *work)
    void mc_group_norm_forward_f32(const float *x, const float *weight, const float *bias,
                                   float *y, float *mean, float *invstd, int64_t N, int64_t C,
                                   int64_t S, int64_t G, double eps)
    void mc_group_norm_forward_f64(const double *x, const double *weight, const double *bias,
                                   double *y, double *mean, double *invstd, int64_t N, int64_t C,
                                   int64_t S, int64_t G, double eps)
    void mc_group_norm_backward_f32(const float *gy, const float *x, const float *mean,
                                    const float *invstd, const float *weight, float *gx,
                                    float *gw, float *gb, int64_t N, int64_t C, int64_t S,
                                    int64_t G, double *work)
    void mc_group_norm_backward_f64(const double *gy, const double *x, const double *mean,
                                    const double *invstd, const double *weight, double *gx,
                                    double *gw, double *gb, int64_t N, int64_t C, int64_t S,
                                    int64_t G, double *work)


cdef int _norm_param(str fn, str name, object a, object x, tuple shape, str what,
                     bint optional) except -1:
    """Validate a parameter array: None when ``optional``, else C-contiguous, x's dtype and
    ``shape`` (``what`` says where the shape comes from, for the error)."""
    if a is None:
        if optional:
            return 0
        raise TypeError(f"{fn}: {name} must be a numpy.ndarray, got NoneType")
    _is_f64(fn, name, a)
    if a.dtype != x.dtype:
        raise TypeError(f"{fn}: {name} has dtype {a.dtype} but x has dtype {x.dtype}")
    if a.shape != shape:
        raise ValueError(f"{fn}: {name} must have shape {shape} to match {what} of x "
                         f"of shape {x.shape}, got {a.shape}")
    return 0


cdef int _norm_channel_vec(str fn, str name, object a, object x, int64_t C,
                           bint optional) except -1:
    """Validate a per-channel array: None when ``optional``, else a C-contiguous (C,) array with
    x's dtype."""
    return _norm_param(fn, name, a, x, (C,), f"the {C} channels", optional)


cdef inline void* _norm_ptr_or_null(object a):
    return NULL if a is None else _ptr(a)


cdef tuple _norm_mask(str fn, object output_mask):
    try:
        mask = tuple(bool(m) for m in output_mask)
    except TypeError:
        raise TypeError(f"{fn}: output_mask must be a sequence of 3 bools, "
                        f"got {type(output_mask).__name__}") from None
    if len(mask) != 3:
        raise ValueError(f"{fn}: output_mask must have 3 entries (input, weight, bias), "
                         f"got {len(mask)}")
    return mask


def batch_norm_forward_train(x, weight, bias, double eps, activation=None):
    cdef str fn = "batch_norm_forward_train"
    cdef int act = _activation_code(fn, activation)
    cdef bint f64 = _is_f64(fn, "x", x)
    cdef int64_t N, C, S
    N, C, S = _ncs(fn, "x", x)
    _norm_channel_vec(fn, "weight", weight, x, C, True)
    _norm_channel_vec(fn, "bias", bias, x, C, True)
    y = np.empty_like(x)
    mean = np.empty(C, dtype=x.dtype)
    var = np.empty(C, dtype=x.dtype)
    invstd = np.empty(C, dtype=x.dtype)
    work = np.empty(3 * C, dtype=np.float64)
    cdef double *pwork = <double*>_ptr(work)
    cdef void *px = _ptr(x)
    cdef void *pw = _norm_ptr_or_null(weight)
    cdef void *pb = _norm_ptr_or_null(bias)
    cdef void *py = _ptr(y)
    cdef void *pm = _ptr(mean)
    cdef void *pv = _ptr(var)
    cdef void *pi = _ptr(invstd)
    with nogil:
        if f64:
            mc_batch_norm_forward_train_f64(<double*>px, <double*>pw, <double*>pb, <double*>py,
                                            <double*>pm, <double*>pv, <double*>pi, N, C, S, eps,
                                            act, pwork)
        else:
            mc_batch_norm_forward_train_f32(<float*>px, <float*>pw, <float*>pb, <float*>py,
                                            <float*>pm, <float*>pv, <float*>pi, N, C, S, eps,
                                            act, pwork)
    return y, mean, var, invstd


def batch_norm_forward_eval(x, running_mean, running_var, weight, bias, double eps,
                            activation=None):
    cdef str fn = "batch_norm_forward_eval"
    cdef int act = _activation_code(fn, activation)
    cdef bint f64 = _is_f64(fn, "x", x)
    cdef int64_t N, C, S
    N, C, S = _ncs(fn, "x", x)
    _norm_channel_vec(fn, "running_mean", running_mean, x, C, False)
    _norm_channel_vec(fn, "running_var", running_var, x, C, False)
    _norm_channel_vec(fn, "weight", weight, x, C, True)
    _norm_channel_vec(fn, "bias", bias, x, C, True)
    y = np.empty_like(x)
    cdef void *px = _ptr(x)
    cdef void *prm = _ptr(running_mean)
    cdef void *prv = _ptr(running_var)
    cdef void *pw = _norm_ptr_or_null(weight)
    cdef void *pb = _norm_ptr_or_null(bias)
    cdef void *py = _ptr(y)
    with nogil:
        if f64:
            mc_batch_norm_forward_eval_f64(<double*>px, <double*>prm, <double*>prv, <double*>pw,
                                           <double*>pb, <double*>py, N, C, S, eps, act)
        else:
            mc_batch_norm_forward_eval_f32(<float*>px, <float*>prm, <float*>prv, <float*>pw,
                                           <float*>pb, <float*>py, N, C, S, eps, act)
    return y


def batch_norm_backward(grad_output, x, mean, invstd, weight, train, output_mask,
                        activation=None, output=None):
    cdef str fn = "batch_norm_backward"
    cdef bint f64 = _is_f64(fn, "x", x)
    _check_like(fn, "grad_output", grad_output, "x", x)
    cdef int act = _activation_code(fn, activation)
    if act:
        if output is None:
            raise ValueError(f"{fn}: activation {activation!r} needs the forward's output")
        _check_like(fn, "output", output, "x", x)
    cdef int64_t N, C, S
    N, C, S = _ncs(fn, "x", x)
    _norm_channel_vec(fn, "mean", mean, x, C, False)
    _norm_channel_vec(fn, "invstd", invstd, x, C, False)
    _norm_channel_vec(fn, "weight", weight, x, C, True)
    want_x, want_w, want_b = _norm_mask(fn, output_mask)
    cdef int t = 1 if train else 0
    gx = np.empty_like(x) if want_x else None
    gw = np.empty(C, dtype=x.dtype) if want_w else None
    gb = np.empty(C, dtype=x.dtype) if want_b else None
    work = np.empty(3 * C, dtype=np.float64)
    cdef double *pwork = <double*>_ptr(work)
    cdef void *pg = _ptr(grad_output)
    cdef void *px = _ptr(x)
    cdef void *pm = _ptr(mean)
    cdef void *pi = _ptr(invstd)
    cdef void *pw = _norm_ptr_or_null(weight)
    cdef void *pgx = _norm_ptr_or_null(gx)
    cdef void *pgw = _norm_ptr_or_null(gw)
    cdef void *pgb = _norm_ptr_or_null(gb)
    cdef void *pout = _ptr(output) if act else NULL
    with nogil:
        if f64:
            mc_batch_norm_backward_f64(<double*>pg, <double*>px, <double*>pm, <double*>pi,
                                       <double*>pw, <double*>pgx, <double*>pgw, <double*>pgb,
                                       N, C, S, t, <double*>pout, act, pwork)
        else:
            mc_batch_norm_backward_f32(<float*>pg, <float*>px, <float*>pm, <float*>pi,
                                       <float*>pw, <float*>pgx, <float*>pgw, <float*>pgb,
                                       N, C, S, t, <float*>pout, act, pwork)
    return gx, gw, gb


# ---------------------------------------------------------------- group norm and layer norm

cdef int64_t _norm_groups(str fn, object num_groups, int64_t C) except -1:
    if not isinstance(num_groups, int) or isinstance(num_groups, bool):
        raise TypeError(f"{fn}: num_groups must be an int, got {type(num_groups).__name__}")
    if num_groups < 1 or C % num_groups:
        raise ValueError(f"{fn}: num_groups must be >= 1 and divide the {C} channels of x, "
                         f"got {num_groups}")
    return num_groups


cdef tuple _norm_rows(str fn, object x):
    """(M, D) of a 2-D x (layer norm's kernels)."""
    if x.ndim != 2:
        raise ValueError(f"{fn}: x must have shape (M, D), got {x.shape}")
    return x.shape[0], x.shape[1]


cdef tuple _group_norm_fwd(str fn, object x, object weight, object bias, int64_t N, int64_t C,
                           int64_t S, int64_t G, tuple stat_shape, double eps):
    cdef bint f64 = x.dtype == np.float64
    y = np.empty_like(x)
    mean = np.empty(stat_shape, dtype=x.dtype)
    invstd = np.empty(stat_shape, dtype=x.dtype)
    cdef void *px = _ptr(x)
    cdef void *pw = _norm_ptr_or_null(weight)
    cdef void *pb = _norm_ptr_or_null(bias)
    cdef void *py = _ptr(y)
    cdef void *pm = _ptr(mean)
    cdef void *pi = _ptr(invstd)
    with nogil:
        if f64:
            mc_group_norm_forward_f64(<double*>px, <double*>pw, <double*>pb, <double*>py,
                                      <double*>pm, <double*>pi, N, C, S, G, eps)
        else:
            mc_group_norm_forward_f32(<float*>px, <float*>pw, <float*>pb, <float*>py,
                                      <float*>pm, <float*>pi, N, C, S, G, eps)
    return y, mean, invstd


cdef tuple _group_norm_bwd(str fn, object grad_output, object x, object mean, object invstd,
                           object weight, int64_t N, int64_t C, int64_t S, int64_t G,
                           object output_mask):
    cdef bint f64 = x.dtype == np.float64
    want_x, want_w, want_b = _norm_mask(fn, output_mask)
    gx = np.empty_like(x) if want_x else None
    gw = np.empty(C, dtype=x.dtype) if want_w else None
    gb = np.empty(C, dtype=x.dtype) if want_b else None
    work = np.empty(2 * C, dtype=np.float64)
    cdef double *pwork = <double*>_ptr(work)
    cdef void *pg = _ptr(grad_output)
    cdef void *px = _ptr(x)
    cdef void *pm = _ptr(mean)
    cdef void *pi = _ptr(invstd)
    cdef void *pw = _norm_ptr_or_null(weight)
    cdef void *pgx = _norm_ptr_or_null(gx)
    cdef void *pgw = _norm_ptr_or_null(gw)
    cdef void *pgb = _norm_ptr_or_null(gb)
    with nogil:
        if f64:
            mc_group_norm_backward_f64(<double*>pg, <double*>px, <double*>pm, <double*>pi,
                                       <double*>pw, <double*>pgx, <double*>pgw, <double*>pgb,
                                       N, C, S, G, pwork)
        else:
            mc_group_norm_backward_f32(<float*>pg, <float*>px, <float*>pm, <float*>pi,
                                       <float*>pw, <float*>pgx, <float*>pgw, <float*>pgb,
                                       N, C, S, G, pwork)
    return gx, gw, gb


def group_norm_forward(x, weight, bias, num_groups, double eps):
    cdef str fn = "group_norm_forward"
    _is_f64(fn, "x", x)
    cdef int64_t N, C, S
    N, C, S = _ncs(fn, "x", x)
    cdef int64_t G = _norm_groups(fn, num_groups, C)
    _norm_channel_vec(fn, "weight", weight, x, C, True)
    _norm_channel_vec(fn, "bias", bias, x, C, True)
    return _group_norm_fwd(fn, x, weight, bias, N, C, S, G, (N, G), eps)


def group_norm_backward(grad_output, x, mean, invstd, weight, num_groups, output_mask):
    cdef str fn = "group_norm_backward"
    _is_f64(fn, "x", x)
    _check_like(fn, "grad_output", grad_output, "x", x)
    cdef int64_t N, C, S
    N, C, S = _ncs(fn, "x", x)
    cdef int64_t G = _norm_groups(fn, num_groups, C)
    _norm_param(fn, "mean", mean, x, (N, G), f"(N, num_groups) = ({N}, {G})", False)
    _norm_param(fn, "invstd", invstd, x, (N, G), f"(N, num_groups) = ({N}, {G})", False)
    _norm_channel_vec(fn, "weight", weight, x, C, True)
    return _group_norm_bwd(fn, grad_output, x, mean, invstd, weight, N, C, S, G, output_mask)


def layer_norm_forward(x, weight, bias, double eps):
    cdef str fn = "layer_norm_forward"
    _is_f64(fn, "x", x)
    cdef int64_t M, D
    M, D = _norm_rows(fn, x)
    _norm_param(fn, "weight", weight, x, (D,), f"the {D} columns", True)
    _norm_param(fn, "bias", bias, x, (D,), f"the {D} columns", True)
    return _group_norm_fwd(fn, x, weight, bias, M, D, 1, 1, (M,), eps)


def layer_norm_backward(grad_output, x, mean, invstd, weight, output_mask):
    cdef str fn = "layer_norm_backward"
    _is_f64(fn, "x", x)
    _check_like(fn, "grad_output", grad_output, "x", x)
    cdef int64_t M, D
    M, D = _norm_rows(fn, x)
    _norm_param(fn, "mean", mean, x, (M,), f"the {M} rows", False)
    _norm_param(fn, "invstd", invstd, x, (M,), f"the {M} rows", False)
    _norm_param(fn, "weight", weight, x, (D,), f"the {D} columns", True)
    return _group_norm_bwd(fn, grad_output, x, mean, invstd, weight, M, D, 1, 1, output_mask)
