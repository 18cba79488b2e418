# Linear-layer kernels: included by _cpu.pyx. Twins of minicnn/backends/reference/linear.py.
# The products run on the GEMM of csrc/cpu/gemm_impl.h (minicnn's OpenMP threads), not NumPy's
# BLAS, for the reason given there.

cdef extern from "minicnn.h" nogil:
    int64_t mc_linear_workspace_f32(int64_t M, int64_t n_in, int64_t n_out)
    int64_t mc_linear_workspace_f64(int64_t M, int64_t n_in, int64_t n_out)
    void mc_linear_f32(const float *x, const float *w, const float *b, float *y, int64_t M,
                       int64_t n_in, int64_t n_out, float *ws)
    void mc_linear_f64(const double *x, const double *w, const double *b, double *y, int64_t M,
                       int64_t n_in, int64_t n_out, double *ws)
    void mc_linear_backward_input_f32(const float *g, const float *w, float *gx, int64_t M,
                                      int64_t n_in, int64_t n_out, float *ws)
    void mc_linear_backward_input_f64(const double *g, const double *w, double *gx, int64_t M,
                                      int64_t n_in, int64_t n_out, double *ws)
    void mc_linear_backward_weight_f32(const float *g, const float *x, float *gw, int64_t M,
                                       int64_t n_in, int64_t n_out, float *ws)
    void mc_linear_backward_weight_f64(const double *g, const double *x, double *gw, int64_t M,
                                       int64_t n_in, int64_t n_out, double *ws)


cdef bint _linear_args(str fn, str a_name, object a, object weight) except -1:
    """a (M, k) and weight (out, in), both 2-D C-contiguous of one float dtype; True for float64."""
    cdef bint f64 = _is_f64(fn, a_name, a)
    _is_f64(fn, "weight", weight)
    if weight.dtype != a.dtype:
        raise TypeError(f"{fn}: weight has dtype {weight.dtype} but {a_name} has dtype {a.dtype}")
    if a.ndim != 2 or weight.ndim != 2:
        raise ValueError(f"{fn}: {a_name} and weight must be 2-D, got {a.shape} and {weight.shape}")
    return f64


cdef object _linear_ws(int64_t M, int64_t n_in, int64_t n_out, bint f64):
    return np.empty(max(1, mc_linear_workspace_f64(M, n_in, n_out) if f64 else
                        mc_linear_workspace_f32(M, n_in, n_out)),
                    dtype=np.float64 if f64 else np.float32)


def linear(x, weight, bias=None):
    cdef bint f64 = _linear_args("linear", "x", x, weight)
    cdef int64_t M = x.shape[0], n_in = weight.shape[1], n_out = weight.shape[0]
    if x.shape[1] != n_in:
        raise ValueError(f"linear: x must have shape (M, {n_in}) for weight {weight.shape}, "
                         f"got {x.shape}")
    cdef void *pb = NULL
    if bias is not None:
        _is_f64("linear", "bias", bias)
        if bias.dtype != x.dtype or bias.shape != (n_out,):
            raise ValueError(f"linear: bias must be ({n_out},) {x.dtype}, got {bias.shape} "
                             f"{bias.dtype}")
        pb = _ptr(bias)
    y = np.empty((M, n_out), dtype=x.dtype)
    ws = _linear_ws(M, n_in, n_out, f64)
    cdef void *px = _ptr(x)
    cdef void *pw = _ptr(weight)
    cdef void *py = _ptr(y)
    cdef void *pws = _ptr(ws)
    with nogil:
        if f64:
            mc_linear_f64(<double*>px, <double*>pw, <double*>pb, <double*>py, M, n_in, n_out,
                          <double*>pws)
        else:
            mc_linear_f32(<float*>px, <float*>pw, <float*>pb, <float*>py, M, n_in, n_out,
                          <float*>pws)
    return y


def linear_backward_input(grad_output, weight):
    cdef bint f64 = _linear_args("linear_backward_input", "grad_output", grad_output, weight)
    cdef int64_t M = grad_output.shape[0], n_in = weight.shape[1], n_out = weight.shape[0]
    if grad_output.shape[1] != n_out:
        raise ValueError(f"linear_backward_input: grad_output must have shape (M, {n_out}) for "
                         f"weight {weight.shape}, got {grad_output.shape}")
    gx = np.empty((M, n_in), dtype=weight.dtype)
    ws = _linear_ws(M, n_in, n_out, f64)
    cdef void *pg = _ptr(grad_output)
    cdef void *pw = _ptr(weight)
    cdef void *pgx = _ptr(gx)
    cdef void *pws = _ptr(ws)
    with nogil:
        if f64:
            mc_linear_backward_input_f64(<double*>pg, <double*>pw, <double*>pgx, M, n_in, n_out,
                                         <double*>pws)
        else:
            mc_linear_backward_input_f32(<float*>pg, <float*>pw, <float*>pgx, M, n_in, n_out,
                                         <float*>pws)
    return gx


def linear_backward_weight(grad_output, x):
    cdef bint f64 = _is_f64("linear_backward_weight", "grad_output", grad_output)
    _is_f64("linear_backward_weight", "x", x)
    if x.dtype != grad_output.dtype:
        raise TypeError(f"linear_backward_weight: x has dtype {x.dtype} but grad_output has "
                        f"dtype {grad_output.dtype}")
    if x.ndim != 2 or grad_output.ndim != 2 or x.shape[0] != grad_output.shape[0]:
        raise ValueError(f"linear_backward_weight: grad_output (M, out) and x (M, in) must be 2-D "
                         f"with the same M, got {grad_output.shape} and {x.shape}")
    cdef int64_t M = x.shape[0], n_in = x.shape[1], n_out = grad_output.shape[1]
    gw = np.empty((n_out, n_in), dtype=x.dtype)
    ws = _linear_ws(M, n_in, n_out, f64)
    cdef void *pg = _ptr(grad_output)
    cdef void *px = _ptr(x)
    cdef void *pgw = _ptr(gw)
    cdef void *pws = _ptr(ws)
    with nogil:
        if f64:
            mc_linear_backward_weight_f64(<double*>pg, <double*>px, <double*>pgw, M, n_in, n_out,
                                          <double*>pws)
        else:
            mc_linear_backward_weight_f32(<float*>pg, <float*>px, <float*>pgw, M, n_in, n_out,
                                          <float*>pws)
    return gw
