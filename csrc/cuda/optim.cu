/* Optimizer updates, one thread per parameter element, in place: the formulas of minicnn/optim
 * (PyTorch's torch.optim.SGD and torch.optim.Adam/AdamW, single-tensor form). */
#include <math.h>

#include "common.cuh"

/* g = grad (+ weight_decay p), negated when maximizing;
 * momentum: buf = g on the first step, else momentum buf + (1 - dampening) g;
 *           g = g + momentum buf (nesterov) or buf;   p -= lr g */
__global__ void sgd_kernel(int64_t n, float *p, const float *grad, float *buf, float lr,
                           float momentum, float dampening, float weight_decay, int nesterov,
                           int first_step, int maximize) {
    MC_GRID_STRIDE(i, n) {
        float g = maximize ? -grad[i] : grad[i];
        if (weight_decay != 0.f) g += weight_decay * p[i];
        if (momentum != 0.f) {
            float b = first_step ? g : momentum * buf[i] + (1.f - dampening) * g;
            buf[i] = b;
            g = nesterov ? g + momentum * b : b;
        }
        p[i] -= lr * g;
    }
}

/* decoupled (AdamW): p *= 1 - lr wd; else g += wd p.  m = b1 m + (1 - b1) g;
 * v = b2 v + (1 - b2) g^2; (amsgrad: vmax = max(vmax, v), used for v below);
 * p -= lr / (1 - b1^t) m / (sqrt(v) / sqrt(1 - b2^t) + eps) */
__global__ void adam_kernel(int64_t n, float *p, const float *grad, float *m, float *v, float *vmax,
                            float lr, float b1, float b2, float eps, float wd, int decoupled,
                            float step_size, float bc2_sqrt, int maximize) {
    MC_GRID_STRIDE(i, n) {
        float g = maximize ? -grad[i] : grad[i];
        float x = p[i];
        if (wd != 0.f) {
            if (decoupled)
                x *= 1.f - lr * wd;
            else
                g += wd * x;
        }
        float mi = b1 * m[i] + (1.f - b1) * g;
        float vi = b2 * v[i] + (1.f - b2) * g * g;
        m[i] = mi, v[i] = vi;
        if (vmax) vi = vmax[i] = fmaxf(vmax[i], vi);
        p[i] = x - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
    }
}

extern "C" {

int mc_cuda_sgd_step(int64_t n, float *param, const float *grad, float *buf, float lr,
                     float momentum, float dampening, float weight_decay, int nesterov,
                     int first_step, int maximize) {
    if (n == 0) return 0;
    sgd_kernel<<<mc_blocks(n), MC_THREADS>>>(n, param, grad, buf, lr, momentum, dampening,
                                             weight_decay, nesterov, first_step, maximize);
    MC_CHECK_LAUNCH();
    return 0;
}

int mc_cuda_adam_step(int64_t n, float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
                      float *max_exp_avg_sq, float lr, float beta1, float beta2, float eps,
                      float weight_decay, int decoupled, int64_t step, int maximize) {
    if (n == 0) return 0;
    /* bias corrections in double on the host, once per tensor */
    float step_size = (float)(lr / (1.0 - pow((double)beta1, (double)step)));
    float bc2_sqrt = (float)sqrt(1.0 - pow((double)beta2, (double)step));
    adam_kernel<<<mc_blocks(n), MC_THREADS>>>(n, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq,
                                              lr, beta1, beta2, eps, weight_decay, decoupled,
                                              step_size, bc2_sqrt, maximize);
    MC_CHECK_LAUNCH();
    return 0;
}
}
