/* Convolution kernels: the type-independent part. The kernels themselves are conv_kernels.h,
 * compiled for float in conv_f32.c and for double in conv_f64.c. */
#include "mc_internal.h"

int64_t mc_depthwise_workspace(int64_t H, int64_t W, int64_t kw, int64_t sh, int64_t sw,
                               int64_t ph, int64_t pw, int64_t dw, int64_t Ho) {
    if (sh != 1 || sw != 1) return 0;
    const int64_t Wp = W + 2 * pw;
    return (int64_t)mc_get_num_threads() *
           ((H + 2 * ph) * Wp + (kw - 1) * dw + Ho * Wp + MC_DW_SLACK);
}
