/* Convolution kernels: the type-independent part. The kernels themselves are conv_kernels.h,
 * compiled for float in conv_f32.c and for double in conv_f64.c. */
#include "mc_internal.h"

int64_t mc_depthwise_workspace(const mc_geometry *g) {
    const int s2_3x3 = g->sh == 2 && g->sw == 2 && g->kh == 3 && g->kw == 3 && g->dh == 1 &&
                       g->dw == 1; /* the forward's padded plane */
    if ((g->sh != 1 || g->sw != 1) && !s2_3x3) return 0;
    const int64_t Wp = g->W + 2 * g->pw;
    /* the forward's interleaved tiles (16 lanes, the widest vector of any build), or the padded
     * plane and wide output of the other stride-1 passes */
    const int64_t tiles =
        mc_depthwise_interleaved(g) ? ((g->H + 2 * g->ph) * Wp + g->Ho * g->Wo) * 16 : 0;
    const int64_t planes = (g->H + 2 * g->ph) * Wp + (g->kw - 1) * g->dw + g->Ho * Wp + MC_DW_SLACK;
    return (int64_t)mc_get_num_threads() * (tiles > planes ? tiles : planes);
}

int64_t mc_direct3x3_workspace(const mc_geometry *g) {
    /* 16 lanes: the widest vector of any build (64 bytes of float), so one size fits both */
    return (int64_t)mc_get_num_threads() * mc_direct3x3_workspace_per_thread(g->C, g->H, g->W, 16);
}
