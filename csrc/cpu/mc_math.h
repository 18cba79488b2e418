/* exp written out so that loops calling it vectorize (libm's exp is an opaque call under plain
 * -O3). Cephes-style: n = round(x / ln 2), r = x - n ln 2 in two parts, a polynomial (float) or
 * Pade form (double) for e^r, and 2^n built in the exponent bits; about 1 ulp. Valid for
 * x <= 88 (float) / 709 (double): callers pass x <= 0 (x - max in softmax, -|x| in sigmoid).
 * Below the underflow limit it returns 0; NaN stays NaN. Not part of the public C API. */
#ifndef MC_MATH_H
#define MC_MATH_H

#include <stdint.h>
#include <string.h>

#include "mc_internal.h"

MC_INLINE float mc_exp_f32(float x) {
    const float xc = x < -87.0f ? -87.0f : x;                /* keeps 2^n a normal number */
    const float t = xc * 1.44269504088896341f + 12582912.0f; /* 1.5 * 2^23: rounds to integer */
    const float n = t - 12582912.0f;
    uint32_t bits;
    memcpy(&bits, &t, sizeof bits);           /* low bits of t hold n + 0x400000 */
    bits = (bits - 0x4B400000u + 127u) << 23; /* 2^n */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const float y = p * scale;
    return x < -87.0f ? 0.0f : y;
}

MC_INLINE double mc_exp_f64(double x) {
    const double xc = x < -708.0 ? -708.0 : x;
    const double t = xc * 1.4426950408889634074 + 6755399441055744.0; /* 1.5 * 2^52 */
    const double n = t - 6755399441055744.0;
    uint64_t bits;
    memcpy(&bits, &t, sizeof bits);
    bits = (bits - UINT64_C(0x4338000000000000) + UINT64_C(1023)) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    double r = xc - n * 6.93145751953125e-1;
    r = r - n * 1.42860682030941723212e-6;
    const double rr = r * r;
    const double px = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr +
                           9.99999999999999999910e-1);
    const double q = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr +
                      2.27265548208155028766e-1) *
                         rr +
                     2.00000000000000000009e0;
    const double y = (1.0 + 2.0 * px / (q - px)) * scale;
    return x < -708.0 ? 0.0 : y;
}

#endif /* MC_MATH_H */
