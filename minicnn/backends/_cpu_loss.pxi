# C kernels of the loss family (csrc/cpu/loss.c): fused cross entropy; included by _cpu.pyx.
# Same names and signatures as minicnn/backends/reference/loss.py, whose docstrings give the math.
# The wrappers validate everything, targets included (each in [0, C) or == ignore_index), so the
# C code never indexes out of bounds.

cdef extern from "minicnn.h" nogil:
    void mc_cross_entropy_f32(const float *x, const int64_t *target, const float *weight,
                              float *loss, float *stats, int64_t N, int64_t C, int64_t S,
                              int64_t ignore_index, float label_smoothing, double *sums)
    void mc_cross_entropy_f64(const double *x, const int64_t *target, const double *weight,
                              double *loss, double *stats, int64_t N, int64_t C, int64_t S,
                              int64_t ignore_index, double label_smoothing, double *sums)
    void mc_cross_entropy_backward_f32(const float *gy, int64_t gy_stride, const float *x,
                                       const int64_t *target, const float *weight,
                                       const float *stats, float *gx, int64_t N, int64_t C,
                                       int64_t S, int64_t ignore_index, float label_smoothing,
                                       float scale)
    void mc_cross_entropy_backward_f64(const double *gy, int64_t gy_stride, const double *x,
                                       const int64_t *target, const double *weight,
                                       const double *stats, double *gx, int64_t N, int64_t C,
                                       int64_t S, int64_t ignore_index, double label_smoothing,
                                       double scale)


cdef int _ce_check(str fn, object input, object target, object weight, int64_t ignore_index,
                   double label_smoothing, int64_t *ncs, void **pw) except -1:
    """Validate the cross-entropy operands; fill ncs = (N, C, S) and *pw (weight data or NULL);
    return 1 for float64, 0 for float32. Written against the C API: these calls are a small-tensor
    hot path, where Python-level shape tuples would cost more than the kernel."""
    cdef bint f64 = _is_f64(fn, "input", input)
    cdef cnp.ndarray x = input
    cdef int nd = cnp.PyArray_NDIM(x)
    if nd < 2:
        raise ValueError(f"{fn}: input must have shape (N, C) or (N, C, d1, ...), got "
                         f"{input.shape}")
    cdef cnp.ndarray t = _array(fn, "target", target)
    if cnp.PyArray_TYPE(t) != cnp.NPY_INT64:
        raise TypeError(f"{fn}: target must have dtype int64 (class indices), got {target.dtype}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(t):
        raise ValueError(f"{fn}: target must be C-contiguous (shape {target.shape})")
    cdef cnp.npy_intp *xd = cnp.PyArray_DIMS(x)
    cdef cnp.npy_intp *td = cnp.PyArray_DIMS(t)
    cdef bint same = cnp.PyArray_NDIM(t) == nd - 1 and td[0] == xd[0]
    cdef int i
    cdef int64_t S = 1
    for i in range(2, nd):
        S *= xd[i]
        if same and td[i - 1] != xd[i]:
            same = False
    if not same:
        expected = (input.shape[0],) + input.shape[2:]
        raise ValueError(f"{fn}: target must have shape {expected} for input of shape "
                         f"{input.shape}, got {target.shape}")
    cdef int64_t C = xd[1]
    if C < 1:
        raise ValueError(f"{fn}: input must have at least one class (C >= 1), got shape "
                         f"{input.shape}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must be in [0, 1], got {label_smoothing}")
    pw[0] = NULL
    if weight is not None:
        _is_f64(fn, "weight", weight)
        if cnp.PyArray_TYPE(<cnp.ndarray>weight) != cnp.PyArray_TYPE(x):
            raise TypeError(f"{fn}: weight has dtype {weight.dtype} but input has dtype "
                            f"{input.dtype}")
        if (cnp.PyArray_NDIM(<cnp.ndarray>weight) != 1
                or cnp.PyArray_DIM(<cnp.ndarray>weight, 0) != C):
            raise ValueError(f"{fn}: weight must have shape ({C},) for {C} classes, got "
                             f"{weight.shape}")
        pw[0] = _ptr(weight)
    # every target in [0, C) or == ignore_index: C indexes x and weight with it unchecked
    cdef const int64_t *pt = <const int64_t*>_ptr(target)
    cdef int64_t j, n = cnp.PyArray_SIZE(t), bad = -1
    with nogil:
        for j in range(n):
            if (pt[j] < 0 or pt[j] >= C) and pt[j] != ignore_index:
                bad = j
                break
    if bad >= 0:
        raise ValueError(f"{fn}: target {pt[bad]} is out of bounds for {C} classes (expected "
                         f"0 <= target < {C}, or ignore_index = {ignore_index})")
    ncs[0] = xd[0]
    ncs[1] = C
    ncs[2] = S
    return f64


def cross_entropy(input, target, weight=None, int64_t ignore_index=-100,
                  double label_smoothing=0.0):
    cdef int64_t ncs[3]
    cdef void *pw
    cdef bint f64 = _ce_check("cross_entropy", input, target, weight, ignore_index,
                              label_smoothing, ncs, &pw)
    cdef cnp.ndarray t = target
    cdef int tnd = cnp.PyArray_NDIM(t)
    cdef int typenum = cnp.PyArray_TYPE(<cnp.ndarray>input)
    cdef cnp.npy_intp sdims[cnp.NPY_MAXDIMS + 1]
    sdims[0] = 2
    cdef int i
    for i in range(tnd):
        sdims[i + 1] = cnp.PyArray_DIM(t, i)
    loss = cnp.PyArray_EMPTY(tnd, cnp.PyArray_DIMS(t), typenum, 0)
    stats = cnp.PyArray_EMPTY(tnd + 1, sdims, typenum, 0)
    cdef double sums[2]
    cdef void *px = _ptr(input)
    cdef const int64_t *pt = <const int64_t*>_ptr(target)
    cdef void *pl = _ptr(loss)
    cdef void *ps = _ptr(stats)
    with nogil:
        if f64:
            mc_cross_entropy_f64(<double*>px, pt, <double*>pw, <double*>pl, <double*>ps, ncs[0],
                                 ncs[1], ncs[2], ignore_index, label_smoothing, sums)
        else:
            mc_cross_entropy_f32(<float*>px, pt, <float*>pw, <float*>pl, <float*>ps, ncs[0],
                                 ncs[1], ncs[2], ignore_index, <float>label_smoothing, sums)
    return loss, stats, sums[0], sums[1]


def cross_entropy_backward(grad_output, input, target, weight, stats, int64_t ignore_index=-100,
                           double label_smoothing=0.0, double scale=1.0):
    cdef int64_t ncs[3]
    cdef void *pw
    cdef bint f64 = _ce_check("cross_entropy_backward", input, target, weight, ignore_index,
                              label_smoothing, ncs, &pw)
    cdef cnp.ndarray x = input
    cdef cnp.ndarray t = target
    _is_f64("cross_entropy_backward", "grad_output", grad_output)
    cdef cnp.ndarray g = grad_output
    if cnp.PyArray_TYPE(g) != cnp.PyArray_TYPE(x):
        raise TypeError(f"cross_entropy_backward: grad_output has dtype {grad_output.dtype} but "
                        f"input has dtype {input.dtype}")
    cdef int64_t gstride
    if cnp.PyArray_NDIM(g) == 0:
        gstride = 0
    elif cnp.PyArray_SAMESHAPE(g, t):
        gstride = 1
    else:
        raise ValueError(f"cross_entropy_backward: grad_output must have shape {target.shape} "
                         f"(reduction='none') or () (mean, sum), got {grad_output.shape}")
    _is_f64("cross_entropy_backward", "stats", stats)
    cdef cnp.ndarray st = stats
    cdef int tnd = cnp.PyArray_NDIM(t)
    cdef bint ok = (cnp.PyArray_TYPE(st) == cnp.PyArray_TYPE(x) and cnp.PyArray_NDIM(st) == tnd + 1
                    and cnp.PyArray_DIM(st, 0) == 2)
    cdef int i
    for i in range(tnd):
        if ok and cnp.PyArray_DIM(st, i + 1) != cnp.PyArray_DIM(t, i):
            ok = False
    if not ok:
        raise ValueError(f"cross_entropy_backward: stats must be the forward's {input.dtype} array "
                         f"of shape {(2,) + target.shape}, got {stats.dtype} {stats.shape}")
    gx = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(x), cnp.PyArray_DIMS(x), cnp.PyArray_TYPE(x), 0)
    cdef void *pg = _ptr(grad_output)
    cdef void *px = _ptr(input)
    cdef const int64_t *pt = <const int64_t*>_ptr(target)
    cdef void *ps = _ptr(stats)
    cdef void *pgx = _ptr(gx)
    with nogil:
        if f64:
            mc_cross_entropy_backward_f64(<double*>pg, gstride, <double*>px, pt, <double*>pw,
                                          <double*>ps, <double*>pgx, ncs[0], ncs[1], ncs[2],
                                          ignore_index, label_smoothing, scale)
        else:
            mc_cross_entropy_backward_f32(<float*>pg, gstride, <float*>px, pt, <float*>pw,
                                          <float*>ps, <float*>pgx, ncs[0], ncs[1], ncs[2],
                                          ignore_index, <float>label_smoothing, <float>scale)
    return gx
